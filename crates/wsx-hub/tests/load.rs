//! The recovery claim under load: many clients keep dropping and resubscribing with
//! `since` while the channel takes messages at a steady rate. Every client must end
//! with every message exactly once, in order: zero losses, zero duplicates.
//!
//! Scaled to run in CI in debug builds (`WSX_LOAD_CLIENTS`, `WSX_LOAD_MESSAGES`,
//! `WSX_LOAD_RATE` set the size; the figure is 1,000 clients at 10,000
//! messages/s, run as `WSX_LOAD_CLIENTS=1000 WSX_LOAD_MESSAGES=20000 WSX_LOAD_RATE=10000
//! cargo test --release -p wsx-hub --test load -- --nocapture`).
//!
//! With `WSX_LOAD_BROKER=redis://HOST:PORT` the same runs on `WSX_LOAD_NODES` (default 2)
//! nodes of a cluster on that Redis: clients alternate between the nodes, each
//! reconnection going to the next one, and the publisher uses the first.

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
async fn client(
    addrs: Arc<Vec<std::net::SocketAddr>>,
    i: u64,
    total: u64,
    done: Arc<AtomicBool>,
) -> (u64, u32) {
    let mut last: Option<String> = None;
    let mut next = 1u64; // the next message number this client must see
    let mut sessions = 0u32;
    let mut rng = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    loop {
        sessions += 1;
        let addr = addrs[(i as usize + sessions as usize) % addrs.len()];
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
                other => panic!(
                    "client {i}: {other:?} (close: {:?}) while waiting for message {next}",
                    ws.close_frame()
                ),
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
                    // By offset: concurrent publishes may take their offsets in any order.
                    let at = seq_of(event["offset"].as_str().unwrap());
                    assert_eq!(
                        at, next,
                        "client {i}: expected message {next}, got {at} (a loss or a duplicate)"
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
    let broker = std::env::var("WSX_LOAD_BROKER").unwrap_or_else(|_| "memory".into());
    let nodes = if broker == "memory" {
        1
    } else {
        env("WSX_LOAD_NODES", 2)
    };
    rt.block_on(async move {
        let mut addrs = Vec::new();
        let mut hubs = Vec::new();
        let mut stops = Vec::new();
        let mut served = Vec::new();
        for _ in 0..nodes {
            let mut config = Config::default();
            config.listen = "127.0.0.1:0".into();
            config.broker = broker.clone();
            config.history_size = total as usize + 10;
            config.max_connections = 100_000;
            config.outgoing_queue = 4 << 20;
            let server = Server::bind(config).await.unwrap();
            addrs.push(server.local_addr().unwrap());
            hubs.push(server.hub().clone());
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            stops.push(stop);
            served.push(tokio::spawn(server.run(async {
                let _ = stopped.await;
            })));
        }
        while hubs.iter().any(|h| h.health().is_some()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let hub = hubs[0].clone();
        let addrs = Arc::new(addrs);
        let t0 = Instant::now();
        let done = Arc::new(AtomicBool::new(false));
        // Everyone's first subscription happens before the first message, so that
        // each client is owed all of them.
        let data = |n: u64| serde_json::value::RawValue::from_string(n.to_string()).unwrap();
        let tasks: Vec<_> = (0..clients)
            .map(|i| tokio::spawn(client(addrs.clone(), i, total, done.clone())))
            .collect();
        let sessions_now = || hubs.iter().map(|h| h.sessions()).sum::<usize>();
        while sessions_now() < clients as usize && t0.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let publish_start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let per_tick = (rate / 100).max(1);
        let mut n = 0;
        while n < total {
            tick.tick().await;
            // A tick's publishes go out together, in order: the memory broker runs each at
            // once, and a Redis broker pipelines them on its connection, which keeps
            // their order (so offsets follow `n`).
            let batch =
                (n + 1..=n + per_tick.min(total - n)).map(|k| hub.publish("load", None, data(k), None));
            for published in futures_util::future::join_all(batch).await {
                published.unwrap();
            }
            n += per_tick.min(total - n);
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
            "{clients} clients on {nodes} node(s) ({broker}), {total} messages published in {published_in:?} \
             ({:.0}/s); {sessions} subscriptions with since in all; every client got every message once, \
             in order, in {:?}",
            total as f64 / published_in.as_secs_f64(),
            t0.elapsed()
        );
        for stop in stops {
            let _ = stop.send(());
        }
        for s in served {
            let _ = tokio::time::timeout(Duration::from_secs(15), s).await;
        }
    });
}
