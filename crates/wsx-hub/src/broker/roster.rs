//! Who is present in which channel through this node's connections, with the grace
//! before a user whose last connection left counts as gone. The memory broker's whole
//! presence; the Redis broker's record of what this node contributes to the shared one.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One user's connections in a channel, and when they leave if none is left.
#[derive(Debug, Default)]
struct Entry {
    conns: HashSet<u64>,
    leaving_at: Option<Instant>,
}

/// channel → user → their connections on this node.
///
/// ```text
/// add("room", "ann", 1) → true (ann joined), add("room", "ann", 2) → false,
/// remove(.., 1), remove(.., 2) → ann leaves at now + grace, unless she comes back
/// ```
#[derive(Debug, Default)]
pub(crate) struct Roster {
    channels: HashMap<Arc<str>, HashMap<Arc<str>, Entry>>,
}

impl Roster {
    /// Counts connection `conn` of `user` in `channel`; true if the user was not present
    /// (a join). A user back within the grace was still present.
    pub(crate) fn add(&mut self, channel: &str, user: &str, conn: u64) -> bool {
        let users = self.channels.entry(channel.into()).or_default();
        if let Some(e) = users.get_mut(user) {
            e.leaving_at = None;
            e.conns.insert(conn);
            return false;
        }
        let mut e = Entry::default();
        e.conns.insert(conn);
        users.insert(user.into(), e);
        true
    }

    /// Connection `conn` of `user` left `channel`; if it was their last, they leave
    /// after `grace` (see [`expire`](Self::expire)).
    pub(crate) fn remove(&mut self, channel: &str, user: &str, conn: u64, grace: Duration) {
        if let Some(e) = self
            .channels
            .get_mut(channel)
            .and_then(|users| users.get_mut(user))
            && e.conns.remove(&conn)
            && e.conns.is_empty()
        {
            e.leaving_at = Some(Instant::now() + grace);
        }
    }

    /// Removes the users whose grace ran out by `now`: (channel, user) of each.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<(Arc<str>, Arc<str>)> {
        let mut gone = Vec::new();
        self.channels.retain(|channel, users| {
            users.retain(|user, e| {
                let left = e.conns.is_empty() && e.leaving_at.is_some_and(|t| t <= now);
                if left {
                    gone.push((channel.clone(), user.clone()));
                }
                !left
            });
            !users.is_empty()
        });
        gone
    }

    /// The users present in `channel`, sorted.
    pub(crate) fn users(&self, channel: &str) -> Vec<String> {
        let users: BTreeSet<&str> = self
            .channels
            .get(channel)
            .map(|users| users.keys().map(|u| &**u).collect())
            .unwrap_or_default();
        users.into_iter().map(str::to_owned).collect()
    }

    /// Every (channel, user) present.
    pub(crate) fn entries(&self) -> Vec<(Arc<str>, Arc<str>)> {
        self.channels
            .iter()
            .flat_map(|(c, users)| users.keys().map(move |u| (c.clone(), u.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_joins_once_and_leaves_after_the_grace() {
        let mut r = Roster::default();
        assert!(r.add("c", "ann", 1));
        assert!(!r.add("c", "ann", 2));
        r.remove("c", "ann", 1, Duration::ZERO);
        assert!(r.expire(Instant::now()).is_empty(), "one connection is left");
        r.remove("c", "ann", 2, Duration::from_secs(60));
        assert!(r.expire(Instant::now()).is_empty(), "within the grace");
        assert_eq!(r.users("c"), ["ann"]);
        // Back within the grace: still present, no new join.
        assert!(!r.add("c", "ann", 3));
        r.remove("c", "ann", 3, Duration::ZERO);
        let gone = r.expire(Instant::now() + Duration::from_millis(1));
        assert_eq!(gone.len(), 1);
        assert!(r.users("c").is_empty() && r.entries().is_empty());
    }
}
