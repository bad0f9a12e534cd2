//! `cargo xtask soak --minutes N`: the node agent under churning pods.
//!
//! Starts `nstrace agent --listen 127.0.0.1:<port>` (holding the node lock, as
//! everything that loads eBPF here does), then for N minutes keeps creating
//! real pods with `podman kube play` (the local test image), lets them run a
//! few seconds and stops them with a short grace period, the way the kubelet
//! does: a mix of good inits (`tini -g`, `dumb-init`, with a process churning
//! under them) and broken ones (a shell PID 1 with no trap, one that never
//! reaps); every fourth pod is torn down with SIGKILL instead (`podman kube
//! down`, as a forced drain or an eviction does). It samples the agent's RSS (VmRSS of the process it started) and
//! scrapes `/metrics` at the start, every minute and at the end, then prints a
//! table, the RSS growth after the first minute and the total drops, ends
//! with the agent's model against the runtime (pods, containers, processes it
//! lists that /proc no longer has: ghosts; its corrections from /proc), and
//! writes target/soak/soak.md and soak.json.
//!
//! The agent and every pod are removed on exit, on Ctrl-C (SIGINT, SIGTERM,
//! SIGHUP) and on error; pods left by a killed run are removed at the next
//! start. Children run in their own process groups, so Ctrl-C reaches only
//! this driver, which then stops them in order.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{nstrace_bin, root, setup};

/// Pods of the soak are named `nst-soak-<worker>-<n>`.
const PREFIX: &str = "nst-soak-";

/// Set by SIGINT, SIGTERM or SIGHUP: finish the current step, clean up, report.
static STOP: AtomicBool = AtomicBool::new(false);

/// The machine's convention: whatever loads eBPF or runs pods under an agent holds it.
const NODE_LOCK: &str = "/tmp/nstrace-node.lock";

/// Options of `cargo xtask soak`.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// How long pods churn.
    pub minutes: u32,
    /// Pods in flight at once (one worker each).
    pub parallel: usize,
    /// How long each pod runs before it is stopped.
    pub pod_seconds: u64,
    /// The grace period of each stop (`podman pod stop -t`), as terminationGracePeriodSeconds.
    pub grace: u32,
    /// The nstrace binary (default: the one `cargo xtask build` makes).
    pub nstrace: Option<PathBuf>,
    /// The lock every eBPF-loading session of this node takes.
    pub node_lock: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            minutes: 30,
            parallel: 2,
            pod_seconds: 4,
            grace: 2,
            nstrace: None,
            node_lock: PathBuf::from(NODE_LOCK),
        }
    }
}

impl Options {
    /// Parses `--minutes N --parallel P --pod-seconds S --grace G --nstrace PATH --node-lock PATH`.
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options::default();
        let mut it = args.iter();
        fn num<T: std::str::FromStr + PartialOrd + Default>(
            v: Option<&String>,
            flag: &str,
        ) -> Result<T> {
            v.and_then(|n| n.parse::<T>().ok())
                .filter(|n| *n > T::default())
                .with_context(|| format!("{flag} needs a positive number"))
        }
        while let Some(a) = it.next() {
            match a.as_str() {
                "--minutes" => o.minutes = num(it.next(), a)?,
                "--parallel" => o.parallel = num(it.next(), a)?,
                "--pod-seconds" => o.pod_seconds = num(it.next(), a)?,
                "--grace" => o.grace = num(it.next(), a)?,
                "--nstrace" => {
                    o.nstrace = Some(it.next().context("--nstrace needs a path")?.into())
                }
                "--node-lock" => o.node_lock = it.next().context("--node-lock needs a path")?.into(),
                "--" => {}
                other => bail!(
                    "unknown soak option '{other}' (known: --minutes N, --parallel P, --pod-seconds S, --grace G, --nstrace PATH, --node-lock PATH)"
                ),
            }
        }
        Ok(o)
    }
}

/// A pod of the churn: name and its containers (name, argv).
struct PodKind {
    label: &'static str,
    broken: bool,
    containers: &'static [(&'static str, &'static [&'static str])],
}

