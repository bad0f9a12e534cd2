//! The report: the node's picture over a run — its pods (also those that came
//! and went), every shutdown's timeline, the findings and namespace joins —
//! kept in a bounded [`ReportBook`] and rendered, through the same wire types
//! as every JSON document, as one self-contained HTML page
//! (`output::report`). `nstrace report` fills a book from a recording or a
//! live trace ([`ReportView`]); the agent fills one as it runs and serves the
//! page at `/`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::detect::shutdown::Timeline;
use crate::detect::{pid1, policy::Policy, Attributed, Audit, Severity};
use crate::event::Event;
use crate::model::topology::{self, Pod, Topology};
use crate::model::{Model, Place, PodRef, Release};
use crate::output::wire::{
    ExecProbesWire, OmittedWire, Ordered, ReportDoc, ReportMetaWire, SummaryWire, WatchedWire,
};
use crate::output::{findings, report, time, timeline, topology as topo_out, write_stdout};
use crate::record::Meta;
use crate::session::{Consumer, Flow, Needs, NetNeeds, Outcome, Pins};
use crate::stats::Stats;

/// How much of a run a book keeps (the oldest go first; what goes is counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Pods gone before the end, as last seen.
    pub gone_pods: usize,
    /// Shutdown timelines.
    pub shutdowns: usize,
    /// Findings (routine runtime joins are only counted).
    pub findings: usize,
}

impl Bounds {
    /// The same bound for each list.
    pub fn each(n: usize) -> Bounds {
        Bounds {
            gone_pods: n,
            shutdowns: n,
            findings: n,
        }
    }
}

/// A pod as the book tells pods apart: namespace, name, id.
type PodKey = (Option<String>, String, Option<String>);

fn pod_key(p: &Pod) -> PodKey {
    (p.namespace.clone(), p.name.clone(), p.id.clone())
}

/// A finished (or, at the end, unfinished) shutdown and where it happened.
#[derive(Clone, Debug)]
struct Shutdown {
    place: Place,
    title: String,
    timeline: Timeline,
}

/// What was left out by the bounds.
#[derive(Clone, Copy, Debug, Default)]
struct Omitted {
    gone_pods: usize,
    shutdowns: usize,
    findings: usize,
}

/// Pods, shutdowns and findings of a run, bounded, ready to render.
#[derive(Debug)]
pub struct ReportBook {
    bounds: Bounds,
    findings: VecDeque<Attributed>,
    shutdowns: VecDeque<Shutdown>,
    /// Pods present at the last look: their containers as last seen (one
    /// that ended before the pod stays, so a pod stopping container by
    /// container keeps them all).
    present: BTreeMap<PodKey, Pod>,
    gone: VecDeque<Pod>,
    omitted: Omitted,
    /// Findings raised over the whole run (withdrawn predictions taken
    /// back), not allowed by policy, by kind and severity.
    counts: BTreeMap<(&'static str, Severity), usize>,
    allowed: usize,
    routine: BTreeMap<String, usize>,
    /// Container ids seen running, sorted.
    containers_seen: Vec<String>,
    /// The names their runtime gave them: id → name.
    names: BTreeMap<String, String>,
    /// Forget container ids once gone (the agent runs for days).
    forget_gone: bool,
    shutdowns_seen: usize,
    runtimes: BTreeSet<&'static str>,
    stats: Option<Stats>,
}

impl ReportBook {
    /// An empty book; `forget_gone`: keep only the ids of containers still
    /// running (for an agent, whose run has no end).
    pub fn new(bounds: Bounds, forget_gone: bool) -> ReportBook {
        ReportBook {
            bounds,
            findings: VecDeque::new(),
            shutdowns: VecDeque::new(),
            present: BTreeMap::new(),
            gone: VecDeque::new(),
            omitted: Omitted::default(),
            counts: BTreeMap::new(),
            allowed: 0,
            routine: BTreeMap::new(),
            containers_seen: Vec::new(),
            names: BTreeMap::new(),
            forget_gone,
            shutdowns_seen: 0,
            runtimes: BTreeSet::new(),
            stats: None,
        }
    }

