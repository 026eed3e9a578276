//! A channel's retained messages, bounded in count and age, and the rules of recovery:
//! what a subscriber that last saw offset `since` gets back.
//!
//! The rules, which every broker follows:
//!
//! - `since` from this epoch, nothing missed: nothing to replay.
//! - `since` from this epoch, all of what followed still held: replay it, in order.
//! - part of what followed is gone: a [`Gap`] with the reason (`trimmed`: the history
//!   was full; `expired`: older than the TTL) and the offset where delivery resumes,
//!   then whatever the history still holds. A subscriber that stores the gap's offset as
//!   its next `since` loses nothing more.
//! - `since` from another epoch (or a position this history never reached): a gap with
//!   reason `epoch`, then everything held.
//!
//! It is generic over what it stores, so that the memory broker keeps whole prepared
//! messages and the tests keep numbers.

use crate::offset::{Epoch, Offset};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How much a channel's history keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Most messages kept; older ones are trimmed. 0 keeps none.
    pub max_messages: usize,
    /// Messages older than this are dropped.
    pub ttl: Duration,
}

/// Why a subscriber could not get everything after its `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GapReason {
    /// The history was full and dropped the oldest messages.
    Trimmed,
    /// The messages were older than the history's TTL.
    Expired,
    /// The offset belongs to an earlier life of the history (a restart) or is not one
    /// this history ever gave out.
    Epoch,
    /// The subscriber fell behind and its backlog was dropped.
    Overflow,
}

impl GapReason {
    /// The wire name.
    ///
    /// ```
    /// assert_eq!(wsx_hub::GapReason::Expired.as_str(), "expired");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::Trimmed => "trimmed",
            GapReason::Expired => "expired",
            GapReason::Epoch => "epoch",
            GapReason::Overflow => "overflow",
        }
    }
}

/// Part of what followed a subscriber's `since` is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// Why.
    pub reason: GapReason,
    /// Where delivery resumes: the messages that follow are exactly those after it.
    pub resume: Offset,
}

/// What a subscriber gets back for its `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay<T> {
    /// Set if something was lost; it comes before `messages`.
    pub gap: Option<Gap>,
    /// What the history still holds after `since` (or after the gap), oldest first.
    pub messages: Vec<(Offset, T)>,
    /// The channel's latest offset when the replay was read.
    pub latest: Offset,
}

#[derive(Debug)]
struct Entry<T> {
    seq: u64,
    at: Instant,
    item: T,
}

/// One channel's history.
///
/// ```
/// use std::time::{Duration, Instant};
/// use wsx_hub::{Epoch, History, HistoryLimits, GapReason};
/// let limits = HistoryLimits { max_messages: 2, ttl: Duration::from_secs(60) };
/// let now = Instant::now();
/// let mut h = History::new(Epoch(1), limits);
/// let first = h.append("a", now);
/// h.append("b", now);
/// h.append("c", now); // "a" is trimmed
/// let replay = h.replay(Some(&first), now);
/// assert_eq!(replay.gap, None); // "a" was seen: nothing lost
/// assert_eq!(replay.messages.iter().map(|(_, m)| *m).collect::<Vec<_>>(), ["b", "c"]);
/// let from_start = h.replay(Some(&wsx_hub::Offset::start(Epoch(1))), now);
/// assert_eq!(from_start.gap.unwrap().reason, GapReason::Trimmed);
/// ```
#[derive(Debug)]
pub struct History<T> {
    epoch: Epoch,
    last_seq: u64,
    entries: VecDeque<Entry<T>>,
    limits: HistoryLimits,
    /// Why the newest dropped message was dropped (drops are always the oldest first, so
    /// it explains the end of any missing range).
    last_drop: Option<GapReason>,
}

impl<T: Clone> History<T> {
    /// An empty history.
    pub fn new(epoch: Epoch, limits: HistoryLimits) -> Self {
        History {
            epoch,
            last_seq: 0,
            entries: VecDeque::new(),
            limits,
            last_drop: None,
        }
    }

