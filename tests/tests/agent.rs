//! The node agent on the real node: health, metrics of a real pod's broken
//! PID 1 and its slow shutdown, the live topology, one agent per node, and a
//! clean stop on SIGTERM.

use std::process::Command;

use nstrace_tests::pod::{pod_yaml, Pod, Spec};
use nstrace_tests::*;

/// A shell PID 1 with no trap: the kernel drops SIGTERM, SIGKILL ends it.
const NOTRAP: &str = "sleep 1000; echo done";

/// The value of the first sample of `metrics` whose line starts with `series`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn agent_serves_health_metrics_and_topology_and_stops_on_sigterm() {
    let _g = serial();
    let dir = TempDir::new("agent");
    let lock = dir.path().join("agent.lock");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let agent = Tracer::command(
        &[
            "agent",
            "--listen",
            &listen,
            "--lock-file",
            lock.to_str().unwrap(),
        ],
        &[],
    );
    let health = eventually("/healthz 200", || {
        http_get(port, "/healthz").ok().filter(|(s, _)| *s == 200)
    });
    assert_eq!(health.1, "ok\n");

    // A second agent on this node refuses, in one line, and leaves the first alone.
    let second = Command::new(nstrace_bin())
        .args(["agent", "--listen", "127.0.0.1:1", "--lock-file"])
        .arg(&lock)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("another nstrace agent"), "{err}");

    let pod = Pod::play(
        "ag-bad",
        &pod_yaml(
            "ag-bad",
            "",
            &[Spec::sh("stubborn", &["/bin/sh", "-c", NOTRAP])],
            "",
        ),
    );
    // The pod appears, and its network is read at a following tick.
    let topo = eventually("the pod and its network in /topology", || {
        let (_, body) = http_get(port, "/topology").ok()?;
        let v: Value = serde_json::from_str(&body).ok()?;
        v["pods"]
            .as_array()?
            .iter()
            .any(|p| p["name"] == "ag-bad" && p["network"]["read"] == true)
            .then_some(v)
    });
    assert!(topo["node"]["ns"]["net"].as_u64().is_some(), "{topo}");
    let net = &topo["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ag-bad")
        .unwrap()["network"];
    let infra = pod.containers().into_iter().find(|c| c.infra).unwrap();
    assert_eq!(
        net["netns"],
        ns_inode(&infra.pid.to_string(), "net"),
        "{net}"
    );
    assert!(
        net["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == "eth0" && i["peer"]["bridge"].is_object()),
        "{net}"
    );
    pod.stop(2);
    let series = "nstrace_findings_total{finding=\"pid1_ignores_sigterm\",severity=\"high\",namespace=\"\",pod=\"ag-bad\",container=\"stubborn\"}";
    let metrics = eventually("the finding and the shutdown in /metrics", || {
        let (_, m) = http_get(port, "/metrics").ok()?;
        let killed = "nstrace_pod_shutdown_seconds_count{namespace=\"\",verdict=\"sigkill\"}";
        (sample(&m, series)? >= 1.0 && sample(&m, killed)? >= 1.0).then_some(m)
    });
    for name in [
        "nstrace_build_info{",
        "nstrace_events_total{kind=\"exec\"}",
        "nstrace_events_dropped_total{kind=\"create\"}",
        "nstrace_kernel_read_failures_total",
        "nstrace_undecodable_total",
        "nstrace_pods",
        "nstrace_containers",
        "nstrace_resident_memory_bytes",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    assert!(sample(&metrics, "nstrace_resident_memory_bytes").unwrap() > 0.0);
    drop(pod);

    let done = agent.stop_with(libc::SIGTERM);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let finding = done
        .events
        .iter()
        .find(|v| v["finding"] == "pid1_ignores_sigterm" && v["pod"] == "ag-bad")
        .unwrap_or_else(|| panic!("no JSON finding line: {:?}", done.events));
    assert_eq!(finding["container_name"], "stubborn");
    assert!(
        http_get(port, "/healthz").is_err(),
        "the listener is gone with the agent"
    );
    // The lock went with it: a new agent could start.
    let f = std::fs::File::open(&lock).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file this test opened.
    let free = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    assert!(free, "the lock is released");
}
