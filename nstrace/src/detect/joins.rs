//! Namespace joins and creations (setns, unshare, clone with CLONE_NEW*),
//! classified for security review: who did it (actor and where it lives),
//! what it did, into which namespace (and who lives there), and whether it
//! worked. Pure: the classification reads only the event and the model as it
//! was before the event.

use std::collections::HashSet;

use nstrace_common::{NsChangeEvent, NsSet, NsType, CLONE_NEW, CLONE_NEWUSER, CLONE_NEW_MASK};

use super::{Evidence, Finding, FindingKind, Severity};
use crate::event::names::{errno_name, CLONE_THREAD};
use crate::event::{cstr, Event};
use crate::model::{Model, Place};

/// Commands of container runtimes and their helpers: their joins from the
/// node are how pods are built, so they are marked expected. Never applied to
/// a process that lives in a container (a binary there could take any name).
const RUNTIME_COMMS: [&str; 17] = [
    "runc",
    "crun",
    "youki",
    "conmon",
    "podman",
    // Before "containerd": the shim (comm `containerd-shim`, cut from
    // `containerd-shim-runc-v2`) is named for what it is.
    "containerd-shim",
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
    /// Namespace type (`None` when the event cannot tell: a refused setns
    /// with nstype 0 into a namespace nobody knows).
    pub ns_type: Option<NsType>,
    /// Its inode (0 when the event cannot tell, e.g. a new time namespace).
    pub inode: u32,
    /// Who lives there.
    pub place: Place,
}

impl Target {
    /// The type's name ("net"; "?" when unknown).
    pub fn type_name(&self) -> &'static str {
        self.ns_type.map_or("?", NsType::name)
    }
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
    pub expected: Option<Expected>,
}

/// Why a join is expected: the node program that made it, a container
/// runtime or a CNI network plugin building a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The runtime (`runc`, `conmon`…) or plugin (`bridge`…): a bounded set of
    /// names, fit for a metric label.
    pub by: String,
    /// A CNI network plugin rather than a runtime.
    pub network_plugin: bool,
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.network_plugin {
            write!(f, "container network plugin ({})", self.by)
        } else {
            write!(f, "container runtime activity ({})", self.by)
        }
    }
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

    /// Whether the call worked.
    pub fn ok(&self) -> bool {
        self.ret == 0
    }
}

/// Where CNI network plugins are installed: they enter pod network namespaces to wire them.
const CNI_DIRS: [&str; 3] = ["/usr/lib/cni/", "/opt/cni/bin/", "/usr/libexec/cni/"];

/// Why a node process's join is expected: the runtime or network plugin it
/// is, by its command, executable name, or the CNI directory it runs from.
fn runtime(comm: &str, exe: &str) -> Option<Expected> {
    let base = exe.rsplit('/').next().unwrap_or("");
    if let Some(r) = RUNTIME_COMMS.iter().copied().find(|r| {
        let prefixed = |s: &str| {
            s.strip_prefix(r)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '-', '[', ' ']))
        };
        prefixed(comm) || prefixed(base)
    }) {
        return Some(Expected {
            by: r.to_owned(),
            network_plugin: false,
        });
    }
    CNI_DIRS
        .iter()
        .any(|d| exe.starts_with(d))
        .then(|| Expected {
            by: base.to_owned(),
            network_plugin: true,
        })
}

/// Classifies namespace joins and creations into findings.
#[derive(Debug, Default)]
pub struct Joins {
    /// Threads of node processes that have entered a container's mount
    /// namespace by setns and not yet exec'd (runc exec, nsenter): they are
    /// still the node's programs, so their next calls are placed on the node,
    /// not in the container they are entering.
    entering: HashSet<u32>,
}

impl Joins {
    /// A detector.
    pub fn new() -> Joins {
        Joins::default()
    }

    /// Where the actor (thread `tid`, whose mount namespace before the call
    /// was `mnt`) lived: the node for a node program on its way in.
    fn actor_place(&self, tid: u32, mnt: u32, m: &Model) -> Place {
        if self.entering.contains(&tid) {
            Place::Node
        } else {
            m.place_of_mnt(mnt)
        }
    }

