//! Command-line interface: what each command does, its flags, and how values are parsed.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use nstrace_common::Kind;

use crate::consumer::report::ReportFormat;
use crate::detect::Severity;
use crate::event::names::parse_signal;
use crate::output::topology::TopoFormat;
use crate::output::Format;

/// Trace Linux namespaces and PID-1 behaviour of containers and pods, with eBPF.
///
/// nstrace attaches to the kernel (setns, unshare, clone, exec, exit, reaping,
/// wait, signals, prctl renames and bind), and reports every event with the
/// namespaces of the task it concerns. It needs root and a kernel with BTF.
///
/// Kernels: tested on Linux 6.1 and 6.12 (cgroup v2, in VMs) and 6.18 (cgroup
/// v1) on every test run; 5.11 to 6.0 start with a warning (untested); 5.10
/// and older are refused (no task storage for tracing programs).
#[derive(Debug, Parser)]
#[command(
    name = "nstrace",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stream namespace, process and signal events as they happen.
    ///
    /// Examples:
    ///   nstrace watch                                 # everything, as text
    ///   nstrace watch --format json --kind unshare,setns
    ///   nstrace watch --pid 4242 --signal TERM,KILL   # one process tree's signals
    ///   nstrace watch --duration 30s --record trace.nst
    ///
    /// Ctrl-C (or SIGTERM) stops it: programs are detached, output flushed and
    /// the counters (drops, failed reads, filtered signals) printed to stderr.
    /// SIGUSR1 prints the counters without stopping.
    #[command(verbatim_doc_comment)]
    Watch(WatchArgs),
    /// Print a record file (`watch --record`, `audit --record`) exactly as it was
    /// printed live, or its topology or audit findings.
    ///
    /// Examples:
    ///   nstrace replay trace.nst --format json --kind exit
    ///   nstrace replay trace.nst --topology          # the topology at the end of the recording
    #[command(verbatim_doc_comment)]
    Replay(ReplayArgs),
    /// Show which processes, containers and pods share which namespaces.
    ///
    /// Pods are found the way Kubernetes builds them: containers that share the
    /// sandbox's net, ipc or uts namespace (pid too with shareProcessNamespace), or
    /// whose cgroup names one pod; the infra (pause) container holds them. For each
    /// pod it prints the sharing matrix (per namespace type: shared by all
    /// containers, per container, or the node's) and the flags hostNetwork,
    /// hostPID, hostIPC and shareProcessNamespace; and its network: interfaces
    /// and addresses, the veth's other end on the node and its bridge, and who
    /// listens on which port (container and process). A hostNetwork pod is the
    /// node network and lists only its own listeners.
    ///
    /// Examples:
    ///   nstrace topology                       # a snapshot from /proc, as a tree
    ///   nstrace topology --format json
    ///   nstrace topology --format dot | dot -Tsvg > topology.svg
    ///   nstrace topology --watch               # re-print whenever it changes
    ///   nstrace topology --duration 30s        # trace for 30 s, then print
    #[command(verbatim_doc_comment)]
    Topology(TopologyArgs),
    /// Watch for PID-1 problems, slow shutdowns, namespace joins, exec
    /// sessions into containers and port clashes; print findings and a summary.
    ///
    /// Findings:
    ///   pid1_never_reaps       a PID-namespace init (or subreaper) leaves zombies
    ///                          older than --zombie-after unreaped          (medium)
    ///   pid1_ignores_sigterm   SIGTERM to a PID-namespace init was dropped by the
    ///                          kernel: no handler, only SIGKILL will end it (high)
    ///   sigterm_not_forwarded  the init took SIGTERM but sent no terminating signal
    ///                          to its running children within --forward-window
    ///                                                                    (medium)
    ///   killed_at_teardown     PID 1 exited after SIGTERM and left processes that
    ///                          never got a graceful signal to the kernel's
    ///                          SIGKILL                                     (low)
    ///   pid1_will_ignore_sigterm  predicted: a container's PID 1 has no SIGTERM
    ///                          handler (medium); one whose runtime re-raises
    ///                          it                                          (low)
    ///   pid1_not_reaping_capable  predicted: a container's PID 1 is no reaping
    ///                          init and does not handle SIGCHLD            (low)
    ///   pid1_stop_signal       predicted: a container's PID 1 is a server to
    ///                          which SIGTERM is no graceful stop: a reload
    ///                          (uWSGI without --die-on-term)             (medium)
    ///                          a fast stop (nginx, PHP-FPM, HAProxy)       (low)
    ///   slow_shutdown          a container that got SIGTERM was ended by SIGKILL,
    ///                          with the timeline, a verdict and advice   (medium)
    ///   host_namespace_join    a process in a container joined one of the node's
    ///                          namespaces: the escape pattern              (high)
    ///   cross_pod_join         a process in a container joined another pod's
    ///                          namespace                                 (medium)
    ///   user_namespace_created inside a container or by a non-root uid (medium),
    ///                          else                                        (info)
    ///   namespace_join         any other setns, unshare or clone with CLONE_NEW*:
    ///                          node administration (ip netns exec, nsenter),
    ///                          runtimes building pods (marked expected)    (info)
    ///   port_conflict          a bind in a container was refused (EADDRINUSE):
    ///                          another container of its pod holds the port, or
    ///                          the node does and the pod is hostNetwork  (medium)
    ///                          the same container, or no holder found      (info)
    ///   exec_session           a program of the node entered a container and ran
    ///                          a command there (podman/CRI/docker exec, nsenter):
    ///                          the container, runtime and caller, the command,
    ///                          uid and capabilities, terminal, processes,
    ///                          duration; a preStop hook                    (low)
    ///                                                                      (info)
    ///   exec_probe             the same command into a container on a regular
    ///                          period (an exec probe): said once, counted  (info)
    ///   debug_container        a container started into another container's PID
    ///                          (or network) namespace (kubectl debug --target):
    ///                          with SYS_PTRACE or SYS_ADMIN              (medium)
    ///                          else                                         (low)
    ///
    /// Every join names its actor (pid, comm, exe, uid, capabilities, pod and
    /// container or node), the action, the target (node, pod / container,
    /// named netns, new) and the result. A refused attempt is one level lower.
    ///
    /// Examples:
    ///   nstrace audit --duration 10m
    ///   nstrace audit --format json --fail-on medium   # exit 1 if anything medium+
    ///   nstrace audit --record audit.nst              # later: nstrace replay audit.nst --audit
    ///   nstrace audit --policy allow.toml            # expected joins become "allowed"
    #[command(verbatim_doc_comment)]
    Audit(AuditArgs),
    /// Follow one termination and print its timeline: every signal into the
    /// container with the kernel's verdict, every exit, the final SIGKILL, the
    /// total, a verdict and one line of advice.
    ///
    /// Start it, then stop the pod (kubectl delete pod, podman pod stop -t 30 …).
    ///
    /// Examples:
    ///   nstrace shutdown --pod web
    ///   nstrace shutdown --pid 4242 --format json
    #[command(verbatim_doc_comment)]
    Shutdown(ShutdownArgs),
    /// Run as a node agent: every detector and the live topology, for days.
    ///
    /// Findings go to stdout as JSON lines (the `audit --format json` schema)
    /// for Fluent Bit, Vector or Loki, and optionally to a rotating file: low
    /// and above by default; routine namespace joins by container runtimes
    /// and exec probes are counted in /metrics instead (--min-severity info
    /// logs the joins and says each probe once).
    /// An HTTP listener, on a thread of its own, serves:
    ///   /           the report page (see `report --help`) of the node now: its
    ///               topology, the last 50 shutdowns and 200 findings (at most 2 MiB)
    ///   /metrics    Prometheus exposition: events, drops, failed reads, findings
    ///               by kind/severity/namespace/pod/container, zombies, shutdown
    ///               durations, pods, containers, the agent's own memory
    ///   /healthz    200 once attached and draining the ring buffer, else 503 and why
    ///   /topology   the `topology --format json` document, kept current
    /// Series of pods that are gone are removed after --series-hold. A second
    /// agent on the same node refuses to start (it would double every count).
    /// SIGTERM or Ctrl-C detaches, flushes and exits 0. It needs root with
    /// CAP_SYS_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (no more: see
    /// deploy/daemonset.yaml), and says which one is missing.
    ///
    /// Examples:
    ///   nstrace agent                                   # 127.0.0.1:9750
    ///   nstrace agent --listen 0.0.0.0:9750 --output /var/log/nstrace/findings.jsonl
    ///   curl -s localhost:9750/metrics | grep nstrace_findings_total
    #[command(verbatim_doc_comment)]
    Agent(AgentArgs),
    /// One self-contained HTML page of the node: a summary with the counters,
    /// each pod as a graph (containers, shared namespaces, network), every
    /// container's PID 1, every shutdown as a timeline chart, the findings
    /// (filterable) and the namespace joins.
    ///
    /// From a recording (`audit --record`, or an unfiltered `watch --record`),
    /// or live (`--duration`, else until Ctrl-C). The page makes no request,
    /// reads with JavaScript off, follows the reader's light or dark setting
    /// and prints; everything from the node is shown as text, so it can be
    /// attached to a ticket. `--format json` prints the document it is made of.
    ///
    /// Examples:
    ///   nstrace report audit.nst -o report.html
    ///   nstrace report --duration 2m -o report.html
    ///   nstrace report audit.nst --pod shop -o shop.html
    ///   nstrace report audit.nst --format json | jq '.shutdowns[].verdict'
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),
    /// Write nstrace's manual pages or shell completions (for packagers).
    ///
    /// Examples:
    ///   nstrace generate man --dir /usr/local/share/man/man1   # nstrace.1 and one page per command
    ///   nstrace generate bash > /etc/bash_completion.d/nstrace
    ///   nstrace generate zsh --dir ~/.zfunc                    # writes _nstrace
    #[command(verbatim_doc_comment)]
    Generate(GenerateArgs),
}

