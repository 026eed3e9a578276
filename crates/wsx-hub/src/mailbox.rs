//! A session's mailbox: what the router delivers to it, waiting for its task.
//!
//! Bounded in bytes. When a session cannot keep up (its transport is full and the
//! mailbox too), further deliveries are dropped and the mailbox is marked *overflowed*;
//! the session then recovers what it missed from history, or reports a `gap` with reason
//! `overflow`. Publishers never wait on a slow session.

use crate::session::subscriptions::Slot;
use crate::topic::Publication;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use wsx::PreparedMessage;

/// Something for a session.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// A message on a topic the session is subscribed to, for the subscription in `Slot`.
    Publication(Slot, Arc<Publication>),
    /// An event that is not in history (presence).
    Event(PreparedMessage),
    /// The node may have missed publications for the subscription in `Slot`: catch up
    /// from history (a cluster broker lost its connection, or a live message).
    Resync(Slot),
    /// Close the session (`POST /api/disconnect`, shutdown).
    Disconnect {
        /// The WebSocket close code.
        code: u16,
        /// The close reason.
        reason: &'static str,
    },
}

impl Delivery {
    fn cost(&self) -> usize {
        match self {
            Delivery::Publication(_, p) => p.cost(),
            Delivery::Event(e) => e.frame_len(),
            Delivery::Disconnect { .. } | Delivery::Resync(_) => 0,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    queue: VecDeque<Delivery>,
    bytes: usize,
    overflowed: bool,
    closed: bool,
    waker: Option<Waker>,
}

/// The queue between the router (many publishers) and one session's task.
#[derive(Debug)]
pub struct Mailbox {
    inner: Mutex<Inner>,
    limit: usize,
}

impl Mailbox {
    /// A mailbox holding at most `limit` bytes of deliveries.
    pub fn new(limit: usize) -> Arc<Mailbox> {
        Arc::new(Mailbox {
            inner: Mutex::new(Inner::default()),
            limit,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a delivery; false if it was dropped (overflow, or the session is gone).
    /// Disconnects and resyncs are never dropped.
    pub fn push(&self, delivery: Delivery) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            return false;
        }
        let cost = delivery.cost();
        // Never dropped: a dropped resync would be a silent loss.
        let urgent = matches!(delivery, Delivery::Disconnect { .. } | Delivery::Resync(_));
        let queued = if !urgent && (inner.overflowed || inner.bytes + cost > self.limit) {
            inner.overflowed = true;
            false
        } else {
            inner.bytes += cost;
            inner.queue.push_back(delivery);
            true
        };
        // Woken for a drop too: the session must learn of the overflow.
        let waker = inner.waker.take();
        drop(inner);
        if let Some(w) = waker {
            w.wake();
        }
        queued
    }

    /// Moves everything queued into `out`; `Ready(true)` if the mailbox overflowed since
    /// the last call (the flag is cleared). `Pending` when empty, with `cx` registered.
    pub fn poll_drain(&self, cx: &mut Context<'_>, out: &mut VecDeque<Delivery>) -> Poll<bool> {
        let mut inner = self.lock();
        let overflowed = std::mem::take(&mut inner.overflowed);
        if inner.queue.is_empty() && !overflowed {
            if !inner.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                inner.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        out.append(&mut inner.queue);
        inner.bytes = 0;
        Poll::Ready(overflowed)
    }

    /// The session ended: drop what is queued and refuse more.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.queue.clear();
        inner.bytes = 0;
        inner.waker = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> Delivery {
        Delivery::Event(PreparedMessage::new(wsx::Message::text("x".repeat(n))))
    }

    #[test]
    fn over_its_limit_it_drops_and_says_so_once() {
        let m = Mailbox::new(100);
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = VecDeque::new();
        assert!(m.poll_drain(&mut cx, &mut out).is_pending());
        m.push(event(60)); // 62 bytes framed
        m.push(event(60)); // would be 124: dropped
        m.push(event(10)); // fits, but the overflow is not over until drained
        assert_eq!(m.poll_drain(&mut cx, &mut out), Poll::Ready(true));
        assert_eq!(out.len(), 1);
        m.push(event(10));
        out.clear();
        assert_eq!(m.poll_drain(&mut cx, &mut out), Poll::Ready(false));
        assert_eq!(out.len(), 1);
        // Disconnects get through a full mailbox.
        m.push(event(90));
        m.push(Delivery::Disconnect {
            code: 4008,
            reason: "x",
        });
        out.clear();
        let _ = m.poll_drain(&mut cx, &mut out);
        assert!(matches!(out.back(), Some(Delivery::Disconnect { .. })));
        m.close();
        assert!(!m.push(event(1)));
    }
}
