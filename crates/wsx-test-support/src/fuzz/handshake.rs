//! The opening handshake on arbitrary bytes, with small limits.
//!
//! Server side (`Request::parse`, `validate`, `accept`):
//! - never panics; every error has an HTTP status, and its `ErrorResponse` encodes to a
//!   complete HTTP/1.1 response (`HTTP/1.1 <status> `, a head that httparse accepts,
//!   `\r\n\r\n`, and a body of exactly `Content-Length` bytes);
//! - a parsed head took at most the input and at most `max_handshake_bytes`;
//! - an accepted request's `101` is accepted by a `ClientRequest` with the same key, and
//!   both sides agree on the subprotocol and the permessage-deflate parameters.
//!
//! Client side (`ClientRequest::parse_response`): never panics; a response it accepts is a
//! `101` whose agreed parameters are in range and were offered.
//!
//! Extension negotiation (`DeflateConfig::accept_offer`, `check_response`) on the input as
//! a string: never panics; what a server accepts is in range, respects its own limits, and
//! is accepted back by a default client.

use base64::Engine as _;
use wsx_proto::handshake::{Accept, ClientRequest, ErrorResponse, Request};
use wsx_proto::{Config, DeflateConfig, DeflateParams, Error};

/// The key the client-side seeds were answered for: bytes 0..16.
const KEY: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

fn config() -> Config {
    let mut c = Config::default();
    c.max_handshake_bytes = 4096;
    c.max_headers = 32;
    c
}

fn deflate_configs() -> [DeflateConfig; 2] {
    let mut strict = DeflateConfig::default();
    strict.server_no_context_takeover = true;
    strict.client_no_context_takeover = true;
    strict.server_max_window_bits = 10;
    strict.client_max_window_bits = 12;
    [DeflateConfig::default(), strict]
}

/// A rejection response must be a complete, self-delimiting HTTP/1.1 response.
fn check_error_response(e: &Error) {
    let status = e
        .http_status()
        .unwrap_or_else(|| panic!("server-side error without a status: {e:?}"));
    let resp = ErrorResponse::from_error(e).encode();
    let prefix = format!("HTTP/1.1 {status} ");
    assert!(
        resp.starts_with(prefix.as_bytes()),
        "{e:?}: {:?}",
        String::from_utf8_lossy(&resp)
    );
    let head_end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{e:?}: no end of head"))
        + 4;
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut r = httparse::Response::new(&mut headers);
    match r.parse(&resp) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, head_end),
        other => panic!("{e:?}: response head does not parse: {other:?}"),
    }
    assert_eq!(r.code, Some(status));
    let len: usize = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
        .expect("Content-Length");
    assert_eq!(resp.len() - head_end, len, "{e:?}: body length");
}

fn check_params(p: &DeflateParams) {
    assert!((8..=15).contains(&p.server_max_window_bits), "{p:?}");
    assert!((8..=15).contains(&p.client_max_window_bits), "{p:?}");
}

