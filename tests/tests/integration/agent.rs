//! The node agent on the real node, on both runtimes: health, metrics of a
//! real pod's broken PID 1 and its slow shutdown, the live topology, one agent
//! per node, and a clean stop on Ctrl-C (the binary, as an engineer runs it)
//! and on SIGTERM (the image, run with the DaemonSet's capabilities: by podman
//! with the file's settings, and on containerd the pod of
//! `deploy/daemonset.yaml` run through CRI as the kubelet runs it; scraped by
//! a real Prometheus that evaluates the shipped alerts and runs every query of
//! the shipped dashboard); quiet by default (a healthy pod
//! gives no log line, a broken one only its findings, for the agent and for
//! `audit`'s text); and an HTTP listener that holds against clients that
//! hold connections, send too much or never read.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use nstrace_tests::agent::{
    agent_in, agent_metric, daemonset_caps, dashboard_queries, podman_run, repo, AgentContainer,
};
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

nstrace_tests::on_every_runtime!(agent_image_runs_as_the_daemonset_and_prometheus_scrapes_it);
nstrace_tests::on_runtimes!([podman, containerd]
    agent_serves_health_metrics_and_topology_and_stops_on_ctrl_c,
    agent_and_audit_text_are_quiet_by_default,
    agent_page_answers_during_a_signal_storm,
);

/// The `namespace` label of a pod's series (empty where the runtime has none).
fn ns_label(pod: &Pod) -> String {
    pod.namespace().unwrap_or_default()
}

