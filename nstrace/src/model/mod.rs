//! The live process model: every process with its namespaces, folded from a
//! /proc snapshot and the event stream. Pure: no I/O, so it is tested from
//! hand-built inputs and a replay gives exactly what the live run gave.

pub mod cgroup;
pub mod init;
pub mod net;
pub mod place;
pub mod servers;
pub mod signals;
pub mod topology;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use nstrace_common::{NsSet, NsType};

pub use crate::runtime::{ContainerNames, Runtime};
pub use init::{Init, TermFailure, TermHabit};
pub use place::{short_id, CtrRef, Place, Places, PodRef};
pub use signals::{Disposition, KernelSigs, Signals};

use crate::event::names::CLONE_THREAD;
use crate::event::{cstr, Event};

/// One process (thread group) as the model knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Process {
    /// Process id in the node's PID namespace.
    pub pid: u32,
    /// Parent's pid.
    pub ppid: u32,
    /// The pid inside its own PID namespace (1 for an init).
    pub ns_pid: u32,
    /// Command name.
    pub comm: String,
    /// Executable path (from exec, or /proc/PID/exe at snapshot).
    pub exe: String,
    /// Command line, space-joined (from the snapshot, or the exec's arguments).
    pub cmdline: String,
    /// Cgroup path that names its container, if any.
    pub cgroup: String,
    /// Its namespaces.
    pub ns: NsSet,
    /// UTS hostname, when known (the pod name for pods).
    pub hostname: Option<String>,
    /// Exited but not yet reaped.
    pub zombie: bool,
    /// When it started (monotonic ns): its creation event, or its start
    /// time in /proc for a process of the snapshot. With the pid, the
    /// process's identity (a reused pid is another process).
    pub start_ns: u64,
    /// When it exited (its exit event; its first sighting as a zombie in the
    /// snapshot); 0 while it runs.
    pub exit_ns: u64,
    /// Monotonic time of the information (snapshot read or last event).
    pub seen_ns: u64,
    /// When its current program started (its exec, or its start at snapshot).
    pub program_ns: u64,
    /// What it does with each signal.
    pub signals: Signals,
}

impl Process {
    /// Which init this is, when it is a container's PID 1.
    pub fn init(&self) -> Init {
        Init::identify(&self.exe, &self.cmdline, &self.comm)
    }

    /// Whether it is the init of a PID namespace other than the node's.
    pub fn is_ns_init(&self, node_pid_ns: u32) -> bool {
        is_ns_init(self.ns_pid, self.ns.pid, node_pid_ns)
    }

    /// What its identity and signal dispositions say about it as a PID 1:
    /// the one rule both the predictions and the collector's re-reads of
    /// /proc follow.
    pub fn pid1_outlook(&self) -> Outlook {
        use nstrace_common::sigstate::sa::RESETHAND;
        let init = self.init();
        let term = self.signals.of(nstrace_common::sig::TERM);
        let chld = self.signals.of(nstrace_common::sig::CHLD);
        let term_flags = self.signals.flags_of(nstrace_common::sig::TERM);
        let reraises = init.term_habit() == Some(TermHabit::ReRaises);
        // An init program takes SIGTERM by design, often with sigtimedwait,
        // which /proc cannot show (the wait unblocks what it waits for).
        let drops_sigterm =
            if !init.is_init() && matches!(term, Disposition::Default | Disposition::Ignored) {
                Some(Likelihood::Certain)
            } else if term != Disposition::Handled || init.is_init() {
                None
            } else {
                match term_flags {
                    // The runtime's own one-shot handler, as the kernel holds it
                    // (Node.js installs it with SA_RESETHAND; libuv's listener
                    // for `process.on('SIGTERM')` replaces it without).
                    Some(f) if f & RESETHAND != 0 && reraises => Some(Likelihood::Certain),
                    // Any other one-shot SIGTERM handler at PID 1: the re-raise
                    // pattern, unless the handler exits by itself.
                    Some(f) if f & RESETHAND != 0 => Some(Likelihood::Likely),
                    // The application's own listener replaced the runtime's.
                    Some(_) => None,
                    // /proc only: caught, but it cannot tell whose handler.
                    None if reraises => Some(Likelihood::Likely),
                    None => None,
                }
            };
        let reaps = init.reaps()
            || matches!(
                chld,
                Disposition::Handled | Disposition::Ignored | Disposition::Blocked
            );
        Outlook {
            init,
            term,
            chld,
            term_flags,
            drops_sigterm,
            reaps,
        }
    }
}

/// How the model learned that a process is gone. Each release happens once,
/// on the first witness; the kernel frees a reaped task an RCU grace period
/// after its reaper's wait returned, so `Freed` usually finds it gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Witness {
    /// The kernel freed the task (`sched_process_free`).
    Freed,
    /// Its reaper's wait4/waitid returned it (`waited`).
    Waited {
        /// The reaper.
        reaper: u32,
    },
    /// The init of its PID namespace was released: the kernel releases
    /// every other process of a PID namespace before its init
    /// (kernel/pid_namespace.c, zap_pid_ns_processes, Linux 6.18), so none
    /// that started before the init exited can be left.
    PidNsGone {
        /// The init.
        init: u32,
    },
    /// /proc says it is gone: a correction of a witness the model missed.
    Corrected(Drift),
}

impl Witness {
    /// Stable name (metric label, JSON).
    pub fn name(self) -> &'static str {
        match self {
            Witness::Freed => "freed",
            Witness::Waited { .. } => "waited",
            Witness::PidNsGone { .. } => "pid_ns_gone",
            Witness::Corrected(_) => "corrected",
        }
    }
}

/// A process leaving the model, and how that was learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    /// The process.
    pub pid: u32,
    /// The witness.
    pub witness: Witness,
    /// When the witness saw it (the event's time, or when /proc was read).
    pub ts_ns: u64,
}

/// What /proc showed that the model had missed (the reason a correction was made).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Drift {
    /// The model held a zombie that /proc no longer has: its reap was missed.
    ReapMissed,
    /// The model held a running process that /proc no longer has, or has
    /// as a zombie: its exit was missed.
    ExitMissed,
    /// /proc has another process (a later start time) at the pid: the
    /// model's process and its end were missed.
    PidReused,
}

impl Drift {
    /// Every reason, in label order.
    pub const ALL: [Drift; 3] = [Drift::ReapMissed, Drift::ExitMissed, Drift::PidReused];

    /// Stable name (the `reason` label of `nstrace_model_corrections_total`).
    pub fn name(self) -> &'static str {
        match self {
            Drift::ReapMissed => "reap_missed",
            Drift::ExitMissed => "exit_missed",
            Drift::PidReused => "pid_reused",
        }
    }

    /// Its index in [`Drift::ALL`] (a counter slot).
    pub fn slot(self) -> usize {
        Drift::ALL.iter().position(|d| *d == self).unwrap_or(0)
    }
}

/// One correction of the model from /proc: process `pid`, known to the model
/// as started at `start_ns`, is not what /proc showed at `seen_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Correction {
    /// The process.
    pub pid: u32,
    /// Its start as the model knows it (so the correction applies to that
    /// process only, not to a later one at the same pid).
    pub start_ns: u64,
    /// When /proc was read.
    pub seen_ns: u64,
    /// What was missed.
    pub drift: Drift,
    /// /proc still has the process, as a zombie (its exit was missed): it is
    /// marked so, not released.
    pub still_zombie: bool,
}

