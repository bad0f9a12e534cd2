//! Pods, containers and plain namespaces derived from the model: how
//! processes group into containers and containers into pods (the topology
//! document). Naming a single process or namespace ("node", "pod web /
//! container api") is `place.rs`'s job, which builds on this grouping.
//!
//! Rules (the way the kubelet and podman build pods):
//! * a container is a mount namespace other than the node's whose processes
//!   either carry a runtime container id in their cgroup path or have their own
//!   PID 1 (a PID namespace that is not the node's, with its init inside);
//! * containers that share a non-node net, ipc, uts or pid namespace, or whose
//!   cgroup names the same pod, form one pod; a container sharing nothing with
//!   any other and named by no pod cgroup is a lone container;
//! * the infra (pause) container is the one whose init is catatonit or pause;
//! * everything else not in the node's namespaces is a plain namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use nstrace_common::{NsSet, NsType};

use super::cgroup;
use super::net::{overlaps, NetFacts, NetIf, Proto};
use super::{CtrRef, Model, Pinned, Process, Runtime};
use crate::runtime::docker::PortBinding;

/// Namespace types in the sharing matrix, in the order it is shown.
pub const MATRIX_TYPES: [NsType; 8] = [
    NsType::Net,
    NsType::Ipc,
    NsType::Uts,
    NsType::Pid,
    NsType::Mnt,
    NsType::User,
    NsType::Cgroup,
    NsType::Time,
];

/// Namespace types containers of one pod share (what makes them one pod).
const POD_TYPES: [NsType; 4] = [NsType::Net, NsType::Ipc, NsType::Uts, NsType::Pid];

/// Commands of infra (pause) processes.
const INFRA_COMMS: [&str; 2] = ["catatonit", "pause"];

/// How one namespace type is arranged across a pod's containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Every container is in the node's namespace.
    Node,
    /// Every container is in one namespace that is not the node's.
    Shared,
    /// Every container has its own.
    PerContainer,
    /// Anything else (some share, some do not, or some are the node's).
    Mixed,
}

impl Sharing {
    /// Stable name for output.
    pub fn name(self) -> &'static str {
        match self {
            Sharing::Node => "node",
            Sharing::Shared => "shared",
            Sharing::PerContainer => "per-container",
            Sharing::Mixed => "mixed",
        }
    }
}

/// A process as shown in the topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcView {
    /// Node pid.
    pub pid: u32,
    /// Parent pid.
    pub ppid: u32,
    /// Pid inside its own PID namespace.
    pub ns_pid: u32,
    /// Command.
    pub comm: String,
    /// Exited, not reaped.
    pub zombie: bool,
    /// Its namespaces.
    pub ns: NsSet,
}

impl From<&Process> for ProcView {
    fn from(p: &Process) -> Self {
        ProcView {
            pid: p.pid,
            ppid: p.ppid,
            ns_pid: p.ns_pid,
            comm: p.comm.clone(),
            zombie: p.zombie,
            ns: p.ns,
        }
    }
}

/// A process holding a socket, and where it lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Node pid.
    pub pid: u32,
    /// Its command ("" when the model no longer knows it).
    pub comm: String,
    /// Its container, when it is in one of the namespace's containers.
    pub container: Option<super::CtrRef>,
}

/// A listening socket of a network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// TCP or UDP.
    pub proto: Proto,
    /// Local address (`0.0.0.0` / `::` for any).
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// Reachable as localhost within the namespace (bound to any or a loopback address).
    pub on_localhost: bool,
    /// Socket inode.
    pub inode: u64,
    /// Who holds it.
    pub owners: Vec<Owner>,
}

/// The network of a pod, a lone container or a plain network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    /// The network namespace (inode).
    pub netns: u32,
    /// It is the node's (hostNetwork): only the pod's own listeners are shown.
    pub node_network: bool,
    /// Whether it was read at all (a trace may not have read it yet).
    pub read: bool,
    /// `lo` is up.
    pub lo_up: bool,
    /// Interfaces (none for the node's network).
    pub interfaces: Vec<NetIf>,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Listening sockets, by transport, port, address.
    pub listeners: Vec<Listener>,
}

impl Network {
    /// The first global IPv4 address (else any global one) of its
    /// interfaces: the pod IP.
    pub fn main_ip(&self) -> Option<IpAddr> {
        let global = |ip: &IpAddr| match ip {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local(),
            IpAddr::V6(v6) => !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80,
        };
        let all = || {
            self.interfaces
                .iter()
                .flat_map(|i| i.addrs.iter().map(|a| a.ip))
                .filter(global)
        };
        all().find(IpAddr::is_ipv4).or_else(|| all().next())
    }
}

/// One container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Runtime id from the cgroup path (64 hex), or "mnt-<inode>" when none is named.
    pub id: String,
    /// Whether `id` came from the runtime.
    pub runtime_id: bool,
    /// Its init (PID 1 of its PID namespace, or its topmost process in a shared one).
    pub init: ProcView,
    /// The init's namespaces.
    pub ns: NsSet,
    /// Whether this is the pod's infra (pause) container.
    pub infra: bool,
    /// Every process, by pid.
    pub processes: Vec<ProcView>,
    /// Which init its init is ("tini -g", "sh (a shell)", "java").
    pub init_kind: String,
    /// What its init does with SIGTERM, as /proc last showed it.
    pub init_sigterm: super::Disposition,
    /// The command of the init's first child, if it has one ("tini -g → java").
    pub init_child: Option<String>,
    /// Pod id named by the cgroup path, if any.
    pub cgroup_pod: Option<String>,
    /// UTS hostname, if known.
    pub hostname: Option<String>,
    /// What the runtime calls it and its pod, when its files say.
    pub names: Option<super::ContainerNames>,
    /// Docker's sharing modes in pod language (`hostNetwork`, `network of
    /// web`…), the partner named as the topology names it; empty elsewhere.
    pub sharing: Vec<String>,
    /// Docker's published ports, each with what holds it on the node.
    pub published: Vec<Published>,
    /// Its network (lone containers only; a pod's containers share the pod's).
    pub network: Option<Network>,
}

