//! `wsx bench fanout`: one publisher, N subscribers on a broadcasting server or a push hub.
//!
//! `--kind` picks the target and so how subscribers join and how messages are published:
//! the `broadcast` example (every message from one connection goes to all the others),
//! `wsx serve`, nchan, or a Socket.IO server (see each kind's module). Every message is
//! numbered; each subscriber notes when each number arrived, against the send times noted
//! by the publisher: same process, same clock.
//!
//! Three measurements, in this order on the same subscribers:
//! - with `--pid`, the server's RSS per subscribed, idle connection;
//! - `--messages` published one at a time, `--interval-ms` apart: the time until the last
//!   subscriber has each one;
//! - with `--burst B`, `--bursts` times: B messages published back to back, and
//!   N x B deliveries over the time from the first send to the last delivery.
//!
//! Cluster mode (the hubs that have one: `wsx-hub`, `socketio`): `--url` takes several
//! nodes, comma-separated, subscriber i joining node i mod K, and `--publish-url` names the
//! node that publishes (the first of `--url` by default). Given either, the report adds the
//! per-delivery latency of the bursts (each subscriber's receipt against the burst's send
//! time), the same split into cross-node subscribers (on another node than the publisher)
//! and same-node ones, the cross-node deliveries/s of each burst, deliveries out of order
//! or twice, and (`--watch-pid NAME=PID`) the CPU of each node and of the broker. Without
//! them, the report is what it was for one server.

mod broadcast;
mod http;
mod hub;
mod nchan;
mod socketio;
mod wire;