    /// Findings as the detectors confirmed them: routine runtime joins
    /// counted by runtime, a withdrawal takes its prediction back, the rest kept.
    pub fn findings(&mut self, found: &[Attributed]) {
        for a in found {
            let f = &a.finding;
            if f.resolved() {
                if let Some(i) = self
                    .findings
                    .iter()
                    .position(|x| x.finding.kind == f.kind && x.finding.pid == f.pid)
                {
                    let old = self.findings.remove(i).expect("the index was found");
                    self.uncount(&old);
                }
                continue;
            }
            if let Some(by) = f.routine().filter(|_| a.allowed_by.is_none()) {
                *self.routine.entry(by.to_owned()).or_insert(0) += 1;
                continue;
            }
            match a.allowed_by {
                Some(_) => self.allowed += 1,
                None => *self.counts.entry((f.kind.name(), f.severity)).or_insert(0) += 1,
            }
            self.findings.push_back(a.clone());
            if self.findings.len() > self.bounds.findings {
                self.findings.pop_front();
                self.omitted.findings += 1;
            }
        }
    }

    fn uncount(&mut self, a: &Attributed) {
        if a.allowed_by.is_some() {
            self.allowed = self.allowed.saturating_sub(1);
        } else if let Some(n) = self
            .counts
            .get_mut(&(a.finding.kind.name(), a.finding.severity))
        {
            *n = n.saturating_sub(1);
        }
    }

    /// A shutdown that ended (its PID 1 reaped), where it happened.
    pub fn shutdown(&mut self, place: Place, t: Timeline) {
        self.shutdowns_seen += 1;
        let title = place.to_string();
        self.shutdowns.push_back(Shutdown {
            place,
            title,
            timeline: t,
        });
        if self.shutdowns.len() > self.bounds.shutdowns {
            self.shutdowns.pop_front();
            self.omitted.shutdowns += 1;
        }
    }

    /// The topology now: pods kept as last seen, gone ones moved aside.
    pub fn look(&mut self, t: &Topology) {
        let mut now: BTreeMap<PodKey, Pod> = BTreeMap::new();
        for pod in &t.pods {
            let key = pod_key(pod);
            let mut merged = pod.clone();
            if let Some(before) = self.present.remove(&key) {
                // Containers that ended before the pod did stay, as last
                // seen; not one caught while its runtime was making it
                // (`runc init` under a provisional id), which the same mount
                // namespace or PID 1 now shows as what it became.
                for c in before.containers {
                    if !merged
                        .containers
                        .iter()
                        .any(|x| x.id == c.id || x.ns.mnt == c.ns.mnt || x.init.pid == c.init.pid)
                    {
                        merged.containers.push(c);
                    }
                }
                if merged.network.as_ref().is_none_or(|n| !n.read) {
                    merged.network = before.network.or(merged.network);
                }
            }
            now.insert(key, merged);
        }
        for (_, pod) in std::mem::replace(&mut self.present, now) {
            self.gone.push_back(pod);
            if self.gone.len() > self.bounds.gone_pods {
                self.gone.pop_front();
                self.omitted.gone_pods += 1;
            }
        }
        // Containers the runtime named (as the audit's summary counts them).
        let running = t
            .pods
            .iter()
            .flat_map(|p| &p.containers)
            .chain(&t.lone)
            .filter(|c| c.runtime_id);
        if self.forget_gone {
            let mut ids: Vec<String> = running.clone().map(|c| c.id.clone()).collect();
            ids.sort();
            ids.dedup();
            self.containers_seen = ids;
        } else {
            for c in running.clone() {
                if let Err(i) = self.containers_seen.binary_search(&c.id) {
                    self.containers_seen.insert(i, c.id.clone());
                }
            }
        }
        if self.forget_gone {
            self.names.clear();
        }
        for c in running {
            if let Some(n) = &c.names {
                self.runtimes.insert(n.runtime.name());
            }
            if let Some(name) = c.name() {
                self.names.insert(c.id.clone(), name.to_owned());
            }
        }
    }

