//! `nstrace shutdown`: follow one pod's or process's termination and print
//! its timeline (SIGTERM at t0 → what the kernel did → exits → SIGKILL → total).

use anyhow::Result;
use nstrace_common::{signal_mask, DEFAULT_SIGNALS};

use crate::cli::ShutdownArgs;
use crate::consumer::shutdown::{Follow, Target};
use crate::session::{live, Outcome};

/// Runs the command.
pub fn run(args: &ShutdownArgs) -> Result<Outcome> {
    let target = match (&args.pod, args.pid, &args.container) {
        (_, Some(pid), _) => Target::Pid(pid),
        (_, None, Some(c)) => Target::Container(c.clone()),
        (pod, None, None) => Target::Pod(pod.clone().unwrap_or_default()),
    };
    let mut follow = Follow::new(target, args.format);
    live::run(
        &live::LiveOptions {
            ring_buffer_size: 8 << 20,
            signal_mask: signal_mask(&DEFAULT_SIGNALS),
            signals_in_containers_only: false,
            debug_probes: false,
            duration: args.timeout,
            record: None,
            runtime_roots: args.runtime.roots(),
            detectors: None,
        },
        &mut follow,
    )
}
