//! `nstrace audit`: run the detectors live (or over a recording), print each
//! finding when confirmed and a summary at the end; `--fail-on` gates a pipeline.

use std::io::BufWriter;

use anyhow::{Context, Result};
use nstrace_common::{signal_mask, DEFAULT_SIGNALS};

use super::live::{drive, Consumer, Stops};
use super::watch::node_meta;
use super::GateFailed;
use crate::cli::{AuditArgs, ReplayArgs};
use crate::detect::policy::Policy;
use crate::detect::{pid1, Attributed, Audit};
use crate::event::{decode, Event};
use crate::model::wants_enrichment;
use crate::output::findings;
use crate::output::{write_stdout, Format};
use crate::probe::{Options, Probes};
use crate::procfs;
use crate::record::{Meta, Reader, Record, Writer};
use crate::snapshot;
use crate::stats::Stats;

/// Prints findings as they come and keeps them for the summary.
struct Reporter {
    format: Format,
    wall_offset_ns: i64,
    min_severity: crate::detect::Severity,
    all: Vec<Attributed>,
}

impl Reporter {
    /// Prints what is at or above `--min-severity`; `Ok(false)` once stdout is gone.
    fn show(&mut self, found: Vec<Attributed>) -> Result<bool> {
        let mut text = String::new();
        for a in found {
            if a.finding.severity >= self.min_severity {
                text.push_str(&findings::finding(&a, self.format, self.wall_offset_ns));
            }
            self.all.push(a);
        }
        if text.is_empty() {
            return Ok(true);
        }
        Ok(write_stdout(text.as_bytes())?)
    }

    /// Prints the summary; errors with `GateFailed` if a finding reaches `fail_on`.
    fn finish(&self, audit: &Audit, fail_on: Option<crate::detect::Severity>) -> Result<()> {
        let zombies = audit.pid1.zombie_counts();
        let hits: Vec<(&str, usize)> = audit
            .policy
            .rules
            .iter()
            .map(|r| r.name.as_str())
            .zip(audit.policy_hits.iter().copied())
            .collect();
        write_stdout(findings::summary(&self.all, &zombies, &hits, self.format).as_bytes())?;
        if let Some(level) = fail_on {
            if self
                .all
                .iter()
                .any(|a| a.allowed_by.is_none() && a.finding.severity >= level)
            {
                return Err(GateFailed.into());
            }
        }
        Ok(())
    }
}

struct Live {
    audit: Audit,
    reporter: Reporter,
    recorder: Option<Writer<BufWriter<std::fs::File>>>,
    meta: Meta,
    user: Stats,
}

impl Consumer for Live {
    fn record(&mut self, raw: &[u8]) -> Result<bool> {
        self.user.received += 1;
        let Ok(ev) = decode(raw) else {
            self.user.undecodable += 1;
            return Ok(true);
        };
        if let Event::Setns(e) = &ev {
            // `ip netns add` makes no event: look for new nsfs bind mounts
            // before the join is classified (recorded, so a replay agrees) —
            // only when the join goes somewhere neither the node nor a pin is.
            if crate::model::joins_unknown_place(&self.audit.model, e) {
                let pins = snapshot::refresh_mount_pins(&self.audit.model.pinned);
                if pins != self.audit.model.pinned {
                    if let Some(rec) = self.recorder.as_mut() {
                        rec.pinned(&pins)?;
                    }
                    self.audit.model.set_pinned(pins);
                }
            }
        }
        if let Some(rec) = self.recorder.as_mut() {
            rec.event(raw).context("writing the record file")?;
        }
        let found = self.audit.on_event(&ev);
        if let Some(pid) = wants_enrichment(&self.meta.node_ns, &ev) {
            if let Some(e) = snapshot::enrichment(pid, &self.meta.node_ns, &self.meta.hostname) {
                if let Some(rec) = self.recorder.as_mut() {
                    rec.enrichment(&e)?;
                }
                self.audit.model.enrich(&e);
            }
        }
        self.reporter.show(found)
    }

