//! `wss://` with a certificate made at test time, and tunnels through a real proxy
//! (`pproxy`: HTTP CONNECT and SOCKS5, with and without credentials), chosen explicitly or
//! from `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY`.
//!
//! The environment is process-global: the one test that changes it holds [`ENV`] for
//! writing, every other test here holds it for reading, and all of them connect to IP
//! literals so that no name lookup reads the environment behind Rust's back.

use wsx_test_support as support;

use std::net::SocketAddr;
use std::sync::Arc;
use support::{Pproxy, echo, within};
use tokio::sync::{RwLock, RwLockReadGuard, oneshot};
use wsx::client::ClientStream;
use wsx::tls::MaybeTlsStream;
use wsx::tls::rustls_crate::ServerConfig;
use wsx::tls::rustls_crate::pki_types::CertificateDer;
use wsx::{ClientBuilder, Error, Message, Proxy, Server, WebSocket};

static ENV: RwLock<()> = RwLock::const_new(());

async fn env_unchanged() -> RwLockReadGuard<'static, ()> {
    ENV.read().await
}

/// An echo [`Server`] on `127.0.0.1:0`, with TLS if `tls` is set; stops when dropped.
struct EchoServer {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl EchoServer {
    async fn start(tls: Option<Arc<ServerConfig>>) -> EchoServer {
        let mut server = Server::bind("127.0.0.1:0").await.unwrap();
        if let Some(t) = tls {
            server = server.tls(t);
        }
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run_until(
            |mut ws, _info| async move {
                let _ = echo(&mut ws).await;
            },
            async {
                let _ = stopped.await;
            },
        ));
        EchoServer { addr, _stop: stop }
    }
}

/// A certificate for `localhost` and `127.0.0.1`, the server configuration that serves it,
/// and the certificate itself as the only root a client trusts.
fn test_pki() -> (Arc<ServerConfig>, CertificateDer<'static>) {
    let (cert, key) = support::self_signed(&["localhost", "127.0.0.1"]);
    (wsx::tls::server_config(vec![cert.clone()], key).unwrap(), cert)
}

/// One message there and back.
async fn assert_echo(ws: &mut WebSocket<ClientStream>) {
    ws.send("through the tunnel").await.unwrap();
    let reply = within("echo", ws.recv()).await.expect("stream ended").unwrap();
    assert_eq!(reply, Message::text("through the tunnel"));
}

/// Where the client's TCP connection goes: the server itself, or a proxy.
fn tcp_peer(ws: &WebSocket<ClientStream>) -> SocketAddr {
    ws.get_ref().get_ref().peer_addr().unwrap()
}

// ---- TLS ----------------------------------------------------------------------------------------

