//! Renames: prctl(PR_SET_NAME), paired from syscall entry (the old name) to
//! exit (the new one, read from the task).
//!
//! Not tp_btf `task_rename`: it fires for exec's rename and for writes to
//! /proc/PID/comm by another task too, which would change what a rename
//! record means (exec renames are in the exec record).

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use nstrace_common::{Kind, RenameEvent, PR_SET_NAME};

use crate::{
    emit::{fill_header, reserve, skip, submit},
    process::sys_arg,
    storage::TaskStorage,
    task,
};

/// A prctl(PR_SET_NAME) in flight: the name before.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Renaming {
    /// 1 between entry and exit (the storage outlives the call).
    armed: u64,
    old: [u8; 16],
}

/// The rename in flight, per task.
#[no_mangle]
#[link_section = ".maps"]
static RENAMING: TaskStorage<Renaming> = TaskStorage::new();

/// syscalls:sys_enter_prctl(option, …) — notes a PR_SET_NAME call and the
/// caller's name before it. The new name is taken from the task at exit, in
/// kernel memory: the caller's string may sit in a page not yet faulted in,
/// which a BPF program cannot read.
#[tracepoint]
pub fn sys_enter_prctl(ctx: TracePointContext) -> i32 {
    if sys_arg(&ctx, 0) != PR_SET_NAME || skip() {
        return 0;
    }
    let task = task::current();
    if let Some(r) = RENAMING.get_or_create(task) {
        // SAFETY: this task's own value; only this task's syscalls touch it.
        let r = unsafe { &mut *r };
        let mut ok = true;
        task::comm(task, &mut r.old, &mut ok);
        r.armed = 1;
    }
    0
}

/// syscalls:sys_exit_prctl(ret) — a rename that took effect: emit it, with
/// the old name in the header and the task's name now as `new_comm`.
#[tracepoint]
pub fn sys_exit_prctl(ctx: TracePointContext) -> i32 {
    let task = task::current();
    // Only tasks that ever renamed have storage: every other prctl stops here.
    // SAFETY: this task's own value; only this task's syscalls touch it.
    let old = match RENAMING.get(task).map(|r| unsafe { &mut *r }) {
        Some(r) if r.armed == 1 => {
            r.armed = 0;
            r.old
        }
        _ => return 0,
    };
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
