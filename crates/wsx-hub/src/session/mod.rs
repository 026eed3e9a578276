//! One client's session, whatever its transport: its identity, subscriptions and where
//! each stands (the last offset delivered), its rate limit, and the loop that turns
//! commands into answers and deliveries into events.
//!
//! A session owns its state in one task, so deliveries need no lock to be checked
//! against it: the router drops them in the session's [`Mailbox`], the task takes them
//! out in order. Each subscription remembers the last offset it delivered, which makes
//! recovery exact at the seam between replay and live delivery: the session registers
//! for live messages *before* reading history, and any live message at or before what
//! the replay covered is dropped as already delivered.

pub(crate) mod fallback;
pub(crate) mod subscriptions;
pub(crate) mod websocket;

use crate::auth::Identity;
use crate::history::GapReason;
use crate::hub::HubInner;
use crate::limits::TokenBucket;
use crate::mailbox::{Delivery, Mailbox};
use crate::offset::Offset;
use crate::protocol::{self, Command, ErrorCode, Refusal};
use crate::topic::{Publication, Topic};
use serde_json::json;
use serde_json::value::RawValue;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use subscriptions::{Slot, Subscriptions};
use tokio::time::Sleep;
use wsx::{Message, PreparedMessage};

/// Close codes a session ends with, beyond RFC 6455's (documented in docs/protocol.md).
pub mod close {
    /// The token expired while connected.
    pub const TOKEN_EXPIRED: u16 = 4001;
    /// `POST /api/disconnect` closed the user's sessions.
    pub const DISCONNECTED: u16 = 4002;
    /// The client did not take its messages for `slow_consumer_timeout`.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// Publishes or sends kept coming into an empty rate-limit bucket.
    pub const FLOOD: u16 = 4029;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A normal end.
    pub const NORMAL: u16 = 1000;
}

/// What carries a session's events and commands.
pub(crate) enum Transport {
    /// Boxed: the socket is large, and an SSE or poll session should not carry its room.
    WebSocket(Box<websocket::WsTransport>),
    Fallback(fallback::FallbackTransport),
}

/// What the transport gave the session.
pub(crate) enum Incoming {
    /// A command's text.
    Command(String),
    /// Something that is not a command (a binary frame): answered with an error.
    NotText,
    /// The client is gone; the code it ended with.
    Gone(u16),
}

impl Transport {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Transport::WebSocket(_) => "websocket",
            Transport::Fallback(f) => f.name(),
        }
    }

    fn has_room(&self) -> bool {
        match self {
            Transport::WebSocket(t) => t.has_room(),
            Transport::Fallback(t) => t.has_room(),
        }
    }

    fn push(&mut self, event: &PreparedMessage) {
        match self {
            Transport::WebSocket(t) => t.push(event),
            Transport::Fallback(t) => t.push(event),
        }
    }

    fn poll_incoming(&mut self, cx: &mut Context<'_>) -> Poll<Incoming> {
        match self {
            Transport::WebSocket(t) => t.poll_incoming(cx),
            Transport::Fallback(t) => t.poll_incoming(cx),
        }
    }

    /// Waits until everything queued is taken by the client (written, or fetched).
    async fn drain(&mut self) {
        match self {
            Transport::WebSocket(t) => t.drain().await,
            Transport::Fallback(t) => t.drain().await,
        }
    }

    async fn close(&mut self, code: u16, reason: &str) {
        match self {
            Transport::WebSocket(t) => t.close(code, reason).await,
            Transport::Fallback(t) => t.close(code, reason),
        }
    }
}

