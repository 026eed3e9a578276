//! wsx-proto against tungstenite (and raw flate2 / std / naive baselines), side by side
//! in one run so the report can give ratios. See `docs/BENCHMARKS.md` for the method and
//! the latest numbers.
//!
//! Run: `cargo bench -p wsx-proto` (a filter works as usual: `cargo bench -p wsx-proto -- mask`).
//! `WSX_BENCH_CLOCK=cpu` measures thread CPU time instead of wall time, for machines
//! shared with other jobs. After criterion's own output, a Markdown summary (median time
//! per iteration turned into GB/s, ns per message and the wsx/peer ratio) is printed for
//! the benchmarks that ran in this invocation.
//!
//! Groups:
//! - `recv_text` (mixed UTF-8), `recv_text_ascii` (JSON), `recv_binary`: masked
//!   client→server frames → validated messages.
//!   wsx: a server `Connection`, fed in 128 KiB reads, `poll_event` drained.
//!   tungstenite: `WebSocket::from_raw_socket(.., Role::Server, ..)`, `read()` per
//!   message, over an in-memory stream handing out the same bytes (its read buffer is
//!   also 128 KiB). Rows marked `poll_event_ref` use the borrowing receive API.
//! - `send_text`, `send_binary`: server→client messages encoded and written into a
//!   `Vec<u8>` sink (wsx: `io_slices` + `write_vectored` + `advance_output`; tungstenite:
//!   `write` per message, one `flush`).
//! - `mask`: `wsx_proto::mask::apply_mask` vs tungstenite's algorithm (its `mask` module
//!   is private; the function is copied below) vs a naive byte loop.
//! - `utf8`: `wsx_proto::utf8::Validator` (whole, 4 KiB chunks) vs `std::str::from_utf8`
//!   (and simdutf8 called directly, the ceiling the validator can reach).
//! - `deflate_compress`, `deflate_inflate`: permessage-deflate through the public API vs
//!   raw flate2 doing the same DEFLATE work (tungstenite has no permessage-deflate).

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkId, Criterion, Throughput};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::hint::black_box;
use std::io::{self, IoSlice, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use wsx_proto::{Config, Connection, DeflateParams, Event, FrameHeader, Message, OpCode, Role};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// Frame payload sizes for the frame and message groups.
const SIZES: [usize; 4] = [16, KIB, 64 * KIB, MIB];
/// Bytes per simulated socket read, and tungstenite's `read_buffer_size` (its default).
const READ_CHUNK: usize = 128 * KIB;
/// The sync-flush tail permessage-deflate strips (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

// ---- summary bookkeeping -------------------------------------------------------------------

/// One line of the final summary: a wsx benchmark and the peer it is compared with.
struct Row {
    table: &'static str,
    label: String,
    wsx: String,
    peer: String,
    msgs: usize,
    bytes: usize,
}

static ROWS: Mutex<Vec<Row>> = Mutex::new(Vec::new());

fn row(table: &'static str, label: impl Into<String>, wsx: String, peer: String, msgs: usize, bytes: usize) {
    ROWS.lock().unwrap().push(Row {
        table,
        label: label.into(),
        wsx,
        peer,
        msgs,
        bytes,
    });
}

fn size_label(n: usize) -> String {
    if n >= MIB && n % MIB == 0 {
        format!("{}MiB", n / MIB)
    } else if n >= KIB && n % KIB == 0 {
        format!("{}KiB", n / KIB)
    } else {
        format!("{n}B")
    }
}

/// Messages per iteration: ~1 MiB of payload, at most 1000 messages, at least one.
fn msgs_per_iter(size: usize) -> usize {
    (MIB / size).clamp(1, 1000)
}

// ---- deterministic data --------------------------------------------------------------------

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const ASCII_WORDS: &[&str] = &[
    "the ",
    "quick ",
    "brown ",
    "fox ",
    "jumps ",
    "over ",
    "lazy ",
    "dog ",
    "websocket ",
    "frame ",
    "2024 ",
    ", ",
    ". ",
    "message ",
    "payload ",
];
const MULTIBYTE_WORDS: &[&str] = &[
    "héllo ",
    "naïve ",
    "straße ",
    "κόσμε ",
    "привет ",
    "€5 ",
    "日本語 ",
    "中文 ",
    "한국어 ",
    "🙂 ",
    "🚀 ",
    "Ünïcödé ",
    "ĉu ",
    "ﬁ ",
];

/// Exactly `n` bytes of valid UTF-8, about half the words multibyte (2, 3 and 4 byte
/// sequences), the rest ASCII.
fn mixed_text(n: usize, seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut s = String::with_capacity(n);
    while s.len() < n {
        let w = if rng.below(2) == 0 {
            rng.pick(ASCII_WORDS)
        } else {
            rng.pick(MULTIBYTE_WORDS)
        };
        if s.len() + w.len() > n {
            while s.len() < n {
                s.push('x');
            }
        } else {
            s.push_str(w);
        }
    }
    s
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    (0..n).map(|_| rng.next() as u8).collect()
}

const FIRST: &[&str] = &[
    "Ana", "Bruno", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Inès", "João",
];
const LAST: &[&str] = &[
    "Silva", "Martin", "Novak", "Okafor", "Schmidt", "Tanaka", "Rossi", "García", "Kim", "Dubois",
];
const EVENTS: &[&str] = &[
    "order.created",
    "order.paid",
    "user.login",
    "cart.updated",
    "price.tick",
    "chat.message",
];
const CITIES: &[&str] = &[
    "Lisbon",
    "Paris",
    "Berlin",
    "Lagos",
    "Tokyo",
    "Austin",
    "São Paulo",
    "Seoul",
];
const TAGS: &[&str] = &["vip", "mobile", "beta", "eu", "us", "retry", "bulk", "gift"];
const CURRENCIES: &[&str] = &["EUR", "USD", "JPY", "BRL", "KRW"];

fn json_object(rng: &mut Rng, id: usize) -> String {
    let (first, last) = (rng.pick(FIRST), rng.pick(LAST));
    let ntags = rng.below(3) + 1;
    let tags: Vec<String> = (0..ntags).map(|_| format!("\"{}\"", rng.pick(TAGS))).collect();
    format!(
        concat!(
            "{{\"id\":{},\"type\":\"{}\",\"ts\":\"2025-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\",",
            "\"user\":{{\"id\":{},\"name\":\"{} {}\",\"email\":\"{}.{}@example.com\",\"verified\":{}}},",
            "\"amount\":{}.{:02},\"currency\":\"{}\",\"tags\":[{}],",
            "\"geo\":{{\"city\":\"{}\",\"lat\":{}.{:04},\"lon\":-{}.{:04}}},\"seq\":{}}}"
        ),
        100_000 + id,
        rng.pick(EVENTS),
        rng.below(12) + 1,
        rng.below(28) + 1,
        rng.below(24),
        rng.below(60),
        rng.below(60),
        rng.below(1000),
        rng.below(1_000_000),
        first,
        last,
        first.to_lowercase(),
        last.to_lowercase(),
        rng.below(2) == 0,
        rng.below(10_000),
        rng.below(100),
        rng.pick(CURRENCIES),
        tags.join(","),
        rng.pick(CITIES),
        rng.below(90),
        rng.below(10_000),
        rng.below(180),
        rng.below(10_000),
        rng.next() % 1_000_000_000,
    )
}

/// A JSON array of event-like objects, exactly `n` bytes (the last object is a padding
/// object of words, so the size is exact without trailing whitespace).
fn json_doc(n: usize, seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut s = String::from("[");
    let mut id = (seed as usize % 1000) * 1000;
    loop {
        let obj = json_object(&mut rng, id);
        id += 1;
        // Keep room for `,{"note":""}]` plus a few words.
        if s.len() + obj.len() + 1 + 40 > n {
            break;
        }
        if s.len() > 1 {
            s.push(',');
        }
        s.push_str(&obj);
    }
    if s.len() > 1 {
        s.push(',');
    }
    s.push_str("{\"note\":\"");
    let end = n - 3; // `"}]`
    while s.len() < end {
        let w = rng.pick(ASCII_WORDS);
        if s.len() + w.len() <= end {
            s.push_str(w);
        } else {
            s.push('z');
        }
    }
    s.push_str("\"}]");
    assert_eq!(s.len(), n);
    s
}

/// `count` masked client frames carrying `payload`, each with its own key.
fn masked_frames(opcode: OpCode, payload: &[u8], count: usize) -> Vec<u8> {
    let mut rng = Rng(0x5eed);
    let mut wire = Vec::with_capacity(count * (payload.len() + 14));
    for _ in 0..count {
        let key = (rng.next() as u32).to_ne_bytes();
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask: Some(key),
            payload_len: payload.len() as u64,
        };
        let mut hb = [0; 14];
        let n = h.encode(&mut hb);
        wire.extend_from_slice(&hb[..n]);
        let start = wire.len();
        wire.extend_from_slice(payload);
        wsx_proto::mask::apply_mask_simple(&mut wire[start..], key, 0);
    }
    wire
}