use super::{Report, Target, drain_frames, process_cpu, process_rss};
use anyhow::{Context as _, bail};
use bytes::BytesMut;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// `SO_RCVBUF` of a stalled subscriber (the kernel doubles it, and keeps a minimum).
const STALLED_RECV_BUFFER: usize = 4096;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the server is, and so how to subscribe and publish.
    #[arg(long, value_enum, default_value_t = Kind::Broadcast)]
    kind: Kind,
    /// The server: for `broadcast` its WebSocket URL; for the hubs only its host and port
    /// count (each kind has its own paths; http:// is accepted too). For `wsx-hub` and
    /// `socketio`, several nodes of one cluster, comma-separated: subscribers are assigned
    /// to them round-robin.
    #[arg(long, default_value = "ws://127.0.0.1:9003/")]
    url: String,
    /// The node to publish through (`wsx-hub`, `socketio`); default the first of --url.
    /// Subscribers on other nodes count as cross-node.
    #[arg(long)]
    publish_url: Option<String>,
    /// NAME=PID of a process whose CPU use to report per phase (a node, the broker);
    /// repeatable or comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = parse_watch)]
    watch_pid: Vec<(String, u32)>,
    /// Subscribers (N).
    #[arg(long, short = 'n', default_value_t = 1000)]
    subscribers: usize,
    /// Messages to publish one at a time.
    #[arg(long, short = 'm', default_value_t = 20)]
    messages: usize,
    /// Milliseconds between those messages: long enough that each message reaches
    /// every subscriber before the next (otherwise time-to-last measures a backlog).
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
    /// Messages per burst, published back to back (0: no bursts).
    #[arg(long, default_value_t = 0)]
    burst: usize,
    /// Bursts, each after the previous one has been delivered everywhere.
    #[arg(long, default_value_t = 3)]
    bursts: usize,
    /// Milliseconds of quiet before each burst.
    #[arg(long, default_value_t = 500)]
    burst_pause_ms: u64,
    /// Payload bytes per message (for the hubs: the length of the `data` string).
    #[arg(long, short = 'p', default_value_t = 64)]
    size: usize,
    /// Channel (hubs) to subscribe and publish to.
    #[arg(long, default_value = "bench")]
    channel: String,
    /// Sent as `Authorization: Bearer KEY` with each HTTP publish.
    #[arg(long)]
    api_key: Option<String>,
    /// The server's PID, to measure its RSS per subscribed connection.
    #[arg(long)]
    pid: Option<u32>,
    /// Seconds to hold the subscribers idle before measuring RSS.
    #[arg(long, default_value_t = 2.0)]
    hold: f64,
    /// Subscriptions in progress at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Spread subscriber source addresses over 127.0.0.1 .. 127.0.0.S.
    #[arg(long, default_value_t = 4)]
    sources: u8,
    /// Subscribers (among the N) that never read once subscribed: a server must cut them
    /// off or drop what they cannot take, without slowing the others down. Spread evenly
    /// over the subscribers, each with a 4 KiB receive buffer; the results count only the
    /// others.
    #[arg(long, default_value_t = 0)]
    stalled: usize,
    /// Seconds to wait for all deliveries of a phase before giving up.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The `broadcast` example's contract; publishes over a WebSocket.
    Broadcast,
    /// `wsx serve`: JSON subscribe/ack over WebSocket, POST /api/publish.
    WsxHub,
    /// nginx + nchan (bench/peers/nchan/nginx.conf): /sub/CHANNEL, POST /pub/CHANNEL.
    Nchan,
    /// Socket.IO 4 (bench/peers/socketio/server.js): Engine.IO v4 over WebSocket, POST /publish.
    Socketio,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Broadcast => "broadcast",
            Kind::WsxHub => "wsx-hub",
            Kind::Nchan => "nchan",
            Kind::Socketio => "socketio",
        }
    }

    /// Connects subscriber `i` and returns once it is subscribed.
    async fn subscribe(
        self,
        server: &Target,
        channel: &str,
        i: usize,
        source: Option<IpAddr>,
    ) -> anyhow::Result<(TcpStream, BytesMut)> {
        match self {
            Kind::Broadcast => super::open(server, source).await,
            Kind::WsxHub => hub::subscribe(server, channel, i, source).await,
            Kind::Nchan => nchan::subscribe(server, channel, source).await,
            Kind::Socketio => socketio::subscribe(server, channel, source).await,
        }
    }

    /// The number of message `p` carries, if it is one of ours.
    fn message_index(self, p: &[u8]) -> Option<usize> {
        match self {
            Kind::Broadcast => broadcast::message_index(p),
            _ => wire::marked_index(p),
        }
    }

    async fn publisher(self, server: &Target, args: &Args) -> anyhow::Result<Publisher> {
        let path = match self {
            Kind::Broadcast => return Ok(Publisher::Ws(super::open(server, None).await?.0)),
            Kind::WsxHub => "/api/publish".to_owned(),
            Kind::Nchan => format!("/pub/{}", args.channel),
            Kind::Socketio => "/publish".to_owned(),
        };
        let http = http::Publisher::connect(server, path, args.api_key.as_deref()).await?;
        Ok(Publisher::Http(http))
    }

    /// What publishing message `idx` sends: a WebSocket frame or an HTTP request body.
    fn publication(self, idx: usize, size: usize, channel: &str, sent_ns: u64) -> Vec<u8> {
        match self {
            Kind::Broadcast => broadcast::frame(idx, size, sent_ns),
            // nchan delivers the request body as it is.
            Kind::Nchan => wire::marked_data(idx, size).into_bytes(),
            // The hubs' own contract, which bench/peers/socketio/server.js speaks too.
            Kind::WsxHub | Kind::Socketio => format!(
                r#"{{"channel":"{channel}","data":"{}"}}"#,
                wire::marked_data(idx, size)
            )
            .into_bytes(),
        }
    }
}

#[derive(Debug)]
enum Publisher {
    Ws(TcpStream),
    Http(http::Publisher),
}

impl Publisher {
    /// Sends every publication back to back; for HTTP, then waits for every response.
    async fn publish(&mut self, publications: &[Vec<u8>]) -> anyhow::Result<()> {
        match self {
            Publisher::Ws(stream) => {
                let frames: Vec<u8> = publications.concat();
                stream.write_all(&frames).await?;
                Ok(())
            }
            Publisher::Http(http) => http.publish(publications).await,
        }
    }
}

/// What the subscribers record, per message number.
#[derive(Debug)]
struct Shared {
    epoch: Instant,
    /// Subscribers that have the message.
    delivered: Vec<AtomicU32>,
    /// The latest arrival, ns since `epoch`.
    last: Vec<AtomicU64>,
    /// The first subscriber failure, to stop waiting for deliveries that cannot come.
    failure: Mutex<Option<String>>,
}

