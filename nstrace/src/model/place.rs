//! Where a process or a namespace lives, in the words people use: the node,
//! a pod (and one of its containers), a lone container, a named netns, a
//! pinned namespace. The one place that turns inode sets into that language;
//! joins, findings and shutdown timelines all ask here.

use std::collections::HashMap;
use std::fmt;

use nstrace_common::{NsSet, NsType};

use super::topology::{self, Topology};
use super::Model;

/// Runtime ids (64 hex) are shown as their first 12 digits, like podman and docker do.
pub fn short_id(id: &str) -> &str {
    if id.len() == 64 {
        &id[..12]
    } else {
        id
    }
}

/// A pod as people name it: `namespace/name` (the namespace when the
/// runtime's files say it, as CRI-O and containerd do; podman has none).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodRef {
    /// Kubernetes namespace, when known.
    pub namespace: Option<String>,
    /// Pod name.
    pub name: String,
}

impl PodRef {
    /// A pod known by name only.
    pub fn named(name: &str) -> PodRef {
        PodRef {
            namespace: None,
            name: name.to_owned(),
        }
    }

    /// Whether `--pod SEL` means this pod: `NAMESPACE/NAME`, or `NAME` alone.
    pub fn matches(&self, sel: &str) -> bool {
        match sel.split_once('/') {
            Some((ns, name)) => self.namespace.as_deref() == Some(ns) && self.name == name,
            None => self.name == sel,
        }
    }
}

impl From<&str> for PodRef {
    fn from(name: &str) -> PodRef {
        PodRef::named(name)
    }
}

impl From<&str> for CtrRef {
    fn from(id: &str) -> CtrRef {
        CtrRef::id(id)
    }
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A container: its runtime id, and its name in the pod spec when known.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CtrRef {
    /// Runtime id (64 hex), or `mnt-<inode>`.
    pub id: String,
    /// Name in the pod spec (`web`).
    pub name: Option<String>,
}

impl CtrRef {
    /// A container known by id only.
    pub fn id(id: &str) -> CtrRef {
        CtrRef {
            id: id.to_owned(),
            name: None,
        }
    }
}

impl fmt::Display for CtrRef {
    /// Its name, or its short id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name.as_deref().unwrap_or_else(|| short_id(&self.id)))
    }
}

