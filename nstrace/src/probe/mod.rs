//! Loading and attaching the kernel programs, and reading their counters.
//!
//! Dropping [`Probes`] detaches every program and frees every map: the links
//! are file descriptors owned here, so nothing outlives the process.

pub mod btf;
pub mod offsets;
pub mod sigstate;
pub mod tracefs;

use anyhow::{bail, Context, Result};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::tp_btf::BtfTracePointLinkId;
use aya::programs::trace_point::TracePointLinkId;
use aya::programs::{BtfTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader};
use nstrace_common::{caps, counter, Config, NetConfig};

use crate::procfs;
use crate::stats::Stats;

/// The kernel object, embedded so nstrace is one file.
static OBJECT: &[u8] = aya::include_bytes_aligned!(env!("NSTRACE_BPF_OBJECT"));

/// Oldest kernel the programs can load on: task storage for tracing programs
/// and `bpf_get_current_task_btf` (5.11), BPF ring buffer (5.8), tp_btf (5.5).
/// Older kernels are refused; kernels older than [`TESTED_KERNELS`] start
/// with a warning.
pub const MIN_KERNEL: (u32, u32) = (5, 11);

/// The kernels every `cargo xtask test` runs nstrace on: Debian's 6.1 and
/// 6.12 in VMs with cgroup v2, and 6.18 (cgroup v1) on the project's machines.
pub const TESTED_KERNELS: [(u32, u32); 3] = [(6, 1), (6, 12), (6, 18)];

/// `6.1, 6.12 and 6.18`.
fn tested_list() -> String {
    let v: Vec<String> = TESTED_KERNELS
        .iter()
        .map(|(a, b)| format!("{a}.{b}"))
        .collect();
    match v.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => v.join(""),
    }
}

/// What to say of a kernel release before loading: refuse it (too old to
/// load), warn (older than any tested kernel), or nothing.
pub fn kernel_verdict(release: &str) -> std::result::Result<Option<String>, String> {
    let Some(v) = procfs::parse_release(release) else {
        return Ok(None);
    };
    if v < MIN_KERNEL {
        return Err(format!(
            "kernel {release} is too old: nstrace needs Linux {}.{} or newer (BPF ring buffer, BTF tracepoints, task storage); it is tested on {}",
            MIN_KERNEL.0,
            MIN_KERNEL.1,
            tested_list()
        ));
    }
    if v < TESTED_KERNELS[0] {
        return Ok(Some(format!(
            "kernel {release} is older than every kernel nstrace is tested on ({}): it may trace right, or its verifier may refuse a program",
            tested_list()
        )));
    }
    Ok(None)
}

/// Where each program attaches.
enum Hook {
    /// A BTF-typed tracepoint.
    TpBtf(&'static str),
    /// A classic tracepoint (category, name).
    Tp(&'static str, &'static str),
}

/// How many programs are attached.
pub const PROGRAM_COUNT: usize = PROGRAMS.len();

/// Every program in the object and its hook.
const PROGRAMS: [(&str, Hook); 22] = [
    ("task_newtask", Hook::TpBtf("task_newtask")),
    ("sched_process_exec", Hook::TpBtf("sched_process_exec")),
    ("sched_process_exit", Hook::TpBtf("sched_process_exit")),
    ("sched_process_free", Hook::TpBtf("sched_process_free")),
    ("sys_enter_wait4", Hook::Tp("syscalls", "sys_enter_wait4")),
    ("sys_exit_wait4", Hook::Tp("syscalls", "sys_exit_wait4")),
    ("sys_enter_waitid", Hook::Tp("syscalls", "sys_enter_waitid")),
    ("sys_exit_waitid", Hook::Tp("syscalls", "sys_exit_waitid")),
    ("sys_enter_setns", Hook::Tp("syscalls", "sys_enter_setns")),
    ("sys_exit_setns", Hook::Tp("syscalls", "sys_exit_setns")),
    (
        "sys_enter_unshare",
        Hook::Tp("syscalls", "sys_enter_unshare"),
    ),
    ("sys_exit_unshare", Hook::Tp("syscalls", "sys_exit_unshare")),
    ("signal_generate", Hook::TpBtf("signal_generate")),
    ("signal_deliver", Hook::TpBtf("signal_deliver")),
    ("sys_enter_prctl", Hook::Tp("syscalls", "sys_enter_prctl")),
    ("sys_exit_prctl", Hook::Tp("syscalls", "sys_exit_prctl")),
    ("sys_enter_bind", Hook::Tp("syscalls", "sys_enter_bind")),
    ("sys_exit_bind", Hook::Tp("syscalls", "sys_exit_bind")),
    (
        "sys_exit_rt_sigaction",
        Hook::Tp("syscalls", "sys_exit_rt_sigaction"),
    ),
    (
        "sys_exit_rt_sigprocmask",
        Hook::Tp("syscalls", "sys_exit_rt_sigprocmask"),
    ),
    (
        "sys_exit_signalfd4",
        Hook::Tp("syscalls", "sys_exit_signalfd4"),
    ),
    (
        "sys_enter_rt_sigtimedwait",
        Hook::Tp("syscalls", "sys_enter_rt_sigtimedwait"),
    ),
];

/// Settings for loading.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Ring buffer size in bytes (a power of two, at least one page).
    pub ring_buffer_size: u32,
    /// Signals streamed (bit n = signal n).
    pub signal_mask: u64,
    /// Stream those only when they concern a process outside the node's PID
    /// namespace (the agent); the rest are counted.
    pub signals_in_containers_only: bool,
    /// Let the programs say which kernel read failed, where (aya-log).
    pub debug_probes: bool,
}

