//! The wiring of a pod's network namespace, read from outside it: interfaces
//! (kind, state, MAC, addresses), for each veth the peer in the node's namespace and
//! the bridge that peer is enslaved to, the listening sockets, and which processes
//! hold them.
//!
//! How a namespace is read, without entering any mount, PID or user namespace:
//! * the namespace is opened as an fd ([`NetnsRef`]: `/proc/PID/ns/net` or a bind
//!   mount such as `/run/netns/NAME`); holding the fd keeps it alive;
//! * a dedicated thread joins it with `setns(fd, CLONE_NEWNET)`, creates a
//!   `NETLINK_ROUTE` socket and opens `/proc/thread-self/net/{tcp,tcp6,udp,udp6}`
//!   there, and ends. Both stay bound to that namespace; all reading happens on the
//!   caller's thread, which never changes namespace;
//! * the node's side (peer veths, bridges and their addresses) comes from one
//!   [`NodeNet`] opened once for many pods, on the node reference the caller
//!   passes (`/proc/1/ns/net` by [`NetnsRef::node`]: nstrace may itself run in a pod).
//!
//! A veth's peer is accepted only when both ends agree: the pod end's
//! `IFLA_LINK_NETNSID` is the id the pod's namespace gives the node's (asked with
//! `RTM_GETNSID` on the fd), the node end is a veth whose `IFLA_LINK` is the pod
//! end's ifindex and whose `IFLA_LINK_NETNSID` is the id the node gives the pod's
//! namespace. A node snapshot that misses a peer (a pod created after it) is read
//! again once.
//!
//! Everything here is blocking and quick (well under a millisecond per namespace,
//! see the module tests' bench); call it from `spawn_blocking` in async code. Every
//! failure is an [`NetnsError`] (the whole namespace) or a [`Problem`] (one item),
//! each with a `kind()` to count; nothing panics on kernel or /proc input.

mod nsfd;
mod owners;
mod procnet;
mod rtnl;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};

pub use nsfd::{NetnsRef, NsId};
pub use owners::{parse_socket_link, socket_owners, OwnerScan};
pub use procnet::{parse as parse_proc_net, parse_endpoint, Listener, Parsed, ProcNetFile, Proto};
pub use rtnl::{decode_addr, decode_link, DecodeError, RawAddr, RawLink};

use nsfd::{in_netns, EnterError, NsHandle, OpenError};
use rtnl::{Dump, RtnlSocket};

const IFF_UP: u32 = 0x1;
const IFF_LOWER_UP: u32 = 0x10000;
const ARPHRD_LOOPBACK: u16 = 772;

/// What one network namespace looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetnsWiring {
    /// The namespace read (inode as in `net:[INODE]`).
    pub netns: NsId,
    /// Whether the loopback device `lo` is up (false also when there is no `lo`).
    pub lo_up: bool,
    /// Interfaces, by ifindex.
    pub interfaces: Vec<Interface>,
    /// TCP LISTEN and bound unconnected UDP sockets, IPv4 then IPv6 per protocol,
    /// sorted by protocol, port, address.
    pub listeners: Vec<Listener>,
    /// Items that could not be read or matched; the rest of the result is valid.
    pub problems: Vec<Problem>,
}

/// One network interface of the namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Name in the namespace (`eth0`).
    pub name: String,
    /// ifindex in the namespace (ifindexes are per namespace: `eth0` is often 2 in
    /// every pod).
    pub index: u32,
    /// Device kind.
    pub kind: Kind,
    /// Carries traffic: operational state up, or (loopback, dummy, some tunnels
    /// report "unknown") administratively up with the carrier (`LOWER_UP`) on.
    pub up: bool,
    /// Administratively up (`IFF_UP`, `ip link set … up`).
    pub admin_up: bool,
    /// Operational state (RFC 2863), as `ip link` prints after `state`.
    pub oper: OperState,
    /// MTU, when reported.
    pub mtu: Option<u32>,
    /// Ethernet address; `None` for devices without a 6-byte link-layer address.
    pub mac: Option<Mac>,
    /// IPv4 and IPv6 addresses, in the kernel's order.
    pub addrs: Vec<Addr>,
    /// ifindex (in this namespace) of the device this one is enslaved to.
    pub master: Option<u32>,
    /// The device this one is linked to (`IFLA_LINK`: a veth's peer, a
    /// macvlan/ipvlan/vlan's parent), and the namespace it lives in.
    pub link: Option<LinkRef>,
    /// For a veth whose other end is in the node's namespace: that end.
    pub peer: Option<Peer>,
}

