//! Puts one topic's live publications back in offset order on this node.
//!
//! A node learns of a publication twice: its own publishes from the script's reply, and
//! everyone's (its own included) from pub/sub, on another connection. The two race, so a
//! node can hear of message 6 (published elsewhere) before the reply for its own 5. Each
//! session drops anything at or before the last offset it delivered, so handing it 6
//! then 5 would lose 5. The sequencer hands publications on strictly in order, each once:
//! duplicates (the echo of a node's own publish) are dropped, and one that arrives early
//! waits for the ones before it. If they do not come within the reorder window (pub/sub
//! lost them: Redis is at-most-once), the topic is *resynced* — every local subscriber
//! catches up from history, and is told of a gap if history no longer has them — before
//! the waiting ones are handed on.

use crate::offset::Offset;
use crate::topic::Publication;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the node does, in this order.
#[derive(Debug)]
pub(crate) enum Step {
    /// Local subscribers catch up from history.
    Resync,
    /// Hand this publication to local subscribers.
    Deliver(Arc<Publication>),
}

/// One topic's place in its live sequence on this node.
#[derive(Debug, Default)]
pub(crate) struct Sequencer {
    /// The last offset handed on; `None` until the node knows where the topic stands
    /// (while its subscription is being set up), when everything waits.
    last: Option<Offset>,
    /// Early arrivals, by sequence number.
    waiting: BTreeMap<u64, Arc<Publication>>,
    /// Since when the first of `waiting` has been waiting for a predecessor.
    hole_since: Option<Instant>,
}

impl Sequencer {
    /// The topic stands at `latest` (read after the node's subscription was confirmed):
    /// what was published up to it is in history, anything after arrives live.
    pub(crate) fn start(&mut self, latest: Offset, now: Instant, out: &mut Vec<Step>) {
        self.last = Some(latest);
        self.waiting
            .retain(|_, p| p.offset.epoch == latest.epoch && p.offset.seq > latest.seq);
        self.hole_since = None;
        self.flush(now, out);
    }

    /// Whether [`start`](Self::start) has been called since the last reset.
    pub(crate) fn started(&self) -> bool {
        self.last.is_some()
    }

    /// Whether a publication waits for one before it (after the start).
    pub(crate) fn has_hole(&self) -> bool {
        self.last.is_some() && !self.waiting.is_empty()
    }

    /// Whether a publication at `offset` was handed on already (the echo of this node's
    /// own publish, most often): it need not even be decoded.
    pub(crate) fn seen(&self, offset: Offset) -> bool {
        self.last
            .is_some_and(|l| l.epoch == offset.epoch && offset.seq <= l.seq)
    }

    /// The subscription was lost: where the topic stands is unknown until the next start.
    pub(crate) fn reset(&mut self) {
        self.last = None;
        self.waiting.clear();
        self.hole_since = None;
    }

    /// A publication arrived (from a publish reply or from pub/sub).
    pub(crate) fn offer(&mut self, p: Arc<Publication>, now: Instant, out: &mut Vec<Step>) {
        let Some(last) = self.last else {
            self.waiting.insert(p.offset.seq, p);
            return;
        };
        if p.offset.epoch != last.epoch {
            // A new life of the topic's history (Redis lost it). Its first message
            // follows on from anything; a later one means some of the new life went by.
            if p.offset.seq != 1 {
                out.push(Step::Resync);
            }
            self.waiting.clear();
            self.hole_since = None;
            self.last = Some(p.offset);
            out.push(Step::Deliver(p));
            return;
        }
        if p.offset.seq <= last.seq {
            return; // the other copy was here first
        }
        self.waiting.insert(p.offset.seq, p);
        self.flush(now, out);
    }

    /// Hands on what follows `last` without a hole; notes when a hole starts.
    fn flush(&mut self, now: Instant, out: &mut Vec<Step>) {
        let Some(last) = &mut self.last else { return };
        while let Some(entry) = self.waiting.first_entry() {
            if *entry.key() != last.seq + 1 {
                break;
            }
            let p = entry.remove();
            *last = p.offset;
            out.push(Step::Deliver(p));
        }
        self.hole_since = if self.waiting.is_empty() {
            None
        } else {
            self.hole_since.or(Some(now))
        };
    }

