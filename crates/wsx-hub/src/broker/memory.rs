//! The in-memory broker: one node, history in RAM, nothing to run beside the hub.
//!
//! Every topic's history shares the broker's epoch, drawn at start: after a restart,
//! every offset clients hold is from another epoch and is answered with a `gap`.

use super::roster::Roster;
use super::{Broker, BrokerEvents, BrokerFuture, Forwarded, ForwardedReply, PresenceChange, Published};
use crate::history::{History, HistoryLimits, Replay};
use crate::offset::{Epoch, Offset};
use crate::topic::{Publication, Topic};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Independent locks, so that publishes to different topics rarely wait on each other.
const SHARDS: usize = 16;

/// How often expired history, idempotency keys and presence graces are swept.
const SWEEP: Duration = Duration::from_secs(1);

type Histories = HashMap<Topic, History<Arc<Publication>>>;

/// (topic, key) → when the key is forgotten, and the first publication.
type IdempotencyKeys = HashMap<(Topic, String), (Instant, Arc<Publication>)>;

/// History, idempotency keys and presence for one node, in memory.
///
/// ```
/// use std::time::Duration;
/// let broker = wsx_hub::MemoryBroker::new(wsx_hub::HistoryLimits { max_messages: 100, ttl: Duration::from_secs(60) }, Duration::from_secs(300), Duration::from_secs(5));
/// ```
pub struct MemoryBroker {
    epoch: Epoch,
    limits: HistoryLimits,
    shards: Vec<Mutex<Histories>>,
    idempotency: Mutex<IdempotencyKeys>,
    idempotency_window: Duration,
    presence: Mutex<Roster>,
    grace: Duration,
    events: OnceLock<Arc<dyn BrokerEvents>>,
}

impl std::fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBroker")
            .field("epoch", &self.epoch)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemoryBroker {
    /// A broker keeping `limits` of history per topic, idempotency keys for
    /// `idempotency_window`, and presence for `grace` after a user's last connection.
    pub fn new(limits: HistoryLimits, idempotency_window: Duration, grace: Duration) -> Self {
        MemoryBroker {
            epoch: Epoch::random(),
            limits,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            idempotency: Mutex::new(HashMap::new()),
            idempotency_window,
            presence: Mutex::new(Roster::default()),
            grace,
            events: OnceLock::new(),
        }
    }

    fn shard(&self, topic: &Topic) -> MutexGuard<'_, Histories> {
        let mut h = DefaultHasher::new();
        topic.hash(&mut h);
        lock(&self.shards[h.finish() as usize % SHARDS])
    }

    fn publish_now(
        &self,
        topic: &Topic,
        from: Option<Arc<str>>,
        data: Box<RawValue>,
        deliver: &(dyn Fn(&Arc<Publication>) + Send + Sync),
    ) -> Arc<Publication> {
        let now = Instant::now();
        let mut shard = self.shard(topic);
        let history = shard
            .entry(topic.clone())
            .or_insert_with(|| History::new(self.epoch, self.limits));
        let offset = Offset {
            epoch: self.epoch,
            seq: history.latest().seq + 1,
        };
        let publication = Arc::new(Publication::new(topic.clone(), offset, from, data));
        let appended = history.append(publication.clone(), now);
        debug_assert_eq!(appended, offset);
        // Still under the topic's lock: deliveries leave in offset order.
        deliver(&publication);
        publication
    }

    /// Drops expired history (and topics left empty: their next offset restarts from
    /// the start of the epoch, which a subscriber's later `since` recognises), expired
    /// idempotency keys, and users whose grace ran out.
    fn sweep(&self, now: Instant) {
        for shard in &self.shards {
            lock(shard).retain(|_, h| {
                h.expire(now);
                !h.is_empty()
            });
        }
        lock(&self.idempotency).retain(|_, (expires, _)| *expires > now);
        let left = lock(&self.presence).expire(now);
        if let Some(events) = self.events.get() {
            for (channel, user) in left {
                events.presence(&channel, &user, false);
            }
        }
    }
}

