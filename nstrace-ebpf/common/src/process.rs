//! Process lifecycle records: create, exec, exit, reap, wait, rename.

use crate::event::Header;
use crate::ns::NsSet;

/// Bytes of the exec filename kept (longer names are cut, flagged by `FLAG_TRUNCATED`).
pub const FILENAME_LEN: usize = 256;

/// Bytes kept of each cgroup directory name in [`ExecEvent::cgroup`] (a
/// container's is at most `cri-containerd-<64 hex>.scope`, 85 bytes).
pub const CGROUP_NAME_LEN: usize = 96;

/// Cgroup path segments an exec event carries, leaf first: enough for every
/// runtime's layout to name the container and its pod
/// (`libpod_parent/<pod>/libpod-<id>`, `kubepods/…/pod<uid>/<id>`).
pub const CGROUP_LEVELS: usize = 3;

/// CLONE_THREAD: the new task is a thread of its creator's process.
pub const CLONE_THREAD: u64 = 0x0001_0000;
/// CLONE_VFORK: the creator waits until the child execs or exits.
pub const CLONE_VFORK: u64 = 0x0000_4000;

/// Fork, vfork, clone, clone3 or a new thread. The header is the new task.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreateEvent {
    /// The new task.
    pub hdr: Header,
    /// clone flags (CLONE_THREAD, CLONE_VFORK, CLONE_NEW*…).
    pub clone_flags: u64,
    /// tgid of the task that called fork/clone.
    pub creator_tgid: u32,
    /// tid of the task that called fork/clone.
    pub creator_tid: u32,
    /// The creator's namespaces (to see what the clone changed).
    pub creator_ns: NsSet,
    /// The creator's effective capabilities (bit n = capability n).
    pub cap_effective: u64,
}

/// execve succeeded. The header is the task after exec (new comm).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecEvent {
    /// The task.
    pub hdr: Header,
    /// Path passed to execve (NUL terminated, cut at `FILENAME_LEN`).
    pub filename: [u8; FILENAME_LEN],
    /// The names of the task's cgroup directory and of its parent and
    /// grandparent, leaf first (NUL padded; empty above the root): what names
    /// a container, carried so that one gone before /proc can be read (a
    /// 5 ms init container) is named like any other. The cgroup v2 one, or on
    /// a v1-only node the v1 hierarchy the loader chose.
    pub cgroup: [[u8; CGROUP_NAME_LEN]; CGROUP_LEVELS],
    /// The new program's arguments, capabilities and terminal (issue 28).
    pub args: ExecArgs,
}

impl Default for ExecEvent {
    fn default() -> Self {
        ExecEvent {
            hdr: Header::default(),
            filename: [0; FILENAME_LEN],
            cgroup: [[0; CGROUP_NAME_LEN]; CGROUP_LEVELS],
            args: ExecArgs::default(),
        }
    }
}

/// Bytes of the argument strings kept in an exec record (longer ones are cut,
/// flagged by `EXEC_ARGV_TRUNCATED`).
pub const ARGV_LEN: usize = 512;
/// [`ExecArgs::flags`]: the task has a controlling terminal (`signal->tty`).
pub const EXEC_TTY: u16 = 1 << 0;
/// [`ExecArgs::flags`]: the arguments were longer than `ARGV_LEN`; `argv` holds their start.
pub const EXEC_ARGV_TRUNCATED: u16 = 1 << 1;
/// [`ExecArgs::flags`]: the arguments could not be read (the header is `FLAG_READ_FAILED` too).
pub const EXEC_ARGV_UNREAD: u16 = 1 << 2;

/// What the new program was given, read in `sched_process_exec`, which runs
/// in the exec'ing task: its argument strings are in its own memory
/// (`mm->arg_start..arg_end`, just written by the kernel). A command that
/// ends at once (`id`) is gone before /proc could be read, so they travel here.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecArgs {
    /// Effective capabilities after the exec (bit n = capability n).
    pub cap_effective: u64,
    /// Bytes of argument strings the program has (`arg_end - arg_start`),
    /// which may be more than were kept.
    pub argv_size: u32,
    /// Bytes of `argv` kept (at most `ARGV_LEN`).
    pub argv_len: u16,
    /// `EXEC_*` bits.
    pub flags: u16,
    /// The argument strings, each NUL terminated, as the program sees them.
    pub argv: [u8; ARGV_LEN],
}

impl Default for ExecArgs {
    fn default() -> Self {
        ExecArgs {
            cap_effective: 0,
            argv_size: 0,
            argv_len: 0,
            flags: 0,
            argv: [0; ARGV_LEN],
        }
    }
}