/// Where the programs' log lines go: stderr, one line each.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        eprintln!("nstrace: probe {}: {}", record.level(), record.args());
    }

    fn flush(&self) {}
}

/// aya-log's level that lets every message through (its `Trace`); 0 lets none.
const LOG_ALL: u8 = 5;

/// Loaded, attached programs and the maps userspace reads.
pub struct Probes {
    /// Owns programs and links; dropping it detaches them.
    ebpf: Ebpf,
    counters: PerCpuArray<MapData, u64>,
    /// The programs' log, with `--debug-probes`.
    logger: Option<aya_log::EbpfLogger<StderrLog>>,
    /// Their links, detached together on drop.
    attached: Vec<Attached>,
}

/// Checks, before anything is loaded, that this machine can run nstrace;
/// each failure is one clear sentence.
pub fn preflight() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("nstrace needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN) to load its eBPF programs; run it with sudo");
    }
    require_caps(
        &[
            (caps::SYS_ADMIN, "CAP_SYS_ADMIN"),
            (caps::SYS_PTRACE, "CAP_SYS_PTRACE"),
        ],
        "load its eBPF programs and read every process's namespaces",
    )?;
    kernel_fits()
}

/// The capabilities `nstrace agent` needs on a node, and what each is for:
/// the least set it runs with (checked with the image under podman, one test
/// per capability). CAP_SYS_ADMIN is needed to enter pods' network
/// namespaces, and with it the kernel needs neither CAP_BPF nor CAP_PERFMON.
pub const AGENT_CAPS: [(u32, &str, &str); 3] = [
    (
        caps::SYS_ADMIN,
        "CAP_SYS_ADMIN",
        "load and attach its eBPF programs, enter pods' network namespaces (setns) and mount a private tracefs where the node has none",
    ),
    (
        caps::SYS_PTRACE,
        "CAP_SYS_PTRACE",
        "read every process's namespaces, executable and root in /proc",
    ),
    (
        caps::DAC_READ_SEARCH,
        "CAP_DAC_READ_SEARCH",
        "find which process holds a port in pods that run as other users (/proc/PID/fd)",
    ),
];

/// The agent's checks: root, [`AGENT_CAPS`], the kernel. A missing
/// capability is one line naming it and what it is for.
pub fn preflight_agent() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("nstrace agent runs as root (uid 0) with {}; run it with sudo, or as uid 0 in its container", cap_list());
    }
    if let Some(why) = missing_agent_caps(procfs::effective_caps()) {
        bail!("{why}");
    }
    kernel_fits()
}

/// "CAP_SYS_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH".
fn cap_list() -> String {
    let names: Vec<&str> = AGENT_CAPS.iter().map(|(_, n, _)| *n).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// The one-line refusal for effective capabilities `have`, if any is missing.
pub fn missing_agent_caps(have: u64) -> Option<String> {
    let missing: Vec<String> = AGENT_CAPS
        .iter()
        .filter(|(bit, _, _)| have & (1 << bit) == 0)
        .map(|(_, name, what)| format!("{name} to {what}"))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "nstrace agent needs {}; this process lacks {} (effective capabilities {have:#x}): add {} to the container's capabilities (securityContext.capabilities.add), or run it with full root privileges",
        missing.join(", and "),
        if missing.len() == 1 { "it" } else { "them" },
        if missing.len() == 1 { "it" } else { "them" },
    ))
}

