//! Real pods on a real network, on both runtimes (podman's default bridge, the
//! CNI bridge of the harness's containerd, `hostNetwork`): nstrace's `network:`
//! block checked against `ip` (in the pod's named netns and on the node), the
//! runtime's own pod IP (`podman inspect`, CRI's PodSandboxStatus) and `ss -p`; port clashes between the
//! containers of a pod found by `nstrace audit`. Expected values always come
//! from those tools, never from nstrace. Traffic stays on a pod's own loopback.

use std::process::Command;

use nstrace_tests::pod::{pod_yaml, podman_ok, Ctr, Node, Pod, Runtime, Spec};
use nstrace_tests::prometheus::free_port;
use nstrace_tests::*;

/// `nstrace topology` as text.
fn topology_text() -> String {
    let out = nstrace_tests::nstrace().arg("topology").output().unwrap();
    assert_ok(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command and returns its stdout; panics with its stderr on failure.
fn run(cmd: &str, args: &[&str]) -> String {
    run_ok(Command::new(cmd).args(args))
}

/// `ip -j ARGS` parsed.
fn ip_json(args: &[&str]) -> Value {
    let mut a = vec!["-j"];
    a.extend_from_slice(args);
    serde_json::from_str(&run("ip", &a)).expect("ip -j prints JSON")
}

/// Socket inodes of the TCP listeners `ss -e` shows on `port`, in the network
/// namespace of `netns_pid` (a process of a pod this test started), or the node's.
fn ss_listening(netns_pid: Option<u32>, port: u16) -> Vec<u64> {
    let filter = format!("sport = :{port}");
    let out = match netns_pid {
        Some(pid) => run(
            "nsenter",
            &["-t", &pid.to_string(), "-n", "ss", "-ltnHe", &filter],
        ),
        None => run("ss", &["-ltnHe", &filter]),
    };
    out.split("ino:")
        .skip(1)
        .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

/// Whether process `pid` (one this test started) holds socket inode `ino`.
fn holds(pid: u32, ino: u64) -> bool {
    let want = format!("socket:[{ino}]");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .any(|l| l.to_string_lossy() == want)
        })
        .unwrap_or(false)
}

/// Which process of which container of `pod` holds a TCP listener on `port`,
/// as `ss` and the containers' own fds say; waits until one does.
fn pod_listener(pod: &Pod, netns_pid: Option<u32>, port: u16) -> (u32, Ctr) {
    eventually(
        &format!("a listener of pod {} on port {port}", pod.name),
        || {
            let inodes = ss_listening(netns_pid, port);
            pod.containers().into_iter().find_map(|c| {
                let pid = pod
                    .pids_of(&c)
                    .into_iter()
                    .find(|p| inodes.iter().any(|i| holds(*p, *i)))?;
                Some((pid, c))
            })
        },
    )
}

fn sh(cmd: &'static str) -> [&'static str; 3] {
    ["sh", "-c", cmd]
}

nstrace_tests::on_every_runtime!(two_containers_on_one_port_are_a_port_conflict);
nstrace_tests::on_runtimes!([podman, containerd]
    default_bridge_pod_wiring_matches_ip_and_the_runtime,
    server_and_client_over_localhost_share_one_listener_table,
    host_network_pod_lists_its_own_listener,
    host_network_pod_losing_to_the_node_is_a_port_conflict,
);

/// The pod IP as the runtime reports it (`ADDR/PREFIX` from podman; containerd
/// reports the address alone, the prefix is its CNI subnet's).
fn runtime_ip(pod: &Pod, infra: &Ctr) -> String {
    match pod.cri() {
        Some(p) => format!("{}/24", p.ip().expect("CRI reports the pod IP")),
        None => podman_ok(&[
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}/{{.IPPrefixLen}}{{end}}",
            &infra.id,
        ]),
    }
}

