//! Who entered which container, on real runtimes: `podman exec` with and
//! without a terminal (an audit, its recording replayed, a policy allowing
//! one); `docker exec` with and without one; CRI Exec with a terminal beside the kubelet's exec probe every 2 s
//! (the agent: sessions logged, probes counted and never logged); a debug
//! container in the target's PID namespace with SYS_PTRACE (CRI TARGET,
//! `podman --pid container:X`, `docker run --pid container:X`); `nsenter -t PID -a` from the node. Each also
//! asserts what must not be reported: no session for a container's own
//! start, none per probe, no empty namespace-creation line.

use std::process::Command;

use nstrace_tests::pod::{pod_yaml, Ctr, Node, Pod, Runtime, Spec};
use nstrace_tests::prometheus::{free_port, http_get};
use nstrace_tests::*;

/// The app's PID 1: tini (it handles SIGTERM and reaps, so the pod itself
/// gives no finding) over a sleep.
const SLEEPER: [&str; 4] = ["tini", "--", "sleep", "1000"];

/// The exec_session findings (of `done`) into container `id`.
fn sessions_into<'a>(events: &'a [Value], id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|v| v["finding"] == "exec_session" && v["session"]["container"]["container"] == id)
        .collect()
}

/// `sh -c script` exec'd into `app` without a terminal, then `id` with one,
/// under the audit `t`: the audit's end and the two sessions into `app` it
/// found (without, with a terminal), checked to be the only two. The session
/// without a terminal could be a probe run: it is said once it is known not
/// to be one, at the end of the audit.
fn two_sessions(t: Tracer, pod: &Pod, app: &Ctr, script: &str) -> (Finished, Value, Value) {
    wait_has_child(app.pid);
    let (ok, out, err) = pod.exec(app, &["/bin/sh", "-c", script]);
    assert!(ok && out.contains("uid=0"), "{out} {err}");
    let out = pod.exec_tty(app, &["id"], b"");
    assert!(out.contains("uid=0"), "{out}");
    let tty = t.wait_for("the session with a terminal", |v| {
        v["finding"] == "exec_session" && v["session"]["tty"] == true
    });
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let found = sessions_into(&done.events, &app.id);
    assert_eq!(found.len(), 2, "two sessions, no more: {found:#?}");
    assert_eq!(found.iter().filter(|v| *v == &&tty).count(), 1);
    let plain = found
        .iter()
        .find(|v| v["session"]["tty"] == false)
        .map(|v| (*v).clone())
        .expect("the session without a terminal");
    (done, plain, tty)
}