/// Where a process or a namespace belongs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// The node itself.
    Node,
    /// A pod; `container` is set when only that container has the namespace.
    Pod {
        /// The pod.
        pod: PodRef,
        /// The container, when the namespace or process is one container's.
        container: Option<CtrRef>,
    },
    /// A container that belongs to no pod.
    Container(CtrRef),
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

    /// Every class name, for validating policies.
    pub const CLASSES: [&'static str; 8] = [
        "node",
        "pod",
        "container",
        "named_netns",
        "pinned",
        "process",
        "new",
        "unknown",
    ];

    /// Whether this is inside a container (of a pod or alone).
    pub fn in_container(&self) -> bool {
        matches!(self, Place::Pod { .. } | Place::Container(_))
    }

    /// The pod, if in a pod.
    pub fn pod_ref(&self) -> Option<&PodRef> {
        match self {
            Place::Pod { pod, .. } => Some(pod),
            _ => None,
        }
    }

    /// Pod name, if in a pod.
    pub fn pod(&self) -> Option<&str> {
        self.pod_ref().map(|p| p.name.as_str())
    }

    /// The pod's Kubernetes namespace, if known.
    pub fn namespace(&self) -> Option<&str> {
        self.pod_ref().and_then(|p| p.namespace.as_deref())
    }

    /// The container, if one container is meant.
    pub fn ctr(&self) -> Option<&CtrRef> {
        match self {
            Place::Pod { container, .. } => container.as_ref(),
            Place::Container(c) => Some(c),
            _ => None,
        }
    }

    /// Container id, if one container is meant.
    pub fn container(&self) -> Option<&str> {
        self.ctr().map(|c| c.id.as_str())
    }

    /// Container name in the pod spec, if one container is meant and its name is known.
    pub fn container_name(&self) -> Option<&str> {
        self.ctr().and_then(|c| c.name.as_deref())
    }

    /// The named netns, for a `/run/netns/NAME` bind mount.
    pub fn netns_name(&self) -> Option<&str> {
        match self {
            Place::Pinned(h) => named_netns(h),
            _ => None,
        }
    }

    /// Where a finding about a process is shown: the process's pod and
    /// container, or the node (what is not in a container is the node's).
    pub fn of_process(self) -> Place {
        if self.in_container() {
            self
        } else {
            Place::Node
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
        match self {
            Place::Node => f.write_str("node"),
            Place::Pod {
                pod,
                container: Some(c),
            } => write!(f, "pod {pod} / container {c}"),
            Place::Pod { pod, .. } => write!(f, "pod {pod}"),
            Place::Container(c) => write!(f, "container {c}"),
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
/// from one build of the topology. [`Model::places`] keeps one, rebuilt
/// only when the container layout changed.
#[derive(Clone, Debug, Default)]
pub struct Places {
    node: NsSet,
    /// The model's `layout_generation` this was built from.
    pub(super) generation: u64,
    /// The model's `generation` this was built from.
    pub(super) model_generation: u64,
    /// Containers by their mount namespace (every process of a container shares it).
    by_mnt: HashMap<u32, Place>,
    /// Containers by their init's pid (found even after the init is gone).
    by_init: HashMap<u32, (u32, Place)>,
    /// Containers by PID namespace, when one container alone has it.
    by_pid_ns: HashMap<u32, Option<Place>>,
    /// Namespaces by (kind, inode).
    by_ns: HashMap<(NsType, u32), Place>,
    /// Ids of the pods' infra (pause) containers.
    infra: std::collections::HashSet<String>,
}

impl Places {
    /// Places everything in `m` now.
    pub fn build(m: &Model) -> Places {
        Places::from_topology(m, &topology::build(m))
    }

    /// Places everything in `t`, the topology of `m`.
    pub fn from_topology(m: &Model, t: &Topology) -> Places {
        let node = m.node;
        let mut p = Places {
            node,
            generation: m.layout_generation,
            model_generation: m.generation,
            ..Places::default()
        };
        let container = |p: &mut Places, c: &topology::Container, here: Place| {
            p.by_mnt.insert(c.ns.mnt, here.clone());
            p.by_init.insert(c.init.pid, (c.ns.pid, here.clone()));
            if c.ns.pid != 0 && c.ns.pid != node.pid {
                p.by_pid_ns
                    .entry(c.ns.pid)
                    .and_modify(|e| *e = None)
                    .or_insert(Some(here));
            }
        };
        for pod in &t.pods {
            let pod_ref = pod.pod_ref();
            for c in &pod.containers {
                let here = Place::Pod {
                    pod: pod_ref.clone(),
                    container: Some(c.ctr_ref()),
                };
                container(&mut p, c, here);
                if c.infra {
                    p.infra.insert(c.id.clone());
                }
                for (ty, ino) in c.ns.iter() {
                    if ino == 0 || ino == node.get(ty) {
                        continue;
                    }
                    let shared = pod.containers.iter().all(|o| o.ns.get(ty) == ino);
                    let place = Place::Pod {
                        pod: pod_ref.clone(),
                        container: (!shared || pod.containers.len() == 1).then(|| c.ctr_ref()),
                    };
                    p.by_ns.entry((ty.kind(), ino)).or_insert(place);
                }
            }
        }
        for c in &t.lone {
            let here = Place::Container(c.ctr_ref());
            container(&mut p, c, here.clone());
            for (ty, ino) in c.ns.iter() {
                if ino != 0 && ino != node.get(ty) {
                    p.by_ns.entry((ty.kind(), ino)).or_insert(here.clone());
                }
            }
        }
        for pin in &m.pinned {
            p.by_ns
                .entry((pin.ns_type.kind(), pin.inode))
                .or_insert_with(|| Place::Pinned(pin.holder.clone()));
        }
        for ns in &t.plain {
            if let Some(first) = ns.processes.first() {
                p.by_ns
                    .entry((ns.ns_type.kind(), ns.inode))
                    .or_insert_with(|| Place::Process {
                        pid: first.pid,
                        comm: first.comm.clone(),
                    });
            }
        }
        p
    }

    /// Whether this index still describes `m`'s container layout.
    pub fn fresh_for(&self, m: &Model) -> bool {
        self.generation == m.layout_generation && self.node == m.node
    }

    /// Where a process in mount namespace `mnt` lives (node when in no container).
    pub fn mount(&self, mnt: u32) -> Place {
        if mnt == 0 || mnt == self.node.mnt {
            return Place::Node;
        }
        self.by_mnt.get(&mnt).cloned().unwrap_or(Place::Node)
    }

    /// Where namespace `inode` of type `ty` belongs.
    pub fn namespace(&self, ty: NsType, inode: u32) -> Place {
        let ty = ty.kind();
        if inode != 0 && self.node.get(ty) == inode {
            return Place::Node;
        }
        self.by_ns
            .get(&(ty, inode))
            .cloned()
            .unwrap_or(Place::Unknown)
    }

    /// The type of a namespace known by inode alone (a refused setns with nstype 0).
    pub fn type_of(&self, inode: u32) -> Option<NsType> {
        if let Some((ty, _)) = self.node.iter().find(|(_, i)| *i == inode) {
            return Some(ty.kind());
        }
        self.by_ns
            .keys()
            .find(|(_, ino)| *ino == inode)
            .map(|(ty, _)| *ty)
    }

    /// Whether container `id` is a pod's infra (pause) container.
    pub fn is_infra(&self, id: &str) -> bool {
        self.infra.contains(id)
    }

    /// The container that alone has PID namespace `pid_ns`, if one does.
    pub fn of_pid_ns(&self, pid_ns: u32) -> Option<Place> {
        self.by_pid_ns.get(&pid_ns).cloned().flatten()
    }

    /// Where process `pid` lives, or lived: by its mount namespace while the
    /// model knows it; a zombie (its namespace links are gone) by its parent;
    /// a process gone from the model by the container it was the init of, or
    /// by its PID namespace `pid_ns` when one container alone has it.
    pub fn process(&self, m: &Model, pid: u32, pid_ns: u32) -> Place {
        if let Some(p) = m.get(pid) {
            if p.ns.mnt != 0 {
                return self.mount(p.ns.mnt);
            }
            if let Some(parent) = m.get(p.ppid) {
                if parent.ns.mnt != 0 && parent.ns.mnt != self.node.mnt {
                    return self.mount(parent.ns.mnt);
                }
            }
        }
        if let Some((ns, place)) = self.by_init.get(&pid) {
            if pid_ns == 0 || *ns == pid_ns {
                return place.clone();
            }
        }
        match self.by_pid_ns.get(&pid_ns) {
            Some(Some(place)) => place.clone(),
            _ => Place::Node,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{cid, ns_with, NODE};
    use crate::model::Process;

    /// A process with the node's namespaces except for `over`.
    fn proc(
        pid: u32,
        ppid: u32,
        ns_pid: u32,
        comm: &str,
        cg: &str,
        over: &[(NsType, u32)],
    ) -> Process {
        let ns = ns_with(over);
        Process {
            pid,
            ppid,
            ns_pid,
            comm: comm.into(),
            cgroup: cg.into(),
            ns,
            hostname: Some("web".into()),
            ..Process::default()
        }
    }

    /// Pod "web": infra 10, app 11 with a child 12; shared net/ipc/uts.
    fn model() -> Model {
        let mut m = Model::new(NsSet::from_array(NODE), "node");
        let cg = |c: u32| format!("/libpod_parent/{}/{}", cid(1), cid(c));
        let shared = [(NsType::Net, 905), (NsType::Ipc, 902), (NsType::Uts, 901)];
        let with = |extra: [(NsType, u32); 2]| {
            let mut v = shared.to_vec();
            v.extend(extra);
            v
        };
        m.add_snapshot(proc(
            10,
            1,
            1,
            "catatonit",
            &cg(10),
            &with([(NsType::Mnt, 910), (NsType::Pid, 913)]),
        ));
        m.add_snapshot(proc(
            11,
            1,
            1,
            "sh",
            &cg(11),
            &with([(NsType::Mnt, 920), (NsType::Pid, 923)]),
        ));
        m.add_snapshot(proc(
            12,
            11,
            2,
            "sleep",
            &cg(11),
            &with([(NsType::Mnt, 920), (NsType::Pid, 923)]),
        ));
        m
    }

    #[test]
    fn processes_and_namespaces_are_placed() {
        let m = model();
        let p = Places::build(&m);
        let app = Place::Pod {
            pod: PodRef::named("web"),
            container: Some(CtrRef::id(&cid(11))),
        };
        assert_eq!(p.process(&m, 12, 923), app);
        assert_eq!(p.process(&m, 1, 103), Place::Node, "unknown node process");
        // Gone from the model: by the init it was, or by its PID namespace.
        assert_eq!(p.process(&m, 999, 923), app);
        assert_eq!(p.namespace(NsType::Net, 905).to_string(), "pod web");
        assert_eq!(
            p.namespace(NsType::PidForChildren, 923),
            app,
            "pid_for_children is a PID namespace"
        );
        assert_eq!(p.namespace(NsType::Net, 105), Place::Node);
        assert_eq!(p.namespace(NsType::Net, 7), Place::Unknown);
        assert_eq!(p.type_of(905), Some(NsType::Net));
        assert_eq!(
            app.to_string(),
            format!("pod web / container {}", &cid(11)[..12])
        );
    }
}
