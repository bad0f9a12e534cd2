//! Detectors: pure functions of the event stream, the model and time (event
//! timestamps, plus clock ticks in live mode), producing findings. No I/O,
//! so every edge is tested from hand-built event sequences and a replay gives
//! exactly what the live run gave.

pub mod joins;
pub mod pid1;
pub mod policy;
pub mod shutdown;

use std::fmt;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
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
}

impl FindingKind {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Pid1NeverReaps => "pid1_never_reaps",
            FindingKind::Pid1IgnoresSigterm => "pid1_ignores_sigterm",
            FindingKind::SigtermNotForwarded => "sigterm_not_forwarded",
            FindingKind::SlowShutdown => "slow_shutdown",
            FindingKind::HostNamespaceJoin => "host_namespace_join",
            FindingKind::CrossPodJoin => "cross_pod_join",
            FindingKind::UserNamespaceCreated => "user_namespace_created",
            FindingKind::NamespaceJoin => "namespace_join",
        }
    }

    /// Every kind, for parsing names.
    pub const ALL: [FindingKind; 8] = [
        FindingKind::Pid1NeverReaps,
        FindingKind::Pid1IgnoresSigterm,
        FindingKind::SigtermNotForwarded,
        FindingKind::SlowShutdown,
        FindingKind::HostNamespaceJoin,
        FindingKind::CrossPodJoin,
        FindingKind::UserNamespaceCreated,
        FindingKind::NamespaceJoin,
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
    /// One sentence.
    pub summary: String,
    /// Supporting facts, one per line.
    pub evidence: Vec<String>,
    /// For namespace-join findings: the classified join.
    pub join: Option<Box<joins::Join>>,
}

use crate::event::Event;
use crate::model::{topology, Model};

/// A finding with the pod and container it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributed {
    /// The finding.
    pub finding: Finding,
    /// Pod name, if the process is in a pod.
    pub pod: Option<String>,
    /// Container id, if the process is in a container.
    pub container: Option<String>,
    /// The policy rule that allows it, if one does.
    pub allowed_by: Option<String>,
}

/// Places a process (or, when it is gone, its PID namespace) in the topology.
pub fn locate(m: &Model, pid: u32, pid_ns: u32) -> (Option<String>, Option<String>) {
    let t = topology::build(m);
    let hit = |c: &topology::Container| {
        c.processes.iter().any(|p| p.pid == pid)
            || (pid_ns != 0 && c.ns.pid == pid_ns && c.init.pid == pid)
    };
    for pod in &t.pods {
        if let Some(c) = pod.containers.iter().find(|c| hit(c)) {
            return (Some(pod.name.clone()), Some(c.id.clone()));
        }
    }
    for c in &t.lone {
        if hit(c) {
            return (None, Some(c.id.clone()));
        }
    }
    (None, None)
}

/// Everything `audit` runs: the model and every detector, fed in one order.
pub struct Audit {
    /// The process model.
    pub model: Model,
    /// PID-1 detectors.
    pub pid1: pid1::Pid1,
    /// Shutdown timelines.
    pub shutdowns: shutdown::Shutdowns,
    /// Namespace joins and creations.
    pub joins: joins::Joins,
    /// Allow rules.
    pub policy: policy::Policy,
    /// Hits per policy rule, in rule order.
    pub policy_hits: Vec<usize>,
}

impl Audit {
    /// Starts from a model (usually a /proc snapshot).
    pub fn new(model: Model, cfg: pid1::Config, policy: policy::Policy) -> Audit {
        let node_pid = model.node.pid;
        let mut pid1 = pid1::Pid1::new(cfg, node_pid);
        pid1.seed(&model);
        Audit {
            model,
            pid1,
            shutdowns: shutdown::Shutdowns::new(node_pid),
            joins: joins::Joins::new(),
            policy_hits: vec![0; policy.rules.len()],
            policy,
        }
    }

    /// Adds a process of the start-up snapshot (a replay's process records).
    pub fn add_snapshot(&mut self, p: crate::model::Process) {
        self.pid1.seed_one(&p);
        self.model.add_snapshot(p);
    }

    fn attribute(&mut self, found: Vec<Finding>) -> Vec<Attributed> {
        let mut out: Vec<Attributed> = found
            .into_iter()
            .map(|f| {
                // A join is placed where its actor lived before the call.
                let (pod, container) = match &f.join {
                    Some(j) => (
                        j.actor.place.pod().map(str::to_owned),
                        j.actor.place.container().map(str::to_owned),
                    ),
                    None => locate(&self.model, f.pid, f.pid_ns),
                };
                Attributed {
                    finding: f,
                    pod,
                    container,
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

    /// Feeds one event. Joins are classified before the event changes the
    /// model; attribution happens before the model forgets a reaped process.
    pub fn on_event(&mut self, ev: &Event) -> Vec<Attributed> {
        let mut found: Vec<Finding> = self.joins.on_event(ev, &self.model).into_iter().collect();
        let reap = matches!(ev, Event::Reap(_));
        if !reap {
            self.model.apply(ev);
        }
        found.extend(self.pid1.on_event(ev, &self.model));
        found.extend(self.shutdowns.on_event(ev));
        let out = self.attribute(found);
        if reap {
            self.model.apply(ev);
        }
        out
    }

    /// Advances the clock.
    pub fn on_tick(&mut self, now_ns: u64) -> Vec<Attributed> {
        let found = self.pid1.on_tick(now_ns, &self.model);
        self.attribute(found)
    }
}
