//! What the model knows about network namespaces: the wiring and listeners
//! of each one as last read (interfaces, addresses, the veth peer on the
//! node and its bridge, who holds which port), and who held a port when a
//! bind lost over it. Plain data, read by the session's network source (I/O)
//! and recorded, so a replay shows what the live run showed; serde derives
//! are for the record file.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A transport whose port space a clash is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP (MPTCP shares its port space).
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// "tcp" or "udp".
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// The port space of a socket of this type and protocol (as a bind event
    /// carries them); `None` for one that has no TCP/UDP port (raw, SCTP…).
    pub fn of_socket(sock_type: u16, protocol: u16) -> Option<Proto> {
        use nstrace_common as c;
        match (sock_type, protocol) {
            (_, c::IPPROTO_TCP | c::IPPROTO_MPTCP) => Some(Proto::Tcp),
            (_, c::IPPROTO_UDP) => Some(Proto::Udp),
            (c::SOCK_STREAM, 0) => Some(Proto::Tcp),
            (c::SOCK_DGRAM, 0) => Some(Proto::Udp),
            _ => None,
        }
    }
}

/// An interface address with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfAddr {
    /// The address.
    pub ip: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl std::fmt::Display for IfAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

/// The master of a node-side peer: normally the bridge the pods hang on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeBridge {
    /// Its name on the node (`cni-podman1`).
    pub name: String,
    /// Its ifindex on the node.
    pub index: u32,
    /// Its kind (`bridge`, or a bond, vrf, openvswitch…).
    pub kind: String,
    /// Up.
    pub up: bool,
    /// Its addresses: the pods' gateway.
    pub addrs: Vec<IfAddr>,
}

/// The node-side end of a pod's veth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePeer {
    /// Its name on the node (`veth2d74ee66`).
    pub ifname: String,
    /// Its ifindex on the node (what `ip link` on the node numbers it).
    pub ifindex: u32,
    /// Up on the node.
    pub up: bool,
    /// The bridge it is enslaved to, if any.
    pub bridge: Option<NodeBridge>,
}

/// One interface of a network namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetIf {
    /// Name in the namespace (`eth0`).
    pub name: String,
    /// ifindex in the namespace.
    pub index: u32,
    /// Device kind (`veth`, `loopback`, `macvlan`, `ipvlan`, `device`…).
    pub kind: String,
    /// Carries traffic (operationally up).
    pub up: bool,
    /// Ethernet address.
    pub mac: Option<String>,
    /// IPv4 and IPv6 addresses.
    pub addrs: Vec<IfAddr>,
    /// For a veth whose other end is on the node: that end.
    pub peer: Option<NodePeer>,
    /// For other linked devices (a macvlan's parent, a veth into another
    /// namespace): where the link goes, in words.
    pub link: Option<String>,
}

/// A socket bound to a port, and the processes holding it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// TCP or UDP.
    pub proto: Proto,
    /// The local address (`0.0.0.0` / `::` for any).
    pub addr: IpAddr,
    /// The port.
    pub port: u16,
    /// Socket inode.
    pub inode: u64,
    /// Whether it is a listener (TCP LISTEN, or UDP bound and unconnected);
    /// a holder found after a clash may be a bound socket in another state.
    pub listening: bool,
    /// Processes holding it (node pids), ascending; empty when none of the
    /// processes looked at holds it.
    pub pids: Vec<u32>,
}

impl Held {
    /// Whether it takes connections on the namespace's loopback: bound to
    /// any address or to a loopback one.
    pub fn on_localhost(&self) -> bool {
        self.addr.is_unspecified() || self.addr.is_loopback()
    }
}

/// One read of a network namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetFacts {
    /// The namespace (inode).
    pub netns: u32,
    /// When it was read (monotonic ns).
    pub read_ns: u64,
    /// The node's own namespace: no wiring is kept, and only the listeners
    /// of container processes on the node network (hostNetwork).
    pub node: bool,
    /// `lo` is up.
    pub lo_up: bool,
    /// Interfaces, by ifindex.
    pub interfaces: Vec<NetIf>,
    /// TCP listeners and bound unconnected UDP sockets, with their holders.
    pub listeners: Vec<Held>,
    /// Why it could not be read at all (then nothing else is set).
    pub error: Option<String>,
    /// Items that could not be read (names of the problems, counted).
    pub problems: Vec<String>,
}

impl NetFacts {
    /// The same facts, ignoring when they were read.
    pub fn same_as(&self, other: &NetFacts) -> bool {
        NetFacts {
            read_ns: 0,
            ..self.clone()
        } == NetFacts {
            read_ns: 0,
            ..other.clone()
        }
    }
}

/// Who held a port of a namespace right after a bind lost over it: every
/// socket bound to that port, in any state, with its holders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortHolders {
    /// The namespace (inode).
    pub netns: u32,
    /// TCP or UDP.
    pub proto: Proto,
    /// The port.
    pub port: u16,
    /// When it was looked up (monotonic ns).
    pub read_ns: u64,
    /// The sockets bound to it.
    pub holders: Vec<Held>,
    /// Why the lookup failed, if it did.
    pub error: Option<String>,
}

/// Whether a socket bound to `held` stands in the way of a bind to `asked`
/// on the same port: the same address, or either is a wildcard (an IPv6
/// wildcard also covers IPv4 unless the socket is IPV6_V6ONLY, which a bind
/// record does not say: the kernel's EADDRINUSE already says they clashed).
pub fn overlaps(held: IpAddr, asked: IpAddr) -> bool {
    let v4 = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        ip => ip,
    };
    let (h, a) = (v4(held), v4(asked));
    h == a
        || h.is_unspecified() && (h.is_ipv6() || a.is_ipv4())
        || a.is_unspecified() && (a.is_ipv6() || h.is_ipv4())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_families_overlap_as_the_kernel_sees_them() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(overlaps(ip("0.0.0.0"), ip("127.0.0.1")));
        assert!(overlaps(ip("::"), ip("0.0.0.0")), "dual-stack wildcard");
        assert!(overlaps(ip("::"), ip("10.0.0.1")));
        assert!(overlaps(ip("127.0.0.1"), ip("127.0.0.1")));
        assert!(overlaps(ip("::ffff:127.0.0.1"), ip("127.0.0.1")));
        assert!(!overlaps(ip("127.0.0.1"), ip("10.0.0.1")));
        assert!(
            !overlaps(ip("0.0.0.0"), ip("::1")),
            "an IPv4 wildcard leaves IPv6 alone"
        );
        assert!(Held {
            proto: Proto::Tcp,
            addr: ip("::"),
            port: 80,
            inode: 1,
            listening: true,
            pids: vec![],
        }
        .on_localhost());
        assert_eq!(
            Proto::of_socket(nstrace_common::SOCK_STREAM, 0),
            Some(Proto::Tcp)
        );
        assert_eq!(Proto::of_socket(nstrace_common::SOCK_RAW, 255), None);
    }
}
