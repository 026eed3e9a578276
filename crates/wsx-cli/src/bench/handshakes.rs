//! `wsx bench handshakes`: connect + upgrade + close per second.

use super::{Report, Target, open, process_cpu};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Server URL.
    #[arg(long, default_value = "ws://127.0.0.1:9002/")]
    url: String,
    /// Handshakes in progress at once.
    #[arg(long, short = 'c', default_value_t = 32)]
    concurrency: usize,
    /// Seconds to measure.
    #[arg(long, short = 't', default_value_t = 10.0)]
    duration: f64,
    /// The server's PID, to report its CPU time per handshake.
    #[arg(long)]
    pid: Option<u32>,
}

pub async fn run(args: Args) -> anyhow::Result<Report> {
    let target = Target::parse(&args.url).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    // A client close frame: FIN + close, masked, code 1000.
    let mut close = super::masked_frame(&1000u16.to_be_bytes(), false);
    close[0] = 0x88;
    let close = Arc::new(close);
    let cpu_before = args.pid.and_then(process_cpu);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.concurrency.max(1) {
        let (target, stop, done, failed, close) = (
            target.clone(),
            stop.clone(),
            done.clone(),
            failed.clone(),
            close.clone(),
        );
        // Spread over source addresses: closed connections sit in TIME_WAIT on our side.
        let source = target
            .addr
            .ip()
            .is_loopback()
            .then(|| std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 1, 1 + (i % 200) as u8)));
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let ok = async {
                    let (mut s, _) = open(&target, source).await?;
                    s.write_all(&close).await?;
                    // Wait for the server's close frame and its FIN.
                    let mut sink = [0u8; 64];
                    while s.read(&mut sink).await? > 0 {}
                    anyhow::Ok(())
                }
                .await;
                if ok.is_ok() { &done } else { &failed }.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let bar = super::progress((args.duration * 10.0) as u64, "handshaking");
    let end = start + Duration::from_secs_f64(args.duration);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.inc(1);
    }
    let count = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_after = args.pid.and_then(process_cpu);
    stop.store(true, Ordering::Relaxed);
    bar.finish_and_clear();
    for t in tasks {
        let _ = t.await;
    }
    let mut report = Report::new("handshakes");
    report
        .param("url", &args.url)
        .param("concurrency", args.concurrency)
        .param("seconds", args.duration)
        .result("handshakes/s", count as f64 / elapsed, "conn/s")
        .result("failed", failed.load(Ordering::Relaxed) as f64, "");
    if let (Some(b), Some(a)) = (cpu_before, cpu_after)
        && count > 0
    {
        report.result(
            "server CPU per handshake",
            (a - b).as_secs_f64() * 1e6 / count as f64,
            "µs",
        );
    }
    Ok(report)
}
