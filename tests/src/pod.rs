//! Real pods for the integration tests: Kubernetes Pod YAML run by
//! `podman kube play` (catatonit infra, the locally built busybox image), or
//! pods made with `podman pod create` for what kube play cannot express.
//! Every pod is removed when its handle drops, also when a test fails.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::EVENT_TIMEOUT;

/// The image `cargo xtask setup` builds (static busybox, tini, dumb-init).
pub const IMAGE: &str = "localhost/nstrace-busybox:latest";

/// A shell PID 1 with no trap: the kernel drops the SIGTERM sent to it (a
/// namespace init without a handler), and only SIGKILL ends it.
pub const NOTRAP: &str = "sleep 1000; echo done";

fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("podman {args:?}: {e} (run `cargo xtask setup`)"))
}

/// Runs podman and returns its trimmed stdout; panics with its stderr on failure.
pub fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// One container of a pod, as podman reports it.
#[derive(Clone, Debug)]
pub struct Ctr {
    /// Full id (64 hex).
    pub id: String,
    /// podman's name (`POD-CONTAINER` for kube play, `POD-infra`…).
    pub name: String,
    /// Its PID 1 on the node.
    pub pid: u32,
    /// Whether it is the infra container.
    pub infra: bool,
}

/// A running pod, removed on drop.
pub struct Pod {
    /// Pod name (also every container's hostname under kube play).
    pub name: String,
    yaml: Option<PathBuf>,
}

/// A container of a Pod YAML: name and the shell command it runs.
pub struct Spec<'a> {
    /// Container name.
    pub name: &'a str,
    /// argv.
    pub command: &'a [&'a str],
    /// Extra YAML lines for the container (indented by the caller to 4 spaces).
    pub extra: &'a str,
}

impl<'a> Spec<'a> {
    /// A container running `sh -c SCRIPT`.
    pub fn sh(name: &'a str, command: &'a [&'a str]) -> Spec<'a> {
        Spec {
            name,
            command,
            extra: "",
        }
    }
}

/// Pod YAML with `spec_extra` (lines at 2-space indent under `spec:`) and `containers`.
pub fn pod_yaml(name: &str, spec_extra: &str, containers: &[Spec<'_>], volumes: &str) -> String {
    let mut y = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 5\n{spec_extra}  containers:\n"
    );
    for c in containers {
        let argv: Vec<String> = c
            .command
            .iter()
            .map(|a| serde_json::to_string(a).expect("a string"))
            .collect();
        y.push_str(&format!(
            "  - name: {}\n    image: {IMAGE}\n    imagePullPolicy: Never\n    command: [{}]\n{}",
            c.name,
            argv.join(", "),
            c.extra
        ));
    }
    y.push_str(volumes);
    y
}

impl Pod {
    /// `podman kube play` of `yaml` (a pod named `name`); waits until every container runs.
    pub fn play(name: &str, yaml: &str) -> Pod {
        // A pod of this name left by an earlier, killed run would make play fail.
        let _ = podman(&["pod", "rm", "-f", "-t", "0", name]);
        let path =
            std::env::temp_dir().join(format!("nstrace-pod-{name}-{}.yaml", std::process::id()));
        std::fs::write(&path, yaml).unwrap();
        let pod = Pod {
            name: name.to_owned(),
            yaml: Some(path.clone()),
        };
        podman_ok(&["kube", "play", path.to_str().unwrap()]);
        pod.wait_running();
        pod
    }

    /// A pod made by `podman pod create ARGS`; add containers with [`Pod::run`].
    pub fn create(name: &str, args: &[&str]) -> Pod {
        let _ = podman(&["pod", "rm", "-f", "-t", "0", name]);
        let mut a = vec!["pod", "create", "--name", name];
        a.extend_from_slice(args);
        podman_ok(&a);
        let pod = Pod {
            name: name.to_owned(),
            yaml: None,
        };
        podman_ok(&["pod", "start", name]);
        pod
    }

    /// `podman run -d --pod POD ARGS IMAGE CMD…`; returns the container id.
    pub fn run(&self, ctr: &str, args: &[&str], cmd: &[&str]) -> String {
        let name = format!("{}-{ctr}", self.name);
        let mut a = vec!["run", "-d", "--pod", &self.name, "--name", &name];
        a.extend_from_slice(args);
        a.push(IMAGE);
        a.extend_from_slice(cmd);
        let id = podman_ok(&a);
        self.wait_running();
        id
    }

    /// Waits until podman says every container of the pod is running.
    pub fn wait_running(&self) {
        let start = Instant::now();
        loop {
            let states = podman_ok(&[
                "pod",
                "inspect",
                &self.name,
                "--format",
                "{{range .Containers}}{{.State}} {{end}}",
            ]);
            if !states.is_empty() && states.split_whitespace().all(|s| s == "running") {
                return;
            }
            assert!(
                start.elapsed() < EVENT_TIMEOUT,
                "pod {} not running: {states}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pod's id (64 hex).
    pub fn id(&self) -> String {
        podman_ok(&["pod", "inspect", &self.name, "--format", "{{.Id}}"])
    }

    /// Every container (infra included) with its PID 1.
    pub fn containers(&self) -> Vec<Ctr> {
        let ids = podman_ok(&[
            "pod",
            "inspect",
            &self.name,
            "--format",
            "{{range .Containers}}{{.Id}} {{end}}",
        ]);
        ids.split_whitespace()
            .map(|id| {
                let f = podman_ok(&[
                    "inspect",
                    "--format",
                    "{{.Name}} {{.State.Pid}} {{.IsInfra}}",
                    id,
                ]);
                let mut it = f.split_whitespace();
                Ctr {
                    id: id.to_owned(),
                    name: it.next().unwrap().to_owned(),
                    pid: it.next().unwrap().parse().unwrap(),
                    infra: it.next() == Some("true"),
                }
            })
            .collect()
    }

    /// The container whose name ends in `-{suffix}`.
    pub fn container(&self, suffix: &str) -> Ctr {
        self.containers()
            .into_iter()
            .find(|c| c.name.ends_with(&format!("-{suffix}")))
            .unwrap_or_else(|| panic!("no container {suffix} in pod {}", self.name))
    }

    /// `podman pod stop -t GRACE`: SIGTERM to every container's PID 1, SIGKILL after GRACE s.
    pub fn stop(&self, grace_s: u32) {
        podman_ok(&["pod", "stop", "-t", &grace_s.to_string(), &self.name]);
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if let Some(y) = &self.yaml {
            let _ = podman(&["kube", "down", y.to_str().unwrap()]);
            let _ = std::fs::remove_file(y);
        }
        let _ = podman(&["pod", "rm", "-f", "-t", "0", &self.name]);
    }
}
