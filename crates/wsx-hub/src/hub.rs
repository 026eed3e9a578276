//! The hub: the node's shared state, and the operations every transport and the HTTP API
//! use — publish to a channel, send to users, presence, history, disconnect.

use crate::auth::{Authenticator, Identity, Patterns};
use crate::broker::{
    Broker, BrokerError, BrokerEvents, Forwarded, ForwardedReply, MemoryBroker, Published, RedisBroker,
    RedisSettings,
};
use crate::config::Config;
use crate::history::{HistoryLimits, Replay};
use crate::mailbox::{Delivery, Mailbox};
use crate::metrics::Metrics;
use crate::offset::Offset;
use crate::protocol;
use crate::router::Router;
use crate::session::fallback::FallbackHandle;
use crate::topic::{Publication, Topic};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use wsx::{Message, PreparedMessage};

/// The hub could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The JWT key could not be loaded.
    #[error(transparent)]
    Key(#[from] crate::auth::KeyError),
    /// The broker named in the configuration cannot be used (a malformed URL).
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
}

/// Why a new session was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Over `max_connections_per_user` (HTTP 429).
    TooManyForUser,
    /// Over `max_connections` (HTTP 503).
    Full,
    /// Shutting down (HTTP 503).
    ShuttingDown,
}

/// What the registry knows of one session.
struct SessionEntry {
    user: Arc<str>,
    mailbox: Arc<Mailbox>,
}

/// Every live session on this node: by id, by user (for `send`, disconnect and the
/// per-user limit), and the fallback sessions by their public id (for `/poll` and
/// `/emulation`).
#[derive(Default)]
struct Sessions {
    by_id: HashMap<u64, SessionEntry>,
    by_user: HashMap<Arc<str>, usize>,
    fallback: HashMap<Arc<str>, Arc<FallbackHandle>>,
}

/// The node's shared state.
pub(crate) struct HubInner {
    pub(crate) config: Config,
    /// This node's id: the prefix of its session ids, so that another node of a cluster
    /// knows where to forward a request for one.
    pub(crate) node: Arc<str>,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) router: Router,
    pub(crate) metrics: Metrics,
    pub(crate) auth: Authenticator,
    presence_events: Patterns,
    /// WebSocket settings, shared by every connection rather than copied into each.
    pub(crate) upgrader: wsx::hyper::Upgrader,
    sessions: Mutex<Sessions>,
    next_id: AtomicU64,
    shutting_down: AtomicBool,
    broker_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A handle on the hub; clones share it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let hub = wsx_hub::Hub::new(wsx_hub::Config::default()).unwrap();
/// let data = serde_json::value::RawValue::from_string("\"hello\"".into()).unwrap();
/// let published = hub.publish("news", None, data, None).await.unwrap();
/// assert_eq!(published.publication.offset.seq, 1);
/// # }
/// ```
#[derive(Clone)]
pub struct Hub(pub(crate) Arc<HubInner>);

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("listen", &self.0.config.listen)
            .field("broker", &self.0.config.broker)
            .finish_non_exhaustive()
    }
}

/// Reports the broker's unrequested events to the hub.
struct Events(Weak<HubInner>);

impl BrokerEvents for Events {
    fn deliver(&self, publication: Arc<Publication>) {
        if let Some(hub) = self.0.upgrade() {
            hub.deliver_local(&publication);
        }
    }

    fn presence(&self, channel: &str, user: &str, joined: bool) {
        let Some(hub) = self.0.upgrade() else { return };
        if hub.presence_events.matches(channel) {
            let event = PreparedMessage::new(Message::text(protocol::presence_event(channel, joined, user)));
            hub.router
                .deliver(&Topic::channel(channel), &Delivery::Event(event));
        }
    }

    fn resync(&self, topic: &Topic) {
        if let Some(hub) = self.0.upgrade() {
            hub.router.resync(topic);
        }
    }

    fn disconnect(&self, user: &str, code: u16) {
        if let Some(hub) = self.0.upgrade() {
            hub.disconnect_user(user, code, "disconnected by the server");
        }
    }

