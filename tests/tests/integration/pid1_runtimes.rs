//! Real programs as PID 1: language runtimes and a server from the node's
//! own Debian packages (Node.js, CPython, nginx), each run in its own
//! container of a real pod whose image is an empty root that mounts the
//! node's /usr read-only (hostPath). Each is identified, predicted, stopped
//! the kubelet's way and called for what it really did with SIGTERM; the
//! variants whose SIGTERM handler exits are the controls. On both runtimes.

use std::collections::{BTreeMap, BTreeSet};

use nstrace_tests::pod::{Node, Runtime};
use nstrace_tests::*;

const POD: &str = "nst-rt";
const GRACE_S: u32 = 3;
const IMAGE: &str = "localhost/nstrace-usr:latest";

/// Container name → argv.
const CONTAINERS: &[(&str, &[&str])] = &[
    // Node.js's own SIGTERM handler (SA_RESETHAND) restores the default and
    // raises SIGTERM again, inside the handler: dropped at delivery.
    (
        "nodebare",
        &["/usr/bin/node", "-e", "setInterval(() => {}, 1000)"],
    ),
    (
        "nodeexits",
        &[
            "/usr/bin/node",
            "-e",
            "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000)",
        ],
    ),
    // CPython leaves SIGTERM at the default: dropped at generation.
    (
        "pybare",
        &["/usr/bin/python3", "-c", "import time; time.sleep(1000)"],
    ),
    (
        "pyexits",
        &[
            "/usr/bin/python3",
            "-c",
            "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\ntime.sleep(1000)",
        ],
    ),
    // A handler that restores the default and re-raises once it has run:
    // dropped as it is raised.
    (
        "pyreraise",
        &[
            "/usr/bin/python3",
            "-c",
            "import os, signal, time\ndef h(s, f):\n    signal.signal(s, signal.SIG_DFL)\n    os.kill(os.getpid(), s)\nsignal.signal(signal.SIGTERM, h)\nwhile True:\n    time.sleep(1)",
        ],
    ),
    (
        "nginx",
        &[
            "/usr/sbin/nginx",
            "-c",
            "/etc/nginx-pid1.conf",
            "-g",
            "daemon off;",
        ],
    ),
];

fn yaml() -> String {
    let mut y = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {POD}\nspec:\n  terminationGracePeriodSeconds: {GRACE_S}\n  containers:\n"
    );
    for (name, argv) in CONTAINERS {
        let argv: Vec<String> = argv
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        y.push_str(&format!(
            "  - name: {name}\n    image: {IMAGE}\n    imagePullPolicy: Never\n    command: [{}]\n    volumeMounts:\n    - name: usr\n      mountPath: /usr\n      readOnly: true\n",
            argv.join(", ")
        ));
    }
    y.push_str(
        "  volumes:\n  - name: usr\n    hostPath:\n      path: /usr\n      type: Directory\n",
    );
    y
}

