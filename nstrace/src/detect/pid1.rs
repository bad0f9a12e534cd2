//! PID-1 behaviour: inits that never reap, that ignore SIGTERM, or that take
//! SIGTERM and never pass it on.
//!
//! Kernel facts used: a PID-namespace init is SIGNAL_UNKILLABLE, so a signal
//! whose handler is SIG_DFL is dropped (signal_generate result 1); orphans are
//! reparented to the nearest subreaper or the init, so a zombie whose parent at
//! exit is not its creator was reparented; when the init exits the kernel
//! SIGKILLs the rest of its namespace, after the init's exit event.

use std::collections::{BTreeMap, HashMap, HashSet};

use nstrace_common::{sig, SigResult, HANDLER_IGN, SA_RESETHAND};

use super::{Evidence, Finding, FindingKind, Severity};
use crate::event::names::CLONE_THREAD;
use crate::event::{cstr, Event};
use crate::model::signals::dropped_at_delivery;
use crate::model::{is_ns_init, Disposition, Init, Likelihood, Model, Outlook, Process};

/// Detector settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// What the reaper does with SIGCHLD.
    pub chld: Disposition,
    /// Whether it is told of its children's exits and can reap (an init
    /// program, or SIGCHLD handled or waited for): then it is only judged
    /// after it ran again and still did not wait for them.
    pub capable: bool,
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

/// Evidence of `pid1_ignores_sigterm`: who sent the SIGTERM, and where the
/// kernel dropped it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredSigterm {
    /// Sender pid.
    pub sender: u32,
    /// Sender command.
    pub sender_comm: String,
    /// Where it was dropped.
    pub how: Dropped,
}

/// Where the kernel dropped a SIGTERM to a namespace's PID 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// At generation: PID 1 has no handler (SIG_DFL or SIG_IGN).
    AtGeneration,
    /// At delivery: queued while PID 1 blocked it, dequeued with the default action.
    AtDelivery,
    /// PID 1 caught it, restored the default action and raised it again;
    /// the raised one was dropped (at delivery when raised inside the
    /// handler, at generation when raised after it).
    ReRaised {
        /// Dropped at delivery (raised while blocked in the handler).
        at_delivery: bool,
        /// The handler was installed with SA_RESETHAND.
        resethand: bool,
    },
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
    /// Likely rather than certain: SIGTERM is caught, but by a runtime whose
    /// own handler re-raises it (the application may have its own listener,
    /// which /proc cannot tell apart).
    pub likely: bool,
    /// Withdrawn because PID 1 exited on a SIGTERM (behaviour, not /proc).
    pub exited_on_sigterm: bool,
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
    /// Its pid there (what its parent's wait4 names it by).
    ns_pid: u32,
    /// Already a zombie when tracing started (exit time and origin unknown).
    at_start: bool,
    /// Its parent waited in a way that reaps it since it exited: the reap
    /// is under way (the kernel reports it a grace period later).
    claimed: bool,
}

/// A SIGTERM to PID 1 the kernel dropped after generation, waiting for the
/// forward window: an init on its way out (busybox re-raises on exit) is
/// gone by then, one that ignores SIGTERM is still there.
#[derive(Clone, Debug)]
struct PendingDrop {
    at_ns: u64,
    sender: (u32, String),
    how: Dropped,
}

/// `waitid`'s WNOWAIT: leave the child a zombie.
const WNOWAIT: u32 = 0x0100_0000;