impl Shared {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn fail(&self, e: &anyhow::Error) {
        let mut f = self.failure.lock().expect("not poisoned");
        if f.is_none() {
            *f = Some(format!("{e:#}"));
        }
    }

    /// Waits until every message in `range` has reached `n` subscribers.
    async fn wait_for(&self, range: Range<usize>, n: usize, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.failure.lock().expect("not poisoned").as_ref() {
                bail!("a subscriber failed: {e}");
            }
            let short = range
                .clone()
                .find(|&i| (self.delivered[i].load(Ordering::Relaxed) as usize) < n);
            let Some(idx) = short else { return Ok(()) };
            if Instant::now() >= deadline {
                let missing: usize = range
                    .clone()
                    .map(|i| n.saturating_sub(self.delivered[i].load(Ordering::Relaxed) as usize))
                    .sum();
                bail!(
                    "after {:.0} s, message {idx} had reached {} of {n} subscribers \
                     ({missing} of {} deliveries of messages {}..{} missing)",
                    timeout.as_secs_f64(),
                    self.delivered[idx].load(Ordering::Relaxed),
                    n * range.len(),
                    range.start,
                    range.end
                );
            }
            // Arrival times are taken by the subscribers; this only decides when to go on.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn last_of(&self, range: Range<usize>) -> u64 {
        range
            .map(|i| self.last[i].load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
    }
}

/// `NAME=PID` for --watch-pid.
fn parse_watch(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=PID"))?;
    let pid = pid
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: {pid:?} is not a PID"))?;
    if name.trim().is_empty() {
        return Err(format!("{s:?}: the name is empty"));
    }
    Ok((name.trim().to_owned(), pid))
}

/// The URLs of a comma-separated --url, http:// taken as ws://.
fn split_urls(list: &str) -> anyhow::Result<Vec<String>> {
    let urls: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| match u.strip_prefix("http://") {
            Some(rest) => format!("ws://{rest}"),
            None => u.to_owned(),
        })
        .collect();
    if urls.is_empty() {
        bail!("--url {list:?} names no server");
    }
    Ok(urls)
}

/// The node (index into --url) that subscriber `i` joins.
fn node_of(i: usize, nodes: usize) -> usize {
    i % nodes.max(1)
}

