//! `FrameHeader::parse` on arbitrary bytes.
//!
//! Invariants:
//! - never panics;
//! - `Ok(Some((h, n)))`: `n <= input.len()`, `n == h.encoded_len()`, and `h.encode()`
//!   reproduces exactly `input[..n]` (so only minimal encodings are accepted); every
//!   shorter prefix asks for more bytes (`Ok(None)`);
//! - `Ok(None)`: the input is shorter than the longest header, and padding it to a full
//!   header's length gets an answer (`Some` or `Err`);
//! - `Err(e)`: a protocol error (close code 1002), and the same error with more bytes.

use wsx_proto::frame::MAX_HEADER_LEN;
use wsx_proto::{CloseCode, Error, FrameHeader};

/// Runs one input; panics if an invariant above does not hold.
pub fn run(data: &[u8]) {
    match FrameHeader::parse(data) {
        Ok(Some((h, n))) => {
            assert!(n <= data.len(), "consumed {n} of {} bytes", data.len());
            assert!((2..=MAX_HEADER_LEN).contains(&n));
            assert_eq!(n, h.encoded_len(), "{h:?}");
            assert!(h.rsv <= 7);
            assert!(h.payload_len >> 63 == 0);
            let mut buf = [0u8; MAX_HEADER_LEN];
            let m = h.encode(&mut buf);
            assert_eq!(m, n, "{h:?}");
            assert_eq!(&buf[..m], &data[..n], "re-encoding {h:?}");
            for cut in 0..n {
                assert_eq!(
                    FrameHeader::parse(&data[..cut]),
                    Ok(None),
                    "prefix of {cut} bytes"
                );
            }
        }
        Ok(None) => {
            assert!(data.len() < MAX_HEADER_LEN);
            let mut padded = data.to_vec();
            padded.resize(MAX_HEADER_LEN, 0);
            assert_ne!(FrameHeader::parse(&padded), Ok(None));
        }
        Err(e) => {
            assert!(
                matches!(e, Error::ReservedOpcode(_) | Error::InvalidPayloadLength),
                "unexpected error {e:?}"
            );
            assert_eq!(e.close_code(), Some(CloseCode::PROTOCOL_ERROR));
            let mut longer = data.to_vec();
            longer.extend_from_slice(&[0xff; MAX_HEADER_LEN]);
            assert_eq!(FrameHeader::parse(&longer), Err(e));
        }
    }
}
