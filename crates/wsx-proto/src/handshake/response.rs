//! The HTTP response that refuses a handshake: one description of status, headers and
//! body, which raw-socket servers encode and HTTP stacks (hyper, axum) copy field by field.

use super::headers::{check_field, push_header};
use crate::error::{Error, Result};

/// The reason phrase for the statuses a refusal is likely to use.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A complete refusal of a handshake: status, header fields and a plain-text body.
///
/// Every refusal carries `Content-Type: text/plain; charset=utf-8`; a 426 adds
/// `Sec-WebSocket-Version: 13`, `Upgrade: websocket` and `Connection: Upgrade` (RFC 6455
/// §4.4, RFC 9110 §7.8), a 405 adds `Allow: GET`. The raw form ([`encode`](Self::encode))
/// also says `Connection: close`, as whoever writes it closes the connection; an HTTP
/// stack that copies [`headers`](Self::headers) keeps the connection for more requests.
///
/// ```
/// use wsx_proto::{Error, handshake::ErrorResponse};
/// let r = ErrorResponse::from_error(&Error::UnsupportedVersion);
/// assert_eq!(r.status(), 426);
/// assert!(r.headers().any(|(n, v)| (n, v) == ("Sec-WebSocket-Version", "13")));
/// let wire = String::from_utf8(r.encode()).unwrap();
/// assert!(wire.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
/// assert!(wire.contains("Connection: Upgrade, close\r\n"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    status: u16,
    /// Ends with Content-Type; Connection is added on the way out.
    headers: Vec<(String, String)>,
    body: String,
}

impl ErrorResponse {
    /// A refusal with `status` and `reason` as the body. A status outside 400–599 becomes
    /// 500: a refusal is an error, and a 1xx, 2xx or 3xx would be read as something else.
    ///
    /// ```
    /// let r = wsx_proto::handshake::ErrorResponse::new(403, "origin not allowed");
    /// assert_eq!((r.status(), r.body()), (403, "origin not allowed\n"));
    /// assert_eq!(wsx_proto::handshake::ErrorResponse::new(200, "?").status(), 500);
    /// ```
    pub fn new(status: u16, reason: &str) -> Self {
        let status = if (400..600).contains(&status) { status } else { 500 };
        let mut headers = Vec::with_capacity(3);
        match status {
            426 => {
                headers.push(("Sec-WebSocket-Version".into(), "13".into()));
                headers.push(("Upgrade".into(), "websocket".into()));
            }
            405 => headers.push(("Allow".into(), "GET".into())),
            _ => {}
        }
        headers.push(("Content-Type".into(), "text/plain; charset=utf-8".into()));
        ErrorResponse {
            status,
            headers,
            body: format!("{reason}\n"),
        }
    }

    /// RFC 9110 §7.8: whoever sends `Upgrade` lists it in `Connection` too.
    fn connection_upgrade(&self) -> bool {
        self.status == 426
    }

    /// The refusal a server answers `error` with: its [`Error::http_status`] and message
    /// for a bad request, and a bare 500 for anything else (the server's own misuse, say
    /// an invalid header it tried to add), whose details stay out of the response.
    ///
    /// ```
    /// use wsx_proto::{Error, handshake::ErrorResponse};
    /// assert_eq!(ErrorResponse::from_error(&Error::MethodNotAllowed).status(), 405);
    /// let r = ErrorResponse::from_error(&Error::InvalidHeaderValue("X-Bad".into()));
    /// assert_eq!((r.status(), r.body()), (500, "internal server error\n"));
    /// ```
    pub fn from_error(error: &Error) -> Self {
        match error.http_status() {
            Some(status) => ErrorResponse::new(status, &error.to_string()),
            None => ErrorResponse::new(500, "internal server error"),
        }
    }

