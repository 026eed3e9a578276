//! The fallback transports' session side: for clients that cannot open a WebSocket,
//! events wait in a numbered log that an SSE stream (`GET /sse`) or long-poll requests
//! (`GET /poll`) read, and commands arrive by `POST /emulation`.
//!
//! The log is what makes a flaky network lose nothing: events stay until the client has
//! them — for long-poll, until a later request's `cursor` says so (a response lost on
//! the way is simply fetched again); for SSE, a tail of what was written stays so that
//! a reconnecting `EventSource` resumes from its `Last-Event-ID`. The session outlives
//! any single request, for `session_timeout` without one.

use super::Incoming;
use bytes::Bytes;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::time::Sleep;
use wsx::PreparedMessage;

/// Written events kept for an SSE stream's resumption.
const SSE_TAIL: usize = 256;

/// Commands queued per session before `POST /emulation` answers 429.
pub(crate) const COMMAND_QUEUE: usize = 256;

/// Events with their numbers, and the session's close code once it has ended.
pub(crate) type Batch = (Vec<(u64, Bytes)>, Option<u16>);

/// Which fallback a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sse,
    Poll,
}

#[derive(Default)]
struct Log {
    /// Events by number: `events[0]` is number `first`.
    events: VecDeque<Bytes>,
    first: u64,
    /// Events up to this number are the client's (written to its stream, or confirmed
    /// by a cursor); the rest count against the session's room.
    taken: u64,
    /// Bytes of events not yet taken.
    untaken: usize,
    /// The reader waiting for events (an SSE stream, a held poll).
    reader: Option<Waker>,
    /// The session task waiting for room or for the client to take everything.
    session: Option<Waker>,
    /// Readers attached now (an open SSE stream or a poll in progress).
    attached: usize,
    /// When the last reader left.
    detached_at: Option<Instant>,
    /// The session ended with this close code: readers finish.
    closed: Option<u16>,
    /// The last event a long-poll response carried: what the next request without a
    /// cursor confirms.
    sent: u64,
}

impl Log {
    fn next(&self) -> u64 {
        self.first + self.events.len() as u64
    }

    fn wake_reader(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    fn wake_session(&mut self) {
        if let Some(w) = self.session.take() {
            w.wake();
        }
    }

    /// Marks everything up to `n` taken, and forgets events no reader can ask for again.
    fn take_upto(&mut self, n: u64, keep_tail: usize) {
        let n = n.min(self.next().saturating_sub(1));
        while self.taken < n {
            self.taken += 1;
            if let Some(e) = self.events.get((self.taken - self.first) as usize) {
                self.untaken -= e.len();
            }
        }
        while self.first + (keep_tail as u64) <= self.taken && !self.events.is_empty() {
            self.events.pop_front();
            self.first += 1;
        }
        self.wake_session();
    }
}

/// The shared side of a fallback session: what HTTP handlers use.
pub(crate) struct FallbackHandle {
    pub(crate) kind: Kind,
    pub(crate) user: Arc<str>,
    pub(crate) sid: Arc<str>,
    log: Mutex<Log>,
    commands: mpsc::Sender<String>,
}

impl std::fmt::Debug for FallbackHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackHandle")
            .field("kind", &self.kind)
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

/// Why `POST /emulation` could not take the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The session has too many commands waiting (HTTP 429).
    Busy,
    /// The session ended (HTTP 404).
    Gone,
}

impl FallbackHandle {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues client commands (in order); all or none.
    pub(crate) fn command(&self, texts: Vec<String>) -> Result<(), Refused> {
        if self.commands.is_closed() {
            return Err(Refused::Gone);
        }
        let mut permits = Vec::with_capacity(texts.len());
        for _ in &texts {
            match self.commands.try_reserve() {
                Ok(p) => permits.push(p),
                Err(mpsc::error::TrySendError::Full(())) => return Err(Refused::Busy),
                Err(mpsc::error::TrySendError::Closed(())) => return Err(Refused::Gone),
            }
        }
        for (permit, text) in permits.into_iter().zip(texts) {
            permit.send(text);
        }
        Ok(())
    }

    /// A reader (SSE stream or poll request) starts.
    pub(crate) fn attach(&self) {
        let mut log = self.log();
        log.attached += 1;
        log.detached_at = None;
        log.wake_session();
    }

    /// A reader ends.
    pub(crate) fn detach(&self) {
        let mut log = self.log();
        log.attached = log.attached.saturating_sub(1);
        if log.attached == 0 {
            log.detached_at = Some(Instant::now());
        }
        log.wake_session();
    }

    /// The number of the first event a reader that has everything up to `after` still
    /// can get; `None` if those events are gone (or the number is from the future).
    pub(crate) fn resumable(&self, after: u64) -> bool {
        let log = self.log();
        after + 1 >= log.first && after < log.next()
    }

