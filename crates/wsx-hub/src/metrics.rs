//! What `GET /metrics` reports, in the Prometheus text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A transport label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TransportLabel {
    /// `websocket`, `sse` or `poll`.
    pub transport: &'static str,
}

/// A result label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResultLabel {
    /// What happened.
    pub result: &'static str,
}

/// A reason label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Why.
    pub reason: &'static str,
}

/// A close code label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CodeLabel {
    /// The WebSocket close code (or, for fallback transports, the same code the session
    /// ended with).
    pub code: u16,
}

/// The hub's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Open sessions by transport.
    pub connections: Family<TransportLabel, Gauge>,
    /// Subscriptions on this node (inboxes included).
    pub subscriptions: Gauge,
    /// Messages published (channels and inboxes).
    pub published: Counter,
    /// Messages handed to a client's transport.
    pub delivered: Counter,
    /// Publish to hand-off to the transport, in seconds.
    pub delivery_latency: Histogram,
    /// Subscriptions with `since`: `complete` or `gap`.
    pub recover: Family<ResultLabel, Counter>,
    /// Gaps sent, by reason.
    pub gaps: Family<ReasonLabel, Counter>,
    /// Deliveries dropped because a session's queue was full.
    pub dropped: Counter,
    /// Sessions closed for not taking their messages (4008).
    pub slow_consumers: Counter,
    /// Sessions ended, by close code.
    pub disconnects: Family<CodeLabel, Counter>,
    /// Refused connections and handshakes, by reason.
    pub refused: Family<ReasonLabel, Counter>,
    /// The broker's connection to its backing service (cluster mode).
    pub broker: BrokerMetrics,
}

/// How the broker's link to Redis fares; the in-memory broker leaves these at rest
/// (`wsx_broker_up` 1).
#[derive(Debug, Clone, Default)]
pub struct BrokerMetrics {
    /// 1 while the broker can reach its backing service, else 0.
    pub up: Gauge,
    /// Failed broker operations, by operation (`publish`, `read`, `subscribe`, …).
    pub errors: Family<ReasonLabel, Counter>,
    /// Times the broker's subscription connection was re-established.
    pub reconnects: Counter,
    /// Topics resynced from history (a lost connection, or a hole in the live sequence).
    pub resyncs: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wsx");
        let connections = Family::<TransportLabel, Gauge>::default();
        registry.register("connections", "Open sessions by transport", connections.clone());
        let subscriptions = Gauge::default();
        registry.register(
            "subscriptions",
            "Subscriptions on this node, inboxes included",
            subscriptions.clone(),
        );
        let published = Counter::default();
        registry.register("published", "Messages published", published.clone());
        let delivered = Counter::default();
        registry.register(
            "delivered",
            "Messages handed to a client's transport",
            delivered.clone(),
        );
        let delivery_latency = Histogram::new([
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        ]);
        registry.register(
            "delivery_latency_seconds",
            "From publish to the hand-off to a client's transport",
            delivery_latency.clone(),
        );
        let recover = Family::<ResultLabel, Counter>::default();
        registry.register("recover", "Subscriptions with since, by result", recover.clone());
        let gaps = Family::<ReasonLabel, Counter>::default();
        registry.register("gap", "Gaps sent, by reason", gaps.clone());
        let dropped = Counter::default();
        registry.register(
            "dropped",
            "Deliveries dropped from full session queues",
            dropped.clone(),
        );
        let slow_consumers = Counter::default();
        registry.register(
            "slow_consumer",
            "Sessions closed for not taking their messages",
            slow_consumers.clone(),
        );
        let disconnects = Family::<CodeLabel, Counter>::default();
        registry.register(
            "disconnects",
            "Sessions ended, by close code",
            disconnects.clone(),
        );
        let refused = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "refused",
            "Refused connections and handshakes, by reason",
            refused.clone(),
        );
        let broker = BrokerMetrics::default();
        broker.up.set(1);
        registry.register(
            "broker_up",
            "1 while the broker reaches its backing service",
            broker.up.clone(),
        );
        registry.register(
            "broker_errors",
            "Failed broker operations, by operation",
            broker.errors.clone(),
        );
        registry.register(
            "broker_reconnects",
            "Times the broker's subscription connection was re-established",
            broker.reconnects.clone(),
        );
        registry.register(
            "broker_resyncs",
            "Topics resynced from history after a lost connection or a hole in the live sequence",
            broker.resyncs.clone(),
        );
        Metrics {
            registry,
            broker,
            connections,
            subscriptions,
            published,
            delivered,
            delivery_latency,
            recover,
            gaps,
            dropped,
            slow_consumers,
            disconnects,
            refused,
        }
    }
}

impl Metrics {
    /// Everything, in the Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }

    /// Counts a refusal.
    pub fn refuse(&self, reason: &'static str) {
        self.refused.get_or_create(&ReasonLabel { reason }).inc();
    }
}
