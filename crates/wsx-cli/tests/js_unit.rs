//! The unit tests of the browser client's logic (`clients/js/wsx.js`): backoff, offset
//! tracking, dedupe at the seam, the request queue, a broken server, transport fallback.
//! They run in Node's built-in test runner, `node --test clients/js/test/`, against fakes
//! of `WebSocket`, `EventSource`, `fetch` and the clock (`clients/js/test/fakes.mjs`): no
//! hub, no browser, no npm package. This test runs them from the repository root with a
//! bounded wait and fails with Node's output when any of them fails.

use wsx_test_support as support;

use std::process::Command;
use std::time::Duration;
use support::{Peer, repo_root};

/// Node runs the whole directory in about a second; this is for a loaded CI machine.
const NODE_TIMEOUT: Duration = Duration::from_secs(90);

/// A count from node's summary (`# pass 30` with the TAP reporter, `ℹ pass 30` with spec).
fn summary(lines: &[String], key: &str) -> Option<u64> {
    lines.iter().rev().find_map(|l| {
        let l = l.trim_start_matches(['#', ' ']).trim_start_matches('ℹ').trim();
        l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok()
    })
}

#[test]
fn wsx_js_unit_tests_pass_under_node_test() {
    let root = repo_root();
    assert!(
        root.join("clients/js/test/fakes.mjs").is_file(),
        "clients/js/test/ is missing"
    );
    let mut cmd = Command::new("node");
    cmd.args(["--test", "clients/js/test/"])
        .current_dir(&root)
        .env_remove("NODE_OPTIONS")
        .env("NO_COLOR", "1");
    let mut node = Peer::spawn("node --test clients/js/test/", cmd);
    let (status, lines) = node.finish(NODE_TIMEOUT);
    let output = lines.join("\n");
    assert!(
        status.success(),
        "node --test clients/js/test/ failed ({status}):\n{output}\nstderr:\n{}",
        node.stderr()
    );
    let tests = summary(&lines, "tests");
    let failed = summary(&lines, "fail");
    assert!(
        tests.is_some_and(|n| n >= 20) && failed == Some(0),
        "node --test ran {tests:?} tests, {failed:?} failed:\n{output}\nstderr:\n{}",
        node.stderr()
    );
    eprintln!(
        "node --test clients/js/test/: {} tests, {} passed",
        tests.unwrap_or(0),
        summary(&lines, "pass").unwrap_or(0)
    );
}
