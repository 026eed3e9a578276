//! `wsx bench`: a load generator lean enough not to be the bottleneck.
//!
//! It speaks WebSocket through wsx-proto's handshake but frames by hand: requests are one
//! pre-masked frame repeated (the server cannot tell), and responses are counted by
//! their headers without unmasking or validating. Each connection keeps K messages in
//! flight and writes replacements in one batch per read.

mod connections;
mod echo;
mod fanout;
mod handshakes;

use anyhow::{Context as _, bail};
use bytes::{Buf, BytesMut};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use wsx_proto::handshake::ClientRequest;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    scenario: Scenario,
    /// Print the summary as JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Load generator threads (1: a single-threaded runtime, leaving other cores to the server).
    #[arg(long, global = true, default_value_t = 1)]
    pub threads: usize,
}

#[derive(Debug, clap::Subcommand)]
enum Scenario {
    /// C connections x K messages in flight x P bytes for T seconds: messages/s, MB/s, latency.
    Echo(echo::Args),
    /// Open N idle connections: the server's RSS per connection (with --pid) and connect rate.
    Connections(connections::Args),
    /// Connect + upgrade + close, as fast as possible: handshakes/s.
    Handshakes(handshakes::Args),
    /// N subscribers, one publisher: time until the last delivery, deliveries/s.
    Fanout(fanout::Args),
}

pub async fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    let report = match args.scenario {
        Scenario::Echo(a) => echo::run(a).await?,
        Scenario::Connections(a) => connections::run(a).await?,
        Scenario::Handshakes(a) => handshakes::run(a).await?,
        Scenario::Fanout(a) => fanout::run(a).await?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print_table();
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// A scenario's results: named rows of (value, unit).
#[derive(Debug, Serialize)]
pub struct Report {
    scenario: &'static str,
    parameters: Vec<(String, String)>,
    results: Vec<Row>,
}

#[derive(Debug, Serialize)]
struct Row {
    name: String,
    value: f64,
    unit: String,
}

impl Report {
    fn new(scenario: &'static str) -> Self {
        Report {
            scenario,
            parameters: Vec::new(),
            results: Vec::new(),
        }
    }

    fn param(&mut self, name: &str, value: impl ToString) -> &mut Self {
        self.parameters.push((name.to_owned(), value.to_string()));
        self
    }

    fn result(&mut self, name: &str, value: f64, unit: &str) -> &mut Self {
        self.results.push(Row {
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
        });
        self
    }

    fn latency(&mut self, hist: &hdrhistogram::Histogram<u64>) -> &mut Self {
        for (name, q) in [
            ("latency p50", 0.5),
            ("latency p90", 0.9),
            ("latency p99", 0.99),
            ("latency p99.9", 0.999),
        ] {
            self.result(name, hist.value_at_quantile(q) as f64 / 1000.0, "µs");
        }
        self
    }

    fn print_table(&self) {
        let params: Vec<String> = self.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("wsx bench {} ({})", self.scenario, params.join(", "));
        let width = self.results.iter().map(|r| r.name.len()).max().unwrap_or(0);
        for r in &self.results {
            println!("  {:<width$}  {:>14}  {}", r.name, format_value(r.value), r.unit);
        }
    }
}

fn format_value(v: f64) -> String {
    if v >= 100.0 {
        let int = v.round() as u64;
        let s = int.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{v:.2}")
    }
}

/// Where to connect: a resolved address and the handshake's Host and path.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    addr: SocketAddr,
    host: String,
    path: String,
}

impl Target {
    pub(crate) async fn parse(url: &str) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("ws://")
            .with_context(|| format!("{url}: wsx bench speaks ws:// only (TLS would measure the cipher)"))?;
        let split = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let addr = tokio::net::lookup_host(authority)
            .await
            .with_context(|| format!("cannot resolve {authority}"))?
            .next()
            .with_context(|| format!("{authority} has no address"))?;
        Ok(Target {
            addr,
            host: authority.to_owned(),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.to_owned()
            },
        })
    }
}

