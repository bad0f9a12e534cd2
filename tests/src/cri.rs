//! containerd driven through CRI, the way the kubelet drives it.
//!
//! [`Containerd`] is a containerd the harness starts for one test, with every
//! path of its own (root, config and CNI bridge under `/var/tmp/nstrace-cri-…`;
//! state and sockets under `/run/nstrace-cri-…`: never the node's
//! `/run/containerd`, so a machine's own containerd may run beside it; nstrace
//! is pointed at its bundles through [`crate::runtime_env`]), and stops by its
//! own pid, leaving nothing behind: every sandbox is stopped and removed through
//! CRI (which takes down shims, mounts and network namespaces), then the daemon,
//! its bridge, the pods' cgroups and its directories go; what it made at fixed
//! places is cleaned by its [`Claim`]. A containerd left by a test process that
//! was killed is cleaned the same way the next time one starts (and by
//! `nstrace-sweep` before and after every run).
//!
//! [`Kubelet`] takes Pod YAML (the same files podman plays) and makes the CRI
//! calls the kubelet makes: RunPodSandbox with the kubelet's sandbox config,
//! CreateContainer/StartContainer per container with its own namespace options,
//! and the kubelet's stop (preStop exec hooks through ExecSync, then StopContainer
//! on every container at once with what is left of the grace period, then
//! StopPodSandbox and RemovePodSandbox). Checked facts: DESIGN.md §5e.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_cri::v1 as cri;

use crate::daemon::{self, CriSettings, Dirs};
use crate::footprint::Claim;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use serde_json::Value;
use tonic::transport::{Channel, Endpoint, Uri};

/// Where each harness keeps its root, config, CNI config, logs and volumes.
pub const DIR_PREFIX: &str = "/var/tmp/nstrace-cri-";
/// Where each harness keeps containerd's state (bundles under
/// `state/io.containerd.runtime.v2.task/k8s.io/<id>/`, as a node's under
/// `/run/containerd/`) and its socket.
pub const RUN_PREFIX: &str = "/run/nstrace-cri-";
/// The CNI bridge of the harness's pod network.
pub const BRIDGE: &str = "nstcri0";
/// Its subnet (clear of podman's 10.88/16 and 10.89.0/24).
pub const SUBNET: &str = "10.237.0.0/24";
/// The sandbox image, built by `cargo xtask setup` (catatonit -P).
pub const PAUSE_IMAGE: &str = "localhost/nstrace-pause:latest";
/// The kubelet's floor for a stop's grace period (`minimumGracePeriodInSeconds`).
pub const MIN_GRACE_S: i64 = 2;

/// Where `cargo xtask setup` saved the images as docker-archives.
pub fn images_dir() -> PathBuf {
    std::env::var_os("NSTRACE_CRI_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/cri-images"))
        })
}

/// What went wrong, in one line.
pub type Result<T> = std::result::Result<T, String>;

/// A containerd the harness started; stopped (with everything it made) on drop.
pub struct Containerd {
    dirs: Dirs,
    child: Option<Child>,
    /// Its claim on the node's fixed paths (kubepods cgroups, shim sockets).
    claim: Option<Claim>,
    /// nstrace's environment pointing at its bundles, while it runs.
    _env: Option<crate::EnvClaim>,
    rt: tokio::runtime::Runtime,
    client: RuntimeServiceClient<Channel>,
    /// Sandboxes made through this containerd and not yet removed, with their uids.
    sandboxes: Mutex<BTreeMap<String, String>>,
    /// Times of the CRI calls, by call name (seconds), for the report.
    pub timings: Mutex<BTreeMap<&'static str, Vec<f64>>>,
}

fn cni_conflist(dir: &Path) -> String {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "nstrace-cri",
        "plugins": [{
            "type": "bridge",
            "bridge": BRIDGE,
            "isGateway": true,
            // No NAT rules: the tests' traffic stays on a pod's own loopback.
            "ipMasq": false,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                // Instead of /var/lib/cni/networks.
                "dataDir": dir.join("cni-ipam"),
                "ranges": [[{"subnet": SUBNET}]],
                "routes": [{"dst": "0.0.0.0/0"}]
            }
        }]
    })
    .to_string()
}

