//! Resolves, once, every kernel struct offset the programs read, from the
//! running kernel's BTF. A missing field is a startup error that names it.

use nstrace_common::{Offsets, NSPROXY_ORDER};

use super::btf::{Btf, BtfError};

/// Fills the offset table the programs need from `btf`.
pub fn resolve(btf: &Btf) -> Result<Offsets, BtfError> {
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
        let o = resolve(&btf).expect("all fields present");
        assert_eq!(o.valid, 1);
        assert_ne!(o.task_tgid, o.task_pid);
        assert!(o.upid_size >= 12);
        assert_eq!(o.pid_upid[0], o.pid_numbers);
        assert_eq!(o.pid_upid[3], o.pid_numbers + 3 * o.upid_size);
        assert!(o.nsproxy_ns.iter().all(|off| off % 8 == 0));
    }
}
