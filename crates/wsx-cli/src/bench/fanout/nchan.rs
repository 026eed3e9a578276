//! nchan (bench/peers/nchan/nginx.conf): a WebSocket to `/sub/CHANNEL` is a subscriber from
//! its upgrade on; a message's frame is the published request body, nothing around it.

use super::wire::at_path;
use crate::bench::{Target, open};
use bytes::BytesMut;
use std::net::IpAddr;
use tokio::net::TcpStream;

pub(super) async fn subscribe(
    server: &Target,
    channel: &str,
    source: Option<IpAddr>,
) -> anyhow::Result<(TcpStream, BytesMut)> {
    open(&at_path(server, format!("/sub/{channel}")), source).await
}
