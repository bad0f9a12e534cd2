//! Real pods for the integration tests, from Kubernetes Pod YAML, on each
//! runtime the suite tests: podman (`podman kube play`, catatonit infra; pods
//! whose hostPID or hostIPC kube play ignores are made with `podman pod create`
//! and `podman run`, as the kubelet would arrange them), containerd through
//! CRI, driven by the harness's small kubelet ([`crate::kubelet`]), or Docker
//! Engine, where a pod is a Compose project in the arrangement Kubernetes made
//! on Docker (a pause container whose namespaces the others join;
//! [`crate::docker::compose_of`]). All run the locally built busybox image.
//! Every pod is removed when its handle drops, also when a test fails; a
//! test's containerd or dockerd stops when its last handle drops.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cri::Containerd;
use crate::docker::{ComposePod, Dockerd};
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
    /// Docker Engine 20.10 on its own containerd, pods as Compose projects
    /// (docker-compose 1.29); one containerd-shim-runc-v2 per container,
    /// catatonit -P as the pause.
    Docker,
}

impl Runtime {
    /// The runtime a test module's name names (`podman`, `containerd`, `docker`).
    pub fn named(name: &str) -> Runtime {
        match name {
            "podman" => Runtime::Podman,
            "containerd" => Runtime::Containerd,
            "docker" => Runtime::Docker,
            other => panic!("no runtime {other}"),
        }
    }

    /// Whether the runtime sends the infra (pause) SIGTERM when the pod stops
    /// (`podman pod stop` and `docker-compose stop` do; containerd's
    /// StopPodSandbox SIGKILLs the pause).
    pub fn infra_gets_sigterm(self) -> bool {
        matches!(self, Runtime::Podman | Runtime::Docker)
    }

    /// Whether the runtime's files name the infra (pause) container as the
    /// pod's sandbox, leaving it without a container name (podman, CRI); a
    /// Compose service is named, and Docker has no sandboxes: nstrace knows
    /// the pause by its init.
    pub fn names_the_sandbox(self) -> bool {
        self != Runtime::Docker
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
            Runtime::Docker => &["runc", "containerd-shim", "dockerd"],
        }
    }
}

/// Generates, for each named test body `fn NAME(rt: Runtime)`, a module
/// `NAME` with one test per runtime of the list: `podman`, `containerd`,
/// `docker` (one body, every runtime it means something on):
///
/// ```text
/// nstrace_tests::on_runtimes!([podman, containerd, docker] pid1_verdicts, shutdown_timelines);
/// nstrace_tests::on_runtimes!([podman, containerd] kube_only_body);
/// ```
#[macro_export]
macro_rules! on_runtimes {
    (@one [$($rt:ident),+] $name:ident) => {
        mod $name {
            $(
                #[test]
                fn $rt() {
                    super::$name($crate::pod::Runtime::named(stringify!($rt)))
                }
            )+
        }
    };
    ($rts:tt $($name:ident),* $(,)?) => {
        $( $crate::on_runtimes!(@one $rts $name); )*
    };
}

/// [`on_runtimes!`] on podman, containerd and Docker.
#[macro_export]
macro_rules! on_every_runtime {
    ($($name:ident),* $(,)?) => {
        $crate::on_runtimes!([podman, containerd, docker] $($name),*);
    };
}

/// The name before issue 29 (podman and containerd), kept so branches
/// written before the rename still build: `on_runtimes!([podman, containerd] …)`.
#[macro_export]
macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        $crate::on_runtimes!([podman, containerd] $($name),*);
    };
}

