//! `wsx echo`.

use anyhow::Context as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port; the real address is printed).
    #[arg(long, default_value = "127.0.0.1:9002")]
    listen: String,
    /// PEM certificate chain: serve wss:// (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Largest message accepted, in bytes (larger closes with 1009).
    #[arg(long, default_value_t = 16 << 20)]
    max_message_size: usize,
    /// Do not negotiate permessage-deflate.
    #[arg(long)]
    no_compress: bool,
    /// Most simultaneous connections (more get HTTP 503).
    #[arg(long, default_value_t = 100_000)]
    max_connections: usize,
    /// Runtime worker threads (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Hand each connection to a driver task of its own (`WebSocket::spawn`) and echo
    /// through its handles: to measure what that mode costs.
    #[arg(long)]
    spawned: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = wsx::Config::default();
    config.protocol.max_message_size = args.max_message_size;
    config.protocol.max_frame_size = args.max_message_size;
    if args.no_compress {
        config.protocol.deflate = None;
    }
    let mut server = wsx::Server::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?
        .config(config)
        .max_connections(args.max_connections);
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        server = server.tls(wsx::tls::server_config_from_pem(cert, key)?);
    }
    println!("listening on {}", server.local_addr()?);
    std::io::stdout().flush()?;
    let spawned = args.spawned;
    server
        .run_until(move |ws, _| echo(ws, spawned), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// Not an `async fn`: its parameters would be stored twice in the future (as arguments
/// and as locals), and an idle connection's memory is mostly this future. An `async`
/// block uses what it captures in place.
#[allow(clippy::manual_async_fn)]
fn echo(mut ws: wsx::WebSocket<wsx::server::ServerStream>, spawned: bool) -> impl Future<Output = ()> + Send {
    async move {
        if spawned {
            // Boxed: the plain echo's task must not carry this one's room.
            return Box::pin(echo_spawned(ws)).await;
        }
        // `feed` queues without writing; `recv` writes everything queued in one vectored
        // write before it waits for more input.
        while let Some(Ok(msg)) = ws.recv().await {
            if ws.feed(msg).await.is_err() {
                break;
            }
        }
    }
}

async fn echo_spawned(ws: wsx::WebSocket<wsx::server::ServerStream>) {
    let (mut reader, mut writer) = ws.spawn();
    // The driver task writes what `try_send` queues, batching a burst into one write.
    while let Some(Ok(msg)) = reader.recv().await {
        loop {
            match writer.try_send(msg.clone()) {
                Ok(()) => break,
                Err(wsx::Error::QueueFull) => {
                    if writer.flush().await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }
}