    /// Keeps half as much (the oldest of each list go, counted); `false`
    /// when there was nothing left to drop.
    pub fn shrink(&mut self) -> bool {
        let before = self.findings.len() + self.shutdowns.len() + self.gone.len();
        self.bounds = Bounds {
            gone_pods: self.bounds.gone_pods / 2,
            shutdowns: self.bounds.shutdowns / 2,
            findings: self.bounds.findings / 2,
        };
        while self.findings.len() > self.bounds.findings {
            self.findings.pop_front();
            self.omitted.findings += 1;
        }
        while self.shutdowns.len() > self.bounds.shutdowns {
            self.shutdowns.pop_front();
            self.omitted.shutdowns += 1;
        }
        while self.gone.len() > self.bounds.gone_pods {
            self.gone.pop_front();
            self.omitted.gone_pods += 1;
        }
        self.findings.len() + self.shutdowns.len() + self.gone.len() < before
    }

    /// The run's counters so far.
    pub fn counters(&mut self, s: &Stats) {
        self.stats = Some(s.clone());
    }

    /// The report of the run: `end` is the topology now, `open` the
    /// shutdowns still under way; narrowed to one pod with `about.pod`.
    pub fn doc<'a>(&'a self, end: &'a Topology, about: &'a About<'a>) -> Result<ReportDoc<'a>> {
        let sel = about.pod;
        let in_pod = |p: &Place| sel.is_none_or(|s| p.pod_ref().is_some_and(|r| r.matches(s)));
        let pod_in = |p: &Pod| sel.is_none_or(|s| p.pod_ref().matches(s));
        let finding_in = |a: &Attributed| {
            in_pod(&a.place)
                || a.finding
                    .join()
                    .is_some_and(|j| j.targets.iter().any(|t| in_pod(&t.place)))
                || a.finding
                    .port_conflict()
                    .is_some_and(|c| c.holder.as_ref().is_some_and(|h| in_pod(&h.place)))
        };
        let mut other = 0;
        let mut keep = |yes: bool| {
            other += usize::from(!yes);
            yes
        };
        let mut topology = topo_out::document(end);
        topology.pods.retain(|p| {
            keep(sel.is_none_or(|s| {
                PodRef {
                    namespace: p.namespace.map(str::to_owned),
                    name: p.name.to_owned(),
                }
                .matches(s)
            }))
        });
        if sel.is_some() {
            topology.lone_containers.clear();
            topology.namespaces.clear();
        }
        // Gone pods: those not present at the end (a pod looked at last
        // just before it went is still in `present`).
        let gone_pods: Vec<_> = self
            .gone
            .iter()
            .chain(
                self.present
                    .iter()
                    .filter(|(k, _)| !end.pods.iter().any(|p| &pod_key(p) == *k))
                    .map(|(_, p)| p),
            )
            .filter(|p| keep(pod_in(p)))
            .map(topo_out::pod_wire)
            .collect();
        let shutdowns: Vec<_> = self
            .shutdowns
            .iter()
            .filter(|s| keep(in_pod(&s.place)))
            .map(|s| timeline::doc(&s.timeline, &s.title))
            .chain(
                about
                    .open
                    .iter()
                    .filter(|s| in_pod(&s.place))
                    .map(|s| timeline::doc(&s.timeline, &s.title)),
            )
            .collect();
        let findings: Vec<_> = self
            .findings
            .iter()
            .filter(|a| keep(finding_in(a)))
            .map(|a| findings::finding_line(a, about.wall_offset_ns))
            .collect();
        if let Some(s) = sel {
            if topology.pods.is_empty()
                && gone_pods.is_empty()
                && shutdowns.is_empty()
                && findings.is_empty()
            {
                let mut names: Vec<String> = end
                    .pods
                    .iter()
                    .chain(&self.gone)
                    .map(|p| p.pod_ref().to_string())
                    .collect();
                names.sort();
                names.dedup();
                bail!(
                    "no pod named {s} in this run (pods: {})",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                );
            }
        }
        let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut sevs: BTreeMap<Severity, usize> = BTreeMap::new();
        for ((k, sev), n) in self.counts.iter().filter(|(_, n)| **n > 0) {
            *kinds.entry(k).or_insert(0) += n;
            *sevs.entry(*sev).or_insert(0) += n;
        }
        let wall = |ns: u64| time::rfc3339(ns as i64 + about.wall_offset_ns);
        Ok(ReportDoc {
            report: ReportMetaWire {
                source: about.source,
                file: about.file,
                pod: sel,
                start: wall(about.start_ns),
                end: wall(about.end_ns),
                duration_s: crate::output::wire::seconds(
                    about.end_ns.saturating_sub(about.start_ns),
                ),
                omitted: OmittedWire {
                    gone_pods: self.omitted.gone_pods,
                    shutdowns: self.omitted.shutdowns,
                    findings: self.omitted.findings,
                    other_pods: other,
                },
            },
            node: crate::output::wire::NodeSummaryWire {
                hostname: about.hostname,
                kernel: about.kernel,
                runtimes: self.runtimes.iter().copied().collect(),
                counters: self.stats.as_ref().map(report::counters),
            },
            topology,
            gone_pods,
            shutdowns,
            findings,
            routine_joins: Ordered(self.routine.iter().map(|(k, n)| (k.as_str(), *n)).collect()),
            summary: SummaryWire {
                findings: self.counts.values().sum(),
                allowed: self.allowed,
                by_kind: Ordered(kinds.into_iter().collect()),
                by_severity: Ordered(sevs.into_iter().map(|(s, n)| (s.name(), n)).collect()),
                policy_hits: Ordered(about.policy_hits.clone()),
                zombies_by_pid_ns: Ordered(
                    about
                        .zombies
                        .iter()
                        .map(|(ns, n)| (ns.to_string(), *n))
                        .collect(),
                ),
                watched: WatchedWire {
                    containers: &self.containers_seen,
                    names: &self.names,
                    inits: &about.inits,
                    reapers: &about.reapers,
                    shutdowns: self.shutdowns_seen,
                },
                exec_probes: ExecProbesWire {
                    probes: about.probes,
                    runs: about.probe_runs,
                },
            },
        })
    }
}

/// What a report is about, besides the book: where it came from, its time
/// window, and what only the detectors know at the end.
pub struct About<'a> {
    /// `recording`, `live` or `agent`.
    pub source: &'static str,
    /// The recording's path.
    pub file: Option<&'a str>,
    /// `--pod`.
    pub pod: Option<&'a str>,
    /// Event time to wall time.
    pub wall_offset_ns: i64,
    /// The first moment covered (monotonic ns).
    pub start_ns: u64,
    /// The last.
    pub end_ns: u64,
    /// The node's hostname.
    pub hostname: &'a str,
    /// Its kernel.
    pub kernel: &'a str,
    /// Hits per policy rule.
    pub policy_hits: Vec<(&'a str, usize)>,
    /// Lasting zombies per PID namespace, now.
    pub zombies: BTreeMap<u32, usize>,
    /// Namespace inits whose signal handling was judged.
    pub inits: Vec<u32>,
    /// Processes seen reaping a child.
    pub reapers: Vec<u32>,
    /// Exec probes recognised.
    pub probes: usize,
    /// Their runs.
    pub probe_runs: u64,
    /// Shutdowns still under way.
    open: Vec<Shutdown>,
}

impl<'a> About<'a> {
    /// What `audit` knows now: its policy hits, zombies and open shutdowns
    /// (placed in `m`).
    pub fn with_audit(mut self, audit: &'a Audit, m: &Model) -> About<'a> {
        self.policy_hits = audit
            .policy
            .rules
            .iter()
            .map(|r| r.name.as_str())
            .zip(audit.policy_hits.iter().copied())
            .collect();
        self.zombies = audit.pid1.zombie_counts();
        self.inits = audit.judged.iter().copied().collect();
        self.reapers = audit.reapers.iter().copied().collect();
        self.probes = audit.sessions.probes_recognised;
        self.probe_runs = audit.sessions.probe_runs_total;
        self.open = audit
            .shutdowns
            .open()
            .map(|t| {
                let place = m.place_of_process(t.init.0, t.pid_ns);
                Shutdown {
                    title: format!("{place} (not finished)"),
                    place,
                    timeline: t.clone(),
                }
            })
            .collect();
        self
    }

    /// A report about the node `meta` describes, over `start_ns..end_ns`.
    pub fn new(source: &'static str, meta: &'a Meta, start_ns: u64, end_ns: u64) -> About<'a> {
        About {
            source,
            file: None,
            pod: None,
            wall_offset_ns: meta.wall_offset_ns,
            start_ns,
            end_ns,
            hostname: &meta.hostname,
            kernel: &meta.kernel,
            policy_hits: Vec::new(),
            zombies: BTreeMap::new(),
            inits: Vec::new(),
            reapers: Vec::new(),
            probes: 0,
            probe_runs: 0,
            open: Vec::new(),
        }
    }
}

/// What `nstrace report` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// One self-contained HTML page.
    Html,
    /// The report document as one JSON object.
    Json,
}

