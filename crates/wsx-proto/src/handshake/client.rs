//! The client side: building the request and checking the server's `101`.

use super::accept_key;
use super::headers::{
    Headers, check_field, check_limits, collect_headers, is_field_value, is_token, push_header,
};
use crate::config::Config;
use crate::deflate::{DeflateConfig, DeflateParams};
use crate::error::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// A client's opening handshake: builds the request and checks the server's response.
///
/// The builder methods only record; [`encode`](Self::encode) checks every value against
/// the HTTP grammar before it writes a byte, so one call reports the first bad value
/// whatever its source (a URL, a command line, a config file), and the chain of builder
/// calls stays free of `?`.
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
    /// A request for `target` (path and query, e.g. `/chat?room=1`; empty means `/`) on
    /// `host` (the authority, with the port if not the default), with a fresh random key.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let req = ClientRequest::new("example.com:8080", "/feed?since=42");
    /// assert!(req.encode().unwrap().starts_with(b"GET /feed?since=42 HTTP/1.1\r\nHost: example.com:8080\r\n"));
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

    /// Sends an `Origin` header; [`encode`](Self::encode) refuses one with a control character.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let req = ClientRequest::new("h", "/").origin("https://app.example");
    /// assert!(String::from_utf8(req.encode().unwrap()).unwrap().contains("Origin: https://app.example\r\n"));
    /// ```
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = Some(origin.to_owned());
        self
    }

    /// Offers a subprotocol (call again for more, in order of preference). It must be a
    /// token (RFC 6455 §4.1), or [`encode`](Self::encode) fails.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let req = ClientRequest::new("h", "/").protocol("v2").protocol("v1");
    /// assert!(String::from_utf8(req.encode().unwrap()).unwrap().contains("Sec-WebSocket-Protocol: v2, v1\r\n"));
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
    /// assert!(String::from_utf8(req.encode().unwrap()).unwrap().contains("permessage-deflate"));
    /// ```
    pub fn deflate(mut self, config: Option<DeflateConfig>) -> Self {
        self.deflate = config;
        self
    }

    /// Adds a header (e.g. `Authorization`). Headers the handshake sets itself (`Host`,
    /// `Upgrade`, `Connection`, `Sec-WebSocket-*`) are ignored: use the builder methods.
    /// The name must be a token and the value free of control characters other than HTAB
    /// (RFC 9110 §5), or [`encode`](Self::encode) fails.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let req = ClientRequest::new("h", "/").header("Authorization", "Bearer t");
    /// assert!(String::from_utf8(req.encode().unwrap()).unwrap().contains("Authorization: Bearer t\r\n"));
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

    /// The request bytes to send, or the first value that cannot be sent as it is:
    /// a host that is not an authority ([`Error::InvalidHost`]), a target that is not a
    /// path and query ([`Error::InvalidRequestTarget`]), a subprotocol that is not a token
    /// ([`Error::InvalidProtocolName`]), a header name that is not a token
    /// ([`Error::InvalidHeaderName`]), or an Origin or header value with a control
    /// character ([`Error::InvalidHeaderValue`]). All are
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage).
    ///
    /// ```
    /// use wsx_proto::{Error, handshake::ClientRequest};
    /// let wire = ClientRequest::new("h", "/").encode().unwrap();
    /// assert!(wire.ends_with(b"\r\n\r\n"));
    /// let smuggled = ClientRequest::new("h", "/").origin("https://o\r\nX-Injected: 1");
    /// assert_eq!(smuggled.encode(), Err(Error::InvalidHeaderValue("Origin".into())));
    /// ```
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.check()?;
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
            if !is_handshake_header(n) {
                push_header(&mut r, n, v);
            }
        }
        r.push_str("\r\n");
        Ok(r.into_bytes())
    }

    /// Every value that goes into the request, against the grammar of its place in it.
    fn check(&self) -> Result<()> {
        if !is_authority(&self.host) {
            return Err(Error::InvalidHost(self.host.clone()));
        }
        check_target(&self.target)?;
        if let Some(o) = &self.origin
            && !is_field_value(o)
        {
            return Err(Error::InvalidHeaderValue("Origin".into()));
        }
        if let Some(p) = self.protocols.iter().find(|p| !is_token(p)) {
            return Err(Error::InvalidProtocolName(p.clone()));
        }
        self.headers.iter().try_for_each(|(n, v)| check_field(n, v))
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
        if !headers.has_token("upgrade", "websocket") {
            return Err(Error::InvalidHeader("Upgrade"));
        }
        if !headers.has_token("connection", "upgrade") {
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

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2), by the characters RFC 3986 allows in
/// an authority (without userinfo): enough to keep whitespace, controls and delimiters
/// such as `/`, `?`, `#` and `@` out of the header.
fn is_authority(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&c))
}

