//! Messages and the known-valid UTF-8 byte buffer that carries text.

use bytes::Bytes;
use std::{fmt, ops::Deref};

/// Reference-counted bytes that are known to be valid UTF-8: a text payload handed out
/// without copying, that derefs to `&str` without re-validating.
///
/// ```
/// use wsx_proto::Utf8Bytes;
/// let t = Utf8Bytes::from("héllo");
/// assert_eq!(t.as_str(), "héllo");
/// assert!(Utf8Bytes::try_from(bytes::Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Wraps bytes that the caller has already validated as UTF-8.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(simdutf8::basic::from_utf8(&bytes).is_ok());
        Utf8Bytes(bytes)
    }

    /// An empty string.
    ///
    /// ```
    /// assert!(wsx_proto::Utf8Bytes::new().is_empty());
    /// ```
    pub const fn new() -> Self {
        Utf8Bytes(Bytes::new())
    }

    /// A `'static` string without copying.
    ///
    /// ```
    /// assert_eq!(wsx_proto::Utf8Bytes::from_static("hi").as_str(), "hi");
    /// ```
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }

    /// The text.
    ///
    /// ```
    /// assert_eq!(wsx_proto::Utf8Bytes::from("a").as_str(), "a");
    /// ```
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor of `Utf8Bytes` takes a `&str`/`String` or checks the
        // bytes with a UTF-8 validator (`try_from`, or the connection's validator before
        // `from_validated`), and the inner `Bytes` is never mutated afterwards.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes, sharing the buffer.
    ///
    /// ```
    /// assert_eq!(&wsx_proto::Utf8Bytes::from("a").into_bytes()[..], b"a");
    /// ```
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&String> for Utf8Bytes {
    fn from(s: &String) -> Self {
        Utf8Bytes::from(s.as_str())
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(t: Utf8Bytes) -> Bytes {
        t.0
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        if simdutf8::basic::from_utf8(&b).is_ok() {
            Ok(Utf8Bytes(b))
        } else {
            // Only the slow path pays for the detailed error.
            Err(std::str::from_utf8(&b).unwrap_err())
        }
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A complete data message: text or binary.
///
/// ```
/// use wsx_proto::Message;
/// let m = Message::text("hi");
/// assert_eq!(m.as_bytes(), b"hi");
/// assert!(m.is_text());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message, known to be valid UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// A text message.
    ///
    /// ```
    /// assert!(wsx_proto::Message::text(String::from("x")).is_text());
    /// ```
    pub fn text(t: impl Into<Utf8Bytes>) -> Self {
        Message::Text(t.into())
    }

    /// A binary message.
    ///
    /// ```
    /// assert!(!wsx_proto::Message::binary(vec![1, 2]).is_text());
    /// ```
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Message::Binary(b.into())
    }

    /// Whether this is a text message.
    ///
    /// ```
    /// assert!(wsx_proto::Message::text("").is_text());
    /// ```
    pub fn is_text(&self) -> bool {
        matches!(self, Message::Text(_))
    }

    /// The text of a text message; `None` for a binary one.
    ///
    /// ```
    /// use wsx_proto::Message;
    /// assert_eq!(Message::text("hi").as_text(), Some("hi"));
    /// assert_eq!(Message::binary(vec![1]).as_text(), None);
    /// ```
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t.as_str()),
            Message::Binary(_) => None,
        }
    }

    /// The payload bytes.
    ///
    /// ```
    /// assert_eq!(wsx_proto::Message::binary(&b"ab"[..]).as_bytes(), b"ab");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The payload length in bytes.
    ///
    /// ```
    /// assert_eq!(wsx_proto::Message::text("héllo").len(), 6);
    /// ```
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    ///
    /// ```
    /// assert!(wsx_proto::Message::binary(vec![]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload as shared bytes (text loses its UTF-8 guarantee).
    ///
    /// ```
    /// assert_eq!(&wsx_proto::Message::text("a").into_bytes()[..], b"a");
    /// ```
    pub fn into_bytes(self) -> Bytes {
        match self {
            Message::Text(t) => t.into_bytes(),
            Message::Binary(b) => b,
        }
    }
}

/// Text from a `String` (no copy).
impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s.into())
    }
}

/// Text from a `&str` (copied).
impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.into())
    }
}

/// Text from validated bytes.
impl From<Utf8Bytes> for Message {
    fn from(t: Utf8Bytes) -> Self {
        Message::Text(t)
    }
}

/// Binary from a `Vec<u8>` (no copy).
impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b.into())
    }
}

/// Binary from `Bytes`.
impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

/// Binary from a byte slice (copied).
impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Self {
        Message::Binary(Bytes::copy_from_slice(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_bytes_roundtrip_and_rejects_invalid() {
        let ok = Utf8Bytes::try_from(Bytes::from_static("καλημέρα".as_bytes())).unwrap();
        assert_eq!(ok.as_str(), "καλημέρα");
        assert_eq!(&*ok, "καλημέρα");
        for bad in [
            &b"\xc0\x80"[..],
            b"\xed\xa0\x80",
            b"abc\xf4\x90\x80\x80",
            b"\xe2\x82",
        ] {
            assert!(Utf8Bytes::try_from(Bytes::copy_from_slice(bad)).is_err());
        }
        assert_eq!(Utf8Bytes::from_static("").as_str(), "");
    }
}
