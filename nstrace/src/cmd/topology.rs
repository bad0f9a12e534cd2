//! `nstrace topology`: which processes, containers and pods share which namespaces.

use anyhow::{bail, Result};

use super::live::{drive, Consumer, Stops};
use crate::cli::TopologyArgs;
use crate::event::decode;
use crate::model::{topology, wants_enrichment, Model};
use crate::output::topology::render;
use crate::output::write_stdout;
use crate::probe::{Options, Probes};
use crate::procfs;
use crate::snapshot;
use crate::stats::Stats;

/// What a snapshot reads about namespaces kept alive without a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pins {
    /// Bind mounts and every process's open fds (the topology reports both).
    All,
    /// Bind mounts only (named netns): enough to classify joins, and quick.
    Mounts,
}

/// A model of this node from /proc now.
pub fn snapshot_model(pins: Pins) -> Model {
    let node = procfs::node_ns();
    let host = procfs::hostname();
    let mut m = Model::new(node, &host);
    for p in snapshot::processes(&node, &host) {
        m.add_snapshot(p);
    }
    m.set_pinned(match pins {
        Pins::All => snapshot::pinned(),
        Pins::Mounts => snapshot::mount_pins(),
    });
    m
}

struct Live<'a> {
    model: Model,
    args: &'a TopologyArgs,
    /// The model generation last rendered.
    shown: u64,
    /// The text last printed (`--watch` prints only what changed).
    last: Option<String>,
    user: Stats,
}

impl Live<'_> {
    /// Prints the topology if it differs from what was printed last;
    /// `Ok(false)` when stdout is gone.
    fn print(&mut self) -> Result<bool> {
        self.shown = self.model.generation;
        let text = render(&topology::build(&self.model), self.args.format);
        if self.last.as_deref() == Some(text.as_str()) {
            return Ok(true);
        }
        let mut out = String::new();
        if self.args.watch && self.args.format == crate::output::topology::TopoFormat::Tree {
            out = format!(
                "--- {}\n",
                crate::output::time::rfc3339(
                    procfs::wall_offset_ns() + procfs::monotonic_ns() as i64
                )
            );
        }
        out.push_str(&text);
        let open = write_stdout(out.as_bytes())?;
        self.last = Some(text);
        Ok(open)
    }
}

impl Consumer for Live<'_> {
    fn record(&mut self, raw: &[u8]) -> Result<bool> {
        self.user.received += 1;
        match decode(raw) {
            Ok(ev) => {
                self.model.apply(&ev);
                if let Some(pid) = wants_enrichment(&self.model.node, &ev) {
                    if let Some(e) =
                        snapshot::enrichment(pid, &self.model.node, &self.model.node_hostname)
                    {
                        self.model.enrich(&e);
                    }
                }
            }
            Err(_) => self.user.undecodable += 1,
        }
        Ok(true)
    }

    fn tick(&mut self) -> Result<bool> {
        // Bind mounts and fds make no events: rescan them on each tick.
        self.model.set_pinned(snapshot::pinned());
        if self.model.generation != self.shown {
            return self.print();
        }
        Ok(true)
    }

    fn report(&mut self, probes: &Probes) {
        eprintln!("{}", probes.totals(&self.user));
    }
}

/// Runs the command.
pub async fn run(args: &TopologyArgs) -> Result<()> {
    if !args.watch && args.duration.is_none() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            bail!(
                "nstrace topology needs root to read every process's namespaces; run it with sudo"
            );
        }
        crate::probe::require_caps(
            &[(nstrace_common::caps::SYS_PTRACE, "CAP_SYS_PTRACE")],
            "read every process's namespaces",
        )?;
        write_stdout(render(&topology::build(&snapshot_model(Pins::All)), args.format).as_bytes())?;
        return Ok(());
    }
    let mut stops = Stops::install()?;
    let mut probes = Probes::load(Options {
        ring_buffer_size: args.ring_buffer_size,
        signal_mask: 0,
    })?;
    // Snapshot after attach, so nothing falls between the two.
    let mut live = Live {
        model: snapshot_model(Pins::All),
        args,
        shown: u64::MAX,
        last: None,
        user: Stats::default(),
    };
    let open = !args.watch || live.print()?;
    if open {
        let tick = args.watch.then_some(std::time::Duration::from_secs(1));
        drive(&mut probes, &mut stops, args.duration, tick, &mut live).await?;
        if !args.watch || live.model.generation != live.shown {
            live.model.set_pinned(snapshot::pinned());
            live.print()?;
        }
    }
    let s = probes.totals(&live.user);
    drop(probes);
    eprintln!("{s}");
    Ok(())
}
