//! Foundation: nstrace's events for real util-linux workloads, checked
//! against /proc as read by the test. Needs root and the real kernel.

use std::process::{Command, Stdio};

use nstrace_tests::*;

const HELPER: &str = env!("CARGO_BIN_EXE_nstrace-test-helper");

fn ns(v: &Value, set: &str, name: &str) -> u64 {
    v[set][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {set}.{name} in {v}"))
}

/// `unshare -n -u true`: one unshare event with exactly NEWNET|NEWUTS, the
/// "before" set equal to ours (read from /proc/self/ns) and only net and uts changed.
#[test]
fn unshare_net_uts_true() {
    let _g = shared();
    let t = Tracer::start(&[]);
    let child = Command::new("unshare")
        .args(["-n", "-u", "true"])
        .spawn()
        .unwrap();
    let pid = child.id() as u64;
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    let ev = t.wait_for("unshare", |v| v["kind"] == "unshare" && v["pid"] == pid);
    assert_eq!(strings(&ev, "flag_names"), ["CLONE_NEWNET", "CLONE_NEWUTS"]);
    assert_eq!(ev["ret"], 0);
    for name in ["mnt", "uts", "ipc", "pid", "net", "user", "cgroup", "time"] {
        assert_eq!(
            ns(&ev, "before", name),
            ns_inode("self", name),
            "before.{name}"
        );
    }
    assert_eq!(strings(&ev, "changed"), ["net", "uts"]);
    assert_ne!(ns(&ev, "ns", "net"), ns_inode("self", "net"));
    t.stop();
}

/// `unshare --net --uts --ipc --pid --fork --mount-proc`: the caller's new
/// namespaces equal /proc of the live unshare process, and its forked child
/// is pid 1 of the new pid namespace.
#[test]
fn unshare_fork_new_pid_namespace() {
    let _g = shared();
    let t = Tracer::start(&[]);
    let p = Proc::spawn(
        Command::new("unshare")
            .args([
                "--net",
                "--uts",
                "--ipc",
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                "sleep",
                "60",
            ])
            .stdout(Stdio::null()),
    );
    let pid = p.pid() as u64;
    let ev = t.wait_for("unshare", |v| v["kind"] == "unshare" && v["pid"] == pid);
    assert_eq!(
        strings(&ev, "flag_names"),
        [
            "CLONE_NEWIPC",
            "CLONE_NEWNET",
            "CLONE_NEWNS",
            "CLONE_NEWPID",
            "CLONE_NEWUTS"
        ]
    );
    // Exactly the requested types changed; a pid unshare moves pid_for_children, not pid.
    assert_eq!(
        strings(&ev, "changed"),
        ["ipc", "mnt", "net", "pid_for_children", "uts"]
    );
    let me = pid.to_string();
    for name in [
        "mnt",
        "uts",
        "ipc",
        "net",
        "pid",
        "pid_for_children",
        "user",
    ] {
        assert_eq!(
            ns(&ev, "ns", name),
            ns_inode(&me, name),
            "after.{name} vs /proc/{me}/ns"
        );
    }
    let child = t.wait_for("fork into the new pid namespace", |v| {
        v["kind"] == "create" && v["creator_pid"] == pid && v["create"] == "fork"
    });
    assert_eq!(
        u(&child, "ns_pid"),
        1,
        "the forked child is pid 1 of its namespace"
    );
    assert_eq!(ns(&child, "ns", "pid"), ns_inode(&me, "pid_for_children"));
    assert_eq!(strings(&child, "changed"), ["pid"]);
    let kid = u(&child, "pid").to_string();
    eventually("child in /proc", || {
        std::fs::metadata(format!("/proc/{kid}")).ok()
    });
    assert_eq!(ns(&child, "ns", "net"), ns_inode(&kid, "net"));
    drop(p);
    t.stop();
}

/// `nsenter -t PID --net --uts` into a process the test started: setns
/// events of the nsenter process whose new inodes are the target's.
#[test]
fn nsenter_joins_target_namespaces() {
    let _g = shared();
    let target = Proc::spawn(Command::new("unshare").args(["--net", "--uts", "sleep", "60"]));
    let tp = target.pid().to_string();
    // Wait until the target has exec'd sleep in its new namespaces.
    eventually("target namespaces", || {
        (ns_inode(&tp, "net") != ns_inode("self", "net")
            && std::fs::read_to_string(format!("/proc/{tp}/comm"))
                .ok()?
                .trim()
                == "sleep")
            .then_some(())
    });
    let t = Tracer::start(&[]);
    let out = Command::new("nsenter")
        .args(["-t", &tp, "--net", "--uts", "true"])
        .spawn()
        .unwrap();
    let npid = out.id() as u64;
    assert_ok(&out.wait_with_output().unwrap());
    t.wait_for("setns", |v| v["kind"] == "setns" && v["pid"] == npid);
    let fin = t.stop();
    let joins: Vec<&Value> = fin
        .events
        .iter()
        .filter(|v| v["kind"] == "setns" && v["pid"] == npid)
        .collect();
    assert_eq!(joins.len(), 2, "one setns per namespace type: {joins:?}");
    let mut types: Vec<String> = joins
        .iter()
        .flat_map(|v| strings(v, "flag_names"))
        .collect();
    types.sort();
    assert_eq!(types, ["CLONE_NEWNET", "CLONE_NEWUTS"]);
    let last = joins.last().unwrap();
    assert_eq!(ns(last, "ns", "net"), ns_inode(&tp, "net"));
    assert_eq!(ns(last, "ns", "uts"), ns_inode(&tp, "uts"));
    for j in &joins {
        assert_eq!(j["ret"], 0);
    }
}

/// clone(CLONE_NEWNET) from the helper: the create event carries the flag
/// and the child's new net inode, which the child itself read from /proc.
#[test]
fn clone_with_newnet() {
    let _g = shared();
    let t = Tracer::start(&[]);
    let out = Command::new(HELPER).arg("clone-newnet").output().unwrap();
    assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let child_line = text
        .lines()
        .find(|l| l.starts_with("child "))
        .expect("child line");
    let mut parts = child_line.split_whitespace();
    let _ = parts.next();
    let cpid: u64 = parts.next().unwrap().parse().unwrap();
    let link = parts.next().unwrap();
    let child_net: u64 = link
        .trim_start_matches("net:[")
        .trim_end_matches(']')
        .parse()
        .unwrap();
    let ev = t.wait_for("create", |v| v["kind"] == "create" && v["pid"] == cpid);
    assert_eq!(strings(&ev, "new_namespaces"), ["CLONE_NEWNET"]);
    assert_eq!(ns(&ev, "ns", "net"), child_net);
    assert_eq!(strings(&ev, "changed"), ["net"]);
    assert_eq!(ns(&ev, "creator_ns", "net"), ns_inode("self", "net"));
    t.stop();
}

/// A thread: marked as a thread, same process id, no namespace change.
#[test]
fn thread_creation_is_marked() {
    let _g = shared();
    let t = Tracer::start(&[]);
    let out = Command::new(HELPER).arg("thread").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let nums: Vec<u64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (ppid, tid) = (nums[0], nums[1]);
    let ev = t.wait_for("thread create", |v| {
        v["kind"] == "create" && v["tid"] == tid
    });
    assert_eq!(s(&ev, "create"), "thread");
    assert_eq!(u(&ev, "pid"), ppid);
    assert!(strings(&ev, "flags").contains(&"thread".to_string()));
    assert!(strings(&ev, "changed").is_empty());
    assert!(strings(&ev, "new_namespaces").is_empty());
    t.stop();
}

/// prctl(PR_SET_NAME): a rename event with the old and the new name, as /proc shows it after.
#[test]
fn rename_by_prctl_is_an_event() {
    let _g = shared();
    let t = Tracer::start(&["--kind", "rename"]);
    let out = Command::new(HELPER)
        .args(["rename", "nst-renamed"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (pid, comm) = text.trim().split_once(' ').expect("pid and comm");
    let pid: u64 = pid.parse().unwrap();
    let ev = t.wait_for("rename", |v| v["kind"] == "rename" && v["pid"] == pid);
    assert_eq!(s(&ev, "comm"), "nstrace-test-he", "the old name (15 bytes)");
    assert_eq!(s(&ev, "new_comm"), comm, "what /proc/self/comm said after");
    assert_eq!(comm, "nst-renamed");
    t.stop();
}

/// Across 200 rounds of unshare and setns back (nsproxy objects freed and
/// reallocated, possibly at the same address), every event carries the
/// namespace /proc shows: any stale per-task state in the kernel (there was a
/// cache once) would show the previous one.
#[test]
fn namespaces_stay_exact_across_repeated_changes() {
    let _g = shared();
    let t = Tracer::start(&["--kind", "rename,unshare,setns"]);
    let out = Command::new(HELPER)
        .args(["ns-cycle", "200"])
        .output()
        .unwrap();
    assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let pid: u64 = lines.next().unwrap().parse().unwrap();
    let want: Vec<(String, u64)> = lines
        .map(|l| {
            let (name, ino) = l.split_once(' ').unwrap();
            (name.to_owned(), ino.parse().unwrap())
        })
        .collect();
    assert_eq!(want.len(), 400);
    let last = want.last().unwrap().0.clone();
    t.wait_for("the last rename", |v| {
        v["kind"] == "rename" && v["new_comm"] == last.as_str()
    });
    let done = t.stop();
    let renames: Vec<&Value> = done
        .events
        .iter()
        .filter(|v| v["kind"] == "rename" && v["pid"] == pid)
        .collect();
    assert_eq!(renames.len(), want.len(), "one rename event per prctl");
    for (ev, (name, ino)) in renames.iter().zip(&want) {
        assert_eq!(ev["new_comm"], name.as_str());
        assert_eq!(
            ns(ev, "ns", "uts"),
            *ino,
            "uts of the task when it became {name}: {ev}"
        );
    }
    // And each unshare/setns shows the before and after /proc agrees with.
    let changes: Vec<&Value> = done
        .events
        .iter()
        .filter(|v| (v["kind"] == "unshare" || v["kind"] == "setns") && v["pid"] == pid)
        .collect();
    assert_eq!(changes.len(), 400);
    for (ev, (name, ino)) in changes.iter().zip(&want) {
        assert_eq!(
            ns(ev, "ns", "uts"),
            *ino,
            "after the call that led to {name}: {ev}"
        );
    }
}

/// A uid change without exec (setresuid) shows in the very next event: uids
/// are read from the task's current credentials, never cached.
#[test]
fn uid_change_without_exec_is_seen() {
    let _g = shared();
    let t = Tracer::start(&["--kind", "rename"]);
    let out = Command::new(HELPER).arg("setuid-rename").output().unwrap();
    assert_ok(&out);
    let pid: u64 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let before = t.wait_for("rename before", |v| {
        v["pid"] == pid && v["new_comm"] == "before-uid"
    });
    let after = t.wait_for("rename after", |v| {
        v["pid"] == pid && v["new_comm"] == "after-uid"
    });
    assert_eq!(
        (before["uid"].as_u64(), before["euid"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        (after["uid"].as_u64(), after["euid"].as_u64()),
        (Some(65534), Some(65534)),
        "{after}"
    );
    t.stop();
}

/// The namespace set read in the kernel equals /proc's for a task two PID
/// namespaces down (pid 1 of the inner one, its own mnt, net, uts, ipc,
/// cgroup and time namespaces), before and after a uid change without exec.
/// The kernel reads every fact afresh (no per-task cache): a stale or wrong
/// read (the PID level, a namespace pointer, the cred) shows here.
#[test]
fn namespace_set_matches_proc_two_pid_namespaces_down_across_setuid() {
    let _g = shared();
    let t = Tracer::start(&["--kind", "rename"]);
    let out = Command::new("unshare")
        // The node's /proc stays mounted, so NSpid shows every level.
        .args(["--pid", "--fork", "unshare"])
        .args(["--pid", "--fork", "--mount", "--net", "--uts", "--ipc"])
        .args(["--cgroup", "--time", HELPER, "ns-report"])
        .output()
        .unwrap();
    assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (line, uid) in lines.iter().zip([0u64, 65534]) {
        let mut words = line.split_whitespace();
        let tag = words.next().unwrap();
        let nspid: Vec<u64> = words
            .next()
            .unwrap()
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(nspid.len(), 3, "level 2: NSpid {nspid:?}");
        let ev = t.wait_for(tag, |v| v["kind"] == "rename" && v["new_comm"] == tag);
        assert_eq!(u(&ev, "pid"), nspid[0], "node pid: {ev}");
        assert_eq!(u(&ev, "ns_pid"), *nspid.last().unwrap(), "own pid: {ev}");
        assert_eq!(*nspid.last().unwrap(), 1, "the helper is the inner init");
        assert_eq!((u(&ev, "uid"), u(&ev, "euid")), (uid, uid), "{ev}");
        for kv in words {
            let (name, ino) = kv.split_once('=').unwrap();
            if name == "uid" {
                assert_eq!(ino.parse::<u64>().unwrap(), uid, "{line}");
                continue;
            }
            assert_eq!(
                ns(&ev, "ns", name),
                ino.parse::<u64>().unwrap(),
                "{name} of {tag}: kernel {ev} vs /proc {line}"
            );
        }
        // Namespaces of its own, so an answer taken from the node (or the
        // level above) cannot pass.
        for name in ["pid", "net", "uts", "ipc", "cgroup", "time", "mnt"] {
            assert_ne!(ns(&ev, "ns", name), ns_inode("self", name), "{name}");
        }
    }
    t.stop();
}

/// A traced process cannot write to the operator's terminal: control
/// characters in a name it chose are escaped in the text output.
#[test]
fn text_output_escapes_control_characters_from_traced_processes() {
    let _g = shared();
    use std::io::{BufRead, BufReader, Read};
    require_root();
    let mut w = nstrace_tests::nstrace()
        .args(["watch", "--kind", "rename", "--duration", "20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(w.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("tracing") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "nstrace exited early"
        );
    }
    let evil = "\x1b[31mEV\x07\nFAKE";
    let out = Command::new(HELPER)
        .args(["rename", evil])
        .output()
        .unwrap();
    assert_ok(&out);
    // SAFETY: signalling the tracer this test started.
    unsafe { libc::kill(w.id() as i32, libc::SIGINT) };
    let mut text = String::new();
    w.stdout.take().unwrap().read_to_string(&mut text).unwrap();
    assert!(w.wait().unwrap().success());
    // Other tests' processes may rename themselves meanwhile: ours is the one
    // whose new name holds the escaped bytes.
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" rename ") && l.contains("EV"))
        .collect();
    assert_eq!(ours.len(), 1, "one line for the rename: {text:?}");
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(ours[0].contains("\\x1b[31mEV\\x07\\nFAKE"), "{:?}", ours[0]);
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.as_bytes().get(2) == Some(&b':')),
        "every line is an event line starting with its time: {text:?}"
    );
}

/// kill -TERM to a child: generated and delivered with the default handler.
#[test]
fn sigterm_to_child_is_delivered() {
    let _g = shared();
    let t = Tracer::start(&[]);
    let mut p = Proc::spawn(Command::new("sleep").arg("60"));
    let pid = p.pid();
    // SAFETY: signalling the child this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    let _ = p.0.wait();
    let ev = t.wait_for("signal_generate", |v| {
        v["kind"] == "signal_generate" && v["target_pid"] == pid as u64 && v["signal"] == 15
    });
    assert_eq!(s(&ev, "result_name"), "delivered");
    assert_eq!(
        u(&ev, "pid"),
        std::process::id() as u64,
        "sender is this test"
    );
    let d = t.wait_for("signal_deliver", |v| {
        v["kind"] == "signal_deliver" && v["pid"] == pid as u64
    });
    assert_eq!(s(&d, "handler"), "default");
    let exit = t.wait_for("exit", |v| v["kind"] == "exit" && v["pid"] == pid as u64);
    assert_eq!(u(&exit, "signal"), 15);
    t.stop();
}

/// `unshare -p -f sh -c 'kill -TERM 1'`: the pid-namespace init has no
/// handler, so the kernel drops SIGTERM (result "ignored") and the shell survives.
#[test]
fn sigterm_to_pid_namespace_init_is_ignored() {
    let _g = shared();
    let t = Tracer::start(&[]);
    let out = Command::new("unshare")
        .args(["-p", "-f", "sh", "-c", "kill -TERM 1; echo survived"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("survived"));
    let ev = t.wait_for("signal_generate", |v| {
        v["kind"] == "signal_generate"
            && v["signal"] == 15
            && v["target_ns_pid"] == 1
            && v["comm"] == "sh"
    });
    assert_eq!(s(&ev, "result_name"), "ignored");
    assert_eq!(u(&ev, "result"), 1);
    assert_eq!(ev["target_pid"], ev["pid"], "the init signalled itself");
    t.stop();
}

/// Exit code 3 and the reap once the test (the parent) has waited.
#[test]
fn exit_code_and_reap() {
    let _g = shared();
    let t = Tracer::start(&[]);
    let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
    let pid = child.id() as u64;
    let ev = t.wait_for("exit", |v| v["kind"] == "exit" && v["pid"] == pid);
    assert_eq!(u(&ev, "status"), 3);
    assert_eq!(ev["group_dead"], true);
    // Not reaped while we have not waited.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !t.events()
            .iter()
            .any(|v| v["kind"] == "reap" && v["pid"] == pid),
        "reaped before the parent waited"
    );
    assert_eq!(child.wait().unwrap().code(), Some(3));
    let r = t.wait_for("reap", |v| v["kind"] == "reap" && v["pid"] == pid);
    assert_eq!(u(&r, "exit_code"), 3 << 8);
    t.wait_for("wait", |v| {
        v["kind"] == "wait" && v["pid"] == std::process::id() as u64
    });
    t.stop();
}

/// A 4K ring buffer, a stopped reader and a fork burst: the drops are counted
/// and reported at exit, not lost silently.
#[test]
fn tiny_ring_buffer_reports_drops() {
    let _g = shared();
    let t = Tracer::start(&["--ring-buffer-size", "4K"]);
    // Pause the reader (the tracer this test started) so the burst must overflow.
    // SAFETY: signalling our own tracer process.
    unsafe { libc::kill(t.pid() as i32, libc::SIGSTOP) };
    let out = Command::new(HELPER)
        .args(["burst", "500"])
        .output()
        .unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(t.pid() as i32, libc::SIGCONT) };
    assert_ok(&out);
    let fin = t.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    let line = fin
        .stderr
        .lines()
        .find(|l| l.contains("dropped"))
        .expect("counter line");
    let dropped: u64 = line
        .split("; ")
        .find(|part| part.contains(" dropped"))
        .and_then(|part| part.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no drop count in {line}"));
    assert!(dropped > 0, "{line}");
    assert!(line.contains("create="), "per-kind drops shown: {line}");
}

/// `--debug-probes` loads the programs with their aya-log calls switched on
/// (the verifier accepts them), traces as usual, and stops cleanly; a failed
/// kernel read would be a stderr line naming the field. (A failing read cannot
/// be provoked from outside the kernel, so only the path is tested here.)
#[test]
fn debug_probes_load_and_trace() {
    let _g = shared();
    let t = Tracer::start(&["--debug-probes"]);
    let child = Command::new("unshare")
        .args(["-u", "true"])
        .spawn()
        .unwrap();
    let pid = child.id() as u64;
    assert_ok(&child.wait_with_output().unwrap());
    t.wait_for("unshare", |v| v["kind"] == "unshare" && v["pid"] == pid);
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stderr.contains("0 failed kernel reads"),
        "{}",
        done.stderr
    );
}
