//! Reads the model's starting state from /proc: every process with its
//! namespaces, cgroup and hostname, and the namespaces pinned by bind mounts
//! or open fds. Read-only; it never enters another process's namespaces.

use nstrace_common::{NsSet, NsType};

use crate::model::{cgroup, Enrichment, Pinned, Process, Signals};
use crate::procfs;

/// Reads one process; `None` if it vanished or is a kernel thread.
pub fn process(pid: u32, node: &NsSet, node_hostname: &str) -> Option<Process> {
    let seen_ns = procfs::monotonic_ns();
    let procfs::Stat {
        comm,
        state,
        ppid,
        start_ticks,
    } = procfs::stat_of(pid)?;
    // Kernel threads: children of kthreadd (2), and kthreadd itself.
    if pid == 2 || ppid == 2 {
        return None;
    }
    // Field 22, starttime: clock ticks since boot (the monotonic clock's origin here).
    let started = start_ticks.map_or(seen_ns, procfs::ticks_to_ns);
    let ns = procfs::ns_of(&pid.to_string()).ok()?;
    // A process in the node's mount and PID namespaces is no container's: its
    // pid is its own, and cgroup, hostname and argv say nothing the topology
    // uses. Skipping them keeps start-up fast on nodes with many processes.
    let (ns_pid, signals, cmdline, cgroup, hostname) = if outside_node(&ns, node) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        (
            ns_pid_in(&status).unwrap_or(pid),
            Signals::from_status(&status),
            cmdline_of(pid),
            cgroup_of(pid),
            hostname_of(pid, ns.uts, node, node_hostname),
        )
    } else {
        (
            pid,
            Signals::default(),
            String::new(),
            String::new(),
            (ns.uts == node.uts).then(|| node_hostname.to_owned()),
        )
    };
    Some(Process {
        pid,
        ppid,
        ns_pid,
        comm,
        exe: exe_of(pid),
        cmdline,
        cgroup,
        ns,
        hostname,
        zombie: state == 'Z',
        start_ns: started.min(seen_ns),
        exit_ns: if state == 'Z' { seen_ns } else { 0 },
        seen_ns,
        program_ns: started.min(seen_ns),
        signals,
    })
}

/// The signals `pid` reads from signalfds: the `sigmask:` of each
/// signalfd in /proc/PID/fdinfo (fs/signalfd.c `signalfd_show_fdinfo()`).
pub fn signalfd_masks(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return 0;
    };
    let mut mask = 0;
    for e in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        mask |= signalfd_mask_in(&text);
    }
    mask
}

/// The `sigmask:` of one fdinfo text (0 for a file that is no signalfd).
fn signalfd_mask_in(fdinfo: &str) -> u64 {
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("sigmask:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0)
}

/// What a process does with each signal now (SigCgt, SigIgn), if readable.
pub fn signals(pid: u32) -> Option<Signals> {
    let s = Signals::from_status(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?);
    s.known.then_some(s)
}

/// Whether a process with namespaces `ns` may be in a container (not in both
/// the node's mount and PID namespaces, or a zombie whose links are gone).
fn outside_node(ns: &NsSet, node: &NsSet) -> bool {
    ns.mnt != node.mnt || ns.pid != node.pid || ns.mnt == 0
}

fn exe_of(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The pid inside the process's own PID namespace (NSpid's last field).
fn ns_pid_in(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|v| v.split_whitespace().last()?.parse().ok())
}

fn cmdline_of(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .trim_end_matches('\0')
                .replace('\0', " ")
        })
        .unwrap_or_default()
}

fn cgroup_of(pid: u32) -> String {
    cgroup::best_path(&std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default())
}

