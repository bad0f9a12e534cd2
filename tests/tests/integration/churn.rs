//! Churn that kills, on both runtimes: the agent's model against the node's
//! truth after pods are SIGKILLed in bulk (a forced drain, an eviction), after
//! a drain that stops every pod with a grace period at once, after a
//! container restarts in its pod, and after the agent itself is SIGKILLed in
//! a pod's grace period and started again. After each, the agent's pods,
//! containers and zombies equal what the runtime reports and what /proc
//! shows, and no process it lists is gone ([`model_vs_node`]). The mass
//! teardown is also recorded by an audit and replayed: the replay ends where
//! the live agent did. And a container that lives a few milliseconds is
//! named, from the cgroup its exec event carries.

use std::time::Duration;

use serde_json::Value;

use nstrace_tests::agent::{agent_in, agent_metric, model_vs_node};
use nstrace_tests::pod::{pod_yaml, Node, Pod, Runtime, Spec, NOTRAP};
use nstrace_tests::prometheus::http_get;
use nstrace_tests::*;

nstrace_tests::on_both_runtimes!(
    a_mass_sigkill_teardown_leaves_no_ghosts,
    a_drain_with_grace_at_once_follows_every_shutdown,
    a_restarted_container_is_counted_and_the_old_run_closed,
    an_agent_killed_in_a_grace_period_rebuilds_from_proc,
    a_container_that_lives_milliseconds_is_named,
);

/// Pods of the mass teardown (the number the report used).
const MASS: usize = 40;

/// A pod of the churn: PID 1 a shell whose loop forks `sleep 1` (so the
/// SIGKILL finds children and fresh zombies), and a tini sidecar.
fn churn_pod(name: &str) -> String {
    pod_yaml(
        name,
        "",
        &[
            Spec::sh("app", &["/bin/sh", "-c", "while true; do sleep 1; done"]),
            Spec::sh("side", &["tini", "--", "sleep", "1000"]),
        ],
        "",
    )
}

/// Runs `n` churn pods named `PREFIX-i`, four at a time.
fn play_many(node: &Node, prefix: &str, n: usize) -> Vec<Pod> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let mut pods: Vec<Option<Pod>> = (0..n).map(|_| None).collect();
    for (chunk, slots) in names.chunks(4).zip(pods.chunks_mut(4)) {
        std::thread::scope(|s| {
            for (name, slot) in chunk.iter().zip(slots.iter_mut()) {
                s.spawn(move || *slot = Some(node.play(name, &churn_pod(name))));
            }
        });
    }
    pods.into_iter().map(|p| p.expect("played")).collect()
}

