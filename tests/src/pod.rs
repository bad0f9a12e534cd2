//! Real pods for the integration tests, from Kubernetes Pod YAML, on either
//! runtime the suite tests: podman (`podman kube play`, catatonit infra; pods
//! whose hostPID or hostIPC kube play ignores are made with `podman pod create`
//! and `podman run`, as the kubelet would arrange them) or containerd through
//! CRI, driven by the harness's small kubelet ([`crate::kubelet`]). Both run the
//! locally built busybox image. Every pod is removed when its handle drops, also
//! when a test fails; a test's containerd stops when its last handle drops.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cri::Containerd;
use crate::kubelet::{self, CriPod};
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
    crate::run_ok(Command::new("podman").args(args))
        .trim()
        .to_owned()
}

/// The container runtimes every real-pod test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// podman 4.3 (`kube play`), catatonit infra, conmon per container.
    Podman,
    /// containerd 1.6 with its CRI plugin, driven the kubelet's way; one
    /// containerd-shim-runc-v2 per pod, catatonit -P as the pause.
    Containerd,
}

impl Runtime {
    /// Whether the runtime sends the infra (pause) SIGTERM when the pod stops
    /// (`podman pod stop` does; containerd's StopPodSandbox SIGKILLs the pause).
    pub fn infra_gets_sigterm(self) -> bool {
        self == Runtime::Podman
    }

    /// Whether pods carry a Kubernetes namespace (`default` here) in the
    /// runtime's files (podman has none).
    pub fn has_namespace(self) -> bool {
        self == Runtime::Containerd
    }

    /// The command names of the runtime's processes that signal and enter containers.
    pub fn runtime_comms(self) -> &'static [&'static str] {
        match self {
            Runtime::Podman => &["runc", "conmon", "podman"],
            Runtime::Containerd => &["runc", "containerd-shim", "containerd"],
        }
    }
}

/// Generates, for each named test body `fn NAME(rt: Runtime)`, a module `NAME`
/// with the tests `podman` and `containerd` (one body, both runtimes).
#[macro_export]
macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn podman() {
                    super::$name($crate::pod::Runtime::Podman)
                }
                #[test]
                fn containerd() {
                    super::$name($crate::pod::Runtime::Containerd)
                }
            }
        )*
    };
}

/// One test's node: the runtime it runs pods on (for containerd, the
/// containerd it started, stopped when the last pod and this are gone).
pub struct Node {
    /// Which runtime.
    pub runtime: Runtime,
    containerd: Option<Arc<Containerd>>,
}

impl Node {
    /// The node for `runtime` (starts a containerd for [`Runtime::Containerd`]).
    pub fn new(runtime: Runtime) -> Node {
        Node {
            runtime,
            containerd: (runtime == Runtime::Containerd).then(|| Arc::new(Containerd::start())),
        }
    }

    /// The harness's containerd, on a containerd node.
    pub fn containerd(&self) -> Option<&Arc<Containerd>> {
        self.containerd.as_ref()
    }

    /// Runs the pod of `yaml` (named `name`); returns when every container runs.
    pub fn play(&self, name: &str, yaml: &str) -> Pod {
        self.play_with(name, yaml, true)
    }

    /// [`Node::play`]; on containerd optionally without the kubelet's cgroup parent.
    pub fn play_with(&self, name: &str, yaml: &str, cgroup_parent: bool) -> Pod {
        let pod = match &self.containerd {
            Some(c) => {
                let p = kubelet::run_pod_with(c.clone(), yaml, cgroup_parent)
                    .unwrap_or_else(|e| panic!("pod {name} through CRI: {e}"));
                Pod {
                    name: name.to_owned(),
                    runtime: Runtime::Containerd,
                    inner: Inner::Cri(Box::new(p)),
                }
            }
            None => Pod::play_podman(name, yaml),
        };
        pod.wait_running();
        pod
    }
}

/// One container of a pod, as its runtime reports it.
#[derive(Clone, Debug)]
pub struct Ctr {
    /// Full id (64 hex).
    pub id: String,
    /// Its name in the pod spec; `infra` for the infra (pause) container.
    pub name: String,
    /// Its PID 1 on the node.
    pub pid: u32,
    /// Whether it is the infra container.
    pub infra: bool,
}

/// A running pod, removed on drop.
pub struct Pod {
    /// metadata.name (also every container's hostname, except with hostNetwork).
    pub name: String,
    /// The runtime it runs on.
    pub runtime: Runtime,
    inner: Inner,
}

