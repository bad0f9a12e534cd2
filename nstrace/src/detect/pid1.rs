//! PID-1 behaviour: inits that never reap, that ignore SIGTERM, or that take
//! SIGTERM and never pass it on.
//!
//! Kernel facts used: a PID-namespace init is SIGNAL_UNKILLABLE, so a signal
//! whose handler is SIG_DFL is dropped (signal_generate result 1); orphans are
//! reparented to the nearest subreaper or the init, so a zombie whose parent at
//! exit is not its creator was reparented; when the init exits the kernel
//! SIGKILLs the rest of its namespace, after the init's exit event.

use std::collections::{BTreeMap, HashMap, HashSet};

use nstrace_common::{sig, SigResult};

use super::{Evidence, Finding, FindingKind, Severity};
use crate::event::names::CLONE_THREAD;
use crate::event::{cstr, Event};
use crate::model::{Disposition, Init, Model, Process};

/// Detector settings.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// A zombie older than this is a finding (ns).
    pub zombie_after_ns: u64,
    /// Time the init has to pass SIGTERM on (ns).
    pub forward_window_ns: u64,
    /// How long a container's PID 1 runs its program before its signal
    /// handling is judged (ns): a program installs its handlers first thing.
    pub predict_after_ns: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            zombie_after_ns: 5_000_000_000,
            forward_window_ns: 2_000_000_000,
            predict_after_ns: 3_000_000_000,
        }
    }
}

/// Evidence of `pid1_never_reaps`: the zombies a reaper leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreaped {
    /// Whether the reaper is a PID-namespace init (else a child subreaper).
    pub init: bool,
    /// The zombies, by pid.
    pub zombies: Vec<ZombieFact>,
    /// Whether the reaper ever called wait4/waitid.
    pub waited: bool,
    /// The `--zombie-after` threshold (ns).
    pub threshold_ns: u64,
}

/// One lasting zombie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZombieFact {
    /// Its pid.
    pub pid: u32,
    /// Its command.
    pub comm: String,
    /// How long since it exited (or, for one found at start, since it was seen).
    pub age_ns: u64,
    /// Its wait status.
    pub code: u32,
    /// Reparented to the reaper (not the reaper's own child).
    pub orphan: bool,
    /// Already a zombie when tracing started (exit time and origin unknown).
    pub at_start: bool,
}

/// Evidence of `pid1_ignores_sigterm`: who sent the SIGTERM the kernel dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredSigterm {
    /// Sender pid.
    pub sender: u32,
    /// Sender command.
    pub sender_comm: String,
}

/// Evidence of `killed_at_teardown`: PID 1 exited after SIGTERM, and the
/// kernel SIGKILLed the rest of its namespace, some of which never got a
/// graceful signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeardownKills {
    /// Which init it is.
    pub init: Init,
    /// Who sent PID 1 its SIGTERM.
    pub sender: (u32, String),
    /// Graceful signals passed on inside the namespace: from, to.
    pub forwards: Vec<((u32, String), (u32, String))>,
    /// Killed by the kernel without a graceful signal: pid, command.
    pub killed: Vec<(u32, String)>,
}

/// Evidence of a prediction (`pid1_will_ignore_sigterm`, `pid1_not_reaping_capable`),
/// or of its withdrawal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prediction {
    /// Which init it is.
    pub init: Init,
    /// What it does with the signal judged (SIGTERM, or SIGCHLD).
    pub disposition: Disposition,
    /// How long it had run its program when judged (ns).
    pub age_ns: u64,
    /// The condition no longer holds: the finding is withdrawn.
    pub resolved: bool,
}

/// Evidence of `sigterm_not_forwarded`: PID 1 took SIGTERM, passed nothing
/// on, and its processes kept running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotForwarded {
    /// Which init it is.
    pub init: Init,
    /// Who sent PID 1 its SIGTERM.
    pub sender: u32,
    /// Sender command.
    pub sender_comm: String,
    /// Time since the SIGTERM (ns).
    pub since_ns: u64,
    /// The processes that got no graceful signal: pid and command.
    pub processes: Vec<(u32, String)>,
}

#[derive(Clone, Debug)]
struct Zombie {
    comm: String,
    /// When it exited (or, for one found at start, when it was first seen).
    exit_ns: u64,
    code: u32,
    parent: u32,
    orphan: bool,
    /// Its own PID namespace.
    pid_ns: u32,
    /// Already a zombie when tracing started (exit time and origin unknown).
    at_start: bool,
}

#[derive(Clone, Debug)]
struct TermTaken {
    at_ns: u64,
    sender: u32,
    sender_comm: String,
    /// The init's PID namespace.
    pid_ns: u32,
    /// The init sent a terminating signal to another process.
    forwarded: bool,
    /// Processes of the namespace that got a graceful terminating signal since.
    graceful: HashSet<u32>,
    /// Those signals: from, to.
    forwards: Vec<((u32, String), (u32, String))>,
    reported: bool,
}

