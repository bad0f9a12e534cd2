//! Port clashes: a bind refused with EADDRINUSE, and who holds the port.
//!
//! Every container of a pod shares one network namespace, so one port space:
//! two containers that bind the same port make one of them fail (and usually
//! crash-loop), and the scheduler never checks. A refused bind of a process
//! in a container is matched with the socket that holds the port in the same
//! namespace, found in one of two places:
//! * who held the port right after the refusal, as the session looked it up
//!   (the model's [`PortHolders`]; recorded, so a replay agrees): this finds
//!   holders that bound before tracing started, and holders on the node;
//! * the successful binds seen in the trace (the kernel streams those of
//!   processes outside the node's namespaces): they say *when* the holder bound.
//!
//! Severity: medium when the holder is another container (of the same pod, or
//! on the node network) or a node process and the loser's pod is on the node
//! network (hostNetwork); info when the holder is in the loser's own container
//! (a restart racing its predecessor) or was not found. A node process that
//! loses is not a pod's problem and gives nothing, except Docker's: its
//! userland proxy (docker-proxy) binds a container's published port on the
//! node (`docker run -p`), and dockerd binds it itself to reserve it when the
//! proxy is off; their refusal is that container's port clash (the container
//! then fails to start: medium). One finding per clash:
//! the losing container (or process, outside one), the holding process, the
//! transport and the port; a crash-looping container that keeps losing to
//! the same holder is reported once, and again if the holder changes.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use nstrace_common::{BindEvent, EADDRINUSE};

use super::{Evidence, Finding, FindingKind, Severity};
use crate::event::names::bind_ip;
use crate::event::{cstr, Event};
use crate::model::net::{overlaps, PortHolders, Proto};
use crate::model::{Model, Place};

/// Successful binds remembered per port (SO_REUSEPORT lets several hold one).
const KEEP_PER_PORT: usize = 16;

/// Clashes remembered as reported before the memory is cleared (a bound).
const KEEP_REPORTED: usize = 4096;

/// What makes two refusals the same clash: who lost (container id, or
/// `pid N` outside one), who holds (pid, 0 when unknown), transport, port.
type ClashKey = (String, u32, Proto, u16);

/// A successful bind seen in the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Bound {
    pid: u32,
    addr: IpAddr,
    ts_ns: u64,
}

/// One side of a clash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    /// Node pid.
    pub pid: u32,
    /// Its command.
    pub comm: String,
    /// Where it lives.
    pub place: Place,
    /// The address it bound or asked for.
    pub addr: IpAddr,
}

/// How the holder stands to the process that lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// Another container of the same pod (one network namespace).
    SiblingContainer,
    /// The same container (a restart racing its predecessor, or a second bind).
    SameContainer,
    /// A process of the node, and the loser's pod is on the node network.
    Node,
    /// A container of another pod, both on the node network.
    OtherPod,
    /// The holder was not found.
    Unknown,
}

impl Relation {
    /// Stable name for JSON.
    pub fn name(self) -> &'static str {
        match self {
            Relation::SiblingContainer => "sibling_container",
            Relation::SameContainer => "same_container",
            Relation::Node => "node",
            Relation::OtherPod => "other_pod",
            Relation::Unknown => "unknown",
        }
    }
}

/// The facts of a port clash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConflict {
    /// TCP or UDP.
    pub proto: Proto,
    /// The port.
    pub port: u16,
    /// The network namespace (one port space).
    pub netns: u32,
    /// It is the node's (the loser's pod is hostNetwork).
    pub node_network: bool,
    /// The process whose bind was refused.
    pub loser: Party,
    /// The process holding the port: it was there first.
    pub holder: Option<Party>,
    /// When the holder's bind was seen; `None` when it bound before tracing
    /// started (or its bind was not streamed: a node process).
    pub holder_bound_ns: Option<u64>,
    /// The holder was found by a lookup right after the refusal (else from
    /// the binds seen).
    pub looked_up: bool,
    /// How the two stand.
    pub relation: Relation,
    /// When the bind was refused (monotonic ns).
    pub refused_ns: u64,
    /// The loser is Docker publishing a container's port on the node
    /// (`docker run -p`): its userland proxy, or dockerd reserving the port.
    pub published: bool,
}

/// The port-clash detector.
#[derive(Debug, Default)]
pub struct Ports {
    bound: HashMap<(u32, Proto, u16), Vec<Bound>>,
    by_pid: HashMap<u32, HashSet<(u32, Proto, u16)>>,
    reported: HashSet<ClashKey>,
}

