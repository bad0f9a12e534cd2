//! Docker Engine and Compose as runtimes: real dockerd 20.10 (on a containerd
//! of the harness's) and docker-compose 1.29; nstrace's names, sharing modes,
//! published ports, `docker stop` timelines, restarts and dockerd's helpers
//! checked against what Docker itself reports (`docker inspect`) and /proc.
//! (The suites that run on every runtime — PID-1 verdicts, names, the agent's
//! compose file — have their Docker cases in their own modules.)

use std::time::Duration;

use nstrace_tests::docker::{Dockerd, Options};
use nstrace_tests::pod::{pod_yaml, Node, Runtime, Spec, IMAGE, NOTRAP};
use nstrace_tests::*;

/// A shell PID 1 that stops on SIGQUIT (an image whose STOPSIGNAL is SIGQUIT
/// expects that) and ignores SIGTERM.
const QUITS: &str = "trap 'exit 0' QUIT; trap '' TERM; while true; do sleep 1; done";

/// The harness: a pod as a Compose project runs (the pause holding the
/// namespaces its containers join), stops the kubelet's way, and the
/// daemons leave nothing of theirs behind (the suite's final check looks
/// again, at the fixed paths too).
#[test]
fn the_harness_runs_a_pod_as_a_compose_project_and_leaves_nothing() {
    let _g = serial();
    let node = Node::new(Runtime::Docker);
    let d = node.docker().unwrap().clone();
    let pod = node.play(
        "nst-dk-harness",
        &pod_yaml(
            "nst-dk-harness",
            "",
            &[Spec::sh("app", &["/bin/sh", "-c", "sleep 1000"])],
            "",
        ),
    );
    let infra = pod.infra();
    let app = pod.container("app");
    for ty in ["net", "ipc"] {
        assert_eq!(
            ns_inode(&app.pid.to_string(), ty),
            ns_inode(&infra.pid.to_string(), ty),
            "{ty}"
        );
    }
    assert_ne!(
        ns_inode(&app.pid.to_string(), "pid"),
        ns_inode(&infra.pid.to_string(), "pid")
    );
    let shim = d.shim_pid(&app.id).expect("the app's shim");
    assert!(std::fs::read_to_string(format!("/proc/{shim}/cmdline"))
        .unwrap()
        .contains("containerd-shim"));
    let stopped = pod.stop(2);
    assert_eq!(stopped.len(), 2, "{stopped:?}");
    drop(pod);
    drop(d);
    drop(node);
    let left = nstrace_tests::docker::leftovers();
    assert!(left.is_empty(), "{left:?}");
}

/// The container `docker run --name NAME` named, in a topology JSON document
/// (a lone container, or one of a pod's).
fn find_container<'a>(t: &'a Value, name: &str) -> &'a Value {
    t["lone_containers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(
            t["pods"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|p| p["containers"].as_array().unwrap()),
        )
        .find(|c| c["docker"]["name"] == name)
        .unwrap_or_else(|| panic!("no Docker container {name} in {t}"))
}

/// The pid of the docker-proxy publishing host port `port`.
fn docker_proxy(port: u16) -> u32 {
    eventually(&format!("docker-proxy for port {port}"), || {
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.starts_with("/usr/sbin/docker-proxy ")
                && cmd.contains(&format!("-host-port {port} ")))
            .then_some(pid)
        })
    })
}

