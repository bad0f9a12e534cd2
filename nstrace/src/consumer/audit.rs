//! The audit view: every detector, each finding printed when confirmed, and
//! a summary at the end; `--fail-on` decides the outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Result;

use crate::detect::{pid1, policy::Policy, Attributed, Audit, Severity};
use crate::event::Event;
use crate::model::{Model, Release};
use crate::output::{findings, write_stdout, Format};
use crate::record::Meta;
use crate::session::{Consumer, Flow, Needs, NetNeeds, Outcome, Pins};

/// What the audit prints and when it fails.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// Output format.
    pub format: Format,
    /// Findings below this are counted, not printed.
    pub min_severity: Severity,
    /// A finding at or above this (not allowed by policy) fails the run.
    pub fail_on: Option<Severity>,
    /// Detector settings.
    pub pid1: pid1::Config,
}

/// Runs the detectors and prints their findings.
pub struct AuditView {
    opts: AuditOptions,
    audit: Option<Audit>,
    policy: Option<Policy>,
    wall_offset_ns: i64,
    all: Vec<Attributed>,
    /// Raised findings below `--min-severity`, and how many of them are
    /// routine runtime joins (the summary says so, in text).
    hidden: usize,
    hidden_routine: usize,
    /// Containers seen running (ids), their names as the runtime gave them,
    /// and shutdowns followed to their end.
    seen: BTreeSet<String>,
    names: BTreeMap<String, String>,
    shutdowns: usize,
}

impl AuditView {
    /// An audit with these options and allow rules.
    pub fn new(opts: AuditOptions, policy: Policy) -> AuditView {
        AuditView {
            opts,
            audit: None,
            policy: Some(policy),
            wall_offset_ns: 0,
            all: Vec::new(),
            hidden: 0,
            hidden_routine: 0,
            seen: BTreeSet::new(),
            names: BTreeMap::new(),
            shutdowns: 0,
        }
    }

    /// Prints what is at or above `--min-severity` and keeps everything for the summary.
    fn show(&mut self, found: Vec<Attributed>) -> Result<Flow> {
        let mut text = String::new();
        for a in found {
            let f = &a.finding;
            if f.resolved() {
                // A withdrawn prediction: the earlier one no longer counts, and
                // its withdrawal is shown wherever it was.
                let before = self.all.len();
                self.all
                    .retain(|x| !(x.finding.kind == f.kind && x.finding.pid == f.pid));
                if self.all.len() < before && f.shown_at(self.opts.min_severity) {
                    text.push_str(&findings::finding(
                        &a,
                        self.opts.format,
                        self.wall_offset_ns,
                    ));
                }
                continue;
            }
            if f.shown_at(self.opts.min_severity) {
                text.push_str(&findings::finding(
                    &a,
                    self.opts.format,
                    self.wall_offset_ns,
                ));
            } else {
                self.hidden += 1;
                self.hidden_routine += usize::from(f.routine().is_some());
            }
            self.all.push(a);
        }
        if !text.is_empty() {
            write_stdout(text.as_bytes())?;
        }
        Ok(Flow::Continue)
    }
}

impl AuditView {
    /// A container seen running, with its name if the runtime gave one.
    fn see(&mut self, id: String, m: &Model) {
        if let Some(name) = m.names_of(&id).and_then(|n| n.container.clone()) {
            self.names.insert(id.clone(), name);
        }
        self.seen.insert(id);
    }
}

impl Consumer for AuditView {
    fn needs(&self) -> Needs {
        Needs {
            model: true,
            pins: Pins::Mounts,
            tick: Some(Duration::from_secs(1)),
            rescan_pins: false,
            final_tick: true,
            judge_signals_after: Some(Duration::from_nanos(self.opts.pid1.predict_after_ns)),
            net: NetNeeds::Holders,
        }
    }

    fn start(&mut self, m: &Model, meta: &Meta) -> Result<Flow> {
        self.wall_offset_ns = meta.wall_offset_ns;
        let mut audit = Audit::new(
            m.node.pid,
            m.node.mnt,
            self.opts.pid1,
            self.policy.take().unwrap_or_default(),
        );
        audit.seed(m);
        self.audit = Some(audit);
        for id in m.live_container_ids() {
            self.see(id, m);
        }
        Ok(Flow::Continue)
    }

    fn before_event(&mut self, ev: &Event, m: &Model) {
        if let Some(a) = self.audit.as_mut() {
            a.before_event(ev, m);
        }
    }

    fn event(&mut self, ev: &Event, m: &Model) -> Result<Flow> {
        // A container is seen at the start, as its processes end, or at the end.
        if let Event::Exit(e) = ev {
            if e.group_dead != 0 {
                if let Some(id) = m.container_of(e.hdr.tgid) {
                    self.see(id, m);
                }
            }
        }
        let found = match self.audit.as_mut() {
            Some(a) => a.on_event(ev, m),
            None => Vec::new(),
        };
        self.show(found)
    }

    fn released(&mut self, released: &[Release], m: &Model) -> Result<Flow> {
        let found = match self.audit.as_mut() {
            Some(a) => a.released(released, m),
            None => Vec::new(),
        };
        self.show(found)
    }

    fn tick(&mut self, now_ns: u64, m: &Model) -> Result<Flow> {
        let found = match self.audit.as_mut() {
            Some(a) => {
                // Counted, not kept: an audit may run for days.
                self.shutdowns += a.shutdowns.done.len();
                a.shutdowns.done.clear();
                a.sessions.probe_runs.clear();
                a.on_tick(now_ns, m)
            }
            None => Vec::new(),
        };
        self.show(found)
    }

    fn finish(&mut self, m: &Model) -> Result<Outcome> {
        // Those still running (the others were seen as their processes ended).
        for id in m.live_container_ids() {
            self.see(id, m);
        }
        // Sessions still open or held back, containers not yet named.
        let last = match self.audit.as_mut() {
            Some(a) => a.finish(m),
            None => Vec::new(),
        };
        self.show(last)?;
        let Some(audit) = self.audit.as_ref() else {
            return Ok(Outcome::Done);
        };
        let zombies = audit.pid1.zombie_counts();
        let hits: Vec<(&str, usize)> = audit
            .policy
            .rules
            .iter()
            .map(|r| r.name.as_str())
            .zip(audit.policy_hits.iter().copied())
            .collect();
        let watched = findings::Watched {
            containers: self.seen.iter().cloned().collect(),
            names: self.names.clone(),
            inits: audit.judged.iter().copied().collect(),
            reapers: audit.reapers.iter().copied().collect(),
            shutdowns: self.shutdowns + audit.shutdowns.done.len(),
            probes: audit.sessions.probes_recognised,
            probe_runs: audit.sessions.probe_runs_total,
        };
        let mut text =
            findings::summary_of_run(&self.all, &zombies, &hits, &watched, self.opts.format);
        if self.opts.format == Format::Text && self.hidden > 0 {
            text.push_str(&findings::hidden_note(
                self.hidden,
                self.hidden_routine,
                self.opts.min_severity,
            ));
        }
        write_stdout(text.as_bytes())?;
        let failed = self.opts.fail_on.is_some_and(|level| {
            self.all
                .iter()
                .any(|a| a.allowed_by.is_none() && a.finding.severity >= level)
        });
        Ok(if failed {
            Outcome::GateFailed
        } else {
            Outcome::Done
        })
    }
}
