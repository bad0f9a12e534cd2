//! Kubernetes names: pods and containers named as the runtime names them,
//! read from the node's files alone — podman's own and containerd's real
//! bundles (real pods from Pod YAML, on both runtimes), and CRI-O-shaped
//! bundles under roots given as flags.

use std::path::Path;
use std::time::Duration;

use nstrace_tests::pod::{pod_yaml, Node, Pod, Runtime, Spec, NOTRAP};
use nstrace_tests::*;

fn nstrace(args: &[&str]) -> std::process::Output {
    nstrace_tests::nstrace().args(args).output().unwrap()
}

fn json_of(out: &std::process::Output) -> Value {
    assert_ok(out);
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// The (id, name) of every container of a topology pod.
fn containers(p: &Value) -> Vec<(String, Value)> {
    p["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["name"].clone()))
        .collect()
}

nstrace_tests::on_every_runtime!(pods_and_containers_are_named_as_the_pod_yaml_names_them);

/// Two pods with dashes in every name and a container name they share:
/// topology (tree, JSON, DOT), audit findings, shutdown timelines (followed by
/// `--pod NAMESPACE/NAME` where the runtime has namespaces) and the replay of
/// the recording all name them as the Pod YAML did; the pod's id is the
/// runtime's (podman's pod id, or the Kubernetes pod uid).
fn pods_and_containers_are_named_as_the_pod_yaml_names_them(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let dir = TempDir::new("names");
    let record = dir.path().join("names.nst");
    let t = Tracer::audit(&["--record", record.to_str().unwrap()]);
    let specs = |_: &str| {
        vec![
            Spec::sh("web-api", &["/bin/sh", "-c", NOTRAP]),
            Spec::sh("side-car", &["sleep", "1000"]),
        ]
    };
    let a = node.play("nm-shop-a", &pod_yaml("nm-shop-a", "", &specs("a"), ""));
    let b = node.play("nm-shop-b", &pod_yaml("nm-shop-b", "", &specs("b"), ""));

    // The runtime's own view: which id is which YAML container.
    let ids = |pod: &Pod| -> Vec<(String, String)> {
        pod.containers()
            .into_iter()
            .filter(|c| !c.infra)
            .map(|c| (c.id, c.name))
            .collect()
    };
    let (ids_a, ids_b) = (ids(&a), ids(&b));
    assert_eq!(ids_a.len(), 2);

    // Topology snapshot, JSON: each container's name is its YAML name.
    let topo = json_of(&nstrace(&["topology", "--format", "json"]));
    for (pod, want) in [(&a, &ids_a), (&b, &ids_b)] {
        let p = find_pod(&topo, &pod.name);
        assert_eq!(
            p["namespace"].as_str(),
            pod.namespace().as_deref(),
            "podman has none; the CRI pod's: {p}"
        );
        assert_eq!(p["id"], pod.id().as_str(), "{p}");
        let got = containers(p);
        for (id, name) in want.iter() {
            let (_, n) = got
                .iter()
                .find(|(i, _)| i == id)
                .unwrap_or_else(|| panic!("container {id} missing: {p}"));
            assert_eq!(n, name.as_str(), "{p}");
        }
        let infra: Vec<&Value> = p["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["infra"] == true)
            .collect();
        assert_eq!(infra.len(), 1);
        if rt.names_the_sandbox() {
            assert_eq!(infra[0]["name"], Value::Null, "the spec names no infra");
        } else {
            // Compose names every service; the pause is known by its init.
            assert_eq!(infra[0]["name"], "pause", "{p}");
        }
    }
    // Tree and DOT name them too.
    let tree = String::from_utf8(nstrace(&["topology"]).stdout).unwrap();
    for (id, name) in &ids_a {
        assert!(
            tree.contains(&format!("container {name} ({})", &id[..12])),
            "{tree}"
        );
    }
    assert!(
        tree.contains(&format!("\npod {}  id ", a.selector())),
        "{tree}"
    );
    let dot = String::from_utf8(nstrace(&["topology", "--format", "dot"]).stdout).unwrap();
    assert!(
        dot.contains(&format!("label=\"pod {}\"", b.selector())),
        "{dot}"
    );
    assert!(dot.contains("label=\"container side-car\""), "{dot}");

    // Stop pod a while following it by its name: timelines per named container;
    // and one container of it by POD/NAME (both pods have a web-api), one by
    // a prefix of its id.
    let follow = Tracer::shutdown(&a.selector());
    let container = |sel: &str| {
        Tracer::command(
            &[
                "shutdown",
                "--container",
                sel,
                "--format",
                "json",
                "--timeout",
                "120s",
            ],
            &[],
        )
    };
    let web_api = container(&format!("{}/web-api", a.selector()));
    let side_id = &ids_a.iter().find(|(_, n)| n == "side-car").unwrap().0;
    let side_car = container(&side_id[..12]);
    a.stop(2);
    std::thread::sleep(Duration::from_secs(1));
    let followed = follow.stop();
    for (t, name) in [(web_api, "web-api"), (side_car, "side-car")] {
        t.wait_for(&format!("{name}'s timeline"), |v| v["shutdown"].is_string());
        let done = t.stop();
        let lines: Vec<&str> = done
            .events
            .iter()
            .filter_map(|v| v["shutdown"].as_str())
            .collect();
        assert_eq!(
            lines,
            [format!("pod {} / container {name}", a.selector())],
            "{}",
            done.stderr
        );
    }
    let labels: Vec<&str> = followed
        .events
        .iter()
        .filter_map(|v| v["shutdown"].as_str())
        .collect();
    for c in ["web-api", "side-car"] {
        let want = format!("pod {} / container {c}", a.selector());
        assert!(labels.contains(&want.as_str()), "{want}: {labels:?}");
    }
    let a_selector = a.selector();
    drop(a);
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);

    // The audit's findings name pod and container.
    let ignored: Vec<&Value> = done
        .events
        .iter()
        .filter(|v| v["finding"] == "pid1_ignores_sigterm")
        .collect();
    assert!(
        ignored.iter().all(|f| f["pod"] == "nm-shop-a"),
        "only pod a was stopped: {ignored:?}"
    );
    let f = ignored
        .iter()
        .find(|f| f["container_name"] == "web-api")
        .unwrap_or_else(|| panic!("web-api's PID 1 ignores SIGTERM: {ignored:?}"));
    let web_a = ids_a.iter().find(|(_, n)| n == "web-api").unwrap();
    assert_eq!(f["container"], web_a.0.as_str(), "the id stays: {f}");
    assert!(
        done.stderr.contains("container names: "),
        "lookups are counted: {}",
        done.stderr
    );

    // Replayed, the recording names them the same way.
    let replayed = nstrace(&[
        "replay",
        record.to_str().unwrap(),
        "--audit",
        "--format",
        "json",
    ]);
    let lines: Vec<Value> = String::from_utf8_lossy(&replayed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let again: Vec<&Value> = lines
        .iter()
        .filter(|v| v["finding"] == "pid1_ignores_sigterm")
        .collect();
    assert!(
        again
            .iter()
            .any(|v| v["container_name"] == "web-api" && v["pod"] == "nm-shop-a"),
        "the finding again, named: {again:?}"
    );
    let text = nstrace(&["replay", record.to_str().unwrap(), "--audit"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("pod {a_selector} / container web-api")),
        "{text}"
    );
    let end = json_of(&nstrace(&[
        "replay",
        record.to_str().unwrap(),
        "--topology=json",
    ]));
    let pb = find_pod(&end, "nm-shop-b");
    let names: Vec<Value> = containers(pb).into_iter().map(|(_, n)| n).collect();
    assert!(names.contains(&Value::from("web-api")), "{pb}");
    assert!(names.contains(&Value::from("side-car")), "{pb}");
    drop(b);
}

/// Writes a bundle `config.json` shaped as CRI-O writes it for a workload
/// container: its own `io.kubernetes.cri-o.*` annotations next to the
/// kubelet's labels it copies in (sources cited in nstrace/src/runtime/bundle.rs).
fn crio_bundle(root: &Path, id: &str, sandbox: &str) {
    let dir = root.join(id).join("userdata");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = serde_json::json!({
        "ociVersion": "1.0.2-dev",
        "process": {"user": {"uid": 0, "gid": 0}, "args": ["nginx"], "cwd": "/"},
        "root": {"path": "/var/lib/containers/storage/overlay/x/merged"},
        "hostname": "frontend-7d9",
        "annotations": {
            "io.container.manager": "cri-o",
            "io.kubernetes.container.hash": "1b2a3c4d",
            "io.kubernetes.container.name": "nginx-main",
            "io.kubernetes.container.restartCount": "0",
            "io.kubernetes.cri-o.ContainerID": id,
            "io.kubernetes.cri-o.ContainerName": "k8s_nginx-main_frontend-7d9_prod_8c2f0a7e-1111-4a2b-9c3d-0123456789ab_0",
            "io.kubernetes.cri-o.ContainerType": "container",
            "io.kubernetes.cri-o.SandboxID": sandbox,
            "io.kubernetes.cri-o.SandboxName": "k8s_frontend-7d9_prod_8c2f0a7e-1111-4a2b-9c3d-0123456789ab_0",
            "io.kubernetes.pod.name": "frontend-7d9",
            "io.kubernetes.pod.namespace": "prod",
            "io.kubernetes.pod.terminationGracePeriod": "30",
            "io.kubernetes.pod.uid": "8c2f0a7e-1111-4a2b-9c3d-0123456789ab"
        }
    });
    std::fs::write(dir.join("config.json"), spec.to_string()).unwrap();
}

/// The runtime roots are flags: pointed at a directory holding a CRI-O-shaped
/// bundle for a container this test started, nstrace names the container and
/// its pod from there, with the Kubernetes namespace, and `--pod NS/NAME`
/// selects it. A garbled bundle leaves the id and is counted.
#[test]
fn runtime_roots_are_flags_and_crio_bundles_name_containers() {
    let _g = serial();
    // Any real container will do: podman's, whose own files the flags point away from.
    let node = Node::new(Runtime::Podman);
    let dir = TempDir::new("crio");
    let storage = dir.path().join("storage");
    let pod = node.play(
        "nm-crio",
        &pod_yaml("nm-crio", "", &[Spec::sh("app", &["sleep", "1000"])], ""),
    );
    let app = pod.container("app");
    let infra = pod.infra();
    crio_bundle(&storage, &app.id, &infra.id);
    let nowhere = dir.path().join("none");
    let roots = [
        "--storage-root",
        storage.to_str().unwrap(),
        "--containerd-root",
        nowhere.to_str().unwrap(),
        "--podman-db",
        nowhere.to_str().unwrap(),
    ];
    let mut args = vec!["topology", "--format", "json"];
    args.extend(roots);
    let topo = json_of(&nstrace(&args));
    let p = find_pod(&topo, "frontend-7d9");
    assert_eq!(p["namespace"], "prod", "{p}");
    assert_eq!(p["uid"], "8c2f0a7e-1111-4a2b-9c3d-0123456789ab", "{p}");
    let got = containers(p);
    assert!(
        got.contains(&(app.id.clone(), Value::from("nginx-main"))),
        "{p}"
    );
    // The infra has no bundle under these roots: it keeps its id, unnamed.
    assert!(got.contains(&(infra.id.clone(), Value::Null)), "{p}");

    // --pod NAMESPACE/NAME selects the pod the bundle names.
    let mut args = vec!["shutdown", "--pod", "prod/frontend-7d9", "--timeout", "1s"];
    args.extend(roots);
    let out = nstrace(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("following the shutdown of pod prod/frontend-7d9 (2 PID namespace(s))"),
        "{err}"
    );
    let mut args = vec!["shutdown", "--pod", "other/frontend-7d9", "--timeout", "1s"];
    args.extend(roots);
    let err = String::from_utf8_lossy(&nstrace(&args).stderr).into_owned();
    assert!(err.contains("no pod named other/frontend-7d9"), "{err}");

    // A garbled bundle: the container keeps its id and the audit counts it.
    std::fs::write(
        storage.join(&app.id).join("userdata/config.json"),
        "{\"ociVersion\": ",
    )
    .unwrap();
    let topo = json_of(&nstrace(&{
        let mut a = vec!["topology", "--format", "json"];
        a.extend(roots);
        a
    }));
    let p = find_pod(&topo, "nm-crio");
    assert!(
        containers(p).contains(&(app.id.clone(), Value::Null)),
        "{p}"
    );
    let mut args = vec!["--duration", "1s"];
    args.extend(roots);
    let done = Tracer::audit(&args).stop();
    assert!(
        done.stderr.contains("1 garbled"),
        "a garbled bundle is counted: {}",
        done.stderr
    );
    assert!(
        done.stderr.contains("0 read"),
        "nothing was named: {}",
        done.stderr
    );
}

/// containerd without the kubelet's cgroup parent (as crictl or a hand-made
/// CRI client runs pods: each container's cgroup is `/k8s.io/<id>`), a pod of
/// the node's network, IPC and PID namespaces, so that nothing but containerd's
/// real bundles ties the app to its pause: one pod, named with its namespace,
/// whose id is the pod uid the bundle gives (`sandbox-uid`; Debian's 1.6.20
/// writes it), else its sandbox id, never `net-<inode>`; `--pod NAMESPACE/NAME`
/// selects it.
#[test]
fn containerd_pod_without_a_cgroup_parent_is_named_by_its_bundles() {
    let _g = serial();
    let node = Node::new(Runtime::Containerd);
    let yaml = pod_yaml(
        "nm-bare",
        "  hostNetwork: true\n  hostPID: true\n  hostIPC: true\n",
        &[Spec::sh("app", &["sleep", "1000"])],
        "",
    );
    let pod = node.play_with("nm-bare", &yaml, false);
    let app = pod.container("app");
    let cg = std::fs::read_to_string(format!("/proc/{}/cgroup", app.pid)).unwrap();
    assert!(
        cg.lines()
            .any(|l| l.ends_with(&format!(":/k8s.io/{}", app.id))),
        "no cgroup parent: {cg}"
    );
    let sandbox = pod.cri().unwrap().sandbox.clone();
    // What containerd really wrote.
    let bundle: Value = serde_json::from_str(
        &std::fs::read_to_string(
            node.containerd()
                .unwrap()
                .tasks()
                .join(&sandbox)
                .join("config.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let a = &bundle["annotations"];
    assert_eq!(a["io.kubernetes.cri.sandbox-id"], sandbox.as_str(), "{a}");
    let want = a["io.kubernetes.cri.sandbox-uid"]
        .as_str()
        .unwrap_or(&sandbox)
        .to_owned();
    if let Some(uid) = a["io.kubernetes.cri.sandbox-uid"].as_str() {
        assert_eq!(uid, pod.id(), "the kubelet's pod uid");
    }
    let topo = json_of(&nstrace(&["topology", "--format", "json"]));
    let p = find_pod(&topo, "nm-bare");
    assert_eq!(
        p["id"],
        want.as_str(),
        "the bundle's pod uid or sandbox id: {p}"
    );
    assert_eq!(p["namespace"], "default", "{p}");
    let got = containers(p);
    assert!(got.contains(&(app.id.clone(), Value::from("app"))), "{p}");
    assert!(got.contains(&(sandbox.clone(), Value::Null)), "{p}");
    assert_eq!(p["infra"]["container"], sandbox.as_str(), "{p}");
    let err = String::from_utf8_lossy(
        &nstrace(&["shutdown", "--pod", "default/nm-bare", "--timeout", "1s"]).stderr,
    )
    .into_owned();
    // Selected (and refused for what it is: a hostPID pod has no PID 1 of its own).
    assert!(
        err.contains("pod default/nm-bare uses the node's PID namespace"),
        "{err}"
    );
}

/// containerd deletes a container's bundle with its task, within milliseconds
/// of the exit of a container that lived milliseconds: its names must come
/// from containerd's metadata database, which keeps the container's spec until
/// the container is removed. With the bundle roots pointed away, the running
/// app is named from the database alone; with the database pointed away too,
/// nothing names it (so the database was the source).
#[test]
fn containerd_names_outlive_the_bundle_in_its_metadata_database() {
    let _g = serial();
    let node = Node::new(Runtime::Containerd);
    let pod = node.play(
        "nm-meta",
        &pod_yaml("nm-meta", "", &[Spec::sh("app", &["sleep", "1000"])], ""),
    );
    let app = pod.container("app");
    let meta_db = node.containerd().unwrap().meta_db();
    assert!(meta_db.is_file(), "{} is containerd's", meta_db.display());
    let dir = TempDir::new("meta-db");
    let nowhere = dir.path().join("none");
    let nowhere = nowhere.to_str().unwrap();
    let topo = |db: &str| {
        json_of(&nstrace(&[
            "topology",
            "--format",
            "json",
            "--containerd-root",
            nowhere,
            "--containerd-db",
            db,
        ]))
    };
    let named = topo(meta_db.to_str().unwrap());
    let p = find_pod(&named, "nm-meta");
    assert_eq!(p["namespace"], "default", "{p}");
    assert!(
        containers(p).contains(&(app.id.clone(), Value::from("app"))),
        "{p}"
    );
    let unnamed = topo(nowhere);
    let ids: Vec<_> = unnamed["pods"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(containers)
        .collect();
    assert!(
        ids.contains(&(app.id.clone(), Value::Null)),
        "without the database nothing names it: {unnamed}"
    );
}
