//! The wiring of a pod's network namespace, read from outside it: interfaces
//! (kind, state, MAC, addresses), for each veth the peer in the node's namespace and
//! the bridge that peer is enslaved to, the listening sockets, and which processes
//! hold them.
//!
//! How a namespace is read, without entering any mount, PID or user namespace:
//! * the namespace is opened as an fd ([`NetnsRef`]: `/proc/PID/ns/net` or a bind
//!   mount such as `/run/netns/NAME`); holding the fd keeps it alive;
//! * a dedicated thread joins it with `setns(fd, CLONE_NEWNET)`, creates a
//!   `NETLINK_ROUTE` and a `NETLINK_SOCK_DIAG` socket there, and ends. Both stay
//!   bound to that namespace; all reading happens on the caller's thread, which
//!   never changes namespace;
//! * listeners come from inet_diag (LISTEN/unconnected only: see `diag.rs` for why
//!   not `/proc/net/tcp`, which costs 1.7 ms a read here); when the kernel has no
//!   inet_diag, from `/proc/thread-self/net/{tcp,tcp6,udp,udp6}` opened on a second
//!   such thread (`/proc/PID/net/*` shows the namespace of PID the same way: see
//!   [`read_proc_net_listeners`] for callers without CAP_SYS_ADMIN);
//! * the node's side (peer veths, bridges and their addresses) comes from one
//!   [`NodeNet`] opened once for many pods, on the node reference the caller
//!   passes (`/proc/1/ns/net` by [`NetnsRef::node`]: nstrace may itself run in a pod).
//!
//! A veth's peer is accepted only when both ends agree: the pod end's
//! `IFLA_LINK_NETNSID` is the id the pod's namespace gives the node's (asked with
//! `RTM_GETNSID` on the fd), the node end is a veth whose `IFLA_LINK` is the pod
//! end's ifindex and whose `IFLA_LINK_NETNSID` is the id the node gives the pod's
//! namespace. A node snapshot that misses a peer is read again, once, and only if
//! it was taken before the pod's own dump began (a pod created after it).
//!
//! Everything here is blocking and quick (about 0.1 ms per namespace here, see the
//! `netns_read bench` example); call it from `spawn_blocking` in async code. Every
//! failure is an [`NetnsError`] (the whole namespace) or a [`Problem`] (one item),
//! each with a `kind()` to count; nothing panics on kernel or /proc input.

/// Entry points for the fuzz targets (`nstrace/fuzz`): the netlink readers
/// on arbitrary bytes, as the kernel's answers reach them.
#[doc(hidden)]
pub mod fuzz {
    use super::procnet::Proto;
    use super::{diag, rtnl};

    /// An rtnetlink dump: split into messages, each decoded as a link, an
    /// address and an nsid answer, whatever its type says.
    pub fn rtnetlink(data: &[u8]) {
        for m in rtnl::messages(data) {
            let Ok(m) = m else { break };
            let _ = rtnl::decode_link(m.payload);
            let _ = rtnl::decode_addr(m.payload);
            let _ = rtnl::decode_nsid(m.payload);
        }
    }

    /// An inet_diag dump: each message decoded as a TCP and a UDP socket.
    pub fn inet_diag(data: &[u8]) {
        for m in rtnl::messages(data) {
            let Ok(m) = m else { break };
            for proto in [Proto::Tcp, Proto::Udp] {
                let _ = diag::decode_any(m.payload, proto);
            }
        }
    }
}

mod diag;
mod nsfd;
mod owners;
mod procnet;
mod rtnl;
mod types;

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

pub use nsfd::{NetnsRef, NsId};
pub use owners::{parse_socket_link, socket_owners, socket_owners_until_found, OwnerScan};
pub use procnet::{parse as parse_proc_net, parse_endpoint, Listener, Parsed, ProcNetFile, Proto};
pub use rtnl::{decode_addr, decode_link, DecodeError, RawAddr, RawLink};
pub use types::{
    Addr, Bridge, Interface, Kind, LinkNetns, LinkRef, Mac, NetnsError, NetnsWiring, OperState,
    Peer, Problem, Scope, Side,
};

use nsfd::{in_each_netns, in_netns, EnterError, NsHandle};
use rtnl::{Dump, NlSocket};

const IFF_UP: u32 = 0x1;
const IFF_LOWER_UP: u32 = 0x10000;