/// Waits until the agent's model matches the node; fails with the last difference.
#[track_caller]
fn converges(listen: &str, node: &Node, what: &str) {
    let start = std::time::Instant::now();
    loop {
        let diff = model_vs_node(listen, node);
        if diff.is_ok() {
            return;
        }
        assert!(
            start.elapsed() < EVENT_TIMEOUT,
            "{what}: the agent's model still differs from the node after {EVENT_TIMEOUT:?}: {}",
            diff.unwrap_err()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The agent's topology: pod names with their containers' ids, sorted.
fn pods_of(topology: &Value) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = topology["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let mut ids: Vec<String> = p["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect();
            ids.sort();
            (p["name"].as_str().unwrap_or_default().to_owned(), ids)
        })
        .collect();
    out.sort();
    out
}

fn a_mass_sigkill_teardown_leaves_no_ghosts(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let dir = TempDir::new("churn-kill");
    let (agent, listen, _) = agent_in(&dir, &[]);
    let rec = dir.path().join("teardown.nst");
    let audit = Tracer::audit(&["--record", rec.to_str().unwrap()]);
    let pods = play_many(&node, "mass", MASS);
    eventually("every pod in the agent's topology", || {
        (agent_metric(&listen, "nstrace_pods ") >= MASS as f64).then_some(())
    });
    // Their shells have forked a few sleeps: some are zombies at any moment.
    std::thread::sleep(Duration::from_secs(3));
    converges(&listen, &node, "with the pods running");
    // Every container SIGKILLed at once.
    std::thread::scope(|s| {
        for chunk in pods.chunks(MASS / 4) {
            s.spawn(move || chunk.iter().for_each(Pod::kill));
        }
    });
    drop(pods);
    converges(&listen, &node, "after the mass SIGKILL");
    let topo: Value = serde_json::from_str(&http_get(&listen, "/topology").unwrap().body).unwrap();
    assert!(
        pods_of(&topo)
            .iter()
            .all(|(name, _)| !name.starts_with("mass-")),
        "{topo}"
    );
    assert_eq!(
        agent_metric(&listen, "nstrace_zombies{"),
        0.0,
        "no zombie series for pods that are gone"
    );
    // The audit recorded it all, its corrections from /proc included: the
    // replay's model ends as the live agent's did.
    let finished = audit.stop();
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);
    let replay = run_ok(std::process::Command::new(nstrace_bin()).args([
        "replay",
        rec.to_str().unwrap(),
        "--topology=json",
    ]));
    let replayed: Value = serde_json::from_str(&replay).expect("a topology document");
    assert_eq!(pods_of(&replayed), pods_of(&topo), "replay equals live");
    let done = agent.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
}

fn a_drain_with_grace_at_once_follows_every_shutdown(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let dir = TempDir::new("churn-drain");
    let (agent, listen, _) = agent_in(&dir, &[]);
    // Half with a trap-less shell PID 1 (SIGKILL at the end of the grace),
    // half with tini passing SIGTERM on (graceful).
    let pods: Vec<Pod> = (0..8)
        .map(|i| {
            let name = format!("drain-{i}");
            let app: &[&str] = if i % 2 == 0 {
                &["/bin/sh", "-c", NOTRAP]
            } else {
                &["tini", "-g", "--", "/bin/sh", "-c", "sleep 1000 & wait"]
            };
            node.play(&name, &pod_yaml(&name, "", &[Spec::sh("app", app)], ""))
        })
        .collect();
    eventually("the pods in the agent's topology", || {
        (agent_metric(&listen, "nstrace_pods ") >= 8.0).then_some(())
    });
    let before = agent_metric(&listen, "nstrace_pod_shutdown_seconds_count{");
    std::thread::scope(|s| {
        for p in &pods {
            s.spawn(move || {
                p.stop(3);
            });
        }
    });
    drop(pods);
    converges(&listen, &node, "after the drain");
    // Every app container's shutdown followed to its end (the infra's on
    // podman too, which gets SIGTERM there).
    let followed = agent_metric(&listen, "nstrace_pod_shutdown_seconds_count{") - before;
    assert!(followed >= 8.0, "{followed} shutdowns followed");
    let done = agent.stop();
    let slow = done
        .events
        .iter()
        .filter(|v| v["finding"] == "slow_shutdown")
        .count();
    assert_eq!(
        slow, 4,
        "the trap-less shells, once each: {:?}",
        done.events
    );
}

