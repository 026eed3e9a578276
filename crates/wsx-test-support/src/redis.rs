//! A real Redis for the cluster tests: [`RedisServer`] runs Debian's `redis-server` (installed
//! by `scripts/install-test-deps.sh`) as a child process on `127.0.0.1` and a free port, with its
//! configuration, log and data in a [`TempDir`] of its own. It never touches the machine's
//! Redis service (port 6379), which the tests do not need.
//!
//! The test can take it away and bring it back the ways a broker must survive: [`kill`]
//! (SIGKILL, a crash), [`stop`] (SIGTERM, a clean shutdown), [`restart`] (the same port and
//! directory, so with [`RedisOptions::persistent`] the data is still there), [`freeze`] and
//! [`thaw`] (SIGSTOP/SIGCONT: connections stay open and nothing answers), [`pause_for`] (a
//! Redis that answers late). [`cli`] runs `redis-cli` against it, for assertions on keys.
//!
//! Std only; every wait is bounded by [`STEP_TIMEOUT`].
//!
//! [`kill`]: RedisServer::kill
//! [`stop`]: RedisServer::stop
//! [`restart`]: RedisServer::restart
//! [`freeze`]: RedisServer::freeze
//! [`thaw`]: RedisServer::thaw
//! [`pause_for`]: RedisServer::pause_for
//! [`cli`]: RedisServer::cli

use crate::peer::{Peer, STEP_TIMEOUT};
use crate::temp::TempDir;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to run when `redis-server` or `redis-cli` is missing.
const REDIS_HINT: &str = "run scripts/install-test-deps.sh (from the repository root) to install Debian's \
     redis-server and redis-tools";

/// How a [`RedisServer`] is configured beyond its port and directory.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// `appendonly yes` and `appendfsync always`: every write is on disk before Redis
    /// answers it, so a [`restart`](RedisServer::restart), even after a
    /// [`kill`](RedisServer::kill), keeps all the data. Without it (the default):
    /// `appendonly no` and `save ""`, nothing is ever written and a restart starts empty.
    pub persistent: bool,
    /// `requirepass`: clients must `AUTH` with it (the readiness check and
    /// [`cli`](RedisServer::cli) do).
    pub password: Option<String>,
    /// More `redis.conf` lines, as written in the file (`"maxmemory 10mb"`), after ours.
    pub extra: Vec<String>,
}

/// A running `redis-server` on `127.0.0.1:PORT`, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    options: RedisOptions,
    dir: TempDir,
    process: Option<Peer>,
    /// Counts signals and restarts, so that a [`pause_for`](Self::pause_for) thaw that
    /// comes late does not resume a process the test froze again, or signal a new one.
    generation: Arc<Mutex<u64>>,
}

impl RedisServer {
    /// Starts a Redis without persistence (see [`RedisOptions`]) and waits until it answers
    /// `PING`.
    pub fn start() -> RedisServer {
        RedisServer::start_with(RedisOptions::default())
    }

    /// Starts a Redis whose data survives a [`restart`](Self::restart)
    /// ([`RedisOptions::persistent`]).
    pub fn persistent() -> RedisServer {
        RedisServer::start_with(RedisOptions {
            persistent: true,
            ..RedisOptions::default()
        })
    }

    /// Starts a Redis configured by `options` on a free port, and waits until it answers
    /// `PING`. Fails the test, with the server's log, if it does not within
    /// [`STEP_TIMEOUT`]; fails naming `scripts/install-test-deps.sh` if `redis-server` is
    /// not installed.
    pub fn start_with(options: RedisOptions) -> RedisServer {
        require("redis-server");
        let mut last = String::new();
        // A free port is found by binding port 0 and letting it go: another process may take
        // it before Redis binds it. Then Redis exits at once, and another port is tried.
        for _attempt in 0..3 {
            let port = free_port();
            let mut redis = RedisServer {
                port,
                options: options.clone(),
                dir: TempDir::new(&format!("redis-{port}")),
                process: None,
                generation: Arc::new(Mutex::new(0)),
            };
            redis.write_config();
            match redis.launch() {
                Ok(()) => return redis,
                Err(e) => last = e,
            }
        }
        panic!("could not start redis-server: {last}");
    }

