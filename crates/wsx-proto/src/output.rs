//! The queue of bytes a connection wants written, shaped for vectored writes.
//!
//! Small frames are coalesced into one buffer; large unmasked payloads that the caller
//! handed over as `Bytes` are queued by reference, not copied, and go out in the same
//! `writev` as their header.

use crate::frame::{FrameHeader, MAX_HEADER_LEN};
use crate::mask::apply_mask;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;

/// Payloads at least this long are queued by reference instead of copied. Below it,
/// copying into the coalescing buffer costs less than another queue entry (measured:
/// 87 vs 118 ns at 1 KiB, 149 vs 111 ns at 2 KiB).
const SHARE_MIN: usize = 2048;

/// A payload to send: borrowed (copied into the queue) or shared (maybe queued as is).
#[derive(Debug)]
pub(crate) enum Payload<'a> {
    Borrowed(&'a [u8]),
    Shared(Bytes),
}

impl Payload<'_> {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Borrowed(b) => b,
            Payload::Shared(b) => b,
        }
    }

    pub(crate) fn slice(&self, range: std::ops::Range<usize>) -> Payload<'_> {
        match self {
            Payload::Borrowed(b) => Payload::Borrowed(&b[range]),
            Payload::Shared(b) => Payload::Shared(b.slice(range)),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    /// Complete chunks, written before `tail`. Boxed: only large shared payloads need
    /// it, and an idle connection should not carry its room.
    #[allow(clippy::box_collection)] // 8 bytes inline instead of 32, on purpose
    chunks: Option<Box<VecDeque<Bytes>>>,
    /// Where small frames accumulate.
    tail: BytesMut,
    /// Total unwritten bytes.
    len: usize,
}

impl OutQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push_frame(&mut self, header: &FrameHeader, payload: Payload<'_>) {
        let mut h = [0; MAX_HEADER_LEN];
        let n = header.encode(&mut h);
        let body_len = payload.as_slice().len();
        self.len += n + body_len;
        match (header.mask, payload) {
            (None, Payload::Shared(b)) if b.len() >= SHARE_MIN => {
                self.tail.extend_from_slice(&h[..n]);
                let chunks = self.chunks.get_or_insert_with(Default::default);
                chunks.push_back(self.tail.split().freeze());
                chunks.push_back(b);
            }
            (mask, p) => {
                self.tail.reserve(n + body_len);
                self.tail.extend_from_slice(&h[..n]);
                let start = self.tail.len();
                self.tail.extend_from_slice(p.as_slice());
                if let Some(key) = mask {
                    apply_mask(&mut self.tail[start..], key, 0);
                }
            }
        }
    }

    /// Queues bytes that are already a complete frame (a prepared message's), by
    /// reference when large.
    pub(crate) fn push_encoded(&mut self, frame: &Bytes) {
        self.len += frame.len();
        if frame.len() >= SHARE_MIN {
            let chunks = self.chunks.get_or_insert_with(Default::default);
            if !self.tail.is_empty() {
                chunks.push_back(self.tail.split().freeze());
            }
            chunks.push_back(frame.clone());
        } else {
            self.tail.extend_from_slice(frame);
        }
    }

    /// Fills `dst` with slices of the queued bytes in order; returns how many it filled.
    pub(crate) fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for chunk in self
            .chunks
            .iter()
            .flat_map(|c| c.iter())
            .map(|c| &c[..])
            .chain(std::iter::once(&self.tail[..]))
        {
            if n == dst.len() {
                break;
            }
            if !chunk.is_empty() {
                dst[n] = IoSlice::new(chunk);
                n += 1;
            }
        }
        n
    }

    /// Marks `n` bytes as written.
    pub(crate) fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advanced past the queued output");
        self.len -= n;
        while n > 0 {
            match self.chunks.as_mut().and_then(|c| c.front_mut()) {
                Some(c) if c.len() <= n => {
                    n -= c.len();
                    self.chunks.as_mut().expect("a chunk was found").pop_front();
                }
                Some(c) => {
                    c.advance(n);
                    return;
                }
                None => {
                    self.tail.advance(n);
                    return;
                }
            }
        }
    }

    /// Takes everything as one buffer (copying only if large payloads were shared).
    pub(crate) fn take(&mut self) -> BytesMut {
        self.len = 0;
        let Some(chunks) = self.chunks.take().filter(|c| !c.is_empty()) else {
            return self.tail.split();
        };
        let mut all = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum::<usize>() + self.tail.len());
        for c in chunks.iter() {
            all.extend_from_slice(c);
        }
        all.extend_from_slice(&self.tail);
        self.tail.clear();
        all
    }

    /// Drops the buffer's capacity if nothing is queued, so an idle connection holds none.
    pub(crate) fn shrink(&mut self) {
        if self.len == 0 {
            self.tail = BytesMut::new();
            self.chunks = None;
        }
    }
}
