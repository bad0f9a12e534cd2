//! `cargo xtask bench`: what nstrace costs, measured, never assumed.
//!
//! 1. Overhead: each workload (fork, signal and namespace storms from
//!    `nstrace-load`; stress-ng's fork and kill storms, as tracker issue 12
//!    measured them) runs untraced, under `nstrace watch --format json`,
//!    `nstrace audit` and `nstrace agent` (output to /dev/null; the agent's
//!    `/healthz` and `/metrics` polled every 100 ms meanwhile, their latency
//!    kept: see `probe.rs`), under a bpftrace script on the
//!    same hooks printing every event to /dev/null, and under `strace -f`
//!    limited to the same syscalls (load generator only, on an eighth of the
//!    work, scaled: ptrace is slow and costs the same per operation). Runs
//!    alternate (A B C D E, then E D C B A, …) so drift cancels; medians and
//!    ratios to the untraced median are reported, with nstrace's drop
//!    counters. A tracer must have a program on each of the 16 hooks before
//!    it is timed: a peer that failed to attach fails the bench.
//!    Then one more run under nstrace and one under bpftrace with run-time
//!    statistics on give each program's in-kernel ns per run.
//! 2. Loss: the fork storm against a forced 4 KiB ring buffer must report drops.
//!    The agent's HTTP through a burst of pod starts and stops (`pods`), and
//!    the time from SIGTERM to its exit in the middle of a kill storm (`sigterm`).
//! 3. Collector: `nstrace replay --audit` and `--topology` over a synthetic
//!    recording (50,000 live processes, 10,000 namespaces, 1,000,000 events),
//!    pinned to one core: events/s and peak RSS.
//! 4. Start-up: time from exec to "tracing" (programs attached, /proc
//!    snapshotted) with 10,000 extra processes and 5 pods on the node, for
//!    `nstrace audit` and `nstrace agent` (which also reads every pod's
//!    network at start), and the time of a one-shot `nstrace topology`.
//!
//! `--only PART,…` runs some of it (workload short names, `loss`,
//! `collector`, `startup`, `pods`, `sigterm`). Prints a markdown table and writes
//! target/bench/bench.json.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use crate::{bpfstats, nstrace_bin, probe, root, run};

/// The 16 hooks nstrace uses, as a bpftrace script that prints every event
/// (bpftrace's own ring buffer, formatted in userspace, to /dev/null).
const BPFTRACE_SCRIPT: &str = r#"
BEGIN { system("touch READY"); }
tracepoint:task:task_newtask { printf("create %d %d %lx\n", pid, args->pid, args->clone_flags); }
tracepoint:sched:sched_process_exec { printf("exec %d %s\n", pid, str(args->filename)); }
tracepoint:sched:sched_process_exit { printf("exit %d %d\n", args->pid, curtask->exit_code); }
tracepoint:sched:sched_process_free { printf("reap %d\n", args->pid); }
tracepoint:syscalls:sys_enter_wait4 { printf("wait %d %d\n", pid, args->upid); }
tracepoint:syscalls:sys_enter_waitid { printf("wait %d %d\n", pid, args->upid); }
tracepoint:syscalls:sys_enter_setns { printf("setns %d %d %d\n", pid, args->fd, args->flags); }
tracepoint:syscalls:sys_exit_setns { printf("setns-ret %d %d\n", pid, args->ret); }
tracepoint:syscalls:sys_enter_unshare { printf("unshare %d %lx\n", pid, args->unshare_flags); }
tracepoint:syscalls:sys_exit_unshare { printf("unshare-ret %d %d\n", pid, args->ret); }
tracepoint:signal:signal_generate { printf("sig %d %d %d %d\n", pid, args->sig, args->pid, args->result); }
tracepoint:signal:signal_deliver { printf("deliver %d %d %lx\n", pid, args->sig, args->sa_handler); }
tracepoint:syscalls:sys_enter_prctl /args->option == 15/ { @renaming[tid] = 1; }
tracepoint:syscalls:sys_exit_prctl /@renaming[tid]/ { printf("rename %d %s\n", pid, comm); delete(@renaming[tid]); }
tracepoint:syscalls:sys_enter_bind { @binding[tid] = args->umyaddr; }
tracepoint:syscalls:sys_exit_bind /@binding[tid]/ { printf("bind %d %d\n", pid, args->ret); delete(@binding[tid]); }
"#;

/// The syscalls strace is limited to: the same events, the ptrace way.
const STRACE_SYSCALLS: &str =
    "trace=clone,clone3,fork,vfork,execve,exit_group,wait4,waitid,setns,unshare,kill,tgkill,prctl,bind";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Untraced,
    Watch,
    Audit,
    Agent,
    Bpftrace,
    Strace,
}

impl Mode {
    const ALL: [Mode; 6] = [
        Mode::Untraced,
        Mode::Watch,
        Mode::Audit,
        Mode::Agent,
        Mode::Bpftrace,
        Mode::Strace,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::Untraced => "untraced",
            Mode::Watch => "nstrace watch",
            Mode::Audit => "nstrace audit",
            Mode::Agent => "nstrace agent",
            Mode::Bpftrace => "bpftrace",
            Mode::Strace => "strace -f",
        }
    }
}

