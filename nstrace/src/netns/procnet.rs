//! Pure parsers of `/proc/net/{tcp,tcp6,udp,udp6}` (text in, listeners out).
//!
//! Format (net/ipv4/tcp_ipv4.c `get_tcp4_sock`, net/ipv6/tcp_ipv6.c, udp.c):
//! `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …`
//! * IPv4 address: the `__be32` printed as a host-order `%08X`, so on little-endian
//!   machines `0100007F` is 127.0.0.1;
//! * IPv6 address: the four 32-bit words of `s6_addr32`, each printed as a host-order
//!   `%08X`;
//! * port: `ntohs()` applied, printed `%04X`: read as is;
//! * st: the TCP state (`0A` LISTEN; UDP uses `07` CLOSE for an unconnected socket
//!   and `01` ESTABLISHED for a connected one).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Transport protocol of a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// "tcp" or "udp".
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A socket that accepts traffic: TCP in LISTEN, or UDP bound and not connected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// TCP or UDP.
    pub proto: Proto,
    /// Local address; `0.0.0.0` or `::` for every address of the namespace.
    pub addr: IpAddr,
    /// Local port.
    pub port: u16,
    /// Socket inode: the `socket:[INODE]` that `/proc/PID/fd/*` of its owners link to.
    pub inode: u64,
    /// Owner uid of the socket, as the kernel shows it (in the node's user namespace).
    pub uid: u32,
    /// Processes holding the socket (filled by [`super::NetnsWiring::attach_owners`];
    /// empty until then, or when no candidate process holds it). A pre-forking
    /// server shares one listening socket between several processes.
    pub owners: Vec<u32>,
}

/// One of the four files, and how to read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcNetFile {
    /// `tcp`: TCP over IPv4.
    Tcp,
    /// `tcp6`: TCP over IPv6.
    Tcp6,
    /// `udp`: UDP over IPv4.
    Udp,
    /// `udp6`: UDP over IPv6.
    Udp6,
}

impl ProcNetFile {
    /// All four, in the order they are read.
    pub const ALL: [ProcNetFile; 4] = [Self::Tcp, Self::Tcp6, Self::Udp, Self::Udp6];

    /// File name under `/proc/PID/net/`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Tcp6 => "tcp6",
            Self::Udp => "udp",
            Self::Udp6 => "udp6",
        }
    }

    fn proto(self) -> Proto {
        match self {
            Self::Tcp | Self::Tcp6 => Proto::Tcp,
            Self::Udp | Self::Udp6 => Proto::Udp,
        }
    }

    fn v6(self) -> bool {
        matches!(self, Self::Tcp6 | Self::Udp6)
    }
}

const TCP_LISTEN: u8 = 0x0A;
const UDP_UNCONNECTED: u8 = 0x07;

/// Parses "0100007F:1F90" (IPv4) or 32 hex digits + ":PORT" (IPv6).
pub fn parse_endpoint(s: &str, v6: bool) -> Option<(IpAddr, u16)> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let ip = if v6 {
        if a.len() != 32 || !a.is_ascii() {
            return None;
        }
        let mut b = [0u8; 16];
        for i in 0..4 {
            let w = u32::from_str_radix(&a[i * 8..i * 8 + 8], 16).ok()?;
            // Each word was printed from memory in host order: its bytes in memory are
            // the native-endian bytes of the number.
            b[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
        }
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        if a.len() != 8 {
            return None;
        }
        let w = u32::from_str_radix(a, 16).ok()?;
        IpAddr::V4(Ipv4Addr::from(w.to_ne_bytes()))
    };
    Some((ip, port))
}

/// Result of parsing one file: the listeners, and the 1-based numbers of lines that
/// could not be parsed (the header line is not counted as bad).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The listeners, in file order (owners not filled).
    pub listeners: Vec<Listener>,
    /// Numbers of the lines that did not parse (1-based).
    pub bad_lines: Vec<usize>,
}

/// Parses the text of one of the four files.
pub fn parse(text: &str, file: ProcNetFile) -> Parsed {
    let mut out = Parsed::default();
    for (i, line) in text.lines().enumerate() {
        if i == 0 && line.trim_start().starts_with("sl") {
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line, file) {
            Some(Some(l)) => out.listeners.push(l),
            Some(None) => {}
            None => out.bad_lines.push(i + 1),
        }
    }
    out
}

