//! The hubs' publisher: HTTP/1.1 POSTs on one keep-alive connection, pipelined within a
//! burst (so a burst goes out back to back, not one round trip per message).
//!
//! Only what the three servers answer is understood: a status line, headers, and a body
//! framed by Content-Length or chunked. A `Connection: close` means a new connection for
//! the next batch.

use crate::bench::Target;
use anyhow::{Context as _, bail};
use bytes::{Buf, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one batch's responses may take.
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(super) struct Publisher {
    server: Target,
    /// Everything of a request but its body's length and the body.
    head: String,
    stream: Option<TcpStream>,
    buf: BytesMut,
}

impl Publisher {
    pub(super) async fn connect(
        server: &Target,
        path: String,
        api_key: Option<&str>,
    ) -> anyhow::Result<Self> {
        let auth = api_key
            .map(|k| format!("Authorization: Bearer {k}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{auth}Content-Length: ",
            server.host
        );
        let mut p = Publisher {
            server: server.clone(),
            head,
            stream: None,
            buf: BytesMut::with_capacity(4096),
        };
        p.stream().await?;
        Ok(p)
    }

    async fn stream(&mut self) -> anyhow::Result<&mut TcpStream> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.server.addr)
                .await
                .with_context(|| format!("publisher: cannot connect to {}", self.server.addr))?;
            s.set_nodelay(true)?;
            self.buf.clear();
            self.stream = Some(s);
        }
        Ok(self.stream.as_mut().expect("just set"))
    }

    /// POSTs every body, all written before any response is read; fails unless every
    /// response is a 2xx.
    pub(super) async fn publish(&mut self, bodies: &[Vec<u8>]) -> anyhow::Result<()> {
        let mut requests = Vec::with_capacity(bodies.iter().map(|b| b.len() + self.head.len() + 8).sum());
        for b in bodies {
            requests.extend_from_slice(self.head.as_bytes());
            requests.extend_from_slice(format!("{}\r\n\r\n", b.len()).as_bytes());
            requests.extend_from_slice(b);
        }
        self.stream().await?.write_all(&requests).await?;
        let mut answered = 0;
        let mut close = false;
        while answered < bodies.len() {
            while let Some(r) = parse_response(&self.buf)? {
                if !(200..300).contains(&r.status) {
                    let body = &self.buf[r.body_start..r.consumed];
                    bail!(
                        "publish answered {}: {}",
                        r.status,
                        String::from_utf8_lossy(&body[..body.len().min(200)]).trim()
                    );
                }
                self.buf.advance(r.consumed);
                answered += 1;
                close |= r.close;
                if answered == bodies.len() {
                    break;
                }
            }
            if answered == bodies.len() {
                break;
            }
            if close {
                bail!(
                    "the server closed the publisher's connection after {answered} of {} pipelined publishes",
                    bodies.len()
                );
            }
            let stream = self.stream.as_mut().expect("connected");
            let n = tokio::time::timeout(PATIENCE, stream.read_buf(&mut self.buf))
                .await
                .with_context(|| format!("no answer to a publish within {} s", PATIENCE.as_secs()))??;
            if n == 0 {
                bail!(
                    "the server closed the publisher's connection after {answered} of {} publishes",
                    bodies.len()
                );
            }
        }
        if close {
            self.stream = None;
        }
        Ok(())
    }
}

#[derive(Debug, PartialEq)]
struct Response {
    status: u16,
    /// Bytes of the whole response, head and body.
    consumed: usize,
    /// Where the body starts (as sent: chunked bodies are not decoded, only shown in errors).
    body_start: usize,
    close: bool,
}

/// A complete response at the front of `buf`, or None if more is needed.
fn parse_response(buf: &[u8]) -> anyhow::Result<Option<Response>> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).context("a response head that is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP status line: {status_line:?}"))?;
    let (mut length, mut chunked, mut close) = (None, false, status_line.starts_with("HTTP/1.0"));
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().context("a bad Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            close = v.contains("close") || (close && !v.contains("keep-alive"));
        }
    }
    let body = head_end + 4;
    if chunked {
        let mut at = body;
        loop {
            let Some(eol) = find(&buf[at..], b"\r\n") else {
                return Ok(None);
            };
            let size_field = std::str::from_utf8(&buf[at..at + eol])?;
            let size = usize::from_str_radix(size_field.split(';').next().unwrap_or("").trim(), 16)
                .with_context(|| format!("a bad chunk size {size_field:?}"))?;
            at += eol + 2;
            if size == 0 {
                // No trailers from these servers: the empty line ends the body.
                let Some(end) = find(&buf[at..], b"\r\n") else {
                    return Ok(None);
                };
                return Ok(Some(Response {
                    status,
                    consumed: at + end + 2,
                    body_start: body,
                    close,
                }));
            }
            if buf.len() < at + size + 2 {
                return Ok(None);
            }
            at += size + 2;
        }
    }
    let body_len = match (length, status) {
        (Some(l), _) => l,
        (None, 204 | 304) | (None, 100..=199) => 0,
        (None, _) => bail!("a response without Content-Length or chunked framing (status {status})"),
    };
    if buf.len() < body + body_len {
        return Ok(None);
    }
    Ok(Some(Response {
        status,
        consumed: body + body_len,
        body_start: body,
        close,
    }))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses_by_length_and_by_chunks() {
        let r = b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1";
        assert_eq!(
            parse_response(r).unwrap(),
            Some(Response {
                status: 201,
                consumed: r.len() - 8,
                body_start: r.len() - 13,
                close: false
            })
        );
        assert_eq!(parse_response(&r[..r.len() - 10]).unwrap(), None);
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(c).unwrap(),
            Some(Response {
                status: 200,
                consumed: c.len(),
                body_start: c.len() - 13,
                close: true
            })
        );
        assert_eq!(parse_response(&c[..c.len() - 1]).unwrap(), None);
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(parse_response(old).unwrap().unwrap().close);
    }
}
