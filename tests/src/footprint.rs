//! What the harness's runtimes leave on the node outside their own
//! directories, recorded so that only that is cleaned and checked.
//!
//! The harness starts containerd (for CRI, and under dockerd) and dockerd with
//! every directory, socket, bridge and address pool of their own. A few paths
//! they still make at fixed places, whatever their config says (checked here,
//! DESIGN.md §5e, §5f):
//! * containerd's shims put their sockets in `/run/containerd/s/`;
//! * dockerd writes `/etc/docker/key.json`, makes `/run/docker/plugins` and
//!   the cgroup `/docker` of every hierarchy (the cgroupfs driver's parent);
//! * the kubelet's cgroups `/kubepods/…` are made by containerd for CRI pods.
//!
//! A machine with Docker or containerd installed has the same paths of its own
//! (a containerd run once with its defaults leaves `/run/containerd`,
//! `/var/lib/containerd`, `/opt/containerd`), so none of them is ever a
//! leftover by itself. Each harness records, before it starts a daemon, which
//! of [`candidates`] are absent ([`Footprint::take`]); what appears of those is
//! the run's and is removed when the last harness of the process stops (an
//! in-process count, so that a second harness never loses the first one's
//! sockets). The record is kept in the harness's directory too, so a sweep
//! after a killed run cleans with it. The suite's final check
//! (`nstrace-sweep --check`) compares with a record taken before the run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The fixed paths a harness runtime may make outside its own directories,
/// and the machine-wide defaults of containerd and dockerd, which a harness
/// never uses (their appearance would mean a harness daemon fell back to them).
pub fn candidates() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = [
        "/run/containerd",
        "/run/containerd/s",
        "/run/containerd/runc",
        "/opt/containerd",
        "/var/lib/containerd",
        "/etc/docker",
        "/etc/docker/key.json",
        "/run/docker",
        "/run/docker/plugins",
        "/run/docker.sock",
        "/run/docker.pid",
        "/var/lib/docker",
        "/root/.docker",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    for h in cgroup_hierarchies() {
        v.push(h.join("kubepods"));
        v.push(h.join("docker"));
    }
    v
}

/// The bridges a harness runtime could make outside its own names: dockerd's
/// default (never made: the harness gives dockerd its own bridge).
pub const CANDIDATE_LINKS: &[&str] = &["docker0"];

/// The cgroup hierarchies of this machine (v1 controllers and the v2 one).
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    let mut roots: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
        .collect();
    if Path::new("/sys/fs/cgroup/cgroup.procs").exists() {
        roots.push("/sys/fs/cgroup".into());
    }
    roots.sort();
    roots
}

/// Whether a network interface `name` exists.
pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// A record of which candidate paths (and links) were absent at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Paths absent then.
    pub paths: BTreeSet<PathBuf>,
    /// Links absent then.
    pub links: BTreeSet<String>,
}

impl Footprint {
    /// What of [`candidates`] and [`CANDIDATE_LINKS`] is absent now.
    pub fn now() -> Footprint {
        Footprint {
            paths: candidates().into_iter().filter(|p| !p.exists()).collect(),
            links: CANDIDATE_LINKS
                .iter()
                .filter(|l| !link_exists(l))
                .map(|l| l.to_string())
                .collect(),
        }
    }

    /// The record as text: one `path P` or `link L` a line.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for p in &self.paths {
            s.push_str(&format!("path {}\n", p.display()));
        }
        for l in &self.links {
            s.push_str(&format!("link {l}\n"));
        }
        s
    }

    /// Reads what [`Footprint::to_text`] wrote (unknown lines are an error).
    pub fn from_text(text: &str) -> Result<Footprint, String> {
        let mut f = Footprint::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match line.split_once(' ') {
                Some(("path", p)) if p.starts_with('/') => {
                    f.paths.insert(PathBuf::from(p));
                }
                Some(("link", l)) if !l.is_empty() && !l.contains('/') => {
                    f.links.insert(l.to_owned());
                }
                _ => return Err(format!("not a footprint line: {line:?}")),
            }
        }
        Ok(f)
    }

    /// Reads a record file.
    pub fn load(path: &Path) -> Result<Footprint, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Footprint::from_text(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes the record file.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, self.to_text()).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// What was absent in this record and exists now: the run's.
    pub fn appeared(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .paths
            .iter()
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        out.extend(
            self.links
                .iter()
                .filter(|l| link_exists(l))
                .map(|l| format!("link {l}")),
        );
        out
    }

    /// Removes what appeared (deepest first): a cgroup directory with its
    /// empty children, a file, a directory tree with what is mounted in it
    /// (unless a live socket in it says a daemon still uses it), a link.
    /// Returns what could not be removed.
    pub fn clean(&self) -> Vec<String> {
        let mut left = Vec::new();
        let mut paths: Vec<&PathBuf> = self.paths.iter().filter(|p| p.exists()).collect();
        paths.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for p in paths {
            if !p.exists() {
                continue;
            }
            if let Err(e) = remove_path(p) {
                left.push(format!("{}: {e}", p.display()));
            }
        }
        for l in self.links.iter().filter(|l| link_exists(l)) {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", l])
                .status();
            if link_exists(l) {
                left.push(format!("link {l}"));
            }
        }
        left
    }
}

