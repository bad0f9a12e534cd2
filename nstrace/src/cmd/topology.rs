//! `nstrace topology`: which processes, containers and pods share which namespaces.

use anyhow::Result;

use crate::cli::TopologyArgs;
use crate::consumer::TopologyView;
use crate::model::topology;
use crate::output::topology::render;
use crate::output::write_stdout;
use crate::session::{live, snapshot_model_with_net, Outcome, Pins};

/// Runs the command: a /proc snapshot, or a trace with `--watch` / `--duration`.
pub fn run(args: &TopologyArgs) -> Result<Outcome> {
    if !args.watch && args.duration.is_none() {
        write_stdout(
            render(
                &topology::build(&snapshot_model_with_net(Pins::All, &args.runtime.roots())),
                args.format,
            )
            .as_bytes(),
        )?;
        return Ok(Outcome::Done);
    }
    let mut view = TopologyView::new(args.format, args.watch);
    live::run(
        &live::LiveOptions {
            ring_buffer_size: args.ring.ring_buffer_size,
            signal_mask: 0,
            signals_in_containers_only: false,
            debug_probes: args.ring.debug_probes,
            duration: args.duration,
            record: None,
            runtime_roots: args.runtime.roots(),
        },
        &mut view,
    )
}