/// How sure a prediction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Likelihood {
    /// The kernel will drop it: no handler, or the runtime's own one-shot
    /// handler as the kernel holds it.
    Certain,
    /// A handler that re-raises will drop it: a runtime's, as /proc shows it
    /// (unless the application has its own), or any one-shot (SA_RESETHAND)
    /// handler at PID 1 (unless it exits by itself).
    Likely,
}

/// A container init's identity and signal state, and what they predict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outlook {
    /// Which init it is.
    pub init: Init,
    /// What it does with SIGTERM.
    pub term: Disposition,
    /// What it does with SIGCHLD.
    pub chld: Disposition,
    /// Its SIGTERM handler's `sa_flags` as the kernel holds them (`None`:
    /// no handler, or only /proc was read).
    pub term_flags: Option<u32>,
    /// It will drop SIGTERM, and how sure that is.
    pub drops_sigterm: Option<Likelihood>,
    /// It reaps the orphans reparented to it.
    pub reaps: bool,
}

impl Outlook {
    /// Nothing to predict: it takes SIGTERM and reaps. (Until then the
    /// collector keeps re-reading its dispositions, which a program may set
    /// late.)
    pub fn settled(&self) -> bool {
        self.drops_sigterm.is_none() && self.reaps
    }
}

/// Whether a task that is `ns_pid` in PID namespace `pid_ns` is the init of
/// a namespace other than the node's (`node_pid_ns`): a container's PID 1,
/// which the kernel makes SIGNAL_UNKILLABLE (kernel/fork.c `copy_process()`,
/// v6.18; see [`signals`]). The one definition of "a container init" for
/// detectors and the collector alike.
pub fn is_ns_init(ns_pid: u32, pid_ns: u32, node_pid_ns: u32) -> bool {
    ns_pid == 1 && pid_ns != node_pid_ns && pid_ns != 0
}

/// A namespace kept alive by something other than a process in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pinned {
    /// Its type.
    pub ns_type: NsType,
    /// Its inode.
    pub inode: u32,
    /// What holds it: a bind-mount path ("/run/netns/x") or "fd of pid N".
    pub holder: String,
}

/// Facts read from /proc for a process after one of its events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enrichment {
    /// The process.
    pub pid: u32,
    /// When it was read (monotonic ns).
    pub seen_ns: u64,
    /// Its cgroup path.
    pub cgroup: String,
    /// Its UTS hostname, if readable.
    pub hostname: Option<String>,
    /// Its command name then (a program may rename itself without an event,
    /// e.g. busybox applets run through /proc/self/exe); empty if unknown.
    pub comm: String,
    /// Its executable as /proc resolves it (the exec event has the path asked
    /// for, such as /proc/self/exe); empty if unknown.
    pub exe: String,
    /// Its command line, space-joined (exec events do not carry argv); empty if unknown.
    pub cmdline: String,
}

/// An exec's command line as the model keeps it (space-joined, as /proc's
/// is read): its arguments, or the path when it has none.
fn exec_cmdline(e: &nstrace_common::ExecEvent) -> String {
    let argv = crate::event::exec_argv(&e.args);
    if argv.is_empty() {
        cstr(&e.filename).into_owned()
    } else {
        argv.join(" ")
    }
}

/// Whether the collector should read /proc after this event: an exec or a
/// namespace change outside the node's mount or UTS namespace (a container
/// starting), where cgroup and hostname matter and events do not carry them.
pub fn wants_enrichment(node: &NsSet, ev: &Event) -> Option<u32> {
    let h = ev.header();
    let wanted = match ev {
        Event::Exec(_) => h.ns.mnt != node.mnt || h.ns.uts != node.uts,
        // A runtime entering or making a container's mount namespace; a node
        // process only changing its UTS or net (ip netns, a storm) is not one.
        Event::Setns(_) | Event::Unshare(_) => h.ns.mnt != node.mnt,
        _ => false,
    };
    wanted.then_some(h.tgid)
}

/// Whether a setns went into a namespace that is neither the node's nor a
/// known pin, so new bind mounts (a fresh `ip netns add`) may explain it.
pub fn joins_unknown_place(m: &Model, e: &nstrace_common::NsChangeEvent) -> bool {
    let node = m.node.as_array();
    let (before, after) = (e.before.as_array(), e.hdr.ns.as_array());
    let pinned = |ino: u32| m.pinned.iter().any(|p| p.inode == ino);
    let changed_unknown = (0..after.len()).any(|s| {
        before[s] != after[s] && after[s] != 0 && node[s] != after[s] && !pinned(after[s])
    });
    let target = e.target_inode;
    let target_unknown = target != 0 && !node.contains(&target) && !pinned(target);
    changed_unknown || (after == before && target_unknown)
}

/// The program a process runs when it exec'd `filename`: a re-exec of a
/// binary through `/proc/self/exe` or `/proc/PID/exe` (dockerd's helpers,
/// runc's `runc init`, `libnetwork-setkey` hooks run as `/proc/<dockerd>/exe`)
/// runs that process's executable, which the model knows; anything else is
/// the path itself.
fn reexec_of<'a>(
    filename: &'a str,
    own: Option<&'a str>,
    of_pid: impl Fn(u32) -> Option<&'a str>,
) -> &'a str {
    let target = filename
        .strip_prefix("/proc/")
        .and_then(|r| r.strip_suffix("/exe"))
        .and_then(|who| match who {
            "self" => own,
            n => n.parse().ok().and_then(&of_pid),
        })
        .filter(|t| !t.is_empty() && !t.starts_with("/proc/"));
    target.unwrap_or(filename)
}

/// The node and its processes.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// The node's namespaces.
    pub node: NsSet,
    /// The node's hostname.
    pub node_hostname: String,
    procs: BTreeMap<u32, Process>,
    /// Namespaces pinned by bind mounts or fds (latest scan).
    pub pinned: Vec<Pinned>,
    /// Bumped on every change that can alter the topology.
    pub generation: u64,
    /// Bumped only when the container layout can change: a mount namespace
    /// gains its first or loses its last process, a namespace init comes or
    /// goes or runs a new program, a process in a container changes
    /// namespaces, cgroup/hostname facts or pins change. Forks and exits inside existing
    /// containers leave it alone, so indexes keyed by it survive process churn.
    pub layout_generation: u64,
    /// Processes per mount namespace.
    mnt_count: std::collections::HashMap<u32, u32>,
    /// What the container runtime calls each container and its pod, by container id.
    names: BTreeMap<String, ContainerNames>,
    /// The places index, rebuilt when the container layout changed (see [`Model::places`]).
    places: RefCell<Option<Rc<Places>>>,
    /// The last read of each network namespace, by inode.
    net: BTreeMap<u32, net::NetFacts>,
    /// Who held a port when a bind lost over it, by (netns, transport, port).
    holders: BTreeMap<(u32, net::Proto, u16), net::PortHolders>,
}

