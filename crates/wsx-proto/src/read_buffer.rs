//! The append-only view of a connection's receive buffer, for drivers that read from a
//! socket straight into it.
//!
//! The buffer holds bytes the connection has already unmasked and validated (a text
//! frame's first half, say); a driver that could overwrite them could make the
//! connection hand out a `str` that is not UTF-8. So drivers get this wrapper, which
//! only lets them append, never `&mut BytesMut`.

use bytes::buf::UninitSlice;
use bytes::{BufMut, BytesMut};

/// Where a driver puts bytes read from the socket: [`Connection::read_buffer`] hands it
/// out. It implements [`BufMut`], so `tokio_util::io::poll_read_buf` and friends can read
/// into it, but it only exposes the buffer's unused capacity: bytes already received can
/// be neither read nor changed through it.
///
/// Once the connection is closed, what is written here is discarded (RFC 6455 §7.1.1
/// leaves nothing to do with it), so a peer that keeps sending after its close frame
/// costs no memory.
///
/// [`Connection::read_buffer`]: crate::Connection::read_buffer
///
/// ```
/// use bytes::BufMut;
/// use wsx_proto::{Config, Connection, Event, Message, Role};
/// let mut client = Connection::new(Role::Client, Config::default());
/// let mut buf = client.read_buffer();
/// buf.reserve(4);
/// buf.put_slice(&[0x81, 0x02, b'o', b'k']); // as a socket read would
/// assert_eq!(buf.len(), 4);
/// assert_eq!(client.poll_event().unwrap(), Some(Event::Message(Message::text("ok"))));
/// ```
#[derive(Debug)]
pub struct ReadBuffer<'a> {
    buf: &'a mut BytesMut,
    /// The connection's count of non-empty inputs: any byte is a sign of life.
    inputs: &'a mut u32,
    /// The connection is closed: drop what arrives.
    discard: bool,
}

impl<'a> ReadBuffer<'a> {
    pub(crate) fn new(buf: &'a mut BytesMut, inputs: &'a mut u32, discard: bool) -> Self {
        ReadBuffer { buf, inputs, discard }
    }

    /// Bytes received and not yet consumed by the connection (a partial frame).
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut conn = Connection::new(Role::Client, Config::default());
    /// assert_eq!(conn.read_buffer().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no bytes are waiting (the connection holds no partial frame).
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut conn = Connection::new(Role::Client, Config::default());
    /// assert!(conn.read_buffer().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Total room in the buffer (received bytes plus unused capacity).
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut conn = Connection::new(Role::Client, Config::default());
    /// conn.read_buffer().reserve(1024);
    /// assert!(conn.read_buffer().capacity() >= 1024);
    /// ```
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Unused capacity: how much the next read can put in without a reallocation.
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut conn = Connection::new(Role::Client, Config::default());
    /// conn.read_buffer().reserve(100);
    /// assert!(conn.read_buffer().spare_capacity() >= 100);
    /// ```
    pub fn spare_capacity(&self) -> usize {
        self.buf.capacity() - self.buf.len()
    }

    /// Makes room for at least `additional` more bytes, growing at least geometrically
    /// (so a large frame arriving in many reads is not copied again on every read). Does
    /// nothing once the connection is closed.
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut conn = Connection::new(Role::Client, Config::default());
    /// conn.read_buffer().reserve(64 << 10);
    /// assert!(conn.read_buffer().spare_capacity() >= 64 << 10);
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        if !self.discard {
            crate::connection::grow_for(self.buf, additional);
        }
    }

    /// Appends bytes: the same as [`BufMut::put_slice`], for callers without the trait.
    ///
    /// ```
    /// use wsx_proto::{Config, Connection, Role};
    /// let mut client = Connection::new(Role::Client, Config::default());
    /// client.read_buffer().extend_from_slice(&[0x8a, 0x00]); // an empty pong
    /// assert!(client.poll_event().unwrap().is_some());
    /// ```
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        *self.inputs = self.inputs.wrapping_add(1);
        if !self.discard {
            crate::connection::grow_for(self.buf, data.len());
            self.buf.extend_from_slice(data);
        }
    }
}

