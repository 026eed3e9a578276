//! What the integration tests of `wsx` and `wsx-cli` have in common. Not published: a
//! dev-dependency only, in the manner of h2's `tests/h2-support`. Tests import it as
//! `use wsx_test_support as support;`; the helpers most tests want are re-exported here,
//! the rest live in their module.
//!
//! # Modules
//!
//! Talking to wsx from a test:
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
//! Processes and their output:
//!
//! - [`peer`]: child processes (the Python, Node and browser peers, the `wsx` binary),
//!   killed with their process group on drop; locating the peer scripts and checking the
//!   installed peers against their pins; what to run when they are missing.
//! - [`json`]: a small reader for the one-line JSON reports the peers print.
//! - [`temp`]: a temporary directory removed on drop.
//!
//! Nothing here skips a test: a missing peer or tool fails it, naming
//! `scripts/install-test-deps.sh`.
//!
//! # Dependencies
//!
//! - `wsx`: the layer under test. Its re-exported wsx-proto is what [`RawClient`] speaks
//!   frames with, and its re-exported rustls types are what [`self_signed`] returns, so
//!   neither is a dependency of its own here.
//! - `tokio` (`net`, `io-util`, `time`): sockets, in-memory pipes and timeouts for the
//!   async helpers. The tests bring their own runtime.
//! - `rcgen`: certificates made at test time, so no key is committed.
//! - `bytes`, `httparse`: the receive buffer of [`RawClient`] and the response heads of
//!   [`http_exchange`], the same crates wsx uses.

pub mod certs;
pub mod http;
pub mod json;
pub mod net;
pub mod peer;
pub mod pproxy;
pub mod raw;
pub mod temp;
pub mod time;
pub mod wire;

pub use certs::{TestCerts, self_signed};
pub use http::{HttpResponse, http_exchange, upgrade_request};
pub use net::{accept_one, client, config, connect, duplex_pair, echo, listen, plain_config, unused_port};
pub use peer::{
    INSTALL_HINT, Peer, STEP_TIMEOUT, TEST_TIMEOUT, large_pattern, peer_script, peers_dir, repo_root,
    require_node_module, require_python_websockets, without_proxy_env,
};
pub use pproxy::Pproxy;
pub use raw::RawClient;
pub use temp::TempDir;
pub use time::{PATIENCE, within};
