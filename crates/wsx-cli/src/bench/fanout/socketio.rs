//! Socket.IO 4 (bench/peers/socketio/server.js), spoken directly: Engine.IO v4 over a
//! WebSocket, one packet per text frame. The server opens with `0{…}`; `40` connects to
//! the main namespace (answered by `40{"sid":…}`); `420["join",CHANNEL]` joins the room,
//! acknowledged by `430[…]`. The server pings with `2` every pingInterval and drops a
//! client that does not answer `3` in time; events arrive as `42["message",DATA]`.

use super::wire::{at_path, await_text, send_text};
use crate::bench::{Target, masked_frame, open};
use anyhow::bail;
use bytes::BytesMut;
use std::net::IpAddr;
use tokio::net::TcpStream;

pub(super) async fn subscribe(
    server: &Target,
    channel: &str,
    source: Option<IpAddr>,
) -> anyhow::Result<(TcpStream, BytesMut)> {
    let target = at_path(server, "/socket.io/?EIO=4&transport=websocket".into());
    let (mut stream, mut buf) = open(&target, source).await?;
    await_text(&mut stream, &mut buf, "the Engine.IO open packet", |p, _| {
        if !p.starts_with(b"0{") {
            bail!(
                "expected an Engine.IO open packet, got {}",
                String::from_utf8_lossy(p)
            );
        }
        Ok(true)
    })
    .await?;
    send_text(&mut stream, "40").await?;
    await_text(&mut stream, &mut buf, "the namespace connect", |p, replies| {
        on_packet(p, replies);
        if p.starts_with(b"44") {
            bail!("connect refused: {}", String::from_utf8_lossy(p));
        }
        Ok(p.starts_with(b"40"))
    })
    .await?;
    send_text(
        &mut stream,
        &format!("420{}", serde_json::json!(["join", channel])),
    )
    .await?;
    await_text(&mut stream, &mut buf, "the join's ack", |p, replies| {
        on_packet(p, replies);
        Ok(p.starts_with(b"430"))
    })
    .await?;
    Ok((stream, buf))
}

/// Answers Engine.IO's heartbeat; other packets that are not messages need nothing.
pub(super) fn on_packet(p: &[u8], replies: &mut Vec<u8>) {
    if p == b"2" {
        replies.extend_from_slice(&masked_frame(b"3", true));
    }
}