/// `nstrace agent` options.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Address of the HTTP listener (/, /metrics, /healthz, /topology).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9750")]
    pub listen: std::net::SocketAddr,
    /// HTTP connections open at once at most; a new one closes the oldest.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub http_max_connections: u16,
    /// Time an HTTP client has to send a request's head (and, on a kept-alive
    /// connection, to start its next request).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub http_header_timeout: Duration,
    /// An HTTP connection on which no byte moves for this long is closed.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub http_idle_timeout: Duration,
    /// Also append findings (JSON lines) to this file, rotated by size.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Rotate --output when it would pass this size (e.g. 10M, 1G).
    #[arg(long, value_name = "SIZE", default_value = "100M", value_parser = parse_size, requires = "output")]
    pub output_max_size: u64,
    /// How many rotated files of --output to keep (FILE.1 … FILE.N).
    #[arg(long, value_name = "N", default_value_t = 5, requires = "output")]
    pub output_keep: u32,
    /// The lock that keeps a second agent off this node.
    #[arg(long, value_name = "PATH", default_value = "/run/nstrace/agent.lock")]
    pub lock_file: PathBuf,
    /// How long the metric series of a pod stay after the pod is gone.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub series_hold: Duration,
    /// Log only findings at or above this severity; every finding is still
    /// counted in /metrics. `info` also logs routine joins by container
    /// runtimes (otherwise only counted, in nstrace_runtime_joins_total).
    #[arg(long, value_name = "SEVERITY", default_value = "low", value_parser = severity_parser())]
    pub min_severity: Severity,
    /// Also log, on stderr, one JSON line (`"level":"debug"`) for each
    /// correction of the model from /proc: a process the kernel's events
    /// said alive or a zombie that /proc shows gone (every correction is
    /// counted in nstrace_model_corrections_total{reason} either way).
    #[arg(long)]
    pub debug: bool,
    /// Settings of the PID-1 detectors.
    #[command(flatten)]
    pub detect: DetectorArgs,
    /// Allow rules (TOML; see `audit --help` and the README).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Also stream these signals (TERM, SIGWINCH, 28…) to processes in
    /// containers, e.g. to see them in shutdown timelines. By default the
    /// kernel streams only what the detectors read: HUP INT QUIT KILL USR1
    /// USR2 TERM, to processes outside the node's PID namespace; every other
    /// signal is counted there (nstrace_signals_counted_total), not streamed.
    #[arg(long, visible_alias = "signal", value_name = "SIG", value_delimiter = ',', value_parser = parse_sig)]
    pub signals: Vec<u32>,
    /// The ring buffer.
    #[command(flatten)]
    pub ring: RingArgs,
    /// Where the runtimes keep the files that name containers and pods.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

