use super::types::ARPHRD_LOOPBACK;
use super::*;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

fn raw(index: u32, name: &str, kind: Option<&str>) -> RawLink {
    RawLink {
        index,
        hw_type: 1,
        flags: IFF_UP | IFF_LOWER_UP | 0x1042,
        name: name.into(),
        hwaddr: vec![2, 0, 0, 0, 0, index as u8],
        mtu: Some(1500),
        operstate: Some(6),
        kind: kind.map(Into::into),
        ..RawLink::default()
    }
}

fn raddr(index: u32, ip: &str, prefix: u8, scope: u8) -> RawAddr {
    RawAddr {
        index,
        ip: ip.parse().unwrap(),
        prefix,
        scope,
    }
}

/// A podman-shaped pair: pod eth0 (ifindex 2) ↔ node veth2d74ee66 (ifindex 8) on
/// cni-podman1 (ifindex 5, 10.89.0.1/24). The pod calls the node nsid 0, the node
/// calls the pod nsid 3.
fn podman_like() -> (Dump, NodeSnapshot, NsIds) {
    let lo = RawLink {
        hw_type: ARPHRD_LOOPBACK,
        flags: IFF_UP | IFF_LOWER_UP | 0x8,
        operstate: Some(0),
        hwaddr: vec![0; 6],
        kind: None,
        ..raw(1, "lo", None)
    };
    let eth0 = RawLink {
        link: Some(8),
        link_netnsid: Some(0),
        ..raw(2, "eth0", Some("veth"))
    };
    let dummy = RawLink {
        flags: 0x82,
        operstate: Some(2),
        ..raw(3, "dummy0", Some("dummy"))
    };
    let mv = RawLink {
        link: Some(4),
        link_netnsid: Some(0),
        ..raw(4, "mv0", Some("macvlan"))
    };
    let pod = Dump {
        links: vec![eth0, lo, dummy, mv],
        addrs: vec![
            raddr(1, "127.0.0.1", 8, 254),
            raddr(2, "10.89.0.7", 24, 0),
            raddr(1, "::1", 128, 254),
            raddr(2, "fe80::1", 64, 253),
            raddr(9, "192.0.2.9", 24, 0),
        ],
        skipped: vec![],
    };
    let br = RawLink {
        hwaddr: vec![0x1e, 6, 0x19, 0xf7, 0x23, 0x3a],
        ..raw(5, "cni-podman1", Some("bridge"))
    };
    let peer = RawLink {
        link: Some(2),
        link_netnsid: Some(3),
        master: Some(5),
        slave_kind: Some("bridge".into()),
        ..raw(8, "veth2d74ee66", Some("veth"))
    };
    let other = RawLink {
        link: Some(2),
        link_netnsid: Some(1),
        master: Some(5),
        ..raw(7, "vethcca16749", Some("veth"))
    };
    let node = NodeSnapshot::from_dump(Dump {
        links: vec![br, peer, other],
        addrs: vec![
            raddr(5, "10.89.0.1", 24, 0),
            raddr(5, "fe80::1c06:19ff:fef7:233a", 64, 253),
        ],
        skipped: vec![],
    });
    (
        pod,
        node,
        NsIds {
            node_in_pod: 0,
            pod_in_node: 3,
        },
    )
}

fn id() -> NsId {
    NsId {
        inode: 4026532296,
        dev: 4,
    }
}

