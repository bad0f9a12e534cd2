//! The node agent on the real node: health, metrics of a real pod's broken
//! PID 1 and its slow shutdown, the live topology, one agent per node, and a
//! clean stop on Ctrl-C (the binary, as an engineer runs it) and on SIGTERM
//! (the image, as the kubelet stops it).

use std::process::Command;

use nstrace_tests::pod::{pod_yaml, Pod, Spec, NOTRAP};
use nstrace_tests::prometheus::{free_port, http_get};
use nstrace_tests::*;

/// The agent started after `mark` has its kernel programs loaded (so that
/// [`assert_detached`] looks for something that was there).
fn assert_attached(mark: u32) {
    let loaded = bpf::nstrace_programs_since(mark);
    for name in ["task_newtask", "signal_generate", "sched_process_e"] {
        assert!(
            loaded.iter().any(|(_, n)| n == name),
            "{name} not loaded: {loaded:?}"
        );
    }
}

/// None of the programs loaded after `mark` is left in the kernel (freeing
/// them after the last fd closes is deferred, hence the wait).
fn assert_detached(mark: u32) {
    eventually("nstrace's programs gone from the kernel", || {
        bpf::nstrace_programs_since(mark).is_empty().then_some(())
    });
}

/// The value of the first sample of `metrics` whose line starts with `series`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn agent_serves_health_metrics_and_topology_and_stops_on_ctrl_c() {
    let _g = serial();
    let dir = TempDir::new("agent");
    let lock = dir.path().join("agent.lock");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mark = bpf::last_program_id();
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
        http_get(&listen, "/healthz")
            .ok()
            .filter(|r| r.status == 200)
    });
    assert_eq!(health.body, "ok\n");
    assert_attached(mark);

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
        let r = http_get(&listen, "/topology").ok()?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
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
        let m = http_get(&listen, "/metrics").ok()?.body;
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

    // Ctrl-C, as an engineer stops it in a terminal (the image test below
    // stops with SIGTERM, as the kubelet does).
    let done = agent.stop_with(libc::SIGINT);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let finding = done
        .events
        .iter()
        .find(|v| v["finding"] == "pid1_ignores_sigterm" && v["pod"] == "ag-bad")
        .unwrap_or_else(|| panic!("no JSON finding line: {:?}", done.events));
    assert_eq!(finding["container_name"], "stubborn");
    assert!(
        http_get(&listen, "/healthz").is_err(),
        "the listener is gone with the agent"
    );
    // The lock went with it: a new agent could start.
    let f = std::fs::File::open(&lock).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file this test opened.
    let free = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    assert!(free, "the lock is released");
    assert_detached(mark);
}

/// The agent's image, run by podman the way `deploy/daemonset.yaml` runs it;
/// removed on drop (also when the test fails).
struct AgentContainer(String);

impl Drop for AgentContainer {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "-f", "-t", "0", &self.0])
            .output();
    }
}

/// The image `cargo xtask image` built runs as the DaemonSet runs it
/// (privileged, the node's PID and network namespaces, read-only root and
/// mounts); a real Prometheus scrapes it and finds the broken PID 1 of a pod
/// that was stopped, and its SIGKILL shutdown; promtool accepts the
/// exposition; SIGTERM stops it cleanly.
#[test]
fn agent_image_runs_as_the_daemonset_and_prometheus_scrapes_it() {
    use nstrace_tests::prometheus::{
        openmetrics_to_text, promtool_check_metrics, sample_value, Prometheus,
    };
    let _g = serial();
    let dir = TempDir::new("agent-image");
    let lock_dir = dir.path().join("run-nstrace");
    std::fs::create_dir_all(&lock_dir).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let name = format!("nstrace-agent-test-{}", std::process::id());
    let storage = "/var/lib/containers/storage";
    let mount = |host: &str, inside: &str, opts: &str| format!("{host}:{inside}:{opts}");
    let lock_mount = format!("{}:/run/nstrace", lock_dir.display());
    let mark = bpf::last_program_id();
    let out = Command::new("podman")
        .args(["run", "-d", "--name", &name])
        .args([
            "--privileged",
            "--pid=host",
            "--network=host",
            "--read-only",
        ])
        .args(["-v", &mount("/sys/kernel/btf", "/sys/kernel/btf", "ro")])
        .args(["-v", &mount("/sys/fs/cgroup", "/sys/fs/cgroup", "ro")])
        .args(["-v", &mount("/run", "/host/run", "ro,rslave")])
        .args(["-v", &lock_mount])
        // podman keeps bundles and names only under /var/lib (a CRI node: /run).
        .args([
            "-v",
            &mount(
                &format!("{storage}/overlay-containers"),
                "/host/var/lib/containers/storage/overlay-containers",
                "ro",
            ),
        ])
        .args([
            "-v",
            &mount(
                &format!("{storage}/libpod"),
                "/host/var/lib/containers/storage/libpod",
                "ro",
            ),
        ])
        .arg("localhost/nstrace:latest")
        .args(["agent", "--listen", &listen])
        .args([
            "--storage-root",
            "/host/var/lib/containers/storage/overlay-containers",
            "--podman-db",
            "/host/var/lib/containers/storage/libpod/bolt_state.db",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let agent = AgentContainer(name.clone());
    eventually("/healthz 200 from the image", || {
        http_get(&listen, "/healthz")
            .ok()
            .filter(|r| r.status == 200)
    });

    assert_attached(mark);

    let pod = Pod::play(
        "ag-img",
        &pod_yaml(
            "ag-img",
            "",
            &[Spec::sh("stubborn", &["/bin/sh", "-c", NOTRAP])],
            "",
        ),
    );
    // Named before it stops: the agent has read the names from podman's files.
    eventually("the pod in the agent's topology", || {
        let r = http_get(&listen, "/topology").ok()?;
        r.body.contains("\"stubborn\"").then_some(())
    });
    pod.stop(2);
    drop(pod);

    let prom = Prometheus::start(&[&listen]);
    prom.wait_up(1);
    let finding = prom.wait_for(
        "nstrace_findings_total{finding=\"pid1_ignores_sigterm\",pod=\"ag-img\",container=\"stubborn\"}",
    );
    assert!(sample_value(&finding[0]) >= 1.0, "{finding:?}");
    let killed = prom.wait_for("nstrace_pod_shutdown_seconds_count{verdict=\"sigkill\"}");
    assert!(sample_value(&killed[0]) >= 1.0, "{killed:?}");
    let exposition = http_get(&listen, "/metrics").unwrap().body;
    promtool_check_metrics(&openmetrics_to_text(&exposition))
        .unwrap_or_else(|e| panic!("promtool: {e}\n{exposition}"));
    drop(prom);

    // SIGTERM (podman stop): detach, flush, exit 0 well inside the stop timeout.
    let stop = Command::new("podman")
        .args(["stop", "-t", "10", &name])
        .output()
        .unwrap();
    assert!(stop.status.success());
    let code = Command::new("podman")
        .args(["inspect", "--format", "{{.State.ExitCode}}", &name])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&code.stdout).trim(),
        "0",
        "exit code after SIGTERM (137 would be podman's SIGKILL)"
    );
    let logs = Command::new("podman")
        .args(["logs", &name])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&logs.stdout);
    assert!(
        stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| v["finding"] == "pid1_ignores_sigterm" && v["pod"] == "ag-img"),
        "the JSON log line: {stdout}"
    );
    assert!(
        http_get(&listen, "/healthz").is_err(),
        "nothing left listening"
    );
    assert_detached(mark);
    drop(agent);
}