impl AgentArgs {
    /// The signals the agent streams: what the detectors read, and `--signals`.
    pub fn signal_mask(&self) -> u64 {
        let mut sigs = crate::detect::SIGNALS_READ.to_vec();
        sigs.extend(&self.signals);
        nstrace_common::signal_mask(&sigs)
    }
}

/// `nstrace report` options.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A record file (`audit --record`, or an unfiltered `watch --record`);
    /// without one, the node is traced live.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Write the report to this file (default: stdout).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// `html` (one self-contained page) or `json` (the document it is made of).
    #[arg(long, default_value = "html", value_parser = report_format_parser())]
    pub format: ReportFormat,
    /// Only this pod: NAME or NAMESPACE/NAME (its graph, shutdowns, findings
    /// and joins; the node's counters stay the whole node's).
    #[arg(long, value_name = "NAME")]
    pub pod: Option<String>,
    /// Keep at most this many shutdowns, findings and pods that came and went
    /// (the latest; the rest are counted in the summary).
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_items: u32,
    /// Live: trace for this long (default: until Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "file")]
    pub duration: Option<Duration>,
    /// Live: also record everything, for `replay` or another report later.
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    pub record: Option<PathBuf>,
    /// Live: settings of the PID-1 detectors (a recording keeps its own).
    #[command(flatten)]
    pub detect: DetectorArgs,
    /// Allow rules (TOML; see `audit --help` and the README).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The ring buffer.
    #[command(flatten)]
    pub ring: RingArgs,
    /// Where the runtimes keep the files that name containers and pods.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// `nstrace generate` options.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to write: `man` (troff pages), or the completions of `bash`,
    /// `zsh`, `fish` or `elvish`.
    #[arg(value_name = "WHAT", value_parser = ["man", "bash", "zsh", "fish", "elvish"])]
    pub what: String,
    /// Write into this directory (one file per page, or the shell's file
    /// name) instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// What a command needs of this machine before it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// Load and attach the kernel programs (root, capabilities, BTF, tracefs).
    Trace,
    /// The agent: tracing, and the capability set it is given in a DaemonSet.
    Agent,
    /// Read every process's /proc entries (root, CAP_SYS_PTRACE).
    ReadProc,
    /// Nothing: it reads a file.
    None,
}

