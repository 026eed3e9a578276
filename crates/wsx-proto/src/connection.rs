//! The WebSocket state machine of RFC 6455 §5-§7: bytes in, events out; messages in,
//! bytes out. No I/O and no clock of its own: the driver feeds received bytes, takes the
//! bytes to write, and hands in the time when a timer is due.

use crate::close::{CloseCode, CloseFrame};
use crate::config::Config;
use crate::deflate::{Codec, DeflateParams};
use crate::error::{Error, Result};
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, OpCode, RSV1};
use crate::mask::apply_mask;
use crate::message::{Message, Utf8Bytes};
use crate::output::{OutQueue, Payload};
use crate::prepared::PreparedMessage;
use crate::utf8::Validator;
use bytes::{Buf, Bytes, BytesMut};
use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::read_buffer::ReadBuffer;

/// What our pings carry before their timestamp: the pong that echoes one tells how long
/// the round trip took ([`Connection::pong_rtt`]).
const TIMED_PING: &[u8] = b"wsx-keepalive";

/// How much of a frame announced by its header is reserved before its payload arrives
/// (more once the peer has sent an eighth of the frame).
const EAGER_RESERVE: usize = 64 << 10;

/// Makes room for `additional` more bytes, growing at least geometrically. `BytesMut`
/// grows by exactly what is asked once its buffer is shared (after a `split_to`), which
/// would copy a large frame in progress again on every read.
pub(crate) fn grow_for(buf: &mut BytesMut, additional: usize) {
    if buf.capacity() - buf.len() < additional {
        buf.reserve(additional.max(buf.len()));
    }
}

/// Which end of the connection we are: decides the mask direction (RFC 6455 §5.1) and
/// who closes TCP first (§7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We opened the connection: we mask what we send, and expect unmasked frames.
    Client,
    /// We accepted the connection: we send unmasked, and require masked frames.
    Server,
}

/// Where the close handshake stands (RFC 6455 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's. We still receive; we send nothing.
    Closing,
    /// The close handshake is done, or the connection failed. See
    /// [`Connection::should_close_transport`] for what to do with TCP.
    Closed,
}

/// Something the peer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete text or binary message.
    Message(Message),
    /// A ping. With [`Config::auto_pong`] the pong is already queued.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer's close frame (`None`: it carried no code, i.e. 1005). If we had not sent
    /// a close frame yet, the answer echoing its code is already queued. This is the
    /// normal end of a connection.
    Close(Option<CloseFrame>),
}

/// Where a client's masking keys come from (RFC 6455 §5.3: "derived from a strong source
/// of entropy"). Tests pass a fixed source to get repeatable bytes.
///
/// ```
/// use wsx_proto::{Config, Connection, Role};
/// let conn = Connection::new(Role::Client, Config::default()).with_mask_source(|| [1, 2, 3, 4]);
/// ```
pub trait MaskKeySource: Send {
    /// The key for the next frame.
    fn next_key(&mut self) -> [u8; 4];
}

impl<F: FnMut() -> [u8; 4] + Send> MaskKeySource for F {
    fn next_key(&mut self) -> [u8; 4] {
        self()
    }
}

/// The default key source: the thread-local CSPRNG of `rand` (ChaCha, seeded and
/// periodically reseeded from the operating system).
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomMaskKeys;

impl MaskKeySource for RandomMaskKeys {
    fn next_key(&mut self) -> [u8; 4] {
        rand::random()
    }
}

/// A frame whose header has been read and whose payload is arriving.
#[derive(Debug)]
struct InFrame {
    header: FrameHeader,
    len: usize,
    /// Payload bytes already unmasked (and, for text, validated) at the front of the buffer.
    done: usize,
    check_utf8: bool,
}

/// A message spread over several frames, or compressed.
#[derive(Debug)]
struct InMessage {
    text: bool,
    compressed: bool,
    /// Complete, and lent out by `poll_event_ref` until the next call.
    done: bool,
    buf: Vec<u8>,
}

/// A complete event, located but not yet handed out. Kept to 16 bytes, and errors
/// travel boxed, so the result is returned in registers: a larger one was copied through
/// the stack once per frame and stalled on store forwarding (half the time at 16 B).
#[derive(Clone, Copy)]
enum Ready {
    /// Single-frame payloads: the first `n` bytes of the receive buffer, unmasked and
    /// (for text) validated.
    Text(usize),
    Binary(usize),
    Ping(usize),
    Pong(usize),
    /// A fragmented or compressed message, complete in `Connection::msg`.
    Assembled,
    /// The peer's close frame, in `Connection::peer_close`.
    Close,
}

/// Internal results: the error boxed, since it is rare and large.
type Step<T> = std::result::Result<T, Box<Error>>;