/// The node's root mount made shared, as systemd makes it at boot on every
/// Kubernetes node, for as long as this lives (then private again, as it was).
///
/// This machine has no systemd and its root mount is private; containerd
/// refuses a `HostToContainer` (rslave) mount of a path on a private mount
/// ("is not a shared or slave mount"), and the DaemonSet mounts the node's
/// /run that way. Only the root mount itself is changed (not recursively); a
/// marker in the harness directory lets the sweep undo it after a killed run.
pub struct SharedRoot {
    marker: Option<PathBuf>,
}

/// Whether the root mount propagates (its optional fields say shared or master).
fn root_propagates() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .is_some_and(|l| {
            let fields: Vec<&str> = l.split(" - ").next().unwrap_or("").split(' ').collect();
            fields[6..]
                .iter()
                .any(|f| f.starts_with("shared:") || f.starts_with("master:"))
        })
}

/// `mount --make-shared /` or `--make-private /`.
pub fn make_root(how: &str) -> Result<()> {
    let st = Command::new("mount")
        .args([how, "/"])
        .status()
        .map_err(|e| format!("mount: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("mount {how} / failed"))
    }
}

impl SharedRoot {
    /// Makes `/` shared unless it already propagates.
    pub fn new(c: &Containerd) -> SharedRoot {
        SharedRoot::marked_in(&c.dirs.dir)
    }

    /// Makes `/` shared unless it already propagates, with the marker in
    /// `dir` (a harness directory, which the sweep looks in).
    pub fn marked_in(dir: &Path) -> SharedRoot {
        if root_propagates() {
            return SharedRoot { marker: None };
        }
        let marker = dir.join("root-made-shared");
        std::fs::write(&marker, "").expect("the marker");
        make_root("--make-shared").unwrap_or_else(|e| panic!("{e}"));
        SharedRoot {
            marker: Some(marker),
        }
    }
}

impl Drop for SharedRoot {
    fn drop(&mut self) {
        if let Some(m) = self.marker.take() {
            if let Err(e) = make_root("--make-private") {
                eprintln!("nstrace-tests: {e}");
            }
            let _ = std::fs::remove_file(m);
        }
    }
}

fn channel(rt: &tokio::runtime::Runtime, socket: &Path) -> Result<Channel> {
    let path = socket.to_owned();
    rt.block_on(async move {
        Endpoint::try_from("http://[::]:50051")
            .map_err(|e| e.to_string())?
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    let s = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
                }
            }))
            .await
            .map_err(|e| format!("connecting to {}: {e}", socket.display()))
    })
}

