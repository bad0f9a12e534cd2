//! The agent's Prometheus metrics, made with the official `prometheus-client`
//! crate: its own health (events, drops, failed reads, memory) and what it
//! found (findings, zombies, shutdown durations, pods and containers).
//! Labels are bounded: findings by kind, severity and namespace/pod/container;
//! series of pods that are gone are removed by the agent after a short hold.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use nstrace_common::Kind;

use crate::event::names::signal_name;
use crate::stats::{Stats, MAX_SIG};

/// Labels of a series that belongs to one place on the node.
pub type PlaceLabels = [(&'static str, String); 3];
/// Labels of a finding series.
pub type FindingLabels = [(&'static str, String); 5];
/// Labels with one value.
pub type OneLabel = [(&'static str, String); 1];
/// Labels of an exec session or probe series: namespace, pod, container, runtime.
pub type SessionLabels = [(&'static str, String); 4];
/// Labels of a shutdown series.
pub type ShutdownLabels = [(&'static str, String); 3];

/// Shutdown-duration buckets (seconds): from instant to past the usual 30 s grace.
const SHUTDOWN_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 45.0, 60.0, 120.0,
];

/// The HTTP listener's own metrics, shared with its thread (the handles are
/// reference-counted: no lock).
#[derive(Clone, Debug, Default)]
pub struct HttpMetrics {
    /// Connections open now.
    pub open: Gauge,
    /// Connections closed, by why (`done`, `header_timeout`, `idle`, `evicted`, `error`).
    pub closed: Family<OneLabel, Counter>,
}

impl HttpMetrics {
    /// Counts one connection closed for `why`.
    pub fn close(&self, why: crate::serve::listener::Closed) {
        self.closed
            .get_or_create(&[("reason", why.name().to_owned())])
            .inc();
    }
}

/// Every metric the agent exports, registered once.
pub struct Metrics {
    registry: Registry,
    /// Events received from the kernel, by kind.
    pub events: Family<OneLabel, Counter>,
    /// Events the kernel could not reserve ring-buffer room for, by kind.
    pub dropped: Family<OneLabel, Counter>,
    /// Kernel reads that failed.
    pub read_failures: Counter,
    /// Records the collector could not decode.
    pub undecodable: Counter,
    /// Signals counted in the kernel but not streamed, by signal.
    pub signals_counted: Family<OneLabel, Counter>,
    /// Container-name lookups in the runtimes' files, by outcome.
    pub name_lookups: Family<OneLabel, Counter>,
    /// Findings, by kind, severity and place (routine runtime joins apart).
    pub findings: Family<FindingLabels, Counter>,
    /// Routine joins of container runtimes and network plugins, by which one:
    /// counted here instead of logged.
    pub runtime_joins: Family<OneLabel, Counter>,
    /// Exec sessions (not preStop hooks), by place and runtime.
    pub exec_sessions: Family<SessionLabels, Counter>,
    /// Runs of recognised exec probes, by place and runtime.
    pub exec_probes: Family<SessionLabels, Counter>,
    /// Lasting zombies, by place.
    pub zombies: Family<PlaceLabels, Gauge>,
    /// Pod shutdown durations (first SIGTERM to last exit), by namespace and verdict.
    pub shutdown_seconds: Family<ShutdownLabels, Histogram>,
    /// Pods on the node.
    pub pods: Gauge,
    /// Containers on the node.
    pub containers: Gauge,
    /// Containers started again in their pod (a new container, or a new
    /// init in the same one, under the same name), by place.
    pub restarts: Family<PlaceLabels, Counter>,
    /// Corrections of the model from /proc, by reason.
    pub corrections: Family<OneLabel, Counter>,
    /// Processes released with their PID namespace's init.
    pub pid_ns_releases: Counter,
    /// The agent's resident memory.
    pub rss_bytes: Gauge,
    /// 1 when /healthz answers 200, else 0 (set at each scrape).
    pub healthy: Gauge,
    /// The HTTP listener.
    pub http: HttpMetrics,
    /// The counters already turned into metric increments.
    last: Stats,
}

impl Metrics {
    /// The metrics of an agent of this build on kernel `kernel`.
    pub fn new(kernel: &str) -> Metrics {
        let mut registry = Registry::with_prefix("nstrace");
        let build: Family<[(&'static str, String); 2], Gauge> = Family::default();
        build
            .get_or_create(&[
                ("version", env!("CARGO_PKG_VERSION").to_owned()),
                ("kernel", kernel.to_owned()),
            ])
            .set(1);
        registry.register("build_info", "nstrace version and kernel (always 1)", build);
        let mut m = Metrics {
            events: Family::default(),
            dropped: Family::default(),
            read_failures: Counter::default(),
            undecodable: Counter::default(),
            signals_counted: Family::default(),
            name_lookups: Family::default(),
            findings: Family::default(),
            runtime_joins: Family::default(),
            exec_sessions: Family::default(),
            exec_probes: Family::default(),
            zombies: Family::default(),
            shutdown_seconds: Family::new_with_constructor(|| {
                Histogram::new(SHUTDOWN_BUCKETS.iter().copied())
            }),
            pods: Gauge::default(),
            containers: Gauge::default(),
            restarts: Family::default(),
            corrections: Family::default(),
            pid_ns_releases: Counter::default(),
            rss_bytes: Gauge::default(),
            healthy: Gauge::default(),
            http: HttpMetrics::default(),
            last: Stats::default(),
            registry,
        };
        let reg = &mut m.registry;
        reg.register(
            "events",
            "Events received from the kernel, by kind",
            m.events.clone(),
        );
        reg.register(
            "events_dropped",
            "Events lost because the ring buffer was full, by kind",
            m.dropped.clone(),
        );
        reg.register(
            "kernel_read_failures",
            "Kernel reads that failed (the event was sent, flagged read_failed)",
            m.read_failures.clone(),
        );
        reg.register(
            "undecodable",
            "Records the collector could not decode",
            m.undecodable.clone(),
        );
        reg.register(
            "signals_counted",
            "Signals counted in the kernel but not streamed, by signal",
            m.signals_counted.clone(),
        );
        reg.register(
            "container_name_lookups",
            "Container-name lookups in the runtimes' files, by outcome",
            m.name_lookups.clone(),
        );
        reg.register(
            "findings",
            "Findings, by kind, severity, and the pod and container they concern",
            m.findings.clone(),
        );
        reg.register(
            "runtime_joins",
            "Routine namespace joins by container runtimes and network plugins on the node (counted, not logged), by runtime",
            m.runtime_joins.clone(),
        );
        reg.register(
            "exec_sessions",
            "Exec sessions into containers (podman/CRI/docker exec, nsenter; preStop hooks apart), by the pod and container entered and the runtime",
            m.exec_sessions.clone(),
        );
        reg.register(
            "exec_probes",
            "Runs of commands recognised as exec probes (counted, not logged), by pod, container and runtime",
            m.exec_probes.clone(),
        );
        reg.register(
            "zombies",
            "Zombies older than --zombie-after, by the pod and container they are in",
            m.zombies.clone(),
        );
        reg.register(
            "pod_shutdown_seconds",
            "Time from the first SIGTERM to a PID 1 to its last exit; verdict graceful or sigkill, and its cause (no_handler, re_raised, dropped_at_delivery, kept_running, not_passed_on, too_slow, clean, ungraceful)",
            m.shutdown_seconds.clone(),
        );
        reg.register("pods", "Pods on the node", m.pods.clone());
        reg.register("containers", "Containers on the node", m.containers.clone());
        reg.register(
            "container_restarts",
            "Containers started again in their pod under the same name (a new container, or a new init in the same one), by the pod and container",
            m.restarts.clone(),
        );
        reg.register(
            "model_corrections",
            "Corrections of the model from /proc, by reason: reap_missed (a zombie /proc no longer has), exit_missed (a process it has no more, or has as a zombie), pid_reused (another process at its pid)",
            m.corrections.clone(),
        );
        reg.register(
            "pid_namespace_releases",
            "Processes released with their PID namespace's init (the kernel releases every other process of a namespace first) before their own reap event was seen",
            m.pid_ns_releases.clone(),
        );
        reg.register(
            "resident_memory_bytes",
            "The agent's resident memory",
            m.rss_bytes.clone(),
        );
        reg.register(
            "healthy",
            "1 when /healthz answers 200 (attached, snapshot taken, ring buffer drained within 5 s), else 0",
            m.healthy.clone(),
        );
        reg.register(
            "http_connections",
            "HTTP connections open now",
            m.http.open.clone(),
        );
        reg.register(
            "http_connections_closed",
            "HTTP connections closed, by reason: done, header_timeout, idle, evicted (at the connection cap), error",
            m.http.closed.clone(),
        );
        m
    }

    /// Turns the counters so far into increments (counters only grow).
    pub fn counters(&mut self, s: &Stats) {
        let delta = |now: u64, before: u64| now.saturating_sub(before);
        for k in Kind::ALL {
            let i = k as usize;
            let d = delta(s.drops[i], self.last.drops[i]);
            let series = self.dropped.get_or_create(&[("kind", k.name().to_owned())]);
            series.inc_by(d);
        }
        self.read_failures
            .inc_by(delta(s.read_failures, self.last.read_failures));
        self.undecodable
            .inc_by(delta(s.undecodable, self.last.undecodable));
        for sig in 1..=MAX_SIG {
            let d = delta(s.signals_filtered[sig], self.last.signals_filtered[sig]);
            if d > 0 {
                self.signals_counted
                    .get_or_create(&[("signal", signal_name(sig as u32).into_owned())])
                    .inc_by(d);
            }
        }
        for (i, outcome) in ["found", "missing", "unreadable", "garbled"]
            .iter()
            .enumerate()
        {
            let d = delta(s.names[i], self.last.names[i]);
            if d > 0 {
                self.name_lookups
                    .get_or_create(&[("outcome", (*outcome).to_owned())])
                    .inc_by(d);
            }
        }
        for d in crate::model::Drift::ALL {
            // Every reason has a series from the start: a zero is an answer.
            self.corrections
                .get_or_create(&[("reason", d.name().to_owned())])
                .inc_by(delta(
                    s.corrections[d.slot()],
                    self.last.corrections[d.slot()],
                ));
        }
        self.pid_ns_releases
            .inc_by(delta(s.pid_ns_releases, self.last.pid_ns_releases));
        self.last = s.clone();
    }

    /// The Prometheus text exposition of every metric now.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_and_counts() {
        let mut m = Metrics::new("6.18.0");
        m.events
            .get_or_create(&[("kind", "exec".to_owned())])
            .inc_by(3);
        let mut s = Stats::default();
        s.drops[Kind::Exit as usize] = 5;
        s.signals_filtered[17] = 2;
        m.counters(&s);
        s.drops[Kind::Exit as usize] = 7;
        m.counters(&s);
        m.findings
            .get_or_create(&[
                ("finding", "pid1_ignores_sigterm".into()),
                ("severity", "high".into()),
                ("namespace", "".into()),
                ("pod", "shop".into()),
                ("container", "web".into()),
            ])
            .inc();
        let text = m.render();
        assert!(
            text.contains("nstrace_events_total{kind=\"exec\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("nstrace_events_dropped_total{kind=\"exit\"} 7\n"),
            "{text}"
        );
        assert!(
            text.contains("nstrace_signals_counted_total{signal=\"CHLD\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("nstrace_build_info{version=\""), "{text}");
        assert!(text.contains("nstrace_findings_total{finding=\"pid1_ignores_sigterm\",severity=\"high\",namespace=\"\",pod=\"shop\",container=\"web\"} 1\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
