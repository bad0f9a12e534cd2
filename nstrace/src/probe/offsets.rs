//! Resolves, once, every kernel struct offset the programs read, from the
//! running kernel's BTF. A missing field is a startup error that names it.

use nstrace_common::{Offsets, SigOffsets, NSPROXY_ORDER, SIGSTATE_SIGNALS};

use super::btf::{Btf, BtfError};

/// Fills the offset table the programs need from `btf`. `v1_controller` is
/// the index in `css_set.subsys` of the cgroup v1 controller whose hierarchy
/// names a container when the v2 one does not (see [`v1_controller`]).
pub fn resolve(btf: &Btf, v1_controller: Option<u32>) -> Result<Offsets, BtfError> {
    let m = |ty: &str, field: &str| btf.member_offset(ty, field);
    let mut o = Offsets {
        task_pid: m("task_struct", "pid")?,
        task_tgid: m("task_struct", "tgid")?,
        task_comm: m("task_struct", "comm")?,
        task_real_parent: m("task_struct", "real_parent")?,
        task_group_leader: m("task_struct", "group_leader")?,
        task_thread_pid: m("task_struct", "thread_pid")?,
        task_nsproxy: m("task_struct", "nsproxy")?,
        task_real_cred: m("task_struct", "real_cred")?,
        task_exit_code: m("task_struct", "exit_code")?,
        task_signal: m("task_struct", "signal")?,
        signal_live: m("signal_struct", "live")?,
        cred_uid: m("cred", "uid")?,
        cred_euid: m("cred", "euid")?,
        cred_user_ns: m("cred", "user_ns")?,
        user_ns_common: m("user_namespace", "ns")?,
        pid_ns_common: m("pid_namespace", "ns")?,
        ns_common_inum: m("ns_common", "inum")?,
        pid_level: m("pid", "level")?,
        pid_numbers: m("pid", "numbers")?,
        upid_size: btf.struct_size("upid")?,
        upid_nr: m("upid", "nr")?,
        upid_ns: m("upid", "ns")?,
        binprm_filename: m("linux_binprm", "filename")?,
        ksigaction_handler: m("k_sigaction", "sa.sa_handler")?,
        ksigaction_flags: m("k_sigaction", "sa.sa_flags")?,
        siginfo_code: m("kernel_siginfo", "si_code")?,
        cred_cap_effective: m("cred", "cap_effective")?,
        task_files: m("task_struct", "files")?,
        files_fdt: m("files_struct", "fdt")?,
        fdtable_max_fds: m("fdtable", "max_fds")?,
        fdtable_fd: m("fdtable", "fd")?,
        file_inode: m("file", "f_inode")?,
        inode_ino: m("inode", "i_ino")?,
        file_private_data: m("file", "private_data")?,
        socket_type: m("socket", "type")?,
        socket_sk: m("socket", "sk")?,
        sock_protocol: m("sock", "sk_protocol")?,
        task_cgroups: m("task_struct", "cgroups")?,
        css_set_dfl_cgrp: m("css_set", "dfl_cgrp")?,
        css_cgroup: m("cgroup_subsys_state", "cgroup")?,
        cgroup_kn: m("cgroup", "kn")?,
        cgroup_level: m("cgroup", "level")?,
        kernfs_name: m("kernfs_node", "name")?,
        // Renamed when it became RCU-protected (Linux 6.15).
        kernfs_parent: m("kernfs_node", "__parent").or_else(|_| m("kernfs_node", "parent"))?,
        task_mm: m("task_struct", "mm")?,
        mm_arg_start: m("mm_struct", "arg_start")?,
        mm_arg_end: m("mm_struct", "arg_end")?,
        signal_tty: m("signal_struct", "tty")?,
        valid: 1,
        ..Offsets::default()
    };
    for (k, at) in o.pid_upid.iter_mut().enumerate() {
        *at = o.pid_numbers + k as u32 * o.upid_size;
    }
    for (i, (member, ns_struct, _)) in NSPROXY_ORDER.iter().enumerate() {
        o.nsproxy_ns[i] = m("nsproxy", member)?;
        o.ns_common_in[i] = m(ns_struct, "ns")?;
    }
    if let Some(k) = v1_controller {
        // `subsys` is an array of pointers: element k at a constant offset.
        o.css_set_subsys_v1 = m("css_set", "subsys")? + k * 8;
    }
    Ok(o)
}

/// [`resolve`] for this node: the v1 controller chosen from /proc/cgroups
/// (a v1 hierarchy names containers where the v2 one does not: a v1-only node).
pub fn resolve_here(btf: &Btf) -> Result<Offsets, BtfError> {
    let v1 = std::fs::read_to_string("/proc/cgroups")
        .ok()
        .and_then(|t| v1_controller(&t));
    resolve(btf, v1)
}