/// Splits a stream of unmasked frames into their payloads.
fn frame_payloads(mut wire: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        let (h, n) = FrameHeader::parse(wire).unwrap().unwrap();
        let len = h.payload_len as usize;
        out.push(wire[n..n + len].to_vec());
        wire = &wire[n + len..];
    }
    out
}

// ---- drivers -------------------------------------------------------------------------------

fn server_config() -> Config {
    let mut c = Config::default();
    c.max_frame_size = 64 * MIB;
    c.max_message_size = 64 * MIB;
    c.ping_interval = None;
    c
}

fn tungstenite_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_CHUNK)
        .write_buffer_size(128 * KIB)
        .max_frame_size(Some(64 * MIB))
        .max_message_size(Some(64 * MIB))
}

/// Feeds `wire` in socket-sized reads and drains every event; returns how many messages.
fn wsx_receive(conn: &mut Connection, wire: &[u8]) -> usize {
    let mut n = 0;
    for chunk in wire.chunks(READ_CHUNK) {
        conn.receive(chunk);
        while let Some(ev) = conn.poll_event().expect("valid input") {
            black_box(&ev);
            n += 1;
        }
    }
    n
}

/// The same through `poll_event_ref`: events borrow the receive buffer.
fn wsx_receive_ref(conn: &mut Connection, wire: &[u8]) -> usize {
    let mut n = 0;
    for chunk in wire.chunks(READ_CHUNK) {
        conn.receive(chunk);
        while let Some(ev) = conn.poll_event_ref().expect("valid input") {
            black_box(&ev);
            n += 1;
        }
    }
    n
}