/// `docker run -d --name shop-cart` of a shell PID 1 with no trap, stopped
/// with `docker stop -t 3`: the audit names it by its Docker name in its
/// findings (pid1_ignores_sigterm, slow_shutdown) and counts its name as
/// read; `nstrace shutdown --container shop-cart` follows the stop through
/// Docker's chain (dockerd → containerd → containerd-shim → runc kill) with
/// dockerd's 10 s default in force but `-t 3` used; the topology names it.
#[test]
fn a_docker_container_is_named_in_topology_audit_and_shutdown() {
    let _g = serial();
    let d = Dockerd::start();
    let audit = Tracer::audit(&[]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "shop-cart",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        NOTRAP,
    ]);
    let id = d.id_of("shop-cart");
    let pid = d.pid_of("shop-cart");
    wait_has_child(pid);
    let t = topology_json();
    let c = find_container(&t, "shop-cart");
    assert_eq!(c["id"], id.as_str(), "{c}");
    assert_eq!(c["name"], "shop-cart", "{c}");
    assert_eq!(c["runtime"], "docker", "{c}");
    assert_eq!(c["init"]["pid"], pid, "{c}");
    assert_eq!(
        c["docker"]["sharing"],
        serde_json::json!(["no network"]),
        "{c}"
    );
    assert_eq!(c["docker"]["stop_timeout_s"], Value::Null, "{c}");
    let tree = String::from_utf8(nstrace().arg("topology").output().unwrap().stdout).unwrap();
    assert!(
        tree.contains(&format!("container shop-cart ({})", &id[..12])),
        "{tree}"
    );
    assert!(
        tree.contains("docker: docker name shop-cart; no network; stop timeout 10s (default)"),
        "{tree}"
    );

    let follow = Tracer::command(
        &[
            "shutdown",
            "--container",
            "shop-cart",
            "--format",
            "json",
            "--timeout",
            "120s",
        ],
        &[],
    );
    d.docker_ok(&["stop", "-t", "3", "shop-cart"]);
    let line = follow.wait_for("the timeline", |v| v["shutdown"].is_string());
    let followed = follow.stop();
    assert_eq!(followed.code, Some(0), "{}", followed.stderr);
    assert_eq!(line["shutdown"], "container shop-cart", "{line}");
    assert_eq!(line["init_pid"], pid, "{line}");
    assert_eq!(line["killed"], true, "{line}");
    let dk = &line["docker"];
    assert_eq!(dk["stop_signal"], "TERM", "{line}");
    assert_eq!(dk["default_stop_timeout"], true, "{line}");
    let chain = dk["chain"].as_str().unwrap();
    assert!(
        chain.starts_with("dockerd → containerd → containerd-shim ")
            && chain.contains(" → runc kill "),
        "{chain}"
    );
    // The chain's shim is this container's (dockerd runs one per container).
    let shim = dk["sender_chain"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["comm"] == "containerd-shim")
        .expect("the shim in the chain")["pid"]
        .as_u64()
        .unwrap();
    let shim_cmd = std::fs::read_to_string(format!("/proc/{shim}/cmdline")).unwrap_or_default();
    assert!(
        shim_cmd.is_empty() || shim_cmd.contains(&id),
        "the shim {shim} ({shim_cmd:?}) is not shop-cart's: {line}"
    );
    let first = &line["steps"][0];
    assert_eq!(
        (first["signal"].as_str(), first["from_comm"].as_str()),
        (Some("TERM"), Some("runc")),
        "{line}"
    );
    assert!(
        line["verdict"]
            .as_str()
            .unwrap()
            .contains("of a 10 s grace period"),
        "dockerd's default in force, -t 3 used: {line}"
    );

    d.docker_ok(&["rm", "shop-cart"]);
    let done = audit.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_watched(&done.events, std::slice::from_ref(&id), 1);
    for kind in ["pid1_ignores_sigterm", "slow_shutdown"] {
        let f = done
            .events
            .iter()
            .find(|v| v["finding"] == kind && v["container"] == id.as_str())
            .unwrap_or_else(|| panic!("no {kind} for shop-cart: {:?}", done.events));
        assert_eq!(f["container_name"], "shop-cart", "{f}");
    }
    // The counters line: its name was read from Docker's files.
    let read: u64 = done
        .stderr
        .split("container names: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no names counter: {}", done.stderr));
    assert!(read >= 1, "{}", done.stderr);
}

