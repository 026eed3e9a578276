//! The opening handshake (RFC 6455 §4): the client's HTTP/1.1 `Upgrade` request, the
//! server's `101 Switching Protocols` answer, `Sec-WebSocket-Accept`, and the choice of
//! subprotocol and extensions.
//!
//! Server side:
//!
//! ```
//! use wsx_proto::{Config, handshake::{Accept, Request}};
//! let wire = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n";
//! let config = Config::default();
//! let (request, used) = Request::parse(wire, &config).unwrap().unwrap();
//! assert_eq!(used, wire.len());
//! let protocol = request.select_protocol(&["superchat", "chat"]); // the server's order wins
//! let accepted = request.accept(&Accept::new().protocol(protocol)).unwrap();
//! let text = String::from_utf8(accepted.response).unwrap();
//! assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")); // RFC 6455 §1.3
//! assert!(text.contains("Sec-WebSocket-Protocol: superchat\r\n"));
//! ```
//!
//! Client side:
//!
//! ```
//! use wsx_proto::{Config, handshake::ClientRequest};
//! let req = ClientRequest::new("example.com", "/chat").protocol("chat");
//! let wire = req.encode();
//! assert!(String::from_utf8(wire).unwrap().starts_with("GET /chat HTTP/1.1\r\n"));
//! let answer = format!(
//!     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
//!      Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
//!     req.expected_accept()
//! );
//! let response = req.parse_response(answer.as_bytes(), &Config::default()).unwrap().unwrap();
//! assert_eq!(response.protocol.as_deref(), Some("chat"));
//! assert_eq!(response.consumed, answer.len());
//! ```

use crate::config::Config;
use crate::deflate::{DeflateConfig, DeflateParams};
use crate::error::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

/// The GUID of RFC 6455 §1.3, appended to the key before hashing.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
///
/// ```
/// // RFC 6455 §1.3.
/// assert_eq!(wsx_proto::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(GUID.as_bytes());
    BASE64.encode(h.finalize())
}

/// Whether a comma-separated header value contains `token`, ignoring ASCII case.
fn has_token(value: &str, token: &str) -> bool {
    value.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Splits a comma-separated header value into trimmed, non-empty items.
fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Header fields in arrival order, names compared without regard to case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, Vec<u8>)>);

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
            .find(|(n, v)| n.eq_ignore_ascii_case(name) && std::str::from_utf8(v).is_ok())
            .map(|(_, v)| std::str::from_utf8(v).expect("checked"))
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

