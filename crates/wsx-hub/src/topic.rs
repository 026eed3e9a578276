//! What is published to (a channel, or a user's inbox) and what a publication carries.

use crate::offset::Offset;
use crate::protocol;
use serde_json::value::RawValue;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;
use wsx::{Message, PreparedMessage};

/// Where messages go: a channel that clients subscribe to by name, or a user's personal
/// inbox, which every connection of that user receives without asking.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// A channel.
    Channel(Arc<str>),
    /// The inbox of this user.
    Inbox(Arc<str>),
}

impl Topic {
    /// A channel topic.
    ///
    /// ```
    /// assert_eq!(wsx_hub::Topic::channel("room").to_string(), "room");
    /// ```
    pub fn channel(name: &str) -> Topic {
        Topic::Channel(name.into())
    }

    /// A user's inbox.
    ///
    /// ```
    /// assert_eq!(wsx_hub::Topic::inbox("bob").to_string(), "inbox of bob");
    /// ```
    pub fn inbox(user: &str) -> Topic {
        Topic::Inbox(user.into())
    }

    /// The channel name, `None` for an inbox (as in a `gap` event).
    pub fn channel_name(&self) -> Option<&str> {
        match self {
            Topic::Channel(c) => Some(c),
            Topic::Inbox(_) => None,
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Channel(c) => f.write_str(c),
            Topic::Inbox(u) => write!(f, "inbox of {u}"),
        }
    }
}

/// A published message: its place in history and the event every recipient gets,
/// serialized and framed once.
#[derive(Debug)]
pub struct Publication {
    /// Where it was published.
    pub topic: Topic,
    /// Its offset.
    pub offset: Offset,
    /// The publishing user (`None` through the HTTP API).
    pub from: Option<Arc<str>>,
    /// The payload, verbatim.
    pub data: Box<RawValue>,
    /// The `message` or `direct` event, framed for every WebSocket recipient; its text
    /// is what SSE and long-poll carry.
    pub event: PreparedMessage,
    /// When it was published, for the delivery latency metric.
    pub published_at: Instant,
}

impl Publication {
    /// Builds the event for a message published at `offset`.
    ///
    /// ```
    /// use serde_json::value::RawValue;
    /// use wsx_hub::{Epoch, Offset, Publication, Topic};
    /// let data = RawValue::from_string("1".into()).unwrap();
    /// let p = Publication::new(Topic::channel("c"), Offset { epoch: Epoch(1), seq: 1 }, None, data);
    /// assert_eq!(p.json(), r#"{"type":"message","channel":"c","data":1,"offset":"1-1"}"#);
    /// ```
    pub fn new(topic: Topic, offset: Offset, from: Option<Arc<str>>, data: Box<RawValue>) -> Self {
        let json = match &topic {
            Topic::Channel(c) => protocol::message_event(c, from.as_deref(), &data, &offset),
            Topic::Inbox(_) => protocol::direct_event(from.as_deref(), &data, &offset),
        };
        Publication {
            topic,
            offset,
            from,
            data,
            event: PreparedMessage::new(Message::text(json)),
            published_at: Instant::now(),
        }
    }

    /// The event as JSON text.
    pub fn json(&self) -> &str {
        self.event.message().as_text().expect("events are text")
    }

    /// Bytes this publication counts for in queue limits.
    pub fn cost(&self) -> usize {
        self.event.frame_len()
    }
}
