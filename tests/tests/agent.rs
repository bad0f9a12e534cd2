//! The node agent on the real node, on both runtimes: health, metrics of a real
//! pod's broken PID 1 and its slow shutdown, the live topology, one agent per
//! node, and a clean stop on Ctrl-C (the binary, as an engineer runs it) and on
//! SIGTERM (the image, as the kubelet stops it: on containerd, the pod of
//! `deploy/daemonset.yaml` run through CRI as the kubelet runs it).

use std::process::Command;

use nstrace_tests::pod::{pod_yaml, Node, Pod, Runtime, Spec, NOTRAP};
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

nstrace_tests::on_both_runtimes!(
    agent_serves_health_metrics_and_topology_and_stops_on_ctrl_c,
    agent_image_runs_as_the_daemonset_and_prometheus_scrapes_it,
);

/// The `namespace` label of a pod's series (empty where the runtime has none).
fn ns_label(pod: &Pod) -> String {
    pod.namespace().unwrap_or_default()
}

fn agent_serves_health_metrics_and_topology_and_stops_on_ctrl_c(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
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

    let pod = node.play(
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
    let infra = pod.infra();
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
    wait_has_child(pod.container("stubborn").pid);
    pod.stop(2);
    let ns = ns_label(&pod);
    let series = format!("nstrace_findings_total{{finding=\"pid1_ignores_sigterm\",severity=\"high\",namespace=\"{ns}\",pod=\"ag-bad\",container=\"stubborn\"}}");
    let killed =
        format!("nstrace_pod_shutdown_seconds_count{{namespace=\"{ns}\",verdict=\"sigkill\"}}");
    let metrics = eventually("the finding and the shutdown in /metrics", || {
        let m = http_get(&listen, "/metrics").ok()?.body;
        (sample(&m, &series)? >= 1.0 && sample(&m, &killed)? >= 1.0).then_some(m)
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

/// The agent's image, run the way `deploy/daemonset.yaml` runs it; removed
/// on drop (also when the test fails).
enum Agent {
    /// `podman run` with the DaemonSet's settings (podman plays no DaemonSet).
    Podman(String),
    /// The DaemonSet's pod, from the file, through CRI.
    Cri {
        pod: Pod,
        /// The node's root mount made shared while it runs (see `SharedRoot`).
        _root: nstrace_tests::cri::SharedRoot,
        /// /run/nstrace, when the kubelet made it (DirectoryOrCreate).
        made: Option<std::path::PathBuf>,
    },
}

impl Drop for Agent {
    fn drop(&mut self) {
        match self {
            Agent::Podman(name) => {
                let _ = Command::new("podman")
                    .args(["rm", "-f", "-t", "0", name])
                    .output();
            }
            Agent::Cri { pod, made, .. } => {
                if let Some(p) = pod.cri() {
                    let _ = p.containerd.remove_sandbox(&p.sandbox);
                }
                if let Some(d) = made {
                    let _ = std::fs::remove_dir_all(d);
                }
            }
        }
    }
}

/// `podman run` of the image with what the DaemonSet gives its pod (privileged,
/// the node's PID and network namespaces, read-only root and mounts; podman
/// keeps its bundles and names only under /var/lib, so those are mounted too).
fn podman_agent(dir: &TempDir) -> (Agent, String) {
    let lock_dir = dir.path().join("run-nstrace");
    std::fs::create_dir_all(&lock_dir).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let name = format!("nstrace-agent-test-{}", std::process::id());
    let storage = "/var/lib/containers/storage";
    let mount = |host: &str, inside: &str, opts: &str| format!("{host}:{inside}:{opts}");
    let lock_mount = format!("{}:/run/nstrace", lock_dir.display());
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
    (Agent::Podman(name), listen)
}

/// The DaemonSet's pod from `deploy/daemonset.yaml`, exactly as the file says
/// (securityContext, hostPID, hostNetwork, hostPath mounts, args, resources),
/// through CRI, with the image `cargo xtask test` saved imported into containerd.
fn cri_agent(node: &Node) -> (Agent, String) {
    let c = node.containerd().expect("a containerd node");
    c.import(&nstrace_tests::cri::images_dir().join("nstrace.tar"))
        .unwrap_or_else(|e| panic!("{e} (cargo xtask test saves it)"));
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/daemonset.yaml"
    ))
    .unwrap();
    let spec = nstrace_tests::kubelet::pod_of(&yaml).unwrap();
    let args: Vec<&str> = spec["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    let port = args
        .iter()
        .position(|a| *a == "--listen")
        .and_then(|i| args.get(i + 1))
        .and_then(|l| l.rsplit(':').next())
        .expect("the DaemonSet names its --listen address");
    let listen = format!("127.0.0.1:{port}");
    assert!(
        std::net::TcpListener::bind(&listen).is_ok(),
        "port {port} of the node is taken: the DaemonSet's agent needs it"
    );
    let made = (!std::path::Path::new("/run/nstrace").exists()).then(|| "/run/nstrace".into());
    let root = nstrace_tests::cri::SharedRoot::new(c);
    let name = spec["metadata"]["name"].as_str().unwrap().to_owned();
    let pod = node.play(&name, &yaml);
    (
        Agent::Cri {
            pod,
            _root: root,
            made,
        },
        listen,
    )
}

/// The image `cargo xtask image` built runs as the DaemonSet runs it; a real
/// Prometheus scrapes it and finds the broken PID 1 of a pod that was stopped,
/// labelled with the pod's Kubernetes names, and its SIGKILL shutdown;
/// promtool accepts the exposition; SIGTERM (the kubelet's stop, or podman's)
/// stops it cleanly, exit 0, its findings in its log.
fn agent_image_runs_as_the_daemonset_and_prometheus_scrapes_it(rt: Runtime) {
    use nstrace_tests::prometheus::{
        openmetrics_to_text, promtool_check_metrics, sample_value, Prometheus,
    };
    let _g = serial();
    let node = Node::new(rt);
    let dir = TempDir::new("agent-image");
    let mark = bpf::last_program_id();
    let (agent, listen) = match rt {
        Runtime::Podman => podman_agent(&dir),
        Runtime::Containerd => cri_agent(&node),
    };
    eventually("/healthz 200 from the image", || {
        http_get(&listen, "/healthz")
            .ok()
            .filter(|r| r.status == 200)
    });

    assert_attached(mark);

    let pod = node.play(
        "ag-img",
        &pod_yaml(
            "ag-img",
            "",
            &[Spec::sh("stubborn", &["/bin/sh", "-c", NOTRAP])],
            "",
        ),
    );
    let ns = ns_label(&pod);
    // Named before it stops: the agent has read the names from the runtime's files.
    eventually("the pod in the agent's topology", || {
        let r = http_get(&listen, "/topology").ok()?;
        r.body.contains("\"stubborn\"").then_some(())
    });
    wait_has_child(pod.container("stubborn").pid);
    pod.stop(2);
    drop(pod);

    let prom = Prometheus::start(&[&listen]);
    prom.wait_up(1);
    let finding = prom.wait_for(&format!(
        "nstrace_findings_total{{finding=\"pid1_ignores_sigterm\",namespace=\"{ns}\",pod=\"ag-img\",container=\"stubborn\"}}"
    ));
    assert!(sample_value(&finding[0]) >= 1.0, "{finding:?}");
    let killed = prom.wait_for(&format!(
        "nstrace_pod_shutdown_seconds_count{{namespace=\"{ns}\",verdict=\"sigkill\"}}"
    ));
    assert!(sample_value(&killed[0]) >= 1.0, "{killed:?}");
    let exposition = http_get(&listen, "/metrics").unwrap().body;
    promtool_check_metrics(&openmetrics_to_text(&exposition))
        .unwrap_or_else(|e| panic!("promtool: {e}\n{exposition}"));
    drop(prom);

    // SIGTERM: detach, flush, exit 0 well inside the stop timeout.
    let (code, stdout) = match &agent {
        Agent::Podman(name) => {
            let stop = Command::new("podman")
                .args(["stop", "-t", "10", name])
                .output()
                .unwrap();
            assert!(stop.status.success());
            let code = Command::new("podman")
                .args(["inspect", "--format", "{{.State.ExitCode}}", name])
                .output()
                .unwrap();
            let logs = Command::new("podman")
                .args(["logs", name])
                .output()
                .unwrap();
            (
                String::from_utf8_lossy(&code.stdout).trim().to_owned(),
                String::from_utf8_lossy(&logs.stdout).into_owned(),
            )
        }
        Agent::Cri { pod, .. } => {
            // The kubelet's stop, with the file's terminationGracePeriodSeconds.
            let grace = pod.spec_grace_s();
            pod.stop(grace);
            let p = pod.cri().unwrap();
            let (st, _) = p.containerd.container_status(&p.containers[0].id).unwrap();
            (st.exit_code.to_string(), pod.logs(&p.containers[0].name))
        }
    };
    assert_eq!(
        code, "0",
        "exit code after SIGTERM (137 would be the runtime's SIGKILL)"
    );
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
