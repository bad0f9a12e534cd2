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

/// Parses the command line; a usage error is one line (with clap's tip, if
/// any) and exit code 2, like every other error; help and version print as usual.
fn parse() -> cli::Cli {
    use clap::error::ErrorKind;
    match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            let text = e.to_string();
            // The first paragraph (the message, and for missing arguments
            // their list), then any tip.
            let mut lines = text.lines().map(str::trim);
            let mut message: Vec<&str> = Vec::new();
            for l in lines.by_ref() {
                if l.is_empty() {
                    break;
                }
                message.push(l.strip_prefix("error: ").unwrap_or(l));
            }
            let tips: Vec<&str> = lines.filter(|l| l.starts_with("tip:")).collect();
            let mut one = message.join(" ");
            for t in tips {
                one.push_str("; ");
                one.push_str(t);
            }
            eprintln!("nstrace: error: {one} (see --help)");
            std::process::exit(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = parse();
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