pub async fn run(args: Args) -> anyhow::Result<Report> {
    let urls = split_urls(&args.url)?;
    let cluster = urls.len() > 1 || args.publish_url.is_some();
    if cluster && !matches!(args.kind, Kind::WsxHub | Kind::Socketio) {
        bail!(
            "several --url and --publish-url are for the wsx-hub and socketio kinds, not {}",
            args.kind.name()
        );
    }
    let mut nodes = Vec::with_capacity(urls.len());
    for u in &urls {
        nodes.push(Target::parse(u).await?);
    }
    let publish_target = match &args.publish_url {
        Some(u) => {
            let one = split_urls(u)?;
            if one.len() != 1 {
                bail!("--publish-url takes one URL, not {u:?}");
            }
            Target::parse(&one[0]).await?
        }
        None => nodes[0].clone(),
    };
    // Same node as the publisher: same address.
    let remote: Vec<bool> = nodes.iter().map(|t| t.addr != publish_target.addr).collect();
    let n = args.subscribers;
    let seq = args.messages;
    let total = seq + args.burst * args.bursts;
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        delivered: (0..total).map(|_| AtomicU32::new(0)).collect(),
        last: (0..total).map(|_| AtomicU64::new(0)).collect(),
        failure: Mutex::new(None),
    });

    let rss_before = args.pid.and_then(process_rss);
    let permits = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let bar = super::progress(n as u64, "subscribing");
    let start = Instant::now();
    let mut joining = Vec::with_capacity(n);
    for i in 0..n {
        let permit = permits.clone().acquire_owned().await?;
        let server = nodes[node_of(i, nodes.len())].clone();
        let loopback = server.addr.ip().is_loopback() && server.addr.is_ipv4();
        let source = (loopback && args.sources > 1)
            .then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % args.sources as usize) as u8)));
        let (channel, kind, bar) = (args.channel.clone(), args.kind, bar.clone());
        joining.push(tokio::spawn(async move {
            let r = kind.subscribe(&server, &channel, i, source).await;
            drop(permit);
            bar.inc(1);
            r.with_context(|| format!("subscriber {i}"))
        }));
    }
    let mut receivers = Vec::with_capacity(n);
    let stalled = args.stalled.min(n.saturating_sub(1));
    let stall_every = n.checked_div(stalled).unwrap_or(usize::MAX);
    let mut unread = Vec::with_capacity(stalled);
    for (i, j) in joining.into_iter().enumerate() {
        let (stream, buf) = j.await??;
        if stalled > 0 && i % stall_every == 0 && unread.len() < stalled {
            // Held open, never read: its socket buffers fill and stay full. A small
            // receive buffer (as on a slow phone link), so that the server's own limits,
            // not megabytes of loopback buffering, decide what happens to it.
            let _ = socket2::SockRef::from(&stream).set_recv_buffer_size(STALLED_RECV_BUFFER);
            unread.push(stream);
            continue;
        }
        let shared = shared.clone();
        let kind = args.kind;
        let handle = tokio::spawn(async move {
            let r = receive(stream, buf, kind, &shared, total).await;
            if let Err(e) = &r {
                shared.fail(e);
            }
            r
        });
        receivers.push((node_of(i, nodes.len()), handle));
    }
    let subscribe_secs = start.elapsed().as_secs_f64();
    // From here on, N is the subscribers that read.
    let subscribed = n;
    let n = n - unread.len();
    bar.finish_and_clear();

    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let rss_after = args.pid.and_then(process_rss);

    let mut publisher = args.kind.publisher(&publish_target, &args).await?;
    let timeout = Duration::from_secs_f64(args.timeout);

    // One at a time, on a fixed schedule so that slow responses do not stretch it.
    let mut sent_at = vec![0u64; seq];
    let seq_cpu = CpuMeter::start(args.pid, &args.watch_pid);
    let schedule = Instant::now();
    for (idx, sent) in sent_at.iter_mut().enumerate() {
        tokio::time::sleep_until(schedule + Duration::from_millis(args.interval_ms * idx as u64)).await;
        *sent = shared.now();
        let p = args.kind.publication(idx, args.size, &args.channel, *sent);
        publisher.publish(&[p]).await?;
    }
    shared.wait_for(0..seq, n, timeout).await?;
    let seq_cpu = seq_cpu.stop();

    let mut bursts = Vec::with_capacity(args.bursts);
    // The send time of each burst: that of every message in it.
    let mut burst_sent = Vec::with_capacity(args.bursts);
    let mut burst_cpu = CpuUse::default();
    for b in 0..if args.burst > 0 { args.bursts } else { 0 } {
        tokio::time::sleep(Duration::from_millis(args.burst_pause_ms)).await;
        let range = seq + b * args.burst..seq + (b + 1) * args.burst;
        let t0 = shared.now();
        let publications: Vec<Vec<u8>> = range
            .clone()
            .map(|idx| args.kind.publication(idx, args.size, &args.channel, t0))
            .collect();
        let cpu = CpuMeter::start(args.pid, &args.watch_pid);
        burst_sent.push(t0);
        publisher.publish(&publications).await?;
        shared.wait_for(range.clone(), n, timeout).await?;
        burst_cpu.add(cpu.stop());
        let secs = (shared.last_of(range) - t0) as f64 / 1e9;
        bursts.push(((n * args.burst) as f64 / secs, secs * 1e3));
    }

    let mut hist = hdrhistogram::Histogram::<u64>::new(3)?;
    // Cluster mode: [same node, cross-node] x [one at a time, bursts].
    let mut split = [[Hist::new(3)?, Hist::new(3)?], [Hist::new(3)?, Hist::new(3)?]];
    let mut burst_hist = Hist::new(3)?;
    // The latest cross-node arrival of each burst, and the cross-node subscribers.
    let mut cross_last = vec![0u64; burst_sent.len()];
    let (mut cross_n, mut out_of_order, mut duplicates) = (0usize, 0u64, 0u64);
    for (node, r) in receivers {
        let arrivals = r.await??;
        for (t, s) in arrivals.times.iter().zip(&sent_at) {
            let _ = hist.record(t.saturating_sub(*s));
        }
        if !cluster {
            continue;
        }
        let far = remote[node];
        cross_n += far as usize;
        out_of_order += arrivals.out_of_order;
        duplicates += arrivals.duplicates;
        let [one, burst] = &mut split[far as usize];
        for (t, s) in arrivals.times.iter().zip(&sent_at) {
            let _ = one.record(t.saturating_sub(*s));
        }
        for (b, &t0) in burst_sent.iter().enumerate() {
            let range = seq + b * args.burst..seq + (b + 1) * args.burst;
            for &t in &arrivals.times[range] {
                let d = t.saturating_sub(t0);
                let _ = burst_hist.record(d);
                let _ = burst.record(d);
                if far {
                    cross_last[b] = cross_last[b].max(t);
                }
            }
        }
    }

    let mut report = Report::new("fanout");
    report.param("kind", args.kind.name()).param("url", &args.url);
    if cluster {
        let publish_url = args.publish_url.as_deref().unwrap_or(&urls[0]);
        report
            .param("publish_url", publish_url)
            .param("nodes", nodes.len())
            .param("cross_node_subscribers", cross_n);
    }
    report
        .param("subscribers", n)
        .param("messages", seq)
        .param("interval_ms", args.interval_ms)
        .param("size", args.size)
        .param("burst", args.burst)
        .param("bursts", bursts.len())
        .param("stalled", unread.len())
        .result("subscribe rate", subscribed as f64 / subscribe_secs, "conn/s");
    if let (Some(b), Some(a)) = (rss_before, rss_after) {
        report
            .result("server RSS before", b as f64 / 1024.0, "KiB")
            .result("server RSS with subscribers", a as f64 / 1024.0, "KiB")
            .result(
                "server RSS per subscribed idle connection",
                (a as f64 - b as f64) / subscribed.max(1) as f64,
                "bytes",
            );
    }
    if seq > 0 {
        let to_last: Vec<f64> = (0..seq)
            .map(|i| (shared.last[i].load(Ordering::Relaxed) - sent_at[i]) as f64 / 1e6)
            .collect();
        let span = (shared.last_of(0..seq) - sent_at[0]) as f64 / 1e9;
        report
            .result(
                "time to last delivery (mean)",
                to_last.iter().sum::<f64>() / seq as f64,
                "ms",
            )
            .result("time to last delivery (median)", median(&to_last), "ms")
            .result(
                "time to last delivery (worst)",
                to_last.iter().cloned().fold(0.0, f64::max),
                "ms",
            )
            .result("deliveries/s over the run", (n * seq) as f64 / span, "msg/s")
            .latency(&hist);
        seq_cpu.report(&mut report, "one at a time");
    }
    if !bursts.is_empty() {
        let rates: Vec<f64> = bursts.iter().map(|b| b.0).collect();
        let times: Vec<f64> = bursts.iter().map(|b| b.1).collect();
        report
            .result("burst deliveries/s (median)", median(&rates), "msg/s")
            .result(
                "burst deliveries/s (min)",
                rates.iter().cloned().fold(f64::INFINITY, f64::min),
                "msg/s",
            )
            .result(
                "burst deliveries/s (max)",
                rates.iter().cloned().fold(0.0, f64::max),
                "msg/s",
            )
            .result("burst time to last delivery (median)", median(&times), "ms");
        burst_cpu.report(&mut report, "bursts");
    }
    if cluster {
        cluster_results(&mut report, &split, &burst_hist, seq > 0);
        if cross_n > 0 && !burst_sent.is_empty() {
            let rates: Vec<f64> = cross_last
                .iter()
                .zip(&burst_sent)
                .map(|(&last, &t0)| {
                    (cross_n * args.burst) as f64 / (last.saturating_sub(t0).max(1) as f64 / 1e9)
                })
                .collect();
            report
                .result("cross-node burst deliveries/s (median)", median(&rates), "msg/s")
                .result(
                    "cross-node burst deliveries/s (min)",
                    rates.iter().cloned().fold(f64::INFINITY, f64::min),
                    "msg/s",
                )
                .result(
                    "cross-node burst deliveries/s (max)",
                    rates.iter().cloned().fold(0.0, f64::max),
                    "msg/s",
                );
        }
        report
            .result("deliveries out of order", out_of_order as f64, "")
            .result("deliveries received twice", duplicates as f64, "");
    }
    Ok(report)
}