/// Writes everything a connection has queued into `sink`, as a driver would with `writev`.
fn wsx_drain(conn: &mut Connection, sink: &mut Vec<u8>) {
    while conn.pending_output() > 0 {
        let written = {
            let mut slices = [IoSlice::new(&[]); 64];
            let n = conn.io_slices(&mut slices);
            sink.write_vectored(&slices[..n]).unwrap()
        };
        conn.advance_output(written);
    }
}

/// An in-memory "socket" for tungstenite: reads replay `input` (then would block), writes
/// append to `output`.
#[derive(Default)]
struct MemStream {
    input: Vec<u8>,
    pos: usize,
    output: Vec<u8>,
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.input[self.pos..];
        if rest.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tungstenite_server(input: Vec<u8>) -> WebSocket<MemStream> {
    let stream = MemStream {
        input,
        ..Default::default()
    };
    WebSocket::from_raw_socket(stream, TRole::Server, Some(tungstenite_config()))
}

fn tungstenite_receive(ws: &mut WebSocket<MemStream>, count: usize) {
    ws.get_mut().pos = 0;
    for _ in 0..count {
        let m = ws.read().expect("valid input");
        black_box(&m);
    }
}

// ---- 1. receive ----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Payload {
    MixedText,
    Json,
    Binary,
}