/// `None`: unparsable; `Some(None)`: a socket that is not a listener.
fn parse_line(line: &str, file: ProcNetFile) -> Option<Option<Listener>> {
    let mut f = line.split_whitespace();
    let _sl = f.next()?.strip_suffix(':')?;
    let (addr, port) = parse_endpoint(f.next()?, file.v6())?;
    let _remote = parse_endpoint(f.next()?, file.v6())?;
    let st = u8::from_str_radix(f.next()?, 16).ok()?;
    let _queues = f.next()?;
    let _timer = f.next()?;
    let _retr = f.next()?;
    let uid: u32 = f.next()?.parse().ok()?;
    let _timeout = f.next()?;
    let inode: u64 = f.next()?.parse().ok()?;
    let listening = match file.proto() {
        Proto::Tcp => st == TCP_LISTEN,
        Proto::Udp => st == UDP_UNCONNECTED && port != 0,
    };
    Some(listening.then(|| Listener {
        proto: file.proto(),
        addr,
        port,
        inode,
        uid,
        owners: Vec::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hand-written in the kernel's format, as a little-endian machine prints it.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 48211 1 0000000000000000 100 0 0 10 0
   1: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 48212 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 48300 1 0000000000000000 20 4 30 10 -1
   3: 0200590A:1F90 0100590A:C350 06 00000000:00000000 03:00001234 00000000     0        0 0 3 0000000000000000
";

    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51000 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51001 1 0000000000000000 100 0 0 10 0
   2: 000080FE00000000FF0A5808050059FE:22B8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51002 1 0000000000000000 100 0 0 10 0
   3: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 51003 1 0000000000000000 20 4 30 10 -1
";

    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  110: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 60001 2 0000000000000000 0
  120: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 60002 2 0000000000000000 0
  130: 0100007F:E3C1 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 60003 2 0000000000000000 0
";

    const UDP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  200: 00000000000000000000000000000000:0222 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 61000 2 0000000000000000 0
";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn tcp4_keeps_listen_only_with_byte_order() {
        let p = parse(TCP, ProcNetFile::Tcp);
        assert!(p.bad_lines.is_empty());
        let got: Vec<_> = p
            .listeners
            .iter()
            .map(|l| (l.proto, l.addr, l.port, l.inode, l.uid))
            .collect();
        if cfg!(target_endian = "little") {
            assert_eq!(
                got,
                vec![
                    (Proto::Tcp, ip("0.0.0.0"), 8080, 48211, 0),
                    (Proto::Tcp, ip("127.0.0.1"), 9090, 48212, 1000),
                ]
            );
        }
    }

    #[test]
    fn tcp6_words_are_host_order() {
        let p = parse(TCP6, ProcNetFile::Tcp6);
        assert!(p.bad_lines.is_empty());
        let got: Vec<_> = p
            .listeners
            .iter()
            .map(|l| (l.addr, l.port, l.inode))
            .collect();
        if cfg!(target_endian = "little") {
            assert_eq!(
                got,
                vec![
                    (ip("::"), 8080, 51000),
                    (ip("::1"), 53, 51001),
                    (ip("fe80::858:aff:fe59:5"), 8888, 51002),
                ]
            );
        }
        // the established v4-mapped one is not a listener
        assert!(!p.listeners.iter().any(|l| l.inode == 51003));
    }

    #[test]
    fn udp_bound_unconnected_only() {
        let p = parse(UDP, ProcNetFile::Udp);
        assert!(p.bad_lines.is_empty());
        let got: Vec<_> = p
            .listeners
            .iter()
            .map(|l| (l.proto, l.addr, l.port, l.uid))
            .collect();
        if cfg!(target_endian = "little") {
            assert_eq!(
                got,
                vec![
                    (Proto::Udp, ip("0.0.0.0"), 68, 0),
                    (Proto::Udp, ip("127.0.0.53"), 53, 101),
                ]
            );
        }
        let p6 = parse(UDP6, ProcNetFile::Udp6);
        assert_eq!(p6.listeners.len(), 1);
        assert_eq!(
            (p6.listeners[0].addr, p6.listeners[0].port),
            (ip("::"), 546)
        );
    }

    #[test]
    fn bad_lines_are_counted_not_fatal() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 48211 1
   1: 0000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   2: 00000000:1F90 00000000:0000 ZZ 00000000:00000000 00:00000000 00000000     0        0 1 1
   3: 00000000:1F90
garbage

   5: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 48213 1
";
        let p = parse(text, ProcNetFile::Tcp);
        assert_eq!(p.bad_lines, vec![3, 4, 5, 6]);
        assert_eq!(p.listeners.len(), 2);
        // an IPv6 address in the IPv4 file, and a short IPv6 one
        assert_eq!(
            parse_endpoint("00000000000000000000000000000000:0050", false),
            None
        );
        assert_eq!(parse_endpoint("0000:0050", true), None);
        assert_eq!(parse_endpoint("00000000:XYZ", false), None);
        assert_eq!(parse("", ProcNetFile::Udp6), Parsed::default());
    }

    #[test]
    fn endpoints_round_trip_native_order() {
        // Build the text the way the kernel does, from memory bytes, on any endianness.
        let v4 = Ipv4Addr::new(10, 89, 0, 2);
        let txt = format!("{:08X}:{:04X}", u32::from_ne_bytes(v4.octets()), 8080);
        assert_eq!(parse_endpoint(&txt, false), Some((IpAddr::V4(v4), 8080)));
        let v6: Ipv6Addr = "2001:db8::1:2".parse().unwrap();
        let o = v6.octets();
        let txt: String = o
            .chunks(4)
            .map(|c| format!("{:08X}", u32::from_ne_bytes(c.try_into().unwrap())))
            .collect::<String>()
            + ":0016";
        assert_eq!(parse_endpoint(&txt, true), Some((IpAddr::V6(v6), 22)));
    }
}
