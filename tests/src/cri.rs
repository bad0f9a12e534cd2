//! containerd driven through CRI, the way the kubelet drives it.
//!
//! [`Containerd`] is a containerd the harness starts for one test (its own root,
//! config and CNI bridge; the state directory a node's containerd has,
//! `/run/containerd`, so the bundles are where nstrace and the DaemonSet look for
//! them) and stops by its own pid, leaving nothing behind: every sandbox is stopped
//! and removed through CRI (which takes down shims, mounts and network namespaces),
//! then the daemon, its bridge, the kubelet-style cgroups and its directories go.
//! A containerd left by a test process that was killed is cleaned the same way
//! the next time one starts (and by `nstrace-cri-sweep` after every run).
//!
//! [`Kubelet`] takes Pod YAML (the same files podman plays) and makes the CRI
//! calls the kubelet makes: RunPodSandbox with the kubelet's sandbox config,
//! CreateContainer/StartContainer per container with its own namespace options,
//! and the kubelet's stop (preStop exec hooks through ExecSync, then StopContainer
//! on every container at once with what is left of the grace period, then
//! StopPodSandbox and RemovePodSandbox). Checked facts: DESIGN.md §5e.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_cri::v1 as cri;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use serde_json::Value;
use tonic::transport::{Channel, Endpoint, Uri};

/// containerd's state directory: a node's default, so that bundles are at
/// `/run/containerd/io.containerd.runtime.v2.task/k8s.io/<id>/` as on a node.
pub const STATE: &str = "/run/containerd";
/// The CRI socket, in the state directory as on a node.
pub const SOCKET: &str = "/run/containerd/containerd.sock";
/// Where each harness keeps its root, config, CNI config, logs and volumes.
pub const DIR_PREFIX: &str = "/var/tmp/nstrace-cri-";
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
    dir: PathBuf,
    child: Option<Child>,
    rt: tokio::runtime::Runtime,
    client: RuntimeServiceClient<Channel>,
    /// Sandboxes made through this containerd and not yet removed, with their uids.
    sandboxes: Mutex<BTreeMap<String, String>>,
    /// Times of the CRI calls, by call name (seconds), for the report.
    pub timings: Mutex<BTreeMap<&'static str, Vec<f64>>>,
}

fn config_toml(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"# Written by nstrace's test harness (tests/src/cri.rs); removed with the run.
version = 2
root = "{d}/root"
state = "{STATE}"
# Plugins a test never uses: less to start, nothing written elsewhere.
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{SOCKET}"

[plugins."io.containerd.internal.v1.opt"]
  # Instead of /opt/containerd.
  path = "{d}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # Root here lacks CAP_SYS_RESOURCE: without this RunPodSandbox fails
  # ("can't get final child's PID from pipe: EOF"), DESIGN.md §5e.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
"#
    )
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

fn make_root(how: &str) -> Result<()> {
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
        if root_propagates() {
            return SharedRoot { marker: None };
        }
        let marker = c.dir.join("root-made-shared");
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

/// Whether `pid` is alive and its command line mentions `needle`.
fn cmdline_has(pid: u32, needle: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).contains(needle))
        .unwrap_or(false)
}