// SAFETY: every method forwards to `BytesMut`'s own `BufMut` implementation, which upholds
// the trait's contract; `chunk_mut` exposes only the spare capacity after the received
// bytes, so nothing already received (and validated) can be overwritten through it, and
// `advance_mut` keeps `BytesMut`'s requirement that the caller initialized the bytes it
// advances over. Discarding after close only shortens the buffer again (`clear`), which
// never exposes uninitialized memory. Exercised by `put_slice`, by `poll_read_buf` in the
// tokio layer, and by the tests below.
unsafe impl BufMut for ReadBuffer<'_> {
    fn remaining_mut(&self) -> usize {
        self.buf.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller guarantees that the next `cnt` bytes of `chunk_mut()`, which
        // is `self.buf.chunk_mut()`, are initialized: exactly `BytesMut::advance_mut`'s
        // precondition.
        unsafe { self.buf.advance_mut(cnt) };
        if cnt > 0 {
            *self.inputs = self.inputs.wrapping_add(1);
        }
        if self.discard {
            self.buf.clear();
        }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.buf.chunk_mut()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Connection, Event, Message, Role};
    use bytes::BufMut;

    /// The review's reproduction of unsoundness through the old `&mut BytesMut`: feed a
    /// text frame's header and first bytes, poll (they are validated), change one of them,
    /// feed the rest. Through `ReadBuffer` the validated bytes are out of reach: all a
    /// caller can do is append, and whatever it appends is validated in turn.
    #[test]
    fn validated_bytes_cannot_be_rewritten() {
        let mut client = Connection::new(Role::Client, Config::default());
        // "héllo" as one unmasked text frame, delivered in two parts.
        let payload = "héllo".as_bytes();
        let mut frame = vec![0x81, payload.len() as u8];
        frame.extend_from_slice(payload);
        client.read_buffer().put_slice(&frame[..4]);
        assert_eq!(client.poll_event().unwrap(), None);
        {
            let mut buf = client.read_buffer();
            // The only writable memory is past what was received.
            let chunk = buf.chunk_mut();
            assert!(chunk.len() > 0);
            chunk.write_byte(0, 0xff); // spare capacity: not part of the frame
            // Not advanced over: the byte is not received.
            assert_eq!(buf.len(), 2); // the header was consumed; 2 payload bytes wait
        }
        client.read_buffer().put_slice(&frame[4..]);
        match client.poll_event().unwrap() {
            Some(Event::Message(Message::Text(t))) => assert_eq!(t.as_str(), "héllo"),
            other => panic!("expected the text, got {other:?}"),
        }
    }

    /// Appending invalid UTF-8 through the buffer fails the connection like any input.
    #[test]
    fn appended_bytes_are_validated() {
        let mut client = Connection::new(Role::Client, Config::default());
        let mut buf = client.read_buffer();
        buf.put_slice(&[0x81, 0x02, 0xc3]);
        // Written through chunk_mut + advance_mut, as a socket read does.
        let chunk = buf.chunk_mut();
        chunk.write_byte(0, 0x28); // not a continuation byte
        // SAFETY: one byte of chunk_mut was just written.
        unsafe { buf.advance_mut(1) };
        assert_eq!(client.poll_event(), Err(crate::Error::InvalidUtf8));
    }

    /// After the close handshake, bytes are counted but not kept.
    #[test]
    fn input_after_close_is_discarded() {
        let mut client = Connection::new(Role::Client, Config::default());
        client.receive(&[0x88, 0x02, 0x03, 0xe8]); // the server's close, 1000
        assert!(matches!(client.poll_event(), Ok(Some(Event::Close(_)))));
        for _ in 0..64 {
            let mut buf = client.read_buffer();
            buf.reserve(1 << 20);
            buf.put_slice(&[0u8; 16 << 10]);
            assert!(buf.is_empty());
        }
        assert!(client.read_buffer().capacity() < 64 << 10);
        assert_eq!(client.poll_event(), Ok(None));
    }
}