fn bench_receive<M: Measurement>(c: &mut Criterion<M>) {
    // Text: mixed (41% non-ASCII bytes), and ASCII JSON, the common case and the best one
    // for tungstenite, whose `std::str::from_utf8` is fast on ASCII only.
    let groups: [(&str, Payload, &[usize]); 3] = [
        ("recv_text", Payload::MixedText, &SIZES),
        ("recv_text_ascii", Payload::Json, &[16, KIB, 64 * KIB]),
        ("recv_binary", Payload::Binary, &SIZES),
    ];
    for (group_name, kind, sizes) in groups {
        let text = kind != Payload::Binary;
        let mut g = c.benchmark_group(group_name);
        g.warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1500))
            .sample_size(30);
        for &size in sizes {
            let count = msgs_per_iter(size);
            let payload: Vec<u8> = match kind {
                Payload::MixedText => mixed_text(size, size as u64).into_bytes(),
                Payload::Json => json_doc(size, size as u64).into_bytes(),
                Payload::Binary => random_bytes(size, size as u64),
            };
            let opcode = if text { OpCode::Text } else { OpCode::Binary };
            let wire = masked_frames(opcode, &payload, count);
            let label = size_label(size);

            // Check both sides decode the same messages before timing anything.
            let mut conn = Connection::new(Role::Server, server_config());
            let mut seen = 0;
            for chunk in wire.chunks(READ_CHUNK) {
                conn.receive(chunk);
                while let Some(ev) = conn.poll_event().unwrap() {
                    let Event::Message(m) = ev else { panic!("{ev:?}") };
                    assert_eq!(m.as_bytes(), &payload[..]);
                    assert_eq!(m.is_text(), text);
                    seen += 1;
                }
            }
            assert_eq!(seen, count);
            let mut ws = tungstenite_server(wire.clone());
            for _ in 0..count {
                let m = ws.read().unwrap();
                assert_eq!(m.is_text(), text);
                assert_eq!(&m.into_data()[..], &payload[..]);
            }

            g.throughput(Throughput::Bytes((size * count) as u64));
            g.bench_function(BenchmarkId::new("wsx", &label), |b| {
                b.iter(|| {
                    let n = wsx_receive(&mut conn, black_box(&wire));
                    assert_eq!(n, count);
                })
            });
            g.bench_function(BenchmarkId::new("tungstenite", &label), |b| {
                b.iter(|| tungstenite_receive(&mut ws, count))
            });
            // Events that borrow the receive buffer: no refcounted `Bytes` per message.
            g.bench_function(BenchmarkId::new("wsx_borrowed", &label), |b| {
                b.iter(|| {
                    let n = wsx_receive_ref(&mut conn, black_box(&wire));
                    assert_eq!(n, count);
                })
            });
            row(
                group_name,
                format!("{label} × {count}, poll_event_ref"),
                format!("{group_name}/wsx_borrowed/{label}"),
                format!("{group_name}/tungstenite/{label}"),
                count,
                size * count,
            );
            row(
                group_name,
                format!("{label} × {count}"),
                format!("{group_name}/wsx/{label}"),
                format!("{group_name}/tungstenite/{label}"),
                count,
                size * count,
            );
        }
        g.finish();
    }
}

// ---- 2. send -------------------------------------------------------------------------------

fn bench_send<M: Measurement>(c: &mut Criterion<M>) {
    for (group_name, text) in [("send_text", true), ("send_binary", false)] {
        let mut g = c.benchmark_group(group_name);
        g.warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1500))
            .sample_size(30);
        // Text also at 2, 4 and 16 KiB: where queueing by reference starts to beat copying.
        let sizes: &[usize] = if text {
            &[16, KIB, 2 * KIB, 4 * KIB, 16 * KIB, 64 * KIB, MIB]
        } else {
            &SIZES
        };
        for &size in sizes {
            let count = msgs_per_iter(size);
            let label = size_label(size);
            let text_payload = mixed_text(size, size as u64);
            let bin_payload = bytes::Bytes::from(random_bytes(size, size as u64));
            let wsx_msg = if text {
                Message::text(text_payload.clone())
            } else {
                Message::Binary(bin_payload.clone())
            };
            let t_msg = if text {
                tungstenite::Message::Text(text_payload.clone().into())
            } else {
                tungstenite::Message::Binary(bin_payload.clone())
            };

            let mut conn = Connection::new(Role::Server, server_config());
            let mut sink = Vec::new();
            let mut ws = tungstenite_server(Vec::new());

            // Both produce the same bytes.
            conn.send(wsx_msg.clone()).unwrap();
            wsx_drain(&mut conn, &mut sink);
            ws.write(t_msg.clone()).unwrap();
            ws.flush().unwrap();
            assert_eq!(sink, ws.get_ref().output);

            g.throughput(Throughput::Bytes((size * count) as u64));
            if text {
                g.bench_function(BenchmarkId::new("wsx_send_text", &label), |b| {
                    b.iter(|| {
                        sink.clear();
                        for _ in 0..count {
                            conn.send_text(black_box(&text_payload)).unwrap();
                        }
                        wsx_drain(&mut conn, &mut sink);
                        black_box(&sink);
                    })
                });
            }
            g.bench_function(BenchmarkId::new("wsx_send", &label), |b| {
                b.iter(|| {
                    sink.clear();
                    for _ in 0..count {
                        conn.send(black_box(&wsx_msg).clone()).unwrap();
                    }
                    wsx_drain(&mut conn, &mut sink);
                    black_box(&sink);
                })
            });
            g.bench_function(BenchmarkId::new("tungstenite", &label), |b| {
                b.iter(|| {
                    ws.get_mut().output.clear();
                    for _ in 0..count {
                        ws.write(black_box(&t_msg).clone()).unwrap();
                    }
                    ws.flush().unwrap();
                    black_box(&ws.get_ref().output);
                })
            });
            if text {
                row(
                    group_name,
                    format!("{label} × {count}, send_text(&str)"),
                    format!("{group_name}/wsx_send_text/{label}"),
                    format!("{group_name}/tungstenite/{label}"),
                    count,
                    size * count,
                );
            }
            row(
                group_name,
                format!("{label} × {count}, send(Message)"),
                format!("{group_name}/wsx_send/{label}"),
                format!("{group_name}/tungstenite/{label}"),
                count,
                size * count,
            );
        }
        g.finish();
    }
}