fn channel(rt: &tokio::runtime::Runtime) -> Result<Channel> {
    rt.block_on(async {
        Endpoint::try_from("http://[::]:50051")
            .map_err(|e| e.to_string())?
            .connect_with_connector(tower::service_fn(|_: Uri| async {
                let s = tokio::net::UnixStream::connect(SOCKET).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
            }))
            .await
            .map_err(|e| format!("connecting to {SOCKET}: {e}"))
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
    /// Starts a containerd of its own (cleaning what a killed run left first),
    /// waits until CRI answers with its network ready, and imports the images.
    pub fn start() -> Containerd {
        crate::require_root();
        sweep().unwrap_or_else(|e| panic!("cleaning an earlier containerd: {e}"));
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = PathBuf::from(format!("{DIR_PREFIX}{}-{n}", std::process::id()));
        let c = Containerd::start_in(&dir, true).unwrap_or_else(|e| panic!("containerd: {e}"));
        for image in ["nstrace-pause", "nstrace-busybox"] {
            c.import(&images_dir().join(format!("{image}.tar")))
                .unwrap_or_else(|e| panic!("{e} (run `cargo xtask setup`)"));
        }
        c
    }

    /// Starts containerd with the config in `dir` (written first when `fresh`).
    fn start_in(dir: &Path, fresh: bool) -> Result<Containerd> {
        if fresh {
            for sub in ["root", "cni", "logs", "pods", "opt"] {
                std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{dir:?}: {e}"))?;
            }
            std::fs::write(dir.join("config.toml"), config_toml(dir))
                .and_then(|_| {
                    std::fs::write(dir.join("cni/10-nstrace.conflist"), cni_conflist(dir))
                })
                .map_err(|e| format!("writing the config: {e}"))?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("containerd.log"))
            .map_err(|e| format!("containerd.log: {e}"))?;
        use std::os::unix::process::CommandExt;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            // Its own process group: a Ctrl-C of the test run does not stop it
            // half-way; the harness (or the sweep) stops it and what it made.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting containerd: {e} (run `cargo xtask setup`)"))?;
        std::fs::write(dir.join("containerd.pid"), child.id().to_string())
            .map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let mut c = None;
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(ch) = channel(&rt) {
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
        let me = Containerd {
            dir: dir.to_owned(),
            child: Some(child),
            client: match c {
                Some(c) => c,
                None => {
                    let log =
                        std::fs::read_to_string(dir.join("containerd.log")).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    // Stop it before failing: nothing may stay behind.
                    let mut dead = Containerd {
                        dir: dir.to_owned(),
                        child: None,
                        client: RuntimeServiceClient::new(
                            Endpoint::from_static("http://[::]:1").connect_lazy(),
                        ),
                        rt,
                        sandboxes: Mutex::default(),
                        timings: Mutex::default(),
                    };
                    let _ = dead.stop_daemon();
                    let _ = dead.clean_files();
                    return Err(format!(
                        "CRI did not become ready in 60 s ({last}); log: {tail:?}"
                    ));
                }
            },
            rt,
            sandboxes: Mutex::default(),
            timings: Mutex::default(),
        };
        me.timings
            .lock()
            .unwrap()
            .insert("start", vec![started.elapsed().as_secs_f64()]);
        Ok(me)
    }

    /// The harness's directory (root, config, logs, volumes).
    pub fn dir(&self) -> &Path {
        &self.dir
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
            .args(["--address", SOCKET, "-n", "k8s.io", "images", "import"])
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
    pub fn thread_client() -> Result<(tokio::runtime::Runtime, RuntimeServiceClient<Channel>)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let ch = channel(&rt)?;
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
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // SAFETY: signalling the containerd this harness started.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err("containerd ignored SIGTERM for 10 s: killed".into())
    }

    /// What containerd leaves after it stopped: shims of sandboxes that could not
    /// be removed, mounts under its directories, the state and harness
    /// directories, the bridge.
    fn clean_files(&mut self) -> Result<()> {
        let mut left = Vec::new();
        left.extend(kill_shims());
        for m in mounts_under(&[STATE, &self.dir.display().to_string()]) {
            // SAFETY: unmounting a mount under a directory this harness owns.
            let c = std::ffi::CString::new(m.clone()).unwrap();
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
                left.push(format!("mount {m}"));
            }
        }
        for d in [Path::new(STATE), &self.dir] {
            if d.exists() {
                if let Err(e) = std::fs::remove_dir_all(d) {
                    left.push(format!("{}: {e}", d.display()));
                }
            }
        }
        if Path::new(&format!("/sys/class/net/{BRIDGE}")).exists() {
            let _ = Command::new("ip").args(["link", "del", BRIDGE]).status();
        }
        remove_kubepods_cgroups();
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
            // Drop cannot fail the test; the run's final check (nstrace-cri-sweep) does.
            eprintln!("nstrace-tests: stopping containerd: {e}");
        }
    }
}

/// Shims whose bundles are under [`STATE`], killed by their `shim.pid` (only
/// when that process is a runc shim of this state directory), with their
/// containers' processes (`init.pid`); returns what was killed.
fn kill_shims() -> Vec<String> {
    let tasks = Path::new(STATE).join("io.containerd.runtime.v2.task/k8s.io");
    let mut killed = Vec::new();
    let Ok(rd) = std::fs::read_dir(&tasks) else {
        return killed;
    };
    for e in rd.flatten() {
        let read_pid = |f: &str| -> Option<u32> {
            std::fs::read_to_string(e.path().join(f))
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        if let Some(pid) = read_pid("init.pid") {
            // The container's init: its cgroup names its id.
            let id = e.file_name().to_string_lossy().into_owned();
            let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if cg.contains(&id) {
                // SAFETY: a container process of this harness's containerd.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                killed.push(format!("container {}", &id[..12.min(id.len())]));
            }
        }
        if let Some(pid) = read_pid("shim.pid") {
            if cmdline_has(pid, "containerd-shim-runc-v2") && cmdline_has(pid, SOCKET) {
                // SAFETY: a shim of this harness's containerd.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                killed.push(format!("shim {pid}"));
            }
        }
    }
    killed
}

/// Mount points under any of `dirs` (deepest first), from /proc/self/mountinfo.
pub fn mounts_under(dirs: &[&str]) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| {
            dirs.iter()
                .any(|d| *m == *d || m.starts_with(&format!("{}/", d.trim_end_matches('/'))))
        })
        .map(str::to_owned)
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.len()));
    out.dedup();
    out
}

