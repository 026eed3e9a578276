//! permessage-deflate (RFC 7692): negotiation of its four parameters, and the codec.
//!
//! Compression uses zlib-rs (a memory-safe, fast zlib in Rust) directly, for control of
//! its memory level; inflating goes through flate2 on the same backend. No DEFLATE is
//! written by hand here.

use crate::error::{Error, Result};
use flate2::{Decompress, FlushDecompress, Status};

/// The extension token.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The four bytes that end a sync-flushed DEFLATE block: removed from every compressed
/// message on the wire and appended before inflating (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What we are willing to negotiate, as a client (what we offer) or a server (what we
/// accept), plus how we compress.
///
/// ```
/// use wsx_proto::DeflateConfig;
/// let mut cfg = DeflateConfig::default();
/// cfg.server_no_context_takeover = true; // the server forgets its window after each message
/// assert_eq!(cfg.offer(), "permessage-deflate; server_no_context_takeover; client_max_window_bits");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Request (client) or require (server) that the server resets its compression
    /// context after each message. Saves memory on the receiving side of server messages,
    /// and lets a server compress a broadcast once for every recipient.
    pub server_no_context_takeover: bool,
    /// Request that the client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// The largest LZ77 window the server may compress with, 8-15 (8 is run as 9,
    /// whose reachable distance is within 256 bytes in zlib). Default 15.
    pub server_max_window_bits: u8,
    /// The largest LZ77 window the client may compress with, 8-15. Default 15.
    pub client_max_window_bits: u8,
    /// DEFLATE level for outgoing messages, 0-9. Default 1: most of the size gain for a
    /// fraction of the CPU of the zlib default (6).
    pub level: u32,
    /// The LZ77 window our own compressor uses, 9-15 bits, never more than was
    /// negotiated for our side. Needs no negotiation: the peer inflates with the larger
    /// window it allowed. Default 12 (4 KiB of history, as python-websockets): the
    /// compressor's state is 2^(bits+2) bytes for the window plus the memory level's share.
    pub compress_window_bits: u8,
    /// zlib's `memLevel` for our compressor, 1-9: its hash table and literal buffer take
    /// 2^(level+9) bytes. Default 5 (python-websockets' choice; zlib's own is 8): with 12
    /// window bits a compressor holds ~32 KiB instead of ~256 KiB at 15 and 8, for a few
    /// percent of compression ratio on JSON-like messages.
    pub mem_level: u8,
    /// Messages shorter than this are sent uncompressed (RSV1 clear), since compressing
    /// them costs more CPU than the bytes it saves. Default 64.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 1,
            compress_window_bits: 12,
            mem_level: 5,
            threshold: 64,
        }
    }
}

/// The parameters both sides agreed on.
///
/// ```
/// use wsx_proto::DeflateParams;
/// let p = DeflateParams::default();
/// assert_eq!(p.to_header_value(), "permessage-deflate");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// The server compresses with at most this window (8-15).
    pub server_max_window_bits: u8,
    /// The client compresses with at most this window (8-15).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value a server answers with.
    ///
    /// ```
    /// let p = wsx_proto::DeflateParams { server_no_context_takeover: true, ..Default::default() };
    /// assert_eq!(p.to_header_value(), "permessage-deflate; server_no_context_takeover");
    /// ```
    pub fn to_header_value(&self) -> String {
        let mut s = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            s.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.client_max_window_bits < 15 {
            s.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        s
    }
}

