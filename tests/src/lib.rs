//! Harness for the integration tests: runs the real nstrace binary as root,
//! collects its JSON events, and cleans up every process it started.
#![warn(missing_docs)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use serde_json::Value;

/// How long to wait for an expected event before failing (generous: CI machines are slow).
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long nstrace may take to load and attach: the kernel verifies every
/// program first, which takes a minute or more in a software-emulated guest
/// (`cargo xtask vmtest`), longer with `--debug-probes`.
pub const ATTACH_TIMEOUT: Duration = Duration::from_secs(180);

/// The nstrace binary under test (set by `cargo xtask test`).
pub fn nstrace_bin() -> PathBuf {
    let p = std::env::var_os("NSTRACE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/release/nstrace"
            ))
        });
    assert!(
        p.exists(),
        "{} missing: run the tests with `cargo xtask test`",
        p.display()
    );
    p
}

/// What nstrace is told, through its environment, of the runtimes the
/// harness runs in this process: the variables and values each running
/// daemon set (`NSTRACE_CONTAINERD_ROOT`, `NSTRACE_DOCKER_ROOT`…), by claim.
static RUNTIME_ENV: std::sync::Mutex<Vec<(u64, &'static str, String)>> =
    std::sync::Mutex::new(Vec::new());

/// A harness daemon's entries in nstrace's environment, removed on drop.
pub struct EnvClaim(u64);

impl EnvClaim {
    /// Adds `vars` (name, value) to the environment of every nstrace started
    /// through [`nstrace`] or [`Tracer`] while this lives.
    pub fn set(vars: &[(&'static str, String)]) -> EnvClaim {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let token = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut env = RUNTIME_ENV.lock().unwrap_or_else(|e| e.into_inner());
        env.extend(vars.iter().map(|(k, v)| (token, *k, v.clone())));
        EnvClaim(token)
    }
}

impl Drop for EnvClaim {
    fn drop(&mut self) {
        let mut env = RUNTIME_ENV.lock().unwrap_or_else(|e| e.into_inner());
        env.retain(|(t, _, _)| *t != self.0);
    }
}

/// nstrace's environment for the runtimes the harness runs now: each
/// variable once, the values of several daemons joined with `:` (nstrace
/// splits them). Empty on a podman-only node (nstrace's defaults are podman's paths).
pub fn runtime_env() -> Vec<(String, String)> {
    let env = RUNTIME_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<(String, String)> = Vec::new();
    for (_, k, v) in env.iter() {
        match out.iter_mut().find(|(name, _)| name == k) {
            Some((_, all)) => {
                all.push(':');
                all.push_str(v);
            }
            None => out.push((k.to_string(), v.clone())),
        }
    }
    out
}

/// `nstrace` as the tests run it: the binary under test with [`runtime_env`],
/// so that it finds the bundles and names of the harness's runtimes, which
/// keep them in directories of their own (never the node's `/run/containerd`
/// or `/var/lib/docker`, which a machine's own runtimes may use). Use this,
/// not `Command::new(nstrace_bin())`, for every nstrace a test starts.
pub fn nstrace() -> Command {
    let mut c = Command::new(nstrace_bin());
    c.envs(runtime_env());
    c
}

/// Integration tests need root; they fail (never skip) without it.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "integration tests must run as root (cargo xtask test)"
    );
}

/// A running `nstrace watch --format json`.
pub struct Tracer {
    child: Child,
    events: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// What a stopped tracer left.
pub struct Finished {
    /// Every event it printed.
    pub events: Vec<Value>,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// Its exit code.
    pub code: Option<i32>,
}

impl Tracer {
    /// Starts `nstrace watch --format json EXTRA…` and waits until it is attached.
    pub fn start(extra: &[&str]) -> Tracer {
        Tracer::command(&["watch", "--format", "json"], extra)
    }

    /// Starts `nstrace audit --format json EXTRA…`; its lines are findings and, at the end, the summary.
    pub fn audit(extra: &[&str]) -> Tracer {
        Tracer::command(&["audit", "--format", "json"], extra)
    }

    /// Starts `nstrace shutdown --pod SELECTOR --format json` (two minutes at
    /// most); its lines are the timelines of the pod's containers.
    pub fn shutdown(selector: &str) -> Tracer {
        Tracer::command(
            &[
                "shutdown",
                "--pod",
                selector,
                "--format",
                "json",
                "--timeout",
                "120s",
            ],
            &[],
        )
    }

    /// Starts `nstrace ARGS… EXTRA…` (a JSON-lines command) and waits until it is attached.
    pub fn command(args: &[&str], extra: &[&str]) -> Tracer {
        require_root();
        let mut child = nstrace()
            .args(args)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nstrace starts");
        let events = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("stdout piped");
        let err = child.stderr.take().expect("stderr piped");
        let ev = events.clone();
        let r1 = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("nstrace printed invalid JSON ({e}): {line}"));
                ev.lock().unwrap().push(v);
            }
        });
        let se = stderr.clone();
        let r2 = std::thread::spawn(move || {
            let mut r = BufReader::new(err);
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                se.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let t = Tracer {
            child,
            events,
            stderr,
            readers: vec![r1, r2],
        };
        let start = Instant::now();
        while !t.stderr().contains("tracing") {
            if let Some(code) = t.exited() {
                panic!("nstrace exited ({code:?}) before attaching: {}", t.stderr());
            }
            assert!(
                start.elapsed() < ATTACH_TIMEOUT,
                "nstrace did not attach within {ATTACH_TIMEOUT:?}: {}",
                t.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        t
    }

    fn exited(&self) -> Option<Option<i32>> {
        // try_wait needs &mut; poll /proc instead to keep &self.
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        let state = stat
            .rsplit(')')
            .next()?
            .split_whitespace()
            .next()?
            .to_string();
        (state == "Z" || state == "X").then_some(None)
    }

    /// The tracer's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Events so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// Waits until an event satisfies `pred` and returns it.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            if let Some(v) = self.events.lock().unwrap().iter().find(|v| pred(v)) {
                return v.clone();
            }
            assert!(
                start.elapsed() < EVENT_TIMEOUT,
                "no {what} event within {EVENT_TIMEOUT:?}; stderr: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT (Ctrl-C) and waits for a clean exit.
    pub fn stop(self) -> Finished {
        self.stop_with(libc::SIGINT)
    }

    /// Waits for a tracer given a `--duration` to end by itself (SIGINT
    /// after the event timeout on top of it, and a failed assertion).
    pub fn wait_exit(mut self) -> Finished {
        let start = Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("nstrace waits") {
                break st;
            }
            if start.elapsed() > ATTACH_TIMEOUT {
                let f = self.stop();
                panic!("nstrace did not end by itself: {}", f.stderr);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Finished {
            events: self.events.lock().unwrap().clone(),
            stderr: self.stderr.lock().unwrap().clone(),
            code: status.code(),
        }
    }

    /// Sends `signal` and waits for the tracer to exit.
    pub fn stop_with(mut self, signal: i32) -> Finished {
        // SAFETY: signalling the tracer this test started.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let status = self.child.wait().expect("nstrace waits");
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Finished {
            events: self.events.lock().unwrap().clone(),
            stderr: self.stderr.lock().unwrap().clone(),
            code: status.code(),
        }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        // Only reached when a test failed before stop(): never leave the tracer attached.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process the test started, killed (with its process group) when dropped.
pub struct Proc(pub Child);

impl Proc {
    /// Spawns `cmd` in its own process group so cleanup reaches its children.
    pub fn spawn(cmd: &mut Command) -> Proc {
        use std::os::unix::process::CommandExt;
        Proc(cmd.process_group(0).spawn().expect("test process starts"))
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: killing the process group this test created.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// `/proc/PID/ns/NAME` inode.
pub fn ns_inode(pid: &str, name: &str) -> u64 {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/ns/{name}: {e}"));
    let s = link.to_string_lossy();
    s.split_once(":[")
        .and_then(|(_, r)| r.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("odd ns link {s}"))
}

/// Field accessors that fail with the event in the message.
pub fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("no integer {k} in {v}"))
}

/// String field.
pub fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no string {k} in {v}"))
}

/// A string-array field as a sorted Vec.
pub fn strings(v: &Value, k: &str) -> Vec<String> {
    let mut out: Vec<String> = v[k]
        .as_array()
        .unwrap_or_else(|| panic!("no array {k} in {v}"))
        .iter()
        .map(|x| x.as_str().expect("string").to_string())
        .collect();
    out.sort();
    out
}

/// Polls until `f` gives `Some`, or fails after the event timeout.
pub fn eventually<T>(what: &str, f: impl Fn() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < EVENT_TIMEOUT,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first child of process `pid` (from `/proc/PID/task/PID/children`),
/// once it exists: the process `unshare --fork` or a wrapper started.
pub fn first_child(pid: u32, what: &str) -> u32 {
    eventually(what, || {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// The node, as the tests share it: whole-node tests hold it alone, the others together.
static NODE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// For a test that reads the whole node (audits, pods, agents): no other test
/// runs beside it. A test that failed before releases it too.
pub fn serial() -> std::sync::RwLockWriteGuard<'static, ()> {
    NODE.write().unwrap_or_else(|e| e.into_inner())
}

/// For a test that looks only at what it starts: it runs beside other such
/// tests, never beside a whole-node one (whose audit would see its processes).
pub fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    NODE.read().unwrap_or_else(|e| e.into_inner())
}

/// The summary line of an audit's JSON output (findings carry a string `summary`, it an object).
pub fn audit_summary(events: &[Value]) -> Option<&Value> {
    events.iter().find(|v| v["summary"].is_object())
}

/// Asserts that an audit looked before its silence counts: its summary says
/// it saw every container of `ids` running and followed at least `shutdowns`
/// shutdowns to their end.
#[track_caller]
pub fn assert_watched(events: &[Value], ids: &[String], shutdowns: u64) {
    let summary = audit_summary(events).expect("the audit's summary line");
    let watched = &summary["summary"]["watched"];
    let seen = strings(watched, "containers");
    let missed: Vec<&String> = ids.iter().filter(|id| !seen.contains(id)).collect();
    assert!(
        missed.is_empty(),
        "the audit never saw containers {missed:?} running: {watched}"
    );
    assert!(
        u(watched, "shutdowns") >= shutdowns,
        "the audit followed fewer than {shutdowns} shutdowns: {watched}"
    );
}

/// Asserts that an audit judged PID-namespace init `pid` (read its signal
/// handling): a prediction it did not make was looked for.
#[track_caller]
pub fn assert_judged(events: &[Value], pid: u64) {
    let summary = audit_summary(events).expect("the audit's summary line");
    let inits = &summary["summary"]["watched"]["inits"];
    assert!(
        inits.as_array().is_some_and(|a| a.iter().any(|p| p == pid)),
        "the audit never judged init {pid}: {inits}"
    );
}

/// Asserts that an audit saw `pid` reap a child: a reaping finding it did not
/// make was looked for.
#[track_caller]
pub fn assert_seen_reaping(events: &[Value], pid: u64) {
    let summary = audit_summary(events).expect("the audit's summary line");
    let reapers = &summary["summary"]["watched"]["reapers"];
    assert!(
        reapers
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p == pid)),
        "the audit never saw {pid} reap a child: {reapers}"
    );
}

/// Findings (not the summary) above info in an audit's JSON output.
pub fn findings_above_info(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|v| v["finding"].is_string() && v["severity"] != "info")
        .collect()
}

/// A scratch directory of this test process, removed on drop (also when the test fails).
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/nstrace-<what>-<pid>`.
    pub fn new(what: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("nstrace-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&p).expect("scratch directory");
        TempDir(p)
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct NamedNetns(pub String);

impl NamedNetns {
    /// Adds it.
    pub fn add(name: &str) -> NamedNetns {
        let st = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .expect("ip runs");
        assert!(st.success(), "ip netns add {name}");
        NamedNetns(name.to_owned())
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A namespace file (`/proc/PID/ns/TYPE` of a process the test started) bind-mounted
/// on a file of the test's own, as `ip netns add` pins one: a path a runtime can
/// mount into a container (containerd refuses the /proc magic link itself, it
/// resolves symlinks). Unmounted and removed on drop.
pub struct NsPin(PathBuf);

impl NsPin {
    /// Pins `/proc/PID/ns/TYPE` at `$TMPDIR/nstrace-pin-<pid>-<TYPE>-<PID>`.
    pub fn new(pid: u32, ty: &str) -> NsPin {
        let p = std::env::temp_dir().join(format!("nstrace-pin-{}-{ty}-{pid}", std::process::id()));
        std::fs::write(&p, "").expect("pin file");
        let st = Command::new("mount")
            .arg("--bind")
            .arg(format!("/proc/{pid}/ns/{ty}"))
            .arg(&p)
            .status()
            .expect("mount runs");
        assert!(st.success(), "mount --bind /proc/{pid}/ns/{ty}");
        NsPin(p)
    }

    /// The pinned file.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for NsPin {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Waits until process `pid` (a container init the test started) has a
/// handler for SIGTERM (SigCgt in /proc/PID/status): it is ready to be stopped.
pub fn wait_sigterm_handler(pid: u32) {
    eventually(&format!("a SIGTERM handler in {pid}"), || {
        let st = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let cgt = st.lines().find_map(|l| l.strip_prefix("SigCgt:"))?.trim();
        let mask = u64::from_str_radix(cgt, 16).ok()?;
        (mask & (1 << (libc::SIGTERM - 1)) != 0).then_some(())
    })
}

/// Waits until process `pid` (a container init the test started) has a child:
/// it has run its program that far (a shell set its traps, tini blocked its
/// signals), so a stop now tests the program, not a start-up race.
pub fn wait_has_child(pid: u32) {
    eventually(&format!("a child of {pid}"), || {
        let kids = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        (!kids.trim().is_empty()).then_some(())
    })
}

/// Panics, with its exit status and stderr, unless a finished process exited 0.
#[track_caller]
pub fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Runs `cmd` to its end and returns its stdout; panics naming it, with its
/// stderr, unless it exits 0.
#[track_caller]
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `nstrace topology --format json`: a /proc snapshot of the node, its pods'
/// networks included.
pub fn topology_json() -> Value {
    let out = nstrace()
        .args(["topology", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("topology JSON")
}

/// The pod called `name` in a topology JSON document.
pub fn find_pod<'a>(t: &'a Value, name: &str) -> &'a Value {
    t["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no pod {name} in {t}"))
}

pub mod agent;
pub mod bpf;
pub mod browser;
pub mod cri;
pub mod daemon;
pub mod docker;
pub mod footprint;
pub mod http;
pub mod kubelet;
pub mod pod;

pub mod prometheus;
pub mod ws;
