//! PID-1 behaviour in real pods on both runtimes, stopped the way the kubelet
//! does it (SIGTERM to every container's PID 1, SIGKILL after N s: CRI
//! StopContainer, or `podman pod stop -t N`): exactly the expected findings per
//! container for broken inits, none for the same workloads under tini -g and
//! dumb-init, and the timeline, preStop hooks included.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nstrace_tests::pod::{pod_yaml, Node, Runtime, Spec, NOTRAP};
use nstrace_tests::*;

/// A shell PID 1 that traps TERM and does not pass it to its long-running child.
const TRAPWAIT: &str =
    "trap 'echo got TERM' TERM; sleep 1000 & wait; echo wait returned $?; wait; echo done";
/// An orphan left to PID 1, which is then exec'd into a program that never waits.
const NOREAP: &str = "(sleep 1 &); exec sleep 1000";

const GRACE_S: u32 = 5;

/// Findings of one audit run for pod `pod`, as kind sets per container id.
fn kinds_by_container(events: &[Value], pod: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for v in events.iter().filter(|v| v["pod"] == pod) {
        if let Some(kind) = v["finding"].as_str() {
            let c = v["container"].as_str().unwrap_or("(none)").to_owned();
            out.entry(c).or_default().insert(kind.to_owned());
        }
    }
    out
}

fn set(kinds: &[&str]) -> BTreeSet<String> {
    kinds.iter().map(|k| k.to_string()).collect()
}

/// Runs `workloads` (container name, sh script, init prefix) in pod `name`
/// under an audit, waits `settle` (zombies age), stops the pod with the
/// grace period and returns the audit's output and the pod's containers by name.
fn audit_pod(
    rt: Runtime,
    name: &str,
    prefix: &[&str],
    workloads: &[(&str, &str)],
    settle: impl FnOnce(&Tracer),
    also_follow: bool,
    record: Option<&std::path::Path>,
) -> (Finished, BTreeMap<String, String>, Option<Finished>) {
    let argv: Vec<Vec<&str>> = workloads
        .iter()
        .map(|(_, script)| {
            let mut a = prefix.to_vec();
            a.extend(["sh", "-c", script]);
            a
        })
        .collect();
    let specs: Vec<Spec> = workloads
        .iter()
        .zip(&argv)
        .map(|((n, _), a)| Spec::sh(n, a))
        .collect();
    let mut args = vec!["--zombie-after", "3s"];
    if let Some(r) = record {
        args.extend(["--record", r.to_str().unwrap()]);
    }
    let node = Node::new(rt);
    let t = Tracer::audit(&args);
    let pod = node.play(name, &pod_yaml(name, "", &specs, ""));
    let ctrs = pod.containers();
    for c in ctrs.iter().filter(|c| !c.infra) {
        wait_has_child(c.pid);
    }
    let ids: BTreeMap<String, String> = ctrs.into_iter().map(|c| (c.name, c.id)).collect();
    let workload_ids: Vec<String> = ids
        .iter()
        .filter(|(n, _)| *n != "infra")
        .map(|(_, id)| id.clone())
        .collect();
    settle(&t);
    let follow = also_follow.then(|| Tracer::shutdown(&pod.selector()));
    pod.stop(GRACE_S);
    // The last PID 1 is reaped right after the stop returns; give its events a moment.
    std::thread::sleep(Duration::from_secs(1));
    let followed = follow.map(|f| f.stop());
    drop(pod);
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    // What the tests assert was not found, the audit did look for.
    assert_watched(&done.events, &workload_ids, workload_ids.len() as u64);
    (done, ids, followed)
}

nstrace_tests::on_every_runtime!(
    broken_inits_give_exactly_their_findings,
    the_same_workloads_under_tini_give_nothing,
    the_same_workloads_under_dumb_init_give_nothing,
    pre_stop_hook_then_sigterm_with_what_is_left_of_the_grace,
);
nstrace_tests::on_runtimes!([podman, containerd]
    the_same_workloads_under_dumb_init_give_nothing_under_cpu_load,
    plain_tini_does_not_rescue_a_shell_that_traps_term,
);

