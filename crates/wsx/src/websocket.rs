//! `WebSocket<S>`: the protocol core driven over any `AsyncRead + AsyncWrite`.
//!
//! There is no background task unless you ask for one ([`WebSocket::spawn`]): whoever
//! polls the socket drives it, and every async method drives it, not only
//! [`recv`](WebSocket::recv). The loop is "parse what is buffered → write what the core
//! queued → fire timers → read", so everything produced from one read (pongs, close
//! replies, messages queued with [`WebSocket::feed`]) goes out in one vectored write just
//! before the task parks. Messages that arrive while the application is sending rather
//! than receiving wait in a bounded inbox for the next `recv`; while the inbox is full,
//! reading pauses.
//!
//! # Cancel safety
//!
//! Every async method can be dropped at an `.await` (a `select!` branch that lost)
//! without corrupting the connection or losing a message:
//!
//! - [`recv`](WebSocket::recv): a message is either returned or kept for the next call.
//! - [`send`](WebSocket::send), [`feed`](WebSocket::feed): if dropped while waiting for
//!   room in the send queue, the message was not queued; once queued, it is sent whole,
//!   by whichever call next drives the connection. Never half a message.
//! - [`flush`](WebSocket::flush), [`ping`](WebSocket::ping), [`close`](WebSocket::close):
//!   what was queued stays queued; the next call writes the rest.

use crate::config::Config;
use crate::error::{Error, Result};
use futures_core::Stream;
use futures_sink::Sink;
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use wsx_proto::{
    CloseCode, CloseFrame, Connection, DeflateParams, Event, Message, PreparedMessage, Role, State,
};

/// Room for the first read of a connection, as a power of two (16 KiB). Later reads get
/// the room that the last ones needed: see [`WebSocket::read_shift`].
const FIRST_READ_SHIFT: u8 = 14;
/// The least room per read (4 KiB): a burst of small messages.
const MIN_READ_SHIFT: u8 = 12;
/// The most room per read while no frame is partly received (64 KiB).
const MAX_READ_SHIFT: u8 = 16;
/// Bytes read onto the stack per call once the connection is closed (the core discards
/// them, so they need no buffer of their own).
const CLOSED_READ: usize = 16 << 10;
/// Bytes reserved per read while a frame is partly received.
const BUSY_READ: usize = 64 << 10;

/// A future that asks the connection to close with 1001 when it completes (used for a
/// server's graceful shutdown).
pub(crate) type ShutdownSignal = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// A WebSocket connection over a transport `S` (a `TcpStream`, a TLS stream, an upgraded
/// hyper connection, or an in-memory duplex for tests).
///
/// Receive with [`recv`](Self::recv) or as a [`Stream`]; send with [`send`](Self::send),
/// [`feed`](Self::feed) + [`flush`](Self::flush), [`try_send`](Self::try_send), or as a
/// [`Sink`]. A normal close ends the stream (`None`), and [`close_frame`](Self::close_frame)
/// tells what the peer said. Split it with [`split`](Self::split) to read and write from
/// different tasks.
///
/// ```no_run
/// # async fn demo() -> wsx::Result<()> {
/// let mut ws = wsx::connect("ws://127.0.0.1:9002/").await?;
/// ws.send("hello").await?;
/// while let Some(msg) = ws.recv().await {
///     println!("{:?}", msg?);
/// }
/// # Ok(()) }
/// ```
pub struct WebSocket<S> {
    io: S,
    conn: Connection,
    send_queue_limit: usize,
    receive_queue_limit: usize,
    /// Armed at the protocol core's next deadline (keepalive, idle, close), or at the end
    /// of the linger after the transport should close.
    timer: Option<Pin<Box<Sleep>>>,
    /// Boxed, like `failure`: rare, and an idle connection should not carry their room.
    close_frame: Option<Box<CloseFrame>>,
    /// The error that ended the connection: held until its close frame is written, then
    /// until a caller has been told.
    failure: Option<Box<Error>>,
    /// Messages that arrived while nobody was receiving. Boxed: usually empty.
    inbox: Option<Box<Inbox>>,
    /// The last measured round trip, in microseconds (0: none yet).
    rtt_micros: u32,
    /// Room for the next read into an empty receive buffer: `1 << read_shift` bytes.
    /// Doubled when a read fills its room (a burst did not fit, so it would take two
    /// reads and, behind them, two writes), halved when a read uses less than an eighth
    /// of it; between [`MIN_READ_SHIFT`] and [`MAX_READ_SHIFT`]. One byte: it fits in
    /// the padding after `rtt_micros`, so the connection does not grow.
    read_shift: u8,
    /// The stream has ended.
    finished: bool,
    /// The transport should close, and the linger that bounds writing our last bytes
    /// and shutting down has started.
    lingering: bool,
    /// Nobody will receive (a spawned connection whose reader was dropped): data
    /// messages are dropped on arrival instead of filling the inbox.
    discard_messages: bool,
    protocol: Option<Box<str>>,
    shutdown: Option<ShutdownSignal>,
}

