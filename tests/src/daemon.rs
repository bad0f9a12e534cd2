//! What the harness's runtime daemons have in common: the two directories of
//! each daemon instance (a persistent one under `/var/tmp` for its config,
//! root and logs; a state one under `/run` for its sockets and task state),
//! containerd's config, starting a daemon in its own process group with its
//! pid written down, stopping it by that pid, and finding what a killed run
//! left (processes, shims, mounts, directories).
//!
//! Every instance has its own paths: nothing is shared with a containerd or
//! dockerd of the machine (`/run/containerd`, `/var/lib/docker`, their
//! sockets), so the harness runs beside them. What the daemons still make at
//! fixed places is recorded by [`crate::footprint`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `pid` is alive and its command line mentions `needle`.
pub fn cmdline_has(pid: u32, needle: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).contains(needle))
        .unwrap_or(false)
}

/// Every pid on the node.
pub fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Mount points under any of `dirs` (deepest first), from /proc/self/mountinfo.
pub fn mounts_under(dirs: &[&str]) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| {
            dirs.iter()
                .any(|d| *m == *d || m.starts_with(&format!("{}/", d.trim_end_matches('/'))))
        })
        .map(str::to_owned)
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.len()));
    out.dedup();
    out
}

/// Mount points whose path starts with `prefix` (a harness directory prefix).
pub fn mounts_with_prefix(prefix: &str) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.len()));
    out.dedup();
    out
}

/// Unmounts (lazily) every mount under `dirs`; returns those that stayed.
pub fn unmount_under(dirs: &[&str]) -> Vec<String> {
    let mut left = Vec::new();
    for m in mounts_under(dirs) {
        let c = std::ffi::CString::new(m.clone()).unwrap();
        // SAFETY: unmounting under a directory this harness owns.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            left.push(format!("mount {m}"));
        }
    }
    left
}

/// The harness directories with `prefix` (`/var/tmp/nstrace-cri-`…) that exist.
pub fn dirs_with_prefix(prefix: &str) -> Vec<PathBuf> {
    let (parent, _) = prefix.rsplit_once('/').expect("an absolute prefix");
    std::fs::read_dir(parent)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the test process whose pid is in harness path `path` (after
/// `prefix`: `<pid>-<n>`) still runs: then its harnesses are its own to stop,
/// not a killed run's leftovers. This process counts as running.
pub fn owner_alive(path: &Path, prefix: &str) -> bool {
    let pid = path
        .to_string_lossy()
        .strip_prefix(prefix)
        .and_then(|t| t.split('-').next().map(str::to_owned))
        .and_then(|p| p.parse::<u32>().ok());
    match pid {
        Some(pid) if pid == std::process::id() => true,
        // A reused pid is not the test process: that one runs a test binary.
        Some(pid) => std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| {
            let name = e.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.starts_with("integration-") || n.starts_with("nstrace_tests-"))
        }),
        None => false,
    }
}

/// Unmounts what is mounted under `dir` and removes it.
pub fn remove_tree(dir: &Path) -> Vec<String> {
    let mut left = unmount_under(&[&dir.display().to_string()]);
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            left.push(format!("{}: {e}", dir.display()));
        }
    }
    left
}

/// The two directories of one daemon instance: `<var_prefix><pid>-<n>` and
/// `<run_prefix><pid>-<n>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirs {
    /// Config, root, logs, the pid files and the footprint record.
    pub dir: PathBuf,
    /// Sockets and task state (tmpfs, as a node's /run).
    pub run: PathBuf,
}

impl Dirs {
    /// A new instance's directories (not made yet).
    pub fn new(var_prefix: &str, run_prefix: &str) -> Dirs {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{}-{n}", std::process::id());
        Dirs {
            dir: PathBuf::from(format!("{var_prefix}{tag}")),
            run: PathBuf::from(format!("{run_prefix}{tag}")),
        }
    }

    /// The directories of the instance whose persistent directory is `dir`.
    pub fn of(dir: &Path, var_prefix: &str, run_prefix: &str) -> Dirs {
        let tag = dir
            .to_string_lossy()
            .strip_prefix(var_prefix)
            .unwrap_or_default()
            .to_owned();
        Dirs {
            dir: dir.to_owned(),
            run: PathBuf::from(format!("{run_prefix}{tag}")),
        }
    }