fn a_restarted_container_is_counted_and_the_old_run_closed(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let dir = TempDir::new("churn-restart");
    let (agent, listen, _) = agent_in(&dir, &[]);
    let mut pod = node.play("restarts", &churn_pod("restarts"));
    let ns = pod.namespace().unwrap_or_default();
    let series = format!(
        "nstrace_container_restarts_total{{namespace=\"{ns}\",pod=\"restarts\",container=\"side\"}}"
    );
    let old = pod.container("side");
    eventually("the pod's containers named in the topology", || {
        let t = http_get(&listen, "/topology").ok()?.body;
        (t.contains("\"restarts\"") && t.contains(&old.id)).then_some(())
    });
    assert_eq!(agent_metric(&listen, &series), 0.0, "not restarted yet");
    pod.restart("side");
    let new = pod.container("side");
    assert_ne!(new.pid, old.pid);
    eventually("the restart counted", || {
        (agent_metric(&listen, &series) == 1.0).then_some(())
    });
    converges(&listen, &node, "after the restart");
    let topo: Value = serde_json::from_str(&http_get(&listen, "/topology").unwrap().body).unwrap();
    let sides: Vec<&Value> = topo["pods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "restarts")
        .flat_map(|p| p["containers"].as_array().unwrap())
        .filter(|c| c["name"] == "side")
        .collect();
    assert_eq!(sides.len(), 1, "one side container, the new run: {sides:?}");
    assert_eq!(sides[0]["id"], new.id.as_str());
    assert_eq!(sides[0]["init"]["pid"], new.pid);
    drop(pod);
    converges(&listen, &node, "after the pod is gone");
    agent.stop();
}

fn an_agent_killed_in_a_grace_period_rebuilds_from_proc(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let dir = TempDir::new("churn-agent");
    let (first, listen, _) = agent_in(&dir, &[]);
    let pod = node.play(
        "agent-dies",
        &pod_yaml(
            "agent-dies",
            "",
            &[Spec::sh("stubborn", &["/bin/sh", "-c", NOTRAP])],
            "",
        ),
    );
    let init = pod.container("stubborn").pid;
    wait_has_child(init);
    eventually("the pod in the first agent's topology", || {
        let t = http_get(&listen, "/topology").ok()?.body;
        t.contains("\"agent-dies\"").then_some(())
    });
    let second = std::thread::scope(|s| {
        let stop = s.spawn(|| pod.stop(8));
        // The first agent dies within the grace period, after the SIGTERM.
        std::thread::sleep(Duration::from_secs(2));
        let killed = first.stop_with(libc::SIGKILL);
        assert_eq!(killed.code, None, "SIGKILLed");
        let (second, listen, _) = agent_in(&dir, &[]);
        // Rebuilt from /proc: the stopping pod is there.
        let t = http_get(&listen, "/topology").unwrap().body;
        assert!(t.contains(&format!("\"pid\":{init}")), "{t}");
        stop.join().unwrap();
        (second, listen)
    });
    let (second, listen) = second;
    drop(pod);
    converges(&listen, &node, "after the pod the first agent saw stopping");
    assert!(
        agent_metric(&listen, "nstrace_pod_shutdown_seconds_count{") <= 1.0,
        "counted at most once"
    );
    let done = second.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    for kind in ["pid1_ignores_sigterm", "slow_shutdown"] {
        let n = done
            .events
            .iter()
            .filter(|v| v["finding"] == kind && v["pod"] == "agent-dies")
            .count();
        assert!(n <= 1, "{kind} logged {n} times: {:?}", done.events);
    }
}

fn a_container_that_lives_milliseconds_is_named(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let audit = Tracer::audit(&[]);
    // `true` exits within milliseconds of its exec, before /proc can be read.
    let pod = node.start(
        "brief",
        &pod_yaml(
            "brief",
            "  restartPolicy: Never\n",
            &[
                Spec::sh("main", &["sleep", "1000"]),
                Spec::sh("brief", &["true"]),
            ],
            "",
        ),
    );
    let brief = eventually("the brief container's id", || {
        pod.container_ids()
            .into_iter()
            .find(|(name, _)| name == "brief")
    })
    .1;
    eventually("the brief container gone", || {
        (!pod.container_running("brief")).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    let done = audit.stop();
    let summary = audit_summary(&done.events).expect("the summary");
    let watched = &summary["summary"]["watched"];
    assert!(
        strings(watched, "containers").contains(&brief),
        "the brief container was watched: {watched}"
    );
    assert_eq!(watched["names"][&brief], "brief", "and named: {watched}");
    drop(pod);
}