/// What woke the session.
enum Next {
    Incoming(Incoming),
    Overflowed,
    Disconnect(u16, &'static str),
    Resync(Slot),
    Expired,
    Stalled,
}

/// How a session ends: the close code and reason to send (none if the client is gone
/// already), counted by code either way.
struct End {
    code: u16,
    reason: &'static str,
    send: bool,
}

#[allow(non_snake_case)]
fn End(code: u16, reason: &'static str) -> End {
    End {
        code,
        reason,
        send: true,
    }
}

/// One session and its loop.
pub(crate) struct Session {
    hub: Arc<HubInner>,
    id: u64,
    sid: Arc<str>,
    identity: Identity,
    mailbox: Arc<Mailbox>,
    pending: VecDeque<Delivery>,
    subs: Subscriptions,
    bucket: TokenBucket,
    transport: Transport,
    expiry: Option<Pin<Box<Sleep>>>,
    stall: Option<Pin<Box<Sleep>>>,
}

/// A session id for clients: the node's id, `.`, and 128 random bits, URL-safe. The
/// node part lets any node of a cluster forward a request for the session to its node.
pub(crate) fn new_sid(node: &str) -> Arc<str> {
    use base64::Engine;
    let random = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
    format!("{node}.{random}").into()
}

/// The node a session id names (`None`: an id without one, or not ours).
pub(crate) fn node_of(sid: &str) -> Option<&str> {
    sid.split_once('.')
        .map(|(node, _)| node)
        .filter(|n| !n.is_empty())
}

fn text(s: String) -> PreparedMessage {
    PreparedMessage::new(Message::text(s))
}

impl Session {
    /// A session admitted under `id`, speaking over `transport`.
    pub(crate) fn new(
        hub: Arc<HubInner>,
        id: u64,
        sid: Arc<str>,
        identity: Identity,
        mailbox: Arc<Mailbox>,
        transport: Transport,
    ) -> Self {
        let c = &hub.config;
        let bucket = TokenBucket::new(c.rate_limit, c.rate_burst, Instant::now());
        let expiry = identity.remaining().map(|d| Box::pin(tokio::time::sleep(d)));
        hub.metrics
            .connections
            .get_or_create(&crate::metrics::TransportLabel {
                transport: transport.name(),
            })
            .inc();
        Session {
            hub,
            id,
            sid,
            identity,
            mailbox,
            pending: VecDeque::new(),
            subs: Subscriptions::default(),
            bucket,
            transport,
            expiry,
            stall: None,
        }
    }

    /// Runs the session to its end: welcome (and the inbox replay for `since`), then
    /// commands and deliveries until the client leaves or the session is closed.
    ///
    /// Everything but the wait for the next event is boxed: an idle session's task holds
    /// only the session and that wait, not room for the largest command in progress.
    /// Not an `async fn`, which would hold the session twice (as its argument and as a
    /// local): an `async` block uses what it captures in place.
    #[allow(clippy::manual_async_fn)]
    pub(crate) fn run(mut self, inbox_since: Option<String>) -> impl Future<Output = ()> + Send {
        async move {
            let end = match Box::pin(self.start(inbox_since)).await {
                Ok(()) => self.serve().await,
                Err(end) => end,
            };
            Box::pin(self.finish(end)).await;
        }
    }

    async fn start(&mut self, since: Option<String>) -> Result<(), End> {
        let inbox = Topic::Inbox(self.identity.user.clone());
        self.subscribe_live(&inbox);
        if self.hub.broker.subscribe(&inbox).await.is_err() {
            self.unsubscribe_live(&inbox);
            return Err(End(1011, "broker unavailable"));
        }
        let latest = Self::latest(&self.hub, &inbox).await?;
        self.emit(text(protocol::welcome_event(
            &self.identity.user,
            &self.sid,
            &latest,
        )));
        self.subs.get_mut(&inbox).expect("just added").last = latest;
        if let Some(since) = since {
            self.recover(&inbox, &since).await?;
        }
        Ok(())
    }

    /// Not `&self`: the session holds a socket that is `Send` but not `Sync`, so a
    /// shared borrow of it must not live across an await.
    /// Registers for live deliveries on `topic`. Its position is set by the caller
    /// before any delivery is looked at: deliveries wait in the mailbox until the
    /// command that subscribed has finished.
    fn subscribe_live(&mut self, topic: &Topic) {
        let slot = self.subs.insert(topic.clone(), Offset::start(crate::Epoch(0)));
        self.hub.router.add(topic, self.id, &self.mailbox, slot);
    }

    /// Undoes [`subscribe_live`](Self::subscribe_live) when the broker could not follow.
    fn unsubscribe_live(&mut self, topic: &Topic) {
        self.subs.remove(topic);
        self.hub.router.remove(topic, self.id);
    }

    async fn latest(hub: &HubInner, topic: &Topic) -> Result<Offset, End> {
        hub.broker
            .latest(topic)
            .await
            .map_err(|_| End(1011, "broker unavailable"))
    }

    async fn serve(&mut self) -> End {
        loop {
            match poll_fn(|cx| self.poll_next(cx)).await {
                Next::Incoming(Incoming::Command(text)) => {
                    if let Err(end) = Box::pin(self.command(&text)).await {
                        return end;
                    }
                }
                Next::Incoming(Incoming::NotText) => {
                    self.refuse(Refusal::new(
                        None,
                        ErrorCode::BadRequest,
                        "commands are JSON text frames",
                    ));
                }
                Next::Incoming(Incoming::Gone(code)) => {
                    return End {
                        code,
                        reason: "",
                        send: false,
                    };
                }
                Next::Overflowed => {
                    if let Err(end) = Box::pin(self.resync()).await {
                        return end;
                    }
                }
                Next::Disconnect(code, reason) => return End(code, reason),
                Next::Resync(slot) => {
                    if let Err(end) = Box::pin(self.resync_one(slot)).await {
                        return end;
                    }
                }
                Next::Expired => return End(close::TOKEN_EXPIRED, "token expired"),
                Next::Stalled => {
                    self.hub.metrics.slow_consumers.inc();
                    return End(close::SLOW_CONSUMER, "slow consumer");
                }
            }
        }
    }