/// The severity a prediction of `kind` is raised at (its withdrawal is
/// info): what decides whether the withdrawal is shown where the prediction was.
pub fn raised_severity(kind: FindingKind) -> Severity {
    match kind {
        FindingKind::Pid1WillIgnoreSigterm => Severity::Medium,
        FindingKind::Pid1NotReapingCapable => Severity::Low,
        _ => Severity::Info,
    }
}

/// The PID-1 detectors.
#[derive(Debug, Default)]
pub struct Pid1 {
    cfg: Config,
    node_pid_ns: u32,
    creators: HashMap<u32, u32>,
    zombies: BTreeMap<u32, Zombie>,
    waited: HashSet<u32>,
    reap_reported: HashSet<u32>,
    ignore_reported: HashSet<u32>,
    term: HashMap<u32, TermTaken>,
    /// Inits predicted to drop SIGTERM.
    will_ignore: HashSet<u32>,
    /// Inits predicted not to reap.
    not_reaping: HashSet<u32>,
    last_ns: u64,
}

impl Pid1 {
    /// A detector for a node whose own PID namespace is `node_pid_ns`.
    pub fn new(cfg: Config, node_pid_ns: u32) -> Pid1 {
        Pid1 {
            cfg,
            node_pid_ns,
            ..Pid1::default()
        }
    }

    /// Whether `pid` is the init of a PID namespace other than the node's.
    fn is_ns_init(&self, m: &Model, pid: u32) -> bool {
        m.get(pid)
            .is_some_and(|p| p.ns_pid == 1 && p.ns.pid != self.node_pid_ns && p.ns.pid != 0)
    }

    /// Living (not zombie) processes other than `init` in `init`'s PID namespace.
    fn living_children(m: &Model, init: u32) -> Vec<(u32, String)> {
        let Some(ns) = m.get(init).map(|p| p.ns.pid) else {
            return Vec::new();
        };
        m.processes()
            .filter(|p| p.pid != init && p.ns.pid == ns && !p.zombie)
            .map(|p| (p.pid, p.comm.clone()))
            .collect()
    }

    /// Takes the zombies a start-up snapshot shows: their exit is before
    /// tracing, so their age counts from when they were seen.
    pub fn seed(&mut self, m: &Model) {
        for p in m.processes() {
            self.seed_one(p);
        }
    }

    /// Takes one snapshot process, if it is a zombie.
    pub fn seed_one(&mut self, p: &crate::model::Process) {
        if p.zombie {
            self.zombies.entry(p.pid).or_insert(Zombie {
                comm: p.comm.clone(),
                exit_ns: p.seen_ns,
                code: 0,
                parent: p.ppid,
                orphan: false,
                pid_ns: p.ns.pid,
                at_start: true,
            });
        }
    }

    /// Lasting zombies (older than `--zombie-after` now) per PID namespace
    /// inode they live in: the live count.
    pub fn zombie_counts(&self) -> BTreeMap<u32, usize> {
        let mut out = BTreeMap::new();
        for z in self.zombies.values() {
            // The node's own zombies belong to its init system, not to a container.
            if z.pid_ns == self.node_pid_ns {
                continue;
            }
            if self.last_ns.saturating_sub(z.exit_ns) >= self.cfg.zombie_after_ns {
                *out.entry(z.pid_ns).or_insert(0) += 1;
            }
        }
        out
    }

