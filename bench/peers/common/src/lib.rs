//! What every peer server of `bench/run.sh` shares, so they differ only in how they
//! serve a connection: `--listen ADDR` (plus a server's own options), one I/O thread,
//! the `listening on ADDR` line, and TCP_NODELAY on every connection.

use std::future::Future;
use tokio::net::{TcpListener, TcpStream};

/// Parses `--listen ADDR` and `--NAME VALUE` pairs; `option` takes the server's own
/// (returning false for unknown ones). Exits with `usage` on anything else.
pub fn listen_arg(usage: &str, default: &str, mut option: impl FnMut(&str, &str) -> bool) -> String {
    let mut listen = default.to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(name) = args.next() {
        match (name.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            (n, Some(v)) if option(n, &v) => {}
            _ => {
                eprintln!("usage: {usage}");
                std::process::exit(2);
            }
        }
    }
    listen
}

/// Listens on `listen` on a current-thread runtime and spawns `on_connection` for each
/// connection, forever.
pub fn serve<F, Fut>(listen: &str, mut on_connection: F) -> std::io::Result<()>
where
    F: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::runtime::Builder::new_current_thread()
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
