//! Detectors: pure functions of the event stream, the model and time (event
//! timestamps, plus clock ticks in live mode), producing findings. No I/O,
//! so every edge is tested from hand-built event sequences and a replay gives
//! exactly what the live run gave.

pub mod joins;
pub mod pid1;
pub mod policy;
pub mod ports;
pub mod sessions;
pub mod shutdown;

use std::fmt;

use nstrace_common::sig;

/// The signals the detectors read (PID 1's SIGTERM, the graceful signals it
/// passes on, the SIGKILL that ends a grace period): what the agent streams.
/// The detectors judge nothing by any other signal.
pub const SIGNALS_READ: [u32; 7] = sig::TERMINATING;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// For the record.
    Info,
    /// Worth a look.
    Low,
    /// Should be fixed.
    Medium,
    /// Fix now.
    High,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
    ];

    /// The severity with this name.
    pub fn from_name(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What was found; the names are stable (JSON, --fail-on, policies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// A PID-namespace init (or subreaper) leaves zombies unreaped.
    Pid1NeverReaps,
    /// SIGTERM to a PID-namespace init was dropped by the kernel.
    Pid1IgnoresSigterm,
    /// The init took SIGTERM but did not pass it on to its children.
    SigtermNotForwarded,
    /// PID 1 exited after SIGTERM and the kernel killed processes that never
    /// had a graceful signal.
    KilledAtTeardown,
    /// Predicted: a container's PID 1 has no SIGTERM handler.
    Pid1WillIgnoreSigterm,
    /// Predicted: a container's PID 1 neither is a reaping init nor handles SIGCHLD.
    Pid1NotReapingCapable,
    /// Predicted: a container's PID 1 is a server to which SIGTERM is not a
    /// graceful stop (a reload, or a fast stop that cuts work in flight).
    Pid1StopSignal,
    /// A container that got SIGTERM was ended by SIGKILL.
    SlowShutdown,
    /// A process in a container joined one of the node's namespaces.
    HostNamespaceJoin,
    /// A process in a container joined a namespace of another pod.
    CrossPodJoin,
    /// A user namespace was created.
    UserNamespaceCreated,
    /// Any other namespace join or creation (node administration, runtimes).
    NamespaceJoin,
    /// A bind in a container was refused: another container of its pod (or
    /// the node, for a hostNetwork pod) holds the port.
    PortConflict,
    /// A program of the node entered a container and ran a command there
    /// (podman/CRI/docker exec, nsenter).
    ExecSession,
    /// A command run into a container on a regular period (an exec probe):
    /// said once, then counted.
    ExecProbe,
    /// A container was started into another container's PID (or network)
    /// namespace (kubectl debug --target, --pid container:X).
    DebugContainer,
}

impl FindingKind {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Pid1NeverReaps => "pid1_never_reaps",
            FindingKind::Pid1IgnoresSigterm => "pid1_ignores_sigterm",
            FindingKind::SigtermNotForwarded => "sigterm_not_forwarded",
            FindingKind::KilledAtTeardown => "killed_at_teardown",
            FindingKind::Pid1WillIgnoreSigterm => "pid1_will_ignore_sigterm",
            FindingKind::Pid1NotReapingCapable => "pid1_not_reaping_capable",
            FindingKind::Pid1StopSignal => "pid1_stop_signal",
            FindingKind::SlowShutdown => "slow_shutdown",
            FindingKind::HostNamespaceJoin => "host_namespace_join",
            FindingKind::CrossPodJoin => "cross_pod_join",
            FindingKind::UserNamespaceCreated => "user_namespace_created",
            FindingKind::NamespaceJoin => "namespace_join",
            FindingKind::PortConflict => "port_conflict",
            FindingKind::ExecSession => "exec_session",
            FindingKind::ExecProbe => "exec_probe",
            FindingKind::DebugContainer => "debug_container",
        }
    }

    /// Every kind, for parsing names.
    pub const ALL: [FindingKind; 16] = [
        FindingKind::Pid1NeverReaps,
        FindingKind::Pid1IgnoresSigterm,
        FindingKind::SigtermNotForwarded,
        FindingKind::KilledAtTeardown,
        FindingKind::Pid1WillIgnoreSigterm,
        FindingKind::Pid1NotReapingCapable,
        FindingKind::Pid1StopSignal,
        FindingKind::SlowShutdown,
        FindingKind::HostNamespaceJoin,
        FindingKind::CrossPodJoin,
        FindingKind::UserNamespaceCreated,
        FindingKind::NamespaceJoin,
        FindingKind::PortConflict,
        FindingKind::ExecSession,
        FindingKind::ExecProbe,
        FindingKind::DebugContainer,
    ];
}

/// One finding, with the evidence that supports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What.
    pub kind: FindingKind,
    /// How bad.
    pub severity: Severity,
    /// When it was confirmed (monotonic ns).
    pub ts_ns: u64,
    /// The process it is about (node pid).
    pub pid: u32,
    /// Its command.
    pub comm: String,
    /// Its PID namespace inode.
    pub pid_ns: u32,
    /// The facts behind it, typed by kind (`output` turns them into words).
    pub evidence: Evidence,
}

