//! Renderers for the namespace topology: a tree for people, JSON for
//! programs, Graphviz DOT for pictures.

use std::fmt::Write as _;

use nstrace_common::NsType;

use super::safe;
use super::wire::{
    self, BridgeWire, ComposeWire, ContainerWire, DockerWire, InfraWire, InterfaceWire,
    ListenerWire, NetworkWire, NodeWire, NsObj, Ordered, OwnerWire, PeerWire, PlainWire, PodFlags,
    PodWire, ProcWire, PublishedWire, TopologyDoc,
};
use crate::event::names::signal_name;
use crate::model::net::{IfAddr, NetIf};
use crate::model::short_id as short;
use crate::model::topology::{
    Container, Listener, Network, PlainNs, Pod, ProcView, Topology, MATRIX_TYPES,
};

/// Topology output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopoFormat {
    /// Pods → containers → processes, with the sharing matrix.
    Tree,
    /// One JSON document (schema in the README).
    Json,
    /// Graphviz: namespaces and processes, pods as clusters.
    Dot,
}

/// Renders `t` in `format`.
pub fn render(t: &Topology, format: TopoFormat) -> String {
    match format {
        TopoFormat::Tree => tree(t),
        TopoFormat::Json => json(t),
        TopoFormat::Dot => dot(t),
    }
}

fn proc_line(s: &mut String, p: &ProcView, indent: &str) {
    let _ = write!(s, "{indent}{} {}", p.pid, safe(&p.comm));
    if p.ns_pid != p.pid {
        let _ = write!(s, " (pid {} inside)", p.ns_pid);
    }
    if p.zombie {
        s.push_str(" <zombie>");
    }
    s.push('\n');
}

/// Where a listener listens: `:80` for any address, else `ADDR:PORT`.
pub fn listen_endpoint(l: &Listener) -> String {
    if l.addr.is_unspecified() {
        format!(":{}", l.port)
    } else {
        std::net::SocketAddr::new(l.addr, l.port).to_string()
    }
}

/// `tcp`, `tcp6`, `udp`, `udp6` (as `ss` and `netstat` print them).
pub fn transport(l: &Listener) -> String {
    format!(
        "{}{}",
        l.proto.name(),
        if l.addr.is_ipv6() { "6" } else { "" }
    )
}

/// Who holds a listener: its containers' names, else its processes.
fn holder(l: &Listener) -> String {
    let mut ctrs: Vec<String> = Vec::new();
    for o in &l.owners {
        if let Some(c) = &o.container {
            let c = safe(&c.to_string()).into_owned();
            if !ctrs.contains(&c) {
                ctrs.push(c);
            }
        }
    }
    if !ctrs.is_empty() {
        return ctrs.join("+");
    }
    match l.owners.first() {
        Some(o) if o.comm.is_empty() => format!("pid {}", o.pid),
        Some(o) => format!("{} {}", safe(&o.comm), o.pid),
        None => "a process not found".to_owned(),
    }
}

/// "web listens on :80 (tcp6, httpd 1201), sidecar on :9090 (tcp, nc 1302)
/// (both reachable as localhost within the pod)".
pub fn listening_line(n: &Network, within: &str) -> String {
    if n.listeners.is_empty() {
        return if n.node_network {
            "no listener of its own".to_owned()
        } else {
            "no listener".to_owned()
        };
    }
    let mut parts = Vec::new();
    let mut last_who = String::new();
    for (i, l) in n.listeners.iter().enumerate() {
        let who = holder(l);
        let procs: Vec<String> = l
            .owners
            .iter()
            .map(|o| {
                if o.comm.is_empty() {
                    o.pid.to_string()
                } else {
                    format!("{} {}", safe(&o.comm), o.pid)
                }
            })
            .collect();
        let verb = if i == 0 { " listens on " } else { " on " };
        let mut part = if who == last_who {
            listen_endpoint(l)
        } else {
            format!("{who}{verb}{}", listen_endpoint(l))
        };
        part.push_str(&format!(" ({}", transport(l)));
        if !procs.is_empty() {
            part.push_str(&format!(", {}", procs.join(", ")));
        }
        part.push(')');
        if !l.on_localhost && !n.node_network {
            part.push_str(" [not on localhost]");
        }
        parts.push(part);
        last_who = who;
    }
    let mut line = parts.join(", ");
    let local = n.listeners.iter().filter(|l| l.on_localhost).count();
    if !n.node_network && local > 0 {
        let all = match (local, n.listeners.len()) {
            (1, 1) => "reachable",
            (2, 2) => "both reachable",
            (a, b) if a == b => "all reachable",
            _ => "the others reachable",
        };
        line.push_str(&format!(" — {all} as localhost within {within}"));
    }
    line
}