/// A published port (`docker run -p`) as it stands on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// What Docker was asked for.
    pub binding: PortBinding,
    /// The node's listener on that port, when the node's network was read
    /// and one listens there (docker-proxy's, or another process's).
    pub holder: Option<Owner>,
    /// The holder is Docker's: its userland proxy, or dockerd reserving the
    /// port when the proxy is off (the port works as published).
    pub by_proxy: bool,
    /// Another process holds the node's port: the published port does not
    /// reach the container (a `port_conflict`).
    pub conflict: bool,
    /// The node's network was read (else nothing is known of the holder).
    pub checked: bool,
}

impl Published {
    /// `node 127.0.0.1:8088/tcp → web:80`.
    pub fn mapping(&self, container: &str) -> String {
        let b = &self.binding;
        let ip = b
            .host_ip
            .map_or_else(|| "*".to_owned(), |ip| ip.to_string());
        let ip = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip
        };
        format!(
            "node {ip}:{}/{} → {container}:{}",
            b.host_port, b.proto, b.container_port
        )
    }

    /// What holds it, in words: `docker-proxy 1234`, `held by nginx 99
    /// (port_conflict)`, `no listener on the node (DNAT, not checked)`.
    pub fn status(&self) -> String {
        match (&self.holder, self.by_proxy) {
            (Some(h), true) => format!("{} {}", h.comm, h.pid),
            (Some(h), false) => format!("held by {} {} (port_conflict)", h.comm, h.pid),
            (None, _) if !self.checked => "the node's listeners not read".into(),
            (None, _) => {
                "no listener on the node (DNAT when the userland proxy is off; not checked)".into()
            }
        }
    }
}

/// What holds a published port on the node for Docker: its userland proxy
/// (docker-proxy), or dockerd itself, which binds the port to reserve it
/// when the userland proxy is off (20.10's "dummy proxy"; DNAT then carries
/// the traffic).
pub fn is_docker_proxy(comm: &str, exe: &str) -> bool {
    let base = exe.rsplit('/').next();
    ["docker-proxy", "dockerd"]
        .iter()
        .any(|n| comm == *n || base == Some(n))
}

impl Container {
    /// Its name in the pod spec (`web`), when the runtime says.
    pub fn name(&self) -> Option<&str> {
        self.names.as_ref().and_then(|n| n.container.as_deref())
    }

    /// How a person refers to it: its name, or the short id.
    pub fn label(&self) -> &str {
        self.name().unwrap_or_else(|| super::short_id(&self.id))
    }

    /// Its id and name, as places carry them.
    pub fn ctr_ref(&self) -> super::CtrRef {
        super::CtrRef {
            id: self.id.clone(),
            name: self.name().map(str::to_owned),
        }
    }
}

/// One pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// The pod's Kubernetes namespace, when the runtime's files say (CRI-O, containerd).
    pub namespace: Option<String>,
    /// The pod's Kubernetes uid, when the runtime's files say.
    pub uid: Option<String>,
    /// The pod's name: the runtime's, else its UTS hostname (or a synthetic one).
    pub name: String,
    /// Pod id from the cgroup path, if named.
    pub id: Option<String>,
    /// Containers, infra first.
    pub containers: Vec<Container>,
    /// Sharing per `MATRIX_TYPES` entry.
    pub sharing: [Sharing; 8],
    /// Net is the node's.
    pub host_network: bool,
    /// Pid is the node's.
    pub host_pid: bool,
    /// Ipc is the node's.
    pub host_ipc: bool,
    /// All containers share one non-node PID namespace.
    pub share_process_namespace: bool,
    /// Its network namespace: wiring and listeners.
    pub network: Option<Network>,
}

/// The sharing of type `t` in a matrix laid out as [`MATRIX_TYPES`].
fn sharing_of(sharing: &[Sharing; 8], t: NsType) -> Sharing {
    MATRIX_TYPES
        .iter()
        .position(|m| *m == t)
        .map_or(Sharing::Mixed, |i| sharing[i])
}

impl Pod {
    /// Its namespace and name, as places carry them.
    pub fn pod_ref(&self) -> super::PodRef {
        super::PodRef {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// How namespace type `t` is arranged across the pod's containers.
    pub fn sharing_of(&self, t: NsType) -> Sharing {
        sharing_of(&self.sharing, t)
    }

    /// The infra container, if the pod has one.
    pub fn infra(&self) -> Option<&Container> {
        self.containers.iter().find(|c| c.infra)
    }
}

/// A namespace outside containers that is not the node's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainNs {
    /// Its type (never `PidForChildren`).
    pub ns_type: NsType,
    /// Inode.
    pub inode: u32,
    /// Processes in it (empty when only pinned).
    pub processes: Vec<ProcView>,
    /// What pins it besides processes (bind mounts, fds).
    pub pinned_by: Vec<String>,
    /// For a PID namespace: its processes still see the node's /proc (no own mount namespace).
    pub shares_node_mnt: bool,
    /// For a network namespace: its wiring and listeners, when read.
    pub network: Option<Network>,
}

/// The node's namespace topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// The node's hostname.
    pub node_hostname: String,
    /// The node's namespaces.
    pub node: NsSet,
    /// Number of processes in the node's namespaces only.
    pub node_processes: usize,
    /// Pods.
    pub pods: Vec<Pod>,
    /// Containers in no pod.
    pub lone: Vec<Container>,
    /// Other non-node namespaces.
    pub plain: Vec<PlainNs>,
}

fn is_infra(p: &Process) -> bool {
    INFRA_COMMS.contains(&p.comm.as_str())
        || INFRA_COMMS
            .iter()
            .any(|c| p.exe.rsplit('/').next() == Some(c))
}