/// A device this one is linked to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkRef {
    /// Its ifindex, in the namespace `netns` says.
    pub ifindex: u32,
    /// Which namespace it is in.
    pub netns: LinkNetns,
}

/// Where a linked device lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkNetns {
    /// The same namespace (both ends of a veth pair inside the pod, a vlan on a
    /// local device).
    Same,
    /// The node's namespace.
    Node,
    /// Another namespace (a sibling pod, a nested one), by the id this namespace
    /// gives it (`ip link` prints it as `link-netnsid`).
    Other { nsid: i32 },
}

/// The node-side end of a pod's veth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its name on the node (`veth2d74ee66`).
    pub node_ifname: String,
    /// Its ifindex on the node.
    pub node_ifindex: u32,
    /// Whether it is up on the node.
    pub node_up: bool,
    /// The bridge (or other master: bond, vrf, Open vSwitch) it is enslaved to.
    pub bridge: Option<Bridge>,
}

/// The master device of a node-side peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bridge {
    /// Name on the node (`cni-podman1`).
    pub name: String,
    /// ifindex on the node.
    pub index: u32,
    /// Its kind (normally [`Kind::Bridge`]).
    pub kind: Kind,
    /// Whether it is up.
    pub up: bool,
    /// Its addresses on the node: the pods' gateway.
    pub addrs: Vec<Addr>,
}

/// Device kinds (`IFLA_INFO_KIND`, `ip -d link` prints it on its own line).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Loopback,
    Veth,
    Bridge,
    Macvlan,
    Ipvlan,
    Dummy,
    Vlan,
    Vxlan,
    Bond,
    Tun,
    Wireguard,
    /// A kind not listed above, by the kernel's name ("ipip", "sit", "geneve", …).
    Other(String),
    /// A device whose driver names no kind: a physical or paravirtual NIC.
    Device,
}

impl Kind {
    fn from_raw(kind: Option<&str>, hw_type: u16) -> Kind {
        match kind {
            None if hw_type == ARPHRD_LOOPBACK => Kind::Loopback,
            None => Kind::Device,
            Some("veth") => Kind::Veth,
            Some("bridge") => Kind::Bridge,
            Some("macvlan" | "macvtap") => Kind::Macvlan,
            Some("ipvlan" | "ipvtap") => Kind::Ipvlan,
            Some("dummy") => Kind::Dummy,
            Some("vlan") => Kind::Vlan,
            Some("vxlan") => Kind::Vxlan,
            Some("bond") => Kind::Bond,
            Some("tun") => Kind::Tun,
            Some("wireguard") => Kind::Wireguard,
            Some(k) => Kind::Other(k.to_owned()),
        }
    }

    /// Short name, as `ip -d link` prints it ("device" for a NIC).
    pub fn as_str(&self) -> &str {
        match self {
            Kind::Loopback => "loopback",
            Kind::Veth => "veth",
            Kind::Bridge => "bridge",
            Kind::Macvlan => "macvlan",
            Kind::Ipvlan => "ipvlan",
            Kind::Dummy => "dummy",
            Kind::Vlan => "vlan",
            Kind::Vxlan => "vxlan",
            Kind::Bond => "bond",
            Kind::Tun => "tun",
            Kind::Wireguard => "wireguard",
            Kind::Other(k) => k,
            Kind::Device => "device",
        }
    }

