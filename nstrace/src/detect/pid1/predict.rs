//! Predictions before any stop: `pid1_will_ignore_sigterm` and
//! `pid1_not_reaping_capable`, from which init a container's PID 1 is and
//! what it does with SIGTERM and SIGCHLD ([`crate::model::Process::pid1_outlook`],
//! the one rule). Raised once, withdrawn when the state changes or PID 1
//! shows otherwise (it exited on a SIGTERM).

use std::collections::HashSet;

use nstrace_common::sig;

use super::{raised_severity, Config};
use crate::detect::{Evidence, Finding, FindingKind, Severity};
use crate::model::servers::Meaning;
use crate::model::{Disposition, Init, Likelihood, Model, Outlook, Process};

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
    /// The SIGTERM handler's `sa_flags` as the kernel holds them, when it
    /// showed them (`None`: no handler, or only /proc was read).
    pub term_flags: Option<u32>,
}

/// The prediction detector.
#[derive(Debug, Default)]
pub struct Predict {
    after_ns: u64,
    node_pid_ns: u32,
    /// Inits predicted to drop SIGTERM.
    will_ignore: HashSet<u32>,
    /// Inits predicted not to reap.
    not_reaping: HashSet<u32>,
    /// Server inits whose SIGTERM is no graceful stop.
    stop_signal: HashSet<u32>,
}

impl Predict {
    /// A detector for a node whose own PID namespace is `node_pid_ns`.
    pub fn new(cfg: Config, node_pid_ns: u32) -> Predict {
        Predict {
            after_ns: cfg.predict_after_ns,
            node_pid_ns,
            ..Predict::default()
        }
    }

    /// A process is gone: nothing is kept about it.
    pub fn forget(&mut self, pid: u32) {
        self.will_ignore.remove(&pid);
        self.not_reaping.remove(&pid);
        self.stop_signal.remove(&pid);
    }

    /// PID 1 exited on a SIGTERM: a prediction that it would drop SIGTERM
    /// is withdrawn by what it did.
    pub fn withdraw_on_exit(&mut self, m: &Model, init: u32, now_ns: u64) -> Option<Finding> {
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
                term_flags: p.signals.flags_of(sig::TERM),
            })),
        })
    }

    /// Judges every container PID 1 that has run its program long enough:
    /// will it drop SIGTERM (a shell or an application with no handler), can
    /// it reap (an init program, or SIGCHLD handled or ignored)? Raised once,
    /// withdrawn when it changes. An init whose stop is under way
    /// (`stopping`: it took a SIGTERM) is left as it was: what it does now
    /// is judged by what happens, and a program on its way out restores its
    /// handlers (CPython's finalization sets SIGTERM back to the default)
    /// without that saying anything of its next start.
    pub fn on_tick(
        &mut self,
        now_ns: u64,
        m: &Model,
        stopping: impl Fn(u32) -> bool,
        out: &mut Vec<Finding>,
    ) {
        for p in m.processes() {
            let init_here = p.is_ns_init(self.node_pid_ns) && !p.zombie && p.signals.known;
            let age = now_ns.saturating_sub(p.program_ns);
            if !init_here || age < self.after_ns || stopping(p.pid) {
                continue;
            }
            let Outlook {
                init,
                term,
                chld,
                term_flags,
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
                term_flags,
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
            // A server whose SIGTERM reloads it (a stop ends in SIGKILL:
            // certain, medium) or stops it fast (work in flight is cut: low),
            // once its own handler is in place.
            let server = match &init {
                Init::Server(s) if term == Disposition::Handled => Some(s.term),
                _ => None,
            };
            let ungraceful = matches!(server, Some(Meaning::Reload | Meaning::Fast));
            if let Some(f) = toggle(&mut self.stop_signal, ungraceful, p, now_ns, || {
                Prediction {
                    init: init.clone(),
                    disposition: term,
                    age_ns: age,
                    resolved: !ungraceful,
                    likely: false,
                    exited_on_sigterm: false,
                    term_flags,
                }
            }) {
                out.push(Finding {
                    kind: FindingKind::Pid1StopSignal,
                    severity: match server {
                        Some(Meaning::Reload) => Severity::Medium,
                        Some(Meaning::Fast) => Severity::Low,
                        _ => Severity::Info,
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
                term_flags: None,
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
