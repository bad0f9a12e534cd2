//! What userspace writes into the programs before load (kernel struct
//! offsets resolved from BTF, runtime settings) and the counter slots the
//! programs keep.

use crate::ns::NsType;

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
    /// `pid.numbers[k]` for k = 0..=3 (`pid_numbers + k * upid_size`): a
    /// constant offset per level, which the verifier accepts for a direct
    /// load where `numbers[level]` at a variable offset is refused.
    pub pid_upid: [u32; PID_LEVELS_DIRECT],
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
    /// file.private_data (a `struct socket *` for a socket file)
    pub file_private_data: u32,
    /// socket.type
    pub socket_type: u32,
    /// socket.sk
    pub socket_sk: u32,
    /// sock.sk_protocol
    pub sock_protocol: u32,
    /// task_struct.cgroups (the css_set)
    pub task_cgroups: u32,
    /// css_set.dfl_cgrp (the task's cgroup v2 cgroup)
    pub css_set_dfl_cgrp: u32,
    /// `css_set.subsys[k]` for the v1 controller the loader chose (read when
    /// the v2 cgroup is the root: a v1-only node); 0 when there is none.
    pub css_set_subsys_v1: u32,
    /// cgroup_subsys_state.cgroup
    pub css_cgroup: u32,
    /// cgroup.kn
    pub cgroup_kn: u32,
    /// cgroup.level (0 for a hierarchy's root)
    pub cgroup_level: u32,
    /// kernfs_node.name
    pub kernfs_name: u32,
    /// kernfs_node.parent (`__parent` from 6.15)
    pub kernfs_parent: u32,
    /// task_struct.mm (exec: the new program's memory)
    pub task_mm: u32,
    /// mm_struct.arg_start
    pub mm_arg_start: u32,
    /// mm_struct.arg_end
    pub mm_arg_end: u32,
    /// signal_struct.tty (the controlling terminal, NULL if none)
    pub signal_tty: u32,
    /// 1 once userspace has filled the table (the programs emit nothing before).
    pub valid: u32,
}

/// PID namespace levels read with direct loads; deeper ones take a helper read.
pub const PID_LEVELS_DIRECT: usize = 4;

/// Which nsproxy members [`Offsets::nsproxy_ns`] holds: member, struct, and
/// the namespace type it gives.
pub const NSPROXY_ORDER: [(&str, &str, NsType); 7] = [
    ("mnt_ns", "mnt_namespace", NsType::Mnt),
    ("uts_ns", "uts_namespace", NsType::Uts),
    ("ipc_ns", "ipc_namespace", NsType::Ipc),
    (
        "pid_ns_for_children",
        "pid_namespace",
        NsType::PidForChildren,
    ),
    ("net_ns", "net", NsType::Net),
    ("cgroup_ns", "cgroup_namespace", NsType::Cgroup),
    ("time_ns", "time_namespace", NsType::Time),
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
    /// 1: stream a signal in the mask only when it concerns a process outside
    /// the node's PID namespace (`node_pid_ns`): the target of a generated
    /// signal, the receiver of a delivered one. The agent's detectors judge
    /// containers only; a signal between the node's own processes is counted
    /// like a signal outside the mask. 0: stream every signal in the mask.
    pub signals_in_containers_only: u32,
    /// The node's PID namespace inode (see `signals_in_containers_only`).
    pub node_pid_ns: u32,
}

/// Slots of the per-CPU `COUNTERS` array.
pub mod counter {
    /// Ring-buffer reservations that failed, per kind: slot `DROPS + kind`.
    pub const DROPS: u32 = 0;
    /// Kernel reads that failed: a helper read that returned an error, or a
    /// pointer found NULL where the kernel always has one.
    pub const READ_FAILURES: u32 = 16;
    /// setns/unshare exits whose entry was not seen (started before attach).
    pub const UNPAIRED_EXITS: u32 = 17;
    /// Signals generated or delivered but not streamed (not in the mask), per signal 0..=64: slot `SIGNALS_FILTERED + sig`.
    pub const SIGNALS_FILTERED: u32 = 64;
    /// Size of the array.
    pub const SLOTS: u32 = 136;
}

// The layout both sides rely on, checked where they compile it.
no_padding!(Offsets {
    task_pid,
    task_tgid,
    task_comm,
    task_real_parent,
    task_group_leader,
    task_thread_pid,
    task_nsproxy,
    task_real_cred,
    task_exit_code,
    task_signal,
    signal_live,
    cred_uid,
    cred_euid,
    cred_user_ns,
    nsproxy_ns,
    ns_common_in,
    user_ns_common,
    pid_ns_common,
    ns_common_inum,
    pid_level,
    pid_numbers,
    upid_size,
    pid_upid,
    upid_nr,
    upid_ns,
    binprm_filename,
    ksigaction_handler,
    ksigaction_flags,
    siginfo_code,
    cred_cap_effective,
    task_files,
    files_fdt,
    fdtable_max_fds,
    fdtable_fd,
    file_inode,
    inode_ino,
    file_private_data,
    socket_type,
    socket_sk,
    sock_protocol,
    task_cgroups,
    css_set_dfl_cgrp,
    css_set_subsys_v1,
    css_cgroup,
    cgroup_kn,
    cgroup_level,
    kernfs_name,
    kernfs_parent,
    task_mm,
    mm_arg_start,
    mm_arg_end,
    signal_tty,
    valid
});
no_padding!(Config {
    signal_mask,
    self_tgid,
    wakeup_bytes,
    signals_in_containers_only,
    node_pid_ns
});
