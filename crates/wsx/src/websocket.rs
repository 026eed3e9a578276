//! `WebSocket<S>`: the protocol core driven over any `AsyncRead + AsyncWrite`.
//!
//! There is no background task: whoever polls the socket drives it. Receiving runs the
//! loop "parse what is buffered → write what the core queued → fire timers → read",
//! so everything produced from one read (pongs, close replies, messages queued with
//! [`WebSocket::feed`]) goes out in one vectored write just before the task parks.

use crate::config::Config;
use crate::error::{Error, Result};
use bytes::BufMut;
use futures_core::Stream;
use futures_sink::Sink;
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use wsx_proto::{CloseCode, CloseFrame, Connection, DeflateParams, Event, Message, Role, State};

/// Bytes read per call while idle. Read onto the stack, then copied into a buffer of
/// exactly the size read: an idle connection holds no read buffer at all.
const IDLE_READ: usize = 16 << 10;
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
    /// Armed at the protocol core's next deadline (keepalive, idle, close).
    timer: Option<Pin<Box<Sleep>>>,
    /// Boxed, like `failure`: rare, and an idle connection should not carry their room.
    close_frame: Option<Box<CloseFrame>>,
    /// An error to report once the close frame it caused has been written.
    failure: Option<Box<Error>>,
    /// The stream has ended.
    finished: bool,
    protocol: Option<Box<str>>,
    shutdown: Option<ShutdownSignal>,
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
            config.send_queue_limit,
            deflate,
            leftover,
        )
    }

    pub(crate) fn with_protocol_config(
        io: S,
        role: Role,
        protocol: Arc<wsx_proto::Config>,
        send_queue_limit: usize,
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
            timer: None,
            close_frame: None,
            failure: None,
            finished: false,
            protocol: None,
            shutdown: None,
        }
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
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
        let waker = std::task::Waker::noop();
        match self.poll_flush_out(&mut Context::from_waker(waker)) {
            Poll::Ready(Err(e)) => Err(e),
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

    /// Sends a ping.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// client.ping(b"rtt").await?; // the server's recv() answers it with a pong
    /// # Ok(()) }
    /// ```
    pub async fn ping(&mut self, payload: &[u8]) -> Result<()> {
        self.conn.ping(payload)?;
        self.flush().await
    }

    /// Starts the close handshake and writes the close frame. Keep calling
    /// [`recv`](Self::recv) until it returns `None` to receive what the peer sent before
    /// its own close frame and to finish the handshake (bounded by
    /// [`close_timeout`](wsx_proto::Config::close_timeout)); or drop the socket.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> wsx::Result<()> {
    /// # use wsx_proto::Role;
    /// # let (a, b) = tokio::io::duplex(1 << 16);
    /// # let config = wsx::Config::default();
    /// # let mut client = wsx::WebSocket::from_raw(a, Role::Client, &config, None, &[]);
    /// # let mut server = wsx::WebSocket::from_raw(b, Role::Server, &config, None, &[]);
    /// server.close(None).await?;
    /// assert!(client.recv().await.is_none()); // the client saw the close and answered
    /// # Ok(()) }
    /// ```
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        self.conn.close(frame)?;
        self.flush().await
    }

    pub(crate) fn queue(&mut self, message: Message) -> Result<()> {
        self.conn.send(message).map_err(|e| match e {
            wsx_proto::Error::Closed => Error::Closed,
            e => Error::Protocol(e),
        })
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
        crate::split::split(self)
    }

    // ---- the driver --------------------------------------------------------------------------

    /// Waits until the send queue is under its limit.
    pub(crate) fn poll_ready_to_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.conn.state() != State::Open {
            return Poll::Ready(Err(Error::Closed));
        }
        while self.conn.pending_output() >= self.send_queue_limit {
            ready!(self.poll_write_some(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes everything queued, then flushes the transport.
    pub(crate) fn poll_flush_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        while self.conn.pending_output() > 0 {
            ready!(self.poll_write_some(cx))?;
        }
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    /// One (vectored) write of queued output.
    fn poll_write_some(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut slices = [IoSlice::new(&[]); 32];
        let n = self.conn.io_slices(&mut slices);
        let io = Pin::new(&mut self.io);
        let written = if n > 1 && io.is_write_vectored() {
            ready!(io.poll_write_vectored(cx, &slices[..n]))?
        } else {
            ready!(io.poll_write(cx, &slices[0]))?
        };
        if written == 0 {
            return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
        }
        self.conn.advance_output(written);
        Poll::Ready(Ok(()))
    }

    /// Reads once into the core. `Ok(0)` is EOF.
    fn poll_read_some(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let buf = self.conn.read_buffer();
        if buf.is_empty() {
            // Uninitialized: zeroing 16 KiB before every read showed up in profiles.
            let mut stack = [const { std::mem::MaybeUninit::<u8>::uninit() }; IDLE_READ];
            let mut rb = ReadBuf::uninit(&mut stack);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            self.conn.read_buffer().put_slice(rb.filled());
            Poll::Ready(Ok(n))
        } else {
            // Geometric: `BytesMut` grows by exactly what is asked once shared, which would
            // copy a large frame in progress again on every read.
            if buf.capacity() - buf.len() < BUSY_READ / 4 {
                let len = buf.len();
                buf.reserve(BUSY_READ.max(len));
            }
            tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, self.conn.read_buffer())
        }
    }

    /// The receive loop: parse → write → timers → read, until a message, the end, or
    /// nothing to do.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        loop {
            match self.conn.poll_event() {
                Ok(Some(Event::Message(m))) => return Poll::Ready(Some(Ok(m))),
                Ok(Some(Event::Close(frame))) => self.close_frame = frame.map(Box::new),
                Ok(Some(Event::Ping(_) | Event::Pong(_))) => continue,
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "websocket failed");
                    self.failure = Some(Box::new(e.into()));
                }
            }
            // Write what the core queued; keep going even if the transport is full.
            let flushed = match self.poll_flush_out(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(_)) if self.conn.state() == State::Closed && self.failure.is_none() => {
                    // The peer's close frame arrived (or our close timeout ran out): a peer
                    // that is gone can no longer take our reply, and that loses nothing.
                    return self.finish(None);
                }
                Poll::Ready(Err(e)) => return self.finish(Some(e)),
                Poll::Pending => false,
            };
            if self.conn.should_close_transport() {
                if !flushed {
                    return Poll::Pending;
                }
                // Best effort: the peer may already be gone.
                let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
                let failure = self.failure.take().map(|e| *e);
                return self.finish(failure);
            }
            if self.poll_timers(cx) {
                continue;
            }
            // Backpressure: while our output cannot drain, read no more (a peer that sends
            // pings but never reads would otherwise grow the queue without bound).
            if self.conn.pending_output() >= self.send_queue_limit {
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

    fn finish(&mut self, error: Option<Error>) -> Poll<Option<Result<Message>>> {
        self.finished = true;
        self.timer = None;
        self.conn.shrink_buffers();
        Poll::Ready(error.map(Err))
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