/// The `info` JSON of a verbose CRI status (null when absent or not JSON).
fn verbose_info(info: &std::collections::HashMap<String, String>) -> Value {
    info.get("info")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

fn status(call: &str, e: tonic::Status) -> String {
    format!("CRI {call}: {}", e.message())
}

impl Containerd {
    /// A handle on the harness containerd of `dirs` that this process did not
    /// start (a sweep's): its socket if it answers, its files to clean.
    fn adopt(dirs: &Dirs) -> Result<Containerd> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let ch = channel(&rt, &dirs.run.join("containerd.sock"))
            .unwrap_or_else(|_| Endpoint::from_static("http://[::]:1").connect_lazy());
        Ok(Containerd {
            dirs: dirs.clone(),
            child: None,
            claim: None,
            _env: None,
            rt,
            client: RuntimeServiceClient::new(ch),
            sandboxes: Mutex::default(),
            timings: Mutex::default(),
        })
    }

    /// Starts a containerd of its own (cleaning what a killed run left first),
    /// waits until CRI answers with its network ready, and imports the images.
    pub fn start() -> Containerd {
        crate::require_root();
        sweep().unwrap_or_else(|e| panic!("cleaning an earlier containerd: {e}"));
        let dirs = Dirs::new(DIR_PREFIX, RUN_PREFIX);
        let c = Containerd::start_in(&dirs, true).unwrap_or_else(|e| panic!("containerd: {e}"));
        for image in ["nstrace-pause", "nstrace-busybox"] {
            c.import(&images_dir().join(format!("{image}.tar")))
                .unwrap_or_else(|e| panic!("{e} (run `cargo xtask setup`)"));
        }
        c
    }

    /// Starts containerd with the config in `dirs` (written first when `fresh`).
    fn start_in(dirs: &Dirs, fresh: bool) -> Result<Containerd> {
        let dir = &dirs.dir;
        if fresh {
            for sub in ["root", "cni", "logs", "pods", "opt"] {
                std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{dir:?}: {e}"))?;
            }
            let settings = CriSettings {
                pause_image: PAUSE_IMAGE,
            };
            std::fs::write(
                dir.join("config.toml"),
                daemon::containerd_toml(dirs, Some(&settings)),
            )
            .and_then(|_| std::fs::write(dir.join("cni/10-nstrace.conflist"), cni_conflist(dir)))
            .map_err(|e| format!("writing the config: {e}"))?;
        }
        std::fs::create_dir_all(&dirs.run).map_err(|e| format!("{:?}: {e}", dirs.run))?;
        // What it will make at fixed places is recorded before it starts.
        let claim = Claim::take(&dir.join("footprint"))?;
        let mut cmd = Command::new("containerd");
        cmd.arg("--config").arg(dir.join("config.toml"));
        let child = daemon::spawn_logged(cmd, dir, "containerd")?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let socket = dirs.run.join("containerd.sock");
        let mut c = None;
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(ch) = channel(&rt, &socket) {
                let mut client = RuntimeServiceClient::new(ch);
                match rt.block_on(client.status(cri::StatusRequest { verbose: false })) {
                    Ok(r) => {
                        let ready = r
                            .into_inner()
                            .status
                            .is_some_and(|s| s.conditions.iter().all(|c| c.status));
                        if ready {
                            c = Some(client);
                            break;
                        }
                        last = "CRI status: not ready".into();
                    }
                    Err(e) => last = status("Status", e),
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let ready = c.is_some();
        let client = c.unwrap_or_else(|| {
            RuntimeServiceClient::new(Endpoint::from_static("http://[::]:1").connect_lazy())
        });
        let mut me = Containerd {
            dirs: dirs.clone(),
            child: Some(child),
            claim: Some(claim),
            _env: None,
            client,
            rt,
            sandboxes: Mutex::default(),
            timings: Mutex::default(),
        };
        if !ready {
            // Stop it before failing: nothing may stay behind.
            let tail = daemon::log_tail(dir, "containerd", 5);
            let _ = me.stop_daemon();
            let _ = me.clean_files();
            return Err(format!(
                "CRI did not become ready in 60 s ({last}); log: {tail:?}"
            ));
        }
        me._env = Some(crate::EnvClaim::set(&[
            ("NSTRACE_CONTAINERD_ROOT", me.tasks().display().to_string()),
            ("NSTRACE_CONTAINERD_DB", me.meta_db().display().to_string()),
        ]));
        me.timings
            .lock()
            .unwrap()
            .insert("start", vec![started.elapsed().as_secs_f64()]);
        Ok(me)
    }

    /// The harness's directory (root, config, logs, volumes).
    pub fn dir(&self) -> &Path {
        &self.dirs.dir
    }

    /// containerd's state directory (`/run/containerd` on a node).
    pub fn state(&self) -> PathBuf {
        self.dirs.run.join("state")
    }

    /// The CRI namespace's task (bundle) directory: what nstrace's
    /// `--containerd-root` names (`/run/containerd/io.containerd.runtime.v2.task/k8s.io` on a node).
    pub fn tasks(&self) -> PathBuf {
        self.state().join("io.containerd.runtime.v2.task/k8s.io")
    }

    /// Its metadata database: what nstrace's `--containerd-db` names
    /// (`/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db` on a node).
    pub fn meta_db(&self) -> PathBuf {
        self.dirs
            .dir
            .join("root/io.containerd.metadata.v1.bolt/meta.db")
    }

    /// Its socket.
    pub fn socket(&self) -> PathBuf {
        self.dirs.run.join("containerd.sock")
    }

    /// containerd's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `ctr images import` of a docker-archive into the CRI namespace.
    pub fn import(&self, archive: &Path) -> Result<()> {
        if !archive.exists() {
            return Err(format!("{} missing", archive.display()));
        }
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(["-n", "k8s.io", "images", "import"])
            .arg(archive)
            .output()
            .map_err(|e| format!("ctr: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ctr images import {}: {}",
                archive.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    fn timed(&self, call: &'static str, since: Instant) {
        self.timings
            .lock()
            .unwrap()
            .entry(call)
            .or_default()
            .push(since.elapsed().as_secs_f64());
    }

    /// A client for calls made concurrently.
    pub fn client(&self) -> RuntimeServiceClient<Channel> {
        self.client.clone()
    }

    /// Runs a future on the harness's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// RunPodSandbox.
    pub fn run_sandbox(&self, config: cri::PodSandboxConfig) -> Result<String> {
        let uid = config
            .metadata
            .as_ref()
            .map(|m| m.uid.clone())
            .unwrap_or_default();
        let t = Instant::now();
        let id = self
            .block_on(self.client().run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: String::new(),
            }))
            .map_err(|e| status("RunPodSandbox", e))?
            .into_inner()
            .pod_sandbox_id;
        self.timed("RunPodSandbox", t);
        self.sandboxes.lock().unwrap().insert(id.clone(), uid);
        Ok(id)
    }

    /// CreateContainer then StartContainer; returns the container id.
    pub fn create_and_start(
        &self,
        sandbox: &str,
        config: cri::ContainerConfig,
        sandbox_config: &cri::PodSandboxConfig,
    ) -> Result<String> {
        let name = config
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let t = Instant::now();
        let id = self
            .block_on(self.client().create_container(cri::CreateContainerRequest {
                pod_sandbox_id: sandbox.to_owned(),
                config: Some(config),
                sandbox_config: Some(sandbox_config.clone()),
            }))
            .map_err(|e| status(&format!("CreateContainer {name}"), e))?
            .into_inner()
            .container_id;
        self.timed("CreateContainer", t);
        let t = Instant::now();
        self.block_on(self.client().start_container(cri::StartContainerRequest {
            container_id: id.clone(),
        }))
        .map_err(|e| status(&format!("StartContainer {name}"), e))?;
        self.timed("StartContainer", t);
        Ok(id)
    }

    /// The sandbox's verbose status: (status, the `info` JSON).
    pub fn sandbox_status(&self, id: &str) -> Result<(cri::PodSandboxStatus, Value)> {
        let r = self
            .block_on(
                self.client()
                    .pod_sandbox_status(cri::PodSandboxStatusRequest {
                        pod_sandbox_id: id.to_owned(),
                        verbose: true,
                    }),
            )
            .map_err(|e| status("PodSandboxStatus", e))?
            .into_inner();
        let info = verbose_info(&r.info);
        Ok((r.status.ok_or("PodSandboxStatus: no status")?, info))
    }

    /// The container's verbose status: (status, the `info` JSON).
    pub fn container_status(&self, id: &str) -> Result<(cri::ContainerStatus, Value)> {
        let r = self
            .block_on(self.client().container_status(cri::ContainerStatusRequest {
                container_id: id.to_owned(),
                verbose: true,
            }))
            .map_err(|e| status("ContainerStatus", e))?
            .into_inner();
        let info = verbose_info(&r.info);
        Ok((r.status.ok_or("ContainerStatus: no status")?, info))
    }

    /// ExecSync: (exit code, stdout, stderr).
    pub fn exec_sync(
        &self,
        id: &str,
        cmd: &[&str],
        timeout_s: i64,
    ) -> Result<(i32, String, String)> {
        let r = self
            .block_on(self.client().exec_sync(cri::ExecSyncRequest {
                container_id: id.to_owned(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                timeout: timeout_s,
            }))
            .map_err(|e| status("ExecSync", e))?
            .into_inner();
        Ok((
            r.exit_code,
            String::from_utf8_lossy(&r.stdout).into_owned(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        ))
    }

    /// Exec with a terminal, as `kubectl exec -it` makes the kubelet call it:
    /// the CRI Exec call gives a URL of containerd's streaming server, where a
    /// WebSocket (the `v4.channel.k8s.io` protocol, one byte of channel number
    /// before each message's data) carries `input` to the command's stdin and
    /// its terminal's output back, until the command ends. Returns that output.
    pub fn exec_tty(&self, id: &str, cmd: &[&str], input: &[u8]) -> Result<String> {
        let url = self
            .block_on(self.client().exec(cri::ExecRequest {
                container_id: id.to_owned(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                tty: true,
                stdin: true,
                stdout: true,
                stderr: false,
            }))
            .map_err(|e| status("Exec", e))?
            .into_inner()
            .url;
        crate::ws::exec_stream(&url, input, Duration::from_secs(60))
    }

    /// A client with a runtime of its own, for a thread of its own (a prober).
    pub fn thread_client(
        &self,
    ) -> Result<(tokio::runtime::Runtime, RuntimeServiceClient<Channel>)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let ch = channel(&rt, &self.socket())?;
        Ok((rt, RuntimeServiceClient::new(ch)))
    }

    /// StopPodSandbox, RemovePodSandbox (containers removed with it), and the
    /// pod's cgroups, as the kubelet removes them.
    pub fn remove_sandbox(&self, id: &str) -> Result<()> {
        let t = Instant::now();
        self.block_on(self.client().stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: id.to_owned(),
        }))
        .map_err(|e| status("StopPodSandbox", e))?;
        self.timed("StopPodSandbox", t);
        let t = Instant::now();
        self.block_on(
            self.client()
                .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                    pod_sandbox_id: id.to_owned(),
                }),
        )
        .map_err(|e| status("RemovePodSandbox", e))?;
        self.timed("RemovePodSandbox", t);
        if let Some(uid) = self.sandboxes.lock().unwrap().remove(id) {
            remove_pod_cgroups(&uid);
        }
        Ok(())
    }

    /// What containerd runs now: (ready sandboxes, running containers).
    pub fn running_counts(&self) -> Result<(usize, usize)> {
        let pods = self
            .block_on(
                self.client()
                    .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None }),
            )
            .map_err(|e| status("ListPodSandbox", e))?
            .into_inner()
            .items
            .iter()
            .filter(|s| s.state == cri::PodSandboxState::SandboxReady as i32)
            .count();
        let ctrs = self
            .block_on(
                self.client()
                    .list_containers(cri::ListContainersRequest { filter: None }),
            )
            .map_err(|e| status("ListContainers", e))?
            .into_inner()
            .containers
            .iter()
            .filter(|c| c.state == cri::ContainerState::ContainerRunning as i32)
            .count();
        Ok((pods, ctrs))
    }

    /// StopContainer with `timeout_s` (0: SIGKILL at once).
    pub fn stop_container(&self, id: &str, timeout_s: i64) -> Result<()> {
        self.block_on(self.client().stop_container(cri::StopContainerRequest {
            container_id: id.to_owned(),
            timeout: timeout_s,
        }))
        .map_err(|e| status("StopContainer", e))?;
        Ok(())
    }

    /// Every sandbox containerd knows (also ones a failed test lost track of).
    fn all_sandboxes(&self) -> Result<Vec<(String, String)>> {
        let r = self
            .block_on(
                self.client()
                    .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None }),
            )
            .map_err(|e| status("ListPodSandbox", e))?;
        Ok(r.into_inner()
            .items
            .into_iter()
            .map(|s| (s.id, s.metadata.map(|m| m.uid).unwrap_or_default()))
            .collect())
    }

    /// Removes every sandbox, stops containerd, removes what it left.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let mut errors = Vec::new();
        if self.child.is_some() {
            match self.all_sandboxes() {
                Ok(all) => {
                    for (id, uid) in all {
                        self.sandboxes.lock().unwrap().insert(id.clone(), uid);
                        if let Err(e) = self.remove_sandbox(&id) {
                            errors.push(e);
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if let Err(e) = self.stop_daemon() {
            errors.push(e);
        }
        if let Err(e) = self.clean_files() {
            errors.push(e);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// SIGTERM to containerd (by its pid), SIGKILL after 10 s.
    fn stop_daemon(&mut self) -> Result<()> {
        self._env = None;
        match self.child.take() {
            Some(child) => daemon::stop_child(child, "containerd", Duration::from_secs(10)),
            None => Ok(()),
        }
    }

    /// What containerd leaves after it stopped: shims of sandboxes that could not
    /// be removed (and their sockets), mounts under its directories, its
    /// directories, the bridge, and what appeared at the fixed places it was
    /// claimed for (the last claim of the process removes that).
    fn clean_files(&mut self) -> Result<()> {
        let mut left = Vec::new();
        left.extend(daemon::kill_shims(&self.state(), &self.socket()));
        left.extend(self.dirs.remove());
        if Path::new(&format!("/sys/class/net/{BRIDGE}")).exists() {
            let _ = Command::new("ip").args(["link", "del", BRIDGE]).status();
        }
        if let Some(mut claim) = self.claim.take() {
            left.extend(claim.release());
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("left behind: {}", left.join(", ")))
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            // Drop cannot fail the test; the run's final check (nstrace-sweep) does.
            eprintln!("nstrace-tests: stopping containerd: {e}");
        }
    }
}

/// The kubelet removes a pod's cgroup (`/kubepods/<qos>/pod<uid>`) after the
/// sandbox: the runtime removes only its containers' own.
fn remove_pod_cgroups(uid: &str) {
    for root in crate::footprint::cgroup_hierarchies() {
        for qos in ["", "burstable/", "besteffort/"] {
            let _ = std::fs::remove_dir(root.join(format!("kubepods/{qos}pod{uid}")));
        }
    }
}

/// Cleans what an earlier harness left (a test process killed by Ctrl-C or a
/// crash): a running harness containerd is asked to remove its sandboxes and
/// stopped; a dead one's directory is started again so that containerd itself
/// takes down the sandboxes it recorded; then its directories, the bridge and
/// what its footprint says appeared at the fixed places go. Returns what it
/// found. The machine's own containerd (its `/run/containerd`, socket and
/// directories) is never looked at: only the harness's directories are.
pub fn sweep() -> Result<Vec<String>> {
    let mut found = Vec::new();
    // Directories of a test process that still runs are its own business.
    let dirs: Vec<Dirs> = daemon::dirs_with_prefix(DIR_PREFIX)
        .into_iter()
        .map(|d| Dirs::of(&d, DIR_PREFIX, RUN_PREFIX))
        .filter(|d| !daemon::owner_alive(&d.dir, DIR_PREFIX))
        .collect();
    let orphan_runs: Vec<PathBuf> = daemon::dirs_with_prefix(RUN_PREFIX)
        .into_iter()
        .filter(|r| !daemon::owner_alive(r, RUN_PREFIX))
        .filter(|r| !dirs.iter().any(|d| &d.run == r))
        .collect();
    for dirs in dirs {
        let dir = dirs.dir.clone();
        found.push(format!("harness directory {}", dir.display()));
        if dir.join("root-made-shared").exists() {
            found.push("the root mount made shared".into());
            make_root("--make-private")?;
            let _ = std::fs::remove_file(dir.join("root-made-shared"));
        }
        let footprint = crate::footprint::Footprint::load(&dir.join("footprint")).ok();
        let mut c = match dirs.running("containerd") {
            Some(pid) => {
                found.push(format!("containerd {pid} still running"));
                // Adopt it: its sandboxes go through CRI, then it is stopped by pid.
                let c = Containerd::adopt(&dirs)?;
                if let Ok(all) = c.all_sandboxes() {
                    for (id, uid) in all {
                        found.push(format!("sandbox {}", &id[..12.min(id.len())]));
                        c.sandboxes.lock().unwrap().insert(id.clone(), uid);
                        let _ = c.remove_sandbox(&id);
                    }
                }
                daemon::stop_pid(pid, &dirs, "containerd", Duration::from_secs(10));
                c
            }
            None if dir.join("config.toml").exists() => match Containerd::start_in(&dirs, false) {
                Ok(c) => c,
                Err(e) => {
                    found.push(format!("restarting it failed: {e}"));
                    Containerd::adopt(&dirs)?
                }
            },
            None => Containerd::adopt(&dirs)?,
        };
        if let Err(e) = c.shutdown() {
            found.push(e);
        }
        drop(c);
        if let Some(f) = footprint {
            let appeared = f.appeared();
            if !appeared.is_empty() {
                found.push(format!("made by it: {}", appeared.join(", ")));
            }
            found.extend(f.clean());
        }
    }
    for run in orphan_runs {
        found.push(format!("state directory {}", run.display()));
        found.extend(daemon::kill_shims(
            &run.join("state"),
            &run.join("containerd.sock"),
        ));
        found.extend(daemon::remove_tree(&run));
    }
    if Path::new(&format!("/sys/class/net/{BRIDGE}")).exists() {
        found.push(format!("bridge {BRIDGE}"));
        let _ = Command::new("ip").args(["link", "del", BRIDGE]).status();
    }
    Ok(found)
}

/// What a run left of the CRI harness, for the suite's final check: harness
/// containerds and shims, mounts and directories of the harness, the bridge.
/// (What the harness made at fixed places is the run's footprint check.)
pub fn leftovers() -> Vec<String> {
    let mut left = daemon::harness_processes(&[DIR_PREFIX, RUN_PREFIX]);
    for prefix in [DIR_PREFIX, RUN_PREFIX] {
        left.extend(
            daemon::mounts_with_prefix(prefix)
                .into_iter()
                .map(|m| format!("mount {m}")),
        );
        left.extend(
            daemon::dirs_with_prefix(prefix)
                .into_iter()
                .map(|d| d.display().to_string()),
        );
    }
    if Path::new(&format!("/sys/class/net/{BRIDGE}")).exists() {
        left.push(format!("bridge {BRIDGE}"));
    }
    left
}
