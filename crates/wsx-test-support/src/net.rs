//! wsx endpoints for tests: listeners on ephemeral loopback ports, clients that ignore the
//! machine's proxy variables, a server and a client joined in memory, an echo loop.

use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use wsx::client::ClientStream;
use wsx::{AcceptOptions, ClientBuilder, Config, WebSocket};

/// The default configuration changed by `f`.
pub fn config(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    f(&mut c);
    c
}

/// The default configuration without permessage-deflate.
pub fn plain_config() -> Config {
    config(|c| c.protocol.deflate = None)
}

/// A client builder that ignores proxy environment variables (the machine running the
/// tests may have some, and one test in `proxy_tls` sets them).
pub fn client(url: &str) -> ClientBuilder {
    ClientBuilder::new(url).no_proxy()
}

/// Connects a default client to `ws://addr/`.
pub async fn connect(addr: SocketAddr) -> WebSocket<ClientStream> {
    client(&format!("ws://{addr}/"))
        .connect()
        .await
        .expect("client handshake")
}

/// A listener on an ephemeral loopback port.
pub async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    (listener, addr)
}

/// Accepts one connection on `listener` and runs the server handshake with `config`.
pub async fn accept_one(listener: &TcpListener, config: &Config) -> wsx::Result<WebSocket<TcpStream>> {
    let (tcp, _) = listener.accept().await?;
    wsx::accept_with(tcp, config, |_| Ok(AcceptOptions::new())).await
}

/// A server and a client joined by an in-memory pipe, after the real opening handshake.
pub async fn duplex_pair(
    server: &Config,
    client: &Config,
) -> (
    WebSocket<tokio::io::DuplexStream>,
    WebSocket<tokio::io::DuplexStream>,
) {
    let (a, b) = tokio::io::duplex(64 << 10);
    let (s, c) = tokio::join!(
        wsx::accept_with(a, server, |_| Ok(AcceptOptions::new())),
        ClientBuilder::new("ws://localhost/")
            .config(client.clone())
            .connect_on(b)
    );
    (s.expect("server handshake"), c.expect("client handshake"))
}

/// Receives until the stream ends, echoing every message; returns the first error.
pub async fn echo<S>(ws: &mut WebSocket<S>) -> wsx::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(msg) = ws.recv().await {
        ws.send(msg?).await?;
    }
    Ok(())
}

/// A port that nothing listens on (bound, then released).
pub fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().unwrap().port()
}
