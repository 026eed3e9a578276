//! `wsx bench fanout`: one publisher, N subscribers on a broadcasting server.
//!
//! Against the `broadcast` example (every message from one connection goes to all the
//! others). Each published message carries its send time; every subscriber records when
//! it arrived. Same process, same clock.

use super::{Report, Target, drain_frames, masked_frame, open};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Broadcast server URL.
    #[arg(long, default_value = "ws://127.0.0.1:9003/")]
    url: String,
    /// Subscribers (N).
    #[arg(long, short = 'n', default_value_t = 1000)]
    subscribers: usize,
    /// Messages to publish.
    #[arg(long, short = 'm', default_value_t = 20)]
    messages: usize,
    /// Milliseconds between published messages: long enough that each message reaches
    /// every subscriber before the next (otherwise time-to-last measures a backlog).
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
    /// Payload bytes per message (at least 8: the send time).
    #[arg(long, short = 'p', default_value_t = 64)]
    size: usize,
    /// Spread subscriber source addresses over 127.0.0.1 .. 127.0.0.S.
    #[arg(long, default_value_t = 4)]
    sources: u8,
}

pub async fn run(args: Args) -> anyhow::Result<Report> {
    let target = Target::parse(&args.url).await?;
    let epoch = Instant::now();
    let permits = Arc::new(Semaphore::new(256));
    let bar = super::progress(args.subscribers as u64, "subscribing");
    let mut subs = Vec::with_capacity(args.subscribers);
    for i in 0..args.subscribers {
        let permit = permits.clone().acquire_owned().await?;
        let source = (args.sources > 1 && target.addr.ip().is_loopback())
            .then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % args.sources as usize) as u8)));
        let target = target.clone();
        subs.push(tokio::spawn(async move {
            let r = open(&target, source).await;
            drop(permit);
            r
        }));
        bar.inc(1);
    }
    let mut streams = Vec::with_capacity(args.subscribers);
    for s in subs {
        streams.push(s.await??);
    }
    bar.finish_and_clear();
    let expected = args.messages;
    let mut receivers = Vec::with_capacity(streams.len());
    for (mut stream, mut buf) in streams {
        receivers.push(tokio::spawn(async move {
            // Per message index: arrival time since epoch, in ns.
            let mut arrivals = vec![0u64; expected];
            let mut got = 0;
            while got < expected {
                let n = tokio::time::timeout(Duration::from_secs(30), stream.read_buf(&mut buf)).await??;
                if n == 0 {
                    anyhow::bail!("server closed a subscriber");
                }
                let now = epoch.elapsed().as_nanos() as u64;
                drain_frames(&mut buf, |_, p| {
                    if p.len() >= 12 {
                        let idx = u32::from_be_bytes(p[8..12].try_into().expect("4 bytes")) as usize;
                        if idx < expected {
                            arrivals[idx] = now;
                            got += 1;
                        }
                    }
                });
            }
            anyhow::Ok(arrivals)
        }));
    }
    // Let subscribers settle before publishing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut publisher, _) = open(&target, None).await?;
    let mut sent_at = Vec::with_capacity(expected);
    for idx in 0..expected {
        let now = epoch.elapsed().as_nanos() as u64;
        let mut payload = vec![b'x'; args.size.max(12)];
        payload[..8].copy_from_slice(&now.to_be_bytes());
        payload[8..12].copy_from_slice(&(idx as u32).to_be_bytes());
        publisher.write_all(&masked_frame(&payload, false)).await?;
        sent_at.push(now);
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    }
    let mut last = vec![0u64; expected];
    let mut hist = hdrhistogram::Histogram::<u64>::new(3)?;
    for r in receivers {
        let arrivals = r.await??;
        for (i, &t) in arrivals.iter().enumerate() {
            last[i] = last[i].max(t);
            let _ = hist.record(t.saturating_sub(sent_at[i]));
        }
    }
    let to_last: Vec<f64> = last
        .iter()
        .zip(&sent_at)
        .map(|(l, s)| (l - s) as f64 / 1e6)
        .collect();
    let mean_to_last = to_last.iter().sum::<f64>() / to_last.len().max(1) as f64;
    let worst_to_last = to_last.iter().cloned().fold(0.0, f64::max);
    let total_span = (last.iter().max().copied().unwrap_or(0) - sent_at[0]) as f64 / 1e9;
    let mut report = Report::new("fanout");
    report
        .param("url", &args.url)
        .param("subscribers", args.subscribers)
        .param("messages", args.messages)
        .param("size", args.size)
        .result("time to last delivery (mean)", mean_to_last, "ms")
        .result("time to last delivery (worst)", worst_to_last, "ms")
        .result(
            "deliveries/s over the run",
            (args.subscribers * expected) as f64 / total_span,
            "msg/s",
        )
        .latency(&hist);
    Ok(report)
}