/// A pod on the runtime's CNI bridge: its eth0 address is what `ip -n` in its
/// named netns and the runtime say; the node side of its veth is the interface
/// `ip link` on the node numbers with eth0's peer ifindex; it is on the
/// bridge that interface is enslaved to, whose address `ip addr` gives.
fn default_bridge_pod_wiring_matches_ip_and_the_runtime(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let a = sh("while true; do sleep 1; done");
    let pod = node.play(
        "nst-net-wire",
        &pod_yaml("nst-net-wire", "", &[Spec::sh("app", &a)], ""),
    );
    let infra = pod.infra();
    // What the system says.
    let netns = run("ip", &["netns", "identify", &infra.pid.to_string()])
        .trim()
        .to_owned();
    assert!(!netns.is_empty(), "the runtime's CNI netns has a name");
    if let Some(p) = pod.cri() {
        assert_eq!(
            p.netns_path().as_deref(),
            Some(format!("/var/run/netns/{netns}").as_str()),
            "CRI's netns is the one ip names"
        );
    }
    let eth0 = &ip_json(&["-n", &netns, "addr", "show", "dev", "eth0"])[0];
    let pod_ip = eth0["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["family"] == "inet")
        .map(|a| format!("{}/{}", s(a, "local"), u(a, "prefixlen")))
        .expect("eth0 has an IPv4 address");
    assert_eq!(pod_ip, runtime_ip(&pod, &infra), "ip and the runtime agree");
    let peer_index = u(eth0, "link_index");
    let node_links = ip_json(&["link", "show"]);
    let peer = node_links
        .as_array()
        .unwrap()
        .iter()
        .find(|l| u(l, "ifindex") == peer_index)
        .unwrap_or_else(|| panic!("no node interface {peer_index}"));
    let bridge = s(peer, "master").to_owned();
    let bridge_addrs: Vec<String> = ip_json(&["addr", "show", "dev", &bridge])[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{}", s(a, "local"), u(a, "prefixlen")))
        .collect();

    // What nstrace says.
    let t = topology_json();
    let n = &find_pod(&t, "nst-net-wire")["network"];
    assert_eq!(n["node_network"], false);
    assert_eq!(n["read"], true, "{n}");
    assert_eq!(n["netns"], ns_inode(&infra.pid.to_string(), "net"));
    assert_eq!(n["ip"], pod_ip.split('/').next().unwrap());
    let ifs = n["interfaces"].as_array().unwrap();
    let e = ifs
        .iter()
        .find(|i| i["name"] == "eth0")
        .unwrap_or_else(|| panic!("no eth0 in {n}"));
    assert_eq!(e["kind"], "veth");
    assert_eq!(e["index"], eth0["ifindex"]);
    assert_eq!(e["mac"], eth0["address"]);
    assert!(
        e["addrs"].as_array().unwrap().iter().any(|a| *a == pod_ip),
        "{e}"
    );
    assert_eq!(e["peer"]["ifindex"], peer_index);
    assert_eq!(e["peer"]["ifname"], peer["ifname"]);
    assert_eq!(e["peer"]["bridge"]["name"], bridge.as_str());
    assert_eq!(e["peer"]["bridge"]["kind"], "bridge");
    let got: Vec<&str> = e["peer"]["bridge"]["addrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(got, bridge_addrs, "the bridge's addresses");
    let lo = ifs.iter().find(|i| i["name"] == "lo").expect("lo");
    assert_eq!(lo["up"], true);
    assert_eq!(n["lo_up"], true);
    // The tree says the same in words.
    let text = topology_text();
    let block = &text[text
        .find(&format!("pod {}", pod.selector()))
        .expect("pod in the tree")..];
    assert!(
        block.contains(&format!(
            "node side: {} ifindex {peer_index} up, on bridge {bridge}",
            s(peer, "ifname")
        )),
        "{block}"
    );
}

/// Two containers of one pod running `busybox httpd -f -p 8080` (each in a
/// retry loop, so the pod keeps running): one holds the port, the other's
/// bind is refused. The audit names both and the port; the listener table
/// shows the holder on :8080. An audit started after the holder bound finds
/// it too (looked up right after the refusal). The recording replays to the
/// same finding and the same listener table.
fn two_containers_on_one_port_are_a_port_conflict(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let dir = TempDir::new("net-clash");
    let record = dir.path().join("clash.nst");
    let audit = Tracer::audit(&["--record", record.to_str().unwrap()]);
    let serve = sh("while true; do httpd -f -p 8080; sleep 2; done");
    let pod = node.play(
        "nst-net-clash",
        &pod_yaml(
            "nst-net-clash",
            "",
            &[Spec::sh("one", &serve), Spec::sh("two", &serve)],
            "",
        ),
    );
    let infra = pod.infra();
    // Who holds 8080, as ss says; the other container is the one refused.
    assert_eq!(
        ss_listening(Some(infra.pid), 8080).len(),
        1,
        "one httpd holds the port"
    );
    let (holder_pid, holder) = pod_listener(&pod, Some(infra.pid), 8080);
    let holders = [holder_pid];
    let holder_name = holder.name.clone();
    let loser_name = if holder_name == "one" { "two" } else { "one" };

    let f = audit.wait_for("port_conflict", |v| v["finding"] == "port_conflict");
    assert_eq!(f["severity"], "medium", "{f}");
    assert_eq!(f["pod"], "nst-net-clash");
    assert_eq!(f["container_name"], loser_name, "{f}");
    let pc = &f["port_conflict"];
    assert_eq!(
        (pc["proto"].as_str(), pc["port"].as_u64()),
        (Some("tcp"), Some(8080))
    );
    assert_eq!(pc["relation"], "sibling_container");
    assert_eq!(pc["netns"], ns_inode(&infra.pid.to_string(), "net"));
    assert_eq!(pc["first"]["pid"], holders[0], "{pc}");
    assert_eq!(pc["first"]["place"]["container_name"], holder_name.as_str());
    assert_eq!(pc["then"]["place"]["container_name"], loser_name);
    assert!(
        pc["first"]["bound_ts_ns"].as_u64().is_some(),
        "the holder's bind was traced: {pc}"
    );
    let words = format!("{} {}", s(&f, "summary"), f["evidence"]);
    assert!(words.contains("8080"), "{words}");
    assert!(
        words.contains(&format!("container {holder_name}")),
        "{words}"
    );
    assert!(
        words.contains(&format!("container {loser_name}")),
        "{words}"
    );

    // The listener table: the holder on :8080, and no one else.
    let t = topology_json();
    let ls = find_pod(&t, "nst-net-clash")["network"]["listeners"]
        .as_array()
        .unwrap()
        .clone();
    let on_8080: Vec<&Value> = ls.iter().filter(|l| l["port"] == 8080).collect();
    assert_eq!(on_8080.len(), 1, "{ls:?}");
    assert_eq!(on_8080[0]["owners"][0]["pid"], holders[0]);
    assert_eq!(
        on_8080[0]["owners"][0]["container_name"],
        holder_name.as_str()
    );
    assert_eq!(on_8080[0]["owners"][0]["container"], holder.id.as_str());

    // A second audit, started long after the holder bound: found by lookup.
    let late = Tracer::audit(&[]);
    let f2 = late.wait_for("port_conflict", |v| v["finding"] == "port_conflict");
    let pc2 = &f2["port_conflict"];
    assert_eq!(pc2["holder_found_by"], "lookup", "{f2}");
    assert_eq!(pc2["first"]["pid"], holders[0]);
    assert_eq!(pc2["first"]["bound_ts_ns"], Value::Null);
    let done = late.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let done = audit.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let s = audit_summary(&done.events).expect("summary");
    assert_eq!(
        s["summary"]["by_kind"]["port_conflict"], 1,
        "once per clash: {s}"
    );

    // Replayed: the same finding, and the listener table read at the end.
    let lines = run(
        nstrace_bin().to_str().unwrap(),
        &[
            "replay",
            record.to_str().unwrap(),
            "--audit",
            "--format",
            "json",
        ],
    );
    let again: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["finding"] == "port_conflict")
        .collect();
    assert_eq!(again.len(), 1, "{lines}");
    assert_eq!(
        again[0]["port_conflict"], f["port_conflict"],
        "replay == live"
    );
    let end: Value = serde_json::from_str(&run(
        nstrace_bin().to_str().unwrap(),
        &["replay", record.to_str().unwrap(), "--topology=json"],
    ))
    .unwrap();
    let ls = &find_pod(&end, "nst-net-clash")["network"]["listeners"];
    assert!(
        ls.as_array()
            .unwrap()
            .iter()
            .any(|l| l["port"] == 8080 && l["owners"][0]["pid"] == holders[0]),
        "{ls}"
    );
}

/// A server container and a client container that talk over localhost: both
/// are in the pod's one listener table (the client also serves its own port,
/// as a sidecar does), and nothing is found.
fn server_and_client_over_localhost_share_one_listener_table(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let audit = Tracer::audit(&[]);
    let server =
        sh("mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 8080 -h /www");
    let client = sh(
        "mkdir -p /m && echo up > /m/index.html && httpd -p 9090 -h /m; \
         while true; do wget -q -O - http://localhost:8080/ && echo fetched; sleep 1; done",
    );
    let pod = node.play(
        "nst-net-local",
        &pod_yaml(
            "nst-net-local",
            "",
            &[Spec::sh("server", &server), Spec::sh("client", &client)],
            "",
        ),
    );
    let infra = pod.infra();
    // They talk: the client's log shows the page the server served.
    eventually("the client fetching from localhost", || {
        let logs = pod.logs("client");
        (logs.contains("hello") && logs.contains("fetched")).then_some(())
    });
    let (server_pid, s_ctr) = pod_listener(&pod, Some(infra.pid), 8080);
    let (client_pid, c_ctr) = pod_listener(&pod, Some(infra.pid), 9090);
    assert_eq!(s_ctr.name, "server");
    assert_eq!(c_ctr.name, "client");

    let t = topology_json();
    let n = &find_pod(&t, "nst-net-local")["network"];
    let ls = n["listeners"].as_array().unwrap();
    let owner = |port: u16| {
        ls.iter()
            .find(|l| l["port"] == port)
            .unwrap_or_else(|| panic!("no listener on {port}: {n}"))["owners"][0]
            .clone()
    };
    assert_eq!(owner(8080)["pid"], server_pid);
    assert_eq!(owner(8080)["container_name"], "server");
    assert_eq!(owner(9090)["pid"], client_pid);
    assert_eq!(owner(9090)["container_name"], "client");
    assert!(ls.iter().all(|l| l["localhost"] == true), "{n}");
    let text = topology_text();
    let block = &text[text.find(&format!("pod {}", pod.selector())).unwrap()..];
    assert!(
        block.contains("both reachable as localhost within the pod"),
        "{block}"
    );

    let done = audit.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        findings_above_info(&done.events).is_empty(),
        "{:?}",
        findings_above_info(&done.events)
    );
    assert!(
        !done.events.iter().any(|v| v["finding"] == "port_conflict"),
        "no clash"
    );
}

/// A hostNetwork pod: shown as the node network, listing its own listener
/// (on a port of the node's loopback), attributed to its container; none of
/// the node's own listeners.
fn host_network_pod_lists_its_own_listener(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let port = free_port();
    let cmd = format!("exec httpd -f -p 127.0.0.1:{port}");
    let argv = ["sh", "-c", cmd.as_str()];
    let pod = node.play(
        "nst-net-host",
        &pod_yaml(
            "nst-net-host",
            "  hostNetwork: true\n",
            &[Spec::sh("srv", &argv)],
            "",
        ),
    );
    let (srv_pid, srv) = pod_listener(&pod, None, port);
    let pids = [srv_pid];
    assert_eq!(srv.name, "srv");

    let t = topology_json();
    let p = find_pod(&t, "nst-net-host");
    assert_eq!(p["flags"]["hostNetwork"], true);
    let n = &p["network"];
    assert_eq!(n["node_network"], true, "{n}");
    assert_eq!(n["netns"], t["node"]["ns"]["net"]);
    assert_eq!(n["interfaces"].as_array().unwrap().len(), 0, "{n}");
    let ls = n["listeners"].as_array().unwrap();
    let mine = ls
        .iter()
        .find(|l| l["port"] == port)
        .unwrap_or_else(|| panic!("no listener on {port}: {n}"));
    assert_eq!(mine["addr"], "127.0.0.1");
    assert_eq!(mine["owners"][0]["pid"], pids[0]);
    assert_eq!(mine["owners"][0]["container"], srv.id.as_str());
    assert_eq!(mine["owners"][0]["container_name"], "srv");
    // Only the pod's own: every listener shown is held by one of its containers.
    let ids: Vec<String> = pod.containers().into_iter().map(|c| c.id).collect();
    for l in ls {
        assert!(
            l["owners"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| ids.iter().any(|id| o["container"] == id.as_str())),
            "a node listener shown for the pod: {l}"
        );
    }
    let text = topology_text();
    let block = &text[text.find(&format!("pod {}", pod.selector())).unwrap()..];
    assert!(block.contains("network: node network"), "{block}");
    assert!(
        block.contains(&format!("srv listens on 127.0.0.1:{port}")),
        "{block}"
    );
}

/// A hostNetwork pod whose server loses its port to a process on the node
/// (this test, holding it): `port_conflict` naming the node's process.
fn host_network_pod_losing_to_the_node_is_a_port_conflict(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = held.local_addr().unwrap().port();
    let audit = Tracer::audit(&[]);
    let cmd = format!("while true; do httpd -f -p 127.0.0.1:{port}; sleep 2; done");
    let argv = ["sh", "-c", cmd.as_str()];
    let _pod = node.play(
        "nst-net-hostclash",
        &pod_yaml(
            "nst-net-hostclash",
            "  hostNetwork: true\n",
            &[Spec::sh("srv", &argv)],
            "",
        ),
    );
    // ss agrees that this process holds it.
    let inodes = ss_listening(None, port);
    assert!(
        inodes.iter().any(|i| holds(std::process::id(), *i)),
        "{inodes:?}"
    );
    let f = audit.wait_for("port_conflict", |v| v["finding"] == "port_conflict");
    assert_eq!(f["severity"], "medium", "{f}");
    assert_eq!(f["container_name"], "srv");
    let pc = &f["port_conflict"];
    assert_eq!(pc["node_network"], true);
    assert_eq!(pc["relation"], "node");
    assert_eq!(pc["port"], port);
    assert_eq!(pc["first"]["pid"], std::process::id(), "{pc}");
    assert_eq!(pc["first"]["place"]["class"], "node");
    let done = audit.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    drop(held);
}