impl Command {
    /// What this command needs of the machine.
    pub fn privilege(&self) -> Privilege {
        match self {
            Command::Replay(_) | Command::Generate(_) => Privilege::None,
            Command::Report(r) if r.file.is_some() => Privilege::None,
            Command::Agent(_) => Privilege::Agent,
            Command::Topology(t) if !t.watch && t.duration.is_none() => Privilege::ReadProc,
            Command::Audit(a) if a.once => Privilege::ReadProc,
            _ => Privilege::Trace,
        }
    }
}

/// `nstrace shutdown` options.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["pod", "pid", "container"])))]
pub struct ShutdownArgs {
    /// The pod: NAME or NAMESPACE/NAME as the runtime names it (else its
    /// hostname), or a prefix of its id. A Compose project is a pod.
    #[arg(long, value_name = "NAME")]
    pub pod: Option<String>,
    /// A process in a container (its PID namespace is followed).
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// A container on any runtime: its name (the pod spec's, Docker's
    /// `shop-cart`, or a Compose service, which follows every replica of it),
    /// POD/NAME, or a prefix of its id (`docker stop shop-cart` is all a
    /// Docker user needs to know).
    #[arg(long, value_name = "NAME|ID-PREFIX")]
    pub container: Option<String>,
    /// Give up after this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Where the runtimes keep the files that name containers and pods.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = format_parser())]
    pub format: Format,
}

/// `nstrace audit` options.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Output format.
    #[arg(long, default_value = "text", value_parser = format_parser())]
    pub format: Format,
    /// Run for this long (default: until Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Exit 1 if any finding is at or above this severity (info, low, medium, high).
    #[arg(long, value_name = "SEVERITY", value_parser = severity_parser())]
    pub fail_on: Option<Severity>,
    /// Print only findings at or above this severity (the summary counts all).
    /// Default: low in text (info findings — routine joins by container
    /// runtimes, node administration — are summed up at the end), info in JSON.
    #[arg(long, value_name = "SEVERITY", value_parser = severity_parser())]
    pub min_severity: Option<Severity>,
    /// Settings of the PID-1 detectors.
    #[command(flatten)]
    pub detect: DetectorArgs,
    /// The ring buffer.
    #[command(flatten)]
    pub ring: RingArgs,
    /// Where the runtimes keep the files that name containers and pods.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Take the /proc snapshot, print the predictions for every container
    /// init (no SIGTERM handler, not reaping), and exit: a pre-rollout check.
    /// With --fail-on medium it exits 1 when a PID 1 will drop SIGTERM.
    #[arg(long, conflicts_with_all = ["duration", "record"])]
    pub once: bool,
    /// Record everything (snapshot, events, clock ticks) for `replay --audit`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Allow rules (TOML) for findings this site expects; matches are shown as
    /// allowed, do not count for --fail-on, and are counted per rule. See the README.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

impl AuditArgs {
    /// `--min-severity`, or the default for the format: low in text (for
    /// people: what to read), info in JSON (for machines: everything).
    pub fn min_severity(&self) -> Severity {
        self.min_severity
            .unwrap_or(default_min_severity(self.format))
    }
}

