//! Incremental UTF-8 validation across frames and across reads.
//!
//! RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that
//! the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the
//! WebSocket Connection_." We fail as soon as the first impossible byte arrives, even in
//! the middle of a frame, not when the message ends. Chunks are checked with simdutf8;
//! only a code point split between chunks (at most 3 bytes) is carried over.

/// A UTF-8 validator fed in pieces.
///
/// ```
/// use wsx_proto::utf8::Validator;
/// let mut v = Validator::new();
/// let euro = "€".as_bytes(); // e2 82 ac
/// assert!(v.feed(&euro[..1]).is_ok()); // an incomplete sequence is fine mid-stream
/// assert!(v.feed(&euro[1..]).is_ok());
/// assert!(v.finish().is_ok());
///
/// let mut v = Validator::new();
/// assert!(v.feed(b"\xe2\x28").is_err()); // fails on the second byte, not at the end
/// ```
#[derive(Debug, Clone, Default)]
pub struct Validator {
    /// The start of a code point cut off at the end of the last chunk.
    partial: [u8; 4],
    partial_len: u8,
}

/// The input is not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Validator {
    /// A validator at the start of a text.
    ///
    /// ```
    /// let v = wsx_proto::utf8::Validator::new();
    /// ```
    pub const fn new() -> Self {
        Validator {
            partial: [0; 4],
            partial_len: 0,
        }
    }

    /// Validates the next piece of text. Fails as soon as `chunk` holds a byte that
    /// cannot be part of valid UTF-8 given everything fed before.
    ///
    /// ```
    /// let mut v = wsx_proto::utf8::Validator::new();
    /// assert!(v.feed(b"caf\xc3").is_ok()); // "é" is cut in two
    /// assert!(v.feed(b"\xa9!").is_ok());
    /// ```
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), InvalidUtf8> {
        // Short ASCII (chat lines, JSON keys) costs less to scan than the SIMD setup.
        if self.partial_len == 0 && chunk.len() <= 64 && chunk.is_ascii() {
            return Ok(());
        }
        if self.partial_len > 0 {
            chunk = self.complete_partial(chunk)?;
            if self.partial_len > 0 {
                return Ok(()); // still incomplete, and `chunk` is used up
            }
        }
        match simdutf8::compat::from_utf8(chunk) {
            Ok(_) => Ok(()),
            // `error_len() == None`: the chunk ends inside a sequence that may still be valid.
            Err(e) if e.error_len().is_none() => {
                let tail = &chunk[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Adds bytes from `chunk` to the carried-over sequence until it is complete or the
    /// chunk runs out. Returns the unused rest of `chunk`.
    fn complete_partial<'a>(&mut self, chunk: &'a [u8]) -> Result<&'a [u8], InvalidUtf8> {
        let have = self.partial_len as usize;
        let take = chunk.len().min(4 - have);
        let mut buf = self.partial;
        buf[have..have + take].copy_from_slice(&chunk[..take]);
        match std::str::from_utf8(&buf[..have + take]) {
            Ok(_) => {
                self.partial_len = 0;
                Ok(&chunk[take..])
            }
            Err(e) if e.valid_up_to() > 0 => {
                // The carried sequence completed; rewind to the first byte after it.
                let used = e.valid_up_to() - have;
                self.partial_len = 0;
                Ok(&chunk[used..])
            }
            Err(e) if e.error_len().is_none() => {
                // Still a valid prefix; `take` consumed all of `chunk`.
                self.partial = buf;
                self.partial_len = (have + take) as u8;
                Ok(&[])
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the text: fails if it stopped inside a code point.
    ///
    /// ```
    /// let mut v = wsx_proto::utf8::Validator::new();
    /// v.feed(b"\xe2\x82").unwrap();
    /// assert!(v.finish().is_err()); // a truncated "€"
    /// ```
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        self.reset();
        if complete { Ok(()) } else { Err(InvalidUtf8) }
    }

    /// Forgets everything, ready for a new text.
    ///
    /// ```
    /// let mut v = wsx_proto::utf8::Validator::new();
    /// v.feed(b"\xe2").unwrap();
    /// v.reset();
    /// assert!(v.finish().is_ok());
    /// ```
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all_splits(input: &[u8]) {
        let whole = std::str::from_utf8(input).is_ok();
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let mut v = Validator::new();
                let r = v
                    .feed(&input[..a])
                    .and_then(|_| v.feed(&input[a..b]))
                    .and_then(|_| v.feed(&input[b..]))
                    .and_then(|_| v.finish());
                assert_eq!(r.is_ok(), whole, "{input:x?} split at {a},{b}");
            }
        }
    }

    #[test]
    fn agrees_with_std_on_every_split() {
        let cases: &[&[u8]] = &[
            "".as_bytes(),
            "hello".as_bytes(),
            "κόσμε".as_bytes(),
            "€𝄞a€".as_bytes(),
            b"\xf0\x9f\x98\x80\xf0\x9f\x98",
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
            b"\xed\x9f\xbf\xee\x80\x80",
            b"\xf8\x88\x80\x80\x80",
            b"ab\xff",
            b"\x80",
        ];
        for c in cases {
            check_all_splits(c);
        }
    }

    #[test]
    fn fails_fast_on_the_first_impossible_byte() {
        // Autobahn 6.4.1: a code point above U+10FFFF is invalid at its second byte.
        let mut v = Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        assert_eq!(v.feed(b"\xf4\x90"), Err(InvalidUtf8));
        // A lone continuation byte after a completed sequence.
        let mut v = Validator::new();
        v.feed(b"\xe2\x82").unwrap();
        assert_eq!(v.feed(b"\xac\x80"), Err(InvalidUtf8));
    }

    #[test]
    fn one_byte_at_a_time() {
        let text = "Ünïcödé 𝄞 text €".as_bytes();
        let mut v = Validator::new();
        for b in text {
            v.feed(std::slice::from_ref(b)).unwrap();
        }
        v.finish().unwrap();
    }
}