#[test]
fn assembles_a_podman_pod() {
    let (pod, node, ids) = podman_like();
    let w = assemble(id(), &pod, &node, ids, vec![]);
    assert!(w.lo_up);
    let names: Vec<_> = w.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["lo", "eth0", "dummy0", "mv0"]);

    let lo = w.interface(1).unwrap();
    assert_eq!(
        (lo.kind.clone(), lo.oper, lo.up),
        (Kind::Loopback, OperState::Unknown, true)
    );
    assert_eq!(lo.addrs.len(), 2);
    assert_eq!(lo.addrs[0].scope, Scope::Host);
    assert!(lo.peer.is_none() && lo.link.is_none());

    let eth0 = w.interface(2).unwrap();
    assert_eq!(eth0.kind, Kind::Veth);
    assert_eq!(eth0.mac.unwrap().to_string(), "02:00:00:00:00:02");
    assert_eq!(
        eth0.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        ["10.89.0.7/24", "fe80::1/64"]
    );
    assert_eq!(
        eth0.link,
        Some(LinkRef {
            ifindex: 8,
            netns: LinkNetns::Node
        })
    );
    let p = eth0.peer.as_ref().unwrap();
    assert_eq!(
        (p.node_ifname.as_str(), p.node_ifindex, p.node_up),
        ("veth2d74ee66", 8, true)
    );
    let b = p.bridge.as_ref().unwrap();
    assert_eq!(
        (b.name.as_str(), b.index, &b.kind),
        ("cni-podman1", 5, &Kind::Bridge)
    );
    assert_eq!(b.addrs[0].ip, IpAddr::V4(Ipv4Addr::new(10, 89, 0, 1)));
    assert_eq!(b.addrs[0].prefix, 24);

    let d = w.interface(3).unwrap();
    assert_eq!(
        (d.kind.clone(), d.up, d.admin_up, d.oper),
        (Kind::Dummy, false, false, OperState::Down)
    );
    // a macvlan's parent on the node is a link, not a peer
    let mv = w.interface(4).unwrap();
    assert!(mv.peer.is_none());
    assert_eq!(mv.link.unwrap().netns, LinkNetns::Node);
    assert!(mv.kind.describe().contains("no peer"));

    assert_eq!(w.problems, vec![Problem::AddrWithoutLink { index: 9 }]);
}

#[test]
fn a_peer_is_confirmed_both_ways() {
    let (pod, node, ids) = podman_like();
    // The node calls this pod 1, not 3: veth2d74ee66 belongs to another pod whose
    // eth0 is also ifindex 2.
    let w = assemble(
        id(),
        &pod,
        &node,
        NsIds {
            pod_in_node: 1,
            ..ids
        },
        vec![],
    );
    assert!(w.interface(2).unwrap().peer.is_none());
    assert!(w.problems.contains(&Problem::PeerNotFound {
        ifname: "eth0".into(),
        node_ifindex: 8
    }));
    // The node has no id for the pod at all.
    let w = assemble(
        id(),
        &pod,
        &node,
        NsIds {
            pod_in_node: -1,
            ..ids
        },
        vec![],
    );
    assert!(w.interface(2).unwrap().peer.is_none());
    // The pod's link points to a namespace that is not the node's.
    let w = assemble(
        id(),
        &pod,
        &node,
        NsIds {
            node_in_pod: 5,
            ..ids
        },
        vec![],
    );
    let eth0 = w.interface(2).unwrap();
    assert!(eth0.peer.is_none());
    assert_eq!(eth0.link.unwrap().netns, LinkNetns::Other { nsid: 0 });
    assert!(!w.problems.iter().any(|p| p.kind() == "peer_not_found"));
    // A veth pair with both ends in the pod.
    let mut same = pod.links.clone();
    same[0].link_netnsid = None;
    same[0].link = Some(3);
    let d = Dump {
        links: same,
        addrs: vec![],
        skipped: vec![DecodeError("x")],
    };
    let w = assemble(id(), &d, &node, ids, vec![]);
    assert_eq!(w.interface(2).unwrap().link.unwrap().netns, LinkNetns::Same);
    assert_eq!(w.problems[0].kind(), "netlink_bad_message");
}