    fn tick(&mut self) -> Result<bool> {
        let now = procfs::monotonic_ns();
        if let Some(rec) = self.recorder.as_mut() {
            rec.tick(now)?;
        }
        let found = self.audit.on_tick(now);
        self.reporter.show(found)
    }

    fn report(&mut self, probes: &Probes) {
        eprintln!("{}", probes.totals(&self.user));
    }
}

fn config(zombie_after: std::time::Duration, forward_window: std::time::Duration) -> pid1::Config {
    pid1::Config {
        zombie_after_ns: zombie_after.as_nanos() as u64,
        forward_window_ns: forward_window.as_nanos() as u64,
    }
}

/// Reads `--policy FILE`; an empty policy without one.
pub fn load_policy(path: Option<&std::path::Path>) -> Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading policy {}", path.display()))?;
    Ok(Policy::parse(&text, &path.display().to_string())?)
}

/// Runs the live audit.
pub async fn run(args: &AuditArgs) -> Result<()> {
    // A bad policy is reported before anything is loaded.
    let policy = load_policy(args.policy.as_deref())?;
    let mut stops = Stops::install()?;
    let mut probes = Probes::load(Options {
        ring_buffer_size: args.ring_buffer_size,
        signal_mask: signal_mask(&DEFAULT_SIGNALS),
    })?;
    let meta = node_meta();
    let mut recorder = match &args.record {
        Some(path) => Some(
            Writer::create(path, &meta)
                .with_context(|| format!("creating record file {}", path.display()))?,
        ),
        None => None,
    };
    // Snapshot after attach: nothing falls between the two. The recording
    // holds this very snapshot, so a replay starts where the live run did.
    let model = super::topology::snapshot_model(super::topology::Pins::Mounts);
    if let Some(rec) = recorder.as_mut() {
        for p in model.processes() {
            rec.process(p)?;
        }
        rec.pinned(&model.pinned)?;
    }
    let mut live = Live {
        audit: Audit::new(
            model,
            config(args.zombie_after, args.forward_window),
            policy,
        ),
        reporter: Reporter {
            format: args.format,
            wall_offset_ns: meta.wall_offset_ns,
            min_severity: args.min_severity,
            all: Vec::new(),
        },
        recorder,
        meta,
        user: Stats::default(),
    };
    drive(
        &mut probes,
        &mut stops,
        args.duration,
        Some(std::time::Duration::from_secs(1)),
        &mut live,
    )
    .await?;
    // A last tick at the end, so a replay reaches the same verdicts.
    live.tick()?;
    let stats = probes.totals(&live.user);
    if let Some(mut rec) = live.recorder.take() {
        rec.stats(&stats)?;
        rec.flush()?;
    }
    drop(probes);
    eprintln!("{stats}");
    live.reporter.finish(&live.audit, args.fail_on)
}

/// `replay FILE --audit`: the same findings offline.
pub fn replay(args: &ReplayArgs) -> Result<()> {
    let policy = load_policy(args.policy.as_deref())?;
    let mut reader = Reader::open(&args.file)?;
    let meta = reader.meta.clone();
    let mut audit = Audit::new(
        crate::model::Model::new(meta.node_ns, &meta.hostname),
        config(args.zombie_after, args.forward_window),
        policy,
    );
    let mut reporter = Reporter {
        format: args.format,
        wall_offset_ns: meta.wall_offset_ns,
        min_severity: args.min_severity,
        all: Vec::new(),
    };
    while let Some(rec) = reader.next() {
        match rec? {
            Record::Event(raw) => {
                if let Ok(ev) = decode(raw) {
                    let found = audit.on_event(&ev);
                    if !reporter.show(found)? {
                        return Ok(());
                    }
                }
            }
            Record::Process(p) => audit.add_snapshot(*p),
            Record::Pinned(p) => audit.model.set_pinned(p),
            Record::Enrich(e) => audit.model.enrich(&e),
            Record::Tick(now) => {
                let found = audit.on_tick(now);
                if !reporter.show(found)? {
                    return Ok(());
                }
            }
            Record::Stats(s) => eprintln!("{s}"),
        }
    }
    reporter.finish(&audit, args.fail_on)
}