/// Parses with httparse into a header array sized by the config, mapping its errors.
fn check_limits(status: httparse::Result<usize>, buf_len: usize, config: &Config) -> Result<Option<usize>> {
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

fn collect_headers(headers: &[httparse::Header<'_>]) -> Headers {
    Headers(
        headers
            .iter()
            .take_while(|h| !h.name.is_empty())
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
    )
}

/// A client's opening handshake request, as seen by a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    target: String,
    http11: bool,
    headers: Headers,
}

impl Request {
    /// Parses a request head from the start of `buf`. `Ok(None)`: incomplete, read more.
    /// `Ok(Some((request, n)))`: the head took `n` bytes; what follows belongs to the
    /// WebSocket connection. Fails once the head passes `config.max_handshake_bytes` or
    /// `config.max_headers`, so a slow or endless client costs bounded memory.
    ///
    /// ```
    /// # let wire = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
    /// # let (req, _) = wsx_proto::handshake::Request::parse(wire, &wsx_proto::Config::default()).unwrap().unwrap();
    /// assert_eq!(req.method(), "GET");
    /// ```
    pub fn parse(buf: &[u8], config: &Config) -> Result<Option<(Request, usize)>> {
        let mut headers = vec![httparse::EMPTY_HEADER; config.max_headers];
        let mut req = httparse::Request::new(&mut headers);
        let status = req.parse(buf);
        let Some(n) = check_limits(status, buf.len(), config)? else {
            return Ok(None);
        };
        let request = Request {
            method: req.method.unwrap_or_default().to_owned(),
            target: req.path.unwrap_or_default().to_owned(),
            http11: req.version == Some(1),
            headers: collect_headers(req.headers),
        };
        Ok(Some((request, n)))
    }

    /// A request from parts another HTTP stack already parsed (e.g. hyper's).
    ///
    /// ```
    /// use wsx_proto::handshake::{Headers, Request};
    /// let r = Request::from_parts("GET", "/ws", true, Headers::from_pairs([("Host", "h")]));
    /// assert_eq!(r.path(), "/ws");
    /// ```
    pub fn from_parts(method: &str, target: &str, http11: bool, headers: Headers) -> Request {
        Request {
            method: method.to_owned(),
            target: target.to_owned(),
            http11,
            headers,
        }
    }

    /// The request method.
    ///
    /// ```
    /// # let wire = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
    /// # let (req, _) = wsx_proto::handshake::Request::parse(wire, &wsx_proto::Config::default()).unwrap().unwrap();
    /// assert_eq!(req.method(), "GET");
    /// ```
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target as sent (path and query).
    ///
    /// ```
    /// # let wire = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
    /// # let (req, _) = wsx_proto::handshake::Request::parse(wire, &wsx_proto::Config::default()).unwrap().unwrap();
    /// assert_eq!(req.target(), "/chat?room=1");
    /// ```
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path part of the target, without the query.
    ///
    /// ```
    /// # let wire = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
    /// # let (req, _) = wsx_proto::handshake::Request::parse(wire, &wsx_proto::Config::default()).unwrap().unwrap();
    /// assert_eq!(req.path(), "/chat");
    /// ```
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query part of the target (after `?`), if any.
    ///
    /// ```
    /// # let wire = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
    /// # let (req, _) = wsx_proto::handshake::Request::parse(wire, &wsx_proto::Config::default()).unwrap().unwrap();
    /// assert_eq!(req.query(), Some("room=1"));
    /// ```
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The header fields.
    ///
    /// ```
    /// # let wire = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
    /// # let (req, _) = wsx_proto::handshake::Request::parse(wire, &wsx_proto::Config::default()).unwrap().unwrap();
    /// assert_eq!(req.headers().get("sec-websocket-version"), Some("13"));
    /// ```
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The `Origin` header, which browsers always send (RFC 6455 §10.2).
    ///
    /// ```
    /// # let wire = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
    /// # let (req, _) = wsx_proto::handshake::Request::parse(wire, &wsx_proto::Config::default()).unwrap().unwrap();
    /// assert_eq!(req.origin(), Some("https://example.com"));
    /// ```
    pub fn origin(&self) -> Option<&str> {
        self.headers.get("origin")
    }

    /// The `Host` header.
    ///
    /// ```
    /// # let wire = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
    /// # let (req, _) = wsx_proto::handshake::Request::parse(wire, &wsx_proto::Config::default()).unwrap().unwrap();
    /// assert_eq!(req.host(), Some("example.com"));
    /// ```
    pub fn host(&self) -> Option<&str> {
        self.headers.get("host")
    }

    /// The offered subprotocols, in the client's order of preference.
    ///
    /// ```
    /// use wsx_proto::handshake::{Headers, Request};
    /// let h = Headers::from_pairs([("Sec-WebSocket-Protocol", "a, b"), ("Sec-WebSocket-Protocol", "c")]);
    /// let r = Request::from_parts("GET", "/", true, h);
    /// assert_eq!(r.protocols(), ["a", "b", "c"]);
    /// ```
    pub fn protocols(&self) -> Vec<&str> {
        self.headers
            .get_all("sec-websocket-protocol")
            .flat_map(list_items)
            .collect()
    }

    /// The first of `supported` (the server's order of preference) that the client offered.
    ///
    /// ```
    /// # let wire = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
    /// # let (req, _) = wsx_proto::handshake::Request::parse(wire, &wsx_proto::Config::default()).unwrap().unwrap();
    /// assert_eq!(req.select_protocol(&["chat.v2", "chat"]), Some("chat"));
    /// ```
    pub fn select_protocol<'a>(&self, supported: &[&'a str]) -> Option<&'a str> {
        let offered = self.protocols();
        supported.iter().copied().find(|s| offered.contains(s))
    }

    /// Checks the request against RFC 6455 §4.2.1, returning the `Sec-WebSocket-Key`.
    /// The error knows its HTTP status ([`Error::http_status`]) and its response
    /// ([`Error::to_http_response`]).
    ///
    /// ```
    /// # let wire = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
    /// # let (req, _) = wsx_proto::handshake::Request::parse(wire, &wsx_proto::Config::default()).unwrap().unwrap();
    /// assert_eq!(req.validate(), Ok("dGhlIHNhbXBsZSBub25jZQ=="));
    /// ```
    pub fn validate(&self) -> Result<&str> {
        // §4.2.1 1: "An HTTP/1.1 or higher GET request".
        if self.method != "GET" {
            return Err(Error::MethodNotAllowed);
        }
        if !self.http11 {
            return Err(Error::UnsupportedHttpVersion);
        }
        // 2: "A |Host| header field containing the server's authority."
        if self.host().is_none_or(str::is_empty) {
            return Err(Error::InvalidHeader("Host"));
        }
        // 3 and 4: Upgrade and Connection are token lists, compared case-insensitively.
        if !self.headers.get_all("upgrade").any(|v| has_token(v, "websocket")) {
            return Err(Error::InvalidHeader("Upgrade"));
        }
        if !self
            .headers
            .get_all("connection")
            .any(|v| has_token(v, "upgrade"))
        {
            return Err(Error::InvalidHeader("Connection"));
        }
        // 6: version 13, else 426 with the versions we support (§4.4).
        if !self
            .headers
            .get_all("sec-websocket-version")
            .any(|v| has_token(v, "13"))
        {
            return Err(Error::UnsupportedVersion);
        }
        // 5: "a base64-encoded value that, when decoded, is 16 bytes in length".
        let mut keys = self.headers.get_all("sec-websocket-key");
        let key = keys.next().map(str::trim).ok_or(Error::InvalidKey)?;
        if keys.next().is_some() || BASE64.decode(key).map(|k| k.len()) != Ok(16) {
            return Err(Error::InvalidKey);
        }
        Ok(key)
    }

    /// Validates the request and builds the `101 Switching Protocols` response.
    /// `accept.protocol` must be one the client offered (see [`select_protocol`](Self::select_protocol));
    /// permessage-deflate is negotiated when `accept.deflate` is set and the client offered it.
    ///
    /// ```
    /// # let wire = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
    /// # let (req, _) = wsx_proto::handshake::Request::parse(wire, &wsx_proto::Config::default()).unwrap().unwrap();
    /// let accepted = req.accept(&wsx_proto::handshake::Accept::new().protocol(Some("chat"))).unwrap();
    /// assert_eq!(accepted.protocol.as_deref(), Some("chat"));
    /// assert!(accepted.response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    /// ```
    pub fn accept(&self, accept: &Accept<'_>) -> Result<Accepted> {
        let key = self.validate()?;
        if let Some(p) = accept.protocol
            && !self.protocols().contains(&p)
        {
            return Err(Error::UnofferedProtocol);
        }
        let deflate = match (accept.deflate, self.headers.joined("sec-websocket-extensions")) {
            (Some(cfg), Some(offer)) => cfg.accept_offer(&offer),
            _ => None,
        };
        let mut headers = vec![
            ("Upgrade".to_owned(), "websocket".to_owned()),
            ("Connection".to_owned(), "Upgrade".to_owned()),
            ("Sec-WebSocket-Accept".to_owned(), accept_key(key.as_bytes())),
        ];
        if let Some(p) = accept.protocol {
            headers.push(("Sec-WebSocket-Protocol".to_owned(), p.to_owned()));
        }
        if let Some(d) = &deflate {
            headers.push(("Sec-WebSocket-Extensions".to_owned(), d.to_header_value()));
        }
        for (name, value) in &accept.headers {
            check_header_field(name, value)?;
            headers.push(((*name).to_owned(), (*value).to_owned()));
        }
        let mut r = String::with_capacity(160);
        r.push_str("HTTP/1.1 101 Switching Protocols\r\n");
        for (name, value) in &headers {
            push_header(&mut r, name, value);
        }
        r.push_str("\r\n");
        Ok(Accepted {
            response: r.into_bytes(),
            headers,
            protocol: accept.protocol.map(str::to_owned),
            deflate,
        })
    }
}

