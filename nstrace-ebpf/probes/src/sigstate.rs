//! Signal dispositions as the kernel holds them, for namespace inits and
//! child subreapers only: at start from a task iterator (every task that
//! already exists), then from the syscalls that change them. Shells call
//! `rt_sigaction` and `rt_sigprocmask` all the time, so every program first
//! asks whether the caller is a thread-group leader that is a namespace's
//! init or a subreaper (a few loads) and returns at once otherwise; and a
//! record is emitted only when what it would say differs from the last one
//! for that task (task storage), so a loop that toggles a mask it does not
//! change emits nothing.

use core::ffi::c_void;
use core::ptr::{addr_of, read_volatile};

use aya_ebpf::{
    helpers::{bpf_probe_read_kernel, bpf_probe_read_user, generated::bpf_seq_write},
    macros::{map, tracepoint},
    maps::PerCpuArray,
    programs::TracePointContext,
};
use nstrace_common::{
    sigstate::reason, Kind, SigOffsets, SigStateEvent, FLAG_READ_FAILED, SIGSTATE_SIGNALS,
};

use crate::{
    emit::{fill_header, reserve, skip, submit},
    process::sys_arg,
    storage::TaskStorage,
    task::{self, load, load_ptr, Ptr},
    CONFIG,
};

/// Offsets of the sigstate reads, written by the loader.
#[no_mangle]
static SIG_OFFSETS: SigOffsets = SigOffsets {
    task_sighand: 0,
    task_blocked: 0,
    task_real_blocked: 0,
    sighand_action: 0,
    ksigaction_size: 0,
    signal_subreaper_byte: 0,
    signal_subreaper_bit: 0,
    signalfd_ctx_sigmask: 0,
    action_at: [0; SIGSTATE_SIGNALS],
    valid: 0,
    _pad: 0,
};

/// Reads one field of `SIG_OFFSETS` as a `usize`.
macro_rules! soff {
    ($f:ident) => {
        // SAFETY: a plain read of a global the loader initialised.
        unsafe { read_volatile(addr_of!(SIG_OFFSETS.$f)) as usize }
    };
    ($f:ident[$i:expr]) => {
        // SAFETY: as above.
        unsafe { read_volatile(addr_of!(SIG_OFFSETS.$f[$i])) as usize }
    };
}

/// What the last record of a task said, to emit only changes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Last {
    caught: u64,
    ignored: u64,
    blocked: u64,
    taken: u64,
    flags: u64,
}

/// The last record per task.
#[no_mangle]
#[link_section = ".maps"]
static SIGSTATE_LAST: TaskStorage<Last> = TaskStorage::new();

/// Whether `task`'s process is a child subreaper (`signal->is_child_subreaper`).
#[inline(always)]
fn subreaper(task: Ptr, ok: &mut bool) -> bool {
    let signal = load_ptr(task, off!(task_signal), ok);
    if signal.is_null() {
        return false;
    }
    let byte: u8 = load(signal, soff!(signal_subreaper_byte));
    (byte >> soff!(signal_subreaper_bit)) & 1 == 1
}

/// Whether the sigstate reads are set up and `task` is one they are for: a
/// thread-group leader that is a namespace's init (pid 1 in a PID namespace
/// other than the node's) or a subreaper. Returns (wanted, subreaper).
#[inline(always)]
fn wanted(task: Ptr) -> (bool, bool) {
    // SAFETY: a plain read of a global the loader initialised.
    if unsafe { read_volatile(addr_of!(SIG_OFFSETS.valid)) } != 1 {
        return (false, false);
    }
    let tid: u32 = load(task, off!(task_pid));
    let tgid: u32 = load(task, off!(task_tgid));
    if tid != tgid {
        return (false, false);
    }
    let mut ok = true;
    let sub = subreaper(task, &mut ok);
    if sub {
        return (true, true);
    }
    let (nr, pid_ns) = task::own_pid(task, &mut ok);
    // SAFETY: a plain read of a global the loader initialised.
    let node = unsafe { read_volatile(addr_of!(CONFIG.node_pid_ns)) };
    (nr == 1 && pid_ns != 0 && pid_ns != node, false)
}

