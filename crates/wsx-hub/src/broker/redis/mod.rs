//! The Redis broker: several nodes on one Redis act as one hub.
//!
//! - **History** is a Redis stream per topic, with the topic's epoch and latest sequence
//!   number in a hash beside it; offsets are the same on every node, so a client recovers
//!   on any node.
//! - **Publishing** is one Lua script: it assigns the next sequence number, appends to the
//!   stream (trimmed by count and age), and `PUBLISH`es the message, atomically. A node
//!   that subscribes for a topic and *then* reads history therefore misses nothing: each
//!   message is either in what it read or arrives live after (duplicates at the seam are
//!   dropped by offset). The publishing node hands the message to its own subscribers
//!   from the script's reply, without waiting for the pub/sub echo; [`sequencer`] puts the
//!   two paths back in order and drops the second copy.
//! - **Fan-out**: one Redis subscription per node and topic (not per client), on one
//!   connection; Redis streams the messages and the client reads them in batches.
//!   Publishes from many sessions share one multiplexed connection, pipelined (with
//!   `TCP_NODELAY`: Nagle's algorithm would hold a command written in two pieces);
//!   history reads for recovery, whose replies can be large, have a connection of their
//!   own so that they do not hold publishes up.
//! - **Presence**: each node adds and removes its own users' entries, and renews one
//!   heartbeat for all of them (one write per node, however many users); the entries of a
//!   node whose heartbeat lapsed (a crash) are swept by the others, with `leave` events.
//! - **Nodes talk** over pub/sub channels of their own: a request for a fallback session
//!   held elsewhere is forwarded to its node, and a disconnect reaches every node.
//! - **Faults**: Redis being slow or gone fails the operations that need it (clients get
//!   `unavailable`); sessions stay up; the subscription connection is re-established
//!   with backoff, and every subscribed topic is resynced from history, so clients get
//!   what they missed or a gap. Each incident is logged once and counted.
//!
//! Redis Cluster is not supported yet: keys carry hash tags so a topic's keys would share
//! a slot, but the broker talks to one Redis (plain `PUBLISH`; sharded pub/sub only
//! differs in a cluster).

mod keys;
mod scripts;
mod sequencer;

use super::roster::Roster;
use super::{
    Broker, BrokerError, BrokerEvents, BrokerFuture, Forwarded, ForwardedReply, PresenceChange, Published,
};
use crate::history::{GapReason, HistoryLimits, Replay};
use crate::metrics::{BrokerMetrics, ReasonLabel};
use crate::offset::{Epoch, Offset};
use crate::topic::{Publication, Topic};
use futures_util::StreamExt as _;
use keys::{Keys, Live};
use redis::Value;
use redis::aio::ConnectionManager;
use scripts::Scripts;
use sequencer::{Sequencer, Step};
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};

/// How long a publication that arrived early waits for the ones before it before the
/// topic is resynced from history.
const REORDER_WINDOW: Duration = Duration::from_millis(250);

/// How long a meta hash (a topic's epoch and latest offset) outlives the topic's last
/// use beyond the history TTL; nodes refresh it while anyone is subscribed.
const META_GRACE: Duration = Duration::from_secs(3600);

/// How a node reaches Redis and what it keeps there.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisSettings {
    /// `redis://HOST:PORT[/DB]` or `rediss://…` (TLS).
    pub url: String,
    /// Sent with `AUTH` if the URL has none.
    pub password: Option<String>,
    /// PEM CA certificates for `rediss://`, instead of the WebPKI roots.
    pub ca_cert: Option<Vec<u8>>,
    /// Prefix of every key and pub/sub channel.
    pub key_prefix: String,
    /// Longest wait for one Redis operation (and for connecting).
    pub timeout: Duration,
    /// How long a node counts as alive after its last heartbeat (sent every third of
    /// it): a crashed node's users leave within about 4/3 of it.
    pub presence_ttl: Duration,
    /// Longest wait for another node's answer to a forwarded request.
    pub forward_timeout: Duration,
    /// History kept per topic.
    pub history: HistoryLimits,
    /// How long an idempotency key is remembered.
    pub idempotency_window: Duration,
    /// How long a user stays present after their last connection on this node leaves.
    pub presence_grace: Duration,
    /// This node's id (in session ids, so other nodes can forward to it).
    pub node: String,
}

impl RedisSettings {
    /// Settings for `url` with the defaults of [`crate::Config`].
    ///
    /// ```
    /// let s = wsx_hub::RedisSettings::new("redis://127.0.0.1:6379", "node1");
    /// assert_eq!(s.key_prefix, "wsx:");
    /// ```
    pub fn new(url: &str, node: &str) -> RedisSettings {
        RedisSettings {
            url: url.to_owned(),
            password: None,
            ca_cert: None,
            key_prefix: "wsx:".into(),
            timeout: Duration::from_secs(2),
            presence_ttl: Duration::from_secs(15),
            forward_timeout: Duration::from_secs(35),
            history: HistoryLimits {
                max_messages: 1000,
                ttl: Duration::from_secs(300),
            },
            idempotency_window: Duration::from_secs(300),
            presence_grace: Duration::from_secs(5),
            node: node.to_owned(),
        }
    }
}

