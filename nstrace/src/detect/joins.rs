//! Namespace joins and creations (setns, unshare, clone with CLONE_NEW*),
//! classified for security review: who did it (actor and where it lives),
//! what it did, into which namespace (and who lives there), and whether it
//! worked. Pure: the classification reads only the event and the model as it
//! was before the event.

use std::collections::HashMap;
use std::fmt;

use nstrace_common::{caps, NsChangeEvent, NsSet, NsType, CLONE_NEW, CLONE_NEWUSER};

use super::{Finding, FindingKind, Severity};
use crate::event::names::{clone_flag_names, errno_name, CLONE_NEW_MASK, CLONE_THREAD};
use crate::event::{cstr, Event};
use crate::model::{topology, Model};

/// Commands of container runtimes and their helpers: their joins from the
/// node are how pods are built, so they are marked expected. Never applied to
/// a process that lives in a container (a binary there could take any name).
const RUNTIME_COMMS: [&str; 16] = [
    "runc",
    "crun",
    "youki",
    "conmon",
    "podman",
    "containerd",
    "crio",
    "dockerd",
    "docker-init",
    "netavark",
    "aardvark-dns",
    "slirp4netns",
    "pasta",
    "kubelet",
    "catatonit",
    "pause",
];

/// The user-facing name of an `NsSet` slot's type: pid_for_children is "pid".
fn type_name(slot: usize) -> &'static str {
    NsType::from_slot(slot).map_or("?", |t| t.kind().name())
}

/// The user-facing type of an `NsSet` slot: pid_for_children is "pid".
fn type_slot(slot: usize) -> usize {
    NsType::from_slot(slot).map_or(slot, |t| t.kind().slot())
}

/// Where a process or a namespace belongs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// The node itself.
    Node,
    /// A pod; `container` is set when only that container has the namespace.
    Pod {
        /// Pod name.
        pod: String,
        /// Container id, when the namespace or process is one container's.
        container: Option<String>,
    },
    /// A container that belongs to no pod.
    Container(String),
    /// A namespace kept by a bind mount (`/run/netns/NAME` is a named netns).
    Pinned(String),
    /// A namespace of a process outside any container.
    Process {
        /// One process in it.
        pid: u32,
        /// Its command.
        comm: String,
    },
    /// Made by this very call.
    New,
    /// Not known to the model (e.g. a pidfd, or a namespace with no process left).
    Unknown,
}

impl Place {
    /// Stable class name for JSON and policies.
    pub fn class(&self) -> &'static str {
        match self {
            Place::Node => "node",
            Place::Pod { .. } => "pod",
            Place::Container(_) => "container",
            Place::Pinned(h) if named_netns(h).is_some() => "named_netns",
            Place::Pinned(_) => "pinned",
            Place::Process { .. } => "process",
            Place::New => "new",
            Place::Unknown => "unknown",
        }
    }

    /// Whether this is inside a container (of a pod or alone).
    pub fn in_container(&self) -> bool {
        matches!(self, Place::Pod { .. } | Place::Container(_))
    }

    /// Pod name, if in a pod.
    pub fn pod(&self) -> Option<&str> {
        match self {
            Place::Pod { pod, .. } => Some(pod),
            _ => None,
        }
    }

    /// Container id, if one container is meant.
    pub fn container(&self) -> Option<&str> {
        match self {
            Place::Pod { container, .. } => container.as_deref(),
            Place::Container(c) => Some(c),
            _ => None,
        }
    }

    /// The named netns, for a `/run/netns/NAME` bind mount.
    pub fn netns_name(&self) -> Option<&str> {
        match self {
            Place::Pinned(h) => named_netns(h),
            _ => None,
        }
    }
}

fn named_netns(holder: &str) -> Option<&str> {
    holder
        .strip_prefix("/run/netns/")
        .or_else(|| holder.strip_prefix("/var/run/netns/"))
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::output::findings::short_id;
        match self {
            Place::Node => f.write_str("node"),
            Place::Pod {
                pod,
                container: Some(c),
            } => write!(f, "pod {pod} / container {}", short_id(c)),
            Place::Pod { pod, .. } => write!(f, "pod {pod}"),
            Place::Container(c) => write!(f, "container {}", short_id(c)),
            Place::Pinned(h) => match named_netns(h) {
                Some(n) => write!(f, "named netns {n}"),
                None => write!(f, "pinned at {h}"),
            },
            Place::Process { pid, comm } => write!(f, "namespace of pid {pid} ({comm})"),
            Place::New => f.write_str("new"),
            Place::Unknown => f.write_str("unknown"),
        }
    }
}