/// Messages waiting for `recv`, and their total size.
#[derive(Debug, Default)]
struct Inbox {
    messages: VecDeque<Message>,
    bytes: usize,
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("conn", &self.conn)
            .field("protocol", &self.protocol)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Wraps a transport on which the opening handshake is already done. `deflate` is
    /// what the handshake agreed on; `leftover` is anything read past the handshake.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, _b) = tokio::io::duplex(1024);
    /// let ws = wsx::WebSocket::from_raw(a, wsx_proto::Role::Server, &wsx::Config::default(), None, &[]);
    /// # }
    /// ```
    pub fn from_raw(
        io: S,
        role: Role,
        config: &Config,
        deflate: Option<DeflateParams>,
        leftover: &[u8],
    ) -> Self {
        Self::with_protocol_config(
            io,
            role,
            Arc::new(config.protocol.clone()),
            QueueLimits::of(config),
            deflate,
            leftover,
        )
    }

    pub(crate) fn with_protocol_config(
        io: S,
        role: Role,
        protocol: Arc<wsx_proto::Config>,
        QueueLimits {
            send: send_queue_limit,
            receive: receive_queue_limit,
        }: QueueLimits,
        deflate: Option<DeflateParams>,
        leftover: &[u8],
    ) -> Self {
        let mut conn = Connection::new(role, protocol).with_deflate(deflate);
        conn.receive(leftover);
        // Start the timers. tokio's clock, so paused-time tests drive keepalive too.
        let _ = conn.handle_timeout(Instant::now().into_std());
        WebSocket {
            io,
            conn,
            // With 0, `send` would never get past its wait, nor the reader past backpressure.
            send_queue_limit: send_queue_limit.max(1),
            receive_queue_limit: receive_queue_limit.max(1),
            timer: None,
            close_frame: None,
            failure: None,
            inbox: None,
            rtt_micros: 0,
            read_shift: FIRST_READ_SHIFT,
            finished: false,
            lingering: false,
            discard_messages: false,
            protocol: None,
            shutdown: None,
        }
    }

    pub(crate) fn set_protocol(&mut self, protocol: Option<String>) {
        self.protocol = protocol.map(String::into_boxed_str);
    }

    pub(crate) fn set_shutdown(&mut self, signal: ShutdownSignal) {
        self.shutdown = Some(signal);
    }

    /// The subprotocol agreed in the handshake.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// assert_eq!(client.protocol(), None); // from_raw: no handshake, no subprotocol
    /// # Ok(()) }
    /// ```
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether permessage-deflate was negotiated.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// assert!(!client.is_compressed());
    /// # Ok(()) }
    /// ```
    pub fn is_compressed(&self) -> bool {
        self.conn.is_compressed()
    }

