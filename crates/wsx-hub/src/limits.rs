//! The per-connection rate limit on publishes and sends: a token bucket.

use std::time::Instant;

/// A token bucket: `rate` tokens a second, at most `burst` saved up. Each publish or
/// send takes one; without one it is refused (`rate_limited`). A client that keeps
/// sending into an empty bucket — as many refusals in a row as the burst — is flooding,
/// and its connection is closed.
///
/// ```
/// use std::time::{Duration, Instant};
/// let t0 = Instant::now();
/// let mut b = wsx_hub::limits::TokenBucket::new(10.0, 2, t0);
/// assert!(b.take(t0).is_ok() && b.take(t0).is_ok());
/// assert!(b.take(t0).is_err()); // empty
/// assert!(b.take(t0 + Duration::from_millis(100)).is_ok()); // 0.1 s refills one
/// ```
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
    refused_in_a_row: u32,
}

/// A refusal, and whether it makes the client a flood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Refusals in a row reached the burst: close the connection.
    pub flooding: bool,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: u32, now: Instant) -> Self {
        TokenBucket {
            rate,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            at: now,
            refused_in_a_row: 0,
        }
    }

    /// Takes a token.
    pub fn take(&mut self, now: Instant) -> Result<(), Refused> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_a_row = 0;
            Ok(())
        } else {
            self.refused_in_a_row += 1;
            Err(Refused {
                flooding: f64::from(self.refused_in_a_row) >= self.burst,
            })
        }
    }
}