    /// The epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The offset of the latest message (or the start).
    pub fn latest(&self) -> Offset {
        Offset {
            epoch: self.epoch,
            seq: self.last_seq,
        }
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends a message; returns its offset. Trims and expires as needed.
    pub fn append(&mut self, item: T, now: Instant) -> Offset {
        self.last_seq += 1;
        self.entries.push_back(Entry {
            seq: self.last_seq,
            at: now,
            item,
        });
        while self.entries.len() > self.limits.max_messages {
            self.entries.pop_front();
            self.last_drop = Some(GapReason::Trimmed);
        }
        self.expire(now);
        self.latest()
    }

    /// Drops messages older than the TTL.
    pub fn expire(&mut self, now: Instant) {
        while let Some(front) = self.entries.front() {
            if now.saturating_duration_since(front.at) < self.limits.ttl {
                break;
            }
            self.entries.pop_front();
            self.last_drop = Some(GapReason::Expired);
        }
    }

    /// What a subscriber that last saw `since` gets back (`None`: it saw nothing and
    /// wants everything held, as `GET /api/history` without `since`).
    pub fn replay(&mut self, since: Option<&Offset>, now: Instant) -> Replay<T> {
        self.expire(now);
        let latest = self.latest();
        let first_held = self.entries.front().map_or(self.last_seq + 1, |e| e.seq);
        let (gap, after) = recovery(latest, first_held, self.last_drop, since);
        let start = self.entries.partition_point(|e| e.seq <= after);
        let messages = self
            .entries
            .range(start..)
            .map(|e| {
                (
                    Offset {
                        epoch: self.epoch,
                        seq: e.seq,
                    },
                    e.item.clone(),
                )
            })
            .collect();
        Replay {
            gap,
            messages,
            latest,
        }
    }
}

/// The recovery rules on their own, for a history held elsewhere (Redis): given the
/// latest offset, the first sequence number still held (`latest.seq + 1` when none is),
/// why the newest dropped message was dropped, and the subscriber's `since`, the gap to
/// declare (if any) and the sequence number after which messages are to be replayed.
///
/// ```
/// use wsx_hub::{Epoch, GapReason, Offset};
/// let latest = Offset { epoch: Epoch(1), seq: 10 };
/// let since = Offset { epoch: Epoch(1), seq: 2 };
/// let (gap, after) = wsx_hub::history::recovery(latest, 6, Some(GapReason::Trimmed), Some(&since));
/// assert_eq!((gap.unwrap().resume.seq, after), (5, 0));
/// assert_eq!(wsx_hub::history::recovery(latest, 3, None, Some(&since)), (None, 2));
/// ```
pub fn recovery(
    latest: Offset,
    first_held: u64,
    last_drop: Option<GapReason>,
    since: Option<&Offset>,
) -> (Option<Gap>, u64) {
    // Where delivery resumes if everything from `first_held` on is replayed.
    let before_first = Offset {
        epoch: latest.epoch,
        seq: first_held.saturating_sub(1),
    };
    match since {
        None => (None, 0),
        Some(s) if s.epoch != latest.epoch || s.seq > latest.seq => (
            Some(Gap {
                reason: GapReason::Epoch,
                resume: before_first,
            }),
            0,
        ),
        Some(s) if s.seq + 1 < first_held => (
            Some(Gap {
                reason: last_drop.unwrap_or(GapReason::Trimmed),
                resume: before_first,
            }),
            0,
        ),
        Some(s) => (None, s.seq),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(max: usize, ttl: u64) -> HistoryLimits {
        HistoryLimits {
            max_messages: max,
            ttl: Duration::from_secs(ttl),
        }
    }

    #[test]
    fn expired_messages_give_an_expired_gap_then_what_is_left() {
        let t0 = Instant::now();
        let mut h = History::new(Epoch(9), limits(100, 10));
        for i in 0..5 {
            h.append(i, t0 + Duration::from_secs(i));
        }
        // At t0+12 the first three (t0..t0+2) are older than 10 s.
        let r = h.replay(Some(&Offset::start(Epoch(9))), t0 + Duration::from_secs(12));
        assert_eq!(
            r.gap,
            Some(Gap {
                reason: GapReason::Expired,
                resume: Offset {
                    epoch: Epoch(9),
                    seq: 3
                }
            })
        );
        assert_eq!(r.messages.iter().map(|(_, m)| *m).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(r.latest.seq, 5);
    }

    #[test]
    fn another_epoch_gets_everything_held_after_an_epoch_gap() {
        let now = Instant::now();
        let mut h = History::new(Epoch(2), limits(3, 60));
        for i in 0..5 {
            h.append(i, now);
        }
        for since in [
            Offset {
                epoch: Epoch(1),
                seq: 4,
            },
            Offset {
                epoch: Epoch(2),
                seq: 99,
            },
        ] {
            let r = h.replay(Some(&since), now);
            assert_eq!(r.gap.unwrap().reason, GapReason::Epoch);
            assert_eq!(r.gap.unwrap().resume.seq, 2);
            assert_eq!(r.messages.len(), 3);
        }
    }

    #[test]
    fn an_empty_history_has_nothing_and_no_gap_for_its_own_start() {
        let now = Instant::now();
        let mut h: History<u8> = History::new(Epoch(3), limits(10, 60));
        let r = h.replay(Some(&h.latest()), now);
        assert_eq!((r.gap, r.messages.len()), (None, 0));
        // Everything expired: the start is gone, and the gap resumes at the latest.
        h.append(1, now);
        let r = h.replay(Some(&Offset::start(Epoch(3))), now + Duration::from_secs(61));
        assert_eq!(r.gap.unwrap().resume.seq, 1);
        assert!(r.messages.is_empty());
    }

    proptest! {
        /// The recovery contract as a property: for any history and any `since` of its
        /// epoch, a subscriber that had everything up to `since`, then takes the gap's
        /// resume point and the replay, ends with every message after `since` exactly
        /// once and in order, except a prefix that the gap declares lost.
        #[test]
        fn replay_is_exact_or_declares_its_gap(
            max in 0usize..20,
            ttl in 1u64..30,
            steps in proptest::collection::vec(0u64..4, 1..80),
            since_seq in 0u64..100,
            later in 0u64..40,
        ) {
            let t0 = Instant::now();
            let mut h = History::new(Epoch(5), limits(max, ttl));
            let mut clock = 0;
            for (i, dt) in steps.iter().enumerate() {
                clock += dt;
                h.append(i as u64 + 1, t0 + Duration::from_secs(clock));
            }
            let now = t0 + Duration::from_secs(clock + later);
            let last = steps.len() as u64;
            let since_seq = since_seq.min(last);
            let r = h.replay(Some(&Offset { epoch: Epoch(5), seq: since_seq }), now);
            let from = match r.gap {
                None => since_seq,
                Some(g) => {
                    prop_assert!(g.resume.seq >= since_seq, "a gap never goes back");
                    prop_assert_ne!(g.reason, GapReason::Epoch);
                    g.resume.seq
                }
            };
            let got: Vec<u64> = r.messages.iter().map(|(o, m)| {
                assert_eq!(o.seq, *m);
                *m
            }).collect();
            let expected: Vec<u64> = (from + 1..=last).collect();
            prop_assert_eq!(got, expected);
            prop_assert_eq!(r.latest.seq, last);
        }
    }
}