fn remove_path(p: &Path) -> Result<(), String> {
    if p.starts_with("/sys/fs/cgroup") {
        return remove_cgroup(p);
    }
    let meta = std::fs::symlink_metadata(p).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return std::fs::remove_file(p).map_err(|e| e.to_string());
    }
    if let Some(s) = live_socket_under(p) {
        return Err(format!("a daemon still serves {}", s.display()));
    }
    for m in crate::daemon::mounts_under(&[&p.display().to_string()]) {
        let c = std::ffi::CString::new(m).unwrap();
        // SAFETY: unmounting inside a directory the harness's runtimes made.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    std::fs::remove_dir_all(p).map_err(|e| e.to_string())
}

/// A cgroup directory and its child directories, bottom-up (rmdir only: a
/// cgroup with processes stays, and says so).
fn remove_cgroup(p: &Path) -> Result<(), String> {
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&e.path())?;
            }
        }
    }
    std::fs::remove_dir(p).map_err(|e| e.to_string())
}

/// A unix socket under `dir` that accepts a connection.
fn live_socket_under(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let rd = std::fs::read_dir(dir).ok()?;
    for e in rd.flatten() {
        let t = e.file_type().ok()?;
        if t.is_socket() && std::os::unix::net::UnixStream::connect(e.path()).is_ok() {
            return Some(e.path());
        }
        if t.is_dir() {
            if let Some(s) = live_socket_under(&e.path()) {
                return Some(s);
            }
        }
    }
    None
}

/// The harnesses of this process that run, and what the first of them found
/// absent (and those after it, while one ran).
static LIVE: Mutex<(usize, Footprint)> = Mutex::new((
    0,
    Footprint {
        paths: BTreeSet::new(),
        links: BTreeSet::new(),
    },
));

/// A harness daemon's claim on the fixed paths: taken before it starts
/// (recorded in `record`, a file of its own directory, for a sweep after a
/// killed run), released after it stopped. The last release of the process
/// removes what appeared.
pub struct Claim {
    released: bool,
}

impl Claim {
    /// Records what is absent now (merged with what harnesses already
    /// running in this process found absent) in `record`.
    pub fn take(record: &Path) -> Result<Claim, String> {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        let now = Footprint::now();
        if live.0 == 0 {
            live.1 = now;
        } else {
            // What an earlier harness of ours made is still ours.
            let mut both = live.1.clone();
            both.paths.extend(now.paths);
            both.links.extend(now.links);
            live.1 = both;
        }
        live.1.save(record)?;
        live.0 += 1;
        Ok(Claim { released: false })
    }

    /// Gives the claim back; the last one of the process removes what
    /// appeared of the record (returns what could not be removed).
    pub fn release(&mut self) -> Vec<String> {
        if self.released {
            return Vec::new();
        }
        self.released = true;
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.0 = live.0.saturating_sub(1);
        if live.0 == 0 {
            live.1.clean()
        } else {
            Vec::new()
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        for e in self.release() {
            eprintln!("nstrace-tests: left behind: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_refuse_other_lines() {
        let f = Footprint {
            paths: ["/run/containerd", "/sys/fs/cgroup/pids/docker"]
                .iter()
                .map(PathBuf::from)
                .collect(),
            links: ["docker0".to_owned()].into_iter().collect(),
        };
        assert_eq!(Footprint::from_text(&f.to_text()), Ok(f));
        for bad in ["path relative/x", "link a/b", "rm -rf /", "path", "link "] {
            assert!(Footprint::from_text(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_what_appeared_is_removed_and_a_served_directory_stays() {
        let base = std::env::temp_dir().join(format!("nstrace-footprint-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (ours, theirs, served) = (base.join("ours"), base.join("theirs"), base.join("served"));
        std::fs::create_dir_all(&theirs).unwrap();
        let f = Footprint {
            paths: [&ours, &base.join("never"), &served]
                .into_iter()
                .cloned()
                .collect(),
            links: BTreeSet::new(),
        };
        std::fs::create_dir_all(ours.join("s")).unwrap();
        std::fs::write(ours.join("s/x"), "").unwrap();
        std::fs::create_dir_all(&served).unwrap();
        let _l = std::os::unix::net::UnixListener::bind(served.join("d.sock")).unwrap();
        assert_eq!(
            f.appeared(),
            vec![ours.display().to_string(), served.display().to_string()]
        );
        let left = f.clean();
        assert!(!ours.exists(), "what appeared is removed");
        assert!(theirs.exists(), "what was there before stays");
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(left[0].contains("still serves"), "{left:?}");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