/// Connects (from `source`, if given, to spread over 127.0.0.x) and completes the
/// opening handshake without compression. Returns the stream and any bytes read past
/// the `101`.
pub(crate) async fn open(target: &Target, source: Option<IpAddr>) -> anyhow::Result<(TcpStream, BytesMut)> {
    let socket = if target.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let mut stream = socket.connect(target.addr).await?;
    stream.set_nodelay(true)?;
    let request = ClientRequest::new(&target.host, &target.path);
    stream.write_all(&request.encode()?).await?;
    let mut buf = BytesMut::with_capacity(512);
    let config = wsx_proto::Config::default();
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            bail!("server closed during the handshake");
        }
        if let Some(response) = request.parse_response(&buf, &config)? {
            buf.advance(response.consumed);
            return Ok((stream, buf));
        }
    }
}

/// One client frame, masked with a fixed key (the server cannot tell it is reused).
pub(crate) fn masked_frame(payload: &[u8], text: bool) -> Vec<u8> {
    let header = wsx_proto::FrameHeader {
        fin: true,
        rsv: 0,
        opcode: if text {
            wsx_proto::OpCode::Text
        } else {
            wsx_proto::OpCode::Binary
        },
        mask: Some([0x12, 0x34, 0x56, 0x78]),
        payload_len: payload.len() as u64,
    };
    let mut h = [0; 14];
    let n = header.encode(&mut h);
    let mut frame = h[..n].to_vec();
    let start = frame.len();
    frame.extend_from_slice(payload);
    wsx_proto::mask::apply_mask(&mut frame[start..], [0x12, 0x34, 0x56, 0x78], 0);
    frame
}

/// Removes complete server frames from the front of `buf`, returning how many, and the
/// payload of the last one if `keep_last` (for timestamps). Server frames are unmasked.
pub(crate) fn drain_frames(buf: &mut BytesMut, mut on_payload: impl FnMut(u8, &[u8])) -> usize {
    let mut n = 0;
    while let Some((hlen, len)) = frame_bounds(buf) {
        on_payload(buf[0] & 0x0f, &buf[hlen..hlen + len]);
        buf.advance(hlen + len);
        n += 1;
    }
    n
}

/// The header and payload lengths of the unmasked server frame at the front of `buf`, if
/// all of it is there.
pub(crate) fn frame_bounds(buf: &[u8]) -> Option<(usize, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, hlen) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (
            u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")) as usize,
            10,
        ),
        126 | 127 => return None,
        l => (l as usize, 2),
    };
    (buf.len() >= hlen + len).then_some((hlen, len))
}

/// CPU time (user + system) used so far by process `pid`, from /proc.
pub(crate) fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// Resident set size of process `pid`, in bytes, from /proc.
pub(crate) fn process_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A spinner/progress bar on stderr for runs longer than a moment.
pub(crate) fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_server_frames() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0x81, 0x02, b'h', b'i', 0x82, 0x7e, 0x00, 0x80]);
        buf.extend_from_slice(&[7u8; 128]);
        buf.extend_from_slice(&[0x81, 0x05, b'p']); // incomplete
        let mut seen = Vec::new();
        assert_eq!(drain_frames(&mut buf, |op, p| seen.push((op, p.len()))), 2);
        assert_eq!(seen, [(1, 2), (2, 128)]);
        assert_eq!(buf.len(), 3);
    }

    #[test]
    fn masked_frames_parse_back() {
        let f = masked_frame(b"Hello", true);
        let (h, n) = wsx_proto::FrameHeader::parse(&f).unwrap().unwrap();
        let mut p = f[n..].to_vec();
        wsx_proto::mask::apply_mask(&mut p, h.mask.unwrap(), 0);
        assert_eq!(p, b"Hello");
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(format_value(1234567.4), "1,234,567");
        assert_eq!(format_value(12.345), "12.35");
    }
}