/// Builds the topology from the model.
pub fn build(m: &Model) -> Topology {
    let node = m.node;
    let procs: Vec<&Process> = m.processes().collect();
    let ids: BTreeMap<u32, cgroup::CgroupIds> = procs
        .iter()
        .map(|p| (p.pid, cgroup::parse(&p.cgroup)))
        .collect();

    // 1. Containers: group by mount namespace, keep groups that qualify.
    let mut by_mnt: BTreeMap<u32, Vec<&Process>> = BTreeMap::new();
    for p in &procs {
        if p.ns.mnt != 0 && p.ns.mnt != node.mnt {
            by_mnt.entry(p.ns.mnt).or_default().push(p);
        }
    }
    let mut containers: Vec<Container> = Vec::new();
    let mut in_container: BTreeSet<u32> = BTreeSet::new();
    for (mnt, members) in &by_mnt {
        // The living decide, their init first: an orphan of a torn-down
        // container can wait minutes as a zombie of the node's init while
        // the kernel gives its freed mount namespace's inode to a new
        // container.
        let runtime_id = members
            .iter()
            .filter(|p| ids[&p.pid].container.is_some())
            .min_by_key(|p| (p.zombie, p.ns_pid != 1, p.pid))
            .and_then(|p| ids[&p.pid].container.clone());
        // A zombie of another container is not a member of this one.
        let members: Vec<&Process> = members
            .iter()
            .copied()
            .filter(|p| {
                !p.zombie || ids[&p.pid].container.is_none() || ids[&p.pid].container == runtime_id
            })
            .collect();
        let members = &members;
        let own_init = members
            .iter()
            .filter(|p| p.is_ns_init(node.pid))
            .min_by_key(|p| (p.zombie, p.pid))
            .copied();
        if runtime_id.is_none() && own_init.is_none() {
            continue;
        }
        let pids: BTreeSet<u32> = members.iter().map(|p| p.pid).collect();
        // Topmost process: parent outside the group (lowest pid breaks ties).
        let init = own_init.unwrap_or_else(|| {
            members
                .iter()
                .filter(|p| !pids.contains(&p.ppid))
                .min_by_key(|p| p.pid)
                .copied()
                .unwrap_or(members[0])
        });
        in_container.extend(pids.iter().copied());
        containers.push(Container {
            id: runtime_id.clone().unwrap_or_else(|| format!("mnt-{mnt}")),
            runtime_id: runtime_id.is_some(),
            init: init.into(),
            ns: init.ns,
            // The runtime's word when its files say; else the init's name
            // (an application container may run catatonit as its own init).
            // Docker has no sandboxes: a pause as init whose namespaces the
            // others join is one, as on an unnamed pod.
            infra: runtime_id
                .as_deref()
                .and_then(|id| m.names_of(id))
                .filter(|n| n.runtime != Runtime::Docker)
                .map_or_else(|| is_infra(init), |n| n.sandbox),
            processes: members.iter().map(|p| ProcView::from(*p)).collect(),
            init_kind: init.init().describe(),
            init_sigterm: init.signals.of(nstrace_common::sig::TERM),
            init_child: members
                .iter()
                .filter(|p| p.ppid == init.pid)
                .min_by_key(|p| p.pid)
                .map(|p| p.comm.clone()),
            cgroup_pod: members.iter().find_map(|p| ids[&p.pid].pod.clone()),
            hostname: members.iter().find_map(|p| p.hostname.clone()),
            names: runtime_id.as_deref().and_then(|id| m.names_of(id)).cloned(),
            sharing: Vec::new(),
            published: Vec::new(),
            network: None,
        });
    }
    docker_views(m, &mut containers);

    // A zombie has lost its namespaces but its PID namespace (the /proc links
    // are gone): it belongs with its parent's container, or with the one
    // container of its PID namespace.
    for p in &procs {
        if p.ns.mnt != 0 || in_container.contains(&p.pid) {
            continue;
        }
        let by_parent = containers
            .iter()
            .position(|c| c.processes.iter().any(|q| q.pid == p.ppid));
        let by_pid_ns = || {
            let mut it = containers
                .iter()
                .enumerate()
                .filter(|(_, c)| p.ns.pid != 0 && p.ns.pid != node.pid && c.ns.pid == p.ns.pid);
            match (it.next(), it.next()) {
                (Some((i, _)), None) => Some(i),
                _ => None,
            }
        };
        if let Some(i) = by_parent.or_else(by_pid_ns) {
            containers[i].processes.push(ProcView::from(*p));
            in_container.insert(p.pid);
        }
    }

    // 2. Pods: union containers that share a non-node net/ipc/uts/pid or a pod cgroup.
    let n = containers.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while parent[r] != r {
            r = parent[r];
        }
        let mut j = i;
        while parent[j] != r {
            let next = parent[j];
            parent[j] = r;
            j = next;
        }
        r
    }
    let mut first_with: BTreeMap<(NsType, u32), usize> = BTreeMap::new();
    let mut first_pod: BTreeMap<String, usize> = BTreeMap::new();
    let mut first_named: BTreeMap<String, usize> = BTreeMap::new();
    for (i, c) in containers.iter().enumerate() {
        // The runtime's files name the pod even where the cgroup path does not
        // (containerd without the kubelet's cgroup parent: `/k8s.io/<id>`), and
        // a pod of the node's namespaces shares nothing else with its pause.
        if let Some(key) = named_pod_key(c) {
            if let Some(&j) = first_named.get(&key) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
            } else {
                first_named.insert(key, i);
            }
        }
        for t in POD_TYPES {
            let ino = c.ns.get(t);
            if ino != 0 && ino != node.get(t) {
                if let Some(&j) = first_with.get(&(t, ino)) {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    parent[a] = b;
                } else {
                    first_with.insert((t, ino), i);
                }
            }
        }
        if let Some(pod) = &c.cgroup_pod {
            if let Some(&j) = first_pod.get(pod) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
            } else {
                first_pod.insert(pod.clone(), i);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<Container>> = BTreeMap::new();
    for (i, c) in containers.into_iter().enumerate() {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(c);
    }
    let mut pods = Vec::new();
    let mut lone = Vec::new();
    for (_, mut members) in groups {
        if members.len() == 1
            && members[0].cgroup_pod.is_none()
            && named_pod_key(&members[0]).is_none()
        {
            let mut c = members.remove(0);
            c.network = network_of(m, c.ns.net, std::slice::from_ref(&c));
            lone.push(c);
            continue;
        }
        members.sort_by(|a, b| b.infra.cmp(&a.infra).then(a.id.cmp(&b.id)));
        let mut pod = make_pod(members, &node);
        let netns = pod
            .infra()
            .or(pod.containers.first())
            .map_or(0, |c| c.ns.net);
        let netns = if pod.host_network { node.net } else { netns };
        pod.network = network_of(m, netns, &pod.containers);
        pods.push(pod);
    }
    pods.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    lone.sort_by(|a, b| a.id.cmp(&b.id));

    // 3. Plain namespaces: non-node namespaces of processes outside containers, and pinned ones.
    let mut plain: BTreeMap<(NsType, u32), PlainNs> = BTreeMap::new();
    let mut node_processes = 0;
    let mut inodes_with_procs: BTreeSet<(NsType, u32)> = BTreeSet::new();
    for p in &procs {
        for (t, ino) in p.ns.iter() {
            inodes_with_procs.insert((t, ino));
        }
        if in_container.contains(&p.pid) {
            continue;
        }
        let mut outside = false;
        for (t, ino) in p.ns.iter() {
            // pid_for_children mirrors pid except right after an unshare; report the pid one.
            if t == NsType::PidForChildren || ino == 0 || ino == node.get(t) {
                continue;
            }
            outside = true;
            let e = plain.entry((t, ino)).or_insert_with(|| PlainNs {
                ns_type: t,
                inode: ino,
                processes: Vec::new(),
                pinned_by: Vec::new(),
                shares_node_mnt: false,
                network: None,
            });
            e.processes.push(ProcView::from(*p));
            if t == NsType::Pid && p.ns.mnt == node.mnt {
                e.shares_node_mnt = true;
            }
        }
        if !outside {
            node_processes += 1;
        }
    }
    for Pinned {
        ns_type,
        inode,
        holder,
    } in &m.pinned
    {
        if *inode == node.get(*ns_type) {
            continue;
        }
        if let Some(e) = plain.get_mut(&(*ns_type, *inode)) {
            e.pinned_by.push(holder.clone());
        } else if !inodes_with_procs.contains(&(*ns_type, *inode)) {
            plain.insert(
                (*ns_type, *inode),
                PlainNs {
                    ns_type: *ns_type,
                    inode: *inode,
                    processes: Vec::new(),
                    pinned_by: vec![holder.clone()],
                    shares_node_mnt: false,
                    network: None,
                },
            );
        }
    }
    for p in plain.values_mut() {
        if p.ns_type == NsType::Net {
            p.network = network_of(m, p.inode, &[]);
        }
    }
    Topology {
        node_hostname: m.node_hostname.clone(),
        node,
        node_processes,
        pods,
        lone,
        plain: plain.into_values().collect(),
    }
}