impl DeflateConfig {
    /// The `Sec-WebSocket-Extensions` offer a client sends. Always offers
    /// `client_max_window_bits` (RFC 7692 §7.1.2.2) so the server may limit our window.
    ///
    /// ```
    /// let offer = wsx_proto::DeflateConfig::default().offer();
    /// assert_eq!(offer, "permessage-deflate; client_max_window_bits");
    /// ```
    pub fn offer(&self) -> String {
        let mut s = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            s.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits.max(8)
            ));
        }
        if self.client_max_window_bits < 15 {
            s.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits.max(8)
            ));
        } else {
            s.push_str("; client_max_window_bits");
        }
        s
    }

    /// Server side: picks the first acceptable permessage-deflate offer from the
    /// client's `Sec-WebSocket-Extensions` value(s). Offers with unknown, duplicate or
    /// invalid parameters are declined (RFC 7692 §5.1); a malformed header declines all.
    ///
    /// ```
    /// use wsx_proto::DeflateConfig;
    /// let cfg = DeflateConfig::default();
    /// let p = cfg.accept_offer("permessage-deflate; server_max_window_bits=10, permessage-deflate").unwrap();
    /// assert_eq!(p.server_max_window_bits, 10);
    /// let p = cfg.accept_offer("permessage-deflate; bogus=1, permessage-deflate; client_max_window_bits").unwrap();
    /// assert_eq!(p.server_max_window_bits, 15); // the second offer
    /// assert!(cfg.accept_offer("x-webkit-deflate-frame").is_none());
    /// ```
    pub fn accept_offer(&self, header: &str) -> Option<DeflateParams> {
        let extensions = parse_extensions(header).ok()?;
        extensions
            .iter()
            .filter(|e| e.name.eq_ignore_ascii_case(EXTENSION_NAME))
            .find_map(|e| self.accept_one(e))
    }

    fn accept_one(&self, offer: &Extension) -> Option<DeflateParams> {
        let p = OfferedParams::parse(offer).ok()?;
        let own_server = self.server_max_window_bits.clamp(8, 15);
        let own_client = self.client_max_window_bits.clamp(8, 15);
        Some(DeflateParams {
            server_no_context_takeover: p.server_no_context_takeover || self.server_no_context_takeover,
            // §7.1.1.2: the server may ask this even if the client did not offer it.
            client_no_context_takeover: p.client_no_context_takeover || self.client_no_context_takeover,
            server_max_window_bits: p.server_max_window_bits.unwrap_or(15).min(own_server),
            // §7.1.2.2: we may only limit the client's window if it offered the parameter.
            client_max_window_bits: match p.client_max_window_bits {
                Some(v) => v.unwrap_or(15).min(own_client),
                None => 15,
            },
        })
    }

    /// Client side: checks the server's `Sec-WebSocket-Extensions` answer against what
    /// [`offer`](Self::offer) sent. `Ok(None)`: the server declined compression.
    ///
    /// ```
    /// use wsx_proto::DeflateConfig;
    /// let cfg = DeflateConfig::default();
    /// let p = cfg.check_response("permessage-deflate; client_max_window_bits=12").unwrap().unwrap();
    /// assert_eq!(p.client_max_window_bits, 12);
    /// assert!(cfg.check_response("permessage-deflate; server_max_window_bits").is_err());
    /// ```
    pub fn check_response(&self, header: &str) -> Result<Option<DeflateParams>> {
        let extensions = parse_extensions(header).map_err(|_| Error::InvalidExtension("malformed header"))?;
        let mut agreed = None;
        for e in &extensions {
            if !e.name.eq_ignore_ascii_case(EXTENSION_NAME) {
                return Err(Error::InvalidExtension(
                    "server selected an extension we did not offer",
                ));
            }
            if agreed.is_some() {
                return Err(Error::InvalidExtension("permessage-deflate selected twice"));
            }
            let p = OfferedParams::parse(e).map_err(Error::InvalidExtension)?;
            let server_bits = p.server_max_window_bits.unwrap_or(15);
            if self.server_max_window_bits < 15 && server_bits > self.server_max_window_bits {
                return Err(Error::InvalidExtension(
                    "server_max_window_bits larger than offered",
                ));
            }
            if self.server_no_context_takeover && !p.server_no_context_takeover {
                return Err(Error::InvalidExtension("server_no_context_takeover was required"));
            }
            let client_bits = match p.client_max_window_bits {
                None => 15,
                Some(None) => return Err(Error::InvalidExtension("client_max_window_bits needs a value")),
                Some(Some(v)) => v,
            };
            agreed = Some(DeflateParams {
                server_no_context_takeover: p.server_no_context_takeover,
                client_no_context_takeover: p.client_no_context_takeover || self.client_no_context_takeover,
                server_max_window_bits: server_bits,
                client_max_window_bits: client_bits.min(self.client_max_window_bits.clamp(8, 15)),
            });
        }
        Ok(agreed)
    }
}