/// One topic this node has local subscribers for.
struct TopicState {
    refs: usize,
    /// True while the node's Redis subscription for the topic is in place and its
    /// sequencer started.
    live: watch::Sender<bool>,
    sequencer: Sequencer,
}

#[derive(Default)]
struct Topics {
    map: HashMap<Topic, TopicState>,
    /// Topics whose sequencer waits on a hole.
    holes: HashSet<Topic>,
}

/// A topic's history as read from Redis.
struct HistoryRead {
    latest: Offset,
    /// The first sequence number held (`latest.seq + 1` if none is).
    first: u64,
    /// Why the newest dropped message went.
    drop: Option<GapReason>,
    messages: Vec<(Offset, Arc<Publication>)>,
}

/// What the node's link to Redis looks like, for `/healthz` and the log.
#[derive(Debug, Default)]
struct Health {
    /// Why the subscription connection is down (`None`: up).
    subscriber: Option<String>,
    /// Why the last command failed, if the one after has not succeeded yet.
    commands: Option<String>,
    /// Unexpected data was logged in this incident already.
    bad_data_logged: bool,
}

/// Messages between nodes, on their pub/sub channels.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
enum Control {
    Disconnect {
        from: String,
        user: String,
        code: u16,
    },
    Request {
        from: String,
        id: u64,
        request: Forwarded,
    },
    Reply {
        id: u64,
        reply: ForwardedReply,
    },
}

/// History, presence and fan-out for a node of a cluster, in Redis.
///
/// ```no_run
/// # #[tokio::main] async fn main() {
/// let metrics = wsx_hub::metrics::Metrics::default();
/// let settings = wsx_hub::RedisSettings::new("redis://127.0.0.1:6379", "node1");
/// let broker = wsx_hub::RedisBroker::new(settings, metrics.broker.clone()).unwrap();
/// # }
/// ```
pub struct RedisBroker {
    settings: RedisSettings,
    keys: Keys,
    client: redis::Client,
    /// Publishes, presence, node messages: short commands, whose latency clients feel.
    commands: ConnectionManager,
    /// History reads for recovery, whose replies can be large: on a connection of their
    /// own, so that a burst of recoveries does not hold up publishes behind it.
    reads: ConnectionManager,
    scripts: Scripts,
    topics: Mutex<Topics>,
    /// Wakes the subscription task: a topic was added or dropped.
    changed: mpsc::UnboundedSender<()>,
    changed_rx: Mutex<Option<mpsc::UnboundedReceiver<()>>>,
    /// What this node contributes to presence.
    presence: Mutex<Roster>,
    requests: Mutex<HashMap<u64, oneshot::Sender<ForwardedReply>>>,
    next_request: AtomicU64,
    health: Mutex<Health>,
    metrics: BrokerMetrics,
    events: OnceLock<Arc<dyn BrokerEvents>>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("node", &self.settings.node)
            .field("prefix", &self.settings.key_prefix)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn unexpected(what: &str) -> BrokerError {
    BrokerError::Unavailable(format!("unexpected reply from Redis ({what})"))
}

fn as_bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => std::str::from_utf8(as_bytes(other)?).ok()?.parse().ok(),
    }
}

impl RedisBroker {
    /// A broker for `settings` (nothing is connected yet: that happens in the
    /// background, so a node starts, and says it is unhealthy, while Redis is down).
    pub fn new(settings: RedisSettings, metrics: BrokerMetrics) -> Result<RedisBroker, BrokerError> {
        use redis::IntoConnectionInfo as _;
        let bad = |e: redis::RedisError| BrokerError::Unavailable(format!("{}: {e}", settings.url));
        let mut info = settings.url.as_str().into_connection_info().map_err(bad)?;
        if let Some(password) = &settings.password
            && info.redis_settings().password().is_none()
        {
            let redis = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(redis);
        }
        // Nagle's algorithm would hold a command written in two pieces until the first is
        // acknowledged, which Redis delays: milliseconds per publish.
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        info = info.set_tcp_settings(tcp);
        let client = match &settings.ca_cert {
            None => redis::Client::open(info),
            Some(pem) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
        }
        .map_err(bad)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let commands =
            ConnectionManager::new_lazy_with_config(client.clone(), config.clone()).map_err(bad)?;
        let reads = ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(bad)?;
        let (changed, changed_rx) = mpsc::unbounded_channel();
        metrics.up.set(0);
        Ok(RedisBroker {
            keys: Keys::new(&settings.key_prefix),
            settings,
            client,
            commands,
            reads,
            scripts: Scripts::default(),
            topics: Mutex::new(Topics::default()),
            changed,
            changed_rx: Mutex::new(Some(changed_rx)),
            presence: Mutex::new(Roster::default()),
            requests: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            health: Mutex::new(Health {
                subscriber: Some("connecting".into()),
                ..Health::default()
            }),
            metrics,
            events: OnceLock::new(),
        })
    }

    fn meta_ttl_ms(&self) -> u64 {
        (self.settings.history.ttl + META_GRACE).as_millis() as u64
    }

