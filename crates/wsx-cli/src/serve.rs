//! `wsx serve`: the push hub.
//!
//! Settings come from, in rising order: the defaults, the TOML file (`--config` or
//! `WSX_CONFIG`), the environment (`WSX_<NAME>`), and the flags.

use anyhow::Context as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use wsx_hub::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// TOML configuration file (keys are the settings' names, e.g. history_size = 5000).
    #[arg(long, env = "WSX_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the real address is printed).
    #[arg(long, env = "WSX_LISTEN")]
    listen: Option<String>,
    /// `memory` (default) or `redis://HOST:PORT[/DB]` (`rediss://` for TLS): several
    /// nodes on one Redis act as one hub.
    #[arg(long, env = "WSX_BROKER")]
    broker: Option<String>,
    /// Redis password, if the broker URL has none.
    #[arg(long, env = "WSX_REDIS_PASSWORD", hide_env_values = true)]
    redis_password: Option<String>,
    /// PEM CA certificate that a rediss:// broker's certificate must chain to.
    #[arg(long, env = "WSX_REDIS_CA_CERT")]
    redis_ca_cert: Option<PathBuf>,
    /// Prefix of the hub's Redis keys and channels (default wsx:).
    #[arg(long, env = "WSX_REDIS_KEY_PREFIX")]
    redis_key_prefix: Option<String>,
    /// Milliseconds allowed for one Redis operation.
    #[arg(long, env = "WSX_REDIS_TIMEOUT_MS")]
    redis_timeout_ms: Option<u64>,
    /// Seconds a crashed node's presence entries outlive it (refreshed every third).
    #[arg(long, env = "WSX_CLUSTER_PRESENCE_TTL")]
    cluster_presence_ttl: Option<u64>,
    /// HS256 secret for `?token=JWT` (turns development auth off).
    #[arg(long, env = "WSX_JWT_SECRET")]
    jwt_secret: Option<String>,
    /// PEM public key for RS256/ES256 tokens (with --jwt-algorithm).
    #[arg(long, env = "WSX_JWT_PUBLIC_KEY")]
    jwt_public_key: Option<PathBuf>,
    /// RS256 or ES256, for --jwt-public-key.
    #[arg(long, env = "WSX_JWT_ALGORITHM")]
    jwt_algorithm: Option<String>,
    /// Seconds of clock skew allowed on a token's exp (at most 60).
    #[arg(long, env = "WSX_JWT_LEEWAY")]
    jwt_leeway: Option<u64>,
    /// Key required as `Authorization: Bearer KEY` on /api/*.
    #[arg(long, env = "WSX_API_KEY")]
    api_key: Option<String>,
    /// Browser origins allowed to connect, comma-separated.
    #[arg(long, env = "WSX_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Option<Vec<String>>,
    /// Messages kept per channel and inbox for recovery.
    #[arg(long, env = "WSX_HISTORY_SIZE")]
    history_size: Option<usize>,
    /// Seconds a message stays in history.
    #[arg(long, env = "WSX_HISTORY_TTL")]
    history_ttl: Option<u64>,
    /// PEM certificate chain: serve https:// and wss:// (with --tls-key).
    #[arg(long, env = "WSX_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "WSX_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Largest client message and API body, in bytes.
    #[arg(long, env = "WSX_MAX_MESSAGE_SIZE")]
    max_message_size: Option<usize>,
    /// Publishes and sends per second per connection.
    #[arg(long, env = "WSX_RATE_LIMIT")]
    rate_limit: Option<f64>,
    /// How many publishes and sends may come at once.
    #[arg(long, env = "WSX_RATE_BURST")]
    rate_burst: Option<u32>,
    /// Connections per user.
    #[arg(long, env = "WSX_MAX_CONNECTIONS_PER_USER")]
    max_connections_per_user: Option<usize>,
    /// Connections in all.
    #[arg(long, env = "WSX_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Channels one connection may be subscribed to at once.
    #[arg(long, env = "WSX_MAX_SUBSCRIPTIONS")]
    max_subscriptions: Option<usize>,
    /// Bytes queued per connection before its backlog is dropped.
    #[arg(long, env = "WSX_OUTGOING_QUEUE")]
    outgoing_queue: Option<usize>,
    /// Seconds a connection may stay unable to take its messages before it is closed (4008).
    #[arg(long, env = "WSX_SLOW_CONSUMER_TIMEOUT")]
    slow_consumer_timeout: Option<u64>,
    /// Channel patterns with presence join/leave events, comma-separated.
    #[arg(long, env = "WSX_PRESENCE_EVENTS", value_delimiter = ',')]
    presence_events: Option<Vec<String>>,
    /// Seconds after a user's last connection before `leave`.
    #[arg(long, env = "WSX_PRESENCE_GRACE")]
    presence_grace: Option<u64>,
    /// Most recipients of one send.
    #[arg(long, env = "WSX_MAX_RECIPIENTS")]
    max_recipients: Option<usize>,
    /// Seconds between keepalive pings to a quiet WebSocket client.
    #[arg(long, env = "WSX_PING_INTERVAL")]
    ping_interval: Option<u64>,
    /// Seconds an SSE or long-poll session survives without a stream or a poll.
    #[arg(long, env = "WSX_SESSION_TIMEOUT")]
    session_timeout: Option<u64>,
    /// Seconds a long-poll request is held while there is nothing to send.
    #[arg(long, env = "WSX_POLL_TIMEOUT")]
    poll_timeout: Option<u64>,
    /// Seconds a retried API publish or send with the same idempotency_key returns the first result.
    #[arg(long, env = "WSX_IDEMPOTENCY_WINDOW")]
    idempotency_window: Option<u64>,
    /// Seconds allowed for a graceful shutdown.
    #[arg(long, env = "WSX_SHUTDOWN_TIMEOUT")]
    shutdown_timeout: Option<u64>,
    /// Runtime worker threads (0: one per core).
    #[arg(long, env = "WSX_THREADS")]
    threads: Option<usize>,
}

impl Args {
    /// The configuration: defaults, then the file, then environment and flags.
    pub fn load(self) -> anyhow::Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        macro_rules! set {
            ($($field:ident),* $(,)?) => {
                $( if let Some(v) = self.$field { c.$field = v; } )*
            };
        }
        macro_rules! set_option {
            ($($field:ident),* $(,)?) => {
                $( if let Some(v) = self.$field { c.$field = Some(v); } )*
            };
        }
        set!(
            listen,
            broker,
            redis_key_prefix,
            redis_timeout_ms,
            cluster_presence_ttl,
            jwt_algorithm,
            jwt_leeway,
            allowed_origins,
            history_size,
            history_ttl,
            max_message_size,
            rate_limit,
            rate_burst,
            max_connections_per_user,
            max_connections,
            outgoing_queue,
            slow_consumer_timeout,
            presence_events,
            presence_grace,
            max_recipients,
            max_subscriptions,
            ping_interval,
            session_timeout,
            poll_timeout,
            idempotency_window,
            shutdown_timeout,
            threads,
        );
        set_option!(
            jwt_secret,
            jwt_public_key,
            api_key,
            tls_cert,
            tls_key,
            redis_password,
            redis_ca_cert
        );
        c.validate()?;
        Ok(c)
    }
}

pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let server = wsx_hub::Server::bind(config).await?;
    let addr = server.local_addr().context("the bound address")?;
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    server.run(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
