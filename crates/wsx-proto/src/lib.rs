//! # wsx-proto
//!
//! A sans-I/O WebSocket protocol core: RFC 6455 and permessage-deflate (RFC 7692), with
//! no sockets, no async runtime and no clock. Bytes go in, events come out; messages go
//! in, bytes come out. Any runtime can drive it, and every test can run it in memory.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`handshake`] | the HTTP/1.1 upgrade: client request, server validation, `101`, rejections |
//! | [`frame`] | frame header parsing and serializing |
//! | [`mask`] | masking and unmasking |
//! | [`utf8`] | incremental UTF-8 validation |
//! | [`deflate`] (`DeflateConfig`, …) | permessage-deflate negotiation and codec |
//! | [`connection`] (`Connection`) | the state machine: frames ↔ messages, close handshake, timers |
//! | `PreparedMessage` | a message framed (and compressed) once for many connections |
//! | [`close`] (`CloseCode`, `CloseFrame`) | close codes and frames |
//! | [`error`] (`Error`, `ErrorKind`) | the one error type; each variant knows its kind, close code or HTTP status |
//!
//! # A connection, end to end
//!
//! ```
//! use wsx_proto::{handshake::{Accept, ClientRequest, Request}, Config, Connection, Event, Message, Role};
//!
//! let config = Config::default();
//! // Client: build the request.
//! let request = ClientRequest::new("localhost", "/").deflate(config.deflate.clone());
//! let wire = request.encode().unwrap();
//! // Server: parse, validate, answer.
//! let (req, _) = Request::parse(&wire, &config).unwrap().unwrap();
//! let accepted = req.accept(&Accept::new().deflate(config.deflate.as_ref())).unwrap();
//! let mut server = Connection::new(Role::Server, config.clone()).with_deflate(accepted.deflate);
//! // Client: check the answer.
//! let response = request.parse_response(&accepted.response, &config).unwrap().unwrap();
//! let mut client = Connection::new(Role::Client, config).with_deflate(response.deflate);
//! assert!(client.is_compressed());
//!
//! client.send_text(&"compress me ".repeat(20)).unwrap();
//! server.receive(&client.take_output());
//! let Some(Event::Message(Message::Text(t))) = server.poll_event().unwrap() else { panic!() };
//! assert_eq!(t.len(), 240);
//! ```
//!
//! # Dependencies, and why
//! - `bytes`: payloads are handed out as shared `Bytes` slices of the receive buffer.
//! - `httparse`: a fast, well-fuzzed HTTP/1.1 head parser for the handshake.
//! - `simdutf8`: SIMD UTF-8 validation, with the error position needed to validate
//!   across frame boundaries.
//! - `zlib-rs`, and `flate2` over it for inflating: DEFLATE with window-bit and
//!   memory-level control, memory-safe and fast.
//! - `sha1`, `base64`: `Sec-WebSocket-Accept`.
//! - `rand`: handshake keys and masking keys from a CSPRNG.
//! - `thiserror`: the error type's `Display`.

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod close;
pub mod config;
pub mod connection;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
mod output;
mod prepared;
mod read_buffer;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{Connection, Event, EventRef, MaskKeySource, RandomMaskKeys, ReadBuffer, Role, State};
pub use deflate::{DeflateConfig, DeflateParams};
pub use error::{Error, ErrorKind, Result};
pub use frame::{FrameHeader, OpCode};
pub use message::{Message, Utf8Bytes};
pub use prepared::PreparedMessage;
