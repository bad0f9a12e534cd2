//! Who entered which container, how, with what command and privileges.
//!
//! * An **exec session**: a program of the node (runc or crun for `podman
//!   exec`, CRI Exec/ExecSync or `docker exec`; `nsenter`) enters namespaces of
//!   an existing container by setns, its own mount namespace among them, and
//!   a process of it then execs a command there. Reported once, when the
//!   session ends (its processes are gone), or after [`OPEN_REPORT_NS`] while
//!   it still runs, or at the end of the trace: the container, the program
//!   that entered and the callers above it, the command (argv of the first
//!   exec inside), uid, euid and capabilities, the terminal, the processes it
//!   started, its end and duration.
//! * An **exec probe**: the same command, run by a runtime without a terminal
//!   into the same container on a regular period (the kubelet's exec
//!   liveness and readiness probes). Said once, then only counted. Until a
//!   command is known to repeat, a session that could be a probe (no
//!   terminal, not a shell, entered by a container runtime) is held back for
//!   [`PROBE_HOLD_NS`]; one that a SIGTERM to its container's PID 1 follows
//!   within [`PRE_STOP_GAP_NS`] is the kubelet's preStop hook (info).
//! * A **debug container**: a container started into the PID namespace of
//!   another (not an infra) container — CRI's `NamespaceOption` TARGET
//!   (`kubectl debug --target`), `podman --pid container:X`, `docker run --pid
//!   container:X` — or into another container's network namespace outside a
//!   pod's sandbox. Names both containers and what the new one may do.
//!
//! Pure: everything comes from events (exec records carry argv, the
//! capabilities after the exec and the terminal), the model and their
//! timestamps, so a replay agrees with the live run.

use std::collections::{BTreeMap, HashMap};

use nstrace_common::{caps, sig, NsType};

use super::shutdown::PRE_STOP_GAP_NS;
use super::{Evidence, Finding, FindingKind, Severity};
use crate::event::{cstr, exec_argv, exec_argv_cut, exec_tty, Event};
use crate::model::{Model, Place};

/// How long a session that could be a probe is held back, waiting for the
/// same command to come again (a probe whose period is longer is said as a
/// session for its first two runs, then recognised).
pub const PROBE_HOLD_NS: u64 = 30_000_000_000;
/// A session still running this long is reported, as open.
pub const OPEN_REPORT_NS: u64 = 60_000_000_000;
/// Runs of one command needed to call it a probe (two equal intervals).
pub const PROBE_RUNS: usize = 3;
/// Longest period taken for a probe's.
pub const PROBE_MAX_PERIOD_NS: u64 = 600_000_000_000;
/// How long a new container that attached to another may stay unnamed
/// (its cgroup is read right after its first exec) before it is reported so.
pub const ATTACH_WAIT_NS: u64 = 5_000_000_000;
/// Processes of a session listed in full (the rest are counted).
pub const PROCESSES_LISTED: usize = 16;
/// Sessions held back at most (the oldest is reported when more come).
const HELD_MAX: usize = 4096;
/// Commands remembered per container for probe recognition at most.
const HISTORIES_MAX: usize = 16384;

/// Programs that enter containers for a runtime (their sessions may be probes).
const ENTERING_RUNTIMES: [&str; 3] = ["runc", "crun", "youki"];

/// Shells: run with no `-c`, they are interactive.
const SHELLS: [&str; 8] = ["sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "fish"];

/// A process above the program that entered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Node pid.
    pub pid: u32,
    /// Command.
    pub comm: String,
}

/// The program that entered, and who asked it to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entrant {
    /// Its node pid (the thread that called setns).
    pub pid: u32,
    /// Its command (`runc:[1:CHILD]`, `nsenter`).
    pub comm: String,
    /// The tool, by name: `runc`, `crun`, `nsenter`…
    pub tool: String,
    /// Its executable, if known.
    pub exe: String,
    /// Real uid.
    pub uid: u32,
    /// Effective capabilities at its first setns.
    pub cap_effective: u64,
    /// Where it lived (the node, or a container for a program inside one).
    pub from: Place,
    /// Its ancestors then, nearest first (conmon, podman; containerd-shim; bash).
    pub callers: Vec<Caller>,
    /// The engine that ran it, a bounded set fit for a metric label:
    /// `podman`, `containerd`, `docker`, `cri-o`, `conmon`, else the tool.
    pub runtime: String,
    /// The callers' commands and command lines, for [`Entrant::settle`].
    lines: Vec<(String, String)>,
}

impl Entrant {
    /// Names the engine once the container is known: the callers when they
    /// say it, else (for a container runtime's program) the runtime whose
    /// files name the container, else the callers' kind, else the tool.
    fn settle(&mut self, names: Option<crate::model::Runtime>) {
        let by_files = names
            .filter(|_| ENTERING_RUNTIMES.contains(&self.tool.as_str()))
            .map(crate::model::Runtime::name);
        self.runtime = engine_named(&self.lines)
            .or(by_files)
            .map(str::to_owned)
            .unwrap_or_else(|| engine(&self.tool, &self.lines));
    }
}

/// One namespace the entrant joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Joined {
    /// Its type.
    pub ns_type: NsType,
    /// Its inode.
    pub inode: u32,
    /// Who lives there.
    pub place: Place,
}

/// A process a session started (its first process included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionProcess {
    /// Node pid.
    pub pid: u32,
    /// Command.
    pub comm: String,
    /// Its last exec's arguments (empty if it exec'd nothing of its own).
    pub argv: Vec<String>,
}

/// One exec session into a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The container entered.
    pub container: Place,
    /// Its PID namespace.
    pub pid_ns: u32,
    /// Who entered.
    pub by: Entrant,
    /// The namespaces it joined, in order.
    pub joined: Vec<Joined>,
    /// The command: argv of the first exec inside.
    pub argv: Vec<String>,
    /// The record cut argv.
    pub argv_cut: bool,
    /// The executable asked for.
    pub exe: String,
    /// The command's name at its exec.
    pub comm: String,
    /// uid of the command.
    pub uid: u32,
    /// euid of the command.
    pub euid: u32,
    /// Its effective capabilities after the exec.
    pub cap_effective: u64,
    /// It has a controlling terminal.
    pub tty: bool,
    /// A terminal, or a shell without `-c`.
    pub interactive: bool,
    /// Its first process (node pid).
    pub leader: u32,
    /// The processes it started, the first one first (at most [`PROCESSES_LISTED`]).
    pub processes: Vec<SessionProcess>,
    /// How many processes it started in all.
    pub processes_total: usize,
    /// The first setns (monotonic ns).
    pub start_ns: u64,
    /// The command's exec.
    pub exec_ns: u64,
    /// When its last process ended; `None` while it runs.
    pub end_ns: Option<u64>,
    /// The first process's wait status, once it ended.
    pub exit_code: Option<u32>,
    /// When it was reported (its end, or while still open).
    pub reported_ns: u64,
    /// The kubelet's preStop hook: a SIGTERM to the container's PID 1
    /// followed it (or came while it ran).
    pub pre_stop: bool,
    live: usize,
}