/// The cgroup hierarchies of this machine (v1 controllers and the v2 one).
fn cgroup_roots() -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    let mut roots: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
        .collect();
    if Path::new("/sys/fs/cgroup/cgroup.procs").exists() {
        roots.push("/sys/fs/cgroup".into());
    }
    roots
}

/// The kubelet removes a pod's cgroup (`/kubepods/<qos>/pod<uid>`) after the
/// sandbox: the runtime removes only its containers' own.
fn remove_pod_cgroups(uid: &str) {
    for root in cgroup_roots() {
        for qos in ["", "burstable/", "besteffort/"] {
            let _ = std::fs::remove_dir(root.join(format!("kubepods/{qos}pod{uid}")));
        }
    }
}

/// `/kubepods` and its QoS levels, where empty (no kubelet runs here: they are ours).
fn remove_kubepods_cgroups() {
    for root in cgroup_roots() {
        let kp = root.join("kubepods");
        if let Ok(rd) = std::fs::read_dir(&kp) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    if let Ok(rd2) = std::fs::read_dir(&p) {
                        for e2 in rd2.flatten() {
                            if e2.path().is_dir() {
                                let _ = std::fs::remove_dir(e2.path());
                            }
                        }
                    }
                    let _ = std::fs::remove_dir(&p);
                }
            }
        }
        let _ = std::fs::remove_dir(&kp);
    }
}

