//! Who on this node receives what: topic → the mailboxes of its subscribed sessions.
//! The hub delivers only to those (a `send` reaches its recipients' inboxes and nobody
//! else's); it never broadcasts for clients to filter.

use crate::mailbox::{Delivery, Mailbox};
use crate::session::subscriptions::Slot;
use crate::topic::Publication;
use crate::topic::Topic;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

const SHARDS: usize = 32;

/// Session id → its mailbox and the slot its subscription to the topic holds.
type Subscribers = HashMap<u64, (Arc<Mailbox>, Slot)>;

/// Topic → subscribers, sharded so that deliveries to different topics rarely contend.
#[derive(Debug)]
pub struct Router {
    shards: Vec<Mutex<HashMap<Topic, Subscribers>>>,
    subscriptions: AtomicUsize,
}

impl Default for Router {
    fn default() -> Self {
        Router {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            subscriptions: AtomicUsize::new(0),
        }
    }
}

impl Router {
    fn shard(&self, topic: &Topic) -> MutexGuard<'_, HashMap<Topic, Subscribers>> {
        let mut h = DefaultHasher::new();
        topic.hash(&mut h);
        self.shards[h.finish() as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Session `session` receives `topic` from now on, for its subscription in `slot`;
    /// false if it already did.
    pub fn add(&self, topic: &Topic, session: u64, mailbox: &Arc<Mailbox>, slot: Slot) -> bool {
        let added = self
            .shard(topic)
            .entry(topic.clone())
            .or_default()
            .insert(session, (mailbox.clone(), slot))
            .is_none();
        if added {
            self.subscriptions.fetch_add(1, Ordering::Relaxed);
        }
        added
    }

    /// Session `session` no longer receives `topic`; false if it did not.
    pub fn remove(&self, topic: &Topic, session: u64) -> bool {
        let mut shard = self.shard(topic);
        let Some(subs) = shard.get_mut(topic) else {
            return false;
        };
        let removed = subs.remove(&session).is_some();
        if subs.is_empty() {
            shard.remove(topic);
        }
        if removed {
            self.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Hands an event that is not a publication (presence) to every subscriber of
    /// `topic`; returns how many took it and how many overflowed.
    pub fn deliver(&self, topic: &Topic, delivery: &Delivery) -> (usize, usize) {
        let shard = self.shard(topic);
        let Some(subs) = shard.get(topic) else {
            return (0, 0);
        };
        let mut taken = 0;
        for (mailbox, _) in subs.values() {
            taken += usize::from(mailbox.push(delivery.clone()));
        }
        (taken, subs.len() - taken)
    }

    /// Hands a publication to every subscriber of its topic, each with its slot.
    pub fn deliver_publication(&self, publication: &Arc<Publication>) -> (usize, usize) {
        let shard = self.shard(&publication.topic);
        let Some(subs) = shard.get(&publication.topic) else {
            return (0, 0);
        };
        let mut taken = 0;
        for (mailbox, slot) in subs.values() {
            taken += usize::from(mailbox.push(Delivery::Publication(*slot, publication.clone())));
        }
        (taken, subs.len() - taken)
    }

    /// Every subscriber of `topic` catches up from history (see [`Delivery::Resync`]).
    pub fn resync(&self, topic: &Topic) {
        let shard = self.shard(topic);
        if let Some(subs) = shard.get(topic) {
            for (mailbox, slot) in subs.values() {
                mailbox.push(Delivery::Resync(*slot));
            }
        }
    }

    /// Subscriptions on this node, inboxes included.
    pub fn subscriptions(&self) -> usize {
        self.subscriptions.load(Ordering::Relaxed)
    }
}
