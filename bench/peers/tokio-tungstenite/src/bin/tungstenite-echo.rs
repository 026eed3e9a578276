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
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy)]
enum Mode {
    Forward,
    Loop,
}

fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:9002".to_owned();
    let mut mode = Mode::Forward;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--mode", Some(v)) if v == "forward" => mode = Mode::Forward,
            ("--mode", Some(v)) if v == "loop" => mode = Mode::Loop,
            _ => {
                eprintln!("usage: tungstenite-echo [--listen ADDR] [--mode forward|loop]");
                std::process::exit(2);
            }
        }
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = TcpListener::bind(&listen).await?;
            println!("listening on {}", listener.local_addr()?);
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(serve(stream, mode));
            }
        })
}

async fn serve(stream: TcpStream, mode: Mode) {
    // wsx and Node's ws set TCP_NODELAY on every connection; so do all the peers.
    let _ = stream.set_nodelay(true);
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
