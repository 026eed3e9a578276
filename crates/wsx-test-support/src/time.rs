//! Bounds on async steps. Tests run on one shared CI machine: a lost wakeup must fail the
//! one test that hit it, with a name, rather than hold up the whole suite until the CI
//! job is killed.

use std::future::Future;
use std::time::Duration;

/// A bound on steps that take milliseconds, so that a hang fails with a message instead of
/// blocking the suite. Never used in paused-time tests (it would be the next timer).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Awaits `fut`, failing the test if it makes no progress within [`PATIENCE`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing happened within {PATIENCE:?}"),
    }
}