/// The kernel is recent enough (a warning if it is older than every kernel
/// tested) and has BTF.
fn kernel_fits() -> Result<()> {
    match kernel_verdict(&procfs::kernel_release()) {
        Err(refusal) => bail!("{refusal}"),
        Ok(Some(warning)) => eprintln!("nstrace: warning: {warning}"),
        Ok(None) => {}
    }
    if !procfs::exists(btf::Btf::KERNEL_PATH) {
        bail!(
            "kernel BTF not found at {} (nstrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y)",
            btf::Btf::KERNEL_PATH
        );
    }
    Ok(())
}

/// Checks that this process can read every process's /proc entries.
pub fn preflight_proc() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("nstrace topology needs root to read every process's namespaces; run it with sudo");
    }
    require_caps(
        &[(caps::SYS_PTRACE, "CAP_SYS_PTRACE")],
        "read every process's namespaces",
    )
}

/// Fails with one sentence naming the missing capabilities (root can run
/// without them: a container's default set, `setpriv --bounding-set -all`).
pub fn require_caps(needed: &[(u32, &str)], to: &str) -> Result<()> {
    let have = procfs::effective_caps();
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(bit, _)| have & (1 << bit) == 0)
        .map(|(_, name)| *name)
        .collect();
    if !missing.is_empty() {
        bail!(
            "nstrace needs {} to {to}, and this process lacks {} (effective capabilities {have:#x}); run it with full root privileges",
            missing.join(" and "),
            if missing.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}

impl Probes {
    /// Resolves offsets, loads the object and attaches every program.
    pub fn load(opts: Options) -> Result<Probes> {
        if OBJECT.is_empty() {
            bail!("this nstrace was built without its kernel programs (a plain `cargo build`); build it with `cargo xtask build`");
        }
        let kernel_btf = btf::Btf::from_kernel()?;
        let offsets = offsets::resolve_here(&kernel_btf)?;
        let sig_offsets = offsets::resolve_sig(&kernel_btf)?;
        let node = procfs::node_ns();
        let config = Config {
            signal_mask: opts.signal_mask,
            self_tgid: std::process::id(),
            // Wake the collector each time the unread data crosses a multiple of 1/16 of
            // the buffer (every record from 3/4 on); the drain timer does the rest.
            wakeup_bytes: opts.ring_buffer_size / 16,
            signals_in_containers_only: u32::from(opts.signals_in_containers_only),
            node_pid_ns: node.pid,
        };
        // The bind filter drops successful binds of the node's own daemons.
        let net_config = NetConfig {
            node_mnt: node.mnt,
            node_net: node.net,
        };
        let aya_btf = aya::Btf::from_sys_fs().context("reading kernel BTF for program loading")?;
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&aya_btf))
            .override_global("OFFSETS", &offsets, true)
            .override_global("CONFIG", &config, true)
            .override_global("NET_CONFIG", &net_config, true)
            .override_global("SIG_OFFSETS", &sig_offsets, true)
            // Off by default: frozen at 0, the verifier drops every log call.
            .override_global(
                "AYA_LOG_LEVEL",
                &if opts.debug_probes { LOG_ALL } else { 0u8 },
                true,
            )
            .map_max_entries("EVENTS", opts.ring_buffer_size)
            // PENDING is task storage, which aya creates but
            // does not wrap for userspace (only the programs use them).
            .allow_unsupported_maps()
            .load(OBJECT)
            .context("loading the eBPF object")?;
        let mut attached = Vec::with_capacity(PROGRAMS.len());
        for (name, hook) in &PROGRAMS {
            attached.push(attach(&mut ebpf, name, hook, &aya_btf, opts.debug_probes)?);
        }
        let counters =
            PerCpuArray::try_from(ebpf.take_map("COUNTERS").context("map COUNTERS missing")?)?;
        let logger = if opts.debug_probes {
            Some(
                aya_log::EbpfLogger::init_with_logger(&mut ebpf, StderrLog)
                    .context("reading the programs' log (--debug-probes)")?,
            )
        } else {
            None
        };
        Ok(Probes {
            ebpf,
            counters,
            logger,
            attached,
        })
    }

    /// The signal dispositions of every namespace init and subreaper now,
    /// from the task iterator: raw `SigState` records.
    pub fn sigstate_at_start(&mut self) -> Result<Vec<Vec<u8>>, sigstate::IterError> {
        let btf = aya::Btf::from_sys_fs().map_err(|e| sigstate::IterError::Load(e.to_string()))?;
        sigstate::run(&mut self.ebpf, &btf)
    }

    /// Prints what the programs logged since (with `--debug-probes`).
    pub fn flush_logs(&mut self) {
        if let Some(l) = self.logger.as_mut() {
            l.flush();
        }
    }

    /// Hands over the event stream (once).
    pub fn take_ring(&mut self) -> Result<RingBuf<MapData>> {
        let map = self
            .ebpf
            .take_map("EVENTS")
            .context("the event ring buffer was already taken")?;
        Ok(RingBuf::try_from(map)?)
    }

    /// The kernel's counters plus what the collector itself counted
    /// (`received`, `undecodable` from `user`): the line printed at exit.
    pub fn totals(&self, user: &Stats) -> Stats {
        let mut s = self.stats();
        s.received = user.received;
        s.undecodable = user.undecodable;
        s.names = user.names;
        s.signal_reads = user.signal_reads;
        s.net = user.net;
        s
    }

    /// Current counters summed over CPUs (userspace fields are zero).
    pub fn stats(&self) -> Stats {
        let mut slots = vec![0u64; counter::SLOTS as usize];
        for (i, slot) in slots.iter_mut().enumerate() {
            if let Ok(per_cpu) = self.counters.get(&(i as u32), 0) {
                *slot = per_cpu.iter().sum();
            }
        }
        Stats::from_slots(&slots)
    }
}

