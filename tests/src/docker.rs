//! Docker Engine for the integration tests: Debian's dockerd 20.10 on a
//! containerd the harness starts, both with every path of their own, and
//! Debian's docker-compose 1.29 for Compose projects (DESIGN.md §5f).
//!
//! Why a containerd of its own: dockerd either runs on a containerd it is
//! given (`--containerd`, how Debian's unit runs it, on the system's) or
//! starts one itself; the machine's containerd is not the tests' to use (it
//! may not run, or run a developer's containers), and the one dockerd would
//! start takes no config from us (it would make `/opt/containerd`). So the
//! harness starts containerd (CRI off) with its own root, state and sockets
//! and dockerd on it: bundles land in
//! `<state>/io.containerd.runtime.v2.task/moby/<id>/`, the layout of
//! `/run/containerd/io.containerd.runtime.v2.task/moby/` on a Debian host.
//!
//! dockerd gets its own data root, exec root, socket, pid file and config
//! file (an empty one: a machine's `/etc/docker/daemon.json` is not read), a
//! bridge of its own (`nstdock0`; never `docker0`, which a machine's dockerd
//! owns), an address pool of its own for Compose networks, no iptables, no
//! IP forwarding or masquerading (nothing of the node's firewall or sysctls
//! changes), and the userland proxy on (published ports are docker-proxy
//! listeners on the node). It still writes `/etc/docker/key.json`, makes
//! `/run/docker/plugins` and the cgroup `/docker`: the footprint claim
//! records whether those were there before, and removes them only if not.
//! Images come from the archives `cargo xtask setup` saved (`docker load`);
//! nothing is pulled. Everything is stopped by pid and removed when the
//! handle drops, or by [`sweep`] after a killed run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::daemon::{self, Dirs};
use crate::footprint::Claim;

/// Where each harness keeps its config, containerd root, Docker data root,
/// client config, logs and compose files.
pub const DIR_PREFIX: &str = "/var/tmp/nstrace-docker-";
/// Where each harness keeps containerd's state, dockerd's exec root and the sockets.
pub const RUN_PREFIX: &str = "/run/nstrace-docker-";
/// The bridge of dockerd's default network.
pub const BRIDGE: &str = "nstdock0";
/// Its address (clear of Docker's 172.17/16, podman's 10.88/16 and 10.89.0/24,
/// the CRI harness's 10.237.0/24).
pub const BRIDGE_ADDR: &str = "10.238.0.1/24";
/// The pool Compose networks take their subnets from: their bridges
/// (`br-<id>`) are found by it.
pub const POOL: &str = "10.239.0.0/16";
/// The Docker 20.10 client (`/usr/local/bin/docker` may be another one).
pub const DOCKER: &str = "/usr/bin/docker";
/// The images every Docker node loads (from `cargo xtask setup`'s archives).
pub const IMAGES: &[&str] = &["nstrace-busybox", "nstrace-pause"];

/// What one harness dockerd is started with.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// `--userland-proxy`: published ports held by docker-proxy on the node
    /// (else dockerd reserves them itself and DNAT rules carry the traffic;
    /// the harness makes none: iptables off).
    pub userland_proxy: bool,
    /// dockerd runs the containerd it starts itself (no `--containerd`):
    /// bundles under `<exec root>/containerd/daemon/…/moby`, the layout of
    /// `/run/docker/containerd/daemon/…` on a host set up that way. That
    /// containerd takes no config from the harness and makes
    /// `/opt/containerd` (recorded, removed after when the run made it).
    pub own_containerd: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            userland_proxy: true,
            own_containerd: false,
        }
    }
}

/// A dockerd (on its own containerd) the harness started; stopped, with
/// everything it made, on drop.
pub struct Dockerd {
    dirs: Dirs,
    opts: Options,
    containerd: Option<Child>,
    dockerd: Option<Child>,
    claim: Option<Claim>,
    _env: Option<crate::EnvClaim>,
}