/// A server's choices for the `101` response.
///
/// ```
/// use wsx_proto::{DeflateConfig, handshake::Accept};
/// let deflate = DeflateConfig::default();
/// let a = Accept::new().protocol(Some("chat")).deflate(Some(&deflate)).header("X-Server", "wsx");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Accept<'a> {
    protocol: Option<&'a str>,
    deflate: Option<&'a DeflateConfig>,
    headers: Vec<(&'a str, &'a str)>,
}

impl<'a> Accept<'a> {
    /// No subprotocol, no compression, no extra headers.
    ///
    /// ```
    /// let accept = wsx_proto::handshake::Accept::new();
    /// ```
    pub fn new() -> Self {
        Accept::default()
    }
    /// The subprotocol to answer with.
    ///
    /// ```
    /// let accept = wsx_proto::handshake::Accept::new().protocol(Some("chat"));
    /// ```
    pub fn protocol(mut self, protocol: Option<&'a str>) -> Self {
        self.protocol = protocol;
        self
    }
    /// Negotiate permessage-deflate within these limits if the client offers it.
    ///
    /// ```
    /// let cfg = wsx_proto::DeflateConfig::default();
    /// let accept = wsx_proto::handshake::Accept::new().deflate(Some(&cfg));
    /// ```
    pub fn deflate(mut self, deflate: Option<&'a DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }
    /// An extra response header (e.g. `Set-Cookie`).
    ///
    /// ```
    /// let accept = wsx_proto::handshake::Accept::new().header("Set-Cookie", "sid=1; HttpOnly");
    /// ```
    pub fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// The outcome of [`Request::accept`]: the bytes to write, and what was agreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The complete `101` response.
    pub response: Vec<u8>,
    /// The header fields of that response, for HTTP stacks that write their own.
    pub headers: Vec<(String, String)>,
    /// The chosen subprotocol.
    pub protocol: Option<String>,
    /// The agreed permessage-deflate parameters; pass them to
    /// [`Connection::with_deflate`](crate::Connection::with_deflate).
    pub deflate: Option<DeflateParams>,
}

fn push_header(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

/// Headers the client handshake writes itself; a duplicate would make the request invalid.
fn is_handshake_header(name: &str) -> bool {
    [
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
        || name.len() > 14 && name[..14].eq_ignore_ascii_case("sec-websocket-")
}

/// Rejects names and values that would break the response (header injection).
fn check_header_field(name: &str, value: &str) -> Result<()> {
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c));
    let value_ok = !value.bytes().any(|c| c == b'\r' || c == b'\n' || c == 0);
    if name_ok && value_ok {
        Ok(())
    } else {
        Err(Error::InvalidHeader("response header"))
    }
}

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

/// A complete, self-delimiting HTTP/1.1 response with a plain-text body, for rejecting
/// a handshake. The connection is closed after it (`Connection: close`).
///
/// ```
/// let r = wsx_proto::handshake::http_response(403, &[], "origin not allowed");
/// let text = String::from_utf8(r).unwrap();
/// assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"));
/// assert!(text.ends_with("\r\n\r\norigin not allowed\n"));
/// ```
pub fn http_response(status: u16, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let body = format!("{body}\n");
    let mut r = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (n, v) in headers {
        if check_header_field(n, v).is_ok() {
            push_header(&mut r, n, v);
        }
    }
    push_header(&mut r, "Content-Type", "text/plain; charset=utf-8");
    push_header(&mut r, "Content-Length", &body.len().to_string());
    r.push_str("Connection: close\r\n\r\n");
    r.push_str(&body);
    r.into_bytes()
}

/// A client's opening handshake: builds the request and checks the server's response.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    host: String,
    target: String,
    key: String,
    origin: Option<String>,
    protocols: Vec<String>,
    deflate: Option<DeflateConfig>,
    headers: Vec<(String, String)>,
}

