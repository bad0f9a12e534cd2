//! Signals: generation (with the kernel's verdict) and delivery (with the
//! handler), signal numbers, and which signals are streamed.

use crate::event::{Header, COMM_LEN};
use crate::ns::NsSet;

/// Signal numbers nstrace reasons about (x86_64 / generic Linux numbering).
pub mod sig {
    /// Hangup.
    pub const HUP: u32 = 1;
    /// Interrupt (Ctrl-C).
    pub const INT: u32 = 2;
    /// Quit.
    pub const QUIT: u32 = 3;
    /// Abort.
    pub const ABRT: u32 = 6;
    /// Kill: cannot be caught; the end of every grace period.
    pub const KILL: u32 = 9;
    /// User signal 1.
    pub const USR1: u32 = 10;
    /// Segmentation fault.
    pub const SEGV: u32 = 11;
    /// User signal 2.
    pub const USR2: u32 = 12;
    /// Terminate: what a runtime sends first when it stops a container.
    pub const TERM: u32 = 15;
    /// Child stopped or exited.
    pub const CHLD: u32 = 17;
    /// Continue.
    pub const CONT: u32 = 18;
    /// Stop.
    pub const STOP: u32 = 19;
    /// Terminal stop.
    pub const TSTP: u32 = 20;
    /// Terminal input for a background process.
    pub const TTIN: u32 = 21;
    /// Terminal output from a background process.
    pub const TTOU: u32 = 22;
    /// Urgent socket data (Go runtimes preempt goroutines with it).
    pub const URG: u32 = 23;
    /// Window size change.
    pub const WINCH: u32 = 28;
    /// Highest signal number.
    pub const MAX: u32 = 64;

    /// Signals that ask a process to end.
    pub const TERMINATING: [u32; 7] = [HUP, INT, QUIT, KILL, USR1, USR2, TERM];
    /// Terminating signals a process can act on (all but SIGKILL).
    pub const GRACEFUL: [u32; 6] = [HUP, INT, QUIT, USR1, USR2, TERM];
    /// Signals whose default action is to do nothing (the kernel's `sig_kernel_ignore`).
    pub const IGNORED_BY_DEFAULT: [u32; 4] = [CHLD, CONT, URG, WINCH];
    /// Signals no handler can take (the kernel's `sig_kernel_only`).
    pub const KERNEL_ONLY: [u32; 2] = [KILL, STOP];
}

/// `sa_flags` bit: the handler is reset to the default action when the
/// signal is delivered (`SA_RESETHAND`, also called `SA_ONESHOT`).
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// The kernel's verdict on a generated signal (`signal_generate`'s `result`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigResult {
    /// Queued for the target.
    Delivered = 0,
    /// Dropped: ignored by the target (or SIG_DFL at a PID-namespace init).
    Ignored = 1,
    /// The same signal was already pending.
    AlreadyPending = 2,
    /// The signal queue overflowed.
    OverflowFail = 3,
    /// Queued without its siginfo.
    LoseInfo = 4,
}

impl SigResult {
    /// Every verdict, in value order.
    pub const ALL: [SigResult; 5] = [
        SigResult::Delivered,
        SigResult::Ignored,
        SigResult::AlreadyPending,
        SigResult::OverflowFail,
        SigResult::LoseInfo,
    ];

    /// The verdict with this value.
    pub fn from_u32(v: u32) -> Option<SigResult> {
        SigResult::ALL.get(v as usize).copied()
    }

    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            SigResult::Delivered => "delivered",
            SigResult::Ignored => "ignored",
            SigResult::AlreadyPending => "already_pending",
            SigResult::OverflowFail => "overflow_fail",
            SigResult::LoseInfo => "lose_info",
        }
    }

    /// Whether the target will see the signal (delivered or already pending).
    pub fn reaches_target(self) -> bool {
        matches!(self, SigResult::Delivered | SigResult::AlreadyPending)
    }
}

/// The kernel generated a signal. The header is the sender (current task).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalGenerateEvent {
    /// The sending task (for kernel-made signals, whatever task was running).
    pub hdr: Header,
    /// Signal number.
    pub sig: u32,
    /// A [`SigResult`] value.
    pub result: u32,
    /// 1 when sent to the whole thread group.
    pub group: u32,
    /// siginfo si_code (SI_USER 0, SI_KERNEL 0x80, SI_TKILL -6…); 0 when no siginfo.
    pub si_code: i32,
    /// Target tgid in the node's PID namespace.
    pub target_tgid: u32,
    /// Target tid.
    pub target_tid: u32,
    /// Target pid as seen in its own PID namespace.
    pub target_ns_tgid: u32,
    /// Keeps 8-byte alignment.
    pub _pad: u32,
    /// Target command.
    pub target_comm: [u8; COMM_LEN],
    /// The target's namespaces (signals are attributed to the target's pod).
    pub target_ns: NsSet,
}

impl SignalGenerateEvent {
    /// The kernel's verdict (`None` for a value this build does not know).
    pub fn verdict(&self) -> Option<SigResult> {
        SigResult::from_u32(self.result)
    }
}

/// Handler value meaning the default action.
pub const HANDLER_DFL: u64 = 0;
/// Handler value meaning the signal is ignored.
pub const HANDLER_IGN: u64 = 1;

/// A task dequeued a signal to act on it. The header is the receiver.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalDeliverEvent {
    /// The receiving task.
    pub hdr: Header,
    /// Signal number.
    pub sig: u32,
    /// Keeps 8-byte alignment.
    pub _pad: u32,
    /// sa_handler: `HANDLER_DFL`, `HANDLER_IGN` or a handler address.
    pub handler: u64,
    /// sa_flags (SA_RESTART, SA_NOCLDWAIT…).
    pub sa_flags: u64,
}

/// Signals streamed by default: what a shutdown or an audit cares about.
pub const DEFAULT_SIGNALS: [u32; 12] = [
    sig::HUP,
    sig::INT,
    sig::QUIT,
    sig::ABRT,
    sig::KILL,
    sig::USR1,
    sig::SEGV,
    sig::USR2,
    sig::TERM,
    sig::CONT,
    sig::STOP,
    sig::TSTP,
];

/// Builds a signal mask from signal numbers (numbers over 63 are ignored).
pub const fn signal_mask(sigs: &[u32]) -> u64 {
    let mut m = 0u64;
    let mut i = 0;
    while i < sigs.len() {
        if sigs[i] < 64 {
            m |= 1u64 << sigs[i];
        }
        i += 1;
    }
    m
}

// The layout both sides rely on, checked where they compile it.
record_layout!(SignalGenerateEvent {
    hdr,
    sig,
    result,
    group,
    si_code,
    target_tgid,
    target_tid,
    target_ns_tgid,
    _pad,
    target_comm,
    target_ns
});
record_layout!(SignalDeliverEvent {
    hdr,
    sig,
    _pad,
    handler,
    sa_flags
});
