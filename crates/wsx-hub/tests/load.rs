//! The recovery claim under load: many clients keep dropping and resubscribing with
//! `since` while the channel takes messages at a steady rate. Every client must end
//! with every message exactly once, in order: zero losses, zero duplicates.
//!
//! Scaled to run in CI in debug builds (`WSX_LOAD_CLIENTS`, `WSX_LOAD_MESSAGES`,
//! `WSX_LOAD_RATE` set the size; the figure is 1,000 clients at 10,000
//! messages/s, run as `WSX_LOAD_CLIENTS=1000 WSX_LOAD_MESSAGES=20000 WSX_LOAD_RATE=10000
//! cargo test --release -p wsx-hub --test load -- --nocapture`).

use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wsx::Message;
use wsx_hub::{Config, Server};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seq_of(offset: &str) -> u64 {
    offset.rsplit_once('-').unwrap().1.parse().unwrap()
}

/// One client's life: connect, subscribe (with `since` after the first time), read a
/// random share of the stream, hang up; again, until the publisher is done and the
/// client has everything.
async fn client(addr: std::net::SocketAddr, i: u64, total: u64, done: Arc<AtomicBool>) -> (u64, u32) {
    let mut last: Option<String> = None;
    let mut next = 1u64; // the next message number this client must see
    let mut sessions = 0u32;
    let mut rng = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    loop {
        sessions += 1;
        let mut ws = wsx::ClientBuilder::new(format!("ws://{addr}/ws?user=u{i}"))
            .no_proxy()
            .connect()
            .await
            .expect("connect");
        let mut sub = serde_json::json!({"type":"subscribe","channel":"load","id":1});
        if let Some(s) = &last {
            sub["since"] = s.clone().into();
        }
        ws.send(sub.to_string()).await.unwrap();
        // Read a random number of messages this time (xorshift), more once the
        // publisher is done so that everyone finishes.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let budget = if done.load(Ordering::Relaxed) {
            u64::MAX
        } else {
            rng % 2000
        };
        let mut read = 0;
        while read < budget && next <= total {
            let event = match tokio::time::timeout(Duration::from_secs(30), ws.recv()).await {
                Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<Value>(&t).unwrap(),
                other => panic!("client {i}: {other:?} while waiting for message {next}"),
            };
            match event["type"].as_str().unwrap() {
                "welcome" => {}
                "ack" => {
                    if last.is_none() {
                        // The first subscription starts at the channel's position then:
                        // this client is owed everything after it.
                        let at = seq_of(event["offset"].as_str().unwrap());
                        next = at + 1;
                        last = Some(event["offset"].as_str().unwrap().to_owned());
                    }
                }
                "message" => {
                    let n = event["data"].as_u64().unwrap();
                    assert_eq!(
                        n, next,
                        "client {i}: expected message {next}, got {n} (a loss or a duplicate)"
                    );
                    next += 1;
                    read += 1;
                    last = Some(event["offset"].as_str().unwrap().to_owned());
                }
                "gap" => panic!("client {i}: a gap with history for everything: {event}"),
                other => panic!("client {i}: unexpected {other}"),
            }
        }
        drop(ws);
        if next > total {
            return (next - 1, sessions);
        }
    }
}

#[test]
fn resubscribing_clients_miss_nothing_while_the_channel_is_busy() {
    let clients = env("WSX_LOAD_CLIENTS", 100);
    let total = env("WSX_LOAD_MESSAGES", 4000);
    let rate = env("WSX_LOAD_RATE", 4000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut config = Config::default();
        config.listen = "127.0.0.1:0".into();
        config.history_size = total as usize + 10;
        config.max_connections = 100_000;
        config.outgoing_queue = 4 << 20;
        let server = Server::bind(config).await.unwrap();
        let addr = server.local_addr().unwrap();
        let hub = server.hub().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let t0 = Instant::now();
        let done = Arc::new(AtomicBool::new(false));
        // Everyone's first subscription happens before the first message, so that
        // each client is owed all of them.
        let data = |n: u64| serde_json::value::RawValue::from_string(n.to_string()).unwrap();
        let tasks: Vec<_> = (0..clients)
            .map(|i| tokio::spawn(client(addr, i, total, done.clone())))
            .collect();
        while hub.sessions() < clients as usize && t0.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let publish_start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let per_tick = (rate / 100).max(1);
        let mut n = 0;
        while n < total {
            tick.tick().await;
            for _ in 0..per_tick.min(total - n) {
                n += 1;
                hub.publish("load", None, data(n), None).await.unwrap();
            }
        }
        let published_in = publish_start.elapsed();
        done.store(true, Ordering::Relaxed);
        let mut sessions = 0;
        for t in tasks {
            let (last, s) = tokio::time::timeout(Duration::from_secs(300), t)
                .await
                .expect("a client finishes")
                .unwrap();
            assert_eq!(last, total);
            sessions += s;
        }
        eprintln!(
            "{clients} clients, {total} messages published in {published_in:?} ({:.0}/s); {sessions} subscriptions \
             with since in all; every client got every message once, in order, in {:?}",
            total as f64 / published_in.as_secs_f64(),
            t0.elapsed()
        );
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(15), served).await;
    });
}
