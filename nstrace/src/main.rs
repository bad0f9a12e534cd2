//! nstrace: an eBPF tracer for Linux namespaces and PID-1 behaviour in containers.

use std::process::ExitCode;

use clap::Parser;
use nstrace::{cli, cmd};

/// Runs a command on a single-threaded runtime (the tracer needs no more).
fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Before any private mount namespace is made: see procfs::node_ns.
    let _ = nstrace::procfs::node_ns();
    let result = match &cli.command {
        cli::Command::Watch(args) => nstrace::probe::preflight()
            .and_then(|()| nstrace::probe::tracefs::ensure())
            .and_then(|()| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(anyhow::Error::from)
                    .and_then(|rt| rt.block_on(cmd::watch::run(args)))
            }),
        cli::Command::Replay(args) => cmd::replay::run(args),
        cli::Command::Shutdown(args) => nstrace::probe::preflight()
            .and_then(|()| nstrace::probe::tracefs::ensure())
            .and_then(|()| block_on(cmd::shutdown::run(args))),
        cli::Command::Audit(args) => nstrace::probe::preflight()
            .and_then(|()| nstrace::probe::tracefs::ensure())
            .and_then(|()| block_on(cmd::audit::run(args))),
        cli::Command::Topology(args) if !args.watch && args.duration.is_none() => {
            block_on(cmd::topology::run(args))
        }
        cli::Command::Topology(args) => nstrace::probe::preflight()
            .and_then(|()| nstrace::probe::tracefs::ensure())
            .and_then(|()| block_on(cmd::topology::run(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<cmd::GateFailed>() => ExitCode::FAILURE,
        Err(e) => {
            // One line: the error and its causes.
            eprintln!("nstrace: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
