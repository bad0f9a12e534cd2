//! The data a namespace read gives: plain structs with documented fields, ready
//! to be rendered as JSON, a tree or DOT; and the errors and problems to count.

use std::fmt;
use std::io;
use std::net::IpAddr;

use super::nsfd::{EnterError, NetnsRef, NsId, OpenError};
use super::procnet::Listener;
use super::rtnl::RawAddr;

pub(super) const ARPHRD_LOOPBACK: u16 = 772;

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
    Other {
        /// The id (`IFLA_LINK_NETNSID`), local to this namespace.
        nsid: i32,
    },
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
    /// The loopback device (`lo`).
    Loopback,
    /// A veth pair end.
    Veth,
    /// A bridge.
    Bridge,
    /// A macvlan or macvtap device.
    Macvlan,
    /// An ipvlan or ipvtap device.
    Ipvlan,
    /// A dummy device.
    Dummy,
    /// An 802.1Q VLAN sub-interface.
    Vlan,
    /// A VXLAN tunnel endpoint.
    Vxlan,
    /// A bond of devices.
    Bond,
    /// A tun or tap device.
    Tun,
    /// A WireGuard tunnel.
    Wireguard,
    /// A kind not listed above, by the kernel's name ("ipip", "sit", "geneve", …).
    Other(String),
    /// A device whose driver names no kind: a physical or paravirtual NIC.
    Device,
}

impl Kind {
    pub(super) fn from_raw(kind: Option<&str>, hw_type: u16) -> Kind {
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
    /// `IF_OPER_UNKNOWN`, also when the attribute is absent.
    Unknown,
    /// `IF_OPER_NOTPRESENT`.
    NotPresent,
    /// `IF_OPER_DOWN`.
    Down,
    /// `IF_OPER_LOWERLAYERDOWN`.
    LowerLayerDown,
    /// `IF_OPER_TESTING`.
    Testing,
    /// `IF_OPER_DORMANT`.
    Dormant,
    /// `IF_OPER_UP`.
    Up,
    /// A value this build does not know, as sent.
    Other(u8),
}

impl OperState {
    pub(super) fn from_raw(v: Option<u8>) -> OperState {
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
    /// `RT_SCOPE_UNIVERSE` (0).
    Global,
    /// `RT_SCOPE_SITE` (200).
    Site,
    /// `RT_SCOPE_LINK` (253).
    Link,
    /// `RT_SCOPE_HOST` (254).
    Host,
    /// `RT_SCOPE_NOWHERE` (255).
    Nowhere,
    /// Another value, as sent.
    Other(u8),
}

impl Scope {
    pub(super) fn from_raw(v: u8) -> Scope {
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
    /// inet_diag failed (ENOENT: the kernel has none); listeners were read from
    /// `/proc/…/net` instead.
    SockDiag {
        /// What the request failed with.
        error: io::ErrorKind,
    },
    /// A `/proc/thread-self/net/FILE` could not be opened or read.
    ProcNet {
        /// The file's name (`tcp6`).
        file: &'static str,
        /// What opening or reading it failed with.
        error: io::ErrorKind,
    },
    /// Lines of a `/proc/net` file that did not parse (1-based).
    BadLines {
        /// The file's name (`tcp6`).
        file: &'static str,
        /// The line numbers, header included in the count.
        lines: Vec<usize>,
    },
    /// A netlink message (link, address, socket) that did not decode, skipped.
    BadMessage {
        /// The namespace it came from.
        side: Side,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// `RTM_GETNSID` failed: peers on the node cannot be confirmed.
    Nsid {
        /// The namespace whose socket was asked.
        side: Side,
        /// What the request failed with.
        error: io::ErrorKind,
    },
    /// The node side could not be (re)read.
    NodeRead {
        /// What the dump failed with.
        error: io::ErrorKind,
    },
    /// A veth points into the node's namespace, but the node has no matching
    /// veth at that ifindex (even after a fresh read).
    PeerNotFound {
        /// The veth's name in the namespace read.
        ifname: String,
        /// The ifindex it names on the node.
        node_ifindex: u32,
    },
    /// An address for an ifindex that the link dump did not list.
    AddrWithoutLink {
        /// The ifindex the address names.
        index: u32,
    },
}

/// Which namespace a problem was met in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The namespace being read.
    Pod,
    /// The node's own namespace.
    Node,
}

impl Problem {
    /// A stable name for counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::SockDiag { .. } => "sock_diag_failed",
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

    pub(super) fn open(r: &NetnsRef, e: OpenError) -> NetnsError {
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
            NetnsError::Open(p, _) => write!(f, "{p}"),
            NetnsError::NodeNamespace => write!(f, "this is the node's network namespace"),
            NetnsError::Setns(_) => write!(f, "setns(CLONE_NEWNET)"),
            NetnsError::Thread(s) => write!(f, "namespace helper thread: {s}"),
            NetnsError::Socket(_) => write!(f, "netlink socket"),
            NetnsError::Netlink(op, _) => write!(f, "netlink {op}"),
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