fn addr_list(addrs: &[IfAddr]) -> String {
    addrs
        .iter()
        .map(IfAddr::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn interface_line(s: &mut String, i: &NetIf, indent: &str) {
    let _ = write!(
        s,
        "{indent}{:<6} {}  {}",
        safe(&i.name),
        safe(&i.kind),
        if i.up { "up" } else { "down" }
    );
    if !i.addrs.is_empty() {
        let _ = write!(s, "  {}", addr_list(&i.addrs));
    }
    if let Some(m) = i.mac.as_deref().filter(|m| *m != "00:00:00:00:00:00") {
        let _ = write!(s, "  mac {m}");
    }
    s.push('\n');
    if let Some(p) = &i.peer {
        let _ = write!(
            s,
            "{indent}       node side: {} ifindex {} {}",
            safe(&p.ifname),
            p.ifindex,
            if p.up { "up" } else { "down" }
        );
        match &p.bridge {
            Some(b) => {
                let _ = write!(
                    s,
                    ", on {} {}{}",
                    safe(&b.kind),
                    safe(&b.name),
                    if b.addrs.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", addr_list(&b.addrs))
                    }
                );
            }
            None => s.push_str(", on no bridge"),
        }
        s.push('\n');
    } else if i.kind == "veth" {
        let _ = writeln!(
            s,
            "{indent}       peer: {}",
            i.link.as_deref().map_or("not found".into(), safe)
        );
    } else if let Some(l) = &i.link {
        let _ = writeln!(s, "{indent}       linked to {}", safe(l));
    }
}

/// The `network:` block of a pod, a lone container or a network namespace.
fn network_tree(s: &mut String, n: &Network, indent: &str, within: &str) {
    if n.node_network {
        let _ = writeln!(s, "{indent}network: node network (net {})", n.netns);
    } else {
        let ip = n.main_ip().map(|ip| format!("{ip} ")).unwrap_or_default();
        let _ = writeln!(s, "{indent}network: {ip}(net {})", n.netns);
    }
    let inner = format!("{indent}  ");
    if let Some(e) = &n.error {
        let _ = writeln!(s, "{inner}could not be read: {}", safe(e));
        return;
    }
    if !n.read {
        let _ = writeln!(s, "{inner}not read yet");
        return;
    }
    for i in &n.interfaces {
        interface_line(s, i, &inner);
    }
    let _ = writeln!(s, "{inner}listening: {}", listening_line(n, within));
}

fn container_tree(s: &mut String, c: &Container, indent: &str) {
    let role = if c.infra {
        "infra container"
    } else {
        "container"
    };
    let id = match c.name() {
        Some(_) => format!(" ({})", short(&c.id)),
        None => String::new(),
    };
    let _ = writeln!(
        s,
        "{indent}{role} {}{id}  init {} {}  mnt {} pid {}",
        safe(c.label()),
        c.init.pid,
        safe(&c.init.comm),
        c.ns.mnt,
        c.ns.pid
    );
    let _ = writeln!(
        s,
        "{indent}    init: {}{}",
        safe(&c.init_kind),
        c.init_child
            .as_deref()
            .map(|ch| format!(" → {}", safe(ch)))
            .unwrap_or_default()
    );
    if let Some(d) = c.names.as_ref().and_then(|n| n.docker()) {
        let mut facts = vec![format!("docker name {}", safe(&d.name))];
        facts.extend(c.sharing.iter().map(|x| safe(x).into_owned()));
        if d.privileged {
            facts.push("privileged".into());
        }
        if !d.cap_add.is_empty() {
            facts.push(format!("cap-add {}", safe(&d.cap_add.join(","))));
        }
        if let Some(sig) = d.stop_signal {
            facts.push(format!("stop signal {}", signal_name(sig)));
        }
        facts.push(match d.stop_timeout {
            Some(t) => format!("stop timeout {t}s"),
            None => "stop timeout 10s (default)".into(),
        });
        if let Some(r) = &d.restart {
            facts.push(format!("restart {} ({} so far)", safe(r), d.restart_count));
        }
        let _ = writeln!(s, "{indent}    docker: {}", facts.join("; "));
        for p in &c.published {
            let _ = writeln!(
                s,
                "{indent}    published: {} ({})",
                safe(&p.mapping(c.label())),
                safe(&p.status())
            );
        }
    }
    for p in &c.processes {
        proc_line(s, p, &format!("{indent}    "));
    }
}

/// The human tree.
pub fn tree(t: &Topology) -> String {
    let mut s = String::new();
    let n = &t.node;
    let _ = writeln!(
        s,
        "node {}  ({} processes in the node's namespaces)\n  namespaces: mnt {} uts {} ipc {} pid {} net {} user {} cgroup {} time {}",
        safe(&t.node_hostname), t.node_processes, n.mnt, n.uts, n.ipc, n.pid, n.net, n.user, n.cgroup, n.time
    );
    for pod in &t.pods {
        let mut flags = Vec::new();
        for (on, name) in [
            (pod.host_network, "hostNetwork"),
            (pod.host_pid, "hostPID"),
            (pod.host_ipc, "hostIPC"),
            (pod.share_process_namespace, "shareProcessNamespace"),
        ] {
            if on {
                flags.push(name);
            }
        }
        let _ = write!(s, "\npod {}", safe(&pod.pod_ref().to_string()));
        if let Some(id) = &pod.id {
            let _ = write!(s, "  id {}", safe(short(id)));
        }
        let _ = writeln!(
            s,
            "  ({} containers{})",
            pod.containers.len(),
            if flags.is_empty() {
                String::new()
            } else {
                format!("; {}", flags.join(", "))
            }
        );
        match pod.infra() {
            Some(i) => {
                let _ = writeln!(s, "  infra: pid {} {}", i.init.pid, safe(&i.init.comm));
            }
            None => s.push_str("  infra: none found\n"),
        }
        s.push_str("  sharing:");
        for (i, t) in MATRIX_TYPES.iter().enumerate() {
            let _ = write!(s, " {}={}", t.name(), pod.sharing[i].name());
        }
        s.push('\n');
        if let Some(n) = &pod.network {
            network_tree(&mut s, n, "  ", "the pod");
        }
        for c in &pod.containers {
            container_tree(&mut s, c, "  ");
        }
    }
    if !t.lone.is_empty() {
        s.push_str("\nlone containers (share nothing with a pod)\n");
        for c in &t.lone {
            container_tree(&mut s, c, "  ");
            if let Some(n) = &c.network {
                network_tree(&mut s, n, "    ", "the container");
            }
        }
    }
    if !t.plain.is_empty() {
        s.push_str("\nother namespaces (not the node's, not in a container)\n");
        for p in &t.plain {
            plain_line(&mut s, p);
            if let Some(n) = &p.network {
                network_tree(&mut s, n, "    ", "the namespace");
            }
        }
    }
    s
}

fn plain_line(s: &mut String, p: &PlainNs) {
    let _ = write!(s, "  {} {}", p.ns_type.name(), p.inode);
    if p.processes.is_empty() {
        s.push_str("  no process");
    } else {
        let list: Vec<String> = p
            .processes
            .iter()
            .map(|v| format!("{} {}", v.pid, safe(&v.comm)))
            .collect();
        let _ = write!(s, "  processes: {}", list.join(", "));
    }
    if !p.pinned_by.is_empty() {
        let _ = write!(s, "  pinned by {}", safe(&p.pinned_by.join(", ")));
    }
    if p.shares_node_mnt {
        s.push_str("  (no own mount namespace: its /proc shows the node's processes)");
    }
    s.push('\n');
}

fn proc_wire(p: &ProcView) -> ProcWire<'_> {
    ProcWire {
        pid: p.pid,
        ppid: p.ppid,
        ns_pid: p.ns_pid,
        comm: &p.comm,
        zombie: p.zombie,
        ns: NsObj(&p.ns),
    }
}