    fn forwarded(
        &self,
        request: Forwarded,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ForwardedReply> + Send>> {
        let hub = self.0.upgrade();
        Box::pin(async move {
            match hub {
                Some(hub) => crate::connect::forwarded(&Hub(hub), request).await,
                None => ForwardedReply {
                    status: 503,
                    headers: Vec::new(),
                    body: "shutting down".into(),
                },
            }
        })
    }
}

/// A random node id: 48 bits, URL-safe, with no `.` (which ends it in a session id).
fn new_node_id() -> Arc<str> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(rand::random::<[u8; 6]>())
        .into()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    /// A hub with this configuration (validated). Must be called inside a tokio runtime:
    /// it starts the broker's background work.
    pub fn new(config: Config) -> Result<Hub, HubError> {
        config.validate()?;
        let auth = Authenticator::from_config(&config)?;
        let node = new_node_id();
        let metrics = Metrics::default();
        let history = HistoryLimits {
            max_messages: config.history_size,
            ttl: Duration::from_secs(config.history_ttl),
        };
        let broker: Arc<dyn Broker> = if config.broker == "memory" {
            Arc::new(MemoryBroker::new(
                history,
                Duration::from_secs(config.idempotency_window),
                Duration::from_secs(config.presence_grace),
            ))
        } else {
            let mut settings = RedisSettings::new(&config.broker, &node);
            settings.password = config.redis_password.clone();
            if let Some(path) = &config.redis_ca_cert {
                let pem = std::fs::read(path).map_err(|e| {
                    BrokerError::Unavailable(format!("cannot read redis_ca_cert {}: {e}", path.display()))
                })?;
                settings.ca_cert = Some(pem);
            }
            settings.key_prefix = config.redis_key_prefix.clone();
            settings.timeout = Duration::from_millis(config.redis_timeout_ms);
            settings.presence_ttl = Duration::from_secs(config.cluster_presence_ttl);
            settings.forward_timeout = Duration::from_secs(config.poll_timeout + 10);
            settings.history = history;
            settings.idempotency_window = Duration::from_secs(config.idempotency_window);
            settings.presence_grace = Duration::from_secs(config.presence_grace);
            Arc::new(RedisBroker::new(settings, metrics.broker.clone())?)
        };
        let inner = Arc::new(HubInner {
            node,
            presence_events: Patterns::new(config.presence_events.clone()),
            upgrader: wsx::hyper::Upgrader::new(&crate::session::websocket::WsTransport::config(&config)),
            config,
            broker: broker.clone(),
            router: Router::default(),
            metrics,
            auth,
            sessions: Mutex::new(Sessions::default()),
            next_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            broker_task: Mutex::new(None),
        });
        let task = broker.start(Arc::new(Events(Arc::downgrade(&inner))));
        *lock(&inner.broker_task) = Some(task);
        Ok(Hub(inner))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// Publishes `data` to `channel` (`from`: the publishing user, `None` from the API).
    /// Subscribers on this node get it before this returns (in cluster mode: unless an
    /// earlier message of the channel, published elsewhere, is still on its way to this
    /// node; it then follows that one).
    pub async fn publish(
        &self,
        channel: &str,
        from: Option<Arc<str>>,
        data: Box<RawValue>,
        idempotency_key: Option<&str>,
    ) -> Result<Published, BrokerError> {
        self.0
            .publish(&Topic::channel(channel), from, data, idempotency_key)
            .await
    }

    /// Sends `data` to every connection of the users `to` (each user's inbox), and
    /// nobody else. Returns each recipient's inbox offset.
    pub async fn send(
        &self,
        to: &[String],
        from: Option<Arc<str>>,
        data: &RawValue,
        idempotency_key: Option<&str>,
    ) -> Result<BTreeMap<String, Offset>, BrokerError> {
        self.0.send(to, from, data, idempotency_key).await
    }

    /// The users present in `channel`.
    pub async fn presence(&self, channel: &str) -> Result<Vec<String>, BrokerError> {
        self.0.broker.presence_list(channel).await
    }

    /// What `channel`'s history holds after `since` (everything, without it).
    pub async fn history(
        &self,
        channel: &str,
        since: Option<Offset>,
    ) -> Result<Replay<Arc<Publication>>, BrokerError> {
        self.0.broker.replay(&Topic::channel(channel), since).await
    }

    /// Closes every session of `user` (code 4002), on every node of a cluster; returns
    /// how many were on this node. An error means the other nodes could not be told.
    pub async fn disconnect(&self, user: &str) -> Result<usize, BrokerError> {
        let here = self.0.disconnect_user(user, 4002, "disconnected by the server");
        self.0.broker.disconnect_elsewhere(user, 4002).await?;
        Ok(here)
    }

    /// The Prometheus metrics text.
    pub fn metrics_text(&self) -> String {
        self.0
            .metrics
            .subscriptions
            .set(self.0.router.subscriptions() as i64);
        self.0.metrics.encode()
    }

    /// `None` when healthy, else the reason (for `/healthz`).
    pub fn health(&self) -> Option<String> {
        if self.0.shutting_down.load(Ordering::Relaxed) {
            return Some("shutting down".into());
        }
        self.0.broker.health()
    }

    /// Sessions on this node.
    pub fn sessions(&self) -> usize {
        lock(&self.0.sessions).by_id.len()
    }

    /// Stops admitting sessions and closes every open one with 1001, in batches of
    /// `batch` every `pace` so that clients do not all reconnect at once.
    pub async fn shutdown(&self, batch: usize, pace: Duration) {
        self.0.shutting_down.store(true, Ordering::Relaxed);
        let mailboxes: Vec<Arc<Mailbox>> = lock(&self.0.sessions)
            .by_id
            .values()
            .map(|e| e.mailbox.clone())
            .collect();
        for (i, chunk) in mailboxes.chunks(batch.max(1)).enumerate() {
            if i > 0 {
                tokio::time::sleep(pace).await;
            }
            for m in chunk {
                m.push(Delivery::Disconnect {
                    code: 1001,
                    reason: "server shutting down",
                });
            }
        }
    }
}

impl HubInner {
    pub(crate) async fn publish(
        &self,
        topic: &Topic,
        from: Option<Arc<str>>,
        data: Box<RawValue>,
        idempotency_key: Option<&str>,
    ) -> Result<Published, BrokerError> {
        let deliver = |p: &Arc<Publication>| self.deliver_local(p);
        let published = self
            .broker
            .publish(topic, from, data, idempotency_key, &deliver)
            .await?;
        if !published.duplicate {
            self.metrics.published.inc();
        }
        Ok(published)
    }

