//! Shutdown timelines: from the first SIGTERM to a container's PID 1 until
//! the container is gone — every signal into its PID namespace with the
//! kernel's verdict, every exit, the final SIGKILL — with a verdict and advice.
//!
//! The kubelet runs a container's preStop `exec` hook before it sends SIGTERM
//! (CRI ExecSync, then StopContainer with what is left of the grace period).
//! Such a hook is a process exec'd into the container from outside it: its
//! parent is not in the container's PID namespace (runc exec's, under the
//! runtime's shim or conmon). Such exec sessions are remembered per PID
//! namespace, and one still running at the first SIGTERM, or ended at most
//! [`PRE_STOP_GAP_NS`] before it, opens the timeline as its preStop phase.

use std::collections::BTreeMap;

use nstrace_common::{sig, SigResult, HANDLER_DFL, HANDLER_IGN, SA_RESETHAND};

use super::{Evidence, Finding, FindingKind, Severity};
use crate::event::{cstr, Event};
use crate::model::signals::dropped_at_delivery;
use crate::model::{Init, Model, Runtime};

/// One step of a shutdown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A signal generated for a process of the container.
    Signal {
        /// When (monotonic ns).
        ts_ns: u64,
        /// Sender pid and command.
        from: (u32, String),
        /// Target pid, command, and whether it is the container's PID 1.
        to: (u32, String, bool),
        /// Signal number.
        sig: u32,
        /// Kernel verdict (0 delivered, 1 ignored…).
        result: u32,
    },
    /// A process of the container dequeued a graceful signal to act on it
    /// (`signal_deliver`), with the handler in force then.
    Deliver {
        /// When.
        ts_ns: u64,
        /// Pid and command of the receiver.
        pid: u32,
        /// Command.
        comm: String,
        /// Whether the receiver is the container's PID 1.
        to_init: bool,
        /// Signal number.
        sig: u32,
        /// `HANDLER_DFL`, `HANDLER_IGN` or a handler address.
        handler: u64,
        /// The handler's `sa_flags` (`SA_RESETHAND`).
        sa_flags: u64,
        /// Dropped by the kernel there: the default action at PID 1.
        dropped: bool,
    },
    /// A process exec'd into the container from outside it started (the
    /// kubelet's preStop hook, when SIGTERM follows it).
    HookStart {
        /// When it exec'd.
        ts_ns: u64,
        /// Its pid.
        pid: u32,
        /// Its command.
        comm: String,
    },
    /// That process exited.
    HookEnd {
        /// When.
        ts_ns: u64,
        /// Its pid.
        pid: u32,
        /// Its command.
        comm: String,
        /// Wait status.
        code: u32,
    },
    /// A process of the container exited.
    Exit {
        /// When.
        ts_ns: u64,
        /// Pid and command.
        pid: u32,
        /// Command.
        comm: String,
        /// Wait status.
        code: u32,
    },
}

impl Step {
    fn ts(&self) -> u64 {
        match self {
            Step::Signal { ts_ns, .. }
            | Step::Deliver { ts_ns, .. }
            | Step::Exit { ts_ns, .. }
            | Step::HookStart { ts_ns, .. }
            | Step::HookEnd { ts_ns, .. } => *ts_ns,
        }
    }
}

/// The shutdown of one container (one PID namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// The container's PID namespace.
    pub pid_ns: u32,
    /// Its PID 1 (node pid) and command.
    pub init: (u32, String),
    /// The first SIGTERM (t0).
    pub start_ns: u64,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// When PID 1 exited, if it did.
    pub end_ns: Option<u64>,
    /// Which init PID 1 is, when the model knew it at the first SIGTERM.
    pub init_kind: Option<Init>,
    /// The grace period the orchestrator set, where its runtime records it
    /// (CRI-O's `io.kubernetes.pod.terminationGracePeriod`), in seconds.
    pub grace_s: Option<u64>,
    /// The namespace's other living processes at the first SIGTERM: the
    /// children PID 1 could pass it to.
    pub others: Vec<(u32, String)>,
}

/// How a shutdown ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// PID 1 had no SIGTERM handler, so the kernel dropped SIGTERM; only SIGKILL ended it.
    NoHandler,
    /// PID 1 caught SIGTERM, restored the default action and raised it
    /// again; the kernel dropped that one (a namespace's init gets no
    /// default-action signal). `at_delivery`: it was raised inside the
    /// handler (blocked, so queued) and dropped when dequeued; else dropped
    /// when raised. `resethand`: the handler was installed with SA_RESETHAND.
    ReRaised {
        /// Dropped at delivery rather than at generation.
        at_delivery: bool,
        /// The handler reset itself (SA_RESETHAND).
        resethand: bool,
    },
    /// SIGTERM reached PID 1 while blocked, with no handler: the kernel
    /// queued it and dropped it when PID 1 dequeued it.
    DroppedAtDelivery,
    /// PID 1 caught SIGTERM and kept running, with no process of its own
    /// that outlived the SIGTERM; SIGKILL ended it.
    KeptRunning,
    /// PID 1 took SIGTERM but passed it to none of its children, which
    /// outlived it; SIGKILL ended the container.
    NotPassedOn,
    /// SIGTERM was passed on, but the processes outlived the grace period.
    TooSlow,
    /// PID 1 exited after SIGTERM, and nothing was killed without warning.
    Clean,
    /// PID 1 exited after SIGTERM and the kernel SIGKILLed these processes
    /// (pid, command), which never got a graceful signal.
    Ungraceful(Vec<(u32, String)>),
    /// Not finished yet.
    InProgress,
}

