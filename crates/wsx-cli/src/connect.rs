//! `wsx connect`.

use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use wsx::{CloseCode, Message};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// ws:// or wss:// URL.
    url: String,
    /// Extra request header, `'Name: value'` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Subprotocol to offer (repeatable, most preferred first).
    #[arg(long = "protocol")]
    protocols: Vec<String>,
    /// Do not offer permessage-deflate.
    #[arg(long)]
    no_compress: bool,
    /// Proxy URL: http://host:port (CONNECT) or socks5://host:port. Default: from
    /// HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, minus NO_PROXY.
    #[arg(long)]
    proxy: Option<String>,
    /// Trust this PEM CA certificate (instead of the built-in roots) for wss://.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Origin header to send.
    #[arg(long)]
    origin: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut builder = wsx::ClientBuilder::new(&args.url);
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("header {h:?} is not 'Name: value'"))?;
        builder = builder.header(name.trim(), value.trim());
    }
    for p in &args.protocols {
        builder = builder.protocol(p);
    }
    if args.no_compress {
        builder = builder.compression(None);
    }
    if let Some(p) = &args.proxy {
        builder = builder.proxy(wsx::Proxy::parse(p)?);
    }
    if let Some(ca) = &args.ca_cert {
        builder = builder.tls_config(wsx::tls::client_config_with_roots(wsx::tls::load_certs(ca)?)?);
    }
    if let Some(o) = &args.origin {
        builder = builder.origin(o);
    }
    let mut ws = builder
        .connect()
        .await
        // Escaped: a URL that smuggles a CR/LF must not split the message either.
        .with_context(|| format!("cannot connect to {}", args.url.escape_debug()))?;
    tracing::info!(protocol = ?ws.protocol(), compressed = ws.is_compressed(), "connected");

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            line = stdin.next_line(), if stdin_open => match line? {
                Some(line) => ws.send(line).await?,
                None => {
                    // End of input: close normally, then wait for the server's answer.
                    stdin_open = false;
                    match ws.close(Some(wsx::CloseFrame::new(CloseCode::NORMAL, ""))).await {
                        // The server started closing first: its close is being answered.
                        Ok(()) | Err(wsx::Error::Closed) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            },
            msg = ws.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    stdout.write_all(t.as_bytes()).await?;
                    stdout.write_all(b"\n").await?;
                    stdout.flush().await?;
                }
                Some(Ok(Message::Binary(b))) => {
                    // Binary goes out raw, newline-terminated like text.
                    stdout.write_all(&b).await?;
                    stdout.write_all(b"\n").await?;
                    stdout.flush().await?;
                }
                Some(Err(e)) => return Err(anyhow::Error::new(e).context("connection failed")),
                None => break,
            },
        }
    }
    match ws.close_frame() {
        Some(f) if !matches!(f.code, CloseCode::NORMAL | CloseCode::GOING_AWAY) => {
            eprintln!("wsx: closed by peer with {} {}", f.code, f.reason);
            Ok(ExitCode::from(2))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
