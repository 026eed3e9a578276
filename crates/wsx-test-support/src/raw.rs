//! A WebSocket peer under the test's control, for what a well-behaved client never does:
//! stay silent, never read, never answer a ping, send exactly the bytes the test chose.

use bytes::BytesMut;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use wsx::proto::handshake::ClientRequest;
use wsx::proto::{CloseFrame, Connection, DeflateConfig, Event, Message, Role};

/// A WebSocket client whose every byte the test controls: the handshake is written by
/// hand, frames are encoded and decoded by a [`Connection`] (wsx-proto) that writes only
/// when told to ([`flush`](Self::flush)) and never runs timers. Reading it is up to the
/// test: a `RawClient` nobody reads is a peer that never reads.
#[derive(Debug)]
pub struct RawClient<S> {
    pub io: S,
    pub conn: Connection,
    /// The server's `101` response head.
    pub head: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawClient<S> {
    /// Runs the client handshake over `io`, offering permessage-deflate if `deflate` is set.
    /// The peer itself accepts messages of any size.
    pub async fn handshake(mut io: S, deflate: Option<DeflateConfig>) -> Self {
        let mut config = wsx::proto::Config::default();
        config.deflate = deflate.clone();
        config.max_frame_size = usize::MAX >> 1;
        config.max_message_size = usize::MAX >> 1;
        let request = ClientRequest::new("localhost", "/").deflate(deflate);
        io.write_all(&request.encode().expect("a valid request"))
            .await
            .expect("write request");
        let mut buf = BytesMut::with_capacity(1024);
        loop {
            let n = io.read_buf(&mut buf).await.expect("read response");
            assert!(
                n > 0,
                "server closed during the handshake; it sent {:?}",
                String::from_utf8_lossy(&buf)
            );
            if let Some(response) = request.parse_response(&buf, &config).expect("a 101 response") {
                let head = String::from_utf8_lossy(&buf[..response.consumed]).into_owned();
                let mut conn = Connection::new(Role::Client, config).with_deflate(response.deflate);
                conn.receive(&buf[response.consumed..]);
                return RawClient { io, conn, head };
            }
        }
    }

    /// Writes everything the core has queued (messages, pongs, close replies).
    pub async fn flush(&mut self) -> std::io::Result<()> {
        let out = self.conn.take_output();
        self.io.write_all(&out).await?;
        self.io.flush().await
    }

    /// Queues `message` and writes it.
    pub async fn send(&mut self, message: impl Into<Message>) -> std::io::Result<()> {
        self.conn.send(message.into()).expect("raw client send");
        self.flush().await
    }

    /// The next event from the server; `None` once the transport ended (EOF or reset).
    /// Panics if the server breaks the protocol.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            match self.conn.poll_event() {
                Ok(Some(event)) => return Some(event),
                Ok(None) => {}
                Err(wsx::proto::Error::UnexpectedEof) => return None,
                Err(e) => panic!("the server broke the protocol: {e}"),
            }
            let mut buf = [0u8; 16 << 10];
            match self.io.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.conn.receive(&buf[..n]),
            }
        }
    }

    /// Reads until the server's close frame, skipping anything else; panics at EOF.
    pub async fn expect_close(&mut self) -> Option<CloseFrame> {
        loop {
            match self.next_event().await {
                Some(Event::Close(frame)) => return frame,
                Some(_) => {}
                None => panic!("the transport ended without a close frame"),
            }
        }
    }

    /// Reads raw bytes until the transport ends; true for a clean EOF, false for an error.
    pub async fn read_to_eof(&mut self) -> bool {
        let mut buf = [0u8; 16 << 10];
        loop {
            match self.io.read(&mut buf).await {
                Ok(0) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }
}

impl RawClient<TcpStream> {
    /// Connects to `addr` and runs the handshake without offering compression.
    pub async fn connect(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).await.expect("tcp connect");
        tcp.set_nodelay(true).expect("nodelay");
        RawClient::handshake(tcp, None).await
    }
}
