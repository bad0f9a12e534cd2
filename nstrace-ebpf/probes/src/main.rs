//! nstrace kernel programs.
//!
//! They stay dumb and fast: read a fixed set of facts about a task through
//! offsets userspace resolved from BTF, filter signals by a mask, and emit one
//! fixed-size record per event into a single ring buffer. Meaning is made in
//! userspace. A failed reservation or read is counted per CPU, never hidden.
#![no_std]
#![no_main]

use core::ptr::{addr_of, read_volatile};

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_pid_tgid, bpf_probe_read_kernel, bpf_probe_read_kernel_buf,
        bpf_probe_read_kernel_str_bytes,
        generated::{bpf_get_current_task, bpf_get_smp_processor_id, bpf_ktime_get_ns},
    },
    macros::{btf_tracepoint, map, tracepoint},
    maps::{LruHashMap, PerCpuArray, RingBuf},
    programs::{BtfTracePointContext, TracePointContext},
};
use nstrace_common::{
    counter, Config, CreateEvent, ExecEvent, ExitEvent, Header, Kind, NsChangeEvent, NsSet,
    Offsets, ReapEvent, RenameEvent, SignalDeliverEvent, SignalGenerateEvent, WaitEvent,
    CLONE_NEW_MASK, FILENAME_LEN, FLAG_NO_NSPROXY, FLAG_READ_FAILED, FLAG_THREAD, FLAG_TRUNCATED,
    NSPROXY_ORDER, PR_SET_NAME, WAIT_WAIT4, WAIT_WAITID,
};

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
    valid: 0,
};

/// Runtime settings written by the loader.
#[no_mangle]
static CONFIG: Config = Config {
    signal_mask: 0,
    self_tgid: 0,
    wakeup_bytes: 0,
};

/// The one event stream. Its size is set by the loader (--ring-buffer-size).
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

/// Per-CPU counters; slots are defined in `nstrace_common::counter`.
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::SLOTS, 0);

/// What a setns/unshare caller asked, kept from syscall entry to exit.
#[repr(C)]
#[derive(Clone, Copy)]
struct Pending {
    flags: u64,
    fd: i32,
    target_inode: u32,
    cap_effective: u64,
    before: NsSet,
}

/// What an event header needs about a task that changes only with its
/// nsproxy (checked; every switch is hooked) or at exec (entry dropped). The
/// uids are read each time: setuid() replaces the cred without a hook here.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Facts {
    tgid: u32,
    tid: u32,
    uid: u32,
    euid: u32,
    ns_tgid: u32,
    _pad: u32,
    ns: NsSet,
}

/// A task's facts, valid while its nsproxy and cred pointers are the ones
/// seen when they were read.
#[repr(C)]
#[derive(Clone, Copy)]
struct NsCached {
    nsproxy: u64,
    cred: u64,
    facts: Facts,
}

/// Facts per task (key: task pointer), so an event costs one lookup instead
/// of ~25 kernel reads. A task's namespaces change only by setns, unshare,
/// exec (time namespace) and exit: the entry is dropped at setns/unshare exit,
/// exec and free (the pointer may be reused), and is checked against the
/// current nsproxy and cred pointers on every use (at exit the nsproxy goes
/// NULL, which never matches).
#[map]
static NS_CACHE: LruHashMap<u64, NsCached> = LruHashMap::with_max_entries(32768, 0);

/// setns/unshare calls in flight, by thread id (LRU: an entry whose exit was
/// never seen cannot fill the table).
#[map]
static PENDING: LruHashMap<u32, Pending> = LruHashMap::with_max_entries(16384, 0);

macro_rules! off {
    ($f:ident) => {
        // SAFETY: a plain read of a global the loader initialised; volatile so
        // the compiler does not fold the zero placeholder.
        unsafe { read_volatile(addr_of!(OFFSETS.$f)) as usize }
    };
    ($f:ident[$i:expr]) => {
        unsafe { read_volatile(addr_of!(OFFSETS.$f[$i])) as usize }
    };
}

/// Submit flags: wake the collector only once enough data waits (batching).
#[inline(always)]
fn wake_flags() -> u64 {
    // SAFETY: a plain read of a global the loader initialised.
    let threshold = unsafe { read_volatile(addr_of!(CONFIG.wakeup_bytes)) } as u64;
    if EVENTS.query(BPF_RB_AVAIL_DATA as u64) >= threshold {
        BPF_RB_FORCE_WAKEUP as u64
    } else {
        BPF_RB_NO_WAKEUP as u64
    }
}

