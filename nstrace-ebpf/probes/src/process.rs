//! Process lifecycle: create, exec, exit, free (reap), wait.

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_probe_read_kernel_str_bytes, bpf_probe_read_user,
        generated::bpf_probe_read_user as bpf_probe_read_user_raw,
    },
    macros::{btf_tracepoint, tracepoint},
    programs::{BtfTracePointContext, TracePointContext},
};
use aya_log_ebpf::warn;
use nstrace_common::{
    CreateEvent, ExecArgs, ExecEvent, ExitEvent, Kind, ReapEvent, WaitEvent, WaitedEvent,
    ARGV_LEN, CLONE_NEW_MASK, EXEC_ARGV_TRUNCATED, EXEC_ARGV_UNREAD, EXEC_TTY, FILENAME_LEN,
    FLAG_READ_FAILED, FLAG_TRUNCATED, WAIT_STATUS_UNKNOWN, WAIT_WAIT4, WAIT_WAITID, WCONTINUED,
    WNOWAIT, WUNTRACED,
};

use crate::{
    emit::{self, fill_header, reserve, skip, submit},
    storage::TaskStorage,
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
    // then gives the child a new nsproxy in the time namespace for children
    // (kernel/nsproxy.c `copy_namespaces()`, v6.18: the nsproxy is shared only
    // while `time_ns_for_children == time_ns`), so a differing nsproxy
    // pointer means reading the creator in full.
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
    task::cgroup_names(task, &mut ev.cgroup, &mut ok);
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
            bpf_probe_read_user_raw(a.argv.as_mut_ptr().cast(), n as u32, start as *const _)
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

/// A wait4/waitid call in flight, kept from entry to exit: what to read
/// when it returns.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PendingWait {
    /// 1 between entry and exit (the storage outlives the call).
    armed: u32,
    /// `WAIT_WAIT4` or `WAIT_WAITID`.
    syscall: u32,
    /// The wait options.
    options: u32,
    _pad: u32,
    /// wait4's status pointer or waitid's siginfo pointer (user memory).
    addr: u64,
}

/// The wait call in flight, per task.
#[no_mangle]
#[link_section = ".maps"]
static WAITING: TaskStorage<PendingWait> = TaskStorage::new();

/// Emits the wait entry and remembers what the exit needs.
#[inline(always)]
fn wait_enter(syscall: u32, pid: i32, options: u32, idtype: u32, addr: u64) -> i32 {
    if skip() {
        return 0;
    }
    let task = task::current();
    // No storage only loses the exit's witness; the free event still comes.
    if let Some(p) = WAITING.get_or_create(task) {
        // SAFETY: this task's own value; only this task's syscalls touch it.
        let p = unsafe { &mut *p };
        p.armed = 1;
        p.syscall = syscall;
        p.options = options;
        p._pad = 0;
        p.addr = addr;
    }
    let mut entry = reserve!(WaitEvent, Kind::Wait);
    // SAFETY: sized for WaitEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Wait, task);
    ev.syscall = syscall;
    ev.pid = pid;
    ev.options = options;
    ev.idtype = idtype;
    submit(entry, &ev.hdr);
    0
}

/// siginfo offsets (x86-64 and arm64 alike): si_code, and the `_sigchld`
/// fields si_pid and si_status after the 8-byte aligned union start.
const SI_CODE: u64 = 8;
const SI_PID: u64 = 16;
const SI_STATUS: u64 = 24;
/// si_code values of a child that is gone (exited, killed, dumped core).
const CLD_EXITED: i32 = 1;
const CLD_DUMPED: i32 = 3;
const CLD_KILLED: i32 = 2;

/// A 32-bit value at user address `addr`.
#[inline(always)]
fn user_i32(addr: u64) -> Option<i32> {
    // SAFETY: the helper validates the user address.
    unsafe { bpf_probe_read_user(addr as *const i32) }.ok()
}

/// Emits a [`WaitedEvent`] when the wait that returns `ret` released a child.
#[inline(always)]
fn wait_exit(ret: i64) -> i32 {
    if skip() {
        return 0;
    }
    let task = task::current();
    // SAFETY: this task's own value; only this task's syscalls touch it.
    let p = match WAITING.get(task).map(|p| unsafe { &mut *p }) {
        Some(p) if p.armed == 1 => {
            p.armed = 0;
            *p
        }
        // Entered before attach: its release is left to the free event.
        _ => return 0,
    };
    let (pid, status) = if p.syscall == WAIT_WAIT4 {
        // 0: WNOHANG and nobody exited; negative: an error.
        if ret <= 0 {
            return 0;
        }
        if p.addr == 0 {
            // No status asked for: only a stopped or continued child can be
            // reported without being released, and only when asked for.
            if p.options & (WUNTRACED | WCONTINUED) != 0 {
                return 0;
            }
            (ret as i32, WAIT_STATUS_UNKNOWN)
        } else {
            let Some(st) = user_i32(p.addr) else {
                emit::bump(nstrace_common::counter::READ_FAILURES);
                return 0;
            };
            // Stopped (low byte 0x7f) or continued (0xffff): still there.
            if st & 0xff == 0x7f || st == 0xffff {
                return 0;
            }
            (ret as i32, st as u32)
        }
    } else {
        if ret != 0 || p.options & WNOWAIT != 0 || p.addr == 0 {
            return 0;
        }
        let (Some(code), Some(pid), Some(st)) = (
            user_i32(p.addr + SI_CODE),
            user_i32(p.addr + SI_PID),
            user_i32(p.addr + SI_STATUS),
        ) else {
            emit::bump(nstrace_common::counter::READ_FAILURES);
            return 0;
        };
        // si_pid 0: WNOHANG and nobody exited.
        let status = match code {
            CLD_EXITED => ((st & 0xff) << 8) as u32,
            CLD_KILLED => (st & 0x7f) as u32,
            CLD_DUMPED => ((st & 0x7f) | 0x80) as u32,
            _ => return 0,
        };
        if pid <= 0 {
            return 0;
        }
        (pid, status)
    };
    let mut entry = reserve!(WaitedEvent, Kind::Waited);
    // SAFETY: sized for WaitedEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Waited, task);
    ev.syscall = p.syscall;
    ev.pid = pid;
    ev.status = status;
    ev._pad = 0;
    submit(entry, &ev.hdr);
    0
}

/// syscalls:sys_enter_wait4(pid, stat_addr, options, ru).
#[tracepoint]
pub fn sys_enter_wait4(ctx: TracePointContext) -> i32 {
    wait_enter(
        WAIT_WAIT4,
        sys_arg(&ctx, 0) as i32,
        sys_arg(&ctx, 2) as u32,
        0,
        sys_arg(&ctx, 1),
    )
}

/// syscalls:sys_exit_wait4(ret).
#[tracepoint]
pub fn sys_exit_wait4(ctx: TracePointContext) -> i32 {
    wait_exit(sys_arg(&ctx, 0) as i64)
}

/// syscalls:sys_enter_waitid(which, upid, infop, options, ru).
#[tracepoint]
pub fn sys_enter_waitid(ctx: TracePointContext) -> i32 {
    wait_enter(
        WAIT_WAITID,
        sys_arg(&ctx, 1) as i32,
        sys_arg(&ctx, 3) as u32,
        sys_arg(&ctx, 0) as u32,
        sys_arg(&ctx, 2),
    )
}

/// syscalls:sys_exit_waitid(ret).
#[tracepoint]
pub fn sys_exit_waitid(ctx: TracePointContext) -> i32 {
    wait_exit(sys_arg(&ctx, 0) as i64)
}
