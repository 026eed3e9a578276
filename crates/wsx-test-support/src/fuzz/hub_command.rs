//! The hub's JSON command parser on arbitrary bytes (`wsx_hub::protocol::parse_command`),
//! and the offset parser.
//!
//! - never panics, on any input, valid UTF-8 or not (invalid input is what a transport
//!   would refuse before the parser; here it is parsed lossily);
//! - every refusal renders to an `error` event that is a JSON object of type `error` with
//!   a known code and the request's `id` when one was readable, and a message of at most
//!   `MAX_ERROR_MESSAGE` bytes whatever the input (parser errors quote the input);
//! - a parsed command has a valid channel name or recipient list, at most
//!   `max_recipients` of them, and `data` that is JSON on one line (no raw line break,
//!   so it fits one SSE `data:` line);
//! - memory stays in proportion to the input: the parser allocates nothing beyond the
//!   fields it returns (bounded here by asserting sizes against the input length).

use wsx_hub::protocol::{Command, check_channel, check_user, parse_command};

const MAX_RECIPIENTS: usize = 16;

/// The target's checks.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = text.parse::<wsx_hub::Offset>();
    match parse_command(&text, MAX_RECIPIENTS) {
        Err(refusal) => {
            let event: serde_json::Value =
                serde_json::from_str(&refusal.to_event()).expect("an error event is JSON");
            assert_eq!(event["type"], "error");
            assert_eq!(event["code"], refusal.code.as_str());
            if let Some(id) = &refusal.id {
                let echoed = serde_json::to_string(&event["id"]).unwrap();
                let original: serde_json::Value = serde_json::from_str(id.get()).unwrap();
                assert_eq!(echoed, serde_json::to_string(&original).unwrap());
            }
            assert!(
                refusal.message.len() <= wsx_hub::protocol::MAX_ERROR_MESSAGE,
                "an error message does not grow with the input"
            );
        }
        Ok(command) => {
            let data = match &command {
                Command::Subscribe { channel, .. }
                | Command::Unsubscribe { channel, .. }
                | Command::Presence { channel, .. } => {
                    check_channel(channel).expect("a parsed channel is valid");
                    None
                }
                Command::Publish { channel, data, .. } => {
                    check_channel(channel).expect("a parsed channel is valid");
                    Some(data)
                }
                Command::Send { to, data, .. } => {
                    assert!(!to.is_empty() && to.len() <= MAX_RECIPIENTS);
                    for u in to {
                        check_user(u).expect("a parsed recipient is valid");
                    }
                    Some(data)
                }
                Command::Disconnect { .. } => None,
                other => panic!("the fuzz check does not know {other:?} yet"),
            };
            if let Some(data) = data {
                assert!(!data.get().contains(['\n', '\r']), "data fits one SSE line");
                assert!(data.get().len() <= text.len().max(4));
                serde_json::from_str::<serde_json::Value>(data.get()).expect("data is JSON");
            }
        }
    }
}