/// The node's links and addresses, as last read.
#[derive(Debug, Default)]
struct NodeSnapshot {
    links: HashMap<u32, RawLink>,
    addrs: HashMap<u32, Vec<Addr>>,
    skipped: Vec<DecodeError>,
}

impl NodeSnapshot {
    fn from_dump(d: Dump) -> NodeSnapshot {
        let mut addrs: HashMap<u32, Vec<Addr>> = HashMap::new();
        for a in &d.addrs {
            addrs.entry(a.index).or_default().push(a.into());
        }
        NodeSnapshot {
            links: d.links.into_iter().map(|l| (l.index, l)).collect(),
            addrs,
            skipped: d.skipped,
        }
    }
}

#[derive(Debug)]
struct NodeInner {
    sock: NlSocket,
    snap: NodeSnapshot,
    /// When `snap` was asked for: a snapshot asked for after a pod's own dump
    /// began is not read again for it.
    snap_at: Instant,
    rereads: u64,
}

/// The node's network namespace, opened once and shared by the reads of many pod
/// namespaces (it may be used from several threads; node-side requests are serialised).
#[derive(Debug)]
pub struct NodeNet {
    ns: NsHandle,
    inner: Mutex<NodeInner>,
}

impl NodeNet {
    /// Opens the node's network namespace (`NetnsRef::node()` for `/proc/1/ns/net`)
    /// and reads its links and addresses.
    pub fn open(node: &NetnsRef) -> Result<NodeNet, NetnsError> {
        let ns = NsHandle::open(&node.path()).map_err(|e| NetnsError::open(node, e))?;
        let snap_at = Instant::now();
        let mut sock = in_netns(&ns, NlSocket::route)?.map_err(NetnsError::Socket)?;
        let snap = NodeSnapshot::from_dump(
            sock.dump()
                .map_err(|e| NetnsError::Netlink("dump node", e))?,
        );
        Ok(NodeNet {
            ns,
            inner: Mutex::new(NodeInner {
                sock,
                snap,
                snap_at,
                rereads: 0,
            }),
        })
    }

    /// The node's network namespace.
    pub fn netns(&self) -> NsId {
        self.ns.id()
    }

    /// How many times a pod read found the node snapshot stale and read it again.
    pub fn rereads(&self) -> u64 {
        self.lock().rereads
    }

    /// Messages of the last node read that did not decode.
    pub fn skipped(&self) -> usize {
        self.lock().snap.skipped.len()
    }

    fn lock(&self) -> MutexGuard<'_, NodeInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the node's links and addresses again.
    pub fn refresh(&self) -> Result<(), NetnsError> {
        let mut g = self.lock();
        g.snap_at = Instant::now();
        let d = g
            .sock
            .dump()
            .map_err(|e| NetnsError::Netlink("dump node", e))?;
        g.snap = NodeSnapshot::from_dump(d);
        Ok(())
    }
}

/// What [`read_netns`] creates in the target namespace, on the helper thread.
struct Opened {
    route: io::Result<NlSocket>,
    diag: io::Result<NlSocket>,
}

/// Reads the wiring of one network namespace other than the node's.
pub fn read_netns(target: &NetnsRef, node: &NodeNet) -> Result<NetnsWiring, NetnsError> {
    read_netns_many(std::slice::from_ref(target), node)
        .pop()
        .unwrap_or_else(|| Err(NetnsError::Thread("no result".into())))
}

/// Reads many namespaces (all pods of a node) with a single helper thread, which
/// joins each in turn to create its sockets and then ends: one thread start for
/// the lot (per batch of 64: a namespace holds three fds while it is read). One
/// result per target, in order.
pub fn read_netns_many(
    targets: &[NetnsRef],
    node: &NodeNet,
) -> Vec<Result<NetnsWiring, NetnsError>> {
    targets
        .chunks(BATCH)
        .flat_map(|c| read_batch(c, node))
        .collect()
}

/// Namespaces opened at once by [`read_netns_many`].
const BATCH: usize = 64;