/// Fills the disposition fields of `ev` from `task`; false on a failed read.
#[inline(always)]
fn read_state(task: Ptr, ev: &mut SigStateEvent) -> bool {
    let mut ok = true;
    ev.blocked = load(task, soff!(task_blocked));
    ev.real_blocked = load(task, soff!(task_real_blocked));
    let sighand = load_ptr(task, soff!(task_sighand), &mut ok);
    let mut caught = 0u64;
    let mut ignored = 0u64;
    if !sighand.is_null() {
        // One block per signal with a constant index: the verifier refuses
        // an offset computed from a loop variable into a BTF pointer.
        macro_rules! action {
            ($($k:literal)*) => {$(
                let at = soff!(action_at[$k]);
                let handler: u64 = load(sighand, at + off!(ksigaction_handler));
                let flags: u64 = load(sighand, at + off!(ksigaction_flags));
                match handler {
                    0 => ev.sa_flags[$k] = 0,
                    1 => {
                        ignored |= 1 << $k;
                        ev.sa_flags[$k] = 0;
                    }
                    _ => {
                        caught |= 1 << $k;
                        ev.sa_flags[$k] = flags as u32;
                    }
                }
            )*};
        }
        action!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);
    }
    ev.caught = caught;
    ev.ignored = ignored;
    ok
}

/// Builds a record about `task` for `why` (with `taken`, the signals it
/// takes itself) and emits it unless it says what the last one said.
#[inline(always)]
fn emit(task: Ptr, why: u32, sub: bool, taken: u64) -> i32 {
    let mut entry = reserve!(SigStateEvent, Kind::SigState);
    // SAFETY: sized for SigStateEvent; every field is written below.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    ev.reason = why;
    ev.subreaper = sub as u32;
    ev.taken = taken;
    let ok = read_state(task, ev);
    let mut flags = 0u64;
    for (i, f) in ev.sa_flags.iter().enumerate() {
        flags = flags.rotate_left(5) ^ (*f as u64) ^ i as u64;
    }
    let now = Last {
        caught: ev.caught,
        ignored: ev.ignored,
        blocked: ev.blocked,
        taken: ev.taken,
        flags,
    };
    if why != reason::AT_START {
        if let Some(last) = SIGSTATE_LAST.get_or_create(task) {
            // SAFETY: this task's own value; only this task's syscalls touch it.
            let last = unsafe { &mut *last };
            if last.caught == now.caught
                && last.ignored == now.ignored
                && last.blocked == now.blocked
                && last.taken == now.taken
                && last.flags == now.flags
            {
                entry.discard(0);
                return 0;
            }
            *last = now;
        }
    }
    fill_header(&mut ev.hdr, Kind::SigState, task);
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    submit(entry, &ev.hdr);
    0
}

/// A live change by the current task, once its syscall returned `ret`.
#[inline(always)]
fn changed(ret: i64, why: u32, taken: u64) -> i32 {
    if ret < 0 || skip() {
        return 0;
    }
    let task = task::current();
    let (want, sub) = wanted(task);
    if !want {
        return 0;
    }
    emit(task, why, sub, taken)
}

/// syscalls:sys_exit_rt_sigaction(ret).
#[tracepoint]
pub fn sys_exit_rt_sigaction(ctx: TracePointContext) -> i32 {
    changed(sys_arg(&ctx, 0) as i64, reason::SIGACTION, 0)
}

/// Every standard signal that can be blocked (1..=31 but SIGKILL and SIGSTOP).
const ALL_BLOCKABLE: u64 = 0x7fff_ffff & !(1 << 8) & !(1 << 18);

/// syscalls:sys_exit_rt_sigprocmask(ret). A mask that blocks every signal is
/// a critical section (glibc's fork and thread creation, libuv's spawn),
/// restored right after: not a disposition, and not emitted (the restore
/// then says what the last record said, so it is not emitted either).
#[tracepoint]
pub fn sys_exit_rt_sigprocmask(ctx: TracePointContext) -> i32 {
    let ret = sys_arg(&ctx, 0) as i64;
    if ret < 0 || skip() {
        return 0;
    }
    let blocked: u64 = load(task::current(), soff!(task_blocked));
    if blocked & ALL_BLOCKABLE == ALL_BLOCKABLE {
        return 0;
    }
    changed(ret, reason::SIGPROCMASK, 0)
}

