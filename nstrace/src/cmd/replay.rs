//! `nstrace replay`: a record file through the same consumers the live
//! commands use: its events as `watch` printed them, its topology at the
//! end, or its audit findings.

use anyhow::Result;

use crate::cli::ReplayArgs;
use crate::consumer::audit::{AuditOptions, AuditView};
use crate::consumer::{Printer, TopologyView};
use crate::session::{replay, Outcome};

/// Runs the replay; errors name the file and the byte where it went wrong.
pub fn run(args: &ReplayArgs) -> Result<Outcome> {
    if let Some(format) = args.topology {
        return replay::run(&args.file, &mut TopologyView::new(format, false));
    }
    if args.audit {
        let policy = super::load_policy(args.policy.as_deref())?;
        let mut view = AuditView::new(
            AuditOptions {
                format: args.format,
                min_severity: args
                    .min_severity
                    .unwrap_or(crate::cli::default_min_severity(args.format)),
                fail_on: args.fail_on,
                pid1: super::pid1_config(&crate::cli::DetectorArgs {
                    zombie_after: args.zombie_after,
                    forward_window: args.forward_window,
                    predict_after: args.predict_after,
                }),
            },
            policy,
        );
        return replay::run(&args.file, &mut view);
    }
    let mut printer = Printer::new(args.format, super::build_filter(&args.filter, false));
    replay::run(&args.file, &mut printer)
}
