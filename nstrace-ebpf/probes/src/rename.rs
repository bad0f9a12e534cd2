//! Renames: prctl(PR_SET_NAME), paired from syscall entry (the old name) to
//! exit (the new one, read from the task) through an LRU hash by thread id.
//!
//! Not tp_btf `task_rename`: it fires for exec's rename and for writes to
//! /proc/PID/comm by another task too, which would change what a rename
//! record means (exec renames are in the exec record).

use aya_ebpf::macros::tracepoint;
use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid, macros::map, maps::LruHashMap, programs::TracePointContext,
};
use nstrace_common::{Kind, RenameEvent, PR_SET_NAME};

use crate::{
    emit::{fill_header, reserve, skip, submit},
    process::sys_arg,
    task,
};

/// prctl(PR_SET_NAME) calls in flight, by thread id: the name before.
///
/// An LRU hash, not task storage as for setns/unshare: a process usually
/// renames itself once, soon after it was forked (runc's init stages,
/// busybox applets, stress-ng's workers), and creating a task's storage costs
/// more than an LRU insert and delete (measured on the stress-ng fork storm:
/// 1,419 ns per prctl entry with task storage). An entry whose exit was never
/// seen is evicted, never fills the table.
#[map]
static RENAMING: LruHashMap<u32, [u8; 16]> = LruHashMap::with_max_entries(4096, 0);

/// syscalls:sys_enter_prctl(option, …) — notes a PR_SET_NAME call and the
/// caller's name before it. The new name is taken from the task at exit, in
/// kernel memory: the caller's string may sit in a page not yet faulted in,
/// which a BPF program cannot read.
#[tracepoint]
pub fn sys_enter_prctl(ctx: TracePointContext) -> i32 {
    if sys_arg(&ctx, 0) != PR_SET_NAME || skip() {
        return 0;
    }
    let mut ok = true;
    let mut old = [0u8; 16];
    task::comm(task::current(), &mut old, &mut ok);
    let _ = RENAMING.insert(bpf_get_current_pid_tgid() as u32, old, 0);
    0
}

/// syscalls:sys_exit_prctl(ret) — a rename that took effect: emit it, with
/// the old name in the header and the task's name now as `new_comm`.
#[tracepoint]
pub fn sys_exit_prctl(ctx: TracePointContext) -> i32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    // SAFETY: the value is copied out before the entry is removed.
    let Some(old) = (unsafe { RENAMING.get(tid) }).copied() else {
        return 0;
    };
    let _ = RENAMING.remove(tid);
    let task = task::current();
    if sys_arg(&ctx, 0) as i64 != 0 || !crate::emit::offsets_ready() {
        return 0;
    }
    let mut entry = reserve!(RenameEvent, Kind::Rename);
    // SAFETY: sized for RenameEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Rename, task);
    ev.new_comm = ev.hdr.comm;
    ev.hdr.comm = old;
    submit(entry, &ev.hdr);
    0
}