/// The facts behind a finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// `pid1_never_reaps`: the lasting zombies.
    Unreaped(Box<pid1::Unreaped>),
    /// `pid1_ignores_sigterm`: who sent the dropped SIGTERM.
    IgnoredSigterm(pid1::IgnoredSigterm),
    /// `sigterm_not_forwarded`: who got no graceful signal.
    NotForwarded(Box<pid1::NotForwarded>),
    /// `killed_at_teardown`: who forwarded to whom, who was killed.
    Teardown(Box<pid1::TeardownKills>),
    /// A prediction about a PID 1 (or its withdrawal).
    Prediction(Box<pid1::Prediction>),
    /// `slow_shutdown`: the whole timeline.
    Shutdown(Box<shutdown::Timeline>),
    /// Namespace joins and creations: the classified join.
    Join(Box<joins::Join>),
    /// `port_conflict`: the refused bind and who holds the port.
    PortConflict(Box<ports::PortConflict>),
    /// `exec_session`: who entered which container, how, with what.
    Session(Box<sessions::Session>),
    /// `exec_probe`: the command recognised as a probe.
    Probe(Box<sessions::Probe>),
    /// `debug_container`: the new container and the one it attached to.
    Attach(Box<sessions::Attach>),
}

impl Finding {
    /// Whether this withdraws an earlier prediction.
    pub fn resolved(&self) -> bool {
        matches!(&self.evidence, Evidence::Prediction(p) if p.resolved)
    }

    /// The classified join, for namespace-join findings.
    pub fn join(&self) -> Option<&joins::Join> {
        match &self.evidence {
            Evidence::Join(j) => Some(j),
            _ => None,
        }
    }

    /// Whether it is shown (printed, logged) at `--min-severity min`: at or
    /// above it; a withdrawn prediction when the prediction itself was.
    pub fn shown_at(&self, min: Severity) -> bool {
        let level = if self.resolved() {
            pid1::raised_severity(self.kind)
        } else {
            self.severity
        };
        level >= min
    }

    /// The runtime or network plugin, when this is a routine join: an info
    /// finding about a container runtime doing its ordinary work on the node
    /// (podman, conmon, runc, CNI entering the namespaces they just made).
    /// The agent counts these instead of logging them.
    pub fn routine(&self) -> Option<&str> {
        if self.severity != Severity::Info {
            return None;
        }
        self.join()?.expected.as_ref().map(|e| e.by.as_str())
    }

    /// The port clash, for `port_conflict` findings.
    pub fn port_conflict(&self) -> Option<&ports::PortConflict> {
        match &self.evidence {
            Evidence::PortConflict(c) => Some(c),
            _ => None,
        }
    }

    /// The session, for `exec_session` findings.
    pub fn session(&self) -> Option<&sessions::Session> {
        match &self.evidence {
            Evidence::Session(s) => Some(s),
            _ => None,
        }
    }

    /// The probe, for `exec_probe` findings.
    pub fn probe(&self) -> Option<&sessions::Probe> {
        match &self.evidence {
            Evidence::Probe(p) => Some(p),
            _ => None,
        }
    }

    /// The attachment, for `debug_container` findings.
    pub fn attach(&self) -> Option<&sessions::Attach> {
        match &self.evidence {
            Evidence::Attach(a) => Some(a),
            _ => None,
        }
    }

    /// Where a finding is placed when its evidence says (a join's actor
    /// before the call, the container a session entered, the new container
    /// of an attachment), rather than where its process lives now.
    pub fn place(&self) -> Option<&Place> {
        match &self.evidence {
            Evidence::Join(j) => Some(&j.actor.place),
            Evidence::Session(s) => Some(&s.container),
            Evidence::Probe(p) => Some(&p.container),
            Evidence::Attach(a) => Some(&a.container),
            _ => None,
        }
    }

    /// The engine or tool that made it, for sessions, probes and
    /// attachments (`podman`, `containerd`, `nsenter`…): a metric label.
    pub fn runtime(&self) -> Option<&str> {
        match &self.evidence {
            Evidence::Session(s) => Some(&s.by.runtime),
            Evidence::Probe(p) => Some(&p.runtime),
            Evidence::Attach(a) => Some(&a.by.runtime),
            _ => None,
        }
    }
}

use crate::event::Event;
use crate::model::{Model, Place, Release};

/// A finding with the place it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributed {
    /// The finding.
    pub finding: Finding,
    /// Where: a join where its actor lived before the call, anything else
    /// where its process lives (its pod and container, or the node).
    pub place: Place,
    /// The policy rule that allows it, if one does.
    pub allowed_by: Option<String>,
}

