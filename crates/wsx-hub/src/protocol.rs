//! The hub's wire protocol: client commands parsed from JSON, server events written as
//! JSON. The same objects travel over WebSocket text frames, SSE `data:` lines, long-poll
//! arrays and `POST /emulation` bodies. `docs/protocol.md` is the reference.

use crate::offset::Offset;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fmt;

/// Longest channel name, in bytes.
pub const MAX_CHANNEL_LEN: usize = 256;
/// Longest user id, in bytes.
pub const MAX_USER_LEN: usize = 128;
/// Longest `message` of an `error` event, in bytes.
pub const MAX_ERROR_MESSAGE: usize = 256;

/// A stable, machine-readable error code (the `code` of an `error` event, and of HTTP
/// API error bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not JSON, not an object, a field missing or of the wrong type, an invalid name.
    BadRequest,
    /// A `type` the hub does not know.
    UnknownType,
    /// The identity may not use this channel (the JWT's `channels` claim).
    Forbidden,
    /// Over the per-connection rate of publishes and sends.
    RateLimited,
    /// A message or a list over its limit.
    TooLarge,
    /// An `unsubscribe` or `presence` for a channel the session is not subscribed to.
    NotSubscribed,
    /// The broker could not do it now (cluster mode: Redis unreachable).
    Unavailable,
    /// A bug: logged, and reported without details.
    Internal,
}

impl ErrorCode {
    /// The wire name.
    ///
    /// ```
    /// assert_eq!(wsx_hub::ErrorCode::RateLimited.as_str(), "rate_limited");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::NotSubscribed => "not_subscribed",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command that could not be taken: what to answer.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The request's `id`, when it could be read.
    pub id: Option<Box<RawValue>>,
    /// The code.
    pub code: ErrorCode,
    /// A sentence for people.
    pub message: String,
}

impl Refusal {
    /// A refusal of the request `id`. The message is cut to [`MAX_ERROR_MESSAGE`] bytes:
    /// parser errors quote the input, and an answer must not grow with it.
    pub fn new(id: Option<Box<RawValue>>, code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_ERROR_MESSAGE {
            let end = truncate(&message, MAX_ERROR_MESSAGE - 3).len();
            message.truncate(end);
            message.push_str("...");
        }
        Refusal { id, code, message }
    }

    /// The `error` event.
    pub fn to_event(&self) -> String {
        error_event(self.id.as_deref(), self.code, &self.message)
    }
}

/// What a client asks. `id`, when present, is echoed in the `ack` or `error` answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Command {
    /// Receive a channel's messages, after replaying what followed `since`.
    Subscribe {
        /// Echoed in the answer.
        id: Option<Box<RawValue>>,
        /// The channel.
        channel: String,
        /// Replay what followed this offset (as the client received it).
        since: Option<String>,
    },
    /// Stop receiving a channel.
    Unsubscribe {
        /// Echoed in the answer.
        id: Option<Box<RawValue>>,
        /// The channel.
        channel: String,
    },
    /// Publish to a channel.
    Publish {
        /// Echoed in the answer.
        id: Option<Box<RawValue>>,
        /// The channel.
        channel: String,
        /// Any JSON.
        data: Box<RawValue>,
    },
    /// Deliver to every connection of these users, and nobody else.
    Send {
        /// Echoed in the answer.
        id: Option<Box<RawValue>>,
        /// The recipients' user ids.
        to: Vec<String>,
        /// Any JSON.
        data: Box<RawValue>,
    },
    /// Who is subscribed to a channel.
    Presence {
        /// Echoed in the answer.
        id: Option<Box<RawValue>>,
        /// The channel.
        channel: String,
    },
    /// End this session now: what a fallback client says when it goes away, since no
    /// socket closing tells the server (otherwise its session lingers until
    /// `session_timeout`, and its user with it in presence).
    Disconnect {
        /// Echoed in the answer, sent before the session ends.
        id: Option<Box<RawValue>>,
    },
}

impl Command {
    /// The request id.
    pub fn id(&self) -> Option<&RawValue> {
        match self {
            Command::Subscribe { id, .. }
            | Command::Unsubscribe { id, .. }
            | Command::Publish { id, .. }
            | Command::Send { id, .. }
            | Command::Presence { id, .. }
            | Command::Disconnect { id } => id.as_deref(),
        }
    }
}

