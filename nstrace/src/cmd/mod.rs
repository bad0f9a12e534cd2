//! One module per subcommand.

pub mod audit;
pub mod live;
pub mod replay;
pub mod shutdown;
pub mod topology;
pub mod watch;

use std::collections::HashSet;

use crate::cli::FilterArgs;
use crate::filter::Filter;

/// `--fail-on` was reached: exit 1 without an error message (the findings are the message).
#[derive(Debug)]
pub struct GateFailed;

impl std::fmt::Display for GateFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("findings at or above the --fail-on severity")
    }
}

impl std::error::Error for GateFailed {}

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