fn argv(v: &Value) -> Vec<String> {
    v["session"]["argv"]
        .as_array()
        .unwrap_or_else(|| panic!("no argv in {v}"))
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// Nothing like the old "created new  namespace(s)": every unshare or clone
/// join names at least one namespace it made.
fn assert_no_empty_creation(events: &[Value]) {
    for v in events.iter().filter(|v| v["finding"].is_string()) {
        let a = &v["join"]["action"];
        if a == "unshare" || a == "clone" {
            assert!(
                !v["join"]["targets"].as_array().unwrap().is_empty(),
                "a creation of nothing: {v}"
            );
        }
    }
}

/// A pod `name` with one container `app` (tini and a sleep), on `node`.
fn sleeper_pod(node: &Node, name: &str, extra: &str) -> Pod {
    let app = Spec {
        name: "app",
        command: &SLEEPER,
        extra,
    };
    node.play(name, &pod_yaml(name, "", &[app], ""))
}

/// `podman exec` without and with `-t`: two sessions naming the container,
/// podman (runc under conmon), the command, uid and capabilities, the
/// terminal, the processes and the duration; none for the container's own
/// start. The recording replays to the same findings; a policy rule allows
/// one of them by its command.
#[test]
fn podman_exec_with_and_without_a_terminal() {
    let _g = serial();
    let dir = TempDir::new("sessions");
    let record = dir.path().join("audit.nst");
    let policy = dir.path().join("allow.toml");
    std::fs::write(
        &policy,
        "[[allow]]\nname = \"id checks\"\nfinding = [\"exec_session\"]\ncontainer = \"app\"\ncommand = \"id\"\n",
    )
    .unwrap();
    let node = Node::new(Runtime::Podman);
    let t = Tracer::audit(&[
        "--record",
        record.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    let pod = sleeper_pod(&node, "nst-exec", "");
    let app = pod.container("app");
    let script = "cat /proc/1/environ >/dev/null; id";
    let (done, plain, tty) = two_sessions(t, &pod, &app, script);
    for (v, want) in [(&plain, vec!["/bin/sh", "-c", script]), (&tty, vec!["id"])] {
        let s = &v["session"];
        assert_eq!(v["severity"], "low", "{v}");
        assert_eq!(v["pod"], "nst-exec", "{v}");
        assert_eq!(s["container"]["class"], "pod", "{v}");
        assert_eq!(argv(v), want, "{v}");
        assert_eq!(s["runtime"], "podman", "{v}");
        assert_eq!(s["entered_by"]["tool"], "runc", "{v}");
        assert_eq!(s["entered_by"]["place"]["class"], "node", "{v}");
        assert_eq!(s["callers"][0]["comm"], "conmon", "{v}");
        assert_eq!(s["uid"], 0, "{v}");
        // podman's default capabilities: no SYS_ADMIN, no SYS_PTRACE.
        let caps = s["cap_effective"].as_u64().unwrap();
        assert_ne!(caps, 0, "{v}");
        assert_eq!(caps & (1 << 21 | 1 << 19), 0, "{v}");
        let joined: Vec<&str> = s["joined"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["type"].as_str().unwrap())
            .collect();
        assert!(
            ["mnt", "pid", "net", "ipc", "uts"]
                .iter()
                .all(|t| joined.contains(t)),
            "{v}"
        );
        assert!(s["end_ts_ns"].as_u64().is_some(), "ended: {v}");
        assert!(s["duration_s"].as_f64().unwrap() > 0.0, "{v}");
        assert_eq!(s["exit_code"], 0, "{v}");
    }
    assert_eq!(tty["session"]["interactive"], true);
    assert_eq!(tty["allowed_by"], "id checks", "{tty}");
    assert_eq!(plain["allowed_by"], Value::Null, "{plain}");
    // The shell started cat (busybox runs `id` in-process).
    let procs = plain["session"]["processes"].as_array().unwrap();
    assert!(procs.iter().any(|p| p["comm"] == "cat"), "{plain}");
    // Not the container's own start: no session runs its command.
    assert!(
        !done.events.iter().any(|v| v["finding"] == "exec_session"
            && v["session"]["argv"] == serde_json::json!(SLEEPER)),
        "the container's start is no session"
    );
    assert_no_empty_creation(&done.events);
    // The runtime's joins are still there, routine (info, expected).
    assert!(done.events.iter().any(|v| v["finding"] == "namespace_join"
        && v["join"]["actor"]["comm"] == "runc:[1:CHILD]"
        && v["join"]["targets"][0]["place"]["container"] == app.id.as_str()));
    let summary = audit_summary(&done.events).expect("summary");
    assert_eq!(
        summary["summary"]["policy_hits"]["id checks"], 1,
        "{summary}"
    );

    // Replayed, the recording gives the same findings.
    let replay = Command::new(nstrace_bin())
        .args(["replay", "--audit", "--format", "json", "--policy"])
        .arg(&policy)
        .arg(&record)
        .output()
        .unwrap();
    assert_ok(&replay);
    let offline: Vec<Value> = String::from_utf8_lossy(&replay.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["finding"].is_string())
        .collect();
    let live: Vec<Value> = done
        .events
        .iter()
        .filter(|v| v["finding"].is_string())
        .cloned()
        .collect();
    assert_eq!(offline, live, "replay --audit differs from the live audit");
}

/// `docker exec` without and with `-it` into a Compose service: two
/// sessions naming the container and Docker (from its files: dockerd's
/// data root), the command as exec'd, the terminal and the duration; none
/// for the container's own start.
#[test]
fn docker_exec_with_and_without_a_terminal() {
    let _g = serial();
    let node = Node::new(Runtime::Docker);
    let t = Tracer::audit(&[]);
    let pod = sleeper_pod(&node, "nst-dexec", "");
    let app = pod.container("app");
    let (done, plain, tty) = two_sessions(t, &pod, &app, "id");
    for (v, want) in [(&plain, vec!["/bin/sh", "-c", "id"]), (&tty, vec!["id"])] {
        let s = &v["session"];
        assert_eq!(argv(v), want, "{v}");
        assert_eq!(s["runtime"], "docker", "{v}");
        assert_eq!(s["container"]["class"], "pod", "{v}");
        assert_eq!(s["entered_by"]["place"]["class"], "node", "{v}");
        assert_eq!(s["uid"], 0, "{v}");
        assert!(s["end_ts_ns"].as_u64().is_some(), "ended: {v}");
        assert_eq!(s["exit_code"], 0, "{v}");
    }
    assert!(
        !done.events.iter().any(|v| v["finding"] == "exec_session"
            && v["session"]["argv"] == serde_json::json!(SLEEPER)),
        "the container's start is no session"
    );
    assert_no_empty_creation(&done.events);
}

/// The agent on its own port (lock in `dir`), once `/healthz` answers.
fn agent(dir: &TempDir, extra: &[&str]) -> (Tracer, String) {
    let lock = dir.path().join("agent.lock");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["agent", "--listen", &listen, "--lock-file"];
    args.push(lock.to_str().unwrap());
    args.extend_from_slice(extra);
    let t = Tracer::command(&args, &[]);
    eventually("/healthz 200", || {
        http_get(&listen, "/healthz")
            .ok()
            .filter(|r| r.status == 200)
    });
    (t, listen)
}

/// The value of the series of `metrics` that starts with `series`.
fn metric(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// CRI: the kubelet's exec probe every 2 s (ExecSync) beside one `kubectl
/// exec -it` (CRI Exec with a terminal, an interactive shell). The agent,
/// quiet by default, logs that one session and never a probe run; the probe
/// runs are counted in `nstrace_exec_probes_total`, the session in
/// `nstrace_exec_sessions_total`, by pod, container and runtime.
#[test]
fn cri_exec_session_beside_an_exec_probe() {
    let _g = serial();
    let node = Node::new(Runtime::Containerd);
    let dir = TempDir::new("probe");
    let (t, listen) = agent(&dir, &[]);
    let probe = "    livenessProbe:\n      exec:\n        command: [\"cat\", \"/proc/1/stat\"]\n      periodSeconds: 2\n";
    let pod = sleeper_pod(&node, "nst-probed", probe);
    let app = pod.container("app");
    // Three runs make a probe; let a few more come.
    eventually("five probe runs", || {
        (pod.probe_runs("app") >= 5).then_some(())
    });
    let out = pod.exec_tty(&app, &["/bin/sh"], b"id\nexit\n");
    assert!(out.contains("uid=0"), "the shell ran id: {out:?}");
    eventually("eight probe runs", || {
        (pod.probe_runs("app") >= 8).then_some(())
    });
    let session = t.wait_for("the interactive session", |v| {
        v["finding"] == "exec_session" && v["session"]["argv"][0] == "/bin/sh"
    });
    let s = &session["session"];
    assert_eq!(session["severity"], "low");
    assert_eq!(session["pod"], "nst-probed");
    assert_eq!(session["namespace"], "default");
    assert_eq!(session["container_name"], "app");
    assert_eq!(
        (s["tty"].as_bool(), s["interactive"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(s["runtime"], "containerd", "{session}");
    assert_eq!(s["entered_by"]["tool"], "runc");
    assert_eq!(s["callers"][0]["comm"], "containerd-shim", "{session}");
    let metrics = http_get(&listen, "/metrics").unwrap().body;
    let labels =
        "namespace=\"default\",pod=\"nst-probed\",container=\"app\",runtime=\"containerd\"";
    let runs = metric(&metrics, &format!("nstrace_exec_probes_total{{{labels}}}"))
        .unwrap_or_else(|| panic!("no probe series: {metrics}"));
    let made = pod.probe_runs("app") as f64;
    // The last run may still be under way (not yet ended when scraped).
    // A run may end (and count) just before the prober counts it.
    assert!(
        runs >= 3.0 && runs <= made + 1.0,
        "{runs} of {made} runs counted"
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("nstrace_exec_sessions_total{{{labels}}}")
        ),
        Some(1.0),
        "{metrics}"
    );
    drop(pod);
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let logged: Vec<&Value> = done
        .events
        .iter()
        .filter(|v| v["pod"] == "nst-probed")
        .collect();
    // Logged: that one session, nothing per probe, and (info) not the probe line.
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert!(
        !done.events.iter().any(|v| v["session"]["argv"][0] == "cat"),
        "a probe run was logged"
    );
}

/// A container started into another container's PID namespace with
/// SYS_PTRACE (`kubectl debug --target=app` through CRI; `podman run --pid
/// container:X --cap-add SYS_PTRACE`; `docker run --pid container:X` beside
/// a Compose project): debug_container, medium, naming both
/// containers; its own start is no session.
fn debug_container_in_the_targets_pid_namespace(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let mut pod = sleeper_pod(&node, "nst-dbg", "");
    let app = pod.container("app");
    let t = Tracer::audit(&[]);
    let dbg = pod.start_debug("dbg", &["sleep", "1000"], "app", &["SYS_PTRACE"]);
    assert_eq!(
        ns_inode(&dbg.pid.to_string(), "pid"),
        ns_inode(&app.pid.to_string(), "pid"),
        "the debug container shares app's PID namespace"
    );
    let f = t.wait_for("the debug container", |v| v["finding"] == "debug_container");
    assert_eq!(f["severity"], "medium", "{f}");
    let a = &f["debug_container"];
    assert_eq!(a["container"]["container"], dbg.id.as_str(), "{f}");
    assert_eq!(a["target"]["container"], app.id.as_str(), "{f}");
    assert_eq!(a["target"]["pod"], "nst-dbg", "{f}");
    assert_eq!(a["shares"], serde_json::json!(["pid"]), "{f}");
    assert!(a["caps"].as_str().unwrap().contains("SYS_PTRACE"), "{f}");
    assert_ne!(a["cap_effective"].as_u64().unwrap() & (1 << 19), 0, "{f}");
    assert!(
        f["summary"].as_str().unwrap().contains("read their memory"),
        "{f}"
    );
    let done = t.stop();
    assert_eq!(
        done.events
            .iter()
            .filter(|v| v["finding"] == "debug_container")
            .count(),
        1
    );
    assert!(
        !done.events.iter().any(|v| v["finding"] == "exec_session"),
        "a container's start is no session"
    );
    assert_no_empty_creation(&done.events);
}

nstrace_tests::on_every_runtime!(debug_container_in_the_targets_pid_namespace);

/// `nsenter -t PID -a` from the node into a container: a session by nsenter
/// (node administration: its joins stay info namespace joins, nothing is
/// taken for a container escaping), with the command and its caller.
#[test]
fn nsenter_from_the_node_is_a_session_into_the_container() {
    let _g = serial();
    let node = Node::new(Runtime::Podman);
    let pod = sleeper_pod(&node, "nst-nsenter", "");
    let app = pod.container("app");
    let t = Tracer::audit(&[]);
    let out = run_ok(Command::new("nsenter").args([
        "-t",
        &app.pid.to_string(),
        "-a",
        "/bin/sh",
        "-c",
        "id; hostname",
    ]));
    assert!(out.contains("nst-nsenter"), "ran inside: {out}");
    let f = t.wait_for("the nsenter session", |v| {
        v["finding"] == "exec_session" && v["session"]["runtime"] == "nsenter"
    });
    let s = &f["session"];
    assert_eq!(f["severity"], "low");
    assert_eq!(s["container"]["container"], app.id.as_str(), "{f}");
    assert_eq!(argv(&f), ["/bin/sh", "-c", "id; hostname"], "{f}");
    assert_eq!(s["entered_by"]["comm"], "nsenter", "{f}");
    assert_eq!(s["entered_by"]["place"]["class"], "node", "{f}");
    assert!(s["callers"][0]["pid"].as_u64().is_some(), "{f}");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .starts_with("nsenter from the node"),
        "{f}"
    );
    let done = t.stop();
    // nsenter's own joins: node administration, info, never an escape.
    let joins: Vec<&Value> = done
        .events
        .iter()
        .filter(|v| v["join"]["actor"]["comm"] == "nsenter")
        .collect();
    assert!(!joins.is_empty());
    for v in joins {
        assert_eq!(v["finding"], "namespace_join", "{v}");
        assert_eq!(v["severity"], "info", "{v}");
        assert_eq!(v["join"]["actor"]["place"]["class"], "node", "{v}");
    }
    assert_eq!(sessions_into(&done.events, &app.id).len(), 1);
}