impl Broker for MemoryBroker {
    fn publish<'a>(
        &'a self,
        topic: &'a Topic,
        from: Option<Arc<str>>,
        data: Box<RawValue>,
        idempotency_key: Option<&'a str>,
        deliver: &'a (dyn Fn(&Arc<Publication>) + Send + Sync),
    ) -> BrokerFuture<'a, Published> {
        Box::pin(async move {
            let Some(key) = idempotency_key else {
                let publication = self.publish_now(topic, from, data, deliver);
                return Ok(Published {
                    publication,
                    duplicate: false,
                });
            };
            // Held across the publish, so that two concurrent retries publish once.
            let mut keys = lock(&self.idempotency);
            let now = Instant::now();
            let entry = (topic.clone(), key.to_owned());
            if let Some((expires, first)) = keys.get(&entry)
                && *expires > now
            {
                return Ok(Published {
                    publication: first.clone(),
                    duplicate: true,
                });
            }
            let publication = self.publish_now(topic, from, data, deliver);
            keys.insert(entry, (now + self.idempotency_window, publication.clone()));
            Ok(Published {
                publication,
                duplicate: false,
            })
        })
    }

    fn replay<'a>(
        &'a self,
        topic: &'a Topic,
        since: Option<Offset>,
    ) -> BrokerFuture<'a, Replay<Arc<Publication>>> {
        Box::pin(async move {
            let now = Instant::now();
            let mut shard = self.shard(topic);
            Ok(match shard.get_mut(topic) {
                Some(h) => h.replay(since.as_ref(), now),
                // Never published, or everything expired and swept: an empty history.
                None => History::new(self.epoch, self.limits).replay(since.as_ref(), now),
            })
        })
    }

    fn latest<'a>(&'a self, topic: &'a Topic) -> BrokerFuture<'a, Offset> {
        Box::pin(async move {
            Ok(self
                .shard(topic)
                .get(topic)
                .map_or(Offset::start(self.epoch), |h| h.latest()))
        })
    }

    fn presence_add<'a>(
        &'a self,
        channel: &'a str,
        user: &'a str,
        conn: u64,
    ) -> BrokerFuture<'a, PresenceChange> {
        Box::pin(async move {
            let change = if lock(&self.presence).add(channel, user, conn) {
                PresenceChange::Joined
            } else {
                PresenceChange::Unchanged
            };
            if change == PresenceChange::Joined
                && let Some(events) = self.events.get()
            {
                events.presence(channel, user, true);
            }
            Ok(change)
        })
    }

    fn presence_remove<'a>(&'a self, channel: &'a str, user: &'a str, conn: u64) -> BrokerFuture<'a, ()> {
        Box::pin(async move {
            lock(&self.presence).remove(channel, user, conn, self.grace);
            Ok(())
        })
    }

    fn presence_list<'a>(&'a self, channel: &'a str) -> BrokerFuture<'a, Vec<String>> {
        Box::pin(async move { Ok(lock(&self.presence).users(channel)) })
    }

    fn subscribe<'a>(&'a self, _topic: &'a Topic) -> BrokerFuture<'a, ()> {
        // Every publication passes through this node: it is live at once.
        Box::pin(async { Ok(()) })
    }

    fn unsubscribe(&self, _topic: &Topic) {}

    fn disconnect_elsewhere<'a>(&'a self, _user: &'a str, _code: u16) -> BrokerFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    fn forward<'a>(
        &'a self,
        _node: &'a str,
        _request: Forwarded,
    ) -> BrokerFuture<'a, Option<ForwardedReply>> {
        // One node: there is nobody to forward to.
        Box::pin(async { Ok(None) })
    }

    fn health(&self) -> Option<String> {
        None
    }

    fn start(self: Arc<Self>, events: Arc<dyn BrokerEvents>) -> tokio::task::JoinHandle<()> {
        let _ = self.events.set(events);
        let this = Arc::downgrade(&self);
        drop(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(broker) = this.upgrade() else { return };
                broker.sweep(Instant::now());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker() -> MemoryBroker {
        MemoryBroker::new(
            HistoryLimits {
                max_messages: 3,
                ttl: Duration::from_secs(60),
            },
            Duration::from_secs(300),
            Duration::from_millis(0),
        )
    }

    fn data(n: u32) -> Box<RawValue> {
        RawValue::from_string(n.to_string()).unwrap()
    }

    #[tokio::test]
    async fn offsets_count_per_topic_and_replay_follows_history() {
        let b = broker();
        let room = Topic::channel("room");
        let nothing = |_: &Arc<Publication>| {};
        for n in 0..5 {
            let p = b.publish(&room, None, data(n), None, &nothing).await.unwrap();
            assert_eq!(p.publication.offset.seq, u64::from(n) + 1);
        }
        let other = b
            .publish(&Topic::inbox("bob"), None, data(9), None, &nothing)
            .await
            .unwrap();
        assert_eq!(other.publication.offset.seq, 1);
        let r = b.replay(&room, Some(Offset::start(b.epoch))).await.unwrap();
        assert_eq!(r.gap.unwrap().resume.seq, 2);
        assert_eq!(r.messages.len(), 3);
        assert_eq!(b.latest(&room).await.unwrap().seq, 5);
    }

    #[tokio::test]
    async fn an_idempotency_key_publishes_once() {
        let b = broker();
        let room = Topic::channel("room");
        let delivered = std::sync::atomic::AtomicUsize::new(0);
        let count = |_: &Arc<Publication>| {
            delivered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        let first = b.publish(&room, None, data(1), Some("k"), &count).await.unwrap();
        let again = b.publish(&room, None, data(2), Some("k"), &count).await.unwrap();
        assert!(!first.duplicate && again.duplicate);
        assert_eq!(first.publication.offset, again.publication.offset);
        assert_eq!(delivered.load(std::sync::atomic::Ordering::Relaxed), 1);
        let other = b.publish(&room, None, data(3), Some("k2"), &count).await.unwrap();
        assert_eq!(other.publication.offset.seq, 2);
    }

    #[tokio::test]
    async fn presence_is_per_user_with_a_grace() {
        let b = broker();
        assert_eq!(
            b.presence_add("c", "ann", 1).await.unwrap(),
            PresenceChange::Joined
        );
        assert_eq!(
            b.presence_add("c", "ann", 2).await.unwrap(),
            PresenceChange::Unchanged
        );
        b.presence_remove("c", "ann", 1).await.unwrap();
        b.presence_remove("c", "ann", 2).await.unwrap();
        // Still listed during the grace; gone after the sweep.
        assert_eq!(b.presence_list("c").await.unwrap(), ["ann"]);
        b.sweep(Instant::now() + Duration::from_millis(1));
        assert!(b.presence_list("c").await.unwrap().is_empty());
    }
}
