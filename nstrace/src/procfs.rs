//! Small readers of /proc (namespace links, stat, status fields, pids) and
//! of the clocks, shared by the snapshot, the collector and the commands.

use std::path::Path;

use nstrace_common::{NsSet, NsType};

/// One namespace inode of a process (`/proc/PID/ns/NAME`), if readable.
pub fn ns_inode(pid: &str, name: &str) -> Option<u32> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/{name}")).ok()?;
    Some(parse_ns_link(&link.to_string_lossy()).unwrap_or(0))
}

/// The namespace inodes of a process as `/proc/PID/ns/*` shows them; missing ones are 0.
pub fn ns_of(pid: &str) -> std::io::Result<NsSet> {
    let mut a = [0u32; 9];
    let mut any = false;
    for t in NsType::ALL {
        if let Some(ino) = ns_inode(pid, t.name()) {
            a[t.slot()] = ino;
            any = true;
        }
    }
    if !any {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("/proc/{pid}/ns is not readable"),
        ));
    }
    Ok(NsSet::from_array(a))
}

/// Parses "net:[4026531840]" into 4026531840.
pub fn parse_ns_link(s: &str) -> Option<u32> {
    s.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

/// The node's namespaces: those of the node's PID 1, or kthreadd's (the
/// initial ones), or (when neither is readable) nstrace's own as they were
/// when first asked — which `probe::tracefs::ensure` does before it moves
/// nstrace into a private mount namespace, so the fallback is the node's.
pub fn node_ns() -> NsSet {
    static NODE: std::sync::OnceLock<NsSet> = std::sync::OnceLock::new();
    *NODE.get_or_init(|| {
        // A partial read (some links refused) is not trusted. kthreadd (2)
        // lives in the initial namespaces: the node's, when PID 1's are
        // not readable and nstrace runs in a container of its own.
        let whole = |pid: &str| {
            ns_of(pid)
                .ok()
                .filter(|n| n.as_array().iter().all(|i| *i != 0))
        };
        whole("1")
            .or_else(|| whole("2"))
            .unwrap_or_else(|| ns_of("self").unwrap_or_default())
    })
}

/// The fields of /proc/PID/stat nstrace uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The command name (between the outer parentheses: it may hold any byte).
    pub comm: String,
    /// State letter (R, S, Z…).
    pub state: char,
    /// Parent pid.
    pub ppid: u32,
    /// Start time in clock ticks since boot (field 22).
    pub start_ticks: Option<u64>,
}

/// Parses a /proc/PID/stat line (the comm is found by the last ')', as a
/// comm may contain spaces and parentheses).
pub fn parse_stat(stat: &str) -> Option<Stat> {
    let close = stat.rfind(')')?;
    let comm = stat.get(stat.find('(')? + 1..close)?.to_owned();
    let mut rest = stat[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    // Fields 5 to 21 come before starttime.
    let start_ticks = rest.nth(17).and_then(|t| t.parse().ok());
    Some(Stat {
        comm,
        state,
        ppid,
        start_ticks,
    })
}

/// /proc/PID/stat, parsed.
pub fn stat_of(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parent pid from /proc/PID/stat.
pub fn ppid_of(pid: u32) -> Option<u32> {
    stat_of(pid).map(|s| s.ppid)
}

/// The kernel's clock ticks per second (USER_HZ), the unit of /proc's times.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as u64
    } else {
        100
    }
}

/// A /proc start time (clock ticks since boot) in ns: the monotonic clock's
/// scale and origin on a node that never slept.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    ticks * (1_000_000_000 / clock_ticks())
}

/// Every process id in /proc.
pub fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// `root` and all of its living descendants.
pub fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = pids()
        .into_iter()
        .filter_map(|p| Some((p, ppid_of(p)?)))
        .collect();
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    out
}

fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// CLOCK_MONOTONIC now, in ns (the clock of bpf_ktime_get_ns).
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC) as u64
}

/// CLOCK_REALTIME minus CLOCK_MONOTONIC: adds to an event time to give wall time.
pub fn wall_offset_ns() -> i64 {
    let m1 = clock_ns(libc::CLOCK_MONOTONIC);
    let r = clock_ns(libc::CLOCK_REALTIME);
    let m2 = clock_ns(libc::CLOCK_MONOTONIC);
    r - (m1 + (m2 - m1) / 2)
}

/// This node's hostname.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The kernel release (uname -r).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Parses "6.18.44-fc" into (6, 18).
pub fn parse_release(r: &str) -> Option<(u32, u32)> {
    let mut it = r.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// This process's effective capabilities (CapEff in /proc/self/status); 0 if unreadable.
pub fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Whether a path exists (used for the BTF check).
pub fn exists(p: &str) -> bool {
    Path::new(p).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names() {
        let line = "4242 (a) b (c) S 7 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 10000 100 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                comm: "a) b (c".into(),
                state: 'S',
                ppid: 7,
                start_ticks: Some(987654),
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn parses_links_and_releases() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("garbage"), None);
        assert_eq!(parse_release("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_release("5.4"), Some((5, 4)));
        assert_eq!(parse_release("x"), None);
    }

    #[test]
    fn reads_own_namespaces() {
        let ns = ns_of("self").unwrap();
        assert_ne!(ns.net, 0);
        assert_ne!(ns.pid, 0);
        assert_eq!(descendants(std::process::id())[0], std::process::id());
    }
}
