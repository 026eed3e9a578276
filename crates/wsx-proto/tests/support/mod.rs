//! Test support shared by the integration tests, in the spirit of quinn-proto's `Pair` and
//! python-websockets' `test_protocol.py`:
//!
//! - [`Pair`]: a client and a server [`Connection`] joined in memory, with permessage-deflate
//!   negotiated through the real opening handshake, and [`Pair::step`] to run them until idle;
//! - [`sent`] / [`frames`]: what a connection wants to send, parsed back into [`Frame`]s with
//!   [`FrameHeader::parse`] and [`apply_mask`], so tests compare frames rather than bytes;
//! - [`raw`] and friends: hand-crafted, possibly invalid frames.

#![allow(dead_code)] // each test binary uses its own subset

use std::fmt;
use wsx_proto::handshake::{Accept, ClientRequest, Request};
use wsx_proto::mask::apply_mask;
use wsx_proto::{
    Config, Connection, DeflateConfig, DeflateParams, Error, Event, FrameHeader, OpCode, Role, State,
};

/// The masking key of the RFC 6455 §5.7 examples.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The default configuration without permessage-deflate.
pub fn plain_config() -> Config {
    let mut c = Config::default();
    c.deflate = None;
    c
}

/// The default configuration with permessage-deflate configured by `f`.
pub fn deflate_config(f: impl FnOnce(&mut DeflateConfig)) -> Config {
    let mut d = DeflateConfig::default();
    f(&mut d);
    let mut c = Config::default();
    c.deflate = Some(d);
    c
}

/// A repeatable sequence of distinct masking keys.
pub fn key_sequence(seed: u32) -> impl FnMut() -> [u8; 4] + Send + 'static {
    let mut state = seed;
    move || {
        state = state.wrapping_mul(0x9e37_79b9).wrapping_add(0x7f4a_7c15);
        state.to_be_bytes()
    }
}

/// A server connection with `config` and no extension.
pub fn server_with(config: Config) -> Connection {
    Connection::new(Role::Server, config)
}

/// A plain server connection.
pub fn server() -> Connection {
    server_with(plain_config())
}

/// A client connection with `config`, masking every frame with [`MASK`].
pub fn client_with(config: Config) -> Connection {
    Connection::new(Role::Client, config).with_mask_source(|| MASK)
}

/// A plain client connection, masking every frame with [`MASK`].
pub fn client() -> Connection {
    client_with(plain_config())
}

// ---- handshake and pair ------------------------------------------------------------------------

/// What the opening handshake agreed on, as seen by each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// From `ClientRequest::parse_response`.
    pub client: Option<DeflateParams>,
    /// From `Request::accept`.
    pub server: Option<DeflateParams>,
}

/// Runs the real opening handshake (ClientRequest → Request::parse → accept →
/// parse_response) between a client with `client` and a server with `server`.
pub fn handshake(client: &Config, server: &Config) -> Negotiated {
    let request = ClientRequest::new("localhost:8080", "/chat")
        .key(*b"wsx test key 16b")
        .deflate(client.deflate.clone());
    let wire = request.encode().unwrap();
    let (req, used) = Request::parse(&wire, server)
        .expect("valid request")
        .expect("complete request");
    assert_eq!(used, wire.len());
    let accepted = req
        .accept(&Accept::new().deflate(server.deflate.as_ref()))
        .expect("acceptable request");
    let response = request
        .parse_response(&accepted.response, client)
        .expect("valid response")
        .expect("complete response");
    assert_eq!(response.consumed, accepted.response.len());
    let n = Negotiated {
        client: response.deflate,
        server: accepted.deflate,
    };
    assert_eq!(n.client, n.server, "client and server agree on the parameters");
    n
}

/// What one side reported during a [`Pair::step`]: events, and at most one error last.
pub type Outcome = Result<Event, Error>;

/// Events collected per side by [`Pair::step`].
#[derive(Debug, Default)]
pub struct Events {
    /// What the client's `poll_event` returned.
    pub client: Vec<Outcome>,
    /// What the server's `poll_event` returned.
    pub server: Vec<Outcome>,
}