fn server_side(data: &[u8], config: &Config) {
    let (req, n) = match Request::parse(data, config) {
        Ok(Some(r)) => r,
        Ok(None) => {
            assert!(data.len() < config.max_handshake_bytes);
            return;
        }
        Err(e) => return check_error_response(&e),
    };
    assert!(n <= data.len() && n <= config.max_handshake_bytes, "{n}");
    // Accessors must not panic on anything httparse let through.
    let _ = (
        req.path(),
        req.query(),
        req.origin(),
        req.host(),
        req.method(),
        req.target(),
    );
    let protocols = req.protocols();
    assert!(protocols.iter().all(|p| !p.is_empty() && !p.contains(',')));
    for (name, _) in req.headers().iter() {
        let _ = req.headers().joined(name);
    }
    let key = match req.validate() {
        Ok(k) => k.to_owned(),
        Err(e) => return check_error_response(&e),
    };
    let raw_key = base64::engine::general_purpose::STANDARD
        .decode(&key)
        .expect("validate() checked the key");
    let raw_key: [u8; 16] = raw_key.try_into().expect("validate() checked the length");

    for deflate in deflate_configs() {
        let protocol = req.select_protocol(&["chat", "superchat", "wsx.v1"]);
        let accept = Accept::new()
            .protocol(protocol)
            .deflate(Some(&deflate))
            .header("X-Fuzz", "1");
        let accepted = match req.accept(&accept) {
            Ok(a) => a,
            Err(e) => panic!("validate() passed but accept() failed: {e:?}"),
        };
        let text = std::str::from_utf8(&accepted.response).expect("response is ASCII");
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!(text.matches("\r\n\r\n").count(), 1, "{text:?}");
        if let Some(p) = &accepted.deflate {
            check_params(p);
            assert!(p.server_max_window_bits <= deflate.server_max_window_bits.clamp(8, 15));
            assert!(p.server_no_context_takeover >= deflate.server_no_context_takeover);
        }
        // A client with the same key, offering what the request offered, agrees.
        let mut client = ClientRequest::new("h", "/")
            .key(raw_key)
            .deflate(Some(DeflateConfig::default()));
        if let Some(p) = protocol {
            client = client.protocol(p);
        }
        match client.parse_response(&accepted.response, config) {
            Ok(Some(resp)) => {
                assert_eq!(resp.consumed, accepted.response.len());
                assert_eq!(resp.protocol, accepted.protocol);
                assert_eq!(resp.deflate, accepted.deflate, "{text}");
            }
            other => panic!("client rejects the server's 101: {other:?}\n{text}"),
        }
    }
}

fn client_side(data: &[u8], config: &Config) {
    let clients = [
        ClientRequest::new("example.com", "/chat")
            .key(KEY)
            .protocol("chat")
            .deflate(Some(DeflateConfig::default())),
        ClientRequest::new("example.com", "/")
            .key(KEY)
            .deflate(Some(deflate_configs()[1].clone())),
        ClientRequest::new("example.com", "/").key(KEY),
    ];
    for (i, client) in clients.iter().enumerate() {
        match client.parse_response(data, config) {
            Ok(Some(resp)) => {
                assert_eq!(resp.status, 101);
                assert!(resp.consumed <= data.len() && resp.consumed <= config.max_handshake_bytes);
                if let Some(p) = &resp.protocol {
                    assert_eq!((i, p.as_str()), (0, "chat"));
                }
                if let Some(p) = &resp.deflate {
                    assert_ne!(i, 2, "deflate agreed without an offer");
                    check_params(p);
                    if i == 1 {
                        assert!(p.server_no_context_takeover && p.client_no_context_takeover);
                        assert!(p.server_max_window_bits <= 10 && p.client_max_window_bits <= 12);
                    }
                }
            }
            Ok(None) => assert!(data.len() < config.max_handshake_bytes),
            Err(e) => {
                if e.http_status().is_some() {
                    check_error_response(&e);
                }
            }
        }
    }
}

fn extensions(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    for cfg in deflate_configs() {
        if let Some(p) = cfg.accept_offer(&s) {
            check_params(&p);
            assert!(p.server_max_window_bits <= cfg.server_max_window_bits.clamp(8, 15));
            assert!(p.server_no_context_takeover >= cfg.server_no_context_takeover);
            assert!(p.client_no_context_takeover >= cfg.client_no_context_takeover);
            let header = p.to_header_value();
            assert_eq!(
                DeflateConfig::default().check_response(&header),
                Ok(Some(p)),
                "{s:?} -> {header:?}"
            );
        }
        match cfg.check_response(&s) {
            Ok(Some(p)) => {
                check_params(&p);
                if cfg.server_no_context_takeover {
                    assert!(p.server_no_context_takeover);
                }
                if cfg.server_max_window_bits < 15 {
                    assert!(p.server_max_window_bits <= cfg.server_max_window_bits);
                }
                assert!(p.client_max_window_bits <= cfg.client_max_window_bits.clamp(8, 15));
            }
            Ok(None) => {}
            Err(e) => assert!(matches!(e, Error::InvalidExtension(_)), "{e:?}"),
        }
    }
}

/// Runs one input; panics if an invariant above does not hold.
pub fn run(data: &[u8]) {
    let config = config();
    server_side(data, &config);
    client_side(data, &config);
    extensions(data);
}