    /// Events after number `after`, at most `max_bytes` of them (at least one), each
    /// with its number; `Pending` (with `cx` registered) when there are none. `Ready`
    /// with an empty list and `Some(code)` once the session has ended.
    pub(crate) fn poll_events(&self, cx: &mut Context<'_>, after: u64, max_bytes: usize) -> Poll<Batch> {
        let mut log = self.log();
        let start = after.max(log.first.saturating_sub(1)) + 1;
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut n = start;
        while let Some(e) = log.events.get((n - log.first) as usize) {
            if !out.is_empty() && bytes + e.len() > max_bytes {
                break;
            }
            bytes += e.len();
            out.push((n, e.clone()));
            n += 1;
        }
        if out.is_empty() {
            if let Some(code) = log.closed {
                return Poll::Ready((out, Some(code)));
            }
            log.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready((out, None))
    }

    /// The client has every event up to `n`.
    pub(crate) fn taken(&self, n: u64) {
        let keep = match self.kind {
            Kind::Sse => SSE_TAIL,
            Kind::Poll => 0,
        };
        self.log().take_upto(n, keep);
    }

    /// The last event a long-poll response carried.
    pub(crate) fn sent(&self) -> u64 {
        self.log().sent
    }

    /// Records the last event a long-poll response carried.
    pub(crate) fn set_sent(&self, n: u64) {
        let mut log = self.log();
        log.sent = log.sent.max(n);
    }
}

/// The session task's side.
pub(crate) struct FallbackTransport {
    handle: Arc<FallbackHandle>,
    commands: mpsc::Receiver<String>,
    room: usize,
    timeout: Duration,
    idle: Pin<Box<Sleep>>,
    hub: Arc<crate::hub::HubInner>,
}

impl FallbackTransport {
    /// A new fallback session's two sides.
    pub(crate) fn new(
        hub: Arc<crate::hub::HubInner>,
        kind: Kind,
        user: Arc<str>,
        sid: Arc<str>,
    ) -> (FallbackTransport, Arc<FallbackHandle>) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let handle = Arc::new(FallbackHandle {
            kind,
            user,
            sid: sid.clone(),
            log: Mutex::new(Log {
                first: 1,
                detached_at: Some(Instant::now()),
                ..Log::default()
            }),
            commands: tx,
        });
        let timeout = Duration::from_secs(hub.config.session_timeout);
        hub.register_fallback(sid, handle.clone());
        let transport = FallbackTransport {
            handle: handle.clone(),
            commands: rx,
            room: hub.config.outgoing_queue,
            timeout,
            idle: Box::pin(tokio::time::sleep(timeout)),
            hub,
        };
        (transport, handle)
    }

    pub(crate) fn name(&self) -> &'static str {
        match self.handle.kind {
            Kind::Sse => "sse",
            Kind::Poll => "poll",
        }
    }

    pub(crate) fn has_room(&self) -> bool {
        self.handle.log().untaken < self.room
    }

    pub(crate) fn push(&mut self, event: &PreparedMessage) {
        let bytes = event.message().clone().into_bytes();
        let mut log = self.handle.log();
        if log.closed.is_some() {
            return;
        }
        log.untaken += bytes.len();
        log.events.push_back(bytes);
        log.wake_reader();
    }

    pub(crate) fn poll_incoming(&mut self, cx: &mut Context<'_>) -> Poll<Incoming> {
        if let Poll::Ready(Some(text)) = self.commands.poll_recv(cx) {
            return Poll::Ready(Incoming::Command(text));
        }
        // Gone once no reader came back for the session timeout.
        let detached_at = {
            let mut log = self.handle.log();
            log.session = Some(cx.waker().clone());
            log.detached_at
        };
        let Some(since) = detached_at else {
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::from_std(since + self.timeout);
        if self.idle.deadline() != deadline {
            self.idle.as_mut().reset(deadline);
        }
        if self.idle.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Incoming::Gone(1001));
        }
        Poll::Pending
    }

    /// Waits until the client took everything queued.
    pub(crate) async fn drain(&mut self) {
        std::future::poll_fn(|cx| {
            let mut log = self.handle.log();
            if log.untaken == 0 || log.closed.is_some() {
                return Poll::Ready(());
            }
            log.session = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    pub(crate) fn close(&mut self, code: u16, _reason: &str) {
        let mut log = self.handle.log();
        log.closed = Some(code);
        log.wake_reader();
    }
}

impl Drop for FallbackTransport {
    fn drop(&mut self) {
        {
            let mut log = self.handle.log();
            log.closed.get_or_insert(1001);
            log.wake_reader();
        }
        self.hub.unregister_fallback(&self.handle.sid);
    }
}