impl ClientRequest {
    /// A request for `target` (path and query, e.g. `/chat?room=1`) on `host` (the
    /// authority, with the port if not the default), with a fresh random key.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let req = ClientRequest::new("example.com:8080", "/feed?since=42");
    /// assert!(req.encode().starts_with(b"GET /feed?since=42 HTTP/1.1\r\nHost: example.com:8080\r\n"));
    /// ```
    pub fn new(host: &str, target: &str) -> Self {
        let key: [u8; 16] = rand::random();
        ClientRequest {
            host: host.to_owned(),
            target: if target.is_empty() {
                "/".into()
            } else {
                target.to_owned()
            },
            key: BASE64.encode(key),
            origin: None,
            protocols: Vec::new(),
            deflate: None,
            headers: Vec::new(),
        }
    }

    /// Uses a fixed key instead of a random one (for repeatable tests).
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// // RFC 6455 §1.3's nonce, "the sample nonce".
    /// let req = ClientRequest::new("h", "/").key(*b"the sample nonce");
    /// assert_eq!(req.expected_accept(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /// ```
    pub fn key(mut self, key: [u8; 16]) -> Self {
        self.key = BASE64.encode(key);
        self
    }

    /// Sends an `Origin` header.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let req = ClientRequest::new("h", "/").origin("https://app.example");
    /// assert!(String::from_utf8(req.encode()).unwrap().contains("Origin: https://app.example\r\n"));
    /// ```
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = Some(origin.to_owned());
        self
    }

    /// Offers a subprotocol (call again for more, in order of preference).
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let req = ClientRequest::new("h", "/").protocol("v2").protocol("v1");
    /// assert!(String::from_utf8(req.encode()).unwrap().contains("Sec-WebSocket-Protocol: v2, v1\r\n"));
    /// ```
    pub fn protocol(mut self, protocol: &str) -> Self {
        self.protocols.push(protocol.to_owned());
        self
    }

    /// Offers permessage-deflate with these parameters.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let req = ClientRequest::new("h", "/").deflate(Some(wsx_proto::DeflateConfig::default()));
    /// assert!(String::from_utf8(req.encode()).unwrap().contains("permessage-deflate"));
    /// ```
    pub fn deflate(mut self, config: Option<DeflateConfig>) -> Self {
        self.deflate = config;
        self
    }

    /// Adds a header (e.g. `Authorization`). Headers the handshake sets itself (`Host`,
    /// `Upgrade`, `Connection`, `Sec-WebSocket-*`) are ignored: use the builder methods.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let req = ClientRequest::new("h", "/").header("Authorization", "Bearer t");
    /// assert!(String::from_utf8(req.encode()).unwrap().contains("Authorization: Bearer t\r\n"));
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The `Sec-WebSocket-Accept` value the server must answer with.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let req = ClientRequest::new("h", "/");
    /// assert_eq!(req.expected_accept().len(), 28); // base64 of a SHA-1
    /// ```
    pub fn expected_accept(&self) -> String {
        accept_key(self.key.as_bytes())
    }

    /// The request bytes to send.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let wire = ClientRequest::new("h", "/").encode();
    /// assert!(wire.ends_with(b"\r\n\r\n"));
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut r = String::with_capacity(256);
        r.push_str("GET ");
        r.push_str(&self.target);
        r.push_str(" HTTP/1.1\r\n");
        push_header(&mut r, "Host", &self.host);
        r.push_str("Upgrade: websocket\r\nConnection: Upgrade\r\n");
        push_header(&mut r, "Sec-WebSocket-Key", &self.key);
        r.push_str("Sec-WebSocket-Version: 13\r\n");
        if let Some(o) = &self.origin {
            push_header(&mut r, "Origin", o);
        }
        if !self.protocols.is_empty() {
            push_header(&mut r, "Sec-WebSocket-Protocol", &self.protocols.join(", "));
        }
        if let Some(d) = &self.deflate {
            push_header(&mut r, "Sec-WebSocket-Extensions", &d.offer());
        }
        for (n, v) in &self.headers {
            if check_header_field(n, v).is_ok() && !is_handshake_header(n) {
                push_header(&mut r, n, v);
            }
        }
        r.push_str("\r\n");
        r.into_bytes()
    }

    /// Parses and checks the server's response from the start of `buf` (RFC 6455 §4.1).
    /// `Ok(None)`: incomplete, read more.
    pub fn parse_response(&self, buf: &[u8], config: &Config) -> Result<Option<Response>> {
        // A TLS server answers a plain request with an alert, not HTTP: say so.
        let prefix = &buf[..buf.len().min(5)];
        if !b"HTTP/".starts_with(prefix) {
            return Err(Error::MalformedHttp(
                "the server did not answer with HTTP (a TLS port? try wss://)",
            ));
        }
        let mut headers = vec![httparse::EMPTY_HEADER; config.max_headers];
        let mut resp = httparse::Response::new(&mut headers);
        let status = resp.parse(buf);
        let Some(consumed) = check_limits(status, buf.len(), config)? else {
            return Ok(None);
        };
        let code = resp.code.unwrap_or(0);
        let headers = collect_headers(resp.headers);
        if code != 101 {
            return Err(Error::UnexpectedStatus(code));
        }
        if !headers.get_all("upgrade").any(|v| has_token(v, "websocket")) {
            return Err(Error::InvalidHeader("Upgrade"));
        }
        if !headers.get_all("connection").any(|v| has_token(v, "upgrade")) {
            return Err(Error::InvalidHeader("Connection"));
        }
        if headers.get("sec-websocket-accept").map(str::trim) != Some(self.expected_accept().as_str()) {
            return Err(Error::InvalidAccept);
        }
        let protocol = match headers.joined("sec-websocket-protocol") {
            Some(p) if self.protocols.iter().any(|o| *o == p.trim()) => Some(p.trim().to_owned()),
            Some(_) => return Err(Error::UnofferedProtocol),
            None => None,
        };
        let deflate = match (headers.joined("sec-websocket-extensions"), &self.deflate) {
            (None, _) => None,
            (Some(ext), Some(cfg)) => cfg.check_response(&ext)?,
            (Some(ext), None) if ext.trim().is_empty() => None,
            (Some(_), None) => {
                return Err(Error::InvalidExtension(
                    "server selected an extension we did not offer",
                ));
            }
        };
        Ok(Some(Response {
            status: code,
            headers,
            protocol,
            deflate,
            consumed,
        }))
    }
}