// ---- 3. masking ----------------------------------------------------------------------------

/// tungstenite 0.30's `protocol::frame::mask::apply_mask` (= `apply_mask_fast32`), copied
/// verbatim because its module is private (MIT, © the tungstenite authors).
fn tungstenite_apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    fn fallback(buf: &mut [u8], mask: [u8; 4]) {
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte ^= mask[i & 3];
        }
    }
    let mask_u32 = u32::from_ne_bytes(mask);
    // SAFETY: every bit pattern is a valid `u32`; `align_to_mut` only returns aligned words.
    let (prefix, words, suffix) = unsafe { buf.align_to_mut::<u32>() };
    fallback(prefix, mask);
    let head = prefix.len() & 3;
    let mask_u32 = if head > 0 {
        if cfg!(target_endian = "big") {
            mask_u32.rotate_left(8 * head as u32)
        } else {
            mask_u32.rotate_right(8 * head as u32)
        }
    } else {
        mask_u32
    };
    for word in words.iter_mut() {
        *word ^= mask_u32;
    }
    fallback(suffix, mask_u32.to_ne_bytes());
}

/// The obvious loop, kept out of line so it is measured as written.
#[inline(never)]
#[allow(clippy::needless_range_loop)]
fn naive_mask(buf: &mut [u8], key: [u8; 4]) {
    for i in 0..buf.len() {
        buf[i] ^= key[i % 4];
    }
}

fn bench_mask<M: Measurement>(c: &mut Criterion<M>) {
    let mut g = c.benchmark_group("mask");
    g.warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(1000))
        .sample_size(30);
    let key = [0x6d, 0xb6, 0xb2, 0x80];
    for size in [KIB, 64 * KIB, MIB] {
        let label = size_label(size);
        let mut buf = random_bytes(size, 7);
        {
            let (mut a, mut b, mut n) = (buf.clone(), buf.clone(), buf.clone());
            wsx_proto::mask::apply_mask(&mut a, key, 0);
            tungstenite_apply_mask(&mut b, key);
            naive_mask(&mut n, key);
            assert!(a == b && b == n);
        }
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("wsx", &label), |b| {
            b.iter(|| wsx_proto::mask::apply_mask(black_box(&mut buf), black_box(key), 0))
        });
        g.bench_function(BenchmarkId::new("tungstenite", &label), |b| {
            b.iter(|| tungstenite_apply_mask(black_box(&mut buf), black_box(key)))
        });
        g.bench_function(BenchmarkId::new("naive", &label), |b| {
            b.iter(|| naive_mask(black_box(&mut buf), black_box(key)))
        });
        row(
            "mask",
            format!("{label} vs tungstenite"),
            format!("mask/wsx/{label}"),
            format!("mask/tungstenite/{label}"),
            1,
            size,
        );
        row(
            "mask",
            format!("{label} vs naive loop"),
            format!("mask/wsx/{label}"),
            format!("mask/naive/{label}"),
            1,
            size,
        );
    }
    g.finish();
}