fn read_batch(targets: &[NetnsRef], node: &NodeNet) -> Vec<Result<NetnsWiring, NetnsError>> {
    let handles: Vec<Result<NsHandle, NetnsError>> = targets
        .iter()
        .map(|t| {
            let ns = NsHandle::open(&t.path()).map_err(|e| NetnsError::open(t, e))?;
            if ns.id() == node.netns() {
                return Err(NetnsError::NodeNamespace);
            }
            Ok(ns)
        })
        .collect();
    let ok: Vec<&NsHandle> = handles.iter().filter_map(|h| h.as_ref().ok()).collect();
    let opened = in_each_netns(&ok, || Opened {
        route: NlSocket::route(),
        diag: NlSocket::open(libc::NETLINK_SOCK_DIAG),
    });
    let mut opened = match opened {
        Ok(v) => v.into_iter(),
        Err(e) => {
            let e = NetnsError::from(e);
            return handles
                .into_iter()
                .map(|h| h.and_then(|_| Err(NetnsError::Thread(e.to_string()))))
                .collect();
        }
    };
    handles
        .into_iter()
        .map(|h| {
            let ns = h?;
            let o = opened
                .next()
                .unwrap_or_else(|| Err(EnterError::Thread("no result".into())))?;
            read_opened(&ns, o, node)
        })
        .collect()
}

/// Reads one namespace through the sockets made in it.
fn read_opened(ns: &NsHandle, opened: Opened, node: &NodeNet) -> Result<NetnsWiring, NetnsError> {
    let mut sock = opened.route.map_err(NetnsError::Socket)?;
    let mut problems = Vec::new();

    let dumped_at = Instant::now();
    let dump = sock.dump().map_err(|e| NetnsError::Netlink("dump", e))?;
    // The id the pod gives the node's namespace, and the one the node gives the pod's.
    let node_nsid = sock.nsid_of(node.ns.file.as_raw_fd()).unwrap_or_else(|e| {
        problems.push(Problem::Nsid {
            side: Side::Pod,
            error: e.kind(),
        });
        -1
    });

    let mut listeners = match opened.diag.and_then(|mut d| diag::listeners(&mut d)) {
        Ok((listeners, bad)) => {
            problems.extend(bad.into_iter().map(|e| Problem::BadMessage {
                side: Side::Pod,
                reason: e.0,
            }));
            listeners
        }
        Err(e) => {
            // No inet_diag in this kernel (ENOENT), or it failed: read /proc instead.
            problems.push(Problem::SockDiag { error: e.kind() });
            let names: Vec<&str> = ProcNetFile::ALL.iter().map(|f| f.name()).collect();
            let files = in_netns(ns, || nsfd::open_thread_net(&names))?;
            read_listeners(files, &mut problems)
        }
    };
    listeners.sort_by_key(|a| (a.proto, a.port, a.addr, a.inode));

    let mut g = node.lock();
    let pod_nsid_at_node = g.sock.nsid_of(ns.file.as_raw_fd()).unwrap_or_else(|e| {
        problems.push(Problem::Nsid {
            side: Side::Node,
            error: e.kind(),
        });
        -1
    });
    let ids = NsIds {
        node_in_pod: node_nsid,
        pod_in_node: pod_nsid_at_node,
    };
    let stale = dump
        .links
        .iter()
        .any(|l| matches!(resolve_peer(l, &g.snap, ids), PeerLookup::Missing(_)));
    if stale && g.snap_at < dumped_at {
        g.rereads += 1;
        g.snap_at = Instant::now();
        match g.sock.dump() {
            Ok(d) => g.snap = NodeSnapshot::from_dump(d),
            Err(e) => problems.push(Problem::NodeRead { error: e.kind() }),
        }
    }
    let mut w = assemble(ns.id(), &dump, &g.snap, ids, listeners);
    drop(g);
    problems.append(&mut w.problems);
    w.problems = problems;
    Ok(w)
}

/// The listeners of the node's own namespace (for the pods on the node
/// network: the caller keeps those their processes hold), with what could not
/// be read. inet_diag, or the `/proc` files when the kernel has none.
pub fn read_node_listeners(node: &NodeNet) -> Result<(Vec<Listener>, Vec<Problem>), NetnsError> {
    let mut problems = Vec::new();
    let diag = in_netns(&node.ns, || NlSocket::open(libc::NETLINK_SOCK_DIAG))?;
    let mut listeners = match diag.and_then(|mut d| diag::listeners(&mut d)) {
        Ok((l, bad)) => {
            problems.extend(bad.into_iter().map(|e| Problem::BadMessage {
                side: Side::Node,
                reason: e.0,
            }));
            l
        }
        Err(e) => {
            problems.push(Problem::SockDiag { error: e.kind() });
            let names: Vec<&str> = ProcNetFile::ALL.iter().map(|f| f.name()).collect();
            let files = in_netns(&node.ns, || nsfd::open_thread_net(&names))?;
            read_listeners(files, &mut problems)
        }
    };
    listeners.sort_by_key(|a| (a.proto, a.port, a.addr, a.inode));
    Ok((listeners, problems))
}

