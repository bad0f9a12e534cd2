//! The kernel suite: what must hold on every kernel nstrace claims, checked
//! against what that kernel's own /proc and cgroup files say. It runs here on
//! the host's kernel with the rest of the suite, and inside each guest of
//! `cargo xtask vmtest` (Debian's 6.1 and 6.12 with cgroup v2; on 5.10 only
//! the refusal test runs). Needs only a kernel and util-linux: no pods.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nstrace_tests::*;

/// `uname -r` as (major, minor).
fn kernel_version() -> (u32, u32) {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut it = r.trim().split(|c: char| !c.is_ascii_digit());
    let major = it.next().and_then(|s| s.parse().ok()).unwrap();
    let minor = it.next().and_then(|s| s.parse().ok()).unwrap();
    (major, minor)
}

/// nstrace starts on a kernel it supports, and on an older one (5.10) says in
/// exactly one line that the kernel is too old and which it needs, exit 1.
#[test]
fn the_kernel_is_taken_or_refused_in_one_line() {
    let _g = shared();
    require_root();
    let out = nstrace_tests::nstrace()
        .args(["watch", "--duration", "1s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if kernel_version() < (5, 11) {
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(err.starts_with("nstrace: error: kernel "), "{err}");
        assert!(
            err.contains("too old") && err.contains("5.11 or newer"),
            "{err}"
        );
    } else {
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("22 programs attached"), "{err}");
    }
}

/// Every program is in the kernel's own list (bpf(2)) while nstrace runs, and
/// none is left once it has stopped.
#[test]
fn every_program_attaches_and_none_outlives_nstrace() {
    let _g = shared();
    let mark = bpf::last_program_id();
    let t = Tracer::start(&[]);
    let loaded: BTreeSet<String> = bpf::nstrace_programs_since(mark)
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    let want: BTreeSet<String> = bpf::NSTRACE_PROGRAMS
        .iter()
        .map(|p| p[..p.len().min(15)].to_owned())
        .collect();
    assert_eq!(loaded, want);
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    eventually("nstrace's programs gone", || {
        bpf::nstrace_programs_since(mark).is_empty().then_some(())
    });
}

/// `unshare` of each namespace type, one at a time: one event with exactly
/// that flag, and the namespace the kernel reported equals /proc of the same
/// process after it. PID and time namespaces are for children: the call
/// moves the caller's pid_for_children (which /proc shows once a child
/// exists) and its time_for_children (not in the event), so both are checked
/// on the forked child, which lives in the new namespace.
#[test]
fn unshare_of_each_namespace_type() {
    let _g = shared();
    let t = Tracer::start(&[]);
    for (opt, flag, name) in [
        ("--mount", "CLONE_NEWNS", "mnt"),
        ("--uts", "CLONE_NEWUTS", "uts"),
        ("--ipc", "CLONE_NEWIPC", "ipc"),
        ("--net", "CLONE_NEWNET", "net"),
        ("--pid", "CLONE_NEWPID", "pid_for_children"),
        ("--user", "CLONE_NEWUSER", "user"),
        ("--cgroup", "CLONE_NEWCGROUP", "cgroup"),
        ("--time", "CLONE_NEWTIME", "time"),
    ] {
        let fork = name == "pid_for_children" || name == "time";
        let p = Proc::spawn(
            Command::new("unshare")
                .arg(opt)
                .args(fork.then_some("--fork"))
                .args(["sleep", "30"])
                .stdout(Stdio::null()),
        );
        let pid = p.pid() as u64;
        let me = pid.to_string();
        let ev = t.wait_for(flag, |v| v["kind"] == "unshare" && v["pid"] == pid);
        assert_eq!(strings(&ev, "flag_names"), [flag], "{opt}");
        assert_eq!(ev["ret"], 0, "{opt}");
        match name {
            "time" => {
                assert!(strings(&ev, "changed").is_empty(), "{ev}");
                let child = t.wait_for("the forked child", |v| {
                    v["kind"] == "create" && v["creator_pid"] == pid
                });
                let kid = u(&child, "pid").to_string();
                let new = ns_inode(&me, "time_for_children");
                assert_ne!(new, ns_inode("self", "time"));
                assert_eq!(u(&child["ns"], "time"), new);
                assert_eq!(ns_inode(&kid, "time"), new);
                assert_eq!(strings(&child, "changed"), ["time"]);
            }
            "pid_for_children" => {
                assert_eq!(strings(&ev, "changed"), [name], "{opt}");
                let new = u(&ev["ns"], name);
                let child = t.wait_for("the forked init", |v| {
                    v["kind"] == "create" && v["creator_pid"] == pid
                });
                let kid = u(&child, "pid").to_string();
                assert_eq!(u(&child, "ns_pid"), 1);
                assert_eq!(u(&child["ns"], "pid"), new);
                assert_eq!(ns_inode(&kid, "pid"), new);
                assert_eq!(ns_inode(&me, "pid_for_children"), new);
                assert_ne!(new, ns_inode("self", "pid"));
            }
            _ => {
                assert_eq!(strings(&ev, "changed"), [name], "{opt}");
                assert_eq!(u(&ev["ns"], name), ns_inode(&me, name), "{opt}");
                assert_ne!(u(&ev["ns"], name), ns_inode("self", name), "{opt}");
                let exec = t.wait_for("exec of sleep", |v| {
                    v["kind"] == "exec" && v["pid"] == pid && v["comm"] == "sleep"
                });
                assert_eq!(u(&exec["ns"], name), ns_inode(&me, name), "{opt} at exec");
            }
        }
        drop(p);
    }
    t.stop();
}