fn addr_strings(addrs: &[IfAddr]) -> Vec<String> {
    addrs.iter().map(IfAddr::to_string).collect()
}

/// A network as its wire type.
pub fn network_wire(n: &Network) -> NetworkWire<'_> {
    NetworkWire {
        netns: n.netns,
        node_network: n.node_network,
        read: n.read,
        ip: n.main_ip().map(|ip| ip.to_string()),
        lo_up: n.lo_up,
        interfaces: n
            .interfaces
            .iter()
            .map(|i| InterfaceWire {
                name: &i.name,
                index: i.index,
                kind: &i.kind,
                up: i.up,
                mac: i.mac.as_deref(),
                addrs: addr_strings(&i.addrs),
                peer: i.peer.as_ref().map(|p| PeerWire {
                    ifname: &p.ifname,
                    ifindex: p.ifindex,
                    up: p.up,
                    bridge: p.bridge.as_ref().map(|b| BridgeWire {
                        name: &b.name,
                        index: b.index,
                        kind: &b.kind,
                        up: b.up,
                        addrs: addr_strings(&b.addrs),
                    }),
                }),
                link: i.link.as_deref(),
            })
            .collect(),
        listeners: n
            .listeners
            .iter()
            .map(|l| ListenerWire {
                proto: l.proto.name(),
                family: if l.addr.is_ipv6() { "ipv6" } else { "ipv4" },
                addr: l.addr.to_string(),
                port: l.port,
                localhost: l.on_localhost,
                inode: l.inode,
                owners: l
                    .owners
                    .iter()
                    .map(|o| OwnerWire {
                        pid: o.pid,
                        comm: &o.comm,
                        container: o.container.as_ref().map(|c| c.id.as_str()),
                        container_name: o.container.as_ref().and_then(|c| c.name.as_deref()),
                    })
                    .collect(),
            })
            .collect(),
        error: n.error.as_deref(),
    }
}