type Hist = hdrhistogram::Histogram<u64>;

/// The per-delivery latencies of cluster mode: the bursts over all subscribers, then each
/// phase for cross-node and same-node subscribers (where there are any).
fn cluster_results(report: &mut Report, split: &[[Hist; 2]; 2], bursts: &Hist, one_at_a_time: bool) {
    let row = |report: &mut Report, what: &str, h: &Hist| {
        if h.is_empty() {
            return;
        }
        for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
            report.result(
                &format!("{what} latency {name}"),
                h.value_at_quantile(q) as f64 / 1000.0,
                "µs",
            );
        }
    };
    row(report, "burst delivery", bursts);
    for (far, group) in [(1, "cross-node"), (0, "same-node")] {
        let [one, burst] = &split[far];
        if one_at_a_time {
            row(report, &format!("{group} delivery (one at a time)"), one);
        }
        row(report, &format!("{group} delivery (bursts)"), burst);
    }
}

/// CPU used by this process and (with --pid) the server over a phase, to tell which of
/// the two was the limit. /proc counts in 10 ms ticks: meaningful over a second or more.
#[derive(Debug)]
struct CpuMeter {
    wall: Instant,
    own: Option<Duration>,
    server: Option<(u32, Duration)>,
    /// --watch-pid: name, PID, CPU so far.
    watched: Vec<(String, u32, Option<Duration>)>,
}

