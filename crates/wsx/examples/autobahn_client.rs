//! Runs every case of a wstest fuzzingserver with the wsx client.
//!
//! ```text
//! cargo run --release -p wsx --example autobahn_client -- ws://127.0.0.1:9001
//! ```

use wsx::{ClientBuilder, Config, Message};

const AGENT: &str = "wsx";

fn config() -> Config {
    let mut config = Config::default();
    // The suite sends messages up to 16 MiB.
    config.protocol.max_message_size = 64 << 20;
    config.protocol.max_frame_size = 64 << 20;
    // Unsolicited pings would be unexpected frames to the suite.
    config.protocol.ping_interval = None;
    config
}

async fn open(url: String) -> wsx::Result<wsx::WebSocket<wsx::client::ClientStream>> {
    ClientBuilder::new(url)
        .config(config())
        .no_proxy()
        .connect()
        .await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/').to_owned();

    let mut ws = open(format!("{base}/getCaseCount")).await?;
    let count: u32 = match ws.recv().await {
        Some(Ok(Message::Text(t))) => t.parse()?,
        other => return Err(format!("unexpected answer to getCaseCount: {other:?}").into()),
    };
    while ws.recv().await.is_some() {}
    eprintln!("running {count} cases");

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        let mut ws = match open(url).await {
            Ok(ws) => ws,
            Err(e) => {
                eprintln!("case {case}: connect failed: {e}");
                continue;
            }
        };
        while let Some(msg) = ws.recv().await {
            match msg {
                Ok(m) => {
                    if ws.feed(m).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    eprintln!("case {case}: {e}");
                    break;
                }
            }
        }
    }

    let mut ws = open(format!("{base}/updateReports?agent={AGENT}")).await?;
    while ws.recv().await.is_some() {}
    eprintln!("reports updated");
    Ok(())
}