#[inline(always)]
fn offsets_ready() -> bool {
    unsafe { read_volatile(addr_of!(OFFSETS.valid)) == 1 }
}

#[inline(always)]
fn bump(slot: u32) {
    if let Some(p) = COUNTERS.get_ptr_mut(slot) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe { *p += 1 }
    }
}

/// Reads a `T` at `base + off` in kernel memory; on failure clears `ok` and gives zero.
#[inline(always)]
fn rd<T: Copy + Default>(base: usize, off: usize, ok: &mut bool) -> T {
    if base == 0 {
        *ok = false;
        return T::default();
    }
    // SAFETY: bpf_probe_read_kernel validates the address.
    match unsafe { bpf_probe_read_kernel((base + off) as *const T) } {
        Ok(v) => v,
        Err(_) => {
            *ok = false;
            T::default()
        }
    }
}

/// Inode number of the `ns_common` at `ns + common_off`; 0 when `ns` is null.
#[inline(always)]
fn ns_inum(ns: usize, common_off: usize, ok: &mut bool) -> u32 {
    if ns == 0 {
        return 0;
    }
    rd::<u32>(ns, common_off + off!(ns_common_inum), ok)
}

/// Fills `ns` with the task's namespace inodes; returns header flags.
#[inline(always)]
fn read_ns(task: usize, ns: &mut NsSet) -> u16 {
    let mut ok = true;
    let mut f = Facts::default();
    let flags = task_facts(task, &mut f, &mut ok);
    *ns = f.ns;
    if ok {
        flags
    } else {
        flags | FLAG_READ_FAILED
    }
}

/// The task's ids, uids, own pid and namespaces into `f`, from the cache when
/// its nsproxy and cred are unchanged; returns header flags.
#[inline(always)]
fn task_facts(task: usize, f: &mut Facts, ok: &mut bool) -> u16 {
    let cred: usize = rd(task, off!(task_real_cred), ok);
    let nsproxy: usize = rd(task, off!(task_nsproxy), ok);
    let key = task as u64;
    if nsproxy != 0 {
        // SAFETY: the value is copied out at once.
        if let Some(c) = unsafe { NS_CACHE.get(key) } {
            if c.nsproxy == nsproxy as u64 && c.cred == cred as u64 {
                *f = c.facts;
                f.uid = rd(cred, off!(cred_uid), ok);
                f.euid = rd(cred, off!(cred_euid), ok);
                return 0;
            }
        }
    }
    let mut fresh = true;
    f.tgid = rd(task, off!(task_tgid), &mut fresh);
    f.tid = rd(task, off!(task_pid), &mut fresh);
    f.uid = rd(cred, off!(cred_uid), &mut fresh);
    f.euid = rd(cred, off!(cred_euid), &mut fresh);
    // A group leader is its own leader: one read less for most tasks.
    let leader = if f.tid == f.tgid {
        task
    } else {
        task_leader(task, &mut fresh)
    };
    let (ns_tgid, pid_ns) = own_pid(leader, &mut fresh);
    f.ns_tgid = ns_tgid;
    f._pad = 0;
    let flags = read_ns_with(nsproxy, cred, pid_ns, &mut f.ns);
    if fresh && flags == 0 {
        let c = NsCached {
            nsproxy: nsproxy as u64,
            cred: cred as u64,
            facts: *f,
        };
        let _ = NS_CACHE.insert(key, c, 0);
    }
    if !fresh {
        *ok = false;
    }
    flags
}

/// Forgets the cached namespaces of `task` (its namespaces are changing or it is gone).
#[inline(always)]
fn forget_ns(task: usize) {
    let _ = NS_CACHE.remove(task as u64);
}

/// Fills `ns` from the task's nsproxy, given the cred and own PID namespace
/// its caller already read (each is read once per task and event).
#[inline(always)]
fn read_ns_with(nsproxy: usize, cred: usize, pid_ns: u32, ns: &mut NsSet) -> u16 {
    let mut ok = true;
    let mut flags = 0;
    let mut a = [0u32; 9];
    if nsproxy == 0 {
        flags |= FLAG_NO_NSPROXY;
    } else {
        let mut i = 0;
        while i < NSPROXY_ORDER.len() {
            let p: usize = rd(nsproxy, off!(nsproxy_ns[i]), &mut ok);
            let slot = NSPROXY_ORDER[i].2.slot();
            if slot < a.len() {
                a[slot] = ns_inum(p, off!(ns_common_in[i]), &mut ok);
            }
            i += 1;
        }
    }
    let user_ns: usize = rd(cred, off!(cred_user_ns), &mut ok);
    a[6] = ns_inum(user_ns, off!(user_ns_common), &mut ok);
    a[3] = pid_ns;
    *ns = NsSet::from_array(a);
    if !ok {
        flags |= FLAG_READ_FAILED;
    }
    flags
}

