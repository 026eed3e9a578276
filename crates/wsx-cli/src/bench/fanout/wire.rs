//! What the hub kinds share: numbered message data, and a few frames at a time during a
//! subscription (after it, `receive` reads in bulk).

use crate::bench::{frame_bounds, masked_frame};
use anyhow::bail;
use bytes::{Buf, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Subscribers look for this and read the number after it, wherever the server put the
/// data in its frame: the only parsing a delivery costs.
const MARK: &[u8] = b"wsxb:";

/// A JSON-safe string of `size` bytes (more if the number needs them): `wsxb:IDX:xxx…`.
pub(super) fn marked_data(idx: usize, size: usize) -> String {
    let mut s = format!("wsxb:{idx}:");
    let pad = size.saturating_sub(s.len());
    s.extend(std::iter::repeat_n('x', pad));
    s
}

pub(super) fn marked_index(p: &[u8]) -> Option<usize> {
    let at = p.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let digits = p[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    p[at..at + digits].iter().try_fold(0usize, |n, &d| {
        n.checked_mul(10)?.checked_add((d - b'0') as usize)
    })
}

/// A masked pong echoing a ping's payload.
pub(super) fn pong(ping: &[u8]) -> Vec<u8> {
    let mut f = masked_frame(ping, false);
    f[0] = 0x8a;
    f
}

/// How long a server may take to answer a step of a subscription.
const STEP: Duration = Duration::from_secs(30);

/// Reads frames until `want` accepts a text frame's payload (`Ok(true)`), answering
/// WebSocket pings, and sending whatever `want` puts in its second argument (the
/// protocol's own pongs). Frames that follow stay in `buf`.
pub(super) async fn await_text(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    what: &str,
    mut want: impl FnMut(&[u8], &mut Vec<u8>) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let mut replies = Vec::new();
    loop {
        while let Some((hlen, len)) = frame_bounds(buf) {
            let opcode = buf[0] & 0x0f;
            let payload = buf[hlen..hlen + len].to_vec();
            buf.advance(hlen + len);
            let done = match opcode {
                0x1 => want(&payload, &mut replies)?,
                0x8 => bail!("the server closed the connection while we waited for {what}"),
                0x9 => {
                    replies.extend_from_slice(&pong(&payload));
                    false
                }
                _ => false,
            };
            if !replies.is_empty() {
                stream.write_all(&replies).await?;
                replies.clear();
            }
            if done {
                return Ok(());
            }
        }
        match tokio::time::timeout(STEP, stream.read_buf(buf)).await {
            Err(_) => bail!("no {what} within {} s", STEP.as_secs()),
            Ok(Ok(0)) => bail!("the server closed the connection while we waited for {what}"),
            Ok(r) => r?,
        };
    }
}

pub(super) async fn send_text(stream: &mut TcpStream, text: &str) -> anyhow::Result<()> {
    stream.write_all(&masked_frame(text.as_bytes(), true)).await?;
    Ok(())
}

/// `target` with another path (the hubs' subscriber endpoints).
pub(super) fn at_path(target: &crate::bench::Target, path: String) -> crate::bench::Target {
    let mut t = target.clone();
    t.path = path;
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip() {
        let d = marked_data(42, 20);
        assert_eq!(d.len(), 20);
        assert_eq!(marked_index(format!(r#"{{"data":"{d}"}}"#).as_bytes()), Some(42));
        assert_eq!(marked_data(123456, 4), "wsxb:123456:");
        assert_eq!(marked_index(b"wsxb:x"), None);
        assert_eq!(marked_index(b"{\"type\":\"ack\"}"), None);
        assert_eq!(marked_index(b"wsxb:99999999999999999999999"), None);
    }

    #[test]
    fn pongs_are_masked_pongs() {
        let f = pong(b"hi");
        assert_eq!(f[0], 0x8a);
        assert_eq!(f[1], 0x80 | 2);
    }
}