    /// `redis://127.0.0.1:PORT` (without the password, if one is set).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The directory of its `redis.conf`, its log and its data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of the running server, if one is running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Peer::id)
    }

    /// What Redis logged so far (over all its runs: each start appends).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Kills the server with SIGKILL (a crash: nothing is flushed that was not already).
    /// Doing nothing if it is not running.
    pub fn kill(&mut self) {
        self.bump();
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    /// Stops the server with SIGTERM and waits for it to exit (a clean shutdown: with
    /// persistence the append-only file is flushed). A frozen server is thawed first.
    /// Doing nothing if it is not running.
    pub fn stop(&mut self) {
        self.bump();
        let Some(mut p) = self.process.take() else {
            return;
        };
        signal(p.id(), "CONT");
        signal(p.id(), "TERM");
        p.wait(STEP_TIMEOUT);
    }

    /// Starts the server again on the same port with the same directory (after a
    /// [`kill`](Self::kill) or a [`stop`](Self::stop); a running one is stopped first), and
    /// waits until it answers `PING`, which with persistence means it has loaded its data.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + STEP_TIMEOUT;
        // Redis binds with SO_REUSEADDR, so only a live listener keeps the port from it.
        while let Err(e) = TcpListener::bind(self.addr()) {
            assert!(
                Instant::now() < deadline,
                "Redis cannot restart: {} stays taken: {e}",
                self.addr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Err(e) = self.launch() {
            panic!("redis-server did not restart on port {}: {e}", self.port);
        }
    }

    /// Sends SIGSTOP: the server keeps its connections and answers nothing, as a hung or
    /// partitioned Redis does, until [`thaw`](Self::thaw).
    pub fn freeze(&mut self) {
        self.bump();
        signal(self.running_pid("freeze"), "STOP");
    }

    /// Sends SIGCONT to a [`freeze`](Self::freeze)d server: it answers what was sent
    /// meanwhile.
    pub fn thaw(&mut self) {
        self.bump();
        signal(self.running_pid("thaw"), "CONT");
    }

    /// Freezes the server for `pause` and returns at once; it thaws by itself afterwards
    /// (a Redis that answers late). A [`freeze`](Self::freeze), [`thaw`](Self::thaw),
    /// [`kill`](Self::kill), [`stop`](Self::stop) or [`restart`](Self::restart) before then
    /// cancels the automatic thaw.
    pub fn pause_for(&mut self, pause: Duration) {
        self.freeze();
        let pid = self.running_pid("pause");
        let generation = self.generation.clone();
        let mine = *generation.lock().unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(pause);
            // Held while signalling, so a concurrent kill or restart waits for it.
            let now = generation.lock().unwrap();
            if *now == mine {
                signal(pid, "CONT");
            }
        });
    }

    /// Runs `redis-cli -h 127.0.0.1 -p PORT ARGS…` (with the password, if any) and returns
    /// its standard output, trailing newline removed. Output is raw (not a terminal): one
    /// line per element of a list, error replies as their text (`ERR …`). Fails the test if
    /// `redis-cli` cannot run, exits with an error, or takes longer than [`STEP_TIMEOUT`]
    /// (as it does against a frozen server).
    pub fn cli<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        require("redis-cli");
        let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(pass) = &self.options.password {
            cmd.args(["--no-auth-warning", "-a", pass]);
        }
        cmd.args(&args);
        let mut peer = Peer::spawn("redis-cli", cmd);
        peer.close_stdin();
        let (status, lines) = peer.finish(STEP_TIMEOUT);
        assert!(
            status.success(),
            "redis-cli {args:?} failed ({status}): {}{}",
            lines.join("\n"),
            peer.stderr()
        );
        lines.join("\n")
    }

    fn bump(&self) {
        *self.generation.lock().unwrap() += 1;
    }

    fn running_pid(&self, what: &str) -> u32 {
        self.pid()
            .unwrap_or_else(|| panic!("cannot {what} Redis on port {}: it is not running", self.port))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("redis.conf")
    }

    fn write_config(&self) {
        let dir = self.dir.path().display();
        let mut conf = format!(
            "bind 127.0.0.1\n\
             port {port}\n\
             protected-mode yes\n\
             daemonize no\n\
             supervised no\n\
             dir \"{dir}\"\n\
             logfile \"{log}\"\n\
             pidfile \"{dir}/redis.pid\"\n\
             save \"\"\n",
            port = self.port,
            log = self.log_path().display(),
        );
        if self.options.persistent {
            conf.push_str("appendonly yes\nappendfsync always\n");
        } else {
            conf.push_str("appendonly no\n");
        }
        if let Some(pass) = &self.options.password {
            conf.push_str(&format!("requirepass \"{pass}\"\n"));
        }
        for line in &self.options.extra {
            conf.push_str(line);
            conf.push('\n');
        }
        std::fs::write(self.config_path(), conf).expect("write redis.conf");
    }

    /// Starts the process and waits for `PING` to answer `PONG`; on failure the process is
    /// gone and the error says why, with the log.
    fn launch(&mut self) -> Result<(), String> {
        let mut cmd = Command::new("redis-server");
        cmd.arg(self.config_path()).current_dir(self.dir.path());
        let mut peer = Peer::spawn("redis-server", cmd);
        peer.close_stdin();
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(status) = peer.try_status() {
                return Err(format!(
                    "redis-server exited with {status}; its log:\n{}{}",
                    self.log(),
                    peer.stderr()
                ));
            }
            let last = match ping(self.addr(), self.options.password.as_deref()) {
                Ok(()) => break,
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                peer.kill();
                return Err(format!(
                    "redis-server on port {} did not answer PING within {STEP_TIMEOUT:?} (last: {last}); \
                     its log:\n{}{}",
                    self.port,
                    self.log(),
                    peer.stderr()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.process = Some(peer);
        Ok(())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.bump();
        // Dropping the Peer kills its process group (SIGKILL works on a stopped process).
        self.process = None;
    }
}

/// Fails the test naming the install script unless `program` runs.
fn require(program: &str) {
    let runs = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(runs, "{program} is not installed: {REDIS_HINT}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port()
}

/// `kill -NAME PID`; a process that is already gone is not an error.
fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// One RESP command (an array of bulk strings) on `tcp`; the first line of the reply.
fn command(tcp: &mut TcpStream, args: &[&str]) -> Result<String, String> {
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    tcp.write_all(req.as_bytes()).map_err(|e| format!("write: {e}"))?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        match tcp.read(&mut byte) {
            Ok(0) => return Err("connection closed".into()),
            Ok(_) => line.push(byte[0]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// `PING` (after `AUTH` if there is a password) answered `+PONG`; a Redis still loading
/// its data answers `-LOADING`, which is not ready.
fn ping(addr: SocketAddr, password: Option<&str>) -> Result<(), String> {
    let mut tcp =
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(2))).ok();
    tcp.set_write_timeout(Some(Duration::from_secs(2))).ok();
    if let Some(pass) = password {
        let r = command(&mut tcp, &["AUTH", pass])?;
        if r != "+OK" {
            return Err(format!("AUTH answered {r}"));
        }
    }
    match command(&mut tcp, &["PING"])? {
        r if r == "+PONG" => Ok(()),
        r => Err(format!("PING answered {r}")),
    }
}