/// A process five PID namespaces down (levels 0..=3 are read with direct
/// loads, deeper ones with helper reads): its pid there and its namespace
/// equal its `/proc/PID/status` NSpid and `/proc/PID/ns/pid`.
#[test]
fn a_process_five_pid_namespaces_down_is_read_right() {
    let _g = shared();
    let t = Tracer::start(&[]);
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork"]);
    for _ in 0..4 {
        cmd.args(["unshare", "--pid", "--fork"]);
    }
    let p = Proc::spawn(
        cmd.args(["sh", "-c", "exec sleep 30"])
            .stdout(Stdio::null()),
    );
    let nspid = |pid: &str| -> Vec<u64> {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .unwrap_or("")
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect()
    };
    // Down the chain of the test's own processes to the one five levels down.
    let deepest = eventually("the process five levels down", || {
        let mut pid = p.pid().to_string();
        loop {
            let kids = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
            match kids.split_whitespace().next() {
                Some(k) => pid = k.to_owned(),
                None => break,
            }
        }
        (nspid(&pid).len() == 6).then_some(pid)
    });
    let ev = t.wait_for("exec of the deepest sleep", |v| {
        v["kind"] == "exec" && v["comm"] == "sleep" && v["pid"] == deepest.parse::<u64>().unwrap()
    });
    let pid = deepest;
    let nspid = nspid(&pid);
    assert_eq!(nspid.len(), 6, "five levels below the node's: {nspid:?}");
    assert_eq!(u(&ev, "ns_pid"), *nspid.last().unwrap(), "{ev}");
    assert_eq!(u(&ev["ns"], "pid"), ns_inode(&pid, "pid"));
    assert_eq!(
        ev["flags"].as_array().map(Vec::len),
        Some(0),
        "no failed read: {ev}"
    );
    drop(p);
    t.stop();
}