/// A unix socket answering a connection.
fn answers(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

impl Dockerd {
    /// Starts containerd and dockerd (cleaning what a killed run left first)
    /// and loads the test images.
    pub fn start() -> Dockerd {
        Dockerd::start_with(Options::default())
    }

    /// [`Dockerd::start`] with `opts`.
    pub fn start_with(opts: Options) -> Dockerd {
        crate::require_root();
        sweep().unwrap_or_else(|e| panic!("cleaning an earlier dockerd: {e}"));
        let d = Dockerd::start_in(Dirs::new(DIR_PREFIX, RUN_PREFIX), opts)
            .unwrap_or_else(|e| panic!("dockerd: {e}"));
        for image in IMAGES {
            d.load(&crate::cri::images_dir().join(format!("{image}.tar")))
                .unwrap_or_else(|e| panic!("{e} (run `cargo xtask setup`)"));
        }
        d
    }

    fn start_in(dirs: Dirs, opts: Options) -> Result<Dockerd, String> {
        let dir = dirs.dir.clone();
        for sub in ["root", "opt", "data", "client", "compose"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{dir:?}: {e}"))?;
        }
        std::fs::create_dir_all(&dirs.run).map_err(|e| format!("{:?}: {e}", dirs.run))?;
        std::fs::write(
            dir.join("containerd.toml"),
            daemon::containerd_toml(&dirs, None),
        )
        .and_then(|_| std::fs::write(dir.join("daemon.json"), "{}\n"))
        .map_err(|e| format!("writing the config: {e}"))?;
        let claim = Claim::take(&dir.join("footprint"))?;
        let mut me = Dockerd {
            dirs,
            opts,
            containerd: None,
            dockerd: None,
            claim: Some(claim),
            _env: None,
        };
        if let Err(e) = me.start_daemons(opts) {
            let _ = me.shutdown();
            return Err(e);
        }
        me._env = Some(crate::EnvClaim::set(&[
            ("NSTRACE_DOCKER_ROOT", me.data_root().display().to_string()),
            ("NSTRACE_MOBY_ROOT", me.moby_tasks().display().to_string()),
        ]));
        Ok(me)
    }

    fn start_daemons(&mut self, opts: Options) -> Result<(), String> {
        let (dir, run) = (self.dirs.dir.clone(), self.dirs.run.clone());
        if !opts.own_containerd {
            let mut cmd = Command::new("containerd");
            cmd.arg("--config").arg(dir.join("containerd.toml"));
            self.containerd = Some(daemon::spawn_logged(cmd, &dir, "containerd")?);
            wait_for("containerd's socket", &dir, "containerd", || {
                answers(&run.join("containerd.sock"))
            })?;
        }
        // Its bridge, made before dockerd as `--bridge` wants it.
        if !crate::footprint::link_exists(BRIDGE) {
            for args in [
                &["link", "add", BRIDGE, "type", "bridge"][..],
                &["addr", "add", BRIDGE_ADDR, "dev", BRIDGE],
                &["link", "set", BRIDGE, "up"],
            ] {
                crate::run_ok(Command::new("ip").args(args));
            }
        }
        let mut cmd = Command::new("dockerd");
        if !opts.own_containerd {
            cmd.arg(format!(
                "--containerd={}",
                run.join("containerd.sock").display()
            ));
        }
        cmd.arg(format!(
            "--config-file={}",
            dir.join("daemon.json").display()
        ))
        .arg(format!("--data-root={}", self.data_root().display()))
        .arg(format!("--exec-root={}", run.join("docker").display()))
        .arg(format!(
            "--host=unix://{}",
            run.join("docker.sock").display()
        ))
        .arg(format!("--pidfile={}", run.join("docker.pid").display()))
        .arg(format!("--bridge={BRIDGE}"))
        .arg(format!("--default-address-pool=base={POOL},size=24"))
        .args([
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--log-level=warn",
        ])
        .arg(format!("--userland-proxy={}", opts.userland_proxy));
        self.dockerd = Some(daemon::spawn_logged(cmd, &dir, "dockerd")?);
        let sock = run.join("docker.sock");
        wait_for("dockerd's API", &dir, "dockerd", || {
            answers(&sock)
                && Command::new(DOCKER)
                    .env("DOCKER_HOST", format!("unix://{}", sock.display()))
                    .env("DOCKER_CONFIG", dir.join("client"))
                    .args(["version", "--format", "{{.Server.Version}}"])
                    .output()
                    .is_ok_and(|o| o.status.success())
        })
    }

    /// dockerd's data root (what nstrace's `--docker-root` names; `/var/lib/docker` on a host).
    pub fn data_root(&self) -> PathBuf {
        self.dirs.dir.join("data")
    }

    /// The moby namespace's bundles (`--moby-root`; on a Debian host
    /// `/run/containerd/io.containerd.runtime.v2.task/moby`, or with dockerd's
    /// own containerd `/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby`).
    pub fn moby_tasks(&self) -> PathBuf {
        state_of(&self.dirs, self.opts.own_containerd).join("io.containerd.runtime.v2.task/moby")
    }

    /// The harness's directory (compose files go to `compose/`).
    pub fn dir(&self) -> &Path {
        &self.dirs.dir
    }

    /// dockerd's pid.
    pub fn pid(&self) -> Option<u32> {
        self.dockerd.as_ref().map(Child::id)
    }

    /// The environment of a client of this dockerd.
    pub fn client_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "DOCKER_HOST",
                format!("unix://{}", self.dirs.run.join("docker.sock").display()),
            ),
            // The client's config here, not in the node's ~/.docker.
            (
                "DOCKER_CONFIG",
                self.dirs.dir.join("client").display().to_string(),
            ),
        ]
    }

    /// `docker` (the 20.10 client) talking to this dockerd.
    pub fn docker(&self) -> Command {
        let mut c = Command::new(DOCKER);
        c.envs(self.client_env());
        c
    }

    /// Runs `docker ARGS`; its trimmed stdout, or a panic with its stderr.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        crate::run_ok(self.docker().args(args)).trim().to_owned()
    }

    /// Runs `docker ARGS` to its end.
    pub fn docker_out(&self, args: &[&str]) -> Output {
        self.docker()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
    }

    /// `docker-compose -p PROJECT -f FILE` talking to this dockerd.
    pub fn compose(&self, project: &str, file: &Path) -> Command {
        let mut c = Command::new("docker-compose");
        c.envs(self.client_env())
            .args(["--ansi", "never", "-p", project, "-f"])
            .arg(file);
        c
    }

    /// `docker load` of a docker-archive.
    pub fn load(&self, archive: &Path) -> Result<(), String> {
        if !archive.exists() {
            return Err(format!("{} missing", archive.display()));
        }
        let out = self
            .docker()
            .arg("load")
            .arg("-i")
            .arg(archive)
            .output()
            .map_err(|e| format!("docker load: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "docker load {}: {}",
                archive.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// `docker inspect` of one container, as JSON.
    pub fn inspect(&self, name: &str) -> Value {
        let out = self.docker_ok(&["inspect", name]);
        let v: Value = serde_json::from_str(&out).expect("docker inspect prints JSON");
        v[0].clone()
    }

    /// A container's PID 1 on the node (`{{.State.Pid}}`), 0 when it does not run.
    pub fn pid_of(&self, name: &str) -> u32 {
        self.docker_ok(&["inspect", "--format", "{{.State.Pid}}", name])
            .parse()
            .unwrap_or(0)
    }

    /// A container's full id.
    pub fn id_of(&self, name: &str) -> String {
        self.docker_ok(&["inspect", "--format", "{{.Id}}", name])
    }

    /// The containerd shim's pid of container `id` (one per container under
    /// dockerd; its bundle has no `shim.pid`, its command line names the id).
    pub fn shim_pid(&self, id: &str) -> Option<u32> {
        daemon::shims_of(&socket_of(&self.dirs, self.opts.own_containerd))
            .into_iter()
            .find(|(_, shim_id)| shim_id == id)
            .map(|(pid, _)| pid)
    }

    /// Removes every container, network and volume, stops dockerd, then
    /// containerd, and removes what they left.
    pub fn stop(mut self) -> Result<(), String> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), String> {
        let mut errors = Vec::new();
        self._env = None;
        if self.dockerd.is_some() {
            errors.extend(self.remove_all());
        }
        if let Some(child) = self.dockerd.take() {
            if let Err(e) = daemon::stop_child(child, "dockerd", Duration::from_secs(20)) {
                errors.push(e);
            }
        }
        if let Some(child) = self.containerd.take() {
            if let Err(e) = daemon::stop_child(child, "containerd", Duration::from_secs(10)) {
                errors.push(e);
            }
        }
        errors.extend(clean(&self.dirs));
        if let Some(mut claim) = self.claim.take() {
            errors.extend(claim.release());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// `docker rm -f` of every container, then the networks and volumes the
    /// tests made; returns what failed.
    fn remove_all(&self) -> Vec<String> {
        remove_all(&self.client_env())
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            // Drop cannot fail the test; the run's final check (nstrace-sweep) does.
            eprintln!("nstrace-tests: stopping dockerd: {e}");
        }
    }
}

/// The state directory of the containerd under a harness dockerd: the
/// harness's, or the one dockerd started (under its exec root).
fn state_of(dirs: &Dirs, own: bool) -> PathBuf {
    if own {
        dirs.run.join("docker/containerd/daemon")
    } else {
        dirs.run.join("state")
    }
}

/// That containerd's socket.
fn socket_of(dirs: &Dirs, own: bool) -> PathBuf {
    if own {
        dirs.run.join("docker/containerd/containerd.sock")
    } else {
        dirs.run.join("containerd.sock")
    }
}

/// Waits up to 60 s for `ready`; on failure, the last lines of `<dir>/<log>.log`.
fn wait_for(what: &str, dir: &Path, log: &str, ready: impl Fn() -> bool) -> Result<(), String> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "{what} not ready in 60 s; log: {:?}",
        daemon::log_tail(dir, log, 5)
    ))
}