impl Model {
    /// What process `pid` runs after exec'ing `filename` ([`reexec_of`]).
    fn reexec_target(&self, pid: u32, filename: &str) -> String {
        reexec_of(
            filename,
            self.procs.get(&pid).map(|p| p.exe.as_str()),
            |n| self.procs.get(&n).map(|p| p.exe.as_str()),
        )
        .to_owned()
    }
}

impl Model {
    /// An empty model of a node.
    pub fn new(node: NsSet, node_hostname: &str) -> Model {
        Model {
            node,
            node_hostname: node_hostname.to_owned(),
            ..Model::default()
        }
    }

    /// Where everything lives now, from an index rebuilt only when the
    /// container layout changed (forks and exits inside containers keep it).
    pub fn places(&self) -> Rc<Places> {
        let mut cache = self.places.borrow_mut();
        match cache.as_ref() {
            Some(p) if p.fresh_for(self) => p.clone(),
            _ => {
                let p = Rc::new(Places::build(self));
                *cache = Some(p.clone());
                p
            }
        }
    }

    /// Where a process in mount namespace `mnt` lives; a node process never
    /// touches the index.
    pub fn place_of_mnt(&self, mnt: u32) -> Place {
        if mnt == 0 || mnt == self.node.mnt {
            return Place::Node;
        }
        self.places().mount(mnt)
    }

    /// Where namespace `inode` of type `ty` belongs. A namespace the index
    /// does not know (say one a node process made since it was built) gets
    /// one rebuild from the whole model.
    pub fn place_of_ns(&self, ty: NsType, inode: u32) -> Place {
        if inode != 0 && self.node.get(ty.kind()) == inode {
            return Place::Node;
        }
        let places = self.places();
        match places.namespace(ty, inode) {
            Place::Unknown if places.model_generation != self.generation => {
                let fresh = Rc::new(Places::build(self));
                let place = fresh.namespace(ty, inode);
                *self.places.borrow_mut() = Some(fresh);
                place
            }
            place => place,
        }
    }

    /// The type of a namespace known by inode alone.
    pub fn type_of_ns(&self, inode: u32) -> Option<NsType> {
        self.places().type_of(inode)
    }

    /// Where process `pid` (of PID namespace `pid_ns`) lives or lived, as a
    /// finding about it is placed: its pod and container, or the node.
    pub fn place_of_process(&self, pid: u32, pid_ns: u32) -> Place {
        self.places().process(self, pid, pid_ns).of_process()
    }

    /// Records the runtime's names of container `id`.
    pub fn set_names(&mut self, id: &str, names: ContainerNames) {
        if self.names.get(id) != Some(&names) {
            self.names.insert(id.to_owned(), names);
            self.generation += 1;
            self.layout_generation += 1;
        }
    }

    /// The runtime's names of container `id`, if read.
    pub fn names_of(&self, id: &str) -> Option<&ContainerNames> {
        self.names.get(id)
    }

    /// Every container's runtime names, by id.
    pub fn all_names(&self) -> impl Iterator<Item = (&String, &ContainerNames)> {
        self.names.iter()
    }

    /// The id of the container whose cgroup process `pid` is in, if known.
    pub fn container_of(&self, pid: u32) -> Option<String> {
        self.procs
            .get(&pid)
            .and_then(|p| cgroup::parse(&p.cgroup).container)
    }

    /// Ids of the containers some known process's cgroup names.
    pub fn live_container_ids(&self) -> std::collections::HashSet<String> {
        self.procs
            .values()
            .filter_map(|p| cgroup::parse(&p.cgroup).container)
            .collect()
    }

    /// Forgets the names of containers no process names in its cgroup any
    /// more, keeping the map bounded on a node where pods come and go.
    pub fn forget_gone_names(&mut self, live: &std::collections::HashSet<String>) {
        let before = self.names.len();
        self.names.retain(|id, _| live.contains(id));
        if self.names.len() != before {
            self.generation += 1;
            self.layout_generation += 1;
        }
    }

    /// Takes a read of a network namespace (it replaces the previous one).
    /// Only a change of what was read moves the generation.
    pub fn set_net(&mut self, f: net::NetFacts) {
        let changed = self.net.get(&f.netns).is_none_or(|old| !old.same_as(&f));
        self.net.insert(f.netns, f);
        if changed {
            self.generation += 1;
        }
    }

    /// The last read of network namespace `netns`.
    pub fn net(&self, netns: u32) -> Option<&net::NetFacts> {
        self.net.get(&netns)
    }

    /// Every network namespace read, by inode.
    pub fn all_net(&self) -> impl Iterator<Item = &net::NetFacts> {
        self.net.values()
    }

    /// Takes who held a port after a bind lost over it (the latest per port).
    pub fn set_port_holders(&mut self, h: net::PortHolders) {
        self.holders.insert((h.netns, h.proto, h.port), h);
    }

    /// Who held `port` of `netns` when that was last looked up.
    pub fn port_holders(
        &self,
        netns: u32,
        proto: net::Proto,
        port: u16,
    ) -> Option<&net::PortHolders> {
        self.holders.get(&(netns, proto, port))
    }

    /// Network namespaces some process is in or some pin holds (the node's included).
    pub fn live_netns(&self) -> std::collections::HashSet<u32> {
        let mut live: std::collections::HashSet<u32> =
            self.procs.values().map(|p| p.ns.net).collect();
        live.extend(
            self.pinned
                .iter()
                .filter(|p| p.ns_type == NsType::Net)
                .map(|p| p.inode),
        );
        live.insert(self.node.net);
        live
    }

    /// Forgets what was read about network namespaces that are gone, so the
    /// maps stay bounded on a node where pods come and go.
    pub fn forget_gone_net(&mut self) {
        if self.net.is_empty() && self.holders.is_empty() {
            return;
        }
        let live = self.live_netns();
        let before = self.net.len();
        self.net.retain(|ino, _| live.contains(ino));
        self.holders.retain(|(ino, _, _), _| live.contains(ino));
        if self.net.len() != before {
            self.generation += 1;
        }
    }

