//! Hand-run tools for the network namespace reader, for comparing with `ip`
//! and `ss` by hand and for timing it (the figures in the README's network
//! section): `netns_read bench` and `netns_read show`, each configured by the
//! environment variables its doc line names. Not tests: they read whatever
//! namespaces the caller points them at and assert nothing.

use std::time::{Duration, Instant};

use nstrace::netns::{read_netns, read_netns_many, Addr, NetnsRef, NodeNet};

/// The value, or a one-line error and exit status 1.
fn or_exit<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| {
        eprintln!("netns_read: {what}: {e:?}");
        std::process::exit(1)
    })
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("bench") => bench(),
        Some("show") => show(),
        _ => {
            eprintln!("usage: netns_read bench|show (see the doc lines in examples/netns_read.rs)");
            std::process::exit(2);
        }
    }
}

/// Measures reading namespaces: `NSTRACE_NETNS_BENCH=/run/netns/nsnet-b0,…` (or a
/// directory: every file in it whose name starts with `nsnet-`), node as
/// [`node_ref`] says. Run with
/// `cargo run --release -p nstrace --example netns_read -- bench`.
fn bench() {
    let spec = std::env::var("NSTRACE_NETNS_BENCH").unwrap_or_else(|_| "/run/netns".into());
    let mut targets: Vec<std::path::PathBuf> = if std::path::Path::new(&spec).is_dir() {
        std::fs::read_dir(&spec)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("nsnet-"))
            .map(|e| e.path())
            .collect()
    } else {
        spec.split(',').map(Into::into).collect()
    };
    targets.sort();
    assert!(!targets.is_empty(), "no namespaces to read");
    let t0 = Instant::now();
    let node = or_exit(NodeNet::open(&node_ref()), "opening the node's namespace");
    let open_node = t0.elapsed();

    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let one = NetnsRef::Path(targets[0].clone());
    let w = or_exit(read_netns(&one, &node), "reading the namespace");
    let ifs: Vec<_> = w.interfaces.iter().map(|i| i.name.as_str()).collect();
    eprintln!(
        "{}: {} interfaces {:?}, {} listeners, {} problems",
        targets[0].display(),
        ifs.len(),
        ifs,
        w.listeners.len(),
        w.problems.len()
    );
    let runs = 500;
    let per_one: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            read_netns(&one, &node).unwrap();
            t.elapsed()
        })
        .collect();
    let all_runs = 50;
    let mut errors = 0;
    let per_all: Vec<Duration> = (0..all_runs)
        .map(|_| {
            let t = Instant::now();
            for p in &targets {
                if read_netns(&NetnsRef::Path(p.clone()), &node).is_err() {
                    errors += 1;
                }
            }
            t.elapsed()
        })
        .collect();
    let per_many: Vec<Duration> = (0..all_runs)
        .map(|_| {
            let refs: Vec<NetnsRef> = targets.iter().map(|p| NetnsRef::Path(p.clone())).collect();
            let t = Instant::now();
            errors += read_netns_many(&refs, &node)
                .iter()
                .filter(|r| r.is_err())
                .count();
            t.elapsed()
        })
        .collect();
    eprintln!(
        "{} namespaces with read_netns_many: median {:?} (min {:?}, max {:?})",
        targets.len(),
        median(per_many.clone()),
        per_many.iter().min().unwrap(),
        per_many.iter().max().unwrap()
    );
    let mut sorted = per_one.clone();
    sorted.sort();
    eprintln!(
        "node open + dump: {open_node:?}\none namespace: median {:?} (p10 {:?}, p90 {:?}, {runs} runs)\n{} namespaces, read_netns each: median {:?} ({all_runs} runs; {errors} errors in all)",
        median(per_one),
        sorted[runs / 10],
        sorted[runs * 9 / 10],
        targets.len(),
        median(per_all.clone())
    );
    eprintln!(
        "  read_netns each: min {:?}, max {:?}",
        per_all.iter().min().unwrap(),
        per_all.iter().max().unwrap()
    );
}

/// Prints what is read for one namespace, for comparing with `ip` by hand:
/// `NSTRACE_NETNS_SHOW=/run/netns/nsnet-a NSTRACE_NETNS_PIDS="123 456" cargo run
/// --release -p nstrace --example netns_read -- show`.
fn show() {
    let Ok(target) = std::env::var("NSTRACE_NETNS_SHOW") else {
        eprintln!("netns_read show: set NSTRACE_NETNS_SHOW to a PID or a namespace file");
        std::process::exit(2);
    };
    let target = match target.parse::<u32>() {
        Ok(pid) => NetnsRef::Pid(pid),
        Err(_) => NetnsRef::Path(target.into()),
    };
    let node = or_exit(NodeNet::open(&node_ref()), "opening the node's namespace");
    // NSTRACE_NETNS_WAIT=FILE: wait for FILE before reading, so that the node
    // snapshot is older than the namespace (checks the one re-read).
    if let Ok(f) = std::env::var("NSTRACE_NETNS_WAIT") {
        while !std::path::Path::new(&f).exists() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let target = match &target {
        NetnsRef::Path(p) if p.to_string_lossy().starts_with("file:") => NetnsRef::Path(
            std::fs::read_to_string(&p.to_string_lossy()[5..])
                .unwrap()
                .trim()
                .into(),
        ),
        t => t.clone(),
    };
    let mut w = or_exit(read_netns(&target, &node), "reading the namespace");
    let pids: Vec<u32> = std::env::var("NSTRACE_NETNS_PIDS")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let scan = w.attach_owners(&pids);
    eprintln!("{w:#?}\n{scan:?}");
    // One line per item, for scripts that compare with `ip -j` and `ss`.
    let addrs = |a: &[Addr]| {
        a.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "NETNS {} lo_up={} node_rereads={}",
        w.netns.inode,
        w.lo_up,
        node.rereads()
    );
    for i in &w.interfaces {
        let peer = i.peer.as_ref().map_or("-".to_string(), |p| {
            let b = p.bridge.as_ref().map_or("-".to_string(), |b| {
                format!("{}/{}/{}/{}", b.name, b.index, b.kind, addrs(&b.addrs))
            });
            format!("{}/{} {}", p.node_ifname, p.node_ifindex, b)
        });
        let link = i
            .link
            .map_or("-".to_string(), |l| format!("{}@{:?}", l.ifindex, l.netns));
        let mac = i.mac.map_or("-".to_string(), |m| m.to_string());
        println!(
            "IF {} {} {} up={} {} {} [{}] link={} peer={}",
            i.name,
            i.index,
            i.kind,
            i.up,
            i.oper.as_str(),
            mac,
            addrs(&i.addrs),
            link,
            peer
        );
    }
    for l in &w.listeners {
        println!(
            "L {} {} {} {} {:?}",
            l.proto.as_str(),
            l.addr,
            l.port,
            l.inode,
            l.owners
        );
    }
}

/// The node for the hand-run tools: `NSTRACE_NETNS_NODE`, else this process's own
/// namespace (the machine rules forbid reading PID 1's, and it is refused here).
fn node_ref() -> NetnsRef {
    std::env::var("NSTRACE_NETNS_NODE")
        .map(|p| NetnsRef::Path(p.into()))
        .unwrap_or_else(|_| NetnsRef::Path("/proc/self/ns/net".into()))
}
