//! Frame headers: parsing and serializing the base framing of RFC 6455 §5.2.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! ```
//!
//! This module checks what the header alone can prove wrong (reserved opcodes, length
//! encoding). Rules that depend on the connection (mask direction, extensions, limits,
//! fragmentation) live in [`crate::Connection`].

use crate::error::{Error, Result};

/// A frame opcode (RFC 6455 §5.2, §11.8). Reserved opcodes are rejected when parsing.
///
/// ```
/// use wsx_proto::OpCode;
/// assert!(OpCode::Ping.is_control());
/// assert_eq!(OpCode::from_u8(0x3), None); // reserved
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation = 0x0,
    /// 0x1: first frame of a text message.
    Text = 0x1,
    /// 0x2: first frame of a binary message.
    Binary = 0x2,
    /// 0x8: connection close.
    Close = 0x8,
    /// 0x9: ping.
    Ping = 0x9,
    /// 0xA: pong.
    Pong = 0xA,
}

impl OpCode {
    /// The opcode for a 4-bit value, or `None` if it is reserved.
    ///
    /// ```
    /// assert_eq!(wsx_proto::OpCode::from_u8(0xA), Some(wsx_proto::OpCode::Pong));
    /// ```
    pub fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// Whether this is a control opcode (close, ping, pong).
    ///
    /// ```
    /// assert!(!wsx_proto::OpCode::Text.is_control());
    /// ```
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// RSV1: claimed by permessage-deflate to mark a compressed message (RFC 7692 §6).
pub const RSV1: u8 = 0b100;

/// The longest possible header: 2 bytes, 8 bytes of length, 4 bytes of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A parsed frame header.
///
/// ```
/// use wsx_proto::{FrameHeader, OpCode};
/// // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
/// let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
/// let (h, n) = FrameHeader::parse(&wire).unwrap().unwrap();
/// assert_eq!((h.fin, h.opcode, h.mask, h.payload_len, n), (true, OpCode::Text, None, 5, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// The three RSV bits as `RSV1 << 2 | RSV2 << 1 | RSV3`.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `buf`. `Ok(None)` means more bytes are needed;
    /// `Ok(Some((header, n)))` means the header took `n` bytes. Never reads past the header.
    ///
    /// Fails on a reserved opcode, a non-minimal length encoding or a 64-bit length with
    /// its most significant bit set (RFC 6455 §5.2).
    ///
    /// ```
    /// use wsx_proto::{Error, FrameHeader};
    /// assert_eq!(FrameHeader::parse(&[0x81]), Ok(None)); // need more bytes
    /// assert_eq!(FrameHeader::parse(&[0x83, 0x00]), Err(Error::ReservedOpcode(3)));
    /// ```
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let opcode = OpCode::from_u8(b0 & 0x0f).ok_or(Error::ReservedOpcode(b0 & 0x0f))?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, len_bytes) = match b1 & 0x7f {
            126 => {
                let Some(b) = buf.get(2..4) else { return Ok(None) };
                let len = u16::from_be_bytes([b[0], b[1]]) as u64;
                // §5.2: "the minimal number of bytes MUST be used to encode the length".
                if len < 126 {
                    return Err(Error::InvalidPayloadLength);
                }
                (len, 2)
            }
            127 => {
                let Some(b) = buf.get(2..10) else { return Ok(None) };
                let len = u64::from_be_bytes(b.try_into().expect("8 bytes"));
                // §5.2: "the most significant bit MUST be 0".
                if len >> 63 != 0 || len <= 0xffff {
                    return Err(Error::InvalidPayloadLength);
                }
                (len, 8)
            }
            n => (n as u64, 0),
        };
        let mut n = 2 + len_bytes;
        let mask = if masked {
            let Some(k) = buf.get(n..n + 4) else {
                return Ok(None);
            };
            n += 4;
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin: b0 & 0x80 != 0,
                rsv: (b0 >> 4) & 0x7,
                opcode,
                mask,
                payload_len,
            },
            n,
        )))
    }

    /// Serializes the header into `out`, returning how many bytes were written (2-14).
    ///
    /// ```
    /// use wsx_proto::{FrameHeader, OpCode};
    /// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len: 256 };
    /// let mut buf = [0; 14];
    /// let n = h.encode(&mut buf);
    /// assert_eq!(&buf[..n], &[0x82, 0x7e, 0x01, 0x00]); // RFC 6455 §5.7: 256 bytes binary
    /// ```
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (self.fin as u8) << 7 | (self.rsv & 0x7) << 4 | self.opcode as u8;
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut n = match self.payload_len {
            len @ 0..=125 => {
                out[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=0xffff => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[n..n + 4].copy_from_slice(&key);
            n += 4;
        }
        n
    }

    /// The encoded length of this header.
    ///
    /// ```
    /// use wsx_proto::{FrameHeader, OpCode};
    /// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Text, mask: Some([1, 2, 3, 4]), payload_len: 70000 };
    /// assert_eq!(h.encoded_len(), 14);
    /// ```
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xffff => 4,
            _ => 10,
        };
        len + if self.mask.is_some() { 4 } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(buf: &[u8]) -> (FrameHeader, usize) {
        FrameHeader::parse(buf).unwrap().unwrap()
    }

    /// The examples of RFC 6455 §5.7, byte for byte.
    #[test]
    fn rfc_examples() {
        // Single-frame unmasked text "Hello".
        let (h, n) = parse_all(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(
            (h.fin, h.opcode, h.payload_len, h.mask, n),
            (true, OpCode::Text, 5, None, 2)
        );
        // Single-frame masked text "Hello".
        let (h, n) = parse_all(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        assert_eq!((h.mask, n), (Some([0x37, 0xfa, 0x21, 0x3d]), 6));
        // Fragmented unmasked text: "Hel" then "lo".
        let (h, _) = parse_all(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert_eq!((h.fin, h.opcode), (false, OpCode::Text));
        let (h, _) = parse_all(&[0x80, 0x02, 0x6c, 0x6f]);
        assert_eq!((h.fin, h.opcode), (true, OpCode::Continuation));
        // Unmasked ping and masked pong "Hello".
        assert_eq!(parse_all(&[0x89, 0x05]).0.opcode, OpCode::Ping);
        assert_eq!(
            parse_all(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d]).0.opcode,
            OpCode::Pong
        );
        // 256 bytes binary in a single unmasked frame.
        let (h, n) = parse_all(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((h.payload_len, n), (256, 4));
        // 64 KiB binary in a single unmasked frame.
        let (h, n) = parse_all(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn incomplete_headers_ask_for_more() {
        let full = [0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00, 1, 2, 3, 4];
        for cut in 0..full.len() {
            assert_eq!(FrameHeader::parse(&full[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(parse_all(&full).1, 14);
    }

    #[test]
    fn rejects_bad_headers() {
        for op in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(
                FrameHeader::parse(&[0x80 | op, 0]),
                Err(Error::ReservedOpcode(op))
            );
        }
        // Non-minimal 16-bit and 64-bit lengths, and the top bit.
        assert_eq!(
            FrameHeader::parse(&[0x82, 126, 0, 125]),
            Err(Error::InvalidPayloadLength)
        );
        assert_eq!(
            FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff]),
            Err(Error::InvalidPayloadLength)
        );
        assert_eq!(
            FrameHeader::parse(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::InvalidPayloadLength)
        );
    }

    #[test]
    fn encode_parse_roundtrip() {
        for len in [0u64, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 40] {
            for mask in [None, Some([9, 8, 7, 6])] {
                for rsv in 0..8 {
                    let h = FrameHeader {
                        fin: len % 2 == 0,
                        rsv,
                        opcode: OpCode::Binary,
                        mask,
                        payload_len: len,
                    };
                    let mut buf = [0; MAX_HEADER_LEN];
                    let n = h.encode(&mut buf);
                    assert_eq!(n, h.encoded_len());
                    assert_eq!(parse_all(&buf[..n]), (h, n));
                }
            }
        }
    }
}