fn agent_serves_health_metrics_and_topology_and_stops_on_ctrl_c(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let dir = TempDir::new("agent");
    let mark = bpf::last_program_id();
    // `--min-severity info`: routine runtime joins are logged too (the quiet
    // default is tested below).
    let (agent, listen, lock) = agent_in(&dir, &["--min-severity", "info"]);
    assert_eq!(http_get(&listen, "/healthz").unwrap().body, "ok\n");
    assert_attached(mark);

    // A second agent on this node refuses, in one line, and leaves the first alone.
    let second = nstrace_tests::nstrace()
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
    // A shell without a trap: the kernel dropped SIGTERM, the cause label says so.
    let killed = format!(
        "nstrace_pod_shutdown_seconds_count{{namespace=\"{ns}\",verdict=\"sigkill\",cause=\"no_handler\"}}"
    );
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
        "nstrace_healthy 1",
        "nstrace_runtime_joins_total{runtime=\"",
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
    let routine = done
        .events
        .iter()
        .find(|v| {
            v["finding"] == "namespace_join"
                && v["join"]["expected"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("container runtime activity"))
        })
        .unwrap_or_else(|| panic!("no routine join line at info: {:?}", done.events));
    assert_eq!(routine["severity"], "info", "{routine}");
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

/// Runs every dashboard query not yet answered; returns those still without series.
fn unanswered(
    prom: &nstrace_tests::prometheus::Prometheus,
    left: Vec<(String, String)>,
) -> Vec<(String, String)> {
    left.into_iter()
        .filter(|(_, q)| prom.query(q).as_array().is_none_or(|a| a.is_empty()))
        .collect()
}

/// The agent's image, run the way `deploy/daemonset.yaml` runs it; removed
/// on drop (also when the test fails).
enum Agent {
    /// `podman run` with the DaemonSet's settings (podman plays no DaemonSet).
    Podman(AgentContainer),
    /// `deploy/docker-compose.yaml`, as written, on the harness's dockerd.
    Compose {
        docker: std::sync::Arc<nstrace_tests::docker::Dockerd>,
        /// The node's root mount made shared while it runs (the file's rslave mount).
        _root: nstrace_tests::cri::SharedRoot,
        /// /run/nstrace, when Docker made it (a missing bind source is made).
        made: Option<std::path::PathBuf>,
    },
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
            // Removed by its own drop.
            Agent::Podman(_) => {}
            Agent::Compose { docker, made, .. } => {
                let _ = compose_agent_cmd(docker).args(["down", "-t", "0"]).output();
                if let Some(d) = made {
                    let _ = std::fs::remove_dir_all(d);
                }
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

/// `podman run` of the image with the DaemonSet's capabilities and settings
/// (see [`podman_run`]); its /run/nstrace in `dir`.
fn podman_agent(dir: &TempDir) -> (Agent, String) {
    let lock_dir = dir.path().join("run-nstrace");
    std::fs::create_dir_all(&lock_dir).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let name = format!("nstrace-agent-test-{}", std::process::id());
    let out = podman_run(
        &name,
        &daemonset_caps(),
        &lock_dir,
        true,
        &["--listen", &listen, "--zombie-after", "2s"],
    );
    let agent = AgentContainer(name);
    assert_ok(&out);
    (Agent::Podman(agent), listen)
}

/// `docker-compose` of `deploy/docker-compose.yaml` on `docker`, with the
/// harness dockerd's data root for the file's `DOCKER_DATA_ROOT`.
fn compose_agent_cmd(docker: &nstrace_tests::docker::Dockerd) -> Command {
    let mut c = docker.compose("nstrace", &repo("deploy/docker-compose.yaml"));
    c.env("DOCKER_DATA_ROOT", docker.data_root());
    c
}

/// `deploy/docker-compose.yaml` as written (capabilities, read-only root and
/// mounts, the host's PID and network namespaces), with the image `cargo xtask
/// test` saved loaded into the harness's dockerd; the file's only variable,
/// `DOCKER_DATA_ROOT`, names the harness dockerd's data root.
fn compose_agent(node: &Node) -> (Agent, String) {
    let d = node.docker().expect("a Docker node").clone();
    node.import("nstrace");
    let file = std::fs::read_to_string(repo("deploy/docker-compose.yaml")).unwrap();
    let port = file
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "- --listen")
        .nth(1)
        .and_then(|l| l.rsplit(':').next())
        .expect("the compose file names its --listen address")
        .to_owned();
    let listen = format!("127.0.0.1:{port}");
    assert!(
        std::net::TcpListener::bind(&listen).is_ok(),
        "port {port} of the node is taken: the compose file's agent needs it"
    );
    let made = (!std::path::Path::new("/run/nstrace").exists()).then(|| "/run/nstrace".into());
    let root = nstrace_tests::cri::SharedRoot::marked_in(d.dir());
    let agent = Agent::Compose {
        docker: d.clone(),
        _root: root,
        made,
    };
    assert_ok(&compose_agent_cmd(&d).args(["up", "-d"]).output().unwrap());
    (agent, listen)
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
    // The harness's containerd keeps its bundles in a state directory of its
    // own under /run (never the node's /run/containerd, which a machine's own
    // containerd may use): the file's --containerd-root, the node's default
    // under the same /host/run mount, is pointed there. Nothing else changes.
    let file_root = "/host/run/containerd/io.containerd.runtime.v2.task/k8s.io";
    assert!(yaml.contains(file_root), "the DaemonSet names {file_root}");
    let tasks = c.tasks();
    let inside = std::path::Path::new("/host").join(tasks.strip_prefix("/").unwrap());
    let yaml = yaml.replace(file_root, &inside.display().to_string());
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

/// The image `cargo xtask image` built runs as the DaemonSet runs it (not
/// privileged: exactly the capabilities the DaemonSet adds, no privilege
/// escalation, the node's PID and network namespaces, read-only root and
/// mounts); a real Prometheus, with the shipped alerting rules, scrapes it:
/// it finds the broken PID 1 and the lasting zombie of a pod, the SIGKILL
/// shutdown when it is stopped, the alerts for them fire, and every query of
/// the shipped Grafana dashboard returns series; promtool accepts the
/// exposition; SIGTERM (podman's stop, or the kubelet's) stops it cleanly,
/// exit 0, its findings in its log.
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
        Runtime::Docker => compose_agent(&node),
    };
    eventually("/healthz 200 from the image", || {
        http_get(&listen, "/healthz")
            .ok()
            .filter(|r| r.status == 200)
    });
    assert_attached(mark);
    let rules = repo("deploy/prometheus-rules.yaml");
    let prom = Prometheus::start_with_rules(&[&listen], &[&rules]);
    prom.wait_up(1);

    // A PID 1 that drops SIGTERM, and one that leaves an orphan unreaped.
    let pod = node.play(
        "ag-img",
        &pod_yaml(
            "ag-img",
            "",
            &[
                Spec::sh("stubborn", &["/bin/sh", "-c", NOTRAP]),
                Spec::sh("noreap", &["/bin/sh", "-c", "(sleep 1 &); exec sleep 1000"]),
            ],
            "",
        ),
    );
    let ns = ns_label(&pod);
    // Named before it stops: the agent has read the names from the runtime's files.
    eventually("the pod in the agent's topology", || {
        let r = http_get(&listen, "/topology").ok()?;
        r.body.contains("\"stubborn\"").then_some(())
    });
    let zombie = prom.wait_for("nstrace_zombies{pod=\"ag-img\",container=\"noreap\"}");
    assert!(sample_value(&zombie[0]) >= 1.0, "{zombie:?}");
    // The dashboard while the pod runs (the zombies panel has series only now)...
    let mut left = dashboard_queries();
    assert!(left.len() >= 10, "{left:?}");
    left = unanswered(&prom, left);
    wait_has_child(pod.container("stubborn").pid);
    pod.stop(2);
    drop(pod);

    let finding = prom.wait_for(&format!(
        "nstrace_findings_total{{finding=\"pid1_ignores_sigterm\",namespace=\"{ns}\",pod=\"ag-img\",container=\"stubborn\"}}"
    ));
    assert!(sample_value(&finding[0]) >= 1.0, "{finding:?}");
    let killed = prom.wait_for(&format!(
        "nstrace_pod_shutdown_seconds_count{{namespace=\"{ns}\",verdict=\"sigkill\"}}"
    ));
    assert!(sample_value(&killed[0]) >= 1.0, "{killed:?}");
    // The shipped alerts, evaluated by Prometheus on what the agent found.
    for alert in ["NstracePid1IgnoresSigterm", "NstracePodKilledAtGraceEnd"] {
        let firing = prom.wait_for(&format!(
            "ALERTS{{alertname=\"{alert}\",alertstate=\"firing\",pod=\"ag-img\",container=\"stubborn\"}}"
        ));
        assert_eq!(firing[0]["metric"]["severity"], "warning", "{firing:?}");
    }
    let quiet = prom.query(
        "ALERTS{alertname=~\"NstraceAgentDown|NstraceAgentUnhealthy|NstraceEventsDropped\"}",
    );
    assert_eq!(quiet.as_array().map(Vec::len), Some(0), "{quiet}");
    // ...and after the stop: every panel's query has returned series.
    let start = std::time::Instant::now();
    while !left.is_empty() && start.elapsed() < EVENT_TIMEOUT {
        std::thread::sleep(Duration::from_millis(500));
        left = unanswered(&prom, left);
    }
    assert!(
        left.is_empty(),
        "dashboard queries without series: {left:#?}"
    );
    let exposition = http_get(&listen, "/metrics").unwrap().body;
    promtool_check_metrics(&openmetrics_to_text(&exposition))
        .unwrap_or_else(|e| panic!("promtool: {e}\n{exposition}"));
    drop(prom);

    // SIGTERM: detach, flush, exit 0 well inside the stop timeout.
    let (code, stdout) = match &agent {
        Agent::Podman(AgentContainer(name)) => {
            let stop = Command::new("podman")
                .args(["stop", "-t", "10", name])
                .output()
                .unwrap();
            assert_ok(&stop);
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
        Agent::Compose { docker, .. } => {
            // Compose's stop: SIGTERM, SIGKILL after the file's stop_grace_period.
            assert_ok(&compose_agent_cmd(docker).arg("stop").output().unwrap());
            let code = docker.docker_ok(&["inspect", "--format", "{{.State.ExitCode}}", "nstrace"]);
            let logs = docker.docker_out(&["logs", "nstrace"]);
            (code, String::from_utf8_lossy(&logs.stdout).into_owned())
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

/// `nstrace audit` in text, its stdout and stderr in files; stopped (SIGINT) and reaped on drop.
struct TextAudit {
    child: std::process::Child,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
}

impl TextAudit {
    fn start(dir: &std::path::Path, extra: &[&str]) -> TextAudit {
        let out = dir.join("audit.txt");
        let err = dir.join("audit.err");
        let child = nstrace_tests::nstrace()
            .arg("audit")
            .args(extra)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let a = TextAudit { child, out, err };
        eventually("the text audit attached", || {
            std::fs::read_to_string(&a.err)
                .ok()
                .filter(|e| e.contains("tracing"))
        });
        a
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Ctrl-C; its whole stdout.
    fn stop(mut self) -> String {
        // SAFETY: signalling the audit this test started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let st = self.child.wait().unwrap();
        assert!(
            st.success(),
            "{st}: {}",
            std::fs::read_to_string(&self.err).unwrap_or_default()
        );
        self.stdout()
    }
}

impl Drop for TextAudit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headlines of findings in `audit`'s text (not their indented evidence, not the summary).
fn headlines(text: &str) -> Vec<&str> {
    let summary = text.find("summary:").unwrap_or(text.len());
    text[..summary]
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.is_empty())
        .collect()
}

/// Quiet by default: with the agent's default `--min-severity` (and
/// `audit`'s text default), a healthy pod started and stopped gives no log
/// line at all, and a pod with a broken PID 1 gives its findings and nothing
/// else; the runtime's routine joins are counted in
/// `nstrace_runtime_joins_total`, and the audit's summary says how many it
/// did not print.
fn agent_and_audit_text_are_quiet_by_default(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let dir = TempDir::new("agent-quiet");
    let (agent, listen, _) = agent_in(&dir, &["--predict-after", "1s"]);
    let audit = TextAudit::start(dir.path(), &["--predict-after", "1s"]);
    let metric = |series: &str| -> f64 {
        let m = http_get(&listen, "/metrics")
            .map(|r| r.body)
            .unwrap_or_default();
        m.lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };

    // A healthy pod: tini -g passes SIGTERM on, everything ends in time.
    let good = node.play(
        "qt-good",
        &pod_yaml(
            "qt-good",
            "",
            &[Spec::sh(
                "app",
                &["tini", "-g", "--", "/bin/sh", "-c", "sleep 1000 & wait"],
            )],
            "",
        ),
    );
    eventually(
        "the healthy pod in the topology and its runtime joins counted",
        || {
            let t = http_get(&listen, "/topology").ok()?.body;
            (t.contains("\"qt-good\"") && metric("nstrace_runtime_joins_total{") > 0.0)
                .then_some(())
        },
    );
    // Its PID 1s are judged once they have run --predict-after (1 s) and a tick.
    std::thread::sleep(Duration::from_secs(3));
    let graceful = format!(
        "nstrace_pod_shutdown_seconds_count{{namespace=\"{}\",verdict=\"graceful\",",
        ns_label(&good)
    );
    let graceful_before = metric(&graceful);
    good.stop(10);
    drop(good);
    eventually("the healthy pod's shutdown seen, and the pod gone", || {
        let t = http_get(&listen, "/topology").ok()?.body;
        (!t.contains("\"qt-good\"") && metric(&graceful) > graceful_before).then_some(())
    });
    assert!(
        agent.events().is_empty(),
        "a healthy pod logged: {:#?}",
        agent.events()
    );
    assert!(
        headlines(&audit.stdout()).is_empty(),
        "a healthy pod printed: {}",
        audit.stdout()
    );

    // A broken PID 1: its findings, and nothing else.
    let bad = node.play(
        "qt-broken",
        &pod_yaml(
            "qt-broken",
            "",
            &[Spec::sh("stubborn", &["/bin/sh", "-c", NOTRAP])],
            "",
        ),
    );
    agent.wait_for("the prediction", |v| {
        v["finding"] == "pid1_will_ignore_sigterm" && v["pod"] == "qt-broken"
    });
    bad.stop(2);
    drop(bad);
    agent.wait_for("the dropped SIGTERM", |v| {
        v["finding"] == "pid1_ignores_sigterm" && v["pod"] == "qt-broken"
    });
    agent.wait_for("the slow shutdown", |v| {
        v["finding"] == "slow_shutdown" && v["pod"] == "qt-broken"
    });
    eventually("the audit's findings about the broken pod", || {
        let t = audit.stdout();
        (t.contains("pid1_ignores_sigterm") && t.contains("slow_shutdown")).then_some(())
    });
    let routine = metric("nstrace_runtime_joins_total{");
    let done = agent.stop_with(libc::SIGTERM);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(!done.events.is_empty());
    for v in &done.events {
        assert_eq!(v["pod"], "qt-broken", "only the broken pod's findings: {v}");
        assert_ne!(v["severity"], "info", "{v}");
    }
    assert!(routine >= 1.0, "routine joins counted instead: {routine}");
    let text = audit.stop();
    let heads = headlines(&text);
    assert!(!heads.is_empty(), "{text}");
    for h in &heads {
        assert!(
            h.contains("qt-broken") && !h.contains("[INFO]"),
            "only the broken pod's findings: {h}\n{text}"
        );
    }
    let note = text
        .lines()
        .find(|l| l.contains("not printed:"))
        .unwrap_or_else(|| panic!("the summary says what it did not print: {text}"));
    assert!(
        note.contains("routine joins by container runtimes")
            && note.contains("--min-severity info prints them"),
        "{note}"
    );
}

/// VmRSS of a process this test started, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Raises this test process's open-file limit to `want` (or the hard limit).
fn raise_nofile(want: u64) -> u64 {
    // SAFETY: get/setrlimit on this process with a valid struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max.min(want.max(r.rlim_cur));
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        r.rlim_cur
    }
}

/// A raw request and the whole response (read until the agent closes).
fn raw_exchange(listen: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(listen).unwrap();
    s.set_read_timeout(Some(EVENT_TIMEOUT)).unwrap();
    let _ = s.write_all(request);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

/// Clients that misbehave cannot take the agent's HTTP away: far more
/// half-sent requests than the connection cap, held open, leave /healthz
/// answering and the agent's memory where it was; the held connections are
/// closed by the agent (the newest at the header timeout, the rest to make
/// room); a client that never reads is cut at the idle timeout; an oversized
/// head, a body and a POST are refused.
#[test]
fn agent_http_holds_against_bad_clients() {
    let _g = serial();
    const CAP: usize = 16;
    const HELD: usize = 1500;
    assert!(
        raise_nofile(4096) as usize > HELD + 64,
        "this test needs {HELD} sockets"
    );
    let dir = TempDir::new("agent-http");
    let cap = CAP.to_string();
    let (agent, listen, _) = agent_in(
        &dir,
        &[
            "--http-max-connections",
            &cap,
            "--http-header-timeout",
            "2s",
            "--http-idle-timeout",
            "3s",
        ],
    );
    let before = rss_kib(agent.pid());

    // Half a request head each, then nothing: held as long as the agent lets them.
    let mut held: Vec<TcpStream> = (0..HELD)
        .map(|_| {
            let mut s = TcpStream::connect(&listen).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: agent\r\nX-Wait: ")
                .unwrap();
            s
        })
        .collect();
    let health = http_get(&listen, "/healthz").expect("/healthz with every slot taken");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let during = rss_kib(agent.pid());
    assert!(
        during < before + 8 * 1024,
        "{HELD} held connections grew the agent from {before} to {during} KiB"
    );
    assert!(agent_metric(&listen, "nstrace_http_connections ") <= CAP as f64);
    // Closed to make room (or, on a slow machine, the oldest at the header timeout first).
    let closed = agent_metric(
        &listen,
        "nstrace_http_connections_closed_total{reason=\"evicted\"}",
    ) + agent_metric(
        &listen,
        "nstrace_http_connections_closed_total{reason=\"header_timeout\"}",
    );
    assert!(closed >= (HELD - CAP) as f64, "{closed}");
    // Every held connection is closed by the agent: EOF (or a reset) on each.
    for s in &mut held {
        s.set_read_timeout(Some(EVENT_TIMEOUT)).unwrap();
        let mut buf = [0u8; 512];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                // hyper may answer a timed-out head before closing.
                Ok(_) => continue,
            }
        }
    }
    drop(held);
    eventually(
        "the newest held connections closed at the header timeout",
        || {
            (agent_metric(
                &listen,
                "nstrace_http_connections_closed_total{reason=\"header_timeout\"}",
            ) >= 1.0)
                .then_some(())
        },
    );

    // A client that sends requests but never reads: cut at the idle timeout.
    let mut sink = TcpStream::connect(&listen).unwrap();
    let many =
        "GET /topology HTTP/1.1\r\nHost: agent\r\n\r\nGET /metrics HTTP/1.1\r\nHost: agent\r\n\r\n"
            .repeat(2000);
    let writer = std::thread::spawn(move || {
        // Blocks once the agent stops reading (its responses are never read); ends when it closes.
        let _ = sink.write_all(many.as_bytes());
        sink
    });
    eventually("the reader that never reads cut off", || {
        (agent_metric(
            &listen,
            "nstrace_http_connections_closed_total{reason=\"idle\"}",
        ) >= 1.0)
            .then_some(())
    });
    drop(writer.join().unwrap());

    // Too much, or the wrong thing.
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nHost: agent\r\nX-Big: {}\r\n\r\n",
        "x".repeat(20_000)
    );
    assert!(raw_exchange(&listen, huge.as_bytes()).starts_with("HTTP/1.1 431"));
    let post = raw_exchange(&listen, b"POST /metrics HTTP/1.1\r\nHost: agent\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    assert!(
        post.to_ascii_lowercase().contains("allow: get, head"),
        "{post}"
    );
    let body = raw_exchange(&listen, b"GET /metrics HTTP/1.1\r\nHost: agent\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    assert!(body.starts_with("HTTP/1.1 413"), "{body}");
    let head = raw_exchange(
        &listen,
        b"HEAD /healthz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n",
    );
    assert!(
        head.starts_with("HTTP/1.1 200") && !head.contains("ok\n"),
        "{head}"
    );

    assert_eq!(http_get(&listen, "/healthz").unwrap().status, 200);
    let done = agent.stop_with(libc::SIGTERM);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
}

/// The largest page the agent serves (`nstrace agent --help`, the agent guide).
const MAX_PAGE_BYTES: usize = 2 << 20;

/// The agent's `/` during a signal storm the agent streams (SIGUSR1/SIGUSR2
/// round trips in a PID namespace of their own, `--signals USR1,USR2`): every
/// answer is the page — 200, HTML with its Content-Security-Policy, within
/// the size bound and the agent's HTTP limits — showing the pod, its
/// container (while it runs) and its shutdown, named; read in the browser (network off) it has no
/// error and makes no request.
fn agent_page_answers_during_a_signal_storm(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let dir = TempDir::new("agent-page");
    let (agent, listen, _) = agent_in(
        &dir,
        &["--signals", "USR1,USR2", "--http-idle-timeout", "10s"],
    );
    let pod = node.play(
        "ag-page",
        &pod_yaml(
            "ag-page",
            "",
            &[Spec::sh("stubborn", &["/bin/sh", "-c", NOTRAP])],
            "",
        ),
    );
    let stubborn = pod.container("stubborn");
    wait_has_child(stubborn.pid);
    // The page is made at the agent's ticks: the container is on it before it stops.
    let mark = format!("data-container=\"{}\"", stubborn.id);
    eventually("the container on the agent's page", || {
        http_get(&listen, "/")
            .ok()?
            .body
            .contains(&mark)
            .then_some(())
    });
    let storm = Proc::spawn(
        Command::new("unshare")
            .args(["-p", "-f", "--mount-proc", "--"])
            .arg(env!("CARGO_BIN_EXE_nstrace-load"))
            .args(["signal", "100000000"]),
    );
    let before = agent_metric(&listen, "nstrace_events_total{kind=\"signal_generate\"}");
    pod.stop(2);
    let shutdown = format!("data-init-pid=\"{}\"", stubborn.pid);
    let page = eventually("the pod's shutdown on the agent's page", || {
        let r = nstrace_tests::http::get(&listen, "/", &[], Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("/ during the storm: {e}"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(
            r.header("content-security-policy")
                .is_some_and(|c| c.starts_with("default-src 'none'")),
            "{:?}",
            r.headers
        );
        assert!(r.body.len() <= MAX_PAGE_BYTES, "{} bytes", r.body.len());
        assert!(r.body.starts_with("<!DOCTYPE html>"));
        // The shutdown's chart, once it ended (with the runtime's SIGKILL).
        let article = r.body.split(&shutdown).nth(1)?.split("</article>").next()?;
        (article.contains("data-signal=\"KILL\"") && !article.contains("not finished"))
            .then_some(r.body.clone())
    });
    // The storm went on, through the agent, while it answered.
    for _ in 0..20 {
        let r = http_get(&listen, "/").expect("/ during the storm");
        assert_eq!(r.status, 200);
        assert!(r.body.len() <= MAX_PAGE_BYTES);
    }
    let during = agent_metric(&listen, "nstrace_events_total{kind=\"signal_generate\"}");
    assert!(
        during - before > 10_000.0,
        "the storm did not reach the agent: {before} → {during} signal events"
    );
    drop(storm);
    assert!(page.contains("data-pod=\"ag-page\""), "the pod on the page");
    // The container ended: its shutdown names it (the pod's graph shows the
    // containers that still run, and all of them once the pod is gone).
    let article = page.split(&shutdown).nth(1).unwrap();
    assert!(
        article
            .split("</h3>")
            .next()
            .unwrap()
            .ends_with("ag-page / container stubborn"),
        "the shutdown names its pod and container: {}",
        &article[..article.len().min(300)]
    );
    // The page as served, in the browser with no network.
    let file = dir.path().join("agent.html");
    std::fs::write(&file, &page).unwrap();
    let url = format!("file://{}", file.display());
    let mut b = nstrace_tests::browser::Browser::open(&url, Default::default());
    assert!(b.errors().is_empty(), "{:?}", b.errors());
    assert_eq!(b.requests(), std::slice::from_ref(&url));
    assert_eq!(
        b.eval(&format!(
            "document.querySelectorAll('article.shutdown[data-init-pid=\"{}\"] path.kill').length > 0",
            stubborn.pid
        )),
        true
    );
    drop(b);
    drop(pod);
    let done = agent.stop_with(libc::SIGTERM);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
}