/// A shell PID 1 with no trap, one that traps TERM without forwarding, and an
/// exec'd PID 1 that never reaps an orphan: exactly their findings, per container.
fn broken_inits_give_exactly_their_findings(rt: Runtime) {
    let _g = serial();
    let dir = TempDir::new("pid1");
    let record = dir.path().join("bad.nst");
    let (done, ids, followed) = audit_pod(
        rt,
        "nst-bad",
        &[],
        &[
            ("notrap", NOTRAP),
            ("trapwait", TRAPWAIT),
            ("noreap", NOREAP),
        ],
        |t| {
            // The orphan dies after 1 s and is never reaped: reported once 3 s old.
            t.wait_for("pid1_never_reaps", |v| {
                v["finding"] == "pid1_never_reaps" && v["pod"] == "nst-bad"
            });
        },
        true,
        Some(&record),
    );
    let got = kinds_by_container(&done.events, "nst-bad");
    let mut want = BTreeMap::new();
    // Predicted before the stop (a shell with no trap, `sleep` as PID 1), then seen.
    want.insert(
        ids["notrap"].clone(),
        set(&[
            "pid1_will_ignore_sigterm",
            "pid1_ignores_sigterm",
            "slow_shutdown",
        ]),
    );
    want.insert(
        ids["trapwait"].clone(),
        set(&["sigterm_not_forwarded", "slow_shutdown"]),
    );
    want.insert(
        ids["noreap"].clone(),
        set(&[
            "pid1_will_ignore_sigterm",
            "pid1_not_reaping_capable",
            "pid1_never_reaps",
            "pid1_ignores_sigterm",
            "slow_shutdown",
        ]),
    );
    assert_eq!(got, want, "infra ({}) gives none", ids["infra"]);
    let never_reaps = done
        .events
        .iter()
        .find(|v| v["finding"] == "pid1_never_reaps")
        .unwrap();
    assert_eq!(
        never_reaps["comm"], "sleep",
        "the init's current name: {never_reaps}"
    );
    let ev = never_reaps["evidence"].to_string();
    assert!(ev.contains("orphan") && ev.contains("never called"), "{ev}");
    let ignored = done
        .events
        .iter()
        .find(|v| {
            v["finding"] == "pid1_ignores_sigterm" && v["container"] == ids["notrap"].as_str()
        })
        .unwrap();
    assert!(
        ignored["summary"]
            .as_str()
            .unwrap()
            .contains("only SIGKILL"),
        "{ignored}"
    );

    // The timeline of the shell with no trap: SIGTERM dropped, SIGKILL after the grace period.
    let followed = followed.unwrap();
    let notrap = followed
        .events
        .iter()
        .find(|t| {
            t["shutdown"]
                .as_str()
                .is_some_and(|s| s.ends_with("/ container notrap"))
        })
        .unwrap_or_else(|| panic!("no timeline for notrap: {:?}", followed.events));
    let steps = notrap["steps"].as_array().unwrap();
    let term = steps
        .iter()
        .find(|s| s["signal"] == "TERM" && s["to_pid1"] == true)
        .unwrap_or_else(|| panic!("{notrap}"));
    assert_eq!(term["result"], "ignored", "{notrap}");
    assert_eq!(term["t"], 0.0);
    let kill = steps
        .iter()
        .find(|s| s["signal"] == "KILL" && s["to_pid1"] == true)
        .unwrap_or_else(|| panic!("no SIGKILL to PID 1: {notrap}"));
    assert_eq!(kill["result"], "delivered");
    // The runtime waits the whole grace period before SIGKILL (a lower bound, not a speed check).
    assert!(
        kill["t"].as_f64().unwrap() >= f64::from(GRACE_S) - 0.5,
        "{notrap}"
    );
    assert!(notrap["total_s"].as_f64().unwrap() >= kill["t"].as_f64().unwrap());
    assert_eq!(notrap["killed"], true);
    assert!(
        notrap["verdict"]
            .as_str()
            .unwrap()
            .contains("no SIGTERM handler"),
        "{notrap}"
    );
    assert!(!notrap["advice"].as_str().unwrap().is_empty());
    // The whole pod: three containers (and podman's infra, which podman stops
    // with SIGTERM too; containerd's StopPodSandbox SIGKILLs the pause later),
    // three of them ended by SIGKILL.
    let total = followed
        .events
        .iter()
        .find(|t| t["shutdown_total"].is_string())
        .unwrap_or_else(|| panic!("no pod total: {:?}", followed.events));
    let stopped = 3 + u64::from(rt.infra_gets_sigterm());
    assert_eq!(
        (total["containers"].as_u64(), total["killed"].as_u64()),
        (Some(stopped), Some(3)),
        "{total}"
    );
    assert!(total["total_s"].as_f64().unwrap() >= kill["t"].as_f64().unwrap());

    // Offline, the recording gives exactly the findings the live run printed.
    let replay = nstrace_tests::nstrace()
        .args([
            "replay",
            "--audit",
            "--zombie-after",
            "3s",
            "--format",
            "json",
        ])
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

/// Runs the three broken workloads under `init` (argv prefix) in pod `pod`,
/// stops it, and asserts that no finding at all came of it: none for the pod,
/// and none above info anywhere (a broken attribution must not hide one).
fn workloads_under_give_nothing(rt: Runtime, pod: &str, init: &[&str]) {
    let _g = serial();
    let (done, ids, _) = audit_pod(
        rt,
        pod,
        init,
        &[
            ("notrap", NOTRAP),
            ("trapwait", TRAPWAIT),
            ("noreap", NOREAP),
        ],
        |_| std::thread::sleep(Duration::from_secs(6)),
        false,
        None,
    );
    let got = kinds_by_container(&done.events, pod);
    assert!(got.is_empty(), "findings: {got:?} (containers {ids:?})");
    let above = findings_above_info(&done.events);
    assert!(above.is_empty(), "{above:#?}");
}

/// The same workloads under `tini -g` (signals go to the child's process group)
/// give no finding at all.
fn the_same_workloads_under_tini_give_nothing(rt: Runtime) {
    workloads_under_give_nothing(rt, "nst-tini", &["tini", "-g", "--"]);
}

/// The same workloads under dumb-init give no finding at all.
fn the_same_workloads_under_dumb_init_give_nothing(rt: Runtime) {
    workloads_under_give_nothing(rt, "nst-dumb", &["dumb-init"]);
}

/// The same workloads under dumb-init, with every CPU busy (stress-ng
/// beside the pod): a reaping init that waits for its turn to run is not
/// "never reaps", and nothing else is found either.
fn the_same_workloads_under_dumb_init_give_nothing_under_cpu_load(rt: Runtime) {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let _load = Proc::spawn(
        std::process::Command::new("stress-ng")
            .args([
                "--cpu",
                &(4 * cpus).to_string(),
                "--timeout",
                "120s",
                "--quiet",
            ])
            .stdout(std::process::Stdio::null()),
    );
    workloads_under_give_nothing(rt, "nst-dumb-load", &["dumb-init"]);
}

/// Plain `tini` (no -g) signals only its child: a shell child that traps TERM
/// and does not forward leaves its sleep running until SIGKILL. nstrace must
/// say so; tini is no cure for this script.
fn plain_tini_does_not_rescue_a_shell_that_traps_term(rt: Runtime) {
    let _g = serial();
    let (done, ids, _) = audit_pod(
        rt,
        "nst-tini-plain",
        &["tini", "--"],
        &[("trapwait", TRAPWAIT)],
        |_| {},
        false,
        None,
    );
    let got = kinds_by_container(&done.events, "nst-tini-plain");
    assert_eq!(
        got.get(&ids["trapwait"]),
        Some(&set(&["slow_shutdown"])),
        "{got:?}"
    );
    let f = done
        .events
        .iter()
        .find(|v| v["finding"] == "slow_shutdown")
        .unwrap();
    assert_eq!(f["comm"], "tini", "{f}");
}

/// The kubelet's stop of a container with a preStop exec hook (2 s long) and
/// a PID 1 that ignores SIGTERM: the timeline opens with the hook (exec'd into
/// the container before SIGTERM), then SIGTERM, then SIGKILL once the grace the
/// stop was given (the period less the hook's whole seconds) ran out.
fn pre_stop_hook_then_sigterm_with_what_is_left_of_the_grace(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let notrap = ["/bin/sh", "-c", NOTRAP];
    let hooked = Spec {
        name: "hooked",
        command: &notrap,
        extra: "    lifecycle:\n      preStop:\n        exec:\n          command: [\"sh\", \"-c\", \"sleep 2\"]\n",
    };
    let yaml = pod_yaml("nst-hook", "", &[hooked], "");
    let pod = node.play("nst-hook", &yaml);
    let c = pod.container("hooked");
    wait_has_child(c.pid);
    let follow = Tracer::shutdown(&pod.selector());
    let given = pod.stop(GRACE_S);
    std::thread::sleep(Duration::from_secs(1));
    let followed = follow.stop();
    drop(pod);
    let given = given["hooked"];
    assert!(
        given < i64::from(GRACE_S),
        "the hook's time came off the grace: {given}"
    );
    let t = followed
        .events
        .iter()
        .find(|t| {
            t["shutdown"]
                .as_str()
                .is_some_and(|s| s.ends_with("/ container hooked"))
        })
        .unwrap_or_else(|| panic!("no timeline for hooked: {:?}", followed.events));
    let steps = t["steps"].as_array().unwrap();
    let at = |what: &str| {
        steps
            .iter()
            .find(|s| s["step"] == what)
            .unwrap_or_else(|| panic!("no {what} step: {t}"))["t"]
            .as_f64()
            .unwrap()
    };
    let (start, end) = (at("prestop_start"), at("prestop_end"));
    assert!(start < 0.0 && end <= 0.0, "the hook before SIGTERM: {t}");
    // The hook sleeps 2 s (a lower bound on a real duration, not a speed check).
    assert!(end - start >= 1.9, "{t}");
    assert_eq!(
        steps[0]["step"], "prestop_start",
        "the timeline opens with it: {t}"
    );
    let term = steps
        .iter()
        .find(|s| s["signal"] == "TERM" && s["to_pid1"] == true)
        .unwrap_or_else(|| panic!("{t}"));
    assert_eq!(
        (term["t"].as_f64(), term["result"].as_str()),
        (Some(0.0), Some("ignored"))
    );
    let kill = steps
        .iter()
        .find(|s| s["signal"] == "KILL" && s["to_pid1"] == true)
        .unwrap_or_else(|| panic!("no SIGKILL to PID 1: {t}"));
    assert!(
        kill["t"].as_f64().unwrap() >= given as f64 - 0.5,
        "{given} s given: {t}"
    );
    let verdict = t["verdict"].as_str().unwrap();
    assert!(verdict.contains("preStop hook"), "{verdict}");
    assert_eq!(t["killed"], true);
}
