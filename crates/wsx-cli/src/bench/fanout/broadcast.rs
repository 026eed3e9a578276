//! The `broadcast` example's contract: binary messages, sent by one WebSocket connection,
//! go to every other connection. Subscribing is connecting.

/// The send time (ns, big-endian) then the message number (u32), padded to `size`.
pub(super) fn payload(idx: usize, size: usize, sent_ns: u64) -> Vec<u8> {
    let mut p = vec![b'x'; size.max(12)];
    p[..8].copy_from_slice(&sent_ns.to_be_bytes());
    p[8..12].copy_from_slice(&(idx as u32).to_be_bytes());
    p
}

pub(super) fn frame(idx: usize, size: usize, sent_ns: u64) -> Vec<u8> {
    crate::bench::masked_frame(&payload(idx, size, sent_ns), false)
}

pub(super) fn message_index(p: &[u8]) -> Option<usize> {
    let idx = p.get(8..12)?;
    Some(u32::from_be_bytes(idx.try_into().expect("4 bytes")) as usize)
}