/// Controllers whose v1 hierarchy runtimes put a container in, in the order
/// tried (any mounted one names it; the kubelet and runc use them all).
const V1_CONTROLLERS: [&str; 4] = ["pids", "memory", "cpu", "devices"];

/// The `css_set.subsys` index of a mounted cgroup v1 controller, from the
/// text of /proc/cgroups: its lines list every controller in subsystem-id
/// order, with hierarchy 0 when it is not mounted on a v1 hierarchy.
pub fn v1_controller(proc_cgroups: &str) -> Option<u32> {
    let rows: Vec<(&str, u32)> = proc_cgroups
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?;
            let hierarchy = f.next()?.parse().ok()?;
            Some((name, hierarchy))
        })
        .collect();
    V1_CONTROLLERS.iter().find_map(|want| {
        rows.iter()
            .position(|(name, h)| name == want && *h != 0)
            .map(|i| i as u32)
    })
}

/// Fills the sigstate programs' offsets from `btf`.
pub fn resolve_sig(btf: &Btf) -> Result<SigOffsets, BtfError> {
    let m = |ty: &str, field: &str| btf.member_offset(ty, field);
    let bit = btf.bitfield_bit_offset("signal_struct", "is_child_subreaper")?;
    let mut o = SigOffsets {
        task_sighand: m("task_struct", "sighand")?,
        task_blocked: m("task_struct", "blocked")?,
        task_real_blocked: m("task_struct", "real_blocked")?,
        sighand_action: m("sighand_struct", "action")?,
        ksigaction_size: btf.struct_size("k_sigaction")?,
        signal_subreaper_byte: bit / 8,
        signal_subreaper_bit: bit % 8,
        // fs/signalfd.c's `struct signalfd_ctx` holds only the mask; kernels
        // whose BTF lacks the struct have it at 0 all the same.
        signalfd_ctx_sigmask: match btf.member_offset("signalfd_ctx", "sigmask") {
            Ok(o) => o,
            Err(BtfError::MissingType(_)) => 0,
            Err(e) => return Err(e),
        },
        valid: 1,
        ..SigOffsets::default()
    };
    for k in 0..SIGSTATE_SIGNALS {
        o.action_at[k] = o.sighand_action + k as u32 * o.ksigaction_size;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The running kernel must provide every field; the values are checked
    /// against the kernel itself by the integration tests (inodes match /proc).
    #[test]
    fn resolves_on_running_kernel() {
        let Ok(btf) = Btf::from_kernel() else {
            panic!("this machine is documented to have /sys/kernel/btf/vmlinux");
        };
        let o = resolve(&btf, Some(2)).expect("all fields present");
        assert_eq!(o.valid, 1);
        assert_ne!(o.task_tgid, o.task_pid);
        assert!(o.upid_size >= 12);
        assert_eq!(o.pid_upid[0], o.pid_numbers);
        assert_eq!(o.pid_upid[3], o.pid_numbers + 3 * o.upid_size);
        assert!(o.nsproxy_ns.iter().all(|off| off % 8 == 0));
        assert!(o.css_set_subsys_v1 > 0 && o.css_set_subsys_v1.is_multiple_of(8));
        assert_eq!(resolve(&btf, None).unwrap().css_set_subsys_v1, 0);
        let s = resolve_sig(&btf).expect("all sigstate fields present");
        assert_eq!(s.action_at[1] - s.action_at[0], s.ksigaction_size);
        assert!(s.ksigaction_size >= 24, "handler, flags, restorer, mask");
        assert_ne!(s.task_blocked, s.task_real_blocked);
        assert!(s.signal_subreaper_bit < 8);
    }

    #[test]
    fn picks_a_mounted_v1_controller_by_its_subsystem_index() {
        // This machine's kind (hybrid: v1 hierarchies and the unified one).
        let hybrid = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n\
                      cpuset\t3\t1\t1\ncpu\t1\t1\t1\ncpuacct\t2\t1\t1\n\
                      blkio\t7\t1\t1\nmemory\t4\t20\t1\ndevices\t5\t20\t1\n\
                      freezer\t6\t1\t1\nnet_cls\t0\t1\t1\npids\t8\t20\t1\n";
        assert_eq!(v1_controller(hybrid), Some(8), "pids, the ninth line");
        // cgroup v2 only: every controller on hierarchy 0.
        let v2 = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n\
                  cpuset\t0\t9\t1\ncpu\t0\t9\t1\nmemory\t0\t9\t1\npids\t0\t9\t1\n";
        assert_eq!(v1_controller(v2), None);
        // Only memory mounted.
        let mem = "cpu\t0\t1\t1\nmemory\t2\t5\t1\npids\t0\t1\t1\n";
        assert_eq!(v1_controller(mem), Some(1));
    }
}