/// The node's hostname in the node's UTS namespace; otherwise what the
/// runtime wrote to the container's /etc/hostname (the UTS name is not in /proc).
fn hostname_of(pid: u32, uts: u32, node: &NsSet, node_hostname: &str) -> Option<String> {
    if uts == node.uts {
        return Some(node_hostname.to_owned());
    }
    std::fs::read_to_string(format!("/proc/{pid}/root/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// Reads what events do not carry about `pid` right after one of its events
/// (see `model::wants_enrichment`): cgroup, hostname, comm and exe, and only
/// the three namespace links that decide them. `None` if it is gone.
pub fn enrichment(pid: u32, node: &NsSet, node_hostname: &str) -> Option<Enrichment> {
    let seen_ns = procfs::monotonic_ns();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let p = pid.to_string();
    let (mnt, pid_ns, uts) = (
        procfs::ns_inode(&p, "mnt"),
        procfs::ns_inode(&p, "pid"),
        procfs::ns_inode(&p, "uts"),
    );
    if mnt.is_none() && pid_ns.is_none() && uts.is_none() {
        return None;
    }
    let ns = NsSet {
        mnt: mnt.unwrap_or(0),
        pid: pid_ns.unwrap_or(0),
        uts: uts.unwrap_or(0),
        ..NsSet::default()
    };
    let (cgroup, hostname) = if outside_node(&ns, node) {
        (
            cgroup_of(pid),
            hostname_of(pid, ns.uts, node, node_hostname),
        )
    } else {
        (
            String::new(),
            (ns.uts == node.uts).then(|| node_hostname.to_owned()),
        )
    };
    Some(Enrichment {
        pid,
        seen_ns,
        cgroup,
        hostname,
        comm: comm.trim_end_matches('\n').to_owned(),
        exe: exe_of(pid),
        cmdline: if outside_node(&ns, node) {
            cmdline_of(pid)
        } else {
            String::new()
        },
    })
}

/// Every process now in /proc, read by one thread per core (start-up time
/// on a node with ten thousand processes is mostly these reads).
pub fn processes(node: &NsSet, node_hostname: &str) -> Vec<Process> {
    let me = std::process::id();
    // nstrace itself may sit in a private mount namespace; it is not a workload.
    let pids: Vec<u32> = procfs::pids().into_iter().filter(|p| *p != me).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = pids.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = pids
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter_map(|pid| process(*pid, node, node_hostname))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Parses "net:[4026532281]" into (slot, inode).
fn ns_ref(s: &str) -> Option<(NsType, u32)> {
    let (ty, _) = s.split_once(":[")?;
    Some((NsType::from_name(ty)?, procfs::parse_ns_link(s)?))
}

/// nsfs bind mounts in a mountinfo text: (slot, inode, mount point).
pub fn nsfs_mounts(mountinfo: &str) -> Vec<Pinned> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if right.split_whitespace().next() != Some("nsfs") {
            continue;
        }
        let f: Vec<&str> = left.split_whitespace().collect();
        if let (Some(root), Some(point)) = (f.get(3), f.get(4)) {
            if let Some((ns_type, inode)) = ns_ref(root) {
                out.push(Pinned {
                    ns_type,
                    inode,
                    holder: point.replace("\\040", " "),
                });
            }
        }
    }
    out
}

/// Namespaces pinned by bind mounts in the node's mount table.
pub fn mount_pins() -> Vec<Pinned> {
    let mountinfo = std::fs::read_to_string("/proc/1/mountinfo")
        .or_else(|_| std::fs::read_to_string("/proc/self/mountinfo"))
        .unwrap_or_default();
    nsfs_mounts(&mountinfo)
}

/// `known` with its bind-mount pins read again (fd pins kept): cheap enough
/// to run on every setns, unlike the fd walk of [`pinned`].
pub fn refresh_mount_pins(known: &[Pinned]) -> Vec<Pinned> {
    let mut out = mount_pins();
    out.extend(
        known
            .iter()
            .filter(|p| p.holder.starts_with("fd of pid "))
            .cloned(),
    );
    out.sort();
    out.dedup();
    out
}

/// Namespaces pinned by bind mounts (the node's mount table) or by open fds.
pub fn pinned() -> Vec<Pinned> {
    let mut out = mount_pins();
    let me = std::process::id();
    for pid in procfs::pids() {
        if pid == me {
            continue;
        }
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in dir.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                if let Some((ns_type, inode)) = ns_ref(&link.to_string_lossy()) {
                    out.push(Pinned {
                        ns_type,
                        inode,
                        holder: format!("fd of pid {pid}"),
                    });
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_signalfds_mask_from_fdinfo() {
        // catatonit's signalfd as /proc/PID/fdinfo shows it (TERM, INT, CHLD…).
        let sfd =
            "pos:\t0\nflags:\t02004002\nmnt_id:\t15\nino:\t1057\nsigmask:\tfffffffe7ffbfeff\n";
        assert_eq!(signalfd_mask_in(sfd), 0xffff_fffe_7ffb_feff);
        assert_eq!(
            signalfd_mask_in("pos:\t0\nflags:\t02\n"),
            0,
            "not a signalfd"
        );
    }

    #[test]
    fn finds_nsfs_bind_mounts() {
        let text = "36 25 0:4 net:[4026532281] /run/netns/x rw shared:5 - nsfs nsfs rw\n\
                    37 25 0:4 / /proc rw - proc proc rw\n\
                    38 25 0:4 uts:[4026532300] /run/my\\040ns rw - nsfs nsfs rw\n";
        let p = nsfs_mounts(text);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].ns_type, p[0].inode, p[0].holder.as_str()),
            (NsType::Net, 4026532281, "/run/netns/x")
        );
        assert_eq!(p[1].holder, "/run/my ns");
    }

    #[test]
    fn enrichment_reads_what_the_full_read_would() {
        let node = procfs::ns_of("self").unwrap();
        let me = std::process::id();
        let full = process(me, &node, "here").unwrap();
        let e = enrichment(me, &node, "here").unwrap();
        assert_eq!(
            (e.pid, &e.cgroup, &e.hostname, &e.comm, &e.exe),
            (me, &full.cgroup, &full.hostname, &full.comm, &full.exe)
        );
        assert!(
            enrichment(u32::MAX, &node, "here").is_none(),
            "a gone process"
        );
    }

    #[test]
    fn reads_this_process() {
        let node = procfs::ns_of("self").unwrap();
        let me = process(std::process::id(), &node, "here").unwrap();
        assert_eq!(me.ns, node);
        assert_eq!(me.hostname.as_deref(), Some("here"));
        assert!(!me.zombie);
        // A node process: its exe is read, its argv and cgroup are not needed.
        assert!(!me.exe.is_empty());
        assert!(me.cmdline.is_empty() && me.cgroup.is_empty());
        assert_eq!(me.ns_pid, me.pid);
    }
}
