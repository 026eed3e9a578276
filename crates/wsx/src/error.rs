//! The crate's one error type.

use std::io;
use wsx_proto::CloseCode;

/// Everything that can go wrong opening or using a WebSocket.
///
/// ```
/// let e = wsx::Error::from(wsx_proto::Error::MessageTooLarge { limit: 10 });
/// assert_eq!(e.close_code(), Some(wsx_proto::CloseCode::MESSAGE_TOO_BIG));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the protocol or a limit, or the handshake failed. The inner error
    /// knows its close code or HTTP status.
    #[error(transparent)]
    Protocol(#[from] wsx_proto::Error),
    /// The transport failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// TLS failed (certificate, handshake, configuration).
    #[error("TLS error: {0}")]
    Tls(String),
    /// The URL is not a usable `ws://` or `wss://` URL.
    #[error("invalid URL: {0}")]
    Url(String),
    /// The proxy refused or failed the tunnel.
    #[error("proxy error: {0}")]
    Proxy(String),
    /// A timeout ran out: which one is named.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// The server refused the handshake with this HTTP status (client side), or our
    /// callback refused it (server side).
    #[error("handshake rejected with HTTP {status}: {reason}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The reason (server side) or response body (client side), possibly cut short.
        reason: String,
    },
    /// The send queue is full ([`crate::Config::send_queue_limit`]); the caller decides to
    /// wait, drop, or disconnect.
    #[error("send queue full")]
    QueueFull,
    /// The connection is closing or closed: nothing more can be sent.
    #[error("connection closed")]
    Closed,
}

impl Error {
    /// The WebSocket close code that goes with this error, if any.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(e) => e.close_code(),
            _ => None,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