/// Every detector `audit` runs, fed in one order by the session. The model
/// is the session's: joins are classified against the model before an event
/// is applied ([`Audit::before_event`]), everything else after it
/// ([`Audit::on_event`]), while a reaped process is still in the model.
pub struct Audit {
    /// PID-1 detectors.
    pub pid1: pid1::Pid1,
    /// Shutdown timelines.
    pub shutdowns: shutdown::Shutdowns,
    /// Namespace joins and creations.
    pub joins: joins::Joins,
    /// Port clashes.
    pub ports: ports::Ports,
    /// Exec sessions, probes and debug containers.
    pub sessions: sessions::Sessions,
    /// Allow rules.
    pub policy: policy::Policy,
    /// Hits per policy rule, in rule order.
    pub policy_hits: Vec<usize>,
    /// Namespace inits whose signal handling was judged (node pids): what
    /// a quiet run looked at.
    pub judged: std::collections::BTreeSet<u32>,
    /// Processes seen reaping a child (node pids).
    pub reapers: std::collections::BTreeSet<u32>,
    /// Joins classified before the current event was applied.
    pending: Vec<Finding>,
}

impl Audit {
    /// Detectors for a node whose own PID and mount namespaces are
    /// `node_pid_ns` and `node_mnt`.
    pub fn new(
        node_pid_ns: u32,
        node_mnt: u32,
        cfg: pid1::Config,
        policy: policy::Policy,
    ) -> Audit {
        Audit {
            pid1: pid1::Pid1::new(cfg, node_pid_ns),
            shutdowns: shutdown::Shutdowns::new(node_pid_ns),
            joins: joins::Joins::new(),
            ports: ports::Ports::new(),
            sessions: sessions::Sessions::new(node_mnt),
            policy_hits: vec![0; policy.rules.len()],
            judged: Default::default(),
            reapers: Default::default(),
            policy,
            pending: Vec::new(),
        }
    }

    /// Takes the start-up state (zombies already there).
    pub fn seed(&mut self, m: &Model) {
        self.pid1.seed(m);
    }

    fn attribute(&mut self, found: Vec<Finding>, m: &Model) -> Vec<Attributed> {
        let mut out: Vec<Attributed> = found
            .into_iter()
            .map(|f| {
                let place = match f.place() {
                    Some(p) => p.clone(),
                    None => m.place_of_process(f.pid, f.pid_ns),
                };
                Attributed {
                    finding: f,
                    place,
                    allowed_by: None,
                }
            })
            .collect();
        for a in &mut out {
            if let Some(i) = self.policy.allows(a) {
                self.policy_hits[i] += 1;
                a.allowed_by = Some(self.policy.rules[i].name.clone());
            }
        }
        out
    }

    /// Sees `ev` with the model as it was before the event.
    pub fn before_event(&mut self, ev: &Event, m: &Model) {
        self.pending.extend(self.joins.on_event(ev, m));
    }

    /// Sees `ev` with the model after it; returns what was confirmed.
    pub fn on_event(&mut self, ev: &Event, m: &Model) -> Vec<Attributed> {
        let mut found = std::mem::take(&mut self.pending);
        found.extend(self.pid1.on_event(ev, m));
        found.extend(self.shutdowns.on_event(ev, m));
        found.extend(self.ports.on_event(ev, m));
        found.extend(self.sessions.on_event(ev, m));
        if found.is_empty() {
            return Vec::new();
        }
        self.attribute(found, m)
    }

    /// Processes leave the model (still in it for placing); returns what was confirmed.
    pub fn released(&mut self, released: &[Release], m: &Model) -> Vec<Attributed> {
        let mut found = Vec::new();
        for r in released {
            // Who reaped: the waiter, or the parent of a freed zombie.
            match r.witness {
                crate::model::Witness::Waited { reaper } => {
                    self.reapers.insert(reaper);
                }
                crate::model::Witness::Freed => {
                    self.reapers.extend(m.get(r.pid).map(|p| p.ppid));
                }
                _ => {}
            }
            self.pid1.released(r.pid);
            self.ports.forget(r.pid);
            found.extend(self.shutdowns.released(r.pid));
        }
        if found.is_empty() {
            return Vec::new();
        }
        self.attribute(found, m)
    }

    /// Advances the clock.
    pub fn on_tick(&mut self, now_ns: u64, m: &Model) -> Vec<Attributed> {
        let node_pid = m.node.pid;
        self.judged.extend(
            m.processes()
                .filter(|p| p.signals.known && p.is_ns_init(node_pid))
                .map(|p| p.pid),
        );
        let mut found = self.pid1.on_tick(now_ns, m);
        found.extend(self.sessions.on_tick(now_ns, m));
        if found.is_empty() {
            return Vec::new();
        }
        self.attribute(found, m)
    }

    /// The trace ended: what is still open or held back (sessions) is said.
    pub fn finish(&mut self, m: &Model) -> Vec<Attributed> {
        let found = self.sessions.finish(m);
        if found.is_empty() {
            return Vec::new();
        }
        self.attribute(found, m)
    }
}
