//! `wsx bench connections`: memory per idle connection on the server, and connect rate.

use super::{Report, Target, open, process_rss};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Server URL.
    #[arg(long, default_value = "ws://127.0.0.1:9002/")]
    url: String,
    /// Idle connections to open (N).
    #[arg(long, short = 'n', default_value_t = 10_000)]
    count: usize,
    /// Spread source addresses over 127.0.0.1 .. 127.0.0.S, to pass the ephemeral-port
    /// limit of one address (about 28,000).
    #[arg(long, default_value_t = 4)]
    sources: u8,
    /// Handshakes in progress at once while opening.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Seconds to hold the connections idle before measuring.
    #[arg(long, default_value_t = 3.0)]
    hold: f64,
    /// The server's PID, to measure its RSS (required for the per-connection figure).
    #[arg(long)]
    pid: Option<u32>,
}

pub async fn run(args: Args) -> anyhow::Result<Report> {
    let target = Target::parse(&args.url).await?;
    let loopback = target.addr.ip().is_loopback() && target.addr.is_ipv4();
    let rss_before = args.pid.and_then(process_rss);
    let permits = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let bar = super::progress(args.count as u64, "connecting");
    let start = Instant::now();
    let mut opening = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let permit = permits.clone().acquire_owned().await?;
        let source = (loopback && args.sources > 1)
            .then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % args.sources as usize) as u8)));
        let target = target.clone();
        let bar = bar.clone();
        opening.push(tokio::spawn(async move {
            let r = open(&target, source).await;
            drop(permit);
            bar.inc(1);
            r
        }));
    }
    let mut streams = Vec::with_capacity(args.count);
    for t in opening {
        streams.push(t.await??.0);
    }
    let connect_secs = start.elapsed().as_secs_f64();
    bar.finish_and_clear();

    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let rss_after = args.pid.and_then(process_rss);

    // Prove the connections are alive: one ping each, expect the pong.
    let ping = super::masked_frame(b"", false);
    let mut ping = ping.clone();
    ping[0] = 0x89; // FIN + ping; the empty payload needs no unmasking
    let mut alive = 0usize;
    for s in &mut streams {
        s.write_all(&ping).await?;
    }
    for s in &mut streams {
        let mut b = [0u8; 16];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await
            && n >= 2
            && b[0] == 0x8a
        {
            alive += 1;
        }
    }
    drop(streams);

    let mut report = Report::new("connections");
    report
        .param("url", &args.url)
        .param("count", args.count)
        .param("sources", args.sources)
        .result("connections opened", args.count as f64, "")
        .result(
            "connect + handshake rate",
            args.count as f64 / connect_secs,
            "conn/s",
        )
        .result("alive after hold (pong received)", alive as f64, "");
    if let (Some(b), Some(a)) = (rss_before, rss_after) {
        report
            .result("server RSS before", b as f64 / 1024.0, "KiB")
            .result("server RSS with connections", a as f64 / 1024.0, "KiB")
            .result(
                "server RSS per idle connection",
                (a as f64 - b as f64) / args.count as f64,
                "bytes",
            );
    }
    Ok(report)
}
