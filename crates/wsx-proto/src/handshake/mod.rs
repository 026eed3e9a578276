//! The opening handshake (RFC 6455 §4): the client's HTTP/1.1 `Upgrade` request, the
//! server's `101 Switching Protocols` answer, `Sec-WebSocket-Accept`, the choice of
//! subprotocol and extensions, and the responses that refuse a request.
//!
//! | part | what it holds |
//! |---|---|
//! | [`Headers`], [`has_token`], [`list_items`] | parsed header fields and token lists |
//! | [`Request`], [`Accept`], [`Accepted`] | the server side: validate, choose, answer `101` |
//! | [`ClientRequest`], [`Response`] | the client side: build the request, check the `101` |
//! | [`ErrorResponse`], [`http_response`] | the refusals: 400, 403, 405, 426, 431, 500, … |
//!
//! Everything an application passes in (host, path, Origin, subprotocols, header names
//! and values) is checked before it is written: a value with a CR or LF would otherwise
//! end the field early and let the rest be read as a header of its own.
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
//! let wire = req.encode().unwrap(); // checked: nothing the application passed can inject a header
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

mod client;
mod headers;
mod response;
mod server;

pub use client::{ClientRequest, Response};
pub use headers::{Headers, has_token, list_items};
pub use response::{ErrorResponse, http_response};
pub use server::{Accept, Accepted, Request};

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
