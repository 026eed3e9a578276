//! fastwebsockets echo server for `bench/run.sh`, as in fastwebsockets' own
//! `examples/echo_server.rs`: hyper's HTTP/1 server with upgrades, `upgrade::upgrade`,
//! a `FragmentCollector` (whole messages), `write_frame` per message, the connection
//! task run `unconstrained`. Auto-close and auto-pong are on (the defaults; set anyway).
//!
//! ```text
//! fastwebsockets-echo --listen 127.0.0.1:0
//! ```
//!
//! Prints `listening on ADDR` once listening. One current-thread tokio runtime.

use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};

async fn handle_client(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = fut.await?;
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
    Ok(())
}

async fn server_upgrade(mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::task::spawn(async move {
        let _ = tokio::task::unconstrained(handle_client(fut)).await;
    });
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let listen =
        wsx_bench_common::listen_arg("fastwebsockets-echo [--listen ADDR]", "127.0.0.1:9002", |_, _| {
            false
        });
    wsx_bench_common::serve(&listen, |stream| async move {
        let io = hyper_util::rt::TokioIo::new(stream);
        let _ = http1::Builder::new()
            .serve_connection(io, service_fn(server_upgrade))
            .with_upgrades()
            .await;
    })
}
