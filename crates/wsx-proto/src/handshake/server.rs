//! The server side: parsing and validating the client's request, choosing a subprotocol
//! and extensions, and answering `101 Switching Protocols`.

use super::accept_key;
use super::headers::{
    Headers, check_field, check_limits, collect_headers, is_token, list_items, push_header,
};
use crate::config::Config;
use crate::deflate::{DeflateConfig, DeflateParams};
use crate::error::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

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
    /// The error knows its HTTP status ([`Error::http_status`]), and
    /// [`ErrorResponse::from_error`](super::ErrorResponse::from_error) builds the response.
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
        if !self.headers.has_token("upgrade", "websocket") {
            return Err(Error::InvalidHeader("Upgrade"));
        }
        if !self.headers.has_token("connection", "upgrade") {
            return Err(Error::InvalidHeader("Connection"));
        }
        // 6: version 13, else 426 with the versions we support (§4.4).
        if !self.headers.has_token("sec-websocket-version", "13") {
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
    /// Errors: the request's own ([`validate`](Self::validate)), or the server's misuse
    /// ([`ErrorKind::Usage`](crate::ErrorKind::Usage)): a subprotocol the client did not
    /// offer ([`Error::ProtocolNotOffered`]), or an [`Accept::header`] whose name is not a
    /// token or whose value holds a control character ([`Error::InvalidHeaderName`],
    /// [`Error::InvalidHeaderValue`]). Nothing is written for a misuse; answer it with a 500.
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
        if let Some(p) = accept.protocol {
            // The offer came from the peer and is not checked on arrival: a choice that is
            // no token is refused here rather than echoed into our response.
            if !self.protocols().contains(&p) || !is_token(p) {
                return Err(Error::ProtocolNotOffered(p.to_owned()));
            }
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
            check_field(name, value)?;
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
    /// An extra response header (e.g. `Set-Cookie`). Checked by [`Request::accept`],
    /// which refuses a name that is not a token or a value with a control character.
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
            let resp = String::from_utf8(super::super::ErrorResponse::from_error(&e).encode()).unwrap();
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
            Err(Error::ProtocolNotOffered("other".into()))
        );
        assert_eq!(
            r.accept(&Accept::new().header("X", "a\r\nEvil: 1")),
            Err(Error::InvalidHeaderValue("X".into()))
        );
        assert_eq!(
            r.accept(&Accept::new().header("X-Bad", "a\u{7}b")),
            Err(Error::InvalidHeaderValue("X-Bad".into()))
        );
        assert_eq!(
            r.accept(&Accept::new().header("X\r\nEvil", "1")),
            Err(Error::InvalidHeaderName("X\r\nEvil".into()))
        );
        assert_eq!(r.select_protocol(&["v2", "chat"]), Some("chat"));
        assert_eq!(r.select_protocol(&["v2"]), None);
    }

    #[test]
    fn an_offer_that_is_no_token_is_not_echoed() {
        // httparse lets a space through in a value; the choice must still be a token.
        let r = parse(&request("Sec-WebSocket-Protocol: a b\r\n"));
        assert_eq!(r.protocols(), ["a b"]);
        assert_eq!(
            r.accept(&Accept::new().protocol(Some("a b"))),
            Err(Error::ProtocolNotOffered("a b".into()))
        );
    }
}
