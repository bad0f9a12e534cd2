//! PID-1 behaviour: inits that never reap, that ignore SIGTERM, or that take
//! SIGTERM and never pass it on, and the predictions made before any stop.
//! One detector a file: [`reaping`], [`sigterm`], [`forwarding`],
//! [`predict`]; [`Pid1`] feeds them in one order.

pub mod forwarding;
pub mod predict;
pub mod reaping;
pub mod sigterm;

use std::collections::BTreeMap;

use super::{Finding, FindingKind, Severity};
use crate::event::Event;
use crate::model::Model;

pub use forwarding::{NotForwarded, TeardownKills};
pub use predict::Prediction;
pub use reaping::{Unreaped, ZombieFact};
pub use sigterm::{Dropped, IgnoredSigterm};

/// Detector settings. [`Config::default`] holds the defaults; the command
/// line's defaults and help text are tied to it by a test (cli.rs).
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

/// The severity a prediction of `kind` is raised at (its withdrawal is
/// info): what decides whether the withdrawal is shown where the prediction was.
pub fn raised_severity(kind: FindingKind) -> Severity {
    match kind {
        FindingKind::Pid1WillIgnoreSigterm => Severity::Medium,
        FindingKind::Pid1NotReapingCapable => Severity::Low,
        // Medium when SIGTERM reloads (the stop ends in SIGKILL), low when it
        // is a fast stop: the lower shows a withdrawal of either.
        FindingKind::Pid1StopSignal => Severity::Low,
        _ => Severity::Info,
    }
}

/// The PID-1 detectors, fed in one order.
#[derive(Debug, Default)]
pub struct Pid1 {
    reaping: reaping::Reaping,
    sigterm: sigterm::Sigterm,
    forwarding: forwarding::Forwarding,
    predict: predict::Predict,
}

impl Pid1 {
    /// Detectors for a node whose own PID namespace is `node_pid_ns`.
    pub fn new(cfg: Config, node_pid_ns: u32) -> Pid1 {
        Pid1 {
            reaping: reaping::Reaping::new(cfg, node_pid_ns),
            sigterm: sigterm::Sigterm::new(cfg, node_pid_ns),
            forwarding: forwarding::Forwarding::new(cfg, node_pid_ns),
            predict: predict::Predict::new(cfg, node_pid_ns),
        }
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
        self.reaping.seed_one(p);
    }

    /// Lasting zombies (older than `--zombie-after` now) per PID namespace
    /// inode they live in: the live count.
    pub fn zombie_counts(&self) -> BTreeMap<u32, usize> {
        self.reaping.zombie_counts()
    }

    /// A process left the model (reaped, or found gone): everything kept
    /// about it ends with it, so state stays bounded on a node where
    /// processes come and go for hours.
    pub fn released(&mut self, pid: u32) {
        self.predict.forget(pid);
        self.sigterm.forget(pid);
        self.reaping.forget(pid);
    }

    /// Feeds one event (after the model has applied it).
    pub fn on_event(&mut self, ev: &Event, m: &Model) -> Vec<Finding> {
        let mut out = Vec::new();
        let h = ev.header();
        match ev {
            // PID 1 exited on a SIGTERM (not the SIGKILL that ends a grace
            // period): what it did withdraws a prediction that it would not.
            Event::Exit(e)
                if e.group_dead != 0
                    && self.forwarding.took_sigterm(h.tgid)
                    && e.exit_code & 0x7f != nstrace_common::sig::KILL =>
            {
                out.extend(self.predict.withdraw_on_exit(m, h.tgid, h.ts_ns));
            }
            _ => {}
        }
        self.sigterm.on_event(ev, &mut out);
        self.forwarding.on_event(ev, m, &mut out);
        self.reaping.on_event(ev);
        out
    }

    /// Advances time to `now_ns` (live clock ticks, or the last event time).
    pub fn on_tick(&mut self, now_ns: u64, m: &Model) -> Vec<Finding> {
        let mut out = Vec::new();
        let forwarding = &self.forwarding;
        self.predict
            .on_tick(now_ns, m, |pid| forwarding.took_sigterm(pid), &mut out);
        self.sigterm.on_tick(now_ns, m, &mut out);
        self.reaping.on_tick(now_ns, m, &mut out);
        self.forwarding.on_tick(now_ns, m, &mut out);
        out
    }
}

#[cfg(test)]
mod tests;
