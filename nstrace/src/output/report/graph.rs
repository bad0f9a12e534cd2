//! A pod as an inline SVG graph: its containers (the infra dashed) with
//! their init and processes, the namespaces two or more of them share and
//! those that are the node's (grey), and its network — interfaces and
//! addresses, each veth's end on the node and the bridge it is on. Laid out
//! in fixed columns, sized by what it holds; every label is escaped text.

use std::collections::BTreeMap;

use super::super::html::Html;
use super::super::wire::{ContainerWire, NetworkWire, PodWire};
use super::ctr_label;
use crate::model::short_id;

/// Width of the drawing (the SVG scales to the page).
const WIDTH: i32 = 980;
const PAD: i32 = 12;
const LINE: i32 = 15;
/// Container boxes.
const CTR_X: i32 = PAD;
const CTR_W: i32 = 300;
/// Shared-namespace pills.
const NS_X: i32 = 380;
const NS_W: i32 = 180;
const NS_H: i32 = 26;
/// Interfaces in the pod, and their ends on the node.
const IF_X: i32 = 610;
const IF_W: i32 = 170;
const NODE_X: i32 = 815;
const NODE_W: i32 = 155;
/// Processes listed in a box at most.
const MAX_PROCS: usize = 6;

/// The namespace types whose sharing the graph draws (mnt is always a
/// container's own; user, cgroup and time are the node's unless a runtime
/// says otherwise, and then show in the box as "own").
const DRAWN: [&str; 4] = ["net", "ipc", "uts", "pid"];

/// `s` cut to `n` characters, with an ellipsis.
pub(super) fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn inode(ns: &serde_json::Value, t: &str) -> u64 {
    ns[t].as_u64().unwrap_or(0)
}

/// One line of text at (x, y), cut to fit `chars`, the whole in a title.
fn label(h: &mut Html, x: i32, y: i32, class: &'static str, text: &str, chars: usize) {
    let shown = cut(text, chars);
    h.open(
        "text",
        &[
            ("x", &x.to_string()),
            ("y", &y.to_string()),
            ("class", class),
        ],
    );
    if shown != text {
        h.elem("title", &[], text);
    }
    h.text(&shown).close("text");
}

struct Pill {
    ty: &'static str,
    inode: u64,
    node: bool,
    y: i32,
    members: Vec<usize>,
}