/// Parameters as they appear in one offer or response, checked for RFC 7692 §7 validity.
#[derive(Default)]
struct OfferedParams {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (allowed in an offer only).
    client_max_window_bits: Option<Option<u8>>,
}

impl OfferedParams {
    fn parse(ext: &Extension) -> std::result::Result<Self, &'static str> {
        let mut p = OfferedParams::default();
        let mut seen = [false; 4];
        for (name, value) in &ext.params {
            let (slot, ok) = match name.to_ascii_lowercase().as_str() {
                "server_no_context_takeover" => {
                    p.server_no_context_takeover = true;
                    (0, value.is_none())
                }
                "client_no_context_takeover" => {
                    p.client_no_context_takeover = true;
                    (1, value.is_none())
                }
                "server_max_window_bits" => {
                    p.server_max_window_bits = value.as_deref().and_then(window_bits);
                    (2, p.server_max_window_bits.is_some())
                }
                "client_max_window_bits" => {
                    let v = value.as_deref().map(window_bits);
                    p.client_max_window_bits = Some(v.flatten());
                    (3, v != Some(None))
                }
                _ => return Err("unknown permessage-deflate parameter"),
            };
            if !ok {
                return Err("invalid permessage-deflate parameter value");
            }
            if std::mem::replace(&mut seen[slot], true) {
                return Err("duplicate permessage-deflate parameter");
            }
        }
        Ok(p)
    }
}

/// RFC 7692 §7.1.2: `%x38-39 / %x31 %x30-35`, i.e. "8" to "15" without leading zeros.
fn window_bits(v: &str) -> Option<u8> {
    match v {
        "8" => Some(8),
        "9" => Some(9),
        "10" => Some(10),
        "11" => Some(11),
        "12" => Some(12),
        "13" => Some(13),
        "14" => Some(14),
        "15" => Some(15),
        _ => None,
    }
}

/// One element of a `Sec-WebSocket-Extensions` list (RFC 6455 §9.1).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Extension {
    pub(crate) name: String,
    pub(crate) params: Vec<(String, Option<String>)>,
}

/// Parses `extension-list = 1#extension`, `extension = token *( ";" param )`,
/// `param = token [ "=" (token | quoted-string) ]`. Empty list elements are skipped
/// (RFC 9110 §5.6.1).
pub(crate) fn parse_extensions(header: &str) -> std::result::Result<Vec<Extension>, ()> {
    let mut p = Lexer {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip_ws();
        if p.eat(b',') {
            continue;
        }
        if p.done() {
            break;
        }
        let name = p.token().ok_or(())?;
        let mut params = Vec::new();
        loop {
            p.skip_ws();
            if !p.eat(b';') {
                break;
            }
            p.skip_ws();
            let key = p.token().ok_or(())?;
            p.skip_ws();
            let value = if p.eat(b'=') {
                p.skip_ws();
                Some(if p.peek() == Some(b'"') {
                    p.quoted().ok_or(())?
                } else {
                    p.token().ok_or(())?
                })
            } else {
                None
            };
            params.push((key, value));
        }
        out.push(Extension { name, params });
        p.skip_ws();
        if !p.done() && !p.eat(b',') {
            return Err(());
        }
    }
    Ok(out)
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += hit as usize;
        hit
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    /// A quoted-string; RFC 6455 §9.1 requires its content to be a valid token too.
    fn quoted(&mut self) -> Option<String> {
        self.eat(b'"').then_some(())?;
        let mut v = Vec::new();
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => {
                    self.i += 1;
                    v.push(self.peek()?);
                }
                c => v.push(c),
            }
            self.i += 1;
        }
        self.i += 1;
        (!v.is_empty() && v.iter().copied().all(is_tchar)).then(|| String::from_utf8_lossy(&v).into_owned())
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// One connection's compressor and decompressor, created lazily so that connections
/// that never send (or receive) a compressed message never pay for zlib state
/// (a compressor with a 15-bit window and zlib's default memory level holds ~256 KiB).
pub(crate) struct Codec {
    /// Boxed: zlib-rs's stream is large, and most connections never compress.
    compressor: Option<Box<zlib_rs::Deflate>>,
    decompressor: Option<Decompress>,
    send_window_bits: u8,
    mem_level: u8,
    send_no_context_takeover: bool,
    recv_window_bits: u8,
    recv_no_context_takeover: bool,
    level: u32,
    pub(crate) threshold: usize,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("send_window_bits", &self.send_window_bits)
            .field("send_no_context_takeover", &self.send_no_context_takeover)
            .field("recv_window_bits", &self.recv_window_bits)
            .field("recv_no_context_takeover", &self.recv_no_context_takeover)
            .finish_non_exhaustive()
    }
}