/// The task's thread-group leader.
#[inline(always)]
fn task_leader(task: usize, ok: &mut bool) -> usize {
    rd(task, off!(task_group_leader), ok)
}

/// The process id in its own PID namespace and that namespace's inode,
/// from `leader->thread_pid->numbers[level]` (`leader` is the task's group leader).
#[inline(always)]
fn own_pid(leader: usize, ok: &mut bool) -> (u32, u32) {
    let pid: usize = rd(leader, off!(task_thread_pid), ok);
    if pid == 0 {
        return (0, 0);
    }
    let level: u32 = rd(pid, off!(pid_level), ok);
    if level > 32 {
        *ok = false;
        return (0, 0);
    }
    let upid = pid + off!(pid_numbers) + level as usize * off!(upid_size);
    let nr: u32 = rd(upid, off!(upid_nr), ok);
    let ns: usize = rd(upid, off!(upid_ns), ok);
    (nr, ns_inum(ns, off!(pid_ns_common), ok))
}

/// Fills an event header about `task`.
#[inline(always)]
fn fill_header(h: &mut Header, kind: Kind, task: usize) {
    let mut ok = true;
    h.kind = kind as u16;
    // SAFETY: helpers with no preconditions.
    h.ts_ns = unsafe { bpf_ktime_get_ns() };
    h.cpu = unsafe { bpf_get_smp_processor_id() };
    let mut f = Facts::default();
    let mut flags = task_facts(task, &mut f, &mut ok);
    h.tgid = f.tgid;
    h.tid = f.tid;
    h.uid = f.uid;
    h.euid = f.euid;
    h.ns_tgid = f.ns_tgid;
    h.ns = f.ns;
    // The parent changes on reparenting and the name on renames: read each time.
    let parent: usize = rd(task, off!(task_real_parent), &mut ok);
    h.ppid = rd(parent, off!(task_tgid), &mut ok);
    read_comm(task, &mut h.comm, &mut ok);
    if h.tid != h.tgid {
        flags |= FLAG_THREAD;
    }
    if !ok {
        flags |= FLAG_READ_FAILED;
    }
    h.flags = flags;
}

#[inline(always)]
fn read_comm(task: usize, comm: &mut [u8; 16], ok: &mut bool) {
    if task == 0 {
        *ok = false;
        return;
    }
    let src = (task + off!(task_comm)) as *const u8;
    // SAFETY: the helper validates the source address.
    if unsafe { bpf_probe_read_kernel_buf(src, comm) }.is_err() {
        *comm = [0; 16];
        *ok = false;
    }
}

/// Effective capabilities of `task` (kernel_cap_t: one u64 on 6.3+, two
/// little-endian u32 before, which read as the same u64).
#[inline(always)]
fn cap_effective(task: usize, ok: &mut bool) -> u64 {
    let cred: usize = rd(task, off!(task_real_cred), ok);
    rd(cred, off!(cred_cap_effective), ok)
}

/// Inode of the file behind `fd` in `task` (`task->files->fdt->fd[fd]->f_inode->i_ino`);
/// 0 for a closed or out-of-range fd. For an nsfs file this is the namespace's inode.
#[inline(always)]
fn fd_inode(task: usize, fd: i32, ok: &mut bool) -> u32 {
    if fd < 0 {
        return 0;
    }
    let files: usize = rd(task, off!(task_files), ok);
    let fdt: usize = rd(files, off!(files_fdt), ok);
    let max: u32 = rd(fdt, off!(fdtable_max_fds), ok);
    if fd as u32 >= max {
        return 0;
    }
    let fds: usize = rd(fdt, off!(fdtable_fd), ok);
    let file: usize = rd(fds, fd as usize * 8, ok);
    if file == 0 {
        return 0;
    }
    let inode: usize = rd(file, off!(file_inode), ok);
    rd::<u64>(inode, off!(inode_ino), ok) as u32
}

#[inline(always)]
fn current_task() -> usize {
    // SAFETY: helper with no preconditions.
    unsafe { bpf_get_current_task() as usize }
}