    /// The peer's close frame, once it arrived.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// client.close(Some(wsx::CloseFrame::new(wsx::CloseCode::GOING_AWAY, "bye"))).await?;
    /// assert!(server.recv().await.is_none());
    /// assert_eq!(server.close_frame().unwrap().code, wsx::CloseCode::GOING_AWAY);
    /// # Ok(()) }
    /// ```
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        self.close_frame.as_deref()
    }

    /// The close handshake state.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// assert_eq!(client.state(), wsx_proto::State::Open);
    /// # Ok(()) }
    /// ```
    pub fn state(&self) -> State {
        self.conn.state()
    }

    /// Bytes queued but not yet written.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// client.feed("queued").await?;
    /// assert_eq!(client.queued_bytes(), 2 + 4 + 6); // header, mask key, payload
    /// # Ok(()) }
    /// ```
    pub fn queued_bytes(&self) -> usize {
        self.conn.pending_output()
    }

    /// The transport.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// let _duplex: &tokio::io::DuplexStream = client.get_ref();
    /// # Ok(()) }
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The next message; `None` once the connection has closed normally. An `Err` ends
    /// the connection (its close frame has been sent); the next call returns `None`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// client.send("ping?").await?;
    /// let msg = server.recv().await.unwrap()?;
    /// assert_eq!(msg, wsx::Message::text("ping?"));
    /// # Ok(()) }
    /// ```
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Sends a message and waits until it is written. Waits first while the send queue
    /// is over its limit.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// client.send(vec![1u8, 2, 3]).await?;
    /// assert_eq!(server.recv().await.unwrap()?, wsx::Message::binary(vec![1u8, 2, 3]));
    /// # Ok(()) }
    /// ```
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<()> {
        poll_fn(|cx| self.poll_ready_to_send(cx)).await?;
        self.queue(message.into())?;
        poll_fn(|cx| self.poll_flush_out(cx)).await
    }

    /// Queues a message without writing it, waiting first while the send queue is over
    /// its limit. The next [`recv`](Self::recv) writes it, together with everything else
    /// queued, before it waits for input; [`flush`](Self::flush) writes it at once. This
    /// is how an echo or a broadcast sends many messages with one system call.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// client.feed("one").await?;
    /// client.feed("two").await?;
    /// client.flush().await?; // both frames in one write
    /// assert_eq!(server.recv().await.unwrap()?, wsx::Message::text("one"));
    /// assert_eq!(server.recv().await.unwrap()?, wsx::Message::text("two"));
    /// # Ok(()) }
    /// ```
    pub async fn feed(&mut self, message: impl Into<Message>) -> Result<()> {
        poll_fn(|cx| self.poll_ready_to_send(cx)).await?;
        self.queue(message.into())
    }

    /// Queues a message if the send queue has room, without writing or waiting.
    pub(crate) fn queue_if_room(&mut self, message: Message) -> Result<()> {
        if self.conn.pending_output() >= self.send_queue_limit {
            return Err(Error::QueueFull);
        }
        self.queue(message)
    }

    /// Queues a message and writes what the transport takes right now, without waiting.
    /// Fails with [`Error::QueueFull`] when the queue is over its limit: the caller can
    /// drop the message or disconnect a consumer that does not keep up.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// match server.try_send("tick") {
    ///     Ok(()) => {}
    ///     Err(wsx::Error::QueueFull) => { /* a slow consumer: drop the tick, or disconnect */ }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn try_send(&mut self, message: impl Into<Message>) -> Result<()> {
        self.queue_if_room(message.into())?;
        self.write_now()
    }

    /// Queues a message framed once for many connections ([`PreparedMessage`]: a
    /// broadcast's shared bytes, compressed once where the connections allow) and writes
    /// what the transport takes now; [`Error::QueueFull`] as for
    /// [`try_send`](Self::try_send).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// let news = wsx::PreparedMessage::new(wsx::Message::text("to all subscribers"));
    /// server.try_send_prepared(&news)?; // and the same `news` to every other connection
    /// assert_eq!(client.recv().await.unwrap()?, wsx::Message::text("to all subscribers"));
    /// # Ok(()) }
    /// ```
    pub fn try_send_prepared(&mut self, message: &PreparedMessage) -> Result<()> {
        self.queue_prepared_if_room(message)?;
        self.write_now()
    }

    /// Queues a prepared message without writing and without waiting: the next call
    /// that drives the connection ([`recv`](Self::recv), [`flush`](Self::flush), …)
    /// writes it together with everything else queued, in one vectored write. Fails with
    /// [`Error::QueueFull`] when the send queue is over its limit. This is how a server
    /// task hands a burst of broadcasts to a connection for one system call.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// let news = wsx::PreparedMessage::new(wsx::Message::text("a"));
    /// server.try_feed_prepared(&news)?;
    /// server.try_feed_prepared(&news)?;
    /// assert_eq!(server.queued_bytes(), 2 * 3);
    /// server.flush().await?;
    /// assert_eq!(client.recv().await.unwrap()?, wsx::Message::text("a"));
    /// # Ok(()) }
    /// ```
    pub fn try_feed_prepared(&mut self, message: &PreparedMessage) -> Result<()> {
        self.queue_prepared_if_room(message)
    }

    /// Queues a prepared message, waiting while the send queue is over its limit; the
    /// next call that drives the connection writes it. See [`feed`](Self::feed).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// let tick = wsx::PreparedMessage::new(wsx::Message::text("tick"));
    /// server.feed_prepared(&tick).await?;
    /// server.feed_prepared(&tick).await?;
    /// server.flush().await?; // both in one write
    /// assert_eq!(client.recv().await.unwrap()?, wsx::Message::text("tick"));
    /// # Ok(()) }
    /// ```
    pub async fn feed_prepared(&mut self, message: &PreparedMessage) -> Result<()> {
        poll_fn(|cx| self.poll_ready_to_send(cx)).await?;
        self.queue_prepared(message)
    }

    pub(crate) fn queue_prepared(&mut self, message: &PreparedMessage) -> Result<()> {
        self.command(|conn| conn.send_prepared(message))
    }

    pub(crate) fn queue_prepared_if_room(&mut self, message: &PreparedMessage) -> Result<()> {
        if self.conn.pending_output() >= self.send_queue_limit {
            return Err(Error::QueueFull);
        }
        self.queue_prepared(message)
    }

    /// Writes what the transport takes now, without waiting and without reading: a
    /// queueing call made from anywhere must not steal the waker of a task that polls.
    fn write_now(&mut self) -> Result<()> {
        let waker = std::task::Waker::noop();
        match self.poll_write_all(&mut Context::from_waker(waker)) {
            Poll::Ready(Err(e)) => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Writes everything queued.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// client.feed("a").await?;
    /// client.flush().await?;
    /// assert_eq!(client.queued_bytes(), 0);
    /// # Ok(()) }
    /// ```
    pub async fn flush(&mut self) -> Result<()> {
        poll_fn(|cx| self.poll_flush_out(cx)).await
    }

    /// Sends a ping (at most 125 bytes). The peer's pong is taken in by whichever call
    /// next drives the connection. Fails with [`Error::Closed`] once the close
    /// handshake has started, like [`send`](Self::send) and [`close`](Self::close).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// client.ping(b"are you there").await?; // the server's next call answers it with a pong
    /// # Ok(()) }
    /// ```
    pub async fn ping(&mut self, payload: &[u8]) -> Result<()> {
        self.command(|conn| conn.ping(payload))?;
        self.flush().await
    }

    /// Sends a ping whose pong measures the round-trip time, then read with
    /// [`rtt`](Self::rtt). Keepalive pings measure it too, but only go out when the peer
    /// is quiet: a server that reports latency per client calls this periodically.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// server.probe_rtt().await?;
    /// client.flush().await?; // any call on the client answers the ping
    /// server.flush().await?; // and any call on the server takes the pong in
    /// assert!(server.rtt().is_some());
    /// # Ok(()) }
    /// ```
    pub async fn probe_rtt(&mut self) -> Result<()> {
        let now = Instant::now().into_std();
        self.command(|conn| conn.ping_timed(now))?;
        self.flush().await
    }

    /// The round-trip time measured by the latest answered keepalive ping or
    /// [`probe_rtt`](Self::probe_rtt); `None` before the first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let (a, _b) = tokio::io::duplex(1024);
    /// let ws = wsx::WebSocket::from_raw(a, wsx_proto::Role::Server, &wsx::Config::default(), None, &[]);
    /// assert_eq!(ws.rtt(), None);
    /// # }
    /// ```
    pub fn rtt(&self) -> Option<Duration> {
        (self.rtt_micros > 0).then(|| Duration::from_micros(self.rtt_micros.into()))
    }

    /// Starts the close handshake and writes the close frame. Keep calling
    /// [`recv`](Self::recv) until it returns `None` to receive what the peer sent before
    /// its own close frame and to finish the handshake (bounded by
    /// [`close_timeout`](wsx_proto::Config::close_timeout)); or drop the socket. Fails
    /// with [`Error::Closed`] if the close handshake had already started (from either
    /// side): nothing more was sent.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// server.close(None).await?;
    /// assert!(matches!(server.close(None).await, Err(wsx::Error::Closed)));
    /// assert!(client.recv().await.is_none()); // the client saw the close and answered
    /// # Ok(()) }
    /// ```
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        self.command(|conn| {
            if conn.state() != State::Open {
                return Err(wsx_proto::Error::Closed);
            }
            conn.close(frame)
        })?;
        self.flush().await
    }

    /// Runs a command on the core, with the same answer from every command once the
    /// connection is closing or has ended.
    pub(crate) fn command<T>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> wsx_proto::Result<T>,
    ) -> Result<T> {
        if self.finished {
            return Err(self.take_end_error());
        }
        f(&mut self.conn).map_err(|e| match e {
            wsx_proto::Error::Closed => Error::Closed,
            e => Error::from(e),
        })
    }

    pub(crate) fn queue(&mut self, message: Message) -> Result<()> {
        self.command(|conn| conn.send(message))
    }

    /// Splits into a reader and a writer that can be used from different tasks at once.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// let (mut reader, mut writer) = server.split();
    /// tokio::spawn(async move { writer.send("from another task").await });
    /// client.send("hello").await?;
    /// assert_eq!(client.recv().await.unwrap()?, wsx::Message::text("from another task"));
    /// assert_eq!(reader.recv().await.unwrap()?, wsx::Message::text("hello"));
    /// # Ok(()) }
    /// ```
    pub fn split(self) -> (crate::split::WsReader<S>, crate::split::WsWriter<S>) {
        crate::split::split(self, false)
    }

    /// Hands the connection to a task of its own (on the current tokio runtime) that
    /// drives it from now on: keepalive pings and pong replies, the close handshake, and
    /// writing what the handles queue, whether or not anybody calls anything. Returns a
    /// reader and a writer handle; clone the writer to send from many tasks
    /// ([`try_send`](crate::split::WsWriter::try_send) queues and lets the driver write,
    /// batching bursts). Drop the reader of a send-only connection: incoming messages are
    /// then discarded. When every handle is gone, the driver closes the connection
    /// (1000) and ends.
    ///
    /// It costs a task and a shared allocation per connection (see `docs/BENCHMARKS.md`
    /// for the measured idle cost); a connection whose task already selects over
    /// [`recv`](Self::recv) does not need it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// let (reader, writer) = server.spawn();
    /// drop(reader); // a feed: we only push
    /// let mut ticker = writer.clone();
    /// ticker.try_send("tick")?; // queued; the driver writes it
    /// assert_eq!(client.recv().await.unwrap()?, wsx::Message::text("tick"));
    /// # Ok(()) }
    /// ```
    pub fn spawn(self) -> (crate::split::WsReader<S>, crate::split::WsWriter<S>)
    where
        S: Send + 'static,
    {
        crate::split::spawn(self)
    }

    // ---- the driver --------------------------------------------------------------------------

    /// Waits until the send queue is under its limit, driving the connection meanwhile.
    pub(crate) fn poll_ready_to_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            if self.finished || self.conn.state() != State::Open {
                return Poll::Ready(Err(self.take_end_error()));
            }
            if self.conn.pending_output() < self.send_queue_limit {
                return Poll::Ready(Ok(()));
            }
            // Writes what it can; reads nothing while the queue is over its limit.
            if self.poll_drive(cx).is_pending() && self.conn.pending_output() >= self.send_queue_limit {
                return Poll::Pending;
            }
        }
    }

    /// Writes everything queued, then flushes the transport, driving the connection
    /// meanwhile (pongs, timers, the close handshake).
    pub(crate) fn poll_flush_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let ended = self.poll_drive(cx).is_ready();
        if self.conn.pending_output() > 0 {
            if ended {
                // The connection ended with bytes unwritten: they are lost.
                return Poll::Ready(Err(self.take_end_error()));
            }
            return Poll::Pending;
        }
        if ended {
            // A failure is reported to the first caller that sees the end.
            return Poll::Ready(self.failure.take().map_or(Ok(()), |e| Err(*e)));
        }
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    /// Why nothing more can be sent: the error that ended the connection, the first
    /// time it is asked for, then [`Error::Closed`].
    fn take_end_error(&mut self) -> Error {
        self.failure.take().map_or(Error::Closed, |e| *e)
    }

    /// Writes queued output until it is all written or the transport is full.
    fn poll_write_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.pending_output() > 0 {
            let mut slices = [IoSlice::new(&[]); 32];
            let n = self.conn.io_slices(&mut slices);
            let io = Pin::new(&mut self.io);
            let written = if n > 1 && io.is_write_vectored() {
                ready!(io.poll_write_vectored(cx, &slices[..n]))?
            } else {
                ready!(io.poll_write(cx, &slices[0]))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.conn.advance_output(written);
        }
        Poll::Ready(Ok(()))
    }

    /// Reads once into the core. `Ok(0)` is EOF.
    ///
    /// Straight into the core's receive buffer, with no copy: the room is what the
    /// last reads needed (`read_shift`), so a burst is one read, and what it brings is
    /// handed on as messages in one vectored write. The buffer is reserved before the
    /// read and released when the connection parks with nothing buffered
    /// ([`Connection::shrink_buffers`] in `poll_io`), so an idle connection holds none.
    /// Messages are shared slices of the buffer: one that the application keeps holds
    /// the whole buffer (at most the room of one read, 64 KiB) until it is dropped.
    fn poll_read_some(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.conn.state() == State::Closed {
            // The core discards what arrives now: onto the stack, uninitialized, and
            // let go. (A reserve would do nothing, and reading through the buffer's
            // minimal spare room would take 64 bytes per call.)
            let mut stack = [const { std::mem::MaybeUninit::<u8>::uninit() }; CLOSED_READ];
            let mut rb = ReadBuf::uninit(&mut stack);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            self.conn.receive(rb.filled());
            return Poll::Ready(Ok(n));
        }
        let mut buf = self.conn.read_buffer();
        let fresh = buf.is_empty();
        if fresh {
            let want = 1usize << self.read_shift;
            if buf.spare_capacity() < want {
                buf.reserve(want);
            }
        } else if buf.spare_capacity() < BUSY_READ / 4 {
            // A frame is partly here: the core has reserved for the rest of it already
            // (in proportion to what arrived); this is for a frame announced as smaller
            // than what follows it.
            buf.reserve(BUSY_READ);
        }
        let room = buf.spare_capacity();
        let n = ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.io),
            cx,
            &mut buf
        ))?;
        if fresh {
            self.read_shift = next_read_shift(self.read_shift, n, room);
        }
        Poll::Ready(Ok(n))
    }

    /// The next message: from the inbox, or by driving the connection until one
    /// arrives, the connection ends (`None`, or the error that ended it, once), or there
    /// is nothing to do.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        if let Some(m) = self.pop_inbox() {
            return Poll::Ready(Some(Ok(m)));
        }
        match ready!(self.poll_io(cx, true)) {
            Some(m) => Poll::Ready(Some(Ok(m))),
            None => Poll::Ready(self.failure.take().map(|e| Err(*e))),
        }
    }

    /// Drives the connection without taking a message: messages that arrive go to the
    /// inbox. `Ready` once the connection has ended (the outcome stays for the caller
    /// that asks), `Pending` when there is nothing more to do until a wakeup.
    pub(crate) fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_io(cx, false).map(|_| ())
    }

    fn pop_inbox(&mut self) -> Option<Message> {
        let inbox = self.inbox.as_mut()?;
        let m = inbox.messages.pop_front()?;
        inbox.bytes -= message_len(&m);
        Some(m)
    }

    /// Whether reading is paused because the application has not taken what arrived.
    fn inbox_full(&self) -> bool {
        self.inbox
            .as_ref()
            .is_some_and(|i| i.bytes >= self.receive_queue_limit)
    }

    /// The loop: parse → write → timers → read, until a message (when `deliver`), the
    /// end (`None`), or nothing to do.
    fn poll_io(&mut self, cx: &mut Context<'_>, deliver: bool) -> Poll<Option<Message>> {
        if self.finished {
            return Poll::Ready(None);
        }
        loop {
            let paused = self.inbox_full();
            if !paused {
                match self.conn.poll_event() {
                    Ok(Some(Event::Message(m))) => {
                        if deliver {
                            return Poll::Ready(Some(m));
                        }
                        self.stash(m);
                        continue;
                    }
                    Ok(Some(Event::Close(frame))) => self.close_frame = frame.map(Box::new),
                    Ok(Some(Event::Pong(payload))) => {
                        if let Some(rtt) = self.conn.pong_rtt(&payload, Instant::now().into_std()) {
                            self.rtt_micros = rtt.as_micros().clamp(1, u32::MAX as u128) as u32;
                        }
                        continue;
                    }
                    Ok(Some(Event::Ping(_))) => continue,
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "websocket failed");
                        self.failure = Some(Box::new(e.into()));
                    }
                }
            }
            // Write what the core queued; keep going even if the transport is full.
            let flushed = match self.poll_write_all(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(_)) if self.conn.state() == State::Closed && self.failure.is_none() => {
                    // The peer's close frame arrived (or our close timeout ran out): a peer
                    // that is gone can no longer take our reply, and that loses nothing.
                    return self.finish(None);
                }
                Poll::Ready(Err(e)) => return self.finish(Some(e.into())),
                Poll::Pending => false,
            };
            if self.conn.should_close_transport() {
                return self.poll_close_transport(cx, flushed);
            }
            // While paused, the peer has just proven itself alive: keepalive waits for
            // the application rather than failing a connection it is slow to read.
            if !(paused && self.conn.state() == State::Open) && self.poll_timers(cx) {
                continue;
            }
            // Backpressure: while our output cannot drain, read no more (a peer that sends
            // pings but never reads would otherwise grow the queue without bound); nor
            // while the inbox is full.
            if paused || self.conn.pending_output() >= self.send_queue_limit {
                return Poll::Pending;
            }
            match self.poll_read_some(cx) {
                Poll::Ready(Ok(0)) => self.conn.receive_eof(),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(_)) if self.conn.state() == State::Closed && self.failure.is_none() => {
                    // The close handshake is complete; a peer that aborts TCP now (a reset
                    // instead of a FIN) has lost us nothing.
                    self.conn.receive_eof();
                    return self.finish(None);
                }
                Poll::Ready(Err(e)) => {
                    self.conn.receive_eof();
                    let _ = self.conn.poll_event();
                    return self.finish(Some(e.into()));
                }
                Poll::Pending => {
                    // Checked only when about to wait: once per wakeup, not per message.
                    if self.poll_shutdown_signal(cx) {
                        continue;
                    }
                    if flushed {
                        self.conn.shrink_buffers();
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Keeps a message for the next `recv` (or drops it, if nobody will receive).
    fn stash(&mut self, m: Message) {
        if self.discard_messages {
            return;
        }
        let inbox = self.inbox.get_or_insert_with(Default::default);
        inbox.bytes += message_len(&m);
        inbox.messages.push_back(m);
    }

    /// The core says the transport should close: write what is left, shut down the
    /// write side, and finish. Bounded by the close timeout (RFC 6455 §7.1.1 lets an
    /// endpoint give up), so a peer that stops reading cannot hold the connection open.
    fn poll_close_transport(&mut self, cx: &mut Context<'_>, flushed: bool) -> Poll<Option<Message>> {
        if !self.lingering {
            self.lingering = true;
            let deadline = Instant::now() + self.conn.config().close_timeout;
            match &mut self.timer {
                Some(t) => t.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        let expired = self
            .timer
            .as_mut()
            .is_some_and(|t| t.as_mut().poll(cx).is_ready());
        if !expired {
            if !flushed {
                return Poll::Pending;
            }
            // Best effort: the peer may already be gone.
            if Pin::new(&mut self.io).poll_shutdown(cx).is_pending() {
                return Poll::Pending;
            }
        } else {
            tracing::debug!("close timeout: dropping the transport with output unwritten");
        }
        let failure = self.failure.take().map(|e| *e);
        self.finish(failure)
    }

    /// Starts the close handshake if the server is shutting down; true if it did.
    fn poll_shutdown_signal(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(signal) = &mut self.shutdown else {
            return false;
        };
        if signal.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.shutdown = None;
        let _ = self.conn.close(Some(CloseFrame::new(
            CloseCode::GOING_AWAY,
            "server shutting down",
        )));
        true
    }

    /// Fires due timers; true if the core did something that needs another turn.
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.conn.poll_timeout() else {
            self.timer = None;
            return false;
        };
        let deadline = Instant::from_std(deadline);
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        if timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        if let Err(e) = self.conn.handle_timeout(Instant::now().into_std()) {
            tracing::debug!(error = %e, "websocket timer failed the connection");
            self.failure = Some(Box::new(e.into()));
        }
        true
    }

    /// Ends the stream; `error` waits for the caller that asks.
    fn finish(&mut self, error: Option<Error>) -> Poll<Option<Message>> {
        self.finished = true;
        self.timer = None;
        if let Some(e) = error {
            self.failure = Some(Box::new(e));
        }
        self.conn.shrink_buffers();
        Poll::Ready(None)
    }
}

impl<S> WebSocket<S> {
    /// Messages waiting in the inbox.
    pub(crate) fn inbox_len(&self) -> usize {
        self.inbox.as_ref().map_or(0, |i| i.messages.len())
    }

    /// Nobody will receive: drop messages on arrival from now on.
    pub(crate) fn set_discard_messages(&mut self) {
        self.discard_messages = true;
        self.inbox = None;
    }
}

/// The room for the next read into an empty buffer, after a read of `n` bytes into
/// `room`: twice as much if it was filled (more was waiting), half if it used less than
/// an eighth (the hysteresis keeps a burst that varies a little from flipping the
/// size), else the same.
fn next_read_shift(shift: u8, n: usize, room: usize) -> u8 {
    if n >= room {
        (shift + 1).min(MAX_READ_SHIFT)
    } else if n < room / 8 {
        shift.saturating_sub(1).max(MIN_READ_SHIFT)
    } else {
        shift
    }
}

/// A message's payload size, for the inbox's limit.
fn message_len(m: &Message) -> usize {
    m.len()
}

/// The send and receive queue limits, carried together from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    pub(crate) send: usize,
    pub(crate) receive: usize,
}

impl QueueLimits {
    pub(crate) fn of(config: &Config) -> Self {
        QueueLimits {
            send: config.send_queue_limit,
            receive: config.receive_queue_limit,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_ready_to_send(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.get_mut().queue(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_flush_out(cx)
    }

    /// Sends a normal close (1000) and writes it.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        this.conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")))?;
        this.poll_flush_out(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsx_proto::Config as ProtoConfig;

    /// A transport that hands over one burst at a time, as a socket whose peer sent it in
    /// one go: each read takes what fits, and once the burst is gone the next read
    /// waits (as tokio's does after a short read, without a syscall). Counts the reads
    /// and writes that moved bytes, i.e. the syscalls a socket would have made.
    #[derive(Default)]
    struct Bursts {
        incoming: Vec<u8>,
        reads: usize,
        writes: usize,
        written: usize,
    }

    impl AsyncRead for Bursts {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            if this.incoming.is_empty() {
                return Poll::Pending;
            }
            let n = buf.remaining().min(this.incoming.len());
            buf.put_slice(&this.incoming[..n]);
            this.incoming.drain(..n);
            this.reads += 1;
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Bursts {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.writes += 1;
            this.written += buf.len();
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.writes += 1;
            let n = bufs.iter().map(|b| b.len()).sum();
            this.written += n;
            Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// `count` masked binary frames of `size` bytes, as a client sends them.
    fn burst(count: usize, size: usize) -> Vec<u8> {
        let mut client = Connection::new(Role::Client, ProtoConfig::default());
        for i in 0..count {
            client.send_binary(&vec![i as u8; size]).unwrap();
        }
        client.take_output().to_vec()
    }

    /// Echoes what one burst brings, as `wsx echo` does (`recv`, then `feed`), until
    /// the connection parks; returns the messages echoed.
    fn echo_burst(ws: &mut WebSocket<Bursts>, input: Vec<u8>) -> usize {
        ws.io.incoming = input;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut echoed = 0;
        while let Poll::Ready(Some(m)) = ws.poll_recv(&mut cx) {
            ws.queue(m.unwrap()).unwrap();
            echoed += 1;
        }
        echoed
    }

    #[tokio::test]
    async fn a_burst_over_the_first_room_takes_one_read_and_one_write_from_the_second_on() {
        let mut ws = WebSocket::from_raw(Bursts::default(), Role::Server, &Config::default(), None, &[]);
        // 16 × 1 KiB: 16,512 bytes with their headers, just over the first 16 KiB.
        let input = burst(16, 1024);
        assert!(input.len() > 1 << FIRST_READ_SHIFT);
        assert_eq!(echo_burst(&mut ws, input.clone()), 16);
        assert_eq!(
            (ws.io.reads, ws.io.writes),
            (2, 2),
            "the first burst does not fit"
        );
        for round in 0..5 {
            let (reads, writes) = (ws.io.reads, ws.io.writes);
            assert_eq!(echo_burst(&mut ws, input.clone()), 16);
            assert_eq!(
                (ws.io.reads - reads, ws.io.writes - writes),
                (1, 1),
                "round {round}"
            );
            // Parked with nothing buffered: the connection holds no read buffer.
            assert_eq!(ws.conn.read_buffer().capacity(), 0);
            assert_eq!(ws.conn.pending_output(), 0);
        }
        assert_eq!(ws.io.written, 6 * 16 * (1024 + 4));
    }

    #[tokio::test]
    async fn small_bursts_shrink_the_room_and_large_frames_still_arrive() {
        let mut ws = WebSocket::from_raw(Bursts::default(), Role::Server, &Config::default(), None, &[]);
        for _ in 0..4 {
            assert_eq!(echo_burst(&mut ws, burst(16, 20)), 16);
        }
        assert_eq!(ws.read_shift, MIN_READ_SHIFT);
        // A 1 MiB frame after the small ones: many reads, one message.
        assert_eq!(echo_burst(&mut ws, burst(1, 1 << 20)), 1);
        assert_eq!(echo_burst(&mut ws, burst(3, 100)), 3);
        assert_eq!(ws.conn.read_buffer().capacity(), 0);
    }

    #[test]
    fn the_read_room_follows_what_arrived() {
        // Filled: double, up to the most.
        assert_eq!(next_read_shift(14, 16 << 10, 16 << 10), 15);
        assert_eq!(
            next_read_shift(MAX_READ_SHIFT, 64 << 10, 64 << 10),
            MAX_READ_SHIFT
        );
        // A 1 KiB × 16 window in 32 KiB: stays.
        assert_eq!(next_read_shift(15, 16_512, 32 << 10), 15);
        // Under an eighth: halve, down to the least.
        assert_eq!(next_read_shift(14, 576, 16 << 10), 13);
        assert_eq!(next_read_shift(MIN_READ_SHIFT, 20, 4 << 10), MIN_READ_SHIFT);
        // EOF.
        assert_eq!(next_read_shift(MIN_READ_SHIFT, 0, 4 << 10), MIN_READ_SHIFT);
    }
}