/// `--network/--pid/--ipc container:web`, `--network/--pid/--uts host`,
/// `--init`, `--cap-add` and `-p` as the topology says them: the pair is one
/// pod named after web, the joiner's sharing in pod words naming web, the
/// host one's hostNetwork/hostPID/hostUTS, docker-init named as tini, the
/// published port held by docker-proxy on the node — each checked against
/// `docker inspect` and /proc.
#[test]
fn sharing_modes_init_capabilities_and_a_published_port_in_pod_language() {
    let _g = serial();
    let d = Dockerd::start();
    let port = nstrace_tests::prometheus::free_port();
    let publish = format!("127.0.0.1:{port}:80");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--init",
        "--ipc",
        "shareable",
        "--cap-add",
        "NET_ADMIN",
        "-p",
        &publish,
        IMAGE,
        "httpd",
        "-f",
        "-p",
        "80",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "side",
        "--network",
        "container:web",
        "--pid",
        "container:web",
        "--ipc",
        "container:web",
        IMAGE,
        "sleep",
        "1000",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "hostly",
        "--network",
        "host",
        "--pid",
        "host",
        "--uts",
        "host",
        IMAGE,
        "sleep",
        "1000",
    ]);
    let (web, side, hostly) = (d.pid_of("web"), d.pid_of("side"), d.pid_of("hostly"));
    let web_id = d.id_of("web");
    // What Docker and /proc say.
    let hc = d.inspect("side")["HostConfig"].clone();
    assert_eq!(hc["NetworkMode"], format!("container:{web_id}"), "{hc}");
    for ty in ["net", "ipc", "pid"] {
        assert_eq!(
            ns_inode(&side.to_string(), ty),
            ns_inode(&web.to_string(), ty),
            "{ty}"
        );
    }
    for ty in ["net", "pid", "uts"] {
        assert_eq!(
            ns_inode(&hostly.to_string(), ty),
            ns_inode("self", ty),
            "{ty}"
        );
    }
    let proxy = docker_proxy(port);

    let t = eventually("the published port's listener", || {
        let t = topology_json();
        (find_container(&t, "web")["docker"]["published"][0]["holder_pid"] != Value::Null)
            .then_some(t)
    });
    let pod = find_pod(&t, "web");
    let names: Vec<&str> = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{pod}");
    assert!(names.contains(&"web") && names.contains(&"side"), "{pod}");
    assert_eq!(
        pod["id"],
        web_id.as_str(),
        "the pod is the container the other joins: {pod}"
    );
    let sd = find_container(&t, "side");
    assert_eq!(
        sd["docker"]["sharing"],
        serde_json::json!(["network of web", "pid of web", "ipc of web"]),
        "{sd}"
    );
    let w = find_container(&t, "web");
    assert_eq!(w["init_kind"], "docker-init (tini)", "{w}");
    assert_eq!(w["init"]["comm"], "docker-init", "{w}");
    assert_eq!(w["init_child"], "httpd", "{w}");
    assert_eq!(w["docker"]["init"], true, "{w}");
    assert_eq!(
        w["docker"]["cap_add"],
        serde_json::json!(["NET_ADMIN"]),
        "{w}"
    );
    let p = &w["docker"]["published"][0];
    assert_eq!(
        p["mapping"],
        format!("node 127.0.0.1:{port}/tcp → web:80"),
        "{p}"
    );
    assert_eq!(
        (
            &p["holder_pid"],
            &p["holder_comm"],
            &p["by_proxy"],
            &p["conflict"]
        ),
        (
            &Value::from(proxy),
            &Value::from("docker-proxy"),
            &Value::from(true),
            &Value::from(false)
        ),
        "{p}"
    );
    let h = find_container(&t, "hostly");
    assert_eq!(
        h["docker"]["sharing"],
        serde_json::json!(["hostNetwork", "hostPID", "hostUTS"]),
        "{h}"
    );
    let tree = String::from_utf8(nstrace().arg("topology").output().unwrap().stdout).unwrap();
    assert!(
        tree.contains(&format!(
            "published: node 127.0.0.1:{port}/tcp → web:80 (docker-proxy {proxy})"
        )),
        "{tree}"
    );
}

/// A published port another node process holds: `docker run -p` fails, and
/// the audit's port_conflict names Docker's side — docker-proxy, or with the
/// userland proxy off dockerd itself, which then binds the port to reserve it
/// (20.10) — and the holder (this test's listener); the running container's
/// published port is held by dockerd in that mode, as the topology says.
#[test]
fn a_published_port_held_by_another_node_process_is_a_port_conflict() {
    let _g = serial();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let publish = format!("127.0.0.1:{port}:80");
    for (proxy, loser) in [(true, "docker-proxy"), (false, "dockerd")] {
        let d = Dockerd::start_with(Options {
            userland_proxy: proxy,
            ..Options::default()
        });
        let audit = Tracer::audit(&[]);
        let out = d.docker_out(&[
            "run", "-d", "--name", "clash", "-p", &publish, IMAGE, "httpd", "-f", "-p", "80",
        ]);
        assert!(
            !out.status.success(),
            "docker run -p onto a taken port must fail"
        );
        let f = audit.wait_for("the port_conflict", |v| v["finding"] == "port_conflict");
        let done = audit.stop();
        assert_eq!(done.code, Some(0), "{}", done.stderr);
        let pc = &f["port_conflict"];
        assert_eq!(pc["published"], true, "{f}");
        assert_eq!(pc["port"], port, "{f}");
        assert_eq!(pc["then"]["comm"], loser, "{f}");
        assert_eq!(
            pc["first"]["pid"],
            std::process::id(),
            "the test's listener holds it: {f}"
        );
        assert_eq!(f["severity"], "medium", "{f}");
        if !proxy {
            let free = nstrace_tests::prometheus::free_port();
            let p = format!("127.0.0.1:{free}:80");
            d.docker_ok(&[
                "run", "-d", "--name", "dnat", "-p", &p, IMAGE, "httpd", "-f", "-p", "80",
            ]);
            let t = eventually("the reserved port's listener", || {
                let t = topology_json();
                (find_container(&t, "dnat")["docker"]["published"][0]["holder_pid"] != Value::Null)
                    .then_some(t)
            });
            let p = &find_container(&t, "dnat")["docker"]["published"][0];
            assert_eq!(
                p["holder_pid"],
                d.pid().unwrap(),
                "dockerd reserves it: {p}"
            );
            assert_eq!(
                (&p["by_proxy"], &p["conflict"]),
                (&Value::from(true), &Value::from(false)),
                "{p}"
            );
        }
    }
    drop(holder);
}

