//! `nstrace watch`: attach, stream events, stop cleanly.

use std::io::{BufWriter, ErrorKind};
use std::time::Duration;

use anyhow::{Context, Result};
use nstrace_common::{signal_mask, DEFAULT_SIGNALS};
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::WatchArgs;
use crate::event::decode;
use crate::filter::Filter;
use crate::output::{self, EventSink};
use crate::probe::{Options, Probes};
use crate::procfs;
use crate::record::{Meta, Writer};
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
    filter: Filter,
    recorder: Option<Writer<BufWriter<std::fs::File>>>,
    sink: Box<dyn EventSink + 'a>,
    user: Stats,
}

impl Pipeline<'_> {
    /// Handles one record; `Ok(false)` when stdout is closed.
    fn handle(&mut self, raw: &[u8]) -> Result<bool> {
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
        }
        match self.sink.event(&ev) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn flush(&mut self) -> Result<bool> {
        match self.sink.flush() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Kernel counters plus ours.
    fn totals(&self, probes: &Probes) -> Stats {
        let mut s = probes.stats();
        s.received = self.user.received;
        s.undecodable = self.user.undecodable;
        s
    }
}

/// Runs `watch` until Ctrl-C, SIGTERM, --duration or a closed stdout.
pub async fn run(args: &WatchArgs) -> Result<()> {
    let mask = if args.filter.signal.is_empty() {
        signal_mask(&DEFAULT_SIGNALS)
    } else {
        signal_mask(&args.filter.signal)
    };
    // Handlers first: a SIGTERM during loading must still end in a clean detach.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigusr1 = signal(SignalKind::user_defined1())?;

    let mut probes = Probes::load(Options {
        ring_buffer_size: args.ring_buffer_size,
        signal_mask: mask,
    })?;
    let meta = node_meta();
    let recorder = match &args.record {
        Some(path) => Some(
            Writer::create(path, &meta)
                .with_context(|| format!("creating record file {}", path.display()))?,
        ),
        None => None,
    };
    let mut p = Pipeline {
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
    p.flush()?;

    // SAFETY: the RingBuf owns its fd and is owned by the AsyncFd until both are dropped.
    let mut ring = unsafe { AsyncFd::register(probes.take_ring()?) }
        .map_err(|e| anyhow::anyhow!("watching the ring buffer: {e}"))?;
    eprintln!(
        "nstrace: tracing ({} programs attached); Ctrl-C to stop, SIGUSR1 for counters",
        crate::probe::PROGRAM_COUNT
    );
    let deadline = tokio::time::sleep(args.duration.unwrap_or(Duration::from_secs(1 << 40)));
    tokio::pin!(deadline);

    let mut open = true;
    while open {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                let rb = guard.get_inner_mut();
                while let Some(item) = rb.next() {
                    if !p.handle(&item)? {
                        open = false;
                        break;
                    }
                }
                guard.clear_ready();
                open = open && p.flush()?;
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = &mut deadline => break,
            _ = sigusr1.recv() => eprintln!("{}", p.totals(&probes)),
        }
    }
    // Whatever the kernel already wrote is still shown and recorded.
    if open {
        let rb = ring.get_mut();
        while let Some(item) = rb.next() {
            if !p.handle(&item)? {
                break;
            }
        }
    }
    let _ = p.flush();
    let totals = p.totals(&probes);
    if let Some(mut rec) = p.recorder.take() {
        rec.stats(&totals)?;
        rec.flush().context("writing the record file")?;
    }
    // Detach every program before reporting.
    drop(ring);
    drop(probes);
    eprintln!("{totals}");
    Ok(())
}