/// The default `--min-severity` of an audit printed in `format`.
pub fn default_min_severity(format: Format) -> Severity {
    match format {
        Format::Text => Severity::Low,
        Format::Json => Severity::Info,
    }
}

/// `nstrace topology` options.
#[derive(Debug, Args)]
pub struct TopologyArgs {
    /// Output format: tree, json or dot.
    #[arg(long, default_value = "tree", value_parser = topo_format_parser())]
    pub format: TopoFormat,
    /// Keep tracing and print the topology again whenever it changes.
    #[arg(long)]
    pub watch: bool,
    /// Trace for this long, then print (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// The ring buffer.
    #[command(flatten)]
    pub ring: RingArgs,
    /// Where the runtimes keep the files that name containers and pods.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Settings of the PID-1 detectors.
#[derive(Debug, Args, Clone)]
pub struct DetectorArgs {
    /// A zombie older than this is a finding.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub zombie_after: Duration,
    /// Time PID 1 has to pass SIGTERM on to its children.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub forward_window: Duration,
    /// How long a container's PID 1 runs its program before its signal
    /// handling is judged (programs install their handlers first thing).
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    pub predict_after: Duration,
}

/// Where the container runtimes keep the files that name containers and
/// pods (a DaemonSet or a Docker host's agent container mounts the host's at
/// other paths). A container whose files are missing or unreadable keeps its
/// id, and is counted. Each may also be given in the environment (several
/// directories separated by `:`), which a flag overrides.
#[derive(Debug, Args, Clone)]
pub struct RuntimeArgs {
    /// containers/storage container directories, as CRI-O and podman use them
    /// (DIR/<id>/userdata/config.json); repeat for several.
    #[arg(long = "storage-root", value_name = "DIR", env = "NSTRACE_STORAGE_ROOT", value_delimiter = ':', default_values = ["/run/containers/storage/overlay-containers", "/var/lib/containers/storage/overlay-containers"])]
    pub storage_root: Vec<PathBuf>,
    /// containerd's task directories for Kubernetes (DIR/<id>/config.json); repeat for several.
    #[arg(long = "containerd-root", value_name = "DIR", env = "NSTRACE_CONTAINERD_ROOT", value_delimiter = ':', default_values = ["/run/containerd/io.containerd.runtime.v2.task/k8s.io"])]
    pub containerd_root: Vec<PathBuf>,
    /// containerd's metadata database, which still holds a container's spec
    /// (and so its names) after containerd deleted its bundle: it does so within
    /// milliseconds of the exit of a container that lived only milliseconds;
    /// repeat for several.
    #[arg(long = "containerd-db", value_name = "FILE", env = "NSTRACE_CONTAINERD_DB", value_delimiter = ':', default_values = ["/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db"])]
    pub containerd_db: Vec<PathBuf>,
    /// podman's state database, which names its pods and containers; repeat for several.
    #[arg(long = "podman-db", value_name = "FILE", env = "NSTRACE_PODMAN_DB", value_delimiter = ':', default_values = ["/var/lib/containers/storage/libpod/bolt_state.db"])]
    pub podman_db: Vec<PathBuf>,
    /// Docker's data root (dockerd's --data-root), whose containers/<id>/
    /// config.v2.json and hostconfig.json name Docker's containers and Compose
    /// projects; repeat for several. Only containers/ is read.
    #[arg(long = "docker-root", value_name = "DIR", env = "NSTRACE_DOCKER_ROOT", value_delimiter = ':', default_values = ["/var/lib/docker"])]
    pub docker_root: Vec<PathBuf>,
    /// containerd's task directories for Docker's `moby` namespace
    /// (DIR/<id>/config.json): dockerd on the system's containerd, or on the
    /// one it starts itself; repeat for several.
    #[arg(long = "moby-root", value_name = "DIR", env = "NSTRACE_MOBY_ROOT", value_delimiter = ':', default_values = ["/run/containerd/io.containerd.runtime.v2.task/moby", "/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby"])]
    pub moby_root: Vec<PathBuf>,
}

impl RuntimeArgs {
    /// The roots as the runtime reader takes them.
    pub fn roots(&self) -> crate::runtime::Roots {
        crate::runtime::Roots {
            storage: self.storage_root.clone(),
            containerd: self.containerd_root.clone(),
            containerd_db: self.containerd_db.clone(),
            podman: self.podman_db.clone(),
            docker: self.docker_root.clone(),
            moby: self.moby_root.clone(),
        }
    }
}

/// The ring buffer, for every command that traces.
#[derive(Debug, Args, Clone, Copy)]
pub struct RingArgs {
    /// Ring buffer size: a power of two of at least 4K (e.g. 256K, 8M, 64M).
    /// Events that find it full are dropped and counted, never lost silently.
    #[arg(long, value_name = "SIZE", default_value = "8M", value_parser = parse_ring_size)]
    pub ring_buffer_size: u32,
    /// Let the kernel programs say, on stderr, which kernel read failed and
    /// where (aya-log). Off by default, and then free: the programs' log
    /// calls are removed when they are loaded.
    #[arg(long)]
    pub debug_probes: bool,
}

/// Filters shared by watch and replay.
#[derive(Debug, Args, Default, Clone)]
pub struct FilterArgs {
    /// Only this process and its descendants (repeat or comma-separate for several).
    #[arg(long, value_name = "PID", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: Vec<u32>,
    /// Only tasks with this command name, as the kernel keeps it: at most 15
    /// bytes (signals also match on the target's name, renames on the new one).
    #[arg(long, value_name = "COMM", value_delimiter = ',', value_parser = parse_comm)]
    pub comm: Vec<String>,
    /// Only these event kinds: create, exec, exit, reap, wait, setns, unshare,
    /// signal_generate, signal_deliver, rename, bind, sigstate (or "signal" for both signal kinds).
    #[arg(long, value_name = "KIND", value_delimiter = ',', value_parser = parse_kind)]
    pub kind: Vec<KindSel>,
    /// Only these signals (TERM, SIGKILL, 15…). For watch this also sets which
    /// signals the kernel streams; default: HUP INT QUIT ABRT KILL USR1 SEGV USR2
    /// TERM CONT STOP TSTP. Others (CHLD, URG…) are counted, not streamed.
    #[arg(long, value_name = "SIG", value_delimiter = ',', value_parser = parse_sig)]
    pub signal: Vec<u32>,
}

/// `nstrace watch` options.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Output format.
    #[arg(long, default_value = "text", value_parser = format_parser())]
    pub format: Format,
    /// Which events to show.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Stop after this long (e.g. 500ms, 30s, 5m, 1h; a bare number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// The ring buffer.
    #[command(flatten)]
    pub ring: RingArgs,
    /// Where the runtimes keep the files that name containers and pods.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Also write the shown events to this record file (read it with `nstrace replay`).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

/// `nstrace replay` options.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Record file written by `nstrace watch --record`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = format_parser())]
    pub format: Format,
    /// Which events to show.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Print the namespace topology at the end of the recording instead of the
    /// events: --topology (a tree), --topology=json or --topology=dot (the
    /// recording must be unfiltered).
    #[arg(long, value_name = "FORMAT", num_args = 0..=1, require_equals = true, default_missing_value = "tree", conflicts_with = "audit", value_parser = topo_format_parser())]
    pub topology: Option<TopoFormat>,
    /// Run the audit detectors over the recording (record it with `audit --record`
    /// or an unfiltered `watch --record`) and print their findings.
    #[arg(long)]
    pub audit: bool,
    /// With --audit: see `audit --help`. Default: the recording's own
    /// (an `audit --record` keeps its settings), else 5s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "audit")]
    pub zombie_after: Option<Duration>,
    /// With --audit: see `audit --help`. Default: the recording's own, else 2s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "audit")]
    pub forward_window: Option<Duration>,
    /// With --audit: see `audit --help`. Default: the recording's own, else 3s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "audit")]
    pub predict_after: Option<Duration>,
    /// With --audit: exit 1 if any finding is at or above this severity.
    #[arg(long, value_name = "SEVERITY", requires = "audit", value_parser = severity_parser())]
    pub fail_on: Option<Severity>,
    /// With --audit: print only findings at or above this severity (default
    /// as for `audit`: low in text, info in JSON).
    #[arg(long, value_name = "SEVERITY", requires = "audit", value_parser = severity_parser())]
    pub min_severity: Option<Severity>,
    /// With --audit: allow rules (TOML; see `audit --help` and the README).
    #[arg(long, value_name = "FILE", requires = "audit")]
    pub policy: Option<PathBuf>,
}

