//! `wsx serve`: `ws://HOST/ws?user=NAME`, a `welcome` first, then `subscribe` answered by
//! an `ack`; deliveries are `{"type":"message","channel":…,"data":…,"offset":…}`.

use super::wire::{at_path, await_text, send_text};
use crate::bench::{Target, open};
use anyhow::bail;
use bytes::BytesMut;
use serde_json::Value;
use std::net::IpAddr;
use tokio::net::TcpStream;

pub(super) async fn subscribe(
    server: &Target,
    channel: &str,
    i: usize,
    source: Option<IpAddr>,
) -> anyhow::Result<(TcpStream, BytesMut)> {
    let (mut stream, mut buf) = open(&at_path(server, format!("/ws?user=bench-{i}")), source).await?;
    await_text(&mut stream, &mut buf, "the welcome", |p, _| {
        let v: Value = serde_json::from_slice(p)?;
        if v["type"] != "welcome" {
            bail!("the first text frame is not a welcome: {v}");
        }
        Ok(true)
    })
    .await?;
    let request = serde_json::json!({"type": "subscribe", "channel": channel, "id": 1});
    send_text(&mut stream, &request.to_string()).await?;
    await_text(&mut stream, &mut buf, "the subscription's ack", |p, _| {
        let v: Value = serde_json::from_slice(p)?;
        match v["type"].as_str() {
            Some("ack") if v["id"] == 1 => Ok(true),
            Some("error") if v["id"] == 1 => bail!("subscribe refused: {v}"),
            _ => Ok(false),
        }
    })
    .await?;
    Ok((stream, buf))
}