/// tini -g signals the whole process group; the shell's children end with it.
const TINI: (&str, &[&str]) = (
    "tini",
    &["tini", "-g", "--", "sh", "-c", "sleep 1000 & wait"],
);
/// dumb-init over a shell that starts a process every 0.2 s (exec/exit/reap churn).
const DUMB_INIT: (&str, &[&str]) = (
    "dumbinit",
    &["dumb-init", "sh", "-c", "while :; do sleep 0.2; done"],
);
/// A shell PID 1 with no trap: the kernel drops SIGTERM, SIGKILL ends it.
const NOTRAP: (&str, &[&str]) = ("notrap", &["sh", "-c", "sleep 1000; echo done"]);
/// An orphan left to a PID 1 that never waits: a zombie until the end.
const NOREAP: (&str, &[&str]) = ("noreap", &["sh", "-c", "(sleep 1 &); exec sleep 1000"]);

const KINDS: [PodKind; 3] = [
    PodKind {
        label: "good",
        broken: false,
        containers: &[TINI, DUMB_INIT],
    },
    PodKind {
        label: "broken",
        broken: true,
        containers: &[NOTRAP, NOREAP],
    },
    PodKind {
        label: "mixed",
        broken: true,
        containers: &[DUMB_INIT, NOTRAP],
    },
];

/// Kubernetes Pod YAML for `podman kube play`.
fn pod_yaml(name: &str, kind: &PodKind, grace: u32) -> String {
    let mut y = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: nstrace-soak\n    kind: {}\nspec:\n  terminationGracePeriodSeconds: {grace}\n  containers:\n",
        kind.label
    );
    for (c, argv) in kind.containers {
        let quoted: Vec<String> = argv
            .iter()
            .map(|a| format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let _ = write!(
            y,
            "  - name: {c}\n    image: {}\n    imagePullPolicy: Never\n    command: [{}]\n",
            setup::TEST_IMAGE,
            quoted.join(", ")
        );
    }
    y
}

/// Runs a command in its own process group (Ctrl-C stays with the driver),
/// killing it after `timeout`.
fn run_for(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    // Drain the pipes while waiting, so a chatty command cannot block on them.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{cmd:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: o.join().unwrap_or_default(),
        stderr: e.join().unwrap_or_default(),
    })
}

