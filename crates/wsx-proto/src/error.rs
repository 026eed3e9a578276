//! The crate's one error type.
//!
//! Every variant that a peer can cause knows what to answer: a close code
//! ([`Error::close_code`]) once the connection is open, or an HTTP status
//! ([`Error::http_status`]) during the opening handshake. A normal close is not
//! an error; it arrives as [`crate::Event::Close`].

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
    /// The application refused the request, e.g. its Origin (carries the HTTP status).
    #[error("request rejected with HTTP {status}: {reason}")]
    Rejected {
        /// The HTTP status to answer with.
        status: u16,
        /// A reason for the response body.
        reason: String,
    },
    /// The server answered with a status other than 101.
    #[error("server answered HTTP {0} instead of 101 Switching Protocols")]
    UnexpectedStatus(u16),
    /// `Sec-WebSocket-Accept` does not match the key we sent (RFC 6455 §4.1).
    #[error("Sec-WebSocket-Accept does not match the key")]
    InvalidAccept,
    /// The server chose a subprotocol we did not offer (RFC 6455 §4.1).
    #[error("server chose a subprotocol that was not offered")]
    UnofferedProtocol,
    /// The server's `Sec-WebSocket-Extensions` names an extension or parameter we did not
    /// offer, or is malformed (RFC 6455 §4.1, RFC 7692 §5).
    #[error("invalid extension in the handshake: {0}")]
    InvalidExtension(&'static str),
}

impl Error {
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
            | InvalidCloseCode(_) => CloseCode::PROTOCOL_ERROR,
            InvalidUtf8 | InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            FrameTooLarge { .. } | MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            KeepaliveTimeout(_) | CompressionFailed => CloseCode::INTERNAL_ERROR,
            UnexpectedEof => CloseCode::ABNORMAL,
            _ => return None,
        })
    }

    /// The HTTP status for a handshake error, or `None` for errors after the handshake.
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
            Rejected { status, .. } => *status,
            _ => return None,
        })
    }

    /// Builds the complete HTTP response that rejects a handshake with this error, or
    /// `None` if this is not a server-side handshake error.
    ///
    /// ```
    /// use wsx_proto::Error;
    /// let resp = Error::UnsupportedVersion.to_http_response().unwrap();
    /// let text = String::from_utf8(resp).unwrap();
    /// assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    /// assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
    /// ```
    pub fn to_http_response(&self) -> Option<Vec<u8>> {
        let status = self.http_status()?;
        let mut extra: Vec<(&str, &str)> = Vec::new();
        match self {
            Error::UnsupportedVersion => {
                extra.push(("Sec-WebSocket-Version", "13"));
                extra.push(("Upgrade", "websocket"));
                extra.push(("Connection", "Upgrade"));
            }
            Error::MethodNotAllowed => extra.push(("Allow", "GET")),
            _ => {}
        }
        let reason = match self {
            Error::Rejected { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        Some(crate::handshake::http_response(status, &extra, &reason))
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