/// A server's accepted `101` response, as checked by a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Always 101.
    pub status: u16,
    /// The response headers.
    pub headers: Headers,
    /// The subprotocol the server chose.
    pub protocol: Option<String>,
    /// The agreed permessage-deflate parameters.
    pub deflate: Option<DeflateParams>,
    /// How many bytes of the buffer the response took; the rest are WebSocket frames.
    pub consumed: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(extra: &str) -> String {
        format!(
            "GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
             Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nOrigin: http://example.com\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    }

    fn parse(s: &str) -> Request {
        Request::parse(s.as_bytes(), &Config::default())
            .unwrap()
            .unwrap()
            .0
    }

    #[test]
    fn rfc_example_request() {
        let r = parse(&request("Sec-WebSocket-Protocol: chat, superchat\r\n"));
        assert_eq!((r.path(), r.query()), ("/chat", Some("x=1")));
        assert_eq!(r.origin(), Some("http://example.com"));
        assert_eq!(r.protocols(), ["chat", "superchat"]);
        assert_eq!(r.validate(), Ok(KEY));
        let a = r.accept(&Accept::new().protocol(Some("chat"))).unwrap();
        let text = String::from_utf8(a.response).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn incomplete_then_complete() {
        let full = request("");
        for cut in [0, 5, full.len() - 1] {
            assert_eq!(
                Request::parse(&full.as_bytes()[..cut], &Config::default()),
                Ok(None)
            );
        }
        let mut with_frames = full.clone().into_bytes();
        with_frames.extend_from_slice(&[0x81, 0x80]);
        let (_, n) = Request::parse(&with_frames, &Config::default()).unwrap().unwrap();
        assert_eq!(n, full.len());
    }

    #[test]
    fn each_violation_has_its_status() {
        let cases: &[(String, u16)] = &[
            (request("").replace("GET", "POST"), 405),
            (request("").replace("HTTP/1.1", "HTTP/1.0"), 400),
            (request("").replace("Host: server.example.com\r\n", ""), 400),
            (request("").replace("Upgrade: websocket", "Upgrade: h2c"), 400),
            (request("").replace("keep-alive, Upgrade", "keep-alive"), 400),
            (request("").replace("Version: 13", "Version: 8"), 426),
            (request("").replace(KEY, "dG9vIHNob3J0"), 400),
            (request("").replace(KEY, "!!!not base64!!!"), 400),
            (request(&format!("Sec-WebSocket-Key: {KEY}\r\n")), 400),
        ];
        for (req, status) in cases {
            let e = parse(req).validate().unwrap_err();
            assert_eq!(e.http_status(), Some(*status), "{e} for\n{req}");
            let resp = String::from_utf8(e.to_http_response().unwrap()).unwrap();
            assert!(resp.starts_with(&format!("HTTP/1.1 {status} ")), "{resp}");
        }
    }

    #[test]
    fn tokens_are_case_insensitive() {
        let r = parse(
            &request("")
                .replace("Upgrade: websocket", "Upgrade: WebSocket")
                .replace("Upgrade\r\n", "UPGRADE\r\n"),
        );
        assert!(r.validate().is_ok());
    }

    #[test]
    fn limits() {
        let config = Config {
            max_handshake_bytes: 64,
            ..Config::default()
        };
        let long = request("");
        assert_eq!(
            Request::parse(long.as_bytes(), &config),
            Err(Error::HandshakeTooLarge { limit: 64 })
        );
        // Endless headers without the blank line: stopped at the limit, not buffered forever.
        assert_eq!(
            Request::parse(&[b'a'; 64][..], &config),
            Err(Error::HandshakeTooLarge { limit: 64 })
        );
        let config = Config {
            max_headers: 4,
            ..Config::default()
        };
        assert_eq!(
            Request::parse(long.as_bytes(), &config),
            Err(Error::TooManyHeaders { limit: 4 })
        );
        assert_eq!(
            Request::parse(b"\x00\x01garbage\r\n\r\n", &Config::default())
                .unwrap_err()
                .http_status(),
            Some(400)
        );
    }

    #[test]
    fn deflate_is_negotiated_only_when_both_want_it() {
        let cfg = DeflateConfig::default();
        let offered = parse(&request(
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        ));
        let a = offered.accept(&Accept::new().deflate(Some(&cfg))).unwrap();
        assert_eq!(a.deflate, Some(DeflateParams::default()));
        assert!(
            String::from_utf8(a.response)
                .unwrap()
                .contains("Sec-WebSocket-Extensions: permessage-deflate\r\n")
        );
        assert_eq!(offered.accept(&Accept::new()).unwrap().deflate, None);
        let plain = parse(&request(""));
        assert_eq!(
            plain.accept(&Accept::new().deflate(Some(&cfg))).unwrap().deflate,
            None
        );
    }

    #[test]
    fn server_cannot_pick_an_unoffered_protocol_or_inject_headers() {
        let r = parse(&request("Sec-WebSocket-Protocol: chat\r\n"));
        assert_eq!(
            r.accept(&Accept::new().protocol(Some("other"))),
            Err(Error::UnofferedProtocol)
        );
        assert!(r.accept(&Accept::new().header("X", "a\r\nEvil: 1")).is_err());
        assert_eq!(r.select_protocol(&["v2", "chat"]), Some("chat"));
        assert_eq!(r.select_protocol(&["v2"]), None);
    }

    fn response_for(req: &ClientRequest, extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
            req.expected_accept()
        )
    }

    #[test]
    fn client_checks_the_response() {
        let cfg = Config::default();
        let req = ClientRequest::new("h:1", "/p")
            .protocol("a")
            .deflate(Some(DeflateConfig::default()));
        let wire = String::from_utf8(req.clone().header("sec-websocket-version", "8").encode()).unwrap();
        assert_eq!(wire.matches("Sec-WebSocket-Version").count(), 1, "{wire}");
        assert!(wire.contains("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
        assert!(wire.contains("Host: h:1\r\n"));
        let ok = response_for(
            &req,
            "Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Extensions: permessage-deflate\r\n",
        );
        let r = req.parse_response(ok.as_bytes(), &cfg).unwrap().unwrap();
        assert_eq!((r.protocol.as_deref(), r.deflate.is_some()), (Some("a"), true));
        let bad_proto = response_for(&req, "Sec-WebSocket-Protocol: b\r\n");
        assert_eq!(
            req.parse_response(bad_proto.as_bytes(), &cfg),
            Err(Error::UnofferedProtocol)
        );
        let bad_accept = response_for(&req, "").replace(&req.expected_accept(), "AAAA");
        assert_eq!(
            req.parse_response(bad_accept.as_bytes(), &cfg),
            Err(Error::InvalidAccept)
        );
        let tls_alert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32];
        assert!(
            matches!(req.parse_response(&tls_alert, &cfg), Err(Error::MalformedHttp(m)) if m.contains("TLS"))
        );
        let not_101 = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            req.parse_response(not_101.as_bytes(), &cfg),
            Err(Error::UnexpectedStatus(403))
        );
        let plain = ClientRequest::new("h", "/");
        let unoffered_ext = response_for(&plain, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert!(matches!(
            plain.parse_response(unoffered_ext.as_bytes(), &cfg),
            Err(Error::InvalidExtension(_))
        ));
    }
}
