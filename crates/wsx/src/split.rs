//! A reader and writers over one `WebSocket`, usable from different tasks at once, with
//! or without a task of their own that drives the connection.
//!
//! The halves share the socket behind a mutex held only inside a poll, never across an
//! await. A transport keeps one waker per direction, and any half may need to write (the
//! reader writes pongs and close replies), so every poll registers a waker that wakes
//! *every* half: a wakeup may be spurious, but never lost.
//!
//! [`WebSocket::split`] makes the halves only: whichever is polled drives the
//! connection. [`WebSocket::spawn`] also starts a driver task, so keepalive, pongs and
//! the close handshake go on while nobody calls anything, and the writer is a cheap
//! handle that many tasks can clone.

use crate::error::{Error, Result};
use crate::websocket::WebSocket;
use futures_core::Stream;
use futures_sink::Sink;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use tokio::io::{AsyncRead, AsyncWrite};
use wsx_proto::{CloseCode, CloseFrame, Message, PreparedMessage};

/// The tasks to wake when the socket is ready: the reader, every writer that waits
/// (writers are cloneable, so there may be several), and the driver.
#[derive(Default)]
struct Wakers {
    reader: Mutex<Option<Waker>>,
    writers: Mutex<Vec<Waker>>,
    driver: Mutex<Option<Waker>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Wakers {
    fn wake_reader(&self) {
        if let Some(w) = lock(&self.reader).take() {
            w.wake();
        }
    }

    fn wake_driver(&self) {
        if let Some(w) = lock(&self.driver).take() {
            w.wake();
        }
    }

    fn wake_writers(&self) {
        for w in lock(&self.writers).drain(..) {
            w.wake();
        }
    }
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_reader();
        self.wake_writers();
        self.wake_driver();
    }
}

fn register(slot: &Mutex<Option<Waker>>, cx: &Context<'_>) {
    let mut s = lock(slot);
    if !s.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *s = Some(cx.waker().clone());
    }
}

struct Shared<S> {
    ws: Mutex<WebSocket<S>>,
    wakers: Arc<Wakers>,
    /// A spawned task drives the connection.
    driven: bool,
    /// The reader and every writer clone still alive. At zero the driver closes the
    /// connection (1000) and ends: nobody can use it any more.
    handles: AtomicUsize,
}

impl<S> Shared<S> {
    fn socket(&self) -> MutexGuard<'_, WebSocket<S>> {
        lock(&self.ws)
    }

    /// The waker to hand to the socket: it wakes every half.
    fn waker(&self) -> Waker {
        Waker::from(self.wakers.clone())
    }

    fn drop_handle(&self) {
        if self.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.wakers.wake_driver();
        }
    }
}

/// The receiving half of a split [`WebSocket`]. Without a driver task
/// ([`WebSocket::split`]) it drives keepalive and the close handshake too, so keep polling
/// it while the connection should live; with one ([`WebSocket::spawn`]), drop it if you
/// do not want messages: they are then discarded on arrival.
pub struct WsReader<S> {
    shared: Arc<Shared<S>>,
}

/// The sending half of a split [`WebSocket`]. Clone it to send from several tasks; each
/// message goes out whole, in the order the calls queued them.
pub struct WsWriter<S> {
    shared: Arc<Shared<S>>,
}

impl<S> std::fmt::Debug for WsReader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsReader")
            .field("driven", &self.shared.driven)
            .finish()
    }
}

impl<S> std::fmt::Debug for WsWriter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsWriter")
            .field("driven", &self.shared.driven)
            .finish()
    }
}

pub(crate) fn split<S>(ws: WebSocket<S>, driven: bool) -> (WsReader<S>, WsWriter<S>) {
    let shared = Arc::new(Shared {
        ws: Mutex::new(ws),
        wakers: Arc::new(Wakers::default()),
        driven,
        handles: AtomicUsize::new(2),
    });
    (
        WsReader {
            shared: shared.clone(),
        },
        WsWriter { shared },
    )
}

/// Splits `ws` and spawns the task that drives it.
pub(crate) fn spawn<S>(ws: WebSocket<S>) -> (WsReader<S>, WsWriter<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (reader, writer) = split(ws, true);
    tokio::spawn(Driver {
        shared: reader.shared.clone(),
        closing: false,
    });
    (reader, writer)
}