/// Every socket of `proto` bound to `port` (in any state, with whether it
/// listens) in the namespace `target`, or the node's when `target` is `None`:
/// who holds a port a bind was just refused. Needs inet_diag.
pub fn read_port(
    target: Option<&NetnsRef>,
    node: &NodeNet,
    proto: Proto,
    port: u16,
) -> Result<Vec<(Listener, bool)>, NetnsError> {
    let open = || NlSocket::open(libc::NETLINK_SOCK_DIAG);
    let sock = match target {
        None => in_netns(&node.ns, open)?,
        Some(t) => {
            let ns = NsHandle::open(&t.path()).map_err(|e| NetnsError::open(t, e))?;
            in_netns(&ns, open)?
        }
    };
    let (mut found, _bad) = sock
        .and_then(|mut s| diag::bound_to(&mut s, proto, port))
        .map_err(|e| NetnsError::Netlink("sock_diag", e))?;
    found.sort_by_key(|(a, _)| (a.addr, a.inode));
    Ok(found)
}

/// Listeners from `DIR/{tcp,tcp6,udp,udp6}`, e.g. `/proc/PID/net` (the namespace of
/// PID; readable without CAP_SYS_ADMIN), with what could not be read. Slower than
/// [`read_netns`]'s inet_diag: each `tcp` file read walks the node-wide TCP hash.
pub fn read_proc_net_listeners(dir: &Path) -> (Vec<Listener>, Vec<Problem>) {
    let files = ProcNetFile::ALL
        .iter()
        .map(|f| std::fs::File::open(dir.join(f.name())).map(OwnedFd::from))
        .collect();
    let mut problems = Vec::new();
    let mut l = read_listeners(files, &mut problems);
    l.sort_by_key(|a| (a.proto, a.port, a.addr, a.inode));
    (l, problems)
}

/// Reads and parses the four files opened in the namespace.
fn read_listeners(files: Vec<io::Result<OwnedFd>>, problems: &mut Vec<Problem>) -> Vec<Listener> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut text = String::new();
    for (f, opened) in ProcNetFile::ALL.iter().zip(files) {
        text.clear();
        let read = opened.and_then(|fd| std::fs::File::from(fd).read_to_string(&mut text));
        if let Err(e) = read {
            // tcp6/udp6 are absent when IPv6 is disabled: still worth counting.
            problems.push(Problem::ProcNet {
                file: f.name(),
                error: e.kind(),
            });
            continue;
        }
        let p = procnet::parse(&text, *f);
        if !p.bad_lines.is_empty() {
            problems.push(Problem::BadLines {
                file: f.name(),
                lines: p.bad_lines,
            });
        }
        out.extend(p.listeners);
    }
    out
}

/// Namespace ids each side gives the other (-1: none).
#[derive(Clone, Copy, Debug)]
struct NsIds {
    node_in_pod: i32,
    pod_in_node: i32,
}

enum PeerLookup {
    /// Not a veth into the node's namespace.
    NotNode,
    /// The node end, confirmed both ways.
    Found(u32),
    /// Into the node's namespace, but the snapshot has no matching end.
    Missing(u32),
}

fn link_ref(l: &RawLink, ids: NsIds) -> Option<LinkRef> {
    let ifindex = l.link?;
    if ifindex == 0 {
        return None;
    }
    let netns = match l.link_netnsid {
        None if ifindex == l.index => return None,
        None => LinkNetns::Same,
        Some(n) if n >= 0 && n == ids.node_in_pod => LinkNetns::Node,
        Some(n) => LinkNetns::Other { nsid: n },
    };
    Some(LinkRef { ifindex, netns })
}

fn resolve_peer(l: &RawLink, node: &NodeSnapshot, ids: NsIds) -> PeerLookup {
    if l.kind.as_deref() != Some("veth") {
        return PeerLookup::NotNode;
    }
    let Some(LinkRef {
        ifindex,
        netns: LinkNetns::Node,
    }) = link_ref(l, ids)
    else {
        return PeerLookup::NotNode;
    };
    match node.links.get(&ifindex) {
        Some(n)
            if n.kind.as_deref() == Some("veth")
                && n.link == Some(l.index)
                && ids.pod_in_node >= 0
                && n.link_netnsid == Some(ids.pod_in_node) =>
        {
            PeerLookup::Found(ifindex)
        }
        _ => PeerLookup::Missing(ifindex),
    }
}

