//! A small kubelet: a Pod's YAML made into the CRI calls the kubelet makes
//! (pkg/kubelet/kuberuntime: `generatePodSandboxConfig`, `generateContainerConfig`,
//! `killContainer`), against the harness's [`Containerd`].
//!
//! What it does as the kubelet does: sandbox metadata (name, namespace, uid), the
//! hostname (none with hostNetwork), a log directory, the cgroup parent of the
//! cgroupfs driver (`/kubepods/<qos>/pod<uid>`, the QoS class from the resources),
//! namespace options on the sandbox and on every container (pid CONTAINER unless
//! the pod shares one), image, command and args, env, securityContext
//! (privileged, capabilities, readOnlyRootFilesystem, runAsUser,
//! allowPrivilegeEscalation, the default masked and read-only /proc paths),
//! resources, hostPath (with its `type` checks and DirectoryOrCreate) and
//! emptyDir volumes, mount propagation; and its stop: every container at once, a
//! preStop `exec` hook through ExecSync first, then StopContainer with what is
//! left of terminationGracePeriodSeconds (at least 2 s), then StopPodSandbox and
//! RemovePodSandbox. Exec liveness and readiness probes run the kubelet's
//! way: ExecSync of the probe's command every `periodSeconds` (after
//! `initialDelaySeconds`, with `timeoutSeconds`), from a thread per probe;
//! their results are counted, not acted on (no restarts). `kubectl debug
//! --target` is [`CriPod::start_debug`]: a container created into the
//! sandbox with the target's PID namespace (`NamespaceMode::Target`). Not
//! done (the tests need none): init containers, restarts, DNS, image pulls
//! (images are imported; nothing is ever pulled).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use k8s_cri::v1 as cri;
use serde_json::Value;

use crate::cri::{Containerd, Result, MIN_GRACE_S};

/// The CRI state of a running container.
pub const RUNNING: i32 = cri::ContainerState::ContainerRunning as i32;

/// One container the kubelet started.
#[derive(Clone, Debug)]
pub struct Started {
    /// Its name in the pod spec.
    pub name: String,
    /// containerd's id (64 hex).
    pub id: String,
    /// Its preStop exec hook, if the spec has one.
    pub pre_stop: Option<Vec<String>>,
    /// The config it was created with (a restart makes the next attempt of it).
    pub config: cri::ContainerConfig,
}

/// A pod run through CRI; stopped and removed (the kubelet's way) on drop.
pub struct CriPod {
    /// The harness's containerd.
    pub containerd: Arc<Containerd>,
    /// metadata.name.
    pub name: String,
    /// metadata.namespace (`default` when the YAML names none).
    pub namespace: String,
    /// metadata.uid (made up here, as the API server would).
    pub uid: String,
    /// The sandbox id.
    pub sandbox: String,
    /// The sandbox config the containers were created with.
    pub sandbox_config: cri::PodSandboxConfig,
    /// terminationGracePeriodSeconds (30 when unset, as in the API).
    pub grace_s: i64,
    /// The containers, in spec order.
    pub containers: Vec<Started>,
    /// The exec probes running.
    pub probers: Vec<Prober>,
    removed: bool,
}

