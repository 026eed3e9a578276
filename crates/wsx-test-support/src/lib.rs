//! What the integration tests of `wsx` and `wsx-cli` have in common, and the checks the
//! fuzz targets run. Not published: a dev-dependency only, in the manner of h2's
//! `tests/h2-support`. Tests import it as `use wsx_test_support as support;`; the helpers
//! most tests want are re-exported here, the rest live in their module.
//!
//! # Modules
//!
//! Talking to wsx from a test (feature `wsx`, on by default):
//!
//! - [`time`]: [`within`] and [`PATIENCE`], so a hang fails with a message instead of
//!   stalling the suite.
//! - [`net`]: servers on `127.0.0.1:0`, clients that ignore the machine's proxy
//!   variables, an in-memory server/client pair, an echo loop, configuration shorthands.
//! - [`raw`]: [`RawClient`], a peer whose every byte the test decides (it can stay silent,
//!   never read, never pong), built on the sans-I/O core.
//! - [`http`]: one HTTP exchange over a raw socket, and hand-written upgrade requests.
//! - [`certs`]: the one certificate generator: a CA-signed leaf written as PEM files
//!   ([`TestCerts`], for the CLI and browsers) or a self-signed certificate in memory
//!   ([`self_signed`], for rustls configurations).
//! - [`wire`]: a transport tap that records what crosses the socket and parses it with a
//!   frame parser of its own, not wsx-proto's.
//! - [`pproxy`]: a real HTTP CONNECT / SOCKS5 proxy process, killed on drop.
//!
//! Processes and their output (std only):
//!
//! - [`peer`]: child processes (the Python, Node and browser peers, the `wsx` binary),
//!   killed with their process group on drop; locating the peer scripts and checking the
//!   installed peers against their pins; what to run when they are missing.
//! - [`json`]: a small reader for the one-line JSON reports the peers print.
//! - [`temp`]: a temporary directory removed on drop.
//!
//! Cluster mode (std only): the real servers a cluster of hubs runs with.
//!
//! - [`redis`]: [`RedisServer`], a `redis-server` of the test's own on a free port, which
//!   the test can kill, restart (with or without persistence), freeze and thaw.
//! - [`balancer`]: [`Balancer`], nginx or HAProxy balancing round robin over hub nodes, with
//!   the configurations in `deploy/` that `docs/deployment.md` shows.
//!
//! Fuzzing (wsx-proto only):
//!
//! - [`fuzz`]: the body of each cargo-fuzz target in `fuzz/` as a `fn(&[u8])`, so the fuzz
//!   binaries and `tests/fuzz_regressions.rs` (which replays `fuzz/regressions/`) run the
//!   same checks.
//!
//! Nothing here skips a test: a missing peer or tool fails it, naming
//! `scripts/install-test-deps.sh`.
//!
//! # Dependencies
//!
//! - `wsx-proto`: what the fuzz targets drive.
//! - `wsx` (feature `wsx`): the layer under test. Its re-exported wsx-proto is what
//!   [`RawClient`] speaks frames with, and its re-exported rustls types are what
//!   [`self_signed`] returns, so rustls is not a dependency of its own here.
//! - `tokio` (feature `wsx`; `net`, `io-util`, `time`): sockets, in-memory pipes and
//!   timeouts for the async helpers. The tests bring their own runtime.
//! - `rcgen` (feature `wsx`): certificates made at test time, so no key is committed.
//! - `bytes`, `httparse`, `base64`: payloads and the receive buffer of [`RawClient`], HTTP
//!   heads (in [`http_exchange`] and the handshake target), handshake keys; the same
//!   crates wsx-proto uses.
//!
//! The fuzz crate depends on this one with `default-features = false`, which keeps tokio,
//! rustls and rcgen out of its sanitizer builds.

pub mod balancer;
pub mod fuzz;
pub mod hub;
pub mod json;
pub mod peer;
pub mod redis;
pub mod temp;

#[cfg(feature = "wsx")]
pub mod certs;
#[cfg(feature = "wsx")]
pub mod http;
#[cfg(feature = "wsx")]
pub mod net;
#[cfg(feature = "wsx")]
pub mod pproxy;
#[cfg(feature = "wsx")]
pub mod raw;
#[cfg(feature = "wsx")]
pub mod time;
#[cfg(feature = "wsx")]
pub mod wire;

pub use balancer::Balancer;
#[cfg(feature = "wsx")]
pub use certs::{TestCerts, self_signed};
#[cfg(feature = "wsx")]
pub use http::{HttpResponse, http_exchange, upgrade_request};
#[cfg(feature = "wsx")]
pub use net::{accept_one, client, config, connect, duplex_pair, echo, listen, plain_config, unused_port};
pub use peer::{
    INSTALL_HINT, Peer, STEP_TIMEOUT, TEST_TIMEOUT, large_pattern, peer_script, peers_dir, repo_root,
    require_node_module, require_python_websockets, without_proxy_env,
};
#[cfg(feature = "wsx")]
pub use pproxy::Pproxy;
#[cfg(feature = "wsx")]
pub use raw::RawClient;
pub use redis::{RedisOptions, RedisServer};
pub use temp::TempDir;
#[cfg(feature = "wsx")]
pub use time::{PATIENCE, within};
