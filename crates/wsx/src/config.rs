//! Configuration of the tokio layer, around the protocol core's.

use std::time::Duration;

/// How a [`WebSocket`](crate::WebSocket) behaves: the protocol limits and timers of
/// [`wsx_proto::Config`] plus the limits only an I/O layer has.
///
/// ```
/// use std::time::Duration;
/// let mut config = wsx::Config::default();
/// config.protocol.max_message_size = 1 << 20;
/// config.protocol.ping_interval = Some(Duration::from_secs(15));
/// config.send_queue_limit = 256 << 10;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Protocol limits and timers: frame and message size, keepalive, idle and close
    /// timeouts, permessage-deflate.
    pub protocol: wsx_proto::Config,
    /// Most bytes queued for sending before `send` waits and `try_send` fails with
    /// [`Error::QueueFull`](crate::Error::QueueFull). It also stops reading while our
    /// answers (pongs, echoes) cannot be written, so a peer that does not read costs
    /// bounded memory. Default 1 MiB.
    pub send_queue_limit: usize,
    /// Most bytes of messages held for the application while it is not receiving (it is
    /// sending, or a spawned connection's reader is behind); past it, reading pauses until
    /// [`recv`](crate::WebSocket::recv) takes some, and so does keepalive, since the peer
    /// has just proven itself alive. At least one message is always taken in, so the
    /// worst case is this plus one message. Default 1 MiB.
    pub receive_queue_limit: usize,
    /// Time allowed for the opening handshake after TCP (and TLS) connect. Default 10 s.
    pub handshake_timeout: Duration,
    /// Time allowed for TCP connect, proxy tunnel and TLS handshake (client). Default 10 s.
    pub connect_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            protocol: wsx_proto::Config::default(),
            send_queue_limit: 1 << 20,
            receive_queue_limit: 1 << 20,
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
        }
    }
}