/// An attached program's link, to detach it on purpose (see `Drop for Probes`).
enum Attached {
    /// A classic tracepoint's.
    Tp(&'static str, TracePointLinkId),
    /// A BTF tracepoint's.
    TpBtf(&'static str, BtfTracePointLinkId),
}

fn attach(
    ebpf: &mut Ebpf,
    name: &'static str,
    hook: &Hook,
    btf: &aya::Btf,
    debug: bool,
) -> Result<Attached> {
    let prog = ebpf
        .program_mut(name)
        .with_context(|| format!("program {name} missing from the object"))?;
    Ok(match hook {
        Hook::TpBtf(tp) => {
            let p: &mut BtfTracePoint = prog.try_into()?;
            let what = format!("tp_btf/{tp}");
            p.load(tp, btf).map_err(|e| load_error(&what, e, debug))?;
            let id = p
                .attach()
                .with_context(|| format!("attaching tp_btf/{tp}"))?;
            Attached::TpBtf(name, id)
        }
        Hook::Tp(cat, tp) => {
            let p: &mut TracePoint = prog.try_into()?;
            let what = format!("tracepoint/{cat}/{tp}");
            p.load().map_err(|e| load_error(&what, e, debug))?;
            let id = p
                .attach(cat, tp)
                .with_context(|| format!("attaching tracepoint/{cat}/{tp}"))?;
            Attached::Tp(name, id)
        }
    })
}

impl Drop for Probes {
    /// Detaches every program at once. Each detach waits in the kernel for
    /// RCU grace periods (a classic tracepoint's perf event waits for
    /// `synchronize_rcu` and friends), and on a node busy with a storm a
    /// grace period takes long: one detach after the other took 1 to 30 s
    /// here during a stress-ng kill storm. From threads of their own, the
    /// detaches wait for the same grace periods together. What is not taken
    /// here (a failed take) is detached when `ebpf` drops, after this.
    fn drop(&mut self) {
        let mut links: Vec<Box<dyn Send>> = Vec::new();
        for a in self.attached.drain(..) {
            match a {
                Attached::Tp(name, id) => {
                    let p: Option<&mut TracePoint> =
                        self.ebpf.program_mut(name).and_then(|p| p.try_into().ok());
                    if let Some(Ok(link)) = p.map(|p| p.take_link(id)) {
                        links.push(Box::new(link));
                    }
                }
                Attached::TpBtf(name, id) => {
                    let p: Option<&mut BtfTracePoint> =
                        self.ebpf.program_mut(name).and_then(|p| p.try_into().ok());
                    if let Some(Ok(link)) = p.map(|p| p.take_link(id)) {
                        links.push(Box::new(link));
                    }
                }
            }
        }
        std::thread::scope(|s| {
            for link in links {
                // No thread to be had: the closure, and the link in it, drops
                // right here (detached inline, one after the other).
                let _ = std::thread::Builder::new()
                    .name("nstrace-detach".into())
                    .spawn_scoped(s, move || drop(link));
            }
        });
    }
}

/// Set to see the verifier's whole log when it refuses a program.
const VERIFIER_LOG_ENV: &str = "NSTRACE_VERIFIER_LOG";

/// A program the kernel would not load, in one line: which program, the
/// verifier's own reason (its last line before the statistics), the kernel
/// release, and how to see the whole log. Other load errors pass through.
fn load_error(what: &str, e: aya::programs::ProgramError, debug: bool) -> anyhow::Error {
    let aya::programs::ProgramError::LoadError {
        io_error,
        verifier_log,
    } = e
    else {
        return anyhow::Error::new(e).context(format!("loading {what}"));
    };
    let log = verifier_log.to_string();
    let reason = verifier_reason(&log).unwrap_or("no reason given");
    let hint = if debug {
        "; run without --debug-probes (its log calls make the programs larger than some verifiers accept)"
    } else {
        ""
    };
    let full = if std::env::var_os(VERIFIER_LOG_ENV).is_some() {
        format!("\n{log}")
    } else {
        format!(" (set {VERIFIER_LOG_ENV}=1 for the verifier's whole log)")
    };
    anyhow::anyhow!(
        "the kernel ({}) refused {what}: {reason} ({io_error}){hint}{full}",
        procfs::kernel_release()
    )
}

/// The verifier's reason for a refusal: its last line that is not one of the
/// statistics it prints after every verification.
fn verifier_reason(log: &str) -> Option<&str> {
    const STATS: [&str; 4] = [
        "verification time",
        "stack depth",
        "processed ",
        "mark_read",
    ];
    log.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !STATS.iter().any(|s| l.starts_with(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_are_refused_warned_about_or_taken() {
        let old = kernel_verdict("5.10.0-32-amd64").unwrap_err();
        assert!(old.contains("5.10.0-32-amd64 is too old"), "{old}");
        assert!(old.contains("5.11 or newer"), "{old}");
        assert!(old.contains("tested on 6.1, 6.12 and 6.18"), "{old}");
        let untested = kernel_verdict("5.15.0-91-generic").unwrap().unwrap();
        assert!(untested.contains("older than every kernel"), "{untested}");
        for tested in [
            "6.1.0-57-amd64",
            "6.12.95+deb12-amd64",
            "6.18.44-fc",
            "7.0.1",
        ] {
            assert_eq!(kernel_verdict(tested), Ok(None), "{tested}");
        }
        // An unparsable release is not refused: the loader says what is missing.
        assert_eq!(kernel_verdict("weird"), Ok(None));
    }

    #[test]
    fn the_verifier_reason_is_its_last_line_before_the_statistics() {
        // The tails of two real refusals on Linux 6.1 (cargo xtask vmtest).
        let bounds = "1357: (2f) r4 *= r3                   ; frame1: R4_w=scalar()\n\
            1358: (0f) r8 += r4\n\
            math between ptr_ pointer and register with unbounded min value is not allowed\n\
            verification time 8128 usec\n\
            stack depth 152+48+0+0+0+0+0+0\n\
            processed 118 insns (limit 1000000) max_states_per_insn 0 total_states 8 peak_states 8 mark_read 2\n";
        assert_eq!(
            verifier_reason(bounds),
            Some("math between ptr_ pointer and register with unbounded min value is not allowed")
        );
        let size = "3412: (79) r2 = *(u64 *)(r10 -8)\n\
            BPF program is too large. Processed 1000001 insn\n\
            verification time 29137742 usec\n\
            stack depth 200+24+0+32+48+24+32+0\n\
            processed 1000001 insns (limit 1000000) max_states_per_insn 33 total_states 41537 peak_states 5886 mark_read 47\n";
        assert_eq!(
            verifier_reason(size),
            Some("BPF program is too large. Processed 1000001 insn")
        );
        assert_eq!(verifier_reason("\n\n"), None);
    }

    #[test]
    fn a_missing_agent_capability_is_named_with_what_it_is_for() {
        let all = AGENT_CAPS.iter().fold(0u64, |m, (bit, _, _)| m | 1 << bit);
        assert_eq!(missing_agent_caps(all), None);
        assert_eq!(missing_agent_caps(u64::MAX), None);
        for (bit, name, what) in AGENT_CAPS {
            let line = missing_agent_caps(all & !(1 << bit)).unwrap();
            assert!(line.contains(&format!("needs {name} to {what};")), "{line}");
            assert!(!line.contains('\n'));
            for (_, other, _) in AGENT_CAPS.iter().filter(|(b, _, _)| *b != bit) {
                assert!(!line.contains(other), "{line}");
            }
        }
        let none = missing_agent_caps(0).unwrap();
        assert!(none.contains("lacks them"), "{none}");
        assert_eq!(
            cap_list(),
            "CAP_SYS_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"
        );
    }
}
