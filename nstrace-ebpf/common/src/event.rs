//! What every record starts with: its kind, flags, time and the task it is about.

use crate::ns::NsSet;

/// Length of `task_struct.comm`.
pub const COMM_LEN: usize = 16;

/// Version of this ABI; stored in record files so old recordings are recognised.
pub const ABI_VERSION: u16 = 3;

/// Kinds of event. Values are stable: they are stored in record files.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A task was created (fork, vfork, clone, clone3, or a thread).
    Create = 1,
    /// A process called execve and the new program is running.
    Exec = 2,
    /// A task exited (the exit code is final; it may still be a zombie).
    Exit = 3,
    /// A dead task was freed (reaped by its parent's wait, or auto-reaped).
    Reap = 4,
    /// A task entered wait4 or waitid.
    Wait = 5,
    /// setns returned (the namespaces before and after are carried).
    Setns = 6,
    /// unshare returned (the namespaces before and after are carried).
    Unshare = 7,
    /// The kernel generated a signal for a target (with its verdict).
    SignalGenerate = 8,
    /// A task dequeued a signal to act on it (with its handler).
    SignalDeliver = 9,
    /// A task renamed itself with prctl(PR_SET_NAME) (exec renames are in `Exec`).
    Rename = 10,
    /// bind(2) returned: EADDRINUSE anywhere, or success in a container (see `BindEvent`).
    Bind = 11,
}

/// Number of kind slots (kinds are `1..KIND_SLOTS`).
pub const KIND_SLOTS: usize = 16;

impl Kind {
    /// Every kind, in value order.
    pub const ALL: [Kind; 11] = [
        Kind::Create,
        Kind::Exec,
        Kind::Exit,
        Kind::Reap,
        Kind::Wait,
        Kind::Setns,
        Kind::Unshare,
        Kind::SignalGenerate,
        Kind::SignalDeliver,
        Kind::Rename,
        Kind::Bind,
    ];

    /// The kind with this stored value, if any.
    pub fn from_u16(v: u16) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| *k as u16 == v)
    }

    /// The stable lowercase name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Exec => "exec",
            Kind::Exit => "exit",
            Kind::Reap => "reap",
            Kind::Wait => "wait",
            Kind::Setns => "setns",
            Kind::Unshare => "unshare",
            Kind::SignalGenerate => "signal_generate",
            Kind::SignalDeliver => "signal_deliver",
            Kind::Rename => "rename",
            Kind::Bind => "bind",
        }
    }
}

/// Header flag: a kernel read failed while filling this event; some fields are zero.
pub const FLAG_READ_FAILED: u16 = 1 << 0;
/// Header flag: the task had no nsproxy (it is exiting); namespace fields are zero.
pub const FLAG_NO_NSPROXY: u16 = 1 << 1;
/// Header flag: a string was cut to fit.
pub const FLAG_TRUNCATED: u16 = 1 << 2;
/// Header flag: the subject is a thread, not a thread-group leader.
pub const FLAG_THREAD: u16 = 1 << 3;

/// Common head of every event: who the event is about, and when.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// A [`Kind`] value.
    pub kind: u16,
    /// `FLAG_*` bits.
    pub flags: u16,
    /// CPU the event was recorded on.
    pub cpu: u32,
    /// CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns).
    pub ts_ns: u64,
    /// Process id (thread group id) in the node's PID namespace.
    pub tgid: u32,
    /// Thread id in the node's PID namespace.
    pub tid: u32,
    /// Parent's tgid (task->real_parent) in the node's PID namespace.
    pub ppid: u32,
    /// The process id as seen inside its own PID namespace (1 for a namespace's init).
    pub ns_tgid: u32,
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Task command name (NUL padded).
    pub comm: [u8; COMM_LEN],
    /// The task's namespaces.
    pub ns: NsSet,
}

// The layout both sides rely on, checked where they compile it.
record_layout!(Header {
    kind,
    flags,
    cpu,
    ts_ns,
    tgid,
    tid,
    ppid,
    ns_tgid,
    uid,
    euid,
    comm,
    ns
});
