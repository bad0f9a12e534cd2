//! Real pods on both runtimes (podman kube play, and containerd through CRI the
//! kubelet's way): nstrace's topology checked against what the runtime reports
//! (`podman pod inspect`, CRI's statuses), /proc of the pods' processes and
//! `lsns`, including all 12 hostNetwork/hostPID/hostIPC/shareProcessNamespace
//! arrangements; and namespace joins made from inside a pod.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use nstrace_tests::pod::{pod_yaml, Node, Pod, Runtime, Spec};
use nstrace_tests::*;

fn sharing(p: &Value) -> BTreeMap<String, String> {
    p["sharing"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn expect_sharing(p: &Value, want: &[(&str, &str)]) {
    let got = sharing(p);
    for (ty, how) in want {
        assert_eq!(got[*ty], *how, "{ty} sharing of pod {}: {got:?}", p["name"]);
    }
}

fn expect_flags(p: &Value, host_net: bool, host_pid: bool, host_ipc: bool, share_pid: bool) {
    let f = &p["flags"];
    assert_eq!(
        (
            f["hostNetwork"].as_bool(),
            f["hostPID"].as_bool(),
            f["hostIPC"].as_bool(),
            f["shareProcessNamespace"].as_bool()
        ),
        (
            Some(host_net),
            Some(host_pid),
            Some(host_ipc),
            Some(share_pid)
        ),
        "flags of pod {}: {f}",
        p["name"]
    );
}

/// Every pid nstrace puts in the pod.
fn pod_pids(p: &Value) -> BTreeSet<u64> {
    p["containers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["processes"].as_array().unwrap().iter())
        .map(|pr| u(pr, "pid"))
        .collect()
}

/// nstrace's pod equals the runtime's: id, exactly its containers (by id), the
/// infra, each container's PID 1, the Kubernetes namespace; every process it
/// lists is really in the pod, and the runtime's own processes (conmon,
/// containerd-shim) are not.
fn expect_same_as_runtime(t: &Value, pod: &Pod) {
    let p = find_pod(t, &pod.name);
    let pod_id = pod.id();
    assert_eq!(p["id"], pod_id.as_str(), "pod id: {p}");
    assert_eq!(p["namespace"].as_str(), pod.namespace().as_deref(), "{p}");
    let ctrs = pod.containers();
    let want: BTreeSet<&str> = ctrs.iter().map(|c| c.id.as_str()).collect();
    let got: BTreeSet<&str> = p["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, want, "containers of pod {}", pod.name);
    let infra = ctrs.iter().find(|c| c.infra).expect("an infra");
    assert_eq!(p["infra"]["container"], infra.id.as_str());
    assert_eq!(p["infra"]["pid"], infra.pid);
    for c in p["containers"].as_array().unwrap() {
        let rc = ctrs.iter().find(|x| c["id"] == x.id.as_str()).unwrap();
        assert_eq!(c["init"]["pid"], rc.pid, "PID 1 of {}", rc.name);
        assert_eq!(c["infra"], rc.infra, "{}", rc.name);
    }
    // Nothing from the node: each listed process's cgroup names this pod (on
    // Docker, one of its containers: a Compose project has no cgroup).
    for pid in pod_pids(p) {
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let ours = match pod.runtime {
            Runtime::Docker => ctrs.iter().any(|c| cg.contains(&c.id)),
            _ => cg.contains(&pod_id),
        };
        assert!(
            cg.is_empty() || ours,
            "process {pid} placed in pod {} has cgroup {cg}",
            pod.name
        );
    }
    for rp in pod.runtime_pids() {
        assert!(
            !pod_pids(p).contains(&u64::from(rp)),
            "{rp} is a node process"
        );
    }
}

fn sh(cmd: &'static str) -> [&'static str; 3] {
    ["sh", "-c", cmd]
}

const LOOP: &str = "while true; do sleep 1; done";

nstrace_tests::on_every_runtime!(
    app_and_log_sidecar_sharing_an_empty_dir,
    creating_and_stopping_a_pod_gives_nothing_above_info,
);
nstrace_tests::on_runtimes!([podman, containerd]
    every_host_and_share_arrangement,
    pods_started_before_and_while_tracing,
    grouping_by_namespace_equals_lsns,
    dot_output_renders_with_graphviz,
    container_entering_the_node_net_namespace_is_high,
    container_entering_another_pods_namespace_is_cross_pod,
);

/// (a) the classic app + log sidecar sharing an emptyDir: net, ipc, uts shared
/// by all containers; pid and mnt per container; user, cgroup, time the node's.
fn app_and_log_sidecar_sharing_an_empty_dir(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let app = sh("while true; do date >> /logs/app.log; sleep 1; done");
    let side = sh("touch /logs/app.log; tail -F /logs/app.log");
    let yaml = pod_yaml(
        "nst-emptydir",
        "",
        &[
            Spec {
                name: "app",
                command: &app,
                extra: "    volumeMounts:\n    - name: nst-logs\n      mountPath: /logs\n",
            },
            Spec {
                name: "sidecar",
                command: &side,
                extra: "    volumeMounts:\n    - name: nst-logs\n      mountPath: /logs\n",
            },
        ],
        "  volumes:\n  - name: nst-logs\n    emptyDir: {}\n",
    );
    let pod = node.play("nst-emptydir", &yaml);
    let t = topology_json();
    expect_same_as_runtime(&t, &pod);
    let p = find_pod(&t, "nst-emptydir");
    assert_eq!(p["containers"].as_array().unwrap().len(), 3);
    // Docker shares no UTS namespace between containers (`--network
    // container:` joins the network only; each keeps the same hostname).
    let uts = if rt == Runtime::Docker {
        "per-container"
    } else {
        "shared"
    };
    expect_sharing(
        p,
        &[
            ("net", "shared"),
            ("ipc", "shared"),
            ("uts", uts),
            ("pid", "per-container"),
            ("mnt", "per-container"),
            ("user", "node"),
            ("cgroup", "node"),
            ("time", "node"),
        ],
    );
    expect_flags(p, false, false, false, false);
    // The shared namespaces are the infra's, as /proc says.
    let infra = pod.infra();
    let shared: &[&str] = if rt == Runtime::Docker {
        &["net", "ipc"]
    } else {
        &["net", "ipc", "uts"]
    };
    for c in pod.containers() {
        for ty in shared {
            assert_eq!(
                ns_inode(&c.pid.to_string(), ty),
                ns_inode(&infra.pid.to_string(), ty),
                "{ty} of {}",
                c.name
            );
        }
    }
    // The emptyDir is one directory for both: the sidecar reads what the app writes.
    eventually("the sidecar tailing the app's log", || {
        pod.logs("sidecar").contains(':').then_some(())
    });
}

/// The 12 ways a pod can be arranged with hostNetwork, hostPID, hostIPC and
/// shareProcessNamespace (hostPID excludes shareProcessNamespace: the API
/// refuses both): all 12 pods at once, each found with exactly its flags, its
/// sharing matrix and its containers; the node's namespaces checked against
/// /proc of the pods' processes.
fn every_host_and_share_arrangement(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let a = sh(LOOP);
    let mut cases = Vec::new();
    for host_net in [false, true] {
        for host_ipc in [false, true] {
            for (host_pid, share) in [(false, false), (false, true), (true, false)] {
                let name = format!(
                    "nst-arr-n{}i{}p{}s{}",
                    u8::from(host_net),
                    u8::from(host_ipc),
                    u8::from(host_pid),
                    u8::from(share)
                );
                let mut extra = String::new();
                for (on, key) in [
                    (host_net, "hostNetwork"),
                    (host_ipc, "hostIPC"),
                    (host_pid, "hostPID"),
                    (share, "shareProcessNamespace"),
                ] {
                    if on {
                        extra.push_str(&format!("  {key}: true\n"));
                    }
                }
                let yaml = pod_yaml(
                    &name,
                    &extra,
                    &[Spec::sh("one", &a), Spec::sh("two", &a)],
                    "",
                );
                cases.push((name, (host_net, host_pid, host_ipc, share), yaml));
            }
        }
    }
    assert_eq!(cases.len(), 12);
    let pods: Vec<Pod> = cases
        .iter()
        .map(|(name, _, yaml)| node.play(name, yaml))
        .collect();
    let t = topology_json();
    let node_ns = |ty: &str| t["node"]["ns"][ty].as_u64().unwrap();
    assert_eq!(
        node_ns("net"),
        ns_inode("self", "net"),
        "the test runs on the node"
    );
    for (pod, (_, (net, host_pid, ipc, share), _)) in pods.iter().zip(&cases) {
        let pid = host_pid;
        expect_same_as_runtime(&t, pod);
        let p = find_pod(&t, &pod.name);
        expect_flags(p, *net, *pid, *ipc, *share);
        let how = |node: bool, shared: &'static str| if node { "node" } else { shared };
        expect_sharing(
            p,
            &[
                ("net", how(*net, "shared")),
                ("ipc", how(*ipc, "shared")),
                (
                    "pid",
                    how(*pid, if *share { "shared" } else { "per-container" }),
                ),
                ("mnt", "per-container"),
                ("user", "node"),
            ],
        );
        // /proc agrees for every workload container.
        for c in pod.containers().iter().filter(|c| !c.infra) {
            let cp = c.pid.to_string();
            assert_eq!(
                ns_inode(&cp, "net") == node_ns("net"),
                *net,
                "{} net",
                pod.name
            );
            assert_eq!(
                ns_inode(&cp, "ipc") == node_ns("ipc"),
                *ipc,
                "{} ipc",
                pod.name
            );
            assert_eq!(
                ns_inode(&cp, "pid") == node_ns("pid"),
                *pid,
                "{} pid",
                pod.name
            );
            if *share {
                assert_eq!(
                    ns_inode(&cp, "pid"),
                    ns_inode(&pod.infra().pid.to_string(), "pid"),
                    "{}: the infra's PID namespace",
                    pod.name
                );
            }
        }
    }
}

/// (e) a pod started before nstrace and one started while it traces both come
/// out right (the second from events, with cgroup and hostname read after its exec).
fn pods_started_before_and_while_tracing(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let a = sh(LOOP);
    let before = node.play(
        "nst-before",
        &pod_yaml("nst-before", "", &[Spec::sh("app", &a)], ""),
    );
    let t = Tracer::command(&["topology", "--format", "json", "--duration", "600s"], &[]);
    let during = node.play(
        "nst-during",
        &pod_yaml(
            "nst-during",
            "",
            &[Spec::sh("app", &a), Spec::sh("side", &a)],
            "",
        ),
    );
    // Let the tracer see the containers' first execs.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let topo = done
        .events
        .last()
        .unwrap_or_else(|| panic!("no topology printed: {}", done.stderr));
    expect_same_as_runtime(topo, &before);
    expect_same_as_runtime(topo, &during);
    expect_sharing(
        find_pod(topo, "nst-during"),
        &[("net", "shared"), ("pid", "per-container")],
    );
}

/// (f) `ip netns add` makes a namespace with no process, pinned by its bind
/// mount; `unshare --pid --fork` without --mount-proc makes a PID namespace
/// whose processes still see the node's /proc. Neither is a pod or a container.
#[test]
fn plain_namespaces_on_the_node() {
    let _g = serial();
    let name = format!("nst-plain{}", std::process::id());
    let _ns = NamedNetns::add(&name);
    let netns_inode = std::fs::metadata(format!("/run/netns/{name}"))
        .unwrap()
        .ino();
    let pidns = Proc::spawn(
        Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", "sleep", "600"])
            .stdout(Stdio::null()),
    );
    let sleeper = eventually("the forked sleep", || {
        let kids = std::fs::read_to_string(format!(
            "/proc/{}/task/{}/children",
            pidns.pid(),
            pidns.pid()
        ))
        .ok()?;
        kids.split_whitespace().next()?.parse::<u64>().ok()
    });
    let sleeper_pidns = ns_inode(&sleeper.to_string(), "pid");
    let t = topology_json();
    let plain = t["namespaces"].as_array().unwrap();
    let net = plain
        .iter()
        .find(|n| n["type"] == "net" && n["inode"] == netns_inode)
        .unwrap_or_else(|| panic!("netns {name} not reported: {plain:?}"));
    assert_eq!(net["processes"].as_array().unwrap().len(), 0, "{net}");
    assert!(
        net["pinned_by"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == &format!("/run/netns/{name}")),
        "{net}"
    );
    let pid = plain
        .iter()
        .find(|n| n["type"] == "pid" && n["inode"] == sleeper_pidns)
        .unwrap_or_else(|| panic!("pid namespace not reported: {plain:?}"));
    assert_eq!(pid["shares_node_mnt"], true, "{pid}");
    assert!(pid["processes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["pid"] == sleeper && p["ns_pid"] == 1));
    for p in t["pods"].as_array().unwrap() {
        assert!(!pod_pids(p).contains(&sleeper), "the sleep is in no pod");
    }
    assert!(t["lone_containers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["init"]["pid"] != sleeper));
}

/// nstrace's namespaces of each pod process equal lsns's, and for each of the
/// pod's own namespaces nstrace counts as many processes as lsns does.
fn grouping_by_namespace_equals_lsns(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let (a, b) = (sh("sleep 600 & sleep 600 & wait"), sh(LOOP));
    let _pod = node.play(
        "nst-lsns",
        &pod_yaml(
            "nst-lsns",
            "",
            &[Spec::sh("app", &a), Spec::sh("side", &b)],
            "",
        ),
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let t = topology_json();
    let p = find_pod(&t, "nst-lsns");
    // Every process nstrace knows, with its namespaces (type -> inode).
    let mut all: BTreeMap<u64, BTreeMap<String, u64>> = BTreeMap::new();
    let mut collect = |c: &Value| {
        for pr in c["processes"].as_array().unwrap() {
            let ns = pr["ns"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| *k != "pid_for_children")
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
                .collect();
            all.insert(u(pr, "pid"), ns);
        }
    };
    for pod in t["pods"].as_array().unwrap() {
        pod["containers"]
            .as_array()
            .unwrap()
            .iter()
            .for_each(&mut collect);
    }
    t["lone_containers"]
        .as_array()
        .unwrap()
        .iter()
        .for_each(&mut collect);
    let mut checked = 0;
    for pid in pod_pids(p) {
        let out = Command::new("lsns")
            .args(["--json", "--task", &pid.to_string(), "-o", "NS,TYPE,NPROCS"])
            .output()
            .unwrap();
        if !out.status.success() {
            continue; // exited meanwhile
        }
        let l: Value = serde_json::from_slice(&out.stdout).unwrap();
        for n in l["namespaces"].as_array().unwrap() {
            let ty = n["type"].as_str().unwrap();
            let inode = n["ns"].as_u64().unwrap();
            assert_eq!(all[&pid][ty], inode, "{ty} of {pid}: lsns {n}");
            // The pod's own namespaces hold only processes of pods: the counts must agree.
            if inode != t["node"]["ns"][ty].as_u64().unwrap() {
                let ours = all.values().filter(|ns| ns[ty] == inode).count() as u64;
                assert_eq!(
                    ours,
                    n["nprocs"].as_u64().unwrap(),
                    "processes in {ty} {inode}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} namespace comparisons");
}

/// `--format dot` is valid Graphviz: `dot -Tsvg` renders it.
fn dot_output_renders_with_graphviz(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let a = sh(LOOP);
    let pod = node.play(
        "nst-dot",
        &pod_yaml("nst-dot", "", &[Spec::sh("app", &a)], ""),
    );
    let dot = nstrace_tests::nstrace()
        .args(["topology", "--format", "dot"])
        .output()
        .unwrap();
    assert_ok(&dot);
    let mut render = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("graphviz's dot (cargo xtask setup installs it)");
    use std::io::Write;
    render.stdin.take().unwrap().write_all(&dot.stdout).unwrap();
    let svg = render.wait_with_output().unwrap();
    assert!(
        svg.status.success(),
        "dot rejected it: {}",
        String::from_utf8_lossy(&svg.stderr)
    );
    let svg = String::from_utf8_lossy(&svg.stdout);
    // SVG writes '-' as &#45;.
    assert!(svg.contains("<svg"), "{svg}");
    let label = format!("pod {}", pod.selector()).replace('-', "&#45;");
    assert!(
        svg.contains(&label),
        "the pod is a cluster ({label}): {svg}"
    );
    assert!(svg.contains("(node)"), "node namespaces are marked: {svg}");
}

/// A pod with one privileged container `tool` that is handed the network
/// namespace of process `pid` as a file at `/handle/net` (a hostPath of a bind
/// mount of /proc/PID/ns/net), as a node agent or an attacker might be.
fn pod_with_netns_handle(node: &Node, name: &str, pid: u32) -> (Pod, NsPin) {
    let pin = NsPin::new(pid, "net");
    let lp = sh(LOOP);
    let tool = Spec {
        name: "tool",
        command: &lp,
        extra: "    securityContext:\n      privileged: true\n    volumeMounts:\n    - name: handle\n      mountPath: /handle/net\n",
    };
    let volumes = format!(
        "  volumes:\n  - name: handle\n    hostPath:\n      path: {}\n      type: File\n",
        pin.path().display()
    );
    (node.play(name, &pod_yaml(name, "", &[tool], &volumes)), pin)
}

/// A privileged container handed the node's network namespace (a bind mount
/// of /proc/PID/ns/net of a process the test started) enters it with nsenter:
/// host_namespace_join, high, naming the pod and container.
fn container_entering_the_node_net_namespace_is_high(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let holder = Proc::spawn(Command::new("sleep").arg("600"));
    let (pod, _pin) = pod_with_netns_handle(&node, "nst-escape", holder.pid());
    let tool = pod.container("tool");
    let t = Tracer::audit(&[]);
    let (ok, stdout, stderr) = pod.exec(
        &tool,
        &[
            "nsenter",
            "--net=/handle/net",
            "readlink",
            "/proc/self/ns/net",
        ],
    );
    assert!(ok, "{stderr}");
    let node_net = ns_inode("self", "net");
    assert_eq!(
        stdout.trim(),
        format!("net:[{node_net}]"),
        "nsenter really entered the node's net"
    );
    let f = t.wait_for("the escape", |v| v["finding"] == "host_namespace_join");
    assert_eq!(f["severity"], "high", "{f}");
    assert_eq!(f["pod"], "nst-escape", "{f}");
    assert_eq!(f["container"], tool.id.as_str(), "{f}");
    let j = &f["join"];
    assert_eq!(j["actor"]["comm"], "nsenter", "{f}");
    assert_eq!(j["actor"]["place"]["class"], "pod", "{f}");
    assert_eq!(j["action"], "setns");
    assert_eq!(j["result"], "ok");
    assert_eq!(j["expected"], Value::Null, "{f}");
    assert_eq!(j["targets"][0]["type"], "net");
    assert_eq!(j["targets"][0]["inode"], node_net);
    assert_eq!(j["targets"][0]["place"]["class"], "node");
    let done = t.stop();
    // The runtime's own joins (runc entering the container for the exec) are expected, info.
    for v in &done.events {
        if v["join"]["expected"].is_string() {
            assert_eq!(v["severity"], "info", "{v}");
        }
    }
}

/// Creating and stopping a pod is runtime activity: no finding above info.
fn creating_and_stopping_a_pod_gives_nothing_above_info(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let t = Tracer::audit(&[]);
    let cmd = ["dumb-init", "sleep", "600"];
    let pod = node.play(
        "nst-lifecycle",
        &pod_yaml(
            "nst-lifecycle",
            "",
            &[Spec::sh("app", &cmd), Spec::sh("side", &cmd)],
            "",
        ),
    );
    // Stopped once the inits are ready (a SIGTERM before dumb-init installs its
    // handlers is dropped, rightly reported: CRI starts and stops that fast).
    let ids: Vec<String> = pod.workloads().into_iter().map(|c| c.id).collect();
    for c in pod.containers().iter().filter(|c| !c.infra) {
        wait_sigterm_handler(c.pid);
    }
    // Long enough for the collector to have read each container's cgroup (a
    // container stopped within tens of milliseconds of its start is followed
    // but cannot be named, so it would not count as watched).
    std::thread::sleep(std::time::Duration::from_secs(1));
    pod.stop(5);
    drop(pod);
    let done = t.stop();
    assert_watched(&done.events, &ids, ids.len() as u64);
    let above = findings_above_info(&done.events);
    assert!(above.is_empty(), "findings above info: {above:#?}");
    // It did see the runtime at work: runc's joins, marked expected; and every
    // join by the runtime's processes (conmon or containerd-shim, runc) is.
    assert!(
        done.events.iter().any(|v| v["join"]["expected"]
            .as_str()
            .is_some_and(|e| e.contains("runc"))),
        "no runtime join recorded"
    );
    let by_runtime: Vec<&Value> = done
        .events
        .iter()
        .filter(|v| {
            v["join"]["actor"]["place"]["class"] == "node"
                && v["join"]["actor"]["comm"]
                    .as_str()
                    .is_some_and(|c| rt.runtime_comms().iter().any(|r| c.starts_with(r)))
        })
        .collect();
    assert!(
        !by_runtime.is_empty(),
        "no join by {:?}",
        rt.runtime_comms()
    );
    for v in by_runtime {
        assert!(v["join"]["expected"].is_string(), "not recognised: {v}");
    }
}

/// A container entering another pod's network namespace (handed over as a
/// hostPath of that pod's infra): cross_pod_join, medium, naming both pods.
fn container_entering_another_pods_namespace_is_cross_pod(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let b = node.play(
        "nst-victim",
        &pod_yaml("nst-victim", "", &[Spec::sh("app", &sh(LOOP))], ""),
    );
    let victim_infra = b.infra();
    let (a, _pin) = pod_with_netns_handle(&node, "nst-lateral", victim_infra.pid);
    let tool = a.container("tool");
    let t = Tracer::audit(&[]);
    let (ok, _, stderr) = pod_exec_ok(&a, &tool);
    assert!(ok, "{stderr}");
    let f = t.wait_for("the lateral move", |v| v["finding"] == "cross_pod_join");
    assert_eq!(f["severity"], "medium", "{f}");
    assert_eq!(
        (f["pod"].as_str(), f["container"].as_str()),
        (Some("nst-lateral"), Some(tool.id.as_str())),
        "{f}"
    );
    let target = &f["join"]["targets"][0];
    assert_eq!(target["type"], "net", "{f}");
    assert_eq!(
        target["inode"],
        ns_inode(&victim_infra.pid.to_string(), "net"),
        "{f}"
    );
    assert_eq!(target["place"]["class"], "pod", "{f}");
    assert_eq!(target["place"]["pod"], "nst-victim", "{f}");
    t.stop();
}

fn pod_exec_ok(pod: &Pod, tool: &nstrace_tests::pod::Ctr) -> (bool, String, String) {
    pod.exec(tool, &["nsenter", "--net=/handle/net", "true"])
}