/// A Compose project, as docker-compose 1.29 runs it from a file: the pod is
/// the project, each container its service (two replicas of `api` both named
/// `api`, told apart by their number), the service whose image stops on
/// SIGQUIT (`stop_signal`) followed by that signal; `shutdown --container api`
/// follows both replicas, `shutdown --pod shop` the whole project.
#[test]
fn a_compose_project_is_a_pod_of_its_services() {
    let _g = serial();
    let d = Dockerd::start();
    let dir = d.dir().join("compose");
    let file = dir.join("shop.yaml");
    std::fs::write(
        &file,
        format!(
            "version: \"2.4\"\nservices:\n  api:\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n    scale: 2\n  cache:\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", {QUITS:?}]\n    stop_signal: SIGQUIT\n    stop_grace_period: 20s\n"
        ),
    )
    .unwrap();
    let compose = |args: &[&str]| {
        let out = d.compose("shop", &file).args(args).output().unwrap();
        assert_ok(&out);
    };
    compose(&["up", "-d"]);
    let ids = |service: &str| -> Vec<String> {
        d.docker_ok(&[
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            "label=com.docker.compose.project=shop",
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ])
        .split_whitespace()
        .map(str::to_owned)
        .collect()
    };
    let (api, cache) = (ids("api"), ids("cache"));
    assert_eq!((api.len(), cache.len()), (2, 1));
    for id in api.iter().chain(&cache) {
        wait_has_child(d.pid_of(id));
    }
    let t = topology_json();
    let pod = find_pod(&t, "shop");
    assert_eq!(pod["id"], "shop", "{pod}");
    let mut got: Vec<(String, String, u64)> = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["name"].as_str().unwrap().to_owned(),
                c["docker"]["compose"]["number"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort_by(|a, b| (&a.1, a.2).cmp(&(&b.1, b.2)));
    let names: Vec<(&str, u64)> = got.iter().map(|(_, n, k)| (n.as_str(), *k)).collect();
    assert_eq!(names, [("api", 1), ("api", 2), ("cache", 1)], "{pod}");
    for (id, name, _) in &got {
        let want = if name == "api" { &api } else { &cache };
        assert!(want.contains(id), "{id} is {name}'s: {pod}");
    }
    let c = find_container(&t, "shop_cache_1");
    assert_eq!(c["docker"]["stop_signal"], "QUIT", "{c}");
    assert_eq!(c["docker"]["compose"]["project"], "shop", "{c}");

    // Both replicas of api by the service's name.
    let follow = Tracer::command(
        &[
            "shutdown",
            "--container",
            "api",
            "--format",
            "json",
            "--timeout",
            "120s",
        ],
        &[],
    );
    let whole = Tracer::command(
        &[
            "shutdown",
            "--pod",
            "shop",
            "--format",
            "json",
            "--timeout",
            "120s",
        ],
        &[],
    );
    compose(&["stop"]);
    std::thread::sleep(Duration::from_secs(1));
    let followed = follow.stop();
    let whole = whole.stop();
    let lines: Vec<&Value> = followed
        .events
        .iter()
        .filter(|v| v["shutdown"].is_string())
        .collect();
    assert_eq!(lines.len(), 2, "{:?}", followed.events);
    assert!(
        lines
            .iter()
            .all(|l| l["shutdown"] == "pod shop / container api"),
        "{lines:?}"
    );
    let quit = whole
        .events
        .iter()
        .find(|v| v["shutdown"] == "pod shop / container cache")
        .unwrap_or_else(|| panic!("the cache's timeline: {:?}", whole.events));
    assert_eq!(quit["docker"]["stop_signal"], "QUIT", "{quit}");
    assert_eq!(quit["killed"], false, "SIGQUIT stops it: {quit}");
    assert_eq!(quit["steps"][0]["signal"], "QUIT", "{quit}");
    assert_eq!(quit["docker"]["stop_timeout_s"], 20, "{quit}");
    compose(&["down", "-v", "-t", "0"]);
}

