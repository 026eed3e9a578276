//! fastwebsockets broadcast server for `wsx bench fanout`: every text or binary message
//! from one connection goes to every other connection (the contract of wsx's
//! `broadcast` example, built the same way on `tokio::sync::broadcast`).
//!
//! fastwebsockets' `read_frame` is not cancel-safe, so reading and writing cannot share
//! one `select!`: the connection is split (the `unstable-split` feature, as in its
//! `echo_server_split` example); a reader task publishes, and the writer half, behind a
//! mutex, is shared by the broadcast loop and the reader's obligated replies (pong, close).
//!
//! ```text
//! fastwebsockets-broadcast --listen 127.0.0.1:0
//! ```

use fastwebsockets::{FragmentCollectorRead, Frame, OpCode, Payload, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, broadcast};

/// (sender id, opcode, payload): the payload is shared by every recipient.
type Item = (u64, OpCode, Bytes);

async fn handle_client(
    fut: upgrade::UpgradeFut,
    me: u64,
    tx: broadcast::Sender<Item>,
) -> Result<(), WebSocketError> {
    let mut rx = tx.subscribe();
    let ws = fut.await?;
    let (read, write) = ws.split(tokio::io::split);
    let mut read = FragmentCollectorRead::new(read);
    let write = Arc::new(Mutex::new(write));

    let w = write.clone();
    let mut writer = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok((from, op, payload)) if from != me => {
                    let frame = Frame::new(true, op, None, Payload::Bytes(payload.into()));
                    if w.lock().await.write_frame(frame).await.is_err() {
                        break;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    loop {
        let w = write.clone();
        let mut send = move |frame: Frame<'static>| {
            let w = w.clone();
            async move { w.lock().await.write_frame(frame).await }
        };
        let frame = tokio::select! {
            f = read.read_frame(&mut send) => f,
            _ = &mut writer => break,
        };
        let frame = match frame {
            Ok(f) => f,
            Err(_) => break,
        };
        match frame.opcode {
            OpCode::Close => break,
            op @ (OpCode::Text | OpCode::Binary) => {
                let _ = tx.send((me, op, Bytes::copy_from_slice(&frame.payload)));
            }
            _ => {}
        }
    }
    writer.abort();
    Ok(())
}

fn main() -> std::io::Result<()> {
    let listen = wsx_bench_common::listen_arg(
        "fastwebsockets-broadcast [--listen ADDR]",
        "127.0.0.1:9003",
        |_, _| false,
    );
    let (tx, _) = broadcast::channel::<Item>(1024);
    let next_id = AtomicU64::new(0);
    wsx_bench_common::serve(&listen, move |stream| {
        let me = next_id.fetch_add(1, Ordering::Relaxed);
        let tx = tx.clone();
        async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = service_fn(move |mut req: Request<Incoming>| {
                let tx = tx.clone();
                async move {
                    let (response, fut) = upgrade::upgrade(&mut req)?;
                    tokio::spawn(async move {
                        let _ = handle_client(fut, me, tx).await;
                    });
                    Ok::<Response<Empty<Bytes>>, WebSocketError>(response)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(io, service)
                .with_upgrades()
                .await;
        }
    })
}
