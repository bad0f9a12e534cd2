//! Signal dispositions as the kernel holds them (`task->sighand->action[]`,
//! `task->blocked`, `task->real_blocked`, a signalfd's mask): for each
//! namespace init and child subreaper, read once at start by a task
//! iterator and again whenever it changes them (`rt_sigaction`,
//! `rt_sigprocmask`, `signalfd4`, `rt_sigtimedwait`). Kept apart from the
//! other records: its own kind, struct, offsets global and counters.

use crate::event::Header;

/// How many signals a record carries the `sa_flags` of: 1..=32.
pub const SIGSTATE_SIGNALS: usize = 32;

/// Why a [`SigStateEvent`] was emitted.
pub mod reason {
    /// Read by the task iterator at start (the task existed before tracing).
    pub const AT_START: u32 = 1;
    /// The task returned from a successful `rt_sigaction`.
    pub const SIGACTION: u32 = 2;
    /// The task returned from a successful `rt_sigprocmask`.
    pub const SIGPROCMASK: u32 = 3;
    /// The task made or changed a signalfd (`signalfd4`); `taken` is its mask.
    pub const SIGNALFD: u32 = 4;
    /// The task entered `rt_sigtimedwait`; `taken` is the set it waits for.
    pub const SIGWAIT: u32 = 5;
}

/// `sa_flags` bits (x86_64, generic Linux).
pub mod sa {
    /// SA_NOCLDSTOP.
    pub const NOCLDSTOP: u32 = 0x0000_0001;
    /// SA_NOCLDWAIT: children are reaped by the kernel.
    pub const NOCLDWAIT: u32 = 0x0000_0002;
    /// SA_SIGINFO: a three-argument handler.
    pub const SIGINFO: u32 = 0x0000_0004;
    /// SA_RESTORER (set by the C library on every handler).
    pub const RESTORER: u32 = 0x0400_0000;
    /// SA_ONSTACK: the handler runs on the alternate stack (the Go runtime's habit).
    pub const ONSTACK: u32 = 0x0800_0000;
    /// SA_RESTART: interrupted system calls restart.
    pub const RESTART: u32 = 0x1000_0000;
    /// SA_NODEFER.
    pub const NODEFER: u32 = 0x4000_0000;
    /// SA_RESETHAND (SA_ONESHOT): reset to SIG_DFL when delivered.
    pub const RESETHAND: u32 = 0x8000_0000;
}

/// A task's signal dispositions, read from the kernel. The header is the task.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigStateEvent {
    /// The task (its thread-group leader).
    pub hdr: Header,
    /// A [`reason`] value.
    pub reason: u32,
    /// 1 when the task is a child subreaper (PR_SET_CHILD_SUBREAPER).
    pub subreaper: u32,
    /// Bit n-1: signal n has a handler.
    pub caught: u64,
    /// Bit n-1: signal n is SIG_IGN.
    pub ignored: u64,
    /// `task->blocked`.
    pub blocked: u64,
    /// `task->real_blocked`: nonzero only while the task sleeps in
    /// `rt_sigtimedwait` (the mask before it; the signals waited for are
    /// unblocked meanwhile).
    pub real_blocked: u64,
    /// Signals the task takes itself: a signalfd's mask, or the set
    /// `rt_sigtimedwait` waits for (see `reason`); 0 otherwise.
    pub taken: u64,
    /// `sa_flags` of signals 1..=32 (index sig-1), 0 where no handler.
    pub sa_flags: [u32; SIGSTATE_SIGNALS],
}

/// Offsets the sigstate programs read, resolved by userspace from the
/// running kernel's BTF and written into their `SIG_OFFSETS` global.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigOffsets {
    /// task_struct.sighand
    pub task_sighand: u32,
    /// task_struct.blocked
    pub task_blocked: u32,
    /// task_struct.real_blocked
    pub task_real_blocked: u32,
    /// sighand_struct.action
    pub sighand_action: u32,
    /// sizeof(struct k_sigaction)
    pub ksigaction_size: u32,
    /// Byte of signal_struct holding `is_child_subreaper`.
    pub signal_subreaper_byte: u32,
    /// Bit in that byte.
    pub signal_subreaper_bit: u32,
    /// file.private_data of a signalfd: a `struct signalfd_ctx` whose first
    /// member is the mask; `file_private_data` itself is in `Offsets`.
    pub signalfd_ctx_sigmask: u32,
    /// `sighand_action + k * ksigaction_size` for k = 0..32: the verifier
    /// takes a constant offset per signal where a computed one is refused.
    pub action_at: [u32; SIGSTATE_SIGNALS],
    /// 1 once userspace has filled the table.
    pub valid: u32,
    /// Keeps 8-byte alignment.
    pub _pad: u32,
}

// The layout both sides rely on, checked where they compile it.
record_layout!(SigStateEvent {
    hdr,
    reason,
    subreaper,
    caught,
    ignored,
    blocked,
    real_blocked,
    taken,
    sa_flags
});
no_padding!(SigOffsets {
    task_sighand,
    task_blocked,
    task_real_blocked,
    sighand_action,
    ksigaction_size,
    signal_subreaper_byte,
    signal_subreaper_bit,
    signalfd_ctx_sigmask,
    action_at,
    valid,
    _pad
});