/// Processes and namespaces placed in node / pod / container language,
/// from one build of the topology (rebuilt only when the model changed).
#[derive(Debug, Default)]
pub struct Places {
    node: NsSet,
    /// The model's `layout_generation` this was built from.
    generation: u64,
    /// The model's `generation` this was built from.
    model_generation: u64,
    /// Containers by their mount namespace (every process of a container shares it).
    by_mnt: HashMap<u32, Place>,
    by_ns: HashMap<(usize, u32), Place>,
}

impl Places {
    /// Places everything in `m` now.
    pub fn build(m: &Model) -> Places {
        let t = topology::build(m);
        let mut p = Places {
            node: m.node,
            generation: m.layout_generation,
            model_generation: m.generation,
            ..Places::default()
        };
        for pod in &t.pods {
            for c in &pod.containers {
                let here = Place::Pod {
                    pod: pod.name.clone(),
                    container: Some(c.id.clone()),
                };
                p.by_mnt.insert(c.ns.mnt, here.clone());
                for (slot, ino) in c.ns.as_array().into_iter().enumerate() {
                    if ino == 0 || ino == m.node.as_array()[slot] {
                        continue;
                    }
                    let ty = type_slot(slot);
                    let shared = pod.containers.iter().all(|o| o.ns.as_array()[slot] == ino);
                    let place = Place::Pod {
                        pod: pod.name.clone(),
                        container: (!shared || pod.containers.len() == 1).then(|| c.id.clone()),
                    };
                    p.by_ns.entry((ty, ino)).or_insert(place);
                }
            }
        }
        for c in &t.lone {
            let here = Place::Container(c.id.clone());
            p.by_mnt.insert(c.ns.mnt, here.clone());
            for (slot, ino) in c.ns.as_array().into_iter().enumerate() {
                if ino != 0 && ino != m.node.as_array()[slot] {
                    p.by_ns
                        .entry((type_slot(slot), ino))
                        .or_insert(here.clone());
                }
            }
        }
        for pin in &m.pinned {
            p.by_ns
                .entry((type_slot(pin.ns_type), pin.inode))
                .or_insert_with(|| Place::Pinned(pin.holder.clone()));
        }
        for ns in &t.plain {
            if let Some(first) = ns.processes.first() {
                p.by_ns
                    .entry((type_slot(ns.ns_type), ns.inode))
                    .or_insert_with(|| Place::Process {
                        pid: first.pid,
                        comm: first.comm.clone(),
                    });
            }
        }
        p
    }

    /// Where a process in mount namespace `mnt` lives (node when in no container).
    pub fn mount(&self, mnt: u32) -> Place {
        self.by_mnt.get(&mnt).cloned().unwrap_or(Place::Node)
    }

    /// Where namespace `inode` of `NsSet` slot `slot` belongs.
    pub fn namespace(&self, slot: usize, inode: u32) -> Place {
        let ty = type_slot(slot);
        if inode != 0 && self.node.as_array()[ty] == inode {
            return Place::Node;
        }
        self.by_ns
            .get(&(ty, inode))
            .cloned()
            .unwrap_or(Place::Unknown)
    }

    /// The type slot of a namespace known by inode alone (a refused setns with nstype 0).
    fn type_of(&self, inode: u32) -> Option<usize> {
        if let Some(slot) = self.node.as_array().iter().position(|i| *i == inode) {
            return Some(type_slot(slot));
        }
        self.by_ns
            .keys()
            .find(|(_, ino)| *ino == inode)
            .map(|(ty, _)| *ty)
    }
}

/// Who made a join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Node pid.
    pub pid: u32,
    /// Command.
    pub comm: String,
    /// Executable path (as its own mount namespace sees it), if known.
    pub exe: String,
    /// Real uid (global, not namespaced).
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Effective capabilities at the call.
    pub cap_effective: u64,
    /// Its own PID namespace before the call.
    pub pid_ns: u32,
    /// Where it lived before the call.
    pub place: Place,
}

/// What the actor did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// setns(fd, nstype).
    Setns {
        /// The fd.
        fd: i32,
        /// nstype (0 = any).
        nstype: u64,
    },
    /// unshare(flags).
    Unshare {
        /// The flags.
        flags: u64,
    },
    /// clone/clone3/fork with CLONE_NEW* flags; the child is `child`.
    Clone {
        /// The clone flags.
        flags: u64,
        /// The new process.
        child: u32,
    },
}