fn docker_wire(c: &Container) -> Option<DockerWire<'_>> {
    let d = c.names.as_ref()?.docker()?;
    Some(DockerWire {
        name: &d.name,
        compose: d.compose.as_ref().map(|x| ComposeWire {
            project: &x.project,
            service: &x.service,
            number: x.number,
            oneoff: x.oneoff,
        }),
        sharing: &c.sharing,
        init: d.init,
        privileged: d.privileged,
        cap_add: &d.cap_add,
        stop_signal: d.stop_signal.map(|s| signal_name(s).into_owned()),
        stop_timeout_s: d.stop_timeout,
        restart: d.restart.as_deref(),
        restart_count: d.restart_count,
        published: c
            .published
            .iter()
            .map(|p| PublishedWire {
                mapping: p.mapping(c.label()),
                proto: p.binding.proto.clone(),
                host_ip: p.binding.host_ip.map(|ip| ip.to_string()),
                host_port: p.binding.host_port,
                container_port: p.binding.container_port,
                holder_pid: p.holder.as_ref().map(|h| h.pid),
                holder_comm: p.holder.as_ref().map(|h| h.comm.clone()),
                by_proxy: p.by_proxy,
                conflict: p.conflict,
                checked: p.checked,
            })
            .collect(),
    })
}

fn container_wire(c: &Container) -> ContainerWire<'_> {
    ContainerWire {
        docker: docker_wire(c),
        id: &c.id,
        name: c.name(),
        runtime_id: c.runtime_id,
        runtime: c.names.as_ref().map(|n| n.runtime.name()),
        infra: c.infra,
        init: proc_wire(&c.init),
        init_kind: &c.init_kind,
        init_child: c.init_child.as_deref(),
        init_sigterm: c.init_sigterm.name(),
        hostname: c.hostname.as_deref(),
        ns: NsObj(&c.ns),
        processes: c.processes.iter().map(proc_wire).collect(),
        network: c.network.as_ref().map(network_wire),
    }
}