impl CpuMeter {
    fn start(server: Option<u32>, watch: &[(String, u32)]) -> Self {
        CpuMeter {
            wall: Instant::now(),
            own: process_cpu(std::process::id()),
            server: server.and_then(|pid| Some((pid, process_cpu(pid)?))),
            watched: watch
                .iter()
                .map(|(name, pid)| (name.clone(), *pid, process_cpu(*pid)))
                .collect(),
        }
    }

    fn stop(self) -> CpuUse {
        let own = self
            .own
            .zip(process_cpu(std::process::id()))
            .map(|(a, b)| b.saturating_sub(a));
        let server = self
            .server
            .and_then(|(pid, a)| Some(process_cpu(pid)?.saturating_sub(a)));
        let watched = self
            .watched
            .into_iter()
            .map(|(name, pid, a)| {
                let used = a.zip(process_cpu(pid)).map(|(a, b)| b.saturating_sub(a));
                (name, used)
            })
            .collect();
        CpuUse {
            wall: self.wall.elapsed(),
            own,
            server,
            watched,
        }
    }
}

#[derive(Debug, Default)]
struct CpuUse {
    wall: Duration,
    own: Option<Duration>,
    server: Option<Duration>,
    watched: Vec<(String, Option<Duration>)>,
}

impl CpuUse {
    fn add(&mut self, other: CpuUse) {
        self.wall += other.wall;
        let sum = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.own = sum(self.own, other.own);
        self.server = sum(self.server, other.server);
        if self.watched.is_empty() {
            self.watched = other.watched;
        } else {
            for ((_, a), (_, b)) in self.watched.iter_mut().zip(other.watched) {
                *a = sum(*a, b);
            }
        }
    }

    fn report(&self, report: &mut Report, phase: &str) {
        let wall = self.wall.as_secs_f64().max(1e-9);
        if let Some(own) = self.own {
            report.result(
                &format!("load generator CPU utilisation ({phase})"),
                own.as_secs_f64() / wall * 100.0,
                "%",
            );
        }
        if let Some(server) = self.server {
            report.result(
                &format!("server CPU utilisation ({phase})"),
                server.as_secs_f64() / wall * 100.0,
                "%",
            );
        }
        for (name, used) in &self.watched {
            if let Some(used) = used {
                report.result(
                    &format!("{name} CPU utilisation ({phase})"),
                    used.as_secs_f64() / wall * 100.0,
                    "%",
                );
            }
        }
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        l if l % 2 == 1 => v[l / 2],
        l => (v[l / 2 - 1] + v[l / 2]) / 2.0,
    }
}

