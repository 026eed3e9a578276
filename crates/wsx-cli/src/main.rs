//! `wsx`: the command line of the wsx WebSocket toolkit.
//!
//! Dependencies: `clap` (arguments), `tracing-subscriber` (logs to stderr, `RUST_LOG`),
//! `anyhow` (errors reported to a person, not handled by code), `mimalloc` (the global
//! allocator: a hub that has just accepted thousands of connections keeps glibc's heap
//! fragmented by the handshakes' short-lived buffers between the sessions' long-lived
//! allocations; with mimalloc, a subscribed idle connection of `wsx serve` holds 3.0–3.8
//! KiB of RSS instead of 4.9–5.3 at 10,000, with the same echo and fan-out throughput —
//! measured in docs/BENCHMARKS.md).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod connect;
mod echo;
mod serve;

use clap::{Parser, Subcommand};

/// The wsx WebSocket toolkit.
#[derive(Debug, Parser)]
#[command(name = "wsx", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The push hub: channels, direct messages, presence, history, SSE and long-poll
    /// fallbacks, an HTTP API and metrics, with embedded defaults.
    Serve(Box<serve::Args>),
    /// Echo server: sends every text and binary message back unchanged.
    Echo(echo::Args),
    /// Interactive client: stdin lines go out as text messages; messages received are
    /// printed one per line.
    Connect(connect::Args),
    /// Load generator: echo throughput and latency, idle connections, handshakes, fan-out.
    Bench(bench::Args),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    // The hub's configuration decides its thread count, so it is read first.
    let (command, hub_config) = match cli.command {
        Command::Serve(args) => match args.load() {
            Ok(config) => (None, Some(config)),
            Err(e) => {
                eprintln!("wsx: {e:#}");
                return std::process::ExitCode::from(2);
            }
        },
        other => (Some(other), None),
    };
    let runtime = match (&command, &hub_config) {
        // One thread asked for: no work-stealing machinery to pay for.
        (None, Some(c)) if c.threads == 1 => {
            tokio::runtime::Builder::new_current_thread().enable_all().build()
        }
        (None, Some(c)) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if c.threads > 0 {
                b.worker_threads(c.threads);
            }
            b.enable_all().build()
        }
        (Some(command), _) => match command {
            // One core for the server's I/O is what `wsx bench` compares; more threads only
            // help when there are more cores than load generators.
            Command::Echo(a) if a.threads == 1 => {
                tokio::runtime::Builder::new_current_thread().enable_all().build()
            }
            Command::Echo(a) => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(a.threads.max(1))
                .enable_all()
                .build(),
            Command::Connect(_) => tokio::runtime::Builder::new_current_thread().enable_all().build(),
            Command::Bench(a) if a.threads == 1 => {
                tokio::runtime::Builder::new_current_thread().enable_all().build()
            }
            Command::Bench(a) => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(a.threads.max(1))
                .enable_all()
                .build(),
            Command::Serve(_) => unreachable!("handled above"),
        },
        (None, None) => unreachable!("a command or a hub configuration"),
    }
    .expect("tokio runtime");
    let result = runtime.block_on(async {
        match (command, hub_config) {
            (None, Some(config)) => serve::run(config).await,
            (Some(Command::Echo(args)), _) => echo::run(args).await,
            (Some(Command::Connect(args)), _) => connect::run(args).await,
            (Some(Command::Bench(args)), _) => bench::run(args).await,
            _ => unreachable!("matched above"),
        }
    });
    // Without waiting for blocking threads: a read of an open stdin never returns, and
    // `wsx connect` must exit when the connection ends, not when stdin does.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wsx: {}", report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `error: what failed: caused by: why: caused by: ...`, one line: the causes are where
/// the useful part is (the certificate rustls refused, the proxy's I/O error).
fn report(e: &anyhow::Error) -> String {
    let mut line = format!("error: {e}");
    for cause in e.chain().skip(1) {
        line.push_str(": caused by: ");
        line.push_str(&cause.to_string());
    }
    line
}