impl Ports {
    /// A detector with nothing seen.
    pub fn new() -> Ports {
        Ports::default()
    }

    /// Number of successful binds remembered (bounded by live processes).
    pub fn remembered(&self) -> usize {
        self.bound.values().map(Vec::len).sum()
    }

    /// Sees an event with the model after it.
    pub fn on_event(&mut self, ev: &Event, m: &Model) -> Vec<Finding> {
        match ev {
            Event::Bind(b) if b.ret == 0 => {
                self.bound_ok(b);
                Vec::new()
            }
            Event::Bind(b) if b.ret == -EADDRINUSE => self.refused(b, m).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn bound_ok(&mut self, b: &BindEvent) {
        let Some(proto) = Proto::of_socket(b.sock_type, b.protocol) else {
            return;
        };
        let key = (b.hdr.ns.net, proto, b.port);
        let entry = Bound {
            pid: b.hdr.tgid,
            addr: bind_ip(b),
            ts_ns: b.hdr.ts_ns,
        };
        let v = self.bound.entry(key).or_default();
        v.retain(|x| !(x.pid == entry.pid && x.addr == entry.addr));
        if v.len() >= KEEP_PER_PORT {
            v.remove(0);
        }
        v.push(entry);
        self.by_pid.entry(b.hdr.tgid).or_default().insert(key);
    }

    /// Forgets a process that is gone.
    /// Forgets what is known of process `pid` (gone).
    pub fn forget(&mut self, pid: u32) {
        if let Some(keys) = self.by_pid.remove(&pid) {
            for k in keys {
                if let Some(v) = self.bound.get_mut(&k) {
                    v.retain(|x| x.pid != pid);
                    if v.is_empty() {
                        self.bound.remove(&k);
                    }
                }
            }
        }
        let tag = format!("pid {pid}");
        self.reported
            .retain(|(loser, holder, _, _)| *holder != pid && *loser != tag);
    }

    fn party(m: &Model, pid: u32, addr: IpAddr) -> Party {
        let (comm, pid_ns) = m
            .get(pid)
            .map(|p| (p.comm.clone(), p.ns.pid))
            .unwrap_or_default();
        Party {
            pid,
            comm,
            place: m.place_of_process(pid, pid_ns),
            addr,
        }
    }

    fn refused(&mut self, b: &BindEvent, m: &Model) -> Option<Finding> {
        let proto = Proto::of_socket(b.sock_type, b.protocol)?;
        if b.port == 0 {
            // No ephemeral port left: not a clash over a port anyone asked for.
            return None;
        }
        let h = &b.hdr;
        let loser_place = m.place_of_process(h.tgid, h.ns.pid);
        let comm = cstr(&h.comm);
        let published = !loser_place.in_container()
            && (crate::model::topology::is_docker_proxy(&comm, "")
                || m.get(h.tgid)
                    .is_some_and(|p| crate::model::topology::is_docker_proxy(&p.comm, &p.exe)));
        if !loser_place.in_container() && !published {
            return None;
        }
        let asked = bind_ip(b);
        let netns = h.ns.net;
        let seen = self.bound.get(&(netns, proto, b.port));
        let alive = |pid: u32| m.get(pid).is_some_and(|p| !p.zombie);
        let bound_at = |pid: u32| {
            seen.and_then(|v| v.iter().find(|x| x.pid == pid))
                .map(|x| x.ts_ns)
        };
        // 1. Who held the port right after the refusal.
        let looked: Option<(u32, IpAddr)> = m
            .port_holders(netns, proto, b.port)
            .filter(|ph| ph.read_ns >= h.ts_ns)
            .and_then(|ph| first_holder(ph, h.tgid, asked));
        // 2. Else the earliest bind seen that still stands.
        let from_binds = || {
            seen.and_then(|v| {
                v.iter()
                    .filter(|x| x.pid != h.tgid && alive(x.pid) && overlaps(x.addr, asked))
                    .min_by_key(|x| x.ts_ns)
                    .map(|x| (x.pid, x.addr))
            })
        };
        let (holder, looked_up) = match looked {
            Some(x) => (Some(x), true),
            None => (from_binds(), false),
        };
        let loser = Party {
            pid: h.tgid,
            comm: cstr(&h.comm).into_owned(),
            place: loser_place,
            addr: asked,
        };
        let key: ClashKey = (
            loser
                .place
                .container()
                .map_or_else(|| format!("pid {}", h.tgid), str::to_owned),
            holder.map_or(0, |(pid, _)| pid),
            proto,
            b.port,
        );
        if self.reported.contains(&key) {
            return None;
        }
        if self.reported.len() >= KEEP_REPORTED {
            self.reported.clear();
        }
        self.reported.insert(key);
        let holder = holder.map(|(pid, addr)| Self::party(m, pid, addr));
        let node_network = netns == m.node.net;
        let relation = match &holder {
            None => Relation::Unknown,
            Some(hp) if hp.place.ctr().is_some() && hp.place.ctr() == loser.place.ctr() => {
                Relation::SameContainer
            }
            Some(hp) if !hp.place.in_container() => Relation::Node,
            Some(hp)
                if hp.place.pod_ref().is_some() && hp.place.pod_ref() == loser.place.pod_ref() =>
            {
                Relation::SiblingContainer
            }
            Some(_) => Relation::OtherPod,
        };
        let severity = match relation {
            Relation::SiblingContainer | Relation::OtherPod => Severity::Medium,
            Relation::Node if node_network => Severity::Medium,
            _ => Severity::Info,
        };
        let holder_bound_ns = holder.as_ref().and_then(|hp| bound_at(hp.pid));
        Some(Finding {
            kind: FindingKind::PortConflict,
            severity,
            ts_ns: h.ts_ns,
            pid: h.tgid,
            comm: loser.comm.clone(),
            pid_ns: h.ns.pid,
            evidence: Evidence::PortConflict(Box::new(PortConflict {
                proto,
                port: b.port,
                netns,
                node_network,
                loser,
                holder,
                holder_bound_ns,
                looked_up,
                relation,
                refused_ns: h.ts_ns,
                published,
            })),
        })
    }
}

/// The holder a lookup found for a bind to `asked` refused to `loser`: a
/// socket on an overlapping address held by another process, listeners first.
fn first_holder(ph: &PortHolders, loser: u32, asked: IpAddr) -> Option<(u32, IpAddr)> {
    let mut held: Vec<_> = ph
        .holders
        .iter()
        .filter(|x| overlaps(x.addr, asked))
        .filter_map(|x| {
            let pid = x.pids.iter().copied().find(|p| *p != loser)?;
            Some((!x.listening, pid, x.addr))
        })
        .collect();
    held.sort();
    held.first().map(|(_, pid, addr)| (*pid, *addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::net::Held;
    use crate::model::testutil::{cid, exit, fork, hdr, node, ns_with, reap};
    use crate::model::Process;
    use nstrace_common::{Kind, NsSet, NsType, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_STREAM};

    const POD_NET: u32 = 5000;

    /// Namespaces of a process of container `c` in pod `pod` (net `net`).
    fn ns(c: u32, net: u32) -> NsSet {
        ns_with(&[
            (NsType::Mnt, 10_000 + c),
            (NsType::Pid, 20_000 + c),
            (NsType::Net, net),
        ])
    }

    /// A pod `web` with an infra (900) and containers `web` (901) and
    /// `sidecar` (902), each with its init; all on net `net`.
    fn model(net: u32) -> Model {
        let mut m = Model::new(node(), "node");
        let cg = |c: u32| format!("/libpod_parent/{}/{}", cid(7), cid(c));
        for (pid, comm) in [(900, "catatonit"), (901, "httpd"), (902, "httpd")] {
            m.add_snapshot(Process {
                pid,
                ppid: 1,
                ns_pid: 1,
                comm: comm.into(),
                cgroup: cg(pid),
                ns: ns(pid, net),
                hostname: Some("web".into()),
                ..Process::default()
            });
        }
        for (id, name) in [(901, "web"), (902, "sidecar")] {
            m.set_names(
                &cid(id),
                crate::model::ContainerNames {
                    runtime: crate::runtime::Runtime::Podman,
                    container: Some(name.into()),
                    pod: Some("web".into()),
                    namespace: None,
                    pod_uid: None,
                    pod_id: None,
                    sandbox: false,
                    sandbox_id: None,
                    grace_period_s: None,
                    docker: None,
                },
            );
        }
        m
    }

    fn bind(pid: u32, ts: u64, n: NsSet, ret: i32, stream: bool, port: u16) -> Event {
        let mut h = hdr(Kind::Bind, pid, 1, ts, n, "httpd");
        h.ns_tgid = 1;
        Event::Bind(BindEvent {
            hdr: h,
            ret,
            fd: 3,
            family: nstrace_common::AF_INET6,
            port,
            sock_type: if stream { SOCK_STREAM } else { SOCK_DGRAM },
            protocol: if stream { IPPROTO_TCP } else { IPPROTO_UDP },
            addr: [0; 16],
        })
    }

    fn conflict(f: &Finding) -> &PortConflict {
        match &f.evidence {
            Evidence::PortConflict(c) => c,
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn a_sibling_holding_the_port_is_medium_and_named() {
        let m = model(POD_NET);
        let mut p = Ports::new();
        assert!(p
            .on_event(&bind(901, 1_000, ns(901, POD_NET), 0, true, 8080), &m)
            .is_empty());
        let f = p.on_event(&bind(902, 3_000, ns(902, POD_NET), -98, true, 8080), &m);
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert_eq!(
            (f.kind, f.severity),
            (FindingKind::PortConflict, Severity::Medium)
        );
        assert_eq!(f.pid, 902);
        let c = conflict(f);
        assert_eq!((c.proto, c.port, c.netns), (Proto::Tcp, 8080, POD_NET));
        assert_eq!(c.relation, Relation::SiblingContainer);
        assert_eq!(c.loser.place.container_name(), Some("sidecar"));
        let h = c.holder.as_ref().unwrap();
        assert_eq!((h.pid, h.place.container_name()), (901, Some("web")));
        assert_eq!(h.place.pod(), Some("web"));
        assert_eq!(c.holder_bound_ns, Some(1_000), "web was first, at t=1000");
        assert!(!c.looked_up);
        // A retry, even by a restarted process of the same container, losing
        // to the same holder is the same clash: reported once.
        assert!(p
            .on_event(&bind(902, 3_500, ns(902, POD_NET), -98, true, 8080), &m)
            .is_empty());
        let mut m2 = m.clone();
        m2.apply(&fork(905, 902, 3_550, ns(902, POD_NET), "httpd"));
        assert!(p
            .on_event(&bind(905, 3_600, ns(902, POD_NET), -98, true, 8080), &m2)
            .is_empty());
        // UDP on the same port is another port space: no holder found there.
        let u = p.on_event(&bind(902, 3_600, ns(902, POD_NET), -98, false, 8080), &m);
        assert_eq!(u[0].severity, Severity::Info);
        assert_eq!(conflict(&u[0]).relation, Relation::Unknown);
    }

    #[test]
    fn a_lookup_finds_a_holder_that_bound_before_tracing() {
        let mut m = model(POD_NET);
        m.set_port_holders(PortHolders {
            netns: POD_NET,
            proto: Proto::Tcp,
            port: 8080,
            read_ns: 3_100,
            holders: vec![Held {
                proto: Proto::Tcp,
                addr: "::".parse().unwrap(),
                port: 8080,
                inode: 77,
                listening: true,
                pids: vec![901],
            }],
            error: None,
        });
        let mut p = Ports::new();
        let f = p.on_event(&bind(902, 3_000, ns(902, POD_NET), -98, true, 8080), &m);
        let c = conflict(&f[0]);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(c.looked_up);
        assert_eq!(c.holder.as_ref().unwrap().pid, 901);
        assert_eq!(c.holder_bound_ns, None, "bound before tracing started");
        // A lookup older than the refusal is not trusted.
        let mut p = Ports::new();
        let f = p.on_event(&bind(902, 4_000, ns(902, POD_NET), -98, true, 8080), &m);
        assert_eq!(conflict(&f[0]).relation, Relation::Unknown);
    }

    #[test]
    fn the_same_container_is_info_and_a_gone_holder_is_forgotten() {
        let mut m = model(POD_NET);
        // A second process in the web container (pid 903) loses to 901.
        m.apply(&fork(903, 901, 500, ns(901, POD_NET), "httpd"));
        let mut p = Ports::new();
        p.on_event(&bind(901, 1_000, ns(901, POD_NET), 0, true, 80), &m);
        let f = p.on_event(&bind(903, 2_000, ns(901, POD_NET), -98, true, 80), &m);
        assert_eq!(f[0].severity, Severity::Info);
        assert_eq!(conflict(&f[0]).relation, Relation::SameContainer);
        // The holder exits and is reaped: its bind is forgotten.
        m.apply(&exit(901, 3_000, 0));
        let released = m.releases(&reap(901, 3_100));
        assert_eq!(released[0].pid, 901);
        for r in &released {
            p.forget(r.pid);
        }
        m.release(&released);
        assert_eq!(p.remembered(), 0);
        let f = p.on_event(&bind(902, 4_000, ns(902, POD_NET), -98, true, 80), &m);
        assert_eq!(conflict(&f[0]).relation, Relation::Unknown);
    }

    #[test]
    fn docker_proxy_losing_a_published_port_is_medium_and_other_node_losers_give_nothing() {
        let mut m = model(POD_NET);
        for (pid, comm, exe) in [
            (50, "nginx", "/usr/sbin/nginx"),
            (60, "docker-proxy", "/usr/sbin/docker-proxy"),
            (61, "python3", "/usr/bin/python3"),
        ] {
            m.add_snapshot(Process {
                pid,
                ppid: 1,
                ns_pid: pid,
                comm: comm.into(),
                exe: exe.into(),
                ns: node(),
                ..Process::default()
            });
        }
        m.set_port_holders(PortHolders {
            netns: node().net,
            proto: Proto::Tcp,
            port: 8088,
            read_ns: 2_500,
            holders: vec![Held {
                proto: Proto::Tcp,
                addr: "0.0.0.0".parse().unwrap(),
                port: 8088,
                inode: 9,
                listening: true,
                pids: vec![50],
            }],
            error: None,
        });
        let on_node = |pid: u32, comm: &str| {
            let mut ev = bind(pid, 2_000, node(), -98, true, 8088);
            if let Event::Bind(b) = &mut ev {
                b.hdr.comm = [0; 16];
                b.hdr.comm[..comm.len()].copy_from_slice(comm.as_bytes());
                b.hdr.ns_tgid = pid;
                b.family = nstrace_common::AF_INET;
                b.addr[..4].copy_from_slice(&[127, 0, 0, 1]);
            }
            ev
        };
        let mut p = Ports::new();
        assert!(
            p.on_event(&on_node(61, "python3"), &m).is_empty(),
            "a node process's clash is the node's"
        );
        let f = p.on_event(&on_node(60, "docker-proxy"), &m);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        let c = conflict(&f[0]);
        assert!(c.published && c.node_network);
        assert_eq!(
            (c.relation, c.loser.place.clone()),
            (Relation::Node, Place::Node)
        );
        assert_eq!(c.holder.as_ref().unwrap().comm, "nginx");
    }

    #[test]
    fn host_network_pod_losing_to_a_node_process_is_medium() {
        // The whole pod on the node's network.
        let mut m = model(node().net);
        m.add_snapshot(Process {
            pid: 50,
            ppid: 1,
            ns_pid: 50,
            comm: "nginx".into(),
            ns: node(),
            ..Process::default()
        });
        m.set_port_holders(PortHolders {
            netns: node().net,
            proto: Proto::Tcp,
            port: 8080,
            read_ns: 2_500,
            holders: vec![Held {
                proto: Proto::Tcp,
                addr: "127.0.0.1".parse().unwrap(),
                port: 8080,
                inode: 9,
                listening: true,
                pids: vec![50],
            }],
            error: None,
        });
        let mut p = Ports::new();
        let mut ev = bind(901, 2_000, ns(901, node().net), -98, true, 8080);
        if let Event::Bind(b) = &mut ev {
            b.family = nstrace_common::AF_INET;
            b.addr[..4].copy_from_slice(&[127, 0, 0, 1]);
        }
        let f = p.on_event(&ev, &m);
        assert_eq!(f[0].severity, Severity::Medium);
        let c = conflict(&f[0]);
        assert!(c.node_network);
        assert_eq!(c.relation, Relation::Node);
        assert_eq!(c.holder.as_ref().unwrap().place, Place::Node);
        assert_eq!(c.holder.as_ref().unwrap().comm, "nginx");
    }

    #[test]
    fn a_node_process_losing_is_no_finding() {
        let mut m = model(POD_NET);
        m.add_snapshot(Process {
            pid: 60,
            ppid: 1,
            ns_pid: 60,
            comm: "sshd".into(),
            ns: node(),
            ..Process::default()
        });
        let mut p = Ports::new();
        let mut ev = bind(60, 2_000, node(), -98, true, 22);
        if let Event::Bind(b) = &mut ev {
            b.hdr.ns_tgid = 60;
        }
        assert!(p.on_event(&ev, &m).is_empty());
    }
}
