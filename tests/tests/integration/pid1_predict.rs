//! PID 1 before and during a shutdown, on real pods of both runtimes: which init runs, what
//! it will do with SIGTERM (predicted without stopping anything, and
//! withdrawn when that changes), `audit --once` as a pre-rollout check, and
//! the good inits as controls — nothing above low for any of them, and a
//! teardown kill called by its name.

use std::time::Duration;

use nstrace_tests::pod::{pod_yaml, Node, Runtime, Spec};
use nstrace_tests::*;

const GRACE_S: u32 = 3;
/// A shell that runs until killed, forking a short sleep every second.
const LOOP: &str = "while true; do sleep 1; done";

/// Findings of `events` for pod `pod` as (kind, severity, container name).
fn findings_of(events: &[Value], pod: &str) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter(|v| v["pod"] == pod && v["finding"].is_string())
        .map(|v| {
            (
                v["finding"].as_str().unwrap().to_owned(),
                v["severity"].as_str().unwrap().to_owned(),
                v["container_name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Plays pod `name` with `specs` under an audit, lets it run `run_s`, stops
/// it with the grace period, and returns the audit's output.
fn audit_run(rt: Runtime, name: &str, specs: &[Spec<'_>], run_s: u64) -> Finished {
    let node = Node::new(rt);
    let t = Tracer::audit(&["--predict-after", "2s"]);
    let pod = node.play(name, &pod_yaml(name, "", specs, ""));
    let ids: Vec<String> = pod.workloads().into_iter().map(|c| c.id).collect();
    std::thread::sleep(Duration::from_secs(run_s));
    pod.stop(GRACE_S);
    std::thread::sleep(Duration::from_secs(1));
    drop(pod);
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    // What the tests assert was not found, the audit did look for.
    assert_watched(&done.events, &ids, ids.len() as u64);
    done
}

nstrace_tests::on_every_runtime!(
    predictions_need_no_shutdown_and_are_withdrawn,
    inits_are_identified,
);
nstrace_tests::on_runtimes!([podman, containerd]
    catatonit_forwarding_to_its_shell_is_a_teardown_kill_not_a_missing_forward,
    good_inits_give_nothing_above_low,
    audit_once_is_a_pre_rollout_check,
);

/// catatonit passes SIGTERM to its shell, the shell dies, catatonit exits,
/// and the kernel SIGKILLs the shell's last sleep at teardown: that is a
/// teardown kill (low) naming the sleep and who forwarded to whom, never
/// `sigterm_not_forwarded`.
fn catatonit_forwarding_to_its_shell_is_a_teardown_kill_not_a_missing_forward(rt: Runtime) {
    let _g = serial();
    let done = audit_run(
        rt,
        "pp-cata",
        &[Spec::sh(
            "loop",
            &["/usr/bin/catatonit", "--", "/bin/sh", "-c", LOOP],
        )],
        4,
    );
    let got = findings_of(&done.events, "pp-cata");
    let above_low: Vec<_> = got
        .iter()
        .filter(|(_, sev, _)| sev == "medium" || sev == "high")
        .collect();
    assert!(above_low.is_empty(), "{got:?}");
    let teardown = done
        .events
        .iter()
        .find(|v| v["finding"] == "killed_at_teardown" && v["pod"] == "pp-cata")
        .unwrap_or_else(|| panic!("no killed_at_teardown: {got:?}"));
    assert_eq!(teardown["severity"], "low");
    let ev = teardown["evidence"].to_string();
    assert!(ev.contains("forwarded: catatonit"), "{ev}");
    assert!(ev.contains("→ sh ("), "{ev}");
    assert!(ev.contains("nothing → sleep ("), "{ev}");
    assert!(
        ev.contains("catatonit with -g"),
        "the advice names this init: {ev}"
    );
}

/// The good inits (and a shell that traps and forwards, and an exec'd
/// application with a handler), one container each in one pod, give nothing
/// above low, before or during their shutdown.
fn good_inits_give_nothing_above_low(rt: Runtime) {
    let _g = serial();
    let trapfw = "trap 'kill -TERM $child; wait $child; exit 0' TERM; sleep 1000 & child=$!; wait";
    let cases: [(&str, &[&str]); 6] = [
        ("tini", &["tini", "--", "/bin/sh", "-c", LOOP]),
        ("tini-g", &["tini", "-g", "--", "/bin/sh", "-c", LOOP]),
        ("dumb", &["dumb-init", "/bin/sh", "-c", LOOP]),
        (
            "cata-g",
            &["/usr/bin/catatonit", "-g", "--", "/bin/sh", "-c", LOOP],
        ),
        ("trapfw", &["/bin/sh", "-c", trapfw]),
        ("app", &["/bin/sh", "-c", "exec syslogd -n -O /dev/null"]),
    ];
    let specs: Vec<Spec> = cases.iter().map(|(n, argv)| Spec::sh(n, argv)).collect();
    let done = audit_run(rt, "pp-good", &specs, 4);
    let got = findings_of(&done.events, "pp-good");
    let above_low: Vec<_> = got
        .iter()
        .filter(|(_, sev, _)| sev == "medium" || sev == "high")
        .collect();
    assert!(above_low.is_empty(), "{got:?}");
    let anywhere: Vec<&Value> = findings_above_info(&done.events)
        .into_iter()
        .filter(|v| v["severity"] != "low")
        .collect();
    assert!(
        anywhere.is_empty(),
        "nothing above low anywhere: {anywhere:?}"
    );
}

/// Predictions without any stop: a shell with no trap is flagged within a
/// few seconds, the same shell with a trap is not, and one that installs its
/// trap late is flagged and then withdrawn.
fn predictions_need_no_shutdown_and_are_withdrawn(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let t = Tracer::audit(&["--predict-after", "2s"]);
    let pod = node.play(
        "pp-predict",
        &pod_yaml(
            "pp-predict",
            "",
            &[
                Spec::sh("notrap", &["/bin/sh", "-c", LOOP]),
                Spec::sh(
                    "trapped",
                    &[
                        "/bin/sh",
                        "-c",
                        "trap 'exit 0' TERM; while true; do sleep 1; done",
                    ],
                ),
                Spec::sh(
                    "late",
                    &[
                        "/bin/sh",
                        "-c",
                        "sleep 5; trap 'exit 0' TERM; while true; do sleep 1; done",
                    ],
                ),
            ],
            "",
        ),
    );
    fn raised(c: &'static str) -> impl Fn(&Value) -> bool {
        move |v: &Value| {
            v["finding"] == "pid1_will_ignore_sigterm"
                && v["container_name"] == c
                && v["resolved"].is_null()
        }
    }
    let f = t.wait_for("notrap's prediction", raised("notrap"));
    assert_eq!(f["severity"], "medium");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("no handler for SIGTERM"),
        "{f}"
    );
    t.wait_for("late's prediction", raised("late"));
    let w = t.wait_for("late's withdrawal", |v| {
        v["finding"] == "pid1_will_ignore_sigterm"
            && v["container_name"] == "late"
            && v["resolved"] == true
    });
    assert!(
        w["summary"].as_str().unwrap().starts_with("resolved:"),
        "{w}"
    );
    let trapped_init = u64::from(pod.container("trapped").pid);
    drop(pod);
    let done = t.stop();
    // The control looked: the trapping shell was judged.
    assert_judged(&done.events, trapped_init);
    let trapped: Vec<_> = done
        .events
        .iter()
        .filter(|v| v["finding"] == "pid1_will_ignore_sigterm" && v["container_name"] == "trapped")
        .collect();
    assert!(trapped.is_empty(), "{trapped:?}");
    assert!(
        !done
            .events
            .iter()
            .any(|v| v["finding"] == "pid1_will_ignore_sigterm"
                && v["container_name"] == "notrap"
                && v["resolved"] == true),
        "notrap never handles SIGTERM"
    );
}

/// `audit --once` over a node holding one good and one bad pod: exactly the
/// bad one's predictions, exit 1 with `--fail-on medium`, 0 without.
fn audit_once_is_a_pre_rollout_check(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let good = node.play(
        "pp-once-good",
        &pod_yaml(
            "pp-once-good",
            "",
            &[Spec::sh(
                "web",
                &["tini", "-g", "--", "/bin/sh", "-c", LOOP],
            )],
            "",
        ),
    );
    let bad = node.play(
        "pp-once-bad",
        &pod_yaml(
            "pp-once-bad",
            "",
            &[Spec::sh("web", &["/bin/sh", "-c", "exec sleep 1000"])],
            "",
        ),
    );
    let run = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            "--once",
            "--format",
            "json",
            "--predict-after",
            "2s",
        ];
        args.extend_from_slice(extra);
        nstrace_tests::nstrace().args(&args).output().unwrap()
    };
    let out = run(&["--fail-on", "medium"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let findings: Vec<(String, String)> = lines
        .iter()
        .filter(|v| v["finding"].is_string())
        .map(|v| {
            (
                v["pod"].as_str().unwrap_or("").to_owned(),
                v["finding"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut want = vec![
        (
            "pp-once-bad".to_owned(),
            "pid1_not_reaping_capable".to_owned(),
        ),
        (
            "pp-once-bad".to_owned(),
            "pid1_will_ignore_sigterm".to_owned(),
        ),
    ];
    let mut got = findings.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{lines:?}");
    assert!(
        lines.iter().any(|v| v["summary"].is_object()),
        "a summary line"
    );
    assert_eq!(run(&[]).status.code(), Some(0));
    drop((good, bad));
}

/// Each init is named as the test started it, in the topology.
fn inits_are_identified(rt: Runtime) {
    let _g = serial();
    let cases: [(&str, &[&str], &str); 6] = [
        ("tini", &["tini", "--", "/bin/sh", "-c", LOOP], "tini"),
        (
            "tinig",
            &["tini", "-g", "--", "/bin/sh", "-c", LOOP],
            "tini -g",
        ),
        ("dumb", &["dumb-init", "/bin/sh", "-c", LOOP], "dumb-init"),
        (
            "dumbone",
            &["dumb-init", "--single-child", "/bin/sh", "-c", LOOP],
            "dumb-init --single-child",
        ),
        (
            "catag",
            &["/usr/bin/catatonit", "-g", "--", "/bin/sh", "-c", LOOP],
            "catatonit -g",
        ),
        ("shell", &["/bin/sh", "-c", LOOP], "sh (a shell)"),
    ];
    let specs: Vec<Spec> = cases.iter().map(|(n, argv, _)| Spec::sh(n, argv)).collect();
    let node = Node::new(rt);
    let pod = node.play("pp-inits", &pod_yaml("pp-inits", "", &specs, ""));
    let out = nstrace_tests::nstrace()
        .args(["topology", "--format", "json"])
        .output()
        .unwrap();
    let t: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = t["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pp-inits")
        .unwrap_or_else(|| panic!("{t}"));
    for (name, _, want) in cases {
        let c = p["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no container {name}: {p}"));
        assert_eq!(c["init_kind"], want, "{c}");
    }
    let infra = p["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["infra"] == true)
        .unwrap();
    // podman's infra is catatonit; the harness's pause image is catatonit -P.
    assert!(
        infra["init_kind"]
            .as_str()
            .unwrap()
            .starts_with("catatonit"),
        "the infra: {infra}"
    );
    drop(pod);
}