    /// One line on what the kind means for a pod (for a tree or a report).
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Loopback => "loopback: traffic to itself only, no peer",
            Kind::Veth => "veth: one end of a virtual cable; the other end (peer) is usually on the node, on a bridge",
            Kind::Bridge => "bridge: a virtual switch inside this namespace, no peer",
            Kind::Macvlan => "macvlan: own MAC on a parent device (see link), no peer",
            Kind::Ipvlan => "ipvlan: shares the parent device's MAC (see link), no peer",
            Kind::Dummy => "dummy: a device that drops everything, no peer",
            Kind::Vlan => "vlan: 802.1Q sub-interface of a parent device (see link), no peer",
            Kind::Vxlan => "vxlan: overlay tunnel endpoint, no peer",
            Kind::Bond => "bond: aggregate of devices, no peer",
            Kind::Tun => "tun/tap: a process reads and writes its packets, no peer",
            Kind::Wireguard => "wireguard: encrypted tunnel, no peer",
            Kind::Other(_) => "another virtual device (kind named), no peer",
            Kind::Device => "a physical or paravirtual network device, no peer",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RFC 2863 operational state (`IFLA_OPERSTATE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperState {
    Unknown,
    NotPresent,
    Down,
    LowerLayerDown,
    Testing,
    Dormant,
    Up,
    Other(u8),
}

impl OperState {
    fn from_raw(v: Option<u8>) -> OperState {
        match v {
            None | Some(0) => OperState::Unknown,
            Some(1) => OperState::NotPresent,
            Some(2) => OperState::Down,
            Some(3) => OperState::LowerLayerDown,
            Some(4) => OperState::Testing,
            Some(5) => OperState::Dormant,
            Some(6) => OperState::Up,
            Some(v) => OperState::Other(v),
        }
    }

    /// As `ip link` prints it ("UP", "DOWN", "UNKNOWN", …).
    pub fn as_str(&self) -> &'static str {
        match self {
            OperState::Unknown => "UNKNOWN",
            OperState::NotPresent => "NOTPRESENT",
            OperState::Down => "DOWN",
            OperState::LowerLayerDown => "LOWERLAYERDOWN",
            OperState::Testing => "TESTING",
            OperState::Dormant => "DORMANT",
            OperState::Up => "UP",
            OperState::Other(_) => "OTHER",
        }
    }
}

/// An Ethernet address (printed, and debug-printed, as `0a:58:0a:59:00:05`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// An interface address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addr {
    /// The address.
    pub ip: IpAddr,
    /// Prefix length (`/24`).
    pub prefix: u8,
    /// Scope, as `ip addr` prints after `scope`.
    pub scope: Scope,
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

/// Address scope (`RT_SCOPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
    Other(u8),
}

impl Scope {
    fn from_raw(v: u8) -> Scope {
        match v {
            0 => Scope::Global,
            200 => Scope::Site,
            253 => Scope::Link,
            254 => Scope::Host,
            255 => Scope::Nowhere,
            v => Scope::Other(v),
        }
    }

    /// As `ip addr` prints it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Site => "site",
            Scope::Link => "link",
            Scope::Host => "host",
            Scope::Nowhere => "nowhere",
            Scope::Other(_) => "other",
        }
    }
}

impl From<&RawAddr> for Addr {
    fn from(a: &RawAddr) -> Addr {
        Addr {
            ip: a.ip,
            prefix: a.prefix,
            scope: Scope::from_raw(a.scope),
        }
    }
}

/// Something one namespace read could not do; the rest of the result stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A `/proc/thread-self/net/FILE` could not be opened or read.
    ProcNet {
        file: &'static str,
        error: io::ErrorKind,
    },
    /// Lines of a `/proc/net` file that did not parse (1-based).
    BadLines {
        file: &'static str,
        lines: Vec<usize>,
    },
    /// A netlink message (link or address) that did not decode, skipped.
    BadMessage { side: Side, reason: &'static str },
    /// `RTM_GETNSID` failed: peers on the node cannot be confirmed.
    Nsid { side: Side, error: io::ErrorKind },
    /// The node side could not be (re)read.
    NodeRead { error: io::ErrorKind },
    /// A veth points into the node's namespace, but the node has no matching
    /// veth at that ifindex (even after a fresh read).
    PeerNotFound { ifname: String, node_ifindex: u32 },
    /// An address for an ifindex that the link dump did not list.
    AddrWithoutLink { index: u32 },
}

/// Which namespace a problem was met in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Pod,
    Node,
}

impl Problem {
    /// A stable name for counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::ProcNet { .. } => "proc_net_unreadable",
            Problem::BadLines { .. } => "proc_net_bad_line",
            Problem::BadMessage { .. } => "netlink_bad_message",
            Problem::Nsid { .. } => "nsid_failed",
            Problem::NodeRead { .. } => "node_read_failed",
            Problem::PeerNotFound { .. } => "peer_not_found",
            Problem::AddrWithoutLink { .. } => "addr_without_link",
        }
    }
}

/// Why a namespace could not be read at all.
#[derive(Debug)]
pub enum NetnsError {
    /// The pid has exited, or the namespace file does not exist.
    Gone(String),
    /// Opening the namespace was refused (EACCES/EPERM).
    Permission(String),
    /// The file is not a network namespace.
    NotNetns(String),
    /// Another error opening the namespace.
    Open(String, io::Error),
    /// The namespace is the node's own (a hostNetwork pod): nothing to wire.
    NodeNamespace,
    /// Joining the namespace (on the helper thread) was refused.
    Setns(io::Error),
    /// The helper thread could not run.
    Thread(String),
    /// The netlink socket could not be created.
    Socket(io::Error),
    /// A netlink request failed (kernel error, time-out, truncated answer).
    Netlink(&'static str, io::Error),
}

impl NetnsError {
    /// A stable name for counters.
    pub fn kind(&self) -> &'static str {
        match self {
            NetnsError::Gone(_) => "gone",
            NetnsError::Permission(_) => "permission",
            NetnsError::NotNetns(_) => "not_netns",
            NetnsError::Open(..) => "open",
            NetnsError::NodeNamespace => "node_namespace",
            NetnsError::Setns(_) => "setns",
            NetnsError::Thread(_) => "thread",
            NetnsError::Socket(_) => "socket",
            NetnsError::Netlink(..) => "netlink",
        }
    }