#[test]
fn down_loopback_and_kinds() {
    let lo = RawLink {
        hw_type: ARPHRD_LOOPBACK,
        flags: 0x8,
        operstate: Some(2),
        ..raw(1, "lo", None)
    };
    let d = Dump {
        links: vec![lo],
        ..Dump::default()
    };
    let w = assemble(
        id(),
        &d,
        &NodeSnapshot::default(),
        NsIds {
            node_in_pod: -1,
            pod_in_node: -1,
        },
        vec![],
    );
    assert!(!w.lo_up);
    assert_eq!(Kind::from_raw(Some("ipvtap"), 1), Kind::Ipvlan);
    assert_eq!(Kind::from_raw(Some("geneve"), 1).as_str(), "geneve");
    assert_eq!(Kind::from_raw(None, 1), Kind::Device);
    assert_eq!(OperState::from_raw(Some(9)), OperState::Other(9));
    assert_eq!(Scope::from_raw(253).as_str(), "link");
    assert_eq!(mac_of(&[1, 2, 3, 4]), None);
}

#[test]
fn errors_have_kinds() {
    let me = NodeNet::open(&NetnsRef::Path("/proc/self/ns/net".into())).unwrap();
    match read_netns(&NetnsRef::Pid(0), &me) {
        Err(e) => assert_eq!(e.kind(), "gone"),
        Ok(_) => panic!("pid 0 has no namespace"),
    }
    match read_netns(&NetnsRef::Path("/proc/self/status".into()), &me) {
        Err(e) => assert_eq!(e.kind(), "not_netns"),
        Ok(_) => panic!("not a namespace"),
    }
    match read_netns(&NetnsRef::Pid(std::process::id()), &me) {
        Err(e) => assert_eq!(
            (e.kind(), e.to_string().as_str()),
            ("node_namespace", "this is the node's network namespace")
        ),
        Ok(_) => panic!("own namespace is the node's here"),
    }
}

/// A namespace this test makes itself: a thread unshares a new network namespace,
/// brings `lo` up, binds a TCP listener and a UDP socket on 127.0.0.1, hands back the
/// namespace fd and the sockets, and ends. Needs CAP_SYS_ADMIN: `None` without it.
struct TestNs {
    ns: File,
    tcp: std::net::TcpListener,
    udp: std::net::UdpSocket,
    tcp6: Option<std::net::TcpListener>,
}

fn make_test_ns() -> Option<TestNs> {
    std::thread::spawn(|| {
        // SAFETY: unshare of this thread's network namespace only.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!(
                "skipped: unshare(CLONE_NEWNET): {}",
                io::Error::last_os_error()
            );
            return None;
        }
        let ns = File::open("/proc/thread-self/ns/net").ok()?;
        // Any socket of this namespace carries the interface ioctl.
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
        let mut ifr = [0u8; 40];
        ifr[..2].copy_from_slice(b"lo");
        ifr[16..18].copy_from_slice(&(libc::IFF_UP as i16).to_ne_bytes());
        // SAFETY: SIOCSIFFLAGS with a zero-padded ifreq of sufficient size.
        let rc =
            unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, ifr.as_mut_ptr()) };
        assert_eq!(rc, 0, "SIOCSIFFLAGS lo up: {}", io::Error::last_os_error());
        Some(TestNs {
            ns,
            tcp: std::net::TcpListener::bind("127.0.0.1:0").ok()?,
            udp: std::net::UdpSocket::bind("127.0.0.1:0").ok()?,
            tcp6: std::net::TcpListener::bind("[::1]:0").ok(),
        })
    })
    .join()
    .ok()
    .flatten()
}

fn sock_inode(fd: i32) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/fd/{fd}"))
        .unwrap()
        .ino()
}

