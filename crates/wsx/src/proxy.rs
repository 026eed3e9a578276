//! Reaching a server through an HTTP CONNECT or SOCKS5 proxy, given explicitly or found in
//! `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` (minus `NO_PROXY`).
//!
//! Both tunnels are a handful of bytes each way before the WebSocket handshake, written
//! here rather than pulling in a crate per protocol.

use crate::error::{Error, Result};
use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A proxy to tunnel through.
///
/// ```
/// let p = wsx::Proxy::parse("socks5://user:pw@127.0.0.1:1080").unwrap();
/// assert_eq!(p.address(), ("127.0.0.1", 1080));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: Kind,
    host: String,
    port: u16,
    auth: Option<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    Socks5,
}

impl Proxy {
    /// Parses `http://[user:pass@]host[:port]` (HTTP CONNECT, default port 80) or
    /// `socks5://` / `socks5h://` (default port 1080). A bare `host:port` means HTTP.
    pub fn parse(url: &str) -> Result<Proxy> {
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let (kind, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (Kind::Http, 80),
            "socks5" | "socks5h" => (Kind::Socks5, 1080),
            other => return Err(Error::url(format!("unsupported proxy scheme {other:?}"))),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let (auth, hostport) = match authority.rsplit_once('@') {
            Some((cred, hp)) => {
                let (u, p) = cred.split_once(':').unwrap_or((cred, ""));
                (Some((percent_decode(u), percent_decode(p))), hp)
            }
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport, default_port)?;
        Ok(Proxy {
            kind,
            host,
            port,
            auth,
        })
    }

    /// The proxy to use for `host` from the environment, if any: `HTTPS_PROXY` for
    /// `wss://` and `HTTP_PROXY` for `ws://` (either case), then `ALL_PROXY`, unless
    /// `NO_PROXY` matches the host.
    pub fn from_env(tls: bool, host: &str) -> Option<Proxy> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .or_else(|| std::env::var(name.to_ascii_lowercase()).ok())
                .filter(|v| !v.trim().is_empty())
        };
        let url = if tls {
            var("HTTPS_PROXY")
        } else {
            var("HTTP_PROXY")
        }
        .or_else(|| var("ALL_PROXY"))?;
        if let Some(no) = var("NO_PROXY")
            && no_proxy_matches(&no, host)
        {
            return None;
        }
        match Proxy::parse(&url) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(proxy = %url, error = %e, "ignoring unusable proxy from the environment");
                None
            }
        }
    }

    /// The proxy's host and port.
    pub fn address(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    /// Asks the proxy, over `stream`, for a tunnel to `host:port`.
    pub(crate) async fn tunnel<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        host: &str,
        port: u16,
    ) -> Result<()> {
        let result = match self.kind {
            Kind::Http => self.http_connect(stream, host, port).await,
            Kind::Socks5 => self.socks5_connect(stream, host, port).await,
        };
        result.map_err(|e| match e {
            Error::Io(io) => self.error("the tunnel failed", Some(io)),
            e => e,
        })
    }

    /// An [`Error::Proxy`] naming this proxy.
    fn error(&self, reason: impl Into<String>, source: Option<std::io::Error>) -> Error {
        Error::Proxy {
            proxy: authority(&self.host, self.port),
            reason: reason.into(),
            source,
        }
    }

    /// The proxy at `host:port` could not be reached.
    pub(crate) fn failed(host: &str, port: u16, reason: &str, source: std::io::Error) -> Error {
        Error::Proxy {
            proxy: authority(host, port),
            reason: reason.into(),
            source: Some(source),
        }
    }

    async fn http_connect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        s: &mut S,
        host: &str,
        port: u16,
    ) -> Result<()> {
        let target = authority(host, port);
        let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some((u, p)) = &self.auth {
            let cred = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            req.push_str(&format!("Proxy-Authorization: Basic {cred}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await?;
        // Read the response head byte by byte: nothing after it may be consumed, since
        // it belongs to the tunnel.
        let mut head = Vec::with_capacity(128);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= 8192 {
                return Err(self.error("CONNECT response head too large", None));
            }
            let b = s
                .read_u8()
                .await
                .map_err(|e| self.error("closed during CONNECT", Some(e)))?;
            head.push(b);
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&head) {
            Ok(httparse::Status::Complete(_)) if resp.code.is_some_and(|c| (200..300).contains(&c)) => Ok(()),
            Ok(httparse::Status::Complete(_)) => Err(self.error(
                format!(
                    "CONNECT refused: {} {}",
                    resp.code.unwrap_or(0),
                    resp.reason.unwrap_or("")
                ),
                None,
            )),
            _ => Err(self.error("malformed CONNECT response", None)),
        }
    }

    /// RFC 1928 (and RFC 1929 for username/password), always with a domain name or IP
    /// literal so that name resolution happens at the proxy.
    async fn socks5_connect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        s: &mut S,
        host: &str,
        port: u16,
    ) -> Result<()> {
        let fail = |m: &str| self.error(format!("SOCKS5: {m}"), None);
        let methods: &[u8] = if self.auth.is_some() {
            &[0x00, 0x02]
        } else {
            &[0x00]
        };
        let mut hello = vec![0x05, methods.len() as u8];
        hello.extend_from_slice(methods);
        s.write_all(&hello).await?;
        let mut reply = [0u8; 2];
        s.read_exact(&mut reply).await?;
        match reply {
            [0x05, 0x00] => {}
            [0x05, 0x02] => {
                let (u, p) = self
                    .auth
                    .as_ref()
                    .ok_or_else(|| fail("proxy demands credentials"))?;
                if u.len() > 255 || p.len() > 255 {
                    return Err(fail("credentials too long"));
                }
                let mut msg = vec![0x01, u.len() as u8];
                msg.extend_from_slice(u.as_bytes());
                msg.push(p.len() as u8);
                msg.extend_from_slice(p.as_bytes());
                s.write_all(&msg).await?;
                s.read_exact(&mut reply).await?;
                if reply[1] != 0 {
                    return Err(fail("authentication failed"));
                }
            }
            _ => return Err(fail("no acceptable authentication method")),
        }
        let mut req = vec![0x05, 0x01, 0x00];
        match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => {
                req.push(0x01);
                req.extend_from_slice(&ip.octets());
            }
            Ok(std::net::IpAddr::V6(ip)) => {
                req.push(0x04);
                req.extend_from_slice(&ip.octets());
            }
            Err(_) => {
                if host.len() > 255 {
                    return Err(fail("host name too long"));
                }
                req.push(0x03);
                req.push(host.len() as u8);
                req.extend_from_slice(host.as_bytes());
            }
        }
        req.extend_from_slice(&port.to_be_bytes());
        s.write_all(&req).await?;
        let mut head = [0u8; 4];
        s.read_exact(&mut head).await?;
        if head[0] != 0x05 {
            return Err(fail("bad reply version"));
        }
        if head[1] != 0x00 {
            let why = match head[1] {
                0x01 => "general failure",
                0x02 => "connection not allowed by ruleset",
                0x03 => "network unreachable",
                0x04 => "host unreachable",
                0x05 => "connection refused",
                0x06 => "TTL expired",
                0x07 => "command not supported",
                0x08 => "address type not supported",
                _ => "unknown error",
            };
            return Err(fail(why));
        }
        let addr_len = match head[3] {
            0x01 => 4,
            0x04 => 16,
            0x03 => s.read_u8().await? as usize,
            _ => return Err(fail("bad address type in reply")),
        };
        let mut rest = vec![0u8; addr_len + 2];
        s.read_exact(&mut rest).await?;
        Ok(())
    }
}