/// Docker's sharing modes and published ports of each Docker container: a
/// partner container is named as the topology names it (or by its Docker
/// name, or its short id when it is gone); a published port is looked up
/// among the node's listeners.
fn docker_views(m: &Model, containers: &mut [Container]) {
    let labels: BTreeMap<String, String> = containers
        .iter()
        .map(|c| (c.id.clone(), c.label().to_owned()))
        .collect();
    let name_of = |id: &str| {
        labels.get(id).cloned().or_else(|| {
            m.names_of(id)
                .and_then(|n| n.docker().map(|d| d.name.clone()).or(n.container.clone()))
        })
    };
    let node = m.net(m.node.net);
    for c in containers.iter_mut() {
        let Some(d) = c.names.as_ref().and_then(|n| n.docker()) else {
            continue;
        };
        c.sharing = d.sharing(name_of);
        c.published = d.ports.iter().map(|b| published(m, node, b)).collect();
    }
}

/// One published port as the node's listeners show it.
fn published(m: &Model, node: Option<&NetFacts>, b: &PortBinding) -> Published {
    let proto = match b.proto.as_str() {
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        _ => None,
    };
    let any = IpAddr::from([0u8, 0, 0, 0]);
    let held = node.and_then(|f| {
        f.listeners.iter().find(|h| {
            h.listening
                && Some(h.proto) == proto
                && h.port == b.host_port
                && b.host_port != 0
                && (overlaps(h.addr, b.host_ip.unwrap_or(any))
                    || overlaps(b.host_ip.unwrap_or(any), h.addr))
        })
    });
    let holder = held.and_then(|h| {
        let pid = *h.pids.first()?;
        let (comm, exe) = m
            .get(pid)
            .map(|p| (p.comm.clone(), p.exe.clone()))
            .unwrap_or_default();
        Some((
            Owner {
                pid,
                comm,
                container: None,
            },
            exe,
        ))
    });
    let by_proxy = holder
        .as_ref()
        .is_some_and(|(o, exe)| is_docker_proxy(&o.comm, exe));
    Published {
        binding: b.clone(),
        conflict: holder.is_some() && !by_proxy,
        holder: holder.map(|(o, _)| o),
        by_proxy,
        checked: node.is_some(),
    }
}

/// The pod a container's runtime files put it in: its sandbox's id (a
/// sandbox's own id when it names none), else the pod uid or podman's pod id.
fn named_pod_key(c: &Container) -> Option<String> {
    let n = c.names.as_ref()?;
    n.sandbox_id
        .clone()
        .or_else(|| (n.sandbox && c.runtime_id).then(|| c.id.clone()))
        .or_else(|| n.pod_uid.clone())
        .or_else(|| n.pod_id.clone())
}

