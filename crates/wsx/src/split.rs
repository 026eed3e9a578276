//! A reader and a writer over one `WebSocket`, usable from different tasks at once.
//!
//! Both halves share the socket behind a mutex held only inside a poll, never across an
//! await. A transport keeps one waker per direction, and either half may need to write
//! (the reader writes pongs and close replies), so every poll registers a waker that
//! wakes *both* halves: a wakeup may be spurious, but never lost.

use crate::error::{Error, Result};
use crate::websocket::WebSocket;
use futures_core::Stream;
use futures_sink::Sink;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use tokio::io::{AsyncRead, AsyncWrite};
use wsx_proto::{CloseFrame, Message};

#[derive(Default)]
struct Wakers {
    reader: Mutex<Option<Waker>>,
    writer: Mutex<Option<Waker>>,
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        for slot in [&self.reader, &self.writer] {
            if let Some(w) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                w.wake();
            }
        }
    }
}

struct Shared<S> {
    ws: Mutex<WebSocket<S>>,
    wakers: Arc<Wakers>,
}

impl<S> Shared<S> {
    /// Locks the socket and returns a waker that wakes both halves, after recording
    /// `cx`'s waker in `slot`.
    fn enter(&self, cx: &Context<'_>, slot: &Mutex<Option<Waker>>) -> (MutexGuard<'_, WebSocket<S>>, Waker) {
        {
            let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
            if !s.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *s = Some(cx.waker().clone());
            }
        }
        let ws = self.ws.lock().unwrap_or_else(|p| p.into_inner());
        (ws, Waker::from(self.wakers.clone()))
    }
}

/// The receiving half of a split [`WebSocket`]. Drives keepalive and the close
/// handshake, so keep polling it while the connection should live.
pub struct WsReader<S> {
    shared: Arc<Shared<S>>,
}

/// The sending half of a split [`WebSocket`].
pub struct WsWriter<S> {
    shared: Arc<Shared<S>>,
}

impl<S> std::fmt::Debug for WsReader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsReader")
    }
}

impl<S> std::fmt::Debug for WsWriter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsWriter")
    }
}

pub(crate) fn split<S>(ws: WebSocket<S>) -> (WsReader<S>, WsWriter<S>) {
    let shared = Arc::new(Shared {
        ws: Mutex::new(ws),
        wakers: Arc::new(Wakers::default()),
    });
    (
        WsReader {
            shared: shared.clone(),
        },
        WsWriter { shared },
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsReader<S> {
    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        let (mut ws, waker) = self.shared.enter(cx, &self.shared.wakers.reader);
        ws.poll_recv(&mut Context::from_waker(&waker))
    }

    /// The next message; `None` after a normal close. See [`WebSocket::recv`].
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The peer's close frame, once it arrived.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        self.shared
            .ws
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .close_frame()
            .cloned()
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
        let (mut ws, waker) = self.shared.enter(cx, &self.shared.wakers.writer);
        f(&mut ws, &mut Context::from_waker(&waker))
    }

    fn lock(&self) -> MutexGuard<'_, WebSocket<S>> {
        self.shared.ws.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a message and waits until it is written. See [`WebSocket::send`].
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<()> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues a message without writing it, waiting while the queue is full; see
    /// [`WebSocket::feed`].
    pub async fn feed(&mut self, message: impl Into<Message>) -> Result<()> {
        let message = message.into();
        poll_fn(|cx| self.with(cx, |ws, cx| ws.poll_ready_to_send(cx))).await?;
        self.lock().queue(message)
    }

    /// Queues a message and writes what the transport takes now, without waiting.
    /// Fails with [`Error::QueueFull`] when the send queue is over its limit.
    pub fn try_send(&mut self, message: impl Into<Message>) -> Result<()> {
        let mut ws = self.lock();
        ws.queue_if_room(message.into())?;
        // Whatever the transport does not take now is written when either half is
        // woken: the waker wakes the reader too, whose loop always flushes.
        let waker = Waker::from(self.shared.wakers.clone());
        match ws.poll_flush_out(&mut Context::from_waker(&waker)) {
            Poll::Ready(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        poll_fn(|cx| self.with(cx, |ws, cx| ws.poll_flush_out(cx))).await
    }

    /// Sends a ping.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<()> {
        self.lock().conn_mut().ping(payload).map_err(Error::from)?;
        self.flush().await
    }

    /// Starts the close handshake; the reader sees the end of the stream when the peer
    /// answers. See [`WebSocket::close`].
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        self.lock().conn_mut().close(frame).map_err(Error::from)?;
        self.flush().await
    }

    /// Bytes queued but not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.lock().queued_bytes()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WsWriter<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.with(cx, |ws, cx| Pin::new(ws).poll_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        Pin::new(&mut *self.lock()).start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.with(cx, |ws, cx| Pin::new(ws).poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.with(cx, |ws, cx| Pin::new(ws).poll_close(cx))
    }
}
