//! HTTP over a raw socket: what a server answers to requests no WebSocket client would
//! send (bad versions, oversized heads, plain GETs), read without an HTTP client crate
//! that might normalise the response.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// An HTTP response, read by hand.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value (the first one, name compared without regard to case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Writes `request` and reads one response: the head, then `Content-Length` bytes of body
/// (or whatever arrives until the connection ends). A reset after the response counts as
/// its end: a server that refuses a request may close with unread input.
pub async fn http_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &[u8],
) -> HttpResponse {
    // The server may refuse before reading everything and reset the connection under us.
    let _ = stream.write_all(request).await;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (status, headers, head_len) = loop {
        let mut parsed = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut parsed);
        if let httparse::Status::Complete(n) = resp.parse(&buf).expect("a well-formed HTTP response") {
            let headers = resp
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                .collect::<Vec<_>>();
            break (resp.code.expect("status"), headers, n);
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => panic!(
                "connection ended before a complete response head: {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let mut response = HttpResponse {
        status,
        headers,
        body: buf[head_len..].to_vec(),
    };
    let length = response
        .header("content-length")
        .map(|v| v.trim().parse::<usize>().unwrap());
    while length.is_none_or(|l| response.body.len() < l) {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => response.body.extend_from_slice(&chunk[..n]),
        }
    }
    response
}

/// An opening handshake request for `path` on `host`, with `extra` header lines (each
/// ending in `\r\n`) and `version` as `Sec-WebSocket-Version`.
pub fn upgrade_request(host: &str, path: &str, version: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n"
    )
    .into_bytes()
}