/// Every field any command has; which ones matter depends on `type`.
#[derive(Deserialize)]
struct Fields {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<Box<RawValue>>,
    channel: Option<String>,
    since: Option<String>,
    data: Option<Box<RawValue>>,
    to: Option<Vec<String>>,
}

/// Parses one command. `max_recipients` bounds a `send`'s `to` list.
///
/// ```
/// use wsx_hub::protocol::{parse_command, Command, ErrorCode};
/// let c = parse_command(r#"{"type":"subscribe","channel":"room","id":1}"#, 100).unwrap();
/// assert!(matches!(c, Command::Subscribe { ref channel, .. } if channel == "room"));
/// let e = parse_command(r#"{"type":"dance","id":"x"}"#, 100).unwrap_err();
/// assert_eq!(e.code, ErrorCode::UnknownType);
/// assert_eq!(e.id.unwrap().get(), r#""x""#);
/// ```
pub fn parse_command(text: &str, max_recipients: usize) -> Result<Command, Refusal> {
    let fields: Fields = serde_json::from_str(text)
        .map_err(|e| Refusal::new(None, ErrorCode::BadRequest, format!("not a command object: {e}")))?;
    let Fields {
        kind,
        id,
        channel,
        since,
        data,
        to,
    } = fields;
    let bad = |id: Option<Box<RawValue>>, why: String| Err(Refusal::new(id, ErrorCode::BadRequest, why));
    let Some(kind) = kind else {
        return bad(id, "missing \"type\"".into());
    };
    let channel = |id: Option<Box<RawValue>>| -> Result<(Option<Box<RawValue>>, String), Refusal> {
        match channel {
            Some(c) => match check_channel(&c) {
                Ok(()) => Ok((id, c)),
                Err(why) => Err(Refusal::new(id, ErrorCode::BadRequest, why)),
            },
            None => Err(Refusal::new(id, ErrorCode::BadRequest, "missing \"channel\"")),
        }
    };
    // `"data": null` and no `data` are the same: JSON null.
    let data = data.map_or_else(
        || RawValue::from_string("null".into()).expect("null is JSON"),
        compact,
    );
    Ok(match kind.as_str() {
        "subscribe" => {
            let (id, channel) = channel(id)?;
            Command::Subscribe { id, channel, since }
        }
        "unsubscribe" => {
            let (id, channel) = channel(id)?;
            Command::Unsubscribe { id, channel }
        }
        "publish" => {
            let (id, channel) = channel(id)?;
            Command::Publish { id, channel, data }
        }
        "presence" => {
            let (id, channel) = channel(id)?;
            Command::Presence { id, channel }
        }
        "disconnect" => Command::Disconnect { id },
        "send" => {
            let Some(to) = to else {
                return bad(id, "missing \"to\"".into());
            };
            if to.is_empty() {
                return bad(id, "\"to\" lists nobody".into());
            }
            if to.len() > max_recipients {
                return Err(Refusal::new(
                    id,
                    ErrorCode::TooLarge,
                    format!("\"to\" lists {} users; at most {max_recipients}", to.len()),
                ));
            }
            if let Some(why) = to.iter().find_map(|u| check_user(u).err()) {
                return bad(id, why);
            }
            Command::Send { id, to, data }
        }
        other => {
            return Err(Refusal::new(
                id,
                ErrorCode::UnknownType,
                format!("unknown type {:?}", truncate(other, 64)),
            ));
        }
    })
}

/// `value` without whitespace outside its strings, if it has any line breaks: every
/// event must fit on one SSE `data:` line, and a client's pretty-printed `data` would
/// not. Numbers and strings stay exactly as written.
///
/// ```
/// use serde_json::value::RawValue;
/// let pretty = RawValue::from_string("{\n  \"a\": [1, 2.50],\n  \"b\": \"x y\"\n}".into()).unwrap();
/// assert_eq!(wsx_hub::protocol::compact(pretty).get(), r#"{"a":[1,2.50],"b":"x y"}"#);
/// ```
pub fn compact(value: Box<RawValue>) -> Box<RawValue> {
    let text = value.get();
    if !text.contains(['\n', '\r']) {
        return value;
    }
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    RawValue::from_string(out).unwrap_or(value)
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Characters allowed in channel names and user ids: letters, digits and `_-.:@/=+`.
/// No spaces, quotes or controls (names appear in logs, metrics and URLs), and no `*`,
/// which the JWT `channels` claim uses as a wildcard.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.:@/=+".contains(c)
}

