//! Renderers for the namespace topology: a tree for people, JSON for
//! programs, Graphviz DOT for pictures.

use std::fmt::Write as _;

use crate::model::topology::{ns_name, Container, PlainNs, ProcView, Topology, MATRIX_TYPES};

use super::findings::short_id as short;
use super::json::{ns_object, opt_str, string};
use super::safe;

/// Topology output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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
    let _ = writeln!(
        s,
        "{indent}{role} {}  init {} {}  mnt {} pid {}",
        safe(short(&c.id)),
        c.init.pid,
        safe(&c.init.comm),
        c.ns.mnt,
        c.ns.pid
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
        let _ = write!(s, "\npod {}", safe(&pod.name));
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
        for (i, (name, _)) in MATRIX_TYPES.iter().enumerate() {
            let _ = write!(s, " {name}={}", pod.sharing[i].name());
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
    let _ = write!(s, "  {} {}", ns_name(p.ns_type), p.inode);
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

fn proc_json(s: &mut String, p: &ProcView) {
    let _ = write!(
        s,
        "{{\"pid\":{},\"ppid\":{},\"ns_pid\":{},\"comm\":",
        p.pid, p.ppid, p.ns_pid
    );
    string(s, &p.comm);
    let _ = write!(s, ",\"zombie\":{},\"ns\":", p.zombie);
    ns_object(s, &p.ns);
    s.push('}');
}

fn list<T>(s: &mut String, items: &[T], f: impl Fn(&mut String, &T)) {
    s.push('[');
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        f(s, it);
    }
    s.push(']');
}

fn container_json(s: &mut String, c: &Container) {
    s.push_str("{\"id\":");
    string(s, &c.id);
    let _ = write!(
        s,
        ",\"runtime_id\":{},\"infra\":{},\"init\":",
        c.runtime_id, c.infra
    );
    proc_json(s, &c.init);
    s.push_str(",\"hostname\":");
    opt_str(s, c.hostname.as_deref());
    s.push_str(",\"ns\":");
    ns_object(s, &c.ns);
    s.push_str(",\"processes\":");
    list(s, &c.processes, proc_json);
    s.push('}');
}

/// One JSON document.
pub fn json(t: &Topology) -> String {
    let mut s = String::from("{\"node\":{\"hostname\":");
    string(&mut s, &t.node_hostname);
    s.push_str(",\"ns\":");
    ns_object(&mut s, &t.node);
    let _ = write!(s, ",\"processes\":{}}},\"pods\":", t.node_processes);
    list(&mut s, &t.pods, |s, pod| {
        s.push_str("{\"name\":");
        string(s, &pod.name);
        s.push_str(",\"id\":");
        opt_str(s, pod.id.as_deref());
        s.push_str(",\"infra\":");
        match pod.infra() {
            Some(i) => {
                s.push_str("{\"container\":");
                string(s, &i.id);
                let _ = write!(s, ",\"pid\":{},\"comm\":", i.init.pid);
                string(s, &i.init.comm);
                s.push('}');
            }
            None => s.push_str("null"),
        }
        let _ = write!(
            s,
            ",\"flags\":{{\"hostNetwork\":{},\"hostPID\":{},\"hostIPC\":{},\"shareProcessNamespace\":{}}},\"sharing\":{{",
            pod.host_network, pod.host_pid, pod.host_ipc, pod.share_process_namespace
        );
        for (i, (name, _)) in MATRIX_TYPES.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "\"{name}\":\"{}\"", pod.sharing[i].name());
        }
        s.push_str("},\"containers\":");
        list(s, &pod.containers, container_json);
        s.push('}');
    });
    s.push_str(",\"lone_containers\":");
    list(&mut s, &t.lone, container_json);
    s.push_str(",\"namespaces\":");
    list(&mut s, &t.plain, |s, p| {
        let _ = write!(
            s,
            "{{\"type\":\"{}\",\"inode\":{},\"processes\":",
            ns_name(p.ns_type),
            p.inode
        );
        list(s, &p.processes, proc_json);
        s.push_str(",\"pinned_by\":");
        list(s, &p.pinned_by, |s, h| string(s, h));
        let _ = write!(s, ",\"shares_node_mnt\":{}}}", p.shares_node_mnt);
    });
    s.push_str("}\n");
    s
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
    let node_arr = t.node.as_array();
    let mut edge = |s: &mut String, pid: u32, slot: usize, ino: u32| {
        if ino == 0 || slot == 4 {
            return;
        }
        ns_nodes.insert((slot, ino));
        let _ = writeln!(s, "  p{pid} -> ns_{}_{ino};", ns_name(slot));
    };
    let container_dot =
        |s: &mut String, c: &Container, edge: &mut dyn FnMut(&mut String, u32, usize, u32)| {
            let _ = writeln!(
                s,
                "    subgraph \"cluster_c_{}\" {{ label=\"{}{}\"; style=dashed;",
                dot_escape(&c.id),
                if c.infra { "infra " } else { "container " },
                dot_escape(short(&c.id))
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
                    for (slot, ino) in c.ns.as_array().iter().enumerate() {
                        edge(s, p.pid, slot, *ino);
                    }
                }
            }
        };
    for (i, pod) in t.pods.iter().enumerate() {
        let _ = writeln!(
            s,
            "  subgraph cluster_pod_{i} {{ label=\"pod {}\"; style=rounded;",
            dot_escape(&pod.name)
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
            let _ = writeln!(s, "  p{} -> ns_{}_{};", v.pid, ns_name(p.ns_type), p.inode);
        }
    }
    // The node's namespaces, always drawn, grey, in a cluster of their own.
    let _ = writeln!(
        s,
        "  subgraph cluster_node {{ label=\"node {} ({} processes)\"; style=filled; fillcolor=whitesmoke;",
        dot_escape(&t.node_hostname),
        t.node_processes
    );
    for (slot, ino) in node_arr.iter().enumerate() {
        if slot != 4 && *ino != 0 {
            let _ = writeln!(
                s,
                "    ns_{0}_{1} [shape=ellipse, label=\"{0} {1}\\n(node)\", style=filled, fillcolor=lightgrey];",
                ns_name(slot),
                ino
            );
        }
    }
    s.push_str("  }\n");
    for (slot, ino) in ns_nodes {
        if node_arr[slot] != ino {
            let _ = writeln!(
                s,
                "  ns_{0}_{1} [shape=ellipse, label=\"{0} {1}\"];",
                ns_name(slot),
                ino
            );
        }
    }
    s.push_str("}\n");
    s
}