    // ---- health ------------------------------------------------------------------------

    fn update_up(&self, health: &Health) {
        let up = health.subscriber.is_none() && health.commands.is_none();
        self.metrics.up.set(i64::from(up));
    }

    fn command_failed(&self, op: &'static str, why: String) {
        self.metrics
            .errors
            .get_or_create(&ReasonLabel { reason: op })
            .inc();
        let mut h = lock(&self.health);
        if h.commands.is_none() {
            tracing::warn!(op, error = %why, "redis: command failed; clients get `unavailable` until it recovers");
        }
        h.commands = Some(why);
        self.update_up(&h);
    }

    fn command_ok(&self) {
        let mut h = lock(&self.health);
        if h.commands.take().is_some() {
            tracing::info!("redis: commands succeed again");
            h.bad_data_logged = false;
            self.update_up(&h);
        }
    }

    fn bad_data(&self, op: &'static str, what: &str) {
        self.metrics
            .errors
            .get_or_create(&ReasonLabel { reason: op })
            .inc();
        let mut h = lock(&self.health);
        if !h.bad_data_logged {
            h.bad_data_logged = true;
            tracing::warn!(
                op,
                what,
                "redis: unexpected data, ignored (logged once until the link recovers)"
            );
        }
    }

    /// Runs a Redis operation within the timeout, accounting for the outcome.
    async fn run<T>(
        &self,
        op: &'static str,
        f: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BrokerError> {
        match tokio::time::timeout(self.settings.timeout, f).await {
            Ok(Ok(v)) => {
                self.command_ok();
                Ok(v)
            }
            Ok(Err(e)) => {
                let why = e.to_string();
                self.command_failed(op, why.clone());
                Err(BrokerError::Unavailable(format!("redis: {why}")))
            }
            Err(_) => {
                self.command_failed(op, "timed out".into());
                Err(BrokerError::Unavailable("redis: timed out".into()))
            }
        }
    }

    // ---- live sequence ------------------------------------------------------------------

    fn run_steps(&self, topic: &Topic, steps: Vec<Step>) {
        let Some(events) = self.events.get() else { return };
        for step in steps {
            match step {
                Step::Resync => {
                    self.metrics.resyncs.inc();
                    events.resync(topic);
                }
                Step::Deliver(p) => events.deliver(p),
            }
        }
    }

    /// A publication of `topic` arrived: in order to the local subscribers, if any.
    fn offer(&self, p: Arc<Publication>) {
        let mut topics = lock(&self.topics);
        let Topics { map, holes } = &mut *topics;
        let Some(state) = map.get_mut(&p.topic) else {
            return;
        };
        let topic = p.topic.clone();
        let mut steps = Vec::new();
        state.sequencer.offer(p, Instant::now(), &mut steps);
        if state.sequencer.has_hole() {
            holes.insert(topic.clone());
        } else {
            holes.remove(&topic);
        }
        // Still under the lock: deliveries of a topic leave in order.
        self.run_steps(&topic, steps);
    }

    fn expire_holes(&self) {
        let now = Instant::now();
        let mut topics = lock(&self.topics);
        let Topics { map, holes } = &mut *topics;
        let mut done = Vec::new();
        for topic in holes.iter() {
            let Some(state) = map.get_mut(topic) else {
                done.push(topic.clone());
                continue;
            };
            let mut steps = Vec::new();
            state.sequencer.expire_hole(now, REORDER_WINDOW, &mut steps);
            if !steps.is_empty() {
                tracing::debug!(%topic, "redis: a live message did not arrive in time; resyncing from history");
            }
            self.run_steps(topic, steps);
            if !state.sequencer.has_hole() {
                done.push(topic.clone());
            }
        }
        for topic in done {
            holes.remove(&topic);
        }
    }

    /// Where `topic` stands now (creating its meta hash, so the epoch handed out is the
    /// one the first publish will use).
    async fn read_latest(&self, topic: &Topic) -> Result<Offset, BrokerError> {
        Ok(self.read(topic, None, true).await?.latest)
    }

    /// Reads `topic`'s history: the latest offset, the first sequence number held, why
    /// the newest dropped message went, and the entries to replay for `since` (none if
    /// `only_latest`).
    async fn read(
        &self,
        topic: &Topic,
        since: Option<&Offset>,
        only_latest: bool,
    ) -> Result<HistoryRead, BrokerError> {
        let mut con = if only_latest {
            self.commands.clone()
        } else {
            self.reads.clone()
        };
        let (since_seq, since_epoch) = match (only_latest, since) {
            (true, _) => (-1i64, String::new()),
            (false, Some(s)) => (s.seq.min(i64::MAX as u64) as i64, s.epoch.0.to_string()),
            (false, None) => (0, String::new()),
        };
        let value: Value = self
            .run("read", async {
                self.scripts
                    .read
                    .key(self.keys.meta(topic))
                    .key(self.keys.stream(topic))
                    .arg(Epoch::random().0.to_string())
                    .arg(self.settings.history.ttl.as_millis() as u64)
                    .arg(self.meta_ttl_ms())
                    .arg(since_seq)
                    .arg(self.settings.history.max_messages.max(1))
                    .arg(since_epoch)
                    .invoke_async(&mut con)
                    .await
            })
            .await?;
        let parsed = self.parse_read(topic, &value);
        parsed.ok_or_else(|| {
            self.bad_data("read", "history reply");
            unexpected("history")
        })
    }

    fn parse_read(&self, topic: &Topic, value: &Value) -> Option<HistoryRead> {
        let Value::Array(items) = value else { return None };
        let [epoch, seq, drop, first, entries] = items.as_slice() else {
            return None;
        };
        let latest = Offset {
            epoch: Epoch(as_u64(epoch)?),
            seq: as_u64(seq)?,
        };
        let drop = match as_bytes(drop)? {
            b"trimmed" => Some(GapReason::Trimmed),
            b"expired" => Some(GapReason::Expired),
            _ => None,
        };
        let first = as_u64(first)?;
        let Value::Array(entries) = entries else {
            return None;
        };
        let mut messages = Vec::with_capacity(entries.len());
        for entry in entries {
            let Value::Array(pair) = entry else { return None };
            let [id, fields] = pair.as_slice() else {
                return None;
            };
            let id = std::str::from_utf8(as_bytes(id)?).ok()?;
            let seq: u64 = id.split_once('-')?.0.parse().ok()?;
            let Value::Array(fields) = fields else { return None };
            let payload = fields
                .chunks(2)
                .find(|kv| kv.len() == 2 && as_bytes(&kv[0]) == Some(b"p"))
                .and_then(|kv| as_bytes(&kv[1]))?;
            let (from, data) = keys::decode_payload(payload)?;
            let data = RawValue::from_string(data.to_owned()).ok()?;
            let offset = Offset {
                epoch: latest.epoch,
                seq,
            };
            messages.push((
                offset,
                Arc::new(Publication::new(topic.clone(), offset, from, data)),
            ));
        }
        Some(HistoryRead {
            latest,
            first,
            drop,
            messages,
        })
    }

    // ---- the subscription connection ---------------------------------------------------

    /// Keeps the node's subscriptions in place: connects, subscribes the node's own
    /// channels and every wanted topic, starts their sequencers, then follows messages
    /// and changes to the wanted set, until the connection drops; then again, with
    /// backoff. After a reconnect every topic is resynced.
    async fn listen(self: Arc<Self>, mut changed: mpsc::UnboundedReceiver<()>) {
        let mut backoff = Duration::from_millis(100);
        let mut connected_before = false;
        loop {
            let why = match self.listen_once(&mut changed, connected_before).await {
                Ok(()) => return, // the hub is gone
                Err(why) => why,
            };
            if lock(&self.health).subscriber.is_none() {
                tracing::warn!(error = %why, "redis: subscription connection lost; reconnecting");
            }
            connected_before |= lock(&self.health).subscriber.is_none();
            {
                let mut h = lock(&self.health);
                h.subscriber = Some(why);
                self.update_up(&h);
            }
            self.metrics
                .errors
                .get_or_create(&ReasonLabel { reason: "subscribe" })
                .inc();
            {
                let mut topics = lock(&self.topics);
                for state in topics.map.values_mut() {
                    state.sequencer.reset();
                    state.live.send_replace(false);
                }
                topics.holes.clear();
            }
            let jitter = rand::random::<f64>() * 0.5 + 0.75;
            tokio::time::sleep(backoff.mul_f64(jitter)).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            if Arc::strong_count(&self) == 1 {
                return;
            }
        }
    }

    async fn listen_once(
        self: &Arc<Self>,
        changed: &mut mpsc::UnboundedReceiver<()>,
        reconnect: bool,
    ) -> Result<(), String> {
        let pubsub = tokio::time::timeout(self.settings.timeout, self.client.get_async_pubsub())
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let (mut sink, mut stream) = pubsub.split();
        let node_channel = self.keys.node(&self.settings.node);
        let cluster_channel = self.keys.cluster();
        tokio::time::timeout(
            self.settings.timeout,
            sink.subscribe(&[node_channel.as_str(), cluster_channel.as_str()]),
        )
        .await
        .map_err(|_| "subscribe timed out".to_owned())?
        .map_err(|e| e.to_string())?;
        // The command connection may still hold a socket from before an outage; the
        // first command on it fails and makes it reconnect. That is this probe's, so
        // that no client's publish is the one to fail once the node says it is healthy.
        self.probe_commands().await?;
        let mut subscribed: HashSet<Topic> = HashSet::new();
        {
            let mut h = lock(&self.health);
            if h.subscriber.take().is_some() && reconnect {
                tracing::info!("redis: subscription connection re-established");
                self.metrics.reconnects.inc();
            }
            h.bad_data_logged = false;
            self.update_up(&h);
        }
        self.sync_topics(&mut sink, &mut subscribed, reconnect).await?;
        loop {
            tokio::select! {
                // Subscription changes first: under a steady stream of messages they would
                // otherwise wait, and sessions waiting to subscribe time out.
                biased;
                wake = changed.recv() => {
                    if wake.is_none() {
                        return Ok(());
                    }
                    while changed.try_recv().is_ok() {}
                    self.sync_topics(&mut sink, &mut subscribed, false).await?;
                }
                message = stream.next() => match message {
                    Some(m) => self.on_message(&m, &node_channel, &cluster_channel),
                    None => return Err("connection closed".into()),
                },
            }
        }
    }

    async fn probe_commands(&self) -> Result<(), String> {
        for manager in [&self.commands, &self.reads] {
            let mut why = None;
            for _ in 0..3 {
                let mut con = manager.clone();
                let ping = redis::cmd("PING");
                match tokio::time::timeout(self.settings.timeout, ping.query_async::<String>(&mut con)).await
                {
                    Ok(Ok(_)) => {
                        why = None;
                        break;
                    }
                    Ok(Err(e)) => why = Some(e.to_string()),
                    Err(_) => why = Some("timed out".into()),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if let Some(why) = why {
                return Err(why);
            }
        }
        // A restarted Redis has forgotten the scripts.
        let mut con = self.commands.clone();
        for script in self.scripts.all() {
            if let Err(e) = script.load_async(&mut con).await {
                return Err(format!("loading a script: {e}"));
            }
        }
        self.command_ok();
        Ok(())
    }

    /// Brings the connection's subscriptions in line with the wanted topics, and starts
    /// the sequencers of those not started (resyncing their subscribers if `resync`).
    async fn sync_topics(
        self: &Arc<Self>,
        sink: &mut redis::aio::PubSubSink,
        subscribed: &mut HashSet<Topic>,
        resync: bool,
    ) -> Result<(), String> {
        let (add, remove, start): (Vec<Topic>, Vec<Topic>, Vec<Topic>) = {
            let topics = lock(&self.topics);
            let add = topics
                .map
                .keys()
                .filter(|t| !subscribed.contains(*t))
                .cloned()
                .collect();
            let remove = subscribed
                .iter()
                .filter(|t| !topics.map.contains_key(*t))
                .cloned()
                .collect();
            let start = topics
                .map
                .iter()
                .filter(|(_, s)| !s.sequencer.started())
                .map(|(t, _)| t.clone())
                .collect();
            (add, remove, start)
        };
        let timeout = self.settings.timeout;
        for chunk in remove.chunks(256) {
            let names: Vec<String> = chunk.iter().map(|t| self.keys.topic(t)).collect();
            tokio::time::timeout(timeout, sink.unsubscribe(&names))
                .await
                .map_err(|_| "unsubscribe timed out".to_owned())?
                .map_err(|e| e.to_string())?;
            for t in chunk {
                subscribed.remove(t);
            }
        }
        for chunk in add.chunks(256) {
            let names: Vec<String> = chunk.iter().map(|t| self.keys.topic(t)).collect();
            tokio::time::timeout(timeout, sink.subscribe(&names))
                .await
                .map_err(|_| "subscribe timed out".to_owned())?
                .map_err(|e| e.to_string())?;
            subscribed.extend(chunk.iter().cloned());
        }
        // Subscribed: what is published from now on arrives, what came before is in
        // history up to the latest read now. Reads run concurrently, pipelined.
        let reads = futures_util::future::join_all(
            start
                .iter()
                .map(|t| async move { (t, self.read_latest(t).await) }),
        )
        .await;
        let now = Instant::now();
        let mut topics = lock(&self.topics);
        for (topic, latest) in reads {
            let latest = latest.map_err(|e| e.to_string())?;
            let Some(state) = topics.map.get_mut(topic) else {
                continue;
            };
            let mut steps = Vec::new();
            if resync {
                steps.push(Step::Resync);
            }
            state.sequencer.start(latest, now, &mut steps);
            state.live.send_replace(true);
            let hole = state.sequencer.has_hole();
            self.run_steps(topic, steps);
            if hole {
                topics.holes.insert(topic.clone());
            }
        }
        Ok(())
    }

    fn on_message(self: &Arc<Self>, m: &redis::Msg, node_channel: &str, cluster_channel: &str) {
        let channel = m.get_channel_name();
        let payload = m.get_payload_bytes();
        if channel == node_channel || channel == cluster_channel {
            match serde_json::from_slice::<Control>(payload) {
                Ok(control) => self.on_control(control),
                Err(_) => self.bad_data("control", "a node message that is not ours"),
            }
            return;
        }
        let Some(topic) = self.keys.topic_of(channel) else {
            return self.bad_data("subscribe", "a message on a channel that is not a topic");
        };
        match keys::parse_live(payload) {
            Some(Live::Message {
                epoch,
                seq,
                from,
                data,
            }) => {
                let offset = Offset {
                    epoch: Epoch(epoch),
                    seq,
                };
                let wanted = lock(&self.topics)
                    .map
                    .get(&topic)
                    .is_some_and(|s| !s.sequencer.seen(offset));
                if !wanted {
                    return;
                }
                let Ok(data) = RawValue::from_string(data.to_owned()) else {
                    return self.bad_data("subscribe", "a message whose data is not JSON");
                };
                self.offer(Arc::new(Publication::new(topic, offset, from, data)));
            }
            Some(Live::Presence { user, joined }) => {
                if let (Topic::Channel(c), Some(events)) = (&topic, self.events.get()) {
                    events.presence(c, user, joined);
                }
            }
            None => self.bad_data("subscribe", "a live message in an unknown format"),
        }
    }

    fn on_control(self: &Arc<Self>, control: Control) {
        let Some(events) = self.events.get() else { return };
        match control {
            Control::Disconnect { from, user, code } => {
                if from != self.settings.node {
                    events.disconnect(&user, code);
                }
            }
            Control::Request { from, id, request } => {
                let events = events.clone();
                let this = Arc::downgrade(self);
                tokio::spawn(async move {
                    let reply = events.forwarded(request).await;
                    let Some(this) = this.upgrade() else { return };
                    let message = Control::Reply { id, reply };
                    let _ = this.publish_control(&this.keys.node(&from), &message).await;
                });
            }
            Control::Reply { id, reply } => {
                if let Some(waiting) = lock(&self.requests).remove(&id) {
                    let _ = waiting.send(reply);
                }
            }
        }
    }

    /// Publishes a node message; how many nodes received it.
    async fn publish_control(&self, channel: &str, message: &Control) -> Result<u64, BrokerError> {
        let text = serde_json::to_string(message).expect("control messages serialize");
        let mut con = self.commands.clone();
        self.run("control", async {
            redis::cmd("PUBLISH")
                .arg(channel)
                .arg(text)
                .query_async::<u64>(&mut con)
                .await
        })
        .await
    }

    // ---- presence --------------------------------------------------------------------

    /// Until when this node counts as alive if its next heartbeat does not come.
    fn heartbeat_expiry(&self) -> u64 {
        now_ms() + self.settings.presence_ttl.as_millis() as u64
    }

    /// Adds this node's entry for `user` in `channel`; whether the user joined (had no
    /// entry on any node).
    async fn join(&self, channel: &str, user: &str) -> Result<bool, BrokerError> {
        let (by_user, by_node) = self.keys.presence(channel);
        let node = &self.settings.node;
        let mut con = self.commands.clone();
        let joined: i64 = self
            .run("presence", async {
                self.scripts
                    .join
                    .key(by_user)
                    .key(by_node)
                    .key(self.keys.node_channels(node))
                    .key(self.keys.nodes())
                    .arg(channel)
                    .arg(user)
                    .arg(node)
                    .arg(self.heartbeat_expiry())
                    .arg(self.keys.topic(&Topic::channel(channel)))
                    .invoke_async(&mut con)
                    .await
            })
            .await?;
        Ok(joined == 1)
    }

    async fn leave(&self, channel: &str, user: &str) -> Result<(), BrokerError> {
        let (by_user, by_node) = self.keys.presence(channel);
        let node = &self.settings.node;
        let mut con = self.commands.clone();
        self.run("presence", async {
            self.scripts
                .leave
                .key(by_user)
                .key(by_node)
                .key(self.keys.node_channels(node))
                .arg(channel)
                .arg(user)
                .arg(node)
                .arg(self.keys.topic(&Topic::channel(channel)))
                .invoke_async::<i64>(&mut con)
                .await
        })
        .await
        .map(|_| ())
    }

    /// Users whose grace ran out on this node leave.
    async fn sweep_local(&self) {
        let gone = lock(&self.presence).expire(Instant::now());
        for (channel, user) in gone {
            // If Redis is away the entry goes with the next sweep of this node, or lapses
            // with its heartbeat.
            let _ = self.leave(&channel, &user).await;
        }
    }

    /// Renews this node's heartbeat (one write, however many users it has), and puts its
    /// entries back if it had been taken for dead.
    async fn heartbeat(&self) {
        let mut con = self.commands.clone();
        let forgotten: Result<i64, _> = self
            .run("presence", async {
                self.scripts
                    .heartbeat
                    .key(self.keys.nodes())
                    .arg(&self.settings.node)
                    .arg(self.heartbeat_expiry())
                    .invoke_async(&mut con)
                    .await
            })
            .await;
        match forgotten {
            Err(_) => {}
            Ok(1) => {
                // Not listed: Redis lost its data, or this node was silent past the TTL
                // and the others swept it. Its users are still here.
                let entries = lock(&self.presence).entries();
                if !entries.is_empty() {
                    tracing::info!(
                        entries = entries.len(),
                        "redis: this node's presence was gone; adding it again"
                    );
                }
                for (channel, user) in entries {
                    if self.join(&channel, &user).await.is_err() {
                        return;
                    }
                }
            }
            Ok(_) => {}
        }
    }

    /// Removes the presence entries of nodes whose heartbeat lapsed (a crash, or a node
    /// that stopped and handed over): one small read when every node is alive.
    async fn sweep_nodes(&self) {
        for _ in 0..100 {
            let mut con = self.commands.clone();
            let more: Result<i64, _> = self
                .run("presence", async {
                    self.scripts
                        .sweep
                        .key(self.keys.nodes())
                        .arg(&self.settings.key_prefix)
                        .arg(now_ms())
                        .arg(1000)
                        .invoke_async(&mut con)
                        .await
                })
                .await;
            if !matches!(more, Ok(1)) {
                break;
            }
        }
    }

    /// Extends the meta hashes (epoch and latest offset) of the topics this node has
    /// subscribers for, so that a quiet topic keeps its epoch while anyone listens.
    async fn refresh_meta(&self) {
        let mut pipe = redis::pipe();
        for topic in lock(&self.topics).map.keys() {
            pipe.pexpire(self.keys.meta(topic), self.meta_ttl_ms() as i64)
                .ignore();
        }
        if pipe.is_empty() {
            return;
        }
        let mut con = self.commands.clone();
        let _ = self
            .run("refresh", async { pipe.query_async::<()>(&mut con).await })
            .await;
    }

    async fn maintain(this: Weak<Self>) {
        let mut holes = tokio::time::interval(REORDER_WINDOW / 5);
        holes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_sweep = Instant::now();
        let mut last_heartbeat: Option<Instant> = None;
        let mut last_meta = Instant::now();
        loop {
            holes.tick().await;
            let Some(broker) = this.upgrade() else { return };
            broker.expire_holes();
            let now = Instant::now();
            if now.duration_since(last_sweep) >= Duration::from_secs(1) {
                last_sweep = now;
                broker.sweep_local().await;
                broker.sweep_nodes().await;
            }
            let every = broker.settings.presence_ttl / 3;
            if last_heartbeat.is_none_or(|t| now.duration_since(t) >= every) {
                last_heartbeat = Some(now);
                broker.heartbeat().await;
            }
            if now.duration_since(last_meta) >= META_GRACE / 6 {
                last_meta = now;
                broker.refresh_meta().await;
            }
        }
    }
}

impl Broker for RedisBroker {
    fn publish<'a>(
        &'a self,
        topic: &'a Topic,
        from: Option<Arc<str>>,
        data: Box<RawValue>,
        idempotency_key: Option<&'a str>,
        _deliver: &'a (dyn Fn(&Arc<Publication>) + Send + Sync),
    ) -> BrokerFuture<'a, Published> {
        Box::pin(async move {
            let payload = keys::encode_payload(from.as_deref(), data.get());
            let idempotency = match idempotency_key {
                Some(k) => self.keys.idempotency(topic, k),
                None => self.keys.topic(topic) + ":k:",
            };
            let mut con = self.commands.clone();
            let reply: Value = self
                .run("publish", async {
                    self.scripts
                        .publish
                        .key(self.keys.meta(topic))
                        .key(self.keys.stream(topic))
                        .key(idempotency)
                        .arg(Epoch::random().0.to_string())
                        .arg(&payload)
                        .arg(self.settings.history.max_messages)
                        .arg(self.settings.history.ttl.as_millis() as u64)
                        .arg(self.meta_ttl_ms())
                        .arg(self.keys.topic(topic))
                        .arg(if idempotency_key.is_some() { "1" } else { "0" })
                        .arg(self.settings.idempotency_window.as_millis() as u64)
                        .invoke_async(&mut con)
                        .await
                })
                .await?;
            let parsed = match &reply {
                Value::Array(items) => match items.as_slice() {
                    [fresh, epoch, seq] if as_u64(fresh) == Some(1) => {
                        as_u64(epoch).zip(as_u64(seq)).map(|(e, s)| (false, e, s))
                    }
                    [fresh, first] if as_u64(fresh) == Some(0) => as_bytes(first)
                        .and_then(|b| std::str::from_utf8(b).ok())
                        .and_then(|s| s.split_once(' '))
                        .and_then(|(e, s)| Some((true, e.parse().ok()?, s.parse().ok()?))),
                    _ => None,
                },
                _ => None,
            };
            let Some((duplicate, epoch, seq)) = parsed else {
                self.bad_data("publish", "publish reply");
                return Err(unexpected("publish"));
            };
            let offset = Offset {
                epoch: Epoch(epoch),
                seq,
            };
            let publication = Arc::new(Publication::new(topic.clone(), offset, from, data));
            if !duplicate {
                self.offer(publication.clone());
            }
            Ok(Published {
                publication,
                duplicate,
            })
        })
    }

    fn replay<'a>(
        &'a self,
        topic: &'a Topic,
        since: Option<Offset>,
    ) -> BrokerFuture<'a, Replay<Arc<Publication>>> {
        Box::pin(async move {
            let read = self.read(topic, since.as_ref(), false).await?;
            let (gap, after) = crate::history::recovery(read.latest, read.first, read.drop, since.as_ref());
            let messages = read.messages.into_iter().filter(|(o, _)| o.seq > after).collect();
            Ok(Replay {
                gap,
                messages,
                latest: read.latest,
            })
        })
    }

    fn latest<'a>(&'a self, topic: &'a Topic) -> BrokerFuture<'a, Offset> {
        Box::pin(self.read_latest(topic))
    }

    fn presence_add<'a>(
        &'a self,
        channel: &'a str,
        user: &'a str,
        conn: u64,
    ) -> BrokerFuture<'a, PresenceChange> {
        Box::pin(async move {
            if !lock(&self.presence).add(channel, user, conn) {
                return Ok(PresenceChange::Unchanged);
            }
            Ok(if self.join(channel, user).await? {
                PresenceChange::Joined
            } else {
                PresenceChange::Unchanged
            })
        })
    }

    fn presence_remove<'a>(&'a self, channel: &'a str, user: &'a str, conn: u64) -> BrokerFuture<'a, ()> {
        Box::pin(async move {
            lock(&self.presence).remove(channel, user, conn, self.settings.presence_grace);
            Ok(())
        })
    }

    fn presence_list<'a>(&'a self, channel: &'a str) -> BrokerFuture<'a, Vec<String>> {
        Box::pin(async move {
            let (by_user, _) = self.keys.presence(channel);
            let mut con = self.commands.clone();
            self.run("presence", async {
                self.scripts
                    .list
                    .key(by_user)
                    .key(self.keys.nodes())
                    .arg(now_ms())
                    .invoke_async(&mut con)
                    .await
            })
            .await
        })
    }

    fn subscribe<'a>(&'a self, topic: &'a Topic) -> BrokerFuture<'a, ()> {
        Box::pin(async move {
            let mut live = {
                let mut topics = lock(&self.topics);
                let state = topics.map.entry(topic.clone()).or_insert_with(|| {
                    let _ = self.changed.send(());
                    TopicState {
                        refs: 0,
                        live: watch::channel(false).0,
                        sequencer: Sequencer::default(),
                    }
                });
                state.refs += 1;
                state.live.subscribe()
            };
            // Subscriptions are set up one batch after another on one connection: under a
            // reconnection storm one waits behind many, longer than a single operation.
            let patience = self.settings.timeout * 5;
            match tokio::time::timeout(patience, live.wait_for(|up| *up)).await {
                Ok(Ok(_)) => Ok(()),
                _ => {
                    self.unsubscribe(topic);
                    let why = lock(&self.health)
                        .subscriber
                        .clone()
                        .unwrap_or_else(|| "subscribing timed out".into());
                    Err(BrokerError::Unavailable(format!("redis: {why}")))
                }
            }
        })
    }

    fn unsubscribe(&self, topic: &Topic) {
        let mut topics = lock(&self.topics);
        if let Some(state) = topics.map.get_mut(topic) {
            state.refs -= 1;
            if state.refs == 0 {
                topics.map.remove(topic);
                topics.holes.remove(topic);
                let _ = self.changed.send(());
            }
        }
    }

    fn disconnect_elsewhere<'a>(&'a self, user: &'a str, code: u16) -> BrokerFuture<'a, ()> {
        Box::pin(async move {
            let message = Control::Disconnect {
                from: self.settings.node.clone(),
                user: user.to_owned(),
                code,
            };
            self.publish_control(&self.keys.cluster(), &message)
                .await
                .map(|_| ())
        })
    }

    fn forward<'a>(&'a self, node: &'a str, request: Forwarded) -> BrokerFuture<'a, Option<ForwardedReply>> {
        Box::pin(async move {
            let id = self.next_request.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            lock(&self.requests).insert(id, tx);
            let message = Control::Request {
                from: self.settings.node.clone(),
                id,
                request,
            };
            let received = self.publish_control(&self.keys.node(node), &message).await;
            if !matches!(received, Ok(n) if n > 0) {
                lock(&self.requests).remove(&id);
                return received.map(|_| None);
            }
            match tokio::time::timeout(self.settings.forward_timeout, rx).await {
                Ok(Ok(reply)) => Ok(Some(reply)),
                _ => {
                    lock(&self.requests).remove(&id);
                    Err(BrokerError::Unavailable(format!("node {node} did not answer")))
                }
            }
        })
    }

    fn shutdown(&self) -> BrokerFuture<'_, ()> {
        Box::pin(async move {
            // Dead after the presence grace, not at once: users moving to another node
            // within it do not leave and join again.
            let until = now_ms() + self.settings.presence_grace.as_millis() as u64;
            let mut con = self.commands.clone();
            self.run("presence", async {
                self.scripts
                    .heartbeat
                    .key(self.keys.nodes())
                    .arg(&self.settings.node)
                    .arg(until)
                    .invoke_async::<i64>(&mut con)
                    .await
            })
            .await
            .map(|_| ())
        })
    }

    fn health(&self) -> Option<String> {
        let h = lock(&self.health);
        h.subscriber
            .as_ref()
            .or(h.commands.as_ref())
            .map(|why| format!("redis unreachable: {why}"))
    }

    fn start(self: Arc<Self>, events: Arc<dyn BrokerEvents>) -> tokio::task::JoinHandle<()> {
        let _ = self.events.set(events);
        let changed = lock(&self.changed_rx).take();
        let maintain = tokio::spawn(Self::maintain(Arc::downgrade(&self)));
        let this = Arc::downgrade(&self);
        drop(self);
        tokio::spawn(async move {
            let _stop_with_me = AbortOnDrop(maintain);
            let (Some(broker), Some(changed)) = (this.upgrade(), changed) else {
                return;
            };
            // The listener holds the broker only while it runs; it ends when the hub
            // drops this task.
            broker.listen(changed).await;
        })
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