fn make_pod(containers: Vec<Container>, node: &NsSet) -> Pod {
    let mut sharing = [Sharing::Mixed; 8];
    // The workload containers decide "node": an infra the runtime keeps in a
    // private namespace (podman cannot put it in the host's IPC) hides nothing.
    let workload: Vec<&Container> = containers.iter().filter(|c| !c.infra).collect();
    for (i, t) in MATRIX_TYPES.iter().enumerate() {
        let on_node = node.get(*t);
        let vals: Vec<u32> = containers.iter().map(|c| c.ns.get(*t)).collect();
        let distinct: BTreeSet<u32> = vals.iter().copied().collect();
        let workload_on_node =
            !workload.is_empty() && workload.iter().all(|c| c.ns.get(*t) == on_node);
        sharing[i] = if workload_on_node || vals.iter().all(|v| *v == on_node) {
            Sharing::Node
        } else if distinct.len() == 1 {
            Sharing::Shared
        } else if distinct.len() == vals.len() && !distinct.contains(&on_node) {
            Sharing::PerContainer
        } else {
            Sharing::Mixed
        };
    }
    let of = |t: NsType| sharing_of(&sharing, t);
    let named = |f: fn(&super::ContainerNames) -> Option<&String>| {
        containers
            .iter()
            .find_map(|c| c.names.as_ref().and_then(|n| f(n).cloned()))
    };
    // Docker outside Compose: the container the others join stands for the pod.
    let joined = || {
        containers.iter().find_map(|c| {
            let n = c.names.as_ref().filter(|n| n.runtime == Runtime::Docker)?;
            let partner = n.sandbox_id.as_deref()?;
            containers
                .iter()
                .find(|p| p.id == partner)
                .map(|p| p.label().to_owned())
        })
    };
    let name = named(|n| n.pod.as_ref())
        .or_else(joined)
        .or_else(|| {
            containers
                .iter()
                .find(|c| c.infra)
                .and_then(|c| c.hostname.clone())
        })
        .or_else(|| containers.iter().find_map(|c| c.hostname.clone()))
        .or_else(|| {
            containers.iter().find_map(|c| {
                c.cgroup_pod
                    .as_ref()
                    .map(|p| format!("pod-{}", &p[..p.len().min(12)]))
            })
        })
        .unwrap_or_else(|| format!("pod-net-{}", containers[0].ns.net));
    // The runtime's pod id when a cgroup path names it; else the pod uid, or
    // the sandbox id, its runtime's files give (containerd writes
    // `io.kubernetes.cri.sandbox-uid` from 1.7 on, `sandbox-id` always);
    // otherwise a stable synthetic one from the first namespace its containers share.
    let id = containers
        .iter()
        .find_map(|c| c.cgroup_pod.clone())
        .or_else(|| named(|n| n.pod_uid.as_ref()))
        .or_else(|| named(|n| n.pod_id.as_ref()))
        .or_else(|| named(|n| n.sandbox_id.as_ref()))
        .or_else(|| {
            MATRIX_TYPES.iter().enumerate().find_map(|(i, t)| {
                (sharing[i] == Sharing::Shared)
                    .then(|| format!("{}-{}", t.name(), containers[0].ns.get(*t)))
            })
        });
    Pod {
        namespace: named(|n| n.namespace.as_ref()),
        uid: named(|n| n.pod_uid.as_ref()),
        name,
        id,
        host_network: of(NsType::Net) == Sharing::Node,
        host_ipc: of(NsType::Ipc) == Sharing::Node,
        host_pid: of(NsType::Pid) == Sharing::Node,
        share_process_namespace: of(NsType::Pid) == Sharing::Shared,
        sharing,
        containers,
        network: None,
    }
}