fn podman(args: &[&str], timeout: Duration) -> Result<String> {
    let out = run_for(Command::new("podman").args(args), timeout)?;
    if !out.status.success() {
        bail!(
            "podman {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Removes every pod of the soak (this run's and any a killed run left).
fn remove_soak_pods() -> Result<usize> {
    let names = podman(
        &[
            "pod",
            "ps",
            "--filter",
            &format!("name=^{PREFIX}"),
            "--format",
            "{{.Name}}",
        ],
        Duration::from_secs(60),
    )?;
    let mut n = 0;
    for name in names.lines().filter(|n| n.starts_with(PREFIX)) {
        let _ = podman(
            &["pod", "rm", "-f", "-t", "0", name],
            Duration::from_secs(120),
        );
        n += 1;
    }
    Ok(n)
}

/// What the workers did.
#[derive(Default)]
struct Churn {
    started: AtomicU64,
    stopped: AtomicU64,
    /// Of those stopped, how many with SIGKILL (no grace period).
    killed: AtomicU64,
    broken: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<String>,
}

/// How a pod of the soak ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// `podman pod stop -t GRACE`: SIGTERM, SIGKILL at the end of the grace.
    Stop,
    /// `podman kube down`: SIGKILL to every container at once.
    Kill,
}

/// Every fourth pod of a worker is SIGKILLed.
fn end_of(n: u64) -> End {
    if n % 4 == 3 {
        End::Kill
    } else {
        End::Stop
    }
}

/// One pod's life: play, run, stop with the grace period (or SIGKILL), remove.
fn cycle(
    dir: &Path,
    name: &str,
    kind: &PodKind,
    end: End,
    opts: &Options,
    churn: &Churn,
) -> Result<()> {
    let yaml = dir.join(format!("{name}.yaml"));
    std::fs::write(&yaml, pod_yaml(name, kind, opts.grace))?;
    let y = yaml.to_string_lossy().into_owned();
    let result = (|| -> Result<()> {
        podman(&["kube", "play", &y], Duration::from_secs(120))?;
        churn.started.fetch_add(1, Ordering::Relaxed);
        if kind.broken {
            churn.broken.fetch_add(1, Ordering::Relaxed);
        }
        let until = Instant::now() + Duration::from_secs(opts.pod_seconds);
        while Instant::now() < until && !STOP.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
        match end {
            End::Stop => podman(
                &["pod", "stop", "-t", &opts.grace.to_string(), name],
                Duration::from_secs(u64::from(opts.grace) + 60),
            )?,
            End::Kill => {
                churn.killed.fetch_add(1, Ordering::Relaxed);
                podman(&["kube", "down", &y], Duration::from_secs(120))?
            }
        };
        churn.stopped.fetch_add(1, Ordering::Relaxed);
        Ok(())
    })();
    let _ = podman(
        &["pod", "rm", "-f", "-t", "0", name],
        Duration::from_secs(120),
    );
    let _ = std::fs::remove_file(&yaml);
    result
}

/// The agent this soak started: stopped (SIGTERM) and reaped on drop.
struct Agent {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    addr: String,
}

impl Agent {
    fn start(bin: &Path, addr: &str, dir: &Path) -> Result<Agent> {
        let findings = std::fs::File::create(dir.join("findings.jsonl"))?;
        let mut cmd = Command::new(bin);
        cmd.args(["agent", "--listen", addr, "--zombie-after", "2s"])
            .arg("--lock-file")
            .arg(dir.join("agent.lock"))
            // Size-based rotation under churn, checked in the report.
            .arg("--output")
            .arg(dir.join("rotated").join("findings.jsonl"))
            .args(["--output-max-size", "256K", "--output-keep", "2"])
            .stdin(Stdio::null())
            .stdout(findings)
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: prctl is async-signal-safe. Should this driver be killed, the
        // agent gets SIGTERM and detaches instead of tracing on, unattended.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        std::fs::create_dir_all(dir.join("rotated"))?;
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().expect("piped");
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        Ok(Agent {
            child,
            stderr,
            reader: Some(reader),
            addr: addr.to_owned(),
        })
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if it exited.
    fn check_alive(&mut self) -> Result<()> {
        if let Some(st) = self.child.try_wait()? {
            bail!("the agent exited ({st}): {}", self.stderr().trim());
        }
        Ok(())
    }

    /// Waits for its "tracing" line, then for /healthz to say 200.
    fn wait_healthy(&mut self) -> Result<Duration> {
        let start = Instant::now();
        loop {
            self.check_alive()?;
            if STOP.load(Ordering::Relaxed) {
                bail!("interrupted while the agent started");
            }
            if self.stderr().contains("tracing") {
                if let Ok((200, _)) = http_get(&self.addr, "/healthz") {
                    return Ok(start.elapsed());
                }
            }
            if start.elapsed() > Duration::from_secs(120) {
                let h = http_get(&self.addr, "/healthz")
                    .map(|(c, b)| format!("{c} {}", b.trim()))
                    .unwrap_or_else(|e| e);
                bail!(
                    "the agent was not healthy within 120 s (/healthz: {h}): {}",
                    self.stderr().trim()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM; how long it took to exit, and its exit code.
    fn stop(&mut self) -> Result<(Duration, Option<i32>)> {
        let start = Instant::now();
        // SAFETY: signalling the agent this soak started (and has not reaped).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        loop {
            if let Some(st) = self.child.try_wait()? {
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return Ok((start.elapsed(), st.code()));
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("the agent did not exit within 10 s of SIGTERM (killed)");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.stop();
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// `flock` on the node lock, held until drop (the fd is close-on-exec: children
/// do not inherit it). Waits for it, interruptibly.
struct NodeLock {
    _held: std::fs::File,
}

impl NodeLock {
    fn acquire(path: &Path) -> Result<NodeLock> {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the node lock {}", path.display()))?;
        let mut said = false;
        // SAFETY: flock on a file descriptor we own.
        while unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            if !said {
                eprintln!(
                    "soak: waiting for the node lock {} (another session is tracing)",
                    path.display()
                );
                said = true;
            }
            if STOP.load(Ordering::Relaxed) {
                bail!("interrupted while waiting for the node lock");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Ok(NodeLock { _held: f })
    }
}

/// `GET path` from `addr` (as Prometheus asks for /metrics): (status, body).
fn http_get(addr: &str, path: &str) -> Result<(u16, String), String> {
    const ACCEPT: &str =
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    crate::http::get(addr, path, &[("Accept", ACCEPT)], Duration::from_secs(10))
        .map(|r| (r.status, r.body))
}

/// What one scrape of /metrics says (OpenMetrics or the 0.0.4 text format).
#[derive(Debug, Default, Clone, PartialEq)]
struct Scrape {
    /// Sample lines (series, histogram buckets included).
    series: usize,
    /// Series of `nstrace_findings_total` and `nstrace_zombies` (per-pod labels).
    pod_series: usize,
    events: f64,
    dropped: f64,
    findings: f64,
    pods: Option<f64>,
    containers: Option<f64>,
    self_rss: Option<f64>,
}

fn parse_scrape(text: &str) -> Scrape {
    let mut s = Scrape::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        // The value follows the label set (whose values may hold spaces).
        let after = match line[name_end..].starts_with('{') {
            true => line.rfind('}').map_or("", |i| &line[i + 1..]),
            false => &line[name_end..],
        };
        let Some(value) = after
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        s.series += 1;
        match name {
            "nstrace_events_total" => s.events += value,
            "nstrace_events_dropped_total" => s.dropped += value,
            "nstrace_findings_total" => {
                s.findings += value;
                s.pod_series += 1;
            }
            "nstrace_zombies" => s.pod_series += 1,
            "nstrace_pods" => s.pods = Some(value),
            "nstrace_containers" => s.containers = Some(value),
            "nstrace_resident_memory_bytes" => s.self_rss = Some(value),
            _ => {}
        }
    }
    s
}

/// The agent's model against the node at the end of a soak.
#[derive(Debug, Default, PartialEq)]
struct Truth {
    /// (pods, containers) the agent's gauges say.
    model: (f64, f64),
    /// (pods, containers) podman runs.
    runtime: (f64, f64),
    /// Processes the agent's /topology lists that /proc does not have: "pid (comm)".
    ghosts: Vec<String>,
    /// The agent's corrections from /proc, in total.
    corrections: f64,
    /// …by reason, as `reason=N` (non-zero ones).
    reasons: Vec<String>,
}

impl Truth {
    /// Whether the model equals the node.
    fn holds(&self) -> bool {
        self.model == self.runtime && self.ghosts.is_empty()
    }
}

impl std::fmt::Display for Truth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Model vs runtime at the end: pods {} (podman runs {}), containers {} (podman runs {}), ghosts {} (processes listed that /proc does not have{}); corrections from /proc during the run: {}{}.",
            self.model.0,
            self.runtime.0,
            self.model.1,
            self.runtime.1,
            self.ghosts.len(),
            if self.ghosts.is_empty() {
                String::new()
            } else {
                format!(": {}", self.ghosts.join(", "))
            },
            self.corrections,
            if self.reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.reasons.join(" "))
            }
        )
    }
}

/// Reads the agent's gauges, corrections and /topology, and what podman runs
/// and /proc has; retried for a few seconds while they differ (the last
/// pods' events may still be on their way).
fn compare_with_runtime(addr: &str) -> Result<Truth> {
    let count = |args: &[&str]| -> Result<f64> {
        Ok(podman(args, Duration::from_secs(60))?
            .lines()
            .filter(|l| !l.is_empty())
            .count() as f64)
    };
    let mut last = Truth::default();
    for _ in 0..30 {
        let metrics = http_get(addr, "/metrics").map_err(anyhow::Error::msg)?.1;
        let s = parse_scrape(&metrics);
        let topology = http_get(addr, "/topology").map_err(anyhow::Error::msg)?.1;
        let t: serde_json::Value =
            serde_json::from_str(&topology).context("the agent's /topology is not JSON")?;
        let ghosts = t["pods"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["containers"].as_array().cloned().unwrap_or_default())
            .chain(t["lone"].as_array().cloned().unwrap_or_default())
            .flat_map(|c| c["processes"].as_array().cloned().unwrap_or_default())
            .filter(|p| {
                let pid = p["pid"].as_u64().unwrap_or(0);
                !Path::new(&format!("/proc/{pid}")).exists()
            })
            .map(|p| format!("{} ({})", p["pid"], p["comm"].as_str().unwrap_or("?")))
            .collect();
        let mut reasons = Vec::new();
        let mut corrections = 0.0;
        for line in metrics.lines() {
            if let Some(rest) = line.strip_prefix("nstrace_model_corrections_total{reason=\"") {
                if let Some((reason, n)) = rest.split_once("\"} ") {
                    let n: f64 = n.trim().parse().unwrap_or(0.0);
                    corrections += n;
                    if n > 0.0 {
                        reasons.push(format!("{reason}={n}"));
                    }
                }
            }
        }
        last = Truth {
            model: (s.pods.unwrap_or(-1.0), s.containers.unwrap_or(-1.0)),
            runtime: (
                count(&["pod", "ps", "-q", "--filter", "status=running"])?,
                count(&["ps", "-q"])?,
            ),
            ghosts,
            corrections,
            reasons,
        };
        if last.holds() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(last)
}

/// VmRSS of /proc/PID/status, in KiB.
fn vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// One row of the report.
#[derive(Debug, Clone)]
struct Sample {
    label: String,
    minutes: f64,
    rss_kib: u64,
    scrape: Option<Scrape>,
    pods_run: u64,
}

fn take_sample(agent: &Agent, label: &str, t0: Instant, churn: &Churn) -> Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", agent.pid()))
        .context("reading the agent's /proc status")?;
    let rss_kib = vm_rss_kib(&status).context("no VmRSS in the agent's status")?;
    let scrape = match http_get(&agent.addr, "/metrics") {
        Ok((200, body)) => Some(parse_scrape(&body)),
        Ok((code, body)) => {
            eprintln!("soak: /metrics answered {code}: {}", body.trim());
            None
        }
        Err(e) => {
            eprintln!("soak: /metrics: {e}");
            None
        }
    };
    Ok(Sample {
        label: label.to_owned(),
        minutes: t0.elapsed().as_secs_f64() / 60.0,
        rss_kib,
        scrape,
        pods_run: churn.started.load(Ordering::Relaxed),
    })
}

/// RSS growth from the sample at one minute to the last, in percent.
fn growth_after_first_minute(samples: &[Sample]) -> Option<f64> {
    let first = samples
        .iter()
        .find(|s| s.minutes >= 0.99 && s.label != "start")?;
    let last = samples.last()?;
    (last.minutes > first.minutes && first.rss_kib > 0)
        .then(|| (last.rss_kib as f64 - first.rss_kib as f64) / first.rss_kib as f64 * 100.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn table(samples: &[Sample]) -> String {
    let mut t = String::from(
        "| at | agent RSS | events | dropped | series | pod series | pods (gauge) | containers (gauge) | findings | pods run |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    let opt = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.0}"));
    for s in samples {
        let sc = s.scrape.clone();
        let _ = writeln!(
            t,
            "| {} ({:.1} min) | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.label,
            s.minutes,
            mib(s.rss_kib),
            opt(sc.as_ref().map(|x| x.events)),
            opt(sc.as_ref().map(|x| x.dropped)),
            sc.as_ref().map_or("–".into(), |x| x.series.to_string()),
            sc.as_ref().map_or("–".into(), |x| x.pod_series.to_string()),
            opt(sc.as_ref().and_then(|x| x.pods)),
            opt(sc.as_ref().and_then(|x| x.containers)),
            opt(sc.as_ref().map(|x| x.findings)),
            s.pods_run
        );
    }
    t
}

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// Sleeps until `until` or a stop, in small steps; false if stopped.
fn sleep_until(until: Instant) -> bool {
    while Instant::now() < until {
        if STOP.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    !STOP.load(Ordering::Relaxed)
}

/// Removes the soak's pods when dropped (also on error and panic).
struct PodSweeper;

impl Drop for PodSweeper {
    fn drop(&mut self) {
        match remove_soak_pods() {
            Ok(0) => {}
            Ok(n) => eprintln!("soak: removed {n} pod(s)"),
            Err(e) => eprintln!("soak: warning: removing the soak's pods: {e:#}"),
        }
    }
}

/// Runs the soak and prints the report.
pub fn soak(opts: &Options) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the soak loads eBPF programs and runs pods: run it as root");
    }
    catch_signals();
    let bin = opts.nstrace.clone().unwrap_or_else(nstrace_bin);
    let help = Command::new(&bin)
        .args(["agent", "--help"])
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    if !help.status.success() {
        bail!(
            "{} has no `agent` command: {}",
            bin.display(),
            String::from_utf8_lossy(&help.stderr).trim()
        );
    }
    podman(
        &["image", "exists", setup::TEST_IMAGE],
        Duration::from_secs(30),
    )
    .context("the test image is missing (cargo xtask setup)")?;
    let dir = root().join("target/soak");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;

    let _lock = NodeLock::acquire(&opts.node_lock)?;
    let _sweeper = PodSweeper;
    let left = remove_soak_pods()?;
    if left > 0 {
        eprintln!("soak: removed {left} pod(s) an earlier run left");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut agent = Agent::start(&bin, &addr, &dir)?;
    let ready = agent.wait_healthy()?;
    eprintln!(
        "soak: agent {} healthy on {addr} after {:.1} s; churning pods for {} min ({} at a time, {} s each, grace {} s); Ctrl-C stops early",
        agent.pid(),
        ready.as_secs_f64(),
        opts.minutes,
        opts.parallel,
        opts.pod_seconds,
        opts.grace
    );

    let churn = Arc::new(Churn::default());
    let t0 = Instant::now();
    let mut samples = vec![take_sample(&agent, "start", t0, &churn)?];
    let deadline = t0 + Duration::from_secs(u64::from(opts.minutes) * 60);
    let workers_stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..opts.parallel)
        .map(|w| {
            let (churn, stop, dir, opts) = (
                churn.clone(),
                workers_stop.clone(),
                dir.clone(),
                opts.clone(),
            );
            std::thread::spawn(move || {
                let mut consecutive = 0;
                for n in 0u64.. {
                    if stop.load(Ordering::Relaxed) || STOP.load(Ordering::Relaxed) {
                        break;
                    }
                    let kind = &KINDS[(w + n as usize) % KINDS.len()];
                    let name = format!("{PREFIX}{w}-{n}");
                    match cycle(&dir, &name, kind, end_of(n), &opts, &churn) {
                        Ok(()) => consecutive = 0,
                        Err(e) => {
                            churn.failures.fetch_add(1, Ordering::Relaxed);
                            *churn.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
                                format!("{e:#}");
                            consecutive += 1;
                            if consecutive >= 5 {
                                eprintln!(
                                    "soak: worker {w} stops after 5 failures in a row: {e:#}"
                                );
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect();

    let mut minute = 1;
    let mut interrupted = false;
    let mut failure = None;
    loop {
        let next = (t0 + Duration::from_secs(60 * minute)).min(deadline);
        if !sleep_until(next) {
            interrupted = true;
            break;
        }
        if let Err(e) = agent.check_alive() {
            failure = Some(e);
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
        let s = take_sample(&agent, &format!("{minute} min"), t0, &churn)?;
        eprintln!(
            "soak: {minute} min: RSS {}, {} pods run, {} dropped",
            mib(s.rss_kib),
            s.pods_run,
            s.scrape
                .as_ref()
                .map_or("?".into(), |x| format!("{:.0}", x.dropped))
        );
        samples.push(s);
        minute += 1;
    }
    workers_stop.store(true, Ordering::Relaxed);
    eprintln!("soak: letting the pods in flight finish");
    for w in workers {
        let _ = w.join();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    // The last stops' events (SIGKILL after the grace period, reaping) arrive now.
    std::thread::sleep(Duration::from_secs(3));
    agent.check_alive()?;
    samples.push(take_sample(&agent, "end", t0, &churn)?);
    let truth = compare_with_runtime(&agent.addr)?;
    let (took, code) = agent.stop()?;
    let stderr = agent.stderr();
    drop(agent);

    let churn = &*churn;
    let growth = growth_after_first_minute(&samples);
    let drops = samples
        .last()
        .and_then(|s| s.scrape.as_ref())
        .map(|s| s.dropped);
    let findings_lines = std::fs::read_to_string(dir.join("findings.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let rotated: Vec<(String, u64)> = std::fs::read_dir(dir.join("rotated"))
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                    (e.file_name().to_string_lossy().into_owned(), len)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut md = table(&samples);
    let _ = writeln!(
        md,
        "\nRSS after the first minute → end: {} (goal under 5 %); drops: {} in total (goal 0).",
        growth.map_or(
            "n/a (under 2 samples past the first minute)".into(),
            |g| format!("{g:+.1} %")
        ),
        drops.map_or("unknown (no /metrics)".into(), |d| format!("{d:.0}"))
    );
    let _ = writeln!(
        md,
        "Pods: {} run ({} with a broken PID 1), {} stopped ({} of them with SIGKILL), {} failed{}; grace {} s, {} s each, {} at a time.",
        churn.started.load(Ordering::Relaxed),
        churn.broken.load(Ordering::Relaxed),
        churn.stopped.load(Ordering::Relaxed),
        churn.killed.load(Ordering::Relaxed),
        churn.failures.load(Ordering::Relaxed),
        match churn.last_error.lock().map(|e| e.clone()).unwrap_or_default() {
            e if e.is_empty() => String::new(),
            e => format!(" (last: {e})"),
        },
        opts.grace,
        opts.pod_seconds,
        opts.parallel
    );
    let _ = writeln!(md, "{truth}");
    let _ = writeln!(
        md,
        "Findings: {findings_lines} JSON lines on stdout; --output rotation (256K, keep 2): {}.",
        if rotated.is_empty() {
            "no file".to_owned()
        } else {
            rotated
                .iter()
                .map(|(n, l)| format!("{n} {:.0} KiB", *l as f64 / 1024.0))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let _ = writeln!(
        md,
        "Agent stop: SIGTERM → exit {} in {:.2} s{}.",
        code.map_or("by signal".into(), |c| c.to_string()),
        took.as_secs_f64(),
        stderr
            .lines()
            .rev()
            .find(|l| l.contains("events received"))
            .map(|l| format!("; its counters: {}", l.trim()))
            .unwrap_or_default()
    );
    if interrupted {
        md.push_str("Interrupted before the end: the figures cover what ran.\n");
    }
    let json = format!(
        "{{\"minutes\":{:.2},\"interrupted\":{interrupted},\"rss_growth_after_first_minute_pct\":{},\"drops\":{},\"pods_run\":{},\"pods_killed\":{},\"pod_failures\":{},\"ghosts\":{},\"model\":{{\"pods\":{},\"containers\":{}}},\"runtime\":{{\"pods\":{},\"containers\":{}}},\"corrections\":{},\"samples\":[{}]}}\n",
        t0.elapsed().as_secs_f64() / 60.0,
        growth.map_or("null".into(), |g| format!("{g:.2}")),
        drops.map_or("null".into(), |d| format!("{d:.0}")),
        churn.started.load(Ordering::Relaxed),
        churn.killed.load(Ordering::Relaxed),
        churn.failures.load(Ordering::Relaxed),
        truth.ghosts.len(),
        truth.model.0,
        truth.model.1,
        truth.runtime.0,
        truth.runtime.1,
        truth.corrections,
        samples
            .iter()
            .map(|s| format!(
                "{{\"at\":\"{}\",\"minutes\":{:.2},\"rss_kib\":{},\"series\":{},\"dropped\":{},\"pods_run\":{}}}",
                s.label,
                s.minutes,
                s.rss_kib,
                s.scrape.as_ref().map_or("null".into(), |x| x.series.to_string()),
                s.scrape.as_ref().map_or("null".into(), |x| format!("{:.0}", x.dropped)),
                s.pods_run
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    std::fs::write(dir.join("soak.md"), &md)?;
    std::fs::write(dir.join("soak.json"), json)?;
    println!("{md}");
    eprintln!("soak: wrote {}", dir.join("soak.md").display());
    if code != Some(0) {
        bail!(
            "the agent exited with {code:?} on SIGTERM: {}",
            stderr.trim()
        );
    }
    if !truth.holds() {
        bail!("the agent's model drifted from the node: {truth}");
    }
    if interrupted {
        bail!(
            "interrupted after {:.1} of {} min",
            t0.elapsed().as_secs_f64() / 60.0,
            opts.minutes
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        assert_eq!(Options::parse(&[]).unwrap(), Options::default());
        let o = Options::parse(
            &["--minutes", "3", "--parallel", "1", "--nstrace", "/x"].map(String::from),
        )
        .unwrap();
        assert_eq!((o.minutes, o.parallel), (3, 1));
        assert_eq!(o.nstrace, Some(PathBuf::from("/x")));
        assert!(Options::parse(&["--minutes", "0"].map(String::from)).is_err());
        assert!(Options::parse(&["--minutes"].map(String::from)).is_err());
        assert!(Options::parse(&["--bogus"].map(String::from)).is_err());
    }

    #[test]
    fn pods_are_valid_kubernetes_yaml_with_the_inits_wanted() {
        for kind in &KINDS {
            let y = pod_yaml("nst-soak-0-7", kind, 2);
            let docs = crate::deploy::parse_documents(&y).unwrap();
            assert_eq!(docs.len(), 1);
            let pod = &docs[0];
            assert_eq!(pod.get("kind").str(), Some("Pod"));
            assert_eq!(pod.at("metadata.name").str(), Some("nst-soak-0-7"));
            assert_eq!(
                pod.at("spec.terminationGracePeriodSeconds").str(),
                Some("2")
            );
            let cs = pod.at("spec.containers").items();
            assert_eq!(cs.len(), kind.containers.len());
            for (c, (name, argv)) in cs.iter().zip(kind.containers) {
                assert_eq!(c.get("name").str(), Some(*name));
                assert_eq!(c.get("image").str(), Some(setup::TEST_IMAGE));
                let got: Vec<_> = c
                    .get("command")
                    .items()
                    .iter()
                    .map(|a| a.str().unwrap())
                    .collect();
                assert_eq!(&got, argv);
            }
        }
        // Both kinds of PID 1 are in the mix.
        assert!(KINDS.iter().any(|k| !k.broken) && KINDS.iter().any(|k| k.broken));
        let all: Vec<_> = KINDS
            .iter()
            .flat_map(|k| k.containers.iter().map(|c| c.0))
            .collect();
        for want in ["tini", "dumbinit", "notrap", "noreap"] {
            assert!(all.contains(&want), "{want}");
        }
    }

    #[test]
    fn scrapes_are_summed() {
        let om = "# HELP nstrace_events Events.\n# TYPE nstrace_events counter\n\
                  nstrace_events_total{kind=\"exec\"} 10\nnstrace_events_total{kind=\"exit\"} 5\n\
                  # TYPE nstrace_events_dropped counter\nnstrace_events_dropped_total{kind=\"exec\"} 2\n\
                  nstrace_findings_total{finding=\"slow_shutdown\",severity=\"medium\",namespace=\"\",pod=\"a b\",container=\"x\"} 3\n\
                  nstrace_zombies{namespace=\"\",pod=\"p\",container=\"c\"} 1\n\
                  nstrace_pods 4\nnstrace_containers 9\nnstrace_resident_memory_bytes 2.5e7\n# EOF\n";
        let s = parse_scrape(om);
        assert_eq!(s.series, 8);
        assert_eq!(s.pod_series, 2);
        assert_eq!((s.events, s.dropped, s.findings), (15.0, 2.0, 3.0));
        assert_eq!(
            (s.pods, s.containers, s.self_rss),
            (Some(4.0), Some(9.0), Some(2.5e7))
        );
    }

    #[test]
    fn rss_and_growth() {
        assert_eq!(
            vm_rss_kib("Name:\tnstrace\nVmRSS:\t   24576 kB\n"),
            Some(24576)
        );
        assert_eq!(vm_rss_kib("Name:\tx\n"), None);
        let s = |label: &str, minutes: f64, rss_kib: u64| Sample {
            label: label.into(),
            minutes,
            rss_kib,
            scrape: None,
            pods_run: 0,
        };
        let v = vec![
            s("start", 0.0, 10_000),
            s("1 min", 1.0, 20_000),
            s("2 min", 2.0, 20_500),
            s("end", 2.1, 21_000),
        ];
        assert!((growth_after_first_minute(&v).unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(growth_after_first_minute(&v[..2]), None);
        let t = table(&v);
        assert_eq!(t.lines().count(), 2 + v.len());
        assert!(t.contains("| 1 min (1.0 min) | 19.5 MiB | – |"), "{t}");
    }
}