/// Every container of the dockerd whose client environment is `env`
/// removed (SIGKILL), then unused networks and volumes.
fn remove_all(env: &[(&'static str, String)]) -> Vec<String> {
    let docker = |args: &[&str]| {
        Command::new(DOCKER)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(args)
            .output()
    };
    let mut errors = Vec::new();
    let ids = docker(&["ps", "-aq"])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(&ids);
        match docker(&args) {
            Ok(o) if o.status.success() => {}
            Ok(o) => errors.push(format!(
                "docker rm -f: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => errors.push(format!("docker rm -f: {e}")),
        }
    }
    let _ = docker(&["network", "prune", "-f"]);
    let _ = docker(&["volume", "prune", "-f"]);
    errors
}

/// After the daemons stopped: shims left (and their sockets) of either
/// containerd, a containerd dockerd started and left (its command line names
/// the harness's exec root), mounts, the directories, the bridge, Compose
/// bridges of the pool.
fn clean(dirs: &Dirs) -> Vec<String> {
    let mut left = Vec::new();
    for own in [false, true] {
        left.extend(daemon::kill_shims(
            &state_of(dirs, own),
            &socket_of(dirs, own),
        ));
    }
    let run = dirs.run.display().to_string();
    for p in daemon::all_pids() {
        if daemon::cmdline_has(p, "containerd")
            && daemon::cmdline_has(p, &format!("{run}/docker/containerd/"))
        {
            // SAFETY: the containerd dockerd of this harness started (its config is in our exec root).
            unsafe { libc::kill(p as i32, libc::SIGKILL) };
            left.push(format!("dockerd's containerd {p}"));
        }
    }
    left.extend(dirs.remove());
    for link in pool_bridges()
        .into_iter()
        .chain(crate::footprint::link_exists(BRIDGE).then(|| BRIDGE.to_owned()))
    {
        let _ = Command::new("ip").args(["link", "del", &link]).status();
        if crate::footprint::link_exists(&link) {
            left.push(format!("link {link}"));
        }
    }
    left
}

/// Bridges with an address in [`POOL`]: Compose networks of a harness dockerd.
pub fn pool_bridges() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let prefix = POOL.split('.').take(2).collect::<Vec<_>>().join(".") + ".";
    let mut v: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let _index = it.next()?;
            let name = it.next()?;
            let _family = it.next()?;
            let addr = it.next()?;
            (addr.starts_with(&prefix) && name.starts_with("br-")).then(|| name.to_owned())
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Cleans what an earlier Docker harness left (a test process killed by
/// Ctrl-C or a crash): its containers through its dockerd if that still
/// runs, the daemons by their pids, shims, mounts, directories, bridges, and
/// what its footprint says appeared at the fixed places. Returns what it found.
pub fn sweep() -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    for dir in daemon::dirs_with_prefix(DIR_PREFIX) {
        if daemon::owner_alive(&dir, DIR_PREFIX) {
            continue;
        }
        let dirs = Dirs::of(&dir, DIR_PREFIX, RUN_PREFIX);
        found.push(format!("harness directory {}", dir.display()));
        if dir.join("root-made-shared").exists() {
            found.push("the root mount made shared".into());
            crate::cri::make_root("--make-private")?;
            let _ = std::fs::remove_file(dir.join("root-made-shared"));
        }
        let footprint = crate::footprint::Footprint::load(&dir.join("footprint")).ok();
        if let Some(pid) = dirs.running("dockerd") {
            found.push(format!("dockerd {pid} still running"));
            let env = vec![
                (
                    "DOCKER_HOST",
                    format!("unix://{}", dirs.run.join("docker.sock").display()),
                ),
                ("DOCKER_CONFIG", dir.join("client").display().to_string()),
            ];
            found.extend(remove_all(&env));
            daemon::stop_pid(pid, &dirs, "dockerd", Duration::from_secs(20));
        }
        if let Some(pid) = dirs.running("containerd") {
            found.push(format!("containerd {pid} still running"));
            daemon::stop_pid(pid, &dirs, "containerd", Duration::from_secs(10));
        }
        found.extend(clean(&dirs));
        if let Some(f) = footprint {
            let appeared = f.appeared();
            if !appeared.is_empty() {
                found.push(format!("made by it: {}", appeared.join(", ")));
            }
            found.extend(f.clean());
        }
    }
    for run in daemon::dirs_with_prefix(RUN_PREFIX) {
        if daemon::owner_alive(&run, RUN_PREFIX) || !run.exists() {
            continue;
        }
        found.push(format!("state directory {}", run.display()));
        found.extend(daemon::kill_shims(
            &run.join("state"),
            &run.join("containerd.sock"),
        ));
        found.extend(daemon::remove_tree(&run));
    }
    let live_owner = daemon::dirs_with_prefix(DIR_PREFIX)
        .iter()
        .any(|d| daemon::owner_alive(d, DIR_PREFIX));
    if !live_owner {
        for link in pool_bridges()
            .into_iter()
            .chain(crate::footprint::link_exists(BRIDGE).then(|| BRIDGE.to_owned()))
        {
            found.push(format!("link {link}"));
            let _ = Command::new("ip").args(["link", "del", &link]).status();
        }
    }
    Ok(found)
}

/// What a run left of the Docker harness, for the suite's final check.
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
    left.extend(pool_bridges().into_iter().map(|b| format!("link {b}")));
    if crate::footprint::link_exists(BRIDGE) {
        left.push(format!("link {BRIDGE}"));
    }
    left
}

/// A Pod's YAML as a Compose project, in the arrangement Kubernetes made on
/// Docker Engine (dockershim, cri-dockerd): a pause container holding the
/// pod's network and IPC namespaces (and its PID namespace with
/// `shareProcessNamespace`), every container joining them
/// (`network_mode`/`ipc`/`pid: service:pause`), or the node's with
/// hostNetwork, hostIPC, hostPID. Each container is a service named as in
/// the spec; command is the entrypoint and args the command; privileged and
/// capabilities, env, emptyDir (a named volume) and hostPath (a bind)
/// volumes, hostPorts (published on the pause service, as dockershim did),
/// terminationGracePeriodSeconds as every service's stop grace period.
pub fn compose_of(pod: &Value) -> Result<String, String> {
    let spec = &pod["spec"];
    let yes = |k: &str| spec[k].as_bool() == Some(true);
    let name = pod["metadata"]["name"]
        .as_str()
        .ok_or("the pod has no metadata.name")?;
    let grace = spec["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    let grace = format!("{grace}s");
    let volumes: Vec<Value> = spec["volumes"].as_array().cloned().unwrap_or_default();
    let mut named_volumes = serde_json::Map::new();
    let mut pause = json!({
        "image": crate::cri::PAUSE_IMAGE,
        "stop_grace_period": grace,
        "ipc": if yes("hostIPC") { "host" } else { "shareable" },
    });
    if yes("hostNetwork") {
        pause["network_mode"] = "host".into();
    } else {
        pause["hostname"] = name.into();
    }
    if yes("hostPID") {
        pause["pid"] = "host".into();
    }
    let mut ports = Vec::new();
    let mut services = serde_json::Map::new();
    for c in spec["containers"].as_array().into_iter().flatten() {
        let cname = c["name"].as_str().ok_or("a container without a name")?;
        let strings = |v: &Value| -> Vec<Value> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(|s| Value::from(s.to_owned())))
                .collect()
        };
        let mut s = json!({
            "image": c["image"].as_str().unwrap_or(crate::pod::IMAGE),
            "stop_grace_period": grace,
            "depends_on": ["pause"],
        });
        let command = strings(&c["command"]);
        if !command.is_empty() {
            s["entrypoint"] = Value::Array(command);
        }
        let args = strings(&c["args"]);
        if !args.is_empty() {
            s["command"] = Value::Array(args);
        }
        s["network_mode"] = if yes("hostNetwork") {
            "host"
        } else {
            "service:pause"
        }
        .into();
        s["ipc"] = if yes("hostIPC") {
            "host"
        } else {
            "service:pause"
        }
        .into();
        if yes("hostPID") {
            s["pid"] = "host".into();
        } else if yes("shareProcessNamespace") {
            s["pid"] = "service:pause".into();
        }
        let sc = &c["securityContext"];
        if sc["privileged"].as_bool() == Some(true) {
            s["privileged"] = true.into();
        }
        let add = strings(&sc["capabilities"]["add"]);
        if !add.is_empty() {
            s["cap_add"] = Value::Array(add);
        }
        let drop = strings(&sc["capabilities"]["drop"]);
        if !drop.is_empty() {
            s["cap_drop"] = Value::Array(drop);
        }
        if sc["readOnlyRootFilesystem"].as_bool() == Some(true) {
            s["read_only"] = true.into();
        }
        if let Some(env) = c["env"].as_array() {
            let mut m = serde_json::Map::new();
            for e in env {
                if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
                    m.insert(k.to_owned(), v.into());
                }
            }
            s["environment"] = Value::Object(m);
        }
        let mut binds = Vec::new();
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let vname = m["name"].as_str().ok_or("a volumeMount without a name")?;
            let target = m["mountPath"]
                .as_str()
                .ok_or("a volumeMount without a path")?;
            let v = volumes
                .iter()
                .find(|v| v["name"] == vname)
                .ok_or_else(|| format!("no volume {vname}"))?;
            let source = if let Some(p) = v["hostPath"]["path"].as_str() {
                p.to_owned()
            } else if v["emptyDir"].is_object() {
                named_volumes.insert(vname.to_owned(), json!({}));
                vname.to_owned()
            } else {
                return Err(format!("volume {vname}: only hostPath and emptyDir here"));
            };
            let ro = if m["readOnly"].as_bool() == Some(true) {
                ":ro"
            } else {
                ""
            };
            binds.push(Value::from(format!("{source}:{target}{ro}")));
        }
        if !binds.is_empty() {
            s["volumes"] = Value::Array(binds);
        }
        for p in c["ports"].as_array().into_iter().flatten() {
            if let Some(host) = p["hostPort"].as_u64() {
                let proto = p["protocol"].as_str().unwrap_or("TCP").to_lowercase();
                let ip = p["hostIP"]
                    .as_str()
                    .map(|i| format!("{i}:"))
                    .unwrap_or_default();
                let ctr = p["containerPort"]
                    .as_u64()
                    .ok_or("a port without containerPort")?;
                ports.push(Value::from(format!("{ip}{host}:{ctr}/{proto}")));
            }
        }
        services.insert(cname.to_owned(), s);
    }
    if services.contains_key("pause") {
        return Err("a container named pause: the sandbox's service has that name".into());
    }
    if !ports.is_empty() {
        pause["ports"] = Value::Array(ports);
    }
    let mut all = serde_json::Map::new();
    all.insert("pause".into(), pause);
    all.extend(services);
    let mut doc = json!({ "version": "2.4", "services": all });
    if !named_volumes.is_empty() {
        doc["volumes"] = Value::Object(named_volumes);
    }
    // Compose substitutes `$VAR` in every value: a pod's `$?`, `$$` are the
    // shell's, written `$$` for Compose.
    escape_dollars(&mut doc);
    serde_yaml::to_string(&doc).map_err(|e| e.to_string())
}

