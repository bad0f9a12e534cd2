//! `pid1_ignores_sigterm`: the kernel dropped a SIGTERM sent to a
//! namespace's init, at generation (no handler), at delivery (blocked with
//! no handler), or after the init's own handler raised it again.
//!
//! Kernel facts used: see [`crate::model::signals`] (a PID-namespace init is
//! SIGNAL_UNKILLABLE; `sig_task_ignored` and `get_signal`, kernel/signal.c, v6.18).

use std::collections::{HashMap, HashSet};

use nstrace_common::{sig, SigResult, HANDLER_IGN, SA_RESETHAND};

use super::Config;
use crate::detect::{Evidence, Finding, FindingKind, Severity};
use crate::event::{cstr, Event};
use crate::model::is_ns_init;
use crate::model::signals::dropped_at_delivery;

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

/// A SIGTERM to PID 1 the kernel dropped after generation, waiting for the
/// forward window: an init on its way out (busybox re-raises on exit) is
/// gone by then, one that ignores SIGTERM is still there.
#[derive(Clone, Debug)]
struct PendingDrop {
    at_ns: u64,
    sender: (u32, String),
    how: Dropped,
}

/// The ignored-SIGTERM detector.
#[derive(Debug, Default)]
pub struct Sigterm {
    window_ns: u64,
    node_pid_ns: u32,
    reported: HashSet<u32>,
    /// The first outside sender of a SIGTERM that reached each init.
    senders: HashMap<u32, (u32, String)>,
    /// PID 1s that took SIGTERM with a handler: its sa_flags.
    handled: HashMap<u32, u64>,
    /// SIGTERMs dropped after generation, judged at the forward window.
    pending: HashMap<u32, PendingDrop>,
}

impl Sigterm {
    /// A detector for a node whose own PID namespace is `node_pid_ns`.
    pub fn new(cfg: Config, node_pid_ns: u32) -> Sigterm {
        Sigterm {
            window_ns: cfg.forward_window_ns,
            node_pid_ns,
            ..Sigterm::default()
        }
    }

    /// Forgets process `pid` (it left the model).
    pub fn forget(&mut self, pid: u32) {
        self.pending.remove(&pid);
        self.handled.remove(&pid);
        self.reported.remove(&pid);
        self.senders.remove(&pid);
    }

    /// Feeds one event (after the model has applied it).
    pub fn on_event(&mut self, ev: &Event, out: &mut Vec<Finding>) {
        let h = ev.header();
        match ev {
            // A reused pid is a new process.
            Event::Create(_) => {
                self.senders.remove(&h.tgid);
            }
            Event::Exit(e) if e.group_dead != 0 => {
                // PID 1 on its way out: a SIGTERM it dropped meanwhile was no ignore.
                self.pending.remove(&h.tgid);
                self.handled.remove(&h.tgid);
                self.senders.remove(&h.tgid);
            }
            Event::SignalGenerate(s) if s.sig == sig::TERM => {
                if !is_ns_init(s.target_ns_tgid, s.target_ns.pid, self.node_pid_ns) {
                    return;
                }
                // A SIGTERM PID 1 sends itself (busybox re-raising the signal it
                // handled, on its way out) says nothing about how it is stopped,
                // unless PID 1 is still there when the forward window closes:
                // then its handler re-raised it and the kernel dropped it.
                if h.tgid == s.target_tgid {
                    if s.verdict() == Some(SigResult::Ignored) {
                        if let Some(&flags) = self.handled.get(&s.target_tgid) {
                            self.pend(
                                s.target_tgid,
                                h.ts_ns,
                                Dropped::ReRaised {
                                    at_delivery: false,
                                    resethand: flags & SA_RESETHAND != 0,
                                },
                            );
                        }
                    }
                    return;
                }
                match s.verdict() {
                    Some(SigResult::Ignored) if self.reported.insert(s.target_tgid) => {
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
                        self.senders
                            .entry(s.target_tgid)
                            .or_insert_with(|| (h.tgid, cstr(&h.comm).into_owned()));
                    }
                    _ => {}
                }
            }
            Event::SignalDeliver(d)
                if d.sig == sig::TERM && is_ns_init(h.ns_tgid, h.ns.pid, self.node_pid_ns) =>
            {
                if dropped_at_delivery(d.sig, d.handler, true) {
                    let how = match self.handled.get(&h.tgid) {
                        Some(&flags) => Dropped::ReRaised {
                            at_delivery: true,
                            resethand: flags & SA_RESETHAND != 0,
                        },
                        None => Dropped::AtDelivery,
                    };
                    self.pend(h.tgid, h.ts_ns, how);
                } else if d.handler != HANDLER_IGN {
                    self.handled.insert(h.tgid, d.sa_flags);
                }
            }
            _ => {}
        }
    }

    /// Notes a SIGTERM dropped at `init` after generation (the first one
    /// counts), with the outside sender of the SIGTERM it took, if seen.
    fn pend(&mut self, init: u32, at_ns: u64, how: Dropped) {
        let sender = self
            .senders
            .get(&init)
            .cloned()
            .unwrap_or((init, String::new()));
        self.pending
            .entry(init)
            .or_insert(PendingDrop { at_ns, sender, how });
    }

    /// SIGTERMs dropped after generation whose PID 1 outlived the forward
    /// window: it ignores SIGTERM.
    pub fn on_tick(&mut self, now_ns: u64, m: &crate::model::Model, out: &mut Vec<Finding>) {
        let due: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, d)| now_ns.saturating_sub(d.at_ns) >= self.window_ns)
            .map(|(pid, _)| *pid)
            .collect();
        for init in due {
            let d = self.pending.remove(&init).expect("listed above");
            let Some(p) = m.get(init).filter(|p| !p.zombie) else {
                continue;
            };
            if !self.reported.insert(init) {
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
}
