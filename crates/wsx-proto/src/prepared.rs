//! Messages framed once for many connections: a broadcast to N subscribers encodes the
//! frame (and compresses it, where the connections allow) once, and every connection
//! queues the same shared bytes.

use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, RSV1};
use crate::message::Message;
use bytes::{Bytes, BytesMut};
use std::sync::{Arc, OnceLock};

/// Window sizes a compressed variant can be made for (RFC 7692: 8-15; 8 runs as 9).
const WINDOWS: usize = 7;

/// A message framed once, to be sent by many server-side connections
/// ([`Connection::send_prepared`](crate::Connection::send_prepared)). Cheap to clone:
/// clones share the bytes.
///
/// A connection without permessage-deflate queues the plain frame as is. One that
/// negotiated it *without server context takeover* (a server may require that in its
/// answer, RFC 7692 §7.1.1.1) queues a compressed frame, made the first time a
/// connection with its window size needs it and shared from then on. A connection with
/// context takeover compresses the message itself, since its compressor's history is its
/// own. Clients mask every frame differently, so they send the message as usual.
///
/// ```
/// use wsx_proto::{Config, Connection, Event, Message, PreparedMessage, Role};
/// let prepared = PreparedMessage::new(Message::text("to everyone"));
/// let (mut a, mut b) = (Connection::new(Role::Server, Config::default()), Connection::new(Role::Server, Config::default()));
/// a.send_prepared(&prepared).unwrap();
/// b.send_prepared(&prepared).unwrap();
/// assert_eq!(a.take_output(), b.take_output()); // the same frame
/// ```
#[derive(Clone)]
pub struct PreparedMessage(Arc<Prepared>);

struct Prepared {
    message: Message,
    /// The unmasked frame: header and payload.
    plain: Bytes,
    /// Compressed frames (RSV1 set) by window bits 9..=15, or `None` where compressing
    /// did not make it smaller.
    compressed: [OnceLock<Option<Bytes>>; WINDOWS],
}

impl std::fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedMessage")
            .field("len", &self.0.message.len())
            .field("text", &self.0.message.is_text())
            .finish_non_exhaustive()
    }
}

impl PreparedMessage {
    /// Frames `message` (one frame, FIN set, unmasked).
    ///
    /// ```
    /// let p = wsx_proto::PreparedMessage::new(wsx_proto::Message::binary(vec![1, 2, 3]));
    /// assert_eq!(p.frame_len(), 2 + 3);
    /// ```
    pub fn new(message: Message) -> Self {
        let opcode = if message.is_text() {
            OpCode::Text
        } else {
            OpCode::Binary
        };
        let plain = encode(opcode, 0, message.as_bytes());
        PreparedMessage(Arc::new(Prepared {
            message,
            plain,
            compressed: Default::default(),
        }))
    }

    /// The message.
    ///
    /// ```
    /// use wsx_proto::{Message, PreparedMessage};
    /// assert_eq!(PreparedMessage::new(Message::text("x")).message(), &Message::text("x"));
    /// ```
    pub fn message(&self) -> &Message {
        &self.0.message
    }

    /// The length of the uncompressed frame on the wire.
    ///
    /// ```
    /// let p = wsx_proto::PreparedMessage::new(wsx_proto::Message::text("hello"));
    /// assert_eq!(p.frame_len(), 7);
    /// ```
    pub fn frame_len(&self) -> usize {
        self.0.plain.len()
    }

    pub(crate) fn plain_frame(&self) -> &Bytes {
        &self.0.plain
    }

    /// The compressed frame for a window of `bits`, made with `compress` (a compressor
    /// without context takeover) the first time; `None` if compressing does not help.
    pub(crate) fn compressed_frame(
        &self,
        bits: u8,
        compress: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
    ) -> Option<&Bytes> {
        let slot = &self.0.compressed[usize::from(bits.clamp(9, 15) - 9)];
        slot.get_or_init(|| {
            let payload = self.0.message.as_bytes();
            let packed = compress(payload).filter(|c| c.len() < payload.len())?;
            let opcode = if self.0.message.is_text() {
                OpCode::Text
            } else {
                OpCode::Binary
            };
            Some(encode(opcode, RSV1, &packed))
        })
        .as_ref()
    }
}

fn encode(opcode: OpCode, rsv: u8, payload: &[u8]) -> Bytes {
    let header = FrameHeader {
        fin: true,
        rsv,
        opcode,
        mask: None,
        payload_len: payload.len() as u64,
    };
    let mut h = [0; MAX_HEADER_LEN];
    let n = header.encode(&mut h);
    let mut frame = BytesMut::with_capacity(n + payload.len());
    frame.extend_from_slice(&h[..n]);
    frame.extend_from_slice(payload);
    frame.freeze()
}