/// What one subscriber saw.
#[derive(Debug)]
struct Arrivals {
    /// When each message first arrived, ns since `Shared::epoch`.
    times: Vec<u64>,
    /// Messages that came after one with a higher number.
    out_of_order: u64,
    /// Messages that came again.
    duplicates: u64,
}

/// One subscriber: counts its deliveries into `shared` until it has all `total`, answering
/// pings on the way. Returns the arrival time of each message, and what came out of order.
async fn receive(
    mut stream: TcpStream,
    mut buf: BytesMut,
    kind: Kind,
    shared: &Shared,
    total: usize,
) -> anyhow::Result<Arrivals> {
    let mut arrivals = Arrivals {
        times: vec![0u64; total],
        out_of_order: 0,
        duplicates: 0,
    };
    let mut highest = None;
    let mut got = 0;
    let mut replies = Vec::new();
    // Frames read along with the subscription's answer.
    let mut pending = !buf.is_empty();
    while got < total {
        if !pending && stream.read_buf(&mut buf).await? == 0 {
            bail!("the server closed a subscriber after {got} of {total} messages");
        }
        pending = false;
        let now = shared.now();
        let mut closed = false;
        drain_frames(&mut buf, |opcode, p| match opcode {
            0x1 | 0x2 => match kind.message_index(p) {
                Some(idx) if idx < total => {
                    shared.delivered[idx].fetch_add(1, Ordering::Relaxed);
                    shared.last[idx].fetch_max(now, Ordering::Relaxed);
                    if arrivals.times[idx] == 0 {
                        arrivals.times[idx] = now;
                    } else {
                        arrivals.duplicates += 1;
                    }
                    if highest.is_some_and(|h| idx < h) {
                        arrivals.out_of_order += 1;
                    } else {
                        highest = Some(idx);
                    }
                    got += 1;
                }
                Some(_) => {}
                None if kind == Kind::Socketio => socketio::on_packet(p, &mut replies),
                None => {}
            },
            0x8 => closed = true,
            0x9 => replies.extend_from_slice(&wire::pong(p)),
            _ => {}
        });
        if closed {
            bail!("the server closed a subscriber after {got} of {total} messages");
        }
        if !replies.is_empty() {
            stream.write_all(&replies).await?;
            replies.clear();
        }
    }
    Ok(arrivals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn url_lists_and_round_robin() {
        assert_eq!(split_urls("ws://a:1/").unwrap(), ["ws://a:1/"]);
        assert_eq!(
            split_urls("http://a:1, ws://b:2/,").unwrap(),
            ["ws://a:1", "ws://b:2/"]
        );
        assert!(split_urls(" , ").is_err());
        let nodes: Vec<usize> = (0..5).map(|i| node_of(i, 2)).collect();
        assert_eq!(nodes, [0, 1, 0, 1, 0]);
        assert_eq!(node_of(7, 1), 0);
        assert_eq!(node_of(7, 0), 0);
    }

    #[test]
    fn watched_pids() {
        assert_eq!(parse_watch("node1=42"), Ok(("node1".to_owned(), 42)));
        assert!(parse_watch("42").is_err());
        assert!(parse_watch("=42").is_err());
        assert!(parse_watch("redis=x").is_err());
    }

    #[test]
    fn every_kind_finds_its_own_numbers() {
        assert_eq!(
            Kind::Broadcast.message_index(&broadcast::payload(7, 64, 1)),
            Some(7)
        );
        let body = Kind::Nchan.publication(12, 64, "bench", 0);
        assert_eq!(Kind::Nchan.message_index(&body), Some(12));
        let body = String::from_utf8(Kind::WsxHub.publication(3, 40, "bench", 0)).unwrap();
        let data: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(data["channel"], "bench");
        let delivered = format!(
            r#"{{"type":"message","channel":"bench","data":{},"offset":"1-2"}}"#,
            data["data"]
        );
        assert_eq!(Kind::WsxHub.message_index(delivered.as_bytes()), Some(3));
        let event = format!(r#"42["message",{}]"#, data["data"]);
        assert_eq!(Kind::Socketio.message_index(event.as_bytes()), Some(3));
    }
}
