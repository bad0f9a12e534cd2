//! The network source: reads the wiring and the listeners of the node's
//! network namespaces (through [`crate::netns`]) into the model's words
//! ([`NetFacts`]), and looks up who holds a port right after a bind lost over
//! it ([`PortHolders`]). This is I/O, like the /proc snapshot and the
//! runtime-name lookups: what it reads goes through the feed, into the model
//! and the record file, so a replay shows what the live run showed.
//!
//! What is read, and when:
//! * every network namespace that is not the node's and that a process is in
//!   or a bind mount (`/run/netns/NAME`) pins: interfaces, the veth peer on the
//!   node and its bridge, listeners with the processes holding them (only the
//!   processes of that namespace are looked at);
//! * the node's namespace only for what containers on the node network
//!   (hostNetwork) and Docker's userland proxies (docker-proxy, which holds a
//!   published port) hold: its listeners, kept when one of those processes
//!   holds them, and any listener on a port a Docker container publishes (its
//!   holder found among the node's processes: another process there is a clash);
//! * on each tick, only namespaces that are new, that saw a bind succeed, whose
//!   listener's holder exited, or whose last read is older than [`REREAD_AFTER`];
//! * after a bind failed with EADDRINUSE: every socket bound to that port, in any
//!   state, with its holders (the namespace's processes; for the node's, the
//!   container processes first, then every other, stopping once found).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use nstrace_common::{NsSet, NsType, EADDRINUSE};

use crate::event::Event;
use crate::model::net::{IfAddr, NetFacts, NetIf, NodeBridge, NodePeer, PortHolders, Proto};
use crate::model::{cgroup, Model, Pinned, Process};
use crate::netns::{self, LinkNetns, NetnsRef, NodeNet};
use crate::procfs;

/// A namespace read longer ago than this is read again at the next tick.
pub const REREAD_AFTER: Duration = Duration::from_secs(60);

/// What the reader needs to know of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetProc {
    /// Node pid.
    pub pid: u32,
    /// Its network namespace.
    pub net: u32,
    /// In a container (not the node's mount namespace, and a runtime id in its
    /// cgroup or its own PID namespace): on the node network, a hostNetwork one.
    pub in_container: bool,
    /// Exited, not reaped (holds no socket).
    pub zombie: bool,
    /// Docker's userland proxy: it holds published ports on the node.
    pub proxy: bool,
}

impl NetProc {
    /// The facts of `p` on a node whose namespaces are `node`.
    pub fn of(p: &Process, node: &NsSet) -> NetProc {
        let own_mnt = p.ns.mnt != 0 && p.ns.mnt != node.mnt;
        NetProc {
            pid: p.pid,
            net: p.ns.net,
            in_container: own_mnt
                && (p.ns.pid != node.pid || cgroup::parse(&p.cgroup).container.is_some()),
            zombie: p.zombie,
            proxy: crate::model::topology::is_docker_proxy(&p.comm, &p.exe),
        }
    }
}

/// One namespace to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Its inode.
    pub netns: u32,
    /// How to open it (`None`: the node's).
    pub reference: Option<NetnsRef>,
    /// The processes in it (for the node's: the container processes on it
    /// and Docker's proxies).
    pub pids: Vec<u32>,
    /// For the node's: the ports Docker containers publish (their listeners
    /// are kept whoever holds them).
    pub ports: Vec<(Proto, u16)>,
}

/// The namespaces to read: one per non-node network namespace a living
/// process is in (opened through its lowest pid) or a bind mount pins, and
/// the node's when container processes or Docker's proxies are on it, or a
/// Docker container publishes `ports`. Pure.
pub fn targets(
    procs: impl Iterator<Item = NetProc>,
    pins: &[Pinned],
    node_net: u32,
    ports: &[(Proto, u16)],
) -> Vec<Target> {
    let mut by_ns: std::collections::BTreeMap<u32, Target> = std::collections::BTreeMap::new();
    let node_target = || Target {
        netns: node_net,
        reference: None,
        pids: Vec::new(),
        ports: ports.to_vec(),
    };
    if !ports.is_empty() {
        by_ns.insert(node_net, node_target());
    }
    for p in procs {
        if p.zombie || p.net == 0 || (p.net == node_net && !p.in_container && !p.proxy) {
            continue;
        }
        let t = by_ns.entry(p.net).or_insert_with(|| Target {
            netns: p.net,
            reference: (p.net != node_net).then_some(NetnsRef::Pid(p.pid)),
            pids: Vec::new(),
            ports: Vec::new(),
        });
        t.pids.push(p.pid);
    }
    for pin in pins {
        if pin.ns_type == NsType::Net && pin.inode != node_net && pin.holder.starts_with('/') {
            by_ns.entry(pin.inode).or_insert_with(|| Target {
                netns: pin.inode,
                reference: Some(NetnsRef::Path(pin.holder.clone().into())),
                pids: Vec::new(),
                ports: Vec::new(),
            });
        }
    }
    for t in by_ns.values_mut() {
        t.pids.sort_unstable();
        if let (Some(NetnsRef::Pid(p)), Some(first)) = (&mut t.reference, t.pids.first()) {
            *p = *first;
        }
    }
    by_ns.into_values().collect()
}

