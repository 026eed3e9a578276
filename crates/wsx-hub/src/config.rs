//! Every setting of the hub, with its default. `docs/configuration.md` lists them with
//! their flags and environment variables; the TOML keys are the field names.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The hub's configuration. `Config::default()` is what `wsx serve` runs with when
/// nothing is set: in-memory broker, development auth, every limit on.
///
/// ```
/// let config: wsx_hub::Config = toml::from_str("history_size = 5000\nallowed_origins = [\"https://app.example\"]").unwrap();
/// assert_eq!(config.history_size, 5000);
/// assert_eq!(config.max_message_size, 1 << 20); // the default
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Address to listen on (`wsx serve --listen`). Default `127.0.0.1:8080`.
    pub listen: String,
    /// `memory` (default) or `redis://HOST:PORT[/DB]` (cluster mode; `rediss://` for TLS).
    pub broker: String,
    /// Redis password, if the broker URL has none (cluster mode).
    pub redis_password: Option<String>,
    /// PEM CA certificate(s) that a `rediss://` broker's certificate must chain to,
    /// instead of the WebPKI roots (a private CA).
    pub redis_ca_cert: Option<PathBuf>,
    /// Prefix of every Redis key and pub/sub channel the hub uses. Default `wsx:`.
    pub redis_key_prefix: String,
    /// Milliseconds allowed for one Redis operation, and for connecting. Default 2000.
    pub redis_timeout_ms: u64,
    /// Seconds a node counts as alive after its last heartbeat (sent every third of it):
    /// a crashed node's users leave presence within about 4/3 of it. Default 15.
    pub cluster_presence_ttl: u64,
    /// HS256 secret: turns development auth off; clients need `?token=JWT`.
    pub jwt_secret: Option<String>,
    /// A PEM public key for RS256 or ES256 tokens (see `jwt_algorithm`).
    pub jwt_public_key: Option<PathBuf>,
    /// The algorithm of `jwt_public_key`: `RS256` or `ES256`. Default `RS256`.
    pub jwt_algorithm: String,
    /// Seconds of clock skew allowed on `exp` (at most 60). Default 30.
    pub jwt_leeway: u64,
    /// Required as `Authorization: Bearer KEY` on `/api/*`; without one the API is open
    /// (with a warning in the log).
    pub api_key: Option<String>,
    /// Browser origins allowed to connect (`Origin` header); empty: any. Requests without
    /// `Origin` (non-browser clients) are always allowed.
    pub allowed_origins: Vec<String>,
    /// Messages kept per channel (and per inbox) for recovery. Default 1000.
    pub history_size: usize,
    /// Seconds a message stays in history. Default 300.
    pub history_ttl: u64,
    /// PEM certificate chain: serve `https://`/`wss://` (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Largest message a client may send, and largest HTTP API body, in bytes: larger
    /// closes the WebSocket with 1009, or answers `too_large` / HTTP 413. Default 1 MiB.
    pub max_message_size: usize,
    /// Publishes and sends per second per connection (a token bucket). Default 100.
    pub rate_limit: f64,
    /// The bucket's size: how many may come at once. Default 200.
    pub rate_burst: u32,
    /// Connections (any transport) per user; more are refused with HTTP 429. Default 100.
    pub max_connections_per_user: usize,
    /// Connections in all; more are refused with HTTP 503. Default 100,000.
    pub max_connections: usize,
    /// Bytes queued for one connection before its backlog is dropped (and recovered from
    /// history, or reported as a `gap` with reason `overflow`). Default 1 MiB.
    pub outgoing_queue: usize,
    /// Seconds a connection may stay unable to take its messages before it is closed
    /// with 4008. Default 5.
    pub slow_consumer_timeout: u64,
    /// Channel patterns (`prefix*` or exact names) whose subscribers get presence
    /// `join`/`leave` events. Default `["chat:*"]`.
    pub presence_events: Vec<String>,
    /// Seconds after a user's last connection leaves a channel before `leave` is sent, so
    /// that a reconnect does not flap. Default 5.
    pub presence_grace: u64,
    /// Most recipients of one `send`. Default 1000.
    pub max_recipients: usize,
    /// Most channels one connection may be subscribed to at once; a `subscribe` past it
    /// is refused with `too_large`. Default 1000.
    pub max_subscriptions: usize,
    /// Seconds between WebSocket keepalive pings to a quiet client. Default 25.
    pub ping_interval: u64,
    /// Seconds an SSE or long-poll session survives without a stream or a poll. Default 60.
    pub session_timeout: u64,
    /// Seconds a long-poll request is held open while there is nothing to send. Default 25.
    pub poll_timeout: u64,
    /// Seconds a retried `POST /api/publish` or `/api/send` with the same
    /// `idempotency_key` returns the first result. Default 300.
    pub idempotency_window: u64,
    /// Seconds allowed for a graceful shutdown (SIGTERM/SIGINT). Default 10.
    pub shutdown_timeout: u64,
    /// Runtime worker threads; 0 (default): one per core.
    pub threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            broker: "memory".into(),
            redis_password: None,
            redis_ca_cert: None,
            redis_key_prefix: "wsx:".into(),
            redis_timeout_ms: 2000,
            cluster_presence_ttl: 15,
            jwt_secret: None,
            jwt_public_key: None,
            jwt_algorithm: "RS256".into(),
            jwt_leeway: 30,
            api_key: None,
            allowed_origins: Vec::new(),
            history_size: 1000,
            history_ttl: 300,
            tls_cert: None,
            tls_key: None,
            max_message_size: 1 << 20,
            rate_limit: 100.0,
            rate_burst: 200,
            max_connections_per_user: 100,
            max_connections: 100_000,
            outgoing_queue: 1 << 20,
            slow_consumer_timeout: 5,
            presence_events: vec!["chat:*".into()],
            presence_grace: 5,
            max_recipients: 1000,
            max_subscriptions: 1000,
            ping_interval: 25,
            session_timeout: 60,
            poll_timeout: 25,
            idempotency_window: 300,
            shutdown_timeout: 10,
            threads: 0,
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has a key or value the hub does not know.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// A value out of its range, or settings that contradict each other.
    #[error("invalid setting {key}: {reason}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// Reads a TOML file; keys not in it keep their defaults.
    ///
    /// ```no_run
    /// let config = wsx_hub::Config::from_file("wsx.toml".as_ref()).unwrap();
    /// ```
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source: Box::new(source),
        })
    }

    /// Checks ranges and combinations.
    ///
    /// ```
    /// let mut c = wsx_hub::Config::default();
    /// assert!(c.validate().is_ok());
    /// c.jwt_leeway = 120;
    /// assert!(c.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.into(),
            })
        };
        if self.jwt_leeway > 60 {
            return invalid("jwt_leeway", "at most 60 seconds");
        }
        if self.jwt_secret.is_some() && self.jwt_public_key.is_some() {
            return invalid("jwt_secret", "set jwt_secret or jwt_public_key, not both");
        }
        if !matches!(self.jwt_algorithm.as_str(), "RS256" | "ES256") {
            return invalid("jwt_algorithm", "RS256 or ES256");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return invalid("tls_cert", "tls_cert and tls_key go together");
        }
        if self.max_message_size < 1024 {
            return invalid("max_message_size", "at least 1024 bytes");
        }
        if self.rate_limit.is_nan() || self.rate_limit <= 0.0 || self.rate_burst == 0 {
            return invalid("rate_limit", "a positive rate and a burst of at least 1");
        }
        if self.outgoing_queue < self.max_message_size.min(64 << 10) {
            return invalid("outgoing_queue", "at least 64 KiB (or max_message_size)");
        }
        for (key, value) in [
            ("max_connections_per_user", self.max_connections_per_user),
            ("max_connections", self.max_connections),
            ("max_recipients", self.max_recipients),
            ("max_subscriptions", self.max_subscriptions),
        ] {
            if value == 0 {
                return invalid(key, "at least 1");
            }
        }
        for (key, value) in [
            ("history_ttl", self.history_ttl),
            ("slow_consumer_timeout", self.slow_consumer_timeout),
            ("session_timeout", self.session_timeout),
            ("poll_timeout", self.poll_timeout),
            ("shutdown_timeout", self.shutdown_timeout),
            ("cluster_presence_ttl", self.cluster_presence_ttl),
        ] {
            if value == 0 {
                return invalid(key, "at least 1 second");
            }
        }
        if self.poll_timeout >= self.session_timeout {
            return invalid("poll_timeout", "shorter than session_timeout");
        }
        if self.broker != "memory"
            && !self.broker.starts_with("redis://")
            && !self.broker.starts_with("rediss://")
        {
            return invalid("broker", "memory or redis://HOST:PORT[/DB]");
        }
        if self.redis_timeout_ms < 10 {
            return invalid("redis_timeout_ms", "at least 10 ms");
        }
        if self.cluster_presence_ttl < 3 {
            return invalid("cluster_presence_ttl", "at least 3 seconds");
        }
        Ok(())
    }
}