/// How `nstrace report` runs.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// HTML or JSON.
    pub format: ReportFormat,
    /// Where to write it (stdout when `None`).
    pub out: Option<PathBuf>,
    /// Narrow it to this pod.
    pub pod: Option<String>,
    /// The recording it is made from (`None`: live).
    pub file: Option<PathBuf>,
    /// Detector settings.
    pub pid1: pid1::Config,
    /// What it keeps.
    pub bounds: Bounds,
}

/// Runs the detectors and keeps what the report shows; writes it at the end.
pub struct ReportView {
    opts: ReportOptions,
    policy: Option<Policy>,
    audit: Option<Audit>,
    book: ReportBook,
    meta: Option<Meta>,
    /// The model generation last looked at.
    looked: u64,
    start_ns: u64,
    last_ns: u64,
}

impl ReportView {
    /// A report with these options and allow rules.
    pub fn new(opts: ReportOptions, policy: Policy) -> ReportView {
        let bounds = opts.bounds;
        ReportView {
            opts,
            policy: Some(policy),
            audit: None,
            book: ReportBook::new(bounds, false),
            meta: None,
            looked: u64::MAX,
            start_ns: 0,
            last_ns: 0,
        }
    }

    fn look(&mut self, m: &Model) {
        if m.generation != self.looked {
            self.looked = m.generation;
            self.book.look(&topology::build(m));
        }
    }