// ---- 4. UTF-8 ------------------------------------------------------------------------------

fn bench_utf8<M: Measurement>(c: &mut Criterion<M>) {
    let mut g = c.benchmark_group("utf8");
    g.warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(1000))
        .sample_size(30);
    let mixed_str = mixed_text(MIB, 42);
    let sample: String = mixed_str.chars().take(60).collect();
    let mixed = mixed_str.into_bytes();
    let ascii: Vec<u8> = (0..MIB)
        .map(|i| b"the quick brown fox jumps over the lazy dog. "[i % 45])
        .collect();
    let non_ascii = mixed.iter().filter(|b| !b.is_ascii()).count();
    eprintln!(
        "utf8: 1 MiB mixed text, {:.1}% of bytes non-ASCII, e.g. {:?}",
        100.0 * non_ascii as f64 / mixed.len() as f64,
        sample
    );
    for (name, data) in [("mixed", &mixed), ("ascii", &ascii)] {
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(BenchmarkId::new("wsx_whole", name), |b| {
            b.iter(|| {
                let mut v = wsx_proto::utf8::Validator::new();
                v.feed(black_box(data)).unwrap();
                v.finish().unwrap();
            })
        });
        g.bench_function(BenchmarkId::new("wsx_4KiB_chunks", name), |b| {
            b.iter(|| {
                let mut v = wsx_proto::utf8::Validator::new();
                for chunk in black_box(data).chunks(4 * KIB) {
                    v.feed(chunk).unwrap();
                }
                v.finish().unwrap();
            })
        });
        g.bench_function(BenchmarkId::new("std", name), |b| {
            b.iter(|| std::str::from_utf8(black_box(data)).unwrap().len())
        });
        g.bench_function(BenchmarkId::new("simdutf8_direct", name), |b| {
            b.iter(|| simdutf8::compat::from_utf8(black_box(data)).unwrap().len())
        });
        // The `basic` API (no error position): what a validator built on it could reach.
        g.bench_function(BenchmarkId::new("simdutf8_basic", name), |b| {
            b.iter(|| simdutf8::basic::from_utf8(black_box(data)).unwrap().len())
        });
        let n = data.len();
        row(
            "utf8",
            format!("1MiB {name}, whole vs std"),
            format!("utf8/wsx_whole/{name}"),
            format!("utf8/std/{name}"),
            1,
            n,
        );
        row(
            "utf8",
            format!("1MiB {name}, 4 KiB chunks vs std"),
            format!("utf8/wsx_4KiB_chunks/{name}"),
            format!("utf8/std/{name}"),
            1,
            n,
        );
        row(
            "utf8",
            format!("1MiB {name}, whole vs simdutf8 direct"),
            format!("utf8/wsx_whole/{name}"),
            format!("utf8/simdutf8_direct/{name}"),
            1,
            n,
        );
        row(
            "utf8",
            format!("1MiB {name}, whole vs simdutf8::basic"),
            format!("utf8/wsx_whole/{name}"),
            format!("utf8/simdutf8_basic/{name}"),
            1,
            n,
        );
    }
    g.finish();
}

// ---- 5. permessage-deflate ------------------------------------------------------------------

fn deflate_conn(role: Role) -> Connection {
    Connection::new(role, server_config())
        .with_mask_source(|| [1, 2, 3, 4])
        .with_deflate(Some(DeflateParams::default()))
}

