//! `nstrace replay`: a record file through the same consumers the live
//! commands use: its events as `watch` printed them, its topology at the
//! end, or its audit findings.

use anyhow::Result;

use crate::cli::ReplayArgs;
use crate::consumer::audit::{AuditOptions, AuditView};
use crate::consumer::{Printer, TopologyView};
use crate::detect::pid1;
use crate::record::Reader;
use crate::session::{replay, Outcome};

/// Runs the replay; errors name the file and the byte where it went wrong.
pub fn run(args: &ReplayArgs) -> Result<Outcome> {
    if let Some(format) = args.topology {
        return replay::run(&args.file, &mut TopologyView::new(format, false));
    }
    if args.audit {
        let policy = super::load_policy(args.policy.as_deref())?;
        // The live run's settings, as the recording keeps them, unless overridden.
        let kept = Reader::open(&args.file)?.meta.detectors.unwrap_or_default();
        let ns = |flag: Option<std::time::Duration>, kept: u64| {
            flag.map_or(kept, |d| d.as_nanos() as u64)
        };
        let mut view = AuditView::new(
            AuditOptions {
                format: args.format,
                min_severity: args
                    .min_severity
                    .unwrap_or(crate::cli::default_min_severity(args.format)),
                fail_on: args.fail_on,
                pid1: pid1::Config {
                    zombie_after_ns: ns(args.zombie_after, kept.zombie_after_ns),
                    forward_window_ns: ns(args.forward_window, kept.forward_window_ns),
                    predict_after_ns: ns(args.predict_after, kept.predict_after_ns),
                },
            },
            policy,
        );
        return replay::run(&args.file, &mut view);
    }
    let mut printer = Printer::new(args.format, super::build_filter(&args.filter, false));
    replay::run(&args.file, &mut printer)
}
