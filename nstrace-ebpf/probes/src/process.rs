//! Process lifecycle: create, exec, exit, free (reap), wait.

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_probe_read_kernel_str_bytes,
        generated::bpf_probe_read_user,
    },
    macros::{btf_tracepoint, tracepoint},
    programs::{BtfTracePointContext, TracePointContext},
};
use aya_log_ebpf::warn;
use nstrace_common::{
    CreateEvent, ExecArgs, ExecEvent, ExitEvent, Kind, ReapEvent, WaitEvent, ARGV_LEN,
    CLONE_NEW_MASK, EXEC_ARGV_TRUNCATED, EXEC_ARGV_UNREAD, EXEC_TTY, FILENAME_LEN,
    FLAG_READ_FAILED, FLAG_TRUNCATED, WAIT_WAIT4, WAIT_WAITID,
};

use crate::{
    emit::{self, fill_header, reserve, skip, submit},
    task::{self, load, load_ptr, Facts, Ptr},
};

/// task:task_newtask(task, clone_flags) — every fork, vfork, clone, clone3 and thread.
#[btf_tracepoint(function = "task_newtask")]
pub fn task_newtask(ctx: BtfTracePointContext) -> i32 {
    if skip() {
        return 0;
    }
    let child: Ptr = ctx.arg(0);
    let clone_flags: u64 = ctx.arg(1);
    let mut entry = reserve!(CreateEvent, Kind::Create);
    // SAFETY: the reservation is sized for CreateEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Create, child);
    ev.clone_flags = clone_flags;
    let pid_tgid = bpf_get_current_pid_tgid();
    ev.creator_tgid = (pid_tgid >> 32) as u32;
    ev.creator_tid = pid_tgid as u32;
    let creator = task::current();
    let mut ok = true;
    // Without CLONE_NEW* the child usually shares the creator's nsproxy (and
    // its cred's user namespace), so only the creator's own PID namespace can
    // differ (after unshare(NEWPID)). Not after unshare(NEWTIME): the kernel
    // then gives the child a new nsproxy in the time namespace for children,
    // so a differing nsproxy pointer means reading the creator in full.
    let shared = load::<Ptr>(child, off!(task_nsproxy)) == load::<Ptr>(creator, off!(task_nsproxy));
    if clone_flags & CLONE_NEW_MASK == 0 && shared {
        ev.creator_ns = ev.hdr.ns;
        let leader = load_ptr(creator, off!(task_group_leader), &mut ok);
        ev.creator_ns.pid = task::own_pid(leader, &mut ok).1;
    } else {
        let mut f = Facts::default();
        if task::facts(creator, &mut f) & FLAG_READ_FAILED != 0 {
            ok = false;
        }
        ev.creator_ns = f.ns;
    }
    ev.cap_effective = task::cap_effective(creator, &mut ok);
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    submit(entry, &ev.hdr);
    0
}

/// sched:sched_process_exec(p, old_pid, bprm) — exec succeeded.
#[btf_tracepoint(function = "sched_process_exec")]
pub fn sched_process_exec(ctx: BtfTracePointContext) -> i32 {
    if skip() {
        return 0;
    }
    let task: Ptr = ctx.arg(0);
    let bprm: Ptr = ctx.arg(2);
    let mut entry = reserve!(ExecEvent, Kind::Exec);
    // SAFETY: sized for ExecEvent; the filename tail past its NUL is not read by userspace.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Exec, task);
    let mut ok = true;
    // A `const char *`: a scalar to the verifier, so the string takes the helper.
    let name: usize = if bprm.is_null() {
        ok = false;
        0
    } else {
        load(bprm, off!(binprm_filename))
    };
    ev.filename[0] = 0;
    if name != 0 {
        // SAFETY: the helper validates the source and NUL-terminates.
        match unsafe { bpf_probe_read_kernel_str_bytes(name as *const u8, &mut ev.filename) } {
            Ok(s) => {
                if s.len() >= FILENAME_LEN - 1 {
                    ev.hdr.flags |= FLAG_TRUNCATED;
                }
            }
            Err(_) => {
                ok = false;
                warn!(&(), "nstrace: linux_binprm.filename: kernel read failed");
            }
        }
    }
    exec_args(task, &mut ev.args, &mut ok);
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    submit(entry, &ev.hdr);
    0
}