#[tokio::test]
async fn wss_with_a_certificate_made_at_test_time() {
    let _env = env_unchanged().await;
    let (server_tls, cert) = test_pki();
    let server = EchoServer::start(Some(server_tls)).await;
    let roots = wsx::tls::client_config_with_roots([cert]).unwrap();
    let mut ws = within(
        "wss connect",
        ClientBuilder::new(format!("wss://127.0.0.1:{}/secure", server.addr.port()))
            .no_proxy()
            .tls_config(roots)
            .connect(),
    )
    .await
    .unwrap();
    assert!(matches!(ws.get_ref(), MaybeTlsStream::Tls(_)));
    assert!(ws.is_compressed(), "permessage-deflate works over TLS too");
    assert_echo(&mut ws).await;
    // A large message crosses many TLS records.
    let big = Message::binary((0..1_000_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    ws.send(big.clone()).await.unwrap();
    assert_eq!(within("big echo", ws.recv()).await.unwrap().unwrap(), big);
    ws.close(None).await.unwrap();
    assert!(within("close", ws.recv()).await.is_none());
}

#[tokio::test]
async fn untrusted_or_misnamed_certificates_fail_with_a_tls_error() {
    let _env = env_unchanged().await;
    let (server_tls, cert) = test_pki();
    let server = EchoServer::start(Some(server_tls)).await;
    let url = format!("wss://127.0.0.1:{}/", server.addr.port());

    // The default roots (webpki-roots) do not know a self-signed certificate.
    match within("default roots", ClientBuilder::new(&url).no_proxy().connect()).await {
        Err(e @ Error::Tls { source: Some(_), .. }) => {
            let why = std::error::Error::source(&e).unwrap().to_string();
            assert!(why.contains("certificate"), "{why}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
    // Trusted, but issued for another name.
    let (other_cert, other_key) = support::self_signed(&["example.test"]);
    let other_tls = wsx::tls::server_config(vec![other_cert.clone()], other_key).unwrap();
    let misnamed = EchoServer::start(Some(other_tls)).await;
    let roots = wsx::tls::client_config_with_roots([other_cert, cert]).unwrap();
    match within(
        "wrong name",
        ClientBuilder::new(format!("wss://127.0.0.1:{}/", misnamed.addr.port()))
            .no_proxy()
            .tls_config(roots)
            .connect(),
    )
    .await
    {
        Err(Error::Tls { .. }) => {}
        other => panic!("expected a TLS error, got {other:?}"),
    }
    // A plain-text client on a TLS port does not get a WebSocket either.
    let plain = within(
        "ws:// to a wss port",
        ClientBuilder::new(format!("ws://127.0.0.1:{}/", server.addr.port()))
            .no_proxy()
            .connect(),
    )
    .await;
    assert!(plain.is_err(), "{plain:?}");
}

// ---- proxies ------------------------------------------------------------------------------------

/// Through each kind of proxy, with and without credentials, to `ws://` and `wss://`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnels_through_http_connect_and_socks5_proxies() {
    let _env = env_unchanged().await;
    let (server_tls, cert) = test_pki();
    let plain = EchoServer::start(None).await;
    let secure = EchoServer::start(Some(server_tls)).await;
    let roots = wsx::tls::client_config_with_roots([cert]).unwrap();

    for scheme in ["http", "socks5"] {
        for credentials in [None, Some("wsx:s3cret")] {
            let proxy = Pproxy::start(scheme, credentials).await;
            let proxy_url = proxy.url(scheme, credentials);
            for (url, tls) in [
                (format!("ws://127.0.0.1:{}/", plain.addr.port()), false),
                (format!("wss://127.0.0.1:{}/", secure.addr.port()), true),
            ] {
                let what = format!("{url} via {proxy_url}");
                let mut builder = ClientBuilder::new(&url).proxy(Proxy::parse(&proxy_url).unwrap());
                if tls {
                    builder = builder.tls_config(roots.clone());
                }
                let mut ws = within(&what, builder.connect())
                    .await
                    .unwrap_or_else(|e| panic!("{what}: {e}\npproxy: {}", proxy.log_text()));
                assert_eq!(tcp_peer(&ws).port(), proxy.port, "{what}: not through the proxy");
                assert_echo(&mut ws).await;
                ws.close(None).await.unwrap();
                assert!(within(&what, ws.recv()).await.is_none());
            }
        }
    }
}

/// A proxy that wants credentials refuses none or wrong ones: HTTP with its 407, SOCKS5
/// (pproxy) by hanging up.
#[tokio::test]
async fn proxies_refuse_missing_or_wrong_credentials() {
    let _env = env_unchanged().await;
    let server = EchoServer::start(None).await;
    let url = format!("ws://127.0.0.1:{}/", server.addr.port());
    for scheme in ["http", "socks5"] {
        let proxy = Pproxy::start(scheme, Some("wsx:s3cret")).await;
        for credentials in [None, Some("wsx:wrong"), Some("intruder:s3cret")] {
            let proxy_url = proxy.url(scheme, credentials);
            let result = within(
                &proxy_url,
                ClientBuilder::new(&url)
                    .proxy(Proxy::parse(&proxy_url).unwrap())
                    .connect(),
            )
            .await;
            match (scheme, result) {
                ("http", Err(Error::Proxy { reason, .. })) => {
                    assert!(reason.contains("407"), "{proxy_url}: {reason}")
                }
                ("socks5", Err(Error::Proxy { .. })) => {}
                (_, other) => panic!("{proxy_url}: expected a refusal, got {other:?}"),
            }
        }
        // The right credentials still work on the same proxy.
        let proxy_url = proxy.url(scheme, Some("wsx:s3cret"));
        let mut ws = ClientBuilder::new(&url)
            .proxy(Proxy::parse(&proxy_url).unwrap())
            .connect()
            .await
            .unwrap();
        assert_echo(&mut ws).await;
    }
}

// ---- the proxy environment variables ------------------------------------------------------------

const PROXY_VARS: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Clears every proxy variable, then sets `vars`.
fn set_proxy_env(vars: &[(&str, &str)]) {
    for name in PROXY_VARS {
        // SAFETY: only `proxy_environment_variables` calls this, holding `ENV` for
        // writing: no other test of this binary runs, and none of its threads reads the
        // environment meanwhile.
        unsafe { std::env::remove_var(name) };
    }
    for (name, value) in vars {
        // SAFETY: as above.
        unsafe { std::env::set_var(name, value) };
    }
}

/// Puts the proxy variables back as they were, even if the test fails.
struct RestoreEnv(Vec<(&'static str, Option<String>)>);

impl Drop for RestoreEnv {
    fn drop(&mut self) {
        for (name, value) in &self.0 {
            match value {
                // SAFETY: dropped before `ENV`'s write guard (declared after it).
                Some(v) => unsafe { std::env::set_var(name, v) },
                // SAFETY: as above.
                None => unsafe { std::env::remove_var(name) },
            }
        }
    }
}

/// HTTPS_PROXY for wss://, HTTP_PROXY for ws://, ALL_PROXY for both (lower-case names
/// too), NO_PROXY exceptions, and `no_proxy()` / `proxy()` on the builder over all of them.
/// One test, holding the environment for itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_environment_variables() {
    let _env = ENV.write().await;
    let _restore = RestoreEnv(PROXY_VARS.iter().map(|v| (*v, std::env::var(v).ok())).collect());

    let (server_tls, cert) = test_pki();
    let plain = EchoServer::start(None).await;
    let secure = EchoServer::start(Some(server_tls)).await;
    let roots = wsx::tls::client_config_with_roots([cert]).unwrap();
    let http = Pproxy::start("http", None).await;
    let socks = Pproxy::start("socks5", None).await;
    let http_url = http.url("http", None);
    let socks_url = socks.url("socks5", None);
    let ws_url = format!("ws://127.0.0.1:{}/", plain.addr.port());
    let wss_url = format!("wss://127.0.0.1:{}/", secure.addr.port());

    // Connects with the environment's proxy (the builder's default) and tells which port
    // the TCP connection went to.
    let via = |url: &str, builder: fn(ClientBuilder) -> ClientBuilder| {
        let builder = builder(ClientBuilder::new(url).tls_config(roots.clone()));
        let url = url.to_owned();
        async move {
            let mut ws = within(&url, builder.connect())
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_echo(&mut ws).await;
            tcp_peer(&ws).port()
        }
    };
    let env_default = |b: ClientBuilder| b;
    let (direct_ws, direct_wss) = (plain.addr.port(), secure.addr.port());

    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, u16);
    let cases: Vec<Case<'_>> = vec![
        ("nothing set", vec![], direct_ws, direct_wss),
        (
            "HTTPS_PROXY",
            vec![("HTTPS_PROXY", &http_url)],
            direct_ws,
            http.port,
        ),
        (
            "HTTP_PROXY",
            vec![("HTTP_PROXY", &http_url)],
            http.port,
            direct_wss,
        ),
        (
            "https_proxy",
            vec![("https_proxy", &http_url)],
            direct_ws,
            http.port,
        ),
        (
            "http_proxy",
            vec![("http_proxy", &http_url)],
            http.port,
            direct_wss,
        ),
        (
            "ALL_PROXY",
            vec![("ALL_PROXY", &socks_url)],
            socks.port,
            socks.port,
        ),
        (
            "all_proxy",
            vec![("all_proxy", &socks_url)],
            socks.port,
            socks.port,
        ),
        (
            "HTTPS_PROXY before ALL_PROXY",
            vec![("HTTPS_PROXY", &http_url), ("ALL_PROXY", &socks_url)],
            socks.port,
            http.port,
        ),
        (
            "an empty HTTPS_PROXY falls through to ALL_PROXY",
            vec![("HTTPS_PROXY", ""), ("ALL_PROXY", &socks_url)],
            socks.port,
            socks.port,
        ),
        (
            "NO_PROXY with the address",
            vec![("ALL_PROXY", &socks_url), ("NO_PROXY", "localhost, 127.0.0.1")],
            direct_ws,
            direct_wss,
        ),
        (
            "no_proxy with *",
            vec![("ALL_PROXY", &socks_url), ("no_proxy", "*")],
            direct_ws,
            direct_wss,
        ),
        (
            "NO_PROXY for other hosts",
            vec![
                ("ALL_PROXY", &socks_url),
                ("NO_PROXY", "example.com,.internal,10.0.0.1"),
            ],
            socks.port,
            socks.port,
        ),
        (
            "an unusable proxy URL is ignored",
            vec![("ALL_PROXY", "ftp://127.0.0.1:1")],
            direct_ws,
            direct_wss,
        ),
    ];
    for (what, vars, expect_ws, expect_wss) in &cases {
        set_proxy_env(vars);
        assert_eq!(via(&ws_url, env_default).await, *expect_ws, "{what}: ws://");
        assert_eq!(via(&wss_url, env_default).await, *expect_wss, "{what}: wss://");
    }

    // The builder overrides the environment.
    set_proxy_env(&[("ALL_PROXY", "http://127.0.0.1:1")]); // nothing listens there
    assert_eq!(via(&ws_url, ClientBuilder::no_proxy).await, direct_ws);
    let explicit = ClientBuilder::new(&wss_url)
        .tls_config(roots.clone())
        .proxy(Proxy::parse(&socks_url).unwrap());
    let mut ws = explicit.connect().await.unwrap();
    assert_eq!(tcp_peer(&ws).port(), socks.port);
    assert_echo(&mut ws).await;
    // ... and without an override, the dead proxy from the environment is used, and fails.
    assert!(ClientBuilder::new(&ws_url).connect().await.is_err());

    // NO_PROXY entries for IPv6 literals (checked without a connection: `from_env` is what
    // `connect` consults).
    set_proxy_env(&[("HTTP_PROXY", &http_url), ("NO_PROXY", "localhost,127.0.0.1,::1")]);
    assert_eq!(Proxy::from_env(false, "::1"), None, "NO_PROXY=::1");
    assert_eq!(Proxy::from_env(false, "127.0.0.1"), None);
    assert_eq!(
        Proxy::from_env(false, "192.0.2.1"),
        Some(Proxy::parse(&http_url).unwrap())
    );
    set_proxy_env(&[
        ("HTTP_PROXY", &http_url),
        ("NO_PROXY", "[::1]:8080, [2001:db8::1]"),
    ]);
    assert_eq!(Proxy::from_env(false, "::1"), None, "NO_PROXY=[::1]:8080");
    assert_eq!(
        Proxy::from_env(false, "2001:db8::1"),
        None,
        "NO_PROXY=[2001:db8::1]"
    );
    assert!(Proxy::from_env(false, "2001:db8::2").is_some());
}