impl Session {
    /// Seconds from the first setns to the end, or to the report while open.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns
            .unwrap_or(self.reported_ns)
            .saturating_sub(self.start_ns)
    }

    /// A session as `podman exec web-app /bin/sh -c 'cat /proc/1/environ; id'`
    /// makes one (for tests of what is made of sessions).
    #[cfg(test)]
    pub(crate) fn example() -> Session {
        use crate::model::CtrRef;
        let container = Place::Pod {
            pod: "web".into(),
            container: Some(CtrRef {
                id: format!("{:064x}", 11),
                name: Some("app".into()),
            }),
        };
        let argv: Vec<String> = ["/bin/sh", "-c", "cat /proc/1/environ; id"]
            .map(String::from)
            .to_vec();
        Session {
            joined: [
                NsType::Ipc,
                NsType::Uts,
                NsType::Net,
                NsType::Pid,
                NsType::Mnt,
            ]
            .iter()
            .enumerate()
            .map(|(i, t)| Joined {
                ns_type: *t,
                inode: 4026532240 + i as u32,
                place: container.clone(),
            })
            .collect(),
            container,
            pid_ns: 4026532243,
            by: Entrant {
                pid: 18273,
                comm: "runc:[1:CHILD]".into(),
                tool: "runc".into(),
                exe: "/usr/bin/runc".into(),
                uid: 0,
                cap_effective: 0x1ff_ffff_ffff,
                from: Place::Node,
                callers: vec![
                    Caller {
                        pid: 18263,
                        comm: "conmon".into(),
                    },
                    Caller {
                        pid: 18253,
                        comm: "podman".into(),
                    },
                ],
                runtime: "podman".into(),
                lines: Vec::new(),
            },
            processes: vec![
                SessionProcess {
                    pid: 18274,
                    comm: "sh".into(),
                    argv: argv.clone(),
                },
                SessionProcess {
                    pid: 18279,
                    comm: "cat".into(),
                    argv: vec!["cat".into(), "/proc/1/environ".into()],
                },
            ],
            argv,
            argv_cut: false,
            exe: "/bin/sh".into(),
            comm: "sh".into(),
            uid: 0,
            euid: 0,
            cap_effective: 0xa804_25fb,
            tty: false,
            interactive: false,
            leader: 18274,
            processes_total: 2,
            start_ns: 1_000_000_000,
            exec_ns: 1_027_000_000,
            end_ns: Some(1_031_000_000),
            exit_code: Some(0),
            reported_ns: 31_000_000_000,
            pre_stop: false,
            live: 0,
        }
    }

    /// Whether a runtime (not a person's nsenter) entered without a
    /// terminal: what a probe or a hook looks like.
    fn probe_like(&self) -> bool {
        !self.interactive && ENTERING_RUNTIMES.contains(&self.by.tool.as_str())
    }
}

/// A command recognised as an exec probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The container.
    pub container: Place,
    /// The command.
    pub argv: Vec<String>,
    /// The engine that runs it.
    pub runtime: String,
    /// The program that enters for it (`runc`).
    pub tool: String,
    /// Its callers, nearest first.
    pub callers: Vec<Caller>,
    /// uid of the command.
    pub uid: u32,
    /// Its effective capabilities.
    pub cap_effective: u64,
    /// The period (the median of the intervals seen).
    pub period_ns: u64,
    /// Runs seen when it was recognised.
    pub runs: u64,
}

/// A container started into another container's PID or network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attach {
    /// The new container (`Place::Unknown` if it could not be named).
    pub container: Place,
    /// Its first process (node pid).
    pub pid: u32,
    /// Its command.
    pub argv: Vec<String>,
    /// Its uid.
    pub uid: u32,
    /// Its effective capabilities after the exec.
    pub cap_effective: u64,
    /// The container whose namespaces it shares.
    pub target: Place,
    /// Which of the target's namespaces it joined (pid, net).
    pub shares: Vec<NsType>,
    /// Who started it.
    pub by: Entrant,
    /// When its first process exec'd.
    pub exec_ns: u64,
}

impl Attach {
    /// SYS_PTRACE or SYS_ADMIN: it can read and change the target's processes.
    pub fn powerful(&self) -> bool {
        let has = |c: u32| self.cap_effective & (1u64 << c) != 0;
        has(caps::SYS_PTRACE) || has(caps::SYS_ADMIN)
    }
}

/// One run of a recognised probe (the agent counts them by place and runtime).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeRun {
    /// The container.
    pub container: Place,
    /// The engine.
    pub runtime: String,
}

/// A node program on its way into containers (per thread).
#[derive(Clone, Debug)]
struct Entry {
    by: Entrant,
    start_ns: u64,
    joined: Vec<Joined>,
}

/// A new container that attached, waiting for its name.
#[derive(Clone, Debug)]
struct Pending {
    attach: Attach,
    mnt: u32,
}

/// What is known of one command run in one container (probe recognition).
#[derive(Clone, Debug, Default)]
struct History {
    /// Start times of its latest runs.
    starts: Vec<u64>,
    /// Recognised as a probe.
    probe: bool,
    /// The last run's start.
    last_ns: u64,
}

/// A session waiting to be known for a probe run or not.
#[derive(Clone, Debug)]
struct Held {
    session: Session,
    key: Key,
    deadline_ns: u64,
}

/// A command in a container, as run by an engine.
type Key = (String, Vec<String>, String);

/// Tracks entries into containers, sessions, probes and attachments.
#[derive(Debug, Default)]
pub struct Sessions {
    node_mnt: u32,
    entering: HashMap<u32, Entry>,
    open: BTreeMap<u64, Session>,
    member: HashMap<u32, u64>,
    next: u64,
    held: Vec<Held>,
    histories: HashMap<Key, History>,
    pending: Vec<Pending>,
    last_ns: u64,
    /// Runs of recognised probes since the consumer last took them.
    pub probe_runs: Vec<ProbeRun>,
    /// Probes recognised so far.
    pub probes_recognised: usize,
    /// Runs of probes counted so far (held runs included).
    pub probe_runs_total: u64,
}

/// The container a place names, as a probe key part.
fn container_key(p: &Place) -> String {
    p.container().map_or_else(|| p.to_string(), str::to_owned)
}

/// The tool a command name is: `runc:[1:CHILD]` is runc.
fn tool_of(comm: &str) -> String {
    comm.split([':', '[', ' '])
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(comm)
        .to_owned()
}

/// The engine the callers (nearest first, with their command lines) name
/// for sure: podman, CRI-O, dockerd, containerd's shim (docker's, in
/// dockerd's `moby` namespace). conmon alone may be podman's or CRI-O's.
fn engine_named(callers: &[(String, String)]) -> Option<&'static str> {
    callers
        .iter()
        .find_map(|(comm, cmdline)| match comm.as_str() {
            "podman" => Some("podman"),
            "conmon" if cmdline.contains("podman") => Some("podman"),
            "crio" => Some("cri-o"),
            "dockerd" => Some("docker"),
            c if c.starts_with("containerd-shim") && cmdline.contains("-namespace moby") => {
                Some("docker")
            }
            c if c.starts_with("containerd-shim") => Some("containerd"),
            _ => None,
        })
}

