//! Real load balancers in front of several hub nodes, for the cluster tests: [`Balancer`]
//! runs Debian's **nginx** or **HAProxy** (installed by `scripts/install-test-deps.sh`) as a
//! child process in the foreground, on `127.0.0.1` and a free port, with its configuration,
//! pid file, logs and temporary files in a [`TempDir`] of its own, and kills it when dropped.
//!
//! What they proxy with is the configuration `docs/deployment.md` shows: the files
//! `deploy/nginx.conf` and `deploy/haproxy.cfg`, compiled in here and [`render`]ed with the
//! test's listen address and backends. Round robin, no sticky sessions, WebSocket upgrades
//! passed through, SSE unbuffered. Only what a deployment would set differently (where the
//! pid file, the logs and nginx's temporary files go, and that nginx stays in the
//! foreground) is in a small wrapper of the test's own:
//!
//! - nginx: `nginx -p DIR -c DIR/nginx.conf -e DIR/error.log`, where `nginx.conf` holds
//!   `daemon off`, the paths, and `http { include DIR/wsx.conf; }`, `wsx.conf` being
//!   `deploy/nginx.conf` rendered.
//! - HAProxy: `haproxy -db -f DIR/global.cfg -f DIR/wsx.cfg`, where `global.cfg` only
//!   sends the log to stderr, `wsx.cfg` being `deploy/haproxy.cfg` rendered.
//!
//! Std only; every wait is bounded by [`STEP_TIMEOUT`].

use crate::peer::{Peer, STEP_TIMEOUT};
use crate::temp::TempDir;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `deploy/nginx.conf`: an nginx `http {}`-context file with the placeholders that
/// [`render`] fills.
pub const NGINX_TEMPLATE: &str = include_str!("../../../deploy/nginx.conf");

/// `deploy/haproxy.cfg`: HAProxy `defaults`, `frontend` and `backend` sections with the
/// placeholders that [`render`] fills.
pub const HAPROXY_TEMPLATE: &str = include_str!("../../../deploy/haproxy.cfg");

const BALANCER_HINT: &str = "run scripts/install-test-deps.sh (from the repository root) to install Debian's \
     nginx and haproxy";

/// Fills a template's placeholders, outside comment lines (those whose first non-blank
/// character is `#`, left as they are):
///
/// - a line containing `{{backend}}` is repeated once per backend, with `{{backend}}`
///   replaced by its `HOST:PORT` and `{{n}}` by its number, from 1;
/// - `{{listen}}` is replaced by `listen`.
///
/// Fails if a placeholder is left, or if `backends` is empty.
pub fn render(template: &str, listen: &str, backends: &[SocketAddr]) -> String {
    assert!(!backends.is_empty(), "a balancer needs at least one backend");
    let mut out = String::with_capacity(template.len() + 64 * backends.len());
    for line in template.lines() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let copies: Vec<String> = if line.contains("{{backend}}") {
            backends
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    line.replace("{{backend}}", &b.to_string())
                        .replace("{{n}}", &(i + 1).to_string())
                })
                .collect()
        } else {
            vec![line.to_owned()]
        };
        for copy in copies {
            let copy = copy.replace("{{listen}}", listen);
            assert!(
                !copy.contains("{{"),
                "a placeholder is left in the rendered line {copy:?}"
            );
            out.push_str(&copy);
            out.push('\n');
        }
    }
    out
}

/// Which proxy a [`Balancer`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// nginx, configured by `deploy/nginx.conf`.
    Nginx,
    /// HAProxy, configured by `deploy/haproxy.cfg`.
    Haproxy,
}

impl Kind {
    /// `nginx` or `haproxy`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Haproxy => "haproxy",
        }
    }
}

/// A running nginx or HAProxy balancing round robin over some backends; killed (with its
/// worker processes) when dropped.
#[derive(Debug)]
pub struct Balancer {
    kind: Kind,
    addr: SocketAddr,
    dir: TempDir,
    config: String,
    process: Peer,
}

impl Balancer {
    /// nginx with `deploy/nginx.conf` in front of `backends`, once it accepts connections.
    /// The backends need not be up yet.
    pub fn nginx(backends: &[SocketAddr]) -> Balancer {
        Balancer::start(Kind::Nginx, backends)
    }