/// A pod as its wire type.
pub fn pod_wire(pod: &Pod) -> PodWire<'_> {
    PodWire {
        name: &pod.name,
        namespace: pod.namespace.as_deref(),
        uid: pod.uid.as_deref(),
        id: pod.id.as_deref(),
        infra: pod.infra().map(|i| InfraWire {
            container: &i.id,
            pid: i.init.pid,
            comm: &i.init.comm,
        }),
        flags: PodFlags {
            hostNetwork: pod.host_network,
            hostPID: pod.host_pid,
            hostIPC: pod.host_ipc,
            shareProcessNamespace: pod.share_process_namespace,
        },
        sharing: Ordered(
            MATRIX_TYPES
                .iter()
                .zip(pod.sharing)
                .map(|(t, sh)| (t.name(), sh.name()))
                .collect(),
        ),
        containers: pod.containers.iter().map(container_wire).collect(),
        network: pod.network.as_ref().map(network_wire),
    }
}

/// The topology as its wire type.
pub fn document(t: &Topology) -> TopologyDoc<'_> {
    TopologyDoc {
        node: NodeWire {
            hostname: &t.node_hostname,
            ns: NsObj(&t.node),
            processes: t.node_processes,
        },
        pods: t.pods.iter().map(pod_wire).collect(),
        lone_containers: t.lone.iter().map(container_wire).collect(),
        namespaces: t
            .plain
            .iter()
            .map(|p| PlainWire {
                ns_type: p.ns_type.name(),
                inode: p.inode,
                processes: p.processes.iter().map(proc_wire).collect(),
                pinned_by: &p.pinned_by,
                shares_node_mnt: p.shares_node_mnt,
                network: p.network.as_ref().map(network_wire),
            })
            .collect(),
    }
}

/// One JSON document.
pub fn json(t: &Topology) -> String {
    wire::to_line(&document(t))
}

fn dot_escape(s: &str) -> String {
    safe(s).replace('\\', "\\\\").replace('"', "\\\"")
}

/// Node-side devices (veth peers, bridges) and the edges to them, gathered
/// while the pods are drawn and drawn in the node's cluster.
#[derive(Default)]
struct NodeSide {
    /// DOT id → node statement.
    nodes: std::collections::BTreeMap<String, String>,
    edges: Vec<String>,
}

/// A network's interfaces (inside the current cluster), a note with its
/// listeners, and its veth pairs to the node's bridge (gathered in `side`).
fn network_dot(s: &mut String, n: &Network, within: &str, side: &mut NodeSide) {
    if n.node_network {
        if !n.listeners.is_empty() {
            let _ = writeln!(
                s,
                "    \"net_{0}_listen_{1}\" [shape=note, label=\"node network\\nlistening: {2}\"];",
                n.netns,
                n.listeners[0].inode,
                dot_escape(&listening_line(n, within))
            );
        }
        return;
    }
    for i in &n.interfaces {
        let _ = writeln!(
            s,
            "    if_{0}_{1} [shape=component, label=\"{2}\\n{3}\"];",
            n.netns,
            i.index,
            dot_escape(&i.name),
            addr_list(&i.addrs).replace(' ', "\\n")
        );
        let Some(p) = &i.peer else { continue };
        let peer = format!("nodeif_{}", p.ifindex);
        side.nodes.insert(
            peer.clone(),
            format!(
                "    {peer} [shape=component, label=\"{} (ifindex {})\"];",
                dot_escape(&p.ifname),
                p.ifindex
            ),
        );
        side.edges.push(format!(
            "  if_{}_{} -> {peer} [dir=none, style=bold, label=\"veth\"];",
            n.netns, i.index
        ));
        if let Some(b) = &p.bridge {
            let br = format!("nodeif_{}", b.index);
            side.nodes.insert(
                br.clone(),
                format!(
                    "    {br} [shape=box3d, label=\"{} {}\\n{}\"];",
                    dot_escape(&b.kind),
                    dot_escape(&b.name),
                    addr_list(&b.addrs).replace(' ', "\\n")
                ),
            );
            side.edges
                .push(format!("  {peer} -> {br} [label=\"master\"];"));
        }
    }
    if n.read {
        let _ = writeln!(
            s,
            "    net_{0} [shape=note, label=\"net {0}\\nlistening: {1}\"];",
            n.netns,
            dot_escape(&listening_line(n, within))
        );
    }
}