impl Codec {
    /// A codec for the side given by `is_server`.
    pub(crate) fn new(params: &DeflateParams, is_server: bool, level: u32, threshold: usize) -> Codec {
        let (send_bits, send_nct, recv_bits, recv_nct) = if is_server {
            (
                params.server_max_window_bits,
                params.server_no_context_takeover,
                params.client_max_window_bits,
                params.client_no_context_takeover,
            )
        } else {
            (
                params.client_max_window_bits,
                params.client_no_context_takeover,
                params.server_max_window_bits,
                params.server_no_context_takeover,
            )
        };
        Codec {
            compressor: None,
            decompressor: None,
            // zlib rejects a raw window of 8; with 9 its longest distance (512 - 262) is
            // still within an 8-bit window.
            send_window_bits: send_bits.clamp(9, 15),
            mem_level: 8,
            send_no_context_takeover: send_nct,
            // A larger inflate window than the peer's is always safe.
            recv_window_bits: recv_bits.clamp(9, 15),
            recv_no_context_takeover: recv_nct,
            level: level.min(9),
            threshold,
        }
    }

    /// Compresses with at most `window_bits` (below what was negotiated, if smaller) and
    /// zlib's `mem_level`; see [`DeflateConfig::compress_window_bits`].
    pub(crate) fn with_memory(mut self, window_bits: u8, mem_level: u8) -> Codec {
        self.send_window_bits = self.send_window_bits.min(window_bits.clamp(9, 15));
        self.mem_level = mem_level.clamp(1, 9);
        self
    }