/// The network of namespace `netns` as the containers `containers` (those
/// that live in it) see it: the last read of it, its listeners' holders
/// placed in those containers. For the node's namespace (hostNetwork) only
/// the listeners those containers hold; `None` for the node's namespace
/// with no container, or for a namespace not known at all.
fn network_of(m: &Model, netns: u32, containers: &[Container]) -> Option<Network> {
    if netns == 0 {
        return None;
    }
    let node_network = netns == m.node.net;
    if node_network && containers.is_empty() {
        return None;
    }
    let ctr_of = |pid: u32| -> Option<CtrRef> {
        containers
            .iter()
            .find(|c| c.processes.iter().any(|p| p.pid == pid))
            .map(Container::ctr_ref)
    };
    let facts: Option<&NetFacts> = m.net(netns);
    let mut listeners: Vec<Listener> = facts
        .map(|f| f.listeners.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|h| h.listening)
        .map(|h| Listener {
            proto: h.proto,
            addr: h.addr,
            port: h.port,
            on_localhost: h.on_localhost(),
            inode: h.inode,
            owners: h
                .pids
                .iter()
                .map(|&pid| Owner {
                    pid,
                    comm: m.get(pid).map(|p| p.comm.clone()).unwrap_or_default(),
                    container: ctr_of(pid),
                })
                .collect(),
        })
        // On the node's network, only what the pod's own processes hold.
        .filter(|l| !node_network || l.owners.iter().any(|o| o.container.is_some()))
        .collect();
    listeners.sort_by_key(|a| (a.proto, a.port, a.addr));
    Some(Network {
        netns,
        node_network,
        read: facts.is_some(),
        lo_up: facts.is_some_and(|f| f.lo_up),
        interfaces: if node_network {
            Vec::new()
        } else {
            facts.map(|f| f.interfaces.clone()).unwrap_or_default()
        },
        error: facts.and_then(|f| f.error.clone()),
        listeners,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{cid, ns_with, NODE};

    /// A process with the node's namespaces except for `over`.
    fn proc(
        pid: u32,
        ppid: u32,
        ns_pid: u32,
        comm: &str,
        cgroup: &str,
        over: &[(NsType, u32)],
    ) -> Process {
        let ns = ns_with(over);
        Process {
            pid,
            ppid,
            ns_pid,
            comm: comm.into(),
            cgroup: cgroup.into(),
            ns,
            hostname: Some("web".into()),
            ..Process::default()
        }
    }

    fn model(ps: Vec<Process>) -> Model {
        let mut m = Model::new(NsSet::from_array(NODE), "node-1");
        for p in ps {
            m.add_snapshot(p);
        }
        m
    }

    /// The default podman/kubelet pod: infra holds net/ipc/uts; containers have own mnt and pid.
    fn default_pod(pod: u32) -> Vec<Process> {
        let cg = |c: u32| format!("/libpod_parent/{}/{}", cid(pod), cid(c));
        let (net, ipc, uts) = (pod * 10 + 1, pod * 10 + 2, pod * 10 + 3);
        vec![
            proc(
                pod,
                1,
                1,
                "catatonit",
                &cg(pod),
                &[
                    (NsType::Mnt, pod * 10 + 4),
                    (NsType::Pid, pod * 10 + 5),
                    (NsType::Net, net),
                    (NsType::Ipc, ipc),
                    (NsType::Uts, uts),
                ],
            ),
            proc(
                pod + 1,
                1,
                1,
                "sh",
                &cg(pod + 1),
                &[
                    (NsType::Mnt, pod * 10 + 6),
                    (NsType::Pid, pod * 10 + 7),
                    (NsType::Net, net),
                    (NsType::Ipc, ipc),
                    (NsType::Uts, uts),
                ],
            ),
            proc(
                pod + 2,
                pod + 1,
                5,
                "sleep",
                &cg(pod + 1),
                &[
                    (NsType::Mnt, pod * 10 + 6),
                    (NsType::Pid, pod * 10 + 7),
                    (NsType::Net, net),
                    (NsType::Ipc, ipc),
                    (NsType::Uts, uts),
                ],
            ),
            proc(
                pod + 3,
                1,
                1,
                "tail",
                &cg(pod + 3),
                &[
                    (NsType::Mnt, pod * 10 + 8),
                    (NsType::Pid, pod * 10 + 9),
                    (NsType::Net, net),
                    (NsType::Ipc, ipc),
                    (NsType::Uts, uts),
                ],
            ),
        ]
    }

    #[test]
    fn default_pod_has_infra_and_matrix() {
        let t = build(&model(default_pod(1000)));
        assert_eq!(t.pods.len(), 1);
        let pod = &t.pods[0];
        assert_eq!(pod.name, "web");
        assert_eq!(pod.id.as_deref(), Some(cid(1000).as_str()));
        assert_eq!(pod.containers.len(), 3);
        assert!(pod.containers[0].infra);
        assert_eq!(pod.infra().unwrap().init.pid, 1000);
        let app = pod.containers.iter().find(|c| c.id == cid(1001)).unwrap();
        assert_eq!(app.processes.len(), 2);
        assert_eq!(app.init.pid, 1001);
        let m: Vec<&str> = pod.sharing.iter().map(|s| s.name()).collect();
        assert_eq!(
            m,
            [
                "shared",
                "shared",
                "shared",
                "per-container",
                "per-container",
                "node",
                "node",
                "node"
            ]
        );
        assert!(
            !pod.host_network && !pod.host_pid && !pod.host_ipc && !pod.share_process_namespace
        );
        assert!(t.lone.is_empty());
        assert!(t.plain.is_empty(), "nothing outside the pod: {:?}", t.plain);
    }

    /// containerd without the kubelet's cgroup parent (`/k8s.io/<id>`), a pod of
    /// the node's net, ipc and pid: nothing but the bundles ties the pause to
    /// the app. One pod, named, whose id is the sandbox id (never `net-…`).
    #[test]
    fn containerd_pod_without_a_cgroup_parent_is_tied_and_named_by_its_bundles() {
        use crate::runtime::{ContainerNames, Runtime};
        let (sbx, app) = (cid(80), cid(81));
        let mut m = model(vec![
            proc(
                80,
                1,
                1,
                "pause",
                &format!("/k8s.io/{sbx}"),
                &[(NsType::Mnt, 801)],
            ),
            proc(
                81,
                1,
                81,
                "sh",
                &format!("/k8s.io/{app}"),
                &[(NsType::Mnt, 811)],
            ),
        ]);
        let names = |container: Option<&str>, sandbox: bool| ContainerNames {
            runtime: Runtime::Containerd,
            container: container.map(str::to_owned),
            pod: Some("agent".into()),
            namespace: Some("kube-system".into()),
            pod_uid: None,
            pod_id: None,
            sandbox,
            sandbox_id: Some(sbx.clone()),
            grace_period_s: None,
            docker: None,
        };
        m.set_names(&sbx, names(None, true));
        m.set_names(&app, names(Some("app"), false));
        let t = build(&m);
        assert!(t.lone.is_empty(), "{:?}", t.lone);
        assert_eq!(t.pods.len(), 1, "{:?}", t.pods);
        let p = &t.pods[0];
        assert_eq!(p.id.as_deref(), Some(sbx.as_str()));
        assert_eq!(
            (p.name.as_str(), p.namespace.as_deref()),
            ("agent", Some("kube-system"))
        );
        assert!(p.host_network && p.host_ipc && p.host_pid, "{p:?}");
        assert_eq!(p.infra().map(|c| c.id.as_str()), Some(sbx.as_str()));
        // containerd 1.7 and later also write the pod uid: it is the id then.
        for (id, ctr, sandbox) in [(&sbx, None, true), (&app, Some("app"), false)] {
            let mut n = names(ctr, sandbox);
            n.pod_uid = Some("0f9e8d7c-1111-4a2b-9c3d-0123456789ab".into());
            m.set_names(id, n);
        }
        let t = build(&m);
        assert_eq!(
            t.pods[0].id.as_deref(),
            Some("0f9e8d7c-1111-4a2b-9c3d-0123456789ab")
        );
    }

    #[test]
    fn share_process_namespace_and_host_network() {
        let cg = |c: u32| format!("/libpod_parent/{}/{}", cid(7), cid(c));
        let t = build(&model(vec![
            proc(
                70,
                1,
                1,
                "catatonit",
                &cg(70),
                &[
                    (NsType::Mnt, 701),
                    (NsType::Pid, 705),
                    (NsType::Ipc, 702),
                    (NsType::Uts, 703),
                ],
            ),
            proc(
                71,
                1,
                2,
                "sh",
                &cg(71),
                &[
                    (NsType::Mnt, 711),
                    (NsType::Pid, 705),
                    (NsType::Ipc, 702),
                    (NsType::Uts, 703),
                ],
            ),
            proc(
                72,
                71,
                3,
                "sleep",
                &cg(71),
                &[
                    (NsType::Mnt, 711),
                    (NsType::Pid, 705),
                    (NsType::Ipc, 702),
                    (NsType::Uts, 703),
                ],
            ),
        ]));
        let pod = &t.pods[0];
        assert!(pod.share_process_namespace);
        assert!(pod.host_network, "net is the node's");
        assert_eq!(pod.containers.len(), 2);
        let app = pod.containers.iter().find(|c| !c.infra).unwrap();
        assert_eq!(
            app.init.pid, 71,
            "topmost process of a container in a shared pid namespace"
        );
    }

    #[test]
    fn host_pid_and_ipc_pod_found_by_uts_and_cgroup() {
        let cg = |c: u32| format!("/libpod_parent/{}/{}", cid(8), cid(c));
        let t = build(&model(vec![
            proc(
                80,
                1,
                80,
                "catatonit",
                &cg(80),
                &[(NsType::Mnt, 801), (NsType::Net, 805), (NsType::Uts, 803)],
            ),
            proc(
                81,
                1,
                81,
                "sh",
                &cg(81),
                &[(NsType::Mnt, 811), (NsType::Net, 805), (NsType::Uts, 803)],
            ),
        ]));
        let pod = &t.pods[0];
        assert!(pod.host_pid && pod.host_ipc && !pod.host_network);
        assert_eq!(pod.containers.len(), 2);
    }

    #[test]
    fn host_ipc_is_decided_by_the_workload_not_the_private_infra() {
        // podman pod create --share net,uts + run --ipc host: only the infra keeps a private ipc.
        let cg = |c: u32| format!("/libpod_parent/{}/{}", cid(9), cid(c));
        let t = build(&model(vec![
            proc(
                90,
                1,
                1,
                "catatonit",
                &cg(90),
                &[
                    (NsType::Mnt, 901),
                    (NsType::Pid, 902),
                    (NsType::Net, 905),
                    (NsType::Uts, 903),
                    (NsType::Ipc, 904),
                ],
            ),
            proc(
                91,
                1,
                1,
                "sh",
                &cg(91),
                &[
                    (NsType::Mnt, 911),
                    (NsType::Pid, 912),
                    (NsType::Net, 905),
                    (NsType::Uts, 903),
                ],
            ),
            proc(
                92,
                1,
                1,
                "sh",
                &cg(92),
                &[
                    (NsType::Mnt, 921),
                    (NsType::Pid, 922),
                    (NsType::Net, 905),
                    (NsType::Uts, 903),
                ],
            ),
        ]));
        let pod = &t.pods[0];
        assert!(pod.host_ipc, "both workload containers use the node's ipc");
        assert_eq!(pod.sharing_of(NsType::Ipc), Sharing::Node);
        assert!(!pod.host_network && !pod.host_pid);
    }

    #[test]
    fn zombie_without_namespace_links_stays_in_its_container() {
        let mut ps = default_pod(1000);
        // /proc/PID/ns/* of a zombie: only pid (and user) still read.
        let zombie = |pid: u32, ppid: u32| {
            let mut z = proc(pid, ppid, 7, "sleep", "/", &[]);
            z.ns = NsSet {
                pid: 10007,
                user: NODE[6],
                ..NsSet::default()
            };
            z.zombie = true;
            z
        };
        // A child of the sleep (1002) in the sh container (init 1001), and one whose
        // parent is unknown to the model, placed by its PID namespace alone.
        ps.push(zombie(1099, 1002));
        ps.push(zombie(1098, 999));
        let t = build(&model(ps));
        for pid in [1099, 1098] {
            let c = t.pods[0]
                .containers
                .iter()
                .find(|c| c.processes.iter().any(|p| p.pid == pid))
                .unwrap_or_else(|| panic!("zombie {pid} is in no container"));
            assert_eq!(c.init.pid, 1001, "zombie {pid}");
            assert!(c.processes.iter().any(|p| p.pid == pid && p.zombie));
            assert!(t
                .plain
                .iter()
                .all(|n| n.processes.iter().all(|p| p.pid != pid)));
        }
    }

    #[test]
    fn lone_container_and_two_pods_stay_apart() {
        let mut ps = default_pod(1000);
        ps.extend(default_pod(2000));
        ps.push(proc(
            3000,
            1,
            1,
            "sleep",
            &format!("/libpod_parent/libpod-{}", cid(3000)),
            &[
                (NsType::Mnt, 30001),
                (NsType::Pid, 30002),
                (NsType::Net, 30003),
                (NsType::Ipc, 30004),
                (NsType::Uts, 30005),
            ],
        ));
        let t = build(&model(ps));
        assert_eq!(t.pods.len(), 2);
        assert!(t.pods.iter().all(|p| p.containers.len() == 3));
        assert_eq!(t.lone.len(), 1);
        assert_eq!(t.lone[0].id, cid(3000));
    }

    #[test]
    fn node_processes_and_plain_namespaces_are_not_pods() {
        let mut m = model(vec![
            proc(1, 0, 1, "init", "/init.scope", &[]),
            proc(50, 1, 50, "bash", "/user.slice", &[]),
            // unshare --net on the node: a plain namespace, not a container.
            proc(51, 50, 51, "sleep", "/user.slice", &[(NsType::Net, 900)]),
            // unshare --pid --fork without --mount-proc: pid ns sharing the node's mnt.
            proc(52, 50, 1, "sh", "/user.slice", &[(NsType::Pid, 910)]),
        ]);
        m.set_pinned(vec![
            Pinned {
                ns_type: NsType::Net,
                inode: 920,
                holder: "/run/netns/x".into(),
            },
            Pinned {
                ns_type: NsType::Net,
                inode: 105,
                holder: "/run/netns/node".into(),
            },
        ]);
        let t = build(&m);
        assert!(t.pods.is_empty() && t.lone.is_empty());
        assert_eq!(t.node_processes, 2);
        let net900 = t.plain.iter().find(|p| p.inode == 900).unwrap();
        assert_eq!(net900.ns_type, NsType::Net);
        assert_eq!(net900.processes[0].pid, 51);
        let pid910 = t.plain.iter().find(|p| p.inode == 910).unwrap();
        assert!(pid910.shares_node_mnt);
        let pinned = t.plain.iter().find(|p| p.inode == 920).unwrap();
        assert!(pinned.processes.is_empty());
        assert_eq!(pinned.pinned_by, ["/run/netns/x"]);
        assert!(
            !t.plain.iter().any(|p| p.inode == 105),
            "node namespaces are not plain"
        );
    }

    fn held(port: u16, addr: &str, pids: Vec<u32>) -> crate::model::net::Held {
        crate::model::net::Held {
            proto: Proto::Tcp,
            addr: addr.parse().unwrap(),
            port,
            inode: u64::from(port),
            listening: true,
            pids,
        }
    }

    fn facts(netns: u32, node: bool, listeners: Vec<crate::model::net::Held>) -> NetFacts {
        NetFacts {
            netns,
            read_ns: 1,
            node,
            lo_up: true,
            interfaces: vec![NetIf {
                name: "eth0".into(),
                index: 2,
                kind: "veth".into(),
                up: true,
                mac: None,
                addrs: vec![crate::model::net::IfAddr {
                    ip: "10.89.0.7".parse().unwrap(),
                    prefix: 24,
                }],
                peer: None,
                link: None,
            }],
            listeners,
            error: None,
            problems: vec![],
        }
    }

    #[test]
    fn a_pods_listeners_are_placed_in_its_containers() {
        let mut m = model(default_pod(1000));
        // net of pod 1000 is 10001; 1002 (sleep) is in the sh container 1001.
        m.set_net(facts(
            10001,
            false,
            vec![
                held(80, "::", vec![1002]),
                held(9090, "10.89.0.7", vec![1003]),
                held(7000, "127.0.0.1", vec![4242]),
            ],
        ));
        let t = build(&m);
        let n = t.pods[0].network.as_ref().expect("the pod's network");
        assert_eq!((n.netns, n.node_network, n.read), (10001, false, true));
        assert_eq!(n.main_ip(), Some("10.89.0.7".parse().unwrap()));
        let by_port = |p: u16| n.listeners.iter().find(|l| l.port == p).unwrap();
        let c = |p: u16| {
            by_port(p).owners[0]
                .container
                .as_ref()
                .map(|c| c.id.clone())
        };
        assert_eq!(c(80), Some(cid(1001)));
        assert_eq!(c(9090), Some(cid(1003)));
        assert_eq!(c(7000), None, "a holder outside the pod's containers");
        assert!(by_port(80).on_localhost && !by_port(9090).on_localhost);
        assert_eq!(by_port(80).owners[0].comm, "sleep");
    }

    #[test]
    fn a_host_network_pod_lists_only_its_own_listeners() {
        let cg = |c: u32| format!("/libpod_parent/{}/{}", cid(7), cid(c));
        let mut m = model(vec![
            proc(1, 0, 1, "init", "/init.scope", &[]),
            proc(
                70,
                1,
                1,
                "catatonit",
                &cg(70),
                &[
                    (NsType::Mnt, 701),
                    (NsType::Pid, 705),
                    (NsType::Ipc, 702),
                    (NsType::Uts, 703),
                ],
            ),
            proc(
                71,
                1,
                1,
                "httpd",
                &cg(71),
                &[
                    (NsType::Mnt, 711),
                    (NsType::Pid, 715),
                    (NsType::Ipc, 702),
                    (NsType::Uts, 703),
                ],
            ),
        ]);
        m.set_net(facts(
            NODE[5],
            true,
            vec![held(8080, "127.0.0.1", vec![71]), held(22, "::", vec![1])],
        ));
        let t = build(&m);
        let n = t.pods[0].network.as_ref().unwrap();
        assert!(t.pods[0].host_network && n.node_network);
        assert_eq!(n.listeners.len(), 1, "{:?}", n.listeners);
        assert_eq!(n.listeners[0].port, 8080);
        assert_eq!(
            n.listeners[0].owners[0].container.as_ref().unwrap().id,
            cid(71)
        );
        assert!(
            n.interfaces.is_empty(),
            "the node's wiring is not the pod's"
        );
    }

    #[test]
    fn unshare_mount_pid_on_node_is_a_lone_container_without_runtime_id() {
        let t = build(&model(vec![proc(
            60,
            1,
            1,
            "sh",
            "/user.slice",
            &[(NsType::Mnt, 600), (NsType::Pid, 601)],
        )]));
        assert_eq!(t.lone.len(), 1);
        assert_eq!(t.lone[0].id, "mnt-600");
        assert!(!t.lone[0].runtime_id);
    }

    #[test]
    fn a_stale_zombie_under_a_reused_mount_inode_does_not_name_the_new_container() {
        let cg = |c: u32| format!("/libpod_parent/{}/{}", cid(9), cid(c));
        let mut stale = proc(
            50,
            40,
            11,
            "sleep",
            &cg(1),
            &[(NsType::Mnt, 900), (NsType::Pid, 901)],
        );
        stale.zombie = true;
        let m = model(vec![
            stale,
            proc(
                60,
                1,
                1,
                "sh",
                &cg(2),
                &[(NsType::Mnt, 900), (NsType::Pid, 902)],
            ),
            proc(
                61,
                60,
                2,
                "sleep",
                &cg(2),
                &[(NsType::Mnt, 900), (NsType::Pid, 902)],
            ),
        ]);
        let t = build(&m);
        let c: Vec<&Container> = t.pods.iter().flat_map(|p| &p.containers).collect();
        assert_eq!(c.len(), 1, "{t:?}");
        assert_eq!(c[0].id, cid(2));
        assert_eq!(c[0].init.pid, 60);
        let pids: Vec<u32> = c[0].processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, [60, 61]);
    }
}
