//! `nstrace watch`: attach, stream events, stop cleanly.

use std::io::{BufWriter, ErrorKind};

use anyhow::{Context, Result};
use nstrace_common::{signal_mask, DEFAULT_SIGNALS};

use super::live::{drive, Consumer, Stops};
use crate::cli::WatchArgs;
use crate::event::decode;
use crate::filter::Filter;
use crate::model::wants_enrichment;
use crate::output::{self, EventSink};
use crate::probe::{Options, Probes};
use crate::procfs;
use crate::record::{Meta, Writer};
use crate::snapshot;
use crate::stats::Stats;

/// Describes this node for the record file.
pub fn node_meta() -> Meta {
    Meta {
        wall_offset_ns: procfs::wall_offset_ns(),
        start_mono_ns: procfs::monotonic_ns(),
        node_ns: procfs::node_ns(),
        hostname: procfs::hostname(),
        kernel: procfs::kernel_release(),
    }
}

/// Filter, record, render: what happens to each raw record.
struct Pipeline<'a> {
    meta: Meta,
    filter: Filter,
    recorder: Option<Writer<BufWriter<std::fs::File>>>,
    sink: Box<dyn EventSink + 'a>,
    user: Stats,
}

impl Consumer for Pipeline<'_> {
    fn record(&mut self, raw: &[u8]) -> Result<bool> {
        self.user.received += 1;
        let ev = match decode(raw) {
            Ok(ev) => ev,
            Err(_) => {
                self.user.undecodable += 1;
                return Ok(true);
            }
        };
        if !self.filter.matches(&ev) {
            return Ok(true);
        }
        if let Some(rec) = self.recorder.as_mut() {
            rec.event(raw).context("writing the record file")?;
            // Replays rebuild the topology; give them what events do not carry.
            if let Some(pid) = wants_enrichment(&self.meta.node_ns, &ev) {
                if let Some(e) = snapshot::enrichment(pid, &self.meta.node_ns, &self.meta.hostname)
                {
                    rec.enrichment(&e).context("writing the record file")?;
                }
            }
        }
        match self.sink.event(&ev) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn batch_done(&mut self) -> Result<bool> {
        match self.sink.flush() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn report(&mut self, probes: &Probes) {
        eprintln!("{}", probes.totals(&self.user));
    }
}

/// Writes the start-up snapshot into a record file, so replays can rebuild the topology.
pub fn record_snapshot(rec: &mut Writer<BufWriter<std::fs::File>>, meta: &Meta) -> Result<()> {
    for p in snapshot::processes(&meta.node_ns, &meta.hostname) {
        rec.process(&p)?;
    }
    rec.pinned(&snapshot::pinned())?;
    Ok(())
}

/// Runs `watch` until Ctrl-C, SIGTERM, --duration or a closed stdout.
pub async fn run(args: &WatchArgs) -> Result<()> {
    let mask = if args.filter.signal.is_empty() {
        signal_mask(&DEFAULT_SIGNALS)
    } else {
        signal_mask(&args.filter.signal)
    };
    let mut stops = Stops::install()?;
    let mut probes = Probes::load(Options {
        ring_buffer_size: args.ring_buffer_size,
        signal_mask: mask,
    })?;
    let meta = node_meta();
    let recorder = match &args.record {
        Some(path) => {
            let mut w = Writer::create(path, &meta)
                .with_context(|| format!("creating record file {}", path.display()))?;
            // After attach: whatever changes from here on is also in the event stream.
            record_snapshot(&mut w, &meta)?;
            Some(w)
        }
        None => None,
    };
    let mut p = Pipeline {
        meta: meta.clone(),
        filter: super::build_filter(&args.filter, true),
        recorder,
        sink: output::sink(
            args.format,
            BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
            meta.wall_offset_ns,
        ),
        user: Stats::default(),
    };
    p.sink.begin()?;
    p.batch_done()?;
    drive(&mut probes, &mut stops, args.duration, None, &mut p).await?;
    let _ = p.sink.flush();
    let totals = probes.totals(&p.user);
    if let Some(mut rec) = p.recorder.take() {
        rec.stats(&totals)?;
        rec.flush().context("writing the record file")?;
    }
    // Detach every program before reporting.
    drop(probes);
    eprintln!("{totals}");
    Ok(())
}
