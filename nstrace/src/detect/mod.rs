//! Detectors: pure functions of the event stream, the model and time (event
//! timestamps, plus clock ticks in live mode), producing findings. No I/O,
//! so every edge is tested from hand-built event sequences and a replay gives
//! exactly what the live run gave.

pub mod pid1;

use std::fmt;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Severity {
    /// For the record.
    Info,
    /// Worth a look.
    Low,
    /// Should be fixed.
    Medium,
    /// Fix now.
    High,
}

impl Severity {
    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What was found; the names are stable (JSON, --fail-on, policies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// A PID-namespace init (or subreaper) leaves zombies unreaped.
    Pid1NeverReaps,
    /// SIGTERM to a PID-namespace init was dropped by the kernel.
    Pid1IgnoresSigterm,
    /// The init took SIGTERM but did not pass it on to its children.
    SigtermNotForwarded,
}

impl FindingKind {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Pid1NeverReaps => "pid1_never_reaps",
            FindingKind::Pid1IgnoresSigterm => "pid1_ignores_sigterm",
            FindingKind::SigtermNotForwarded => "sigterm_not_forwarded",
        }
    }
}

/// One finding, with the evidence that supports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What.
    pub kind: FindingKind,
    /// How bad.
    pub severity: Severity,
    /// When it was confirmed (monotonic ns).
    pub ts_ns: u64,
    /// The process it is about (node pid).
    pub pid: u32,
    /// Its command.
    pub comm: String,
    /// Its PID namespace inode.
    pub pid_ns: u32,
    /// One sentence.
    pub summary: String,
    /// Supporting facts, one per line.
    pub evidence: Vec<String>,
}
