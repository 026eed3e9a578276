//! The crate's one error type.
//!
//! Each variant is one kind of failure a caller can act on: the peer broke the protocol
//! ([`Error::Protocol`]) or the handshake ([`Error::Handshake`]), the server said no
//! ([`Error::Rejected`]), the transport, TLS, a proxy or the URL failed, a timeout ran
//! out, or the application itself passed something unusable ([`Error::InvalidInput`],
//! [`Error::Closed`]). Variants that wrap a [`wsx_proto::Error`] show its message; the
//! others keep what caused them as their [`source`](std::error::Error::source), so print
//! the chain (`{:#}` with anyhow, or walk `source()`) to see all of it.

use std::error::Error as StdError;
use std::io;
use wsx_proto::{CloseCode, ErrorKind};

/// A boxed error, the source of [`Error::Tls`] and [`Error::Url`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong opening or using a WebSocket.
///
/// ```
/// let e = wsx::Error::from(wsx_proto::Error::MessageTooLarge { limit: 10 });
/// assert!(matches!(e, wsx::Error::Protocol(_)) && e.is_remote());
/// assert_eq!(e.close_code(), Some(wsx_proto::CloseCode::MESSAGE_TOO_BIG));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// After the handshake, the peer broke RFC 6455/7692 or exceeded a configured limit
    /// (or, rarely, our compressor failed); the connection failed with
    /// [`close_code`](Self::close_code).
    #[error(transparent)]
    Protocol(wsx_proto::Error),
    /// The opening handshake failed: the peer's request or response is malformed, invalid
    /// or too large. On the server side its [`http_status`](wsx_proto::Error::http_status)
    /// has been answered.
    #[error(transparent)]
    Handshake(wsx_proto::Error),
    /// The server answered with a status other than 101 (client side), or our own
    /// callback refused the request (server side).
    #[error("handshake rejected with HTTP {status}: {reason}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The reason (server side) or the start of the response body (client side).
        reason: String,
    },
    /// The transport failed, or ended without a close handshake
    /// ([`io::ErrorKind::UnexpectedEof`]).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// TLS failed: a certificate or key that does not load, or a handshake the peer
    /// refused. The source is the rustls or I/O error.
    #[error("TLS: {reason}")]
    Tls {
        /// What was being done.
        reason: String,
        /// The rustls, PEM or I/O error, if there was one.
        #[source]
        source: Option<BoxError>,
    },
    /// The URL is not a usable `ws://` or `wss://` URL. The source, if any, is the
    /// parser's error (a [`url::ParseError`]).
    #[error("invalid URL: {reason}")]
    Url {
        /// What is wrong with it.
        reason: String,
        /// The parser's error, if it failed.
        #[source]
        source: Option<BoxError>,
    },
    /// The proxy could not be reached, or refused or broke the tunnel.
    #[error("proxy {proxy}: {reason}")]
    Proxy {
        /// The proxy's `host:port`.
        proxy: String,
        /// What went wrong.
        reason: String,
        /// The I/O error talking to the proxy, if that was the cause.
        #[source]
        source: Option<io::Error>,
    },
    /// A timeout ran out.
    #[error("{0} timed out")]
    Timeout(Timeout),
    /// The application passed something that cannot be used: a header name or value, a
    /// subprotocol or an Origin that would break the request (or the `101`), a control
    /// payload over 125 bytes, a close code that may not be sent. Nothing was written for
    /// it.
    #[error(transparent)]
    InvalidInput(wsx_proto::Error),
    /// The send queue is full ([`crate::Config::send_queue_limit`]); the caller decides to
    /// wait, drop, or disconnect.
    #[error("send queue full")]
    QueueFull,
    /// The close handshake has started (or the connection has failed): nothing more can be
    /// sent. `send`, `ping` and `close` all return it.
    #[error("connection closed")]
    Closed,
}

/// Which timeout ran out, in [`Error::Timeout`].
///
/// ```
/// assert_eq!(wsx::error::Timeout::Connect.to_string(), "connect");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Timeout {
    /// [`crate::Config::connect_timeout`]: TCP, the proxy tunnel and TLS.
    Connect,
    /// [`crate::Config::handshake_timeout`]: the WebSocket opening handshake (and, on a
    /// [`crate::Server`], TLS too).
    Handshake,
    /// No answer to a keepalive ping within [`wsx_proto::Config::pong_timeout`]; the
    /// connection was failed with 1011.
    Keepalive,
}

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Timeout::Connect => "connect",
            Timeout::Handshake => "handshake",
            Timeout::Keepalive => "keepalive",
        })
    }
}