/// Every `$` of every string value doubled (Compose's escape).
fn escape_dollars(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Array(a) => a.iter_mut().for_each(escape_dollars),
        Value::Object(o) => o.values_mut().for_each(escape_dollars),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compose(yaml: &str) -> Value {
        let pod = crate::kubelet::pod_of(yaml).unwrap();
        serde_yaml::from_str(&compose_of(&pod).unwrap()).unwrap()
    }

    #[test]
    fn a_pod_is_a_pause_service_and_containers_joining_it() {
        let c = compose(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: shop\nspec:\n  terminationGracePeriodSeconds: 5\n  containers:\n  - name: web\n    image: localhost/x:latest\n    command: [/bin/sh, -c]\n    args: [\"sleep 9; echo $?\"]\n    ports:\n    - containerPort: 80\n      hostPort: 8088\n      hostIP: 127.0.0.1\n",
        );
        let p = &c["services"]["pause"];
        assert_eq!(p["hostname"], "shop");
        assert_eq!(p["ipc"], "shareable");
        assert_eq!(p["ports"][0], "127.0.0.1:8088:80/tcp");
        let w = &c["services"]["web"];
        assert_eq!(w["network_mode"], "service:pause");
        assert_eq!(w["ipc"], "service:pause");
        assert_eq!(
            w["pid"],
            Value::Null,
            "own PID namespace, as a pod's container"
        );
        assert_eq!(w["entrypoint"], json!(["/bin/sh", "-c"]));
        assert_eq!(
            w["command"],
            json!(["sleep 9; echo $$?"]),
            "Compose's escape"
        );
        assert_eq!(w["stop_grace_period"], "5s");
    }

    #[test]
    fn host_and_shared_modes() {
        let c = compose(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: h\nspec:\n  hostNetwork: true\n  hostIPC: true\n  shareProcessNamespace: true\n  containers:\n  - name: a\n    securityContext:\n      privileged: true\n      capabilities:\n        add: [NET_ADMIN]\n",
        );
        let (p, a) = (&c["services"]["pause"], &c["services"]["a"]);
        assert_eq!(p["network_mode"], "host");
        assert_eq!(
            p["hostname"],
            Value::Null,
            "no hostname of its own on the node network"
        );
        assert_eq!(
            (&a["network_mode"], &a["ipc"]),
            (&json!("host"), &json!("host"))
        );
        assert_eq!(a["pid"], "service:pause");
        assert_eq!(
            (&a["privileged"], &a["cap_add"][0]),
            (&json!(true), &json!("NET_ADMIN"))
        );
    }

    #[test]
    fn volumes_and_refusals() {
        let c = compose(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: v\nspec:\n  containers:\n  - name: a\n    volumeMounts:\n    - name: logs\n      mountPath: /logs\n    - name: etc\n      mountPath: /host-etc\n      readOnly: true\n  volumes:\n  - name: logs\n    emptyDir: {}\n  - name: etc\n    hostPath:\n      path: /etc\n",
        );
        assert_eq!(
            c["services"]["a"]["volumes"],
            json!(["logs:/logs", "/etc:/host-etc:ro"])
        );
        assert!(c["volumes"]["logs"].is_object());
        let pod = crate::kubelet::pod_of(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: pause\n",
        )
        .unwrap();
        assert!(compose_of(&pod).is_err());
    }
}

/// A pod run as a Compose project ([`compose_of`]) on a harness dockerd;
/// taken down (`docker-compose down -v`) on drop.
pub struct ComposePod {
    /// The dockerd it runs on.
    pub docker: std::sync::Arc<Dockerd>,
    /// The project's name: the pod's.
    pub project: String,
    /// The compose file written for it.
    pub file: PathBuf,
    /// The Pod document it was made from.
    pub spec: Value,
    down: bool,
}

/// One container of a Compose project, as dockerd reports it.
#[derive(Clone, Debug)]
pub struct Service {
    /// Full id.
    pub id: String,
    /// Its service's name.
    pub service: String,
    /// Its PID 1 on the node (0 when it does not run).
    pub pid: u32,
    /// Whether it runs.
    pub running: bool,
}

impl ComposePod {
    /// `docker-compose up -d` of the pod of `yaml`.
    pub fn up(docker: std::sync::Arc<Dockerd>, yaml: &str) -> Result<ComposePod, String> {
        let spec = crate::kubelet::pod_of(yaml)?;
        let project = spec["metadata"]["name"]
            .as_str()
            .ok_or("no metadata.name")?
            .to_owned();
        let file = docker.dir().join("compose").join(format!("{project}.yaml"));
        std::fs::write(&file, compose_of(&spec)?).map_err(|e| e.to_string())?;
        let pod = ComposePod {
            docker,
            project,
            file,
            spec,
            down: false,
        };
        let out = pod
            .compose(&["up", "-d"])
            .map_err(|e| format!("docker-compose up: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "docker-compose up: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(pod)
    }

    /// Runs `docker-compose -p PROJECT -f FILE ARGS`.
    pub fn compose(&self, args: &[&str]) -> std::io::Result<Output> {
        self.docker
            .compose(&self.project, &self.file)
            .args(args)
            .output()
    }

    /// Its containers (the pause's service is `pause`).
    pub fn services(&self) -> Vec<Service> {
        let filter = format!("label=com.docker.compose.project={}", self.project);
        let ids = self
            .docker
            .docker_ok(&["ps", "-aq", "--no-trunc", "--filter", &filter]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["inspect"];
        args.extend(&ids);
        let all: Value = serde_json::from_str(&self.docker.docker_ok(&args)).expect("JSON");
        all.as_array()
            .into_iter()
            .flatten()
            .map(|c| Service {
                id: c["Id"].as_str().unwrap_or_default().to_owned(),
                service: c["Config"]["Labels"]["com.docker.compose.service"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                pid: c["State"]["Pid"].as_u64().unwrap_or(0) as u32,
                running: c["State"]["Running"].as_bool() == Some(true),
            })
            .collect()
    }

    /// Whether every container of the spec (and the pause) runs.
    pub fn running(&self) -> bool {
        let want = self.spec["spec"]["containers"]
            .as_array()
            .map_or(0, Vec::len)
            + 1;
        let s = self.services();
        s.len() == want && s.iter().all(|c| c.running && c.pid != 0)
    }

    /// The kubelet's stop as Docker does it: each container's preStop hook
    /// with `docker exec` (at once), then `docker-compose stop -t` with what
    /// is left of the grace period (containers first, the pause after them).
    pub fn stop(&self, grace_s: u32) -> Vec<(String, i64)> {
        let started = Instant::now();
        let services = self.services();
        let hooks: Vec<(String, Vec<String>)> = self.spec["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let cmd = c["lifecycle"]["preStop"]["exec"]["command"].as_array()?;
                let name = c["name"].as_str()?;
                let id = services.iter().find(|s| s.service == name)?.id.clone();
                Some((
                    id,
                    cmd.iter()
                        .filter_map(|a| a.as_str().map(str::to_owned))
                        .collect(),
                ))
            })
            .collect();
        std::thread::scope(|s| {
            for (id, cmd) in &hooks {
                s.spawn(move || {
                    let mut a = vec!["exec", id.as_str()];
                    a.extend(cmd.iter().map(String::as_str));
                    let _ = self.docker.docker_out(&a);
                });
            }
        });
        let left =
            (i64::from(grace_s) - started.elapsed().as_secs() as i64).max(crate::cri::MIN_GRACE_S);
        let out = self
            .compose(&["stop", "-t", &left.to_string()])
            .expect("docker-compose runs");
        crate::assert_ok(&out);
        services.into_iter().map(|s| (s.service, left)).collect()
    }

    /// `docker-compose down -v` (containers, network, volumes), once.
    pub fn down(&mut self) {
        if std::mem::replace(&mut self.down, true) {
            return;
        }
        match self.compose(&["down", "-v", "--remove-orphans", "-t", "0"]) {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "nstrace-tests: docker-compose down {}: {}",
                self.project,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => eprintln!("nstrace-tests: docker-compose down {}: {e}", self.project),
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

impl Drop for ComposePod {
    fn drop(&mut self) {
        self.down();
    }
}
