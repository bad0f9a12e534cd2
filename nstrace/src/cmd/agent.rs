//! `nstrace agent`: the node agent — every detector, JSON-lines findings,
//! and HTTP endpoints for Prometheus and health checks.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::cli::AgentArgs;
use crate::consumer::agent::{AgentOptions, AgentView};
use crate::output::logfile::RotatingLog;
use crate::serve::{self, Shared};
use crate::session::{live, Outcome};

/// Takes the node's agent lock (held while the file lives); a second agent
/// gets one line.
pub fn lock(path: &Path) -> Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the lock directory {}", dir.display()))?;
    }
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    // SAFETY: flock on an fd this function owns.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let holder = std::fs::read_to_string(path).unwrap_or_default();
        bail!(
            "another nstrace agent runs on this node ({} holds {}); two would count everything twice",
            match holder.trim() {
                "" => "a process".to_owned(),
                pid => format!("pid {pid}"),
            },
            path.display()
        );
    }
    f.set_len(0)?;
    writeln!(f, "{}", std::process::id())?;
    Ok(f)
}

/// Runs the agent until SIGTERM or Ctrl-C.
pub fn run(args: &AgentArgs) -> Result<Outcome> {
    let policy = super::load_policy(args.policy.as_deref())?;
    let log = match &args.output {
        Some(path) => Some(
            RotatingLog::open(path, args.output_max_size, args.output_keep)
                .with_context(|| format!("opening {}", path.display()))?,
        ),
        None => None,
    };
    let shared = Arc::new(Shared::new(&crate::procfs::kernel_release()));
    let mut view = AgentView::new(
        AgentOptions {
            pid1: super::pid1_config(&args.detect),
            policy,
            log,
            series_hold: args.series_hold,
            min_severity: args.min_severity,
            debug: args.debug,
        },
        shared.clone(),
    );
    let opts = live::LiveOptions {
        // What the detectors read, to processes in containers: a node whose
        // own processes signal each other heavily pays nothing for it.
        signal_mask: args.signal_mask(),
        signals_in_containers_only: true,
        ..live::LiveOptions::new(&args.ring, &args.runtime)
    };
    // Bound before anything is loaded: a taken port is a clear error, early.
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("listening on {}", args.listen))?;
    // Its own thread and runtime: no drain, topology rebuild or network read
    // of the trace below can hold up a probe.
    serve::listener::spawn(
        listener,
        shared,
        serve::listener::Limits {
            max_connections: usize::from(args.http_max_connections),
            header_timeout: args.http_header_timeout,
            idle_timeout: args.http_idle_timeout,
        },
    )?;
    eprintln!(
        "nstrace: agent serving http://{}/ (the report page), /metrics, /healthz, /topology",
        args.listen
    );
    live::run(&opts, &mut view)
}
