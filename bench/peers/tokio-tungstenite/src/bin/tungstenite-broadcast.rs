//! tokio-tungstenite broadcast server for `wsx bench fanout`: every text or binary
//! message from one connection goes to every other connection (the same contract as
//! wsx's `broadcast` example, built the same way on `tokio::sync::broadcast`).
//!
//! ```text
//! tungstenite-broadcast --listen 127.0.0.1:0
//! ```

use futures_util::{SinkExt as _, StreamExt as _};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

fn main() -> std::io::Result<()> {
    let listen = wsx_bench_common::listen_arg(
        "tungstenite-broadcast [--listen ADDR]",
        "127.0.0.1:9003",
        |_, _| false,
    );
    // (sender id, message): a binary or text payload is `Bytes`, shared by all.
    let (tx, _) = broadcast::channel::<(u64, Message)>(1024);
    let next_id = AtomicU64::new(0);
    wsx_bench_common::serve(&listen, move |stream| {
        serve(stream, next_id.fetch_add(1, Ordering::Relaxed), tx.clone())
    })
}

async fn serve(stream: TcpStream, me: u64, tx: broadcast::Sender<(u64, Message)>) {
    let mut rx = tx.subscribe();
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
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