/// Graphviz DOT.
pub fn dot(t: &Topology) -> String {
    let mut side = NodeSide::default();
    let mut s = String::from(
        "digraph nstrace {\n  rankdir=LR;\n  node [fontname=\"monospace\", fontsize=10];\n",
    );
    let mut ns_nodes = std::collections::BTreeSet::new();
    let mut edge = |s: &mut String, pid: u32, t: NsType, ino: u32| {
        if ino == 0 || t == NsType::PidForChildren {
            return;
        }
        ns_nodes.insert((t, ino));
        let _ = writeln!(s, "  p{pid} -> ns_{}_{ino};", t.name());
    };
    let container_dot =
        |s: &mut String, c: &Container, edge: &mut dyn FnMut(&mut String, u32, NsType, u32)| {
            let _ = writeln!(
                s,
                "    subgraph \"cluster_c_{}\" {{ label=\"{}{}\"; style=dashed;",
                dot_escape(&c.id),
                if c.infra { "infra " } else { "container " },
                dot_escape(c.label())
            );
            for p in &c.processes {
                let _ = writeln!(
                    s,
                    "      p{} [shape=box, label=\"{} {}\"];",
                    p.pid,
                    p.pid,
                    dot_escape(&p.comm)
                );
            }
            s.push_str("    }\n");
            for p in &c.processes {
                if p.pid == c.init.pid {
                    for (t, ino) in c.ns.iter() {
                        edge(s, p.pid, t, ino);
                    }
                }
            }
        };
    for (i, pod) in t.pods.iter().enumerate() {
        let _ = writeln!(
            s,
            "  subgraph cluster_pod_{i} {{ label=\"pod {}\"; style=rounded;",
            dot_escape(&pod.pod_ref().to_string())
        );
        for c in &pod.containers {
            container_dot(&mut s, c, &mut edge);
        }
        if let Some(n) = &pod.network {
            network_dot(&mut s, n, "the pod", &mut side);
        }
        s.push_str("  }\n");
    }
    for c in &t.lone {
        container_dot(&mut s, c, &mut edge);
        if let Some(n) = &c.network {
            network_dot(&mut s, n, "the container", &mut side);
        }
    }
    for p in &t.plain {
        ns_nodes.insert((p.ns_type, p.inode));
        for v in &p.processes {
            let _ = writeln!(
                s,
                "  p{} [shape=box, label=\"{} {}\"];",
                v.pid,
                v.pid,
                dot_escape(&v.comm)
            );
            let _ = writeln!(s, "  p{} -> ns_{}_{};", v.pid, p.ns_type.name(), p.inode);
        }
        if let Some(n) = &p.network {
            network_dot(&mut s, n, "the namespace", &mut side);
        }
    }
    // The node's namespaces, always drawn, grey, in a cluster of their own.
    let _ = writeln!(
        s,
        "  subgraph cluster_node {{ label=\"node {} ({} processes)\"; style=filled; fillcolor=whitesmoke;",
        dot_escape(&t.node_hostname),
        t.node_processes
    );
    for (t, ino) in t.node.iter() {
        if t != NsType::PidForChildren && ino != 0 {
            let _ = writeln!(
                s,
                "    ns_{0}_{1} [shape=ellipse, label=\"{0} {1}\\n(node)\", style=filled, fillcolor=lightgrey];",
                t.name(),
                ino
            );
        }
    }
    for node in side.nodes.values() {
        s.push_str(node);
        s.push('\n');
    }
    s.push_str("  }\n");
    for e in &side.edges {
        s.push_str(e);
        s.push('\n');
    }
    for (ty, ino) in ns_nodes {
        if t.node.get(ty) != ino {
            let _ = writeln!(
                s,
                "  ns_{0}_{1} [shape=ellipse, label=\"{0} {1}\"];",
                ty.name(),
                ino
            );
        }
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::net::{NodeBridge, NodePeer, Proto};
    use crate::model::topology::{Owner, Pod, Sharing};
    use crate::model::CtrRef;
    use nstrace_common::NsSet;

    fn listener(port: u16, addr: &str, pid: u32, ctr: Option<&str>) -> Listener {
        let addr: std::net::IpAddr = addr.parse().unwrap();
        Listener {
            proto: Proto::Tcp,
            addr,
            port,
            on_localhost: addr.is_unspecified() || addr.is_loopback(),
            inode: u64::from(port),
            owners: vec![Owner {
                pid,
                comm: "httpd".into(),
                container: ctr.map(|n| CtrRef {
                    id: format!("{:064x}", pid),
                    name: Some(n.into()),
                }),
            }],
        }
    }

    fn network(listeners: Vec<Listener>) -> Network {
        Network {
            netns: 4026532296,
            node_network: false,
            read: true,
            lo_up: true,
            interfaces: vec![NetIf {
                name: "eth0".into(),
                index: 2,
                kind: "veth".into(),
                up: true,
                mac: Some("0a:58:0a:59:00:07".into()),
                addrs: vec![IfAddr {
                    ip: "10.89.0.7".parse().unwrap(),
                    prefix: 24,
                }],
                peer: Some(NodePeer {
                    ifname: "veth2d74ee66".into(),
                    ifindex: 12,
                    up: true,
                    bridge: Some(NodeBridge {
                        name: "cni-podman1".into(),
                        index: 5,
                        kind: "bridge".into(),
                        up: true,
                        addrs: vec![IfAddr {
                            ip: "10.89.0.1".parse().unwrap(),
                            prefix: 24,
                        }],
                    }),
                }),
                link: None,
            }],
            error: None,
            listeners,
        }
    }

    fn topo(n: Network) -> Topology {
        Topology {
            node_hostname: "vm".into(),
            node: NsSet::from_array([1, 2, 3, 4, 4, 6, 7, 8, 9]),
            node_processes: 3,
            pods: vec![Pod {
                namespace: None,
                uid: None,
                name: "web".into(),
                id: None,
                containers: vec![],
                sharing: [Sharing::Shared; 8],
                host_network: false,
                host_pid: false,
                host_ipc: false,
                share_process_namespace: false,
                network: Some(n),
            }],
            lone: vec![],
            plain: vec![],
        }
    }

    #[test]
    fn the_listening_line_names_containers_ports_and_localhost() {
        let n = network(vec![
            listener(80, "::", 101, Some("web")),
            listener(9090, "0.0.0.0", 202, Some("sidecar")),
        ]);
        assert_eq!(
            listening_line(&n, "the pod"),
            "web listens on :80 (tcp6, httpd 101), sidecar on :9090 (tcp, httpd 202) — both reachable as localhost within the pod"
        );
        let n = network(vec![listener(80, "10.89.0.7", 101, Some("web"))]);
        assert_eq!(
            listening_line(&n, "the pod"),
            "web listens on 10.89.0.7:80 (tcp, httpd 101) [not on localhost]"
        );
        assert_eq!(listening_line(&network(vec![]), "the pod"), "no listener");
    }

    #[test]
    fn tree_json_and_dot_show_the_wiring() {
        let t = topo(network(vec![listener(80, "::", 101, Some("web"))]));
        let tree = tree(&t);
        assert!(
            tree.contains("  network: 10.89.0.7 (net 4026532296)\n"),
            "{tree}"
        );
        assert!(
            tree.contains(
                "node side: veth2d74ee66 ifindex 12 up, on bridge cni-podman1 (10.89.0.1/24)"
            ),
            "{tree}"
        );
        let v: serde_json::Value = serde_json::from_str(&json(&t)).unwrap();
        let n = &v["pods"][0]["network"];
        assert_eq!(n["ip"], "10.89.0.7");
        assert_eq!(n["interfaces"][0]["peer"]["ifindex"], 12);
        assert_eq!(n["interfaces"][0]["peer"]["bridge"]["name"], "cni-podman1");
        assert_eq!(n["listeners"][0]["port"], 80);
        assert_eq!(n["listeners"][0]["owners"][0]["container_name"], "web");
        let d = dot(&t);
        assert!(d.contains("if_4026532296_2 -> nodeif_12 [dir=none"), "{d}");
        assert!(
            d.contains("nodeif_12 -> nodeif_5 [label=\"master\"]"),
            "{d}"
        );
        // Both node-side devices are drawn inside the node's cluster.
        let node_cluster = &d[d.find("cluster_node").unwrap()..];
        let end = node_cluster.find("\n  }\n").unwrap();
        assert!(node_cluster[..end].contains("nodeif_5 [shape=box3d"), "{d}");
    }
}