/// An event that borrows the connection's buffers (see [`Connection::poll_event_ref`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRef<'a> {
    /// A complete text message.
    Text(&'a str),
    /// A complete binary message.
    Binary(&'a [u8]),
    /// A ping. With [`Config::auto_pong`] the pong is already queued.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer's close frame; see [`Event::Close`].
    Close(Option<&'a CloseFrame>),
}

/// Text the connection has validated.
fn validated_str(bytes: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: only called on payloads of text messages, which the connection's UTF-8
    // validator has checked in full (every byte fed, `finish` returned Ok) before the
    // message was reported as ready; nothing writes to those bytes until they are reclaimed.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// Keepalive, idle and close-handshake deadlines. Inert until the driver first calls
/// [`Connection::handle_timeout`]. Deadlines are milliseconds after that first call
/// (`origin`): 4 bytes each instead of an `Instant`'s 16, in every idle connection.
#[derive(Debug, Default)]
struct Timers {
    origin: Option<Instant>,
    /// Keepalive and idle deadlines are armed (the first `handle_timeout`).
    started: bool,
    keepalive: Deadline,
    idle: Deadline,
    close: Deadline,
    awaiting_pong: bool,
    inputs_seen: u32,
    messages_seen: u32,
}

/// Milliseconds after `Timers::origin`; `NONE` when not armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Deadline(u32);

impl Default for Deadline {
    fn default() -> Self {
        Deadline::NONE
    }
}

impl Deadline {
    const NONE: Deadline = Deadline(u32::MAX);

    fn get(self) -> Option<u32> {
        (self != Deadline::NONE).then_some(self.0)
    }
}

impl Timers {
    /// `t` as milliseconds after the origin. Connections older than ~24 days move the
    /// origin forward first (see `rebase`), so this never saturates in practice.
    fn ms(&self, t: Instant) -> u32 {
        let origin = self.origin.expect("timers started");
        t.saturating_duration_since(origin)
            .as_millis()
            .min(u32::MAX as u128 - 1) as u32
    }

    fn after(&self, now: u32, d: Duration) -> Deadline {
        Deadline(
            now.saturating_add(d.as_millis().min(u32::MAX as u128) as u32)
                .min(u32::MAX - 1),
        )
    }

    fn instant(&self, d: Deadline) -> Option<Instant> {
        Some(self.origin? + Duration::from_millis(d.get()?.into()))
    }

    /// Moves the origin to `now` once it is half the range away, shifting the deadlines.
    fn rebase(&mut self, now: Instant) {
        let shift = self.ms(now);
        if shift < 1 << 31 {
            return;
        }
        self.origin = Some(self.origin.expect("timers started") + Duration::from_millis(shift.into()));
        for d in [&mut self.keepalive, &mut self.idle, &mut self.close] {
            if let Some(ms) = d.get() {
                *d = Deadline(ms.saturating_sub(shift));
            }
        }
    }
}

/// One WebSocket connection after the opening handshake.
///
/// The driver's loop: put received bytes in with [`receive`](Self::receive) (or read
/// straight into [`read_buffer`](Self::read_buffer), an append-only view), drain [`poll_event`](Self::poll_event),
/// write what [`io_slices`](Self::io_slices) holds and report it with
/// [`advance_output`](Self::advance_output), call [`handle_timeout`](Self::handle_timeout)
/// at [`poll_timeout`](Self::poll_timeout), and close TCP when
/// [`should_close_transport`](Self::should_close_transport) says so.
///
/// ```
/// use wsx_proto::{Config, Connection, Event, Message, Role};
/// let mut client = Connection::new(Role::Client, Config::default());
/// let mut server = Connection::new(Role::Server, Config::default());
/// client.send_text("hello").unwrap();
/// server.receive(&client.take_output());
/// assert_eq!(server.poll_event().unwrap(), Some(Event::Message(Message::text("hello"))));
/// ```
pub struct Connection {
    role: Role,
    /// Shared: a server's thousands of connections hold one copy.
    config: Arc<Config>,
    state: State,
    rbuf: BytesMut,
    frame: Option<InFrame>,
    /// Boxed: only fragmented or compressed messages need it.
    msg: Option<Box<InMessage>>,
    utf8: Validator,
    deflate: Option<Box<Codec>>,
    out: OutQueue,
    /// Present for clients only: servers never mask.
    masks: Option<Box<dyn MaskKeySource>>,
    /// An error to report from the next `poll_event` (EOF, keepalive).
    pending_error: Option<Box<Error>>,
    close_transport: bool,
    timers: Timers,
    /// Counters the timers compare, wrapping: only whether they moved matters. Any byte
    /// received counts as a sign of life, not only complete frames: a large frame that
    /// arrives slowly proves the peer alive all along.
    inputs: u32,
    messages: u32,
    /// Bytes at the front of `rbuf` lent out by `poll_event_ref`, reclaimed on the next call.
    lent: usize,
    /// The peer's close frame, between parsing it and handing it out.
    peer_close: Option<Box<CloseFrame>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("buffered_in", &self.rbuf.len())
            .field("buffered_out", &self.out.len())
            .field("deflate", &self.deflate)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection in the open state, as right after the opening handshake. Pass an
    /// `Arc<Config>` to share one configuration among many connections.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wsx_proto::{Config, Connection, Role};
    /// let shared = Arc::new(Config::default());
    /// let a = Connection::new(Role::Server, shared.clone());
    /// let b = Connection::new(Role::Server, shared);
    /// ```
    pub fn new(role: Role, config: impl Into<Arc<Config>>) -> Self {
        Connection {
            role,
            config: config.into(),
            state: State::Open,
            rbuf: BytesMut::new(),
            frame: None,
            msg: None,
            utf8: Validator::new(),
            deflate: None,
            out: OutQueue::default(),
            masks: match role {
                Role::Client => Some(Box::new(RandomMaskKeys)),
                Role::Server => None,
            },
            pending_error: None,
            close_transport: false,
            timers: Timers::default(),
            inputs: 0,
            messages: 0,
            lent: 0,
            peer_close: None,
        }
    }

    /// Enables permessage-deflate with the parameters the handshake agreed on
    /// ([`Accepted::deflate`](crate::handshake::Accepted::deflate) or
    /// [`Response::deflate`](crate::handshake::Response::deflate)). Level and threshold
    /// come from [`Config::deflate`].
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, DeflateParams, Role};
    /// let conn = Connection::new(Role::Server, Config::default()).with_deflate(Some(DeflateParams::default()));
    /// assert!(conn.is_compressed());
    /// ```
    pub fn with_deflate(mut self, params: Option<DeflateParams>) -> Self {
        self.deflate = params.map(|p| {
            let cfg = self.config.deflate.clone().unwrap_or_default();
            Box::new(
                Codec::new(&p, self.role == Role::Server, cfg.level, cfg.threshold)
                    .with_memory(cfg.compress_window_bits, cfg.mem_level),
            )
        });
        self
    }

    /// Replaces the source of masking keys (clients only; ignored for servers).
    pub fn with_mask_source(mut self, source: impl MaskKeySource + 'static) -> Self {
        if self.role == Role::Client {
            self.masks = Some(Box::new(source));
        }
        self
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The close handshake state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether permessage-deflate is in use.
    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    // ---- input ----------------------------------------------------------------------------

    /// Hands in bytes received from the peer. Call [`poll_event`](Self::poll_event) after.
    /// Bytes after the connection closed are discarded.
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Event, Role};
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// // A masked ping "hi" from a client, in two pieces.
    /// server.receive(&[0x89, 0x82, 1, 2, 3, 4]);
    /// assert_eq!(server.poll_event().unwrap(), None); // the payload is still missing
    /// server.receive(&[b'h' ^ 1, b'i' ^ 2]);
    /// assert_eq!(server.poll_event().unwrap(), Some(Event::Ping("hi".into())));
    /// assert_eq!(&server.take_output()[..], &[0x8a, 0x02, b'h', b'i']); // the automatic pong
    /// ```
    pub fn receive(&mut self, data: &[u8]) {
        self.read_buffer().extend_from_slice(data);
    }

    /// The receive buffer, for drivers that read into it directly (no copy): an
    /// append-only view that implements [`bytes::BufMut`]. Holds at most one partial frame
    /// between calls to `poll_event`. Once the connection is closed, what is put in is
    /// discarded.
    ///
    /// ```
    /// use bytes::BufMut;
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut client = Connection::new(Role::Client, Config::default());
    /// client.read_buffer().put_slice(&[0x81, 0x02, b'o', b'k']); // as a socket read would
    /// assert!(client.poll_event().unwrap().is_some());
    /// ```
    pub fn read_buffer(&mut self) -> ReadBuffer<'_> {
        let discard = self.state == State::Closed;
        ReadBuffer::new(&mut self.rbuf, &mut self.inputs, discard)
    }

    /// The peer closed its side of TCP. Before the close handshake finished this is an
    /// abnormal closure: the next `poll_event` returns [`Error::UnexpectedEof`] (1006).
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Error, Role};
    /// let mut conn = Connection::new(Role::Client, Config::default());
    /// conn.receive_eof();
    /// assert_eq!(conn.poll_event(), Err(Error::UnexpectedEof));
    /// ```
    pub fn receive_eof(&mut self) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.pending_error = Some(Box::new(Error::UnexpectedEof));
        }
        self.close_transport = true;
        self.drop_input();
    }

    /// The next event, `Ok(None)` when more bytes are needed (or the connection is closed).
    ///
    /// On `Err` the connection has failed (RFC 6455 §7.1.7): a close frame with the
    /// error's code is queued if the connection was open, the state is
    /// [`State::Closed`], and the transport should be closed once the output is written.
    ///
    /// ```
    /// use wsx_proto::{CloseCode, Config, Connection, Error, Role, State};
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.receive(&[0x81, 0x00]); // an unmasked frame from a client
    /// let err = server.poll_event().unwrap_err();
    /// assert_eq!(err, Error::UnmaskedFrameFromClient);
    /// assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    /// assert_eq!(server.state(), State::Closed);
    /// assert!(server.should_close_transport());
    /// ```
    #[must_use = "events must be handled; errors end the connection"]
    #[inline]
    pub fn poll_event(&mut self) -> Result<Option<Event>> {
        let Some(ready) = self.poll_ready()? else {
            return Ok(None);
        };
        // Single-frame payloads are handed out without a copy: shared slices of the buffer.
        Ok(Some(match ready {
            Ready::Text(n) => Event::Message(Message::Text(Utf8Bytes::from_validated(
                self.rbuf.split_to(n).freeze(),
            ))),
            Ready::Binary(n) => Event::Message(Message::Binary(self.rbuf.split_to(n).freeze())),
            Ready::Ping(n) => Event::Ping(self.rbuf.split_to(n).freeze()),
            Ready::Pong(n) => Event::Pong(self.rbuf.split_to(n).freeze()),
            Ready::Assembled => {
                let msg = self.msg.take().expect("an assembled message");
                let bytes = Bytes::from(msg.buf);
                Event::Message(if msg.text {
                    Message::Text(Utf8Bytes::from_validated(bytes))
                } else {
                    Message::Binary(bytes)
                })
            }
            Ready::Close => Event::Close(self.peer_close.take().map(|f| *f)),
        }))
    }

    /// Like [`poll_event`](Self::poll_event), but the event borrows the connection's
    /// buffers: no allocation and no reference counting per message. It is valid until
    /// the next call on the connection, which reclaims its bytes. For drivers that handle
    /// a message on the spot (relay it, parse it, count it) and keep nothing.
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, EventRef, Role};
    /// let mut client = Connection::new(Role::Client, Config::default());
    /// client.receive(&[0x81, 0x02, b'h', b'i', 0x82, 0x01, 7]);
    /// assert_eq!(client.poll_event_ref().unwrap(), Some(EventRef::Text("hi")));
    /// assert_eq!(client.poll_event_ref().unwrap(), Some(EventRef::Binary(&[7])));
    /// assert_eq!(client.poll_event_ref().unwrap(), None);
    /// ```
    #[must_use = "events must be handled; errors end the connection"]
    #[inline]
    pub fn poll_event_ref(&mut self) -> Result<Option<EventRef<'_>>> {
        let Some(ready) = self.poll_ready()? else {
            return Ok(None);
        };
        let in_place = |n: usize| -> usize { n };
        if let Ready::Text(n) | Ready::Binary(n) | Ready::Ping(n) | Ready::Pong(n) = ready {
            self.lent = in_place(n);
        }
        let lent = &self.rbuf[..self.lent];
        Ok(Some(match ready {
            Ready::Text(_) => EventRef::Text(validated_str(lent)),
            Ready::Binary(_) => EventRef::Binary(lent),
            Ready::Ping(_) => EventRef::Ping(lent),
            Ready::Pong(_) => EventRef::Pong(lent),
            Ready::Assembled => {
                let msg = self.msg.as_deref().expect("an assembled message");
                if msg.text {
                    EventRef::Text(validated_str(&msg.buf))
                } else {
                    EventRef::Binary(&msg.buf)
                }
            }
            Ready::Close => EventRef::Close(self.peer_close.as_deref()),
        }))
    }

    /// Reclaims what the last borrowed event held, then finds the next event.
    fn poll_ready(&mut self) -> Result<Option<Ready>> {
        self.rbuf.advance(std::mem::take(&mut self.lent));
        if self.msg.as_ref().is_some_and(|m| m.done) {
            self.msg = None;
        }
        if let Some(e) = self.pending_error.take() {
            return Err(*e);
        }
        if self.state == State::Closed {
            return Ok(None);
        }
        self.next_ready().map_err(|e| self.fail(*e))
    }

    fn next_ready(&mut self) -> Step<Option<Ready>> {
        loop {
            let frame = match &mut self.frame {
                Some(f) => f,
                None => {
                    let Some((header, n)) = FrameHeader::parse(&self.rbuf)? else {
                        return Ok(None);
                    };
                    let f = self.check_header(header)?;
                    self.rbuf.advance(n);
                    // Room for the rest of the frame now rather than as it trickles in
                    // (each regrowth copies the frame so far), but in proportion to what
                    // the peer has sent: a header alone must not buy a big allocation.
                    let missing = f.len.saturating_sub(self.rbuf.len());
                    let earned = EAGER_RESERVE.max(self.rbuf.len().saturating_mul(8));
                    grow_for(&mut self.rbuf, missing.min(earned));
                    self.frame.insert(f)
                }
            };
            // Unmask and validate what has arrived of the payload, so invalid UTF-8 fails
            // the connection at the byte that breaks it, not when the frame ends.
            let avail = self.rbuf.len().min(frame.len);
            if avail > frame.done {
                let fresh = &mut self.rbuf[frame.done..avail];
                if let Some(key) = frame.header.mask {
                    apply_mask(fresh, key, frame.done);
                }
                if frame.check_utf8 {
                    self.utf8.feed(fresh).map_err(|_| Error::InvalidUtf8)?;
                }
                frame.done = avail;
            }
            if frame.done < frame.len {
                return Ok(None);
            }
            let frame = self.frame.take().expect("frame in progress");
            if let Some(ready) = self.on_frame(frame.header, frame.len)? {
                return Ok(Some(ready));
            }
        }
    }

    /// Applies the rules that need the connection's context to a fresh header.
    fn check_header(&self, h: FrameHeader) -> Result<InFrame> {
        // §5.1: "a server MUST close the connection upon receiving a frame that is not
        // masked"; "a client MUST close a connection if it detects a masked frame".
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(Error::UnmaskedFrameFromClient),
            (Role::Client, true) => return Err(Error::MaskedFrameFromServer),
            _ => {}
        }
        // §5.2: RSV bits "MUST be 0 unless an extension is negotiated that defines
        // meanings"; RFC 7692 §6: RSV1 only on the first frame of a data message.
        let first_data_frame = matches!(h.opcode, OpCode::Text | OpCode::Binary);
        let allowed = if self.deflate.is_some() && first_data_frame {
            RSV1
        } else {
            0
        };
        if h.rsv & !allowed != 0 {
            return Err(Error::ReservedBits(h.rsv));
        }
        if h.opcode.is_control() {
            // §5.5: "All control frames MUST have a payload length of 125 bytes or less
            // and MUST NOT be fragmented."
            if h.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(Error::ControlFrameTooLong(h.payload_len));
            }
            if !h.fin {
                return Err(Error::FragmentedControlFrame);
            }
            return Ok(InFrame {
                header: h,
                len: h.payload_len as usize,
                done: 0,
                check_utf8: false,
            });
        }
        if h.payload_len > self.config.max_frame_size as u64 {
            return Err(Error::FrameTooLarge {
                size: h.payload_len,
                limit: self.config.max_frame_size,
            });
        }
        let len = h.payload_len as usize;
        // §5.4: continuation frames only inside a fragmented message, and no new message
        // until it is finished.
        let check_utf8 = match (&self.msg, h.opcode) {
            (None, OpCode::Continuation) => return Err(Error::UnexpectedContinuation),
            (Some(_), OpCode::Text | OpCode::Binary) => return Err(Error::ExpectedContinuation),
            (Some(m), _) => m.text && !m.compressed,
            (None, op) => op == OpCode::Text && h.rsv & RSV1 == 0,
        };
        let so_far = self.msg.as_ref().map_or(0, |m| m.buf.len());
        let compressed = self.msg.as_ref().map_or(h.rsv & RSV1 != 0, |m| m.compressed);
        // Uncompressed sizes are known up front; compressed ones are checked as they inflate.
        if !compressed && so_far.saturating_add(len) > self.config.max_message_size {
            return Err(Error::MessageTooLarge {
                limit: self.config.max_message_size,
            });
        }
        Ok(InFrame {
            header: h,
            len,
            done: 0,
            check_utf8,
        })
    }

    /// Handles a complete frame whose payload is the first `len` bytes of the buffer.
    fn on_frame(&mut self, h: FrameHeader, len: usize) -> Step<Option<Ready>> {
        match h.opcode {
            OpCode::Text | OpCode::Binary => {
                let text = h.opcode == OpCode::Text;
                let compressed = h.rsv & RSV1 != 0;
                if h.fin && !compressed {
                    // The common case: one frame, its payload handed out where it lies.
                    self.messages = self.messages.wrapping_add(1);
                    if text {
                        self.utf8.finish().map_err(|_| Error::InvalidUtf8)?;
                    }
                    return Ok(Some(if text {
                        Ready::Text(len)
                    } else {
                        Ready::Binary(len)
                    }));
                }
                self.msg = Some(Box::new(InMessage {
                    text,
                    compressed,
                    done: false,
                    buf: Vec::new(),
                }));
                self.continue_message(h.fin, len)
            }
            OpCode::Continuation => self.continue_message(h.fin, len),
            OpCode::Ping => {
                // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
                // in response, unless it already received a Close frame." Having sent one
                // (`Closing`) is no exception: §5.5.1 forbids only further data frames.
                if self.config.auto_pong && self.state != State::Closed {
                    let header = FrameHeader {
                        fin: true,
                        rsv: 0,
                        opcode: OpCode::Pong,
                        mask: self.masks.as_mut().map(|m| m.next_key()),
                        payload_len: len as u64,
                    };
                    self.out.push_frame(&header, Payload::Borrowed(&self.rbuf[..len]));
                }
                Ok(Some(Ready::Ping(len)))
            }
            OpCode::Pong => Ok(Some(Ready::Pong(len))),
            OpCode::Close => {
                let payload = self.rbuf.split_to(len).freeze();
                self.on_close(payload)?;
                Ok(Some(Ready::Close))
            }
        }
    }

    /// Adds a data frame (the first `len` bytes of the buffer) to the message in progress.
    fn continue_message(&mut self, fin: bool, len: usize) -> Step<Option<Ready>> {
        let limit = self.config.max_message_size;
        let payload = &self.rbuf[..len];
        let msg = self.msg.as_mut().expect("checked by check_header");
        if msg.compressed {
            let codec = self.deflate.as_mut().expect("RSV1 is only accepted with deflate");
            if msg.buf.capacity() == 0 {
                // JSON-like text inflates about 5x. (Not `clamp`: it panics when the limit
                // is under the minimum.)
                msg.buf
                    .reserve(payload.len().saturating_mul(8).max(4096).min(limit.max(1)));
            }
            let start = msg.buf.len();
            codec.decompress(payload, &mut msg.buf, limit)?;
            if fin {
                codec.finish_message(&mut msg.buf, limit)?;
            }
            if msg.text {
                self.utf8
                    .feed(&msg.buf[start..])
                    .map_err(|_| Error::InvalidUtf8)?;
            }
        } else {
            msg.buf.extend_from_slice(payload);
        }
        self.rbuf.advance(len);
        if !fin {
            return Ok(None);
        }
        if msg.text {
            self.utf8.finish().map_err(|_| Error::InvalidUtf8)?;
        }
        msg.done = true;
        self.messages = self.messages.wrapping_add(1);
        Ok(Some(Ready::Assembled))
    }

    fn on_close(&mut self, payload: Bytes) -> Step<()> {
        let frame = CloseFrame::parse(payload)?;
        self.msg = None;
        if self.state == State::Open {
            // §5.5.1: "the endpoint MUST send a Close frame in response. (When sending a
            // Close frame in response, the endpoint typically echos the status code it
            // received.)"
            let echo = frame.as_ref().map(|f| f.code.0.to_be_bytes());
            let echo: &[u8] = echo.as_ref().map_or(&[], |c| c);
            self.write_frame(true, 0, OpCode::Close, Payload::Borrowed(echo));
        }
        self.state = State::Closed;
        self.drop_input();
        // §7.1.1: "the server SHOULD close the underlying TCP connection first"; the
        // client waits for that, up to the close timeout.
        if self.role == Role::Server {
            self.close_transport = true;
        }
        self.peer_close = frame.map(Box::new);
        Ok(())
    }

    /// Fails the connection (§7.1.7): queue a close frame if we still may, then close.
    fn fail(&mut self, e: Error) -> Error {
        if self.state == State::Open
            && let Some(code) = e.close_code().filter(|c| c.is_sendable())
        {
            let frame = CloseFrame::truncated(code, &e.to_string());
            self.write_frame(true, 0, OpCode::Close, Payload::Borrowed(&frame.encode()));
        }
        self.state = State::Closed;
        self.close_transport = true;
        self.drop_input();
        e
    }

    fn drop_input(&mut self) {
        self.lent = 0;
        self.rbuf = BytesMut::new();
        self.frame = None;
        self.msg = None;
        self.utf8.reset();
    }

    // ---- application commands ----------------------------------------------------------------

    /// Queues a message. Large binary payloads are queued without copying (servers).
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Message, Role};
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.send(Message::binary(vec![0u8; 4096])).unwrap(); // shared, not copied
    /// assert_eq!(server.pending_output(), 4 + 4096);
    /// ```
    pub fn send(&mut self, message: Message) -> Result<()> {
        match message {
            Message::Text(t) => self.send_data(OpCode::Text, Payload::Shared(t.into_bytes())),
            Message::Binary(b) => self.send_data(OpCode::Binary, Payload::Shared(b)),
        }
    }

    /// Queues a message framed once for many connections (see [`PreparedMessage`]):
    /// the shared frame as is, or its shared compressed form, with no per-connection
    /// encoding. Clients, which must mask, and connections compressing with context
    /// takeover send the message the usual way.
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Message, PreparedMessage, Role};
    /// let prepared = PreparedMessage::new(Message::text("news"));
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.send_prepared(&prepared).unwrap();
    /// assert_eq!(&server.take_output()[..], b"\x81\x04news");
    /// ```
    pub fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<()> {
        if self.state != State::Open {
            return Err(Error::Closed);
        }
        if self.role == Role::Client {
            return self.send(prepared.message().clone());
        }
        let payload_len = prepared.message().len();
        let frame = match self.deflate.as_mut() {
            Some(codec) if payload_len >= codec.threshold => match codec.shared_window() {
                Some(bits) => prepared
                    .compressed_frame(bits, |payload| codec.compress(payload).ok())
                    .unwrap_or(prepared.plain_frame()),
                // Context takeover: this connection's compressor history is its own.
                None => return self.send(prepared.message().clone()),
            },
            _ => prepared.plain_frame(),
        };
        self.messages = self.messages.wrapping_add(1);
        self.out.push_encoded(frame);
        Ok(())
    }

    /// Queues a text message, copying it into the output.
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.send_text("Hello").unwrap();
    /// assert_eq!(&server.take_output()[..], b"\x81\x05Hello"); // RFC 6455 §5.7
    /// ```
    pub fn send_text(&mut self, text: &str) -> Result<()> {
        self.send_data(OpCode::Text, Payload::Borrowed(text.as_bytes()))
    }

    /// Queues a binary message, copying it into the output.
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut client = Connection::new(Role::Client, Config::default()).with_mask_source(|| [0x37, 0xfa, 0x21, 0x3d]);
    /// client.send_binary(b"Hello").unwrap();
    /// assert_eq!(&client.take_output()[..], &[0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    /// ```
    pub fn send_binary(&mut self, data: &[u8]) -> Result<()> {
        self.send_data(OpCode::Binary, Payload::Borrowed(data))
    }

    fn send_data(&mut self, opcode: OpCode, payload: Payload<'_>) -> Result<()> {
        // §5.5.1: "After sending a Close frame, the endpoint MUST NOT send any further data
        // frames."
        if self.state != State::Open {
            return Err(Error::Closed);
        }
        self.messages = self.messages.wrapping_add(1);
        match self.deflate.as_mut() {
            Some(codec) if payload.as_slice().len() >= codec.threshold => {
                let compressed = codec.compress(payload.as_slice())?;
                if compressed.len() < payload.as_slice().len() {
                    self.write_message(opcode, RSV1, Payload::Shared(Bytes::from(compressed)));
                } else {
                    // Incompressible: send it as is. The compressor's window now holds
                    // bytes the peer will never inflate, so it must forget them.
                    codec.reset_compressor();
                    self.write_message(opcode, 0, payload);
                }
            }
            _ => self.write_message(opcode, 0, payload),
        }
        Ok(())
    }

    /// Writes one message, fragmented per [`Config::fragment_size`]; RSV1 goes on the
    /// first frame only (RFC 7692 §6.1).
    fn write_message(&mut self, opcode: OpCode, rsv: u8, payload: Payload<'_>) {
        let len = payload.as_slice().len();
        let size = self.config.fragment_size.filter(|&n| n > 0).unwrap_or(usize::MAX);
        if len <= size {
            self.write_frame(true, rsv, opcode, payload);
            return;
        }
        let mut start = 0;
        while start < len {
            let end = len.min(start + size);
            let (op, rsv) = if start == 0 {
                (opcode, rsv)
            } else {
                (OpCode::Continuation, 0)
            };
            self.write_frame(end == len, rsv, op, payload.slice(start..end));
            start = end;
        }
    }

    fn write_frame(&mut self, fin: bool, rsv: u8, opcode: OpCode, payload: Payload<'_>) {
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask: self.masks.as_mut().map(|m| m.next_key()),
            payload_len: payload.as_slice().len() as u64,
        };
        self.out.push_frame(&header, payload);
    }

    /// Queues a ping (at most 125 bytes).
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Error, Role};
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.ping(b"rtt-1").unwrap();
    /// assert_eq!(server.ping(&[0; 126]), Err(Error::ControlPayloadTooLong(126)));
    /// ```
    pub fn ping(&mut self, payload: &[u8]) -> Result<()> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited pong (at most 125 bytes), e.g. a unidirectional heartbeat.
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.pong(b"").unwrap();
    /// assert_eq!(&server.take_output()[..], &[0x8a, 0x00]);
    /// ```
    pub fn pong(&mut self, payload: &[u8]) -> Result<()> {
        self.send_control(OpCode::Pong, payload)
    }

    /// Queues a ping whose pong tells the round-trip time: [`pong_rtt`](Self::pong_rtt)
    /// reads it back from the pong's payload, so nothing is remembered per ping. Keepalive
    /// pings are of this kind too. Starts the clock if no timer ran yet.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use wsx_proto::{Config, Connection, Event, Role};
    /// let (mut client, mut server) = (Connection::new(Role::Client, Config::default()), Connection::new(Role::Server, Config::default()));
    /// let t0 = Instant::now();
    /// server.ping_timed(t0).unwrap();
    /// client.receive(&server.take_output()); // the client answers with a pong
    /// let _ = client.poll_event();
    /// server.receive(&client.take_output());
    /// let Ok(Some(Event::Pong(payload))) = server.poll_event() else { panic!() };
    /// assert_eq!(server.pong_rtt(&payload, t0 + Duration::from_millis(42)), Some(Duration::from_millis(42)));
    /// ```
    pub fn ping_timed(&mut self, now: Instant) -> Result<()> {
        if self.state != State::Open {
            return Err(Error::Closed);
        }
        let t = &mut self.timers;
        t.origin.get_or_insert(now);
        t.rebase(now);
        let now_ms = t.ms(now);
        self.write_timed_ping(now_ms);
        Ok(())
    }

    fn write_timed_ping(&mut self, now_ms: u32) {
        let mut payload = [0u8; TIMED_PING.len() + 4];
        payload[..TIMED_PING.len()].copy_from_slice(TIMED_PING);
        payload[TIMED_PING.len()..].copy_from_slice(&now_ms.to_be_bytes());
        self.write_frame(true, 0, OpCode::Ping, Payload::Borrowed(&payload));
    }

    /// The round-trip time of the timed ping ([`ping_timed`](Self::ping_timed) or a
    /// keepalive ping) that this pong answers, if it answers one; `now` is when the pong
    /// arrived. A peer can delay its pongs but not make the round trip look shorter than
    /// its own delay plus the network's, short of forging timestamps.
    ///
    /// ```
    /// use std::time::Instant;
    /// use wsx_proto::{Config, Connection, Role};
    /// let conn = Connection::new(Role::Server, Config::default());
    /// assert_eq!(conn.pong_rtt(b"not ours", Instant::now()), None);
    /// ```
    pub fn pong_rtt(&self, payload: &[u8], now: Instant) -> Option<Duration> {
        let stamp = payload.strip_prefix(TIMED_PING)?;
        let ms = u32::from_be_bytes(stamp.try_into().ok()?);
        let t = &self.timers;
        let sent = t.origin? + Duration::from_millis(ms.into());
        // Stamps are relative to the origin, which moves every ~24 days (`rebase`): a pong
        // in flight across that moment reads short once, or not at all.
        (now >= sent).then(|| now - sent)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<()> {
        if self.state != State::Open {
            return Err(Error::Closed);
        }
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(Error::ControlPayloadTooLong(payload.len()));
        }
        self.write_frame(true, 0, opcode, Payload::Borrowed(payload));
        Ok(())
    }

    /// Starts the close handshake with `frame` (`None`: no code). Messages still arrive
    /// until the peer's close frame, reported as [`Event::Close`]. Does nothing if a
    /// close was already sent.
    ///
    /// ```
    /// use wsx_proto::{CloseCode, CloseFrame, Config, Connection, Error, Role, State};
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "restart"))).unwrap();
    /// assert_eq!(server.state(), State::Closing);
    /// assert_eq!(server.send_text("late"), Err(Error::Closed));
    /// ```
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        if self.state != State::Open {
            return Ok(());
        }
        let payload = match &frame {
            Some(f) => {
                f.validate_outgoing()?;
                f.encode()
            }
            None => BytesMut::new(),
        };
        self.write_frame(true, 0, OpCode::Close, Payload::Borrowed(&payload));
        self.state = State::Closing;
        Ok(())
    }

    // ---- output ----------------------------------------------------------------------------

    /// How many bytes wait to be written.
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.send_text("abc").unwrap();
    /// assert_eq!(server.pending_output(), 5);
    /// ```
    pub fn pending_output(&self) -> usize {
        self.out.len()
    }

    /// Fills `dst` with the queued output, in order, for one vectored write. Returns how
    /// many slices it filled. Report what was written with [`advance_output`](Self::advance_output).
    ///
    /// ```
    /// use std::io::{IoSlice, Write};
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.send_text("abc").unwrap();
    /// let mut socket = Vec::new();
    /// let mut slices = [IoSlice::new(&[]); 16];
    /// let n = server.io_slices(&mut slices);
    /// let written = socket.write_vectored(&slices[..n]).unwrap();
    /// server.advance_output(written);
    /// assert_eq!(server.pending_output(), 0);
    /// ```
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        self.out.io_slices(dst)
    }

    /// Marks `n` bytes of output as written.
    ///
    /// # Panics
    /// If `n` is more than [`pending_output`](Self::pending_output).
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.send_text("abc").unwrap();
    /// server.advance_output(2); // a partial write
    /// assert_eq!(server.pending_output(), 3);
    /// ```
    pub fn advance_output(&mut self, n: usize) {
        self.out.advance(n);
    }

    /// Takes all queued output as one buffer: simple, and a copy if large payloads were
    /// queued by reference. Drivers that care use [`io_slices`](Self::io_slices).
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.send_text("a").unwrap();
    /// server.send_text("b").unwrap();
    /// assert_eq!(&server.take_output()[..], b"\x81\x01a\x81\x01b");
    /// ```
    pub fn take_output(&mut self) -> BytesMut {
        self.out.take()
    }

    /// Whether the driver should close the transport once the output is written: after
    /// a failure, after a server finished the close handshake (§7.1.1), after a client
    /// gave up waiting for the server to close, or after EOF. Close it gracefully (shut
    /// down the write side, then read until EOF or the close timeout), so the close frame
    /// is not lost to a TCP reset.
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.receive(&[0x88, 0x80, 0, 0, 0, 0]); // the client's empty close frame
    /// let _ = server.poll_event();
    /// assert!(server.should_close_transport()); // the server closes TCP first (§7.1.1)
    /// ```
    pub fn should_close_transport(&self) -> bool {
        self.close_transport
    }

    /// Releases buffers an idle connection does not need, so it holds almost no memory.
    /// Call when no read or write is in progress.
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut conn = Connection::new(Role::Server, Config::default());
    /// conn.shrink_buffers();
    /// assert_eq!(conn.read_buffer().capacity(), 0);
    /// ```
    pub fn shrink_buffers(&mut self) {
        if self.rbuf.is_empty() && self.frame.is_none() {
            self.rbuf = BytesMut::new();
        }
        self.out.shrink();
        if self.msg.is_none()
            && let Some(codec) = &mut self.deflate
        {
            codec.release_idle_state();
        }
    }

    // ---- timers ----------------------------------------------------------------------------

    /// When [`handle_timeout`](Self::handle_timeout) should next be called; `None` if no
    /// timer is armed. Timers start with the first call to `handle_timeout`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut conn = Connection::new(Role::Server, Config::default());
    /// assert_eq!(conn.poll_timeout(), None);
    /// let t0 = Instant::now();
    /// conn.handle_timeout(t0).unwrap();
    /// assert_eq!(conn.poll_timeout(), Some(t0 + Duration::from_secs(30))); // the keepalive ping
    /// ```
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = &self.timers;
        let origin = t.origin?;
        if self.needs_close_timer() {
            // Not armed yet: the origin is in the past, so the driver calls back at once.
            return Some(t.instant(t.close).unwrap_or(origin));
        }
        // Keepalive and idle timers only run while open; a spent close timer is not armed.
        if self.state != State::Open {
            return None;
        }
        t.instant(t.keepalive.min(t.idle))
    }

    fn needs_close_timer(&self) -> bool {
        self.state == State::Closing || (self.state == State::Closed && !self.close_transport)
    }

    /// Runs the timers that are due at `now`: sends keepalive pings, fails the connection
    /// when a ping goes unanswered, closes it when idle, and gives up on a close handshake
    /// that the peer does not finish. Call once after creating the connection to start
    /// the timers, then whenever [`poll_timeout`](Self::poll_timeout) is reached.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wsx_proto::{Config, Connection, Error, Role};
    /// let mut conn = Connection::new(Role::Server, Config::default());
    /// let t0 = std::time::Instant::now();
    /// conn.handle_timeout(t0).unwrap();
    /// conn.handle_timeout(t0 + Duration::from_secs(30)).unwrap(); // silence: a ping goes out
    /// assert_eq!(conn.take_output()[0], 0x89);
    /// let e = conn.handle_timeout(t0 + Duration::from_secs(50)).unwrap_err(); // no answer
    /// assert!(matches!(e, Error::KeepaliveTimeout(_)));
    /// ```
    pub fn handle_timeout(&mut self, now: Instant) -> Result<()> {
        let t = &mut self.timers;
        t.origin.get_or_insert(now);
        t.rebase(now);
        let now_ms = t.ms(now);
        if !t.started {
            t.started = true;
            t.keepalive = self
                .config
                .ping_interval
                .map_or(Deadline::NONE, |d| t.after(now_ms, d));
            t.idle = self
                .config
                .idle_timeout
                .map_or(Deadline::NONE, |d| t.after(now_ms, d));
            t.inputs_seen = self.inputs;
            t.messages_seen = self.messages;
        }
        if self.needs_close_timer() {
            match self.timers.close.get() {
                None => self.timers.close = self.timers.after(now_ms, self.config.close_timeout),
                Some(due) if now_ms >= due => {
                    self.state = State::Closed;
                    self.close_transport = true;
                    self.drop_input();
                }
                Some(_) => {}
            }
        }
        if self.state != State::Open {
            self.timers.keepalive = Deadline::NONE;
            self.timers.idle = Deadline::NONE;
            return Ok(());
        }
        if let (Some(due), Some(interval)) = (self.timers.keepalive.get(), self.config.ping_interval)
            && now_ms >= due
        {
            if self.inputs != self.timers.inputs_seen {
                // Any byte received proves the peer alive, even a frame still arriving;
                // wait a full interval again.
                self.timers.inputs_seen = self.inputs;
                self.timers.awaiting_pong = false;
                self.timers.keepalive = self.timers.after(now_ms, interval);
            } else if self.timers.awaiting_pong {
                let e = self.fail(Error::KeepaliveTimeout(self.config.pong_timeout));
                return Err(e);
            } else {
                self.write_timed_ping(now_ms);
                self.timers.awaiting_pong = true;
                self.timers.keepalive = self.timers.after(now_ms, self.config.pong_timeout);
            }
        }
        if let (Some(due), Some(limit)) = (self.timers.idle.get(), self.config.idle_timeout)
            && now_ms >= due
        {
            if self.messages != self.timers.messages_seen {
                self.timers.messages_seen = self.messages;
                self.timers.idle = self.timers.after(now_ms, limit);
            } else {
                self.close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "idle timeout")))?;
                self.timers.close = self.timers.after(now_ms, self.config.close_timeout);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Deadlines are u32 milliseconds after the first tick; a month-old connection must
    /// still ping on time and notice a silent peer.
    #[test]
    fn timers_keep_working_after_a_month() {
        let mut c = Connection::new(Role::Server, Config::default());
        let t0 = Instant::now();
        c.handle_timeout(t0).unwrap();
        let month = t0 + Duration::from_secs(30 * 24 * 3600);
        c.handle_timeout(month).unwrap(); // silent for a month: a ping goes out
        assert_eq!(c.take_output()[0], 0x89);
        assert_eq!(c.poll_timeout(), Some(month + Duration::from_secs(20)));
        // The pong (masked, empty) arrives; at the pong deadline the keepalive re-arms.
        c.receive(&[0x8a, 0x80, 1, 2, 3, 4]);
        assert!(matches!(c.poll_event(), Ok(Some(Event::Pong(_)))));
        let later = month + Duration::from_secs(20);
        c.handle_timeout(later).unwrap();
        assert_eq!(c.poll_timeout(), Some(later + Duration::from_secs(30)));
        // Then silence again: ping, and failure after the pong timeout.
        c.handle_timeout(later + Duration::from_secs(30)).unwrap();
        let e = c.handle_timeout(later + Duration::from_secs(50)).unwrap_err();
        assert!(matches!(e, Error::KeepaliveTimeout(_)));
    }
}