/// `host:port`, with an IPv6 literal in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host[:port]` / `[v6][:port]`.
pub(crate) fn split_host_port(s: &str, default_port: u16) -> Result<(String, u16)> {
    let bad = || Error::url(format!("invalid host:port {s:?}"));
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => default_port,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => Ok((h.to_owned(), p.parse().map_err(|_| bad())?)),
        None if !s.is_empty() => Ok((s.to_owned(), default_port)),
        _ => Err(bad()),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `NO_PROXY`: comma-separated host names, domain suffixes (`.example.com` or
/// `example.com`, both matching subdomains), IP literals, or `*`.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    list.split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .any(|entry| {
            // Drop a port: `host:port` or `[v6]:port`. A bare IPv6 literal (`::1`) has
            // more than one colon and no port.
            let entry = match entry.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or_default(),
                None if entry.matches(':').count() == 1 => entry.split(':').next().unwrap_or_default(),
                None => entry.as_str(),
            };
            if entry.is_empty() {
                return false;
            }
            if entry == "*" {
                return true;
            }
            let suffix = entry.trim_start_matches('.');
            host == suffix || host.ends_with(&format!(".{suffix}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxy_urls() {
        let p = Proxy::parse("http://u%40x:p@proxy:3128").unwrap();
        assert_eq!((p.kind, p.address()), (Kind::Http, ("proxy", 3128)));
        assert_eq!(p.auth, Some(("u@x".into(), "p".into())));
        assert_eq!(Proxy::parse("socks5h://[::1]").unwrap().address(), ("::1", 1080));
        assert_eq!(Proxy::parse("proxy.local:8080").unwrap().kind, Kind::Http);
        assert!(Proxy::parse("ftp://x").is_err());
        assert!(Proxy::parse("http://host:notaport").is_err());
    }

    #[test]
    fn no_proxy_rules() {
        assert!(no_proxy_matches("localhost, .internal", "localhost"));
        assert!(no_proxy_matches("localhost, .internal", "a.b.internal"));
        assert!(no_proxy_matches("example.com", "ws.example.com"));
        assert!(!no_proxy_matches("example.com", "badexample.com"));
        assert!(no_proxy_matches("*", "anything"));
        assert!(no_proxy_matches("127.0.0.1:8080", "127.0.0.1"));
        assert!(!no_proxy_matches("", "x"));
        assert!(no_proxy_matches("localhost,127.0.0.1,::1", "::1"));
        assert!(no_proxy_matches("[::1]:8080", "[::1]"));
        assert!(!no_proxy_matches("::1", "::2"));
    }
}
