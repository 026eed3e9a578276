//! Masking (RFC 6455 §5.3): `payload[i] ^= key[i % 4]`.
//!
//! The fast path works on 32-byte blocks against a key repeated to 32 bytes, a shape
//! the compiler turns into SIMD XORs on every target, with no `unsafe`.

/// XORs `buf` with `key`, as if `buf` started at byte `offset` of the payload. Masking
/// and unmasking are the same operation; `offset` lets a payload be unmasked in pieces
/// as it arrives.
///
/// ```
/// use wsx_proto::mask::apply_mask;
/// // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
/// let mut data = *b"Hello";
/// apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// // Unmask in two pieces.
/// let (a, b) = data.split_at_mut(2);
/// apply_mask(a, [0x37, 0xfa, 0x21, 0x3d], 0);
/// apply_mask(b, [0x37, 0xfa, 0x21, 0x3d], 2);
/// assert_eq!(&data, b"Hello");
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    if buf.len() < 32 {
        apply_mask_simple(buf, key, 0);
        return;
    }
    let wide: [u8; 32] = std::array::from_fn(|i| key[i % 4]);
    let mut blocks = buf.chunks_exact_mut(32);
    for block in &mut blocks {
        for (b, k) in block.iter_mut().zip(wide) {
            *b ^= k;
        }
    }
    // Whole blocks are a multiple of 4 long, so the tail starts at key offset 0.
    apply_mask_simple(blocks.into_remainder(), key, 0);
}

/// The key as seen from `offset`: the byte that masks payload byte `offset` comes first.
#[inline]
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    let mut k = key;
    k.rotate_left(offset % 4);
    k
}

/// The byte-at-a-time reference implementation the fast path is tested against.
///
/// ```
/// let mut a = *b"Hello";
/// wsx_proto::mask::apply_mask_simple(&mut a, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(a, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
#[inline]
pub fn apply_mask_simple(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(i + offset) % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_matches_reference_for_every_length_and_offset() {
        let key = [0x6d, 0xb6, 0xb2, 0x80];
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            for offset in 0..8 {
                let mut fast = data[..len].to_vec();
                let mut slow = fast.clone();
                apply_mask(&mut fast, key, offset);
                apply_mask_simple(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn unaligned_slices() {
        let key = [1, 2, 3, 4];
        let mut buf = vec![0u8; 1000];
        for start in 0..16 {
            let mut fast = buf[start..].to_vec();
            apply_mask(&mut buf[start..], key, start);
            apply_mask_simple(&mut fast, key, start);
            assert_eq!(&buf[start..], &fast[..]);
            apply_mask(&mut buf[start..], key, start); // undo
        }
    }
}
