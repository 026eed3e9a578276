//! # wsx-hub
//!
//! The wsx push server as a library: channels, delivery to chosen users, presence,
//! history with explicit gaps, auth, limits, fallback transports (SSE and long-polling),
//! an HTTP API and metrics, on one port. `wsx serve` is a thin shell over it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = wsx_hub::Server::bind(wsx_hub::Config::default()).await?;
//! println!("listening on {}", server.local_addr()?);
//! server.run(async { tokio::signal::ctrl_c().await.ok(); }).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`config`] | every setting and its default |
//! | [`protocol`] | commands parsed from JSON, events written as JSON, error codes |
//! | [`offset`], [`history`] | positions in a channel's history; retention and the recovery rules |
//! | [`topic`] | channels and inboxes; a publication, framed once |
//! | [`broker`] | the storage and cluster interface, and the in-memory broker |
//! | `router`, `mailbox` | who on this node receives what; each session's bounded queue |
//! | `session` | one client's state machine, over WebSocket, SSE or long-polling |
//! | [`auth`], [`limits`] | identities (development, JWT) and channel permissions; the rate limit |
//! | `connect`, `api`, `server` | the HTTP endpoints and the server loop |
//! | [`metrics`] | what `/metrics` reports |
//!
//! # How a message travels
//!
//! A publish goes to the [`Broker`], which appends it to the topic's history, assigns
//! its offset, and — in offset order per topic — hands it to the router. The event is
//! serialized and framed once ([`wsx::PreparedMessage`]); the router puts the same
//! bytes in the mailbox of every subscribed session on this node; each session's task
//! checks it against where its subscription stands (no duplicate at the seam of a
//! replay) and queues it on its transport, which writes everything queued at once.
//!
//! # Dependencies, and why
//! - `wsx`, `wsx-proto`: WebSocket, and the framing a broadcast shares.
//! - `tokio`, `tokio-util`: the runtime; task tracking and cancellation for shutdown.
//! - `hyper`, `hyper-util`, `http`, `http-body`, `http-body-util`: HTTP/1.1 on the same
//!   port as WebSocket; `tokio-rustls`: `https://`/`wss://`.
//! - `serde`, `serde_json` (with `RawValue`, so payloads pass through verbatim), `toml`:
//!   the protocol and the configuration file.
//! - `jsonwebtoken`: HS256/RS256/ES256 tokens.
//! - `prometheus-client`: the metrics text format.
//! - `form_urlencoded`, `percent-encoding`: query strings and path segments.
//! - `rand`, `base64`: session ids and epochs. `bytes`: shared buffers. `thiserror`:
//!   error types. `tracing`: logs.

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod api;
mod assets;
pub mod auth;
pub mod broker;
pub mod config;
mod connect;
pub mod history;
mod hub;
pub mod limits;
mod mailbox;
pub mod metrics;
pub mod offset;
pub mod protocol;
mod router;
mod server;
mod session;
pub mod topic;

pub use broker::{Broker, BrokerError, MemoryBroker, RedisBroker, RedisSettings};
pub use config::{Config, ConfigError};
pub use history::{Gap, GapReason, History, HistoryLimits, Replay};
pub use hub::{Hub, HubError};
pub use offset::{Epoch, Offset};
pub use protocol::ErrorCode;
pub use session::close;
pub use topic::{Publication, Topic};

use std::net::SocketAddr;
use std::sync::Arc;

/// The hub could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration or a key is invalid.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[source] wsx::Error),
}

/// A bound hub, ready to [`run`](Self::run).
#[derive(Debug)]
pub struct Server {
    hub: Hub,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Server {
    /// Validates `config`, starts the hub and binds its address.
    pub async fn bind(config: Config) -> Result<Server, StartError> {
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                Some(wsx::tls::server_config_from_pem(cert, key).map_err(StartError::Tls)?)
            }
            _ => None,
        };
        let address = config.listen.clone();
        let hub = Hub::new(config)?;
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|source| StartError::Bind { address, source })?;
        Ok(Server { hub, listener, tls })
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The hub, to publish from the same process.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Serves until `shutdown` completes, then shuts down gracefully (see the
    /// configuration's `shutdown_timeout`).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        server::serve(self.hub, self.listener, self.tls, shutdown).await
    }
}
