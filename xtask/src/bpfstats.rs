//! In-kernel cost of a tracer's programs, read the way `bpftool perf` and
//! `bpftool prog show` read it, with the raw bpf(2) syscall:
//!
//! * which hooks a process (one the bench started) has attached:
//!   `BPF_TASK_FD_QUERY` on each of its file descriptors gives the program id
//!   and the tracepoint name of a perf-event attachment (bpftrace), and a BPF
//!   link's fdinfo gives both for a link (aya's tp_btf and tracepoint links);
//! * what each program cost: `BPF_OBJ_GET_INFO_BY_FD` gives `run_cnt` and
//!   `run_time_ns`, which the kernel counts only while run-time statistics are
//!   on ([`StatsOn`]).

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{bail, Context, Result};

const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_TASK_FD_QUERY: libc::c_long = 20;
const BPF_ENABLE_STATS: libc::c_long = 32;
/// `enum bpf_stats_type`: BPF_STATS_RUN_TIME.
const BPF_STATS_RUN_TIME: u32 = 0;

/// Offsets in `struct bpf_prog_info` (stable uapi, append-only).
const INFO_RUN_TIME_NS: usize = 192;
const INFO_RUN_CNT: usize = 200;
/// Bytes of `struct bpf_prog_info` asked for (through `run_cnt`).
const INFO_LEN: usize = 208;

/// `bpf(cmd, attr, size)`; the attribute is a plain byte buffer.
fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> std::io::Result<i64> {
    // SAFETY: `attr` is a valid buffer of the size given; the kernel writes
    // only inside it (and into buffers whose addresses it holds, see callers).
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Run-time statistics on for as long as this lives.
///
/// `BPF_ENABLE_STATS` raises the same kernel switch as the sysctl
/// `kernel.bpf_stats_enabled`, counted, for as long as its fd is open: the
/// switch goes back to its old state when this is dropped, on error, and even
/// if the bench is killed, and the sysctl's own value (which another user may
/// have set) is never written. Kernels without the command (before 5.8) get
/// the sysctl, set to 1 and restored on drop.
pub enum StatsOn {
    /// Held fd from `BPF_ENABLE_STATS`.
    Fd(#[allow(dead_code)] OwnedFd),
    /// The sysctl's old value, written back on drop.
    Sysctl(String),
}

const SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl StatsOn {
    /// Turns statistics on.
    pub fn enable() -> Result<StatsOn> {
        let mut attr = [0u8; 8];
        attr[..4].copy_from_slice(&BPF_STATS_RUN_TIME.to_ne_bytes());
        match bpf(BPF_ENABLE_STATS, &mut attr) {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            Ok(fd) => Ok(StatsOn::Fd(unsafe { OwnedFd::from_raw_fd(fd as i32) })),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                let old =
                    std::fs::read_to_string(SYSCTL).with_context(|| format!("reading {SYSCTL}"))?;
                std::fs::write(SYSCTL, "1").with_context(|| format!("writing {SYSCTL}"))?;
                Ok(StatsOn::Sysctl(old.trim().to_owned()))
            }
            Err(e) => Err(e).context("BPF_ENABLE_STATS (run-time statistics)"),
        }
    }
}

impl Drop for StatsOn {
    fn drop(&mut self) {
        if let StatsOn::Sysctl(old) = self {
            let _ = std::fs::write(SYSCTL, old.as_bytes());
        }
    }
}

/// One attached program of a process.
#[derive(Clone, Debug)]
pub struct Attached {
    /// The tracepoint it is attached to ("task_newtask", "sys_enter_setns"…).
    pub hook: String,
    /// Its program id.
    pub prog_id: u32,
}

/// The tracepoints process `pid` (one the bench started) has programs attached to.
pub fn attached(pid: u32) -> Result<Vec<Attached>> {
    let mut out = Vec::new();
    let dir = format!("/proc/{pid}/fd");
    for e in std::fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let Ok(fd) = e?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let mut name = [0u8; 256];
        let mut attr = [0u8; 48];
        attr[0..4].copy_from_slice(&pid.to_ne_bytes());
        attr[4..8].copy_from_slice(&fd.to_ne_bytes());
        attr[12..16].copy_from_slice(&(name.len() as u32).to_ne_bytes());
        attr[16..24].copy_from_slice(&(name.as_mut_ptr() as u64).to_ne_bytes());
        // A perf-event fd with a program (bpftrace) answers the query; a
        // BPF link (aya: tp_btf, and tracepoints through perf links) says
        // its tracepoint and program in its fdinfo. Other fds are skipped.
        let (hook, prog_id) = if bpf(BPF_TASK_FD_QUERY, &mut attr).is_ok() {
            let prog_id = u32::from_ne_bytes(attr[24..28].try_into().expect("4 bytes"));
            let len = name.iter().position(|&b| b == 0).unwrap_or(0);
            (String::from_utf8_lossy(&name[..len]).into_owned(), prog_id)
        } else {
            let info =
                std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
            let field = |k: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(k)?.strip_prefix(':'))
                    .map(|v| v.trim().to_owned())
            };
            match (
                field("tp_name"),
                field("prog_id").and_then(|v| v.parse().ok()),
            ) {
                (Some(tp), Some(id)) => (tp, id),
                _ => continue,
            }
        };
        // A tracepoint name may come as "category:name" on some kernels.
        let hook = hook.rsplit(':').next().unwrap_or("").to_owned();
        out.push(Attached { hook, prog_id });
    }
    Ok(out)
}

