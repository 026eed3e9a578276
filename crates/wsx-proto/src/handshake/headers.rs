//! Header fields: the map a parsed handshake carries, token lists, and the syntax checks
//! that keep what we write from being read as more than one field.

use crate::config::Config;
use crate::error::{Error, Result};

/// Header fields in arrival order, names compared without regard to case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub(super) Vec<(String, Vec<u8>)>);

impl Headers {
    /// The first value of `name` as text, if present and valid UTF-8.
    ///
    /// ```
    /// let h = wsx_proto::handshake::Headers::from_pairs([("Host", "a")]);
    /// assert_eq!(h.get("host"), Some("a"));
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .find_map(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Every value of `name` that is valid UTF-8, in order.
    ///
    /// ```
    /// let h = wsx_proto::handshake::Headers::from_pairs([("X", "1"), ("x", "2")]);
    /// assert_eq!(h.get_all("X").collect::<Vec<_>>(), ["1", "2"]);
    /// ```
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        // Non-UTF-8 values (obs-text) are skipped: no header we interpret allows them.
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// All values of `name` joined with ", " (how HTTP combines repeated list headers).
    ///
    /// ```
    /// let h = wsx_proto::handshake::Headers::from_pairs([("P", "a"), ("p", "b, c")]);
    /// assert_eq!(h.joined("p").as_deref(), Some("a, b, c"));
    /// ```
    pub fn joined(&self, name: &str) -> Option<String> {
        let mut it = self.get_all(name);
        let first = it.next()?;
        Some(it.fold(first.to_owned(), |mut acc, v| {
            acc.push_str(", ");
            acc.push_str(v);
            acc
        }))
    }

    /// Whether any value of `name`, read as a comma-separated list, contains `token`
    /// (ignoring ASCII case), as `Connection: keep-alive, Upgrade` contains `upgrade`.
    ///
    /// ```
    /// let h = wsx_proto::handshake::Headers::from_pairs([("Connection", "keep-alive, Upgrade")]);
    /// assert!(h.has_token("connection", "upgrade"));
    /// ```
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| has_token(v, token))
    }

    /// Every `(name, raw value)` pair in order.
    ///
    /// ```
    /// let h = wsx_proto::handshake::Headers::from_pairs([("A", "1")]);
    /// assert_eq!(h.iter().next(), Some(("A", &b"1"[..])));
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Builds headers from pairs, e.g. from another HTTP library's parsed request.
    ///
    /// ```
    /// let h = wsx_proto::handshake::Headers::from_pairs([("A", b"1".to_vec())]);
    /// assert_eq!(h.get("a"), Some("1"));
    /// ```
    pub fn from_pairs<N: Into<String>, V: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        Headers(
            pairs
                .into_iter()
                .map(|(n, v)| (n.into(), v.as_ref().to_vec()))
                .collect(),
        )
    }
}

/// The items of a comma-separated header value (RFC 9110 §5.6.1), trimmed, empty ones
/// dropped.
///
/// ```
/// let items: Vec<_> = wsx_proto::handshake::list_items(" chat, , superchat ").collect();
/// assert_eq!(items, ["chat", "superchat"]);
/// ```
pub fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Whether a comma-separated header value contains `token`, ignoring ASCII case: the one
/// reading of `Upgrade`, `Connection` and `Sec-WebSocket-Version` that every driver
/// (the raw parser here, wsx's hyper integration) shares.
///
/// ```
/// assert!(wsx_proto::handshake::has_token("keep-alive, Upgrade", "upgrade"));
/// assert!(!wsx_proto::handshake::has_token("upgraded", "upgrade"));
/// ```
pub fn has_token(value: &str, token: &str) -> bool {
    list_items(value).any(|t| t.eq_ignore_ascii_case(token))
}

/// `token = 1*tchar` (RFC 9110 §5.6.2): header names, subprotocols, extension names.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// A field value as RFC 9110 §5.5 allows it on the wire: no control characters but HTAB
/// (so no CR, LF or NUL, which would end the field or the head early). Bytes above 0x7F
/// (obs-text) pass: the grammar permits them and UTF-8 text uses them.
pub(crate) fn is_field_value(s: &str) -> bool {
    s.bytes().all(|c| c == b'\t' || (c >= 0x20 && c != 0x7f))
}

/// Checks a header the application wants written, naming the field in the error.
pub(crate) fn check_field(name: &str, value: &str) -> Result<()> {
    if !is_token(name) {
        return Err(Error::InvalidHeaderName(name.to_owned()));
    }
    if !is_field_value(value) {
        return Err(Error::InvalidHeaderValue(name.to_owned()));
    }
    Ok(())
}

pub(crate) fn push_header(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

/// Maps httparse's outcome to ours, enforcing the size limits of the config.
pub(crate) fn check_limits(
    status: httparse::Result<usize>,
    buf_len: usize,
    config: &Config,
) -> Result<Option<usize>> {
    match status {
        Ok(httparse::Status::Complete(n)) if n <= config.max_handshake_bytes => Ok(Some(n)),
        Ok(_) if buf_len >= config.max_handshake_bytes => Err(Error::HandshakeTooLarge {
            limit: config.max_handshake_bytes,
        }),
        Ok(httparse::Status::Complete(_)) => {
            unreachable!("complete beyond the limit implies buf_len beyond it")
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(Error::TooManyHeaders {
            limit: config.max_headers,
        }),
        Err(httparse::Error::Version) => Err(Error::UnsupportedHttpVersion),
        Err(_) => Err(Error::MalformedHttp("not a valid HTTP/1.1 message head")),
    }
}

pub(crate) fn collect_headers(headers: &[httparse::Header<'_>]) -> Headers {
    Headers(
        headers
            .iter()
            .take_while(|h| !h.name.is_empty())
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_syntax() {
        assert!(is_token("Sec-WebSocket-Protocol") && is_token("v2.chat+json"));
        for bad in ["", "a b", "a\r\nb", "a:b", "a,b", "é", "a\"b", "a/b"] {
            assert!(!is_token(bad), "{bad:?}");
        }
        assert!(is_field_value("Bearer x\ty é"));
        for bad in ["a\rb", "a\nb", "a\0b", "a\u{7}b", "a\u{7f}b"] {
            assert!(!is_field_value(bad), "{bad:?}");
        }
        assert_eq!(
            check_field("X", "a\r\nEvil: 1"),
            Err(Error::InvalidHeaderValue("X".into()))
        );
        assert_eq!(
            check_field("X\r\nEvil", "1"),
            Err(Error::InvalidHeaderName("X\r\nEvil".into()))
        );
    }
}