    /// Classifies `ev` against the model *before* the event is applied to it.
    pub fn on_event(&mut self, ev: &Event, m: &Model) -> Option<Finding> {
        let mut join = match ev {
            Event::Setns(e) => {
                let mut j = ns_change(e, true, m);
                j.actor.place = self.actor_place(e.hdr.tid, e.before.mnt, m);
                let into_container = e.hdr.ns.mnt != e.before.mnt
                    && m.place_of_ns(NsType::Mnt, e.hdr.ns.mnt).in_container();
                if e.ret == 0 && j.actor.place == Place::Node && into_container {
                    self.entering.insert(e.hdr.tid);
                }
                j
            }
            // An unshare without a CLONE_NEW* flag (runc's `unshare(0)` on
            // its way into a container) creates no namespace: not a join.
            Event::Unshare(e) if e.flags & CLONE_NEW_MASK == 0 => return None,
            Event::Unshare(e) => {
                let mut j = ns_change(e, false, m);
                j.actor.place = self.actor_place(e.hdr.tid, e.before.mnt, m);
                j
            }
            Event::Exec(e) => {
                self.entering.remove(&e.hdr.tid);
                return None;
            }
            Event::Exit(e) => {
                self.entering.remove(&e.hdr.tid);
                return None;
            }
            Event::Create(e) => {
                let new = e.clone_flags & CLONE_NEW_MASK;
                if new == 0 || e.clone_flags & CLONE_THREAD != 0 {
                    return None;
                }
                let creator = m.get(e.creator_tgid);
                let actor = Actor {
                    pid: e.creator_tgid,
                    comm: creator.map(|p| p.comm.clone()).unwrap_or_default(),
                    exe: creator.map(|p| p.exe.clone()).unwrap_or_default(),
                    uid: e.hdr.uid,
                    euid: e.hdr.euid,
                    cap_effective: e.cap_effective,
                    pid_ns: e.creator_ns.pid,
                    place: self.actor_place(e.creator_tid, e.creator_ns.mnt, m),
                };
                Join {
                    actor,
                    action: Action::Clone {
                        flags: e.clone_flags,
                        child: e.hdr.tgid,
                    },
                    targets: new_targets(new, &e.hdr.ns),
                    ret: 0,
                    expected: None,
                }
            }
            _ => return None,
        };
        if !join.actor.place.in_container() {
            join.expected = runtime(&join.actor.comm, &join.actor.exe);
        }
        Some(finding(join, ev.header().ts_ns))
    }
}

