//! Per-task readers: ids, credentials, namespace set, own PID and PID
//! namespace, name, capabilities, and the inode behind an fd.
//!
//! Each reader takes a BTF-typed pointer (a tp_btf argument, the result of
//! `bpf_get_current_task_btf()`, or a pointer loaded through one of those)
//! and reads with plain loads at offsets from `OFFSETS`. The verifier checks
//! each offset against the kernel's BTF and turns the load into an
//! exception-handled one (`BPF_PROBE_MEM`).
//!
//! What a direct load cannot detect: a load that faults gives 0, silently,
//! where `bpf_probe_read_kernel` returned an error. What can be detected is a
//! NULL pointer where the kernel always has one (a cred, a parent, a group
//! leader, a files table): that clears `ok`, and the event is flagged
//! `FLAG_READ_FAILED` and counted, like a failed helper read. A NULL
//! namespace pointer reads as inode 0 and a missing nsproxy (an exiting task)
//! is `FLAG_NO_NSPROXY`.

use aya_ebpf::helpers::{
    bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes, generated::bpf_get_current_task_btf,
};
use aya_log_ebpf::warn;
use nstrace_common::{NsSet, CGROUP_LEVELS, CGROUP_NAME_LEN, FLAG_NO_NSPROXY, FLAG_READ_FAILED};

/// A kernel pointer the verifier knows the BTF type of.
pub type Ptr = *const u8;

/// The current task, as a trusted BTF pointer (usable in syscall tracepoints).
#[inline(always)]
pub fn current() -> Ptr {
    // SAFETY: helper with no preconditions.
    unsafe { bpf_get_current_task_btf() as Ptr }
}

/// A plain load of a `T` at `base + off`. `base` must be a BTF pointer and
/// `off` a load-time constant (from `OFFSETS`), or the verifier refuses the
/// program; volatile so that two loads are never merged into a wider one the
/// BTF layout does not allow.
#[inline(always)]
pub fn load<T: Copy>(base: Ptr, off: usize) -> T {
    // SAFETY: the verifier checks the access against the BTF type of `base`
    // and makes it fault-safe (a fault reads as zero).
    unsafe { core::ptr::read_volatile(base.wrapping_add(off).cast::<T>()) }
}

/// The pointer at `base + off`; a NULL `base` clears `ok` and gives NULL.
#[inline(always)]
pub fn load_ptr(base: Ptr, off: usize, ok: &mut bool) -> Ptr {
    if base.is_null() {
        *ok = false;
        return core::ptr::null();
    }
    load(base, off)
}

/// A `u32` at `base + off`; a NULL `base` clears `ok` and gives 0.
#[inline(always)]
pub fn load_u32(base: Ptr, off: usize, ok: &mut bool) -> u32 {
    if base.is_null() {
        *ok = false;
        return 0;
    }
    load(base, off)
}

/// A helper read of a `T` at `addr` (for pointers the verifier has no type
/// for); a failure clears `ok`, gives zero, and (with `--debug-probes`)
/// logs which field `what` could not be read.
#[inline(always)]
pub fn read_kernel<T: Copy + Default>(addr: usize, what: &'static str, ok: &mut bool) -> T {
    if addr == 0 {
        *ok = false;
        warn!(&(), "nstrace: {}: NULL pointer on the way", what);
        return T::default();
    }
    // SAFETY: the helper validates the address.
    match unsafe { bpf_probe_read_kernel(addr as *const T) } {
        Ok(v) => v,
        Err(e) => {
            *ok = false;
            warn!(&(), "nstrace: {}: kernel read failed ({})", what, e);
            T::default()
        }
    }
}

/// What an event header needs about a task besides its parent and name.
#[derive(Clone, Copy, Default)]
pub struct Facts {
    /// Thread group id (node PID namespace).
    pub tgid: u32,
    /// Thread id (node PID namespace).
    pub tid: u32,
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// The process id in its own PID namespace.
    pub ns_tgid: u32,
    /// Its namespaces.
    pub ns: NsSet,
}

/// Reads the task's ids, uids, own pid and namespaces into `f`, every time
/// (no cache: ~30 direct loads cost less than an LRU hit did, and nothing
/// can go stale across setuid, setns, unshare or exec). Returns header
/// flags: `FLAG_NO_NSPROXY`, `FLAG_READ_FAILED`.
#[inline(always)]
pub fn facts(task: Ptr, f: &mut Facts) -> u16 {
    let mut ok = !task.is_null();
    if !ok {
        *f = Facts::default();
        return FLAG_READ_FAILED;
    }
    f.tgid = load(task, off!(task_tgid));
    f.tid = load(task, off!(task_pid));
    let cred = load_ptr(task, off!(task_real_cred), &mut ok);
    f.uid = load_u32(cred, off!(cred_uid), &mut ok);
    f.euid = load_u32(cred, off!(cred_euid), &mut ok);
    // A group leader is its own leader: one load less for most tasks.
    let leader = if f.tid == f.tgid {
        task
    } else {
        load_ptr(task, off!(task_group_leader), &mut ok)
    };
    let (ns_tgid, pid_ns) = own_pid(leader, &mut ok);
    f.ns_tgid = ns_tgid;
    let nsproxy = load_ptr(task, off!(task_nsproxy), &mut ok);
    let mut flags = ns_set(nsproxy, cred, pid_ns, &mut f.ns, &mut ok);
    if !ok {
        flags |= FLAG_READ_FAILED;
    }
    flags
}

