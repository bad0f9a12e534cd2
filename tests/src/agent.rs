//! The agent's image run the way `deploy/daemonset.yaml` runs it, with the
//! capability set that file gives it; and the deploy files the tests check
//! against real tools (the DaemonSet's capabilities, the Grafana dashboard's
//! queries).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::pod::{runtime_counts, Node};
use crate::prometheus::{free_port, http_get};
use crate::{eventually, TempDir, Tracer};

/// The image `cargo xtask test` builds before the tests.
pub const IMAGE: &str = "localhost/nstrace:latest";

/// A file of the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The binary's `nstrace agent` on a free loopback port, its lock file in
/// `dir`, with `extra` flags; returned once `/healthz` answers 200, with its
/// address and its lock file.
pub fn agent_in(dir: &TempDir, extra: &[&str]) -> (Tracer, String, PathBuf) {
    let lock = dir.path().join("agent.lock");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["agent", "--listen", &listen, "--lock-file"];
    args.push(lock.to_str().unwrap());
    args.extend_from_slice(extra);
    let agent = Tracer::command(&args, &[]);
    eventually("/healthz 200", || {
        http_get(&listen, "/healthz")
            .ok()
            .filter(|r| r.status == 200)
    });
    (agent, listen, lock)
}

/// The agent's /metrics value of `series` (summed over the label sets of
/// the lines that start with it); 0 when it has none.
pub fn agent_metric(listen: &str, series: &str) -> f64 {
    http_get(listen, "/metrics")
        .map(|r| r.body)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Where the agent's model and the node's truth differ, if anywhere: its
/// `nstrace_pods` and `nstrace_containers` against what the runtimes report
/// running ([`runtime_counts`]); ghosts: processes its `/topology` lists
/// that /proc no longer has, and still lists two seconds later (the
/// document is rendered at the agent's 1 s tick, so a process that has just
/// ended is in it for a moment: only one that stays is a ghost); and its
/// `nstrace_zombies` against the zombies /topology lists.
pub fn model_vs_node(listen: &str, node: &Node) -> Result<(), String> {
    let topology = || -> Result<Vec<(u64, String, bool)>, String> {
        let t: Value = serde_json::from_str(
            &http_get(listen, "/topology")
                .map_err(|e| e.to_string())?
                .body,
        )
        .map_err(|e| e.to_string())?;
        Ok(t["pods"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["containers"].as_array().cloned().unwrap_or_default())
            .chain(t["lone"].as_array().cloned().unwrap_or_default())
            .flat_map(|c| c["processes"].as_array().cloned().unwrap_or_default())
            .map(|p| {
                (
                    p["pid"].as_u64().unwrap_or(0),
                    p["comm"].as_str().unwrap_or_default().to_owned(),
                    p["zombie"] == true,
                )
            })
            .collect())
    };
    let gone = |pid: u64| !Path::new(&format!("/proc/{pid}")).exists();
    let before: Vec<(u64, String, bool)> = topology()?
        .into_iter()
        .filter(|(pid, ..)| gone(*pid))
        .collect();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (pods, ctrs) = runtime_counts(node);
    let m = http_get(listen, "/metrics")
        .map_err(|e| e.to_string())?
        .body;
    let after = topology()?;
    let gauge = |name: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(-1.0)
    };
    let mut wrong = Vec::new();
    if gauge("nstrace_pods") != pods as f64 {
        wrong.push(format!(
            "nstrace_pods {} but the runtimes run {pods}",
            gauge("nstrace_pods")
        ));
    }
    if gauge("nstrace_containers") != ctrs as f64 {
        wrong.push(format!(
            "nstrace_containers {} but the runtimes run {ctrs}",
            gauge("nstrace_containers")
        ));
    }
    for (pid, comm, _) in before.iter().filter(|p| after.contains(p) && gone(p.0)) {
        wrong.push(format!("a ghost: pid {pid} ({comm}) is gone from /proc"));
    }
    let zombies = after.iter().filter(|p| p.2).count();
    let gauge_zombies = agent_metric(listen, "nstrace_zombies{");
    if gauge_zombies > zombies as f64 {
        wrong.push(format!(
            "nstrace_zombies counts {gauge_zombies}, /topology lists {zombies} zombies"
        ));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
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