/// strace runs 1/STRACE_SHARE of each workload (its results are scaled up).
const STRACE_SHARE: u64 = 8;

/// What makes the load.
#[derive(Clone, Copy)]
enum Gen {
    /// `nstrace-load ARG OPS` (tests/src/bin/load.rs), which reports its own time.
    Load(&'static str),
    /// `stress-ng --NAME 2 --NAME-ops OPS`, timed from spawn to exit.
    StressNg(&'static str),
    /// A bash loop of OPS rounds, each setting and resetting a trap (two
    /// `rt_sigaction`s) and running `/bin/true` (bash's fork and exec call
    /// `rt_sigaction` and `rt_sigprocmask` over and over): the shell-heavy
    /// node on which the sigstate programs must cost next to nothing, since
    /// they filter to namespace inits and subreapers first. Timed from spawn to exit.
    Shell,
}

/// One workload and its size.
#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    /// Its short name for `--only` and the JSON report.
    arg: &'static str,
    gen: Gen,
    ops: u64,
    /// Run on CPU 0 only: a ping-pong between two processes otherwise
    /// measures how fast an idle vCPU wakes up, which a busy tracer changes.
    pin: bool,
}

const WORKLOADS: [Workload; 8] = [
    Workload {
        name: "fork storm",
        arg: "fork",
        gen: Gen::Load("fork"),
        ops: 8000,
        pin: false,
    },
    Workload {
        name: "signal storm",
        arg: "signal",
        gen: Gen::Load("signal"),
        ops: 20000,
        pin: true,
    },
    Workload {
        name: "namespace storm",
        arg: "ns",
        gen: Gen::Load("ns"),
        ops: 1000,
        pin: false,
    },
    Workload {
        name: "port clash storm",
        arg: "bind",
        gen: Gen::Load("bind"),
        ops: 20000,
        pin: false,
    },
    Workload {
        name: "exec storm",
        arg: "exec",
        gen: Gen::Load("exec"),
        ops: 4000,
        pin: false,
    },
    // The issue's measurements (tracker issue 12), as a new user would take them.
    Workload {
        name: "stress-ng fork",
        arg: "stress-fork",
        gen: Gen::StressNg("fork"),
        ops: 40000,
        pin: false,
    },
    Workload {
        name: "stress-ng kill",
        arg: "stress-kill",
        gen: Gen::StressNg("kill"),
        ops: 400000,
        pin: false,
    },
    Workload {
        name: "shell storm",
        arg: "shell",
        gen: Gen::Shell,
        ops: 3000,
        pin: false,
    },
];

/// Every tracepoint nstrace attaches to (and the bpftrace script too).
const HOOKS: [&str; 16] = [
    "task_newtask",
    "sched_process_exec",
    "sched_process_exit",
    "sched_process_free",
    "sys_enter_wait4",
    "sys_enter_waitid",
    "sys_enter_setns",
    "sys_exit_setns",
    "sys_enter_unshare",
    "sys_exit_unshare",
    "signal_generate",
    "signal_deliver",
    "sys_enter_prctl",
    "sys_exit_prctl",
    "sys_enter_bind",
    "sys_exit_bind",
];

/// What one traced run gave.
#[derive(Clone, Debug, Default)]
struct Sample {
    secs: f64,
    /// CPU time (user + system) of the workload and its reaped children.
    cpu: f64,
    received: Option<u64>,
    dropped: Option<u64>,
    /// The agent's HTTP, polled during the run.
    probes: Option<probe::Latencies>,
}

fn load_bin() -> PathBuf {
    root().join("target/release/nstrace-load")
}

/// Runs the workload (optionally under a wrapper); returns its wall time
/// and the CPU time of the process tree (for a wrapper, the wrapper's too).
fn run_load(wrapper: &[&str], w: &Workload) -> Result<(f64, f64)> {
    let mut argv: Vec<String> = wrapper.iter().map(|a| a.to_string()).collect();
    if w.pin {
        argv.extend(["taskset", "-c", "0"].map(String::from));
    }
    match w.gen {
        Gen::Load(arg) => {
            argv.push(load_bin().display().to_string());
            argv.extend([arg.to_string(), w.ops.to_string()]);
        }
        Gen::StressNg(stressor) => argv.extend([
            "stress-ng".to_string(),
            format!("--{stressor}"),
            "2".to_string(),
            format!("--{stressor}-ops"),
            w.ops.to_string(),
            "--quiet".to_string(),
        ]),
        Gen::Shell => argv.extend([
            "bash".to_string(),
            "-c".to_string(),
            format!(
                "for i in $(seq {}); do trap : USR1; trap - USR1; /bin/true; done",
                w.ops
            ),
        ]),
    }
    let start = Instant::now();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {argv:?}"))?;
    let mut text = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut text)?;
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut err)?;
    let (status, ru) = wait_rusage(child.id() as i32)?;
    let wall = start.elapsed().as_secs_f64();
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{argv:?} failed: {err}");
    }
    let secs = match w.gen {
        Gen::Load(_) => serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["secs"].as_f64())
            .with_context(|| format!("odd load output: {text}"))?,
        Gen::StressNg(_) | Gen::Shell => wall,
    };
    Ok((secs, cpu_secs(&ru)))
}

