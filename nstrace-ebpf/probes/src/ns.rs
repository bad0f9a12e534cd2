//! Namespace changes: setns and unshare, each paired from syscall entry
//! (arguments, namespaces before) to exit (result, namespaces after).

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use nstrace_common::{counter, Kind, NsChangeEvent, NsSet, FLAG_READ_FAILED};

use crate::{
    emit::{bump, fill_header, reserve, skip, submit},
    process::sys_arg,
    storage::TaskStorage,
    task::{self, Facts},
};

/// What a setns/unshare caller asked, kept from syscall entry to exit.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Pending {
    /// 1 between entry and exit (the storage outlives the call).
    armed: u32,
    fd: i32,
    flags: u64,
    target_inode: u32,
    _pad: u32,
    cap_effective: u64,
    before: NsSet,
}

/// The setns/unshare call in flight, per task.
#[no_mangle]
#[link_section = ".maps"]
static PENDING: TaskStorage<Pending> = TaskStorage::new();

/// Remembers the namespaces before a setns/unshare call.
#[inline(always)]
fn ns_enter(flags: u64, fd: i32, is_setns: bool) -> i32 {
    if skip() {
        return 0;
    }
    let task = task::current();
    // No storage only loses the pairing; the exit side counts it.
    let Some(p) = PENDING.get_or_create(task) else {
        return 0;
    };
    // SAFETY: this task's own value; only this task's syscalls touch it.
    let p = unsafe { &mut *p };
    let mut ok = true;
    p.flags = flags;
    p.fd = fd;
    // Read now: after a successful setns the fd may be closed, after a failed one it tells the target.
    p.target_inode = if is_setns {
        task::fd_inode(task, fd, &mut ok)
    } else {
        0
    };
    p.cap_effective = task::cap_effective(task, &mut ok);
    let mut f = Facts::default();
    if task::facts(task, &mut f) & FLAG_READ_FAILED != 0 || !ok {
        bump(counter::READ_FAILURES);
    }
    p.before = f.ns;
    p.armed = 1;
    0
}

/// Emits one namespace-change event with before and after.
#[inline(always)]
fn ns_exit(kind: Kind, ret: i64) -> i32 {
    if skip() {
        return 0;
    }
    let task = task::current();
    // SAFETY: this task's own value; only this task's syscalls touch it.
    let pending = match PENDING.get(task).map(|p| unsafe { &mut *p }) {
        Some(p) if p.armed == 1 => {
            p.armed = 0;
            *p
        }
        _ => {
            bump(counter::UNPAIRED_EXITS);
            return 0;
        }
    };
    let mut entry = reserve!(NsChangeEvent, kind);
    // SAFETY: sized for NsChangeEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, kind, task);
    ev.flags = pending.flags;
    ev.fd = pending.fd;
    ev.ret = ret as i32;
    ev.before = pending.before;
    ev.cap_effective = pending.cap_effective;
    ev.target_inode = pending.target_inode;
    ev._pad = 0;
    submit(entry, &ev.hdr);
    0
}

/// syscalls:sys_enter_setns(fd, nstype).
#[tracepoint]
pub fn sys_enter_setns(ctx: TracePointContext) -> i32 {
    ns_enter(sys_arg(&ctx, 1), sys_arg(&ctx, 0) as i32, true)
}

/// syscalls:sys_exit_setns(ret).
#[tracepoint]
pub fn sys_exit_setns(ctx: TracePointContext) -> i32 {
    ns_exit(Kind::Setns, sys_arg(&ctx, 0) as i64)
}

/// syscalls:sys_enter_unshare(flags).
#[tracepoint]
pub fn sys_enter_unshare(ctx: TracePointContext) -> i32 {
    ns_enter(sys_arg(&ctx, 0), 0, false)
}

/// syscalls:sys_exit_unshare(ret).
#[tracepoint]
pub fn sys_exit_unshare(ctx: TracePointContext) -> i32 {
    ns_exit(Kind::Unshare, sys_arg(&ctx, 0) as i64)
}