/// The pod's graph.
pub fn pod(h: &mut Html, p: &PodWire<'_>) {
    let ctrs: Vec<(&ContainerWire<'_>, serde_json::Value)> = p
        .containers
        .iter()
        .map(|c| (c, serde_json::to_value(&c.ns).unwrap_or_default()))
        .collect();
    // Which namespaces are drawn as pills: shared by two or more, or the node's.
    let node_ns = node_inodes(p);
    let mut groups: BTreeMap<(&'static str, u64), Vec<usize>> = BTreeMap::new();
    for (i, (_, ns)) in ctrs.iter().enumerate() {
        for ty in DRAWN {
            let ino = inode(ns, ty);
            if ino != 0 {
                groups.entry((ty, ino)).or_default().push(i);
            }
        }
    }
    let mut pills: Vec<Pill> = groups
        .into_iter()
        .filter(|((ty, ino), m)| m.len() > 1 || node_ns.get(ty) == Some(ino))
        .map(|((ty, ino), members)| Pill {
            ty,
            inode: ino,
            node: node_ns.get(ty) == Some(&ino),
            y: 0,
            members,
        })
        .collect();
    pills.sort_by_key(|p| DRAWN.iter().position(|t| *t == p.ty));

    // Container boxes, top to bottom.
    let mut boxes: Vec<(i32, i32)> = Vec::new();
    let mut y = PAD;
    for (i, (c, ns)) in ctrs.iter().enumerate() {
        let own: Vec<&str> = ["mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time"]
            .into_iter()
            .filter(|ty| {
                let ino = inode(ns, ty);
                ino != 0
                    && node_ns.get(ty) != Some(&ino)
                    && !pills.iter().any(|p| p.ty == *ty && p.members.contains(&i))
            })
            .collect();
        let lines = 3
            + c.processes.len().min(MAX_PROCS) as i32
            + i32::from(c.processes.len() > MAX_PROCS)
            + i32::from(!own.is_empty());
        let height = 8 + lines * LINE;
        boxes.push((y, height));
        y += height + 10;
    }
    let ctr_bottom = y;

    // Pills spread over the containers' height.
    let n = pills.len() as i32;
    let span = (ctr_bottom - PAD).max(n * (NS_H + 12));
    for (k, pill) in pills.iter_mut().enumerate() {
        pill.y = PAD + (span * (2 * k as i32 + 1)) / (2 * n.max(1)) - NS_H / 2;
    }

    // The network: interfaces (not lo) of the pod's own net namespace.
    let net: Option<&NetworkWire<'_>> = p.network.as_ref();
    let ifs: Vec<_> = net
        .map(|n| {
            n.interfaces
                .iter()
                .filter(|i| i.kind != "loopback")
                .collect()
        })
        .unwrap_or_default();
    let if_h =
        |i: &super::super::wire::InterfaceWire<'_>| 8 + (1 + i.addrs.len().max(1) as i32) * LINE;
    let mut if_y = Vec::new();
    let mut yy = PAD;
    for i in &ifs {
        if_y.push(yy);
        yy += if_h(i) + 30;
    }
    let bridge = ifs
        .iter()
        .find_map(|i| i.peer.as_ref().and_then(|p| p.bridge.as_ref()));
    let bridge_y = yy;
    let net_bottom = yy
        + if bridge.is_some() {
            8 + 2 * LINE + PAD
        } else {
            0
        };
    let height = ctr_bottom.max(PAD + span + PAD).max(net_bottom) + PAD;

    h.open(
        "svg",
        &[
            ("class", "graph"),
            ("viewBox", &format!("0 0 {WIDTH} {height}")),
            ("role", "img"),
            ("aria-label", &format!("pod {} as a graph", p.name)),
            ("xmlns", "http://www.w3.org/2000/svg"),
        ],
    );

    // Edges first, under the boxes.
    for pill in &pills {
        let (px, py) = (NS_X, pill.y + NS_H / 2);
        for &i in &pill.members {
            let (by, bh) = boxes[i];
            let (bx, bmid) = (CTR_X + CTR_W, by + bh / 2);
            h.empty(
                "path",
                &[
                    ("class", "g-edge"),
                    (
                        "d",
                        &format!(
                            "M{bx},{bmid} C{},{bmid} {},{py} {px},{py}",
                            bx + 40,
                            px - 40
                        ),
                    ),
                ],
            );
        }
    }
    let net_pill = pills.iter().find(|p| p.ty == "net");
    for (k, i) in ifs.iter().enumerate() {
        let iy = if_y[k] + if_h(i) / 2;
        if let Some(np) = net_pill {
            let (sx, sy) = (NS_X + NS_W, np.y + NS_H / 2);
            h.empty(
                "path",
                &[
                    ("class", "g-edge"),
                    (
                        "d",
                        &format!(
                            "M{sx},{sy} C{},{sy} {},{iy} {IF_X},{iy}",
                            sx + 25,
                            IF_X - 25
                        ),
                    ),
                ],
            );
        }
        if let Some(peer) = &i.peer {
            h.empty(
                "line",
                &[
                    ("class", "g-edge veth"),
                    ("x1", &(IF_X + IF_W).to_string()),
                    ("y1", &iy.to_string()),
                    ("x2", &NODE_X.to_string()),
                    ("y2", &iy.to_string()),
                ],
            );
            label(h, IF_X + IF_W + 4, iy - 4, "g-small", "veth", 6);
            if peer.bridge.is_some() {
                let bx = NODE_X + NODE_W / 2;
                h.empty(
                    "line",
                    &[
                        ("class", "g-edge"),
                        ("x1", &bx.to_string()),
                        ("y1", &(if_y[k] + if_h(i)).to_string()),
                        ("x2", &bx.to_string()),
                        ("y2", &bridge_y.to_string()),
                    ],
                );
            }
        }
    }

    // Containers.
    for (i, (c, ns)) in ctrs.iter().enumerate() {
        let (by, bh) = boxes[i];
        h.open(
            "g",
            &[
                ("class", if c.infra { "g-ctr g-infra" } else { "g-ctr" }),
                ("data-container", c.id),
            ],
        )
        .elem("title", &[], &format!("container {}", c.id))
        .empty(
            "rect",
            &[
                ("x", &CTR_X.to_string()),
                ("y", &by.to_string()),
                ("width", &CTR_W.to_string()),
                ("height", &bh.to_string()),
                ("rx", "6"),
            ],
        );
        let x = CTR_X + 8;
        let mut ly = by + 4 + LINE;
        let head = format!(
            "{} {}{}",
            if c.infra { "infra" } else { "container" },
            ctr_label(c),
            if c.name.is_some() {
                format!("  {}", short_id(c.id))
            } else {
                String::new()
            }
        );
        label(h, x, ly, "g-head", &head, 40);
        ly += LINE;
        label(
            h,
            x,
            ly,
            "g-text",
            &format!("PID 1: {} {}", c.init.pid, c.init.comm),
            40,
        );
        ly += LINE;
        label(h, x, ly, "g-small", c.init_kind, 46);
        let own: Vec<String> = ["mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time"]
            .into_iter()
            .filter(|ty| {
                let ino = inode(ns, ty);
                ino != 0
                    && node_ns.get(ty) != Some(&ino)
                    && !pills.iter().any(|p| p.ty == *ty && p.members.contains(&i))
            })
            .map(|ty| format!("{ty} {}", inode(ns, ty)))
            .collect();
        if !own.is_empty() {
            ly += LINE;
            label(h, x, ly, "g-small", &format!("own: {}", own.join(", ")), 46);
        }
        for pr in c.processes.iter().take(MAX_PROCS) {
            ly += LINE;
            let inside = if pr.ns_pid != pr.pid {
                format!(" (pid {} inside)", pr.ns_pid)
            } else {
                String::new()
            };
            label(
                h,
                x + 10,
                ly,
                if pr.zombie { "g-text zombie" } else { "g-text" },
                &format!(
                    "{} {}{inside}{}",
                    pr.pid,
                    pr.comm,
                    if pr.zombie { " <zombie>" } else { "" }
                ),
                42,
            );
        }
        if c.processes.len() > MAX_PROCS {
            ly += LINE;
            label(
                h,
                x + 10,
                ly,
                "g-small",
                &format!("… and {} more processes", c.processes.len() - MAX_PROCS),
                42,
            );
        }
        h.close("g");
    }

    // Shared and node namespaces.
    for pill in &pills {
        h.open(
            "g",
            &[
                ("class", if pill.node { "g-ns g-node" } else { "g-ns" }),
                ("data-ns", pill.ty),
            ],
        )
        .empty(
            "rect",
            &[
                ("x", &NS_X.to_string()),
                ("y", &pill.y.to_string()),
                ("width", &NS_W.to_string()),
                ("height", &NS_H.to_string()),
                ("rx", "13"),
            ],
        );
        let text = if pill.node {
            format!("node's {} {}", pill.ty, pill.inode)
        } else {
            format!("{} {}", pill.ty, pill.inode)
        };
        label(h, NS_X + 10, pill.y + 17, "g-text", &text, 26);
        h.close("g");
    }

    // Interfaces, their node ends, the bridge.
    if let Some(n) = net {
        if n.node_network {
            label(
                h,
                IF_X,
                PAD + LINE,
                "g-small",
                "the node's network: only its own listeners (below)",
                60,
            );
        } else if let Some(e) = n.error {
            label(
                h,
                IF_X,
                PAD + LINE,
                "g-small",
                &format!("not read: {e}"),
                60,
            );
        } else if !n.read {
            label(h, IF_X, PAD + LINE, "g-small", "network not read yet", 60);
        }
    }
    for (k, i) in ifs.iter().enumerate() {
        let iy = if_y[k];
        let ih = if_h(i);
        h.open("g", &[("class", "g-if")]).empty(
            "rect",
            &[
                ("x", &IF_X.to_string()),
                ("y", &iy.to_string()),
                ("width", &IF_W.to_string()),
                ("height", &ih.to_string()),
                ("rx", "4"),
            ],
        );
        label(
            h,
            IF_X + 8,
            iy + 4 + LINE,
            "g-head",
            &format!(
                "{} ({}{})",
                i.name,
                i.kind,
                if i.up { "" } else { ", down" }
            ),
            22,
        );
        if i.addrs.is_empty() {
            label(h, IF_X + 8, iy + 4 + 2 * LINE, "g-small", "no address", 22);
        }
        for (a, addr) in i.addrs.iter().enumerate() {
            label(
                h,
                IF_X + 8,
                iy + 4 + (2 + a as i32) * LINE,
                "g-text",
                addr,
                24,
            );
        }
        h.close("g");
        match &i.peer {
            Some(peer) => {
                h.open("g", &[("class", "g-peer")]).empty(
                    "rect",
                    &[
                        ("x", &NODE_X.to_string()),
                        ("y", &iy.to_string()),
                        ("width", &NODE_W.to_string()),
                        ("height", &ih.to_string()),
                        ("rx", "4"),
                    ],
                );
                label(h, NODE_X + 8, iy + 4 + LINE, "g-head", peer.ifname, 20);
                label(
                    h,
                    NODE_X + 8,
                    iy + 4 + 2 * LINE,
                    "g-small",
                    &format!("node side, ifindex {}", peer.ifindex),
                    24,
                );
                h.close("g");
            }
            None => {
                if let Some(l) = i.link {
                    label(h, NODE_X, iy + LINE, "g-small", l, 24);
                }
            }
        }
    }
    if let Some(b) = bridge {
        h.open("g", &[("class", "g-bridge")]).empty(
            "rect",
            &[
                ("x", &NODE_X.to_string()),
                ("y", &bridge_y.to_string()),
                ("width", &NODE_W.to_string()),
                ("height", &(8 + 2 * LINE).to_string()),
                ("rx", "4"),
            ],
        );
        label(
            h,
            NODE_X + 8,
            bridge_y + 4 + LINE,
            "g-head",
            &format!("{} {}", b.kind, b.name),
            20,
        );
        label(
            h,
            NODE_X + 8,
            bridge_y + 4 + 2 * LINE,
            "g-text",
            &b.addrs.join(" "),
            22,
        );
        h.close("g");
    }
    h.close("svg");
}

/// The node's namespace inodes, as far as the pod's flags and network say
/// (the topology's node object is not at hand here): a namespace is the
/// node's when a host flag says every container is in it.
fn node_inodes(p: &PodWire<'_>) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    let first = p
        .containers
        .first()
        .map(|c| serde_json::to_value(&c.ns).unwrap_or_default());
    let Some(ns) = first else {
        return out;
    };
    let sharing = |ty: &str| p.sharing.0.iter().find(|(t, _)| *t == ty).map(|(_, s)| *s);
    for ty in ["net", "ipc", "uts", "pid", "user", "cgroup", "time", "mnt"] {
        if sharing(ty) == Some("node") {
            out.insert(ty, inode(&ns, ty));
        }
    }
    out
}
