//! tokio-tungstenite broadcast server for `wsx bench fanout`: every text or binary
//! message from one connection goes to every other connection (the same contract as
//! wsx's `broadcast` example, built the same way on `tokio::sync::broadcast`).
//!
//! ```text
//! tungstenite-broadcast --listen 127.0.0.1:0 [--read-buffer BYTES]
//! ```
//!
//! `--read-buffer` sets `WebSocketConfig::read_buffer_size` (tungstenite's default, 128
//! KiB, unless given). tungstenite zeroes that much before every read, and the `select!`
//! below polls the read side again after every message it sends, so with the default
//! each delivery to a subscriber also zeroes 128 KiB. `run.sh` passes 4 KiB for
//! `tokio-tungstenite-tuned`, the size tungstenite's docs suggest for many connections.

use futures_util::{SinkExt as _, StreamExt as _};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn main() -> std::io::Result<()> {
    let mut config = WebSocketConfig::default();
    let listen = wsx_bench_common::listen_arg(
        "tungstenite-broadcast [--listen ADDR] [--read-buffer BYTES]",
        "127.0.0.1:9003",
        |name, value| match (name, value.parse()) {
            ("--read-buffer", Ok(n)) => {
                config = config.read_buffer_size(n);
                true
            }
            _ => false,
        },
    );
    // (sender id, message): a binary or text payload is `Bytes`, shared by all.
    let (tx, _) = broadcast::channel::<(u64, Message)>(1024);
    let next_id = AtomicU64::new(0);
    wsx_bench_common::serve(&listen, move |stream| {
        serve(stream, next_id.fetch_add(1, Ordering::Relaxed), tx.clone(), config)
    })
}

async fn serve(
    stream: TcpStream,
    me: u64,
    tx: broadcast::Sender<(u64, Message)>,
    config: WebSocketConfig,
) {
    let mut rx = tx.subscribe();
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (mut write, mut read) = ws.split();
    loop {
        tokio::select! {
            msg = read.next() => match msg {
                Some(Ok(m)) if m.is_text() || m.is_binary() => { let _ = tx.send((me, m)); }
                Some(Ok(_)) => {}
                _ => break,
            },
            out = rx.recv() => match out {
                Ok((from, m)) if from != me => {
                    if write.send(m).await.is_err() { break; }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}
