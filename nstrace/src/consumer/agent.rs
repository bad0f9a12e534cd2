//! The node agent's consumer: every detector, findings as JSON lines (stdout
//! and an optional rotating file), and the metrics, health, topology and
//! report page the HTTP endpoints serve. Built to run for days: the page
//! keeps only the latest findings and shutdowns (bounded, and the page's
//! size too), finished timelines are drained, and the series of pods that
//! are gone are dropped after a hold.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nstrace_common::KIND_SLOTS;

use crate::consumer::report::{About, Bounds, ReportBook};
use crate::detect::{pid1, policy::Policy, Attributed, Audit, Severity};
use crate::event::Event;
use crate::model::{topology, Correction, Model, Place, Release};
use crate::output::logfile::RotatingLog;
use crate::output::metrics::{FindingLabels, PlaceLabels, SessionLabels};
use crate::output::{findings, report as page, topology as topo_out, write_stdout};
use crate::record::Meta;
use crate::serve::{Shared, MAX_PAGE_BYTES};
use crate::session::{Consumer, Flow, Needs, NetNeeds, Outcome, Pins};
use crate::stats::Stats;

/// How the agent runs.
pub struct AgentOptions {
    /// Detector settings.
    pub pid1: pid1::Config,
    /// Allow rules.
    pub policy: Policy,
    /// Also append findings to this rotating file.
    pub log: Option<RotatingLog>,
    /// How long a pod's series stay after the pod is gone.
    pub series_hold: Duration,
    /// Findings below this are counted, not logged.
    pub min_severity: Severity,
    /// Also log each correction of the model on stderr (a JSON line).
    pub debug: bool,
}

/// A pod as metric labels name it: (namespace, pod).
type PodKey = (String, String);

/// The label sets a pod has in the metrics, and since when it is gone.
#[derive(Default)]
struct Series {
    findings: HashSet<FindingLabels>,
    restarts: HashSet<PlaceLabels>,
    sessions: HashSet<SessionLabels>,
    probes: HashSet<SessionLabels>,
    gone_since: Option<Instant>,
}

/// What identifies one run of a container: its id and its init (pid, start).
type Run = (String, u32, u64);

/// The agent.
pub struct AgentView {
    pid1: pid1::Config,
    policy: Option<Policy>,
    audit: Option<Audit>,
    log: Option<RotatingLog>,
    hold: Duration,
    min_severity: Severity,
    debug: bool,
    shared: Arc<Shared>,
    wall_offset_ns: i64,
    /// Events per kind since the last tick (added to the metrics there).
    kinds: [u64; KIND_SLOTS],
    series: HashMap<PodKey, Series>,
    /// The model generation the topology was last rendered at.
    shown: u64,
    /// The pods in that topology.
    live_pods: HashSet<PodKey>,
    /// The current run of each named container of a pod, by its labels.
    runs: HashMap<PlaceLabels, Run>,
    /// What the page at `/` shows.
    book: ReportBook,
    /// The node, for the page.
    meta: Option<Meta>,
    /// The page needs rendering again, and when it last was.
    page_dirty: bool,
    page_at: Option<Instant>,
    /// The latest clock tick (monotonic ns).
    now_ns: u64,
    /// The topology last built.
    topology: Option<topology::Topology>,
}

/// What the agent's page keeps: the latest shutdowns, findings and pods gone.
pub const PAGE_BOUNDS: Bounds = Bounds {
    gone_pods: 20,
    shutdowns: 50,
    findings: 200,
};

/// The page is rendered again at most this often (also when nothing but
/// the counters changed).
const PAGE_EVERY: Duration = Duration::from_secs(5);

/// The labels of a place: namespace, pod, container (name, else short id).
fn place_labels(p: &Place) -> PlaceLabels {
    [
        ("namespace", p.namespace().unwrap_or_default().to_owned()),
        ("pod", p.pod().unwrap_or_default().to_owned()),
        (
            "container",
            p.ctr().map(|c| c.to_string()).unwrap_or_default(),
        ),
    ]
}