impl Action {
    /// The syscall's name.
    pub fn syscall(&self) -> &'static str {
        match self {
            Action::Setns { .. } => "setns",
            Action::Unshare { .. } => "unshare",
            Action::Clone { .. } => "clone",
        }
    }

    /// The flags argument (nstype, unshare or clone flags).
    pub fn flags(&self) -> u64 {
        match *self {
            Action::Setns { nstype, .. } => nstype,
            Action::Unshare { flags } | Action::Clone { flags, .. } => flags,
        }
    }
}

/// One namespace a join went into (or created).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Namespace type name ("net", "pid", …).
    pub ns_type: &'static str,
    /// Its inode (0 when the event cannot tell, e.g. a new time namespace).
    pub inode: u32,
    /// Who lives there.
    pub place: Place,
}

/// One classified join or creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Join {
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: Action,
    /// Into what.
    pub targets: Vec<Target>,
    /// 0 or -errno.
    pub ret: i32,
    /// Why it is expected (container runtime activity), if it is.
    pub expected: Option<String>,
}

impl Join {
    /// "ok" or the errno name.
    pub fn result(&self) -> String {
        if self.ret == 0 {
            "ok".into()
        } else {
            errno_name(self.ret).into_owned()
        }
    }
}

/// Where CNI network plugins are installed: they enter pod network namespaces to wire them.
const CNI_DIRS: [&str; 3] = ["/usr/lib/cni/", "/opt/cni/bin/", "/usr/libexec/cni/"];

/// Why a node process's join is expected: the runtime or network plugin it
/// is, by its command, executable name, or the CNI directory it runs from.
fn runtime(comm: &str, exe: &str) -> Option<String> {
    let base = exe.rsplit('/').next().unwrap_or("");
    if let Some(r) = RUNTIME_COMMS.iter().copied().find(|r| {
        let prefixed = |s: &str| {
            s.strip_prefix(r)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '-', '[', ' ']))
        };
        prefixed(comm) || prefixed(base)
    }) {
        return Some(format!("container runtime activity ({r})"));
    }
    CNI_DIRS
        .iter()
        .any(|d| exe.starts_with(d))
        .then(|| format!("container network plugin ({base})"))
}

/// Capabilities in words: "none", "all", "all except SYS_RESOURCE" (root
/// with a few dropped), or the set ones ("NET_BIND_SERVICE,SYS_ADMIN").
pub fn cap_summary(caps: u64) -> String {
    let name = |bit: usize| caps::NAMES[bit];
    let set: Vec<&str> = (0..caps::NAMES.len())
        .filter(|b| caps & (1 << b) != 0)
        .map(name)
        .collect();
    let missing: Vec<&str> = (0..caps::NAMES.len())
        .filter(|b| caps & (1 << b) == 0)
        .map(name)
        .collect();
    let unknown = caps >> caps::NAMES.len();
    let mut s = match (set.len(), missing.len()) {
        (0, _) => "none".to_owned(),
        (_, 0) => "all".to_owned(),
        (_, m) if m <= 4 => format!("all except {}", missing.join(",")),
        _ => set.join(","),
    };
    if unknown != 0 {
        s.push_str(&format!(" +{:#x}", unknown << caps::NAMES.len()));
    }
    s
}

/// Classifies namespace joins and creations into findings.
#[derive(Debug, Default)]
pub struct Joins {
    places: Places,
}

impl Joins {
    /// A detector with nothing placed yet.
    pub fn new() -> Joins {
        Joins::default()
    }

    /// The index, rebuilt only when the container layout changed since it was built.
    fn places(&mut self, m: &Model) -> &Places {
        if self.places.generation != m.layout_generation || self.places.node != m.node {
            self.places = Places::build(m);
        }
        &self.places
    }

    /// Where a process with namespaces `ns` (before the call) lives: by its
    /// mount namespace, as containers are found. One in the node's mount
    /// namespace is in no container, which spares the index for most node activity.
    fn actor_place(&mut self, m: &Model, ns: &NsSet) -> Place {
        if ns.mnt == m.node.mnt || ns.mnt == 0 {
            Place::Node
        } else {
            self.places(m).mount(ns.mnt)
        }
    }