/// Checks a channel name: 1 to 256 of `[A-Za-z0-9_-.:@/=+]`.
///
/// ```
/// assert!(wsx_hub::protocol::check_channel("chat:lobby").is_ok());
/// assert!(wsx_hub::protocol::check_channel("a b").is_err());
/// ```
pub fn check_channel(name: &str) -> Result<(), String> {
    check_name(name, MAX_CHANNEL_LEN, "channel")
}

/// Checks a user id: 1 to 128 of `[A-Za-z0-9_-.:@/=+]`.
///
/// ```
/// assert!(wsx_hub::protocol::check_user("alice@example.com").is_ok());
/// assert!(wsx_hub::protocol::check_user("").is_err());
/// ```
pub fn check_user(name: &str) -> Result<(), String> {
    check_name(name, MAX_USER_LEN, "user id")
}

fn check_name(name: &str, max: usize, what: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("empty {what}"));
    }
    if name.len() > max {
        return Err(format!("{what} longer than {max} bytes"));
    }
    if let Some(c) = name.chars().find(|&c| !is_name_char(c)) {
        return Err(format!(
            "{what} {:?} has the character {c:?}; allowed: letters, digits, _-.:@/=+",
            truncate(name, 64)
        ));
    }
    Ok(())
}

// ---- server events ---------------------------------------------------------------------------

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("events serialize")
}

/// The first event of a session.
pub fn welcome_event(user: &str, session: &str, inbox: &Offset) -> String {
    #[derive(Serialize)]
    struct Welcome<'a> {
        r#type: &'static str,
        user: &'a str,
        session: &'a str,
        offset: &'a Offset,
    }
    to_json(&Welcome {
        r#type: "welcome",
        user,
        session,
        offset: inbox,
    })
}

/// A channel message.
pub fn message_event(channel: &str, from: Option<&str>, data: &RawValue, offset: &Offset) -> String {
    #[derive(Serialize)]
    struct Msg<'a> {
        r#type: &'static str,
        channel: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<&'a str>,
        data: &'a RawValue,
        offset: &'a Offset,
    }
    to_json(&Msg {
        r#type: "message",
        channel,
        from,
        data,
        offset,
    })
}

/// A direct message to the user's inbox.
pub fn direct_event(from: Option<&str>, data: &RawValue, offset: &Offset) -> String {
    #[derive(Serialize)]
    struct Direct<'a> {
        r#type: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<&'a str>,
        data: &'a RawValue,
        offset: &'a Offset,
    }
    to_json(&Direct {
        r#type: "direct",
        from,
        data,
        offset,
    })
}

/// A user joined or left a channel.
pub fn presence_event(channel: &str, joined: bool, user: &str) -> String {
    #[derive(Serialize)]
    struct Presence<'a> {
        r#type: &'static str,
        channel: &'a str,
        event: &'static str,
        user: &'a str,
    }
    to_json(&Presence {
        r#type: "presence",
        channel,
        event: if joined { "join" } else { "leave" },
        user,
    })
}

/// Messages after `since` could not all be delivered; delivery resumes after `offset`.
/// `channel` is `None` for the inbox.
pub fn gap_event(
    channel: Option<&str>,
    since: Option<&str>,
    offset: &Offset,
    reason: crate::GapReason,
) -> String {
    #[derive(Serialize)]
    struct Gap<'a> {
        r#type: &'static str,
        channel: Option<&'a str>,
        since: Option<&'a str>,
        offset: &'a Offset,
        reason: &'static str,
    }
    to_json(&Gap {
        r#type: "gap",
        channel,
        since,
        offset,
        reason: reason.as_str(),
    })
}

/// An `error` answer.
pub fn error_event(id: Option<&RawValue>, code: ErrorCode, message: &str) -> String {
    #[derive(Serialize)]
    struct Error<'a> {
        r#type: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a RawValue>,
        code: ErrorCode,
        message: &'a str,
    }
    to_json(&Error {
        r#type: "error",
        id,
        code,
        message,
    })
}