/// The engine behind a program that entered containers, from its callers
/// alone: what [`engine_named`] finds, else the kind of caller (a shim is
/// containerd's, conmon is podman's or CRI-O's), else the tool itself.
pub fn engine(tool: &str, callers: &[(String, String)]) -> String {
    if let Some(e) = engine_named(callers) {
        return e.to_owned();
    }
    callers
        .iter()
        .find_map(|(comm, _)| match comm.as_str() {
            c if c.starts_with("containerd-shim") => Some("containerd"),
            "containerd" => Some("containerd"),
            "conmon" => Some("conmon"),
            _ => None,
        })
        .unwrap_or(tool)
        .to_owned()
}

/// The runtime whose files name the container of `place`, if read.
fn names_runtime(m: &Model, place: &Place) -> Option<crate::model::Runtime> {
    m.names_of(place.container()?).map(|n| n.runtime)
}

/// Whether a command is interactive: a terminal, or a shell without `-c`.
pub fn interactive(argv: &[String], tty: bool) -> bool {
    if tty {
        return true;
    }
    let Some(first) = argv.first() else {
        return false;
    };
    let base = first.rsplit('/').next().unwrap_or(first);
    SHELLS.contains(&base) && !argv.iter().skip(1).any(|a| a == "-c")
}

/// Whether start times (oldest first) come on a regular period: the last
/// [`PROBE_RUNS`] - 1 intervals within a quarter (at least 0.3 s) of their
/// median, the median within [`PROBE_MAX_PERIOD_NS`]. Gives the median.
fn regular(starts: &[u64]) -> Option<u64> {
    if starts.len() < PROBE_RUNS {
        return None;
    }
    let last = &starts[starts.len() - PROBE_RUNS..];
    let mut d: Vec<u64> = last.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    d.sort_unstable();
    let median = d[d.len() / 2];
    if median == 0 || median > PROBE_MAX_PERIOD_NS {
        return None;
    }
    let slack = (median / 4).max(300_000_000);
    d.iter()
        .all(|x| x.abs_diff(median) <= slack)
        .then_some(median)
}

impl Sessions {
    /// A tracker for a node whose mount namespace is `node_mnt`.
    pub fn new(node_mnt: u32) -> Sessions {
        Sessions {
            node_mnt,
            ..Sessions::default()
        }
    }

    /// Sessions still running.
    pub fn open(&self) -> impl Iterator<Item = &Session> {
        self.open.values()
    }

    /// The entrant: process `pid` at its first setns, with its callers from the model.
    fn entrant(
        pid: u32,
        comm: String,
        uid: u32,
        cap_effective: u64,
        from: Place,
        m: &Model,
    ) -> Entrant {
        let tool = tool_of(&comm);
        let mut callers = Vec::new();
        let mut lines = Vec::new();
        let mut at = m.get(pid).map_or(0, |p| p.ppid);
        for _ in 0..12 {
            if at <= 1 || callers.len() >= 6 {
                break;
            }
            let Some(p) = m.get(at) else { break };
            // The tool's own processes above it (runc exec above runc init) are not its callers.
            if callers.is_empty() && tool_of(&p.comm) == tool {
                at = p.ppid;
                continue;
            }
            callers.push(Caller {
                pid: p.pid,
                comm: p.comm.clone(),
            });
            lines.push((p.comm.clone(), p.cmdline.clone()));
            if p.ppid == at {
                break;
            }
            at = p.ppid;
        }
        Entrant {
            pid,
            exe: m.get(pid).map(|p| p.exe.clone()).unwrap_or_default(),
            runtime: engine(&tool, &lines),
            tool,
            comm,
            uid,
            cap_effective,
            from,
            callers,
            lines,
        }
    }

    /// Feeds one event (after the model applied it).
    pub fn on_event(&mut self, ev: &Event, m: &Model) -> Vec<Finding> {
        let h = ev.header();
        self.last_ns = self.last_ns.max(h.ts_ns);
        match ev {
            Event::Setns(e) if e.ret == 0 => {
                let from = m.place_of_mnt(e.before.mnt);
                let from = if self.entering.contains_key(&h.tid) {
                    Place::Node
                } else {
                    from
                };
                let mut new = Vec::new();
                for ((ty, before), after) in e.before.iter().zip(h.ns.as_array()) {
                    if ty == NsType::Pid || before == after || after == 0 {
                        continue;
                    }
                    let place = m.place_of_ns(ty, after);
                    // Into a container, other than the one it lives in.
                    if place.in_container() && (from == Place::Node || place.ctr() != from.ctr()) {
                        new.push(Joined {
                            ns_type: ty.kind(),
                            inode: after,
                            place,
                        });
                    }
                }
                if let Some(entry) = self.entering.get_mut(&h.tid) {
                    // What it still is in: a later setns may have taken it back out.
                    entry.joined.retain(|j| {
                        let now = if j.ns_type == NsType::Pid {
                            h.ns.pid_for_children
                        } else {
                            h.ns.get(j.ns_type)
                        };
                        now == j.inode
                    });
                    entry.joined.extend(new);
                    if entry.joined.is_empty() {
                        self.entering.remove(&h.tid);
                    }
                    return Vec::new();
                }
                if !new.is_empty() {
                    let by = Self::entrant(
                        h.tgid,
                        cstr(&h.comm).into_owned(),
                        h.uid,
                        e.cap_effective,
                        from,
                        m,
                    );
                    self.entering.insert(
                        h.tid,
                        Entry {
                            by,
                            start_ns: h.ts_ns,
                            joined: new,
                        },
                    );
                }
                Vec::new()
            }
            Event::Create(c) => {
                if c.clone_flags & crate::event::names::CLONE_THREAD != 0 {
                    return Vec::new();
                }
                if let Some(entry) = self.entering.get(&c.creator_tid) {
                    let entry = entry.clone();
                    self.entering.insert(h.tgid, entry);
                }
                if let Some(&id) = self.member.get(&c.creator_tgid) {
                    if let Some(s) = self.open.get_mut(&id) {
                        s.live += 1;
                        s.processes_total += 1;
                        if s.processes.len() < PROCESSES_LISTED {
                            s.processes.push(SessionProcess {
                                pid: h.tgid,
                                comm: cstr(&h.comm).into_owned(),
                                argv: Vec::new(),
                            });
                        }
                        self.member.insert(h.tgid, id);
                    }
                }
                Vec::new()
            }
            Event::Exec(e) => {
                let entry = self
                    .entering
                    .remove(&h.tid)
                    .or_else(|| self.entering.remove(&h.tgid));
                if let Some(entry) = entry {
                    return self.entered_exec(entry, e, m);
                }
                if let Some(&id) = self.member.get(&h.tgid) {
                    if let Some(s) = self.open.get_mut(&id) {
                        if let Some(p) = s.processes.iter_mut().find(|p| p.pid == h.tgid) {
                            p.comm = cstr(&h.comm).into_owned();
                            p.argv = exec_argv(&e.args);
                        }
                    }
                }
                Vec::new()
            }
            Event::Rename(r) if h.tid == h.tgid => {
                // busybox applets run as /proc/self/exe and rename themselves.
                if let Some(s) = self
                    .member
                    .get(&h.tgid)
                    .and_then(|id| self.open.get_mut(id))
                {
                    if let Some(p) = s.processes.iter_mut().find(|p| p.pid == h.tgid) {
                        p.comm = cstr(&r.new_comm).into_owned();
                    }
                }
                Vec::new()
            }
            Event::Exit(x) => {
                self.entering.remove(&h.tid);
                if x.group_dead == 0 {
                    return Vec::new();
                }
                self.process_ended(h.tgid, h.ts_ns, Some(x.exit_code))
            }
            Event::SignalGenerate(s) if s.sig == sig::TERM && s.target_ns_tgid == 1 => {
                self.sigterm_to_init(s.target_ns.pid, h.ts_ns)
            }
            _ => Vec::new(),
        }
    }