/// The ports Docker containers of `m` publish on the node (the node's
/// listeners on them are read whoever holds them).
fn published_ports(m: &Model) -> Vec<(Proto, u16)> {
    let mut v: Vec<(Proto, u16)> = m
        .all_names()
        .filter_map(|(_, n)| n.docker())
        .flat_map(|d| d.ports.iter())
        .filter(|b| b.host_port != 0)
        .filter_map(|b| {
            let p = match b.proto.as_str() {
                "tcp" => Proto::Tcp,
                "udp" => Proto::Udp,
                _ => return None,
            };
            Some((p, b.host_port))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// What the network source did (for the counters line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetCounts {
    /// Namespaces read.
    pub reads: u64,
    /// Reads that failed (the namespace went away, refused…).
    pub failed: u64,
    /// Port-holder lookups after a refused bind.
    pub lookups: u64,
}

/// The last read of one namespace.
#[derive(Clone, Debug)]
struct LastRead {
    /// When (monotonic ns).
    at: u64,
    /// The processes in it then, sorted.
    pids: Vec<u32>,
    /// How it was opened.
    reference: Option<NetnsRef>,
}

impl LastRead {
    /// `t` as read at `at`.
    fn of(t: &Target, at: u64) -> LastRead {
        LastRead {
            at,
            pids: t.pids.clone(),
            reference: t.reference.clone(),
        }
    }

    /// Whether `t`, which has the inode read last time, is another namespace:
    /// the kernel hands a freed namespace's inode number to the next one made
    /// (a pod replacing a pod within a tick), so the inode alone does not say.
    /// None of the processes of the last read is still in it (a pod's infra
    /// lives as long as its network), or, for a namespace only a bind mount
    /// holds, another mount holds it.
    fn replaced_by(&self, t: &Target) -> bool {
        if t.pids.is_empty() && self.pids.is_empty() {
            return t.reference != self.reference;
        }
        !t.pids.is_empty()
            && !self.pids.is_empty()
            && !t.pids.iter().any(|p| self.pids.binary_search(p).is_ok())
    }
}

/// Reads network namespaces for the feed.
pub struct NetSource {
    node: NsSet,
    opened: Option<Result<NodeNet, String>>,
    /// Namespaces read: when, and who was in them.
    read_at: HashMap<u32, LastRead>,
    /// Namespaces to read again at the next tick(s): count of ticks.
    dirty: HashMap<u32, u8>,
    /// Listener holders, pid → the namespaces whose listeners it holds.
    holders: HashMap<u32, Vec<u32>>,
    /// What was done.
    pub counts: NetCounts,
}

/// How the node's network namespace is reached: PID 1's when it can be read
/// and is the node's, else nstrace's own when that is the node's (PID 1 is
/// refused on hardened hosts), else any node process's.
fn node_ref(node_net: u32, procs: &[NetProc]) -> Option<NetnsRef> {
    let is_node = |r: &NetnsRef| {
        std::fs::read_link(r.path())
            .ok()
            .and_then(|l| procfs::parse_ns_link(&l.to_string_lossy()))
            == Some(node_net)
    };
    [NetnsRef::Pid(1), NetnsRef::Path("/proc/self/ns/net".into())]
        .into_iter()
        .chain(
            procs
                .iter()
                .filter(|p| p.net == node_net && !p.zombie && p.pid != 1)
                .take(8)
                .map(|p| NetnsRef::Pid(p.pid)),
        )
        .find(is_node)
}

impl NetSource {
    /// A source for a node whose namespaces are `node`.
    pub fn new(node: NsSet) -> NetSource {
        NetSource {
            node,
            opened: None,
            read_at: HashMap::new(),
            dirty: HashMap::new(),
            holders: HashMap::new(),
            counts: NetCounts::default(),
        }
    }

    fn node_net(&mut self, procs: &[NetProc]) -> Result<&NodeNet, String> {
        if self.opened.is_none() {
            let node = self.node.net;
            let r = match node_ref(node, procs) {
                Some(r) => NodeNet::open(&r).map_err(|e| crate::error::chain(&e)),
                None => Err(format!(
                    "the node's network namespace (net {node}) cannot be opened"
                )),
            };
            self.opened = Some(r);
        }
        match self.opened.as_ref() {
            Some(Ok(n)) => Ok(n),
            Some(Err(e)) => Err(e.clone()),
            None => Err("not opened".into()),
        }
    }

    /// Reads every namespace of `procs` and `pins` now.
    pub fn read_all(&mut self, procs: &[NetProc], pins: &[Pinned]) -> Vec<NetFacts> {
        let t = targets(procs.iter().copied(), pins, self.node.net, &[]);
        self.read(t, procs)
    }

    /// Reads what changed since the last time (see the module notes): new
    /// namespaces, dirty ones, and those read longer ago than [`REREAD_AFTER`].
    pub fn refresh(&mut self, m: &Model) -> Vec<NetFacts> {
        let procs: Vec<NetProc> = m.processes().map(|p| NetProc::of(p, &m.node)).collect();
        let all = targets(
            procs.iter().copied(),
            &m.pinned,
            self.node.net,
            &published_ports(m),
        );
        let due = self.due(all, procfs::monotonic_ns());
        if due.is_empty() {
            return Vec::new();
        }
        self.read(due, &procs)
    }

    /// Of every namespace there is now, those to read at this tick: never
    /// read, a new namespace under a reused inode, dirty, or stale. Forgets
    /// the namespaces that are gone and counts a tick off the dirty ones.
    fn due(&mut self, all: Vec<Target>, now: u64) -> Vec<Target> {
        let live: HashSet<u32> = all.iter().map(|t| t.netns).collect();
        self.read_at.retain(|ns, _| live.contains(ns));
        self.dirty.retain(|ns, _| live.contains(ns));
        let stale = REREAD_AFTER.as_nanos() as u64;
        let due = all
            .into_iter()
            .filter(|t| match self.read_at.get(&t.netns) {
                None => true,
                Some(last) => {
                    last.replaced_by(t)
                        || self.dirty.contains_key(&t.netns)
                        || now.saturating_sub(last.at) >= stale
                }
            })
            .collect();
        for n in self.dirty.values_mut() {
            *n = n.saturating_sub(1);
        }
        self.dirty.retain(|_, n| *n > 0);
        due
    }

    /// Notes what an event changes for the next refresh: a successful bind
    /// (read its namespace at the next two ticks: a listen(2) may follow),
    /// the exit of a process that held a listener.
    pub fn on_event(&mut self, ev: &Event) {
        match ev {
            Event::Bind(b) if b.ret == 0 => {
                self.dirty.insert(b.hdr.ns.net, 2);
            }
            Event::Exit(e) if e.group_dead != 0 => {
                if let Some(nss) = self.holders.remove(&e.hdr.tgid) {
                    for ns in nss {
                        self.dirty.entry(ns).or_insert(1);
                    }
                }
            }
            _ => {}
        }
    }

    fn read(&mut self, targets: Vec<Target>, procs: &[NetProc]) -> Vec<NetFacts> {
        let node_net = self.node.net;
        let node = match self.node_net(procs) {
            Ok(n) => n,
            Err(e) => {
                self.counts.failed += targets.len() as u64;
                let now = procfs::monotonic_ns();
                return targets
                    .into_iter()
                    .map(|t| failed(t.netns, t.netns == node_net, now, e.clone()))
                    .collect();
            }
        };
        let (pods, on_node): (Vec<&Target>, Vec<&Target>) =
            targets.iter().partition(|t| t.reference.is_some());
        let refs: Vec<NetnsRef> = pods.iter().filter_map(|t| t.reference.clone()).collect();
        let results = netns::read_netns_many(&refs, node);
        let now = procfs::monotonic_ns();
        let mut out = Vec::with_capacity(pods.len() + 1);
        let mut counts = NetCounts::default();
        for (t, r) in pods.iter().zip(results) {
            counts.reads += 1;
            match r {
                Ok(mut w) if w.netns.inode == u64::from(t.netns) => {
                    w.attach_owners(&t.pids);
                    out.push(facts_of(&w, t.netns, now));
                }
                // The pid now names another namespace (it moved, or was reused).
                Ok(_) => counts.failed += 1,
                Err(e) => {
                    counts.failed += 1;
                    out.push(failed(t.netns, false, now, crate::error::chain(&e)));
                }
            }
        }
        for t in on_node {
            counts.reads += 1;
            out.push(match netns::read_node_listeners(node) {
                Ok((listeners, problems)) => {
                    let inodes: HashSet<u64> = listeners.iter().map(|l| l.inode).collect();
                    let mut scan = netns::socket_owners(&inodes, &t.pids);
                    // A published port's listener no proxy holds: its holder
                    // among every node process (a clash, or a proxy not seen).
                    let published: HashSet<u64> = listeners
                        .iter()
                        .filter(|l| !scan.owners.contains_key(&l.inode))
                        .filter(|l| t.ports.contains(&(held(l, true, Vec::new()).proto, l.port)))
                        .map(|l| l.inode)
                        .collect();
                    if !published.is_empty() {
                        let node_pids: Vec<u32> = procs
                            .iter()
                            .filter(|p| p.net == node_net && !p.zombie)
                            .map(|p| p.pid)
                            .collect();
                        let more = netns::socket_owners_until_found(&published, &node_pids);
                        scan.owners.extend(more.owners);
                    }
                    NetFacts {
                        netns: t.netns,
                        read_ns: now,
                        node: true,
                        lo_up: false,
                        interfaces: Vec::new(),
                        listeners: listeners
                            .iter()
                            .filter_map(|l| {
                                let pids = scan.owners.get(&l.inode)?;
                                Some(held(l, true, pids.clone()))
                            })
                            .collect(),
                        error: None,
                        problems: problems.iter().map(|p| p.kind().to_owned()).collect(),
                    }
                }
                Err(e) => {
                    counts.failed += 1;
                    failed(t.netns, true, now, crate::error::chain(&e))
                }
            });
        }
        self.counts.reads += counts.reads;
        self.counts.failed += counts.failed;
        let by_ns: HashMap<u32, &Target> = targets.iter().map(|t| (t.netns, t)).collect();
        for f in &out {
            if let Some(t) = by_ns.get(&f.netns) {
                self.read_at.insert(f.netns, LastRead::of(t, now));
            }
            for l in &f.listeners {
                for pid in &l.pids {
                    let v = self.holders.entry(*pid).or_default();
                    if !v.contains(&f.netns) {
                        v.push(f.netns);
                    }
                }
            }
        }
        out
    }

    /// Who holds `port` of `ev`'s namespace, right after `ev`, a bind refused
    /// with EADDRINUSE; `None` for any other event.
    pub fn holders_after(&mut self, ev: &Event, m: &Model) -> Option<PortHolders> {
        let Event::Bind(b) = ev else {
            return None;
        };
        if b.ret != -EADDRINUSE || b.port == 0 {
            return None;
        }
        let proto = Proto::of_socket(b.sock_type, b.protocol)?;
        let netns = b.hdr.ns.net;
        self.counts.lookups += 1;
        let procs: Vec<NetProc> = m.processes().map(|p| NetProc::of(p, &m.node)).collect();
        let node_net = self.node.net;
        let on_node = netns == node_net;
        // Candidates: the namespace's processes; on the node, container
        // processes first (another hostNetwork pod), then the rest.
        let mut candidates: Vec<u32> = procs
            .iter()
            .filter(|p| p.net == netns && !p.zombie && p.pid != b.hdr.tgid)
            .map(|p| p.pid)
            .collect();
        if on_node {
            let inside: HashSet<u32> = procs
                .iter()
                .filter(|p| p.in_container)
                .map(|p| p.pid)
                .collect();
            candidates.sort_by_key(|p| (!inside.contains(p), std::cmp::Reverse(*p)));
        }
        let reference = if on_node {
            None
        } else {
            let pinned = m
                .pinned
                .iter()
                .find(|p| p.ns_type == NsType::Net && p.inode == netns && p.holder.starts_with('/'))
                .map(|p| NetnsRef::Path(p.holder.clone().into()));
            // The loser itself last: it often exits right after failing.
            Some(
                candidates
                    .first()
                    .map(|p| NetnsRef::Pid(*p))
                    .or(pinned)
                    .unwrap_or(NetnsRef::Pid(b.hdr.tgid)),
            )
        };
        let now = || procfs::monotonic_ns();
        let lookup = match self.node_net(&procs) {
            Ok(node) => netns::read_port(reference.as_ref(), node, netns_proto(proto), b.port)
                .map_err(|e| crate::error::chain(&e)),
            Err(e) => Err(e),
        };
        let found = match lookup {
            Ok(v) => v,
            Err(e) => {
                self.counts.failed += 1;
                return Some(PortHolders {
                    netns,
                    proto,
                    port: b.port,
                    read_ns: now(),
                    holders: Vec::new(),
                    error: Some(e),
                });
            }
        };
        let inodes: HashSet<u64> = found.iter().map(|(l, _)| l.inode).collect();
        let scan = netns::socket_owners_until_found(&inodes, &candidates);
        Some(PortHolders {
            netns,
            proto,
            port: b.port,
            read_ns: now(),
            holders: found
                .iter()
                .map(|(l, listening)| {
                    held(
                        l,
                        *listening,
                        scan.owners.get(&l.inode).cloned().unwrap_or_default(),
                    )
                })
                .collect(),
            error: None,
        })
    }
}

fn failed(netns: u32, node: bool, now: u64, error: String) -> NetFacts {
    NetFacts {
        netns,
        read_ns: now,
        node,
        lo_up: false,
        interfaces: Vec::new(),
        listeners: Vec::new(),
        error: Some(error),
        problems: Vec::new(),
    }
}

fn netns_proto(p: Proto) -> netns::Proto {
    match p {
        Proto::Tcp => netns::Proto::Tcp,
        Proto::Udp => netns::Proto::Udp,
    }
}

fn held(l: &netns::Listener, listening: bool, pids: Vec<u32>) -> crate::model::net::Held {
    crate::model::net::Held {
        proto: match l.proto {
            netns::Proto::Tcp => Proto::Tcp,
            netns::Proto::Udp => Proto::Udp,
        },
        addr: l.addr,
        port: l.port,
        inode: l.inode,
        listening,
        pids,
    }
}

fn addrs(v: &[netns::Addr]) -> Vec<IfAddr> {
    v.iter()
        .map(|a| IfAddr {
            ip: a.ip,
            prefix: a.prefix,
        })
        .collect()
}

/// The model's words for one read of a namespace.
pub fn facts_of(w: &netns::NetnsWiring, netns: u32, read_ns: u64) -> NetFacts {
    NetFacts {
        netns,
        read_ns,
        node: false,
        lo_up: w.lo_up,
        interfaces: w
            .interfaces
            .iter()
            .map(|i| NetIf {
                name: i.name.clone(),
                index: i.index,
                kind: i.kind.as_str().to_owned(),
                up: i.up,
                mac: i.mac.map(|m| m.to_string()),
                addrs: addrs(&i.addrs),
                peer: i.peer.as_ref().map(|p| NodePeer {
                    ifname: p.node_ifname.clone(),
                    ifindex: p.node_ifindex,
                    up: p.node_up,
                    bridge: p.bridge.as_ref().map(|b| NodeBridge {
                        name: b.name.clone(),
                        index: b.index,
                        kind: b.kind.as_str().to_owned(),
                        up: b.up,
                        addrs: addrs(&b.addrs),
                    }),
                }),
                link: match (&i.peer, i.link) {
                    (Some(_), _) | (None, None) => None,
                    (None, Some(l)) => Some(match l.netns {
                        LinkNetns::Same => format!("ifindex {} in this namespace", l.ifindex),
                        LinkNetns::Node => format!("ifindex {} on the node", l.ifindex),
                        LinkNetns::Other { nsid } => {
                            format!("ifindex {} in another namespace (nsid {nsid})", l.ifindex)
                        }
                    }),
                },
            })
            .collect(),
        listeners: w
            .listeners
            .iter()
            .map(|l| held(l, true, l.owners.clone()))
            .collect(),
        error: None,
        problems: w.problems.iter().map(|p| p.kind().to_owned()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_pod_namespaces_pins_and_the_node_only_for_containers() {
        let p = |pid, net, in_container, zombie| NetProc {
            pid,
            net,
            in_container,
            zombie,
            proxy: false,
        };
        let procs = vec![
            p(10, 1, false, false), // a node process
            p(20, 500, true, false),
            p(21, 500, true, false),
            p(19, 500, true, true), // a zombie holds nothing
            p(30, 1, true, false),  // hostNetwork container
            p(40, 600, false, false),
        ];
        let pins = vec![
            Pinned {
                ns_type: NsType::Net,
                inode: 700,
                holder: "/run/netns/blue".into(),
            },
            Pinned {
                ns_type: NsType::Net,
                inode: 800,
                holder: "fd of pid 9".into(),
            },
            Pinned {
                ns_type: NsType::Net,
                inode: 500,
                holder: "/run/netns/cni-x".into(),
            },
        ];
        let t = targets(procs.clone().into_iter(), &pins, 1, &[]);
        let got: Vec<(u32, Option<NetnsRef>, Vec<u32>)> = t
            .into_iter()
            .map(|t| (t.netns, t.reference, t.pids))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, None, vec![30]),
                (500, Some(NetnsRef::Pid(20)), vec![20, 21]),
                (600, Some(NetnsRef::Pid(40)), vec![40]),
                (700, Some(NetnsRef::Path("/run/netns/blue".into())), vec![]),
            ]
        );
        // Docker's proxies on the node, and published ports: the node's
        // namespace is read for them even with no container on it.
        let mut docker = vec![p(10, 1, false, false), p(50, 1, false, false)];
        docker[1].proxy = true;
        let t = targets(docker.clone().into_iter(), &[], 1, &[]);
        assert_eq!((t.len(), t[0].netns, t[0].pids.clone()), (1, 1, vec![50]));
        let t = targets(docker[..1].iter().copied(), &[], 1, &[(Proto::Tcp, 8088)]);
        assert_eq!(
            (t[0].netns, t[0].pids.len(), t[0].ports.clone()),
            (1, 0, vec![(Proto::Tcp, 8088)])
        );
    }

    /// A target of namespace `netns` holding `pids` (opened through the first).
    fn target(netns: u32, pids: &[u32]) -> Target {
        Target {
            netns,
            reference: pids.first().map(|p| NetnsRef::Pid(*p)),
            pids: pids.to_vec(),
            ports: Vec::new(),
        }
    }

    /// Marks `t` as read at `at`, as `read` does.
    fn read_now(src: &mut NetSource, t: &Target, at: u64) {
        src.read_at.insert(t.netns, LastRead::of(t, at));
    }

    #[test]
    fn a_namespace_is_read_again_when_new_stale_dirty_or_another_under_its_inode() {
        let mut src = NetSource::new(NsSet::default());
        let a = target(500, &[20, 21]);
        let pin = Target {
            netns: 700,
            reference: Some(NetnsRef::Path("/run/netns/blue".into())),
            pids: Vec::new(),
            ports: Vec::new(),
        };
        let netns = |v: Vec<Target>| v.iter().map(|t| t.netns).collect::<Vec<_>>();
        assert_eq!(netns(src.due(vec![a.clone(), pin.clone()], 0)), [500, 700]);
        read_now(&mut src, &a, 0);
        read_now(&mut src, &pin, 0);

        // Same processes (one more): nothing to read.
        assert!(src
            .due(vec![target(500, &[20, 21, 22]), pin.clone()], 1)
            .is_empty());
        // The pod's infra (20) stays while its app restarts: same namespace.
        assert!(src.due(vec![target(500, &[20, 35])], 2).is_empty());
        // Pod gone and another pod's namespace got its inode before a tick saw
        // it gone: none of the processes read are in it.
        assert_eq!(netns(src.due(vec![target(500, &[40, 41])], 3)), [500]);
        // Another bind mount holding a namespace under the pin's inode.
        let other_pin = Target {
            reference: Some(NetnsRef::Path("/run/netns/green".into())),
            ..pin.clone()
        };
        assert_eq!(netns(src.due(vec![other_pin], 4)), [700]);

        // Stale after REREAD_AFTER; dirty (a bind) for two ticks.
        read_now(&mut src, &a, 10);
        let later = 10 + REREAD_AFTER.as_nanos() as u64;
        assert!(src.due(vec![a.clone()], later - 1).is_empty());
        assert_eq!(netns(src.due(vec![a.clone()], later)), [500]);
        read_now(&mut src, &a, later);
        src.dirty.insert(500, 2);
        assert_eq!(netns(src.due(vec![a.clone()], later + 1)), [500]);
        assert_eq!(netns(src.due(vec![a.clone()], later + 2)), [500]);
        assert!(src.due(vec![a.clone()], later + 3).is_empty());

        // Gone at a tick: forgotten, so the next namespace under 500 is new.
        assert!(src.due(Vec::new(), later + 4).is_empty());
        assert_eq!(netns(src.due(vec![a], later + 5)), [500]);
    }
}