/// An `ack` answer with the fields of `extra` (a JSON object's members) merged in.
///
/// ```
/// use serde_json::value::RawValue;
/// let id = RawValue::from_string("7".into()).unwrap();
/// let ack = wsx_hub::protocol::ack_event(Some(&id), &serde_json::json!({"channel": "c"}));
/// assert_eq!(ack, r#"{"type":"ack","id":7,"channel":"c"}"#);
/// ```
pub fn ack_event(id: Option<&RawValue>, extra: &serde_json::Value) -> String {
    let mut out = String::from(r#"{"type":"ack""#);
    if let Some(id) = id {
        out.push_str(r#","id":"#);
        out.push_str(id.get());
    }
    if let serde_json::Value::Object(fields) = extra {
        for (k, v) in fields {
            out.push(',');
            out.push_str(&to_json(k));
            out.push(':');
            out.push_str(&to_json(v));
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> ErrorCode {
        parse_command(text, 10).unwrap_err().code
    }

    #[test]
    fn malformed_input_gets_bad_request() {
        for bad in [
            "",
            "nope",
            "[]",
            "42",
            r#"{"channel":"c"}"#,
            r#"{"type":"subscribe"}"#,
            r#"{"type":"subscribe","channel":""}"#,
            r#"{"type":"subscribe","channel":"has space"}"#,
            r#"{"type":"subscribe","channel":7}"#,
            r#"{"type":"send","data":1}"#,
            r#"{"type":"send","to":[],"data":1}"#,
            r#"{"type":"send","to":["ok","not ok"],"data":1}"#,
            r#"{"type":"publish","channel":"c","data":1"#,
        ] {
            assert_eq!(code(bad), ErrorCode::BadRequest, "{bad}");
        }
        assert_eq!(
            code(r#"{"type":"send","to":["a","b","c","d","e","f","g","h","i","j","k"]}"#),
            ErrorCode::TooLarge
        );
        assert_eq!(code(r#"{"type":7}"#), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"type":"jump"}"#), ErrorCode::UnknownType);
    }

    #[test]
    fn ids_are_echoed_raw_and_data_kept_verbatim() {
        let c = parse_command(
            r#"{"id":{"n":[1,2]},"type":"publish","channel":"c","data":{"a": 1.50}}"#,
            10,
        )
        .unwrap();
        let Command::Publish { id, data, .. } = c else {
            panic!()
        };
        assert_eq!(id.unwrap().get(), r#"{"n":[1,2]}"#);
        assert_eq!(data.get(), r#"{"a": 1.50}"#);
        let e = parse_command(r#"{"id":"r1","type":"publish","channel":"a b"}"#, 10).unwrap_err();
        assert!(e.to_event().contains(r#""id":"r1""#));
        let no_data = parse_command(r#"{"type":"publish","channel":"c"}"#, 10).unwrap();
        assert!(matches!(no_data, Command::Publish { data, .. } if data.get() == "null"));
    }

    #[test]
    fn events_are_the_documented_objects() {
        let o = Offset {
            epoch: crate::Epoch(36),
            seq: 5,
        };
        let data = RawValue::from_string(r#"{"t":"hi"}"#.into()).unwrap();
        assert_eq!(
            message_event("room", Some("alice"), &data, &o),
            r#"{"type":"message","channel":"room","from":"alice","data":{"t":"hi"},"offset":"10-5"}"#
        );
        assert_eq!(
            direct_event(None, &data, &o),
            r#"{"type":"direct","data":{"t":"hi"},"offset":"10-5"}"#
        );
        assert_eq!(
            gap_event(None, Some("x-1"), &o, crate::GapReason::Trimmed),
            r#"{"type":"gap","channel":null,"since":"x-1","offset":"10-5","reason":"trimmed"}"#
        );
        assert_eq!(
            presence_event("chat:a", false, "bob"),
            r#"{"type":"presence","channel":"chat:a","event":"leave","user":"bob"}"#
        );
        assert_eq!(
            welcome_event("alice", "s1", &o),
            r#"{"type":"welcome","user":"alice","session":"s1","offset":"10-5"}"#
        );
    }
}
