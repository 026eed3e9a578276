//! Close codes, close frames and the rules for what may appear on the wire (RFC 6455 §5.5.1, §7.4).

use crate::error::{Error, Result};
use crate::message::Utf8Bytes;
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// A close status code. An open set: any `u16` can be held, and [`CloseCode::is_sendable`]
/// tells whether it may appear in a close frame.
///
/// ```
/// use wsx_proto::CloseCode;
/// assert!(CloseCode::NORMAL.is_sendable());
/// assert!(CloseCode(4000).is_sendable());
/// assert!(!CloseCode::NO_STATUS.is_sendable()); // 1005 is never on the wire
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation, idle timeout).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present. Reserved: never sent.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a close frame. Reserved: never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: message data inconsistent with its type (e.g. invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message that violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: (client) the server did not negotiate an extension the client requires.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: (server) an unexpected condition prevented the request from being fulfilled.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway received an invalid response (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: TLS handshake failure. Reserved: never sent.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may be sent in a close frame: 1000-1003, 1007-1014 (the codes
    /// defined by RFC 6455 and the IANA registry) and 3000-4999 (registered and private use).
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

/// The content of a close frame: a code and a UTF-8 reason of at most 123 bytes.
///
/// ```
/// use wsx_proto::{CloseCode, CloseFrame};
/// let f = CloseFrame::new(CloseCode::GOING_AWAY, "server restart");
/// assert_eq!(f.reason.as_str(), "server restart");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// Why, for humans; may be empty.
    pub reason: Utf8Bytes,
}

/// The longest close reason that fits a control frame (125 bytes minus the code).
pub const MAX_CLOSE_REASON: usize = 123;

impl CloseFrame {
    /// A close frame with `code` and `reason`.
    ///
    /// ```
    /// use wsx_proto::{CloseCode, CloseFrame};
    /// assert_eq!(CloseFrame::new(CloseCode::NORMAL, "").code, CloseCode::NORMAL);
    /// ```
    pub fn new(code: CloseCode, reason: impl Into<Utf8Bytes>) -> Self {
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }

    /// A close frame for `code` whose reason is `reason` cut to at most 123 bytes at a
    /// character boundary: used when the reason is our own error message.
    pub(crate) fn truncated(code: CloseCode, reason: &str) -> Self {
        let mut end = reason.len().min(MAX_CLOSE_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        CloseFrame::new(code, Utf8Bytes::from(reason[..end].to_owned()))
    }

    /// Parses a received close payload (RFC 6455 §5.5.1). `Ok(None)` means an empty payload:
    /// the peer gave no code (1005 to the application).
    pub(crate) fn parse(payload: Bytes) -> Result<Option<CloseFrame>> {
        match payload.len() {
            0 => Ok(None),
            1 => Err(Error::InvalidClosePayload),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_sendable() {
                    return Err(Error::InvalidCloseCode(code.0));
                }
                // §5.5.1: "the data ... is not guaranteed to be human readable" but §8.1
                // requires the reason to be valid UTF-8.
                let reason = Utf8Bytes::try_from(payload.slice(2..)).map_err(|_| Error::InvalidUtf8)?;
                Ok(Some(CloseFrame { code, reason }))
            }
        }
    }

    /// Checks that this frame can be sent.
    pub(crate) fn validate_outgoing(&self) -> Result<()> {
        if !self.code.is_sendable() {
            return Err(Error::UnsendableCloseCode(self.code.0));
        }
        if self.reason.len() > MAX_CLOSE_REASON {
            return Err(Error::ControlPayloadTooLong(self.reason.len() + 2));
        }
        Ok(())
    }

    /// The close frame payload: the code in network order, then the reason.
    pub(crate) fn encode(&self) -> BytesMut {
        let mut b = BytesMut::with_capacity(2 + self.reason.len());
        b.put_u16(self.code.0);
        b.put_slice(self.reason.as_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_ranges() {
        for c in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(CloseCode(c).is_sendable(), "{c}");
        }
        for c in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(c).is_sendable(), "{c}");
        }
    }

    #[test]
    fn parse_payloads() {
        assert_eq!(CloseFrame::parse(Bytes::new()), Ok(None));
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(&[3])),
            Err(Error::InvalidClosePayload)
        );
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(&[0x03, 0xed])),
            Err(Error::InvalidCloseCode(1005))
        );
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(&[0x03, 0xe8, 0xff])),
            Err(Error::InvalidUtf8)
        );
        let f = CloseFrame::parse(Bytes::from_static(b"\x03\xe8bye"))
            .unwrap()
            .unwrap();
        assert_eq!(f, CloseFrame::new(CloseCode::NORMAL, "bye"));
        assert_eq!(&f.encode()[..], b"\x03\xe8bye");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let long = "é".repeat(100); // 200 bytes
        let f = CloseFrame::truncated(CloseCode::PROTOCOL_ERROR, &long);
        assert!(f.reason.len() <= MAX_CLOSE_REASON);
        assert_eq!(f.reason.len() % 2, 0);
    }
}