/// A parser of one of `choices` (name, help, value), listed in `--help`.
fn choice<T: Copy + Send + Sync + 'static>(
    choices: &'static [(&'static str, &'static str, T)],
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(
        choices
            .iter()
            .map(|(name, help, _)| PossibleValue::new(*name).help(*help)),
    )
    .map(move |s: String| {
        choices
            .iter()
            .find(|(name, _, _)| *name == s)
            .map(|(_, _, v)| *v)
            .expect("clap checked the value")
    })
}

fn format_parser() -> impl TypedValueParser<Value = Format> {
    choice(&[
        (
            "text",
            "For people: aligned lines (one per event, or a finding with its evidence)",
            Format::Text,
        ),
        (
            "json",
            "One JSON object per line (schema in the README)",
            Format::Json,
        ),
    ])
}

fn report_format_parser() -> impl TypedValueParser<Value = ReportFormat> {
    choice(&[
        (
            "html",
            "One self-contained page: graphs, timelines, tables",
            ReportFormat::Html,
        ),
        (
            "json",
            "The report document the page is rendered from, as one JSON object",
            ReportFormat::Json,
        ),
    ])
}

fn topo_format_parser() -> impl TypedValueParser<Value = TopoFormat> {
    choice(&[
        (
            "tree",
            "Pods → containers → processes, with the sharing matrix",
            TopoFormat::Tree,
        ),
        (
            "json",
            "One JSON document (schema in the README)",
            TopoFormat::Json,
        ),
        (
            "dot",
            "Graphviz: namespaces and processes, pods as clusters",
            TopoFormat::Dot,
        ),
    ])
}