/// A new pseudo-terminal: (the side a program talks to it from, the
/// terminal itself for a child's stdin).
fn pty() -> (std::fs::File, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let (mut near, mut far) = (-1, -1);
    // SAFETY: openpty writes two descriptors it opened; no name, termios or size.
    let rc = unsafe {
        libc::openpty(
            &mut near,
            &mut far,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both are open descriptors that nothing else owns.
    unsafe {
        (
            std::fs::File::from_raw_fd(near),
            std::os::fd::OwnedFd::from_raw_fd(far),
        )
    }
}

/// One test's node: the runtime it runs pods on (for containerd, the
/// containerd it started, stopped when the last pod and this are gone).
pub struct Node {
    /// Which runtime.
    pub runtime: Runtime,
    containerd: Option<Arc<Containerd>>,
    docker: Option<Arc<Dockerd>>,
}

impl Node {
    /// The node for `runtime` (starts a containerd for [`Runtime::Containerd`],
    /// a dockerd on its own containerd for [`Runtime::Docker`]).
    pub fn new(runtime: Runtime) -> Node {
        Node {
            runtime,
            containerd: (runtime == Runtime::Containerd).then(|| Arc::new(Containerd::start())),
            docker: (runtime == Runtime::Docker).then(|| Arc::new(Dockerd::start())),
        }
    }

    /// The harness's containerd, on a containerd node.
    pub fn containerd(&self) -> Option<&Arc<Containerd>> {
        self.containerd.as_ref()
    }

    /// The harness's dockerd, on a Docker node.
    pub fn docker(&self) -> Option<&Arc<Dockerd>> {
        self.docker.as_ref()
    }

    /// Makes the image saved as `<name>.tar` by `cargo xtask setup` (or test)
    /// available to the runtime (podman has them all already).
    pub fn import(&self, name: &str) {
        let archive = crate::cri::images_dir().join(format!("{name}.tar"));
        let done = match (&self.containerd, &self.docker) {
            (Some(c), _) => c.import(&archive),
            (_, Some(d)) => d.load(&archive),
            _ => Ok(()),
        };
        done.unwrap_or_else(|e| panic!("{e} (run `cargo xtask setup`)"));
    }

    /// Runs the pod of `yaml` (named `name`); returns when every container runs.
    pub fn play(&self, name: &str, yaml: &str) -> Pod {
        self.play_with(name, yaml, true)
    }

    /// [`Node::play`]; on containerd optionally without the kubelet's cgroup parent.
    pub fn play_with(&self, name: &str, yaml: &str, cgroup_parent: bool) -> Pod {
        let pod = self.launch(name, yaml, cgroup_parent);
        pod.wait_running();
        pod
    }

    /// Runs the pod of `yaml` without waiting for its containers (some may
    /// exit at once).
    pub fn start(&self, name: &str, yaml: &str) -> Pod {
        self.launch(name, yaml, true)
    }

    fn launch(&self, name: &str, yaml: &str, cgroup_parent: bool) -> Pod {
        match (&self.containerd, &self.docker) {
            (Some(c), _) => {
                let p = kubelet::run_pod_with(c.clone(), yaml, cgroup_parent)
                    .unwrap_or_else(|e| panic!("pod {name} through CRI: {e}"));
                Pod {
                    name: name.to_owned(),
                    runtime: Runtime::Containerd,
                    inner: Inner::Cri(Box::new(p)),
                }
            }
            (_, Some(d)) => {
                let p = ComposePod::up(d.clone(), yaml)
                    .unwrap_or_else(|e| panic!("pod {name} as a Compose project: {e}"));
                assert_eq!(p.project, name, "the pod's name is its metadata.name");
                Pod {
                    name: name.to_owned(),
                    runtime: Runtime::Docker,
                    inner: Inner::Compose(Box::new(p)),
                }
            }
            _ => Pod::play_podman(name, yaml),
        }
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
    Compose(Box<ComposePod>),
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
                Inner::Compose(p) => (p.running(), format!("{:?}", p.services())),
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
            Inner::Compose(p) => p.spec.clone(),
        }
    }

    /// The pod's id as nstrace shows it: podman's pod id (64 hex, in the
    /// cgroup path), the Kubernetes pod uid (in the kubelet's cgroup parent),
    /// or the Compose project's name (a project has no other id).
    pub fn id(&self) -> String {
        match &self.inner {
            Inner::Cri(p) => p.uid.clone(),
            Inner::Compose(p) => p.project.clone(),
            Inner::Podman(..) => podman_ok(&["pod", "inspect", &self.name, "--format", "{{.Id}}"]),
        }
    }

    /// Its Kubernetes namespace, where the runtime records one.
    pub fn namespace(&self) -> Option<String> {
        match &self.inner {
            Inner::Cri(p) => Some(p.namespace.clone()),
            Inner::Podman(..) | Inner::Compose(_) => None,
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
            Inner::Compose(p) => p.spec["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or(30) as u32,
            Inner::Podman(_, v) => v["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or(30) as u32,
        }
    }

    /// The CRI pod, on containerd.
    pub fn cri(&self) -> Option<&CriPod> {
        match &self.inner {
            Inner::Cri(p) => Some(p),
            _ => None,
        }
    }

    /// The Compose project, on Docker.
    pub fn compose(&self) -> Option<&ComposePod> {
        match &self.inner {
            Inner::Compose(p) => Some(p),
            _ => None,
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
            Inner::Compose(p) => p
                .services()
                .into_iter()
                .map(|s| {
                    let infra = s.service == "pause";
                    Ctr {
                        id: s.id,
                        name: if infra { "infra".into() } else { s.service },
                        pid: s.pid,
                        infra,
                    }
                })
                .collect(),
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

    /// (name, id) of every container, running or not (`infra` for the infra).
    pub fn container_ids(&self) -> Vec<(String, String)> {
        match &self.inner {
            Inner::Cri(p) => std::iter::once(("infra".to_owned(), p.sandbox.clone()))
                .chain(p.containers.iter().map(|c| (c.name.clone(), c.id.clone())))
                .collect(),
            Inner::Compose(p) => p
                .services()
                .into_iter()
                .map(|s| {
                    let name = if s.service == "pause" {
                        "infra".to_owned()
                    } else {
                        s.service
                    };
                    (name, s.id)
                })
                .collect(),
            Inner::Podman(..) => {
                let prefix = format!("{}-", self.name);
                podman_ok(&[
                    "pod",
                    "inspect",
                    &self.name,
                    "--format",
                    "{{range .Containers}}{{.Name}} {{.Id}}\n{{end}}",
                ])
                .lines()
                .filter_map(|l| {
                    let (name, id) = l.split_once(' ')?;
                    let name = name.strip_prefix(&prefix).unwrap_or("infra");
                    Some((name.to_owned(), id.to_owned()))
                })
                .collect()
            }
        }
    }

    /// Whether container `name` runs now.
    pub fn container_running(&self, name: &str) -> bool {
        match &self.inner {
            Inner::Cri(p) => p.container(name).is_some_and(|c| {
                p.containerd
                    .container_status(&c.id)
                    .is_ok_and(|(s, _)| s.state == crate::kubelet::RUNNING)
            }),
            Inner::Compose(p) => p.services().iter().any(|s| s.service == name && s.running),
            Inner::Podman(..) => {
                podman(&[
                    "inspect",
                    "--format",
                    "{{.State.Running}}",
                    &format!("{}-{name}", self.name),
                ])
                .stdout
                    == b"true\n"
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
    /// containerd's shim of the pod, Docker's containerd shim of each container.
    pub fn runtime_pids(&self) -> Vec<u32> {
        match &self.inner {
            Inner::Cri(p) => {
                let state = p.containerd.tasks().join(&p.sandbox).join("shim.pid");
                std::fs::read_to_string(&state)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .into_iter()
                    .collect()
            }
            Inner::Compose(p) => self
                .containers()
                .iter()
                .filter_map(|c| p.docker.shim_pid(&c.id))
                .collect(),
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
            Inner::Compose(p) => {
                let mut a = vec!["exec", c.id.as_str()];
                a.extend_from_slice(argv);
                let o = p.docker.docker_out(&a);
                (
                    o.status.success(),
                    String::from_utf8_lossy(&o.stdout).into_owned(),
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                )
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
            Inner::Podman(..) | Inner::Compose(_) => {
                use std::io::Write;
                // `docker exec -it` as podman's: the engine makes the terminal.
                let mut cmd = match &self.inner {
                    Inner::Compose(p) => p.docker.docker(),
                    _ => Command::new("podman"),
                };
                // docker's client refuses `-t` unless its stdin is a
                // terminal: a pty's far end, the input written to its near one.
                let (near, far) = match &self.inner {
                    Inner::Compose(_) => {
                        let (near, far) = pty();
                        (Some(near), std::process::Stdio::from(far))
                    }
                    _ => (None, std::process::Stdio::piped()),
                };
                let mut child = cmd
                    .args(["exec", "-i", "-t", c.id.as_str()])
                    .args(argv)
                    .stdin(far)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("the engine's client runs");
                let mut near = near;
                match near.as_mut() {
                    Some(near) => near.write_all(input).expect("writing to the pty"),
                    // Closed once written: the command's end of input.
                    None => child
                        .stdin
                        .take()
                        .expect("stdin piped")
                        .write_all(input)
                        .expect("writing to the engine's exec"),
                }
                let out = child.wait_with_output().expect("exec ends");
                // The pty's near end stays open until the command ends:
                // closing it hangs the terminal up.
                drop(near);
                assert!(
                    out.status.success(),
                    "exec -it: {}",
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
            Inner::Compose(p) => {
                // `docker run --pid container:TARGET`, beside the project.
                let target_id = p
                    .services()
                    .into_iter()
                    .find(|s| s.service == target)
                    .unwrap_or_else(|| panic!("no container {target} in {}", self.name))
                    .id;
                let full = format!("{}-{name}", self.name);
                let pid = format!("container:{target_id}");
                let label = format!("com.docker.compose.project={}", self.name);
                let svc = format!("com.docker.compose.service={name}");
                let mut a = vec![
                    "run", "-d", "--name", &full, "--pid", &pid, "--label", &label, "--label", &svc,
                ];
                let caps = caps_add.join(",");
                if !caps.is_empty() {
                    a.extend(["--cap-add", &caps]);
                }
                a.extend(["--entrypoint", command[0], IMAGE]);
                a.extend(&command[1..]);
                p.docker.docker_ok(&a);
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
            Inner::Podman(..) | Inner::Compose(_) => 0,
        }
    }

    /// What container `name` wrote to stdout and stderr.
    pub fn logs(&self, name: &str) -> String {
        match &self.inner {
            Inner::Cri(p) => p.logs(name),
            Inner::Compose(p) => {
                let c = self.container(name);
                let o = p.docker.docker_out(&["logs", &c.id]);
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            }
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
            Inner::Compose(p) => p
                .stop(grace_s)
                .into_iter()
                .map(|(service, left)| {
                    let name = if service == "pause" {
                        "infra".into()
                    } else {
                        service
                    };
                    (name, left)
                })
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

impl Pod {
    /// A forced stop, as a drain that cannot wait or an eviction does it:
    /// SIGKILL to every container at once (`podman kube down`; CRI
    /// StopContainer with no grace). The pod itself goes on drop.
    pub fn kill(&self) {
        match &self.inner {
            Inner::Cri(p) => p.kill().unwrap_or_else(|e| panic!("{e}")),
            Inner::Podman(Some(yaml), _) => {
                podman_ok(&["kube", "down", yaml.to_str().unwrap()]);
            }
            Inner::Podman(None, _) => {
                podman_ok(&["pod", "rm", "-f", "-t", "0", &self.name]);
            }
            Inner::Compose(p) => {
                let out = p.compose(&["kill"]).expect("docker-compose runs");
                crate::assert_ok(&out);
            }
        }
    }

    /// Restarts container `name` in its pod as its runtime does: podman in
    /// place (`podman restart -t 0`: the same container, a new process); CRI
    /// the kubelet's way (the next attempt: a new container, the old one kept).
    pub fn restart(&mut self, name: &str) {
        match &mut self.inner {
            Inner::Cri(p) => {
                p.restart(name).unwrap_or_else(|e| panic!("{e}"));
            }
            Inner::Podman(..) => {
                podman_ok(&["restart", "-t", "0", &format!("{}-{name}", self.name)]);
            }
            Inner::Compose(p) => {
                let out = p
                    .compose(&["restart", "-t", "0", name])
                    .expect("docker-compose runs");
                crate::assert_ok(&out);
            }
        }
        self.wait_running();
    }
}

/// What the runtimes report running on the node now: (pods, containers),
/// counting podman's pods and containers (infra included) and, on `node`'s
/// containerd, its ready sandboxes and running containers (a sandbox is a
/// container too: its pause process).
pub fn runtime_counts(node: &Node) -> (usize, usize) {
    let lines = |args: &[&str]| podman_ok(args).lines().filter(|l| !l.is_empty()).count();
    let mut pods = lines(&["pod", "ps", "-q", "--filter", "status=running"]);
    let mut ctrs = lines(&["ps", "-q"]);
    if let Some(c) = node.containerd() {
        let (p, n) = c.running_counts().unwrap_or_else(|e| panic!("{e}"));
        pods += p;
        ctrs += n + p;
    }
    (pods, ctrs)
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
