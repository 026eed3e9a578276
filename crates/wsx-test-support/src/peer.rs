//! Peer processes: the Python, Node and browser peers in `tests/peers` and the `wsx`
//! binary, started by a test and killed with their whole process group when dropped, so
//! nothing outlives a failed test. Also where the peers live, a check that the installed
//! ones are the pinned versions, and the message pattern all of them send.
//!
//! A missing peer fails the test with [`INSTALL_HINT`]; it is never skipped.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to run when a peer is missing.
pub const INSTALL_HINT: &str = "run scripts/install-test-deps.sh (from the repository root) to install the \
     interop peers and tools: Python websockets, Node ws and playwright-core, Debian chromium, \
     redis-server, nginx and haproxy";

/// The repository root (this crate lives in `crates/<name>`, like the ones it tests).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// `tests/peers`: the peer scripts, their pins, and `node_modules`.
pub fn peers_dir() -> PathBuf {
    repo_root().join("tests/peers")
}

/// A peer script in `tests/peers`.
pub fn peer_script(name: &str) -> PathBuf {
    let path = peers_dir().join(name);
    assert!(path.is_file(), "missing peer script {}", path.display());
    path
}

fn run_probe(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(peers_dir())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{program} {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The version a pin file asks for: `name==1.2` (requirements.txt) or `"name": "1.2"`
/// (package.json).
fn pinned_version(file: &str, name: &str) -> String {
    let text = std::fs::read_to_string(peers_dir().join(file)).expect("pin file");
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix(&format!("{name}==")) {
            return v.trim().to_owned();
        }
        if let Some(rest) = line.strip_prefix(&format!("\"{name}\":")) {
            return rest.trim().trim_end_matches(',').trim_matches('"').to_owned();
        }
    }
    panic!("{name} is not pinned in tests/peers/{file}");
}

/// Fails unless `python3` imports `websockets` at the pinned version. Returns the version.
pub fn require_python_websockets() -> String {
    let want = pinned_version("requirements.txt", "websockets");
    let have = run_probe(
        "python3",
        &["-c", "import websockets; print(websockets.__version__)"],
    )
    .unwrap_or_else(|e| panic!("Python websockets is not available: {e}\n{INSTALL_HINT}"));
    assert_eq!(
        have, want,
        "python3 has websockets {have}, tests/peers/requirements.txt pins {want}\n{INSTALL_HINT}"
    );
    have
}

/// Fails unless `node` runs and `tests/peers/node_modules/<module>` is the pinned version.
/// Returns the version.
pub fn require_node_module(module: &str) -> String {
    run_probe("node", &["--version"])
        .unwrap_or_else(|e| panic!("Node.js is not available: {e}\n{INSTALL_HINT}"));
    let want = pinned_version("package.json", module);
    let manifest = peers_dir().join("node_modules").join(module).join("package.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("{}: {e}\n{INSTALL_HINT}", manifest.display()));
    let have = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"version\":"))
        .map(|v| v.trim().trim_end_matches(',').trim_matches('"').to_owned())
        .unwrap_or_default();
    assert_eq!(
        have, want,
        "node_modules has {module} {have}, tests/peers/package.json pins {want}\n{INSTALL_HINT}"
    );
    have
}

/// How long a whole test may take before it fails instead of hanging CI.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(40);
/// How long one step (a line from a peer, a message, an exit) may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// A child process started by a test: its stdout as lines, its stderr collected for
/// failure messages. It runs in its own process group, and dropping it kills the whole
/// group (a Node driver's Chromium too), so nothing outlives a failed test.
#[derive(Debug)]
pub struct Peer {
    name: String,
    child: Child,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    /// Disconnects when the stderr reader reached EOF.
    stderr_done: Receiver<()>,
    stdin: Option<ChildStdin>,
}

impl Peer {
    /// Starts `cmd` with piped stdin, stdout and stderr.
    pub fn spawn(name: &str, mut cmd: Command) -> Peer {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}\n{INSTALL_HINT}"));
        let (tx, stdout) = channel();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        let (done, stderr_done) = channel::<()>();
        std::thread::spawn(move || {
            let _done = done;
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdin = child.stdin.take();
        Peer {
            name: name.to_owned(),
            child,
            stdout,
            stderr,
            stderr_done,
            stdin,
        }
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits (briefly) until stderr is read to its end, after the child exited.
    fn settle_stderr(&self) {
        let _ = self.stderr_done.recv_timeout(Duration::from_secs(2));
    }

    /// What the child wrote to stderr so far (all of it, once the child has exited and
    /// [`finish`](Self::finish) or [`wait`](Self::wait) returned).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Takes the child's stdin (to write to it, or drop it to send EOF).
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.stdin.take().expect("stdin already taken")
    }

    /// Closes the child's stdin.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next stdout line; fails the test on timeout or when stdout ends.
    pub fn line(&self, timeout: Duration) -> String {
        match self.stdout.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!(
                "{}: no output line within {timeout:?}; stderr:\n{}",
                self.name,
                self.stderr()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                self.settle_stderr();
                panic!("{}: stdout ended early; stderr:\n{}", self.name, self.stderr())
            }
        }
    }

    /// The next stdout line that starts with `prefix`, with the prefix removed (other
    /// lines are skipped).
    pub fn line_with_prefix(&self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.line(left);
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
    }

    /// The child's exit status if it has exited, without waiting.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().expect("try_wait")?;
        self.settle_stderr();
        Some(status)
    }

    /// Waits for the child to exit; fails the test on timeout.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.settle_stderr();
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: did not exit within {timeout:?}; stderr:\n{}",
                    self.name,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the child to exit and returns its status and every stdout line it
    /// printed that was not read yet.
    pub fn finish(&mut self, timeout: Duration) -> (ExitStatus, Vec<String>) {
        let status = self.wait(timeout);
        let mut lines = Vec::new();
        // The reader thread sees EOF right after the exit (unless a grandchild holds
        // the pipe): drain what it has.
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_millis(500)) {
            lines.push(line);
        }
        (status, lines)
    }

    /// Kills the child's process group and returns the stdout lines not read yet.
    pub fn kill(&mut self) -> Vec<String> {
        self.kill_group();
        let _ = self.child.wait();
        let mut lines = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_millis(500)) {
            lines.push(line);
        }
        lines
    }

    fn kill_group(&mut self) {
        // The group is ours: `process_group(0)` made the child its leader, so its id is
        // the group's. Killed even after the leader exited, for what it left behind.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill_group();
        let _ = self.child.wait();
    }
}

/// The 1 MiB message every peer sends and checks: the same formula in the Python and
/// Node scripts.
pub fn large_pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + (i >> 10)) % 251) as u8).collect()
}

/// Removes proxy variables so a client in a test connects directly.
pub fn without_proxy_env(cmd: &mut Command) -> &mut Command {
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd
}