/// A client and a server joined in memory.
#[derive(Debug)]
pub struct Pair {
    /// The client end.
    pub client: Connection,
    /// The server end.
    pub server: Connection,
    /// What the handshake agreed on.
    pub negotiated: Negotiated,
}

impl Pair {
    /// Two connections joined through the real handshake; deflate is on if both configs want
    /// it. The client's masking keys are a fixed, repeatable sequence.
    pub fn new(client: Config, server: Config) -> Pair {
        let negotiated = handshake(&client, &server);
        Pair {
            client: Connection::new(Role::Client, client)
                .with_deflate(negotiated.client)
                .with_mask_source(key_sequence(1)),
            server: Connection::new(Role::Server, server).with_deflate(negotiated.server),
            negotiated,
        }
    }

    /// A pair without compression.
    pub fn plain() -> Pair {
        Pair::new(plain_config(), plain_config())
    }

    /// A pair with the default permessage-deflate.
    pub fn compressed() -> Pair {
        let p = Pair::new(Config::default(), Config::default());
        assert!(p.client.is_compressed() && p.server.is_compressed());
        p
    }

    /// Moves output from each side to the other and collects events until neither side has
    /// anything more to say.
    pub fn step(&mut self) -> Events {
        let mut events = Events::default();
        loop {
            let mut progress = false;
            let to_server = self.client.take_output();
            if !to_server.is_empty() {
                self.server.receive(&to_server);
                progress = true;
            }
            let n = events.server.len();
            events.server.extend(poll_all(&mut self.server));
            progress |= events.server.len() > n;
            let to_client = self.server.take_output();
            if !to_client.is_empty() {
                self.client.receive(&to_client);
                progress = true;
            }
            let n = events.client.len();
            events.client.extend(poll_all(&mut self.client));
            progress |= events.client.len() > n;
            if !progress {
                return events;
            }
        }
    }

    /// Takes what `from` wants to send, hands it to the other side (without polling it), and
    /// returns it parsed into frames.
    pub fn deliver(&mut self, from: Role) -> Vec<Frame> {
        let wire = self.side(from).take_output();
        let to = match from {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        self.side(to).receive(&wire);
        let parsed = frames(&wire);
        for (h, _) in parse_wire(&wire) {
            assert_eq!(h.mask.is_some(), from == Role::Client);
        }
        parsed
    }

    /// The connection of `role`.
    pub fn side(&mut self, role: Role) -> &mut Connection {
        match role {
            Role::Client => &mut self.client,
            Role::Server => &mut self.server,
        }
    }
}

/// Every event `conn` has, up to and including an error.
pub fn poll_all(conn: &mut Connection) -> Vec<Outcome> {
    let mut out = Vec::new();
    loop {
        match conn.poll_event() {
            Ok(Some(e)) => out.push(Ok(e)),
            Ok(None) => return out,
            Err(e) => {
                out.push(Err(e));
                // A failed connection is closed: nothing more comes out of it.
                assert_eq!(conn.poll_event(), Ok(None));
                return out;
            }
        }
    }
}

/// Hands `bytes` to `conn` and returns every event it yields.
pub fn feed(conn: &mut Connection, bytes: &[u8]) -> Vec<Outcome> {
    conn.receive(bytes);
    poll_all(conn)
}

// ---- frames sent -------------------------------------------------------------------------------

/// A frame as the peer would see it: header bits and the unmasked payload.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: OpCode,
    pub payload: Vec<u8>,
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.payload[..self.payload.len().min(48)];
        write!(
            f,
            "Frame({:?} fin={} rsv={:03b} {:?}{}",
            self.opcode,
            self.fin as u8,
            self.rsv,
            bytes::Bytes::copy_from_slice(shown),
            if shown.len() < self.payload.len() {
                format!("... {} bytes)", self.payload.len())
            } else {
                ")".into()
            }
        )
    }
}