fn bench_deflate<M: Measurement>(c: &mut Criterion<M>) {
    let level = wsx_proto::DeflateConfig::default().level;
    let mut gc = c.benchmark_group("deflate_compress");
    gc.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20);
    // Enough distinct documents per iteration that, with context takeover, the 32 KiB
    // window never holds an identical copy of the message being compressed.
    let sets: Vec<(usize, Vec<String>)> = [(KIB, 64), (64 * KIB, 4)]
        .into_iter()
        .map(|(size, n)| (size, (0..n).map(|i| json_doc(size, 1000 + i as u64)).collect()))
        .collect();
    eprintln!("deflate: sample document: {}…", &sets[0].1[0][..300]);

    for (size, docs) in &sets {
        let label = size_label(*size);
        let total: usize = docs.iter().map(String::len).sum();
        let mut server = deflate_conn(Role::Server);
        let mut sink = Vec::new();
        let mut comp = Compress::new_with_window_bits(Compression::new(level), false, 15);
        let mut out = Vec::with_capacity(size * 2 + 64);

        // Sanity: wsx's compressed frames match what raw flate2 produces at the same level.
        {
            let mut s = deflate_conn(Role::Server);
            let mut c2 = Compress::new_with_window_bits(Compression::new(level), false, 15);
            for d in docs {
                s.send_text(d).unwrap();
            }
            let wsx_payloads = frame_payloads(&s.take_output());
            for (d, p) in docs.iter().zip(&wsx_payloads) {
                let mut o = Vec::with_capacity(size * 2 + 64);
                c2.compress_vec(d.as_bytes(), &mut o, FlushCompress::Sync)
                    .unwrap();
                assert!(o.ends_with(&TAIL));
                assert_eq!(&o[..o.len() - 4], &p[..]);
            }
            let ratio = wsx_payloads.iter().map(Vec::len).sum::<usize>() as f64 / total as f64;
            eprintln!(
                "deflate: {label} JSON compresses to {:.1}% at level {level}",
                ratio * 100.0
            );
        }

        gc.throughput(Throughput::Bytes(total as u64));
        gc.bench_function(BenchmarkId::new("wsx", &label), |b| {
            b.iter(|| {
                sink.clear();
                for d in docs {
                    server.send_text(black_box(d)).unwrap();
                }
                wsx_drain(&mut server, &mut sink);
                black_box(&sink);
            })
        });
        gc.bench_function(BenchmarkId::new("flate2", &label), |b| {
            b.iter(|| {
                for d in docs {
                    out.clear();
                    let before = comp.total_in();
                    comp.compress_vec(black_box(d.as_bytes()), &mut out, FlushCompress::Sync)
                        .unwrap();
                    debug_assert_eq!((comp.total_in() - before) as usize, d.len());
                    black_box(&out);
                }
            })
        });
        row(
            "deflate_compress",
            format!("{label} JSON × {}", docs.len()),
            format!("deflate_compress/wsx/{label}"),
            format!("deflate_compress/flate2/{label}"),
            docs.len(),
            total,
        );
    }
    gc.finish();

    let mut gi = c.benchmark_group("deflate_inflate");
    gi.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20);
    for (size, docs) in &sets {
        let label = size_label(*size);
        let total: usize = docs.iter().map(String::len).sum();
        // Recorded from a fresh compressor, so the first message refers to nothing before
        // it and the whole recording can be replayed into a decompressor that keeps its
        // context (the default, context takeover).
        let mut s = deflate_conn(Role::Server);
        for d in docs {
            s.send_text(d).unwrap();
        }
        let wire = s.take_output().to_vec();
        let payloads = frame_payloads(&wire);
        let mut client = deflate_conn(Role::Client);
        let mut dec = Decompress::new_with_window_bits(false, 15);
        let mut out = Vec::with_capacity(size + 1024);

        for round in 0..2 {
            let mut i = 0;
            for chunk in wire.chunks(READ_CHUNK) {
                client.receive(chunk);
                while let Some(ev) = client.poll_event().unwrap() {
                    let Event::Message(m) = ev else { panic!() };
                    assert_eq!(m.as_bytes(), docs[i].as_bytes(), "round {round}");
                    i += 1;
                }
            }
            assert_eq!(i, docs.len());
            for (p, d) in payloads.iter().zip(docs) {
                out.clear();
                dec.decompress_vec(p, &mut out, FlushDecompress::Sync).unwrap();
                dec.decompress_vec(&TAIL, &mut out, FlushDecompress::Sync)
                    .unwrap();
                assert_eq!(&out[..], d.as_bytes());
            }
        }

        gi.throughput(Throughput::Bytes(total as u64));
        gi.bench_function(BenchmarkId::new("wsx", &label), |b| {
            b.iter(|| {
                let n = wsx_receive(&mut client, black_box(&wire));
                assert_eq!(n, docs.len());
            })
        });
        gi.bench_function(BenchmarkId::new("flate2", &label), |b| {
            b.iter(|| {
                for p in &payloads {
                    out.clear();
                    dec.decompress_vec(black_box(p), &mut out, FlushDecompress::Sync)
                        .unwrap();
                    dec.decompress_vec(&TAIL, &mut out, FlushDecompress::Sync)
                        .unwrap();
                    black_box(&out);
                }
            })
        });
        row(
            "deflate_inflate",
            format!("{label} JSON × {}", docs.len()),
            format!("deflate_inflate/wsx/{label}"),
            format!("deflate_inflate/flate2/{label}"),
            docs.len(),
            total,
        );
    }
    gi.finish();
}

