//! What every peer server of `bench/run.sh` shares, so they differ only in how they
//! serve a connection: `--listen ADDR` (plus a server's own options), one I/O thread,
//! the `listening on ADDR` line, and TCP_NODELAY on every connection.
//!
//! Every server also takes `--runtime current|multi`: `current` (the default, and what
//! `run.sh` uses) is a current-thread tokio runtime; `multi` is what `#[tokio::main]`
//! builds (a worker per core the process may use: one under `taskset -c 0`), as the
//! libraries' own examples do. It exists to measure what the runtime flavour changes.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};

/// `--runtime multi` was given.
static MULTI_THREAD: AtomicBool = AtomicBool::new(false);

/// Parses `--listen ADDR`, `--runtime current|multi` and `--NAME VALUE` pairs; `option`
/// takes the server's own (returning false for unknown ones). Exits with `usage` on
/// anything else.
pub fn listen_arg(usage: &str, default: &str, mut option: impl FnMut(&str, &str) -> bool) -> String {
    let mut listen = default.to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(name) = args.next() {
        match (name.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--runtime", Some(v)) if v == "current" || v == "multi" => {
                MULTI_THREAD.store(v == "multi", Ordering::Relaxed);
            }
            (n, Some(v)) if option(n, &v) => {}
            _ => {
                eprintln!("usage: {usage}");
                std::process::exit(2);
            }
        }
    }
    listen
}

/// Listens on `listen` on a current-thread runtime (or a multi-thread one, with
/// `--runtime multi`) and spawns `on_connection` for each connection, forever.
pub fn serve<F, Fut>(listen: &str, mut on_connection: F) -> std::io::Result<()>
where
    F: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut runtime = if MULTI_THREAD.load(Ordering::Relaxed) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    runtime
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = TcpListener::bind(listen).await?;
            println!("listening on {}", listener.local_addr()?);
            loop {
                let (stream, _) = listener.accept().await?;
                // wsx and Node's ws set TCP_NODELAY on every connection; so do all the peers.
                let _ = stream.set_nodelay(true);
                tokio::spawn(on_connection(stream));
            }
        })
}
