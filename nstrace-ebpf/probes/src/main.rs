//! nstrace kernel programs.
//!
//! They stay dumb and fast: read a fixed set of facts about a task through
//! offsets userspace resolved from BTF, filter signals by a mask, and emit one
//! fixed-size record per event into a single ring buffer. Meaning is made in
//! userspace. A failed reservation or read is counted per CPU, never hidden.
//!
//! Laid out the libbpf-tools way: this file holds the globals and maps; the
//! task readers are in [`task`], the record plumbing (reserve, submit,
//! wake-ups, counters) in [`emit`], and the programs one file per concern:
//! [`process`] (create, exec, exit, free, wait), [`ns`] (setns, unshare),
//! [`signal`] (generate, deliver), [`rename`] (prctl) and [`net`] (bind);
//! [`storage`] wraps task storage, which aya-ebpf 0.2.1 does not.
//!
//! Reads are plain loads through BTF-typed pointers (tp_btf arguments,
//! `bpf_get_current_task_btf()`), at offsets read from the frozen `.rodata`
//! global `OFFSETS`: the verifier sees them as constants, so no CO-RE is
//! needed and each field costs about one nanosecond instead of a helper call.
#![no_std]
#![no_main]

use aya_ebpf::{
    macros::map,
    maps::{PerCpuArray, RingBuf},
};
use nstrace_common::{counter, Config, Offsets};

/// Reads one field of `OFFSETS` as a `usize`.
macro_rules! off {
    ($f:ident) => {
        // SAFETY: a plain read of a global the loader initialised; volatile so
        // the compiler does not fold the zero placeholder.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!($crate::OFFSETS.$f)) as usize }
    };
    ($f:ident[$i:expr]) => {
        // SAFETY: as above.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!($crate::OFFSETS.$f[$i])) as usize }
    };
}

mod emit;
mod net;
mod ns;
mod process;
mod rename;
mod signal;
mod sigstate;
mod storage;
mod task;

/// Offsets into kernel structs, written by the loader (see `nstrace::probe::offsets`).
#[no_mangle]
static OFFSETS: Offsets = Offsets {
    task_pid: 0,
    task_tgid: 0,
    task_comm: 0,
    task_real_parent: 0,
    task_group_leader: 0,
    task_thread_pid: 0,
    task_nsproxy: 0,
    task_real_cred: 0,
    task_exit_code: 0,
    task_signal: 0,
    signal_live: 0,
    cred_uid: 0,
    cred_euid: 0,
    cred_user_ns: 0,
    nsproxy_ns: [0; 7],
    ns_common_in: [0; 7],
    user_ns_common: 0,
    pid_ns_common: 0,
    ns_common_inum: 0,
    pid_level: 0,
    pid_numbers: 0,
    upid_size: 0,
    pid_upid: [0; 4],
    upid_nr: 0,
    upid_ns: 0,
    binprm_filename: 0,
    ksigaction_handler: 0,
    ksigaction_flags: 0,
    siginfo_code: 0,
    cred_cap_effective: 0,
    task_files: 0,
    files_fdt: 0,
    fdtable_max_fds: 0,
    fdtable_fd: 0,
    file_inode: 0,
    inode_ino: 0,
    file_private_data: 0,
    socket_type: 0,
    socket_sk: 0,
    sock_protocol: 0,
    task_cgroups: 0,
    css_set_dfl_cgrp: 0,
    css_set_subsys_v1: 0,
    css_cgroup: 0,
    cgroup_kn: 0,
    cgroup_level: 0,
    kernfs_name: 0,
    kernfs_parent: 0,
    task_mm: 0,
    mm_arg_start: 0,
    mm_arg_end: 0,
    signal_tty: 0,
    valid: 0,
};

/// Runtime settings written by the loader.
#[no_mangle]
static CONFIG: Config = Config {
    signal_mask: 0,
    self_tgid: 0,
    wakeup_bytes: 0,
    signals_in_containers_only: 0,
    node_pid_ns: 0,
};

/// The one event stream. Its size is set by the loader (--ring-buffer-size).
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

/// Per-CPU counters; slots are defined in `nstrace_common::counter`.
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::SLOTS, 0);

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The programs use GPL-only helpers (bpf_probe_read_kernel, tp_btf).
#[link_section = "license"]
#[no_mangle]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
