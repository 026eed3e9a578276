//! Limits and behaviour of a connection, each with a safe default.

use crate::deflate::DeflateConfig;
use std::time::Duration;

/// Configuration of a [`Connection`](crate::Connection) and its handshake.
///
/// Every limit a peer could push against is here, with a default that is safe for a
/// server on the open internet (the defaults are python-websockets': 1 MiB messages).
///
/// # Worst-case memory per connection
///
/// What a peer can make one connection hold, at most, with these defaults:
///
/// | what | bound | default |
/// |---|---|---|
/// | a frame being received | at most 4 × (`max_frame_size` + one read of 64 KiB), typically under 2 ×: the buffer grows geometrically, so that a large frame arriving in many reads is not copied again on every read | ≤ 4.3 MiB |
/// | a fragmented or compressed message being assembled | `max_message_size` | 1 MiB |
/// | compressor (permessage-deflate, only once we compress) | 2^(`compress_window_bits`+2) + 2^(`mem_level`+9) | 32 KiB |
/// | decompressor (only once the peer compresses) | 2^(peer's window bits) + ~7 KiB | 39 KiB |
///
/// So at most about 5.3 MiB uncompressed and 5.4 MiB compressed, plus what the I/O layer queues
/// (the tokio layer's send and receive queues, 1 MiB each by default, plus one message
/// each). The `api` fuzz target checks the receive buffer against this bound (a tighter
/// growth policy is possible; it is on the hot path and not done yet). An idle
/// connection holds none of the buffers: they are released when empty. The previous
/// defaults (16 MiB frames and messages, zlib's 15-bit windows and memory level 8)
/// allowed about 100 MiB and 0.3 MiB of zlib state.
///
/// Change fields on a default:
///
/// ```
/// use std::time::Duration;
/// let mut config = wsx_proto::Config::default();
/// config.max_message_size = 64 << 10;
/// config.ping_interval = Some(Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest frame payload accepted, in bytes; larger fails with 1009. Default 1 MiB.
    pub max_frame_size: usize,
    /// Largest message accepted, in bytes, counted after decompression, so it also caps
    /// what a compressed message may inflate to (a decompression bomb fails with 1009
    /// having cost at most this much memory). Default 1 MiB.
    pub max_message_size: usize,
    /// Largest opening handshake head (request or response line plus headers); larger
    /// fails with HTTP 431. Default 16 KiB.
    pub max_handshake_bytes: usize,
    /// Most header fields in the handshake; more fails with HTTP 431. Default 64.
    pub max_headers: usize,
    /// Answer pings with pongs automatically (RFC 6455 §5.5.2). Default on.
    pub auto_pong: bool,
    /// Split outgoing messages into frames of at most this many payload bytes. `None`
    /// (default) sends each message as one frame.
    pub fragment_size: Option<usize>,
    /// permessage-deflate to offer (client) or accept (server); `None` disables it.
    /// Default on, with [`DeflateConfig::default`].
    pub deflate: Option<DeflateConfig>,
    /// Send a ping after this long without receiving anything. `None` disables
    /// keepalive. Default 30 s. Activity is checked when the interval ends, so a ping goes
    /// out between one and two intervals after the last frame received. Timers run only
    /// when the driver calls [`Connection::handle_timeout`](crate::Connection::handle_timeout).
    pub ping_interval: Option<Duration>,
    /// Fail the connection (1011) when nothing arrives this long after a keepalive ping.
    /// Default 20 s.
    pub pong_timeout: Duration,
    /// Close the connection (1001) after this long without a data message in either
    /// direction (checked when the period ends: the close comes between one and two
    /// periods after the last message). `None` (default) never does.
    pub idle_timeout: Option<Duration>,
    /// How long to wait for the peer's answer to our close frame (and, for a client, for
    /// the server to close TCP) before giving up. Default 5 s.
    pub close_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 1 << 20,
            max_message_size: 1 << 20,
            max_handshake_bytes: 16 << 10,
            max_headers: 64,
            auto_pong: true,
            fragment_size: None,
            deflate: Some(DeflateConfig::default()),
            ping_interval: Some(Duration::from_secs(30)),
            pong_timeout: Duration::from_secs(20),
            idle_timeout: None,
            close_timeout: Duration::from_secs(5),
        }
    }
}