/// An exec probe the kubelet runs: ExecSync of `command` every period.
pub struct Prober {
    /// The container's name.
    pub container: String,
    /// `liveness` or `readiness`.
    pub kind: &'static str,
    /// The probe's command.
    pub command: Vec<String>,
    /// ExecSync calls made.
    pub runs: Arc<AtomicU64>,
    /// Calls that failed or exited non-zero.
    pub failures: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Prober {
    /// Starts probing container `id` as the kubelet does.
    fn start(
        containerd: &Containerd,
        container: &str,
        id: &str,
        kind: &'static str,
        probe: &Value,
    ) -> Result<Prober> {
        let command = strings(&probe["exec"]["command"]);
        let secs = |k: &str, default: u64| probe[k].as_u64().unwrap_or(default);
        let period = Duration::from_secs(secs("periodSeconds", 10).max(1));
        let delay = Duration::from_secs(secs("initialDelaySeconds", 0));
        let timeout = secs("timeoutSeconds", 1).max(1) as i64;
        let (rt, mut client) = containerd.thread_client()?;
        let (runs, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, f, st, cmd, id) = (
            runs.clone(),
            failures.clone(),
            stop.clone(),
            command.clone(),
            id.to_owned(),
        );
        // Sleeps in short steps so a stop is quick.
        let nap = move |d: Duration, st: &AtomicBool| {
            let until = Instant::now() + d;
            while Instant::now() < until && !st.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let thread = std::thread::spawn(move || {
            nap(delay, &st);
            while !st.load(Ordering::SeqCst) {
                let started = Instant::now();
                let ok = rt
                    .block_on(client.exec_sync(cri::ExecSyncRequest {
                        container_id: id.clone(),
                        cmd: cmd.clone(),
                        timeout,
                    }))
                    .is_ok_and(|r| r.into_inner().exit_code == 0);
                r.fetch_add(1, Ordering::SeqCst);
                if !ok {
                    f.fetch_add(1, Ordering::SeqCst);
                }
                // The kubelet's prober ticks on the period, whatever a probe took.
                nap(period.saturating_sub(started.elapsed()), &st);
            }
        });
        Ok(Prober {
            container: container.to_owned(),
            kind,
            command,
            runs,
            failures,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops it (waits for a probe in flight).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The one Pod document of `yaml` (a multi-document file: the first Pod, or a
/// DaemonSet's pod template with the DaemonSet's namespace).
pub fn pod_of(yaml: &str) -> Result<Value> {
    use serde::Deserialize;
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let v = Value::deserialize(doc).map_err(|e| format!("Pod YAML: {e}"))?;
        match v["kind"].as_str() {
            Some("Pod") => return Ok(v),
            Some("DaemonSet") | Some("Deployment") => {
                let t = &v["spec"]["template"];
                let mut meta = t["metadata"].clone();
                if meta.is_null() {
                    meta = serde_json::json!({});
                }
                meta["name"] =
                    format!("{}-node", v["metadata"]["name"].as_str().unwrap_or("pod")).into();
                meta["namespace"] = v["metadata"]["namespace"].clone();
                return Ok(serde_json::json!({
                    "apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": t["spec"].clone()
                }));
            }
            _ => {}
        }
    }
    Err("no Pod (or pod template) in the YAML".into())
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v[k].as_str()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A pod uid, as the API server makes them (a random v4 UUID).
/// A YAML map of strings (labels, annotations) as CRI takes it; absent is empty.
fn string_map(v: &Value) -> HashMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn new_uid() -> String {
    let mut b = [0u8; 16];
    // SAFETY: getrandom into a local buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 16, 0) };
    assert_eq!(n, 16, "getrandom");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// CPU in millicores (`500m`, `1`, `0.5`).
fn millicores(q: &Value) -> Option<i64> {
    let s = match q {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    if let Some(m) = s.strip_suffix('m') {
        return m.parse().ok();
    }
    s.parse::<f64>().ok().map(|c| (c * 1000.0) as i64)
}

/// Memory in bytes (`64Mi`, `1G`, `1000`).
fn bytes(q: &Value) -> Option<i64> {
    let s = match q {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    for (suf, mul) in [
        ("Ki", 1i64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("K", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ] {
        if let Some(n) = s.strip_suffix(suf) {
            return n.parse::<i64>().ok().map(|n| n * mul);
        }
    }
    s.parse().ok()
}

/// The pod's QoS class, as the kubelet computes it (pkg/apis/core/v1/helper/qos).
fn qos(spec: &Value) -> &'static str {
    let ctrs = spec["containers"].as_array().cloned().unwrap_or_default();
    let mut any = false;
    let mut guaranteed = true;
    for c in &ctrs {
        let (req, lim) = (&c["resources"]["requests"], &c["resources"]["limits"]);
        for r in ["cpu", "memory"] {
            if !req[r].is_null() || !lim[r].is_null() {
                any = true;
            }
            let l = &lim[r];
            let q = if req[r].is_null() { l } else { &req[r] };
            if l.is_null() || q != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "besteffort"
    } else if guaranteed {
        "guaranteed"
    } else {
        "burstable"
    }
}

/// The kubelet's cgroupfs parent for the pod.
pub fn cgroup_parent(qos: &str, uid: &str) -> String {
    match qos {
        "guaranteed" => format!("/kubepods/pod{uid}"),
        q => format!("/kubepods/{q}/pod{uid}"),
    }
}

/// The pod-level namespace options (the kubelet's `namespacesForPod`).
fn pod_namespaces(spec: &Value) -> cri::NamespaceOption {
    let yes = |k: &str| spec[k].as_bool() == Some(true);
    let mode = |node: bool, other: cri::NamespaceMode| {
        if node {
            cri::NamespaceMode::Node as i32
        } else {
            other as i32
        }
    };
    cri::NamespaceOption {
        network: mode(yes("hostNetwork"), cri::NamespaceMode::Pod),
        pid: mode(
            yes("hostPID"),
            if yes("shareProcessNamespace") {
                cri::NamespaceMode::Pod
            } else {
                cri::NamespaceMode::Container
            },
        ),
        ipc: mode(yes("hostIPC"), cri::NamespaceMode::Pod),
        ..Default::default()
    }
}

/// The kubelet's default masked and read-only paths for an unprivileged container
/// (pkg/securitycontext/util.go).
const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn unconfined() -> Option<cri::SecurityProfile> {
    Some(cri::SecurityProfile {
        profile_type: cri::security_profile::ProfileType::Unconfined as i32,
        localhost_ref: String::new(),
    })
}

/// Runs the pod `yaml` through CRI; returns when every container was started.
pub fn run_pod(containerd: Arc<Containerd>, yaml: &str) -> Result<CriPod> {
    run_pod_with(containerd, yaml, true)
}

/// [`run_pod`], optionally without the kubelet's cgroup parent (as `crictl`
/// or a hand-made CRI client runs pods: containerd then puts each container
/// at `/k8s.io/<id>`, and only the bundles tie it to its pod).
pub fn run_pod_with(
    containerd: Arc<Containerd>,
    yaml: &str,
    cgroup_parent: bool,
) -> Result<CriPod> {
    let pod = pod_of(yaml)?;
    let meta = &pod["metadata"];
    let spec = &pod["spec"];
    let name = str_of(meta, "name")
        .ok_or("Pod YAML: no metadata.name")?
        .to_owned();
    let namespace = str_of(meta, "namespace").unwrap_or("default").to_owned();
    let uid = new_uid();
    let host_network = spec["hostNetwork"].as_bool() == Some(true);
    let grace_s = spec["terminationGracePeriodSeconds"].as_i64().unwrap_or(30);
    let log_dir = containerd
        .dir()
        .join("logs")
        .join(format!("{namespace}_{name}_{uid}"));
    std::fs::create_dir_all(&log_dir).map_err(|e| format!("{}: {e}", log_dir.display()))?;
    let ctrs = spec["containers"].as_array().cloned().unwrap_or_default();
    let privileged = |c: &Value| c["securityContext"]["privileged"].as_bool() == Some(true);
    let mut labels = string_map(&meta["labels"]);
    labels.insert("io.kubernetes.pod.name".into(), name.clone());
    labels.insert("io.kubernetes.pod.namespace".into(), namespace.clone());
    labels.insert("io.kubernetes.pod.uid".into(), uid.clone());
    let annotations = string_map(&meta["annotations"]);
    let ns_opts = pod_namespaces(spec);
    let port_mappings = ctrs
        .iter()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .map(|p| cri::PortMapping {
            protocol: match p["protocol"].as_str() {
                Some("UDP") => cri::Protocol::Udp as i32,
                _ => cri::Protocol::Tcp as i32,
            },
            container_port: p["containerPort"].as_i64().unwrap_or(0) as i32,
            host_port: p["hostPort"].as_i64().unwrap_or(0) as i32,
            host_ip: p["hostIP"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    let sandbox_config = cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.clone(),
            uid: uid.clone(),
            namespace: namespace.clone(),
            attempt: 0,
        }),
        // "unable to set hostname without a private UTS namespace" otherwise.
        hostname: if host_network {
            String::new()
        } else {
            str_of(spec, "hostname").unwrap_or(&name).to_owned()
        },
        log_directory: log_dir.display().to_string(),
        port_mappings,
        labels: labels.clone(),
        annotations,
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: if cgroup_parent {
                self::cgroup_parent(qos(spec), &uid)
            } else {
                String::new()
            },
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(ns_opts),
                // The sandbox is privileged when any container is (the kubelet's rule).
                privileged: ctrs.iter().any(privileged),
                seccomp: unconfined(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let sandbox = containerd.run_sandbox(sandbox_config.clone())?;
    let mut pod = CriPod {
        containerd: containerd.clone(),
        name,
        namespace,
        uid,
        sandbox,
        sandbox_config,
        grace_s,
        containers: Vec::new(),
        probers: Vec::new(),
        removed: false,
    };
    let volumes: Vec<Value> = spec["volumes"].as_array().cloned().unwrap_or_default();
    for c in &ctrs {
        let cname = str_of(c, "name")
            .ok_or("a container without a name")?
            .to_owned();
        let config = container_config(&pod, c, &volumes, &labels)?;
        let id = containerd.create_and_start(&pod.sandbox, config.clone(), &pod.sandbox_config)?;
        let pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
            .as_array()
            .map(|_| strings(&c["lifecycle"]["preStop"]["exec"]["command"]));
        for kind in ["liveness", "readiness"] {
            let probe = &c[format!("{kind}Probe")];
            if probe["exec"]["command"].is_array() {
                pod.probers
                    .push(Prober::start(&containerd, &cname, &id, kind, probe)?);
            }
        }
        pod.containers.push(Started {
            name: cname,
            id,
            pre_stop,
            config,
        });
    }
    Ok(pod)
}

/// The volume mounts of container `c`: hostPath (checked by `type`, created for
/// DirectoryOrCreate) and emptyDir (a directory of the pod's).
fn mounts(pod: &CriPod, c: &Value, volumes: &[Value]) -> Result<Vec<cri::Mount>> {
    let mut out = Vec::new();
    for m in c["volumeMounts"].as_array().cloned().unwrap_or_default() {
        let vname = str_of(&m, "name").ok_or("a volumeMount without a name")?;
        let v = volumes
            .iter()
            .find(|v| v["name"] == vname)
            .ok_or_else(|| format!("volumeMount {vname}: no such volume"))?;
        let host: PathBuf = if let Some(hp) = v["hostPath"].as_object() {
            let path = PathBuf::from(hp.get("path").and_then(Value::as_str).unwrap_or_default());
            let ty = hp.get("type").and_then(Value::as_str).unwrap_or("");
            let meta = std::fs::metadata(&path);
            let bad = |what: &str| {
                Err(format!(
                    "hostPath {} of volume {vname}: {what} (type {ty})",
                    path.display()
                ))
            };
            match ty {
                "DirectoryOrCreate" if meta.is_err() => {
                    std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
                    // SAFETY: chmod of a directory just made (the kubelet makes it 0755).
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
                }
                "Directory" if !meta.as_ref().is_ok_and(|m| m.is_dir()) => {
                    return bad("not a directory");
                }
                "File" if !meta.as_ref().is_ok_and(|m| m.is_file()) => {
                    return bad("not a file");
                }
                _ => {}
            }
            path
        } else if v["emptyDir"].is_object() {
            let d = pod
                .containerd
                .dir()
                .join("pods")
                .join(&pod.uid)
                .join("volumes/kubernetes.io~empty-dir")
                .join(vname);
            std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
            d
        } else {
            return Err(format!(
                "volume {vname}: only hostPath and emptyDir are supported"
            ));
        };
        out.push(cri::Mount {
            container_path: str_of(&m, "mountPath").unwrap_or_default().to_owned(),
            host_path: host.display().to_string(),
            readonly: m["readOnly"].as_bool() == Some(true),
            propagation: match m["mountPropagation"].as_str() {
                Some("HostToContainer") => cri::MountPropagation::PropagationHostToContainer,
                Some("Bidirectional") => cri::MountPropagation::PropagationBidirectional,
                _ => cri::MountPropagation::PropagationPrivate,
            } as i32,
            ..Default::default()
        });
    }
    Ok(out)
}

fn container_config(
    pod: &CriPod,
    c: &Value,
    volumes: &[Value],
    pod_labels: &HashMap<String, String>,
) -> Result<cri::ContainerConfig> {
    let name = str_of(c, "name").unwrap_or_default().to_owned();
    let sc = &c["securityContext"];
    let privileged = sc["privileged"].as_bool() == Some(true);
    let mut labels = HashMap::new();
    for k in [
        "io.kubernetes.pod.name",
        "io.kubernetes.pod.namespace",
        "io.kubernetes.pod.uid",
    ] {
        labels.insert(k.to_owned(), pod_labels[k].clone());
    }
    labels.insert("io.kubernetes.container.name".into(), name.clone());
    let mut annotations = HashMap::new();
    annotations.insert("io.kubernetes.container.restartCount".into(), "0".into());
    annotations.insert(
        "io.kubernetes.pod.terminationGracePeriod".into(),
        pod.grace_s.to_string(),
    );
    let (req, lim) = (&c["resources"]["requests"], &c["resources"]["limits"]);
    let cpu_req = millicores(&req["cpu"]).or_else(|| millicores(&lim["cpu"]));
    let resources = cri::LinuxContainerResources {
        // The kubelet's MilliCPUToShares / MilliCPUToQuota (period 100 ms).
        cpu_shares: cpu_req.map_or(2, |m| (m * 1024 / 1000).max(2)),
        cpu_period: millicores(&lim["cpu"]).map_or(0, |_| 100_000),
        cpu_quota: millicores(&lim["cpu"]).map_or(0, |m| (m * 100_000 / 1000).max(1000)),
        memory_limit_in_bytes: bytes(&lim["memory"]).unwrap_or(0),
        ..Default::default()
    };
    let caps = &sc["capabilities"];
    Ok(cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.clone(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: str_of(c, "image")
                .ok_or("a container without an image")?
                .to_owned(),
            ..Default::default()
        }),
        command: strings(&c["command"]),
        args: strings(&c["args"]),
        working_dir: str_of(c, "workingDir").unwrap_or_default().to_owned(),
        envs: c["env"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| cri::KeyValue {
                key: str_of(e, "name").unwrap_or_default().to_owned(),
                value: str_of(e, "value").unwrap_or_default().to_owned(),
            })
            .collect(),
        mounts: mounts(pod, c, volumes)?,
        labels,
        annotations,
        log_path: format!("{name}/0.log"),
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(resources),
            security_context: Some(cri::LinuxContainerSecurityContext {
                capabilities: Some(cri::Capability {
                    add_capabilities: strings(&caps["add"]),
                    drop_capabilities: strings(&caps["drop"]),
                    ..Default::default()
                }),
                privileged,
                // Every container gets the pod's namespace options (without them its
                // pid mode would be POD and its process not PID 1: DESIGN.md §5e).
                namespace_options: pod
                    .sandbox_config
                    .linux
                    .as_ref()
                    .and_then(|l| l.security_context.as_ref())
                    .and_then(|s| s.namespace_options.clone()),
                run_as_user: sc["runAsUser"]
                    .as_i64()
                    .map(|value| cri::Int64Value { value }),
                readonly_rootfs: sc["readOnlyRootFilesystem"].as_bool() == Some(true),
                no_new_privs: sc["allowPrivilegeEscalation"].as_bool() == Some(false),
                masked_paths: if privileged {
                    Vec::new()
                } else {
                    MASKED.iter().map(|s| s.to_string()).collect()
                },
                readonly_paths: if privileged {
                    Vec::new()
                } else {
                    READONLY.iter().map(|s| s.to_string()).collect()
                },
                seccomp: unconfined(),
                ..Default::default()
            }),
        }),
        ..Default::default()
    })
}

impl CriPod {
    /// The container named `name` in the spec.
    pub fn container(&self, name: &str) -> Option<&Started> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// ExecSync calls made so far by the exec probes of container `name`.
    pub fn probe_runs(&self, name: &str) -> u64 {
        self.probers
            .iter()
            .filter(|p| p.container == name)
            .map(|p| p.runs.load(Ordering::SeqCst))
            .sum()
    }

    /// Stops every exec probe (as the kubelet does when a pod goes).
    pub fn stop_probes(&mut self) {
        for p in &mut self.probers {
            p.stop();
        }
    }

    /// `kubectl debug --target=TARGET`: a container `name` of `image` running
    /// `command`, created into this sandbox with the target container's PID
    /// namespace (CRI `NamespaceMode::Target`, the way the kubelet starts an
    /// ephemeral container) and the capabilities `caps_add`. Returns its id.
    pub fn start_debug(
        &mut self,
        name: &str,
        image: &str,
        command: &[&str],
        target: &str,
        caps_add: &[&str],
    ) -> Result<String> {
        let target_id = self
            .container(target)
            .ok_or_else(|| format!("no container {target} to target"))?
            .id
            .clone();
        let spec = serde_json::json!({
            "name": name,
            "image": image,
            "command": command,
            "securityContext": {"capabilities": {"add": caps_add}},
        });
        let labels: HashMap<String, String> = self.sandbox_config.labels.clone();
        let mut config = container_config(self, &spec, &[], &labels)?;
        if let Some(ns) = config
            .linux
            .as_mut()
            .and_then(|l| l.security_context.as_mut())
            .and_then(|s| s.namespace_options.as_mut())
        {
            ns.pid = cri::NamespaceMode::Target as i32;
            ns.target_id = target_id;
        }
        let id = self.containerd.create_and_start(
            &self.sandbox,
            config.clone(),
            &self.sandbox_config,
        )?;
        self.containers.push(Started {
            name: name.to_owned(),
            id: id.clone(),
            pre_stop: None,
            config,
        });
        Ok(id)
    }

    /// The kubelet's stop with grace period `grace_s`: every container at once —
    /// its preStop hook through ExecSync (timeout: the grace period), then
    /// StopContainer with what is left of it (at least 2 s). Returns when every
    /// container stopped; the sandbox stays (see [`CriPod::remove`]).
    pub fn stop(&self, grace_s: i64) -> Result<Vec<(String, i64)>> {
        let work: Vec<_> = self
            .containers
            .iter()
            .map(|c| {
                (
                    self.containerd.client(),
                    c.id.clone(),
                    c.pre_stop.clone(),
                    c.name.clone(),
                )
            })
            .collect();
        let results = self.containerd.block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            for (mut client, id, hook, name) in work {
                set.spawn(async move {
                    let started = Instant::now();
                    if let Some(cmd) = hook {
                        // Its outcome does not change the stop (the kubelet only logs it).
                        let _ = client
                            .exec_sync(cri::ExecSyncRequest {
                                container_id: id.clone(),
                                cmd,
                                timeout: grace_s,
                            })
                            .await;
                    }
                    // The kubelet's arithmetic: whole seconds left, at least 2.
                    let left = (grace_s - started.elapsed().as_secs() as i64).max(MIN_GRACE_S);
                    client
                        .stop_container(cri::StopContainerRequest {
                            container_id: id,
                            timeout: left,
                        })
                        .await
                        .map(|_| (name, left))
                        .map_err(|e| format!("CRI StopContainer: {}", e.message()))
                });
            }
            set.join_all().await
        });
        results.into_iter().collect()
    }

    /// A forced stop (an eviction, `kubectl delete --grace-period=0 --force`):
    /// StopContainer with no grace, every container at once (SIGKILL).
    pub fn kill(&self) -> Result<()> {
        let work: Vec<_> = self
            .containers
            .iter()
            .map(|c| (self.containerd.client(), c.id.clone()))
            .collect();
        let results = self.containerd.block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            for (mut client, id) in work {
                set.spawn(async move {
                    client
                        .stop_container(cri::StopContainerRequest {
                            container_id: id,
                            timeout: 0,
                        })
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("CRI StopContainer: {}", e.message()))
                });
            }
            set.join_all().await
        });
        results.into_iter().collect()
    }

    /// The kubelet's restart of container `name`: the old one is killed (as
    /// when it crashed) and kept, and the next attempt of it is created in
    /// the same sandbox and started (a new container id). Returns the new id.
    pub fn restart(&mut self, name: &str) -> Result<String> {
        let i = self
            .containers
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| format!("no container {name}"))?;
        self.containerd.stop_container(&self.containers[i].id, 0)?;
        let mut config = self.containers[i].config.clone();
        if let Some(m) = config.metadata.as_mut() {
            m.attempt += 1;
            config.annotations.insert(
                "io.kubernetes.container.restartCount".into(),
                m.attempt.to_string(),
            );
        }
        let id = self.containerd.create_and_start(
            &self.sandbox,
            config.clone(),
            &self.sandbox_config,
        )?;
        self.containers[i].id = id.clone();
        self.containers[i].config = config;
        Ok(id)
    }

    /// StopPodSandbox and RemovePodSandbox (after a stop, or at once: then
    /// containerd kills what still runs).
    pub fn remove(&mut self) -> Result<()> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        self.stop_probes();
        self.containerd.remove_sandbox(&self.sandbox)
    }

    /// The sandbox's network namespace path (`/var/run/netns/cni-…`), from its verbose status.
    pub fn netns_path(&self) -> Option<String> {
        let (_, info) = self.containerd.sandbox_status(&self.sandbox).ok()?;
        info["runtimeSpec"]["linux"]["namespaces"]
            .as_array()?
            .iter()
            .find(|n| n["type"] == "network")?["path"]
            .as_str()
            .map(str::to_owned)
    }

    /// The pod IP containerd reports.
    pub fn ip(&self) -> Option<String> {
        let (st, _) = self.containerd.sandbox_status(&self.sandbox).ok()?;
        st.network.map(|n| n.ip).filter(|ip| !ip.is_empty())
    }

    /// The sandbox's (pause) process on the node.
    pub fn sandbox_pid(&self) -> Option<u32> {
        let (_, info) = self.containerd.sandbox_status(&self.sandbox).ok()?;
        info["pid"].as_u64().map(|p| p as u32)
    }

    /// A container's PID 1 on the node.
    pub fn container_pid(&self, id: &str) -> Option<u32> {
        let (_, info) = self.containerd.container_status(id).ok()?;
        info["pid"].as_u64().map(|p| p as u32).filter(|p| *p != 0)
    }

    /// Whether every container is running.
    pub fn running(&self) -> bool {
        self.containers.iter().all(|c| {
            self.containerd
                .container_status(&c.id)
                .is_ok_and(|(s, _)| s.state == cri::ContainerState::ContainerRunning as i32)
        })
    }

    /// What a container wrote (its CRI log file, stream prefixes removed).
    pub fn logs(&self, name: &str) -> String {
        let dir = &self.sandbox_config.log_directory;
        let text = std::fs::read_to_string(format!("{dir}/{name}/0.log")).unwrap_or_default();
        // Each line: `<RFC 3339 time> <stream> <P|F> <text>`.
        text.lines()
            .filter_map(|l| l.splitn(4, ' ').nth(3))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for CriPod {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("nstrace-tests: removing pod {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Value {
        pod_of(yaml).unwrap()["spec"].clone()
    }

    #[test]
    fn qos_classes_and_cgroup_parents_are_the_kubelets() {
        let none = spec("kind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n");
        assert_eq!(qos(&none), "besteffort");
        let burst = spec("kind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    resources:\n      requests: {cpu: 50m, memory: 64Mi}\n      limits: {cpu: 500m, memory: 256Mi}\n");
        assert_eq!(qos(&burst), "burstable");
        let guar = spec("kind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    resources:\n      limits: {cpu: 1, memory: 1Gi}\n");
        assert_eq!(qos(&guar), "guaranteed");
        assert_eq!(cgroup_parent("guaranteed", "u"), "/kubepods/podu");
        assert_eq!(
            cgroup_parent("besteffort", "u"),
            "/kubepods/besteffort/podu"
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(millicores(&Value::from("500m")), Some(500));
        assert_eq!(millicores(&Value::from(2)), Some(2000));
        assert_eq!(millicores(&Value::from("0.25")), Some(250));
        assert_eq!(bytes(&Value::from("64Mi")), Some(64 << 20));
        assert_eq!(bytes(&Value::from("1G")), Some(1_000_000_000));
        assert_eq!(bytes(&Value::from("x")), None);
    }

    #[test]
    fn namespace_options_follow_the_pod_spec() {
        let mode = |y: &str| {
            let o = pod_namespaces(&spec(&format!(
                "kind: Pod\nmetadata: {{name: a}}\nspec:\n{y}  containers: []\n"
            )));
            (o.network, o.pid, o.ipc)
        };
        let (pod, ctr, node) = (
            cri::NamespaceMode::Pod as i32,
            cri::NamespaceMode::Container as i32,
            cri::NamespaceMode::Node as i32,
        );
        assert_eq!(mode(""), (pod, ctr, pod), "pid CONTAINER unless shared");
        assert_eq!(mode("  shareProcessNamespace: true\n"), (pod, pod, pod));
        assert_eq!(
            mode("  hostNetwork: true\n  hostPID: true\n  hostIPC: true\n"),
            (node, node, node)
        );
    }

    #[test]
    fn a_daemonset_gives_its_pod_template_with_its_namespace() {
        let p = pod_of(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: sys}\nspec:\n  template:\n    metadata:\n      labels: {app: a}\n    spec:\n      hostPID: true\n      containers: [{name: c, image: i}]\n",
        )
        .unwrap();
        assert_eq!(p["metadata"]["name"], "agent-node");
        assert_eq!(p["metadata"]["namespace"], "sys");
        assert_eq!(p["spec"]["hostPID"], true);
        assert!(pod_of("kind: Service\nmetadata: {name: s}\n").is_err());
    }

    #[test]
    fn uids_are_v4_uuids() {
        let (a, b) = (new_uid(), new_uid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
