//! The server API a push hub builds on: request callbacks that wait before they decide,
//! values they hand to the connection's handler, a `Server::run` without a shutdown
//! future, and refusals that cost a bounded number of tasks.

use wsx_test_support as support;

use std::time::Duration;
use support::{connect, listen, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsx::{AcceptOptions, Config, Error, Message, Rejection, Server};

/// `accept_with_async`: the callback's future waits (a database round trip, here a
/// sleep) and then accepts or refuses; the client sees the 101 or the 401 afterwards.
#[tokio::test]
async fn accept_with_async_waits_before_answering() {
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let accepted = wsx::accept_with_async(tcp, &Config::default(), |req| {
                    let token = req
                        .query()
                        .and_then(|q| q.strip_prefix("token="))
                        .map(str::to_owned);
                    async move {
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        match token.as_deref() {
                            Some("good") => Ok(AcceptOptions::new()),
                            _ => Err(Rejection::new(401, "bad token")),
                        }
                    }
                })
                .await;
                if let Ok(mut ws) = accepted {
                    let _ = support::echo(&mut ws).await;
                }
            });
        }
    });

    let t0 = std::time::Instant::now();
    match support::client(&format!("ws://{addr}/?token=bad"))
        .connect()
        .await
    {
        Err(Error::Rejected { status, reason }) => {
            assert_eq!(status, 401);
            assert!(reason.contains("bad token"), "{reason}");
        }
        other => panic!("expected 401, got {other:?}"),
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(30),
        "answered before deciding"
    );
    let mut ws = support::client(&format!("ws://{addr}/?token=good"))
        .connect()
        .await
        .unwrap();
    ws.send("hi").await.unwrap();
    assert_eq!(
        within("echo", ws.recv()).await.unwrap().unwrap(),
        Message::text("hi")
    );
}

#[derive(Clone, Debug, PartialEq)]
struct User(String);

/// `Server::on_request_async` + `AcceptOptions::extension`: what the filter learned
/// reaches the handler in `Connected::extensions`; `Server::run` needs no shutdown future.
#[tokio::test]
async fn an_async_filter_hands_the_user_to_the_handler() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .on_request_async(|req| {
            let name = req
                .query()
                .and_then(|q| q.strip_prefix("user="))
                .map(str::to_owned);
            async move {
                tokio::task::yield_now().await;
                let name = name.ok_or_else(|| Rejection::new(401, "who are you?"))?;
                Ok(AcceptOptions::new().extension(User(name)))
            }
        });
    let addr = server.local_addr().unwrap();
    let run = tokio::spawn(server.run(|mut ws, info| async move {
        let user = info.extensions.get::<User>().cloned().expect("the filter's user");
        let _ = ws.send(format!("hello {}", user.0)).await;
        let _ = ws.recv().await;
    }));

    let mut ws = support::client(&format!("ws://{addr}/?user=alice"))
        .connect()
        .await
        .unwrap();
    assert_eq!(
        within("greeting", ws.recv()).await.unwrap().unwrap(),
        Message::text("hello alice")
    );
    match support::client(&format!("ws://{addr}/")).connect().await {
        Err(Error::Rejected { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }
    assert!(!run.is_finished(), "run() serves until dropped");
    run.abort();
}

/// Over `max_connections`, a burst of connections gets 503 each, or is hung up on once
/// 64 refusals are in flight: never a task per connection without bound, never a hang.
#[tokio::test]
async fn a_burst_over_the_limit_is_refused_or_hung_up_on() {
    let server = Server::bind("127.0.0.1:0").await.unwrap().max_connections(1);
    let addr = server.local_addr().unwrap();
    let run = tokio::spawn(server.run(|mut ws, _| async move {
        let _ = support::echo(&mut ws).await;
    }));
    let mut held = connect(addr).await;
    held.send("x").await.unwrap();
    held.recv().await.unwrap().unwrap();

    let burst: Vec<_> = (0..300)
        .map(|_| {
            tokio::spawn(async move {
                let mut tcp = TcpStream::connect(addr).await.unwrap();
                let _ = tcp
                    .write_all(&support::upgrade_request("localhost", "/", "13", ""))
                    .await;
                let mut answer = Vec::new();
                let _ = tcp.read_to_end(&mut answer).await;
                answer
            })
        })
        .collect();
    let (mut refused, mut hung_up) = (0, 0);
    for task in burst {
        let answer = within("a refusal", task).await.unwrap();
        if answer.starts_with(b"HTTP/1.1 503") {
            refused += 1;
        } else {
            assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
            hung_up += 1;
        }
    }
    eprintln!("{refused} refused with 503, {hung_up} hung up on");
    assert!(refused > 0);
    held.close(None).await.unwrap();
    run.abort();
}
