//! `wsx`: the command line of the wsx WebSocket toolkit.
//!
//! Dependencies: `clap` (arguments), `tracing-subscriber` (logs to stderr, `RUST_LOG`),
//! `anyhow` (errors reported to a person, not handled by code).

mod bench;
mod connect;
mod echo;

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
    let runtime = match &cli.command {
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
    }
    .expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Echo(args) => echo::run(args).await,
            Command::Connect(args) => connect::run(args).await,
            Command::Bench(args) => bench::run(args).await,
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