/// Cleans what an earlier harness left (a test process killed by Ctrl-C or a
/// crash): a running harness containerd is asked to remove its sandboxes and
/// stopped; a dead one's directory is started again so that containerd itself
/// takes down the sandboxes it recorded; then the leftovers are removed.
/// Returns what it found; refuses when `/run/containerd` belongs to a
/// containerd that is not the harness's.
pub fn sweep() -> Result<Vec<String>> {
    let mut found = Vec::new();
    let dirs: Vec<PathBuf> = std::fs::read_dir("/var/tmp")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().starts_with(DIR_PREFIX))
                .collect()
        })
        .unwrap_or_default();
    let socket_live = || std::os::unix::net::UnixStream::connect(SOCKET).is_ok();
    let harness_pid = |dir: &Path| -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(dir.join("containerd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        cmdline_has(pid, &dir.display().to_string()).then_some(pid)
    };
    if socket_live() && !dirs.iter().any(|d| harness_pid(d).is_some()) {
        return Err(format!(
            "a containerd that is not the test harness's serves {SOCKET}: stop it first"
        ));
    }
    for dir in dirs {
        found.push(format!("harness directory {}", dir.display()));
        if dir.join("root-made-shared").exists() {
            found.push("the root mount made shared".into());
            make_root("--make-private")?;
            let _ = std::fs::remove_file(dir.join("root-made-shared"));
        }
        let running = harness_pid(&dir);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let mut c = match running {
            Some(pid) => {
                found.push(format!("containerd {pid} still running"));
                // Adopt it: its sandboxes go through CRI, then it is stopped by pid.
                let client = RuntimeServiceClient::new(channel(&rt)?);
                let c = Containerd {
                    dir: dir.clone(),
                    child: None,
                    rt,
                    client,
                    sandboxes: Mutex::default(),
                    timings: Mutex::default(),
                };
                if let Ok(all) = c.all_sandboxes() {
                    for (id, uid) in all {
                        found.push(format!("sandbox {}", &id[..12.min(id.len())]));
                        c.sandboxes.lock().unwrap().insert(id.clone(), uid);
                        let _ = c.remove_sandbox(&id);
                    }
                }
                // SAFETY: the harness containerd of this directory (checked by its cmdline).
                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                let t = Instant::now();
                while cmdline_has(pid, &dir.display().to_string())
                    && t.elapsed() < Duration::from_secs(10)
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if cmdline_has(pid, &dir.display().to_string()) {
                    // SAFETY: as above.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
                c
            }
            None if dir.join("config.toml").exists() => match Containerd::start_in(&dir, false) {
                Ok(c) => c,
                Err(e) => {
                    found.push(format!("restarting it failed: {e}"));
                    continue;
                }
            },
            None => {
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
        };
        if let Err(e) = c.shutdown() {
            found.push(e);
        }
    }
    // A state directory with no harness behind it.
    if Path::new(STATE).exists() && !socket_live() {
        found.push(format!("{STATE} without a containerd"));
        let shims = kill_shims();
        found.extend(shims);
        for m in mounts_under(&[STATE]) {
            let c = std::ffi::CString::new(m).unwrap();
            // SAFETY: unmounting under the harness's state directory.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = std::fs::remove_dir_all(STATE);
    }
    if Path::new(&format!("/sys/class/net/{BRIDGE}")).exists() {
        found.push(format!("bridge {BRIDGE}"));
        let _ = Command::new("ip").args(["link", "del", BRIDGE]).status();
    }
    remove_kubepods_cgroups();
    Ok(found)
}

/// What a run left behind, for the suite's final check: harness containerds
/// and shims, mounts and directories of the harness, the bridge, pod cgroups.
pub fn leftovers() -> Vec<String> {
    let mut left = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if (cmdline_has(pid, DIR_PREFIX) && cmdline_has(pid, "containerd"))
                || (cmdline_has(pid, "containerd-shim") && cmdline_has(pid, SOCKET))
            {
                left.push(format!("process {pid}"));
            }
        }
    }
    for m in mounts_under(&[STATE]) {
        left.push(format!("mount {m}"));
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for l in info.lines() {
        if let Some(m) = l.split(' ').nth(4) {
            if m.starts_with(DIR_PREFIX) {
                left.push(format!("mount {m}"));
            }
        }
    }
    if Path::new(STATE).exists() {
        left.push(STATE.to_owned());
    }
    if Path::new("/opt/containerd").exists() {
        left.push("/opt/containerd".to_owned());
    }
    if let Ok(rd) = std::fs::read_dir("/var/tmp") {
        for e in rd.flatten() {
            if e.path().to_string_lossy().starts_with(DIR_PREFIX) {
                left.push(e.path().display().to_string());
            }
        }
    }
    if Path::new(&format!("/sys/class/net/{BRIDGE}")).exists() {
        left.push(format!("bridge {BRIDGE}"));
    }
    for root in cgroup_roots() {
        if root.join("kubepods").exists() {
            left.push(format!("cgroup {}", root.join("kubepods").display()));
        }
    }
    left
}