impl Error {
    /// Whether the peer caused this: it broke the protocol, exceeded a limit, or sent an
    /// invalid handshake. A refusal ([`Error::Rejected`]) is an answer, not a fault, and
    /// does not count.
    ///
    /// ```
    /// let e = wsx::Error::from(wsx_proto::Error::UnmaskedFrameFromClient);
    /// assert!(e.is_remote());
    /// assert!(!wsx::Error::Closed.is_remote());
    /// ```
    pub fn is_remote(&self) -> bool {
        match self {
            Error::Protocol(e) | Error::Handshake(e) => e.is_remote(),
            _ => false,
        }
    }

    /// Whether the transport failed (including an end without a close handshake).
    ///
    /// ```
    /// let e = wsx::Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
    /// assert!(e.is_io());
    /// ```
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Io(_))
    }

    /// Whether a timeout ran out ([`Error::Timeout`]).
    ///
    /// ```
    /// assert!(wsx::Error::Timeout(wsx::error::Timeout::Handshake).is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// Whether the application is to blame: it passed an unusable value or URL, or sent
    /// after the close handshake started.
    ///
    /// ```
    /// let e = wsx::Error::from(wsx_proto::Error::ControlPayloadTooLong(200));
    /// assert!(e.is_usage());
    /// assert!(wsx::Error::Closed.is_usage());
    /// ```
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::InvalidInput(_) | Error::Closed | Error::Url { .. })
    }

    /// The close code that went out when this error failed the connection, if one did:
    /// the protocol error's (1002, 1007, 1009, 1011) or 1011 for a keepalive timeout.
    ///
    /// ```
    /// use wsx::{CloseCode, Error, error::Timeout};
    /// assert_eq!(Error::Timeout(Timeout::Keepalive).close_code(), Some(CloseCode::INTERNAL_ERROR));
    /// assert_eq!(Error::Closed.close_code(), None);
    /// ```
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(e) => e.close_code(),
            Error::Timeout(Timeout::Keepalive) => Some(CloseCode::INTERNAL_ERROR),
            _ => None,
        }
    }

    /// The response a server answers this handshake error with: the request's fault gets
    /// its status and reason, a refusal its own, anything else a bare 500.
    #[cfg(feature = "hyper")]
    pub(crate) fn to_response(&self) -> wsx_proto::handshake::ErrorResponse {
        use wsx_proto::handshake::ErrorResponse;
        match self {
            Error::Handshake(e) => ErrorResponse::from_error(e),
            Error::Rejected { status, reason } => ErrorResponse::new(*status, reason),
            _ => ErrorResponse::new(500, "internal server error"),
        }
    }

    pub(crate) fn tls(reason: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Tls {
            reason: reason.into(),
            source: Some(source.into()),
        }
    }

    /// A TLS handshake failure: rustls reports through `io::Error`; its own error, when
    /// it is one, is the more useful source.
    pub(crate) fn tls_io(reason: impl Into<String>, e: io::Error) -> Error {
        let source: BoxError = if e
            .get_ref()
            .is_some_and(|inner| inner.is::<tokio_rustls::rustls::Error>())
        {
            e.into_inner().expect("checked")
        } else {
            Box::new(e)
        };
        Error::tls(reason, source)
    }

    pub(crate) fn url(reason: impl Into<String>) -> Error {
        Error::Url {
            reason: reason.into(),
            source: None,
        }
    }
}

/// Routes a protocol-core error to the variant a caller matches on, by its
/// [`kind`](wsx_proto::Error::kind): `Closed` to [`Error::Closed`], a keepalive timeout
/// to [`Error::Timeout`], EOF to [`Error::Io`], local misuse to [`Error::InvalidInput`],
/// a non-101 answer to [`Error::Rejected`], the rest of the handshake to
/// [`Error::Handshake`], and everything else to [`Error::Protocol`].
///
/// ```
/// use wsx::Error;
/// assert!(matches!(Error::from(wsx_proto::Error::Closed), Error::Closed));
/// assert!(matches!(Error::from(wsx_proto::Error::InvalidKey), Error::Handshake(_)));
/// assert!(matches!(Error::from(wsx_proto::Error::UnexpectedEof), Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof));
/// ```
impl From<wsx_proto::Error> for Error {
    fn from(e: wsx_proto::Error) -> Error {
        match e {
            wsx_proto::Error::Closed => Error::Closed,
            wsx_proto::Error::KeepaliveTimeout(_) => Error::Timeout(Timeout::Keepalive),
            wsx_proto::Error::UnexpectedEof => Error::Io(io::Error::new(io::ErrorKind::UnexpectedEof, e)),
            wsx_proto::Error::UnexpectedStatus(status) => Error::Rejected {
                status,
                reason: String::new(),
            },
            e if e.kind() == ErrorKind::Usage => Error::InvalidInput(e),
            e if e.is_handshake() => Error::Handshake(e),
            e => Error::Protocol(e),
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
