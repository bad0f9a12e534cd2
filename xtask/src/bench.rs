//! `cargo xtask bench`: what nstrace costs, measured, never assumed.
//!
//! 1. Overhead: each workload (fork, signal and namespace storms from
//!    `nstrace-load`) runs untraced, under `nstrace watch --format json`
//!    and `nstrace audit` (output to /dev/null), under a bpftrace script on
//!    the same hooks printing every event to /dev/null, and under
//!    `strace -f` limited to the same syscalls (on an eighth of the work,
//!    scaled: ptrace is slow and costs the same per operation). Runs alternate (A B C D E,
//!    then E D C B A, …) so drift cancels; medians and ratios to the untraced
//!    median are reported, with nstrace's drop counters.
//! 2. Loss: the fork storm against a forced 4 KiB ring buffer must report drops.
//! 3. Collector: `nstrace replay --audit` and `--topology` over a synthetic
//!    recording (50,000 live processes, 10,000 namespaces, 1,000,000 events),
//!    pinned to one core: events/s and peak RSS.
//! 4. Start-up: time from exec to "tracing" (programs attached, /proc
//!    snapshotted) with 10,000 extra processes on the node.
//!
//! Prints a markdown table and writes target/bench/bench.json.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{nstrace_bin, root, run};

/// The 14 hooks nstrace uses, as a bpftrace script that prints every event
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
"#;

/// The syscalls strace is limited to: the same events, the ptrace way.
const STRACE_SYSCALLS: &str =
    "trace=clone,clone3,fork,vfork,execve,exit_group,wait4,waitid,setns,unshare,kill,tgkill,prctl";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Untraced,
    Watch,
    Audit,
    Bpftrace,
    Strace,
}

impl Mode {
    const ALL: [Mode; 5] = [
        Mode::Untraced,
        Mode::Watch,
        Mode::Audit,
        Mode::Bpftrace,
        Mode::Strace,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::Untraced => "untraced",
            Mode::Watch => "nstrace watch",
            Mode::Audit => "nstrace audit",
            Mode::Bpftrace => "bpftrace",
            Mode::Strace => "strace -f",
        }
    }
}

/// strace runs 1/STRACE_SHARE of each workload (its results are scaled up).
const STRACE_SHARE: u64 = 8;

/// One workload and its size.
#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    arg: &'static str,
    ops: u64,
    /// Run on CPU 0 only: a ping-pong between two processes otherwise
    /// measures how fast an idle vCPU wakes up, which a busy tracer changes.
    pin: bool,
}

const WORKLOADS: [Workload; 3] = [
    Workload {
        name: "fork storm",
        arg: "fork",
        ops: 8000,
        pin: false,
    },
    Workload {
        name: "signal storm",
        arg: "signal",
        ops: 20000,
        pin: true,
    },
    Workload {
        name: "namespace storm",
        arg: "ns",
        ops: 1000,
        pin: false,
    },
];

/// What one traced run gave.
#[derive(Clone, Debug, Default)]
struct Sample {
    secs: f64,
    /// CPU time (user + system) of the workload and its reaped children.
    cpu: f64,
    received: Option<u64>,
    dropped: Option<u64>,
}

fn load_bin() -> PathBuf {
    root().join("target/release/nstrace-load")
}

