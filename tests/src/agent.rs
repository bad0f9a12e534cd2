//! The agent's image run the way `deploy/daemonset.yaml` runs it, with the
//! capability set that file gives it; and the deploy files the tests check
//! against real tools (the DaemonSet's capabilities, the Grafana dashboard's
//! queries).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The image `cargo xtask test` builds before the tests.
pub const IMAGE: &str = "localhost/nstrace:latest";

/// A file of the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The capabilities `deploy/daemonset.yaml` adds to the agent (`add: [A, B]`
/// under `capabilities:`), as Kubernetes names them (no `CAP_`).
pub fn daemonset_caps() -> Vec<String> {
    let yaml = std::fs::read_to_string(repo("deploy/daemonset.yaml")).expect("the DaemonSet");
    let mut in_caps = false;
    for line in yaml.lines() {
        let t = line.split(" #").next().unwrap_or("").trim();
        if t == "capabilities:" {
            in_caps = true;
        } else if let Some(list) = t.strip_prefix("add:").filter(|_| in_caps) {
            return list
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect();
        }
    }
    panic!("no capabilities.add list in deploy/daemonset.yaml");
}

/// The agent's container; removed on drop (also when a test fails).
pub struct AgentContainer(pub String);

impl Drop for AgentContainer {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "-f", "-t", "0", &self.0])
            .output();
    }
}

/// `podman run` of the agent's image as the DaemonSet runs it: not
/// privileged, every capability dropped and `caps` added, no privilege
/// escalation, a read-only root, the node's PID and network namespaces, the
/// same read-only mounts (podman keeps its bundles and names under /var/lib,
/// so those are mounted too, as the DaemonSet's comment says), and
/// `lock_dir` as its /run/nstrace. `detach`: `-d`, else it runs to its end.
pub fn podman_run(
    name: &str,
    caps: &[String],
    lock_dir: &Path,
    detach: bool,
    agent_args: &[&str],
) -> Output {
    let storage = "/var/lib/containers/storage";
    let mount = |host: &str, inside: &str, opts: &str| format!("{host}:{inside}:{opts}");
    let mut cmd = Command::new("podman");
    cmd.arg("run").args(["--name", name]);
    if detach {
        cmd.arg("-d");
    }
    cmd.args(["--cap-drop", "all"]);
    if !caps.is_empty() {
        cmd.args(["--cap-add", &caps.join(",")]);
    }
    cmd.args([
        "--security-opt",
        "no-new-privileges",
        "--pid=host",
        "--network=host",
        "--read-only",
    ])
    .args(["-v", &mount("/sys/kernel/btf", "/sys/kernel/btf", "ro")])
    .args(["-v", &mount("/sys/fs/cgroup", "/sys/fs/cgroup", "ro")])
    .args(["-v", &mount("/run", "/host/run", "ro,rslave")])
    .args(["-v", &format!("{}:/run/nstrace", lock_dir.display())])
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
    .arg(IMAGE)
    .arg("agent")
    .args(agent_args)
    .args([
        "--storage-root",
        "/host/var/lib/containers/storage/overlay-containers",
        "--podman-db",
        "/host/var/lib/containers/storage/libpod/bolt_state.db",
    ]);
    cmd.output().expect("podman runs")
}

/// Every query of `deploy/grafana-dashboard.json` (panels in rows too), with
/// its panel's title, and Grafana's variables replaced as Grafana would for
/// "all nodes": `$instance` → `.*`, `$__rate_interval` → `1m`, `$__range` → `1h`.
pub fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("deploy/grafana-dashboard.json")).expect("dashboard");
    let d: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut out = Vec::new();
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    let q = expr
                        .replace("$instance", ".*")
                        .replace("$__rate_interval", "1m")
                        .replace("$__range", "1h");
                    assert!(
                        !q.contains('$'),
                        "a variable the test does not know: {expr}"
                    );
                    out.push((p["title"].as_str().unwrap_or("?").to_owned(), q));
                }
            }
            walk(&p["panels"], out);
        }
    }
    walk(&d["panels"], &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemonsets_capabilities_are_read() {
        let caps = daemonset_caps();
        assert!(!caps.is_empty());
        assert!(
            caps.iter()
                .all(|c| c.chars().all(|x| x.is_ascii_uppercase() || x == '_')),
            "{caps:?}"
        );
    }

    #[test]
    fn every_dashboard_panel_has_a_query_the_test_can_run() {
        let q = dashboard_queries();
        assert!(q.len() >= 10, "{q:?}");
        assert!(
            q.iter()
                .all(|(_, e)| e.contains("nstrace_") || e.contains("up{")),
            "{q:?}"
        );
    }
}
