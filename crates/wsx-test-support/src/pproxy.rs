//! A real proxy for the client's tunnels: `pproxy` (Python, installed by
//! `scripts/install-test-deps.sh`) speaks HTTP CONNECT and SOCKS5, with or without
//! credentials, and was not written by us.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::TcpStream;

/// A `pproxy` process (Python) listening on a loopback port; killed on drop.
#[derive(Debug)]
pub struct Pproxy {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Pproxy {
    /// Starts `python3 -m pproxy -l SCHEME://127.0.0.1:PORT[#user:pass]` and waits until it
    /// accepts connections. `scheme` is `http` or `socks5`. pproxy remembers an
    /// authenticated client address for a while (`--auth`); `--auth 0` makes it check
    /// every connection's credentials.
    pub async fn start(scheme: &str, credentials: Option<&str>) -> Pproxy {
        let installed = Command::new("python3")
            .args(["-c", "import pproxy"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            installed,
            "pproxy (Python) is not installed: run scripts/install-test-deps.sh"
        );
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("find a free port")
                .port();
            let mut uri = format!("{scheme}://127.0.0.1:{port}");
            if let Some(c) = credentials {
                uri = format!("{uri}#{c}");
            }
            let log = std::env::temp_dir().join(format!("wsx-pproxy-{}-{port}.log", std::process::id()));
            let file = std::fs::File::create(&log).expect("pproxy log file");
            let child = Command::new("python3")
                .args(["-m", "pproxy", "-l", &uri, "--auth", "0"])
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("log file"))
                .stderr(file)
                .spawn()
                .expect("spawn python3 -m pproxy");
            let mut proxy = Pproxy { child, port, log };
            for _ in 0..400 {
                if let Ok(Some(status)) = proxy.child.try_wait() {
                    last_log = format!("pproxy exited with {status}: {}", proxy.log_text());
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    return proxy;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // The port was taken in between, or pproxy is slow to start: try another.
            if last_log.is_empty() {
                last_log = format!("pproxy did not listen on {port}: {}", proxy.log_text());
            }
        }
        panic!("could not start pproxy: {last_log}");
    }

    /// `scheme://[credentials@]127.0.0.1:port`, as `Proxy::parse` and the proxy variables take it.
    pub fn url(&self, scheme: &str, credentials: Option<&str>) -> String {
        match credentials {
            Some(c) => format!("{scheme}://{c}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// What pproxy printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Pproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
