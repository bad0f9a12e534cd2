//! nstrace: an eBPF tracer for Linux namespaces and PID-1 behaviour in containers.

use std::process::ExitCode;

use clap::Parser;
use nstrace::output::is_broken_pipe;
use nstrace::session::Outcome;
use nstrace::{cli, cmd};

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

/// Checks what the command needs of this machine, once, before it starts.
fn prepare(cmd: &cli::Command) -> anyhow::Result<()> {
    match cmd.privilege() {
        cli::Privilege::Trace => {
            nstrace::probe::preflight()?;
            nstrace::probe::tracefs::ensure()
        }
        cli::Privilege::Agent => {
            nstrace::probe::preflight_agent()?;
            nstrace::probe::tracefs::ensure()
        }
        cli::Privilege::ReadProc => nstrace::probe::preflight_proc(),
        cli::Privilege::None => Ok(()),
    }
}

fn run(cmd: &cli::Command) -> anyhow::Result<Outcome> {
    // The agent's node lock comes first: a second agent leaves no trace.
    let _lock = match cmd {
        cli::Command::Agent(a) => Some(cmd::agent::lock(&a.lock_file)?),
        _ => None,
    };
    prepare(cmd)?;
    match cmd {
        cli::Command::Watch(args) => cmd::watch::run(args),
        cli::Command::Replay(args) => cmd::replay::run(args),
        cli::Command::Shutdown(args) => cmd::shutdown::run(args),
        cli::Command::Audit(args) => cmd::audit::run(args),
        cli::Command::Topology(args) => cmd::topology::run(args),
        cli::Command::Agent(args) => cmd::agent::run(args),
        cli::Command::Report(args) => cmd::report::run(args),
        cli::Command::Generate(args) => cmd::generate::run(args),
    }
}

/// Exit codes: 0 done (also when the reader of stdout went away), 1 an
/// error (one line on stderr) or a finding at `--fail-on`, 2 a usage error.
fn main() -> ExitCode {
    let cli = parse();
    // Before any private mount namespace is made: see procfs::node_ns.
    let _ = nstrace::procfs::node_ns();
    match run(&cli.command) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::GateFailed) => ExitCode::FAILURE,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            eprintln!("nstrace: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