    /// Feeds one event (after the model has applied it).
    pub fn on_event(&mut self, ev: &Event, m: &Model) -> Vec<Finding> {
        let mut out = Vec::new();
        let h = ev.header();
        self.last_ns = self.last_ns.max(h.ts_ns);
        match ev {
            Event::Create(c) if c.clone_flags & CLONE_THREAD == 0 => {
                self.creators.insert(h.tgid, c.creator_tgid);
                // A reused pid is a new process.
                self.zombies.remove(&h.tgid);
                self.term.remove(&h.tgid);
            }
            Event::Wait(_) => {
                self.waited.insert(h.tgid);
            }
            // A new program: what the old one did (its waits) says nothing about it.
            Event::Exec(_) => {
                self.waited.remove(&h.tgid);
            }
            Event::Exit(e) if e.group_dead != 0 => {
                if let Some(t) = self.term.remove(&h.tgid) {
                    // The kernel now SIGKILLs the rest of the namespace: whoever
                    // got no graceful signal is killed without a chance to clean up.
                    // (An init SIGKILLed at the end of the grace period is the
                    // slow shutdown's story, not this one.)
                    let killed = e.exit_code & 0x7f == sig::KILL;
                    if !t.reported && !killed {
                        let kids: Vec<(u32, String)> = Self::living_children(m, h.tgid)
                            .into_iter()
                            .filter(|(pid, _)| !t.graceful.contains(pid))
                            .collect();
                        if !kids.is_empty() {
                            out.push(teardown(m, h.tgid, h.ts_ns, t, kids));
                        }
                    }
                }
                let parent = h.ppid;
                if parent != 0 {
                    let orphan = self.creators.get(&h.tgid).is_some_and(|c| *c != parent);
                    self.zombies.insert(
                        h.tgid,
                        Zombie {
                            comm: cstr(&h.comm).into_owned(),
                            exit_ns: h.ts_ns,
                            code: e.exit_code,
                            parent,
                            orphan,
                            pid_ns: h.ns.pid,
                            at_start: false,
                        },
                    );
                }
            }
            Event::Reap(_) if h.tid == h.tgid => {
                self.will_ignore.remove(&h.tgid);
                self.not_reaping.remove(&h.tgid);
                // Everything kept about a process ends with it: state stays
                // bounded on a node where processes come and go for hours.
                self.zombies.remove(&h.tgid);
                self.creators.remove(&h.tgid);
                self.waited.remove(&h.tgid);
                self.reap_reported.remove(&h.tgid);
                self.ignore_reported.remove(&h.tgid);
            }
            Event::SignalGenerate(s) => {
                let target_is_init = s.target_ns_tgid == 1
                    && s.target_ns.pid != self.node_pid_ns
                    && s.target_ns.pid != 0;
                // A SIGTERM PID 1 sends itself (busybox re-raising the signal it
                // handled, on its way out) says nothing about how it is stopped.
                let from_outside = h.tgid != s.target_tgid;
                if s.sig == sig::TERM && target_is_init && from_outside {
                    match s.verdict() {
                        Some(SigResult::Ignored) if self.ignore_reported.insert(s.target_tgid) => {
                            out.push(Finding {
                                kind: FindingKind::Pid1IgnoresSigterm,
                                severity: Severity::High,
                                ts_ns: h.ts_ns,
                                pid: s.target_tgid,
                                comm: cstr(&s.target_comm).into_owned(),
                                pid_ns: s.target_ns.pid,
                                evidence: Evidence::IgnoredSigterm(IgnoredSigterm {
                                    sender: h.tgid,
                                    sender_comm: cstr(&h.comm).into_owned(),
                                }),
                            });
                        }
                        Some(r) if r.reaches_target() => {
                            self.term.entry(s.target_tgid).or_insert(TermTaken {
                                at_ns: h.ts_ns,
                                sender: h.tgid,
                                sender_comm: cstr(&h.comm).into_owned(),
                                pid_ns: s.target_ns.pid,
                                forwarded: false,
                                graceful: HashSet::new(),
                                forwards: Vec::new(),
                                reported: false,
                            });
                        }
                        _ => {}
                    }
                }
                // Any graceful signal into a namespace whose init is shutting down, from anyone.
                if sig::GRACEFUL.contains(&s.sig)
                    && s.verdict().is_some_and(SigResult::reaches_target)
                {
                    for (init, t) in self.term.iter_mut() {
                        if t.pid_ns == s.target_ns.pid {
                            t.graceful.insert(s.target_tgid);
                            if s.target_tgid != *init {
                                t.forwards.push((
                                    (h.tgid, cstr(&h.comm).into_owned()),
                                    (s.target_tgid, cstr(&s.target_comm).into_owned()),
                                ));
                            }
                        }
                    }
                }
                // The init passing a terminating signal on to another process.
                if sig::TERMINATING.contains(&s.sig) && s.target_tgid != h.tgid {
                    if let Some(t) = self.term.get_mut(&h.tgid) {
                        t.forwarded = true;
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// Judges every container PID 1 that has run its program long enough:
    /// will it drop SIGTERM (a shell or an application with no handler), can
    /// it reap (an init program, or SIGCHLD handled or ignored)? Raised once,
    /// withdrawn when it changes.
    fn predict(&mut self, now_ns: u64, m: &Model, out: &mut Vec<Finding>) {
        for p in m.processes() {
            let init_here = p.ns_pid == 1
                && p.ns.pid != self.node_pid_ns
                && p.ns.pid != 0
                && !p.zombie
                && p.signals.known;
            let age = now_ns.saturating_sub(p.program_ns);
            if !init_here || age < self.cfg.predict_after_ns {
                continue;
            }
            let init = p.init();
            let term = p.signals.of(sig::TERM);
            // An init program takes SIGTERM by design, often with sigtimedwait,
            // which /proc cannot show (the wait unblocks what it waits for).
            let drops =
                !init.is_init() && matches!(term, Disposition::Default | Disposition::Ignored);
            if let Some(f) = toggle(&mut self.will_ignore, drops, p, now_ns, || Prediction {
                init: init.clone(),
                disposition: term,
                age_ns: age,
                resolved: !drops,
            }) {
                out.push(Finding {
                    kind: FindingKind::Pid1WillIgnoreSigterm,
                    severity: if drops {
                        raised_severity(FindingKind::Pid1WillIgnoreSigterm)
                    } else {
                        Severity::Info
                    },
                    ..f
                });
            }
            let chld = p.signals.of(sig::CHLD);
            let reaps = init.reaps()
                || matches!(
                    chld,
                    Disposition::Handled | Disposition::Ignored | Disposition::Blocked
                );
            if let Some(f) = toggle(&mut self.not_reaping, !reaps, p, now_ns, || Prediction {
                init: init.clone(),
                disposition: chld,
                age_ns: age,
                resolved: reaps,
            }) {
                out.push(Finding {
                    kind: FindingKind::Pid1NotReapingCapable,
                    severity: if reaps {
                        Severity::Info
                    } else {
                        raised_severity(FindingKind::Pid1NotReapingCapable)
                    },
                    ..f
                });
            }
        }
    }

    /// Advances time to `now_ns` (live clock ticks, or the last event time).
    pub fn on_tick(&mut self, now_ns: u64, m: &Model) -> Vec<Finding> {
        let mut out = Vec::new();
        self.last_ns = self.last_ns.max(now_ns);
        self.predict(now_ns, m, &mut out);
        // Zombies older than the threshold, grouped by the parent that should reap them.
        let mut by_parent: BTreeMap<u32, Vec<(u32, &Zombie)>> = BTreeMap::new();
        for (pid, z) in &self.zombies {
            if now_ns.saturating_sub(z.exit_ns) >= self.cfg.zombie_after_ns {
                by_parent.entry(z.parent).or_default().push((*pid, z));
            }
        }
        for (parent, zs) in by_parent {
            let init = self.is_ns_init(m, parent);
            // Orphans go to the nearest subreaper (a zombie found at start has
            // no known origin, so only its namespace's init is blamed for it).
            let subreaper = !init && zs.iter().any(|(_, z)| z.orphan);
            if !(init || subreaper) || self.reap_reported.contains(&parent) {
                continue;
            }
            let Some(p) = m.get(parent) else { continue };
            let zombies = zs
                .iter()
                .map(|(pid, z)| ZombieFact {
                    pid: *pid,
                    comm: z.comm.clone(),
                    age_ns: now_ns - z.exit_ns,
                    code: z.code,
                    orphan: z.orphan,
                    at_start: z.at_start,
                })
                .collect();
            out.push(Finding {
                kind: FindingKind::Pid1NeverReaps,
                severity: Severity::Medium,
                ts_ns: now_ns,
                pid: parent,
                comm: p.comm.clone(),
                pid_ns: p.ns.pid,
                evidence: Evidence::Unreaped(Box::new(Unreaped {
                    init,
                    zombies,
                    waited: self.waited.contains(&parent),
                    threshold_ns: self.cfg.zombie_after_ns,
                })),
            });
            self.reap_reported.insert(parent);
        }
        // SIGTERM taken but not passed on within the window while children run.
        let due: Vec<u32> = self
            .term
            .iter()
            .filter(|(_, t)| {
                !t.forwarded
                    && !t.reported
                    && now_ns.saturating_sub(t.at_ns) >= self.cfg.forward_window_ns
            })
            .map(|(pid, _)| *pid)
            .collect();
        for init in due {
            let kids = Self::living_children(m, init);
            let t = self.term[&init].clone();
            if !kids.is_empty() && m.get(init).is_some_and(|p| !p.zombie) {
                out.push(self.not_forwarded(m, init, now_ns, &t, &kids));
                if let Some(t) = self.term.get_mut(&init) {
                    t.reported = true;
                }
            }
        }
        out
    }

    fn not_forwarded(
        &self,
        m: &Model,
        init: u32,
        now_ns: u64,
        t: &TermTaken,
        kids: &[(u32, String)],
    ) -> Finding {
        let p = m.get(init);
        Finding {
            kind: FindingKind::SigtermNotForwarded,
            severity: Severity::Medium,
            ts_ns: now_ns,
            pid: init,
            comm: p.map(|p| p.comm.clone()).unwrap_or_default(),
            pid_ns: p.map(|p| p.ns.pid).unwrap_or(0),
            evidence: Evidence::NotForwarded(Box::new(NotForwarded {
                init: p.map(Process::init).unwrap_or(Init::App(String::new())),
                sender: t.sender,
                sender_comm: t.sender_comm.clone(),
                since_ns: now_ns - t.at_ns,
                processes: kids.to_vec(),
            })),
        }
    }
}

/// Raises a prediction when `now` holds and it was not raised, withdraws it
/// when it no longer holds and it was; `None` when nothing changed.
fn toggle(
    raised: &mut HashSet<u32>,
    now: bool,
    p: &Process,
    now_ns: u64,
    evidence: impl FnOnce() -> Prediction,
) -> Option<Finding> {
    let was = raised.contains(&p.pid);
    if now == was {
        return None;
    }
    if now {
        raised.insert(p.pid);
    } else {
        raised.remove(&p.pid);
    }
    Some(Finding {
        kind: FindingKind::Pid1WillIgnoreSigterm,
        severity: Severity::Info,
        ts_ns: now_ns,
        pid: p.pid,
        comm: p.comm.clone(),
        pid_ns: p.ns.pid,
        evidence: Evidence::Prediction(Box::new(evidence())),
    })
}

/// PID 1 exited after SIGTERM; the kernel kills `killed` at teardown.
fn teardown(m: &Model, init: u32, ts_ns: u64, t: TermTaken, killed: Vec<(u32, String)>) -> Finding {
    let p = m.get(init);
    Finding {
        kind: FindingKind::KilledAtTeardown,
        severity: Severity::Low,
        ts_ns,
        pid: init,
        comm: p.map(|p| p.comm.clone()).unwrap_or_default(),
        pid_ns: p.map(|p| p.ns.pid).unwrap_or(t.pid_ns),
        evidence: Evidence::Teardown(Box::new(TeardownKills {
            init: p.map(Process::init).unwrap_or(Init::App(String::new())),
            sender: (t.sender, t.sender_comm),
            forwards: t.forwards,
            killed,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{exit, fork, hdr, reap};
    use crate::model::{Model, Process};
    use nstrace_common::{Kind, NsSet, SignalGenerateEvent, WaitEvent};

    const NODE_PID: u32 = 100;
    const POD_PID: u32 = 200;
    const S: u64 = 1_000_000_000;

    fn node() -> NsSet {
        NsSet::from_array([1, 2, 3, NODE_PID, NODE_PID, 6, 7, 8, 9])
    }

    fn pod() -> NsSet {
        let mut n = node();
        n.pid = POD_PID;
        n.pid_for_children = POD_PID;
        n.mnt = 11;
        n
    }

    /// A model with an init (pid 500, ns pid 1) in the pod's PID namespace.
    fn setup() -> (Model, Pid1) {
        let mut m = Model::new(node(), "node");
        m.add_snapshot(Process {
            pid: 500,
            ppid: 400,
            ns_pid: 1,
            comm: "sh".into(),
            ns: pod(),
            ..Process::default()
        });
        (m, Pid1::new(Config::default(), NODE_PID))
    }

    fn child(m: &mut Model, d: &mut Pid1, pid: u32, parent: u32, ts: u64, comm: &str) {
        let mut ev = fork(pid, parent, ts, pod(), comm);
        if let Event::Create(c) = &mut ev {
            c.hdr.ns_tgid = pid - 498;
        }
        m.apply(&ev);
        d.on_event(&ev, m);
    }

    fn unreaped(f: &Finding) -> &Unreaped {
        match &f.evidence {
            Evidence::Unreaped(u) => u,
            e => panic!("not pid1_never_reaps: {e:?}"),
        }
    }

    fn not_forwarded(f: &Finding) -> &NotForwarded {
        match &f.evidence {
            Evidence::NotForwarded(n) => n,
            e => panic!("not sigterm_not_forwarded: {e:?}"),
        }
    }

    fn feed(m: &mut Model, d: &mut Pid1, ev: Event) -> Vec<Finding> {
        m.apply(&ev);
        d.on_event(&ev, m)
    }

    fn sig(from: u32, to: u32, to_ns_pid: u32, sig: u32, result: u32, ts: u64) -> Event {
        Event::SignalGenerate(SignalGenerateEvent {
            hdr: hdr(Kind::SignalGenerate, from, 1, ts, node(), "sender"),
            sig,
            result,
            group: 1,
            target_tgid: to,
            target_tid: to,
            target_ns_tgid: to_ns_pid,
            target_ns: pod(),
            ..Default::default()
        })
    }

    fn wait(pid: u32, ts: u64) -> Event {
        Event::Wait(WaitEvent {
            hdr: hdr(Kind::Wait, pid, 1, ts, pod(), "sh"),
            ..Default::default()
        })
    }

    fn exit_with_parent(pid: u32, parent: u32, ts: u64) -> Event {
        let mut e = exit(pid, ts, 0);
        if let Event::Exit(x) = &mut e {
            x.hdr.ppid = parent;
            x.hdr.ns = pod();
        }
        e
    }

    #[test]
    fn init_that_never_reaps_an_orphan_is_reported_once() {
        let (mut m, mut d) = setup();
        // 501 (child of init) forks 502, exits and is reaped; 502 is orphaned to the init.
        child(&mut m, &mut d, 501, 500, S, "sh");
        child(&mut m, &mut d, 502, 501, S, "sleep");
        feed(&mut m, &mut d, exit_with_parent(501, 500, 2 * S));
        feed(&mut m, &mut d, reap(501, 2 * S));
        feed(&mut m, &mut d, exit_with_parent(502, 500, 3 * S));
        assert!(d.on_tick(7 * S, &m).is_empty(), "4 s old: not yet");
        let f = d.on_tick(8 * S, &m);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::Pid1NeverReaps);
        assert_eq!(f[0].pid, 500);
        let u = unreaped(&f[0]);
        assert!(u.zombies.iter().any(|z| z.pid == 502 && z.orphan));
        assert!(!u.waited, "never called wait");
        assert_eq!(d.zombie_counts().get(&POD_PID), Some(&1));
        assert!(d.on_tick(20 * S, &m).is_empty(), "reported once");
    }

    #[test]
    fn init_that_reaps_gives_nothing() {
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "sleep");
        feed(&mut m, &mut d, wait(500, S));
        feed(&mut m, &mut d, exit_with_parent(501, 500, 2 * S));
        feed(&mut m, &mut d, reap(501, 2 * S + 1000));
        assert!(d.on_tick(60 * S, &m).is_empty());
    }

    #[test]
    fn sigchld_ignored_means_autoreap_and_no_finding() {
        // With SIGCHLD ignored the kernel releases the child right at exit.
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "sleep");
        feed(&mut m, &mut d, exit_with_parent(501, 500, 2 * S));
        feed(&mut m, &mut d, reap(501, 2 * S));
        assert!(d.on_tick(60 * S, &m).is_empty());
    }

    #[test]
    fn zombies_of_ordinary_parents_are_not_pid1_findings() {
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "sh");
        child(&mut m, &mut d, 502, 501, S, "sleep");
        // 501 is no init and 502 is its own child, not a reparented orphan.
        feed(&mut m, &mut d, exit_with_parent(502, 501, 2 * S));
        assert!(d.on_tick(60 * S, &m).is_empty());
    }

    #[test]
    fn subreaper_holding_orphans_is_reported_as_such() {
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "subreaper");
        child(&mut m, &mut d, 502, 501, S, "sh");
        child(&mut m, &mut d, 503, 502, S, "sleep");
        feed(&mut m, &mut d, exit_with_parent(502, 501, 2 * S));
        feed(&mut m, &mut d, reap(502, 2 * S));
        // 503 was reparented to 501 (not the init): 501 is a child subreaper.
        feed(&mut m, &mut d, exit_with_parent(503, 501, 3 * S));
        let f = d.on_tick(10 * S, &m);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].pid, 501);
        assert!(!unreaped(&f[0]).init, "a child subreaper");
    }

    #[test]
    fn pid_reuse_forgets_the_old_zombie() {
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "sleep");
        feed(&mut m, &mut d, exit_with_parent(501, 500, 2 * S));
        // The pid comes back as a new process (the old one was reaped without us seeing it).
        child(&mut m, &mut d, 501, 500, 3 * S, "sleep");
        assert!(d.on_tick(60 * S, &m).is_empty());
    }

    #[test]
    fn threads_exiting_are_not_zombies() {
        let (mut m, mut d) = setup();
        let mut t = exit_with_parent(500, 400, 2 * S);
        if let Event::Exit(x) = &mut t {
            x.group_dead = 0;
            x.hdr.tid = 510;
        }
        feed(&mut m, &mut d, t);
        assert!(d.on_tick(60 * S, &m).is_empty());
        assert!(d.zombie_counts().is_empty());
    }

    #[test]
    fn ignored_sigterm_is_high_and_names_the_sender() {
        let (mut m, mut d) = setup();
        let f = feed(&mut m, &mut d, sig(42, 500, 1, 15, 1, S));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::Pid1IgnoresSigterm);
        assert_eq!(f[0].severity, Severity::High);
        let Evidence::IgnoredSigterm(e) = &f[0].evidence else {
            panic!("{f:?}")
        };
        assert_eq!(e.sender, 42);
        assert!(
            feed(&mut m, &mut d, sig(42, 500, 1, 15, 1, 2 * S)).is_empty(),
            "once"
        );
        // SIGTERM to a non-init, or to the node's init, is not this finding.
        assert!(feed(&mut m, &mut d, sig(42, 501, 2, 15, 1, S)).is_empty());
    }