    /// A hole older than `window` is given up on: resync, then hand on what waited.
    pub(crate) fn expire_hole(&mut self, now: Instant, window: Duration, out: &mut Vec<Step>) {
        let Some(since) = self.hole_since else { return };
        if now.saturating_duration_since(since) < window {
            return;
        }
        out.push(Step::Resync);
        self.hole_since = None;
        for (_, p) in std::mem::take(&mut self.waiting) {
            self.last = Some(p.offset);
            out.push(Step::Deliver(p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offset::Epoch;
    use crate::topic::Topic;
    use proptest::prelude::*;

    fn publication(epoch: u64, seq: u64) -> Arc<Publication> {
        let data = serde_json::value::RawValue::from_string(seq.to_string()).unwrap();
        Arc::new(Publication::new(
            Topic::channel("t"),
            Offset {
                epoch: Epoch(epoch),
                seq,
            },
            None,
            data,
        ))
    }

    fn delivered(out: &[Step]) -> Vec<u64> {
        out.iter()
            .filter_map(|s| match s {
                Step::Deliver(p) => Some(p.offset.seq),
                Step::Resync => None,
            })
            .collect()
    }

    #[test]
    fn an_early_arrival_waits_for_its_predecessor() {
        let now = Instant::now();
        let mut s = Sequencer::default();
        let mut out = Vec::new();
        s.start(
            Offset {
                epoch: Epoch(1),
                seq: 4,
            },
            now,
            &mut out,
        );
        s.offer(publication(1, 6), now, &mut out);
        assert!(out.is_empty());
        s.offer(publication(1, 5), now, &mut out);
        s.offer(publication(1, 5), now, &mut out); // the echo
        assert_eq!(delivered(&out), [5, 6]);
        assert!(!out.iter().any(|s| matches!(s, Step::Resync)));
    }

    #[test]
    fn a_hole_that_stays_resyncs_before_what_waited() {
        let now = Instant::now();
        let mut s = Sequencer::default();
        let mut out = Vec::new();
        s.start(
            Offset {
                epoch: Epoch(1),
                seq: 0,
            },
            now,
            &mut out,
        );
        s.offer(publication(1, 2), now, &mut out);
        s.expire_hole(
            now + Duration::from_millis(10),
            Duration::from_millis(100),
            &mut out,
        );
        assert!(out.is_empty());
        s.expire_hole(
            now + Duration::from_millis(100),
            Duration::from_millis(100),
            &mut out,
        );
        assert!(matches!(out[0], Step::Resync));
        assert_eq!(delivered(&out), [2]);
        // 1 turning up late is a duplicate now: the resync replayed it.
        out.clear();
        s.offer(publication(1, 1), now, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn arrivals_before_the_start_wait_and_those_in_history_are_dropped() {
        let now = Instant::now();
        let mut s = Sequencer::default();
        let mut out = Vec::new();
        s.offer(publication(1, 3), now, &mut out);
        s.offer(publication(1, 4), now, &mut out);
        assert!(out.is_empty() && !s.started());
        s.start(
            Offset {
                epoch: Epoch(1),
                seq: 3,
            },
            now,
            &mut out,
        );
        assert_eq!(delivered(&out), [4]);
    }

    #[test]
    fn a_new_epoch_resyncs_unless_it_starts_at_one() {
        let now = Instant::now();
        let mut s = Sequencer::default();
        let mut out = Vec::new();
        s.start(
            Offset {
                epoch: Epoch(1),
                seq: 9,
            },
            now,
            &mut out,
        );
        s.offer(publication(2, 1), now, &mut out);
        assert_eq!(delivered(&out), [1]);
        assert!(!out.iter().any(|s| matches!(s, Step::Resync)));
        out.clear();
        s.offer(publication(3, 5), now, &mut out);
        assert!(matches!(out[0], Step::Resync));
    }

    proptest! {
        /// Whatever the interleaving of two copies of each message, each is handed on
        /// once and in order, with no resync.
        #[test]
        fn two_racing_copies_come_out_once_in_order(order in Just((1..=30u64).flat_map(|n| [n, n]).collect::<Vec<_>>()).prop_shuffle()) {
            let now = Instant::now();
            let mut s = Sequencer::default();
            let mut out = Vec::new();
            s.start(Offset { epoch: Epoch(7), seq: 0 }, now, &mut out);
            for seq in order {
                s.offer(publication(7, seq), now, &mut out);
            }
            prop_assert_eq!(delivered(&out), (1..=30).collect::<Vec<_>>());
            prop_assert!(!out.iter().any(|s| matches!(s, Step::Resync)));
        }
    }
}
