//! One module per subcommand. Each builds its consumer from its flags, picks
//! where the inputs come from (the live node or a record file) and returns
//! how it went; `main` turns that into an exit code.

pub mod agent;
pub mod audit;
pub mod generate;
pub mod replay;
pub mod report;
pub mod shutdown;
pub mod topology;
pub mod watch;

use std::collections::HashSet;

use anyhow::{Context, Result};

use crate::cli::FilterArgs;
use crate::detect::{pid1, policy::Policy};
use crate::filter::Filter;

/// Builds the event filter from the shared flags; `live` also follows the
/// existing descendants of each --pid root (found in /proc).
pub fn build_filter(args: &FilterArgs, live: bool) -> Filter {
    let pids = (!args.pid.is_empty()).then(|| {
        let mut set = HashSet::new();
        for &p in &args.pid {
            if live {
                set.extend(crate::procfs::descendants(p));
            } else {
                set.insert(p);
            }
        }
        set
    });
    Filter {
        pids,
        comms: args.comm.clone(),
        kinds: (!args.kind.is_empty())
            .then(|| args.kind.iter().flat_map(|k| k.0.iter().copied()).collect()),
        signals: (!args.signal.is_empty()).then(|| nstrace_common::signal_mask(&args.signal)),
        exited: HashSet::new(),
    }
}

/// Reads `--policy FILE`; an empty policy without one.
pub fn load_policy(path: Option<&std::path::Path>) -> Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading policy {}", path.display()))?;
    Ok(Policy::parse(&text, &path.display().to_string())?)
}

/// PID-1 detector settings from `--zombie-after`, `--forward-window` and `--predict-after`.
pub fn pid1_config(d: &crate::cli::DetectorArgs) -> pid1::Config {
    pid1::Config {
        zombie_after_ns: d.zombie_after.as_nanos() as u64,
        forward_window_ns: d.forward_window.as_nanos() as u64,
        predict_after_ns: d.predict_after.as_nanos() as u64,
    }
}