/// syscalls:sys_exit_signalfd4(ret): `ret` is the signalfd; its mask is
/// read from the file (kernel memory, so no user page can be missing).
#[tracepoint]
pub fn sys_exit_signalfd4(ctx: TracePointContext) -> i32 {
    let fd = sys_arg(&ctx, 0) as i64;
    if fd < 0 || skip() {
        return 0;
    }
    let task = task::current();
    let (want, sub) = wanted(task);
    if !want {
        return 0;
    }
    let mask = signalfd_mask(task, fd as u32).unwrap_or(0);
    emit(task, reason::SIGNALFD, sub, mask)
}

/// The mask of the signalfd that is `fd` of `task`:
/// `task->files->fdt->fd[fd]->private_data->sigmask`.
#[inline(always)]
fn signalfd_mask(task: Ptr, fd: u32) -> Option<u64> {
    let mut ok = true;
    let files = load_ptr(task, off!(task_files), &mut ok);
    let fdt = load_ptr(files, off!(files_fdt), &mut ok);
    let max = task::load_u32(fdt, off!(fdtable_max_fds), &mut ok);
    if !ok || fd >= max {
        return None;
    }
    let fds: usize = load(fdt, off!(fdtable_fd));
    let (private, sigmask) = (off!(file_private_data), soff!(signalfd_ctx_sigmask));
    // SAFETY: the helper validates each address.
    let read = |addr: usize| unsafe { bpf_probe_read_kernel(addr as *const usize) }.ok();
    let file = read(fds + fd as usize * 8).filter(|f| *f != 0)?;
    let ctx = read(file + private).filter(|c| *c != 0)?;
    read(ctx + sigmask).map(|m| m as u64)
}

/// syscalls:sys_enter_rt_sigtimedwait(uthese, uinfo, uts, sigsetsize): the
/// set waited for, from the caller's memory (it just wrote it; a page that
/// is not in gives no record, and the iterator's `real_blocked` covers a
/// wait that was under way at start).
#[tracepoint]
pub fn sys_enter_rt_sigtimedwait(ctx: TracePointContext) -> i32 {
    if skip() {
        return 0;
    }
    let task = task::current();
    let (want, sub) = wanted(task);
    if !want {
        return 0;
    }
    let uthese = sys_arg(&ctx, 0) as *const u64;
    // SAFETY: the helper validates the user address.
    let Ok(these) = (unsafe { bpf_probe_read_user(uthese) }) else {
        return 0;
    };
    emit(task, reason::SIGWAIT, sub, these)
}

/// Where the iterator builds its record. Not the stack: Linux 6.1's
/// verifier, tracking each of the 32 signals' three cases in stack slots,
/// gave up after a million instructions ("BPF program is too large"); in
/// map memory the cases merge, as they do in the ring buffer.
#[map]
static SIGSTATE_SCRATCH: PerCpuArray<SigStateEvent> = PerCpuArray::with_max_entries(1, 0);

/// `struct bpf_iter__task`: what a task iterator program is given.
#[repr(C)]
pub struct IterTask {
    meta: Ptr,
    task: Ptr,
}

/// iter/task: every task once, at start. Emits a record per init and
/// subreaper into the iterator's own output (the seq file userspace reads),
/// not the ring buffer.
#[no_mangle]
#[link_section = "iter/task"]
pub extern "C" fn sigstate_iter(ctx: *const IterTask) -> i32 {
    // SAFETY: the kernel passes a bpf_iter__task; the verifier types its members.
    let (meta, task) = unsafe { ((*ctx).meta, (*ctx).task) };
    if task.is_null() || meta.is_null() {
        return 0;
    }
    let (want, sub) = wanted(task);
    if !want {
        return 0;
    }
    let Some(ev) = SIGSTATE_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: this CPU's scratch entry; an iterator program is not preempted by itself.
    let ev = unsafe { &mut *ev };
    ev.reason = reason::AT_START;
    ev.subreaper = sub as u32;
    ev.taken = 0;
    let ok = read_state(task, ev);
    fill_header(&mut ev.hdr, Kind::SigState, task);
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    // Inside sigtimedwait the signals waited for are unblocked and the mask
    // before is in real_blocked: those are the ones it takes itself.
    if ev.real_blocked != 0 {
        ev.taken = ev.real_blocked & !ev.blocked;
    }
    let seq: *mut c_void = load(meta, 0);
    // SAFETY: `seq` is the iterator's seq_file; the record is on the stack.
    unsafe {
        bpf_seq_write(
            seq.cast(),
            (ev as *const SigStateEvent).cast(),
            core::mem::size_of::<SigStateEvent>() as u32,
        );
    }
    0
}