#[test]
fn reads_a_namespace_it_made() {
    let Some(t) = make_test_ns() else { return };
    let node = NodeNet::open(&NetnsRef::Path("/proc/self/ns/net".into())).unwrap();
    let target = NetnsRef::Path(format!("/proc/self/fd/{}", t.ns.as_raw_fd()).into());
    let before = nsfd::current_thread_netns().unwrap();
    let mut w = read_netns(&target, &node).unwrap();
    // No thread of this process is left elsewhere: this one never moved.
    assert_eq!(nsfd::current_thread_netns().unwrap(), before);
    assert_ne!(w.netns, node.netns());
    assert!(w.problems.is_empty(), "{:?}", w.problems);

    assert!(w.lo_up);
    assert_eq!(w.interfaces.len(), 1, "{:?}", w.interfaces);
    let lo = &w.interfaces[0];
    assert_eq!(
        (lo.name.as_str(), lo.index, &lo.kind),
        ("lo", 1, &Kind::Loopback)
    );
    assert!(lo
        .addrs
        .iter()
        .any(|a| a.ip == IpAddr::V4(Ipv4Addr::LOCALHOST) && a.prefix == 8));

    let tport = t.tcp.local_addr().unwrap().port();
    let uport = t.udp.local_addr().unwrap().port();
    let tino = sock_inode(t.tcp.as_raw_fd());
    let uino = sock_inode(t.udp.as_raw_fd());
    let find = |p: Proto, port: u16| {
        w.listeners
            .iter()
            .find(|l| l.proto == p && l.port == port)
            .cloned()
    };
    let tl = find(Proto::Tcp, tport).expect("tcp listener");
    assert_eq!((tl.addr, tl.inode), (IpAddr::V4(Ipv4Addr::LOCALHOST), tino));
    let ul = find(Proto::Udp, uport).expect("udp socket");
    assert_eq!((ul.addr, ul.inode), (IpAddr::V4(Ipv4Addr::LOCALHOST), uino));
    if let Some(t6) = &t.tcp6 {
        let l6 = find(Proto::Tcp, t6.local_addr().unwrap().port()).expect("tcp6 listener");
        assert_eq!(l6.addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert!(lo
            .addrs
            .iter()
            .any(|a| a.ip == IpAddr::V6(Ipv6Addr::LOCALHOST)));
    }
    // The node's own listeners are not there.
    let node_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let w2 = read_netns(&target, &node).unwrap();
    assert!(!w2
        .listeners
        .iter()
        .any(|l| l.port == node_l.local_addr().unwrap().port()));

    // The /proc fallback, opened in the same namespace, says the same as inet_diag.
    let ns = NsHandle::open(&target.path()).unwrap();
    let names: Vec<&str> = ProcNetFile::ALL.iter().map(|f| f.name()).collect();
    let files = in_netns(&ns, || nsfd::open_thread_net(&names)).unwrap();
    let mut problems = vec![];
    let mut from_proc = read_listeners(files, &mut problems);
    from_proc.sort_by_key(|a| (a.proto, a.port, a.addr, a.inode));
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(from_proc, w.listeners);
    // and /proc/self/net shows this process's (the node's here) namespace instead
    let (own, problems) = read_proc_net_listeners(std::path::Path::new("/proc/self/net"));
    assert!(problems.is_empty(), "{problems:?}");
    let node_port = node_l.local_addr().unwrap().port();
    assert!(own.iter().any(|l| l.port == node_port));
    assert!(!own.iter().any(|l| l.inode == tino));

    // Several at once, failures in their slots.
    let many = read_netns_many(
        &[
            target.clone(),
            NetnsRef::Path("/proc/self/ns/net".into()),
            NetnsRef::Pid(0),
            target.clone(),
        ],
        &node,
    );
    let kinds: Vec<_> = many
        .iter()
        .map(|r| r.as_ref().map(|w| w.netns).map_err(|e| e.kind()))
        .collect();
    assert_eq!(
        kinds,
        [Ok(w.netns), Err("node_namespace"), Err("gone"), Ok(w.netns)]
    );
    assert_eq!(many[3].as_ref().unwrap().listeners, w.listeners);

    let me = std::process::id();
    let scan = w.attach_owners(&[me, 0]);
    assert_eq!((scan.pids_read, scan.pids_gone), (1, 1));
    assert!(
        w.listeners.iter().all(|l| l.owners == vec![me]),
        "{:?}",
        w.listeners
    );
}
