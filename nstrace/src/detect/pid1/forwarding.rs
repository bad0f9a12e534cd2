//! `sigterm_not_forwarded` and `killed_at_teardown`: PID 1 took SIGTERM and
//! passed nothing on while its processes ran, or exited and left processes
//! that never got a graceful signal to the kernel's SIGKILL.
//!
//! Kernel fact used: when a PID namespace's init exits, the kernel SIGKILLs
//! every other process in the namespace, after the init's exit event
//! (kernel/pid_namespace.c `zap_pid_ns_processes()`, called from
//! kernel/exit.c `find_child_reaper()`, v6.18).

use std::collections::{HashMap, HashSet};

use nstrace_common::{sig, SigResult};

use super::Config;
use crate::detect::{Evidence, Finding, FindingKind, Severity};
use crate::event::{cstr, Event};
use crate::model::{is_ns_init, Init, Model, Process};

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

/// The forwarding detector.
#[derive(Debug, Default)]
pub struct Forwarding {
    window_ns: u64,
    node_pid_ns: u32,
    term: HashMap<u32, TermTaken>,
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

impl Forwarding {
    /// A detector for a node whose own PID namespace is `node_pid_ns`.
    pub fn new(cfg: Config, node_pid_ns: u32) -> Forwarding {
        Forwarding {
            window_ns: cfg.forward_window_ns,
            node_pid_ns,
            ..Forwarding::default()
        }
    }

    /// Whether init `pid` took a SIGTERM from outside (and has not exited since).
    pub fn took_sigterm(&self, pid: u32) -> bool {
        self.term.contains_key(&pid)
    }

    /// Feeds one event (after the model has applied it).
    pub fn on_event(&mut self, ev: &Event, m: &Model, out: &mut Vec<Finding>) {
        let h = ev.header();
        match ev {
            // A reused pid is a new process.
            Event::Create(_) => {
                self.term.remove(&h.tgid);
            }
            Event::Exit(e) if e.group_dead != 0 => {
                if let Some(t) = self.term.remove(&h.tgid) {
                    // The kernel now SIGKILLs the rest of the namespace: whoever
                    // got no graceful signal is killed without a chance to clean up.
                    // (An init SIGKILLed at the end of the grace period is the
                    // slow shutdown's story, not this one.)
                    let killed = e.exit_code & 0x7f == sig::KILL;
                    if !t.reported && !killed {
                        let kids: Vec<(u32, String)> = living_children(m, h.tgid)
                            .into_iter()
                            .filter(|(pid, _)| !t.graceful.contains(pid))
                            .collect();
                        if !kids.is_empty() {
                            out.push(teardown(m, h.tgid, h.ts_ns, t, kids));
                        }
                    }
                }
            }
            Event::SignalGenerate(s) => {
                let target_is_init =
                    is_ns_init(s.target_ns_tgid, s.target_ns.pid, self.node_pid_ns);
                if s.sig == sig::TERM
                    && target_is_init
                    && h.tgid != s.target_tgid
                    && s.verdict().is_some_and(SigResult::reaches_target)
                {
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
    }

    /// SIGTERM taken but not passed on within the window while children run.
    pub fn on_tick(&mut self, now_ns: u64, m: &Model, out: &mut Vec<Finding>) {
        let due: Vec<u32> = self
            .term
            .iter()
            .filter(|(_, t)| {
                !t.forwarded && !t.reported && now_ns.saturating_sub(t.at_ns) >= self.window_ns
            })
            .map(|(pid, _)| *pid)
            .collect();
        for init in due {
            let kids = living_children(m, init);
            if !kids.is_empty() && m.get(init).is_some_and(|p| !p.zombie) {
                let t = self.term.get_mut(&init).expect("listed above");
                t.reported = true;
                out.push(not_forwarded(m, init, now_ns, t, kids));
            }
        }
    }
}

fn not_forwarded(
    m: &Model,
    init: u32,
    now_ns: u64,
    t: &TermTaken,
    kids: Vec<(u32, String)>,
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
            processes: kids,
        })),
    }
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