/// A task exited. The header is the exiting task.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitEvent {
    /// The task.
    pub hdr: Header,
    /// task->exit_code: (status << 8) | terminating signal, as wait() reports it.
    pub exit_code: u32,
    /// 1 when this was the last thread of its group (the process is now dead).
    pub group_dead: u32,
}

/// A dead task was freed (no longer a zombie: reaped by a wait, or auto-reaped).
/// Emitted from `sched_process_free`, shortly (an RCU grace period) after the
/// release; the header's `ppid` is the parent at that time, which is the reaper
/// for a waited-for child.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReapEvent {
    /// The released task (its namespaces are gone: usually `FLAG_NO_NSPROXY`).
    pub hdr: Header,
    /// Its final task->exit_code.
    pub exit_code: u32,
    /// Keeps 8-byte alignment.
    pub _pad: u32,
}

/// Wait syscall numbers carried by [`WaitEvent::syscall`].
pub const WAIT_WAIT4: u32 = 1;
/// waitid(2).
pub const WAIT_WAITID: u32 = 2;

/// A task entered wait4/waitid. The header is the waiter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitEvent {
    /// The waiting task.
    pub hdr: Header,
    /// `WAIT_WAIT4` or `WAIT_WAITID`.
    pub syscall: u32,
    /// wait4's pid argument, or waitid's id.
    pub pid: i32,
    /// wait options (WNOHANG…).
    pub options: u32,
    /// waitid's idtype (P_ALL=0, P_PID=1, P_PGID=2, P_PIDFD=3); 0 for wait4.
    pub idtype: u32,
}

/// A wait returned a child's exit to the task that waited: the child is
/// released (its pid freed). The reaper's own witness of a reap, seen in its
/// context as the syscall returns; `sched_process_free` ([`ReapEvent`]) comes
/// later from an RCU callback in whatever task is current, and can be lost
/// with it. Not emitted for a stopped or continued child, or for a waitid
/// with WNOWAIT. The header is the waiter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitedEvent {
    /// The task that waited (the reaper).
    pub hdr: Header,
    /// `WAIT_WAIT4` or `WAIT_WAITID`.
    pub syscall: u32,
    /// The released child, as the waiter's own PID namespace numbers it.
    pub pid: i32,
    /// Its wait status, as wait4 reports it ((code << 8) | signal; 0x80 for a
    /// core dump); `WAIT_STATUS_UNKNOWN` when the caller asked for none.
    pub status: u32,
    /// Keeps 8-byte alignment.
    pub _pad: u32,
}

/// [`WaitedEvent::status`] when the waiter passed no status pointer.
pub const WAIT_STATUS_UNKNOWN: u32 = u32::MAX;

/// wait options: report stopped children (WUNTRACED).
pub const WUNTRACED: u32 = 0x2;
/// wait options: report continued children (WCONTINUED).
pub const WCONTINUED: u32 = 0x8;
/// waitid option: leave the child waitable (WNOWAIT): nothing is released.
pub const WNOWAIT: u32 = 0x0100_0000;

/// prctl(PR_SET_NAME) succeeded: the task's command name changed without an
/// exec (busybox applets run through /proc/self/exe, runc's init stages…).
/// The header is the task after the call, with its old name as `comm`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenameEvent {
    /// The task, before the rename.
    pub hdr: Header,
    /// Its name now (NUL padded; the kernel keeps at most 15 bytes).
    pub new_comm: [u8; crate::event::COMM_LEN],
}

/// prctl option that sets the calling thread's name.
pub const PR_SET_NAME: u64 = 15;

// The layout both sides rely on, checked where they compile it.
record_layout!(CreateEvent {
    hdr,
    clone_flags,
    creator_tgid,
    creator_tid,
    creator_ns,
    cap_effective
});
record_layout!(ExecEvent {
    hdr,
    filename,
    cgroup,
    args
});
no_padding!(ExecArgs {
    cap_effective,
    argv_size,
    argv_len,
    flags,
    argv
});
record_layout!(ExitEvent {
    hdr,
    exit_code,
    group_dead
});
record_layout!(ReapEvent {
    hdr,
    exit_code,
    _pad
});
record_layout!(WaitEvent {
    hdr,
    syscall,
    pid,
    options,
    idtype
});
record_layout!(RenameEvent { hdr, new_comm });
record_layout!(WaitedEvent {
    hdr,
    syscall,
    pid,
    status,
    _pad
});