/// `nsenter` into every namespace of a process the test made: one setns per
/// type, each landing in the target's namespace as /proc shows it.
#[test]
fn setns_into_each_namespace_of_another_process() {
    let _g = shared();
    let target = Proc::spawn(
        Command::new("unshare")
            .args([
                "--mount", "--uts", "--ipc", "--net", "--pid", "--fork", "--cgroup", "--time",
                "sleep", "60",
            ])
            .stdout(Stdio::null()),
    );
    // The forked sleep is the one inside every new namespace.
    let inner = first_child(target.pid(), "the forked child").to_string();
    let t = Tracer::start(&[]);
    let out = Command::new("nsenter")
        .args([
            "-t", &inner, "-m", "-u", "-i", "-n", "-p", "-C", "-T", "true",
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    let events = eventually("seven setns events", || {
        let e: Vec<Value> = t
            .events()
            .into_iter()
            .filter(|v| v["kind"] == "setns" && v["comm"] == "nsenter" && v["ret"] == 0)
            .collect();
        (e.len() >= 7).then_some(e)
    });
    let mut seen = BTreeSet::new();
    for ev in &events {
        for name in strings(ev, "changed") {
            // pid moves for children; the rest move the caller itself.
            let proc_name = if name == "pid_for_children" {
                "pid"
            } else {
                name.as_str()
            };
            assert_eq!(
                u(&ev["ns"], &name),
                ns_inode(&inner, proc_name),
                "setns {name}: {ev}"
            );
            seen.insert(name);
        }
    }
    for name in [
        "mnt",
        "uts",
        "ipc",
        "net",
        "pid_for_children",
        "cgroup",
        "time",
    ] {
        assert!(seen.contains(name), "no setns into {name}: {events:?}");
    }
    t.stop();
    drop(target);
}

/// The helper's clone(CLONE_NEWNET): a create event with the flag, and the
/// child's net namespace as it read it from its own /proc.
#[test]
fn clone_with_a_new_namespace_flag() {
    let _g = shared();
    let t = Tracer::start(&[]);
    let out = Command::new(env!("CARGO_BIN_EXE_nstrace-test-helper"))
        .arg("clone-newnet")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("child ")).unwrap();
    let mut it = line.split_whitespace().skip(1);
    let child: u64 = it.next().unwrap().parse().unwrap();
    let net: u64 = it
        .next()
        .and_then(|l| l.strip_prefix("net:["))
        .and_then(|l| l.strip_suffix(']'))
        .unwrap()
        .parse()
        .unwrap();
    let ev = t.wait_for("create", |v| v["kind"] == "create" && v["pid"] == child);
    assert_eq!(strings(&ev, "new_namespaces"), ["CLONE_NEWNET"], "{ev}");
    assert_eq!(u(&ev["ns"], "net"), net);
    assert_eq!(strings(&ev, "changed"), ["net"]);
    t.stop();
}

/// Three PID namespaces under one audit, recorded: a shell init that drops
/// SIGTERM, `sleep` as init leaving its orphan a zombie, and tini reaping the
/// same orphan. Each gets exactly the findings the host tests expect, and
/// `replay --audit` of the recording, with no flags (the recording keeps the
/// live run's detector settings), prints exactly what the live audit did.
#[test]
fn pid1_ignores_reaps_and_leaves_zombies_and_replay_agrees() {
    let _g = serial();
    let dir = TempDir::new("kernel-pid1");
    let record = dir.path().join("audit.nst");
    let flags = ["--zombie-after", "1s", "--predict-after", "1s"];
    let t = Tracer::command(
        &[
            "audit",
            "--format",
            "json",
            "--record",
            record.to_str().unwrap(),
        ],
        &flags,
    );
    let spawn = |init: &[&str]| {
        let p = Proc::spawn(
            Command::new("unshare")
                .args(["--pid", "--fork", "--mount", "--mount-proc"])
                .args(init)
                .stdout(Stdio::null()),
        );
        let init_pid = u64::from(first_child(p.pid(), "the namespace's init"));
        (p, init_pid)
    };
    // The subshell exits at once: its sleep is orphaned to PID 1.
    let orphaning = "(sleep 0.3 &); exec sleep 60";
    let (ignorer, ignorer_pid) = spawn(&["sh", "-c", "sleep 60; true"]);
    let (zombies, zombie_pid) = spawn(&["sh", "-c", orphaning]);
    let (reaper, reaper_pid) = spawn(&["tini", "-s", "--", "sh", "-c", orphaning]);
    // The shell has no handler: the kernel drops SIGTERM from outside.
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling the namespace init this test started.
    assert_eq!(unsafe { libc::kill(ignorer_pid as i32, libc::SIGTERM) }, 0);
    let kinds_of = |pid: u64| -> BTreeSet<String> {
        t.events()
            .iter()
            .filter(|v| v["finding"].is_string() && v["pid"] == pid && v["severity"] != "info")
            .map(|v| s(v, "finding").to_owned())
            .collect()
    };
    eventually("pid1_ignores_sigterm for the shell init", || {
        kinds_of(ignorer_pid)
            .contains("pid1_ignores_sigterm")
            .then_some(())
    });
    eventually("pid1_never_reaps for sleep as init", || {
        kinds_of(zombie_pid)
            .contains("pid1_never_reaps")
            .then_some(())
    });
    // The control: tini reaped its orphan (the tracer saw it) and was never judged.
    let status = std::fs::read_to_string(format!("/proc/{reaper_pid}/status")).unwrap();
    assert!(status.contains("tini"), "{status}");
    std::thread::sleep(Duration::from_secs(2));
    drop((ignorer, zombies, reaper));
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let live: Vec<Value> = done.events;
    let kinds = |pid: u64| -> BTreeSet<String> {
        live.iter()
            .filter(|v| v["finding"].is_string() && v["pid"] == pid && v["severity"] != "info")
            .map(|v| s(v, "finding").to_owned())
            .collect()
    };
    let set = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    // A shell with no trap is also predicted to drop SIGTERM before it is
    // sent, and (dash handles no SIGCHLD) not to reap what it is given.
    // Killed after the dropped SIGTERM: a slow shutdown too.
    let ignorer_kinds = kinds(ignorer_pid);
    assert!(
        ignorer_kinds.is_subset(&set(&[
            "pid1_ignores_sigterm",
            "pid1_will_ignore_sigterm",
            "pid1_not_reaping_capable",
            "slow_shutdown"
        ])) && ignorer_kinds.contains("pid1_ignores_sigterm"),
        "{ignorer_kinds:?}"
    );
    assert_eq!(
        kinds(zombie_pid),
        set(&[
            "pid1_never_reaps",
            "pid1_not_reaping_capable",
            "pid1_will_ignore_sigterm"
        ])
    );
    // The control looked: tini was judged and seen reaping its orphan.
    assert_judged(&live, reaper_pid);
    assert_seen_reaping(&live, reaper_pid);
    assert!(kinds(reaper_pid).is_empty(), "{:?}", kinds(reaper_pid));
    // No detector flags: the recording keeps the live run's.
    let replay = nstrace_tests::nstrace()
        .args([
            "replay",
            record.to_str().unwrap(),
            "--audit",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_ok(&replay);
    let replayed: Vec<Value> = String::from_utf8_lossy(&replay.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let findings = |evs: &[Value]| -> Vec<Value> {
        evs.iter()
            .filter(|v| v["finding"].is_string())
            .cloned()
            .collect()
    };
    assert_eq!(findings(&replayed), findings(&live));
}

/// A reaping init that gets no CPU while its orphan exits (frozen with
/// SIGSTOP for several zombie thresholds, as a starved one on a loaded
/// node) and reaps it once it runs again is not "never reaps".
#[test]
fn a_reaping_init_frozen_while_its_orphan_exits_is_not_never_reaps() {
    let _g = shared();
    let t = Tracer::audit(&["--zombie-after", "1s"]);
    let p = Proc::spawn(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount", "--mount-proc"])
            .args(["tini", "-s", "--", "sh", "-c", "(sleep 1 &); exec sleep 60"])
            .stdout(Stdio::null()),
    );
    let tini = u64::from(first_child(p.pid(), "tini as init"));
    // SAFETY: stopping and continuing the init this test started.
    assert_eq!(unsafe { libc::kill(tini as i32, libc::SIGSTOP) }, 0);
    // The orphan exits after 1 s; frozen, tini cannot reap it for 4 s more.
    std::thread::sleep(Duration::from_secs(5));
    let status = std::fs::read_to_string(format!("/proc/{tini}/status")).unwrap();
    assert!(status.contains("State:\tT"), "tini is stopped: {status}");
    assert_eq!(unsafe { libc::kill(tini as i32, libc::SIGCONT) }, 0);
    std::thread::sleep(Duration::from_secs(2));
    drop(p);
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    // The control looked: tini's orphan was followed to its reap by tini.
    assert_seen_reaping(&done.events, tini);
    let about_tini: Vec<&Value> = done
        .events
        .iter()
        .filter(|v| v["finding"].is_string() && v["pid"] == tini)
        .collect();
    assert!(
        !about_tini
            .iter()
            .any(|v| v["finding"] == "pid1_never_reaps"),
        "{about_tini:#?}"
    );
}

/// The reaping control above, seen in events: tini's orphan exits and tini
/// itself reaps it (the control is not clean because nothing was looked at).
#[test]
fn tini_as_init_reaps_an_orphan() {
    let _g = shared();
    let t = Tracer::start(&[]);
    let p = Proc::spawn(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount", "--mount-proc"])
            .args(["tini", "-s", "--", "sh", "-c", "(sleep 0.2 &); sleep 30"])
            .stdout(Stdio::null()),
    );
    let tini_pid = u64::from(first_child(p.pid(), "tini as init"));
    t.wait_for("tini's exec", |v| {
        v["kind"] == "exec" && v["comm"] == "tini" && v["pid"] == tini_pid && v["ns_pid"] == 1
    });
    let orphan = t.wait_for("the orphan's exit", |v| {
        v["kind"] == "exit" && v["comm"] == "sleep" && v["ppid"] == tini_pid
    });
    let reap = t.wait_for("the orphan's reap", |v| {
        v["kind"] == "reap" && v["pid"] == orphan["pid"]
    });
    assert_eq!(u(&reap, "ppid"), tini_pid, "reaped by tini: {reap}");
    drop(p);
    t.stop();
}

/// A cgroup v2 hierarchy: `/sys/fs/cgroup` on a v2 node, the `unified`
/// mount on a hybrid one (this project's host).
fn cgroup2_root() -> PathBuf {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    for p in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let c = std::ffi::CString::new(p).unwrap();
        // SAFETY: statfs into a zeroed struct this function owns.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0
            && st.f_type as i64 == CGROUP2_SUPER_MAGIC
        {
            return PathBuf::from(p);
        }
    }
    panic!("no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified");
}

/// cgroup directories this test made, removed deepest first on drop (after
/// their processes are gone).
struct Cgroups(Vec<PathBuf>);

impl Cgroups {
    fn make(&mut self, root: &Path, rel: &str) -> PathBuf {
        let mut p = root.to_path_buf();
        for seg in rel.split('/') {
            p.push(seg);
            if !p.exists() {
                std::fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
                self.0.push(p.clone());
            }
        }
        p
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            for _ in 0..100 {
                if std::fs::remove_dir(p).is_ok() || !p.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Starts `cmd` inside cgroup `dir` (it joins before it execs).
fn spawn_in(dir: &Path, cmd: &str) -> Proc {
    Proc::spawn(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo $$ > {}/cgroup.procs && exec {cmd}",
                dir.display()
            ))
            .stdout(Stdio::null()),
    )
}

/// Containers in cgroup v2 paths shaped as the kubelet's systemd driver and
/// the runtimes make them: a pod (`kubepods-besteffort-pod<uid>.slice`) with
/// a pause-like infra and an app in `cri-containerd-<id>.scope`s sharing its
/// net/ipc/uts, and a CRI-O container (`crio-<id>.scope`) in another pod. The
/// containers get their runtime ids and the pod its uid, both in a /proc
/// snapshot and when they start while nstrace traces.
#[test]
fn cgroup_v2_kubelet_layouts_name_containers_and_pods() {
    let _g = serial();
    let root = cgroup2_root();
    let uid = "0f5e7a2c-3b1d-4c8e-9a6f-1d2e3f4a5b6c";
    let uid2 = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
    let infra_id = "a1".repeat(32);
    let app_id = "b2".repeat(32);
    let crio_id = "c3".repeat(32);
    let slice = format!(
        "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice",
        uid.replace('-', "_")
    );
    let slice2 = format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
        uid2.replace('-', "_")
    );
    let mut cg = Cgroups(Vec::new());
    let infra_cg = cg.make(&root, &format!("{slice}/cri-containerd-{infra_id}.scope"));
    let app_cg = cg.make(&root, &format!("{slice}/cri-containerd-{app_id}.scope"));
    let crio_cg = cg.make(&root, &format!("{slice2}/crio-{crio_id}.scope"));

    // Traced from before the containers start; printed after --duration.
    let live = nstrace_tests::nstrace()
        .args(["topology", "--format", "json", "--duration", "8s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let live_pid = live.id();
    eventually("nstrace topology attached", || {
        // Its private tracefs mount shows once it has loaded.
        std::fs::read_to_string(format!("/proc/{live_pid}/mountinfo"))
            .ok()?
            .contains("tracefs")
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let ctr = "unshare --mount --pid --fork --mount-proc";
    let infra = spawn_in(
        &infra_cg,
        "unshare --net --ipc --uts --mount --pid --fork --mount-proc sleep 60",
    );
    let infra_pid = first_child(infra.pid(), "the infra's init");
    let app = spawn_in(
        &app_cg,
        &format!("nsenter -t {infra_pid} --net --ipc --uts {ctr} sleep 60"),
    );
    let crio = spawn_in(&crio_cg, &format!("{ctr} --net sleep 60"));
    let out = live.wait_with_output().unwrap();
    assert_ok(&out);
    let traced: Value = serde_json::from_slice(&out.stdout).expect("topology JSON");
    let snapshot = topology_json();
    for (how, t) in [("traced", &traced), ("snapshot", &snapshot)] {
        let pod = t["pods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == uid)
            .unwrap_or_else(|| panic!("{how}: no pod {uid} in {t}"));
        let ids: BTreeSet<&str> = pod["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            BTreeSet::from([infra_id.as_str(), app_id.as_str()]),
            "{how}: {pod}"
        );
        let all = t.to_string();
        assert!(all.contains(&crio_id), "{how}: the CRI-O container: {t}");
        let crio_pod = t["pods"]
            .as_array()
            .unwrap()
            .iter()
            .chain(t["lone_containers"].as_array().unwrap())
            .find(|p| p.to_string().contains(&crio_id))
            .unwrap();
        assert!(
            crio_pod["id"] == crio_id || crio_pod["id"] == uid2,
            "{how}: the CRI-O container is named by its id or its pod's uid: {crio_pod}"
        );
    }
    drop((app, crio, infra));
    drop(cg);
}

/// `node -e …` as the init of a PID namespace of its own (unshare), with or
/// without a `process.on('SIGTERM')` listener.
/// Returns once the script has run (it says "ready"): under TCG node takes
/// seconds to get there, and its own handler is in place long before.
fn node_init(listener: bool) -> (Proc, u32) {
    use std::io::BufRead;
    let js = if listener {
        "process.on('SIGTERM', () => process.exit(0)); console.log('ready'); setInterval(() => {}, 1000)"
    } else {
        "console.log('ready'); setInterval(() => {}, 1000)"
    };
    let mut p = Proc::spawn(
        Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", "/usr/bin/node", "-e", js])
            .stdout(Stdio::piped()),
    );
    let init = first_child(p.pid(), "node as a namespace's init");
    let mut line = String::new();
    std::io::BufReader::new(p.0.stdout.take().expect("piped"))
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "node did not run its script");
    (p, init)
}

/// The flags of SIGTERM's handler in a `sigstate` record.
fn term_flags(v: &Value) -> u64 {
    u(v, "sigterm_flags")
}

const SA_RESETHAND: u64 = 0x8000_0000;
const SA_RESTART: u64 = 0x1000_0000;

/// Live, from `rt_sigaction` as the kernel holds it: Node.js's own SIGTERM
/// handler is one-shot (SA_RESETHAND), the listener libuv installs for
/// `process.on('SIGTERM')` is not. /proc's SigCgt shows both as "caught".
#[test]
fn sigstate_tells_nodes_own_handler_from_a_listener() {
    let _g = shared();
    let t = Tracer::start(&["--kind", "sigstate"]);
    let (_bare, bare) = node_init(false);
    let (_listens, listens) = node_init(true);
    let last_term = |pid: u32| move |v: &Value| v["pid"] == pid && u(v, "caught") & (1 << 14) != 0;
    t.wait_for("node's own SIGTERM handler", |v| {
        last_term(bare)(v) && term_flags(v) & SA_RESETHAND != 0
    });
    t.wait_for("the listener's SIGTERM handler", |v| {
        last_term(listens)(v)
            && term_flags(v) & SA_RESETHAND == 0
            && term_flags(v) & SA_RESTART != 0
    });
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    // Only the inits are reported: the unshare parents (node's PID namespace) are not.
    let others: Vec<&Value> = done
        .events
        .iter()
        .filter(|v| v["kind"] == "sigstate" && u(v, "ns_pid") != 1 && v["subreaper"] != true)
        .collect();
    assert!(others.is_empty(), "{others:?}");
}

/// At start, from the task iterator: `audit --once` (which traces nothing)
/// predicts Node.js without a listener as certain (medium), from the flags
/// the kernel holds, and says nothing of the one with a listener.
#[test]
fn audit_once_reads_the_kernels_dispositions_at_start() {
    let _g = serial();
    require_root();
    let (_bare, bare) = node_init(false);
    let (_listens, listens) = node_init(true);
    wait_sigterm_handler(bare);
    wait_sigterm_handler(listens);
    let out = Command::new(nstrace_bin())
        .args([
            "audit",
            "--once",
            "--format",
            "json",
            "--predict-after",
            "1s",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("refused the task iterator"), "{err}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let about = |pid: u32| -> Vec<&Value> {
        lines
            .iter()
            .filter(|v| v["finding"] == "pid1_will_ignore_sigterm" && v["pid"] == pid)
            .collect()
    };
    let b = about(bare);
    assert_eq!(b.len(), 1, "{lines:?}");
    assert_eq!(b[0]["severity"], "medium", "{}", b[0]);
    let ev = b[0]["evidence"].to_string();
    assert!(ev.contains("SA_RESETHAND"), "{ev}");
    assert!(about(listens).is_empty(), "{lines:?}");
}