    /// Hands queued deliveries to the transport while it has room, then waits for the
    /// next command, delivery, or timer.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        loop {
            while self.transport.has_room() {
                let Some(d) = self.pending.pop_front() else { break };
                match d {
                    Delivery::Publication(slot, p) => self.deliver(slot, &p),
                    Delivery::Event(e) => self.emit(e),
                    Delivery::Disconnect { code, reason } => {
                        return Poll::Ready(Next::Disconnect(code, reason));
                    }
                    Delivery::Resync(slot) => return Poll::Ready(Next::Resync(slot)),
                }
            }
            if !self.pending.is_empty() {
                break;
            }
            match self.mailbox.poll_drain(cx, &mut self.pending) {
                Poll::Ready(true) => return Poll::Ready(Next::Overflowed),
                Poll::Ready(false) => continue,
                Poll::Pending => break,
            }
        }
        if self.pending.is_empty() {
            self.stall = None;
        } else {
            // Messages wait and the client takes none: how long may it stay so?
            let timeout = Duration::from_secs(self.hub.config.slow_consumer_timeout);
            let stall = self
                .stall
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
            if stall.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Next::Stalled);
            }
        }
        if let Poll::Ready(incoming) = self.transport.poll_incoming(cx) {
            return Poll::Ready(Next::Incoming(incoming));
        }
        if let Some(expiry) = &mut self.expiry
            && expiry.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Next::Expired);
        }
        Poll::Pending
    }

    /// Queues an event for the client.
    fn emit(&mut self, event: PreparedMessage) {
        self.transport.push(&event);
    }

    fn refuse(&mut self, refusal: Refusal) {
        self.emit(text(refusal.to_event()));
    }

    fn ack(&mut self, id: Option<&RawValue>, extra: serde_json::Value) {
        if id.is_some() {
            self.emit(text(protocol::ack_event(id, &extra)));
        }
    }

    /// A live publication: delivered unless this subscription already has it.
    fn deliver(&mut self, slot: Slot, p: &Arc<Publication>) {
        let Some(sub) = self.subs.by_slot(slot) else {
            return; // unsubscribed since
        };
        if p.offset.epoch == sub.last.epoch && p.offset.seq <= sub.last.seq {
            return; // replayed already
        }
        sub.last = p.offset;
        self.transport.push(&p.event);
        self.hub.metrics.delivered.inc();
        self.hub
            .metrics
            .delivery_latency
            .observe(p.published_at.elapsed().as_secs_f64());
    }

    /// Replays what followed `since` on `topic`: the gap if any, then the messages.
    /// The subscription must exist; it ends at the replay's latest offset.
    async fn recover(&mut self, topic: &Topic, since: &str) -> Result<(), End> {
        let since_offset = since.parse::<Offset>().ok();
        let replay = self
            .hub
            .broker
            .replay(
                topic,
                Some(since_offset.unwrap_or(Offset::start(crate::Epoch(0)))),
            )
            .await
            .map_err(|_| End(1011, "broker unavailable"))?;
        let result = if replay.gap.is_some() { "gap" } else { "complete" };
        self.hub
            .metrics
            .recover
            .get_or_create(&crate::metrics::ResultLabel { result })
            .inc();
        if let Some(gap) = replay.gap {
            self.gap(topic, Some(since), &gap.resume, gap.reason);
        }
        self.replay_messages(&replay.messages).await?;
        if let Some(sub) = self.subs.get_mut(topic) {
            sub.last = replay.latest;
        }
        Ok(())
    }

    fn gap(&mut self, topic: &Topic, since: Option<&str>, resume: &Offset, reason: GapReason) {
        self.hub
            .metrics
            .gaps
            .get_or_create(&crate::metrics::ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
        self.emit(text(protocol::gap_event(
            topic.channel_name(),
            since,
            resume,
            reason,
        )));
    }

    /// Queues replayed messages, waiting for the client to take them whenever the
    /// transport is full, but never longer than the slow-consumer timeout.
    async fn replay_messages(&mut self, messages: &[(Offset, Arc<Publication>)]) -> Result<(), End> {
        let patience = Duration::from_secs(self.hub.config.slow_consumer_timeout);
        for (_, p) in messages {
            if !self.transport.has_room()
                && tokio::time::timeout(patience, self.transport.drain())
                    .await
                    .is_err()
            {
                self.hub.metrics.slow_consumers.inc();
                return Err(End(close::SLOW_CONSUMER, "slow consumer"));
            }
            self.transport.push(&p.event);
            self.hub.metrics.delivered.inc();
        }
        Ok(())
    }

    /// The mailbox overflowed: deliveries were dropped. Every subscription catches up
    /// from history; what history no longer holds is declared by a gap with reason
    /// `overflow`.
    async fn resync(&mut self) -> Result<(), End> {
        for (topic, last) in self.subs.positions() {
            let replay = self
                .hub
                .broker
                .replay(&topic, Some(last))
                .await
                .map_err(|_| End(1011, "broker unavailable"))?;
            if let Some(gap) = replay.gap {
                self.gap(&topic, Some(&last.to_string()), &gap.resume, GapReason::Overflow);
            }
            self.replay_messages(&replay.messages).await?;
            if let Some(sub) = self.subs.get_mut(&topic) {
                sub.last = replay.latest;
            }
        }
        Ok(())
    }

    /// The node may have missed live publications of one subscription: replay what
    /// followed its position, with the gap history declares, if any.
    async fn resync_one(&mut self, slot: Slot) -> Result<(), End> {
        let Some(sub) = self.subs.by_slot(slot) else {
            return Ok(()); // unsubscribed since
        };
        let (topic, last) = (sub.topic.clone(), sub.last);
        let Ok(replay) = self.hub.broker.replay(&topic, Some(last)).await else {
            // Still unreachable: the broker resyncs again once it is back.
            return Ok(());
        };
        if let Some(gap) = replay.gap {
            self.gap(&topic, Some(&last.to_string()), &gap.resume, gap.reason);
        }
        self.replay_messages(&replay.messages).await?;
        if let Some(sub) = self.subs.by_slot(slot) {
            sub.last = replay.latest;
        }
        Ok(())
    }

    async fn command(&mut self, text: &str) -> Result<(), End> {
        let command = match protocol::parse_command(text, self.hub.config.max_recipients) {
            Ok(c) => c,
            Err(refusal) => {
                self.refuse(refusal);
                return Ok(());
            }
        };
        match command {
            Command::Subscribe { id, channel, since } => self.subscribe(id, channel, since).await,
            Command::Unsubscribe { id, channel } => {
                let topic = Topic::channel(&channel);
                if self.subs.remove(&topic).is_none() {
                    self.refuse(Refusal::new(
                        id,
                        ErrorCode::NotSubscribed,
                        format!("not subscribed to {channel:?}"),
                    ));
                    return Ok(());
                }
                self.hub.router.remove(&topic, self.id);
                self.hub.broker.unsubscribe(&topic);
                let _ = self
                    .hub
                    .broker
                    .presence_remove(&channel, &self.identity.user, self.id)
                    .await;
                self.ack(id.as_deref(), json!({ "channel": channel }));
                Ok(())
            }
            Command::Publish { id, channel, data } => {
                if !self.rate_limit(id.as_deref())? {
                    return Ok(());
                }
                if !self.identity.may_use(&channel) {
                    self.refuse(Refusal::new(
                        id,
                        ErrorCode::Forbidden,
                        format!("may not publish to {channel:?}"),
                    ));
                    return Ok(());
                }
                match self
                    .hub
                    .publish(
                        &Topic::channel(&channel),
                        Some(self.identity.user.clone()),
                        data,
                        None,
                    )
                    .await
                {
                    Ok(p) => self.ack(id.as_deref(), json!({ "offset": p.publication.offset })),
                    Err(e) => self.refuse(Refusal::new(id, ErrorCode::Unavailable, e.to_string())),
                }
                Ok(())
            }
            Command::Send { id, to, data } => {
                if !self.rate_limit(id.as_deref())? {
                    return Ok(());
                }
                match self
                    .hub
                    .send(&to, Some(self.identity.user.clone()), &data, None)
                    .await
                {
                    Ok(offsets) => self.ack(id.as_deref(), json!({ "offsets": offsets })),
                    Err(e) => self.refuse(Refusal::new(id, ErrorCode::Unavailable, e.to_string())),
                }
                Ok(())
            }
            Command::Presence { id, channel } => {
                if !self.identity.may_use(&channel) {
                    self.refuse(Refusal::new(
                        id,
                        ErrorCode::Forbidden,
                        format!("may not use {channel:?}"),
                    ));
                    return Ok(());
                }
                match self.hub.broker.presence_list(&channel).await {
                    Ok(users) => self.ack(id.as_deref(), json!({ "channel": channel, "users": users })),
                    Err(e) => self.refuse(Refusal::new(id, ErrorCode::Unavailable, e.to_string())),
                }
                Ok(())
            }
            Command::Disconnect { id } => {
                self.ack(id.as_deref(), json!({}));
                Err(End(1000, "client disconnected"))
            }
        }
    }

    /// Takes a token for a publish or send: `Ok(false)` if refused (and answered), an
    /// end if the client floods.
    fn rate_limit(&mut self, id: Option<&RawValue>) -> Result<bool, End> {
        match self.bucket.take(Instant::now()) {
            Ok(()) => Ok(true),
            Err(r) if r.flooding => Err(End(close::FLOOD, "rate limit exceeded")),
            Err(_) => {
                self.refuse(Refusal::new(
                    id.map(ToOwned::to_owned),
                    ErrorCode::RateLimited,
                    format!(
                        "over {} publishes and sends per second",
                        self.hub.config.rate_limit
                    ),
                ));
                Ok(false)
            }
        }
    }

    async fn subscribe(
        &mut self,
        id: Option<Box<RawValue>>,
        channel: String,
        since: Option<String>,
    ) -> Result<(), End> {
        if !self.identity.may_use(&channel) {
            self.refuse(Refusal::new(
                id,
                ErrorCode::Forbidden,
                format!("may not subscribe to {channel:?}"),
            ));
            return Ok(());
        }
        let topic = Topic::channel(&channel);
        if let Some(sub) = self.subs.get_mut(&topic) {
            // Already live: nothing to replay, the ack says where it stands.
            let last = sub.last;
            self.ack(id.as_deref(), json!({ "channel": channel, "offset": last }));
            return Ok(());
        }
        // The inbox is one of them, and does not count.
        let max = self.hub.config.max_subscriptions;
        if self.subs.len() > max {
            self.refuse(Refusal::new(
                id,
                ErrorCode::TooLarge,
                format!("over max_subscriptions ({max} channels on one connection)"),
            ));
            return Ok(());
        }
        // Live deliveries first, history second: nothing can fall between the two.
        self.subscribe_live(&topic);
        let latest = match self.hub.broker.subscribe(&topic).await {
            Ok(()) => self.hub.broker.latest(&topic).await.inspect_err(|_| {
                self.hub.broker.unsubscribe(&topic);
            }),
            Err(e) => Err(e),
        };
        let latest = match latest {
            Ok(latest) => latest,
            Err(e) => {
                self.unsubscribe_live(&topic);
                self.refuse(Refusal::new(id, ErrorCode::Unavailable, e.to_string()));
                return Ok(());
            }
        };
        // After the broker subscription: this node hears its own join event too.
        let _ = self
            .hub
            .broker
            .presence_add(&channel, &self.identity.user, self.id)
            .await;
        match since {
            None => {
                self.subs.get_mut(&topic).expect("just added").last = latest;
                self.ack(id.as_deref(), json!({ "channel": channel, "offset": latest }));
            }
            Some(since) => {
                // Until the replay is queued, live deliveries wait in the mailbox; the
                // subscription's `last` then drops those the replay covered.
                self.subs.get_mut(&topic).expect("just added").last = latest;
                self.ack(
                    id.as_deref(),
                    json!({ "channel": channel, "offset": latest, "recovering": true }),
                );
                self.recover(&topic, &since).await?;
            }
        }
        Ok(())
    }

    /// Ends the session: the close goes out, then everything it held is released.
    async fn finish(mut self, End { code, reason, send }: End) {
        if send {
            self.transport.close(code, reason).await;
        }
        self.hub
            .metrics
            .disconnects
            .get_or_create(&crate::metrics::CodeLabel { code })
            .inc();
        self.hub
            .metrics
            .connections
            .get_or_create(&crate::metrics::TransportLabel {
                transport: self.transport.name(),
            })
            .dec();
        self.mailbox.close();
        for topic in self.subs.drain() {
            self.hub.router.remove(&topic, self.id);
            self.hub.broker.unsubscribe(&topic);
            if let Topic::Channel(channel) = &topic {
                let _ = self
                    .hub
                    .broker
                    .presence_remove(channel, &self.identity.user, self.id)
                    .await;
            }
        }
        self.hub.leave(self.id);
    }
}
