//! Prepared messages: one frame for many connections, compressed once where every
//! message stands alone, and the usual path where it cannot be shared.

mod support;

use support::{Pair, deflate_config, plain_config};
use wsx_proto::{Event, Message, PreparedMessage};

fn text(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"seq\":{i},\"room\":\"lobby\"}}"))
        .collect()
}

fn received(pair: &mut Pair) -> Vec<Message> {
    pair.step()
        .client
        .into_iter()
        .map(|e| match e {
            Ok(Event::Message(m)) => m,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn plain_connections_share_the_same_frame() {
    let prepared = PreparedMessage::new(Message::text(text(200)));
    let mut a = Pair::plain();
    let mut b = Pair::plain();
    a.server.send_prepared(&prepared).unwrap();
    b.server.send_prepared(&prepared).unwrap();
    let (wa, wb) = (a.server.take_output(), b.server.take_output());
    assert_eq!(wa, wb);
    assert_eq!(wa.len(), prepared.frame_len());
    a.client.receive(&wa);
    assert_eq!(
        a.client.poll_event().unwrap(),
        Some(Event::Message(prepared.message().clone()))
    );
}

/// Without server context takeover (the server requires it), the compressed frame is
/// made once and every such connection sends it; each client inflates it.
#[test]
fn compressed_once_without_context_takeover() {
    let server = deflate_config(|d| d.server_no_context_takeover = true);
    let client = deflate_config(|_| {});
    let prepared = PreparedMessage::new(Message::text(text(200)));
    let mut pairs: Vec<Pair> = (0..3)
        .map(|_| Pair::new(client.clone(), server.clone()))
        .collect();
    let mut wires = Vec::new();
    for p in &mut pairs {
        assert!(p.negotiated.server.unwrap().server_no_context_takeover);
        for _ in 0..3 {
            p.server.send_prepared(&prepared).unwrap();
        }
        wires.push(p.server.take_output());
    }
    assert!(
        wires.iter().all(|w| *w == wires[0]),
        "one compressed frame for all"
    );
    assert!(
        wires[0].len() < 3 * prepared.frame_len() / 4,
        "compressed: {}",
        wires[0].len()
    );
    for (p, w) in pairs.iter_mut().zip(&wires) {
        p.client.receive(w);
        for _ in 0..3 {
            assert_eq!(
                p.client.poll_event().unwrap(),
                Some(Event::Message(prepared.message().clone()))
            );
        }
    }
}

/// With context takeover, each connection compresses with its own history; short
/// messages go plain; clients mask as always. Whatever the path, the peer gets the
/// message.
#[test]
fn falls_back_where_the_frame_cannot_be_shared() {
    let big = PreparedMessage::new(Message::text(text(100)));
    let small = PreparedMessage::new(Message::binary(vec![1, 2, 3]));
    // Context takeover: the second copy compresses better than the first, per connection.
    let mut p = Pair::compressed();
    p.server.send_prepared(&big).unwrap();
    let first = p.server.pending_output();
    p.server.send_prepared(&big).unwrap();
    assert!(
        p.server.pending_output() - first < first,
        "the repeat refers to the first"
    );
    p.server.send_prepared(&small).unwrap();
    assert_eq!(
        received(&mut p),
        [
            big.message().clone(),
            big.message().clone(),
            small.message().clone()
        ]
    );
    // A client sends it masked, like any message.
    let mut p = Pair::new(plain_config(), plain_config());
    p.client.send_prepared(&small).unwrap();
    let events = p.step();
    assert_eq!(
        events.server.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [Event::Message(small.message().clone())]
    );
}