    /// Adds a header field (e.g. `Retry-After`, `WWW-Authenticate`), checked like every
    /// header this crate writes: the name must be a token and the value free of control
    /// characters, so that nothing can be smuggled into the response.
    ///
    /// ```
    /// use wsx_proto::handshake::ErrorResponse;
    /// let r = ErrorResponse::new(503, "busy").header("Retry-After", "1").unwrap();
    /// assert!(r.headers().any(|h| h == ("Retry-After", "1")));
    /// assert!(ErrorResponse::new(503, "busy").header("Retry-After", "1\r\nEvil: 1").is_err());
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Result<Self> {
        check_field(name, value)?;
        // Content-Type stays last.
        let at = self.headers.len() - 1;
        self.headers.insert(at, (name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// The HTTP status.
    ///
    /// ```
    /// assert_eq!(wsx_proto::handshake::ErrorResponse::new(404, "no such room").status(), 404);
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The header fields, in order, for an HTTP stack to copy: without `Content-Length`,
    /// which it sets from the body, and without `Connection: close`, as it decides itself
    /// whether the connection goes on ([`encode`](Self::encode) adds both).
    ///
    /// ```
    /// let r = wsx_proto::handshake::ErrorResponse::new(404, "no such room");
    /// assert!(r.headers().any(|h| h == ("Content-Type", "text/plain; charset=utf-8")));
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let upgrade = self.connection_upgrade().then_some(("Connection", "Upgrade"));
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(upgrade)
    }

    /// The plain-text body: the reason and a newline.
    ///
    /// ```
    /// assert_eq!(wsx_proto::handshake::ErrorResponse::new(404, "no such room").body(), "no such room\n");
    /// ```
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The complete, self-delimiting HTTP/1.1 response, for servers that write to the
    /// socket themselves; it says `Connection: close`, so close the connection after it.
    ///
    /// ```
    /// let wire = wsx_proto::handshake::ErrorResponse::new(403, "origin not allowed").encode();
    /// let text = String::from_utf8(wire).unwrap();
    /// assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"));
    /// assert!(text.ends_with("Content-Length: 19\r\n\r\norigin not allowed\n"));
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut r = format!("HTTP/1.1 {} {}\r\n", self.status, reason_phrase(self.status));
        for (n, v) in &self.headers {
            push_header(&mut r, n, v);
        }
        let connection = if self.connection_upgrade() {
            "Upgrade, close"
        } else {
            "close"
        };
        push_header(&mut r, "Connection", connection);
        push_header(&mut r, "Content-Length", &self.body.len().to_string());
        r.push_str("\r\n");
        r.push_str(&self.body);
        r.into_bytes()
    }
}

/// The encoded [`ErrorResponse`] for `status` and `body`, with extra `headers`; pairs
/// that are not valid header fields are left out.
///
/// ```
/// let r = wsx_proto::handshake::http_response(403, &[], "origin not allowed");
/// let text = String::from_utf8(r).unwrap();
/// assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"));
/// assert!(text.ends_with("\r\n\r\norigin not allowed\n"));
/// ```
pub fn http_response(status: u16, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut response = ErrorResponse::new(status, body);
    for (n, v) in headers {
        if let Ok(r) = response.clone().header(n, v) {
            response = r;
        }
    }
    response.encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_error_has_its_headers() {
        let text = |e: Error| String::from_utf8(ErrorResponse::from_error(&e).encode()).unwrap();
        let r = text(Error::UnsupportedVersion);
        assert!(
            r.contains("Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n"),
            "{r}"
        );
        assert!(r.contains("Connection: Upgrade, close\r\n"), "{r}");
        let r = text(Error::MethodNotAllowed);
        assert!(
            r.starts_with("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n"),
            "{r}"
        );
        let r = text(Error::TooManyHeaders { limit: 4 });
        assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
        assert!(r.contains("Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"));
        // Not the client's fault: no details.
        let r = text(Error::ProtocolNotOffered("x".into()));
        assert!(
            r.starts_with("HTTP/1.1 500 ") && r.ends_with("internal server error\n"),
            "{r}"
        );
    }

    #[test]
    fn http_response_skips_invalid_pairs() {
        let r = http_response(503, &[("Retry-After", "1"), ("X", "a\nb"), ("a b", "c")], "busy");
        let text = String::from_utf8(r).unwrap();
        assert!(text.contains("Retry-After: 1\r\n"));
        assert_eq!(text.matches("\r\n").count(), 6, "{text}");
    }
}