/// Fails unless `pid` has a program on every one of `hooks`.
pub fn require_hooks(who: &str, pid: u32, hooks: &[&str]) -> Result<()> {
    let have = attached(pid)?;
    let missing: Vec<&str> = hooks
        .iter()
        .copied()
        .filter(|h| !have.iter().any(|a| a.hook == *h))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{who} (pid {pid}) has no program attached to {} ({} attached)",
            missing.join(", "),
            have.len()
        );
    }
    Ok(())
}

/// `run_time_ns` and `run_cnt` of program `prog_id`.
pub fn prog_stats(prog_id: u32) -> Result<(u64, u64)> {
    let mut attr = [0u8; 12];
    attr[..4].copy_from_slice(&prog_id.to_ne_bytes());
    let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)
        .with_context(|| format!("BPF_PROG_GET_FD_BY_ID {prog_id}"))?;
    // SAFETY: a new fd the kernel handed us.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut info = [0u8; INFO_LEN];
    let mut attr = [0u8; 16];
    attr[0..4].copy_from_slice(&(fd.as_raw_fd() as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(INFO_LEN as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(info.as_mut_ptr() as u64).to_ne_bytes());
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)
        .with_context(|| format!("BPF_OBJ_GET_INFO_BY_FD for program {prog_id}"))?;
    let word = |at: usize| u64::from_ne_bytes(info[at..at + 8].try_into().expect("8 bytes"));
    Ok((word(INFO_RUN_TIME_NS), word(INFO_RUN_CNT)))
}

/// Per hook: (run_time_ns, run_cnt) summed over the programs `pid` has on it.
pub type Costs = BTreeMap<String, (u64, u64)>;

/// The cost so far of every program `pid` has attached.
pub fn snapshot(pid: u32) -> Result<Costs> {
    let mut out = Costs::new();
    for a in attached(pid)? {
        let (ns, cnt) = prog_stats(a.prog_id)?;
        let e = out.entry(a.hook).or_default();
        e.0 += ns;
        e.1 += cnt;
    }
    Ok(out)
}

/// Sum over hooks: (run_time_ns, run_cnt).
pub fn total(c: &Costs) -> (u64, u64) {
    c.values().fold((0, 0), |(ns, n), (a, b)| (ns + a, n + b))
}