    fn open(r: &NetnsRef, e: OpenError) -> NetnsError {
        let what = r.path().display().to_string();
        match e {
            OpenError::NotNetns => NetnsError::NotNetns(what),
            OpenError::Io(e)
                if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) =>
            {
                NetnsError::Gone(what)
            }
            OpenError::Io(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                NetnsError::Permission(what)
            }
            OpenError::Io(e) => NetnsError::Open(what, e),
        }
    }
}

impl From<EnterError> for NetnsError {
    fn from(e: EnterError) -> Self {
        match e {
            EnterError::Setns(e) => NetnsError::Setns(e),
            EnterError::Thread(s) => NetnsError::Thread(s),
        }
    }
}

impl fmt::Display for NetnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetnsError::Gone(p) => write!(f, "{p}: gone"),
            NetnsError::Permission(p) => write!(f, "{p}: permission denied"),
            NetnsError::NotNetns(p) => write!(f, "{p}: not a network namespace"),
            NetnsError::Open(p, e) => write!(f, "{p}: {e}"),
            NetnsError::NodeNamespace => write!(f, "this is the node's network namespace"),
            NetnsError::Setns(e) => write!(f, "setns(CLONE_NEWNET): {e}"),
            NetnsError::Thread(s) => write!(f, "namespace helper thread: {s}"),
            NetnsError::Socket(e) => write!(f, "netlink socket: {e}"),
            NetnsError::Netlink(op, e) => write!(f, "netlink {op}: {e}"),
        }
    }
}

impl std::error::Error for NetnsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NetnsError::Open(_, e)
            | NetnsError::Setns(e)
            | NetnsError::Socket(e)
            | NetnsError::Netlink(_, e) => Some(e),
            _ => None,
        }
    }
}

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
    sock: RtnlSocket,
    snap: NodeSnapshot,
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
        let mut sock = in_netns(&ns, RtnlSocket::open)?.map_err(NetnsError::Socket)?;
        let snap = NodeSnapshot::from_dump(
            sock.dump()
                .map_err(|e| NetnsError::Netlink("dump node", e))?,
        );
        Ok(NodeNet {
            ns,
            inner: Mutex::new(NodeInner { sock, snap }),
        })
    }

    /// The node's network namespace.
    pub fn netns(&self) -> NsId {
        self.ns.id()
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
        let d = g
            .sock
            .dump()
            .map_err(|e| NetnsError::Netlink("dump node", e))?;
        g.snap = NodeSnapshot::from_dump(d);
        Ok(())
    }
}

/// The namespace reads [`read_netns`] does in the target namespace: the socket and
/// the four `/proc/thread-self/net` files, made on the helper thread.
struct Opened {
    sock: io::Result<RtnlSocket>,
    files: Vec<io::Result<OwnedFd>>,
}

/// Reads the wiring of one network namespace other than the node's.
pub fn read_netns(target: &NetnsRef, node: &NodeNet) -> Result<NetnsWiring, NetnsError> {
    let ns = NsHandle::open(&target.path()).map_err(|e| NetnsError::open(target, e))?;
    if ns.id() == node.netns() {
        return Err(NetnsError::NodeNamespace);
    }
    let names: Vec<&str> = ProcNetFile::ALL.iter().map(|f| f.name()).collect();
    let opened = in_netns(&ns, || Opened {
        sock: RtnlSocket::open(),
        files: nsfd::open_thread_net(&names),
    })?;
    let mut sock = opened.sock.map_err(NetnsError::Socket)?;
    let mut problems = Vec::new();

    let dump = sock.dump().map_err(|e| NetnsError::Netlink("dump", e))?;
    // The id the pod gives the node's namespace, and the one the node gives the pod's.
    let node_nsid = sock.nsid_of(node.ns.file.as_raw_fd()).unwrap_or_else(|e| {
        problems.push(Problem::Nsid {
            side: Side::Pod,
            error: e.kind(),
        });
        -1
    });

    let listeners = read_listeners(opened.files, &mut problems);

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
    if stale {
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
    out.sort_by_key(|a| (a.proto, a.port, a.addr, a.inode));
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