/// Runs the load generator (optionally under a wrapper); returns its own wall
/// time and the CPU time of the process tree (for a wrapper, the wrapper's too).
fn run_load(wrapper: &[&str], w: &Workload) -> Result<(f64, f64)> {
    let load = load_bin();
    let mut argv: Vec<String> = wrapper.iter().map(|a| a.to_string()).collect();
    if w.pin {
        argv.extend(["taskset", "-c", "0"].map(String::from));
    }
    argv.push(load.display().to_string());
    argv.extend([w.arg.to_string(), w.ops.to_string()]);
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
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{argv:?} failed: {err}");
    }
    let secs = text
        .split("\"secs\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("odd load output: {text}"))?;
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
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Tracer {
    /// Starts `nstrace ARGS` with stdout to /dev/null; waits for "tracing".
    fn nstrace(args: &[&str]) -> Result<Tracer> {
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
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            rest
        });
        Ok(Tracer {
            child,
            stderr: Some(stderr),
        })
    }

    /// bpftrace in a private mount namespace with its own tracefs (none is
    /// mounted on this node, and the node's mount table is left alone).
    fn bpftrace(dir: &Path) -> Result<Tracer> {
        let ready = dir.join("READY");
        let _ = std::fs::remove_file(&ready);
        let script = BPFTRACE_SCRIPT.replace("READY", &ready.display().to_string());
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(
                "mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing; \
                 exec bpftrace --unsafe -q -o /dev/null -e \"$0\"",
            )
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting bpftrace")?;
        let mut t = Tracer {
            child,
            stderr: None,
        };
        let start = Instant::now();
        while !ready.exists() {
            if let Ok(Some(st)) = t.child.try_wait() {
                bail!("bpftrace exited ({st}) before attaching");
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("bpftrace did not attach within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(t)
    }

    /// Stops the tracer and returns what it wrote to stderr.
    fn stop(mut self) -> Result<String> {
        // SAFETY: signalling the tracer this harness started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let st = self.child.wait()?;
        let err = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        if !st.success() {
            bail!("tracer exited with {st}: {err}");
        }
        Ok(err)
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
}

impl Options {
    /// Parses `--rounds N`.
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options { rounds: 5 };
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
                "--" => {}
                other => bail!("unknown bench option '{other}' (known: --rounds N)"),
            }
        }
        Ok(o)
    }
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
    let mut md = String::new();
    let mut json = format!(
        "{{\"date\":\"{}\",\"cores\":{cores},\"kernel\":\"{kernel}\",\"rounds\":{},\"workloads\":[",
        today(),
        opts.rounds
    );

    // 1. Overhead.
    md.push_str(
        "| workload (ops) | untraced | nstrace watch | nstrace audit | bpftrace | strace -f |\n",
    );
    md.push_str("|---|---|---|---|---|---|\n");
    let mut drops_default = 0u64;
    for (wi, w) in WORKLOADS.iter().enumerate() {
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
        let med: Vec<f64> = samples
            .iter()
            .map(|ss| median(ss.iter().map(|s| s.secs).collect()))
            .collect();
        let med_cpu: Vec<f64> = samples
            .iter()
            .map(|ss| median(ss.iter().map(|s| s.cpu).collect()))
            .collect();
        let base = med[0];
        let mut row = format!(
            "| {} ({}) | {:.0} ops/s |",
            w.name,
            w.ops,
            w.ops as f64 / base
        );
        if wi > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            "{{\"workload\":\"{}\",\"ops\":{},\"modes\":[",
            w.arg, w.ops
        ));
        for (i, mode) in Mode::ALL.iter().enumerate() {
            let ratio = med[i] / base;
            let drops: u64 = samples[i].iter().filter_map(|s| s.dropped).sum();
            let events: u64 = samples[i].iter().filter_map(|s| s.received).sum();
            if matches!(mode, Mode::Watch | Mode::Audit) {
                drops_default += drops;
            }
            if i > 0 {
                let extra = if matches!(mode, Mode::Watch | Mode::Audit) {
                    format!(
                        " ({} events/run, {drops} dropped)",
                        events / samples[i].len().max(1) as u64
                    )
                } else {
                    String::new()
                };
                let cpu = if *mode == Mode::Strace {
                    String::new()
                } else {
                    format!(", cpu {:+.1} %", (med_cpu[i] / med_cpu[0] - 1.0) * 100.0)
                };
                row.push_str(&format!(" {:+.1} %{cpu}{extra} |", (ratio - 1.0) * 100.0));
                json.push(',');
            }
            json.push_str(&format!(
                "{{\"mode\":\"{}\",\"median_secs\":{:.6},\"ratio\":{:.4},\"median_cpu_secs\":{:.6},\"cpu_ratio\":{:.4},\"secs\":[{}],\"dropped\":{drops},\"events\":{events}}}",
                mode.name(),
                med[i],
                ratio,
                med_cpu[i],
                med_cpu[i] / med_cpu[0],
                samples[i]
                    .iter()
                    .map(|s| format!("{:.6}", s.secs))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        json.push_str("]}");
        md.push_str(&row);
        md.push('\n');
    }
    json.push(']');
    md.push_str(&format!(
        "\nCells: change of the workload's median wall time against untraced, then of its CPU time \
         (the in-kernel programs run in its context; strace's CPU includes strace's own) — {} alternating \
         rounds, lower is better; the signal storm runs pinned to one CPU; strace runs an eighth of \
         the work, scaled. Drops with the default ring buffer over all nstrace runs: {drops_default}.\n",
        opts.rounds
    ));

    // 2. Loss under a forced tiny buffer.
    let fork = &WORKLOADS[0];
    let t = Tracer::nstrace(&["watch", "--format", "json", "--ring-buffer-size", "4K"])?;
    run_load(&[], fork)?;
    let (recv, dropped) = counters(&t.stop()?);
    md.push_str(&format!(
        "Fork storm with `--ring-buffer-size 4K`: {} events received, {} dropped and reported.\n",
        recv.unwrap_or(0),
        dropped.unwrap_or(0)
    ));
    json.push_str(&format!(
        ",\"tiny_buffer\":{{\"received\":{},\"dropped\":{}}}",
        recv.unwrap_or(0),
        dropped.unwrap_or(0)
    ));

    // 3. Collector throughput and memory, one core.
    let record = dir.join("synth.nst");
    let (pods, procs, events) = (1430u64, 50_000u64, 1_000_000u64);
    run(
        Command::new(root().join("target/release/examples/synth_record"))
            .arg(&record)
            .args([pods, procs, events].map(|n| n.to_string())),
    )?;
    md.push_str(&format!(
        "\n| collector (one core, {procs} live processes, {} namespaces, {events} events) | time | events/s | peak RSS |\n|---|---|---|---|\n",
        pods * 7
    ));
    json.push_str(",\"collector\":[");
    for (i, (label, extra)) in [
        ("replay --audit", &["--audit"][..]),
        ("replay --topology=json", &["--topology=json"][..]),
    ]
    .iter()
    .enumerate()
    {
        let mut runs = Vec::new();
        let mut rss = 0;
        for _ in 0..3 {
            let (secs, kib) = measure(
                Command::new("taskset")
                    .args(["-c", "0"])
                    .arg(nstrace_bin())
                    .arg("replay")
                    .arg(&record)
                    .args(*extra),
            )?;
            runs.push(secs);
            rss = rss.max(kib);
        }
        let secs = median(runs);
        md.push_str(&format!(
            "| `{label}` | {secs:.2} s | {:.2} M | {:.1} MiB |\n",
            events as f64 / secs / 1e6,
            rss as f64 / 1024.0
        ));
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            "{{\"command\":\"{label}\",\"secs\":{secs:.4},\"events_per_sec\":{:.0},\"peak_rss_kib\":{rss}}}",
            events as f64 / secs
        ));
    }
    json.push(']');
    let _ = std::fs::remove_file(&record);

    // 4. Start-up with 10,000 more processes on the node.
    let extra = 10_000;
    let crowd = Crowd::spawn(extra)?;
    // Let the machine finish starting them before timing anything.
    std::thread::sleep(Duration::from_secs(5));
    let mut startups = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let t = Tracer::nstrace(&["audit", "--format", "json"])?;
        startups.push(start.elapsed().as_secs_f64());
        t.stop()?;
    }
    let procs_now = std::fs::read_dir("/proc")?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        })
        .count();
    drop(crowd);
    let startup = median(startups);
    md.push_str(&format!(
        "\nStart-up of `nstrace audit` to attached and snapshotted, {procs_now} processes in /proc: {startup:.2} s (median of 3).\n"
    ));
    json.push_str(&format!(
        ",\"startup\":{{\"processes\":{procs_now},\"secs\":{startup:.4}}}}}\n"
    ));

    md.push_str(&format!(
        "\nMachine: {cores} cores, Linux {kernel}; `cargo xtask bench --rounds {}` on {} took {:.0} s.\n",
        opts.rounds,
        today(),
        t0.elapsed().as_secs_f64()
    ));
    std::fs::write(dir.join("bench.json"), &json)?;
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