/// `origin-form = absolute-path [ "?" query ]` (RFC 9112 §3.2.1). Characters that RFC
/// 3986 would have percent-encoded but that are visible ASCII (`|`, `{`, `^`, …) are let
/// through, as browsers send them and servers take them; what is refused is what would
/// split the request line (whitespace, controls), anything non-ASCII, and a fragment.
fn check_target(target: &str) -> Result<()> {
    if !target.starts_with('/') {
        return Err(Error::InvalidRequestTarget("it must start with /"));
    }
    if !target.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(Error::InvalidRequestTarget(
            "it contains a space, a control character or a non-ASCII character (percent-encode them)",
        ));
    }
    if target.contains('#') {
        return Err(Error::InvalidRequestTarget(
            "it contains a fragment (#), which WebSocket URIs do not have (RFC 6455 §3)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let wire =
            String::from_utf8(req.clone().header("sec-websocket-version", "8").encode().unwrap()).unwrap();
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

    #[test]
    fn nothing_the_application_passes_can_inject_a_header() {
        let req = || ClientRequest::new("h", "/");
        let cases = [
            (ClientRequest::new("h", "/a\r\nX-Injected: 1"), "target"),
            (ClientRequest::new("h", "/a b"), "target"),
            (ClientRequest::new("h", "/é"), "target"),
            (ClientRequest::new("h", "/a#frag"), "target"),
            (ClientRequest::new("h", "a"), "target"),
            (ClientRequest::new("h\r\nX-Injected: 1", "/"), "host"),
            (ClientRequest::new("h/x", "/"), "host"),
            (ClientRequest::new("", "/"), "host"),
            (req().origin("http://o\r\nX-Injected: 1"), "origin"),
            (req().origin("http://o\0"), "origin"),
            (req().protocol("p\r\nX-Injected: 1"), "protocol"),
            (req().protocol("a b"), "protocol"),
            (req().protocol(""), "protocol"),
            (req().header("X-A", "1\r\nX-Injected: 1"), "header value"),
            (req().header("X-A", "1\u{7}"), "header value"),
            (req().header("X-A\r\nX-Injected", "1"), "header name"),
            (req().header("", "1"), "header name"),
        ];
        for (r, what) in cases {
            let e = r.encode().unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Usage, "{what}: {e}");
            let matches = match what {
                "target" => matches!(e, Error::InvalidRequestTarget(_)),
                "host" => matches!(e, Error::InvalidHost(_)),
                "origin" => e == Error::InvalidHeaderValue("Origin".into()),
                "protocol" => matches!(e, Error::InvalidProtocolName(_)),
                "header value" => e == Error::InvalidHeaderValue("X-A".into()),
                _ => matches!(e, Error::InvalidHeaderName(_)),
            };
            assert!(matches, "{what}: {e:?}");
        }
        // What is allowed: tabs and UTF-8 in values, IPv6 hosts, visible ASCII in targets.
        let ok = ClientRequest::new("[::1]:9000", "/a|b?q={\"x\":1}&y=%20")
            .origin("https://app.example")
            .protocol("v2.chat+json")
            .header("X-Note", "tab\there, é");
        assert!(ok.encode().is_ok());
        assert!(
            ClientRequest::new("h", "")
                .encode()
                .unwrap()
                .starts_with(b"GET / HTTP/1.1\r\n")
        );
    }
}