// ---- summary -------------------------------------------------------------------------------

/// Where criterion writes its results (its own rules, minus `cargo metadata`).
fn criterion_home() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("CRITERION_HOME") {
        return Some(h.into());
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(t).join("criterion"));
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|d| d.join("target/criterion"))
        .find(|p| p.is_dir())
}

/// Median time per iteration in ns, if the benchmark ran in this process.
fn median_ns(home: &Path, path: &str, since: SystemTime) -> Option<f64> {
    let file = home.join(path).join("new/estimates.json");
    if std::fs::metadata(&file).ok()?.modified().ok()? < since {
        return None; // stale: filtered out of this run
    }
    let json = std::fs::read_to_string(file).ok()?;
    let median = &json[json.find("\"median\"")?..];
    let v = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = v.find([',', '}'])?;
    v[..end].trim().parse().ok()
}

fn print_summary(since: SystemTime, clock: &str) {
    let Some(home) = criterion_home() else {
        eprintln!("summary: criterion output directory not found");
        return;
    };
    let rows = ROWS.lock().unwrap();
    let peer_name = |table: &str| match table {
        "recv_text" | "recv_text_ascii" | "recv_binary" | "send_text" | "send_binary" => "tungstenite",
        "mask" => "tungstenite / naive",
        "utf8" => "std / simdutf8",
        _ => "flate2",
    };
    println!(
        "\n## Summary ({clock}, median of criterion samples; GB = 10^9 bytes; \
         ratio = wsx throughput / peer throughput)\n"
    );
    let mut current = "";
    for r in rows.iter() {
        let (Some(w), Some(p)) = (median_ns(&home, &r.wsx, since), median_ns(&home, &r.peer, since)) else {
            continue;
        };
        if r.table != current {
            current = r.table;
            println!("\n### {}\n", r.table);
            println!(
                "| case | wsx GB/s | wsx ns/msg | peer ({}) GB/s | peer ns/msg | ratio wsx/peer |",
                peer_name(r.table)
            );
            println!("|---|---:|---:|---:|---:|---:|");
        }
        let gbs = |ns: f64| r.bytes as f64 / ns;
        println!(
            "| {} | {:.2} | {:.1} | {:.2} | {:.1} | {:.2}× |",
            r.label,
            gbs(w),
            w / r.msgs as f64,
            gbs(p),
            p / r.msgs as f64,
            p / w
        );
    }
}

/// Thread CPU time instead of wall time (`WSX_BENCH_CLOCK=cpu`): on a machine shared
/// with other jobs, time spent descheduled is not charged to the code under test. Cache
/// and memory-bandwidth interference from the other jobs still is.
struct ThreadCpuTime;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        static WALL: WallTime = WallTime;
        WALL.formatter() // nanoseconds either way
    }
}

fn run<M: Measurement>(c: Criterion<M>, clock: &str) {
    let start = SystemTime::now();
    let mut c = c
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    bench_receive(&mut c);
    bench_send(&mut c);
    bench_mask(&mut c);
    bench_utf8(&mut c);
    bench_deflate(&mut c);
    c.final_summary();
    // Only after real measurements (`cargo bench` passes `--bench`; `cargo test` and
    // `-- --test` / `--list` measure nothing).
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list") {
        print_summary(start, clock);
    }
}

fn main() {
    match std::env::var("WSX_BENCH_CLOCK").as_deref() {
        Ok("cpu") => run(
            Criterion::default().with_measurement(ThreadCpuTime),
            "thread CPU time",
        ),
        _ => run(Criterion::default(), "wall time"),
    }
}