fn severity_parser() -> impl TypedValueParser<Value = Severity> {
    choice(&[
        ("info", "For the record", Severity::Info),
        ("low", "Worth a look", Severity::Low),
        ("medium", "Should be fixed", Severity::Medium),
        ("high", "Fix now", Severity::High),
    ])
}

/// One `--kind` value: a kind, or both signal kinds for "signal".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindSel(pub Vec<Kind>);

fn parse_kind(s: &str) -> Result<KindSel, String> {
    if s == "signal" {
        return Ok(KindSel(vec![Kind::SignalGenerate, Kind::SignalDeliver]));
    }
    Kind::ALL
        .iter()
        .find(|k| k.name() == s)
        .map(|k| KindSel(vec![*k]))
        .ok_or_else(|| {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            format!(
                "unknown kind '{s}' (expected one of: {}, signal)",
                names.join(", ")
            )
        })
}

fn parse_comm(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a command name cannot be empty".into());
    }
    if s.len() > 15 {
        return Err(format!(
            "'{s}' is longer than the 15 bytes the kernel keeps of a command name: use '{}'",
            s.get(..15).unwrap_or(s)
        ));
    }
    Ok(s.to_owned())
}

fn parse_sig(s: &str) -> Result<u32, String> {
    parse_signal(s)
        .ok_or_else(|| format!("unknown signal '{s}' (use a name like TERM or a number 1-64)"))
}