/// `docker restart` and a restart policy bring the container back under the
/// same id: the audit saw one container (its shutdown followed as its own),
/// the topology shows one container of that name with the new PID 1, and the
/// policy's restarts are counted. dockerd's helpers (`libnetwork-setkey`, run
/// as `/proc/<dockerd>/exe` into the new network namespace) are counted as
/// runtime activity: nothing above info.
#[test]
fn restarts_keep_one_container_and_dockerds_helpers_are_routine() {
    let _g = serial();
    let d = Dockerd::start();
    let audit = Tracer::audit(&["--min-severity", "info"]);
    d.docker_ok(&["run", "-d", "--name", "again", IMAGE, "sh", "-c", NOTRAP]);
    let id = d.id_of("again");
    let first = d.pid_of("again");
    wait_has_child(first);
    d.docker_ok(&["restart", "-t", "1", "again"]);
    let second = d.pid_of("again");
    assert_ne!(first, second);
    wait_has_child(second);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "sleep 1; exit 3",
    ]);
    eventually("flaky restarted twice", || {
        (d.docker_ok(&[
            "inspect",
            "--format",
            "{{.RestartCount}} {{.State.Running}}",
            "flaky",
        ]) == "2 false")
            .then_some(())
    });
    let t = topology_json();
    let again: Vec<&Value> = t["lone_containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "again")
        .collect();
    assert_eq!(again.len(), 1, "{t}");
    assert_eq!(
        (&again[0]["id"], &again[0]["init"]["pid"]),
        (&Value::from(id.as_str()), &Value::from(second))
    );
    d.docker_ok(&["rm", "-f", "again", "flaky"]);
    let done = audit.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let watched = &audit_summary(&done.events).unwrap()["summary"]["watched"];
    assert_eq!(
        strings(watched, "containers")
            .iter()
            .filter(|c| **c == id)
            .count(),
        1,
        "{watched}"
    );
    let kills: Vec<&Value> = done
        .events
        .iter()
        .filter(|v| v["finding"] == "slow_shutdown" && v["container"] == id.as_str())
        .collect();
    assert!(
        !kills.is_empty() && kills.iter().all(|k| k["container_name"] == "again"),
        "{kills:?}"
    );
    let loud: Vec<&Value> = findings_above_info(&done.events)
        .into_iter()
        .filter(|f| f["finding"] == "namespace_join")
        .collect();
    assert!(loud.is_empty(), "dockerd's helpers are routine: {loud:?}");
    // dockerd re-exec'd (comm `exe`) entering the containers' namespaces.
    let helpers: Vec<&Value> = done
        .events
        .iter()
        .filter(|v| v["finding"] == "namespace_join" && v["join"]["actor"]["comm"] == "exe")
        .collect();
    assert!(
        !helpers.is_empty(),
        "no join by dockerd's re-exec'd helper: {:?}",
        done.events
    );
    for h in helpers {
        assert_eq!(h["severity"], "info", "{h}");
        assert!(
            h["join"]["expected"]
                .as_str()
                .is_some_and(|e| e.contains("dockerd")),
            "{h}"
        );
    }
}

