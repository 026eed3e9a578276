//! The WebSocket transport: JSON text frames over `/ws`, through wsx's hyper upgrade.

use super::Incoming;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;
use wsx::hyper::HyperStream;
use wsx::{CloseCode, CloseFrame, Message, PreparedMessage, WebSocket};

/// The session's side of a WebSocket.
pub(crate) struct WsTransport {
    ws: WebSocket<HyperStream>,
    /// Deliveries stop here; the socket's own queue limit is twice this, so that acks,
    /// errors and gaps are never refused for lack of room.
    room: usize,
}

impl WsTransport {
    pub(crate) fn new(ws: WebSocket<HyperStream>, room: usize) -> Self {
        WsTransport { ws, room }
    }

    /// The wsx configuration for the hub's WebSockets.
    pub(crate) fn config(hub: &crate::Config) -> wsx::Config {
        let mut c = wsx::Config::default();
        c.protocol.max_message_size = hub.max_message_size;
        c.protocol.max_frame_size = hub.max_message_size;
        c.protocol.ping_interval = Some(Duration::from_secs(hub.ping_interval));
        // Every message stands alone, so a broadcast is compressed once for all
        // (RFC 7692 §7.1.1.1 lets a server require this).
        if let Some(d) = &mut c.protocol.deflate {
            d.server_no_context_takeover = true;
        }
        c.send_queue_limit = hub.outgoing_queue.saturating_mul(2);
        // Commands are small and answered at once; a client that floods them waits.
        c.receive_queue_limit = 64 << 10;
        c
    }

    pub(crate) fn has_room(&self) -> bool {
        self.ws.queued_bytes() < self.room
    }

    pub(crate) fn push(&mut self, event: &PreparedMessage) {
        // Full only past twice the delivery limit, which deliveries never reach; a
        // closed socket drops it, and the session learns of the end from `recv`.
        let _ = self.ws.try_feed_prepared(event);
    }

    pub(crate) fn poll_incoming(&mut self, cx: &mut Context<'_>) -> Poll<Incoming> {
        // `recv` is cancel-safe: a fresh future per poll loses nothing, and it writes
        // everything queued before it waits.
        let polled = pin!(self.ws.recv()).poll(cx);
        let incoming = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(Message::Text(t)))) => Incoming::Command(t.as_str().to_owned()),
            Poll::Ready(Some(Ok(Message::Binary(_)))) => Incoming::NotText,
            Poll::Ready(Some(Err(e))) => {
                tracing::debug!(error = %e, "websocket ended");
                Incoming::Gone(e.close_code().map_or(1006, |c| c.0))
            }
            Poll::Ready(None) => Incoming::Gone(self.ws.close_frame().map_or(1005, |f| f.code.0)),
        };
        Poll::Ready(incoming)
    }

    pub(crate) async fn drain(&mut self) {
        let _ = self.ws.flush().await;
    }

    pub(crate) async fn close(&mut self, code: u16, reason: &str) {
        if self
            .ws
            .close(Some(CloseFrame::new(CloseCode(code), reason)))
            .await
            .is_err()
        {
            return;
        }
        // Wait for the client's answer (bounded by the close timeout), reading and
        // discarding what it still sends.
        while self.ws.recv().await.is_some() {}
    }
}
