//! A blocking echo server on `std::net`, one thread per connection, using nothing but
//! wsx-proto: proof that the protocol core needs no async runtime.
//!
//! ```text
//! cargo run --release -p wsx-proto --example echo_std -- 127.0.0.1:9002
//! ```
//!
//! Serves an echo endpoint at any path and negotiates permessage-deflate when offered.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;
use wsx_proto::handshake::{Accept, Request};
use wsx_proto::{Config, Connection, Event, Role};

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = TcpListener::bind(&addr)?;
    println!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || {
            if let Err(e) = serve(stream) {
                eprintln!("connection error: {e}");
            }
        });
    }
    Ok(())
}

fn config() -> Config {
    let mut config = Config::default();
    // The Autobahn suite sends messages up to 16 MiB; leave headroom.
    config.max_frame_size = 64 << 20;
    config.max_message_size = 64 << 20;
    config
}

fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let config = config();
    let mut chunk = vec![0u8; 64 << 10];

    // Opening handshake.
    let mut head = Vec::new();
    let (request, used) = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
        match Request::parse(&head, &config) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) => continue,
            Err(e) => return reject(&mut stream, &e),
        }
    };
    let accepted = match request.accept(&Accept::new().deflate(config.deflate.as_ref())) {
        Ok(a) => a,
        Err(e) => return reject(&mut stream, &e),
    };
    stream.write_all(&accepted.response)?;

    let mut conn = Connection::new(Role::Server, config).with_deflate(accepted.deflate);
    conn.receive(&head[used..]);
    loop {
        loop {
            match conn.poll_event() {
                Ok(Some(Event::Message(m))) => conn.send(m).map_err(io::Error::other)?,
                Ok(Some(_)) => {} // pongs are automatic; close is answered by the core
                Ok(None) => break,
                Err(e) => {
                    eprintln!("closing: {e}");
                    break;
                }
            }
        }
        flush(&mut stream, &mut conn)?;
        if conn.should_close_transport() {
            return close_gracefully(stream);
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            conn.receive_eof();
        } else {
            conn.receive(&chunk[..n]);
        }
    }
}

/// Writes all queued output with vectored writes.
fn flush(stream: &mut TcpStream, conn: &mut Connection) -> io::Result<()> {
    while conn.pending_output() > 0 {
        let mut slices = [IoSlice::new(&[]); 64];
        let n = conn.io_slices(&mut slices);
        let written = stream.write_vectored(&slices[..n])?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        conn.advance_output(written);
    }
    Ok(())
}

/// Shuts down our side, then waits briefly for the peer's FIN so that unread bytes do
/// not turn our close into a TCP reset that could destroy the close frame in flight.
fn close_gracefully(mut stream: TcpStream) -> io::Result<()> {
    let _ = stream.shutdown(Shutdown::Write);
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut sink = [0u8; 4096];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}

fn reject(stream: &mut TcpStream, e: &wsx_proto::Error) -> io::Result<()> {
    stream.write_all(&wsx_proto::handshake::ErrorResponse::from_error(e).encode())
}
