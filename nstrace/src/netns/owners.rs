//! Which processes hold which sockets: `/proc/PID/fd/*` links `socket:[INODE]`,
//! read for the candidate pids the caller names (the processes of one namespace),
//! never for every process of the node.

use std::collections::{HashMap, HashSet};
use std::io;

/// Parses a `/proc/PID/fd/N` link target "socket:[48211]" into 48211.
pub fn parse_socket_link(s: &str) -> Option<u64> {
    s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// What a scan found, and what it could not read (counts for the caller's counters).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnerScan {
    /// Socket inode → pids holding it, ascending. Only inodes that were asked for.
    pub owners: HashMap<u64, Vec<u32>>,
    /// Pids whose fd directory was read.
    pub pids_read: usize,
    /// Pids that had exited (no `/proc/PID/fd`).
    pub pids_gone: usize,
    /// Pids whose fd directory was refused (EACCES/EPERM) or unreadable otherwise.
    pub pids_denied: usize,
    /// Fd links that vanished or could not be read while scanning (fds closed meanwhile).
    pub links_unreadable: usize,
}

/// Maps the socket inodes in `inodes` to the pids among `pids` that hold them.
/// Duplicate pids are read once.
pub fn socket_owners(inodes: &HashSet<u64>, pids: &[u32]) -> OwnerScan {
    scan_owners(inodes, pids, false)
}

/// Like [`socket_owners`], but stops at the first pid after which every inode
/// has an owner: for a search among many candidates (the node's processes)
/// ordered most likely first.
pub fn socket_owners_until_found(inodes: &HashSet<u64>, pids: &[u32]) -> OwnerScan {
    scan_owners(inodes, pids, true)
}

fn scan_owners(inodes: &HashSet<u64>, pids: &[u32], stop_when_found: bool) -> OwnerScan {
    let mut scan = OwnerScan::default();
    if inodes.is_empty() {
        return scan;
    }
    let mut seen = HashSet::new();
    for &pid in pids {
        if stop_when_found && scan.owners.len() == inodes.len() {
            break;
        }
        if !seen.insert(pid) {
            continue;
        }
        let dir = match std::fs::read_dir(format!("/proc/{pid}/fd")) {
            Ok(d) => d,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) =>
            {
                scan.pids_gone += 1;
                continue;
            }
            Err(_) => {
                scan.pids_denied += 1;
                continue;
            }
        };
        scan.pids_read += 1;
        for ent in dir {
            let Ok(ent) = ent else {
                scan.links_unreadable += 1;
                continue;
            };
            let Ok(target) = std::fs::read_link(ent.path()) else {
                scan.links_unreadable += 1;
                continue;
            };
            let Some(ino) = target.to_str().and_then(parse_socket_link) else {
                continue;
            };
            if inodes.contains(&ino) {
                let v = scan.owners.entry(ino).or_default();
                if v.last() != Some(&pid) {
                    v.push(pid);
                }
            }
        }
    }
    for v in scan.owners.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn parses_socket_links() {
        assert_eq!(parse_socket_link("socket:[48211]"), Some(48211));
        assert_eq!(parse_socket_link("pipe:[48211]"), None);
        assert_eq!(parse_socket_link("socket:[]"), None);
        assert_eq!(parse_socket_link("/dev/null"), None);
    }

    #[test]
    fn finds_own_socket_and_counts_gone_pids() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // The socket inode, as /proc/self/fd shows it.
        use std::os::fd::AsRawFd;
        let ino = std::fs::metadata(format!("/proc/self/fd/{}", l.as_raw_fd()))
            .unwrap()
            .ino();
        let me = std::process::id();
        // pid 0 never exists in /proc: counted as gone.
        let scan = socket_owners(&HashSet::from([ino, 1]), &[me, me, 0]);
        assert_eq!(scan.owners.get(&ino), Some(&vec![me]));
        assert_eq!(scan.owners.get(&1), None);
        assert_eq!((scan.pids_read, scan.pids_gone), (1, 1));
        assert_eq!(socket_owners(&HashSet::new(), &[me]), OwnerScan::default());
    }
}
