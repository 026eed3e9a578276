//! # wsx
//!
//! Async WebSockets on tokio: a client and a server for `ws://` and `wss://`, with
//! permessage-deflate, keepalive, bounded send queues, proxies, and hyper/axum
//! integration. The protocol itself lives in [`wsx_proto`], a sans-I/O core; this crate
//! drives it over sockets.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`websocket`] (`WebSocket`) | the connection: `recv`/`send`, `Stream`/`Sink`, the read-write-timer loop |
//! | [`split`] | a reader and a writer for two tasks |
//! | [`client`] (`connect`, `ClientBuilder`) | URLs, TCP, TLS, proxies, the client handshake |
//! | [`server`] (`accept`, `accept_with`, `Server`) | the server handshake, Origin policy, accept loop, shutdown |
//! | [`tls`] | rustls configurations and the plain-or-TLS stream |
//! | [`proxy`] (`Proxy`) | HTTP CONNECT and SOCKS5 tunnels, proxy environment variables |
//! | [`error`] (`Error`) | one error type: peer, handshake, refusal, I/O, TLS, URL, proxy, timeout, misuse |
//! | `hyper`, `axum` (features) | upgrading a hyper request; an axum extractor |
//!
//! # Client
//!
//! ```no_run
//! # async fn demo() -> wsx::Result<()> {
//! let mut ws = wsx::connect("wss://example.com/socket").await?;
//! ws.send("hello").await?;
//! if let Some(reply) = ws.recv().await {
//!     println!("{:?}", reply?);
//! }
//! ws.close(None).await?;
//! # Ok(()) }
//! ```
//!
//! # Server
//!
//! ```no_run
//! # async fn demo() -> wsx::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9002").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let Ok(mut ws) = wsx::accept(tcp).await else { return };
//!         // `feed` queues; `recv` writes everything queued in one go before it waits.
//!         while let Some(Ok(msg)) = ws.recv().await {
//!             if ws.feed(msg).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//! }
//! # }
//! ```
//!
//! # Dependencies, and why
//! - `tokio`, `tokio-util`: the runtime and reading into `BytesMut` without zeroing.
//! - `tokio-rustls` (ring): TLS without OpenSSL; `webpki-roots`: the same trust store everywhere.
//! - `futures-core`, `futures-sink`: the `Stream` and `Sink` traits, and nothing else.
//! - `http`, `hyper`, `hyper-util`, `http-body-util`, `axum-core` (features): serving
//!   WebSocket next to HTTP on one port.
//! - `httparse`, `base64`: the proxy tunnels' few bytes of HTTP.
//! - `url`: the WHATWG URL parser, for `ws://` and `wss://` URLs.
//! - `tracing`: logs.

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod client;
mod config;
pub mod error;
pub mod proxy;
pub mod server;
pub mod split;
pub mod tls;
pub mod websocket;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "hyper")]
pub mod hyper;

pub use client::{ClientBuilder, connect};
pub use config::Config;
pub use error::{Error, Result};
pub use proxy::Proxy;
pub use server::{
    AcceptOptions, Connected, OriginPolicy, Rejection, Server, accept, accept_with, accept_with_async,
};
pub use websocket::WebSocket;
pub use wsx_proto::{
    self as proto, CloseCode, CloseFrame, DeflateConfig, Message, PreparedMessage, Utf8Bytes,
};
