//! Property tests: whatever the messages, the fragmentation, the compression settings, the
//! direction and the way the byte stream is cut into reads, the receiver yields exactly what
//! was sent, in order, and answers every ping.

mod support;

use proptest::collection::vec;
use proptest::prelude::*;
use support::*;
use wsx_proto::{CloseCode, CloseFrame, Config, Connection, DeflateConfig, Event, EventRef, Message, Role};

#[derive(Debug, Clone)]
enum Item {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
}

/// How the receiver gets the byte stream.
#[derive(Debug, Clone)]
enum Split {
    /// All at once.
    Whole,
    /// One byte per read (only for small streams; larger ones use reads of 1-13 bytes).
    Bytewise,
    /// Reads of these sizes, repeated.
    Chunks(Vec<usize>),
}

#[derive(Debug, Clone)]
struct Setup {
    from: Role,
    fragment_size: Option<usize>,
    deflate: Option<DeflateConfig>,
}

/// Incompressible bytes.
fn noise(mut seed: u64, n: usize) -> Vec<u8> {
    seed |= 1;
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// Sizes 0..~70 000, mostly small.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => vec(any::<char>(), 0..64).prop_map(String::from_iter),
        3 => vec(any::<char>(), 64..1500).prop_map(String::from_iter),
        1 => (vec(any::<char>(), 1..40), 5_000usize..70_000).prop_map(|(unit, n)| {
            let unit = String::from_iter(unit);
            let mut s = unit.repeat(n / unit.len() + 1);
            let mut end = n;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            s
        }),
    ]
}

fn binary() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => vec(any::<u8>(), 0..200),
        3 => vec(any::<u8>(), 200..3000),
        1 => (any::<u64>(), 5_000usize..70_000).prop_map(|(seed, n)| noise(seed, n)),
        1 => (vec(any::<u8>(), 1..16), 5_000usize..70_000).prop_map(|(unit, n)| {
            unit.iter().copied().cycle().take(n).collect()
        }),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => text().prop_map(Item::Text),
        4 => binary().prop_map(Item::Binary),
        1 => vec(any::<u8>(), 0..=125).prop_map(Item::Ping),
    ]
}

fn deflate() -> impl Strategy<Value = Option<DeflateConfig>> {
    prop_oneof![
        1 => Just(None),
        2 => (any::<bool>(), any::<bool>(), 8u8..=15, 8u8..=15, 0u32..=9, prop_oneof![Just(0), Just(64), 0usize..300])
            .prop_map(|(server_nct, client_nct, server_bits, client_bits, level, threshold)| {
                let mut d = DeflateConfig::default();
                d.server_no_context_takeover = server_nct;
                d.client_no_context_takeover = client_nct;
                d.server_max_window_bits = server_bits;
                d.client_max_window_bits = client_bits;
                d.level = level;
                d.threshold = threshold;
                Some(d)
            }),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<bool>(),
        prop_oneof![Just(None), (1usize..=300).prop_map(Some)],
        deflate(),
    )
        .prop_map(|(client, fragment_size, deflate)| Setup {
            from: if client { Role::Client } else { Role::Server },
            fragment_size,
            deflate,
        })
}

fn split() -> impl Strategy<Value = Split> {
    prop_oneof![
        Just(Split::Bytewise),
        vec(1usize..64, 1..8).prop_map(Split::Chunks),
        vec(1usize..5000, 1..8).prop_map(Split::Chunks),
    ]
}

fn close_code() -> impl Strategy<Value = Option<u16>> {
    prop_oneof![
        3 => Just(None),
        1 => prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999].prop_map(Some),
    ]
}

/// The reads of `wire` for `split`.
fn reads<'a>(wire: &'a [u8], split: &Split) -> Vec<&'a [u8]> {
    let sizes = match split {
        Split::Whole => vec![wire.len().max(1)],
        Split::Bytewise if wire.len() <= 20_000 => vec![1],
        Split::Bytewise => (1..=13).collect(),
        Split::Chunks(sizes) => sizes.clone(),
    };
    let mut out = Vec::new();
    let mut rest = wire;
    for &n in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a);
        rest = b;
    }
    out
}

/// Drains `poll_event_ref`, copying each borrowed event into its owned form.
fn poll_all_borrowed(conn: &mut Connection) -> Vec<Result<Event, wsx_proto::Error>> {
    let mut out = Vec::new();
    loop {
        match conn.poll_event_ref() {
            Ok(Some(e)) => out.push(Ok(match e {
                EventRef::Text(t) => Event::Message(Message::text(t)),
                EventRef::Binary(b) => Event::Message(Message::binary(b.to_vec())),
                EventRef::Ping(p) => Event::Ping(p.to_vec().into()),
                EventRef::Pong(p) => Event::Pong(p.to_vec().into()),
                EventRef::Close(f) => Event::Close(f.cloned()),
            })),
            Ok(None) => return out,
            Err(e) => {
                out.push(Err(e));
                return out;
            }
        }
    }
}

fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