    /// An exec by a process that entered namespaces of containers: a session
    /// (it is in a container's mount namespace it joined), a container start
    /// that may have attached to another container, or neither.
    fn entered_exec(
        &mut self,
        entry: Entry,
        e: &nstrace_common::ExecEvent,
        m: &Model,
    ) -> Vec<Finding> {
        let h = &e.hdr;
        let argv = exec_argv(&e.args);
        let tty = exec_tty(&e.args);
        if let Some(j) = entry
            .joined
            .iter()
            .find(|j| j.ns_type == NsType::Mnt && j.inode == h.ns.mnt)
        {
            let id = self.next;
            self.next += 1;
            let mut by = entry.by.clone();
            by.settle(names_runtime(m, &j.place));
            let session = Session {
                container: j.place.clone(),
                pid_ns: h.ns.pid,
                joined: entry.joined.clone(),
                interactive: interactive(&argv, tty),
                exe: cstr(&e.filename).into_owned(),
                comm: cstr(&h.comm).into_owned(),
                argv_cut: exec_argv_cut(&e.args),
                processes: vec![SessionProcess {
                    pid: h.tgid,
                    comm: cstr(&h.comm).into_owned(),
                    argv: argv.clone(),
                }],
                argv,
                uid: h.uid,
                euid: h.euid,
                cap_effective: e.args.cap_effective,
                tty,
                leader: h.tgid,
                processes_total: 1,
                start_ns: entry.start_ns,
                exec_ns: h.ts_ns,
                end_ns: None,
                exit_code: None,
                reported_ns: 0,
                pre_stop: false,
                live: 1,
                by,
            };
            self.member.insert(h.tgid, id);
            self.open.insert(id, session);
            return Vec::new();
        }
        if h.ns.mnt == self.node_mnt || h.ns.mnt == 0 {
            return Vec::new();
        }
        // A container's first program: did it join a namespace that is
        // another container's own (not a pod's shared one, not an infra's)?
        let places = m.places();
        let mut target: Option<Place> = None;
        let mut shares = Vec::new();
        for j in &entry.joined {
            if !matches!(j.ns_type, NsType::Pid | NsType::Net) {
                continue;
            }
            let Some(c) = j.place.ctr() else { continue };
            if places.is_infra(&c.id) {
                continue;
            }
            if target.as_ref().is_none_or(|t| t.ctr() == Some(c)) {
                target = Some(j.place.clone());
                shares.push(j.ns_type);
            }
        }
        let Some(target) = target else {
            return Vec::new();
        };
        self.pending.push(Pending {
            mnt: h.ns.mnt,
            attach: Attach {
                container: Place::Unknown,
                pid: h.tgid,
                argv,
                uid: h.uid,
                cap_effective: e.args.cap_effective,
                target,
                shares,
                by: entry.by,
                exec_ns: h.ts_ns,
            },
        });
        Vec::new()
    }

    /// A process ended (or is gone from the model): its session may be over.
    fn process_ended(&mut self, pid: u32, ts_ns: u64, code: Option<u32>) -> Vec<Finding> {
        let Some(id) = self.member.remove(&pid) else {
            return Vec::new();
        };
        let Some(s) = self.open.get_mut(&id) else {
            return Vec::new();
        };
        if pid == s.leader {
            s.exit_code = code;
        }
        s.live = s.live.saturating_sub(1);
        if s.live > 0 {
            return Vec::new();
        }
        let mut s = self.open.remove(&id).expect("open session");
        s.end_ns = Some(ts_ns);
        if s.reported_ns != 0 {
            // Reported while open: said once.
            return Vec::new();
        }
        self.ended(s, ts_ns)
    }

    /// A session that ended: reported, held back as a possible probe run,
    /// or counted as one.
    fn ended(&mut self, mut s: Session, now: u64) -> Vec<Finding> {
        if s.pre_stop || !s.probe_like() {
            return vec![self.report(s, now)];
        }
        let key: Key = (
            container_key(&s.container),
            s.argv.clone(),
            s.by.runtime.clone(),
        );
        if self.histories.len() >= HISTORIES_MAX && !self.histories.contains_key(&key) {
            self.forget_histories(now, true);
        }
        let hist = self.histories.entry(key.clone()).or_default();
        let at = hist.starts.partition_point(|&t| t <= s.exec_ns);
        hist.starts.insert(at, s.exec_ns);
        if hist.starts.len() > PROBE_RUNS + 1 {
            hist.starts.remove(0);
        }
        hist.last_ns = hist.last_ns.max(s.exec_ns);
        let (probe, period) = (hist.probe, regular(&hist.starts));
        let last_two = match hist.starts.as_slice() {
            [.., a, b] => Some((*a, *b)),
            _ => None,
        };
        if probe {
            self.count_run(&s);
            return Vec::new();
        }
        if let Some(period) = period {
            if let Some(h) = self.histories.get_mut(&key) {
                h.probe = true;
            }
            self.probes_recognised += 1;
            let mut runs = 1u64;
            let mut i = 0;
            while i < self.held.len() {
                if self.held[i].key == key {
                    let h = self.held.remove(i);
                    self.count_run(&h.session);
                    runs += 1;
                } else {
                    i += 1;
                }
            }
            self.count_run(&s);
            s.reported_ns = now;
            return vec![Finding {
                kind: FindingKind::ExecProbe,
                severity: Severity::Info,
                ts_ns: now,
                pid: s.leader,
                comm: s.comm.clone(),
                pid_ns: s.pid_ns,
                evidence: Evidence::Probe(Box::new(Probe {
                    container: s.container.clone(),
                    argv: s.argv.clone(),
                    runtime: s.by.runtime.clone(),
                    tool: s.by.tool.clone(),
                    callers: s.by.callers.clone(),
                    uid: s.uid,
                    cap_effective: s.cap_effective,
                    period_ns: period,
                    runs,
                })),
            }];
        }
        // Wait for the next run: a first one for the hold, a later one for
        // the interval seen and half again.
        let deadline = match last_two {
            Some((a, b)) => {
                let d = b.saturating_sub(a);
                b + d + (d / 2).max(1_000_000_000)
            }
            None => s.exec_ns + PROBE_HOLD_NS,
        };
        let deadline = deadline.min(s.exec_ns + PROBE_MAX_PERIOD_NS);
        let mut out = Vec::new();
        if self.held.len() >= HELD_MAX {
            let oldest = self.held.remove(0);
            out.push(self.report(oldest.session, now));
        }
        // Earlier runs of the same command wait as long.
        for h in self.held.iter_mut().filter(|h| h.key == key) {
            h.deadline_ns = h.deadline_ns.max(deadline);
        }
        self.held.push(Held {
            session: s,
            key,
            deadline_ns: deadline,
        });
        out
    }