/// Waits for child `pid` and returns its wait status and resource usage
/// (which includes the children it reaped).
fn wait_rusage(pid: i32) -> Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: zeroed rusage is valid; wait4 on our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::wait4(pid, &mut status, 0, &mut ru) } != pid {
        bail!("wait4({pid}) failed: {}", std::io::Error::last_os_error());
    }
    Ok((status, ru))
}

fn cpu_secs(ru: &libc::rusage) -> f64 {
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Refuses to measure beside another tracer (a second nstrace, bpftrace or
/// strace would be measured too): only process names are read.
fn check_quiet() -> Result<()> {
    let me = std::process::id();
    for e in std::fs::read_dir("/proc")?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if matches!(comm.trim(), "nstrace" | "bpftrace" | "strace") {
            bail!(
                "{} (pid {pid}) is running: stop it first, or the benchmark measures it too",
                comm.trim()
            );
        }
    }
    Ok(())
}

/// A tracer running beside a workload; stopped (SIGINT) and reaped on drop.
struct Tracer {
    child: Child,
    /// Its stderr after "tracing", and when the counters line came.
    stderr: Option<std::thread::JoinHandle<(String, Option<Instant>)>>,
    /// Where a tracer without a stderr pipe (bpftrace) writes its messages.
    err_file: Option<PathBuf>,
}

impl Tracer {
    /// Starts `nstrace ARGS` with stdout to /dev/null; waits for "tracing"
    /// and checks that all its hooks are attached.
    fn nstrace(args: &[&str]) -> Result<Tracer> {
        let t = Tracer::nstrace_started(args)?;
        bpfstats::require_hooks("nstrace", t.pid(), &HOOKS)?;
        Ok(t)
    }

    /// Starts `nstrace ARGS` and waits for "tracing" only: the start-up
    /// measure also times builds from before a hook was added (`NSTRACE_BIN`).
    fn nstrace_started(args: &[&str]) -> Result<Tracer> {
        let mut child = Command::new(nstrace_bin())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting nstrace")?;
        let mut err = BufReader::new(child.stderr.take().expect("piped"));
        let start = Instant::now();
        let mut line = String::new();
        loop {
            line.clear();
            if err.read_line(&mut line)? == 0 {
                bail!("nstrace exited before attaching");
            }
            if line.contains("tracing") {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("nstrace did not attach: {line}");
            }
        }
        let stderr = std::thread::spawn(move || {
            let (mut rest, mut counted) = (String::new(), None);
            let mut line = String::new();
            while err.read_line(&mut line).unwrap_or(0) > 0 {
                if line.contains("events received") {
                    counted = Some(Instant::now());
                }
                rest.push_str(&line);
                line.clear();
            }
            (rest, counted)
        });
        Ok(Tracer {
            child,
            stderr: Some(stderr),
            err_file: None,
        })
    }

    /// bpftrace in a private mount namespace with its own tracefs (none is
    /// mounted on this node, and the node's mount table is left alone).
    /// Fails unless every one of its 16 tracepoints gets a program: a peer
    /// that did not attach would otherwise be timed as free.
    fn bpftrace(dir: &Path) -> Result<Tracer> {
        let ready = dir.join("READY");
        let err_file = dir.join("bpftrace.err");
        let _ = std::fs::remove_file(&ready);
        let script = BPFTRACE_SCRIPT.replace("READY", &ready.display().to_string());
        // `unshare` and `sh` exec: the child's pid ends up being bpftrace's.
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(
                "mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing; \
                 exec bpftrace --unsafe -q -o /dev/null -e \"$0\"",
            )
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_file)?)
            .spawn()
            .context("starting bpftrace")?;
        let mut t = Tracer {
            child,
            stderr: None,
            err_file: Some(err_file),
        };
        let start = Instant::now();
        // BEGIN may run before the other probes are attached: wait for both.
        loop {
            if let Ok(Some(st)) = t.child.try_wait() {
                bail!("bpftrace exited ({st}) before attaching: {}", t.err_text());
            }
            let attached =
                ready.exists() && bpfstats::require_hooks("bpftrace", t.pid(), &HOOKS).is_ok();
            if attached {
                return Ok(t);
            }
            if start.elapsed() > Duration::from_secs(60) {
                bpfstats::require_hooks("bpftrace", t.pid(), &HOOKS).with_context(|| {
                    format!("bpftrace did not attach within 60 s: {}", t.err_text())
                })?;
                bail!(
                    "bpftrace did not run its BEGIN probe within 60 s: {}",
                    t.err_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn err_text(&self) -> String {
        self.err_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// Stops the tracer and returns what it wrote to stderr.
    fn stop(self) -> Result<String> {
        Ok(self.stop_with(libc::SIGINT)?.0)
    }

    /// Sends `signal`, waits for the exit; stderr, the seconds from the
    /// signal to the exit, and to its counters line (nstrace's last word
    /// before it detaches its programs).
    fn stop_with(mut self, signal: i32) -> Result<(String, f64, Option<f64>)> {
        let t0 = Instant::now();
        // SAFETY: signalling the tracer this harness started.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let st = self.child.wait()?;
        let secs = t0.elapsed().as_secs_f64();
        let (err, counted) = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_else(|| (self.err_text(), None));
        if !st.success() {
            bail!("tracer exited with {st}: {err}");
        }
        let said = counted.map(|t| t.saturating_duration_since(t0).as_secs_f64());
        Ok((err, secs, said))
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nstrace agent` on a loopback port of its own, with its own lock file
/// (so an agent left on the node is not disturbed, and none is needed),
/// started once `/healthz` says 200.
struct Agent {
    tracer: Tracer,
    addr: std::net::SocketAddr,
}

impl Agent {
    fn start(dir: &Path) -> Result<Agent> {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let lock = dir.join("agent.lock");
        let tracer = Tracer::nstrace(&[
            "agent",
            "--listen",
            &addr.to_string(),
            "--lock-file",
            &lock.to_string_lossy(),
        ])?;
        // As the kubelet's startup probe: the liveness probes count from the first 200 on.
        let t0 = Instant::now();
        while probe::get(addr, "/healthz").is_err() {
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("the agent's /healthz did not answer 200 within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Agent { tracer, addr })
    }
}

/// "nstrace: 123 events received; 4 dropped …" → (123, 4).
fn counters(stderr: &str) -> (Option<u64>, Option<u64>) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("events received"))
        .unwrap_or("");
    let num_before = |word: &str| {
        line.split(';')
            .find(|part| part.contains(word))
            .and_then(|part| part.split_whitespace().find_map(|t| t.parse::<u64>().ok()))
    };
    (num_before("events received"), num_before("dropped"))
}

fn one_run(mode: Mode, w: &Workload, dir: &Path) -> Result<Sample> {
    match mode {
        Mode::Untraced => {
            let (secs, cpu) = run_load(&[], w)?;
            Ok(Sample {
                secs,
                cpu,
                ..Sample::default()
            })
        }
        Mode::Watch | Mode::Audit => {
            let args: &[&str] = if mode == Mode::Watch {
                &["watch", "--format", "json"]
            } else {
                &["audit", "--format", "json"]
            };
            let t = Tracer::nstrace(args)?;
            let (secs, cpu) = run_load(&[], w)?;
            let (received, dropped) = counters(&t.stop()?);
            Ok(Sample {
                secs,
                cpu,
                received,
                dropped,
                probes: None,
            })
        }
        Mode::Agent => {
            let agent = Agent::start(dir)?;
            let poller = probe::Poller::start(agent.addr);
            let (secs, cpu) = run_load(&[], w)?;
            let probes = poller.stop();
            let (received, dropped) = counters(&agent.tracer.stop()?);
            Ok(Sample {
                secs,
                cpu,
                received,
                dropped,
                probes: Some(probes),
            })
        }
        Mode::Bpftrace => {
            let t = Tracer::bpftrace(dir)?;
            let (secs, cpu) = run_load(&[], w)?;
            t.stop()?;
            Ok(Sample {
                secs,
                cpu,
                ..Sample::default()
            })
        }
        Mode::Strace if matches!(w.gen, Gen::StressNg(_) | Gen::Shell) => Ok(Sample {
            // Not run: stress-ng's storms are the issue's comparison with bpftrace;
            // the shell storm measures the sigstate programs against the build before.
            secs: f64::NAN,
            cpu: f64::NAN,
            ..Sample::default()
        }),
        Mode::Strace => {
            // ptrace costs the same per operation whatever the count: run an
            // eighth of the work and scale, so the bench stays short.
            let wrapper = [
                "strace",
                "-f",
                "-qq",
                "-o",
                "/dev/null",
                "-e",
                STRACE_SYSCALLS,
            ];
            let part = Workload {
                ops: (w.ops / STRACE_SHARE).max(1),
                ..*w
            };
            let scale = w.ops as f64 / part.ops as f64;
            // strace's own CPU is in `cpu` too: shown for wall time only.
            let (secs, cpu) = run_load(&wrapper, &part)?;
            Ok(Sample {
                secs: secs * scale,
                cpu: cpu * scale,
                ..Sample::default()
            })
        }
    }
}

/// One more run under `nstrace watch`, the agent or bpftrace, with run-time statistics
/// on (they cost two clock reads per program run, so the timed rounds run
/// without them): what each program cost in the kernel over the workload.
fn cost_run(mode: Mode, w: &Workload, dir: &Path) -> Result<bpfstats::Costs> {
    let _on = bpfstats::StatsOn::enable()?;
    let t = match mode {
        Mode::Bpftrace => Tracer::bpftrace(dir)?,
        Mode::Agent => Agent::start(dir)?.tracer,
        _ => Tracer::nstrace(&["watch", "--format", "json"])?,
    };
    let before = bpfstats::snapshot(t.pid())?;
    run_load(&[], w)?;
    let mut after = bpfstats::snapshot(t.pid())?;
    t.stop()?;
    for (hook, (ns, n)) in after.iter_mut() {
        let (ns0, n0) = before.get(hook).copied().unwrap_or_default();
        *ns -= ns0.min(*ns);
        *n -= n0.min(*n);
    }
    if bpfstats::total(&after).1 == 0 {
        bail!(
            "{}: no program ran during the {}: not attached",
            mode.name(),
            w.name
        );
    }
    Ok(after)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Peak RSS (KiB) and wall time of a command run to completion.
fn measure(cmd: &mut Command) -> Result<(f64, u64)> {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let (status, ru) = wait_rusage(child.id() as i32)?;
    let secs = start.elapsed().as_secs_f64();
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let mut err = String::new();
        if let Some(mut e) = child.stderr {
            let _ = e.read_to_string(&mut err);
        }
        bail!("{cmd:?} failed: {err}");
    }
    Ok((secs, ru.ru_maxrss as u64))
}

/// Options of `cargo xtask bench`.
pub struct Options {
    /// Alternating rounds per workload.
    pub rounds: usize,
    /// Parts to run (workload short names, `loss`, `collector`, `startup`,
    /// `pods`, `sigterm`); empty = all.
    pub only: Vec<String>,
}

/// What `--only` accepts besides the workloads' short names.
const PARTS: [&str; 5] = ["loss", "collector", "startup", "pods", "sigterm"];

impl Options {
    /// Parses `--rounds N` and `--only PART,…`.
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options {
            rounds: 3,
            only: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--rounds" => {
                    o.rounds = it
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|n| *n > 0)
                        .context("--rounds needs a positive number")?
                }
                "--only" => {
                    let list = it.next().context("--only needs a list of parts")?;
                    for part in list.split(',') {
                        if !WORKLOADS.iter().any(|w| w.arg == part) && !PARTS.contains(&part) {
                            bail!(
                                "unknown bench part '{part}' (known: {}, {})",
                                WORKLOADS.map(|w| w.arg).join(", "),
                                PARTS.join(", ")
                            );
                        }
                        o.only.push(part.to_owned());
                    }
                }
                "--" => {}
                other => bail!("unknown bench option '{other}' (known: --rounds N, --only PART,…)"),
            }
        }
        Ok(o)
    }

    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

/// A workload and the in-kernel costs under `watch`, the agent and bpftrace.
type Costs3<'a> = (
    &'a Workload,
    bpfstats::Costs,
    bpfstats::Costs,
    bpfstats::Costs,
);

/// The probe latencies as JSON.
fn probe_json(l: &probe::Latencies) -> Value {
    let one = |v: &[f64]| {
        let (m, p, x) = probe::summary(v);
        json!({"n": v.len(), "median_ms": jnum(m, 3), "p99_ms": jnum(p, 3), "max_ms": jnum(x, 3)})
    };
    json!({
        "healthz": one(&l.healthz),
        "metrics": one(&l.metrics),
        "failed": l.failed.len(),
        "first_failure": l.failed.first(),
    })
}

/// A number for JSON, rounded to `digits` decimals (NaN, for a mode not run, is null).
fn jnum(v: f64, digits: i32) -> Value {
    let scale = 10f64.powi(digits);
    Value::from((v * scale).round() / scale)
}

/// Runs everything and prints the report.
pub fn bench(opts: &Options) -> Result<()> {
    check_quiet()?;
    let t0 = Instant::now();
    run(Command::new("cargo")
        .args([
            "build",
            "--release",
            "-p",
            "nstrace-tests",
            "--bin",
            "nstrace-load",
        ])
        .current_dir(root()))?;
    run(&mut crate::cargo_user(&[
        "build",
        "--release",
        "-p",
        "nstrace",
        "--example",
        "synth_record",
    ]))?;
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")?
        .trim()
        .to_owned();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let mut json = Map::new();
    json.insert("date".into(), today().into());
    json.insert("cores".into(), cores.into());
    json.insert("kernel".into(), kernel.clone().into());
    json.insert("load_before".into(), load.clone().into());
    json.insert("rounds".into(), opts.rounds.into());
    json.insert("only".into(), opts.only.clone().into());
    json.insert(
        "probe".into(),
        json!({"every_ms": probe::EVERY.as_millis() as u64, "timeout_s": probe::TIMEOUT.as_secs()}),
    );
    let mut workloads = Vec::new();

    // 1. Overhead.
    // Per workload run: nstrace's and bpftrace's in-kernel costs.
    let mut costs: Vec<Costs3<'_>> = Vec::new();
    let chosen: Vec<&Workload> = WORKLOADS.iter().filter(|w| opts.wants(w.arg)).collect();
    for w in chosen.iter().copied() {
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); Mode::ALL.len()];
        for round in 0..opts.rounds {
            let order: Vec<usize> = if round % 2 == 0 {
                (0..Mode::ALL.len()).collect()
            } else {
                (0..Mode::ALL.len()).rev().collect()
            };
            for i in order {
                let s = one_run(Mode::ALL[i], w, &dir)
                    .with_context(|| format!("{} under {}", w.name, Mode::ALL[i].name()))?;
                if s.secs.is_nan() {
                    samples[i].push(s);
                    continue;
                }
                eprintln!(
                    "bench: {} round {} {}: {:.3} s{}",
                    w.name,
                    round + 1,
                    Mode::ALL[i].name(),
                    s.secs,
                    s.dropped
                        .map(|d| format!(", {} events, {d} dropped", s.received.unwrap_or(0)))
                        .unwrap_or_default()
                );
                samples[i].push(s);
            }
        }
        let ours = cost_run(Mode::Watch, w, &dir)
            .with_context(|| format!("{}: in-kernel cost under nstrace", w.name))?;
        let agent = cost_run(Mode::Agent, w, &dir)
            .with_context(|| format!("{}: in-kernel cost under the agent", w.name))?;
        let peer = cost_run(Mode::Bpftrace, w, &dir)
            .with_context(|| format!("{}: in-kernel cost under bpftrace", w.name))?;
        let (ons, on) = bpfstats::total(&ours);
        let (pns, pn) = bpfstats::total(&peer);
        eprintln!(
            "bench: {} in-kernel: nstrace {} runs, {:.0} ns/run; bpftrace {} runs, {:.0} ns/run",
            w.name,
            on,
            ons as f64 / on.max(1) as f64,
            pn,
            pns as f64 / pn.max(1) as f64
        );
        costs.push((w, ours, agent, peer));
        let med: Vec<f64> = samples
            .iter()
            .map(|ss| median(ss.iter().map(|s| s.secs).collect()))
            .collect();
        let med_cpu: Vec<f64> = samples
            .iter()
            .map(|ss| median(ss.iter().map(|s| s.cpu).collect()))
            .collect();
        let base = med[0];
        let mut modes = Vec::new();
        for (i, mode) in Mode::ALL.iter().enumerate() {
            let ratio = med[i] / base;
            let drops: u64 = samples[i].iter().filter_map(|s| s.dropped).sum();
            let events: u64 = samples[i].iter().filter_map(|s| s.received).sum();
            let secs: Vec<Value> = samples[i]
                .iter()
                .filter(|s| s.secs.is_finite())
                .map(|s| jnum(s.secs, 6))
                .collect();
            modes.push(json!({
                "mode": mode.name(),
                "median_secs": jnum(med[i], 6),
                "ratio": jnum(ratio, 4),
                "median_cpu_secs": jnum(med_cpu[i], 6),
                "cpu_ratio": jnum(med_cpu[i] / med_cpu[0], 4),
                "secs": secs,
                "dropped": drops,
                "events": events,
            }));
        }
        // The agent's HTTP over every agent run of this workload.
        let agent_i = Mode::ALL
            .iter()
            .position(|m| *m == Mode::Agent)
            .expect("agent mode");
        let mut seen = probe::Latencies::default();
        for smp in &samples[agent_i] {
            if let Some(p) = &smp.probes {
                seen.extend(p.clone());
            }
        }
        workloads.push(json!({
            "workload": w.arg,
            "name": w.name,
            "ops": w.ops,
            "modes": modes,
            "agent_probes": probe_json(&seen),
        }));
    }
    json.insert("workloads".into(), workloads.into());
    if !costs.is_empty() {
        let progs = |c: &bpfstats::Costs| -> Map<String, Value> {
            c.iter()
                .map(|(h, (ns, n))| (h.to_string(), json!({"run_time_ns": ns, "run_cnt": n})))
                .collect()
        };
        let in_kernel: Vec<Value> = costs
            .iter()
            .map(|(w, ours, agent, peer)| {
                let (pns, pn) = bpfstats::total(peer);
                json!({
                    "workload": w.arg,
                    "nstrace": progs(ours),
                    "agent": progs(agent),
                    "bpftrace": {"run_time_ns": pns, "run_cnt": pn},
                })
            })
            .collect();
        json.insert("in_kernel".into(), in_kernel.into());
    }

    // 2. Loss under a forced tiny buffer.
    if opts.wants("loss") {
        let fork = &WORKLOADS[0];
        let t = Tracer::nstrace(&["watch", "--format", "json", "--ring-buffer-size", "4K"])?;
        run_load(&[], fork)?;
        let (recv, dropped) = counters(&t.stop()?);
        json.insert(
            "tiny_buffer".into(),
            json!({"received": recv.unwrap_or(0), "dropped": dropped.unwrap_or(0)}),
        );
        if dropped.unwrap_or(0) == 0 {
            bail!("a 4 KiB ring buffer under the fork storm reported no drops");
        }
    }

    // 2b. The agent through a burst of pod starts and stops.
    if opts.wants("pods") {
        let agent = Agent::start(&dir)?;
        let poller = probe::Poller::start(agent.addr);
        let t0 = Instant::now();
        let pods = Pods::play(BURST_PODS)?;
        let up = t0.elapsed().as_secs_f64();
        drop(pods);
        let all = t0.elapsed().as_secs_f64();
        // The shutdowns' findings come as the pods go: a few ticks more.
        std::thread::sleep(Duration::from_secs(2));
        let seen = poller.stop();
        let (recv, dropped) = counters(&agent.tracer.stop()?);
        json.insert(
            "pod_burst".into(),
            json!({
                "pods": BURST_PODS,
                "start_secs": jnum(up, 3),
                "stop_secs": jnum(all - up, 3),
                "received": recv.unwrap_or(0),
                "dropped": dropped.unwrap_or(0),
                "agent_probes": probe_json(&seen),
            }),
        );
        if dropped.unwrap_or(0) > 0 {
            eprintln!("bench: the agent dropped events during the pod burst");
        }
    }

    // 2c. SIGTERM to the agent in the middle of a kill storm: how long to exit.
    if opts.wants("sigterm") {
        const RUNS: usize = 5;
        let (mut said, mut exited) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let agent = Agent::start(&dir)?;
            let storm = Storm::start()?;
            // Well into the storm (it runs for tens of seconds untraced).
            std::thread::sleep(Duration::from_secs(3));
            let (err, s, counted) = agent.tracer.stop_with(libc::SIGTERM)?;
            drop(storm);
            let (recv, dropped) = counters(&err);
            let c = counted.unwrap_or(f64::NAN);
            eprintln!(
                "bench: SIGTERM to the agent during the stress-ng kill storm: counters after {c:.3} s, exit after {s:.3} s ({} events, {} dropped)",
                recv.unwrap_or(0),
                dropped.unwrap_or(0)
            );
            said.push(c);
            exited.push(s);
        }
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let nums = |v: &[f64]| v.iter().map(|s| jnum(*s, 3)).collect::<Vec<_>>();
        json.insert(
            "sigterm_during_kill_storm".into(),
            json!({
                "counters_secs": nums(&said),
                "exit_secs": nums(&exited),
                "max_counters": jnum(max(&said), 4),
                "max_exit": jnum(max(&exited), 4),
            }),
        );
    }

    // 3. Collector throughput and memory, one core.
    if opts.wants("collector") {
        let record = dir.join("synth.nst");
        let (pods, procs, events) = (1430u64, 50_000u64, 1_000_000u64);
        json.insert(
            "collector_input".into(),
            json!({"pods": pods, "processes": procs, "namespaces": pods * 7, "events": events}),
        );
        run(
            Command::new(root().join("target/release/examples/synth_record"))
                .arg(&record)
                .args([pods, procs, events].map(|n| n.to_string())),
        )?;
        let mut collector = Vec::new();
        for (label, extra) in [
            ("replay --audit", &["--audit"][..]),
            ("replay --topology=json", &["--topology=json"][..]),
        ] {
            let mut runs = Vec::new();
            let mut rss = 0;
            for _ in 0..3 {
                let (secs, kib) = measure(
                    Command::new("taskset")
                        .args(["-c", "0"])
                        .arg(nstrace_bin())
                        .arg("replay")
                        .arg(&record)
                        .args(extra.iter()),
                )?;
                runs.push(secs);
                rss = rss.max(kib);
            }
            let secs = median(runs);
            collector.push(json!({
                "command": label,
                "secs": jnum(secs, 4),
                "events_per_sec": jnum(events as f64 / secs, 0),
                "peak_rss_kib": rss,
            }));
        }
        json.insert("collector".into(), collector.into());
        let _ = std::fs::remove_file(&record);
    }

    // 4. Start-up with 10,000 more processes and some pods on the node.
    if opts.wants("startup") {
        let extra = 10_000;
        let pods = Pods::play(STARTUP_PODS)?;
        let crowd = Crowd::spawn(extra)?;
        // Let the machine finish starting them before timing anything.
        std::thread::sleep(Duration::from_secs(5));
        let lock =
            std::env::temp_dir().join(format!("nstrace-bench-agent-{}.lock", std::process::id()));
        let lock_arg = lock.to_string_lossy().into_owned();
        let mut audit = Vec::new();
        let mut agent = Vec::new();
        let mut topo = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            let t = Tracer::nstrace_started(&["audit", "--format", "json"])?;
            audit.push(start.elapsed().as_secs_f64());
            t.stop()?;
            let start = Instant::now();
            let t = Tracer::nstrace_started(&[
                "agent",
                "--listen",
                "127.0.0.1:0",
                "--lock-file",
                &lock_arg,
            ])?;
            agent.push(start.elapsed().as_secs_f64());
            t.stop()?;
            let (secs, _) =
                measure(Command::new(nstrace_bin()).args(["topology", "--format", "json"]))?;
            topo.push(secs);
        }
        let _ = std::fs::remove_file(&lock);
        let procs_now = std::fs::read_dir("/proc")?
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            })
            .count();
        drop(crowd);
        drop(pods);
        let (audit, agent, topo) = (median(audit), median(agent), median(topo));
        json.insert(
            "startup".into(),
            json!({
                "processes": procs_now,
                "pods": STARTUP_PODS,
                "secs": jnum(audit, 4),
                "agent_secs": jnum(agent, 4),
                "topology_secs": jnum(topo, 4),
            }),
        );
    }

    json.insert("took_secs".into(), jnum(t0.elapsed().as_secs_f64(), 1));
    let json = Value::Object(json);
    let mut text = serde_json::to_string_pretty(&json)?;
    text.push('\n');
    std::fs::write(dir.join("bench.json"), text)?;
    let md = crate::perfdoc::render(&json);
    std::fs::write(dir.join("bench.md"), &md)?;
    println!("{md}");
    eprintln!(
        "bench: wrote {} and {}",
        dir.join("bench.md").display(),
        dir.join("bench.json").display()
    );
    Ok(())
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    civil(days)
}

/// Days since 1970-01-01 as YYYY-MM-DD (Howard Hinnant's civil-from-days).
fn civil(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Many idle processes of our own (one process group), killed on drop.
struct Crowd {
    leader: Child,
}

/// Pods on the node during the start-up measure.
const STARTUP_PODS: usize = 5;

/// Pods started at once in the pod-burst measure.
const BURST_PODS: usize = 10;

/// A stress-ng kill storm that outlasts what is measured during it; killed
/// (its whole process group) on drop.
struct Storm {
    child: Child,
}

impl Storm {
    fn start() -> Result<Storm> {
        use std::os::unix::process::CommandExt;
        let child = Command::new("stress-ng")
            .args(["--kill", "2", "--kill-ops", "100000000", "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting stress-ng")?;
        Ok(Storm { child })
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        // SAFETY: killing the process group this harness created.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// Pods for the start-up measure (`podman kube play`, the test image, the
/// default bridge): a web server and a sidecar each; removed on drop.
struct Pods {
    yaml: PathBuf,
}

impl Pods {
    fn play(n: usize) -> Result<Pods> {
        let mut y = String::new();
        for i in 0..n {
            if i > 0 {
                y.push_str("---\n");
            }
            y.push_str(&format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nst-bench-{i}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n"
            ));
            for (name, cmd) in [
                ("web", r#"["httpd", "-f", "-p", "8080"]"#),
                ("side", r#"["sh", "-c", "while true; do sleep 1; done"]"#),
            ] {
                y.push_str(&format!(
                    "  - name: {name}\n    image: localhost/nstrace-busybox:latest\n    imagePullPolicy: Never\n    command: {cmd}\n"
                ));
            }
        }
        let yaml =
            std::env::temp_dir().join(format!("nstrace-bench-pods-{}.yaml", std::process::id()));
        std::fs::write(&yaml, y)?;
        let pods = Pods { yaml };
        run(Command::new("podman")
            .arg("kube")
            .arg("play")
            .arg(&pods.yaml)
            .stdout(Stdio::null()))?;
        Ok(pods)
    }
}

impl Drop for Pods {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .arg("kube")
            .arg("down")
            .arg(&self.yaml)
            .stdout(Stdio::null())
            .status();
        let _ = std::fs::remove_file(&self.yaml);
    }
}

impl Crowd {
    /// `n` sleeping processes: a shell that starts them in the background.
    fn spawn(n: usize) -> Result<Crowd> {
        use std::os::unix::process::CommandExt;
        let leader = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "i=0; while [ $i -lt {n} ]; do sleep 3600 & i=$((i+1)); done; echo up; wait"
            ))
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let mut c = Crowd { leader };
        let mut line = String::new();
        BufReader::new(c.leader.stdout.take().expect("piped")).read_line(&mut line)?;
        if line.trim() != "up" {
            bail!("the crowd of {n} processes did not start");
        }
        Ok(c)
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        // SAFETY: killing the process group this harness created.
        unsafe { libc::kill(-(self.leader.id() as i32), libc::SIGKILL) };
        let _ = self.leader.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_line_is_parsed() {
        let s = "nstrace: tracing\nnstrace: 99 events received; 1133 dropped (ring buffer full) [create=294]; 0 failed kernel reads\n";
        assert_eq!(counters(s), (Some(99), Some(1133)));
        assert_eq!(counters("nothing"), (None, None));
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }

    #[test]
    fn dates() {
        assert_eq!(civil(0), "1970-01-01");
        assert_eq!(civil(11_016), "2000-02-29");
        assert_eq!(civil(20_415), "2025-11-23");
    }
}
