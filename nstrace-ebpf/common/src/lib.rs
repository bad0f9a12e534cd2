//! The nstrace event ABI: every record the kernel programs put in the ring
//! buffer, the offset table userspace hands them, and the counters they keep.
//!
//! This is the only definition; the eBPF programs and the collector both
//! compile this crate. Every struct is `#[repr(C)]`, has no implicit padding
//! (explicit `_pad` fields) and is 8-byte aligned, so its layout is the same
//! on both sides and a record can be copied byte for byte.
#![no_std]

/// Length of `task_struct.comm`.
pub const COMM_LEN: usize = 16;
/// Bytes of the exec filename kept (longer names are cut, flagged by `FLAG_TRUNCATED`).
pub const FILENAME_LEN: usize = 256;

/// Version of this ABI; stored in record files so old recordings are recognised.
pub const ABI_VERSION: u16 = 2;

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
}

/// Number of kind slots (kinds are `1..KIND_SLOTS`).
pub const KIND_SLOTS: usize = 16;

impl Kind {
    /// Every kind, in value order.
    pub const ALL: [Kind; 10] = [
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

/// The CLONE_NEW* flags (clone, unshare, setns nstype), each with its name and
/// the [`NsSet`] slot it changes. CLONE_NEWPID changes `pid_for_children`;
/// CLONE_NEWTIME changes the time namespace for children, which is not in
/// the set (slot 8 is the task's own).
pub const CLONE_NEW: [(u64, &str, usize); 8] = [
    (0x0002_0000, "CLONE_NEWNS", 0),
    (0x0200_0000, "CLONE_NEWCGROUP", 7),
    (0x0400_0000, "CLONE_NEWUTS", 1),
    (0x0800_0000, "CLONE_NEWIPC", 2),
    (0x1000_0000, "CLONE_NEWUSER", 6),
    (0x2000_0000, "CLONE_NEWPID", 4),
    (0x4000_0000, "CLONE_NEWNET", 5),
    (0x0000_0080, "CLONE_NEWTIME", 8),
];

/// Every CLONE_NEW* bit.
pub const CLONE_NEW_MASK: u64 = {
    let mut m = 0;
    let mut i = 0;
    while i < CLONE_NEW.len() {
        m |= CLONE_NEW[i].0;
        i += 1;
    }
    m
};

/// CLONE_NEWUSER.
pub const CLONE_NEWUSER: u64 = 0x1000_0000;

/// Namespace types, in the order of [`NsSet`]'s fields.
pub const NS_TYPES: [&str; 9] = [
    "mnt",
    "uts",
    "ipc",
    "pid",
    "pid_for_children",
    "net",
    "user",
    "cgroup",
    "time",
];

/// The namespace inode numbers of one task (as in `/proc/PID/ns/*`); 0 = unknown.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NsSet {
    /// Mount namespace.
    pub mnt: u32,
    /// UTS (hostname) namespace.
    pub uts: u32,
    /// IPC namespace.
    pub ipc: u32,
    /// The PID namespace the task itself lives in.
    pub pid: u32,
    /// The PID namespace its future children will live in.
    pub pid_for_children: u32,
    /// Network namespace.
    pub net: u32,
    /// User namespace (of the task's credentials).
    pub user: u32,
    /// Cgroup namespace.
    pub cgroup: u32,
    /// Time namespace.
    pub time: u32,
    /// Keeps the struct 8-byte sized.
    pub _pad: u32,
}

impl NsSet {
    /// The inodes as an array in [`NS_TYPES`] order.
    pub fn as_array(&self) -> [u32; 9] {
        [
            self.mnt,
            self.uts,
            self.ipc,
            self.pid,
            self.pid_for_children,
            self.net,
            self.user,
            self.cgroup,
            self.time,
        ]
    }

    /// Builds a set from an array in [`NS_TYPES`] order.
    pub fn from_array(a: [u32; 9]) -> NsSet {
        NsSet {
            mnt: a[0],
            uts: a[1],
            ipc: a[2],
            pid: a[3],
            pid_for_children: a[4],
            net: a[5],
            user: a[6],
            cgroup: a[7],
            time: a[8],
            _pad: 0,
        }
    }
}

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
}

