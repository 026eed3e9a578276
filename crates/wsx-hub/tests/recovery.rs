//! The recovery contract as a model test, over real sockets: for any interleaving of
//! publishes, disconnects and resubscribes with `since`, every subscriber gets each
//! message exactly once and in order, or a `gap` that covers exactly what it missed.

use proptest::prelude::*;
use serde_json::Value;
use std::time::Duration;
use wsx::Message;
use wsx_hub::{Config, Server};

/// A scenario step.
#[derive(Debug, Clone)]
enum Step {
    /// The API publishes this many messages.
    Publish(u8),
    /// Client `n` disconnects (if connected).
    Drop(usize),
    /// Client `n` reconnects and resubscribes with its last offset (if disconnected).
    Resume(usize),
    /// Client `n` takes what has arrived so far.
    Read(usize),
}

fn step(clients: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1u8..20).prop_map(Step::Publish),
        1 => (0..clients).prop_map(Step::Drop),
        1 => (0..clients).prop_map(Step::Resume),
        2 => (0..clients).prop_map(Step::Read),
    ]
}

struct Client {
    ws: Option<wsx::WebSocket<wsx::client::ClientStream>>,
    /// The offset to resume from, as the client last saw it.
    last: Option<String>,
    /// Sequence numbers (the `n` in each message's data) received, in order.
    got: Vec<u64>,
    /// Ranges declared lost by gaps: (after n, resume n) in message numbers.
    lost: Vec<(u64, u64)>,
}

async fn next_event(ws: &mut wsx::WebSocket<wsx::client::ClientStream>, wait: Duration) -> Option<Value> {
    match tokio::time::timeout(wait, ws.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => Some(serde_json::from_str(&t).expect("events are JSON")),
        Ok(Some(other)) => panic!("unexpected {other:?}"),
        Ok(None) => panic!("the hub closed the connection"),
        Err(_) => None,
    }
}

/// Offsets are opaque, but this test knows what the payloads are: each message's data is
/// its number, and the history's sequence equals it (one publisher, one channel).
fn seq_of(offset: &str) -> u64 {
    offset.rsplit_once('-').unwrap().1.parse().unwrap()
}

impl Client {
    async fn connect(
        addr: std::net::SocketAddr,
        name: &str,
        since: Option<&str>,
    ) -> wsx::WebSocket<wsx::client::ClientStream> {
        let mut ws = wsx::ClientBuilder::new(format!("ws://{addr}/ws?user={name}"))
            .no_proxy()
            .connect()
            .await
            .unwrap();
        let welcome = next_event(&mut ws, Duration::from_secs(10)).await.unwrap();
        assert_eq!(welcome["type"], "welcome");
        let mut sub = serde_json::json!({"type":"subscribe","channel":"model","id":1});
        if let Some(s) = since {
            sub["since"] = s.into();
        }
        ws.send(sub.to_string()).await.unwrap();
        ws
    }

    /// Takes events until none arrives for `quiet`.
    async fn read(&mut self, quiet: Duration) {
        let Some(ws) = self.ws.as_mut() else { return };
        while let Some(event) = next_event(ws, quiet).await {
            match event["type"].as_str().unwrap() {
                "ack" => {
                    if self.last.is_none() {
                        self.last = Some(event["offset"].as_str().unwrap().to_owned());
                    }
                }
                "message" => {
                    let n = event["data"].as_u64().unwrap();
                    assert_eq!(seq_of(event["offset"].as_str().unwrap()), n);
                    self.got.push(n);
                    self.last = Some(event["offset"].as_str().unwrap().to_owned());
                }
                "gap" => {
                    let since = seq_of(event["since"].as_str().unwrap());
                    let resume = seq_of(event["offset"].as_str().unwrap());
                    assert!(resume >= since, "{event}");
                    self.lost.push((since, resume));
                    self.last = Some(event["offset"].as_str().unwrap().to_owned());
                }
                other => panic!("unexpected event {other}: {event}"),
            }
        }
    }
}

fn run(steps: Vec<Step>, clients: usize, history: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut config = Config::default();
        config.listen = "127.0.0.1:0".into();
        config.history_size = history;
        let server = Server::bind(config).await.unwrap();
        let addr = server.local_addr().unwrap();
        let hub = server.hub().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let quiet = Duration::from_millis(30);
        let mut cs: Vec<Client> = Vec::new();
        for i in 0..clients {
            let ws = Client::connect(addr, &format!("c{i}"), None).await;
            let mut c = Client { ws: Some(ws), last: None, got: Vec::new(), lost: Vec::new() };
            c.read(quiet).await; // the ack: where this client starts
            cs.push(c);
        }
        let mut published = 0u64;
        for s in steps {
            match s {
                Step::Publish(k) => {
                    for _ in 0..k {
                        published += 1;
                        let data = serde_json::value::RawValue::from_string(published.to_string()).unwrap();
                        hub.publish("model", None, data, None).await.unwrap();
                    }
                }
                Step::Drop(i) => {
                    if let Some(mut ws) = cs[i].ws.take() {
                        // Whatever arrived but was not read is lost with the connection,
                        // as on a real network: the client resumes from what it saw.
                        let _ = ws.close(None).await;
                    }
                }
                Step::Resume(i) => {
                    if cs[i].ws.is_none() {
                        let since = cs[i].last.clone();
                        cs[i].ws = Some(Client::connect(addr, &format!("c{i}"), since.as_deref()).await);
                    }
                }
                Step::Read(i) => cs[i].read(quiet).await,
            }
        }
        // Everyone comes back and catches up.
        for (i, c) in cs.iter_mut().enumerate() {
            if c.ws.is_none() {
                let since = c.last.clone();
                c.ws = Some(Client::connect(addr, &format!("c{i}"), since.as_deref()).await);
            }
            c.read(Duration::from_millis(200)).await;
        }
        for (i, c) in cs.iter().enumerate() {
            // Strictly increasing: no duplicate, no reordering.
            assert!(c.got.windows(2).all(|w| w[0] < w[1]), "client {i} got {:?}", c.got);
            // Every message is either received or inside a declared gap.
            for n in 1..=published {
                let received = c.got.binary_search(&n).is_ok();
                let declared = c.lost.iter().any(|&(after, resume)| n > after && n <= resume);
                assert!(received ^ declared, "client {i}: message {n} received={received} declared lost={declared}; got {:?} lost {:?}", c.got, c.lost);
            }
            if history >= published as usize {
                assert!(c.lost.is_empty(), "client {i}: gaps {:?} with history for everything", c.lost);
            }
        }
        // Hang up first: a shutdown would wait for each client to answer its close.
        drop(cs);
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(15), served).await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 20, ..ProptestConfig::default() })]

    /// History large enough for everything: nothing is ever lost.
    #[test]
    fn every_message_exactly_once_with_enough_history(steps in proptest::collection::vec(step(3), 1..25)) {
        run(steps, 3, 10_000);
    }

    /// A small history: some messages are trimmed, and each loss is declared by a gap.
    #[test]
    fn exactly_once_or_declared_by_a_gap(steps in proptest::collection::vec(step(3), 1..25)) {
        run(steps, 3, 8);
    }
}