/// Inode number of the `ns_common` at `ns + common_off`; 0 when `ns` is NULL.
#[inline(always)]
fn ns_inum(ns: Ptr, common_off: usize) -> u32 {
    if ns.is_null() {
        return 0;
    }
    load(ns, common_off + off!(ns_common_inum))
}

/// Fills `ns` from an nsproxy (namespaces other than user and own pid), the
/// cred (user namespace) and the own PID namespace the caller read.
/// Returns `FLAG_NO_NSPROXY` when the task has no nsproxy (it is exiting).
#[inline(always)]
fn ns_set(nsproxy: Ptr, cred: Ptr, pid_ns: u32, ns: &mut NsSet, ok: &mut bool) -> u16 {
    let mut flags = 0;
    let mut a = [0u32; 9];
    if nsproxy.is_null() {
        flags |= FLAG_NO_NSPROXY;
    } else {
        // One line per nsproxy member, in NSPROXY_ORDER, with constant
        // indices: an offset read at a variable index would not be a known
        // constant to the verifier.
        macro_rules! member {
            ($i:literal, $slot:literal) => {
                a[$slot] = ns_inum(load(nsproxy, off!(nsproxy_ns[$i])), off!(ns_common_in[$i]));
            };
        }
        member!(0, 0); // mnt
        member!(1, 1); // uts
        member!(2, 2); // ipc
        member!(3, 4); // pid_for_children
        member!(4, 5); // net
        member!(5, 7); // cgroup
        member!(6, 8); // time
    }
    let user_ns = load_ptr(cred, off!(cred_user_ns), ok);
    a[6] = ns_inum(user_ns, off!(user_ns_common));
    a[3] = pid_ns;
    *ns = NsSet::from_array(a);
    flags
}

/// The process id in its own PID namespace and that namespace's inode, from
/// `leader->thread_pid->numbers[level]` (`leader` is the task's group leader).
///
/// The verifier refuses a direct load at `numbers + level * size` (a
/// variable offset), so levels 0..=3 each load at their own constant offset
/// (`OFFSETS.pid_upid[k]`) and deeper levels take helper reads.
#[inline(always)]
pub fn own_pid(leader: Ptr, ok: &mut bool) -> (u32, u32) {
    let pid = load_ptr(leader, off!(task_thread_pid), ok);
    if pid.is_null() {
        return (0, 0);
    }
    let level: u32 = load(pid, off!(pid_level));
    let upid = match level {
        0 => off!(pid_upid[0]),
        1 => off!(pid_upid[1]),
        2 => off!(pid_upid[2]),
        3 => off!(pid_upid[3]),
        // Deeper levels: helper reads from the `thread_pid` field's address.
        _ => return own_pid_deep(leader as usize + off!(task_thread_pid), level, ok),
    };
    let nr: u32 = load(pid, upid + off!(upid_nr));
    let ns: Ptr = load(pid, upid + off!(upid_ns));
    (nr, ns_inum(ns, off!(pid_ns_common)))
}

/// `own_pid` for PID namespaces nested deeper than `PID_LEVELS_DIRECT`
/// levels, from the address of the task's `thread_pid` field.
///
/// Every read here is a helper read of a plain number: older verifiers (6.1)
/// refuse arithmetic between a BTF pointer and a computed index ("math
/// between ptr_ pointer and register with unbounded min value"). One log
/// line for the whole walk keeps `--debug-probes` within what the 6.1
/// verifier will check.
#[inline(never)]
fn own_pid_deep(thread_pid_at: usize, level: u32, ok: &mut bool) -> (u32, u32) {
    fn read<T>(addr: usize) -> Option<T> {
        // SAFETY: the helper validates the address.
        unsafe { bpf_probe_read_kernel(addr as *const T) }.ok()
    }
    let walk = || -> Option<(u32, u32)> {
        // The kernel allows 32 levels (MAX_PID_NS_LEVEL).
        if level > 32 {
            return None;
        }
        let pid: usize = read(thread_pid_at)?;
        if pid == 0 {
            return None;
        }
        let upid = pid + off!(pid_numbers) + level as usize * off!(upid_size);
        let nr: u32 = read(upid + off!(upid_nr))?;
        let ns: usize = read(upid + off!(upid_ns))?;
        if ns == 0 {
            return Some((nr, 0));
        }
        Some((nr, read(ns + off!(pid_ns_common) + off!(ns_common_inum))?))
    };
    walk().unwrap_or_else(|| {
        *ok = false;
        warn!(&(), "nstrace: PID level {}: kernel read failed", level);
        (0, 0)
    })
}