impl Default for ExecEvent {
    fn default() -> Self {
        ExecEvent {
            hdr: Header::default(),
            filename: [0; FILENAME_LEN],
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

/// setns(2) or unshare(2) returned. The header is the caller after the call.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NsChangeEvent {
    /// The caller, with its namespaces after the call.
    pub hdr: Header,
    /// setns: the nstype argument; unshare: the flags argument.
    pub flags: u64,
    /// setns: the fd argument; unshare: 0.
    pub fd: i32,
    /// Syscall return value (0 or -errno).
    pub ret: i32,
    /// The caller's namespaces before the call.
    pub before: NsSet,
    /// The caller's effective capabilities at entry (bit n = capability n).
    pub cap_effective: u64,
    /// setns: inode of the file the fd referred to at entry (a namespace's
    /// inode for an nsfs fd, so a refused call still names its target); 0 unknown.
    pub target_inode: u32,
    /// Keeps 8-byte alignment.
    pub _pad: u32,
}

/// Signal verdicts of the `signal_generate` tracepoint.
pub const SIG_RESULT_NAMES: [&str; 5] = [
    "delivered",
    "ignored",
    "already_pending",
    "overflow_fail",
    "lose_info",
];

/// The kernel generated a signal. The header is the sender (current task).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalGenerateEvent {
    /// The sending task (for kernel-made signals, whatever task was running).
    pub hdr: Header,
    /// Signal number.
    pub sig: u32,
    /// 0 delivered, 1 ignored, 2 already pending, 3 overflow fail, 4 lose info.
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

/// prctl(PR_SET_NAME) succeeded: the task's command name changed without an
/// exec (busybox applets run through /proc/self/exe, runc's init stages…).
/// The header is the task after the call, with its old name as `comm`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenameEvent {
    /// The task, before the rename.
    pub hdr: Header,
    /// Its name now (NUL padded; the kernel keeps at most 15 bytes).
    pub new_comm: [u8; COMM_LEN],
}

/// prctl option that sets the calling thread's name.
pub const PR_SET_NAME: u64 = 15;

/// Field offsets in kernel structs, resolved by userspace from the running
/// kernel's BTF and written into the programs' `OFFSETS` global before load.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offsets {
    /// task_struct.pid
    pub task_pid: u32,
    /// task_struct.tgid
    pub task_tgid: u32,
    /// task_struct.comm
    pub task_comm: u32,
    /// task_struct.real_parent
    pub task_real_parent: u32,
    /// task_struct.group_leader
    pub task_group_leader: u32,
    /// task_struct.thread_pid
    pub task_thread_pid: u32,
    /// task_struct.nsproxy
    pub task_nsproxy: u32,
    /// task_struct.real_cred
    pub task_real_cred: u32,
    /// task_struct.exit_code
    pub task_exit_code: u32,
    /// task_struct.signal
    pub task_signal: u32,
    /// signal_struct.live (atomic_t)
    pub signal_live: u32,
    /// cred.uid
    pub cred_uid: u32,
    /// cred.euid
    pub cred_euid: u32,
    /// cred.user_ns
    pub cred_user_ns: u32,
    /// nsproxy.{mnt_ns, uts_ns, ipc_ns, pid_ns_for_children, net_ns, cgroup_ns, time_ns}
    /// in [`NSPROXY_ORDER`] order.
    pub nsproxy_ns: [u32; 7],
    /// `ns` member offset inside each namespace struct, in [`NSPROXY_ORDER`] order.
    pub ns_common_in: [u32; 7],
    /// user_namespace.ns
    pub user_ns_common: u32,
    /// pid_namespace.ns (for the task's own PID namespace)
    pub pid_ns_common: u32,
    /// ns_common.inum
    pub ns_common_inum: u32,
    /// pid.level
    pub pid_level: u32,
    /// pid.numbers
    pub pid_numbers: u32,
    /// sizeof(struct upid)
    pub upid_size: u32,
    /// upid.nr
    pub upid_nr: u32,
    /// upid.ns
    pub upid_ns: u32,
    /// linux_binprm.filename
    pub binprm_filename: u32,
    /// k_sigaction.sa + sigaction.sa_handler
    pub ksigaction_handler: u32,
    /// k_sigaction.sa + sigaction.sa_flags
    pub ksigaction_flags: u32,
    /// kernel_siginfo si_code offset
    pub siginfo_code: u32,
    /// cred.cap_effective
    pub cred_cap_effective: u32,
    /// task_struct.files
    pub task_files: u32,
    /// files_struct.fdt
    pub files_fdt: u32,
    /// fdtable.max_fds
    pub fdtable_max_fds: u32,
    /// fdtable.fd
    pub fdtable_fd: u32,
    /// file.f_inode
    pub file_inode: u32,
    /// inode.i_ino
    pub inode_ino: u32,
    /// 1 once userspace has filled the table (the programs emit nothing before).
    pub valid: u32,
}

/// Which nsproxy members [`Offsets::nsproxy_ns`] holds, mapped to [`NsSet`] slots.
pub const NSPROXY_ORDER: [(&str, &str, usize); 7] = [
    ("mnt_ns", "mnt_namespace", 0),
    ("uts_ns", "uts_namespace", 1),
    ("ipc_ns", "ipc_namespace", 2),
    ("pid_ns_for_children", "pid_namespace", 4),
    ("net_ns", "net", 5),
    ("cgroup_ns", "cgroup_namespace", 7),
    ("time_ns", "time_namespace", 8),
];

/// Runtime settings the collector writes into the programs' `CONFIG` global.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Bit n set = stream signal n (generate and deliver); others are only counted.
    pub signal_mask: u64,
    /// The collector's own tgid, whose events are dropped in the kernel.
    pub self_tgid: u32,
    /// Unread bytes in the ring buffer at which an event wakes the collector;
    /// below it events are submitted without a wakeup (the collector also
    /// drains on a short timer), so a busy node is not interrupted per event.
    pub wakeup_bytes: u32,
}

/// Signals streamed by default: what a shutdown or an audit cares about.
pub const DEFAULT_SIGNALS: [u32; 12] = [1, 2, 3, 6, 9, 10, 11, 12, 15, 18, 19, 20];

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

/// Slots of the per-CPU `COUNTERS` array.
pub mod counter {
    /// Ring-buffer reservations that failed, per kind: slot `DROPS + kind`.
    pub const DROPS: u32 = 0;
    /// Kernel reads (bpf_probe_read_kernel) that failed.
    pub const READ_FAILURES: u32 = 16;
    /// setns/unshare exits whose entry was not seen (started before attach).
    pub const UNPAIRED_EXITS: u32 = 17;
    /// Signals generated or delivered but not streamed (not in the mask), per signal 0..=64: slot `SIGNALS_FILTERED + sig`.
    pub const SIGNALS_FILTERED: u32 = 64;
    /// Size of the array.
    pub const SLOTS: u32 = 136;
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, repr(C), no padding, every bit pattern valid.
    unsafe impl aya::Pod for super::Offsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Config {}
}