    /// The pid written in `<dir>/<name>.pid`, if that process still runs with
    /// this instance's directory in its command line.
    pub fn running(&self, name: &str) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.dir.join(format!("{name}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let mine = cmdline_has(pid, &self.dir.display().to_string())
            || cmdline_has(pid, &self.run.display().to_string());
        mine.then_some(pid)
    }

    /// Unmounts what is mounted under both directories and removes them.
    pub fn remove(&self) -> Vec<String> {
        let mut left = remove_tree(&self.run);
        left.extend(remove_tree(&self.dir));
        left
    }
}

/// Starts `cmd` in its own process group (a Ctrl-C of the test run does not
/// stop it half-way: the harness, or the sweep, stops it and what it made),
/// its output appended to `<dir>/<name>.log` and its pid written to
/// `<dir>/<name>.pid`.
pub fn spawn_logged(mut cmd: Command, dir: &Path, name: &str) -> Result<Child, String> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .map_err(|e| format!("{name}.log: {e}"))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting {name}: {e} (run `cargo xtask setup`)"))?;
    std::fs::write(dir.join(format!("{name}.pid")), child.id().to_string())
        .map_err(|e| e.to_string())?;
    Ok(child)
}

/// The last lines of `<dir>/<name>.log`, for an error message.
pub fn log_tail(dir: &Path, name: &str, lines: usize) -> Vec<String> {
    let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
    let mut tail: Vec<String> = log.lines().rev().take(lines).map(str::to_owned).collect();
    tail.reverse();
    tail
}

/// SIGTERM to a child the harness started, SIGKILL after `grace`.
pub fn stop_child(mut child: Child, what: &str, grace: Duration) -> Result<(), String> {
    // SAFETY: signalling a daemon this harness started (its own pid).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t = Instant::now();
    while t.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("{what} ignored SIGTERM for {grace:?}: killed"))
}

/// SIGTERM to a daemon a killed run left (found by [`Dirs::running`], so
/// checked to be this instance's), SIGKILL after `grace`.
pub fn stop_pid(pid: u32, dirs: &Dirs, name: &str, grace: Duration) {
    // SAFETY: the harness daemon of this instance (checked by its cmdline).
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let t = Instant::now();
    while dirs.running(name) == Some(pid) && t.elapsed() < grace {
        std::thread::sleep(Duration::from_millis(20));
    }
    if dirs.running(name) == Some(pid) {
        // SAFETY: as above.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}

/// containerd's config for an instance: its own root, state, sockets, runc
/// root and `opt` directory, so nothing of it lands in the node's
/// `/run/containerd`, `/var/lib/containerd` or `/opt/containerd` (only the
/// shims' sockets, `/run/containerd/s/`, are at a fixed place). With `cri`,
/// the CRI plugin set up the kubelet's way (DESIGN.md §5e); without it (under
/// dockerd) the plugin is off.
pub fn containerd_toml(dirs: &Dirs, cri: Option<&CriSettings>) -> String {
    let d = dirs.dir.display();
    let r = dirs.run.display();
    let mut disabled = vec![
        "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.zfs",
        "io.containerd.snapshotter.v1.aufs",
        "io.containerd.snapshotter.v1.devmapper",
        "io.containerd.tracing.processor.v1.otlp",
        "io.containerd.internal.v1.tracing",
    ];
    if cri.is_none() {
        disabled.push("io.containerd.grpc.v1.cri");
    }
    let disabled: Vec<String> = disabled.iter().map(|p| format!("{p:?}")).collect();
    let mut toml = format!(
        r#"# Written by nstrace's test harness (tests/src/daemon.rs); removed with the run.
version = 2
root = "{d}/root"
state = "{r}/state"
# Plugins a test never uses: less to start, nothing written elsewhere.
disabled_plugins = [{}]

[grpc]
  address = "{r}/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  # Instead of /opt/containerd.
  path = "{d}/opt"

[plugins."io.containerd.runtime.v1.linux"]
  # (unused; its state would go to the node's /run/containerd/runc otherwise)
  runtime_root = "{r}/runc-v1"
"#,
        disabled.join(", ")
    );
    if let Some(c) = cri {
        toml.push_str(&format!(
            r#"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  # Root here lacks CAP_SYS_RESOURCE: without this RunPodSandbox fails
  # ("can't get final child's PID from pipe: EOF"), DESIGN.md §5e.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        # Instead of the node's /run/containerd/runc.
        Root = "{r}/runc"
"#,
            pause = c.pause_image
        ));
    }
    toml
}

/// What the CRI plugin's config needs from the CRI harness.
pub struct CriSettings {
    /// The sandbox (pause) image.
    pub pause_image: &'static str,
}

/// The containerd shims serving the containerd at `socket` (their command
/// line names it: `containerd-shim-runc-v2 -namespace NS -id ID -address SOCKET`).
pub fn shims_of(socket: &Path) -> Vec<(u32, String)> {
    let socket = socket.display().to_string();
    all_pids()
        .into_iter()
        .filter_map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = cmd
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let is_shim = args.first().is_some_and(|a| a.contains("containerd-shim"));
            let ours = args
                .windows(2)
                .any(|w| w[0] == "-address" && w[1] == socket);
            let id = args
                .windows(2)
                .find(|w| w[0] == "-id")
                .map(|w| w[1].clone());
            (is_shim && ours).then(|| (pid, id.unwrap_or_default()))
        })
        .collect()
}