    /// Where namespace `inode` (of `NsSet` slot `slot`) belongs. The index
    /// follows the container layout; a namespace it does not know (say one a
    /// node process made since) gets one rebuild from the whole model.
    fn ns_place(&mut self, m: &Model, slot: usize, inode: u32) -> Place {
        if inode != 0 && m.node.as_array()[type_slot(slot)] == inode {
            return Place::Node;
        }
        match self.places(m).namespace(slot, inode) {
            Place::Unknown if self.places.model_generation != m.generation => {
                self.places = Places::build(m);
                self.places.namespace(slot, inode)
            }
            place => place,
        }
    }

    /// Classifies `ev` against the model *before* the event is applied to it.
    pub fn on_event(&mut self, ev: &Event, m: &Model) -> Option<Finding> {
        let join = match ev {
            Event::Setns(e) => self.ns_change(e, true, m),
            Event::Unshare(e) => self.ns_change(e, false, m),
            Event::Create(e) => {
                let new = e.clone_flags & CLONE_NEW_MASK;
                if new == 0 || e.clone_flags & CLONE_THREAD != 0 {
                    return None;
                }
                let place = self.actor_place(m, &e.creator_ns);
                let creator = m.get(e.creator_tgid);
                let actor = Actor {
                    pid: e.creator_tgid,
                    comm: creator.map(|p| p.comm.clone()).unwrap_or_default(),
                    exe: creator.map(|p| p.exe.clone()).unwrap_or_default(),
                    uid: e.hdr.uid,
                    euid: e.hdr.euid,
                    cap_effective: e.cap_effective,
                    pid_ns: e.creator_ns.pid,
                    place,
                };
                let targets = new_targets(new, &e.hdr.ns);
                Join {
                    actor,
                    action: Action::Clone {
                        flags: e.clone_flags,
                        child: e.hdr.tgid,
                    },
                    targets,
                    ret: 0,
                    expected: None,
                }
            }
            _ => return None,
        };
        let mut join = join;
        if !join.actor.place.in_container() {
            join.expected = runtime(&join.actor.comm, &join.actor.exe);
        }
        Some(finding(join, ev.header().ts_ns))
    }

    fn ns_change(&mut self, e: &NsChangeEvent, setns: bool, m: &Model) -> Join {
        let h = &e.hdr;
        let place = self.actor_place(m, &e.before);
        let known = m.get(h.tgid);
        let actor = Actor {
            pid: h.tgid,
            comm: cstr(&h.comm).into_owned(),
            exe: known.map(|p| p.exe.clone()).unwrap_or_default(),
            uid: h.uid,
            euid: h.euid,
            cap_effective: e.cap_effective,
            pid_ns: e.before.pid,
            place,
        };
        let targets = if setns {
            let mut t = Vec::new();
            let (before, after) = (e.before.as_array(), h.ns.as_array());
            for slot in 0..NsType::ALL.len() {
                // pid mirrors pid_for_children after a pid setns; report the latter once.
                if slot == 3 || before[slot] == after[slot] {
                    continue;
                }
                t.push(Target {
                    ns_type: type_name(slot),
                    inode: after[slot],
                    place: self.ns_place(m, slot, after[slot]),
                });
            }
            if t.is_empty() && e.target_inode != 0 {
                // Refused, or joined where it already was: the fd still names the target.
                let slot = CLONE_NEW
                    .iter()
                    .find(|(bit, _, _)| e.flags == *bit)
                    .map(|(_, _, t)| type_slot(t.slot()))
                    .or_else(|| self.places(m).type_of(e.target_inode));
                let place = match slot {
                    Some(s) => self.ns_place(m, s, e.target_inode),
                    None => Place::Unknown,
                };
                t.push(Target {
                    ns_type: slot.map_or("?", type_name),
                    inode: e.target_inode,
                    place,
                });
            }
            t
        } else {
            let new = e.flags & CLONE_NEW_MASK;
            if e.ret == 0 {
                new_targets(new, &h.ns)
            } else {
                new_targets(new, &NsSet::default())
            }
        };
        Join {
            actor,
            action: if setns {
                Action::Setns {
                    fd: e.fd,
                    nstype: e.flags,
                }
            } else {
                Action::Unshare { flags: e.flags }
            },
            targets,
            ret: e.ret,
            expected: None,
        }
    }
}

