//! `nstrace report`: the node as one self-contained HTML page (or its JSON
//! document), from a recording or a live trace.

use std::path::Path;

use anyhow::{bail, Result};

use crate::cli::ReportArgs;
use crate::consumer::report::{Bounds, ReportOptions, ReportView};
use crate::record::Reader;
use crate::session::{live, replay, Outcome};

/// Refuses, before anything is traced or read, an output that cannot be written.
fn check_output(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!(
            "{} is a directory: -o names the file to write",
            path.display()
        );
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!(
            "cannot write {}: no directory {}",
            path.display(),
            parent.display()
        );
    }
    Ok(())
}

/// Runs the command.
pub fn run(args: &ReportArgs) -> Result<Outcome> {
    let policy = super::load_policy(args.policy.as_deref())?;
    if let Some(out) = &args.output {
        check_output(out)?;
    }
    let opts = |pid1| ReportOptions {
        format: args.format,
        out: args.output.clone(),
        pod: args.pod.clone(),
        file: args.file.clone(),
        pid1,
        bounds: Bounds::each(args.max_items as usize),
    };
    match &args.file {
        Some(file) => {
            // The live run's detector settings, as the recording keeps them.
            let kept = Reader::open(file)?.meta.detectors.unwrap_or_default();
            replay::run(file, &mut ReportView::new(opts(kept), policy))
        }
        None => {
            let pid1 = super::pid1_config(&args.detect);
            live::run(
                &live::LiveOptions {
                    duration: args.duration,
                    record: args.record.clone(),
                    detectors: Some(pid1),
                    ..live::LiveOptions::new(&args.ring, &args.runtime)
                },
                &mut ReportView::new(opts(pid1), policy),
            )
        }
    }
}