    fn count_run(&mut self, s: &Session) {
        self.probe_runs_total += 1;
        self.probe_runs.push(ProbeRun {
            container: s.container.clone(),
            runtime: s.by.runtime.clone(),
        });
    }

    /// The finding of a session (ended, or open at `now`).
    fn report(&self, mut s: Session, now: u64) -> Finding {
        s.reported_ns = now;
        let severity = if s.pre_stop {
            Severity::Info
        } else {
            Severity::Low
        };
        Finding {
            kind: FindingKind::ExecSession,
            severity,
            ts_ns: s.end_ns.unwrap_or(now),
            pid: s.leader,
            comm: s.comm.clone(),
            pid_ns: s.pid_ns,
            evidence: Evidence::Session(Box::new(s)),
        }
    }

    /// SIGTERM to the init of PID namespace `pid_ns`: a session into it that
    /// runs now, or ended just before, was the kubelet's preStop hook.
    fn sigterm_to_init(&mut self, pid_ns: u32, ts_ns: u64) -> Vec<Finding> {
        for s in self.open.values_mut() {
            if s.pid_ns == pid_ns && s.probe_like() {
                s.pre_stop = true;
            }
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.held.len() {
            let s = &self.held[i].session;
            let recent = s.end_ns.is_some_and(|end| end + PRE_STOP_GAP_NS >= ts_ns);
            if s.pid_ns == pid_ns && recent {
                let mut h = self.held.remove(i);
                h.session.pre_stop = true;
                out.push(self.report(h.session, ts_ns));
            } else {
                i += 1;
            }
        }
        out
    }

    /// Advances the clock: held sessions whose wait is over, sessions open
    /// too long, attached containers now named (or waited for long enough),
    /// and sessions whose processes the model no longer has (an exit lost).
    pub fn on_tick(&mut self, now: u64, m: &Model) -> Vec<Finding> {
        self.last_ns = self.last_ns.max(now);
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.held.len() {
            if self.held[i].deadline_ns <= now {
                let h = self.held.remove(i);
                out.push(self.report(h.session, now));
            } else {
                i += 1;
            }
        }
        let gone: Vec<u32> = self
            .member
            .keys()
            .copied()
            .filter(|pid| m.get(*pid).is_none())
            .collect();
        for pid in gone {
            out.extend(self.process_ended(pid, now, None));
        }
        for s in self.open.values_mut() {
            if s.reported_ns == 0 && now.saturating_sub(s.start_ns) >= OPEN_REPORT_NS {
                s.reported_ns = now;
            } else {
                continue;
            }
            out.push(Finding {
                kind: FindingKind::ExecSession,
                severity: Severity::Low,
                ts_ns: now,
                pid: s.leader,
                comm: s.comm.clone(),
                pid_ns: s.pid_ns,
                evidence: Evidence::Session(Box::new(s.clone())),
            });
        }
        out.extend(self.resolve_attaches(now, m, false));
        self.entering.retain(|tid, _| m.get(*tid).is_some());
        self.forget_histories(now, false);
        out
    }

    /// Attached containers whose place the model now knows (or, past the
    /// wait or at the end, unnamed).
    fn resolve_attaches(&mut self, now: u64, m: &Model, last: bool) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            let p = &self.pending[i];
            let place = m.place_of_mnt(p.mnt);
            let named = place.in_container();
            if named || last || now.saturating_sub(p.attach.exec_ns) >= ATTACH_WAIT_NS {
                let mut a = self.pending.remove(i).attach;
                a.by.settle(names_runtime(m, &place));
                a.container = if named { place } else { Place::Unknown };
                let severity = if a.powerful() {
                    Severity::Medium
                } else {
                    Severity::Low
                };
                out.push(Finding {
                    kind: FindingKind::DebugContainer,
                    severity,
                    ts_ns: now.max(a.exec_ns),
                    pid: a.pid,
                    comm: a.argv.first().map_or_else(String::new, |a| {
                        a.rsplit('/').next().unwrap_or(a).to_owned()
                    }),
                    pid_ns: 0,
                    evidence: Evidence::Attach(Box::new(a)),
                });
            } else {
                i += 1;
            }
        }
        out
    }

    /// Commands not run for long are forgotten (all but the newest half
    /// when `crowded`), so the table stays bounded on a busy node.
    fn forget_histories(&mut self, now: u64, crowded: bool) {
        if crowded {
            let mut lasts: Vec<u64> = self.histories.values().map(|h| h.last_ns).collect();
            lasts.sort_unstable();
            let cut = lasts[lasts.len() / 2];
            self.histories.retain(|_, h| h.last_ns > cut);
            return;
        }
        self.histories.retain(|_, h| {
            let keep = match h.starts.as_slice() {
                [.., a, b] => b
                    .saturating_sub(*a)
                    .saturating_mul(10)
                    .max(PROBE_MAX_PERIOD_NS),
                _ => PROBE_HOLD_NS,
            };
            h.last_ns + keep >= now
        });
    }

    /// The trace ended: held sessions, sessions still open (as open) and
    /// attachments not yet named are reported.
    pub fn finish(&mut self, m: &Model) -> Vec<Finding> {
        let now = self.last_ns;
        let mut out = Vec::new();
        for h in std::mem::take(&mut self.held) {
            out.push(self.report(h.session, now));
        }
        let open = std::mem::take(&mut self.open);
        self.member.clear();
        for s in open.into_values() {
            if s.reported_ns != 0 {
                continue;
            }
            // A run of a known probe caught in flight is one more run.
            let key: Key = (
                container_key(&s.container),
                s.argv.clone(),
                s.by.runtime.clone(),
            );
            if s.probe_like() && self.histories.get(&key).is_some_and(|h| h.probe) {
                self.count_run(&s);
                continue;
            }
            out.push(self.report(s, now));
        }
        out.extend(self.resolve_attaches(now, m, true));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{cid, hdr, node, ns_with};
    use crate::model::{CtrRef, Process};
    use nstrace_common::{
        CreateEvent, ExecArgs, ExecEvent, ExitEvent, Kind, NsChangeEvent, NsSet,
        SignalGenerateEvent, EXEC_TTY,
    };

    const ALL_CAPS: u64 = 0x1ff_ffff_ffff;
    const S: u64 = 1_000_000_000;

    fn proc(pid: u32, ppid: u32, ns_pid: u32, comm: &str, cg: &str, ns: NsSet) -> Process {
        Process {
            pid,
            ppid,
            ns_pid,
            comm: comm.into(),
            exe: format!("/bin/{comm}"),
            cmdline: comm.into(),
            cgroup: cg.into(),
            ns,
            hostname: Some("web".into()),
            ..Process::default()
        }
    }

    /// Pod "web": infra 10 (catatonit), app 11 (sh); shared net/ipc/uts,
    /// own mnt and pid. On the node: podman 40 → conmon 41 → runc 42, and a
    /// containerd-shim 50 (k8s.io), and bash 60.
    fn model() -> Model {
        let mut m = Model::new(node(), "node-1");
        let cg = |c: u32| format!("/libpod_parent/{}/{}", cid(1), cid(c));
        let shared = [
            (NsType::Net, 1005),
            (NsType::Ipc, 1002),
            (NsType::Uts, 1001),
        ];
        let with = |mnt: u32, pid: u32| {
            let mut v = shared.to_vec();
            v.extend([(NsType::Mnt, mnt), (NsType::Pid, pid)]);
            ns_with(&v)
        };
        m.add_snapshot(proc(10, 1, 1, "catatonit", &cg(10), with(1010, 1013)));
        m.add_snapshot(proc(11, 1, 1, "sh", &cg(11), with(1020, 1023)));
        // conmon's command line is longer than an exec record keeps: the
        // `--exit-command /usr/bin/podman` at its end is cut off.
        // Its parent (a first conmon, then podman) is gone: only the
        // container's files can tell the engine.
        let mut conmon = proc(41, 39, 41, "conmon", "/", node());
        conmon.cmdline = "/usr/bin/conmon --api-version 1 -c x -u x -r /usr/bin/runc".into();
        m.add_snapshot(proc(40, 1, 40, "podman", "/", node()));
        m.add_snapshot(conmon);
        m.add_snapshot(proc(42, 41, 42, "runc", "/", node()));
        let mut shim = proc(50, 1, 50, "containerd-shim", "/", node());
        shim.cmdline = "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id x".into();
        m.add_snapshot(shim);
        m.add_snapshot(proc(51, 50, 51, "runc", "/", node()));
        m.add_snapshot(proc(60, 1, 60, "bash", "/", node()));
        // podman's files name the app container.
        m.set_names(
            &cid(11),
            crate::model::ContainerNames {
                runtime: crate::model::Runtime::Podman,
                container: Some("app".into()),
                pod: Some("web".into()),
                namespace: None,
                pod_uid: None,
                pod_id: Some(cid(1)),
                sandbox: false,
                sandbox_id: Some(cid(10)),
                grace_period_s: None,
                docker: None,
            },
        );
        m
    }

    fn app(m: &Model) -> NsSet {
        m.get(11).unwrap().ns
    }

    fn app_place() -> Place {
        Place::Pod {
            pod: "web".into(),
            container: Some(CtrRef {
                id: cid(11),
                name: Some("app".into()),
            }),
        }
    }

    /// Feeds events in order, applying them to the model, and collects findings.
    struct Run {
        m: Model,
        s: Sessions,
        found: Vec<Finding>,
    }

    impl Run {
        fn new() -> Run {
            let m = model();
            Run {
                s: Sessions::new(m.node.mnt),
                m,
                found: Vec::new(),
            }
        }
        fn ev(&mut self, e: Event) {
            self.m.apply(&e);
            let f = self.s.on_event(&e, &self.m);
            self.found.extend(f);
        }
        fn tick(&mut self, now: u64) {
            let f = self.s.on_tick(now, &self.m);
            self.found.extend(f);
        }
        fn finish(&mut self) {
            let f = self.s.finish(&self.m);
            self.found.extend(f);
        }
        fn kinds(&self) -> Vec<FindingKind> {
            self.found.iter().map(|f| f.kind).collect()
        }
    }

    fn create(pid: u32, by: u32, ts: u64, ns: NsSet, comm: &str) -> Event {
        Event::Create(CreateEvent {
            hdr: hdr(Kind::Create, pid, by, ts, ns, comm),
            clone_flags: 17,
            creator_tgid: by,
            creator_tid: by,
            creator_ns: ns,
            ..Default::default()
        })
    }

    /// A successful setns of `pid` from `before` to `after`.
    fn setns(pid: u32, comm: &str, ts: u64, before: NsSet, after: NsSet) -> Event {
        Event::Setns(NsChangeEvent {
            hdr: hdr(Kind::Setns, pid, 42, ts, after, comm),
            before,
            cap_effective: ALL_CAPS,
            ..Default::default()
        })
    }

    /// setns into every namespace of `target` one by one (pid as
    /// pid_for_children, mnt last), as runc and nsenter do: returns the last set.
    fn enter(r: &mut Run, pid: u32, comm: &str, ts: u64, target: NsSet) -> NsSet {
        let mut cur = r.m.get(pid).map_or(node(), |p| p.ns);
        for ty in [
            NsType::Ipc,
            NsType::Uts,
            NsType::Net,
            NsType::PidForChildren,
            NsType::Mnt,
        ] {
            let before = cur;
            cur.set(
                ty,
                target.get(if ty == NsType::PidForChildren {
                    NsType::Pid
                } else {
                    ty
                }),
            );
            r.ev(setns(pid, comm, ts, before, cur));
        }
        cur
    }

    fn exec(pid: u32, ts: u64, ns: NsSet, ns_pid: u32, argv: &[&str], tty: bool) -> Event {
        let comm = argv[0].rsplit('/').next().unwrap();
        let mut h = hdr(Kind::Exec, pid, 42, ts, ns, comm);
        h.ns_tgid = ns_pid;
        let mut args = ExecArgs {
            cap_effective: 0xa804_25fb,
            flags: if tty { EXEC_TTY } else { 0 },
            ..ExecArgs::default()
        };
        let mut n = 0;
        for a in argv {
            args.argv[n..n + a.len()].copy_from_slice(a.as_bytes());
            n += a.len() + 1;
        }
        args.argv_len = n as u16;
        args.argv_size = n as u32;
        let mut e = ExecEvent {
            hdr: h,
            args,
            ..ExecEvent::default()
        };
        e.filename[..argv[0].len()].copy_from_slice(argv[0].as_bytes());
        Event::Exec(Box::new(e))
    }

    fn exit(pid: u32, ts: u64) -> Event {
        Event::Exit(ExitEvent {
            hdr: hdr(Kind::Exit, pid, 1, ts, NsSet::default(), "x"),
            exit_code: 0,
            group_dead: 1,
        })
    }

    /// runc exec under `by` (42: conmon's, 51: the shim's): runc:[1:CHILD]
    /// `child` enters app, makes `init`, which execs `argv`; `init` ends at `end`.
    fn runc_exec(
        r: &mut Run,
        by: u32,
        (child, init): (u32, u32),
        (at, end): (u64, u64),
        argv: &[&str],
        tty: bool,
    ) {
        r.ev(create(child, by, at, node(), "runc:[1:CHILD]"));
        let target = app(&r.m);
        enter(r, child, "runc:[1:CHILD]", at + 1, target);
        r.ev(create(init, child, at + 2, target, "runc:[2:INIT]"));
        r.ev(exit(child, at + 3));
        r.ev(exec(init, at + 4, target, 7, argv, tty));
        r.ev(exit(init, end));
    }

    fn session(f: &Finding) -> &Session {
        match &f.evidence {
            Evidence::Session(s) => s,
            e => panic!("not a session: {e:?}"),
        }
    }

    #[test]
    fn podman_exec_is_one_session_naming_container_runtime_command_and_privileges() {
        let mut r = Run::new();
        let argv = ["/bin/sh", "-c", "cat /proc/1/environ; id"];
        r.ev(create(70, 42, S, node(), "runc:[1:CHILD]"));
        let target = app(&r.m);
        enter(&mut r, 70, "runc:[1:CHILD]", S + 1, target);
        r.ev(create(71, 70, S + 2, target, "runc:[2:INIT]"));
        r.ev(exit(70, S + 3));
        r.ev(exec(71, S + 4, target, 7, &argv, false));
        // It starts cat, which ends; then the shell ends.
        r.ev(create(72, 71, S + 5, target, "sh"));
        r.ev(exec(
            72,
            S + 6,
            target,
            8,
            &["cat", "/proc/1/environ"],
            false,
        ));
        r.ev(exit(72, S + 7));
        assert!(r.found.is_empty(), "not before it ends");
        r.ev(exit(71, 2 * S));
        // No terminal, a command run by runc: held back as a possible probe run.
        assert!(r.found.is_empty(), "held: {:?}", r.found);
        r.tick(S + 4 + PROBE_HOLD_NS);
        assert_eq!(r.kinds(), [FindingKind::ExecSession]);
        let f = &r.found[0];
        assert_eq!(
            (f.severity, f.pid, f.comm.as_str()),
            (Severity::Low, 71, "sh")
        );
        let s = session(f);
        assert_eq!(s.container, app_place());
        assert_eq!(s.argv, argv);
        assert_eq!((s.tty, s.interactive), (false, false));
        assert_eq!(s.by.tool, "runc");
        assert_eq!(s.by.runtime, "podman");
        assert_eq!(
            s.by.callers
                .iter()
                .map(|c| c.comm.as_str())
                .collect::<Vec<_>>(),
            ["conmon"]
        );
        assert_eq!(
            s.joined
                .iter()
                .map(|j| j.ns_type.name())
                .collect::<Vec<_>>(),
            ["ipc", "uts", "net", "pid", "mnt"]
        );
        assert_eq!(s.cap_effective, 0xa804_25fb);
        assert_eq!(s.processes_total, 2);
        assert_eq!(s.processes[1].argv, ["cat", "/proc/1/environ"]);
        assert_eq!((s.start_ns, s.end_ns), (S + 1, Some(2 * S)));
        assert_eq!(s.duration_ns(), S - 1);
    }

    #[test]
    fn a_terminal_or_a_bare_shell_is_reported_when_it_ends_without_waiting() {
        let mut r = Run::new();
        runc_exec(&mut r, 42, (70, 71), (S, 2 * S), &["id"], true);
        runc_exec(&mut r, 42, (80, 81), (3 * S, 4 * S), &["/bin/sh"], false);
        assert_eq!(
            r.kinds(),
            [FindingKind::ExecSession, FindingKind::ExecSession]
        );
        assert!(session(&r.found[0]).tty);
        assert!(session(&r.found[1]).interactive);
        assert_eq!(r.found[1].ts_ns, 4 * S);
    }

    #[test]
    fn the_containers_own_start_is_no_session() {
        let mut r = Run::new();
        // runc creating a new container in pod web: joins the infra's
        // net/ipc/uts, gets a mount namespace of its own, execs its program.
        let infra = r.m.get(10).unwrap().ns;
        r.ev(create(70, 42, S, node(), "runc:[1:CHILD]"));
        let mut cur = node();
        for ty in [NsType::Ipc, NsType::Uts, NsType::Net] {
            let before = cur;
            cur.set(ty, infra.get(ty));
            r.ev(setns(70, "runc:[1:CHILD]", S, before, cur));
        }
        let mut own = cur;
        own.mnt = 3030;
        own.pid = 3033;
        own.pid_for_children = 3033;
        r.ev(create(71, 70, S + 1, own, "runc:[2:INIT]"));
        r.ev(exec(71, S + 2, own, 1, &["sleep", "1000"], false));
        r.tick(S + 10 * ATTACH_WAIT_NS);
        r.finish();
        assert!(r.found.is_empty(), "{:?}", r.found);
    }

    #[test]
    fn an_exec_probe_is_said_once_then_counted_and_a_real_session_beside_it_is_reported() {
        let mut r = Run::new();
        let probe = ["cat", "/tmp/healthy"];
        let mut pid = 100;
        // The shim's probe every 2 s (± 0.1 s).
        for i in 0..8u64 {
            let at = 10 * S + i * 2 * S + (i % 2) * S / 10;
            runc_exec(&mut r, 51, (pid, pid + 1), (at, at + S / 10), &probe, false);
            pid += 2;
            r.tick(at + S / 2);
            if i == 4 {
                // One real session: a terminal, a shell.
                runc_exec(
                    &mut r,
                    51,
                    (900, 901),
                    (at + S, at + 3 * S / 2),
                    &["/bin/sh"],
                    true,
                );
            }
        }
        r.finish();
        let probes: Vec<&Finding> = r
            .found
            .iter()
            .filter(|f| f.kind == FindingKind::ExecProbe)
            .collect();
        assert_eq!(probes.len(), 1, "said once: {:?}", r.kinds());
        let Evidence::Probe(p) = &probes[0].evidence else {
            unreachable!()
        };
        assert_eq!(p.argv, probe);
        assert_eq!(p.runtime, "containerd");
        assert_eq!((p.runs, probes[0].severity), (3, Severity::Info));
        assert!(p.period_ns.abs_diff(2 * S) < S / 5, "{}", p.period_ns);
        let sessions: Vec<&Session> = r
            .found
            .iter()
            .filter(|f| f.kind == FindingKind::ExecSession)
            .map(session)
            .collect();
        assert_eq!(sessions.len(), 1, "none per probe run: {sessions:?}");
        assert_eq!(sessions[0].argv, ["/bin/sh"]);
        assert_eq!(r.s.probe_runs_total, 8);
        assert_eq!(r.s.probe_runs.len(), 8);
        assert_eq!(r.s.probes_recognised, 1);
    }

    #[test]
    fn a_command_run_twice_or_irregularly_is_reported_as_sessions() {
        let mut r = Run::new();
        let argv = ["cat", "/etc/shadow"];
        for (i, at) in [10 * S, 12 * S, 30 * S].into_iter().enumerate() {
            runc_exec(
                &mut r,
                51,
                (100 + 2 * i as u32, 101 + 2 * i as u32),
                (at, at + S / 10),
                &argv,
                false,
            );
            r.tick(at + S / 2);
        }
        r.tick(200 * S);
        assert_eq!(
            r.kinds(),
            [
                FindingKind::ExecSession,
                FindingKind::ExecSession,
                FindingKind::ExecSession
            ]
        );
        assert_eq!(r.s.probe_runs_total, 0);
    }

    #[test]
    fn a_pre_stop_hook_is_info_and_a_session_open_too_long_is_said_while_open() {
        let mut r = Run::new();
        runc_exec(
            &mut r,
            51,
            (70, 71),
            (S, 3 * S),
            &["sh", "-c", "sleep 2"],
            false,
        );
        let mut h = hdr(Kind::SignalGenerate, 51, 1, 3 * S + S / 10, node(), "runc");
        h.ns.pid = node().pid;
        r.ev(Event::SignalGenerate(SignalGenerateEvent {
            hdr: h,
            sig: 15,
            target_tgid: 11,
            target_tid: 11,
            target_ns_tgid: 1,
            target_ns: app(&r.m),
            ..Default::default()
        }));
        assert_eq!(r.kinds(), [FindingKind::ExecSession]);
        assert_eq!(r.found[0].severity, Severity::Info);
        assert!(session(&r.found[0]).pre_stop);
        // A shell left running: said after OPEN_REPORT_NS, as open, once.
        r.ev(create(80, 42, 5 * S, node(), "runc:[1:CHILD]"));
        let target = app(&r.m);
        enter(&mut r, 80, "runc:[1:CHILD]", 5 * S, target);
        r.ev(create(81, 80, 5 * S, target, "runc:[2:INIT]"));
        r.ev(exec(81, 5 * S, target, 9, &["/bin/bash"], true));
        r.tick(5 * S + OPEN_REPORT_NS);
        assert_eq!(r.found.len(), 2);
        let open = session(&r.found[1]);
        assert_eq!(open.end_ns, None);
        assert_eq!(open.duration_ns(), OPEN_REPORT_NS);
        r.ev(exit(81, 200 * S));
        r.finish();
        assert_eq!(r.found.len(), 2, "not again at its end");
    }

    #[test]
    fn nsenter_from_the_node_is_a_session_by_nsenter_never_a_probe() {
        let mut r = Run::new();
        let target = app(&r.m);
        r.ev(create(70, 60, S, node(), "nsenter"));
        enter(&mut r, 70, "nsenter", S, target);
        // nsenter forks for the PID namespace; the child runs the command.
        r.ev(create(71, 70, S + 1, target, "nsenter"));
        r.ev(exec(71, S + 2, target, 12, &["id"], false));
        r.ev(exit(71, S + 3));
        r.ev(exit(70, S + 4));
        assert_eq!(r.kinds(), [FindingKind::ExecSession], "reported at its end");
        let s = session(&r.found[0]);
        assert_eq!(
            (s.by.tool.as_str(), s.by.runtime.as_str()),
            ("nsenter", "nsenter")
        );
        assert_eq!(s.by.callers[0].comm, "bash");
        assert_eq!(s.argv, ["id"]);
    }

    #[test]
    fn entering_only_a_pods_network_is_no_session() {
        let mut r = Run::new();
        r.ev(create(70, 60, S, node(), "nsenter"));
        let mut net = node();
        net.net = 1005;
        r.ev(setns(70, "nsenter", S, node(), net));
        r.ev(exec(70, S + 1, net, 70, &["ss", "-ltn"], false));
        r.ev(exit(70, S + 2));
        r.finish();
        assert!(r.found.is_empty(), "{:?}", r.found);
    }

    #[test]
    fn a_container_started_into_another_containers_pid_namespace_is_a_debug_container() {
        for (caps, sev) in [(ALL_CAPS, Severity::Medium), (0xa804_25fb, Severity::Low)] {
            let mut r = Run::new();
            let infra = r.m.get(10).unwrap().ns;
            let appns = app(&r.m);
            r.ev(create(70, 51, S, node(), "runc:[1:CHILD]"));
            let mut cur = node();
            for (ty, ino) in [
                (NsType::Ipc, infra.ipc),
                (NsType::Uts, infra.uts),
                (NsType::Net, infra.net),
                (NsType::PidForChildren, appns.pid),
            ] {
                let before = cur;
                cur.set(ty, ino);
                r.ev(setns(70, "runc:[1:CHILD]", S, before, cur));
            }
            let mut dbg = cur;
            dbg.mnt = 4040;
            dbg.pid = appns.pid;
            r.ev(create(71, 70, S + 1, dbg, "runc:[2:INIT]"));
            let Event::Exec(mut e) = exec(71, S + 2, dbg, 30, &["sh"], false) else {
                unreachable!()
            };
            e.args.cap_effective = caps;
            r.ev(Event::Exec(e));
            r.tick(S + S);
            assert!(r.found.is_empty(), "waits for its name");
            // The collector read its cgroup: it is container 12 of pod web.
            r.m.enrich(&crate::model::Enrichment {
                pid: 71,
                seen_ns: S + 3,
                cgroup: format!("/libpod_parent/{}/{}", cid(1), cid(12)),
                hostname: Some("web".into()),
                ..Default::default()
            });
            r.tick(2 * S);
            assert_eq!(r.kinds(), [FindingKind::DebugContainer]);
            assert_eq!(r.found[0].severity, sev);
            let Evidence::Attach(a) = &r.found[0].evidence else {
                unreachable!()
            };
            assert_eq!(a.target, app_place());
            assert_eq!(a.container.container(), Some(cid(12).as_str()));
            assert_eq!(a.shares, [NsType::Pid]);
            assert_eq!(a.by.runtime, "containerd");
        }
    }

    #[test]
    fn sharing_the_pods_own_namespaces_is_no_debug_container() {
        // shareProcessNamespace: the new container joins the infra's PID namespace.
        let mut r = Run::new();
        let infra = r.m.get(10).unwrap().ns;
        r.ev(create(70, 42, S, node(), "runc:[1:CHILD]"));
        let mut cur = node();
        for (ty, ino) in [
            (NsType::Net, infra.net),
            (NsType::PidForChildren, infra.pid),
        ] {
            let before = cur;
            cur.set(ty, ino);
            r.ev(setns(70, "runc:[1:CHILD]", S, before, cur));
        }
        let mut own = cur;
        own.mnt = 4040;
        own.pid = infra.pid;
        r.ev(create(71, 70, S, own, "runc:[2:INIT]"));
        r.ev(exec(71, S, own, 5, &["sleep", "1"], false));
        r.tick(S + 2 * ATTACH_WAIT_NS);
        r.finish();
        assert!(r.found.is_empty(), "{:?}", r.found);
    }

    #[test]
    fn engines_from_callers() {
        let c = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            engine(
                "runc",
                &c(&[("conmon", "conmon --exit-command /usr/bin/podman")])
            ),
            "podman"
        );
        assert_eq!(
            engine("runc", &c(&[("conmon", "conmon"), ("crio", "")])),
            "cri-o"
        );
        assert_eq!(
            engine(
                "runc",
                &c(&[(
                    "containerd-shim",
                    "containerd-shim-runc-v2 -namespace moby -id x"
                )])
            ),
            "docker"
        );
        assert_eq!(
            engine(
                "runc",
                &c(&[(
                    "containerd-shim",
                    "containerd-shim-runc-v2 -namespace k8s.io"
                )])
            ),
            "containerd"
        );
        assert_eq!(engine("nsenter", &c(&[("bash", "bash")])), "nsenter");
        assert_eq!(
            engine("runc", &c(&[("conmon", "conmon -c x -b /run/x")])),
            "conmon"
        );
        assert_eq!(tool_of("runc:[1:CHILD]"), "runc");
        assert!(interactive(&["/bin/bash".into()], false));
        assert!(!interactive(
            &["sh".into(), "-c".into(), "id".into()],
            false
        ));
        assert!(interactive(&["id".into()], true));
        assert_eq!(regular(&[0, 2 * S, 4 * S + S / 10]), Some(2 * S + S / 10));
        assert_eq!(regular(&[0, 2 * S, 9 * S]), None);
        assert_eq!(regular(&[0, 2 * S]), None);
    }
}
