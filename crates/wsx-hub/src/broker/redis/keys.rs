//! The key layout in Redis, and how a publication is written into a Redis string.
//!
//! Every key of one topic carries the same hash tag (`{c:NAME}` for a channel, `{i:USER}`
//! for an inbox), so that a Redis Cluster would keep them on one shard and a script may
//! touch them together:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P{c:room}:m` | hash | `epoch`, `seq` (the latest), `drop` (why the newest dropped message went) |
//! | `P{c:room}:h` | stream | the history: entry id `SEQ-MS` (sequence, then publish time), field `p` |
//! | `P{c:room}:k:KEY` | string | an idempotency key: `EPOCH SEQ` of the first publish |
//! | `P{c:room}` | pub/sub channel | live publications (`m…`) and presence events (`+USER`, `-USER`) |
//! | `P{p:room}:u` | sorted set | presence: `USER\0NODE`, score 0 (a user's entries by prefix) |
//! | `P{p:room}:n` | sorted set | the same entries as `NODE\0USER` (a node's entries by prefix) |
//! | `Pnodes` | hash | node → until when it is alive (ms), renewed by its heartbeat |
//! | `Pnode:ID:p` | set | channels where node ID has presence entries |
//! | `Pnode:ID` | pub/sub channel | requests and replies for node ID (forwarded requests) |
//! | `Pcluster` | pub/sub channel | messages for every node (disconnect a user) |
//!
//! `P` is the key prefix (`redis_key_prefix`, default `wsx:`).

use crate::topic::Topic;
use std::sync::Arc;

/// Names keys under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// The pub/sub channel of a topic; the other keys of the topic extend it.
    pub(crate) fn topic(&self, topic: &Topic) -> String {
        match topic {
            Topic::Channel(c) => format!("{}{{c:{c}}}", self.prefix),
            Topic::Inbox(u) => format!("{}{{i:{u}}}", self.prefix),
        }
    }

    pub(crate) fn meta(&self, topic: &Topic) -> String {
        self.topic(topic) + ":m"
    }

    pub(crate) fn stream(&self, topic: &Topic) -> String {
        self.topic(topic) + ":h"
    }

    pub(crate) fn idempotency(&self, topic: &Topic, key: &str) -> String {
        self.topic(topic) + ":k:" + key
    }

    /// The presence sorted sets of a channel: by user, and by node.
    pub(crate) fn presence(&self, channel: &str) -> (String, String) {
        let base = format!("{}{{p:{channel}}}", self.prefix);
        (base.clone() + ":u", base + ":n")
    }

    /// The hash of live nodes and their heartbeats.
    pub(crate) fn nodes(&self) -> String {
        format!("{}nodes", self.prefix)
    }

    /// The channels where `node` has presence entries.
    pub(crate) fn node_channels(&self, node: &str) -> String {
        format!("{}node:{node}:p", self.prefix)
    }

    pub(crate) fn node(&self, node: &str) -> String {
        format!("{}node:{node}", self.prefix)
    }

    pub(crate) fn cluster(&self) -> String {
        format!("{}cluster", self.prefix)
    }

    /// The topic a pub/sub channel name belongs to, if it is one of ours.
    pub(crate) fn topic_of(&self, channel: &str) -> Option<Topic> {
        let tag = channel
            .strip_prefix(&self.prefix)?
            .strip_prefix('{')?
            .strip_suffix('}')?;
        if let Some(c) = tag.strip_prefix("c:") {
            Some(Topic::Channel(c.into()))
        } else {
            tag.strip_prefix("i:").map(|u| Topic::Inbox(u.into()))
        }
    }
}

/// A publication's sender and data as one string, as history and pub/sub carry it:
/// `LEN:FROM` then the JSON data, with `LEN` empty when there is no sender.
pub(crate) fn encode_payload(from: Option<&str>, data: &str) -> String {
    match from {
        Some(f) => format!("{}:{f}{data}", f.len()),
        None => format!(":{data}"),
    }
}

/// The inverse of [`encode_payload`]: `None` if the bytes are not one.
pub(crate) fn decode_payload(payload: &[u8]) -> Option<(Option<Arc<str>>, &str)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (len, rest) = text.split_once(':')?;
    if len.is_empty() {
        return Some((None, rest));
    }
    if len.len() > 6 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: usize = len.parse().ok()?;
    let from = rest.get(..len)?;
    Some((Some(from.into()), &rest[len..]))
}

/// What arrives on a topic's pub/sub channel.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Live<'a> {
    /// A publication: epoch, sequence number, sender, data.
    Message {
        epoch: u64,
        seq: u64,
        from: Option<Arc<str>>,
        data: &'a str,
    },
    /// A user joined (`true`) or left the channel.
    Presence { user: &'a str, joined: bool },
}

/// Parses a message of a topic's pub/sub channel: `mEPOCH SEQ PAYLOAD`, `+USER`, `-USER`.
pub(crate) fn parse_live(bytes: &[u8]) -> Option<Live<'_>> {
    match bytes.first()? {
        b'm' => {
            let text = std::str::from_utf8(&bytes[1..]).ok()?;
            let (epoch, rest) = text.split_once(' ')?;
            let (seq, _) = rest.split_once(' ')?;
            let payload_at = 1 + epoch.len() + 1 + seq.len() + 1;
            let (from, data) = decode_payload(&bytes[payload_at..])?;
            Some(Live::Message {
                epoch: epoch.parse().ok()?,
                seq: seq.parse().ok()?,
                from,
                data,
            })
        }
        b'+' | b'-' => Some(Live::Presence {
            user: std::str::from_utf8(&bytes[1..]).ok()?,
            joined: bytes[0] == b'+',
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn topics_round_trip_through_their_channel_names() {
        let keys = Keys::new("wsx:");
        for topic in [
            Topic::channel("room"),
            Topic::channel("a{b}c:d"),
            Topic::inbox("ann"),
            Topic::channel(""),
        ] {
            assert_eq!(keys.topic_of(&keys.topic(&topic)), Some(topic));
        }
        assert_eq!(keys.topic_of("wsx:node:abc"), None);
        assert_eq!(keys.topic_of("other:{c:room}"), None);
        assert_eq!(keys.meta(&Topic::channel("r")), "wsx:{c:r}:m");
    }

    #[test]
    fn live_messages_parse_and_junk_does_not() {
        let payload = encode_payload(Some("bob"), r#"{"x":1}"#);
        let wire = format!("m42 7 {payload}");
        assert_eq!(
            parse_live(wire.as_bytes()),
            Some(Live::Message {
                epoch: 42,
                seq: 7,
                from: Some("bob".into()),
                data: r#"{"x":1}"#
            })
        );
        assert_eq!(
            parse_live(b"-ann"),
            Some(Live::Presence {
                user: "ann",
                joined: false
            })
        );
        for junk in [
            &b""[..],
            b"m",
            b"m1",
            b"m1 2",
            b"mx 2 :1",
            b"m1 2 9:ab",
            b"?",
            b"m1 2 \xff",
        ] {
            assert_eq!(parse_live(junk), None, "{junk:?}");
        }
    }

    proptest! {
        #[test]
        fn payloads_round_trip(from in proptest::option::of(".{0,20}"), data in ".{0,40}") {
            let encoded = encode_payload(from.as_deref(), &data);
            let (f, d) = decode_payload(encoded.as_bytes()).unwrap();
            prop_assert_eq!(f.as_deref(), from.as_deref());
            prop_assert_eq!(d, data.as_str());
        }

        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_live(&bytes);
            let _ = decode_payload(&bytes);
        }
    }
}