/// (kind, severity) of every finding about container `id`.
fn findings_of(events: &[Value], id: &str) -> BTreeSet<(String, String)> {
    events
        .iter()
        .filter(|v| v["finding"].is_string() && v["container"] == id)
        .map(|v| (s(v, "finding").to_owned(), s(v, "severity").to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|(k, s)| (k.to_string(), s.to_string()))
        .collect()
}

nstrace_tests::on_every_runtime!(
    runtimes_and_a_server_as_pid_1_are_predicted_and_called_for_what_they_do
);

fn runtimes_and_a_server_as_pid_1_are_predicted_and_called_for_what_they_do(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    node.import("nstrace-usr");
    let audit = Tracer::audit(&["--predict-after", "2s"]);
    let pod = node.play(POD, &yaml());
    let containers = pod.containers();
    let ids: BTreeMap<String, String> = containers
        .iter()
        .filter(|c| !c.infra)
        .map(|c| (c.name.clone(), c.id.clone()))
        .collect();
    assert_eq!(ids.len(), CONTAINERS.len(), "{ids:?}");

    // Identified from exe and argv, before anything is stopped.
    let topo = topology_json();
    let inits: BTreeMap<String, String> = find_pod(&topo, POD)["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            let name = ids.iter().find(|(_, id)| c["id"] == id.as_str())?.0;
            Some((name.clone(), s(c, "init_kind").to_owned()))
        })
        .collect();
    for (name, want) in [
        ("nodebare", "node (Node.js)"),
        ("pybare", "python (CPython)"),
        ("nginx", "nginx (nginx)"),
    ] {
        assert_eq!(inits.get(name).map(String::as_str), Some(want), "{inits:?}");
    }

    // Predicted before any stop: Node.js without a listener certainly (its
    // own handler is one-shot, SA_RESETHAND, as the kernel holds it), CPython
    // certainly; Node.js with a listener not at all (libuv's handler has no
    // SA_RESETHAND; /proc's SigCgt shows both as caught).
    for (name, severity) in [("nodebare", "medium"), ("pybare", "medium")] {
        let id = ids[name].clone();
        audit.wait_for(&format!("the prediction for {name}"), |v| {
            v["finding"] == "pid1_will_ignore_sigterm"
                && v["container"] == id.as_str()
                && v["severity"] == severity
        });
    }
    let follow = Tracer::shutdown(POD);
    pod.stop(GRACE_S);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let timelines = follow.stop().events;
    drop(pod);
    let done = audit.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let ev = &done.events;

    // Every container's shutdown was followed: the controls' clean verdicts
    // are things seen, not things missed.
    let timeline = |name: &str| -> Value {
        timelines
            .iter()
            .find(|t| {
                t["shutdown"]
                    .as_str()
                    .is_some_and(|s| s.ends_with(&format!("/ container {name}")))
            })
            .cloned()
            .unwrap_or_else(|| panic!("no timeline for {name}: {timelines:?}"))
    };
    for name in ["nodeexits", "pyexits", "nginx"] {
        let t = timeline(name);
        assert_eq!(t["killed"], false, "{t}");
        let v = s(&t, "verdict");
        if name == "nginx" {
            // Exited at once, in its own terms: a fast stop, and the fix named.
            assert!(v.contains("took SIGTERM as a fast stop"), "{t}");
            assert!(s(&t, "advice").contains("SIGQUIT"), "{t}");
        } else {
            assert!(v.starts_with("clean"), "{t}");
        }
        let above: Vec<_> = findings_of(ev, &ids[name])
            .into_iter()
            .filter(|(_, sev)| sev != "info" && sev != "low")
            .collect();
        assert!(above.is_empty(), "{name}: {above:?}");
    }
    // Node.js with a listener was never predicted to drop SIGTERM.
    assert!(
        !findings_of(ev, &ids["nodeexits"])
            .iter()
            .any(|(k, _)| k == "pid1_will_ignore_sigterm"),
        "{:?}",
        findings_of(ev, &ids["nodeexits"])
    );

    // Node.js without a listener: caught, re-raised inside the handler, dropped
    // at delivery; never "not forwarded" (it has no child). Node.js handles
    // SIGCHLD only once it spawns a child: not a reaping init.
    assert_eq!(
        findings_of(ev, &ids["nodebare"]),
        pairs(&[
            ("pid1_will_ignore_sigterm", "medium"),
            ("pid1_not_reaping_capable", "low"),
            ("pid1_ignores_sigterm", "high"),
            ("slow_shutdown", "medium"),
        ])
    );
    let t = timeline("nodebare");
    assert_eq!(t["killed"], true);
    let verdict = s(&t, "verdict");
    assert!(
        verdict.contains(
            "caught SIGTERM, restored the default action (SA_RESETHAND) and raised it again"
        ) && verdict.contains("queued and dropped when dequeued"),
        "{verdict}"
    );
    assert!(s(&t, "advice").contains("process.on('SIGTERM'"), "{t}");
    let dropped = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["step"] == "deliver" && st["dropped"] == true)
        .unwrap_or_else(|| panic!("no dropped delivery: {t}"));
    assert_eq!(
        (&dropped["signal"], &dropped["to_pid1"]),
        (&Value::from("TERM"), &Value::from(true))
    );

    // CPython without a handler: dropped at generation.
    let py = findings_of(ev, &ids["pybare"]);
    assert!(
        py.is_superset(&pairs(&[
            ("pid1_will_ignore_sigterm", "medium"),
            ("pid1_ignores_sigterm", "high"),
            ("slow_shutdown", "medium"),
        ])) && py.is_subset(&pairs(&[
            ("pid1_will_ignore_sigterm", "medium"),
            ("pid1_ignores_sigterm", "high"),
            ("slow_shutdown", "medium"),
            ("pid1_not_reaping_capable", "low"),
        ])),
        "{py:?}"
    );
    assert!(s(&timeline("pybare"), "verdict").contains("no SIGTERM handler"));

    // A handler that re-raises after itself: dropped as it was raised.
    let re = findings_of(ev, &ids["pyreraise"]);
    assert!(
        re.contains(&("pid1_ignores_sigterm".into(), "high".into()))
            && re.contains(&("slow_shutdown".into(), "medium".into()))
            && !re.iter().any(|(k, _)| k == "sigterm_not_forwarded"),
        "{re:?}"
    );
    let v = s(&timeline("pyreraise"), "verdict").to_owned();
    assert!(
        v.contains("raised it again") && v.contains("dropped as it was raised"),
        "{v}"
    );
    let ignored = ev
        .iter()
        .find(|v| {
            v["finding"] == "pid1_ignores_sigterm" && v["container"] == ids["pyreraise"].as_str()
        })
        .unwrap();
    assert!(
        s(ignored, "summary").contains("restored the default action and raised it again"),
        "{ignored}"
    );
    // Nothing is left of the pod.
    for c in &containers {
        assert!(
            !std::path::Path::new(&format!("/proc/{}", c.pid)).exists(),
            "{} ({}) still runs",
            c.name,
            c.pid
        );
    }
}