impl Frame {
    pub fn new(fin: bool, rsv: u8, opcode: OpCode, payload: impl AsRef<[u8]>) -> Frame {
        Frame {
            fin,
            rsv,
            opcode,
            payload: payload.as_ref().to_vec(),
        }
    }
    pub fn text(s: &str) -> Frame {
        Frame::new(true, 0, OpCode::Text, s)
    }
    pub fn binary(b: impl AsRef<[u8]>) -> Frame {
        Frame::new(true, 0, OpCode::Binary, b)
    }
    pub fn ping(b: impl AsRef<[u8]>) -> Frame {
        Frame::new(true, 0, OpCode::Ping, b)
    }
    pub fn pong(b: impl AsRef<[u8]>) -> Frame {
        Frame::new(true, 0, OpCode::Pong, b)
    }
    /// A close frame with a code and a reason.
    pub fn close(code: u16, reason: &str) -> Frame {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        Frame::new(true, 0, OpCode::Close, p)
    }
    /// A close frame without a payload.
    pub fn close_empty() -> Frame {
        Frame::new(true, 0, OpCode::Close, [])
    }
    /// The code of a close frame, if it has one.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == OpCode::Close && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Every frame in `wire`, with its header (mask key included) and unmasked payload.
/// Panics on an invalid or incomplete frame: a connection must only send whole, valid frames.
pub fn parse_wire(wire: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let (h, n) = FrameHeader::parse(rest)
            .expect("a valid frame header")
            .expect("a complete frame header");
        let len = h.payload_len as usize;
        assert!(rest.len() >= n + len, "incomplete frame: {h:?}");
        let mut payload = rest[n..n + len].to_vec();
        if let Some(key) = h.mask {
            apply_mask(&mut payload, key, 0);
        }
        out.push((h, payload));
        rest = &rest[n + len..];
    }
    out
}

/// Every frame in `wire`, unmasked.
pub fn frames(wire: &[u8]) -> Vec<Frame> {
    parse_wire(wire)
        .into_iter()
        .map(|(h, p)| Frame::new(h.fin, h.rsv, h.opcode, p))
        .collect()
}

/// Takes what `conn` wants to send and parses it into frames, checking the mask direction
/// (RFC 6455 §5.1: clients mask every frame, servers none).
pub fn sent(conn: &mut Connection) -> Vec<Frame> {
    let wire = conn.take_output();
    let parsed = parse_wire(&wire);
    for (h, _) in &parsed {
        assert_eq!(
            h.mask.is_some(),
            conn.role() == Role::Client,
            "{:?} sent a frame with mask {:?}",
            conn.role(),
            h.mask
        );
    }
    parsed
        .into_iter()
        .map(|(h, p)| Frame::new(h.fin, h.rsv, h.opcode, p))
        .collect()
}

/// Asserts that `conn` failed the connection (RFC 6455 §7.1.7): it sent exactly one close
/// frame, with `code` and a valid reason, and wants the transport closed.
#[track_caller]
pub fn assert_failed_with(conn: &mut Connection, code: u16) {
    let frames = sent(conn);
    assert_eq!(frames.len(), 1, "expected one close frame, got {frames:?}");
    assert_eq!(frames[0].close_code(), Some(code), "{frames:?}");
    assert!(std::str::from_utf8(&frames[0].payload[2..]).is_ok());
    assert_eq!(conn.state(), State::Closed);
    assert!(conn.should_close_transport());
}

// ---- hand-crafted frames -----------------------------------------------------------------------

/// A frame header with any bits, declaring `len` payload bytes (minimal length encoding).
pub fn raw_header(fin: bool, rsv: u8, opcode: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![(fin as u8) << 7 | (rsv & 7) << 4 | (opcode & 0xf)];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

/// A whole frame with any bits, masked with `mask` if given.
pub fn raw(fin: bool, rsv: u8, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = raw_header(fin, rsv, opcode, payload.len() as u64, mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// A frame as a client sends it (masked with [`MASK`]).
pub fn client_frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw(fin, rsv, opcode, payload, Some(MASK))
}

/// A frame as a server sends it (unmasked).
pub fn server_frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw(fin, rsv, opcode, payload, None)
}

/// A well-formed frame from the peer of a connection of role `to`: masked if `to` is a server.
pub fn frame_to(to: Role, fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    match to {
        Role::Server => client_frame(fin, rsv, opcode, payload),
        Role::Client => server_frame(fin, rsv, opcode, payload),
    }
}

/// A close frame payload: the code in network order, then the reason.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// Opcodes, as bytes for [`raw`].
pub mod op {
    pub const CONT: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// RSV1, the permessage-deflate bit.
pub const RSV1: u8 = 0b100;