    /// Moves the shutdowns that ended into the book, placed while their PID 1 is still known.
    fn take_shutdowns(&mut self, m: &Model) {
        let Some(audit) = self.audit.as_mut() else {
            return;
        };
        for t in audit.shutdowns.done.drain(..) {
            let place = m.place_of_process(t.init.0, t.pid_ns);
            self.book.shutdown(place, t);
        }
    }
}

/// Writes `bytes` to `path` whole: a temporary file beside it, renamed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("renaming {} to {}", tmp.display(), path.display())
    })
}

impl Consumer for ReportView {
    fn needs(&self) -> Needs {
        Needs {
            model: true,
            pins: Pins::Mounts,
            tick: Some(Duration::from_secs(1)),
            rescan_pins: false,
            final_tick: true,
            judge_signals_after: Some(Duration::from_nanos(self.opts.pid1.predict_after_ns)),
            net: NetNeeds::Wiring,
        }
    }

    fn start(&mut self, m: &Model, meta: &Meta) -> Result<Flow> {
        let mut audit = Audit::new(
            m.node.pid,
            m.node.mnt,
            self.opts.pid1,
            self.policy.take().unwrap_or_default(),
        );
        audit.seed(m);
        self.audit = Some(audit);
        self.meta = Some(meta.clone());
        self.start_ns = meta.start_mono_ns;
        self.last_ns = meta.start_mono_ns;
        self.look(m);
        Ok(Flow::Continue)
    }

