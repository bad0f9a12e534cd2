//! `nstrace watch`: attach, stream events, stop cleanly.

use anyhow::Result;
use nstrace_common::{signal_mask, DEFAULT_SIGNALS};

use crate::cli::WatchArgs;
use crate::consumer::Printer;
use crate::session::{live, Outcome};

/// Runs `watch` until Ctrl-C, SIGTERM, --duration or a closed stdout.
pub fn run(args: &WatchArgs) -> Result<Outcome> {
    let signals = if args.filter.signal.is_empty() {
        &DEFAULT_SIGNALS[..]
    } else {
        &args.filter.signal[..]
    };
    let mut printer = Printer::new(args.format, super::build_filter(&args.filter, true));
    live::run(
        &live::LiveOptions {
            ring_buffer_size: args.ring.ring_buffer_size,
            signal_mask: signal_mask(signals),
            signals_in_containers_only: false,
            debug_probes: args.ring.debug_probes,
            duration: args.duration,
            record: args.record.clone(),
            runtime_roots: args.runtime.roots(),
        },
        &mut printer,
    )
}
