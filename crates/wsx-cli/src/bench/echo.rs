//! `wsx bench echo`: pipelined echo throughput and latency.

use super::{Report, Target, drain_frames, masked_frame, open, process_cpu};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Echo server URL.
    #[arg(long, default_value = "ws://127.0.0.1:9002/")]
    url: String,
    /// Connections (C).
    #[arg(long, short = 'c', default_value_t = 100)]
    connections: usize,
    /// Messages in flight per connection (K).
    #[arg(long, short = 'k', default_value_t = 16)]
    in_flight: usize,
    /// Payload bytes per message (P).
    #[arg(long, short = 'p', default_value_t = 20)]
    size: usize,
    /// Seconds to measure (T).
    #[arg(long, short = 't', default_value_t = 10.0)]
    duration: f64,
    /// Seconds to run before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Send binary messages instead of text.
    #[arg(long)]
    binary: bool,
    /// The server's PID, to report its CPU time per message.
    #[arg(long)]
    pid: Option<u32>,
}

struct Shared {
    measuring: AtomicBool,
    stop: AtomicBool,
    messages: AtomicU64,
}

pub async fn run(args: Args) -> anyhow::Result<Report> {
    let target = Target::parse(&args.url).await?;
    let payload = vec![b'x'; args.size];
    let frame = Arc::new(masked_frame(&payload, !args.binary));
    let shared = Arc::new(Shared {
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        messages: AtomicU64::new(0),
    });
    // Open every connection first (concurrently, bounded), then start the load, so the
    // later handshakes do not queue behind traffic and all connections start together.
    let permits = Arc::new(tokio::sync::Semaphore::new(256));
    let mut opening = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let (target, permits) = (target.clone(), permits.clone());
        opening.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await?;
            open(&target, None).await
        }));
    }
    let mut streams = Vec::with_capacity(args.connections);
    for o in opening {
        streams.push(o.await??);
    }
    let mut tasks = Vec::with_capacity(args.connections);
    for (stream, leftover) in streams {
        tasks.push(tokio::spawn(connection(
            stream,
            leftover,
            frame.clone(),
            args.in_flight.max(1),
            shared.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;

    let bar = super::progress((args.duration * 10.0) as u64, "measuring");
    let cpu_before = args.pid.and_then(process_cpu);
    shared.measuring.store(true, Ordering::Release);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(args.duration);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.inc(1);
    }
    shared.measuring.store(false, Ordering::Release);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_after = args.pid.and_then(process_cpu);
    let messages = shared.messages.load(Ordering::Acquire);
    shared.stop.store(true, Ordering::Release);
    bar.finish_and_clear();

    let mut hist = hdrhistogram::Histogram::<u64>::new(3)?;
    for t in tasks {
        hist.add(t.await??)?;
    }
    let rate = messages as f64 / elapsed;
    let mut report = Report::new("echo");
    report
        .param("url", &args.url)
        .param("connections", args.connections)
        .param("in_flight", args.in_flight)
        .param("size", args.size)
        .param("seconds", args.duration)
        .result("messages/s", rate, "msg/s")
        .result(
            "payload throughput",
            rate * args.size as f64 / 1e6,
            "MB/s each way",
        )
        .latency(&hist);
    if let (Some(b), Some(a)) = (cpu_before, cpu_after)
        && messages > 0
    {
        report.result(
            "server CPU per message",
            (a - b).as_secs_f64() * 1e6 / messages as f64,
            "µs",
        );
        report.result(
            "server CPU utilisation",
            (a - b).as_secs_f64() / elapsed * 100.0,
            "%",
        );
    }
    Ok(report)
}

async fn connection(
    mut stream: tokio::net::TcpStream,
    mut buf: bytes::BytesMut,
    frame: Arc<Vec<u8>>,
    in_flight: usize,
    shared: Arc<Shared>,
) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    let mut hist = hdrhistogram::Histogram::<u64>::new(3)?;
    let batch = frame.repeat(in_flight);
    let mut sent = VecDeque::with_capacity(in_flight);
    stream.write_all(&batch).await?;
    let now = Instant::now();
    sent.extend(std::iter::repeat_n(now, in_flight));
    buf.reserve(64 << 10);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            anyhow::bail!("server closed the connection");
        }
        let n = drain_frames(&mut buf, |_, _| {});
        if n == 0 {
            continue;
        }
        let now = Instant::now();
        let measuring = shared.measuring.load(Ordering::Relaxed);
        for _ in 0..n {
            let t = sent.pop_front().unwrap_or(now);
            if measuring {
                let _ = hist.record((now - t).as_nanos() as u64);
            }
        }
        if measuring {
            shared.messages.fetch_add(n as u64, Ordering::Relaxed);
        }
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(hist);
        }
        stream.write_all(&batch[..n * frame.len()]).await?;
        sent.extend(std::iter::repeat_n(Instant::now(), n));
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 << 10);
        }
    }
}