/// The spawned task: drives the connection until it ends.
struct Driver<S> {
    shared: Arc<Shared<S>>,
    /// It started the close handshake because every handle was dropped.
    closing: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Future for Driver<S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let shared = self.shared.clone();
        register(&shared.wakers.driver, cx);
        let mut ws = shared.socket();
        if !self.closing && shared.handles.load(Ordering::Acquire) == 0 {
            self.closing = true;
            let _ = ws.command(|c| c.close(Some(CloseFrame::new(CloseCode::NORMAL, ""))));
        }
        let before = ws.inbox_len();
        let ended = ws
            .poll_drive(&mut Context::from_waker(&shared.waker()))
            .is_ready();
        let arrived = ws.inbox_len() > before;
        drop(ws);
        if arrived {
            shared.wakers.wake_reader();
        }
        if ended {
            // Everyone waiting learns of the end.
            shared.wakers.wake_reader();
            shared.wakers.wake_writers();
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl<S> Drop for WsReader<S> {
    fn drop(&mut self) {
        // Nobody will take messages any more: discard them instead of pausing the
        // connection on a full inbox.
        self.shared.socket().set_discard_messages();
        self.shared.drop_handle();
    }
}

impl<S> Drop for WsWriter<S> {
    fn drop(&mut self) {
        self.shared.drop_handle();
    }
}

impl<S> Clone for WsWriter<S> {
    /// Another handle on the same connection.
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::AcqRel);
        WsWriter {
            shared: self.shared.clone(),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsReader<S> {
    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        register(&self.shared.wakers.reader, cx);
        let mut ws = self.shared.socket();
        ws.poll_recv(&mut Context::from_waker(&self.shared.waker()))
    }

    /// The next message; `None` after a normal close. See [`WebSocket::recv`].
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The peer's close frame, once it arrived.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        self.shared.socket().close_frame().cloned()
    }

    /// The latest round-trip time measured; see [`WebSocket::rtt`].
    pub fn rtt(&self) -> Option<std::time::Duration> {
        self.shared.socket().rtt()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsReader<S> {
    type Item = Result<Message>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_recv(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsWriter<S> {
    fn with<T>(&self, cx: &mut Context<'_>, f: impl FnOnce(&mut WebSocket<S>, &mut Context<'_>) -> T) -> T {
        {
            let mut writers = lock(&self.shared.wakers.writers);
            if !writers.iter().any(|w| w.will_wake(cx.waker())) {
                writers.push(cx.waker().clone());
            }
        }
        let mut ws = self.shared.socket();
        f(&mut ws, &mut Context::from_waker(&self.shared.waker()))
    }

    /// After queueing without writing: a driver task writes it, batched with whatever
    /// else is queued by then.
    fn kick(&self) {
        if self.shared.driven {
            self.shared.wakers.wake_driver();
        }
    }

    /// Sends a message and waits until it is written. See [`WebSocket::send`].
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<()> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues a message without writing it, waiting while the queue is full; see
    /// [`WebSocket::feed`]. With a driver task, the driver writes it soon after.
    pub async fn feed(&mut self, message: impl Into<Message>) -> Result<()> {
        let message = message.into();
        poll_fn(|cx| self.with(cx, |ws, cx| ws.poll_ready_to_send(cx))).await?;
        self.shared.socket().queue(message)?;
        self.kick();
        Ok(())
    }

    /// Queues a message without waiting. Fails with [`Error::QueueFull`] when the send
    /// queue is over its limit. With a driver task, the driver writes it (coalescing a
    /// burst into one write); without, it writes what the transport takes now.
    pub fn try_send(&mut self, message: impl Into<Message>) -> Result<()> {
        let mut ws = self.shared.socket();
        ws.queue_if_room(message.into())?;
        if self.shared.driven {
            drop(ws);
            self.kick();
            return Ok(());
        }
        // Whatever the transport does not take now is written when any half is woken:
        // the waker wakes the reader too, whose loop always writes.
        match ws.poll_flush_out(&mut Context::from_waker(&self.shared.waker())) {
            Poll::Ready(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Queues a message framed once for many connections; see
    /// [`WebSocket::try_send_prepared`] and [`try_send`](Self::try_send).
    pub fn try_send_prepared(&mut self, message: &PreparedMessage) -> Result<()> {
        let mut ws = self.shared.socket();
        ws.queue_prepared_if_room(message)?;
        if self.shared.driven {
            drop(ws);
            self.kick();
            return Ok(());
        }
        match ws.poll_flush_out(&mut Context::from_waker(&self.shared.waker())) {
            Poll::Ready(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Queues a prepared message, waiting while the queue is full; see
    /// [`WebSocket::feed_prepared`].
    pub async fn feed_prepared(&mut self, message: &PreparedMessage) -> Result<()> {
        poll_fn(|cx| self.with(cx, |ws, cx| ws.poll_ready_to_send(cx))).await?;
        self.shared.socket().queue_prepared(message)?;
        self.kick();
        Ok(())
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        poll_fn(|cx| self.with(cx, |ws, cx| ws.poll_flush_out(cx))).await
    }

    /// Sends a ping. See [`WebSocket::ping`].
    pub async fn ping(&mut self, payload: &[u8]) -> Result<()> {
        self.shared.socket().command(|c| c.ping(payload))?;
        self.flush().await
    }

    /// Sends a ping that measures the round trip. See [`WebSocket::probe_rtt`].
    pub async fn probe_rtt(&mut self) -> Result<()> {
        let now = tokio::time::Instant::now().into_std();
        self.shared.socket().command(|c| c.ping_timed(now))?;
        self.flush().await
    }

    /// Starts the close handshake; the reader sees the end of the stream when the peer
    /// answers. See [`WebSocket::close`].
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        self.shared.socket().command(|c| {
            if c.state() != wsx_proto::State::Open {
                return Err(wsx_proto::Error::Closed);
            }
            c.close(frame)
        })?;
        self.flush().await
    }

    /// Bytes queued but not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.shared.socket().queued_bytes()
    }

    /// The latest round-trip time measured; see [`WebSocket::rtt`].
    pub fn rtt(&self) -> Option<std::time::Duration> {
        self.shared.socket().rtt()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WsWriter<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.with(cx, |ws, cx| Pin::new(ws).poll_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        Pin::new(&mut *self.shared.socket()).start_send(item)?;
        self.kick();
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.with(cx, |ws, cx| Pin::new(ws).poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.with(cx, |ws, cx| Pin::new(ws).poll_close(cx))
    }
}