enum Inner {
    /// Played from this YAML file, or made with `pod create` (None).
    Podman(Option<PathBuf>, Value),
    Cri(Box<CriPod>),
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
    /// `podman kube play` of `yaml` (or, for hostPID / hostIPC, which podman 4.3's
    /// kube play ignores, `podman pod create` and `podman run` per container).
    fn play_podman(name: &str, yaml: &str) -> Pod {
        // A pod of this name left by an earlier, killed run would make play fail.
        let _ = podman(&["pod", "rm", "-f", "-t", "0", name]);
        let spec = kubelet::pod_of(yaml).unwrap_or_else(|e| panic!("{e}"));
        let s = &spec["spec"];
        let yes = |k: &str| s[k].as_bool() == Some(true);
        if !yes("hostPID") && !yes("hostIPC") {
            let path = std::env::temp_dir()
                .join(format!("nstrace-pod-{name}-{}.yaml", std::process::id()));
            std::fs::write(&path, yaml).unwrap();
            let pod = Pod {
                name: name.to_owned(),
                runtime: Runtime::Podman,
                inner: Inner::Podman(Some(path.clone()), spec),
            };
            podman_ok(&["kube", "play", path.to_str().unwrap()]);
            return pod;
        }
        // The kubelet's arrangement: net, uts (and ipc, pid) shared through the
        // infra, or the node's; podman cannot give the infra the node's IPC, so
        // each container joins it.
        let mut share = vec!["uts", "net"];
        let mut args = vec!["pod", "create", "--name", name];
        if !yes("hostIPC") {
            share.push("ipc");
        }
        if yes("hostPID") {
            share.push("pid");
            args.extend(["--pid", "host"]);
        } else if yes("shareProcessNamespace") {
            share.push("pid");
        }
        if yes("hostNetwork") {
            args.extend(["--network", "host"]);
        }
        let share = share.join(",");
        args.extend(["--share", &share]);
        podman_ok(&args);
        let pod = Pod {
            name: name.to_owned(),
            runtime: Runtime::Podman,
            inner: Inner::Podman(None, spec.clone()),
        };
        podman_ok(&["pod", "start", name]);
        for c in s["containers"].as_array().cloned().unwrap_or_default() {
            let cname = format!("{name}-{}", c["name"].as_str().unwrap());
            let mut a: Vec<String> = ["run", "-d", "--pod", name, "--name", &cname]
                .iter()
                .map(|x| x.to_string())
                .collect();
            if yes("hostIPC") {
                a.extend(["--ipc".into(), "host".into()]);
            }
            if c["securityContext"]["privileged"].as_bool() == Some(true) {
                a.push("--privileged".into());
            }
            let argv: Vec<String> = c["command"]
                .as_array()
                .into_iter()
                .chain(c["args"].as_array())
                .flatten()
                .map(|x| x.as_str().unwrap_or_default().to_owned())
                .collect();
            if let Some(first) = argv.first() {
                a.extend(["--entrypoint".into(), first.clone()]);
            }
            a.push(c["image"].as_str().unwrap_or(IMAGE).to_owned());
            a.extend(argv.into_iter().skip(1));
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            podman_ok(&a);
        }
        pod
    }