    /// All known processes, by pid.
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.procs.values()
    }

    /// One process.
    pub fn get(&self, pid: u32) -> Option<&Process> {
        self.procs.get(&pid)
    }

    /// Number of processes known.
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    /// Whether no process is known.
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    fn count_in(&mut self, mnt: u32) {
        let n = self.mnt_count.entry(mnt).or_insert(0);
        *n += 1;
        if *n == 1 {
            self.layout_generation += 1;
        }
    }

    fn count_out(&mut self, mnt: u32) {
        if let Some(n) = self.mnt_count.get_mut(&mnt) {
            *n -= 1;
            if *n == 0 {
                self.mnt_count.remove(&mnt);
                self.layout_generation += 1;
            }
        }
    }

    /// A process moved from mount namespace `from` to `to`.
    fn move_mnt(&mut self, from: u32, to: u32) {
        if from != to {
            self.count_in(to);
            self.count_out(from);
        }
    }

    /// A process leaves the model (removed, or replaced by a newer entry).
    fn left(&mut self, old: &Process) {
        self.count_out(old.ns.mnt);
        if old.ns_pid == 1 {
            self.layout_generation += 1;
        }
    }

    /// Removes a process, keeping the per-mount counts and the layout generation.
    fn take(&mut self, pid: u32) -> Option<Process> {
        let old = self.procs.remove(&pid)?;
        self.left(&old);
        self.generation += 1;
        Some(old)
    }

    /// Inserts or replaces a process, keeping the per-mount counts and the layout generation.
    fn put(&mut self, p: Process) {
        let (mnt, init) = (p.ns.mnt, p.ns_pid == 1);
        if let Some(old) = self.procs.insert(p.pid, p) {
            self.left(&old);
        }
        self.count_in(mnt);
        if init {
            self.layout_generation += 1;
        }
        self.generation += 1;
    }

    /// Adds a process read from /proc. A process already known from a newer
    /// event is kept: events carry complete state, the later wins.
    pub fn add_snapshot(&mut self, p: Process) {
        match self.procs.get(&p.pid) {
            Some(known) if known.seen_ns > p.seen_ns => {}
            _ => self.put(p),
        }
    }

    /// Adds what /proc said about a process right after an event (cgroup and
    /// hostname are not in events). Ignored for unknown or newer processes.
    pub fn enrich(&mut self, e: &Enrichment) {
        if let Some(p) = self.procs.get_mut(&e.pid) {
            if p.seen_ns <= e.seen_ns {
                if p.cgroup != e.cgroup || p.hostname != e.hostname {
                    self.layout_generation += 1;
                }
                p.cgroup = e.cgroup.clone();
                p.hostname = e.hostname.clone();
                if !e.comm.is_empty() {
                    p.comm = e.comm.clone();
                }
                if !e.exe.is_empty() {
                    p.exe = e.exe.clone();
                }
                if !e.cmdline.is_empty() {
                    p.cmdline = e.cmdline.clone();
                }
                self.generation += 1;
            }
        }
    }

    /// Signal dispositions read from /proc for `pid` at `seen_ns`. What
    /// only the kernel shows (handler flags, signals taken) is kept while
    /// /proc agrees with it on which signals are handled.
    pub fn set_signals(&mut self, pid: u32, seen_ns: u64, mut signals: Signals) {
        if let Some(p) = self.procs.get_mut(&pid) {
            // The kernel's records carry signals 1..=32; /proc shows all 64.
            let low = |m: u64| m & 0xffff_ffff;
            if signals.kernel.is_none() && low(signals.caught) == low(p.signals.caught) {
                signals.kernel = p.signals.kernel;
            }
            if p.seen_ns <= seen_ns && p.signals != signals {
                p.signals = signals;
                self.generation += 1;
            }
        }
    }

    /// Replaces the list of pinned namespaces.
    pub fn set_pinned(&mut self, mut pinned: Vec<Pinned>) {
        pinned.sort();
        if pinned != self.pinned {
            self.pinned = pinned;
            self.generation += 1;
            self.layout_generation += 1;
        }
    }

    /// The process a waiter's wait released: `pid` as the waiter's own PID
    /// namespace numbers it. Only a zombie can have been released (its exit
    /// event comes before any wait can reap it); a running process at that
    /// pid is a later one (a reused pid) or one whose exit was missed, left
    /// to reconciliation.
    pub fn waited_child(&self, waiter: &nstrace_common::Header, pid: i32) -> Option<u32> {
        if pid <= 0 {
            return None;
        }
        let pid = pid as u32;
        let waiter_ns = waiter.ns.pid;
        if waiter_ns == 0 || waiter_ns == self.node.pid {
            return self.procs.get(&pid).filter(|p| p.zombie).map(|p| p.pid);
        }
        self.procs
            .values()
            .find(|p| p.zombie && p.ns.pid == waiter_ns && p.ns_pid == pid)
            .map(|p| p.pid)
    }

    /// The processes the event releases, with how (pure: nothing changes).
    /// A namespace init released takes the rest of its PID namespace along.
    pub fn releases(&self, ev: &Event) -> Vec<Release> {
        let h = ev.header();
        let first = match ev {
            // Only the thread-group leader's release removes the process,
            // and only once it exited: the free comes an RCU grace period
            // after the pid was freed, so the pid may already belong to a
            // new, living process.
            Event::Reap(_) if h.tid == h.tgid => self
                .procs
                .get(&h.tgid)
                .filter(|p| p.zombie && p.start_ns <= h.ts_ns)
                .map(|p| Release {
                    pid: p.pid,
                    witness: Witness::Freed,
                    ts_ns: h.ts_ns,
                }),
            Event::Waited(w) => self.waited_child(h, w.pid).map(|pid| Release {
                pid,
                witness: Witness::Waited { reaper: h.tgid },
                ts_ns: h.ts_ns,
            }),
            _ => None,
        };
        let mut out: Vec<Release> = first.into_iter().collect();
        if let Some(r) = first {
            self.namespace_with(&mut out, r.pid, r.ts_ns);
        }
        out
    }

    /// Adds to `out` the rest of `pid`'s PID namespace when `pid` is its
    /// init: what started before the init exited (nothing can start in a
    /// namespace whose init is gone).
    fn namespace_with(&self, out: &mut Vec<Release>, pid: u32, ts_ns: u64) {
        let Some(init) = self.procs.get(&pid) else {
            return;
        };
        if !init.is_ns_init(self.node.pid) {
            return;
        }
        // Without its exit time (a running init found gone), what started
        // after its death may be a new namespace's at a reused inode: each
        // of those is left to its own witness.
        if init.exit_ns == 0 {
            return;
        }
        let (ns, until) = (init.ns.pid, init.exit_ns);
        out.extend(
            self.procs
                .values()
                .filter(|p| p.pid != pid && p.ns.pid == ns && p.start_ns <= until)
                .map(|p| Release {
                    pid: p.pid,
                    witness: Witness::PidNsGone { init: pid },
                    ts_ns,
                }),
        );
    }

    /// What a correction releases: the process if /proc no longer has it
    /// (and, if it was a namespace init, the rest of its namespace); nothing
    /// when the process is not the one the correction is about.
    pub fn correction_releases(&self, c: &Correction) -> Vec<Release> {
        let mut out = Vec::new();
        if c.still_zombie || !self.is_same(c.pid, c.start_ns) {
            return out;
        }
        out.push(Release {
            pid: c.pid,
            witness: Witness::Corrected(c.drift),
            ts_ns: c.seen_ns,
        });
        self.namespace_with(&mut out, c.pid, c.seen_ns);
        out
    }

    /// Whether the model's process `pid` is the one that started at `start_ns`.
    fn is_same(&self, pid: u32, start_ns: u64) -> bool {
        self.procs.get(&pid).is_some_and(|p| p.start_ns == start_ns)
    }

    /// Takes a correction's effect on a process /proc still has: a zombie
    /// whose exit was missed is marked so (releases are applied apart).
    pub fn correct(&mut self, c: &Correction) {
        if !c.still_zombie || !self.is_same(c.pid, c.start_ns) {
            return;
        }
        if let Some(p) = self.procs.get_mut(&c.pid) {
            if !p.zombie {
                p.zombie = true;
                p.exit_ns = c.seen_ns;
                self.generation += 1;
            }
        }
    }

    /// Removes released processes.
    pub fn release(&mut self, released: &[Release]) {
        for r in released {
            self.take(r.pid);
        }
    }

    /// Keeps a process's command name current from an event about its
    /// leader thread (prctl renames make no event of their own).
    fn refresh_comm(&mut self, pid: u32, tid: u32, comm: &[u8; 16], ts_ns: u64) {
        if pid != tid {
            return;
        }
        if let Some(p) = self.procs.get_mut(&pid) {
            let c = cstr(comm);
            if p.seen_ns <= ts_ns && !c.is_empty() && p.comm != c {
                p.comm = c.into_owned();
                self.generation += 1;
                // An init's name says whether it is an infra (pause) process.
                if p.ns_pid == 1 {
                    self.layout_generation += 1;
                }
            }
        }
    }

    /// Folds one event in. Events older than what the snapshot already shows
    /// for a process do not roll it back (the snapshot/attach race).
    pub fn apply(&mut self, ev: &Event) {
        let h = ev.header();
        match ev {
            Event::SignalGenerate(s) => {
                self.refresh_comm(s.target_tgid, s.target_tid, &s.target_comm, h.ts_ns)
            }
            Event::Rename(r) => self.refresh_comm(h.tgid, h.tid, &r.new_comm, h.ts_ns),
            Event::Wait(_)
            | Event::SignalDeliver(_)
            | Event::Setns(_)
            | Event::Unshare(_)
            | Event::Bind(_) => self.refresh_comm(h.tgid, h.tid, &h.comm, h.ts_ns),
            _ => {}
        }
        let stale = |m: &Model, pid: u32| m.procs.get(&pid).is_some_and(|p| p.seen_ns > h.ts_ns);
        match ev {
            Event::Create(e) => {
                if e.clone_flags & CLONE_THREAD != 0 || stale(self, h.tgid) {
                    return;
                }
                let parent = self.procs.get(&e.creator_tgid);
                let p = Process {
                    pid: h.tgid,
                    ppid: h.ppid,
                    ns_pid: h.ns_tgid,
                    comm: cstr(&h.comm).into_owned(),
                    exe: parent.map(|p| p.exe.clone()).unwrap_or_default(),
                    cmdline: parent.map(|p| p.cmdline.clone()).unwrap_or_default(),
                    cgroup: parent.map(|p| p.cgroup.clone()).unwrap_or_default(),
                    hostname: parent
                        .and_then(|p| (p.ns.uts == h.ns.uts).then(|| p.hostname.clone()).flatten()),
                    ns: h.ns,
                    zombie: false,
                    start_ns: h.ts_ns,
                    exit_ns: 0,
                    seen_ns: h.ts_ns,
                    program_ns: h.ts_ns,
                    // fork copies the handlers.
                    signals: parent.map(|p| p.signals).unwrap_or_default(),
                };
                self.put(p);
            }
            Event::Exec(e) => {
                if stale(self, h.tgid) {
                    return;
                }
                // What names its container, carried by the event (the
                // process may be gone before /proc can be read).
                let cgroup = crate::event::exec_cgroup(e);
                let exe = self.reexec_target(h.tgid, &cstr(&e.filename));
                let Some(p) = self.procs.get_mut(&h.tgid) else {
                    self.put(Process {
                        pid: h.tgid,
                        ppid: h.ppid,
                        ns_pid: h.ns_tgid,
                        comm: cstr(&h.comm).into_owned(),
                        exe: exe.clone(),
                        cmdline: exec_cmdline(e),
                        cgroup,
                        ns: h.ns,
                        start_ns: h.ts_ns,
                        seen_ns: h.ts_ns,
                        program_ns: h.ts_ns,
                        ..Process::default()
                    });
                    return;
                };
                // A fuller path read from /proc names no other container.
                let moved =
                    !cgroup.is_empty() && cgroup::parse(&cgroup) != cgroup::parse(&p.cgroup);
                if moved {
                    p.cgroup = cgroup;
                }
                let (old_mnt, was_init) = (p.ns.mnt, p.ns_pid == 1);
                p.comm = cstr(&h.comm).into_owned();
                p.cmdline = exec_cmdline(e);
                p.exe = exe;
                p.ppid = h.ppid;
                p.ns_pid = h.ns_tgid;
                p.ns = h.ns;
                p.seen_ns = h.ts_ns;
                p.program_ns = h.ts_ns;
                p.signals = p.signals.after_exec();
                self.generation += 1;
                // An init running a new program may become (or stop being) an infra.
                if was_init || h.ns_tgid == 1 || moved {
                    self.layout_generation += 1;
                }
                self.move_mnt(old_mnt, h.ns.mnt);
            }
            Event::Setns(e) | Event::Unshare(e) => {
                if e.ret != 0 || stale(self, h.tgid) {
                    return;
                }
                // Namespaces belong to threads; a process is described by its leader.
                if h.tid != h.tgid {
                    return;
                }
                let node_mnt = self.node.mnt;
                if let Some(p) = self.procs.get_mut(&h.tgid) {
                    if p.ns.uts != h.ns.uts {
                        p.hostname = None;
                    }
                    // Only a process that is or becomes part of a container can
                    // change the container layout (node administration cannot).
                    let old_mnt = p.ns.mnt;
                    let in_containers = old_mnt != node_mnt || h.ns.mnt != node_mnt;
                    p.ns = h.ns;
                    p.seen_ns = h.ts_ns;
                    self.generation += 1;
                    if in_containers {
                        self.layout_generation += 1;
                    }
                    self.move_mnt(old_mnt, h.ns.mnt);
                }
            }
            Event::Exit(e) => {
                if e.group_dead != 0 {
                    if let Some(p) = self.procs.get_mut(&h.tgid) {
                        p.zombie = true;
                        p.exit_ns = h.ts_ns;
                        // Its parent now: an orphan's is the reaper it was given.
                        if h.ppid != 0 {
                            p.ppid = h.ppid;
                        }
                        self.generation += 1;
                    }
                }
            }
            // Releases are applied apart (see `releases`), after the
            // consumers have seen the event with the process still there.
            Event::Reap(_) | Event::Waited(_) => {}
            Event::SignalDeliver(d) => {
                if let Some(p) = self.procs.get_mut(&h.tgid) {
                    p.signals.saw_handler(d.sig, d.handler);
                }
            }
            Event::SigState(e) => {
                if let Some(p) = self.procs.get_mut(&h.tgid) {
                    let last = p.signals.kernel.map_or(0, |k| k.seen_ns);
                    if h.ts_ns < last || p.program_ns > h.ts_ns {
                        return;
                    }
                    use nstrace_common::sigstate::reason;
                    // Only these reasons say which signals it takes itself.
                    let taken = match e.reason {
                        reason::AT_START | reason::SIGNALFD | reason::SIGWAIT => {
                            e.taken | p.signals.kernel.map_or(0, |k| k.taken)
                        }
                        _ => p.signals.kernel.map_or(0, |k| k.taken),
                    };
                    let mut s = Signals::from_kernel(e, taken);
                    // Signals above 32 (real-time ones) are not in the record:
                    // what /proc said of them stands.
                    let high = |m: u64| m & !0xffff_ffff;
                    s.caught |= high(p.signals.caught);
                    s.ignored |= high(p.signals.ignored);
                    if p.signals != s {
                        p.signals = s;
                        self.generation += 1;
                    }
                }
            }
            Event::Wait(_) | Event::SignalGenerate(_) | Event::Rename(_) | Event::Bind(_) => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Hand-built events for model and detector tests.
    use nstrace_common::{
        CreateEvent, ExitEvent, Header, Kind, NsChangeEvent, NsSet, NsType, ReapEvent,
    };

    use crate::event::Event;

    /// The node's namespaces in the tests: slot i has inode 100 + i, and
    /// pid_for_children is pid.
    pub const NODE: [u32; 9] = [100, 101, 102, 103, 103, 105, 106, 107, 108];

    /// The node's namespace set.
    pub fn node() -> NsSet {
        NsSet::from_array(NODE)
    }

    /// A 64-hex container id made from `n`.
    pub fn cid(n: u32) -> String {
        format!("{n:064x}")
    }

    /// The node's namespaces except for `over`; a pid namespace given there is
    /// also the one for children, as for a process that did not unshare it.
    pub fn ns_with(over: &[(NsType, u32)]) -> NsSet {
        let mut ns = NsSet::from_array(NODE);
        for &(t, ino) in over {
            ns.set(t, ino);
            if t == NsType::Pid {
                ns.set(NsType::PidForChildren, ino);
            }
        }
        ns
    }

    /// A header for `pid` at time `ts` with namespaces `ns`.
    pub fn hdr(kind: Kind, pid: u32, ppid: u32, ts: u64, ns: NsSet, comm: &str) -> Header {
        let mut c = [0u8; 16];
        c[..comm.len()].copy_from_slice(comm.as_bytes());
        Header {
            kind: kind as u16,
            ts_ns: ts,
            tgid: pid,
            tid: pid,
            ppid,
            ns_tgid: pid,
            comm: c,
            ns,
            ..Header::default()
        }
    }

    /// A fork of `pid` by `ppid`.
    pub fn fork(pid: u32, ppid: u32, ts: u64, ns: NsSet, comm: &str) -> Event {
        Event::Create(CreateEvent {
            hdr: hdr(Kind::Create, pid, ppid, ts, ns, comm),
            creator_tgid: ppid,
            creator_tid: ppid,
            creator_ns: ns,
            ..Default::default()
        })
    }

    /// A successful unshare/setns leaving `pid` in `after`.
    pub fn ns_change(kind: Kind, pid: u32, ts: u64, before: NsSet, after: NsSet) -> Event {
        let e = NsChangeEvent {
            hdr: hdr(kind, pid, 1, ts, after, "sh"),
            before,
            ..Default::default()
        };
        if kind == Kind::Setns {
            Event::Setns(e)
        } else {
            Event::Unshare(e)
        }
    }

    /// Process exit.
    pub fn exit(pid: u32, ts: u64, code: u32) -> Event {
        Event::Exit(ExitEvent {
            hdr: hdr(Kind::Exit, pid, 1, ts, NsSet::default(), "x"),
            exit_code: code,
            group_dead: 1,
        })
    }

    /// `pid` (`ns_pid` in its namespace) dequeues `sig` with `handler` in force.
    pub fn deliver(
        pid: u32,
        ns_pid: u32,
        ts: u64,
        ns: NsSet,
        sig: u32,
        handler: u64,
        sa_flags: u64,
    ) -> Event {
        let mut h = hdr(Kind::SignalDeliver, pid, 1, ts, ns, "node");
        h.ns_tgid = ns_pid;
        Event::SignalDeliver(nstrace_common::SignalDeliverEvent {
            hdr: h,
            sig,
            handler,
            sa_flags,
            ..Default::default()
        })
    }

    /// One event through the model as the session takes it: applied, then
    /// what it releases removed; returns what was released.
    pub fn step(m: &mut super::Model, ev: &Event) -> Vec<super::Release> {
        m.apply(ev);
        let released = m.releases(ev);
        m.release(&released);
        released
    }

    /// Process reaped.
    pub fn reap(pid: u32, ts: u64) -> Event {
        Event::Reap(ReapEvent {
            hdr: hdr(Kind::Reap, pid, 1, ts, NsSet::default(), "x"),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use nstrace_common::Kind;

    fn ns(base: u32) -> NsSet {
        NsSet::from_array([base; 9])
    }

    fn snap(pid: u32, ts: u64, n: NsSet) -> Process {
        Process {
            pid,
            ppid: 1,
            ns_pid: pid,
            comm: "sh".into(),
            ns: n,
            seen_ns: ts,
            ..Process::default()
        }
    }

    #[test]
    fn a_reexec_through_proc_exe_runs_that_process_s_program() {
        let dockerd = "/usr/sbin/dockerd";
        let of = |n: u32| (n == 812).then_some(dockerd);
        // libnetwork's setkey hook, run by runc as /proc/<dockerd>/exe.
        assert_eq!(
            reexec_of("/proc/812/exe", Some("/usr/sbin/runc"), of),
            dockerd
        );
        // dockerd re-exec'ing itself.
        assert_eq!(reexec_of("/proc/self/exe", Some(dockerd), of), dockerd);
        // Unknown pid, or not a re-exec: the path as it was exec'd.
        assert_eq!(reexec_of("/proc/9/exe", None, of), "/proc/9/exe");
        assert_eq!(reexec_of("/proc/self/exe", None, of), "/proc/self/exe");
        assert_eq!(
            reexec_of("/usr/bin/nsenter", Some("/bin/sh"), of),
            "/usr/bin/nsenter"
        );
        assert_eq!(reexec_of("/proc/812/exe/x", None, of), "/proc/812/exe/x");
    }

    #[test]
    fn fork_unshare_exit_reap() {
        let mut m = Model::new(ns(1), "node");
        m.apply(&fork(10, 1, 100, ns(1), "sh"));
        assert_eq!(m.get(10).unwrap().ns, ns(1));
        let mut after = ns(1);
        after.net = 77;
        m.apply(&ns_change(Kind::Unshare, 10, 200, ns(1), after));
        assert_eq!(m.get(10).unwrap().ns.net, 77);
        m.apply(&exit(10, 300, 0));
        assert!(m.get(10).unwrap().zombie);
        step(&mut m, &reap(10, 400));
        assert!(m.get(10).is_none());
    }

    #[test]
    fn snapshot_race_is_deduplicated_and_never_rolled_back() {
        let mut m = Model::new(ns(1), "node");
        let mut newer = ns(1);
        newer.net = 9;
        // The snapshot (t=500) already shows the setns that a queued event (t=400) reports.
        m.add_snapshot(snap(20, 500, newer));
        m.apply(&fork(20, 1, 300, ns(1), "sh"));
        m.apply(&ns_change(Kind::Setns, 20, 400, ns(1), newer));
        assert_eq!(m.len(), 1);
        assert_eq!(
            m.get(20).unwrap().ns.net,
            9,
            "old events do not roll back the snapshot"
        );
        // A later event wins.
        let mut later = newer;
        later.uts = 5;
        m.apply(&ns_change(Kind::Setns, 20, 600, newer, later));
        assert_eq!(m.get(20).unwrap().ns.uts, 5);
        // And a snapshot older than what events showed is ignored.
        m.add_snapshot(snap(20, 550, ns(1)));
        assert_eq!(m.get(20).unwrap().ns.uts, 5);
    }

    #[test]
    fn enrichment_sets_cgroup_and_hostname_of_known_processes_only() {
        let mut m = Model::new(ns(1), "node");
        m.apply(&fork(40, 1, 10, ns(1), "runc"));
        let e = Enrichment {
            pid: 40,
            seen_ns: 20,
            cgroup: "/libpod_parent/x".into(),
            hostname: Some("web".into()),
            comm: "sleep".into(),
            exe: "/bin/busybox".into(),
            cmdline: "sleep 1000".into(),
        };
        m.enrich(&e);
        assert_eq!(m.get(40).unwrap().hostname.as_deref(), Some("web"));
        assert_eq!(
            m.get(40).unwrap().comm,
            "sleep",
            "a rename seen in /proc wins"
        );
        m.enrich(&Enrichment {
            pid: 41,
            ..e.clone()
        });
        assert!(m.get(41).is_none());
        let mut exec_in_container = fork(40, 1, 30, ns(1), "sh");
        if let Event::Create(c) = &mut exec_in_container {
            c.hdr.ns.mnt = 99;
        }
        assert_eq!(
            wants_enrichment(&ns(1), &exec_in_container),
            None,
            "only exec and ns changes"
        );
        let mut after = ns(1);
        after.mnt = 9;
        assert_eq!(
            wants_enrichment(&ns(1), &ns_change(Kind::Setns, 40, 40, ns(1), after)),
            Some(40),
            "entering a mount namespace other than the node's"
        );
        let mut uts_only = ns(1);
        uts_only.uts = 9;
        assert_eq!(
            wants_enrichment(&ns(1), &ns_change(Kind::Unshare, 40, 40, ns(1), uts_only)),
            None,
            "a node process making a UTS namespace is no container"
        );
        assert_eq!(
            wants_enrichment(&ns(1), &ns_change(Kind::Setns, 40, 40, ns(1), ns(1))),
            None
        );
    }

    #[test]
    fn later_events_refresh_the_command_name_of_the_leader_only() {
        use nstrace_common::{SignalGenerateEvent, WaitEvent};
        let mut m = Model::new(ns(1), "node");
        // busybox runs `exec sleep` as /proc/self/exe, then renames itself: no event for that.
        m.apply(&fork(50, 1, 10, ns(1), "exe"));
        let mut c = [0u8; 16];
        c[..5].copy_from_slice(b"sleep");
        m.apply(&Event::SignalGenerate(SignalGenerateEvent {
            hdr: testutil::hdr(Kind::SignalGenerate, 9, 1, 20, ns(1), "runc"),
            sig: 15,
            target_tgid: 50,
            target_tid: 50,
            target_comm: c,
            ..Default::default()
        }));
        assert_eq!(m.get(50).unwrap().comm, "sleep");
        // A thread with its own name does not rename the process.
        let mut w = WaitEvent {
            hdr: testutil::hdr(Kind::Wait, 50, 1, 30, ns(1), "worker-3"),
            ..Default::default()
        };
        w.hdr.tid = 51;
        m.apply(&Event::Wait(w));
        assert_eq!(m.get(50).unwrap().comm, "sleep");
    }

    #[test]
    fn layout_generation_moves_only_when_containers_can_change() {
        let mut m = Model::new(ns(1), "node");
        let mut c = ns(1);
        c.mnt = 50;
        m.apply(&fork(10, 1, 1, c, "app"));
        let g = m.layout_generation;
        // Churn inside an existing mount namespace: same layout.
        for (i, pid) in (11..20).enumerate() {
            let t = 10 + i as u64 * 10;
            m.apply(&fork(pid, 10, t, c, "task"));
            m.apply(&exit(pid, t + 1, 0));
            step(&mut m, &reap(pid, t + 2));
        }
        assert_eq!(m.layout_generation, g, "forks and reaps inside a container");
        assert!(m.generation > g);
        // A new mount namespace (a container starting) moves it…
        let mut d = ns(1);
        d.mnt = 60;
        m.apply(&fork(30, 1, 500, d, "app2"));
        let g2 = m.layout_generation;
        assert!(g2 > g);
        // …as does its last process going, and any namespace change.
        m.apply(&exit(30, 501, 0));
        step(&mut m, &reap(30, 502));
        let g3 = m.layout_generation;
        assert!(g3 > g2);
        let mut after = c;
        after.net = 77;
        m.apply(&ns_change(Kind::Setns, 10, 600, c, after));
        let g4 = m.layout_generation;
        assert!(g4 > g3, "a container process changed namespaces");
        // Node administration (a node process entering a pod's net) changes no container.
        m.apply(&fork(40, 1, 700, ns(1), "nsenter"));
        let g5 = m.layout_generation;
        let mut visiting = ns(1);
        visiting.net = 77;
        m.apply(&ns_change(Kind::Setns, 40, 701, ns(1), visiting));
        assert_eq!(m.layout_generation, g5);
    }

    #[test]
    fn pins_are_rescanned_only_for_joins_into_unknown_namespaces() {
        let mut m = Model::new(ns(1), "node");
        m.set_pinned(vec![Pinned {
            ns_type: NsType::Net,
            inode: 700,
            holder: "/run/netns/x".into(),
        }]);
        let join = |after_net: u32, target: u32| {
            let mut after = ns(1);
            after.net = after_net;
            let Event::Setns(mut e) = ns_change(Kind::Setns, 9, 1, ns(1), after) else {
                unreachable!()
            };
            e.target_inode = target;
            e
        };
        assert!(!joins_unknown_place(&m, &join(1, 1)), "back to the node");
        assert!(!joins_unknown_place(&m, &join(700, 700)), "a known pin");
        assert!(joins_unknown_place(&m, &join(800, 800)), "somewhere new");
        // Refused: nothing changed, the fd names the target.
        assert!(joins_unknown_place(&m, &join(1, 800)));
        assert!(!joins_unknown_place(&m, &join(1, 700)));
    }

    #[test]
    fn a_late_reap_does_not_remove_a_new_process_with_the_same_pid() {
        let mut m = Model::new(ns(1), "node");
        m.apply(&fork(60, 1, 10, ns(1), "old"));
        m.apply(&exit(60, 20, 0));
        // The pid is freed at release; a new process takes it before the old reap event.
        m.apply(&fork(60, 1, 30, ns(1), "new"));
        step(&mut m, &reap(60, 40));
        assert_eq!(m.get(60).map(|p| p.comm.as_str()), Some("new"));
        m.apply(&exit(60, 50, 0));
        step(&mut m, &reap(60, 60));
        assert!(m.get(60).is_none());
    }

    #[test]
    fn threads_and_failed_calls_do_not_change_processes() {
        let mut m = Model::new(ns(1), "node");
        m.apply(&fork(30, 1, 1, ns(1), "app"));
        let mut thread = fork(31, 30, 2, ns(1), "app");
        if let Event::Create(c) = &mut thread {
            c.clone_flags = CLONE_THREAD;
        }
        m.apply(&thread);
        assert!(m.get(31).is_none());
        let mut failed = ns_change(Kind::Setns, 30, 3, ns(1), ns(5));
        if let Event::Setns(e) = &mut failed {
            e.ret = -1;
        }
        m.apply(&failed);
        assert_eq!(m.get(30).unwrap().ns, ns(1));
    }

    /// A container: pid namespace 500 (init 1000 = pid 1 inside) on node `ns(1)`.
    fn container() -> (Model, NsSet) {
        let mut m = Model::new(ns(1), "node");
        let mut pod = ns(1);
        pod.pid = 500;
        pod.pid_for_children = 500;
        pod.mnt = 501;
        let mut init = fork(1000, 900, 10, pod, "sh");
        init.header_mut().ns_tgid = 1;
        m.apply(&init);
        let mut sleep = fork(1001, 1000, 20, pod, "sleep");
        sleep.header_mut().ns_tgid = 7;
        m.apply(&sleep);
        (m, pod)
    }

    fn waited(waiter: u32, waiter_ns: NsSet, pid: i32, ts: u64) -> Event {
        Event::Waited(nstrace_common::WaitedEvent {
            hdr: hdr(Kind::Waited, waiter, 1, ts, waiter_ns, "sh"),
            syscall: nstrace_common::WAIT_WAIT4,
            pid,
            status: 0,
            _pad: 0,
        })
    }

    #[test]
    fn a_wait_releases_the_zombie_it_returned_as_the_waiter_numbers_it() {
        let (mut m, pod) = container();
        m.apply(&exit(1001, 30, 0));
        // The shell (pid 1 inside) waits: it gets 7, the sleep's pid inside.
        let r = step(&mut m, &waited(1000, pod, 7, 31));
        assert_eq!(
            r,
            vec![Release {
                pid: 1001,
                witness: Witness::Waited { reaper: 1000 },
                ts_ns: 31
            }]
        );
        assert!(m.get(1001).is_none());
        // The late free finds nothing more to do.
        assert!(step(&mut m, &reap(1001, 40)).is_empty());
        // conmon on the node waits for the init: the node's pid.
        m.apply(&exit(1000, 50, 9));
        let r = step(&mut m, &waited(900, ns(1), 1000, 51));
        assert_eq!(r.len(), 1);
        assert!(m.is_empty());
    }

    #[test]
    fn a_wait_never_releases_a_running_process_at_that_pid() {
        let (mut m, pod) = container();
        // 1001's exit was lost, or its pid is already someone else's.
        assert!(step(&mut m, &waited(1000, pod, 7, 31)).is_empty());
        assert!(m.get(1001).is_some(), "left to reconciliation");
        // Not a reap: nothing in that namespace has pid 99.
        m.apply(&exit(1001, 40, 0));
        assert!(step(&mut m, &waited(1000, pod, 99, 41)).is_empty());
        assert!(step(&mut m, &waited(1000, pod, -10, 42)).is_empty());
    }

    #[test]
    fn the_init_released_takes_its_whole_pid_namespace_along() {
        let (mut m, _) = container();
        // A mass SIGKILL: the kernel kills and reaps the sleep inside the
        // init's exit (no wait of anyone's), and its free event is lost.
        m.apply(&exit(1000, 30, 9));
        m.apply(&exit(1001, 31, 9));
        let r = step(&mut m, &waited(900, ns(1), 1000, 40));
        assert_eq!(
            r,
            vec![
                Release {
                    pid: 1000,
                    witness: Witness::Waited { reaper: 900 },
                    ts_ns: 40
                },
                Release {
                    pid: 1001,
                    witness: Witness::PidNsGone { init: 1000 },
                    ts_ns: 40
                }
            ]
        );
        assert!(m.is_empty(), "no ghost left");
    }

    #[test]
    fn a_namespace_inode_reused_later_keeps_its_new_processes() {
        let (mut m, pod) = container();
        m.apply(&exit(1001, 25, 0));
        step(&mut m, &waited(1000, pod, 7, 26));
        m.apply(&exit(1000, 30, 9));
        // The namespace is freed and its inode given to a new container
        // before the old init's free event is taken.
        let mut newer = fork(2000, 900, 35, pod, "new");
        newer.header_mut().ns_tgid = 1;
        m.apply(&newer);
        let r = step(&mut m, &reap(1000, 40));
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(m.get(2000).is_some(), "started after the old init exited");
    }

    #[test]
    fn corrections_apply_to_the_process_they_name_only() {
        let (mut m, _pod) = container();
        let start = m.get(1001).unwrap().start_ns;
        let gone = Correction {
            pid: 1001,
            start_ns: start + 1,
            seen_ns: 100,
            drift: Drift::ExitMissed,
            still_zombie: false,
        };
        assert!(m.correction_releases(&gone).is_empty(), "another start");
        let zombie = Correction {
            start_ns: start,
            still_zombie: true,
            ..gone
        };
        assert!(m.correction_releases(&zombie).is_empty());
        m.correct(&zombie);
        let p = m.get(1001).unwrap();
        assert!(p.zombie && p.exit_ns == 100, "marked, not removed");
        let gone = Correction {
            start_ns: start,
            drift: Drift::ReapMissed,
            ..gone
        };
        assert_eq!(m.correction_releases(&gone).len(), 1);
        // A running init found gone: its exit time is unknown, so what
        // started in its namespace is left to its own witnesses.
        let init = Correction {
            pid: 1000,
            start_ns: m.get(1000).unwrap().start_ns,
            ..gone
        };
        assert_eq!(m.correction_releases(&init).len(), 1);
        // A zombie init found gone takes its namespace along.
        m.apply(&exit(1000, 90, 9));
        let r = m.correction_releases(&init);
        assert_eq!(r.len(), 2, "{r:?}");
        m.release(&r);
        assert!(m.is_empty());
    }

    #[test]
    fn an_exec_names_its_container_from_the_cgroup_it_carries() {
        let (mut m, pod) = container();
        let id = format!("{:064x}", 77);
        let mut e = nstrace_common::ExecEvent {
            hdr: hdr(Kind::Exec, 1001, 1000, 25, pod, "true"),
            ..Default::default()
        };
        for (slot, name) in [format!("libpod-{id}"), "libpod_parent".into()]
            .iter()
            .enumerate()
        {
            e.cgroup[slot][..name.len()].copy_from_slice(name.as_bytes());
        }
        assert_eq!(
            crate::event::exec_cgroup(&e),
            format!("/libpod_parent/libpod-{id}"),
            "two levels: the root was reached"
        );
        let g = m.layout_generation;
        m.apply(&Event::Exec(Box::new(e)));
        assert_eq!(m.container_of(1001), Some(id.clone()));
        assert!(m.layout_generation > g);
        // A full path from /proc later names the same container: no change.
        let g = m.layout_generation;
        m.enrich(&Enrichment {
            pid: 1001,
            seen_ns: 26,
            cgroup: format!("/libpod_parent/libpod-{id}"),
            ..Enrichment::default()
        });
        assert_eq!(m.layout_generation, g);
        e.cgroup[2][..4].copy_from_slice(b"deep");
        assert!(crate::event::exec_cgroup(&e).starts_with("…/deep/"));
    }
}
