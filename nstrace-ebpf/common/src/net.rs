//! Sockets: the bind(2) record, the settings of its kernel filter, and the
//! numbers it carries (address families, socket types, protocols, errno).

use crate::event::Header;

/// `AF_INET`.
pub const AF_INET: u16 = 2;
/// `AF_INET6`.
pub const AF_INET6: u16 = 10;
/// `SOCK_STREAM`.
pub const SOCK_STREAM: u16 = 1;
/// `SOCK_DGRAM`.
pub const SOCK_DGRAM: u16 = 2;
/// `SOCK_RAW`.
pub const SOCK_RAW: u16 = 3;
/// `SOCK_SEQPACKET`.
pub const SOCK_SEQPACKET: u16 = 5;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u16 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u16 = 17;
/// `IPPROTO_SCTP`.
pub const IPPROTO_SCTP: u16 = 132;
/// `IPPROTO_UDPLITE`.
pub const IPPROTO_UDPLITE: u16 = 136;
/// `IPPROTO_MPTCP`.
pub const IPPROTO_MPTCP: u16 = 262;
/// `EADDRINUSE`: the only failure the kernel streams.
pub const EADDRINUSE: i32 = 98;

/// bind(2) on an IPv4 or IPv6 socket returned, and it either failed with
/// `EADDRINUSE` (any task) or succeeded on a named port for a task outside
/// the node's mount or network namespace (a container, a pod, a named
/// netns): both filtered in the kernel. The header is the caller; its
/// `ns.net` is the port space the address was asked in.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BindEvent {
    /// The caller.
    pub hdr: Header,
    /// 0, or `-EADDRINUSE`.
    pub ret: i32,
    /// The socket's fd.
    pub fd: i32,
    /// `AF_INET` or `AF_INET6` (from the address asked for).
    pub family: u16,
    /// The port asked for (host byte order; 0 = any, only ever on a failure).
    pub port: u16,
    /// The socket's type (`SOCK_STREAM`, `SOCK_DGRAM`…); 0 if unread.
    pub sock_type: u16,
    /// The socket's protocol (`IPPROTO_TCP`, `IPPROTO_UDP`…); 0 if unread.
    pub protocol: u16,
    /// The address asked for, network byte order: IPv4 in the first 4 bytes.
    pub addr: [u8; 16],
}

/// What the bind filter needs to know about the node, written by the loader
/// into the programs' `NET_CONFIG` global.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetConfig {
    /// The node's mount namespace inode: a successful bind by a task in it
    /// and in the node's network namespace is not streamed.
    pub node_mnt: u32,
    /// The node's network namespace inode.
    pub node_net: u32,
}

#[cfg(feature = "user")]
// SAFETY: plain-old-data, repr(C), no padding, every bit pattern valid.
unsafe impl aya::Pod for NetConfig {}

// The layout both sides rely on, checked where they compile it.
record_layout!(BindEvent {
    hdr,
    ret,
    fd,
    family,
    port,
    sock_type,
    protocol,
    addr
});
no_padding!(NetConfig { node_mnt, node_net });