/// Events caused by the collector itself are not traced (it would trace its own reads).
#[inline(always)]
fn is_self() -> bool {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    tgid != 0 && tgid == unsafe { read_volatile(addr_of!(CONFIG.self_tgid)) }
}

#[inline(always)]
fn note_read_failure(h: &Header) {
    if h.flags & FLAG_READ_FAILED != 0 {
        bump(counter::READ_FAILURES);
    }
}

/// Reserves room for one event or counts a drop for its kind.
macro_rules! reserve {
    ($ty:ty, $kind:expr) => {
        match EVENTS.reserve::<$ty>(0) {
            Some(e) => e,
            None => {
                bump(counter::DROPS + $kind as u32);
                return 0;
            }
        }
    };
}

/// task:task_newtask(task, clone_flags) — every fork, vfork, clone, clone3 and thread.
#[btf_tracepoint(function = "task_newtask")]
pub fn task_newtask(ctx: BtfTracePointContext) -> i32 {
    if !offsets_ready() || is_self() {
        return 0;
    }
    let child: usize = ctx.arg::<*const u8>(0) as usize;
    let clone_flags: u64 = ctx.arg(1);
    let mut entry = reserve!(CreateEvent, Kind::Create);
    // SAFETY: the reservation is sized for CreateEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Create, child);
    ev.clone_flags = clone_flags;
    let pid_tgid = bpf_get_current_pid_tgid();
    ev.creator_tgid = (pid_tgid >> 32) as u32;
    ev.creator_tid = pid_tgid as u32;
    let creator = current_task();
    let mut ok = true;
    if clone_flags & CLONE_NEW_MASK == 0 {
        // No CLONE_NEW*: the child shares the creator's nsproxy and cred, so
        // only the creator's own PID namespace can differ (after unshare(NEWPID)).
        ev.creator_ns = ev.hdr.ns;
        ev.creator_ns.pid = own_pid(task_leader(creator, &mut ok), &mut ok).1;
    } else if read_ns(creator, &mut ev.creator_ns) & FLAG_READ_FAILED != 0 {
        ok = false;
    }
    ev.cap_effective = cap_effective(creator, &mut ok);
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    note_read_failure(&ev.hdr);
    entry.submit(wake_flags());
    0
}

/// sched:sched_process_exec(p, old_pid, bprm) — exec succeeded.
#[btf_tracepoint(function = "sched_process_exec")]
pub fn sched_process_exec(ctx: BtfTracePointContext) -> i32 {
    if !offsets_ready() || is_self() {
        return 0;
    }
    let task: usize = ctx.arg::<*const u8>(0) as usize;
    let bprm: usize = ctx.arg::<*const u8>(2) as usize;
    // exec may move the task to its time namespace for children (a new nsproxy).
    forget_ns(task);
    let mut entry = reserve!(ExecEvent, Kind::Exec);
    // SAFETY: sized for ExecEvent; the filename tail past its NUL is not read by userspace.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Exec, task);
    let mut ok = true;
    let name: usize = rd(bprm, off!(binprm_filename), &mut ok);
    ev.filename[0] = 0;
    if name != 0 {
        // SAFETY: the helper validates the source and NUL-terminates.
        match unsafe { bpf_probe_read_kernel_str_bytes(name as *const u8, &mut ev.filename) } {
            Ok(s) => {
                if s.len() >= FILENAME_LEN - 1 {
                    ev.hdr.flags |= FLAG_TRUNCATED;
                }
            }
            Err(_) => ok = false,
        }
    }
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    note_read_failure(&ev.hdr);
    entry.submit(wake_flags());
    0
}

/// sched:sched_process_exit(p, …) — a task is exiting; exit_code is final.
#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    if !offsets_ready() || is_self() {
        return 0;
    }
    let task: usize = ctx.arg::<*const u8>(0) as usize;
    let mut entry = reserve!(ExitEvent, Kind::Exit);
    // SAFETY: sized for ExitEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Exit, task);
    let mut ok = true;
    ev.exit_code = rd(task, off!(task_exit_code), &mut ok);
    // signal->live was already decremented for this thread: 0 means the group is dead.
    let signal: usize = rd(task, off!(task_signal), &mut ok);
    let live: i32 = rd(signal, off!(signal_live), &mut ok);
    ev.group_dead = (live == 0) as u32;
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    note_read_failure(&ev.hdr);
    entry.submit(wake_flags());
    0
}

