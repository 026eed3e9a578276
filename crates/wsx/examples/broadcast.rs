//! A broadcast server: every message from one connection goes to every other connection.
//! The target of `wsx bench fanout` until the hub exists.
//!
//! ```text
//! cargo run --release -p wsx --example broadcast -- 127.0.0.1:9003
//! ```

use tokio::sync::broadcast;
use wsx::PreparedMessage;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9003".into());
    let mut config = wsx::Config::default();
    config.protocol.deflate = None;
    let server = wsx::Server::bind(&addr)
        .await?
        .config(config)
        .max_connections(100_000);
    println!("listening on {}", server.local_addr()?);
    // (sender id, message), framed once: every recipient queues the same bytes.
    let (tx, _) = broadcast::channel::<(u64, PreparedMessage)>(1024);
    let next_id = std::sync::atomic::AtomicU64::new(0);
    server
        .run_until(
            move |mut ws, _| {
                let tx = tx.clone();
                let mut rx = tx.subscribe();
                let me = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async move {
                    loop {
                        tokio::select! {
                            msg = ws.recv() => match msg {
                                Some(Ok(m)) => { let _ = tx.send((me, PreparedMessage::new(m))); }
                                _ => break,
                            },
                            out = rx.recv() => {
                                let mut next = out;
                                // Drain what else is waiting, so a burst goes out in one
                                // write (the recv() above writes the batch) instead of
                                // one wakeup and one write per message.
                                loop {
                                    match next {
                                        Ok((from, m)) if from != me => {
                                            if ws.feed_prepared(&m).await.is_err() { return; }
                                        }
                                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                                        Err(broadcast::error::RecvError::Closed) => return,
                                    }
                                    next = match rx.try_recv() {
                                        Ok(item) => Ok(item),
                                        Err(broadcast::error::TryRecvError::Lagged(n)) => Err(broadcast::error::RecvError::Lagged(n)),
                                        Err(_) => break,
                                    };
                                }
                            }
                        }
                    }
                }
            },
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await
}