    fn before_event(&mut self, ev: &Event, m: &Model) {
        if let Some(a) = self.audit.as_mut() {
            a.before_event(ev, m);
        }
    }

    fn event(&mut self, ev: &Event, m: &Model) -> Result<Flow> {
        self.last_ns = self.last_ns.max(ev.header().ts_ns);
        let found = match self.audit.as_mut() {
            Some(a) => a.on_event(ev, m),
            None => Vec::new(),
        };
        self.book.findings(&found);
        if matches!(ev, Event::Reap(_)) {
            self.take_shutdowns(m);
        }
        Ok(Flow::Continue)
    }

    /// A process leaving the model ends its container's shutdown when it is
    /// PID 1 (and judges it): placed now, while the model still knows it.
    fn released(&mut self, released: &[Release], m: &Model) -> Result<Flow> {
        let found = match self.audit.as_mut() {
            Some(a) => a.released(released, m),
            None => Vec::new(),
        };
        self.book.findings(&found);
        self.take_shutdowns(m);
        Ok(Flow::Continue)
    }

    fn counters(&mut self, totals: &Stats) {
        self.book.counters(totals);
    }

    fn tick(&mut self, now_ns: u64, m: &Model) -> Result<Flow> {
        self.last_ns = self.last_ns.max(now_ns);
        let found = match self.audit.as_mut() {
            Some(a) => a.on_tick(now_ns, m),
            None => Vec::new(),
        };
        self.book.findings(&found);
        self.take_shutdowns(m);
        self.look(m);
        Ok(Flow::Continue)
    }

    fn finish(&mut self, m: &Model) -> Result<Outcome> {
        // What the detectors held back until the end (open exec sessions).
        let found = match self.audit.as_mut() {
            Some(a) => a.finish(m),
            None => Vec::new(),
        };
        self.book.findings(&found);
        self.take_shutdowns(m);
        self.look(m);
        let (Some(audit), Some(meta)) = (self.audit.as_ref(), self.meta.as_ref()) else {
            bail!("the run ended before it started: nothing to report");
        };
        let end = topology::build(m);
        let file = self.opts.file.as_ref().map(|f| f.display().to_string());
        let mut about = About::new(
            if file.is_some() { "recording" } else { "live" },
            meta,
            self.start_ns,
            self.last_ns,
        )
        .with_audit(audit, m);
        about.file = file.as_deref();
        about.pod = self.opts.pod.as_deref();
        let doc = self.book.doc(&end, &about)?;
        let bytes = match self.opts.format {
            ReportFormat::Html => report::page(&doc).into_bytes(),
            ReportFormat::Json => crate::output::wire::to_line(&doc).into_bytes(),
        };
        match &self.opts.out {
            Some(path) => {
                write_atomically(path, &bytes)?;
                eprintln!(
                    "nstrace: wrote {} ({} bytes: {} pods, {} shutdowns, {} findings)",
                    path.display(),
                    bytes.len(),
                    doc.topology.pods.len() + doc.gone_pods.len(),
                    doc.shutdowns.len(),
                    doc.findings.len()
                );
            }
            None => write_stdout(&bytes)?,
        }
        Ok(Outcome::Done)
    }
}
