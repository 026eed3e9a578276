//! tokio-tungstenite echo server for `bench/run.sh`.
//!
//! ```text
//! tungstenite-echo --listen 127.0.0.1:0 [--mode forward|loop]
//! ```
//!
//! Prints `listening on ADDR` once listening. One current-thread tokio runtime, like
//! `wsx echo`'s default. Text and binary messages are echoed; tungstenite answers pings
//! and closes itself. Two idiomatic shapes, as in tokio-tungstenite's examples:
//!
//! - `forward` (default): `ws.split()`, then `read.try_filter(data).forward(write)`.
//!   `Forward` queues each message and flushes only when the read side has nothing more
//!   ready, so a pipelined burst leaves in one write. The faster of the two.
//! - `loop`: `while let Some(msg) = ws.next().await { ws.send(msg).await }`: one flush
//!   (one `write` syscall) per message.

use futures_util::{SinkExt as _, StreamExt as _, TryStreamExt as _, future};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy)]
enum Mode {
    Forward,
    Loop,
}

fn main() -> std::io::Result<()> {
    let mut mode = Mode::Forward;
    let listen = wsx_bench_common::listen_arg(
        "tungstenite-echo [--listen ADDR] [--mode forward|loop]",
        "127.0.0.1:9002",
        |name, value| match (name, value) {
            ("--mode", "forward") => {
                mode = Mode::Forward;
                true
            }
            ("--mode", "loop") => {
                mode = Mode::Loop;
                true
            }
            _ => false,
        },
    );
    wsx_bench_common::serve(&listen, move |stream| serve(stream, mode))
}

async fn serve(stream: TcpStream, mode: Mode) {
    // wsx and Node's ws set TCP_NODELAY on every connection; so do all the peers.
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    match mode {
        Mode::Forward => {
            let (write, read) = ws.split();
            let data = |m: &Message| future::ready(m.is_text() || m.is_binary());
            let _ = read.try_filter(data).forward(write).await;
        }
        Mode::Loop => {
            let mut ws = ws;
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        }
    }
}