/// sched:sched_process_free(p) — the dead task is gone (fentry is refused on
/// this class of kernel, so the reaper is not current here; see ReapEvent).
#[btf_tracepoint(function = "sched_process_free")]
pub fn sched_process_free(ctx: BtfTracePointContext) -> i32 {
    let task: usize = ctx.arg::<*const u8>(0) as usize;
    // The task_struct is about to be freed and its address reused.
    forget_ns(task);
    if !offsets_ready() {
        return 0;
    }
    // Runs in RCU context (current is anyone): the freed task says whose it was.
    let mut ok = true;
    let tgid: u32 = rd(task, off!(task_tgid), &mut ok);
    // SAFETY: a plain read of a global the loader initialised.
    if ok && tgid != 0 && tgid == unsafe { read_volatile(addr_of!(CONFIG.self_tgid)) } {
        return 0;
    }
    let mut entry = reserve!(ReapEvent, Kind::Reap);
    // SAFETY: sized for ReapEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Reap, task);
    let mut ok = true;
    ev.exit_code = rd(task, off!(task_exit_code), &mut ok);
    ev._pad = 0;
    // A freed task has no nsproxy; that is expected, not a read failure.
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    note_read_failure(&ev.hdr);
    entry.submit(wake_flags());
    0
}

/// Syscall tracepoint arguments start after the common header and the syscall number.
const SYSCALL_ARG0: usize = 16;

#[inline(always)]
fn sys_arg(ctx: &TracePointContext, n: usize) -> u64 {
    // SAFETY: syscall enter tracepoints carry six u64 arguments at this offset.
    unsafe { ctx.read_at::<u64>(SYSCALL_ARG0 + n * 8) }.unwrap_or(0)
}