impl Outcome {
    /// Stable snake_case name (the `cause` label of the shutdown metric).
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::NoHandler => "no_handler",
            Outcome::ReRaised { .. } => "re_raised",
            Outcome::DroppedAtDelivery => "dropped_at_delivery",
            Outcome::KeptRunning => "kept_running",
            Outcome::NotPassedOn => "not_passed_on",
            Outcome::TooSlow => "too_slow",
            Outcome::Clean => "clean",
            Outcome::Ungraceful(_) => "ungraceful",
            Outcome::InProgress => "in_progress",
        }
    }
}

/// What ended the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Ended by SIGKILL after SIGTERM (the grace period ran out).
    pub killed: bool,
    /// How.
    pub outcome: Outcome,
}

impl Timeline {
    fn first_sigterm_result(&self) -> Option<u32> {
        self.steps.iter().find_map(|s| match s {
            Step::Signal {
                sig: sig::TERM,
                to: (_, _, true),
                result,
                ..
            } => Some(*result),
            _ => None,
        })
    }

    /// How PID 1 lost a SIGTERM the kernel dropped after it was generated,
    /// if it did: re-raised by its own handler, or queued while blocked
    /// and dropped at delivery.
    fn dropped_sigterm(&self) -> Option<Outcome> {
        let init = self.init.0;
        let mut handled: Option<u64> = None; // sa_flags of the last handled delivery
        for s in &self.steps {
            match s {
                Step::Deliver {
                    to_init: true,
                    sig: sig::TERM,
                    handler,
                    sa_flags,
                    dropped,
                    ..
                } => {
                    if *dropped {
                        return Some(match handled {
                            Some(flags) => Outcome::ReRaised {
                                at_delivery: true,
                                resethand: flags & SA_RESETHAND != 0,
                            },
                            None => Outcome::DroppedAtDelivery,
                        });
                    }
                    if *handler != HANDLER_DFL && *handler != HANDLER_IGN {
                        handled = Some(*sa_flags);
                    }
                }
                // Raised again by PID 1 itself once the default was back and
                // the signal unblocked: dropped at once.
                Step::Signal {
                    from,
                    to: (_, _, true),
                    sig: sig::TERM,
                    result,
                    ..
                } if from.0 == init && *result == SigResult::Ignored as u32 => {
                    if let Some(flags) = handled {
                        return Some(Outcome::ReRaised {
                            at_delivery: false,
                            resethand: flags & SA_RESETHAND != 0,
                        });
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The processes PID 1 could have passed SIGTERM to that were still
    /// there when it was killed (the others at the first SIGTERM that had
    /// not exited before the runtime's SIGKILL).
    fn outlived_sigterm(&self) -> Vec<(u32, String)> {
        let kill_at = self
            .steps
            .iter()
            .find(|s| {
                matches!(
                    s,
                    Step::Signal {
                        sig: sig::KILL,
                        to: (_, _, true),
                        ..
                    }
                )
            })
            .map(Step::ts)
            .unwrap_or(u64::MAX);
        self.others
            .iter()
            .filter(|(pid, _)| {
                !self.steps.iter().any(|s| {
                    matches!(s, Step::Exit { pid: p, ts_ns, .. } if p == pid && *ts_ns < kill_at)
                })
            })
            .cloned()
            .collect()
    }

    /// Whether PID 1 sent a terminating signal to another process.
    fn init_forwarded(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(s, Step::Signal { from, to: (_, _, false), sig, .. }
                if from.0 == self.init.0 && *sig != sig::KILL)
        })
    }

    /// Whether this step is the kernel's pid-namespace teardown: SIGKILLs
    /// generated in the exit of PID 1, to the rest of the namespace.
    pub fn is_teardown(&self, step: &Step) -> bool {
        matches!(step, Step::Signal { ts_ns, from, to: (_, _, false), sig: sig::KILL, .. }
            if from.0 == self.init.0 && self.end_ns.is_some_and(|end| *ts_ns >= end))
    }

    /// Processes the kernel SIGKILLed when PID 1 exited that never got a
    /// graceful signal (zombies, already dead, are not counted).
    pub fn killed_without_warning(&self) -> Vec<(u32, String)> {
        let warned: std::collections::BTreeSet<u32> = self
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Signal {
                    to, sig, result, ..
                } if sig::GRACEFUL.contains(sig)
                    && SigResult::from_u32(*result).is_some_and(SigResult::reaches_target) =>
                {
                    Some(to.0)
                }
                _ => None,
            })
            .collect();
        self.steps
            .iter()
            .filter(|s| self.is_teardown(s))
            .filter_map(|s| match s {
                Step::Signal { to, result, .. }
                    if *result == SigResult::Delivered as u32 && !warned.contains(&to.0) =>
                {
                    Some((to.0, to.1.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn init_exit(&self) -> Option<u32> {
        self.steps.iter().find_map(|s| match s {
            Step::Exit { pid, code, .. } if *pid == self.init.0 => Some(*code),
            _ => None,
        })
    }

    /// Total time from the first SIGTERM to the last exit seen.
    pub fn total_ns(&self) -> u64 {
        let last = self
            .steps
            .iter()
            .map(Step::ts)
            .max()
            .unwrap_or(self.start_ns);
        last.saturating_sub(self.start_ns)
    }

    /// The preStop hook: (when it started, how long it ran before SIGTERM or
    /// until it ended, its pid and command), if one preceded the SIGTERM.
    pub fn pre_stop(&self) -> Option<(u64, u64, u32, &str)> {
        let (start, pid, comm) = self.steps.iter().find_map(|s| match s {
            Step::HookStart { ts_ns, pid, comm } => Some((*ts_ns, *pid, comm.as_str())),
            _ => None,
        })?;
        let end = self
            .steps
            .iter()
            .find_map(|s| match s {
                Step::HookEnd { ts_ns, pid: p, .. } if *p == pid => Some(*ts_ns),
                _ => None,
            })
            .unwrap_or(self.start_ns);
        Some((start, end.saturating_sub(start), pid, comm))
    }

    /// Judges the shutdown.
    pub fn verdict(&self) -> Verdict {
        let killed = self.init_exit().is_some_and(|c| c & 0x7f == sig::KILL);
        let outcome = match (self.first_sigterm_result(), killed) {
            (Some(r), true) if r == SigResult::Ignored as u32 => Outcome::NoHandler,
            (Some(_), true) => {
                if let Some(dropped) = self.dropped_sigterm() {
                    dropped
                } else if self.outlived_sigterm().is_empty() {
                    // Nobody to pass it to: "not passed on" would be wrong.
                    Outcome::KeptRunning
                } else if !self.init_forwarded() {
                    Outcome::NotPassedOn
                } else {
                    Outcome::TooSlow
                }
            }
            (_, false) if self.end_ns.is_some() => {
                let victims = self.killed_without_warning();
                if victims.is_empty() {
                    Outcome::Clean
                } else {
                    Outcome::Ungraceful(victims)
                }
            }
            _ => Outcome::InProgress,
        };
        Verdict { killed, outcome }
    }

    /// How long after the first SIGTERM the runtime sent PID 1 SIGKILL: the
    /// grace period it used (`None` when no SIGKILL came from outside).
    pub fn grace_used_ns(&self) -> Option<u64> {
        self.steps.iter().find_map(|s| match s {
            Step::Signal {
                ts_ns,
                sig: sig::KILL,
                to: (_, _, true),
                ..
            } if !self.is_teardown(s) => Some(ts_ns - self.start_ns),
            _ => None,
        })
    }

    /// Each step's time since the first SIGTERM (ns; negative before it: the preStop hook).
    pub fn offset_ns(&self, step: &Step) -> i64 {
        step.ts() as i64 - self.start_ns as i64
    }
}

/// How long before the first SIGTERM an exec session may have ended and still
/// be the preStop hook (the kubelet calls StopContainer right after ExecSync
/// returns; an exec probe that ended earlier is not the hook).
pub const PRE_STOP_GAP_NS: u64 = 2_000_000_000;

/// Exec sessions remembered per PID namespace (the last ones only).
const SESSIONS_PER_NS: usize = 4;

/// PID namespaces with sessions remembered at most (the oldest go first).
const SESSION_NAMESPACES: usize = 4096;

/// A process exec'd into a container from outside it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Session {
    pid: u32,
    comm: String,
    start_ns: u64,
    /// When it exited, and its wait status.
    end: Option<(u64, u32)>,
}

/// Tracks shutdowns of every container PID namespace.
#[derive(Debug, Default)]
pub struct Shutdowns {
    node_pid_ns: u32,
    open: BTreeMap<u32, Timeline>,
    /// Recent exec sessions by PID namespace, oldest first.
    sessions: BTreeMap<u32, Vec<Session>>,
    /// Finished timelines, oldest first.
    pub done: Vec<Timeline>,
}

impl Shutdowns {
    /// A tracker for a node whose PID namespace is `node_pid_ns`.
    pub fn new(node_pid_ns: u32) -> Shutdowns {
        Shutdowns {
            node_pid_ns,
            ..Shutdowns::default()
        }
    }

    /// Timelines still open (SIGTERM seen, PID 1 not gone).
    pub fn open(&self) -> impl Iterator<Item = &Timeline> {
        self.open.values()
    }

    /// Feeds one event (after the model applied it); returns a
    /// `slow_shutdown` finding when a container that got SIGTERM was ended by SIGKILL.
    pub fn on_event(&mut self, ev: &Event, m: &Model) -> Vec<Finding> {
        match ev {
            Event::SignalGenerate(s) => {
                let ns = s.target_ns.pid;
                if ns == 0 || ns == self.node_pid_ns {
                    return Vec::new();
                }
                let h = &s.hdr;
                let to_init = s.target_ns_tgid == 1;
                if s.sig == sig::TERM && to_init && !self.open.contains_key(&ns) {
                    let others = m
                        .processes()
                        .filter(|p| p.ns.pid == ns && p.pid != s.target_tgid && !p.zombie)
                        .map(|p| (p.pid, p.comm.clone()))
                        .collect();
                    self.open.insert(
                        ns,
                        Timeline {
                            pid_ns: ns,
                            init: (s.target_tgid, cstr(&s.target_comm).into_owned()),
                            start_ns: h.ts_ns,
                            steps: self.pre_stop_steps(ns, h.ts_ns),
                            end_ns: None,
                            init_kind: m.get(s.target_tgid).map(|p| p.init()),
                            grace_s: grace_of(m, s.target_tgid, ns),
                            others,
                        },
                    );
                }
                if let Some(t) = self.open.get_mut(&ns) {
                    t.steps.push(Step::Signal {
                        ts_ns: h.ts_ns,
                        from: (h.tgid, cstr(&h.comm).into_owned()),
                        to: (s.target_tgid, cstr(&s.target_comm).into_owned(), to_init),
                        sig: s.sig,
                        result: s.result,
                    });
                }
                Vec::new()
            }
            // Graceful signals only: SIGKILL is dequeued once per thread.
            Event::SignalDeliver(d) if sig::GRACEFUL.contains(&d.sig) => {
                let h = &d.hdr;
                let Some(t) = self.open.get_mut(&h.ns.pid) else {
                    return Vec::new();
                };
                let to_init = h.tgid == t.init.0;
                t.steps.push(Step::Deliver {
                    ts_ns: h.ts_ns,
                    pid: h.tgid,
                    comm: cstr(&h.comm).into_owned(),
                    to_init,
                    sig: d.sig,
                    handler: d.handler,
                    sa_flags: d.sa_flags,
                    dropped: dropped_at_delivery(d.sig, d.handler, to_init),
                });
                Vec::new()
            }
            Event::Exec(e) => {
                self.on_exec(&e.hdr, m);
                Vec::new()
            }
            Event::Exit(e) if e.group_dead != 0 => {
                let h = &e.hdr;
                self.on_session_exit(h.ns.pid, h.tgid, h.ts_ns, e.exit_code);
                let Some(t) = self.open.get_mut(&h.ns.pid) else {
                    return Vec::new();
                };
                if t.steps
                    .iter()
                    .any(|s| matches!(s, Step::HookStart { pid, .. } if *pid == h.tgid))
                {
                    t.steps.push(Step::HookEnd {
                        ts_ns: h.ts_ns,
                        pid: h.tgid,
                        comm: cstr(&h.comm).into_owned(),
                        code: e.exit_code,
                    });
                    return Vec::new();
                }
                t.steps.push(Step::Exit {
                    ts_ns: h.ts_ns,
                    pid: h.tgid,
                    comm: cstr(&h.comm).into_owned(),
                    code: e.exit_code,
                });
                if h.tgid == t.init.0 {
                    t.end_ns = Some(h.ts_ns);
                }
                Vec::new()
            }
            // PID 1 is released only after every other process of the namespace is gone.
            Event::Reap(r) => {
                let pid = r.hdr.tgid;
                let Some(ns) = self
                    .open
                    .iter()
                    .find(|(_, t)| t.init.0 == pid && t.end_ns.is_some())
                    .map(|(ns, _)| *ns)
                else {
                    return Vec::new();
                };
                let t = self.open.remove(&ns).expect("found above");
                self.sessions.remove(&ns);
                let out = finding(&t);
                self.done.push(t);
                out
            }
            _ => Vec::new(),
        }
    }
}

impl Shutdowns {
    /// Remembers an exec into a container from outside it: a process of a
    /// container PID namespace, not its init, whose parent is not in it, in a
    /// mount namespace where another process already lives (a new container of
    /// a pod that shares one PID namespace comes with a mount namespace of its own).
    fn on_exec(&mut self, h: &nstrace_common::Header, m: &Model) {
        let ns = h.ns.pid;
        if ns == 0 || ns == self.node_pid_ns || h.ns_tgid == 1 {
            return;
        }
        if m.get(h.ppid).is_some_and(|p| p.ns.pid == ns) {
            return;
        }
        // Only execs whose parent is outside get this far (container starts
        // and exec sessions): a scan of the model is rare.
        if !m
            .processes()
            .any(|p| p.pid != h.tgid && !p.zombie && p.ns.mnt == h.ns.mnt && p.ns.pid == ns)
        {
            return;
        }
        // A session that execs again is still the same session.
        if let Some(v) = self.sessions.get(&ns) {
            if v.iter().any(|s| s.pid == h.tgid && s.end.is_none()) {
                return;
            }
        }
        if !self.sessions.contains_key(&ns) && self.sessions.len() >= SESSION_NAMESPACES {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, v)| v.last().map_or(0, |s| s.start_ns))
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.sessions.remove(&k);
            }
        }
        let v = self.sessions.entry(ns).or_default();
        if v.len() >= SESSIONS_PER_NS {
            v.remove(0);
        }
        v.push(Session {
            pid: h.tgid,
            comm: cstr(&h.comm).into_owned(),
            start_ns: h.ts_ns,
            end: None,
        });
    }

    fn on_session_exit(&mut self, ns: u32, pid: u32, ts_ns: u64, code: u32) {
        if let Some(s) = self
            .sessions
            .get_mut(&ns)
            .and_then(|v| v.iter_mut().find(|s| s.pid == pid && s.end.is_none()))
        {
            s.end = Some((ts_ns, code));
        }
    }

    /// The preStop steps of a timeline opening at `t0` in PID namespace `ns`:
    /// the latest exec session that started before t0 and was still running,
    /// or ended at most [`PRE_STOP_GAP_NS`] before it.
    fn pre_stop_steps(&self, ns: u32, t0: u64) -> Vec<Step> {
        let Some(s) = self.sessions.get(&ns).and_then(|v| {
            v.iter().rev().find(|s| {
                s.start_ns <= t0 && s.end.is_none_or(|(end, _)| end + PRE_STOP_GAP_NS >= t0)
            })
        }) else {
            return Vec::new();
        };
        let mut steps = vec![Step::HookStart {
            ts_ns: s.start_ns,
            pid: s.pid,
            comm: s.comm.clone(),
        }];
        if let Some((ts_ns, code)) = s.end {
            steps.push(Step::HookEnd {
                ts_ns,
                pid: s.pid,
                comm: s.comm.clone(),
                code,
            });
        }
        steps
    }
}

/// The grace period the kubelet set for the container of `init`, where the
/// runtime's files say it (podman's own stop timeout is not one: `podman
/// stop -t` overrides it per stop).
fn grace_of(m: &Model, init: u32, pid_ns: u32) -> Option<u64> {
    let place = m.place_of_process(init, pid_ns);
    let names = m.names_of(place.container()?)?;
    (names.runtime != Runtime::Podman)
        .then_some(names.grace_period_s)
        .flatten()
}

fn finding(t: &Timeline) -> Vec<Finding> {
    if !t.verdict().killed {
        return Vec::new();
    }
    vec![Finding {
        kind: FindingKind::SlowShutdown,
        severity: Severity::Medium,
        ts_ns: t.end_ns.unwrap_or(t.start_ns),
        pid: t.init.0,
        comm: t.init.1.clone(),
        pid_ns: t.pid_ns,
        evidence: Evidence::Shutdown(Box::new(t.clone())),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{deliver, hdr, reap};
    use nstrace_common::{ExitEvent, Kind, NsSet, SignalGenerateEvent};

    const S: u64 = 1_000_000_000;

    fn pod_ns() -> NsSet {
        NsSet::from_array([11, 2, 3, 200, 200, 6, 7, 8, 9])
    }

    fn sig(
        from: u32,
        from_comm: &str,
        to: u32,
        to_ns_pid: u32,
        sig: u32,
        result: u32,
        ts: u64,
    ) -> Event {
        let mut c = [0u8; 16];
        c[..2].copy_from_slice(b"sh");
        Event::SignalGenerate(SignalGenerateEvent {
            hdr: hdr(
                Kind::SignalGenerate,
                from,
                1,
                ts,
                NsSet::default(),
                from_comm,
            ),
            sig,
            result,
            group: 1,
            target_tgid: to,
            target_tid: to,
            target_ns_tgid: to_ns_pid,
            target_comm: c,
            target_ns: pod_ns(),
            ..Default::default()
        })
    }

    fn exit(pid: u32, code: u32, ts: u64) -> Event {
        Event::Exit(ExitEvent {
            hdr: hdr(Kind::Exit, pid, 1, ts, pod_ns(), "sh"),
            exit_code: code,
            group_dead: 1,
        })
    }

    #[test]
    fn ignored_sigterm_then_sigkill_is_a_slow_shutdown() {
        let mut sh = Shutdowns::new(100);
        sh.on_event(&sig(42, "podman", 500, 1, 15, 1, 10 * S), &Model::default());
        sh.on_event(&sig(42, "podman", 500, 1, 9, 0, 15 * S), &Model::default());
        sh.on_event(&exit(500, 9, 15 * S + 1000), &Model::default());
        sh.on_event(&exit(501, 9, 15 * S + 2000), &Model::default());
        let f = sh.on_event(&reap(500, 15 * S + 3000), &Model::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::SlowShutdown);
        let t = &sh.done[0];
        assert_eq!(t.total_ns(), 5 * S + 2000);
        let v = t.verdict();
        assert!(v.killed);
        assert_eq!(v.outcome, Outcome::NoHandler);
        assert_eq!(t.offset_ns(&t.steps[1]), 5 * S as i64, "SIGKILL at t0+5s");
    }

    /// A model of the pod: its init 500 and, with `child`, a sleep 501.
    fn pod_model(child: bool) -> Model {
        let mut m = Model::default();
        let mut add = |pid: u32, ns_pid: u32, comm: &str| {
            m.add_snapshot(crate::model::Process {
                pid,
                ppid: pid - 1,
                ns_pid,
                comm: comm.into(),
                ns: pod_ns(),
                ..Default::default()
            })
        };
        add(500, 1, "sh");
        if child {
            add(501, 2, "sleep");
        }
        m
    }

    /// Feeds `events` and returns the finished timeline's outcome.
    fn outcome_of(m: &Model, events: &[Event]) -> Outcome {
        let mut sh = Shutdowns::new(100);
        for ev in events {
            sh.on_event(ev, m);
        }
        assert_eq!(
            sh.done.len(),
            1,
            "finished: {:?}",
            sh.open().collect::<Vec<_>>()
        );
        sh.done[0].verdict().outcome
    }

    #[test]
    fn trapped_but_not_forwarded() {
        let m = pod_model(true);
        let outcome = outcome_of(
            &m,
            &[
                sig(42, "podman", 500, 1, 15, 0, S),
                sig(42, "podman", 500, 1, 9, 0, 6 * S),
                exit(500, 9, 6 * S),
                reap(500, 6 * S),
            ],
        );
        assert_eq!(outcome, Outcome::NotPassedOn);
    }

    #[test]
    fn a_handler_that_kept_pid_1_running_with_nothing_to_pass_on_is_not_a_missing_forward() {
        let outcome = outcome_of(
            &pod_model(false),
            &[
                sig(42, "podman", 500, 1, 15, 0, S),
                deliver(500, 1, S + 10, pod_ns(), 15, 0x4000, 0),
                sig(42, "podman", 500, 1, 9, 0, 6 * S),
                exit(500, 9, 6 * S),
                reap(500, 6 * S),
            ],
        );
        assert_eq!(outcome, Outcome::KeptRunning);
        // A child that exited before the SIGKILL did not outlive the SIGTERM either.
        let outcome = outcome_of(
            &pod_model(true),
            &[
                sig(42, "podman", 500, 1, 15, 0, S),
                exit(501, 0, 2 * S),
                sig(42, "podman", 500, 1, 9, 0, 6 * S),
                exit(500, 9, 6 * S),
                reap(500, 6 * S),
            ],
        );
        assert_eq!(outcome, Outcome::KeptRunning);
    }

    #[test]
    fn a_handler_that_re_raises_inside_itself_is_dropped_at_delivery() {
        // Node.js: SignalExit installed with SA_RESETHAND raises SIGTERM
        // inside the handler (blocked there: queued), and the kernel drops it
        // when it is dequeued with the default action restored.
        const RESETHAND_RESTORER: u64 = 0x8400_0000;
        let outcome = outcome_of(
            &pod_model(false),
            &[
                sig(42, "runc", 500, 1, 15, 0, S),
                deliver(500, 1, S + 10, pod_ns(), 15, 0x55_0000, RESETHAND_RESTORER),
                sig(500, "node", 500, 1, 15, 0, S + 20),
                deliver(
                    500,
                    1,
                    S + 30,
                    pod_ns(),
                    15,
                    HANDLER_DFL,
                    RESETHAND_RESTORER,
                ),
                sig(42, "runc", 500, 1, 9, 0, 31 * S),
                exit(500, 9, 31 * S),
                reap(500, 31 * S),
            ],
        );
        assert_eq!(
            outcome,
            Outcome::ReRaised {
                at_delivery: true,
                resethand: true
            }
        );
    }

    #[test]
    fn a_handler_that_re_raises_after_itself_is_dropped_at_generation() {
        // A Python handler runs outside the C handler: SIG_DFL restored, then
        // os.kill(getpid(), SIGTERM) is dropped as it is raised.
        let outcome = outcome_of(
            &pod_model(false),
            &[
                sig(42, "runc", 500, 1, 15, 0, S),
                deliver(500, 1, S + 10, pod_ns(), 15, 0x55_0000, 0x0400_0000),
                sig(500, "python3", 500, 1, 15, 1, S + 20),
                sig(42, "runc", 500, 1, 9, 0, 31 * S),
                exit(500, 9, 31 * S),
                reap(500, 31 * S),
            ],
        );
        assert_eq!(
            outcome,
            Outcome::ReRaised {
                at_delivery: false,
                resethand: false
            }
        );
    }

    #[test]
    fn sigterm_blocked_without_a_handler_is_dropped_at_delivery() {
        let outcome = outcome_of(
            &pod_model(false),
            &[
                sig(42, "runc", 500, 1, 15, 0, S),
                deliver(500, 1, 2 * S, pod_ns(), 15, HANDLER_DFL, 0),
                sig(42, "runc", 500, 1, 9, 0, 31 * S),
                exit(500, 9, 31 * S),
                reap(500, 31 * S),
            ],
        );
        assert_eq!(outcome, Outcome::DroppedAtDelivery);
    }

    #[test]
    fn clean_shutdown_is_no_finding_but_has_a_timeline() {
        let mut sh = Shutdowns::new(100);
        sh.on_event(&sig(42, "podman", 500, 1, 15, 0, S), &Model::default());
        sh.on_event(&sig(500, "tini", 501, 2, 15, 0, S + 100), &Model::default());
        sh.on_event(&exit(501, 15, S + 200), &Model::default());
        sh.on_event(&exit(500, 143 << 8, S + 300), &Model::default());
        assert!(sh
            .on_event(&reap(500, S + 400), &Model::default())
            .is_empty());
        assert_eq!(sh.done[0].verdict().outcome, Outcome::Clean);
        assert_eq!(sh.open().count(), 0);
    }

    #[test]
    fn signals_to_the_node_or_without_sigterm_open_nothing() {
        let mut sh = Shutdowns::new(200);
        // The pod's pid namespace is this node's here: ignored.
        sh.on_event(&sig(42, "kill", 500, 1, 15, 0, S), &Model::default());
        assert_eq!(sh.open().count(), 0);
        let mut sh = Shutdowns::new(100);
        sh.on_event(&sig(42, "kill", 501, 2, 15, 0, S), &Model::default());
        assert_eq!(
            sh.open().count(),
            0,
            "SIGTERM to a non-init does not start a shutdown"
        );
    }

    #[test]
    fn init_exiting_on_sigterm_while_the_kernel_kills_the_rest_is_ungraceful() {
        // sh traps TERM, its wait returns, it exits 0; the kernel SIGKILLs its sleep.
        let mut sh = Shutdowns::new(100);
        sh.on_event(&sig(42, "runc", 500, 1, 15, 0, S), &Model::default());
        sh.on_event(&exit(500, 0, S + 100), &Model::default());
        sh.on_event(&sig(500, "sh", 501, 2, 9, 0, S + 200), &Model::default());
        sh.on_event(&exit(501, 9, S + 300), &Model::default());
        let f = sh.on_event(&reap(500, S + 400), &Model::default());
        assert!(
            f.is_empty(),
            "not killed by SIGKILL itself: no slow_shutdown"
        );
        let t = &sh.done[0];
        assert_eq!(t.killed_without_warning(), vec![(501, "sh".to_owned())]);
        assert_eq!(
            t.verdict().outcome,
            Outcome::Ungraceful(vec![(501, "sh".to_owned())])
        );
        assert!(
            t.is_teardown(&t.steps[2]),
            "the kernel's SIGKILL at teardown"
        );
    }

    #[test]
    fn kernel_kills_after_a_graceful_signal_are_still_clean() {
        let mut sh = Shutdowns::new(100);
        sh.on_event(&sig(42, "runc", 500, 1, 15, 0, S), &Model::default());
        sh.on_event(&sig(500, "tini", 501, 2, 15, 0, S + 50), &Model::default());
        sh.on_event(&exit(500, 0, S + 100), &Model::default());
        sh.on_event(&sig(500, "tini", 501, 2, 9, 0, S + 200), &Model::default());
        sh.on_event(&reap(500, S + 400), &Model::default());
        assert!(sh.done[0].killed_without_warning().is_empty());
        assert_eq!(sh.done[0].verdict().outcome, Outcome::Clean);
    }

    fn exec_in_pod(pid: u32, parent: u32, ts: u64, comm: &str) -> Event {
        let mut h = hdr(Kind::Exec, pid, parent, ts, pod_ns(), comm);
        h.ns_tgid = 7;
        Event::Exec(Box::new(nstrace_common::ExecEvent {
            hdr: h,
            ..Default::default()
        }))
    }

    /// A model holding the container's init (pid 500, PID 1 of the pod's namespaces).
    fn with_init() -> Model {
        let mut m = Model::default();
        m.add_snapshot(crate::model::Process {
            pid: 500,
            ppid: 42,
            ns_pid: 1,
            comm: "sh".into(),
            ns: pod_ns(),
            ..Default::default()
        });
        m
    }

    /// The kubelet's stop with a preStop hook: the hook exec'd from outside the
    /// container, ending just before SIGTERM; SIGKILL when the rest of the grace ran out.
    #[test]
    fn a_pre_stop_hook_before_sigterm_opens_the_timeline() {
        let mut sh = Shutdowns::new(100);
        let m = with_init();
        // An exec probe long before: not the hook.
        sh.on_event(&exec_in_pod(600, 42, S, "cat"), &m);
        sh.on_event(&exit(600, 0, S + 1000), &m);
        sh.on_event(&exec_in_pod(601, 42, 10 * S, "sleep"), &m);
        sh.on_event(&exit(601, 0, 12 * S), &m);
        sh.on_event(&sig(42, "runc", 500, 1, 15, 1, 12 * S + 50_000_000), &m);
        sh.on_event(&sig(42, "runc", 500, 1, 9, 0, 15 * S), &m);
        sh.on_event(&exit(500, 9, 15 * S + 1000), &m);
        let f = sh.on_event(&reap(500, 15 * S + 2000), &m);
        assert_eq!(f.len(), 1);
        let t = &sh.done[0];
        assert!(
            matches!(&t.steps[0], Step::HookStart { pid: 601, .. }),
            "{t:?}"
        );
        assert!(
            matches!(
                &t.steps[1],
                Step::HookEnd {
                    pid: 601,
                    code: 0,
                    ..
                }
            ),
            "{t:?}"
        );
        assert_eq!(t.offset_ns(&t.steps[0]), -(2 * S as i64 + 50_000_000));
        assert_eq!(t.pre_stop(), Some((10 * S, 2 * S, 601, "sleep")));
        assert_eq!(t.grace_used_ns(), Some(3 * S - 50_000_000), "from SIGTERM");
        assert_eq!(t.verdict().outcome, Outcome::NoHandler);
        assert!(sh.sessions.is_empty(), "forgotten with the timeline");
    }

    #[test]
    fn a_hook_still_running_at_sigterm_ends_inside_the_timeline() {
        let mut sh = Shutdowns::new(100);
        let m = with_init();
        sh.on_event(&exec_in_pod(601, 42, 10 * S, "sleep"), &m);
        sh.on_event(&sig(42, "runc", 500, 1, 15, 0, 12 * S), &m);
        sh.on_event(&exit(601, 9, 12 * S + 10), &m);
        sh.on_event(&exit(500, 0, 12 * S + 20), &m);
        sh.on_event(&reap(500, 12 * S + 30), &m);
        let t = &sh.done[0];
        assert!(matches!(&t.steps[0], Step::HookStart { .. }), "{t:?}");
        assert!(
            matches!(&t.steps[2], Step::HookEnd { pid: 601, .. }),
            "{t:?}"
        );
        assert_eq!(t.pre_stop().map(|p| p.1), Some(2 * S + 10));
        assert_eq!(t.verdict().outcome, Outcome::Clean);
    }

    #[test]
    fn an_exec_that_ended_long_before_sigterm_is_no_pre_stop() {
        let mut sh = Shutdowns::new(100);
        let m = with_init();
        sh.on_event(&exec_in_pod(601, 42, S, "cat"), &m);
        sh.on_event(&exit(601, 0, 2 * S), &m);
        sh.on_event(&sig(42, "runc", 500, 1, 15, 0, 10 * S), &m);
        assert_eq!(sh.open().next().unwrap().steps.len(), 1, "only the SIGTERM");
        assert!(sh.open().next().unwrap().pre_stop().is_none());
    }

    /// A pod sharing one PID namespace: a new container's init has its parent
    /// outside too, but a mount namespace of its own: not an exec session.
    #[test]
    fn a_new_container_in_a_shared_pid_namespace_is_no_session() {
        let mut sh = Shutdowns::new(100);
        let m = with_init();
        let mut h = hdr(Kind::Exec, 700, 42, S, pod_ns(), "app");
        h.ns_tgid = 9;
        h.ns.mnt = 4242;
        sh.on_event(
            &Event::Exec(Box::new(nstrace_common::ExecEvent {
                hdr: h,
                ..Default::default()
            })),
            &m,
        );
        assert!(sh.sessions.is_empty());
    }
}