/// Targets of a creation: one "new" namespace per CLONE_NEW* bit, with the inode it got.
fn new_targets(flags: u64, after: &NsSet) -> Vec<Target> {
    let a = after.as_array();
    CLONE_NEW
        .iter()
        .filter(|(bit, _, _)| flags & bit != 0)
        .map(|(_, _, t)| Target {
            ns_type: t.kind().name(),
            // The time namespace a CLONE_NEWTIME makes is for children: not in the set.
            inode: if *t == NsType::Time { 0 } else { a[t.slot()] },
            place: Place::New,
        })
        .collect()
}

/// Kind and severity of a classified join, with its summary and evidence.
fn finding(join: Join, ts_ns: u64) -> Finding {
    let j = &join;
    let a = &j.actor;
    let ok = j.ret == 0;
    let creates_user = matches!(j.action, Action::Unshare { .. } | Action::Clone { .. })
        && j.action.flags() & CLONE_NEWUSER != 0;
    let escapes = a.place.in_container() && j.targets.iter().any(|t| t.place == Place::Node);
    let other_pod = |t: &Target| match (&a.place, &t.place) {
        (_, Place::Node) => false,
        (Place::Pod { pod: mine, .. }, Place::Pod { pod, .. }) => pod != mine,
        (Place::Pod { .. }, Place::Container(_)) => true,
        (Place::Container(mine), Place::Container(c)) => c != mine,
        (Place::Container(_), Place::Pod { .. }) => true,
        _ => false,
    };
    let crosses = a.place.in_container()
        && matches!(j.action, Action::Setns { .. })
        && j.targets.iter().any(other_pod);
    let (kind, severity) = if matches!(j.action, Action::Setns { .. }) && escapes {
        // A refused attempt is still an attempt, one level down.
        let sev = if ok { Severity::High } else { Severity::Medium };
        (FindingKind::HostNamespaceJoin, sev)
    } else if crosses {
        let sev = if ok { Severity::Medium } else { Severity::Low };
        (FindingKind::CrossPodJoin, sev)
    } else if creates_user {
        let sev = if a.place.in_container() || a.uid != 0 {
            Severity::Medium
        } else {
            Severity::Info
        };
        (FindingKind::UserNamespaceCreated, sev)
    } else {
        (FindingKind::NamespaceJoin, Severity::Info)
    };
    let types: Vec<&str> = j.targets.iter().map(|t| t.ns_type).collect();
    let into: Vec<String> = j
        .targets
        .iter()
        .map(|t| format!("{} {}", t.ns_type, t.place))
        .collect();
    let verb = match (j.action, ok) {
        (Action::Setns { .. }, true) => "joined",
        (Action::Setns { .. }, false) => "tried to join",
        (_, true) => "created",
        (_, false) => "tried to create",
    };
    let what = match j.action {
        Action::Setns { .. } if into.is_empty() => "a namespace".to_owned(),
        Action::Setns { .. } => into.join(", "),
        _ => format!("new {} namespace(s)", types.join(",")),
    };
    let mut summary = format!(
        "{} (pid {}, uid {}) in {} {verb} {what}",
        a.comm, a.pid, a.uid, a.place
    );
    if !ok {
        summary.push_str(&format!(" ({})", j.result()));
    }
    if let Some(why) = &j.expected {
        summary.push_str(&format!(" — expected: {why}"));
    }
    let mut evidence = vec![
        format!(
            "actor: pid {} {} exe {} uid {} euid {} caps {} in {}",
            a.pid,
            a.comm,
            if a.exe.is_empty() { "?" } else { &a.exe },
            a.uid,
            a.euid,
            cap_summary(a.cap_effective),
            a.place
        ),
        match j.action {
            Action::Setns { fd, nstype } => format!(
                "action: setns(fd {fd}, {}) → {}",
                clone_flag_names(nstype, u64::MAX),
                j.result()
            ),
            Action::Unshare { flags } => format!(
                "action: unshare({}) → {}",
                clone_flag_names(flags, u64::MAX),
                j.result()
            ),
            Action::Clone { flags, child } => format!(
                "action: clone({}) → child {child}",
                clone_flag_names(flags, CLONE_NEW_MASK)
            ),
        },
    ];
    for t in &j.targets {
        evidence.push(format!("target: {} {} — {}", t.ns_type, t.inode, t.place));
    }
    Finding {
        kind,
        severity,
        ts_ns,
        pid: a.pid,
        comm: a.comm.clone(),
        pid_ns: a.pid_ns,
        summary,
        evidence,
        join: Some(Box::new(join)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::hdr;
    use crate::model::{Pinned, Process};
    use nstrace_common::{CreateEvent, Kind};

    /// Node namespaces: slot i has inode 100 + i (pid_for_children = pid).
    const NODE: [u32; 9] = [100, 101, 102, 103, 103, 105, 106, 107, 108];
    const FULL_CAPS: u64 = 0x1ff_ffff_ffff;

    fn cid(n: u32) -> String {
        format!("{n:064x}")
    }

    fn ns_with(over: &[(usize, u32)]) -> NsSet {
        let mut a = NODE;
        for (slot, ino) in over {
            a[*slot] = *ino;
            if *slot == 3 {
                a[4] = *ino;
            }
        }
        NsSet::from_array(a)
    }

    fn proc(pid: u32, ns_pid: u32, comm: &str, cgroup: &str, ns: NsSet, host: &str) -> Process {
        Process {
            pid,
            ppid: 1,
            ns_pid,
            comm: comm.into(),
            exe: format!("/bin/{comm}"),
            cgroup: cgroup.into(),
            ns,
            hostname: Some(host.into()),
            ..Process::default()
        }
    }

    /// A node with pod "web" (infra 10, app 11) and pod "db" (infra 20, app 21),
    /// each the default arrangement: shared net/ipc/uts, own mnt and pid.
    fn model() -> Model {
        let mut m = Model::new(NsSet::from_array(NODE), "node-1");
        for (pod, name) in [(1u32, "web"), (2, "db")] {
            let cg = |c: u32| format!("/libpod_parent/{}/{}", cid(pod), cid(c));
            let shared = [
                (5, pod * 1000 + 5),
                (2, pod * 1000 + 2),
                (1, pod * 1000 + 1),
            ];
            let mut infra = shared.to_vec();
            infra.extend([(0, pod * 1000 + 10), (3, pod * 1000 + 13)]);
            let mut app = shared.to_vec();
            app.extend([(0, pod * 1000 + 20), (3, pod * 1000 + 23)]);
            m.add_snapshot(proc(
                pod * 10,
                1,
                "catatonit",
                &cg(pod * 10),
                ns_with(&infra),
                name,
            ));
            m.add_snapshot(proc(
                pod * 10 + 1,
                1,
                "sh",
                &cg(pod * 10 + 1),
                ns_with(&app),
                name,
            ));
        }
        m.add_snapshot(proc(50, 50, "bash", "/user.slice", ns_with(&[]), "node-1"));
        m.set_pinned(vec![Pinned {
            ns_type: 5,
            inode: 7777,
            holder: "/run/netns/x".into(),
        }]);
        m
    }

    /// A setns by root (uid 0) with full capabilities.
    fn setns(
        pid: u32,
        comm: &str,
        before: NsSet,
        after: NsSet,
        nstype: u64,
        ret: i32,
        target: u32,
    ) -> Event {
        Event::Setns(NsChangeEvent {
            hdr: hdr(Kind::Setns, pid, 1, 1_000, after, comm),
            flags: nstype,
            fd: 3,
            ret,
            before,
            cap_effective: FULL_CAPS,
            target_inode: target,
            _pad: 0,
        })
    }

    fn unshare(pid: u32, uid: u32, before: NsSet, after: NsSet, flags: u64) -> Event {
        let mut h = hdr(Kind::Unshare, pid, 1, 1_000, after, "unshare");
        h.uid = uid;
        h.euid = uid;
        Event::Unshare(NsChangeEvent {
            hdr: h,
            flags,
            before,
            ..Default::default()
        })
    }

    const NEWNET: u64 = 0x4000_0000;

    #[test]
    fn container_joining_the_node_net_is_high_and_names_actor_and_target() {
        let m = model();
        let app = m.get(11).unwrap().ns;
        let mut after = app;
        after.net = NODE[5];
        let f = Joins::new()
            .on_event(&setns(11, "nsenter", app, after, NEWNET, 0, NODE[5]), &m)
            .unwrap();
        assert_eq!(
            (f.kind, f.severity),
            (FindingKind::HostNamespaceJoin, Severity::High)
        );
        let j = f.join.as_ref().unwrap();
        assert_eq!(j.actor.place.pod(), Some("web"));
        assert_eq!(j.actor.place.container(), Some(cid(11).as_str()));
        assert_eq!(j.targets.len(), 1);
        assert_eq!((j.targets[0].ns_type, j.targets[0].inode), ("net", NODE[5]));
        assert_eq!(j.targets[0].place, Place::Node);
        assert_eq!(j.expected, None);
        assert!(f.summary.contains("joined net node"), "{}", f.summary);
    }

    #[test]
    fn refused_attempt_is_one_level_down_and_still_names_the_target_from_the_fd() {
        let m = model();
        let app = m.get(11).unwrap().ns;
        // EPERM: nothing changed; nstype 0 ("any"), so the type comes from the inode.
        let f = Joins::new()
            .on_event(&setns(11, "nsenter", app, app, 0, -1, NODE[5]), &m)
            .unwrap();
        assert_eq!(
            (f.kind, f.severity),
            (FindingKind::HostNamespaceJoin, Severity::Medium)
        );
        let j = f.join.unwrap();
        assert_eq!(j.result(), "EPERM");
        assert_eq!(
            (j.targets[0].ns_type, j.targets[0].place.clone()),
            ("net", Place::Node)
        );
    }

    #[test]
    fn joining_another_pods_namespace_is_cross_pod() {
        let m = model();
        let app = m.get(11).unwrap().ns;
        let mut after = app;
        after.net = 2005; // db's shared net
        let f = Joins::new()
            .on_event(&setns(11, "nsenter", app, after, NEWNET, 0, 2005), &m)
            .unwrap();
        assert_eq!(
            (f.kind, f.severity),
            (FindingKind::CrossPodJoin, Severity::Medium)
        );
        let j = f.join.unwrap();
        assert_eq!(
            j.targets[0].place,
            Place::Pod {
                pod: "db".into(),
                container: None
            }
        );
        // Within its own pod it is only recorded.
        let mut own = app;
        own.mnt = 1010; // web's infra mount namespace
        let f = Joins::new()
            .on_event(&setns(11, "nsenter", app, own, 0x2_0000, 0, 1010), &m)
            .unwrap();
        assert_eq!(
            (f.kind, f.severity),
            (FindingKind::NamespaceJoin, Severity::Info)
        );
        assert_eq!(
            f.join.unwrap().targets[0].place,
            Place::Pod {
                pod: "web".into(),
                container: Some(cid(10))
            }
        );
    }

    #[test]
    fn runtime_on_the_node_joining_a_pod_is_expected_info() {
        let mut m = model();
        m.add_snapshot(proc(60, 60, "runc:[2:INIT]", "/", ns_with(&[]), "node-1"));
        let mut after = ns_with(&[]);
        after.net = 1005;
        let f = Joins::new()
            .on_event(
                &setns(60, "runc:[2:INIT]", ns_with(&[]), after, NEWNET, 0, 1005),
                &m,
            )
            .unwrap();
        assert_eq!(
            (f.kind, f.severity),
            (FindingKind::NamespaceJoin, Severity::Info)
        );
        let j = f.join.unwrap();
        assert_eq!(j.actor.place, Place::Node);
        assert!(j.expected.as_deref().unwrap().contains("runc"));
        assert_eq!(
            j.targets[0].place,
            Place::Pod {
                pod: "web".into(),
                container: None
            }
        );
    }

    #[test]
    fn cni_plugins_on_the_node_are_expected() {
        assert_eq!(
            runtime("bridge", "/usr/lib/cni/bridge").as_deref(),
            Some("container network plugin (bridge)")
        );
        assert!(runtime("bridge", "/usr/sbin/bridge").is_none());
        assert!(runtime("conmon", "/usr/bin/conmon")
            .unwrap()
            .contains("conmon"));
        assert!(runtime("runc:[1:CHILD]", "/dev/fd/6")
            .unwrap()
            .contains("runc"));
        assert!(runtime("runcible", "/usr/bin/runcible").is_none());
    }

    #[test]
    fn a_container_process_named_like_a_runtime_is_not_expected() {
        let mut m = model();
        let app = m.get(11).unwrap().ns;
        m.add_snapshot(proc(
            12,
            5,
            "runc",
            &format!("/libpod_parent/{}/{}", cid(1), cid(11)),
            app,
            "web",
        ));
        let mut after = app;
        after.net = NODE[5];
        let f = Joins::new()
            .on_event(&setns(12, "runc", app, after, NEWNET, 0, NODE[5]), &m)
            .unwrap();
        assert_eq!(f.kind, FindingKind::HostNamespaceJoin);
        assert_eq!(f.join.unwrap().expected, None);
    }

    #[test]
    fn ip_netns_exec_on_the_node_is_info_into_the_named_netns() {
        let m = model();
        let mut after = ns_with(&[]);
        after.net = 7777;
        let f = Joins::new()
            .on_event(&setns(50, "ip", ns_with(&[]), after, NEWNET, 0, 7777), &m)
            .unwrap();
        assert_eq!(
            (f.kind, f.severity),
            (FindingKind::NamespaceJoin, Severity::Info)
        );
        let j = f.join.unwrap();
        assert_eq!(j.targets[0].place.netns_name(), Some("x"));
        assert_eq!(j.targets[0].place.class(), "named_netns");
        assert_eq!(j.targets[0].place.to_string(), "named netns x");
        assert_eq!(j.expected, None);
    }

    #[test]
    fn user_namespaces_are_medium_unless_root_on_the_node() {
        let m = model();
        let node = ns_with(&[]);
        let mut after = node;
        after.user = 9999;
        let by_user = Joins::new()
            .on_event(&unshare(50, 1000, node, after, CLONE_NEWUSER), &m)
            .unwrap();
        assert_eq!(
            (by_user.kind, by_user.severity),
            (FindingKind::UserNamespaceCreated, Severity::Medium)
        );
        let t = &by_user.join.as_ref().unwrap().targets;
        assert_eq!(
            (t[0].ns_type, t[0].inode, t[0].place.clone()),
            ("user", 9999, Place::New)
        );
        let by_root = Joins::new()
            .on_event(&unshare(50, 0, node, after, CLONE_NEWUSER), &m)
            .unwrap();
        assert_eq!(
            (by_root.kind, by_root.severity),
            (FindingKind::UserNamespaceCreated, Severity::Info)
        );
        let app = m.get(11).unwrap().ns;
        let mut app_after = app;
        app_after.user = 9998;
        let in_pod = Joins::new()
            .on_event(&unshare(11, 0, app, app_after, CLONE_NEWUSER), &m)
            .unwrap();
        assert_eq!(in_pod.severity, Severity::Medium);
    }

    #[test]
    fn clone_with_new_namespaces_is_recorded_with_the_child_inodes() {
        let m = model();
        let mut child_ns = ns_with(&[]);
        child_ns.net = 4242;
        let ev = Event::Create(CreateEvent {
            hdr: hdr(Kind::Create, 70, 50, 1_000, child_ns, "helper"),
            clone_flags: NEWNET | 17,
            creator_tgid: 50,
            creator_tid: 50,
            creator_ns: ns_with(&[]),
            cap_effective: FULL_CAPS,
        });
        let f = Joins::new().on_event(&ev, &m).unwrap();
        assert_eq!(
            (f.kind, f.severity),
            (FindingKind::NamespaceJoin, Severity::Info)
        );
        let j = f.join.unwrap();
        assert_eq!(
            j.action,
            Action::Clone {
                flags: NEWNET | 17,
                child: 70
            }
        );
        assert_eq!(j.actor.comm, "bash");
        assert_eq!(cap_summary(j.actor.cap_effective), "all");
        assert_eq!((j.targets[0].ns_type, j.targets[0].inode), ("net", 4242));
        // Plain forks and threads are not joins.
        let fork = Event::Create(CreateEvent {
            hdr: hdr(Kind::Create, 71, 50, 1_000, ns_with(&[]), "bash"),
            clone_flags: 17,
            creator_tgid: 50,
            ..Default::default()
        });
        assert!(Joins::new().on_event(&fork, &m).is_none());
    }

    #[test]
    fn capability_summaries() {
        assert_eq!(cap_summary(0), "none");
        assert_eq!(cap_summary(FULL_CAPS), "all");
        assert_eq!(
            cap_summary(FULL_CAPS & !(1 << 24)),
            "all except SYS_RESOURCE"
        );
        assert_eq!(cap_summary(1 << 21 | 1 << 12), "NET_ADMIN,SYS_ADMIN");
        // Docker's default set: 14 capabilities, no SYS_ADMIN.
        let docker = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31]
            .iter()
            .fold(0u64, |m, b| m | 1 << b);
        let s = cap_summary(docker);
        assert!(
            s.starts_with("CHOWN,DAC_OVERRIDE,") && !s.contains("SYS_ADMIN"),
            "{s}"
        );
        assert_eq!(cap_summary(1 << 45 | 1), "CHOWN +0x200000000000");
    }
}