    /// Compresses one whole message, returning the bytes to put on the wire (the sync
    /// flush tail removed).
    pub(crate) fn compress(&mut self, payload: &[u8]) -> Result<Vec<u8>> {
        // RFC 7692 §7.2.3.6: an empty message is an empty stored block, `00` once the tail
        // is removed. zlib would emit nothing: it skips a sync flush right after another.
        if payload.is_empty() {
            return Ok(vec![0x00]);
        }
        let config = zlib_rs::DeflateConfig {
            level: self.level as i32,
            // Negative: raw DEFLATE, no zlib header (RFC 7692 §7.2.1).
            window_bits: -i32::from(self.send_window_bits),
            mem_level: i32::from(self.mem_level),
            ..zlib_rs::DeflateConfig::default()
        };
        let c = self
            .compressor
            .get_or_insert_with(|| Box::new(zlib_rs::Deflate::new_with_config(config)));
        let mut out = vec![0u8; payload.len() / 2 + 64];
        let (mut read, mut written) = (0, 0);
        loop {
            if out.len() - written < 16 {
                out.resize(out.len() * 2, 0);
            }
            let (in0, out0) = (c.total_in(), c.total_out());
            c.compress(
                &payload[read..],
                &mut out[written..],
                zlib_rs::DeflateFlush::SyncFlush,
            )
            .map_err(|_| Error::CompressionFailed)?;
            read += (c.total_in() - in0) as usize;
            written += (c.total_out() - out0) as usize;
            // zlib stops with output space left only once the flush is complete.
            if read == payload.len() && written < out.len() {
                break;
            }
        }
        out.truncate(written);
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        } else {
            return Err(Error::CompressionFailed);
        }
        if self.send_no_context_takeover {
            c.reset();
        }
        Ok(out)
    }

    /// The window and compressor a prepared message can share with other connections:
    /// only without context takeover, where every message stands alone.
    pub(crate) fn shared_window(&self) -> Option<u8> {
        self.send_no_context_takeover.then_some(self.send_window_bits)
    }

    /// Forgets the compression context, so the next message refers to nothing before it.
    pub(crate) fn reset_compressor(&mut self) {
        if let Some(c) = &mut self.compressor {
            c.reset();
        }
    }

    /// Inflates `input` (a frame's payload, or the final tail) onto `out`, failing if
    /// `out` would grow past `limit` bytes.
    pub(crate) fn decompress(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
        let bits = self.recv_window_bits;
        let d = self
            .decompressor
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 512 {
                // Geometric growth, but room for at most `limit + 1` bytes: one byte past
                // the limit proves it is exceeded without ever holding more.
                let room = limit.saturating_add(1).saturating_sub(out.len()).max(1);
                let grow = out.len().clamp(4096, 1 << 20);
                out.reserve_exact(grow.min(room));
            }
            let (in0, out0) = (d.total_in(), d.total_out());
            let status = d
                .decompress_vec(&input[pos..], out, FlushDecompress::Sync)
                .map_err(|_| Error::InvalidCompressedData)?;
            pos += (d.total_in() - in0) as usize;
            if out.len() > limit {
                return Err(Error::MessageTooLarge { limit });
            }
            let progressed = d.total_in() != in0 || d.total_out() != out0;
            if status == Status::StreamEnd {
                // A final block (BFINAL) ends zlib's stream but not the message: RFC 7692
                // §7.2.3.4 pads it with the header bits of an empty stored block, which the
                // appended tail completes. Inflate the rest with a fresh stream (whose
                // window is empty: a later back-reference into the old one fails).
                d.reset(false);
                if pos == input.len() {
                    return Ok(());
                }
                continue;
            }
            if pos == input.len() && out.len() < out.capacity() {
                return Ok(());
            }
            if !progressed && out.len() < out.capacity() {
                return Err(Error::InvalidCompressedData);
            }
        }
    }

    /// Called after the last frame of a received compressed message.
    pub(crate) fn end_received_message(&mut self) -> Result<()> {
        if self.recv_no_context_takeover
            && let Some(d) = &mut self.decompressor
        {
            d.reset(false);
        }
        Ok(())
    }

    /// Appends the sync-flush tail and inflates it: the end of a received message.
    pub(crate) fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<()> {
        // A stream that just restarted (after a BFINAL block that ended the payload) has no
        // stored-block header for the tail to complete: fed the tail, it would take it for
        // the start of a block and misread the next message.
        if self.decompressor.as_ref().is_none_or(|d| d.total_in() > 0) {
            self.decompress(&TAIL, out, limit)?;
        }
        self.end_received_message()
    }

    /// Releases zlib state when it can be rebuilt for free: only without context takeover,
    /// where nothing carries over between messages.
    pub(crate) fn release_idle_state(&mut self) {
        if self.send_no_context_takeover {
            self.compressor = None;
        }
        if self.recv_no_context_takeover {
            self.decompressor = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(s: &str) -> Vec<Extension> {
        parse_extensions(s).unwrap()
    }

    #[test]
    fn parses_extension_lists() {
        let e = ext(
            "permessage-deflate; client_max_window_bits, permessage-deflate ; server_max_window_bits=\"10\" ,foo",
        );
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].params, vec![("client_max_window_bits".into(), None)]);
        assert_eq!(
            e[1].params,
            vec![("server_max_window_bits".into(), Some("10".into()))]
        );
        assert_eq!(e[2].name, "foo");
        assert_eq!(ext(" , ,").len(), 0);
        assert!(parse_extensions("a; =1").is_err());
        assert!(parse_extensions("a b").is_err());
        assert!(parse_extensions("a; b=\"unterminated").is_err());
        assert!(parse_extensions("a; b=\"has space\"").is_err());
    }

    #[test]
    fn server_declines_bad_offers() {
        let cfg = DeflateConfig::default();
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=0",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
            "permessage-deflate; unknown",
        ] {
            assert_eq!(cfg.accept_offer(bad), None, "{bad}");
        }
    }

    #[test]
    fn server_accepts_all_four_parameters() {
        let mut cfg = DeflateConfig::default();
        let p = cfg
            .accept_offer(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=9; client_max_window_bits=10",
            )
            .unwrap();
        assert_eq!(
            p,
            DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 9,
                client_max_window_bits: 10
            }
        );
        assert_eq!(
            p.to_header_value(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=9; client_max_window_bits=10"
        );
        // Our own limits apply, but client_max_window_bits only if the client offered it.
        cfg.server_max_window_bits = 12;
        cfg.client_max_window_bits = 11;
        let p = cfg.accept_offer("permessage-deflate").unwrap();
        assert_eq!((p.server_max_window_bits, p.client_max_window_bits), (12, 15));
        let p = cfg
            .accept_offer("permessage-deflate; client_max_window_bits")
            .unwrap();
        assert_eq!(p.client_max_window_bits, 11);
    }

    #[test]
    fn client_checks_response() {
        let cfg = DeflateConfig::default();
        assert_eq!(cfg.check_response("").unwrap(), None);
        assert!(
            cfg.check_response("permessage-deflate, permessage-deflate")
                .is_err()
        );
        assert!(cfg.check_response("x-other").is_err());
        assert!(cfg.check_response("permessage-deflate; foo").is_err());
        let strict = DeflateConfig {
            server_max_window_bits: 10,
            server_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        assert!(
            strict
                .check_response("permessage-deflate; server_no_context_takeover")
                .is_err()
        );
        assert!(
            strict
                .check_response("permessage-deflate; server_max_window_bits=10")
                .is_err()
        );
        let p = strict
            .check_response("permessage-deflate; server_no_context_takeover; server_max_window_bits=9")
            .unwrap()
            .unwrap();
        assert_eq!(p.server_max_window_bits, 9);
    }

    /// RFC 7692 §7.2.3.1: "Hello" compressed is c2 48 cd c9 c9 07 00 (level-dependent for
    /// compressors, but any inflater must read it).
    #[test]
    fn rfc_example_inflates() {
        let mut c = Codec::new(&DeflateParams::default(), true, 1, 0);
        let mut out = Vec::new();
        c.decompress(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        c.finish_message(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
        // §7.2.3.2: the same message again, using the shared window.
        let mut out = Vec::new();
        c.decompress(&[0xf2, 0x00, 0x11, 0x00, 0x00], &mut out, 100)
            .unwrap();
        c.finish_message(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
        // §7.2.3.5: an empty message is a single 0x00.
        let mut out = Vec::new();
        c.decompress(&[0x00], &mut out, 100).unwrap();
        c.finish_message(&mut out, 100).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn roundtrip_with_and_without_context_takeover() {
        for nct in [false, true] {
            for bits in [8, 9, 12, 15] {
                let params = DeflateParams {
                    server_no_context_takeover: nct,
                    client_no_context_takeover: nct,
                    server_max_window_bits: bits,
                    client_max_window_bits: bits,
                };
                let mut tx = Codec::new(&params, true, 6, 0);
                let mut rx = Codec::new(&params, false, 6, 0);
                let mut sizes = Vec::new();
                for msg in [
                    &b""[..],
                    b"hello hello hello",
                    b"hello hello hello",
                    &[7u8; 10000][..],
                ] {
                    let wire = tx.compress(msg).unwrap();
                    sizes.push(wire.len());
                    let mut out = Vec::new();
                    rx.decompress(&wire, &mut out, 1 << 20).unwrap();
                    rx.finish_message(&mut out, 1 << 20).unwrap();
                    assert_eq!(out, msg);
                }
                // With context takeover the repeat compresses to a back-reference.
                assert_eq!(sizes[2] < sizes[1], !nct, "nct={nct} bits={bits} {sizes:?}");
            }
        }
    }

    /// A compressor with a smaller window and memory level than negotiated needs no
    /// negotiation: the peer's 15-bit inflater reads whatever it writes, and a window's
    /// worth of repetition still compresses to back-references.
    #[test]
    fn smaller_compress_window_and_memory_level_interoperate() {
        let text: Vec<u8> = (0..2000)
            .flat_map(|i| format!("{{\"user\":\"u{}\",\"n\":{i}}},", i % 37).into_bytes())
            .collect();
        for bits in 9..=15 {
            for mem in [1, 5, 9] {
                let mut tx = Codec::new(&DeflateParams::default(), true, 1, 0).with_memory(bits, mem);
                let mut rx = Codec::new(&DeflateParams::default(), false, 1, 0);
                for _ in 0..3 {
                    let wire = tx.compress(&text).unwrap();
                    assert!(
                        wire.len() < text.len() / 3,
                        "bits={bits} mem={mem}: {}",
                        wire.len()
                    );
                    let mut out = Vec::new();
                    rx.decompress(&wire, &mut out, 1 << 20).unwrap();
                    rx.finish_message(&mut out, 1 << 20).unwrap();
                    assert_eq!(out, text);
                }
            }
        }
    }

    /// RFC 7692 §7.2.3.6: an empty message is "0x00", also after other messages (zlib
    /// alone emits nothing for a sync flush right after another).
    #[test]
    fn empty_message_after_others() {
        let mut tx = Codec::new(&DeflateParams::default(), true, 1, 0);
        let mut rx = Codec::new(&DeflateParams::default(), false, 1, 0);
        for msg in [&b"x"[..], b"", b"", &[b'x'; 100][..], b""] {
            let wire = tx.compress(msg).unwrap();
            if msg.is_empty() {
                assert_eq!(wire, [0x00]);
            }
            let mut out = Vec::new();
            rx.decompress(&wire, &mut out, 1000).unwrap();
            rx.finish_message(&mut out, 1000).unwrap();
            assert_eq!(out, msg);
        }
    }

    #[test]
    fn bomb_is_stopped_at_the_limit() {
        let mut tx = Codec::new(&DeflateParams::default(), true, 9, 0);
        let wire = tx.compress(&vec![0u8; 10 << 20]).unwrap();
        assert!(wire.len() < 20_000);
        let mut rx = Codec::new(&DeflateParams::default(), false, 1, 0);
        let mut out = Vec::new();
        let r = rx.decompress(&wire, &mut out, 1 << 20);
        assert_eq!(r, Err(Error::MessageTooLarge { limit: 1 << 20 }));
        assert!(out.capacity() <= (1 << 20) + 1);
        // Exactly at the limit is fine.
        let mut tx = Codec::new(&DeflateParams::default(), true, 9, 0);
        let wire = tx.compress(&vec![0u8; 4096]).unwrap();
        let mut rx = Codec::new(&DeflateParams::default(), false, 1, 0);
        let mut out = Vec::new();
        rx.decompress(&wire, &mut out, 4096).unwrap();
        rx.finish_message(&mut out, 4096).unwrap();
        assert_eq!(out.len(), 4096);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut rx = Codec::new(&DeflateParams::default(), false, 1, 0);
        let mut out = Vec::new();
        let r = rx.decompress(&[0xff, 0xff, 0xff, 0xff, 0x12], &mut out, 1 << 20);
        assert_eq!(r, Err(Error::InvalidCompressedData));
    }
}