/// Whether a wait call could reap the child that is `ns_pid` in the
/// caller's PID namespace (any child, a process group, or that pid).
fn wait_may_reap(w: &nstrace_common::WaitEvent, ns_pid: u32) -> bool {
    if w.syscall == nstrace_common::WAIT_WAITID {
        return w.options & WNOWAIT == 0
            && match w.idtype {
                1 => w.pid as u32 == ns_pid, // P_PID
                _ => true,                   // P_ALL, P_PGID, P_PIDFD
            };
    }
    w.pid <= 0 || w.pid as u32 == ns_pid
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
    /// PID 1s that took SIGTERM with a handler: its sa_flags.
    term_handled: HashMap<u32, u64>,
    /// SIGTERMs dropped after generation, judged at the forward window.
    pending_drops: HashMap<u32, PendingDrop>,
    /// Zombie parents: when each last did anything (0: nothing since).
    active: HashMap<u32, u64>,
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
        m.get(pid).is_some_and(|p| p.is_ns_init(self.node_pid_ns))
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
                ns_pid: p.ns_pid,
                at_start: true,
                claimed: false,
            });
            self.active.entry(p.ppid).or_insert(0);
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

    /// A process left the model (reaped, or found gone): everything kept
    /// about it ends with it, so state stays bounded on a node where
    /// processes come and go for hours.
    pub fn released(&mut self, pid: u32) {
        self.will_ignore.remove(&pid);
        self.not_reaping.remove(&pid);
        self.pending_drops.remove(&pid);
        self.term_handled.remove(&pid);
        self.active.remove(&pid);
        self.zombies.remove(&pid);
        self.creators.remove(&pid);
        self.waited.remove(&pid);
        self.reap_reported.remove(&pid);
        self.ignore_reported.remove(&pid);
    }

    /// Feeds one event (after the model has applied it).
    pub fn on_event(&mut self, ev: &Event, m: &Model) -> Vec<Finding> {
        let mut out = Vec::new();
        let h = ev.header();
        self.last_ns = self.last_ns.max(h.ts_ns);
        if let Some(at) = self.active.get_mut(&h.tgid) {
            *at = h.ts_ns;
        }
        match ev {
            Event::Create(c) if c.clone_flags & CLONE_THREAD == 0 => {
                self.creators.insert(h.tgid, c.creator_tgid);
                // A reused pid is a new process.
                self.zombies.remove(&h.tgid);
                self.term.remove(&h.tgid);
            }
            Event::Wait(w) => {
                self.waited.insert(h.tgid);
                for z in self.zombies.values_mut() {
                    if z.parent == h.tgid && z.exit_ns <= h.ts_ns && wait_may_reap(w, z.ns_pid) {
                        z.claimed = true;
                    }
                }
            }
            // A new program: what the old one did (its waits) says nothing about it.
            Event::Exec(_) => {
                self.waited.remove(&h.tgid);
            }
            Event::Exit(e) if e.group_dead != 0 => {
                // PID 1 on its way out: a SIGTERM it dropped meanwhile was no ignore.
                self.pending_drops.remove(&h.tgid);
                self.term_handled.remove(&h.tgid);
                let killed_by = e.exit_code & 0x7f;
                if self.term.contains_key(&h.tgid) && killed_by != sig::KILL {
                    if let Some(f) = self.withdraw_on_exit(m, h.tgid, h.ts_ns) {
                        out.push(f);
                    }
                }
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
                            ns_pid: h.ns_tgid,
                            at_start: false,
                            claimed: false,
                        },
                    );
                    // Its parent's activity is watched from now on.
                    self.active.entry(parent).or_insert(0);
                }
            }
            Event::SignalGenerate(s) => {
                let target_is_init =
                    is_ns_init(s.target_ns_tgid, s.target_ns.pid, self.node_pid_ns);
                // A SIGTERM PID 1 sends itself (busybox re-raising the signal it
                // handled, on its way out) says nothing about how it is stopped,
                // unless PID 1 is still there when the forward window closes:
                // then its handler re-raised it and the kernel dropped it.
                let from_outside = h.tgid != s.target_tgid;
                if s.sig == sig::TERM
                    && target_is_init
                    && !from_outside
                    && s.verdict() == Some(SigResult::Ignored)
                {
                    if let Some(&flags) = self.term_handled.get(&s.target_tgid) {
                        self.pend_drop(
                            s.target_tgid,
                            h.ts_ns,
                            Dropped::ReRaised {
                                at_delivery: false,
                                resethand: flags & SA_RESETHAND != 0,
                            },
                        );
                    }
                }
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
                                    how: Dropped::AtGeneration,
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
            Event::SignalDeliver(d)
                if d.sig == sig::TERM && is_ns_init(h.ns_tgid, h.ns.pid, self.node_pid_ns) =>
            {
                if dropped_at_delivery(d.sig, d.handler, true) {
                    let how = match self.term_handled.get(&h.tgid) {
                        Some(&flags) => Dropped::ReRaised {
                            at_delivery: true,
                            resethand: flags & SA_RESETHAND != 0,
                        },
                        None => Dropped::AtDelivery,
                    };
                    self.pend_drop(h.tgid, h.ts_ns, how);
                } else if d.handler != HANDLER_IGN {
                    self.term_handled.insert(h.tgid, d.sa_flags);
                }
            }
            _ => {}
        }
        out
    }

    /// Notes a SIGTERM dropped at `init` after generation (the first one
    /// counts), with the outside sender of the SIGTERM it took, if seen.
    fn pend_drop(&mut self, init: u32, at_ns: u64, how: Dropped) {
        let sender = self
            .term
            .get(&init)
            .map(|t| (t.sender, t.sender_comm.clone()))
            .unwrap_or((init, String::new()));
        self.pending_drops
            .entry(init)
            .or_insert(PendingDrop { at_ns, sender, how });
    }

    /// PID 1 exited on a SIGTERM: a prediction that it would drop SIGTERM
    /// is withdrawn by what it did.
    fn withdraw_on_exit(&mut self, m: &Model, init: u32, now_ns: u64) -> Option<Finding> {
        if !self.will_ignore.remove(&init) {
            return None;
        }
        let p = m.get(init)?;
        Some(Finding {
            kind: FindingKind::Pid1WillIgnoreSigterm,
            severity: Severity::Info,
            ts_ns: now_ns,
            pid: init,
            comm: p.comm.clone(),
            pid_ns: p.ns.pid,
            evidence: Evidence::Prediction(Box::new(Prediction {
                init: p.init(),
                disposition: p.signals.of(sig::TERM),
                age_ns: now_ns.saturating_sub(p.program_ns),
                resolved: true,
                likely: false,
                exited_on_sigterm: true,
            })),
        })
    }

    /// Judges every container PID 1 that has run its program long enough:
    /// will it drop SIGTERM (a shell or an application with no handler), can
    /// it reap (an init program, or SIGCHLD handled or ignored)? Raised once,
    /// withdrawn when it changes.
    fn predict(&mut self, now_ns: u64, m: &Model, out: &mut Vec<Finding>) {
        for p in m.processes() {
            let init_here = p.is_ns_init(self.node_pid_ns) && !p.zombie && p.signals.known;
            let age = now_ns.saturating_sub(p.program_ns);
            if !init_here || age < self.cfg.predict_after_ns {
                continue;
            }
            let Outlook {
                init,
                term,
                chld,
                drops_sigterm,
                reaps,
            } = p.pid1_outlook();
            let certain = drops_sigterm == Some(Likelihood::Certain);
            let likely = drops_sigterm == Some(Likelihood::Likely);
            let drops = drops_sigterm.is_some();
            if let Some(f) = toggle(&mut self.will_ignore, drops, p, now_ns, || Prediction {
                init: init.clone(),
                disposition: term,
                age_ns: age,
                resolved: !drops,
                likely,
                exited_on_sigterm: false,
            }) {
                out.push(Finding {
                    kind: FindingKind::Pid1WillIgnoreSigterm,
                    severity: if certain {
                        raised_severity(FindingKind::Pid1WillIgnoreSigterm)
                    } else if likely {
                        Severity::Low
                    } else {
                        Severity::Info
                    },
                    ..f
                });
            }
            if let Some(f) = toggle(&mut self.not_reaping, !reaps, p, now_ns, || Prediction {
                init: init.clone(),
                disposition: chld,
                age_ns: age,
                resolved: reaps,
                likely: false,
                exited_on_sigterm: false,
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
        // Only zombies the model still holds exist: one it released without
        // this detector seeing why (a correction of a lost event) is gone.
        self.zombies
            .retain(|pid, _| m.get(*pid).is_some_and(|p| p.zombie));
        self.predict(now_ns, m, &mut out);
        self.judge_drops(now_ns, m, &mut out);
        // Zombies older than the threshold that their parent has not waited
        // for, grouped by the parent that should reap them.
        let mut by_parent: BTreeMap<u32, Vec<(u32, &Zombie)>> = BTreeMap::new();
        for (pid, z) in &self.zombies {
            if !z.claimed && now_ns.saturating_sub(z.exit_ns) >= self.cfg.zombie_after_ns {
                by_parent.entry(z.parent).or_default().push((*pid, z));
            }
        }
        for (parent, mut zs) in by_parent {
            let init = self.is_ns_init(m, parent);
            // Orphans go to the nearest subreaper (a zombie found at start has
            // no known origin, so only its namespace's init is blamed for it).
            let subreaper = !init && zs.iter().any(|(_, z)| z.orphan);
            if !(init || subreaper) || self.reap_reported.contains(&parent) {
                continue;
            }
            let Some(p) = m.get(parent) else { continue };
            // A reaper told of its children's exits (an init program, or
            // SIGCHLD handled or waited for) that has not run since they
            // exited is starved, not negligent: it is judged once it ran
            // again and still did not wait for them. One that is not told
            // (SIGCHLD default) is judged by age alone.
            let Outlook {
                chld,
                reaps: capable,
                ..
            } = p.pid1_outlook();
            if capable {
                let ran = self.active.get(&parent).copied().unwrap_or(0);
                zs.retain(|(_, z)| ran > z.exit_ns);
                if zs.is_empty() {
                    continue;
                }
            }
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
                    chld,
                    capable,
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

    /// SIGTERMs dropped after generation whose PID 1 outlived the forward
    /// window: it ignores SIGTERM.
    fn judge_drops(&mut self, now_ns: u64, m: &Model, out: &mut Vec<Finding>) {
        let due: Vec<u32> = self
            .pending_drops
            .iter()
            .filter(|(_, d)| now_ns.saturating_sub(d.at_ns) >= self.cfg.forward_window_ns)
            .map(|(pid, _)| *pid)
            .collect();
        for init in due {
            let d = self.pending_drops.remove(&init).expect("listed above");
            let Some(p) = m.get(init).filter(|p| !p.zombie) else {
                continue;
            };
            if !self.ignore_reported.insert(init) {
                continue;
            }
            out.push(Finding {
                kind: FindingKind::Pid1IgnoresSigterm,
                severity: Severity::High,
                ts_ns: d.at_ns,
                pid: init,
                comm: p.comm.clone(),
                pid_ns: p.ns.pid,
                evidence: Evidence::IgnoredSigterm(IgnoredSigterm {
                    sender: d.sender.0,
                    sender_comm: d.sender.1,
                    how: d.how,
                }),
            });
        }
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
    use nstrace_common::{Kind, NsSet, SignalGenerateEvent, WaitEvent, HANDLER_DFL};

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

    /// One event through the model and the detector, as the session does it:
    /// applied, seen, then what it released leaves.
    fn feed(m: &mut Model, d: &mut Pid1, ev: Event) -> Vec<Finding> {
        m.apply(&ev);
        let released = m.releases(&ev);
        let f = d.on_event(&ev, m);
        for r in &released {
            d.released(r.pid);
        }
        m.release(&released);
        f
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

    fn deliver_to(pid: u32, ts: u64, handler: u64, sa_flags: u64) -> Event {
        crate::model::testutil::deliver(pid, 1, ts, pod(), sig::TERM, handler, sa_flags)
    }

    fn ignored(f: &[Finding]) -> Vec<Dropped> {
        f.iter()
            .filter_map(|f| match &f.evidence {
                Evidence::IgnoredSigterm(e) if f.kind == FindingKind::Pid1IgnoresSigterm => {
                    assert_eq!(f.severity, Severity::High);
                    Some(e.how)
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_handler_re_raising_inside_itself_is_ignoring_sigterm_once_the_window_closes() {
        // Node.js as PID 1: its SA_RESETHAND handler raises SIGTERM again inside
        // itself; queued while blocked, dropped when dequeued with the default.
        let (mut m, mut d) = setup();
        feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
        feed(
            &mut m,
            &mut d,
            deliver_to(500, 10 * S + 10, 0x55_0000, 0x8400_0000),
        );
        feed(&mut m, &mut d, sig(500, 500, 1, 15, 0, 10 * S + 20));
        let f = feed(
            &mut m,
            &mut d,
            deliver_to(500, 10 * S + 30, HANDLER_DFL, 0x8400_0000),
        );
        assert!(f.is_empty(), "judged when the window closes, not at once");
        assert!(d.on_tick(11 * S, &m).is_empty());
        let f = d.on_tick(13 * S, &m);
        assert_eq!(
            ignored(&f),
            [Dropped::ReRaised {
                at_delivery: true,
                resethand: true
            }]
        );
        let Evidence::IgnoredSigterm(e) = &f[0].evidence else {
            unreachable!()
        };
        assert_eq!(e.sender, 42, "the outside sender, not PID 1 itself");
        assert!(d.on_tick(20 * S, &m).is_empty(), "once");
        // No child: "not forwarded" is no part of it.
        assert!(!f.iter().any(|f| f.kind == FindingKind::SigtermNotForwarded));
    }

    #[test]
    fn a_handler_re_raising_after_itself_is_ignoring_sigterm_too() {
        // Python: handler runs, SIG_DFL restored, os.kill(getpid(), SIGTERM)
        // dropped as it is raised (result ignored).
        let (mut m, mut d) = setup();
        feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
        feed(
            &mut m,
            &mut d,
            deliver_to(500, 10 * S + 10, 0x55_0000, 0x0400_0000),
        );
        feed(&mut m, &mut d, sig(500, 500, 1, 15, 1, 10 * S + 20));
        assert_eq!(
            ignored(&d.on_tick(13 * S, &m)),
            [Dropped::ReRaised {
                at_delivery: false,
                resethand: false
            }]
        );
    }

    #[test]
    fn an_init_re_raising_on_its_way_out_is_not_ignoring_sigterm() {
        // busybox handles TERM, re-raises and exits: gone before the window closes.
        let (mut m, mut d) = setup();
        feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
        feed(&mut m, &mut d, deliver_to(500, 10 * S + 10, 0x55_0000, 0));
        feed(&mut m, &mut d, sig(500, 500, 1, 15, 1, 10 * S + 20));
        feed(&mut m, &mut d, exit_with_parent(500, 400, 10 * S + 30));
        assert!(ignored(&d.on_tick(20 * S, &m)).is_empty());
    }

    #[test]
    fn sigterm_blocked_without_a_handler_is_dropped_at_delivery() {
        let (mut m, mut d) = setup();
        feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
        feed(&mut m, &mut d, deliver_to(500, 11 * S, HANDLER_DFL, 0));
        assert_eq!(ignored(&d.on_tick(14 * S, &m)), [Dropped::AtDelivery]);
    }

    #[test]
    fn node_as_pid_1_is_likely_to_drop_sigterm_and_the_jvm_is_not() {
        // Both show SIGTERM caught in /proc; only Node.js's own handler re-raises.
        // (Node.js 20's SigCgt as PID 1: INT, USR1, SEGV, TERM and 33, no
        // SIGCHLD until it spawns a child.)
        let m = init_with(
            "/usr/bin/node",
            "node a.js",
            "node",
            &[2, 10, 11, 15, 33],
            &[],
        );
        let mut d = Pid1::new(Config::default(), NODE_PID);
        let f = d.on_tick(10 * S, &m);
        assert_eq!(
            kinds(&f),
            [
                (FindingKind::Pid1WillIgnoreSigterm, Severity::Low, false),
                (FindingKind::Pid1NotReapingCapable, Severity::Low, false),
            ],
            "likely, below a certain prediction"
        );
        let Evidence::Prediction(p) = &f[0].evidence else {
            unreachable!()
        };
        assert!(p.likely);
        let jvm = init_with(
            "/usr/bin/java",
            "java -jar a.jar",
            "java",
            &[2, 15, 17],
            &[],
        );
        assert!(Pid1::new(Config::default(), NODE_PID)
            .on_tick(10 * S, &jvm)
            .is_empty());
        // CPython leaves SIGTERM alone: certain.
        let py = init_with(
            "/usr/bin/python3.11",
            "python3 app.py",
            "python3",
            &[2],
            &[],
        );
        let f = Pid1::new(Config::default(), NODE_PID).on_tick(10 * S, &py);
        assert!(f.contains_kind(FindingKind::Pid1WillIgnoreSigterm, Severity::Medium));
    }

    trait ContainsKind {
        fn contains_kind(&self, kind: FindingKind, sev: Severity) -> bool;
    }

    impl ContainsKind for Vec<Finding> {
        fn contains_kind(&self, kind: FindingKind, sev: Severity) -> bool {
            self.iter().any(|f| f.kind == kind && f.severity == sev)
        }
    }

    #[test]
    fn exiting_on_sigterm_withdraws_the_prediction() {
        // The application registered its own listener: /proc could not tell, the exit does.
        let mut m = init_with("/usr/bin/node", "node server.js", "node", &[2, 15, 17], &[]);
        let mut d = Pid1::new(Config::default(), NODE_PID);
        assert_eq!(d.on_tick(10 * S, &m).len(), 1);
        feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 11 * S));
        let mut bye = exit_with_parent(500, 400, 11 * S + 100);
        if let Event::Exit(x) = &mut bye {
            x.exit_code = 0;
        }
        let f = feed(&mut m, &mut d, bye);
        assert_eq!(
            kinds(&f),
            [(FindingKind::Pid1WillIgnoreSigterm, Severity::Info, true)]
        );
        let Evidence::Prediction(p) = &f[0].evidence else {
            unreachable!()
        };
        assert!(p.exited_on_sigterm);
    }

    /// tini (a reaping init) as PID 1 with an orphan that exited at 3 s.
    fn starved_reaper() -> (Model, Pid1) {
        let mut m = init_with("/usr/bin/tini", "tini -- sh -c x", "tini", &[], &[]);
        let mut d = Pid1::new(Config::default(), NODE_PID);
        child(&mut m, &mut d, 501, 500, S, "sh");
        child(&mut m, &mut d, 502, 501, S, "sleep");
        feed(&mut m, &mut d, exit_with_parent(501, 500, 2 * S));
        feed(&mut m, &mut d, reap(501, 2 * S));
        feed(&mut m, &mut d, exit_with_parent(502, 500, 3 * S));
        (m, d)
    }

    fn never_reaps(f: &[Finding]) -> bool {
        f.iter().any(|f| f.kind == FindingKind::Pid1NeverReaps)
    }

    #[test]
    fn a_reaping_init_that_did_not_run_since_its_child_exited_is_not_judged() {
        // A loaded node: tini got no CPU for 20 s. Not "never reaps".
        let (m, mut d) = starved_reaper();
        assert!(!never_reaps(&d.on_tick(23 * S, &m)));
    }

    #[test]
    fn a_reaping_init_that_waited_for_its_child_is_not_judged_while_the_free_is_late() {
        // tini waited at once; the kernel's release (sched_process_free, after
        // an RCU grace period) is late: the reap is under way.
        let (mut m, mut d) = starved_reaper();
        feed(&mut m, &mut d, wait(500, 3 * S + 1000));
        assert!(!never_reaps(&d.on_tick(23 * S, &m)));
    }

    #[test]
    fn a_reaping_init_that_ran_and_did_not_wait_for_its_child_never_reaps() {
        let (mut m, mut d) = starved_reaper();
        // It ran (it sent a signal) and waited only for another pid.
        feed(&mut m, &mut d, sig(500, 777, 9, 15, 0, 4 * S));
        let mut other = wait(500, 4 * S);
        if let Event::Wait(w) = &mut other {
            w.syscall = nstrace_common::WAIT_WAIT4;
            w.pid = 9;
        }
        feed(&mut m, &mut d, other);
        let f = d.on_tick(9 * S, &m);
        assert!(never_reaps(&f), "{f:?}");
        assert!(
            unreaped(
                f.iter()
                    .find(|f| f.kind == FindingKind::Pid1NeverReaps)
                    .unwrap()
            )
            .capable
        );
    }

    #[test]
    fn waits_that_cannot_reap_a_child() {
        let w = |syscall, pid, idtype, options| nstrace_common::WaitEvent {
            syscall,
            pid,
            idtype,
            options,
            ..Default::default()
        };
        use nstrace_common::{WAIT_WAIT4 as W4, WAIT_WAITID as WID};
        assert!(wait_may_reap(&w(W4, -1, 0, 0), 7));
        assert!(wait_may_reap(&w(W4, 7, 0, 0), 7));
        assert!(!wait_may_reap(&w(W4, 8, 0, 0), 7));
        assert!(wait_may_reap(&w(WID, 0, 0, 4), 7), "P_ALL");
        assert!(!wait_may_reap(&w(WID, 8, 1, 4), 7), "P_PID of another");
        assert!(
            !wait_may_reap(&w(WID, 0, 0, WNOWAIT | 4), 7),
            "WNOWAIT leaves it"
        );
    }
}