fn is_up(flags: u32, oper: OperState) -> bool {
    oper == OperState::Up
        || (oper == OperState::Unknown && flags & IFF_UP != 0 && flags & IFF_LOWER_UP != 0)
}

fn mac_of(hw: &[u8]) -> Option<Mac> {
    hw.try_into().ok().map(Mac)
}

/// Builds the result from the pod's dump and the node's snapshot (pure).
fn assemble(
    netns: NsId,
    dump: &Dump,
    node: &NodeSnapshot,
    ids: NsIds,
    listeners: Vec<Listener>,
) -> NetnsWiring {
    let mut problems: Vec<Problem> = dump
        .skipped
        .iter()
        .map(|e| Problem::BadMessage {
            side: Side::Pod,
            reason: e.0,
        })
        .collect();
    problems.extend(node.skipped.iter().map(|e| Problem::BadMessage {
        side: Side::Node,
        reason: e.0,
    }));
    let mut addrs: HashMap<u32, Vec<Addr>> = HashMap::new();
    for a in &dump.addrs {
        addrs.entry(a.index).or_default().push(a.into());
    }
    let known: HashSet<u32> = dump.links.iter().map(|l| l.index).collect();
    let mut orphan: Vec<u32> = addrs
        .keys()
        .filter(|i| !known.contains(i))
        .copied()
        .collect();
    orphan.sort_unstable();
    problems.extend(
        orphan
            .into_iter()
            .map(|index| Problem::AddrWithoutLink { index }),
    );

    let mut interfaces: Vec<Interface> = dump
        .links
        .iter()
        .map(|l| {
            let oper = OperState::from_raw(l.operstate);
            let peer = match resolve_peer(l, node, ids) {
                PeerLookup::NotNode => None,
                PeerLookup::Missing(node_ifindex) => {
                    problems.push(Problem::PeerNotFound {
                        ifname: l.name.clone(),
                        node_ifindex,
                    });
                    None
                }
                PeerLookup::Found(i) => node.links.get(&i).map(|n| Peer {
                    node_ifname: n.name.clone(),
                    node_ifindex: n.index,
                    node_up: is_up(n.flags, OperState::from_raw(n.operstate)),
                    bridge: n.master.and_then(|m| node.links.get(&m)).map(|b| Bridge {
                        name: b.name.clone(),
                        index: b.index,
                        kind: Kind::from_raw(b.kind.as_deref(), b.hw_type),
                        up: is_up(b.flags, OperState::from_raw(b.operstate)),
                        addrs: node.addrs.get(&b.index).cloned().unwrap_or_default(),
                    }),
                }),
            };
            Interface {
                name: l.name.clone(),
                index: l.index,
                kind: Kind::from_raw(l.kind.as_deref(), l.hw_type),
                up: is_up(l.flags, oper),
                admin_up: l.flags & IFF_UP != 0,
                oper,
                mtu: l.mtu,
                mac: mac_of(&l.hwaddr),
                addrs: addrs.remove(&l.index).unwrap_or_default(),
                master: l.master,
                link: link_ref(l, ids),
                peer,
            }
        })
        .collect();
    interfaces.sort_by_key(|i| i.index);
    let lo_up = interfaces
        .iter()
        .any(|i| i.kind == Kind::Loopback && i.name == "lo" && i.up);
    NetnsWiring {
        netns,
        lo_up,
        interfaces,
        listeners,
        problems,
    }
}

impl NetnsWiring {
    /// Socket inodes of the listeners.
    pub fn listener_inodes(&self) -> HashSet<u64> {
        self.listeners.iter().map(|l| l.inode).collect()
    }

    /// Fills [`Listener::owners`] from the fds of `pids` (the processes of this
    /// namespace, as the caller knows them); returns what the scan read and missed.
    pub fn attach_owners(&mut self, pids: &[u32]) -> OwnerScan {
        let scan = socket_owners(&self.listener_inodes(), pids);
        for l in &mut self.listeners {
            l.owners = scan.owners.get(&l.inode).cloned().unwrap_or_default();
        }
        scan
    }

    /// The interface with this ifindex.
    pub fn interface(&self, index: u32) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.index == index)
    }
}

#[cfg(test)]
mod tests;