/// Which series a finding counts in.
#[derive(Debug, PartialEq, Eq)]
enum Count<'a> {
    /// None: a withdrawn prediction (the series count raised findings).
    Nothing,
    /// `nstrace_runtime_joins_total{runtime}`: a routine join by this runtime.
    RuntimeJoin(&'a str),
    /// `nstrace_findings_total{finding, severity, namespace, pod, container}`.
    Finding,
    /// That, and `nstrace_exec_sessions_total{namespace, pod, container, runtime}`:
    /// an exec session (not a preStop hook) by this runtime.
    Session(&'a str),
}

/// Whether a finding is logged at `min`, and where it is counted (whether
/// logged or not: the metrics count everything the detectors raise).
fn route(a: &Attributed, min: Severity) -> (bool, Count<'_>) {
    let log = a.finding.shown_at(min);
    let count = if a.finding.resolved() {
        Count::Nothing
    } else if let Some(runtime) = a.finding.routine() {
        Count::RuntimeJoin(runtime)
    } else if let Some(s) = a.finding.session().filter(|s| !s.pre_stop) {
        Count::Session(&s.by.runtime)
    } else {
        Count::Finding
    };
    (log, count)
}

/// The agent's resident memory in bytes (VmRSS), 0 if unreadable.
fn rss_bytes() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

impl AgentView {
    /// An agent sharing its state with the HTTP endpoints through `shared`.
    pub fn new(opts: AgentOptions, shared: Arc<Shared>) -> AgentView {
        AgentView {
            pid1: opts.pid1,
            policy: Some(opts.policy),
            audit: None,
            log: opts.log,
            hold: opts.series_hold,
            min_severity: opts.min_severity,
            debug: opts.debug,
            shared,
            wall_offset_ns: 0,
            kinds: [0; KIND_SLOTS],
            series: HashMap::new(),
            shown: u64::MAX,
            live_pods: HashSet::new(),
            runs: HashMap::new(),
            book: ReportBook::new(PAGE_BOUNDS, true),
            meta: None,
            page_dirty: true,
            page_at: None,
            now_ns: 0,
            topology: None,
        }
    }

    /// Renders the page at `/` again when something changed (or the
    /// counters may have), within [`MAX_PAGE_BYTES`]: while it is larger,
    /// the oldest half of what the page keeps goes (counted on it).
    fn render_page(&mut self, m: &Model, t: &topology::Topology) {
        let stale = self.page_at.is_none_or(|at| at.elapsed() >= PAGE_EVERY);
        let (Some(meta), Some(audit)) = (self.meta.as_ref(), self.audit.as_ref()) else {
            return;
        };
        if !self.page_dirty && !stale {
            return;
        }
        loop {
            let about = About::new(
                "agent",
                meta,
                meta.start_mono_ns,
                self.now_ns.max(meta.start_mono_ns),
            )
            .with_audit(audit, m);
            let html = match self.book.doc(t, &about) {
                Ok(doc) => page::page(&doc),
                Err(_) => return,
            };
            if html.len() <= MAX_PAGE_BYTES {
                self.shared.set_page(html);
                break;
            }
            if !self.book.shrink() {
                // The node itself is larger than the bound: say so, in bounds.
                self.shared
                    .set_page(page::too_large(html.len(), MAX_PAGE_BYTES));
                break;
            }
        }
        self.page_dirty = false;
        self.page_at = Some(Instant::now());
    }

    /// Logs findings at or above `--min-severity` as JSON lines and counts
    /// every raised one in the metrics: routine runtime joins by runtime,
    /// the rest by kind, severity and place.
    fn report(&mut self, found: Vec<Attributed>) -> Result<()> {
        if found.is_empty() {
            return Ok(());
        }
        self.book.findings(&found);
        self.page_dirty = true;
        let mut text = String::new();
        for a in &found {
            let (log, count) = route(a, self.min_severity);
            if log {
                text.push_str(&findings::finding(
                    a,
                    crate::output::Format::Json,
                    self.wall_offset_ns,
                ));
            }
            match count {
                Count::Nothing => {}
                Count::RuntimeJoin(runtime) => {
                    let labels = [("runtime", runtime.to_owned())];
                    self.shared
                        .metrics(|m| m.runtime_joins.get_or_create(&labels).inc());
                }
                Count::Finding | Count::Session(_) => {
                    let [ns, pod, ctr] = place_labels(&a.place);
                    let labels: FindingLabels = [
                        ("finding", a.finding.kind.name().to_owned()),
                        ("severity", a.finding.severity.name().to_owned()),
                        ns.clone(),
                        pod.clone(),
                        ctr.clone(),
                    ];
                    self.shared
                        .metrics(|m| m.findings.get_or_create(&labels).inc());
                    let s = self
                        .series
                        .entry((ns.1.clone(), pod.1.clone()))
                        .or_default();
                    s.findings.insert(labels);
                    if let Count::Session(runtime) = count {
                        let labels: SessionLabels = [ns, pod, ctr, ("runtime", runtime.to_owned())];
                        self.shared
                            .metrics(|m| m.exec_sessions.get_or_create(&labels).inc());
                        s.sessions.insert(labels);
                    }
                }
            }
        }
        if text.is_empty() {
            return Ok(());
        }
        if let Some(log) = self.log.as_mut() {
            log.write_lines(&text)
                .context("writing the findings file")?;
        }
        write_stdout(text.as_bytes())?;
        Ok(())
    }

    /// Counts a container of a pod that runs again under the same name: a new
    /// container (CRI makes one per restart) or a new init in the same one
    /// (podman restarts in place). Runs are remembered while their pod lives.
    fn count_restarts(&mut self, m: &Model, t: &topology::Topology) {
        let mut seen: HashMap<PlaceLabels, Run> = HashMap::new();
        for pod in &t.pods {
            for c in pod.containers.iter().filter(|c| !c.infra) {
                let Some(name) = c.name() else { continue };
                let labels: PlaceLabels = [
                    ("namespace", pod.namespace.clone().unwrap_or_default()),
                    ("pod", pod.name.clone()),
                    ("container", name.to_owned()),
                ];
                let start = m.get(c.init.pid).map_or(0, |p| p.start_ns);
                seen.insert(labels, (c.id.clone(), c.init.pid, start));
            }
        }
        for (labels, run) in &seen {
            if self.runs.get(labels).is_some_and(|before| before != run) {
                self.shared
                    .metrics(|mm| mm.restarts.get_or_create(labels).inc());
                let key = (labels[0].1.clone(), labels[1].1.clone());
                self.series
                    .entry(key)
                    .or_default()
                    .restarts
                    .insert(labels.clone());
            }
        }
        // A container between two runs (the old one gone, the next not yet
        // there) keeps its last run while its pod lives.
        let live = &self.live_pods;
        self.runs
            .retain(|l, _| live.contains(&(l[0].1.clone(), l[1].1.clone())));
        self.runs.extend(seen);
    }

    /// Runs of recognised exec probes: counted by place and runtime, never logged.
    fn probe_runs(&mut self) {
        let Some(audit) = self.audit.as_mut() else {
            return;
        };
        for run in audit.sessions.probe_runs.drain(..) {
            let [ns, pod, ctr] = place_labels(&run.container);
            let labels: SessionLabels = [ns, pod, ctr, ("runtime", run.runtime)];
            self.shared
                .metrics(|m| m.exec_probes.get_or_create(&labels).inc());
            let key = (labels[0].1.clone(), labels[1].1.clone());
            self.series.entry(key).or_default().probes.insert(labels);
        }
    }

    /// Timelines that ended: one sample each of the shutdown histogram.
    fn shutdowns(&mut self, m: &Model) {
        let Some(audit) = self.audit.as_mut() else {
            return;
        };
        for t in audit.shutdowns.done.drain(..) {
            self.page_dirty = true;
            let place = m.place_of_process(t.init.0, t.pid_ns);
            let v = t.verdict();
            let verdict = if v.killed { "sigkill" } else { "graceful" };
            let labels = [
                (
                    "namespace",
                    place.namespace().unwrap_or_default().to_owned(),
                ),
                ("verdict", verdict.to_owned()),
                ("cause", v.outcome.name().to_owned()),
            ];
            self.shared.metrics(|mm| {
                mm.shutdown_seconds
                    .get_or_create(&labels)
                    .observe(t.total_ns() as f64 / 1e9)
            });
            self.book.shutdown(place, t);
        }
    }

    /// Gauges, the topology document, and series of pods gone past the hold.
    fn refresh(&mut self, m: &Model) {
        let zombies = self
            .audit
            .as_ref()
            .map(|a| a.pid1.zombie_counts())
            .unwrap_or_default();
        let places = m.places();
        self.shared.metrics(|mm| {
            mm.zombies.clear();
            for (ns, n) in &zombies {
                let p = places.of_pid_ns(*ns).unwrap_or(Place::Node);
                mm.zombies.get_or_create(&place_labels(&p)).set(*n as i64);
            }
            mm.rss_bytes.set(rss_bytes());
            for k in nstrace_common::Kind::ALL {
                let n = std::mem::take(&mut self.kinds[k as usize]);
                if n > 0 {
                    mm.events
                        .get_or_create(&[("kind", k.name().to_owned())])
                        .inc_by(n);
                }
            }
        });
        if m.generation != self.shown {
            self.shown = m.generation;
            let t = topology::build(m);
            self.live_pods = t
                .pods
                .iter()
                .map(|p| (p.namespace.clone().unwrap_or_default(), p.name.clone()))
                .collect();
            let containers =
                t.pods.iter().map(|p| p.containers.len()).sum::<usize>() + t.lone.len();
            self.shared.metrics(|mm| {
                mm.pods.set(t.pods.len() as i64);
                mm.containers.set(containers as i64);
            });
            self.count_restarts(m, &t);
            self.shared.set_topology(topo_out::json(&t));
            self.book.look(&t);
            self.page_dirty = true;
            self.topology = Some(t);
        }
        if let Some(t) = self.topology.take() {
            self.render_page(m, &t);
            self.topology = Some(t);
        }
        // A pod that is gone keeps its series for the hold, then they go.
        let now = Instant::now();
        let hold = self.hold;
        let mut expired = Vec::new();
        for (key, s) in self.series.iter_mut() {
            if self.live_pods.contains(key) || key.1.is_empty() {
                s.gone_since = None;
                continue;
            }
            let since = *s.gone_since.get_or_insert(now);
            if now.duration_since(since) >= hold {
                expired.push(key.clone());
            }
        }
        for key in expired {
            if let Some(s) = self.series.remove(&key) {
                self.shared.metrics(|mm| {
                    for l in &s.findings {
                        mm.findings.remove(l);
                    }
                    for l in &s.restarts {
                        mm.restarts.remove(l);
                    }
                    for l in &s.sessions {
                        mm.exec_sessions.remove(l);
                    }
                    for l in &s.probes {
                        mm.exec_probes.remove(l);
                    }
                });
            }
        }
    }
}

impl Consumer for AgentView {
    fn needs(&self) -> Needs {
        Needs {
            model: true,
            pins: Pins::Mounts,
            tick: Some(Duration::from_secs(1)),
            rescan_pins: false,
            final_tick: true,
            judge_signals_after: Some(Duration::from_nanos(self.pid1.predict_after_ns)),
            net: NetNeeds::Wiring,
        }
    }

    fn start(&mut self, m: &Model, meta: &Meta) -> Result<Flow> {
        self.wall_offset_ns = meta.wall_offset_ns;
        self.meta = Some(meta.clone());
        self.now_ns = meta.start_mono_ns;
        let mut audit = Audit::new(
            m.node.pid,
            m.node.mnt,
            self.pid1,
            self.policy.take().unwrap_or_default(),
        );
        audit.seed(m);
        self.audit = Some(audit);
        self.refresh(m);
        self.shared.health(|h| h.started = true);
        Ok(Flow::Continue)
    }

    fn before_event(&mut self, ev: &Event, m: &Model) {
        if let Some(a) = self.audit.as_mut() {
            a.before_event(ev, m);
        }
    }

    fn event(&mut self, ev: &Event, m: &Model) -> Result<Flow> {
        if let Some(n) = self.kinds.get_mut(ev.kind() as usize) {
            *n += 1;
        }
        let found = match self.audit.as_mut() {
            Some(a) => a.on_event(ev, m),
            None => Vec::new(),
        };
        self.report(found)?;
        self.probe_runs();
        Ok(Flow::Continue)
    }

    fn released(&mut self, released: &[Release], m: &Model) -> Result<Flow> {
        let found = match self.audit.as_mut() {
            Some(a) => a.released(released, m),
            None => Vec::new(),
        };
        self.report(found)?;
        self.shutdowns(m);
        Ok(Flow::Continue)
    }

    fn corrected(&mut self, c: &Correction, m: &Model) {
        if !self.debug {
            return;
        }
        let (comm, place) = match m.get(c.pid) {
            Some(p) => (p.comm.as_str(), m.place_of_process(p.pid, p.ns.pid)),
            None => ("", Place::Node),
        };
        let line = crate::output::wire::CorrectionLine {
            level: "debug",
            msg: "model corrected from /proc",
            time: crate::output::time::rfc3339(c.seen_ns as i64 + self.wall_offset_ns),
            reason: c.drift.name(),
            pid: c.pid,
            comm,
            still_zombie: c.still_zombie,
            namespace: place.namespace().unwrap_or_default(),
            pod: place.pod().unwrap_or_default(),
            container: place.ctr().map(|c| c.to_string()).unwrap_or_default(),
        };
        let mut out = Vec::new();
        crate::output::wire::line(&mut out, &line);
        eprint!("{}", String::from_utf8_lossy(&out));
    }

    fn drained(&mut self) {
        self.shared.health(|h| h.last_drain = Some(Instant::now()));
    }

    fn counters(&mut self, totals: &Stats) {
        self.shared.metrics(|m| m.counters(totals));
        self.book.counters(totals);
    }

    fn tick(&mut self, now_ns: u64, m: &Model) -> Result<Flow> {
        self.now_ns = now_ns;
        let found = match self.audit.as_mut() {
            Some(a) => a.on_tick(now_ns, m),
            None => Vec::new(),
        };
        self.report(found)?;
        self.probe_runs();
        self.refresh(m);
        if let Some(log) = self.log.as_mut() {
            log.flush().context("writing the findings file")?;
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, m: &Model) -> Result<Outcome> {
        // Sessions still open or held back, containers not yet named.
        let last = match self.audit.as_mut() {
            Some(a) => a.finish(m),
            None => Vec::new(),
        };
        self.report(last)?;
        self.probe_runs();
        if let Some(log) = self.log.as_mut() {
            log.flush().context("writing the findings file")?;
        }
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::joins::{Action, Actor, Expected, Join};
    use crate::detect::pid1::Prediction;
    use crate::detect::{Evidence, Finding, FindingKind};
    use crate::model::{Disposition, Init};

    fn attributed(kind: FindingKind, severity: Severity, evidence: Evidence) -> Attributed {
        Attributed {
            finding: Finding {
                kind,
                severity,
                ts_ns: 1,
                pid: 10,
                comm: "runc".into(),
                pid_ns: 1,
                evidence,
            },
            place: Place::Node,
            allowed_by: None,
        }
    }

    fn join(expected: Option<&str>) -> Evidence {
        Evidence::Join(Box::new(Join {
            actor: Actor {
                pid: 10,
                comm: "runc".into(),
                exe: String::new(),
                uid: 0,
                euid: 0,
                cap_effective: 0,
                pid_ns: 1,
                place: Place::Node,
            },
            action: Action::Unshare { flags: 0 },
            targets: Vec::new(),
            ret: 0,
            expected: expected.map(|by| Expected {
                by: by.into(),
                network_plugin: false,
            }),
        }))
    }

    fn prediction(resolved: bool) -> Evidence {
        Evidence::Prediction(Box::new(Prediction {
            init: Init::Shell("sh".into()),
            disposition: Disposition::Default,
            age_ns: 3_000_000_000,
            resolved,
            likely: false,
            exited_on_sigterm: false,
            term_flags: None,
        }))
    }

    #[test]
    fn routine_runtime_joins_are_counted_by_runtime_and_logged_only_at_info() {
        let routine = attributed(
            FindingKind::NamespaceJoin,
            Severity::Info,
            join(Some("runc")),
        );
        assert_eq!(
            route(&routine, Severity::Low),
            (false, Count::RuntimeJoin("runc"))
        );
        assert_eq!(
            route(&routine, Severity::Info),
            (true, Count::RuntimeJoin("runc"))
        );
        // Node administration (ip netns exec): a finding, logged only at info.
        let admin = attributed(FindingKind::NamespaceJoin, Severity::Info, join(None));
        assert_eq!(route(&admin, Severity::Low), (false, Count::Finding));
        assert_eq!(route(&admin, Severity::Info), (true, Count::Finding));
    }

    #[test]
    fn sessions_are_counted_by_runtime_and_pre_stop_hooks_as_findings_only() {
        use crate::detect::sessions::Session;
        let s = Session::example();
        let session = attributed(
            FindingKind::ExecSession,
            Severity::Low,
            Evidence::Session(Box::new(s.clone())),
        );
        assert_eq!(
            route(&session, Severity::Low),
            (true, Count::Session("podman"))
        );
        let mut pre_stop = s;
        pre_stop.pre_stop = true;
        let hook = attributed(
            FindingKind::ExecSession,
            Severity::Info,
            Evidence::Session(Box::new(pre_stop)),
        );
        assert_eq!(route(&hook, Severity::Low), (false, Count::Finding));
    }

    #[test]
    fn findings_at_or_above_the_minimum_are_logged_and_everything_raised_is_counted() {
        let high = attributed(FindingKind::Pid1IgnoresSigterm, Severity::High, join(None));
        assert_eq!(route(&high, Severity::Low), (true, Count::Finding));
        assert_eq!(route(&high, Severity::High), (true, Count::Finding));
        let low = attributed(
            FindingKind::Pid1NotReapingCapable,
            Severity::Low,
            prediction(false),
        );
        assert_eq!(route(&low, Severity::Low), (true, Count::Finding));
        assert_eq!(route(&low, Severity::Medium), (false, Count::Finding));
        // A withdrawal (info) is logged where its prediction was, and counts nowhere.
        let withdrawn = attributed(
            FindingKind::Pid1NotReapingCapable,
            Severity::Info,
            prediction(true),
        );
        assert_eq!(route(&withdrawn, Severity::Low), (true, Count::Nothing));
        assert_eq!(route(&withdrawn, Severity::Medium), (false, Count::Nothing));
        let will_ignore = attributed(
            FindingKind::Pid1WillIgnoreSigterm,
            Severity::Info,
            prediction(true),
        );
        assert_eq!(
            route(&will_ignore, Severity::Medium),
            (true, Count::Nothing)
        );
        assert_eq!(route(&will_ignore, Severity::High), (false, Count::Nothing));
    }
}