    #[test]
    fn a_sigterm_pid_1_sends_itself_is_not_ignoring_sigterm() {
        // busybox re-raises the SIGTERM it handled on its way out; as PID 1 the
        // kernel drops it. That says nothing about how the init is stopped.
        let (mut m, mut d) = setup();
        assert!(feed(&mut m, &mut d, sig(500, 500, 1, 15, 1, S)).is_empty());
        assert_eq!(feed(&mut m, &mut d, sig(42, 500, 1, 15, 1, 2 * S)).len(), 1);
    }

    #[test]
    fn sigterm_taken_and_not_forwarded_while_children_run() {
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "sleep");
        feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
        assert!(d.on_tick(11 * S, &m).is_empty(), "inside the window");
        let f = d.on_tick(12 * S, &m);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::SigtermNotForwarded);
        assert_eq!(not_forwarded(&f[0]).processes, [(501, "sleep".to_owned())]);
        assert!(d.on_tick(30 * S, &m).is_empty(), "once");
    }

    #[test]
    fn forwarding_init_gives_nothing_even_with_pending_sigterm() {
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "sleep");
        // Already pending (result 2) still counts as taken.
        feed(&mut m, &mut d, sig(42, 500, 1, 15, 2, 10 * S));
        feed(&mut m, &mut d, sig(500, 501, 2, 15, 0, 10 * S + 1000));
        assert!(d.on_tick(20 * S, &m).is_empty());
    }

    #[test]
    fn init_exiting_first_leaves_children_to_sigkill() {
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "sleep");
        feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
        let f = feed(&mut m, &mut d, exit_with_parent(500, 400, 10 * S + 5000));
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].kind, f[0].severity),
            (FindingKind::KilledAtTeardown, Severity::Low),
            "a teardown kill, not a missing forward"
        );
        let Evidence::Teardown(t) = &f[0].evidence else {
            panic!("{f:?}")
        };
        assert_eq!(t.killed, [(501, "sleep".to_owned())]);
        assert!(t.forwards.is_empty());
        // The kernel's SIGKILLs that follow are not mistaken for forwarding, nor re-reported.
        feed(&mut m, &mut d, sig(500, 501, 2, 9, 0, 10 * S + 6000));
        assert!(d.on_tick(30 * S, &m).is_empty());
    }

    #[test]
    fn starting_mid_shutdown_without_the_sigterm_gives_no_guess() {
        // nstrace attached after SIGTERM was sent: no SIGTERM event, so no forwarding verdict.
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "sleep");
        feed(&mut m, &mut d, exit_with_parent(500, 400, 5 * S));
        assert!(d.on_tick(30 * S, &m).is_empty());
    }

    #[test]
    fn zombie_already_there_at_start_is_reported_with_its_age() {
        let mut m = Model::new(node(), "node");
        m.add_snapshot(Process {
            pid: 500,
            ppid: 400,
            ns_pid: 1,
            comm: "sleep".into(),
            ns: pod(),
            seen_ns: S,
            ..Process::default()
        });
        m.add_snapshot(Process {
            pid: 507,
            ppid: 500,
            ns_pid: 7,
            comm: "sleep".into(),
            ns: pod(),
            zombie: true,
            seen_ns: S,
            ..Process::default()
        });
        let mut d = Pid1::new(Config::default(), NODE_PID);
        d.seed(&m);
        assert!(d.on_tick(5 * S, &m).is_empty(), "seen 4 s ago: not yet");
        let f = d.on_tick(6 * S, &m);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].kind, f[0].pid), (FindingKind::Pid1NeverReaps, 500));
        assert!(
            unreaped(&f[0])
                .zombies
                .iter()
                .any(|z| z.pid == 507 && z.at_start),
            "{f:?}"
        );
        assert_eq!(d.zombie_counts().get(&POD_PID), Some(&1));
    }

    #[test]
    fn zombie_counts_are_lasting_zombies_by_their_own_namespace() {
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "sleep");
        feed(&mut m, &mut d, exit_with_parent(501, 500, 2 * S));
        d.on_tick(3 * S, &m);
        assert!(d.zombie_counts().is_empty(), "1 s old is not lasting");
        // Its parent (the init) is gone from the model; the count still names the zombie's namespace.
        d.on_tick(8 * S, &m);
        feed(&mut m, &mut d, reap(500, 8 * S));
        assert_eq!(d.zombie_counts().get(&POD_PID), Some(&1));
    }

    #[test]
    fn init_forwarding_to_its_child_only_leaves_the_grandchild_to_sigkill() {
        // tini without -g: TERM reaches its child sh, not sh's child sleep; tini exits.
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "sh");
        child(&mut m, &mut d, 502, 501, S, "sleep");
        feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
        feed(&mut m, &mut d, sig(500, 501, 3, 15, 0, 10 * S + 100));
        let mut sh_dies = exit_with_parent(501, 500, 10 * S + 200);
        if let Event::Exit(x) = &mut sh_dies {
            x.exit_code = 15;
        }
        feed(&mut m, &mut d, sh_dies);
        let f = feed(&mut m, &mut d, exit_with_parent(500, 400, 10 * S + 300));
        assert_eq!(f.len(), 1, "{f:?}");
        // tini did forward (to sh): the grandchild's end is a teardown kill, not a missing forward.
        assert_eq!(f[0].kind, FindingKind::KilledAtTeardown);
        let Evidence::Teardown(t) = &f[0].evidence else {
            panic!("{f:?}")
        };
        assert_eq!(t.killed, [(502, "sleep".to_owned())]);
        assert_eq!(t.forwards.len(), 1);
        assert_eq!((t.forwards[0].0 .0, t.forwards[0].1 .0), (500, 501));
    }

    #[test]
    fn forwarding_to_the_whole_process_group_gives_nothing() {
        // tini -g / dumb-init: TERM reaches every process before the init exits.
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "sh");
        child(&mut m, &mut d, 502, 501, S, "sleep");
        feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
        feed(&mut m, &mut d, sig(500, 501, 3, 15, 0, 10 * S + 100));
        feed(&mut m, &mut d, sig(500, 502, 4, 15, 0, 10 * S + 110));
        feed(&mut m, &mut d, exit_with_parent(502, 501, 10 * S + 200));
        feed(&mut m, &mut d, reap(502, 10 * S + 210));
        feed(&mut m, &mut d, exit_with_parent(501, 500, 10 * S + 250));
        feed(&mut m, &mut d, reap(501, 10 * S + 260));
        assert!(feed(&mut m, &mut d, exit_with_parent(500, 400, 10 * S + 300)).is_empty());
        assert!(d.on_tick(30 * S, &m).is_empty());
    }

    #[test]
    fn init_killed_at_the_end_of_the_grace_period_is_not_also_unforwarded() {
        // Plain tini forwarded to its child; the grandchild ran on; SIGKILL after the grace period.
        let (mut m, mut d) = setup();
        child(&mut m, &mut d, 501, 500, S, "sh");
        child(&mut m, &mut d, 502, 501, S, "sleep");
        feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
        feed(&mut m, &mut d, sig(500, 501, 3, 15, 0, 10 * S + 100));
        assert!(d.on_tick(13 * S, &m).is_empty(), "it did forward");
        feed(&mut m, &mut d, sig(43, 500, 1, 9, 0, 15 * S));
        let mut killed = exit_with_parent(500, 400, 15 * S + 100);
        if let Event::Exit(x) = &mut killed {
            x.exit_code = 9;
        }
        assert!(feed(&mut m, &mut d, killed).is_empty());
    }

    fn init_with(exe: &str, cmdline: &str, comm: &str, caught: &[u32], blocked: &[u32]) -> Model {
        let mask = |sigs: &[u32]| sigs.iter().fold(0u64, |m, s| m | 1 << (s - 1));
        let mut m = Model::new(node(), "node");
        m.add_snapshot(Process {
            pid: 500,
            ppid: 400,
            ns_pid: 1,
            comm: comm.into(),
            exe: exe.into(),
            cmdline: cmdline.into(),
            ns: pod(),
            program_ns: 0,
            signals: crate::model::Signals {
                caught: mask(caught),
                ignored: 0,
                blocked: mask(blocked),
                known: true,
            },
            ..Process::default()
        });
        m
    }

    fn kinds(f: &[Finding]) -> Vec<(FindingKind, Severity, bool)> {
        f.iter()
            .map(|f| (f.kind, f.severity, f.resolved()))
            .collect()
    }

    #[test]
    fn a_shell_without_a_trap_is_predicted_to_drop_sigterm_once_it_has_run_a_while() {
        let mut m = init_with("/bin/busybox", "/bin/sh -c sleep 1000", "sh", &[2, 17], &[]);
        let mut d = Pid1::new(Config::default(), NODE_PID);
        assert!(d.on_tick(2 * S, &m).is_empty(), "too young to judge");
        let f = d.on_tick(4 * S, &m);
        assert_eq!(
            kinds(&f),
            [(FindingKind::Pid1WillIgnoreSigterm, Severity::Medium, false)],
            "a shell handles SIGCHLD: it can reap"
        );
        let Evidence::Prediction(p) = &f[0].evidence else {
            panic!("{f:?}")
        };
        assert_eq!(p.init, Init::Shell("sh".into()));
        assert_eq!(p.disposition, Disposition::Default);
        assert!(d.on_tick(5 * S, &m).is_empty(), "raised once");
        // The script installs its trap later: the prediction is withdrawn.
        let mut now = m.get(500).unwrap().signals;
        now.caught |= 1 << 14;
        m.set_signals(500, 6 * S, now);
        let f = d.on_tick(6 * S, &m);
        assert_eq!(
            kinds(&f),
            [(FindingKind::Pid1WillIgnoreSigterm, Severity::Info, true)]
        );
        assert!(d.on_tick(7 * S, &m).is_empty());
    }

    #[test]
    fn inits_that_handle_or_wait_for_sigterm_are_not_predicted() {
        // A trap; catatonit's way (signals blocked, read from a signalfd); and
        // tini's, which /proc shows as nothing at all: inside sigtimedwait the
        // kernel unblocks what it waits for (`real_blocked` is not in /proc).
        for m in [
            init_with("/bin/busybox", "/bin/sh -c x", "sh", &[2, 15, 17], &[]),
            init_with("/bin/busybox", "/bin/sh -c x", "sh", &[2, 17], &[15]),
            init_with("/usr/bin/tini-static", "tini -g -- app", "tini", &[], &[]),
        ] {
            let mut d = Pid1::new(Config::default(), NODE_PID);
            assert!(d.on_tick(10 * S, &m).is_empty());
        }
    }

    #[test]
    fn an_application_as_pid_1_that_does_not_handle_sigchld_cannot_reap() {
        let m = init_with("/bin/busybox", "sleep 1000", "sleep", &[], &[]);
        let mut d = Pid1::new(Config::default(), NODE_PID);
        let f = d.on_tick(10 * S, &m);
        assert_eq!(
            kinds(&f),
            [
                (FindingKind::Pid1WillIgnoreSigterm, Severity::Medium, false),
                (FindingKind::Pid1NotReapingCapable, Severity::Low, false)
            ]
        );
        // Not judged without its signal state.
        let mut unknown = m.clone();
        let mut s = unknown.get(500).unwrap().signals;
        s.known = false;
        unknown.set_signals(500, 1, s);
        assert!(Pid1::new(Config::default(), NODE_PID)
            .on_tick(10 * S, &unknown)
            .is_empty());
    }
}