/// `docker run --init` puts Docker's tini (docker-init) in front of a shell
/// that would drop SIGTERM as PID 1: nstrace names docker-init as the init and
/// predicts nothing for it, where the same shell without `--init` is
/// predicted to drop SIGTERM; `docker stop` ends it without a SIGKILL (tini
/// passes SIGTERM to the shell, no namespace init, which dies of it), and
/// the kernel's kill of the shell's `sleep` when tini exits is named, with
/// the advice for docker-init (it takes no -g from `--init`).
#[test]
fn docker_init_is_tini_and_rescues_a_shell_that_drops_sigterm() {
    let _g = serial();
    let d = Dockerd::start();
    let audit = Tracer::audit(&["--predict-after", "2s"]);
    for (name, init) in [("with-init", true), ("without", false)] {
        let mut args = vec!["run", "-d", "--name", name, "--network", "none"];
        if init {
            args.push("--init");
        }
        args.extend([IMAGE, "sh", "-c", NOTRAP]);
        d.docker_ok(&args);
        wait_has_child(d.pid_of(name));
    }
    let (with, without) = (d.id_of("with-init"), d.id_of("without"));
    audit.wait_for("the prediction for the shell without --init", |v| {
        v["finding"] == "pid1_will_ignore_sigterm" && v["container"] == without.as_str()
    });
    let t = topology_json();
    let c = find_container(&t, "with-init");
    assert_eq!(c["init_kind"], "docker-init (tini)", "{c}");
    assert_eq!(c["init_child"], "sh", "{c}");
    let follow = Tracer::command(
        &[
            "shutdown",
            "--container",
            "with-init",
            "--format",
            "json",
            "--timeout",
            "120s",
        ],
        &[],
    );
    d.docker_ok(&["stop", "-t", "20", "with-init"]);
    let line = follow.wait_for("the timeline", |v| v["shutdown"].is_string());
    drop(follow);
    assert_eq!(line["killed"], false, "tini passed SIGTERM on: {line}");
    assert_eq!(line["killed_without_warning"][0]["comm"], "sleep", "{line}");
    assert!(
        line["advice"]
            .as_str()
            .unwrap()
            .contains("TINI_KILL_PROCESS_GROUP=1"),
        "{line}"
    );
    d.docker_ok(&["rm", "-f", "with-init", "without"]);
    let done = audit.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let of_with: Vec<&str> = done
        .events
        .iter()
        .filter(|v| v["container"] == with.as_str())
        .filter_map(|v| v["finding"].as_str())
        .collect();
    for bad in [
        "pid1_will_ignore_sigterm",
        "pid1_ignores_sigterm",
        "slow_shutdown",
    ] {
        assert!(
            !of_with.contains(&bad),
            "{bad} for docker-init: {of_with:?}"
        );
    }
}

/// The name counters of an audit's stderr: (read, without runtime files,
/// unreadable, garbled).
fn name_counts(stderr: &str) -> (u64, u64, u64, u64) {
    let tail = stderr
        .split("container names: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no names counter: {stderr}"));
    let n: Vec<u64> = tail
        .split(',')
        .take(4)
        .map(|p| {
            p.split_whitespace()
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("odd counter {p:?}: {stderr}"))
        })
        .collect();
    (n[0], n[1], n[2], n[3])
}

/// dockerd on the containerd it starts itself keeps its bundles under its
/// exec root (`/run/docker/containerd/daemon/…/moby` on a host): with the
/// data root's files the container is named; without them (a data root not
/// given) the bundle still says it is Docker's, counted unreadable with the
/// reason; with neither, it is a container without runtime files.
#[test]
fn names_need_the_data_root_and_the_bundles_say_whose_a_container_is() {
    let _g = serial();
    let d = Dockerd::start_with(Options {
        own_containerd: true,
        ..Options::default()
    });
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "own",
        "--network",
        "none",
        IMAGE,
        "sleep",
        "1000",
    ]);
    let id = d.id_of("own");
    assert!(
        d.moby_tasks().join(&id).join("config.json").exists(),
        "the bundle under dockerd's own containerd: {}",
        d.moby_tasks().display()
    );
    let audit = |extra: &[&str]| {
        let mut args = vec!["--duration", "2s"];
        args.extend_from_slice(extra);
        let t = Tracer::audit(&args);
        let done = t.wait_exit();
        assert_eq!(done.code, Some(0), "{}", done.stderr);
        name_counts(&done.stderr)
    };
    // Other containers of the node count as they count: compare with the
    // audit that reads every root.
    let (read, missing, unreadable, garbled) = audit(&[]);
    assert!(read >= 1, "named from the data root");
    let no_root = audit(&["--docker-root", "/nonexistent"]);
    assert_eq!(no_root, (read - 1, missing, unreadable + 1, garbled));
    let neither = audit(&[
        "--docker-root",
        "/nonexistent",
        "--moby-root",
        "/nonexistent",
    ]);
    assert_eq!(neither, (read - 1, missing + 1, unreadable, garbled));
    let t = topology_json();
    assert_eq!(find_container(&t, "own")["id"], id.as_str());
}
