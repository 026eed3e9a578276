//! A transport tap: wraps a socket, records every byte read and written, and parses the
//! recording into frames with a small RFC 6455 parser of its own (not wsx-proto's), so
//! a test can assert what actually crossed the wire: RSV1 (compressed) data frames,
//! continuation frames, pings, pongs and close codes, in each direction.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Everything read and written through a [`Tap`].
#[derive(Debug, Clone, Default)]
pub struct Wire(Arc<Mutex<Recording>>);

#[derive(Debug, Default)]
struct Recording {
    read: Vec<u8>,
    written: Vec<u8>,
}

/// One frame as seen on the wire (payload unmasked, still compressed if RSV1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

/// The frames of one direction.
#[derive(Debug, Clone)]
pub struct Frames {
    /// The HTTP head that preceded them.
    pub head: String,
    pub frames: Vec<Frame>,
}

impl Wire {
    /// What we received: the peer's HTTP head and frames.
    pub fn received(&self) -> Frames {
        parse(&self.0.lock().unwrap().read)
    }

    /// What we sent: our HTTP head and frames.
    pub fn sent(&self) -> Frames {
        parse(&self.0.lock().unwrap().written)
    }
}

impl Frames {
    /// A header's value in the HTTP head (case-insensitive name), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// Data frames (text, binary, continuation).
    pub fn data(&self) -> impl Iterator<Item = &Frame> {
        self.frames.iter().filter(|f| f.opcode < 0x8)
    }

    /// How many data frames have RSV1 set (the first frame of a compressed message).
    pub fn compressed_messages(&self) -> usize {
        self.data().filter(|f| f.rsv1).count()
    }

    /// How many continuation frames there are (fragmented messages).
    pub fn continuations(&self) -> usize {
        self.frames.iter().filter(|f| f.opcode == OP_CONTINUATION).count()
    }

    /// The payloads of the frames with this opcode, in order.
    pub fn payloads(&self, opcode: u8) -> Vec<Vec<u8>> {
        self.frames
            .iter()
            .filter(|f| f.opcode == opcode)
            .map(|f| f.payload.clone())
            .collect()
    }

    /// The close frames: code (`None`: empty payload) and reason.
    pub fn closes(&self) -> Vec<(Option<u16>, String)> {
        self.payloads(OP_CLOSE)
            .into_iter()
            .map(|p| match p.len() {
                0 | 1 => (None, String::new()),
                _ => (
                    Some(u16::from_be_bytes([p[0], p[1]])),
                    String::from_utf8_lossy(&p[2..]).into_owned(),
                ),
            })
            .collect()
    }

    /// One line per frame, for failure messages.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for f in &self.frames {
            s.push_str(&format!(
                "  fin={} rsv1={} op={:#x} masked={} len={}\n",
                f.fin as u8,
                f.rsv1 as u8,
                f.opcode,
                f.masked as u8,
                f.payload.len()
            ));
        }
        s
    }
}

/// Splits a recording into its HTTP head and frames. Panics on malformed framing or
/// reserved bits other than RSV1: those would be bugs on one side or the other.
fn parse(bytes: &[u8]) -> Frames {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut rest = &bytes[end..];
    let mut frames = Vec::new();
    while !rest.is_empty() {
        assert!(
            rest.len() >= 2,
            "truncated frame header at the end of the recording"
        );
        let (b0, b1) = (rest[0], rest[1]);
        assert_eq!(b0 & 0x30, 0, "RSV2/RSV3 set in frame header {b0:#x}");
        let masked = b1 & 0x80 != 0;
        let (len, mut at) = match b1 & 0x7f {
            126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 => (u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        let key = masked.then(|| {
            let k: [u8; 4] = rest[at..at + 4].try_into().unwrap();
            at += 4;
            k
        });
        assert!(
            rest.len() >= at + len,
            "truncated frame payload at the end of the recording"
        );
        let mut payload = rest[at..at + len].to_vec();
        if let Some(k) = key {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= k[i % 4];
            }
        }
        frames.push(Frame {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            opcode: b0 & 0x0f,
            masked,
            payload,
        });
        rest = &rest[at + len..];
    }
    Frames { head, frames }
}

/// A transport that records what passes through it into a [`Wire`].
#[derive(Debug)]
pub struct Tap<S> {
    inner: S,
    wire: Wire,
}

impl<S> Tap<S> {
    pub fn new(inner: S) -> (Tap<S>, Wire) {
        let wire = Wire::default();
        (
            Tap {
                inner,
                wire: wire.clone(),
            },
            wire,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            self.wire
                .0
                .lock()
                .unwrap()
                .read
                .extend_from_slice(&buf.filled()[before..]);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            self.wire.0.lock().unwrap().written.extend_from_slice(&buf[..n]);
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = result {
            let mut left = n;
            let mut rec = self.wire.0.lock().unwrap();
            for b in bufs {
                let take = left.min(b.len());
                rec.written.extend_from_slice(&b[..take]);
                left -= take;
                if left == 0 {
                    break;
                }
            }
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