fn check(setup: &Setup, items: &[Item], close: Option<u16>, split: &Split) -> Result<(), TestCaseError> {
    let mut config = Config::default();
    config.deflate = setup.deflate.clone();
    config.fragment_size = setup.fragment_size;
    let new_pair = || Pair::new(config.clone(), config.clone());

    // What the sender puts on the wire, and what the receiver should make of it.
    let mut senders = new_pair();
    let sender = senders.side(setup.from);
    let mut expected = Vec::new();
    let mut pings = Vec::new();
    for item in items {
        match item {
            Item::Text(t) => {
                sender.send_text(t).unwrap();
                expected.push(Ok(Event::Message(Message::text(t.as_str()))));
            }
            Item::Binary(b) => {
                sender.send_binary(b).unwrap();
                expected.push(Ok(Event::Message(Message::binary(b.clone()))));
            }
            Item::Ping(p) => {
                sender.ping(p).unwrap();
                expected.push(Ok(Event::Ping(p.clone().into())));
                pings.push(p.clone());
            }
        }
    }
    if let Some(code) = close {
        let frame = CloseFrame::new(CloseCode(code), "done");
        sender.close(Some(frame.clone())).unwrap();
        expected.push(Ok(Event::Close(Some(frame))));
    }
    let wire = sender.take_output();

    // Three receivers: one reads everything at once, one in pieces, and one in pieces
    // through the borrowing `poll_event_ref`.
    let mut answers = Vec::new();
    for (i, split) in [Split::Whole, split.clone(), split.clone()].iter().enumerate() {
        let mut receivers = new_pair();
        let rx = receivers.side(other(setup.from));
        let mut got = Vec::new();
        for (j, read) in reads(&wire, split).into_iter().enumerate() {
            // Both ways in: `receive`, and reading straight into the buffer.
            if (i + j) % 2 == 0 {
                rx.receive(read);
            } else {
                rx.read_buffer().extend_from_slice(read);
            }
            if i == 2 {
                got.extend(poll_all_borrowed(rx));
            } else {
                got.extend(poll_all(rx));
            }
        }
        prop_assert!(
            got == expected,
            "got {got:?}\nexpected {expected:?}\nsplit {split:?}"
        );
        answers.push(rx.take_output());
    }
    prop_assert_eq!(
        &answers[0],
        &answers[1],
        "the answer does not depend on the reads"
    );
    prop_assert_eq!(&answers[0], &answers[2], "nor on borrowing the events");

    // Every ping was answered with its payload, and the close echoed.
    let mut expected_answers: Vec<Frame> = pings.iter().map(Frame::pong).collect();
    let mut expected_back: Vec<_> = pings.iter().map(|p| Ok(Event::Pong(p.clone().into()))).collect();
    if let Some(code) = close {
        expected_answers.push(Frame::close(code, ""));
        expected_back.push(Ok(Event::Close(Some(CloseFrame::new(CloseCode(code), "")))));
    }
    prop_assert_eq!(frames(&answers[0]), expected_answers);
    let sender = senders.side(setup.from);
    prop_assert_eq!(feed(sender, &answers[0]), expected_back);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn messages_arrive_intact_whatever_the_framing_and_the_reads(
        setup in setup(),
        items in vec(item(), 0..8),
        close in close_code(),
        split in split(),
    ) {
        check(&setup, &items, close, &split)?;
    }
}

/// Fragments a message at `cuts` and puts a ping after each non-final fragment, masking every
/// frame with its own key.
fn fragmented_with_pings(
    opcode: u8,
    payload: &[u8],
    cuts: &[usize],
    keys: &mut impl FnMut() -> [u8; 4],
) -> Vec<u8> {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (payload.len() + 1)).collect();
    bounds.push(0);
    bounds.push(payload.len());
    bounds.sort_unstable();
    bounds.dedup();
    if bounds.len() == 1 {
        bounds.push(payload.len()); // an empty message: one empty frame
    }
    let mut wire = Vec::new();
    let n = bounds.len() - 1;
    for (i, w) in bounds.windows(2).enumerate() {
        let last = i == n - 1;
        let op = if i == 0 { opcode } else { op::CONT };
        wire.extend(raw(last, 0, op, &payload[w[0]..w[1]], Some(keys())));
        if !last {
            wire.extend(raw(true, 0, op::PING, &i.to_be_bytes(), Some(keys())));
        }
    }
    wire
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// RFC 6455 §5.4: control frames in the middle of a fragmented message, fragments that
    /// split characters anywhere, masks that differ per frame.
    #[test]
    fn interleaved_pings_do_not_disturb_fragmented_messages(
        text in vec(any::<char>(), 0..300).prop_map(String::from_iter),
        cuts in vec(any::<usize>(), 0..12),
        binary in any::<bool>(),
        seed in any::<u32>(),
        bytewise in any::<bool>(),
    ) {
        let mut keys = key_sequence(seed);
        let opcode = if binary { op::BINARY } else { op::TEXT };
        let wire = fragmented_with_pings(opcode, text.as_bytes(), &cuts, &mut keys);
        let mut s = server();
        let got = if bytewise {
            wire.iter().flat_map(|b| feed(&mut s, std::slice::from_ref(b))).collect()
        } else {
            feed(&mut s, &wire)
        };
        let fragments = frames(&wire).iter().filter(|f| f.opcode != wsx_proto::OpCode::Ping).count();
        let mut expected: Vec<_> = (0..fragments - 1)
            .map(|i| Ok(Event::Ping(i.to_be_bytes().to_vec().into())))
            .collect();
        expected.push(Ok(Event::Message(if binary {
            Message::binary(text.clone().into_bytes())
        } else {
            Message::text(text.as_str())
        })));
        prop_assert_eq!(got, expected);
        let pongs: Vec<Frame> = (0..fragments - 1).map(|i| Frame::pong(i.to_be_bytes())).collect();
        prop_assert_eq!(sent(&mut s), pongs);
    }
}
