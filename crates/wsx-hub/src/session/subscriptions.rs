//! A session's subscriptions: by topic for commands, by slot for deliveries.
//!
//! Every delivery names the slot its subscription holds (the router keeps it next to the
//! session's mailbox), so finding where a subscription stands costs an index, not a hash
//! of the channel name, on the path every message takes. A slot's generation changes
//! when it is reused, so a delivery for an old subscription still in the mailbox after
//! an unsubscribe is recognised and dropped.
//!
//! Finding a subscription by topic (for a command) scans the slots: a connection holds at
//! most `max_subscriptions` of them, usually a few, and a map beside the slots would cost
//! every idle connection more than the scan costs a command.

use crate::offset::Offset;
use crate::topic::Topic;

/// Where a subscription lives in its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    index: u32,
    generation: u32,
}

/// Where one subscription stands.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) topic: Topic,
    /// The last offset delivered (or declared lost by a gap): anything at or before it
    /// that still arrives is a duplicate.
    pub(crate) last: Offset,
}

#[derive(Debug, Default)]
struct Entry {
    generation: u32,
    sub: Option<Subscription>,
}

#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    slots: Vec<Entry>,
}

impl Subscriptions {
    /// Adds a subscription to `topic` (which must not be subscribed) standing at `last`.
    pub(crate) fn insert(&mut self, topic: Topic, last: Offset) -> Slot {
        debug_assert!(self.index_of(&topic).is_none());
        let index = match self.slots.iter().position(|e| e.sub.is_none()) {
            Some(i) => i,
            None => {
                self.slots.push(Entry::default());
                self.slots.len() - 1
            }
        };
        let entry = &mut self.slots[index];
        entry.generation = entry.generation.wrapping_add(1);
        entry.sub = Some(Subscription { topic, last });
        Slot {
            index: index as u32,
            generation: entry.generation,
        }
    }

    fn index_of(&self, topic: &Topic) -> Option<usize> {
        self.slots
            .iter()
            .position(|e| e.sub.as_ref().is_some_and(|s| &s.topic == topic))
    }

    /// How many subscriptions there are.
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().filter(|e| e.sub.is_some()).count()
    }

    pub(crate) fn get_mut(&mut self, topic: &Topic) -> Option<&mut Subscription> {
        let i = self.index_of(topic)?;
        self.slots[i].sub.as_mut()
    }

    /// The subscription a delivery was made for, if it is still the one in its slot.
    pub(crate) fn by_slot(&mut self, slot: Slot) -> Option<&mut Subscription> {
        let entry = self.slots.get_mut(slot.index as usize)?;
        if entry.generation != slot.generation {
            return None;
        }
        entry.sub.as_mut()
    }

    pub(crate) fn remove(&mut self, topic: &Topic) -> Option<Subscription> {
        let i = self.index_of(topic)?;
        self.slots[i].sub.take()
    }

    /// Every subscription's topic and position.
    pub(crate) fn positions(&self) -> Vec<(Topic, Offset)> {
        self.slots
            .iter()
            .filter_map(|e| e.sub.as_ref())
            .map(|s| (s.topic.clone(), s.last))
            .collect()
    }

    /// Removes everything; the topics that were subscribed.
    pub(crate) fn drain(&mut self) -> Vec<Topic> {
        self.slots
            .drain(..)
            .filter_map(|e| e.sub.map(|s| s.topic))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offset::Epoch;

    #[test]
    fn a_reused_slot_does_not_take_deliveries_for_its_old_subscription() {
        let mut subs = Subscriptions::default();
        let at = Offset::start(Epoch(1));
        let a = subs.insert(Topic::channel("a"), at);
        assert!(subs.by_slot(a).is_some());
        subs.remove(&Topic::channel("a"));
        let b = subs.insert(Topic::channel("b"), at);
        assert_eq!(a.index, b.index);
        assert!(
            subs.by_slot(a).is_none(),
            "a delivery for \"a\" after it was unsubscribed"
        );
        assert_eq!(subs.by_slot(b).unwrap().topic, Topic::channel("b"));
        assert_eq!(subs.positions().len(), 1);
        assert_eq!(subs.len(), 1);
        assert_eq!(subs.drain(), [Topic::channel("b")]);
    }
}