/// Shims whose bundles are in containerd state directory `state` (every
/// namespace) and that serve the containerd at `socket`, killed with their
/// containers' processes (a bundle's `init.pid`, when its cgroup names the
/// container); their sockets (the bundle's `address`, under
/// `/run/containerd/s/`) are removed after them. Returns what was killed.
pub fn kill_shims(state: &Path, socket: &Path) -> Vec<String> {
    let mut killed = Vec::new();
    let mut addresses = Vec::new();
    if let Ok(namespaces) = std::fs::read_dir(state.join("io.containerd.runtime.v2.task")) {
        for ns in namespaces.flatten() {
            let Ok(rd) = std::fs::read_dir(ns.path()) else {
                continue;
            };
            for e in rd.flatten() {
                let read = |f: &str| std::fs::read_to_string(e.path().join(f)).unwrap_or_default();
                let id = e.file_name().to_string_lossy().into_owned();
                if let Ok(pid) = read("init.pid").trim().parse::<u32>() {
                    let cg =
                        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
                    if !id.is_empty() && cg.contains(&id) {
                        // SAFETY: a container process of this harness's containerd.
                        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                        killed.push(format!("container {}", &id[..12.min(id.len())]));
                    }
                }
                if let Some(path) = read("address").trim().strip_prefix("unix://") {
                    addresses.push(path.to_owned());
                }
            }
        }
    }
    for (pid, _) in shims_of(socket) {
        // SAFETY: a shim of this harness's containerd (its command line names its socket).
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        killed.push(format!("shim {pid}"));
        let t = Instant::now();
        while std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            && cmdline_has(pid, "containerd-shim")
            && t.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // The shims' own sockets, at the fixed place; gone when they exited cleanly.
    for path in addresses {
        if path.starts_with("/run/containerd/s/") {
            let _ = std::fs::remove_file(path);
        }
    }
    killed
}

/// Processes of the harness still alive: daemons and shims whose command
/// line names a harness directory (any of `prefixes`).
pub fn harness_processes(prefixes: &[&str]) -> Vec<String> {
    all_pids()
        .into_iter()
        .filter(|&pid| pid != std::process::id())
        .filter(|&pid| prefixes.iter().any(|p| cmdline_has(pid, p)))
        .map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            format!("process {pid} ({})", cmd.trim())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_directories_pair_up() {
        let d = Dirs::new("/var/tmp/nstrace-x-", "/run/nstrace-x-");
        let tag = d.dir.to_string_lossy()["/var/tmp/nstrace-x-".len()..].to_owned();
        assert!(tag.starts_with(&format!("{}-", std::process::id())));
        assert_eq!(d.run, PathBuf::from(format!("/run/nstrace-x-{tag}")));
        assert_eq!(
            Dirs::of(&d.dir, "/var/tmp/nstrace-x-", "/run/nstrace-x-"),
            d
        );
    }

    #[test]
    fn containerd_configs_keep_every_path_in_the_instance() {
        let d = Dirs {
            dir: "/var/tmp/nstrace-cri-1-0".into(),
            run: "/run/nstrace-cri-1-0".into(),
        };
        for cri in [
            None,
            Some(&CriSettings {
                pause_image: "localhost/p:latest",
            }),
        ] {
            let t = containerd_toml(&d, cri);
            for line in t.lines().filter(|l| l.contains("= \"/")) {
                assert!(
                    line.contains("/var/tmp/nstrace-cri-1-0/")
                        || line.contains("/run/nstrace-cri-1-0/")
                        || line.contains("\"/usr/lib/cni\""),
                    "a path outside the instance: {line}"
                );
            }
            let disabled = t
                .lines()
                .find(|l| l.starts_with("disabled_plugins"))
                .unwrap();
            assert_eq!(
                disabled.contains("\"io.containerd.grpc.v1.cri\""),
                cri.is_none(),
                "{disabled}"
            );
            assert_eq!(t.contains("sandbox_image"), cri.is_some());
        }
    }
}