/// What the new program was given: its effective capabilities, whether it
/// has a controlling terminal, and its argument strings. `task` is current
/// here (the tracepoint runs in the exec'ing task), so `mm->arg_start..arg_end`
/// is this task's own user memory, which the kernel has just written: a
/// bounded copy of exactly those bytes (never past `arg_end`, where the
/// environment starts).
#[inline(always)]
fn exec_args(task: Ptr, a: &mut ExecArgs, ok: &mut bool) {
    a.cap_effective = task::cap_effective(task, ok);
    let mut flags = 0;
    let signal = load_ptr(task, off!(task_signal), ok);
    if !signal.is_null() && !load::<Ptr>(signal, off!(signal_tty)).is_null() {
        flags |= EXEC_TTY;
    }
    let mm = load_ptr(task, off!(task_mm), ok);
    let (start, end): (u64, u64) = if mm.is_null() {
        (0, 0)
    } else {
        (load(mm, off!(mm_arg_start)), load(mm, off!(mm_arg_end)))
    };
    let size = end.saturating_sub(start);
    a.argv_size = if size > u32::MAX as u64 {
        u32::MAX
    } else {
        size as u32
    };
    let mut n = size as usize;
    if size > ARGV_LEN as u64 {
        n = ARGV_LEN;
        flags |= EXEC_ARGV_TRUNCATED;
    }
    a.argv_len = 0;
    if n > 0 {
        // SAFETY: `n` is at most the buffer's length; the helper validates the source.
        let r = unsafe {
            bpf_probe_read_user(a.argv.as_mut_ptr().cast(), n as u32, start as *const _)
        };
        if r == 0 {
            a.argv_len = n as u16;
        } else {
            flags |= EXEC_ARGV_UNREAD;
            *ok = false;
            warn!(&(), "nstrace: mm.arg_start: user read failed ({})", r);
        }
    }
    a.flags = flags;
}

/// sched:sched_process_exit(p, …) — a task is exiting; exit_code is final.
#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    if skip() {
        return 0;
    }
    let task: Ptr = ctx.arg(0);
    let mut entry = reserve!(ExitEvent, Kind::Exit);
    // SAFETY: sized for ExitEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Exit, task);
    let mut ok = true;
    ev.exit_code = task::load_u32(task, off!(task_exit_code), &mut ok);
    // signal->live was already decremented for this thread: 0 means the group is dead.
    let signal = load_ptr(task, off!(task_signal), &mut ok);
    let live = task::load_u32(signal, off!(signal_live), &mut ok);
    ev.group_dead = (live == 0) as u32;
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    submit(entry, &ev.hdr);
    0
}

/// sched:sched_process_free(p) — the dead task is gone (fentry is refused on
/// this class of kernel, so the reaper is not current here; see ReapEvent).
#[btf_tracepoint(function = "sched_process_free")]
pub fn sched_process_free(ctx: BtfTracePointContext) -> i32 {
    if !emit::offsets_ready() {
        return 0;
    }
    let task: Ptr = ctx.arg(0);
    // Runs in RCU context (current is anyone): the freed task says whose it was.
    let mut ok = true;
    let tgid = task::load_u32(task, off!(task_tgid), &mut ok);
    if ok && tgid != 0 && tgid == emit::self_tgid() {
        return 0;
    }
    let mut entry = reserve!(ReapEvent, Kind::Reap);
    // SAFETY: sized for ReapEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Reap, task);
    let mut ok = true;
    ev.exit_code = task::load_u32(task, off!(task_exit_code), &mut ok);
    ev._pad = 0;
    // A freed task has no nsproxy; that is expected (FLAG_NO_NSPROXY), not a read failure.
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    submit(entry, &ev.hdr);
    0
}

/// Syscall tracepoint arguments start after the common header and the syscall number.
const SYSCALL_ARG0: usize = 16;

/// Argument `n` of a syscall enter tracepoint (or the return value of an exit one).
#[inline(always)]
pub fn sys_arg(ctx: &TracePointContext, n: usize) -> u64 {
    // SAFETY: syscall enter tracepoints carry six u64 arguments at this offset.
    unsafe { ctx.read_at::<u64>(SYSCALL_ARG0 + n * 8) }.unwrap_or(0)
}

#[inline(always)]
fn emit_wait(syscall: u32, pid: i32, options: u32, idtype: u32) -> i32 {
    if skip() {
        return 0;
    }
    let mut entry = reserve!(WaitEvent, Kind::Wait);
    // SAFETY: sized for WaitEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Wait, task::current());
    ev.syscall = syscall;
    ev.pid = pid;
    ev.options = options;
    ev.idtype = idtype;
    submit(entry, &ev.hdr);
    0
}

/// syscalls:sys_enter_wait4(pid, stat_addr, options, ru).
#[tracepoint]
pub fn sys_enter_wait4(ctx: TracePointContext) -> i32 {
    emit_wait(
        WAIT_WAIT4,
        sys_arg(&ctx, 0) as i32,
        sys_arg(&ctx, 2) as u32,
        0,
    )
}

/// syscalls:sys_enter_waitid(which, upid, infop, options, ru).
#[tracepoint]
pub fn sys_enter_waitid(ctx: TracePointContext) -> i32 {
    emit_wait(
        WAIT_WAITID,
        sys_arg(&ctx, 1) as i32,
        sys_arg(&ctx, 3) as u32,
        sys_arg(&ctx, 0) as u32,
    )
}