#[inline(always)]
fn emit_wait(syscall: u32, pid: i32, options: u32, idtype: u32) -> i32 {
    if !offsets_ready() || is_self() {
        return 0;
    }
    let mut entry = reserve!(WaitEvent, Kind::Wait);
    // SAFETY: sized for WaitEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Wait, current_task());
    ev.syscall = syscall;
    ev.pid = pid;
    ev.options = options;
    ev.idtype = idtype;
    note_read_failure(&ev.hdr);
    entry.submit(wake_flags());
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

/// Remembers the namespaces before a setns/unshare call.
#[inline(always)]
fn ns_enter(flags: u64, fd: i32, is_setns: bool) -> i32 {
    if !offsets_ready() || is_self() {
        return 0;
    }
    let tid = bpf_get_current_pid_tgid() as u32;
    let task = current_task();
    let mut ok = true;
    let mut p = Pending {
        flags,
        fd,
        // Read now: after a successful setns the fd may be closed, after a failed one it tells the target.
        target_inode: if is_setns {
            fd_inode(task, fd, &mut ok)
        } else {
            0
        },
        cap_effective: cap_effective(task, &mut ok),
        before: NsSet::default(),
    };
    if read_ns(task, &mut p.before) & FLAG_READ_FAILED != 0 || !ok {
        bump(counter::READ_FAILURES);
    }
    // A full table only loses the pairing; the exit side counts it.
    let _ = PENDING.insert(tid, p, 0);
    0
}

/// Emits one namespace-change event with before and after.
#[inline(always)]
fn ns_exit(kind: Kind, ret: i64) -> i32 {
    // The call may have switched this task's nsproxy or cred: drop what was cached.
    forget_ns(current_task());
    if !offsets_ready() || is_self() {
        return 0;
    }
    let tid = bpf_get_current_pid_tgid() as u32;
    // SAFETY: the value is copied out before the entry is removed.
    let pending = match unsafe { PENDING.get(tid) } {
        Some(p) => *p,
        None => {
            bump(counter::UNPAIRED_EXITS);
            return 0;
        }
    };
    let _ = PENDING.remove(tid);
    let mut entry = match EVENTS.reserve::<NsChangeEvent>(0) {
        Some(e) => e,
        None => {
            bump(counter::DROPS + kind as u32);
            return 0;
        }
    };
    // SAFETY: sized for NsChangeEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, kind, current_task());
    ev.flags = pending.flags;
    ev.fd = pending.fd;
    ev.ret = ret as i32;
    ev.before = pending.before;
    ev.cap_effective = pending.cap_effective;
    ev.target_inode = pending.target_inode;
    ev._pad = 0;
    note_read_failure(&ev.hdr);
    entry.submit(wake_flags());
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

/// prctl(PR_SET_NAME) calls in flight, by thread id: the name before.
#[map]
static RENAMING: LruHashMap<u32, [u8; 16]> = LruHashMap::with_max_entries(4096, 0);

/// syscalls:sys_enter_prctl(option, …) — notes a PR_SET_NAME call and the
/// caller's name before it. The new name is taken from the task at exit, in
/// kernel memory: the caller's string may sit in a page not yet faulted in,
/// which a BPF program cannot read.
#[tracepoint]
pub fn sys_enter_prctl(ctx: TracePointContext) -> i32 {
    if sys_arg(&ctx, 0) != PR_SET_NAME || !offsets_ready() || is_self() {
        return 0;
    }
    let mut ok = true;
    let mut old = [0u8; 16];
    read_comm(current_task(), &mut old, &mut ok);
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
    if sys_arg(&ctx, 0) as i64 != 0 || !offsets_ready() {
        return 0;
    }
    let mut entry = reserve!(RenameEvent, Kind::Rename);
    // SAFETY: sized for RenameEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Rename, current_task());
    ev.new_comm = ev.hdr.comm;
    ev.hdr.comm = old;
    note_read_failure(&ev.hdr);
    entry.submit(wake_flags());
    0
}

/// Whether signal `sig` is streamed (in the collector's mask).
#[inline(always)]
fn signal_wanted(sig: u32) -> bool {
    // SAFETY: a plain read of a global the loader initialised.
    let mask = unsafe { read_volatile(addr_of!(CONFIG.signal_mask)) };
    sig < 64 && mask & (1u64 << sig) != 0
}

/// signal:signal_generate(sig, info, task, group, result).
#[btf_tracepoint(function = "signal_generate")]
pub fn signal_generate(ctx: BtfTracePointContext) -> i32 {
    if !offsets_ready() || is_self() {
        return 0;
    }
    let sig: i32 = ctx.arg(0);
    if !signal_wanted(sig as u32) {
        // Counted once, at generation; deliveries of these are not counted again.
        if (sig as u32) <= 64 {
            bump(counter::SIGNALS_FILTERED + sig as u32);
        }
        return 0;
    }
    let info: usize = ctx.arg::<*const u8>(1) as usize;
    let target: usize = ctx.arg::<*const u8>(2) as usize;
    let group: i32 = ctx.arg(3);
    let result: i32 = ctx.arg(4);
    let mut entry = reserve!(SignalGenerateEvent, Kind::SignalGenerate);
    // SAFETY: sized for SignalGenerateEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::SignalGenerate, current_task());
    let mut ok = true;
    ev.sig = sig as u32;
    ev.result = result as u32;
    ev.group = group as u32;
    // SEND_SIG_NOINFO (0) is a user signal, SEND_SIG_PRIV (1) a kernel one.
    ev.si_code = match info {
        0 => 0,
        1 => 0x80,
        _ => rd(info, off!(siginfo_code), &mut ok),
    };
    let mut f = Facts::default();
    if task_facts(target, &mut f, &mut ok) & FLAG_READ_FAILED != 0 {
        ok = false;
    }
    ev.target_tgid = f.tgid;
    ev.target_tid = f.tid;
    ev.target_ns_tgid = f.ns_tgid;
    ev.target_ns = f.ns;
    ev._pad = 0;
    read_comm(target, &mut ev.target_comm, &mut ok);
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    note_read_failure(&ev.hdr);
    entry.submit(wake_flags());
    0
}

/// signal:signal_deliver(sig, info, ka) — current is about to act on `sig`.
#[btf_tracepoint(function = "signal_deliver")]
pub fn signal_deliver(ctx: BtfTracePointContext) -> i32 {
    if !offsets_ready() || is_self() {
        return 0;
    }
    let sig: i32 = ctx.arg(0);
    if !signal_wanted(sig as u32) {
        return 0;
    }
    let ka: usize = ctx.arg::<*const u8>(2) as usize;
    let mut entry = reserve!(SignalDeliverEvent, Kind::SignalDeliver);
    // SAFETY: sized for SignalDeliverEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::SignalDeliver, current_task());
    let mut ok = true;
    ev.sig = sig as u32;
    ev._pad = 0;
    ev.handler = rd(ka, off!(ksigaction_handler), &mut ok);
    ev.sa_flags = rd(ka, off!(ksigaction_flags), &mut ok);
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    note_read_failure(&ev.hdr);
    entry.submit(wake_flags());
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The programs use GPL-only helpers (bpf_probe_read_kernel, tp_btf).
#[link_section = "license"]
#[no_mangle]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