fn ns_change(e: &NsChangeEvent, setns: bool, m: &Model) -> Join {
    let h = &e.hdr;
    let known = m.get(h.tgid);
    let actor = Actor {
        pid: h.tgid,
        comm: cstr(&h.comm).into_owned(),
        exe: known.map(|p| p.exe.clone()).unwrap_or_default(),
        uid: h.uid,
        euid: h.euid,
        cap_effective: e.cap_effective,
        pid_ns: e.before.pid,
        place: m.place_of_mnt(e.before.mnt),
    };
    let targets = if setns {
        let mut t = Vec::new();
        for ((ty, before), after) in e.before.iter().zip(h.ns.as_array()) {
            // pid mirrors pid_for_children after a pid setns; report the latter once.
            if ty == NsType::Pid || before == after {
                continue;
            }
            t.push(Target {
                ns_type: Some(ty.kind()),
                inode: after,
                place: m.place_of_ns(ty, after),
            });
        }
        if t.is_empty() && e.target_inode != 0 {
            // Refused, or joined where it already was: the fd still names the target.
            let ty = CLONE_NEW
                .iter()
                .find(|(bit, _, _)| e.flags == *bit)
                .map(|(_, _, t)| t.kind())
                .or_else(|| m.type_of_ns(e.target_inode));
            t.push(Target {
                ns_type: ty,
                inode: e.target_inode,
                place: ty.map_or(Place::Unknown, |ty| m.place_of_ns(ty, e.target_inode)),
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

/// Targets of a creation: one "new" namespace per CLONE_NEW* bit, with the inode it got.
fn new_targets(flags: u64, after: &NsSet) -> Vec<Target> {
    CLONE_NEW
        .iter()
        .filter(|(bit, _, _)| flags & bit != 0)
        .map(|(_, _, t)| Target {
            ns_type: Some(t.kind()),
            // The time namespace a CLONE_NEWTIME makes is for children, not the
            // caller (kernel/nsproxy.c `create_new_namespaces()` puts it in
            // `time_ns_for_children`, v6.18): not in the set.
            inode: if *t == NsType::Time { 0 } else { after.get(*t) },
            place: Place::New,
        })
        .collect()
}

/// Kind and severity of a classified join.
fn finding(join: Join, ts_ns: u64) -> Finding {
    let j = &join;
    let a = &j.actor;
    let ok = j.ok();
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
    Finding {
        kind,
        severity,
        ts_ns,
        pid: a.pid,
        comm: a.comm.clone(),
        pid_ns: a.pid_ns,
        evidence: Evidence::Join(Box::new(join)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{cid, hdr, node, ns_with};
    use crate::model::{CtrRef, Pinned, Process};
    use nstrace_common::{CreateEvent, Kind};

    const FULL_CAPS: u64 = 0x1ff_ffff_ffff;

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
        let mut m = Model::new(node(), "node-1");
        for (pod, name) in [(1u32, "web"), (2, "db")] {
            let cg = |c: u32| format!("/libpod_parent/{}/{}", cid(pod), cid(c));
            let shared = [
                (NsType::Net, pod * 1000 + 5),
                (NsType::Ipc, pod * 1000 + 2),
                (NsType::Uts, pod * 1000 + 1),
            ];
            let mut infra = shared.to_vec();
            infra.extend([
                (NsType::Mnt, pod * 1000 + 10),
                (NsType::Pid, pod * 1000 + 13),
            ]);
            let mut app = shared.to_vec();
            app.extend([
                (NsType::Mnt, pod * 1000 + 20),
                (NsType::Pid, pod * 1000 + 23),
            ]);
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
            ns_type: NsType::Net,
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
        after.net = node().net;
        let f = Joins::new()
            .on_event(&setns(11, "nsenter", app, after, NEWNET, 0, node().net), &m)
            .unwrap();
        assert_eq!(
            (f.kind, f.severity),
            (FindingKind::HostNamespaceJoin, Severity::High)
        );
        let j = f.join().unwrap();
        assert_eq!(j.actor.place.pod(), Some("web"));
        assert_eq!(j.actor.place.container(), Some(cid(11).as_str()));
        assert_eq!(j.targets.len(), 1);
        assert_eq!(
            (j.targets[0].ns_type, j.targets[0].inode),
            (Some(NsType::Net), node().net)
        );
        assert_eq!(j.targets[0].place, Place::Node);
        assert_eq!(j.expected, None);
    }

    #[test]
    fn refused_attempt_is_one_level_down_and_still_names_the_target_from_the_fd() {
        let m = model();
        let app = m.get(11).unwrap().ns;
        // EPERM: nothing changed; nstype 0 ("any"), so the type comes from the inode.
        let f = Joins::new()
            .on_event(&setns(11, "nsenter", app, app, 0, -1, node().net), &m)
            .unwrap();
        assert_eq!(
            (f.kind, f.severity),
            (FindingKind::HostNamespaceJoin, Severity::Medium)
        );
        let j = f.join().unwrap();
        assert_eq!(j.result(), "EPERM");
        assert_eq!(
            (j.targets[0].ns_type, j.targets[0].place.clone()),
            (Some(NsType::Net), Place::Node)
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
        let j = f.join().unwrap();
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
            f.join().unwrap().targets[0].place,
            Place::Pod {
                pod: "web".into(),
                container: Some(CtrRef::id(&cid(10)))
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
        let j = f.join().unwrap();
        assert_eq!(j.actor.place, Place::Node);
        assert_eq!(j.expected.as_ref().unwrap().by, "runc");
        assert_eq!(f.routine(), Some("runc"), "routine: counted, not logged");
        assert_eq!(
            j.expected.as_ref().unwrap().to_string(),
            "container runtime activity (runc)"
        );
        assert_eq!(
            j.targets[0].place,
            Place::Pod {
                pod: "web".into(),
                container: None
            }
        );
    }

    #[test]
    fn an_unshare_without_new_namespaces_is_no_join() {
        let m = model();
        // runc's unshare(0) on its way into a container: no "created new  namespace(s)".
        assert!(Joins::new()
            .on_event(&unshare(60, 0, ns_with(&[]), ns_with(&[]), 0), &m)
            .is_none());
        assert!(
            Joins::new()
                .on_event(&unshare(60, 0, ns_with(&[]), ns_with(&[]), 0x200), &m)
                .is_none(),
            "CLONE_FS alone"
        );
    }

    #[test]
    fn a_node_program_entering_a_container_stays_on_the_node_until_it_execs() {
        let m = model();
        let app = m.get(11).unwrap().ns;
        let mut j = Joins::new();
        // nsenter -a: mnt, then time (here the node's, as containers share it).
        let mut in_mnt = ns_with(&[]);
        in_mnt.mnt = app.mnt;
        let f = j
            .on_event(
                &setns(50, "nsenter", ns_with(&[]), in_mnt, 0x2_0000, 0, app.mnt),
                &m,
            )
            .unwrap();
        assert_eq!(f.join().unwrap().actor.place, Place::Node);
        // The model moved it into the container's mount namespace; the next
        // call is still the node's nsenter, not a container escaping.
        let f = j
            .on_event(
                &setns(50, "nsenter", in_mnt, in_mnt, 0x80, 0, node().time),
                &m,
            )
            .unwrap();
        assert_eq!(
            (f.kind, f.severity, f.join().unwrap().actor.place.clone()),
            (FindingKind::NamespaceJoin, Severity::Info, Place::Node)
        );
        // Once it execs, it is whatever lives there.
        let e = nstrace_common::ExecEvent {
            hdr: hdr(Kind::Exec, 50, 1, 2_000, in_mnt, "sh"),
            ..Default::default()
        };
        assert!(j.on_event(&Event::Exec(Box::new(e)), &m).is_none());
        assert!(j.entering.is_empty());
    }

    #[test]
    fn cni_plugins_on_the_node_are_expected() {
        assert_eq!(
            runtime("bridge", "/usr/lib/cni/bridge").map(|e| e.to_string()),
            Some("container network plugin (bridge)".to_owned())
        );
        assert!(runtime("bridge", "/usr/sbin/bridge").is_none());
        assert_eq!(runtime("conmon", "/usr/bin/conmon").unwrap().by, "conmon");
        assert_eq!(runtime("runc:[1:CHILD]", "/dev/fd/6").unwrap().by, "runc");
        assert!(runtime("runcible", "/usr/bin/runcible").is_none());
        assert_eq!(
            runtime("containerd-shim", "/usr/bin/containerd-shim-runc-v2")
                .unwrap()
                .by,
            "containerd-shim"
        );
        assert_eq!(
            runtime("containerd", "/usr/bin/containerd").unwrap().by,
            "containerd"
        );
        // dockerd re-exec'd (comm `exe`): known by the program it runs,
        // which the model takes from the process /proc/PID/exe named.
        assert_eq!(runtime("exe", "/usr/sbin/dockerd").unwrap().by, "dockerd");
        assert!(
            runtime("exe", "/proc/812/exe").is_none(),
            "not known: not expected"
        );
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
        after.net = node().net;
        let f = Joins::new()
            .on_event(&setns(12, "runc", app, after, NEWNET, 0, node().net), &m)
            .unwrap();
        assert_eq!(f.kind, FindingKind::HostNamespaceJoin);
        assert_eq!(f.join().unwrap().expected, None);
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
        let j = f.join().unwrap();
        assert_eq!(j.targets[0].place.netns_name(), Some("x"));
        assert_eq!(j.targets[0].place.class(), "named_netns");
        assert_eq!(j.targets[0].place.to_string(), "named netns x");
        assert_eq!(j.expected, None);
        assert_eq!(f.routine(), None, "node administration is not routine");
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
        let t = &by_user.join().unwrap().targets;
        assert_eq!(
            (t[0].ns_type, t[0].inode, t[0].place.clone()),
            (Some(NsType::User), 9999, Place::New)
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
        let j = f.join().unwrap();
        assert_eq!(
            j.action,
            Action::Clone {
                flags: NEWNET | 17,
                child: 70
            }
        );
        assert_eq!(j.actor.comm, "bash");
        assert_eq!(j.actor.cap_effective, FULL_CAPS);
        assert_eq!(
            (j.targets[0].ns_type, j.targets[0].inode),
            (Some(NsType::Net), 4242)
        );
        // Plain forks and threads are not joins.
        let fork = Event::Create(CreateEvent {
            hdr: hdr(Kind::Create, 71, 50, 1_000, ns_with(&[]), "bash"),
            clone_flags: 17,
            creator_tgid: 50,
            ..Default::default()
        });
        assert!(Joins::new().on_event(&fork, &m).is_none());
    }
}
