//! Docker Engine and Compose as runtimes: real dockerd 20.10 (on a containerd
//! of the harness's) and docker-compose 1.29; nstrace's names, sharing modes,
//! published ports, `docker stop` timelines and dockerd's helpers checked
//! against what Docker itself reports (`docker inspect`) and /proc.

use nstrace_tests::pod::{pod_yaml, Node, Runtime, Spec};
use nstrace_tests::*;

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
        .contains("containerd-shim"),);
    let stopped = pod.stop(2);
    assert_eq!(stopped.len(), 2, "{stopped:?}");
    drop(pod);
    drop(d);
    drop(node);
    let left = nstrace_tests::docker::leftovers();
    assert!(left.is_empty(), "{left:?}");
}
