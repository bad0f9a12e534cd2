//! `nstrace audit`: run the detectors live, print each finding when
//! confirmed and a summary at the end; `--fail-on` gates a pipeline.

use anyhow::Result;

use crate::cli::AuditArgs;
use crate::consumer::audit::{AuditOptions, AuditView};
use crate::session::{live, Outcome};

/// Runs the live audit.
pub fn run(args: &AuditArgs) -> Result<Outcome> {
    // A bad policy is reported before anything is loaded.
    let policy = super::load_policy(args.policy.as_deref())?;
    let mut view = AuditView::new(
        AuditOptions {
            format: args.format,
            min_severity: args.min_severity(),
            fail_on: args.fail_on,
            pid1: super::pid1_config(&args.detect),
        },
        policy,
    );
    if args.once {
        return live::once(&args.runtime.roots(), &mut view);
    }
    live::run(
        &live::LiveOptions {
            duration: args.duration,
            record: args.record.clone(),
            detectors: Some(super::pid1_config(&args.detect)),
            ..live::LiveOptions::new(&args.ring, &args.runtime)
        },
        &mut view,
    )
}
