//! The kernel's own list of loaded eBPF programs, read with the `bpf(2)`
//! syscall, so a test can tell that nstrace's programs are attached while it
//! runs and gone once it has stopped (no bpftool on these machines).

use std::io;

const BPF_PROG_GET_NEXT_ID: libc::c_long = 11;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
/// Offset of `name[16]` in `struct bpf_prog_info` (include/uapi/linux/bpf.h).
const INFO_NAME_OFFSET: usize = 64;

/// The names of nstrace's kernel programs as the kernel keeps them (cut to
/// 15 bytes: `BPF_OBJ_NAME_LEN` is 16 with the NUL).
pub const NSTRACE_PROGRAMS: &[&str] = &[
    "sched_process_exec",
    "sched_process_exit",
    "sched_process_free",
    "signal_deliver",
    "signal_generate",
    "sys_enter_bind",
    "sys_enter_prctl",
    "sys_enter_rt_sig",
    "sys_enter_setns",
    "sys_enter_unshare",
    "sys_enter_wait4",
    "sys_enter_waitid",
    "sys_exit_bind",
    "sys_exit_prctl",
    "sys_exit_rt_siga",
    "sys_exit_rt_sigp",
    "sys_exit_setns",
    "sys_exit_signal",
    "sys_exit_unshare",
    "task_newtask",
];

fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> io::Result<i64> {
    // SAFETY: `attr` is a zeroed buffer at least as large as the union member
    // the command reads; the kernel checks the size we pass.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len() as u32) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Every loaded program's id, in increasing order.
pub fn program_ids() -> io::Result<Vec<u32>> {
    let mut ids = Vec::new();
    let mut start = 0u32;
    loop {
        let mut attr = [0u8; 16];
        attr[0..4].copy_from_slice(&start.to_ne_bytes());
        match bpf(BPF_PROG_GET_NEXT_ID, &mut attr) {
            Ok(_) => {
                start = u32::from_ne_bytes(attr[4..8].try_into().unwrap());
                ids.push(start);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(ids),
            Err(e) => return Err(e),
        }
    }
}

/// The name of program `id`, or None when it went away meanwhile.
pub fn program_name(id: u32) -> io::Result<Option<String>> {
    let mut attr = [0u8; 16];
    attr[0..4].copy_from_slice(&id.to_ne_bytes());
    let fd = match bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) {
        Ok(fd) => fd as i32,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut info = [0u8; 256];
    let mut attr = [0u8; 16];
    attr[0..4].copy_from_slice(&(fd as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(info.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(info.as_mut_ptr() as u64).to_ne_bytes());
    let r = bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr);
    // SAFETY: closing the fd the kernel just gave us.
    unsafe { libc::close(fd) };
    r?;
    let name = &info[INFO_NAME_OFFSET..INFO_NAME_OFFSET + 16];
    let end = name.iter().position(|&b| b == 0).unwrap_or(16);
    Ok(Some(String::from_utf8_lossy(&name[..end]).into_owned()))
}

/// The highest program id loaded now (0 when none): programs loaded later
/// have higher ids, so this marks "before the test started one".
pub fn last_program_id() -> u32 {
    program_ids()
        .expect("listing eBPF programs (root)")
        .last()
        .copied()
        .unwrap_or(0)
}

/// nstrace's programs loaded after `mark` and still in the kernel, as
/// `(id, name)`.
pub fn nstrace_programs_since(mark: u32) -> Vec<(u32, String)> {
    let ours = |name: &str| {
        NSTRACE_PROGRAMS
            .iter()
            .any(|p| &p[..p.len().min(15)] == name)
    };
    program_ids()
        .expect("listing eBPF programs (root)")
        .into_iter()
        .filter(|&id| id > mark)
        .filter_map(|id| {
            let name = program_name(id).expect("reading an eBPF program's name")?;
            ours(&name).then_some((id, name))
        })
        .collect()
}