    pub(crate) async fn send(
        &self,
        to: &[String],
        from: Option<Arc<str>>,
        data: &RawValue,
        idempotency_key: Option<&str>,
    ) -> Result<BTreeMap<String, Offset>, BrokerError> {
        let mut offsets = BTreeMap::new();
        for user in to {
            if offsets.contains_key(user) {
                continue;
            }
            let data = data.to_owned();
            let published = self
                .publish(&Topic::inbox(user), from.clone(), data, idempotency_key)
                .await?;
            offsets.insert(user.clone(), published.publication.offset);
        }
        Ok(offsets)
    }

    /// Hands a publication to this node's subscribers of its topic.
    pub(crate) fn deliver_local(&self, publication: &Arc<Publication>) {
        let (_, dropped) = self.router.deliver_publication(publication);
        if dropped > 0 {
            self.metrics.dropped.inc_by(dropped as u64);
        }
    }

    /// Admits a new session of `identity`; its id, or why not.
    pub(crate) fn admit(&self, identity: &Identity, mailbox: &Arc<Mailbox>) -> Result<u64, Admission> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err(Admission::ShuttingDown);
        }
        let mut s = lock(&self.sessions);
        if s.by_id.len() >= self.config.max_connections {
            return Err(Admission::Full);
        }
        let count = s.by_user.entry(identity.user.clone()).or_default();
        if *count >= self.config.max_connections_per_user {
            return Err(Admission::TooManyForUser);
        }
        *count += 1;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        s.by_id.insert(
            id,
            SessionEntry {
                user: identity.user.clone(),
                mailbox: mailbox.clone(),
            },
        );
        Ok(id)
    }

    /// Forgets a session.
    pub(crate) fn leave(&self, id: u64) {
        let mut s = lock(&self.sessions);
        if let Some(entry) = s.by_id.remove(&id)
            && let Some(count) = s.by_user.get_mut(&entry.user)
        {
            *count -= 1;
            if *count == 0 {
                s.by_user.remove(&entry.user);
            }
        }
    }

    pub(crate) fn disconnect_user(&self, user: &str, code: u16, reason: &'static str) -> usize {
        let s = lock(&self.sessions);
        let mut n = 0;
        for entry in s.by_id.values().filter(|e| &*e.user == user) {
            entry.mailbox.push(Delivery::Disconnect { code, reason });
            n += 1;
        }
        n
    }

    pub(crate) fn register_fallback(&self, sid: Arc<str>, handle: Arc<FallbackHandle>) {
        lock(&self.sessions).fallback.insert(sid, handle);
    }

    pub(crate) fn unregister_fallback(&self, sid: &str) {
        lock(&self.sessions).fallback.remove(sid);
    }

    pub(crate) fn fallback(&self, sid: &str) -> Option<Arc<FallbackHandle>> {
        lock(&self.sessions).fallback.get(sid).cloned()
    }
}

impl Drop for HubInner {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.broker_task).take() {
            task.abort();
        }
    }
}
