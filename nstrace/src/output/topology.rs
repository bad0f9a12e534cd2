//! Renderers for the namespace topology: a tree for people, JSON for
//! programs, Graphviz DOT for pictures.

use std::fmt::Write as _;

use nstrace_common::NsType;

use super::safe;
use super::wire::{
    self, ContainerWire, InfraWire, NodeWire, NsObj, Ordered, PlainWire, PodFlags, PodWire,
    ProcWire, TopologyDoc,
};
use crate::model::short_id as short;
use crate::model::topology::{Container, PlainNs, ProcView, Topology, MATRIX_TYPES};

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
        for c in &pod.containers {
            container_tree(&mut s, c, "  ");
        }
    }
    if !t.lone.is_empty() {
        s.push_str("\nlone containers (share nothing with a pod)\n");
        for c in &t.lone {
            container_tree(&mut s, c, "  ");
        }
    }
    if !t.plain.is_empty() {
        s.push_str("\nother namespaces (not the node's, not in a container)\n");
        for p in &t.plain {
            plain_line(&mut s, p);
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

fn container_wire(c: &Container) -> ContainerWire<'_> {
    ContainerWire {
        id: &c.id,
        name: c.name(),
        runtime_id: c.runtime_id,
        infra: c.infra,
        init: proc_wire(&c.init),
        init_kind: &c.init_kind,
        init_child: c.init_child.as_deref(),
        hostname: c.hostname.as_deref(),
        ns: NsObj(&c.ns),
        processes: c.processes.iter().map(proc_wire).collect(),
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
        pods: t
            .pods
            .iter()
            .map(|pod| PodWire {
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
            })
            .collect(),
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

/// Graphviz DOT.
pub fn dot(t: &Topology) -> String {
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
        s.push_str("  }\n");
    }
    for c in &t.lone {
        container_dot(&mut s, c, &mut edge);
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
    s.push_str("  }\n");
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