    /// Waits until every container of the pod runs.
    pub fn wait_running(&self) {
        let start = Instant::now();
        loop {
            let (ok, states) = match &self.inner {
                Inner::Cri(p) => (p.running(), String::from("not all running")),
                Inner::Podman(..) => {
                    let states = podman_ok(&[
                        "pod",
                        "inspect",
                        &self.name,
                        "--format",
                        "{{range .Containers}}{{.State}} {{end}}",
                    ]);
                    let want = self.spec()["spec"]["containers"]
                        .as_array()
                        .map_or(0, Vec::len)
                        + 1;
                    let ok = states.split_whitespace().count() == want
                        && states.split_whitespace().all(|s| s == "running");
                    (ok, states)
                }
            };
            if ok {
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

    /// The Pod document it was made from.
    pub fn spec(&self) -> Value {
        match &self.inner {
            Inner::Podman(_, v) => v.clone(),
            Inner::Cri(_) => Value::Null,
        }
    }

    /// The pod's id as nstrace shows it: podman's pod id (64 hex, in the
    /// cgroup path), or the Kubernetes pod uid (in the kubelet's cgroup parent).
    pub fn id(&self) -> String {
        match &self.inner {
            Inner::Cri(p) => p.uid.clone(),
            Inner::Podman(..) => podman_ok(&["pod", "inspect", &self.name, "--format", "{{.Id}}"]),
        }
    }

    /// Its Kubernetes namespace, where the runtime records one.
    pub fn namespace(&self) -> Option<String> {
        match &self.inner {
            Inner::Cri(p) => Some(p.namespace.clone()),
            Inner::Podman(..) => None,
        }
    }

    /// How `--pod` selects it: `NAMESPACE/NAME` where there is a namespace.
    pub fn selector(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// terminationGracePeriodSeconds of its spec (30 when unset, as in the API).
    pub fn spec_grace_s(&self) -> u32 {
        match &self.inner {
            Inner::Cri(p) => p.grace_s as u32,
            Inner::Podman(_, v) => v["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or(30) as u32,
        }
    }

    /// The CRI pod, on containerd.
    pub fn cri(&self) -> Option<&CriPod> {
        match &self.inner {
            Inner::Cri(p) => Some(p),
            Inner::Podman(..) => None,
        }
    }

    /// Every container (infra included) with its PID 1.
    pub fn containers(&self) -> Vec<Ctr> {
        match &self.inner {
            Inner::Cri(p) => {
                let mut out = vec![Ctr {
                    id: p.sandbox.clone(),
                    name: "infra".into(),
                    pid: p.sandbox_pid().expect("the sandbox's pid"),
                    infra: true,
                }];
                for c in &p.containers {
                    out.push(Ctr {
                        id: c.id.clone(),
                        name: c.name.clone(),
                        pid: p
                            .container_pid(&c.id)
                            .unwrap_or_else(|| panic!("no pid for container {}", c.name)),
                        infra: false,
                    });
                }
                out
            }
            Inner::Podman(..) => {
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
                        let name = it.next().unwrap().to_owned();
                        let pid = it.next().unwrap().parse().unwrap();
                        let infra = it.next() == Some("true");
                        let prefix = format!("{}-", self.name);
                        Ctr {
                            id: id.to_owned(),
                            name: if infra {
                                "infra".into()
                            } else {
                                name.strip_prefix(&prefix).unwrap_or(&name).to_owned()
                            },
                            pid,
                            infra,
                        }
                    })
                    .collect()
            }
        }
    }

    /// The container named `name` in the spec (`infra` for the infra).
    pub fn container(&self, name: &str) -> Ctr {
        self.containers()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no container {name} in pod {}", self.name))
    }

    /// The infra (pause) container.
    pub fn infra(&self) -> Ctr {
        self.container("infra")
    }

    /// The pod's own containers: every one but the infra.
    pub fn workloads(&self) -> Vec<Ctr> {
        self.containers().into_iter().filter(|c| !c.infra).collect()
    }

    /// The node pids of the runtime's own per-container processes, which are
    /// node processes and never in the pod: podman's conmon of each container,
    /// containerd's shim of the pod.
    pub fn runtime_pids(&self) -> Vec<u32> {
        match &self.inner {
            Inner::Cri(p) => {
                let state = format!(
                    "{}/io.containerd.runtime.v2.task/k8s.io/{}/shim.pid",
                    crate::cri::STATE,
                    p.sandbox
                );
                std::fs::read_to_string(&state)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .into_iter()
                    .collect()
            }
            Inner::Podman(..) => self
                .containers()
                .iter()
                .map(|c| {
                    podman_ok(&["inspect", "--format", "{{.State.ConmonPid}}", &c.id])
                        .parse()
                        .unwrap()
                })
                .collect(),
        }
    }

    /// The node pids of every process of container `c` (its cgroup's).
    pub fn pids_of(&self, c: &Ctr) -> Vec<u32> {
        let cg = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid)).unwrap_or_default();
        let Some(path) = cg.lines().find_map(|l| {
            let mut it = l.splitn(3, ':');
            let _ = it.next();
            (it.next()? == "pids").then(|| it.next().map(str::to_owned))?
        }) else {
            return vec![c.pid];
        };
        std::fs::read_to_string(format!("/sys/fs/cgroup/pids{path}/cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Runs `argv` in container `c` the runtime's way (`podman exec`, CRI
    /// ExecSync): (success, stdout, stderr).
    pub fn exec(&self, c: &Ctr, argv: &[&str]) -> (bool, String, String) {
        match &self.inner {
            Inner::Cri(p) => {
                let (code, out, err) = p
                    .containerd
                    .exec_sync(&c.id, argv, 60)
                    .unwrap_or_else(|e| panic!("{e}"));
                (code == 0, out, err)
            }
            Inner::Podman(..) => {
                let mut a = vec!["exec", c.id.as_str()];
                a.extend_from_slice(argv);
                let o = podman(&a);
                (
                    o.status.success(),
                    String::from_utf8_lossy(&o.stdout).into_owned(),
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                )
            }
        }
    }

    /// Runs `argv` in container `c` with a terminal, `input` on its stdin:
    /// `podman exec -t` (podman makes the terminal itself; its stdin here is
    /// a pipe), or CRI Exec with `tty` and a WebSocket stream, as `kubectl
    /// exec -it` does. Returns the terminal's output.
    pub fn exec_tty(&self, c: &Ctr, argv: &[&str], input: &[u8]) -> String {
        match &self.inner {
            Inner::Cri(p) => p
                .containerd
                .exec_tty(&c.id, argv, input)
                .unwrap_or_else(|e| panic!("{e}")),
            Inner::Podman(..) => {
                use std::io::Write;
                let mut child = Command::new("podman")
                    .args(["exec", "-i", "-t", c.id.as_str()])
                    .args(argv)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("podman runs");
                let mut stdin = child.stdin.take().expect("stdin piped");
                stdin.write_all(input).expect("writing to podman exec");
                drop(stdin);
                let out = child.wait_with_output().expect("podman exec ends");
                assert!(
                    out.status.success(),
                    "podman exec -it: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
        }
    }

    /// `kubectl debug --target=TARGET` (CRI: a container of this pod in the
    /// target's PID namespace) or, on podman, `podman run --pod --pid
    /// container:TARGET`: container `name` running `command` with `caps_add`.
    /// Returns it once it runs.
    pub fn start_debug(
        &mut self,
        name: &str,
        command: &[&str],
        target: &str,
        caps_add: &[&str],
    ) -> Ctr {
        match &mut self.inner {
            Inner::Cri(p) => {
                p.start_debug(name, IMAGE, command, target, caps_add)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            Inner::Podman(..) => {
                let full = format!("{}-{name}", self.name);
                let pid = format!("container:{}-{target}", self.name);
                let mut a = vec![
                    "run", "-d", "--pod", &self.name, "--name", &full, "--pid", &pid,
                ];
                let caps = caps_add.join(",");
                if !caps.is_empty() {
                    a.extend(["--cap-add", &caps]);
                }
                a.extend(["--entrypoint", command[0], IMAGE]);
                a.extend(&command[1..]);
                podman_ok(&a);
            }
        }
        crate::eventually(&format!("debug container {name} running"), || {
            self.containers()
                .into_iter()
                .find(|c| c.name == name && c.pid != 0)
        })
    }

    /// ExecSync calls the harness's kubelet made for the exec probes of
    /// container `name` (CRI only: podman's kube play runs no probes).
    pub fn probe_runs(&self, name: &str) -> u64 {
        match &self.inner {
            Inner::Cri(p) => p.probe_runs(name),
            Inner::Podman(..) => 0,
        }
    }

    /// What container `name` wrote to stdout and stderr.
    pub fn logs(&self, name: &str) -> String {
        match &self.inner {
            Inner::Cri(p) => p.logs(name),
            Inner::Podman(..) => podman_ok(&["logs", &format!("{}-{name}", self.name)]),
        }
    }

    /// The kubelet's stop with grace period `grace_s`: each container's preStop
    /// exec hook first, then SIGTERM to every container's PID 1 and SIGKILL after
    /// what is left of the grace period. On containerd: the CRI calls the
    /// kubelet makes. On podman: the hooks with `podman exec`, then `podman pod
    /// stop -t` with the rest (it stops the infra too). Returns the grace each
    /// container's stop was given (after its hook), by container name.
    pub fn stop(&self, grace_s: u32) -> std::collections::BTreeMap<String, i64> {
        match &self.inner {
            Inner::Cri(p) => p
                .stop(i64::from(grace_s))
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .collect(),
            Inner::Podman(_, spec) => {
                let started = Instant::now();
                let hooks: Vec<(String, Vec<String>)> = spec["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| {
                        let cmd = c["lifecycle"]["preStop"]["exec"]["command"].as_array()?;
                        Some((
                            format!("{}-{}", self.name, c["name"].as_str()?),
                            cmd.iter()
                                .filter_map(|a| a.as_str().map(str::to_owned))
                                .collect(),
                        ))
                    })
                    .collect();
                std::thread::scope(|s| {
                    for (ctr, cmd) in &hooks {
                        s.spawn(move || {
                            let mut a = vec!["exec", ctr.as_str()];
                            a.extend(cmd.iter().map(String::as_str));
                            let _ = podman(&a);
                        });
                    }
                });
                let left = i64::from(grace_s) - started.elapsed().as_secs() as i64;
                let left = left.max(crate::cri::MIN_GRACE_S);
                podman_ok(&["pod", "stop", "-t", &left.to_string(), &self.name]);
                self.containers()
                    .into_iter()
                    .map(|c| (c.name, left))
                    .collect()
            }
        }
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if let Inner::Podman(yaml, _) = &self.inner {
            if let Some(y) = yaml {
                let _ = podman(&["kube", "down", y.to_str().unwrap()]);
                let _ = std::fs::remove_file(y);
            }
            let _ = podman(&["pod", "rm", "-f", "-t", "0", &self.name]);
        }
    }
}
