//! An axum extractor for WebSocket upgrades (feature `axum`).
//!
//! ```no_run
//! use axum::{Router, routing::get, response::Response};
//! use wsx::axum::WebSocketUpgrade;
//!
//! async fn ws(upgrade: WebSocketUpgrade) -> Response {
//!     upgrade.protocols(["chat"]).on_upgrade(|mut ws| async move {
//!         while let Some(Ok(msg)) = ws.recv().await {
//!             if ws.send(msg).await.is_err() { break; }
//!         }
//!     })
//! }
//!
//! # async fn serve() {
//! let app: Router = Router::new().route("/ws", get(ws)).route("/", get(|| async { "hello" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

use crate::config::Config;
use crate::error::Error;
use crate::hyper::{HyperStream, Upgrader, proto_request, render, switching_protocols};
use crate::server::AcceptOptions;
use crate::websocket::WebSocket;
use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use std::future::Future;
use wsx_proto::handshake::Request;

/// Extracts a WebSocket upgrade request; answer it with [`on_upgrade`](Self::on_upgrade).
/// Requests that are not valid upgrades are refused with the status the RFC names.
pub struct WebSocketUpgrade {
    request: Request,
    on_upgrade: OnUpgrade,
    config: Config,
    options: AcceptOptions,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

/// Why the extractor refused a request.
#[derive(Debug)]
pub struct UpgradeRejection(Error);

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        render(&self.0.to_response(), Body::from)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let request = proto_request(&parts.method, &parts.uri, parts.version, &parts.headers);
        request.validate().map_err(|e| UpgradeRejection(e.into()))?;
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or_else(|| {
            UpgradeRejection(Error::Rejected {
                status: 426,
                reason: "this connection cannot be upgraded".into(),
            })
        })?;
        Ok(WebSocketUpgrade {
            request,
            on_upgrade,
            config: Config::default(),
            options: AcceptOptions::new(),
        })
    }
}

impl WebSocketUpgrade {
    /// The handshake request (path, headers, Origin, offered subprotocols).
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Uses this configuration for the connection.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Picks the first of `supported` (server preference) that the client offered.
    pub fn protocols<'a>(mut self, supported: impl IntoIterator<Item = &'a str>) -> Self {
        let supported: Vec<&str> = supported.into_iter().collect();
        if let Some(p) = self.request.select_protocol(&supported) {
            self.options = self.options.protocol(p);
        }
        self
    }

    /// Sets the accept options (subprotocol, extra headers) directly.
    pub fn options(mut self, options: AcceptOptions) -> Self {
        self.options = options;
        self
    }

    /// Answers `101 Switching Protocols` and runs `callback` on the WebSocket in a new
    /// task once the connection is upgraded.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocket<HyperStream>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let accepted = match self
            .request
            .accept(&self.options.to_proto(self.config.protocol.deflate.as_ref()))
        {
            Ok(a) => a,
            Err(e) => return UpgradeRejection(e.into()).into_response(),
        };
        let response = switching_protocols(&accepted.headers, Body::empty());
        // Boxed: the task keeps room for what it captures for its whole life; the box is
        // freed once the connection is handed over.
        let ws = Box::pin(Upgrader::new(&self.config).upgraded(self.on_upgrade, accepted));
        tokio::spawn(async move {
            match ws.await {
                Ok(ws) => callback(ws).await,
                Err(e) => tracing::debug!(error = %e, "upgrade failed"),
            }
        });
        response
    }
}
