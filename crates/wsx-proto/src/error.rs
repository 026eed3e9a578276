//! The crate's one error type.
//!
//! Each variant names the rule that was broken; [`Error::kind`] sorts them into what a
//! caller acts on (the peer broke the protocol, a limit, the handshake; a timeout; EOF;
//! local misuse). Every variant that a peer can cause knows what to answer: a close code
//! ([`Error::close_code`]) once the connection is open, or an HTTP status
//! ([`Error::http_status`]) during the opening handshake. A normal close is not an
//! error; it arrives as [`crate::Event::Close`].

use crate::close::CloseCode;
use std::time::Duration;

/// Everything that can go wrong in the protocol core.
///
/// ```
/// use wsx_proto::{CloseCode, Error};
/// let e = Error::MessageTooLarge { limit: 1024 };
/// assert_eq!(e.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- framing: 1002 protocol error -------------------------------------------------------
    /// RSV bits set that no negotiated extension defines (RFC 6455 §5.2).
    #[error("reserved bits {0:#05b} set without an extension that defines them")]
    ReservedBits(u8),
    /// Opcode 0x3-0x7 or 0xB-0xF (RFC 6455 §5.2).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A client frame without a mask (RFC 6455 §5.1).
    #[error("unmasked frame from client")]
    UnmaskedFrameFromClient,
    /// A server frame with a mask (RFC 6455 §5.1).
    #[error("masked frame from server")]
    MaskedFrameFromServer,
    /// A payload length not in its minimal encoding, or with the top bit set (RFC 6455 §5.2).
    #[error("invalid payload length encoding")]
    InvalidPayloadLength,
    /// A control frame with more than 125 bytes of payload (RFC 6455 §5.5).
    #[error("control frame with a payload of {0} bytes (at most 125)")]
    ControlFrameTooLong(u64),
    /// A control frame with FIN clear (RFC 6455 §5.5).
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A continuation frame with no fragmented message to continue (RFC 6455 §5.4).
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished (RFC 6455 §5.4).
    #[error("new data frame before the fragmented message was finished")]
    ExpectedContinuation,
    /// A close frame whose payload is one byte long (RFC 6455 §5.5.1).
    #[error("close frame with a one-byte payload")]
    InvalidClosePayload,
    /// A close code that may not appear on the wire (RFC 6455 §7.4).
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),

    // ---- payload: 1007 ---------------------------------------------------------------------
    /// Invalid UTF-8 in a text message or a close reason (RFC 6455 §8.1).
    #[error("invalid UTF-8 in a text message or close reason")]
    InvalidUtf8,
    /// A compressed message that does not inflate (RFC 7692 §6.2).
    #[error("compressed message is not valid DEFLATE data")]
    InvalidCompressedData,

    // ---- limits: 1009 ----------------------------------------------------------------------
    /// A frame larger than [`crate::Config::max_frame_size`].
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// The declared payload length.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A message (after inflation) larger than [`crate::Config::max_message_size`].
    #[error("message exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The configured limit.
        limit: usize,
    },

    // ---- local conditions --------------------------------------------------------------------
    /// No pong (or any other frame) arrived within [`crate::Config::pong_timeout`] after a ping.
    #[error("keepalive: no answer to a ping within {0:?}")]
    KeepaliveTimeout(Duration),
    /// The transport ended before the close handshake (close code 1006, never sent).
    #[error("connection ended without a close handshake")]
    UnexpectedEof,
    /// The application tried to send after the close handshake started.
    #[error("the connection is closing or closed")]
    Closed,
    /// The application passed a control payload over 125 bytes, or a close reason over 123.
    #[error("control frame payload too long ({0} bytes)")]
    ControlPayloadTooLong(usize),
    /// The application tried to send a close code that is not allowed on the wire.
    #[error("close code {0} may not be sent")]
    UnsendableCloseCode(u16),
    /// Compressing an outgoing message failed (an internal error of the compressor).
    #[error("compression failed")]
    CompressionFailed,
    /// A header name the application passed is not an HTTP token (RFC 9110 §5.1), so it
    /// cannot be sent.
    #[error("header name {0:?} is not an HTTP token")]
    InvalidHeaderName(String),
    /// A header value the application passed (for the named header) contains a control
    /// character other than HTAB, such as CR, LF or NUL (RFC 9110 §5.5). The value itself
    /// is left out: it may be a credential.
    #[error("the value of header {0} contains a control character")]
    InvalidHeaderValue(String),
    /// A subprotocol the application offered is not an HTTP token (RFC 6455 §4.1).
    #[error("subprotocol {0:?} is not an HTTP token")]
    InvalidProtocolName(String),
    /// The request target the application passed is not an origin-form path and query
    /// (RFC 9112 §3.2.1); the reason says what is wrong. The target itself is left out:
    /// its query may carry a token.
    #[error("the request target is not a path and query: {0}")]
    InvalidRequestTarget(&'static str),
    /// The host the application passed is not a valid `Host` authority (RFC 9110 §7.2).
    #[error("host {0:?} is not a valid authority")]
    InvalidHost(String),
    /// The application accepted a request with a subprotocol the client did not offer
    /// (server side; RFC 6455 §4.2.2). A server that picks with
    /// [`Request::select_protocol`](crate::handshake::Request::select_protocol) never
    /// sees this.
    #[error("subprotocol {0:?} was not offered by the client")]
    ProtocolNotOffered(String),

    // ---- opening handshake ---------------------------------------------------------------
    /// The handshake is bigger than [`crate::Config::max_handshake_bytes`] (HTTP 431).
    #[error("handshake exceeds {limit} bytes")]
    HandshakeTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The handshake has more header fields than [`crate::Config::max_headers`] (HTTP 431).
    #[error("handshake has more than {limit} header fields")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// The handshake is not well-formed HTTP/1.1 (HTTP 400).
    #[error("malformed HTTP: {0}")]
    MalformedHttp(&'static str),
    /// The request method is not GET (HTTP 405, RFC 6455 §4.2.1).
    #[error("method must be GET")]
    MethodNotAllowed,
    /// The request or response is not HTTP/1.1 or later (HTTP 400 / 505).
    #[error("HTTP version must be 1.1")]
    UnsupportedHttpVersion,
    /// A header the handshake requires is missing or has the wrong value (HTTP 400).
    #[error("missing or invalid {0} header")]
    InvalidHeader(&'static str),
    /// `Sec-WebSocket-Key` is not base64 of 16 bytes (HTTP 400, RFC 6455 §4.2.1).
    #[error("Sec-WebSocket-Key must be the base64 encoding of 16 bytes")]
    InvalidKey,
    /// `Sec-WebSocket-Version` is not 13 (HTTP 426 with `Sec-WebSocket-Version: 13`).
    #[error("unsupported WebSocket version (only 13 is supported)")]
    UnsupportedVersion,
    /// The server answered with a status other than 101.
    #[error("server answered HTTP {0} instead of 101 Switching Protocols")]
    UnexpectedStatus(u16),
    /// `Sec-WebSocket-Accept` does not match the key we sent (RFC 6455 §4.1).
    #[error("Sec-WebSocket-Accept does not match the key")]
    InvalidAccept,
    /// The server chose a subprotocol we did not offer (client side; RFC 6455 §4.1).
    #[error("server chose a subprotocol that was not offered")]
    UnofferedProtocol,
    /// The server's `Sec-WebSocket-Extensions` names an extension or parameter we did not
    /// offer, or is malformed (RFC 6455 §4.1, RFC 7692 §5).
    #[error("invalid extension in the handshake: {0}")]
    InvalidExtension(&'static str),
}

/// What kind of failure an [`Error`] is: who caused it, and what a driver does about it.
///
/// ```
/// use wsx_proto::{Error, ErrorKind};
/// assert_eq!(Error::InvalidUtf8.kind(), ErrorKind::Protocol);
/// assert_eq!(Error::Closed.kind(), ErrorKind::Usage);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The peer broke RFC 6455 or RFC 7692 after the handshake; the connection fails
    /// with 1002 or 1007.
    Protocol,
    /// The peer exceeded a configured limit: a frame or message (1009) or the handshake
    /// (HTTP 431).
    Limit,
    /// The peer's opening handshake is malformed or invalid, or the server refused it
    /// with a status other than 101.
    Handshake,
    /// The peer did not answer a keepalive ping in time (1011).
    Timeout,
    /// The transport ended without a close handshake (1006: nothing is sent).
    Eof,
    /// The local application passed something that cannot be sent, or sent after the
    /// close handshake started. Nothing was written for it.
    Usage,
    /// Something failed inside this crate (the compressor).
    Internal,
}

impl Error {
    /// What kind of failure this is.
    ///
    /// ```
    /// use wsx_proto::{Error, ErrorKind};
    /// assert_eq!(Error::MessageTooLarge { limit: 10 }.kind(), ErrorKind::Limit);
    /// assert_eq!(Error::InvalidHeaderValue("Origin".into()).kind(), ErrorKind::Usage);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        use Error::*;
        match self {
            ReservedBits(_)
            | ReservedOpcode(_)
            | UnmaskedFrameFromClient
            | MaskedFrameFromServer
            | InvalidPayloadLength
            | ControlFrameTooLong(_)
            | FragmentedControlFrame
            | UnexpectedContinuation
            | ExpectedContinuation
            | InvalidClosePayload
            | InvalidCloseCode(_)
            | InvalidUtf8
            | InvalidCompressedData => ErrorKind::Protocol,
            FrameTooLarge { .. }
            | MessageTooLarge { .. }
            | HandshakeTooLarge { .. }
            | TooManyHeaders { .. } => ErrorKind::Limit,
            MalformedHttp(_)
            | MethodNotAllowed
            | UnsupportedHttpVersion
            | InvalidHeader(_)
            | InvalidKey
            | UnsupportedVersion
            | UnexpectedStatus(_)
            | InvalidAccept
            | UnofferedProtocol
            | InvalidExtension(_) => ErrorKind::Handshake,
            KeepaliveTimeout(_) => ErrorKind::Timeout,
            UnexpectedEof => ErrorKind::Eof,
            Closed
            | ControlPayloadTooLong(_)
            | UnsendableCloseCode(_)
            | InvalidHeaderName(_)
            | InvalidHeaderValue(_)
            | InvalidProtocolName(_)
            | InvalidRequestTarget(_)
            | InvalidHost(_)
            | ProtocolNotOffered(_) => ErrorKind::Usage,
            CompressionFailed => ErrorKind::Internal,
        }
    }

    /// Whether the peer caused this: it broke the protocol, exceeded a limit, or sent
    /// an invalid (or refused) handshake. A missing pong and an early EOF are not counted:
    /// the network may be to blame as much as the peer.
    ///
    /// ```
    /// use wsx_proto::Error;
    /// assert!(Error::UnmaskedFrameFromClient.is_remote());
    /// assert!(!Error::Closed.is_remote());
    /// ```
    pub fn is_remote(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Protocol | ErrorKind::Limit | ErrorKind::Handshake
        )
    }

    /// Whether this error belongs to the opening handshake (a request or response that
    /// is malformed, invalid, too large, or refused) rather than to an open connection.
    ///
    /// ```
    /// use wsx_proto::Error;
    /// assert!(Error::HandshakeTooLarge { limit: 8192 }.is_handshake());
    /// assert!(!Error::FrameTooLarge { size: 10, limit: 1 }.is_handshake());
    /// ```
    pub fn is_handshake(&self) -> bool {
        match self.kind() {
            ErrorKind::Handshake => true,
            ErrorKind::Limit => self.http_status().is_some(),
            _ => false,
        }
    }

    /// The close code to send when this error fails an open connection, or `None` for
    /// errors that are not about the peer's frames (handshake errors, API misuse, EOF).
    ///
    /// ```
    /// use wsx_proto::{CloseCode, Error};
    /// assert_eq!(Error::InvalidUtf8.close_code(), Some(CloseCode::INVALID_PAYLOAD));
    /// assert_eq!(Error::Closed.close_code(), None);
    /// ```
    pub fn close_code(&self) -> Option<CloseCode> {
        use Error::*;
        Some(match self {
            FrameTooLarge { .. } | MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            InvalidUtf8 | InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            _ if self.kind() == ErrorKind::Protocol => CloseCode::PROTOCOL_ERROR,
            KeepaliveTimeout(_) | CompressionFailed => CloseCode::INTERNAL_ERROR,
            UnexpectedEof => CloseCode::ABNORMAL,
            _ => return None,
        })
    }

    /// The HTTP status a server answers a bad request with, or `None` for errors that are
    /// not about the client's request. [`ErrorResponse::from_error`] builds the response.
    ///
    /// [`ErrorResponse::from_error`]: crate::handshake::ErrorResponse::from_error
    ///
    /// ```
    /// use wsx_proto::Error;
    /// assert_eq!(Error::UnsupportedVersion.http_status(), Some(426));
    /// ```
    pub fn http_status(&self) -> Option<u16> {
        use Error::*;
        Some(match self {
            HandshakeTooLarge { .. } | TooManyHeaders { .. } => 431,
            MalformedHttp(_) | InvalidHeader(_) | InvalidKey | UnsupportedHttpVersion => 400,
            MethodNotAllowed => 405,
            UnsupportedVersion => 426,
            _ => return None,
        })
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