    /// HAProxy with `deploy/haproxy.cfg` in front of `backends`, once it accepts
    /// connections. Its health checks (`GET /healthz` every 2 s) take a backend that fails
    /// two of them out of the rotation until it passes two.
    pub fn haproxy(backends: &[SocketAddr]) -> Balancer {
        Balancer::start(Kind::Haproxy, backends)
    }

    /// Starts `kind` in front of `backends` on a free loopback port. Fails the test, with
    /// the proxy's log, if it does not accept connections within [`STEP_TIMEOUT`]; fails
    /// naming `scripts/install-test-deps.sh` if the proxy is not installed.
    pub fn start(kind: Kind, backends: &[SocketAddr]) -> Balancer {
        require(kind);
        let mut last = String::new();
        // The port is free when chosen, but another process may take it before the proxy
        // binds it: then the proxy exits, and another port is tried.
        for _attempt in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("find a free port")
                .port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let dir = TempDir::new(&format!("{}-{port}", kind.name()));
            let (config, cmd) = match kind {
                Kind::Nginx => nginx_files(&dir, addr, backends),
                Kind::Haproxy => haproxy_files(&dir, addr, backends),
            };
            let process = Peer::spawn(kind.name(), cmd);
            let mut balancer = Balancer {
                kind,
                addr,
                dir,
                config,
                process,
            };
            match balancer.wait_listening() {
                Ok(()) => return balancer,
                Err(e) => last = e,
            }
        }
        panic!("could not start {}: {last}", kind.name());
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Which proxy this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The rendered `deploy/` file it runs (without the test's wrapper).
    pub fn config(&self) -> &str {
        &self.config
    }

    /// What the proxy logged so far: nginx's error log, HAProxy's stderr (a line per
    /// request, and the health checks' verdicts).
    pub fn log(&self) -> String {
        match self.kind {
            Kind::Nginx => std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default(),
            Kind::Haproxy => self.process.stderr(),
        }
    }

    fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(status) = self.process.try_status() {
                return Err(format!(
                    "{} exited with {status}; its log:\n{}\n{}",
                    self.kind.name(),
                    self.log(),
                    self.process.stderr()
                ));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not listen on {} within {STEP_TIMEOUT:?}; its log:\n{}",
                    self.kind.name(),
                    self.addr,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn require(kind: Kind) {
    let runs = Command::new(kind.name())
        .arg("-v")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(runs, "{} is not installed: {BALANCER_HINT}", kind.name());
}

fn write(path: PathBuf, text: &str) -> PathBuf {
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// The wrapper (`nginx.conf`) and the rendered deploy file (`wsx.conf`), and the command.
fn nginx_files(dir: &TempDir, addr: SocketAddr, backends: &[SocketAddr]) -> (String, Command) {
    let d = dir.path().display();
    let config = render(NGINX_TEMPLATE, &addr.to_string(), backends);
    let site = write(dir.path().join("wsx.conf"), &config);
    // Two workers, so that the round robin is seen to be shared among them (the zone).
    let main = format!(
        "daemon off;\n\
         master_process on;\n\
         worker_processes 2;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         \x20   access_log {d}/access.log;\n\
         \x20   client_body_temp_path {d}/client_body;\n\
         \x20   proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/uwsgi;\n\
         \x20   scgi_temp_path {d}/scgi;\n\
         \x20   include {site};\n\
         }}\n",
        site = site.display(),
    );
    let main = write(dir.path().join("nginx.conf"), &main);
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&main)
        .arg("-e")
        .arg(dir.path().join("error.log"));
    (config, cmd)
}

/// The wrapper (`global.cfg`) and the rendered deploy file (`wsx.cfg`), and the command.
fn haproxy_files(dir: &TempDir, addr: SocketAddr, backends: &[SocketAddr]) -> (String, Command) {
    let config = render(HAPROXY_TEMPLATE, &addr.to_string(), backends);
    let site = write(dir.path().join("wsx.cfg"), &config);
    let global = write(
        dir.path().join("global.cfg"),
        "global\n    log stderr format raw local0 info\n",
    );
    let mut cmd = Command::new("haproxy");
    cmd.arg("-db").arg("-f").arg(global).arg("-f").arg(site);
    cmd.current_dir(dir.path());
    (config, cmd)
}
