//! tokio-tungstenite echo server tuned as far as tungstenite's documentation allows, for
//! `bench/run.sh` (server `tokio-tungstenite-tuned`; `tungstenite-echo` is the untuned one).
//!
//! ```text
//! tungstenite-echo-tuned --listen 127.0.0.1:0 [--read-buffer BYTES] [--write-buffer BYTES]
//!                        [--max-write-buffer BYTES]
//! ```
//!
//! What differs from `tungstenite-echo`:
//!
//! - `accept_async_with_config` with a `WebSocketConfig` instead of the defaults.
//!   `read_buffer_size` (default 128 KiB) is the size tungstenite allocates per connection
//!   up front *and* zero-fills before every read (`FrameCodec::read_in` resizes its
//!   `BytesMut` to the read size), so it is both the idle memory per connection and a
//!   memset per `recv`. Its docs suggest 128 KiB "for high read load" and e.g. 4 KiB for
//!   many connections (the 0.25 changelog: 4-8 KiB for 0.24's memory use). 4 KiB is the
//!   default here: in the suite's echo scenarios it measured as fast as 8 and 16 KiB, and
//!   faster than the 128 KiB "for high read load" (docs/BENCHMARKS.md), so one size serves
//!   every scenario, idle connections included.
//! - `write_buffer_size` (default 128 KiB: frames are queued until that much is pending or
//!   `flush` is called) is kept at its default, which the docs recommend ("it is often more
//!   optimal to allow them to buffer a little"); `max_write_buffer_size` (default unlimited)
//!   is bounded, as the docs suggest for backpressure.
//! - No `split`: one task owns the `WebSocketStream`, so no `BiLock` is taken per poll.
//!   It `feed`s every message that is already readable (`poll_ready` + `start_send`, which
//!   queue without flushing) and flushes once when the next read would wait: one write per
//!   burst, as tungstenite's 0.20 changelog intends ("writing a batch of messages and
//!   flushing once"). After that flush it waits for a wakeup instead of reading again:
//!   every poll of the read side costs a `recv` and a memset of the read buffer.
//!
//! Prints `listening on ADDR` once listening. One current-thread tokio runtime, like every
//! server in the suite.

use futures_util::{SinkExt as _, StreamExt as _, ready};
use std::future::poll_fn;
use std::task::{Context, Poll};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// `read_buffer_size`: tungstenite's suggestion for many connections, and no slower than
/// larger sizes in the suite's echo scenarios (docs/BENCHMARKS.md, "tokio-tungstenite, tuned").
const DEFAULT_READ_BUFFER: usize = 4 * 1024;

fn main() -> std::io::Result<()> {
    let defaults = WebSocketConfig::default();
    let mut read_buffer = DEFAULT_READ_BUFFER;
    let mut write_buffer = defaults.write_buffer_size;
    let mut max_write_buffer = None;
    let listen = wsx_bench_common::listen_arg(
        "tungstenite-echo-tuned [--listen ADDR] [--read-buffer BYTES] [--write-buffer BYTES] \
         [--max-write-buffer BYTES]",
        "127.0.0.1:9002",
        |name, value| {
            let slot = match name {
                "--read-buffer" => &mut read_buffer,
                "--write-buffer" => &mut write_buffer,
                "--max-write-buffer" => max_write_buffer.get_or_insert(0),
                _ => return false,
            };
            value.parse().map(|v| *slot = v).is_ok()
        },
    );
    // Backpressure instead of an unbounded queue; it must exceed write_buffer_size by at
    // least one message (tungstenite asserts that it is larger).
    let max_write_buffer = max_write_buffer.unwrap_or(write_buffer.saturating_mul(4).max(1 << 20));
    let config = defaults
        .read_buffer_size(read_buffer)
        .write_buffer_size(write_buffer)
        .max_write_buffer_size(max_write_buffer);
    wsx_bench_common::serve(&listen, move |stream| serve(stream, config))
}

async fn serve(stream: TcpStream, config: WebSocketConfig) {
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let _ = poll_fn(|cx| echo_ready(&mut ws, cx)).await;
}

/// Queues an echo of every text or binary message that can be read without waiting, then
/// flushes them in one write. Pending when it has to wait for the peer; Ready when the
/// connection has ended. tungstenite answers pings and closes by itself.
fn echo_ready(ws: &mut WebSocketStream<TcpStream>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
    loop {
        // Ready unless an earlier write would have blocked; then it flushes first.
        ready!(ws.poll_ready_unpin(cx))?;
        match ws.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(msg))) => {
                if msg.is_text() || msg.is_binary() {
                    ws.start_send_unpin(msg)?;
                }
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
            Poll::Ready(None) => return Poll::Ready(Ok(())),
            Poll::Pending => {
                ready!(ws.poll_flush_unpin(cx))?;
                return Poll::Pending;
            }
        }
    }
}