/// The task's name (`task->comm`, 16 bytes) with two 8-byte loads.
#[inline(always)]
pub fn comm(task: Ptr, out: &mut [u8; 16], ok: &mut bool) {
    if task.is_null() {
        *ok = false;
        *out = [0; 16];
        return;
    }
    let lo: u64 = load(task, off!(task_comm));
    let hi: u64 = load(task, off!(task_comm) + 8);
    out[..8].copy_from_slice(&lo.to_ne_bytes());
    out[8..].copy_from_slice(&hi.to_ne_bytes());
}

/// The tgid of the task's parent (`real_parent`), which changes on reparenting.
#[inline(always)]
pub fn parent_tgid(task: Ptr, ok: &mut bool) -> u32 {
    let parent = load_ptr(task, off!(task_real_parent), ok);
    load_u32(parent, off!(task_tgid), ok)
}

/// Effective capabilities of `task` (kernel_cap_t: one u64 on 6.3+, two
/// little-endian u32 before, which read as the same u64).
#[inline(always)]
pub fn cap_effective(task: Ptr, ok: &mut bool) -> u64 {
    let cred = load_ptr(task, off!(task_real_cred), ok);
    if cred.is_null() {
        *ok = false;
        return 0;
    }
    load(cred, off!(cred_cap_effective))
}

/// Inode of the file behind `fd` in `task` (`task->files->fdt->fd[fd]->f_inode->i_ino`);
/// 0 for a closed or out-of-range fd. For an nsfs file this is the namespace's inode.
/// `fdt->fd` is a `struct file **`, which BTF gives no struct type for, and is
/// indexed by a variable: from there on the reads are helper reads.
#[inline(always)]
pub fn fd_inode(task: Ptr, fd: i32, ok: &mut bool) -> u32 {
    if fd < 0 {
        return 0;
    }
    let files = load_ptr(task, off!(task_files), ok);
    let fdt = load_ptr(files, off!(files_fdt), ok);
    let max = load_u32(fdt, off!(fdtable_max_fds), ok);
    if fd as u32 >= max {
        return 0;
    }
    let fds: usize = load(fdt, off!(fdtable_fd));
    let file: usize = read_kernel(fds + fd as usize * 8, "fdtable.fd[fd]", ok);
    if file == 0 {
        return 0;
    }
    let inode: usize = read_kernel(file + off!(file_inode), "file.f_inode", ok);
    read_kernel::<u64>(inode + off!(inode_ino), "inode.i_ino", ok) as u32
}

/// The names of `task`'s cgroup directory and of up to two parents, leaf
/// first, into `out` (a slot stays empty above the hierarchy's root). The v2
/// cgroup (`css_set.dfl_cgrp`); when that is the root and the loader chose a
/// v1 controller, that controller's cgroup instead (a v1-only node).
#[inline(always)]
#[allow(unused_assignments)] // the last level's parent is not needed
pub fn cgroup_names(task: Ptr, out: &mut [[u8; CGROUP_NAME_LEN]; CGROUP_LEVELS], ok: &mut bool) {
    for slot in out.iter_mut() {
        slot[0] = 0;
    }
    let cgroups = load_ptr(task, off!(task_cgroups), ok);
    if cgroups.is_null() {
        return;
    }
    let mut cgrp: Ptr = load(cgroups, off!(css_set_dfl_cgrp));
    let v1 = off!(css_set_subsys_v1);
    if v1 != 0 && (cgrp.is_null() || load::<i32>(cgrp, off!(cgroup_level)) == 0) {
        let css: Ptr = load(cgroups, v1);
        if !css.is_null() {
            cgrp = load(css, off!(css_cgroup));
        }
    }
    if cgrp.is_null() {
        return;
    }
    let mut kn: Ptr = load(cgrp, off!(cgroup_kn));
    // Constant indices, unrolled: the verifier follows each slot on its own.
    macro_rules! level {
        ($i:literal) => {
            if kn.is_null() {
                return;
            }
            let parent: Ptr = load(kn, off!(kernfs_parent));
            // The root's name is not a path segment.
            if parent.is_null() {
                return;
            }
            // `const char *`: a scalar to the verifier, so the string takes the helper.
            let name: usize = load(kn, off!(kernfs_name));
            if name != 0 {
                // SAFETY: the helper validates the source and NUL-terminates.
                if unsafe { bpf_probe_read_kernel_str_bytes(name as *const u8, &mut out[$i]) }
                    .is_err()
                {
                    *ok = false;
                }
            }
            kn = parent;
        };
    }
    level!(0);
    level!(1);
    level!(2);
}