/// Parses "500ms", "30s", "5m", "1h" or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration '{s}' (examples: 500ms, 30s, 5m, 1h)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit '{unit}' (use ms, s, m or h)"
            ))
        }
    };
    if !(secs.is_finite() && secs > 0.0 && secs < 1e9) {
        return Err(format!("duration '{s}' must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// "4096", "512K", "100M", "1G" in bytes; `examples` for the error.
fn size_bytes(s: &str, examples: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size '{t}' (examples: {examples})"))?;
    Ok(n.saturating_mul(mult))
}

/// Parses "4096", "512K", "100M", "1G" into bytes (at least 4K).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bytes = size_bytes(s, "512K, 100M, 1G")?;
    if bytes < 4096 {
        return Err(format!("size '{}' must be at least 4K", s.trim()));
    }
    Ok(bytes)
}

/// Parses "4096", "256K", "8M", "1G" into a power-of-two byte count.
pub fn parse_ring_size(s: &str) -> Result<u32, String> {
    let bytes = size_bytes(s, "256K, 8M")?;
    if bytes < 4096 || !bytes.is_power_of_two() || bytes > 1 << 30 {
        return Err(format!(
            "ring buffer size '{}' must be a power of two between 4K and 1G",
            s.trim()
        ));
    }
    Ok(bytes as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// The detectors' defaults live in `pid1::Config::default()`; the
    /// command line's defaults, replay's help ("else 5s") and the audit
    /// guide's "(5 s)" must say the same.
    #[test]
    fn detector_defaults_are_the_detectors_own() {
        let d = crate::detect::pid1::Config::default();
        let secs = |ns: u64| ns / 1_000_000_000;
        let flags = [
            ("zombie_after", d.zombie_after_ns),
            ("forward_window", d.forward_window_ns),
            ("predict_after", d.predict_after_ns),
        ];
        let cmd = Cli::command();
        for sub in ["audit", "agent"] {
            let sc = cmd.find_subcommand(sub).unwrap();
            for (id, ns) in flags {
                let arg = sc.get_arguments().find(|a| a.get_id() == id).unwrap();
                let dflt = arg.get_default_values()[0].to_str().unwrap();
                assert_eq!(
                    parse_duration(dflt).unwrap().as_nanos() as u64,
                    ns,
                    "{sub} --{id} defaults to {dflt}"
                );
            }
        }
        let replay = cmd.find_subcommand("replay").unwrap();
        let guide = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/guide/audit.md"),
        )
        .unwrap();
        for (id, ns) in flags {
            let arg = replay.get_arguments().find(|a| a.get_id() == id).unwrap();
            let help = arg.get_help().unwrap().to_string();
            assert!(
                help.contains(&format!("else {}s", secs(ns))),
                "replay --{id}: {help}"
            );
            let flag = format!("`--{}` ({} s)", id.replace('_', "-"), secs(ns));
            assert!(guide.contains(&flag), "docs/guide/audit.md lacks {flag}");
        }
    }

    #[test]
    fn topology_flag_does_not_swallow_the_file() {
        let c = Cli::try_parse_from(["nstrace", "replay", "--topology", "rec.nst"]).unwrap();
        let Command::Replay(r) = c.command else {
            panic!("replay expected")
        };
        assert_eq!(r.file, PathBuf::from("rec.nst"));
        assert_eq!(r.topology, Some(TopoFormat::Tree));
        let c = Cli::try_parse_from(["nstrace", "replay", "rec.nst", "--topology=json"]).unwrap();
        let Command::Replay(r) = c.command else {
            panic!("replay expected")
        };
        assert_eq!(r.topology, Some(TopoFormat::Json));
        assert!(
            Cli::try_parse_from(["nstrace", "replay", "f", "--audit", "--fail-on", "high"]).is_ok()
        );
    }

    #[test]
    fn the_agent_streams_what_the_detectors_read_and_what_signals_adds() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["nstrace", "agent"];
            argv.extend_from_slice(extra);
            let Command::Agent(a) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("agent expected")
            };
            a.signal_mask()
        };
        let default = parse(&[]);
        for s in [1, 2, 3, 9, 10, 12, 15] {
            assert_ne!(default & 1 << s, 0, "signal {s} is read by the detectors");
        }
        for s in [6, 11, 17, 18, 19, 20, 23] {
            assert_eq!(default & 1 << s, 0, "signal {s} is only counted");
        }
        let wider = parse(&["--signals", "WINCH,CONT"]);
        assert_eq!(wider, default | 1 << 28 | 1 << 18);
        assert!(Cli::try_parse_from(["nstrace", "agent", "--signals", "NOPE"]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn ring_sizes() {
        assert_eq!(parse_ring_size("8M"), Ok(8 << 20));
        assert_eq!(parse_ring_size("4096"), Ok(4096));
        assert!(parse_ring_size("3M").is_err());
        assert!(parse_ring_size("1K").is_err());
        assert!(parse_ring_size("99999999999G").is_err());
        assert!(parse_ring_size("M").is_err());
    }

    #[test]
    fn bad_flags_are_errors_not_panics() {
        for args in [
            vec!["nstrace", "watch", "--kind", "bogus"],
            vec!["nstrace", "watch", "--signal", "NOPE"],
            vec!["nstrace", "watch", "--pid", "abc"],
            vec!["nstrace", "watch", "--duration", "soon"],
            vec!["nstrace", "watch", "--format", "xml"],
            vec!["nstrace", "replay"],
            vec!["nstrace", "frobnicate"],
            vec!["nstrace", "watch", "--pid", "0"],
            vec!["nstrace", "watch", "--comm", "a-name-longer-than-15"],
            vec!["nstrace", "replay", "f.nst", "--fail-on", "high"],
            vec!["nstrace", "replay", "f.nst", "--zombie-after", "1s"],
        ] {
            assert!(
                Cli::try_parse_from(&args).is_err(),
                "{args:?} should be rejected"
            );
        }
        let ok = Cli::try_parse_from([
            "nstrace",
            "watch",
            "--kind",
            "signal,exit",
            "--signal",
            "TERM,9",
        ])
        .unwrap();
        let Command::Watch(w) = ok.command else {
            panic!("watch expected")
        };
        assert_eq!(
            w.filter
                .kind
                .iter()
                .flat_map(|k| k.0.clone())
                .collect::<Vec<_>>(),
            vec![Kind::SignalGenerate, Kind::SignalDeliver, Kind::Exit]
        );
        assert_eq!(w.filter.signal, vec![15, 9]);
    }
}
