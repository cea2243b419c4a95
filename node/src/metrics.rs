//! The node's metrics (Prometheus text format through `prometheus-client`): peers,
//! waiting visitors per service, how long calls made elsewhere took to arrive, the
//! store's size, the printer's state and the wall clock against the peers'.

use std::sync::Mutex;
use std::time::Duration;

use aufruf_hardware::TicketPrinter;
use aufruf_office::Observer;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabel {
    service: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

/// The node's registry and the metrics in it.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    peers: Gauge,
    waiting: Family<ServiceLabel, Gauge>,
    call_latency: Histogram,
    store_bytes: Gauge,
    printer: Family<StateLabel, Gauge>,
    clock_skew: Gauge,
    clock_ahead: Gauge,
    refused: Family<ReasonLabel, prometheus_client::metrics::counter::Counter>,
    heap: Family<StateLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let peers = Gauge::default();
        let waiting = Family::<ServiceLabel, Gauge>::default();
        let call_latency = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
        ]);
        let store_bytes = Gauge::default();
        let printer = Family::<StateLabel, Gauge>::default();
        let clock_skew = Gauge::default();
        let clock_ahead = Gauge::default();
        let refused = Family::default();
        let heap = Family::default();
        let mut registry = Registry::default();
        registry.register(
            "aufruf_heap_bytes",
            "The allocator's figures: allocated (what the node holds), active (its pages in use), resident (all it keeps from the system)",
            heap.clone(),
        );
        registry.register(
            "aufruf_entries_refused",
            "Entries of day documents that do not count: unsealed, forged, revoked, or beyond their author's role",
            refused.clone(),
        );
        registry.register(
            "aufruf_peers_connected",
            "Office peers with a live session",
            peers.clone(),
        );
        registry.register(
            "aufruf_tickets_waiting",
            "Tickets waiting, per service",
            waiting.clone(),
        );
        registry.register(
            "aufruf_call_to_replica_seconds",
            "From a call at another desk to this replica",
            call_latency.clone(),
        );
        registry.register(
            "aufruf_store_bytes",
            "Size of the local store on disk",
            store_bytes.clone(),
        );
        registry.register(
            "aufruf_printer",
            "Printer state (1 = true)",
            printer.clone(),
        );
        registry.register(
            "aufruf_clock_skew",
            "1 while this node's wall clock is more than the office's bound off most of its peers' (it issues and calls nothing then)",
            clock_skew.clone(),
        );
        registry.register(
            "aufruf_clock_ahead_seconds",
            "How far this node's wall clock is ahead of its peers' median (negative: behind)",
            clock_ahead.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            peers,
            waiting,
            call_latency,
            store_bytes,
            printer,
            clock_skew,
            clock_ahead,
            refused,
            heap,
        }
    }

    /// Sets the gauges that are read when scraped, and encodes everything.
    pub fn scrape(&self, now: Scrape<'_>) -> String {
        self.peers.set(i64::try_from(now.peers).unwrap_or(i64::MAX));
        for (service, n) in now.waiting {
            self.waiting
                .get_or_create(&ServiceLabel {
                    service: service.clone(),
                })
                .set(i64::from(n));
        }
        self.store_bytes
            .set(i64::try_from(now.store_bytes).unwrap_or(i64::MAX));
        self.clock_skew.set(i64::from(now.clock.is_wrong()));
        self.clock_ahead.set(now.clock.ahead_ms.unwrap_or(0) / 1000);
        if let Some(printer) = now.printer {
            for (state, value) in printer.status().gauges() {
                self.printer
                    .get_or_create(&StateLabel {
                        state: state.to_owned(),
                    })
                    .set(i64::from(value));
            }
        }
        for (state, bytes) in heap_figures() {
            self.heap
                .get_or_create(&StateLabel {
                    state: state.to_owned(),
                })
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = encode(&mut text, &registry) {
            tracing::error!(error = %e, "metrics not encoded");
        }
        text
    }
}

/// jemalloc's own figures (the `aufruf` binary allocates with it): what is allocated,
/// in active pages, and resident. Where the node's memory goes: live data, or pages the
/// allocator keeps. None if the allocator does not say (another allocator, in tests).
#[cfg(not(windows))]
fn heap_figures() -> Vec<(&'static str, usize)> {
    use tikv_jemalloc_ctl::{epoch, stats};
    // The figures are cached until the epoch advances.
    if epoch::advance().is_err() {
        return Vec::new();
    }
    [
        ("allocated", stats::allocated::read()),
        ("active", stats::active::read()),
        ("resident", stats::resident::read()),
    ]
    .into_iter()
    .filter_map(|(name, read)| Some((name, read.ok()?)))
    .filter(|(_, bytes)| *bytes > 0)
    .collect()
}

#[cfg(windows)]
fn heap_figures() -> Vec<(&'static str, usize)> {
    Vec::new()
}

/// What is read from the node at scrape time.
#[derive(Debug)]
pub struct Scrape<'a> {
    pub peers: usize,
    /// Every configured service with its waiting count.
    pub waiting: Vec<(String, u32)>,
    pub store_bytes: u64,
    pub printer: Option<&'a TicketPrinter>,
    /// The wall clock against the peers'.
    pub clock: aufruf_office::ClockCheck,
}

impl Observer for Metrics {
    fn call_arrived(&self, latency: Duration) {
        self.call_latency.observe(latency.as_secs_f64());
    }

    fn entry_refused(&self, reason: &'static str) {
        self.refused
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }
}
