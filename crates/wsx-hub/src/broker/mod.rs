//! Where history, presence and (in a cluster) fan-out between nodes live. The hub talks
//! to a [`Broker`] and never knows which one: the in-memory broker for one node
//! ([`MemoryBroker`]), Redis for several (pub/sub for fan-out, Streams for history,
//! expiring keys for presence).
//!
//! A broker also reports what happens without a request (a message published on another
//! node, a user's presence lapsing) through the [`BrokerEvents`] it was started with.

mod memory;
mod redis;
mod roster;

pub use memory::MemoryBroker;
pub use redis::{RedisBroker, RedisSettings};

use crate::history::Replay;
use crate::offset::Offset;
use crate::topic::{Publication, Topic};
use serde_json::value::RawValue;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A future a broker returns.
pub type BrokerFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BrokerError>> + Send + 'a>>;

/// The broker could not do it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The backing service is unreachable or failing (cluster mode): retry later.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
}

/// What a publish did.
#[derive(Debug, Clone)]
pub struct Published {
    /// The publication (the first one, if this was a retry with a known idempotency key).
    pub publication: Arc<Publication>,
    /// A retry of an earlier publish with the same idempotency key: nothing was
    /// appended or delivered again.
    pub duplicate: bool,
}

/// A change to who is present in a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceChange {
    /// The user's first connection in the channel: they joined.
    Joined,
    /// The user was already present (another connection, or back within the grace).
    Unchanged,
}

/// A request for a fallback session that another node holds, forwarded to it (cluster
/// mode: no sticky sessions).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Forwarded {
    /// `GET /poll?session=…` with this query string.
    Poll {
        /// The session id.
        sid: String,
        /// The request's query string, verbatim.
        query: String,
    },
    /// `POST /emulation?session=…` with this body.
    Emulation {
        /// The session id.
        sid: String,
        /// The request body (commands, JSON).
        body: String,
    },
}

/// The answer to a [`Forwarded`] request, relayed to the client as it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ForwardedReply {
    /// HTTP status.
    pub status: u16,
    /// Headers (name, value).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

/// What a broker tells the hub without being asked.
pub trait BrokerEvents: Send + Sync + 'static {
    /// Deliver to this node's subscribers (a message published elsewhere in a cluster).
    fn deliver(&self, publication: Arc<Publication>);
    /// A user joined or left a channel.
    fn presence(&self, channel: &str, user: &str, joined: bool);
    /// This node may have missed publications on `topic` (a lost connection, a hole in
    /// the sequence): every local subscriber catches up from history, and is told of a
    /// gap if history no longer holds what it missed.
    fn resync(&self, topic: &Topic);
    /// Another node asked to close every session of `user` here.
    fn disconnect(&self, user: &str, code: u16);
    /// Another node forwarded a request for a session held here.
    fn forwarded(&self, request: Forwarded) -> Pin<Box<dyn Future<Output = ForwardedReply> + Send>>;
}

/// The hub's storage and cluster interface.
pub trait Broker: Send + Sync + 'static {
    /// Appends `data` to `topic`'s history and hands the publication to this node's
    /// subscribers, in offset order among publications of the same topic: through
    /// `deliver` before returning (the memory broker), or through
    /// [`BrokerEvents::deliver`] once every earlier publication of the topic has been
    /// handed on (a cluster broker, where others publish too). A repeated
    /// `idempotency_key` (within the configured window) returns the first publication
    /// as a duplicate and delivers nothing.
    fn publish<'a>(
        &'a self,
        topic: &'a Topic,
        from: Option<Arc<str>>,
        data: Box<RawValue>,
        idempotency_key: Option<&'a str>,
        deliver: &'a (dyn Fn(&Arc<Publication>) + Send + Sync),
    ) -> BrokerFuture<'a, Published>;

    /// What a subscriber that last saw `since` gets back (see [`crate::history`]).
    fn replay<'a>(
        &'a self,
        topic: &'a Topic,
        since: Option<Offset>,
    ) -> BrokerFuture<'a, Replay<Arc<Publication>>>;

    /// The latest offset of `topic`.
    fn latest<'a>(&'a self, topic: &'a Topic) -> BrokerFuture<'a, Offset>;

    /// Counts connection `conn` of `user` as present in `channel`.
    fn presence_add<'a>(
        &'a self,
        channel: &'a str,
        user: &'a str,
        conn: u64,
    ) -> BrokerFuture<'a, PresenceChange>;

    /// Connection `conn` of `user` left `channel`; the user leaves after the grace if it
    /// was their last (reported through [`BrokerEvents::presence`]).
    fn presence_remove<'a>(&'a self, channel: &'a str, user: &'a str, conn: u64) -> BrokerFuture<'a, ()>;

    /// The users present in `channel`, sorted.
    fn presence_list<'a>(&'a self, channel: &'a str) -> BrokerFuture<'a, Vec<String>>;

    /// This node receives live publications of `topic` from now on (the first local
    /// subscriber makes a cluster broker subscribe for the node); resolves once they flow,
    /// so that a history read after it misses nothing. Each call is paired with an
    /// [`unsubscribe`](Self::unsubscribe), unless it failed.
    fn subscribe<'a>(&'a self, topic: &'a Topic) -> BrokerFuture<'a, ()>;

    /// One local subscriber of `topic` fewer.
    fn unsubscribe(&self, topic: &Topic);

    /// Closes `user`'s sessions on the other nodes (this node's are the hub's).
    fn disconnect_elsewhere<'a>(&'a self, user: &'a str, code: u16) -> BrokerFuture<'a, ()>;

    /// Sends a request for a session held by node `node` to it and returns its answer;
    /// `Ok(None)` if no such node is listening.
    fn forward<'a>(&'a self, node: &'a str, request: Forwarded) -> BrokerFuture<'a, Option<ForwardedReply>>;

    /// `None` when healthy, else why not (for `/healthz`).
    fn health(&self) -> Option<String>;

    /// This node is going away (its sessions are closed): release what the other nodes
    /// would otherwise wait out, such as its users' presence.
    fn shutdown(&self) -> BrokerFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    /// Starts background work (expiry, presence grace, cluster subscriptions), reporting
    /// through `events`, until the returned handle is dropped.
    fn start(self: Arc<Self>, events: Arc<dyn BrokerEvents>) -> tokio::task::JoinHandle<()>;
}
