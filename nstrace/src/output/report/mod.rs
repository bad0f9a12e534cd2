//! The report as one self-contained HTML page, rendered from the report's
//! wire types ([`ReportDoc`]): inline CSS, inline SVG (a graph per pod, a
//! chart per shutdown), one small inline script for the findings' filters.
//! No request leaves the page (its Content-Security-Policy allows none), it
//! reads the same with JavaScript off, follows `prefers-color-scheme` and
//! prints. Fields the page does not know by name (a new finding's, a
//! container's) are still shown, as name = value, from their JSON.

mod chart;
mod graph;

use std::collections::BTreeMap;

use serde_json::Value;

use super::html::Html;
use super::wire::{
    ContainerWire, CountersWire, FindingLine, Ordered, PodWire, PublishedWire, ReportDoc,
    TimelineDoc,
};
use crate::detect::Severity;
use crate::model::short_id;
use crate::stats::{self, Stats};

/// The stylesheet (both colour schemes and print).
const STYLE: &str = include_str!("report.css");

/// The one script: the findings' filters, and every `<details>` opened for
/// printing. It reads the page, never data of its own, so its hash is fixed.
pub const SCRIPT: &str = include_str!("report.js");

/// SHA-256 of [`SCRIPT`], base64: the only script the page's policy runs
/// (a unit test checks it against `sha256sum`).
pub const SCRIPT_SHA256: &str = "wcr9YR8FMueMQZ8A13Vn9ox5gEdYx0UQjVFq5LWZ4Uw=";

/// The page's Content-Security-Policy: nothing may be fetched, no script
/// runs but [`SCRIPT`], no form or base URL; styles inline.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{SCRIPT_SHA256}'; base-uri 'none'; form-action 'none'"
    )
}

/// The run's counters as their wire type.
pub fn counters(s: &Stats) -> CountersWire {
    CountersWire {
        received: s.received,
        dropped: s.total_drops(),
        dropped_by_kind: Ordered(
            nstrace_common::Kind::ALL
                .iter()
                .filter(|k| s.drops[**k as usize] > 0)
                .map(|k| (k.name(), s.drops[*k as usize]))
                .collect(),
        ),
        read_failures: s.read_failures,
        unpaired_exits: s.unpaired_exits,
        undecodable: s.undecodable,
        signals_counted: s.signals_filtered.iter().sum(),
        name_lookups: Ordered(vec![
            ("found", s.names[stats::names::FOUND]),
            ("missing", s.names[stats::names::MISSING]),
            ("unreadable", s.names[stats::names::UNREADABLE]),
            ("garbled", s.names[stats::names::GARBLED]),
        ]),
        signal_reads: s.signal_reads,
        net: Ordered(vec![
            ("reads", s.net[stats::net::READS]),
            ("failed", s.net[stats::net::FAILED]),
            ("port_lookups", s.net[stats::net::LOOKUPS]),
        ]),
    }
}

/// The whole page.
pub fn page(doc: &ReportDoc<'_>) -> String {
    let mut h = Html::new();
    let title = format!(
        "nstrace report: {}{}",
        doc.node.hostname,
        doc.report
            .pod
            .map(|p| format!(", pod {p}"))
            .unwrap_or_default()
    );
    h.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        .raw("<meta name=\"color-scheme\" content=\"light dark\">")
        .empty(
            "meta",
            &[
                ("http-equiv", "Content-Security-Policy"),
                ("content", &content_security_policy()),
            ],
        )
        .raw("<meta name=\"referrer\" content=\"no-referrer\">")
        .elem("title", &[], &title)
        .raw("<style>")
        .raw(STYLE)
        .raw("</style></head>\n<body>\n");
    header(&mut h, doc, &title);
    summary(&mut h, doc);
    pods(&mut h, doc);
    pid1(&mut h, doc);
    shutdowns(&mut h, doc);
    findings(&mut h, doc);
    joins(&mut h, doc);
    h.raw("<footer><p>Made by nstrace ")
        .text(env!("CARGO_PKG_VERSION"))
        .raw(" from its JSON wire types (<code>nstrace report --format json</code> prints the same document). Every name above comes from the node and is shown as text.</p></footer>\n")
        .raw("<script>")
        .raw(SCRIPT)
        .raw("</script>\n</body></html>\n");
    h.finish()
}

/// The page served instead of one larger than `bound` bytes (a node whose
/// pods alone are more than that): where to look instead.
pub fn too_large(size: usize, bound: usize) -> String {
    let mut h = Html::new();
    h.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>nstrace agent</title></head><body><p>The node's report page would be ")
        .fmt(size)
        .raw(" bytes, over the agent's bound of ")
        .fmt(bound)
        .raw(" bytes even with no shutdown or finding kept. The topology is at <a href=\"/topology\">/topology</a> (JSON); <code>nstrace report --duration 1m -o report.html</code> on the node writes the whole page.</p></body></html>\n");
    h.finish()
}

fn header(h: &mut Html, doc: &ReportDoc<'_>, title: &str) {
    let r = &doc.report;
    h.raw("<header>")
        .elem("h1", &[], title)
        .raw("<p class=\"sub\">");
    match r.source {
        "recording" => {
            h.raw("From the recording ")
                .elem("code", &[], r.file.unwrap_or("?"))
                .raw(", ");
        }
        "agent" => {
            h.raw("Served by the node agent, ");
        }
        _ => {
            h.raw("Traced live, ");
        }
    }
    h.text(&r.start)
        .raw(" to ")
        .text(&r.end)
        .raw(" (")
        .text(&duration(r.duration_s))
        .raw(").</p>");
    let o = &r.omitted;
    if o.gone_pods + o.shutdowns + o.findings > 0 {
        h.raw("<p class=\"note\">Kept the latest only: left out ")
            .fmt(o.gone_pods)
            .raw(" older pods that came and went, ")
            .fmt(o.shutdowns)
            .raw(" older shutdowns, ")
            .fmt(o.findings)
            .raw(" older findings (all are counted in the summary).</p>");
    }
    if let Some(p) = r.pod {
        h.raw("<p class=\"note\">Narrowed to pod ")
            .elem("b", &[], p)
            .raw(": ")
            .fmt(o.other_pods)
            .raw(" pods, shutdowns and findings elsewhere are not shown; the node's counters are the whole node's.</p>");
    }
    h.raw("<nav><a href=\"#summary\">Summary</a><a href=\"#pods\">Pods</a><a href=\"#pid1\">PID 1</a><a href=\"#shutdowns\">Shutdowns</a><a href=\"#findings\">Findings</a><a href=\"#joins\">Joins</a></nav></header>\n");
}

/// "42.0 s", "3 min 20 s", "2 h 05 min".
fn duration(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{} min {:02} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{} h {:02} min",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

fn severity_rank(name: &str) -> u8 {
    Severity::from_name(name).map_or(0, |s| s as u8 + 1)
}

fn summary(h: &mut Html, doc: &ReportDoc<'_>) {
    let n = &doc.node;
    let s = &doc.summary;
    h.raw("<section id=\"summary\"><h2>Node</h2><div class=\"cards\">");
    for sev in ["high", "medium", "low", "info"] {
        let count = s
            .by_severity
            .0
            .iter()
            .find(|(k, _)| *k == sev)
            .map_or(0, |(_, n)| *n);
        h.open("div", &[("class", &format!("card sev-{sev}"))])
            .elem("b", &[], &count.to_string())
            .elem("span", &[], &format!("{sev} findings"))
            .close("div");
    }
    let killed = doc.shutdowns.iter().filter(|t| t.killed).count();
    let pods = doc.topology.pods.len() + doc.gone_pods.len();
    for (count, what) in [
        (pods, "pods seen"),
        (doc.shutdowns.len(), "shutdowns shown"),
        (killed, "ended by SIGKILL"),
        (
            doc.findings.iter().filter(|f| f.join.is_some()).count(),
            "namespace joins listed",
        ),
    ] {
        h.raw("<div class=\"card\">")
            .elem("b", &[], &count.to_string())
            .elem("span", &[], what)
            .raw("</div>");
    }
    h.raw("</div><table class=\"facts\"><tbody>");
    fact(h, "node", n.hostname);
    fact(h, "kernel", n.kernel);
    fact(
        h,
        "runtimes seen",
        &if n.runtimes.is_empty() {
            "none named a container".to_owned()
        } else {
            n.runtimes.join(", ")
        },
    );
    fact(
        h,
        "containers watched",
        &format!(
            "{} running at some point; {} shutdowns followed to their end",
            s.watched.containers.len(),
            s.watched.shutdowns
        ),
    );
    fact(
        h,
        "findings",
        &format!(
            "{} ({} allowed by policy){}",
            s.findings,
            s.allowed,
            if s.by_kind.0.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    s.by_kind
                        .0
                        .iter()
                        .map(|(k, n)| format!("{n} {k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
    );
    for (rule, hits) in &s.policy_hits.0 {
        fact(h, "policy rule", &format!("\"{rule}\": {hits} hit(s)"));
    }
    for (ns, count) in &s.zombies_by_pid_ns.0 {
        fact(h, "zombies now", &format!("{count} in PID namespace {ns}"));
    }
    h.raw("</tbody></table>");
    match &n.counters {
        None => {
            h.raw("<p class=\"warn\">The run has no final counters (the tracer did not stop cleanly): whether events were lost is not known.</p>");
        }
        Some(c) => counters_table(h, c),
    }
    h.raw("</section>\n");
}

fn fact(h: &mut Html, name: &str, value: &str) {
    h.raw("<tr>")
        .elem("th", &[], name)
        .elem("td", &[], value)
        .raw("</tr>");
}

fn counters_table(h: &mut Html, c: &CountersWire) {
    let lost = c.dropped + c.read_failures + c.undecodable;
    if lost == 0 {
        h.raw("<p class=\"ok\">Nothing lost: no event dropped, no kernel read failed, every record decoded.</p>");
    } else {
        h.raw("<p class=\"warn\">Not everything was seen: ")
            .fmt(c.dropped)
            .raw(" events dropped (ring buffer full), ")
            .fmt(c.read_failures)
            .raw(" kernel reads failed, ")
            .fmt(c.undecodable)
            .raw(" records not decoded. What follows may miss what those events would have shown.</p>");
    }
    h.raw("<details class=\"counters\"><summary>Counters</summary><table class=\"facts\"><tbody>");
    fact(h, "events received", &c.received.to_string());
    fact(
        h,
        "dropped (ring buffer full)",
        &format!(
            "{}{}",
            c.dropped,
            pairs(&c.dropped_by_kind, |n| n.to_string())
        ),
    );
    fact(h, "failed kernel reads", &c.read_failures.to_string());
    fact(h, "undecodable records", &c.undecodable.to_string());
    fact(
        h,
        "setns/unshare begun before attach",
        &c.unpaired_exits.to_string(),
    );
    fact(
        h,
        "signals counted, not streamed",
        &c.signals_counted.to_string(),
    );
    fact(
        h,
        "container name lookups",
        &pairs(&c.name_lookups, |n| n.to_string()),
    );
    fact(h, "signal dispositions read", &c.signal_reads.to_string());
    fact(h, "network reads", &pairs(&c.net, |n| n.to_string()));
    h.raw("</tbody></table></details>");
}

/// " (a=1, b=2)" or "" — or, for a list that always shows, "a=1, b=2".
fn pairs<K: std::fmt::Display, V>(o: &Ordered<K, V>, show: impl Fn(&V) -> String) -> String {
    let v: Vec<String> =
        o.0.iter()
            .map(|(k, v)| format!("{k} {}", show(v)))
            .collect();
    v.join(", ")
}

/// A pod's label: `NAMESPACE/NAME` where there is a namespace.
fn pod_label(p: &PodWire<'_>) -> String {
    match p.namespace {
        Some(ns) => format!("{ns}/{}", p.name),
        None => p.name.to_owned(),
    }
}

fn ctr_label<'a>(c: &'a ContainerWire<'_>) -> &'a str {
    c.name.unwrap_or_else(|| short_id(c.id))
}

fn pods(h: &mut Html, doc: &ReportDoc<'_>) {
    h.raw("<section id=\"pods\"><h2>Pods</h2>");
    let all: Vec<(&PodWire<'_>, bool)> = doc
        .topology
        .pods
        .iter()
        .map(|p| (p, false))
        .chain(doc.gone_pods.iter().map(|p| (p, true)))
        .collect();
    if all.is_empty() {
        h.raw("<p class=\"muted\">No pod was seen.</p>");
    }
    h.raw("<p class=\"legend\">Each pod as a graph: its containers (the infra dashed) with their init and processes, the namespaces they share (the node's in grey), and its network: interfaces and addresses, the veth's end on the node and its bridge, and who listens where.</p>");
    for (i, (p, gone)) in all.iter().enumerate() {
        let id = format!("pod-{i}");
        h.open(
            "article",
            &[
                ("class", if *gone { "pod gone" } else { "pod" }),
                ("id", &id),
                ("data-pod", p.name),
                ("data-namespace", p.namespace.unwrap_or("")),
            ],
        )
        .raw("<h3>pod ")
        .text(&pod_label(p));
        if let Some(pid) = p.id {
            h.raw(" <small>id ").text(short_id(pid)).raw("</small>");
        }
        if *gone {
            h.raw(" <span class=\"badge\">gone before the end: as last seen</span>");
        }
        h.raw("</h3><p class=\"marks\">");
        for (on, name) in [
            (p.flags.hostNetwork, "hostNetwork"),
            (p.flags.hostPID, "hostPID"),
            (p.flags.hostIPC, "hostIPC"),
            (p.flags.shareProcessNamespace, "shareProcessNamespace"),
        ] {
            h.open(
                "span",
                &[
                    ("class", if on { "mark on" } else { "mark off" }),
                    ("title", if on { "set" } else { "not set" }),
                ],
            )
            .text(name)
            .text(if on { ": yes" } else { ": no" })
            .close("span");
        }
        h.raw("</p>");
        graph::pod(h, p);
        listeners(h, p);
        published(h, p.containers.iter());
        h.raw("</article>\n");
    }
    if !doc.topology.lone_containers.is_empty() {
        h.raw("<h3>Containers in no pod</h3><ul>");
        for c in &doc.topology.lone_containers {
            h.open("li", &[("data-container", c.id)])
                .elem("b", &[], ctr_label(c))
                .raw(" — init ")
                .fmt(c.init.pid)
                .raw(" ")
                .text(c.init.comm)
                .raw(" (")
                .text(c.init_kind)
                .raw(")");
            if let Some(n) = &c.network {
                h.raw("; network ")
                    .text(n.ip.as_deref().unwrap_or("without an address"));
            }
            h.raw("</li>");
        }
        h.raw("</ul>");
        published(h, doc.topology.lone_containers.iter());
    }
    if !doc.topology.namespaces.is_empty() {
        h.raw("<details><summary>Other namespaces (not the node's, in no container): ")
            .fmt(doc.topology.namespaces.len())
            .raw("</summary><table><thead><tr><th>type</th><th>inode</th><th>processes</th><th>pinned by</th></tr></thead><tbody>");
        for n in &doc.topology.namespaces {
            let procs: Vec<String> = n
                .processes
                .iter()
                .map(|p| format!("{} {}", p.pid, p.comm))
                .collect();
            h.raw("<tr>")
                .elem("td", &[], n.ns_type)
                .elem("td", &[], &n.inode.to_string())
                .elem("td", &[], &procs.join(", "))
                .elem("td", &[], &n.pinned_by.join(", "))
                .raw("</tr>");
        }
        h.raw("</tbody></table></details>");
    }
    h.raw("</section>\n");
}

fn listeners(h: &mut Html, p: &PodWire<'_>) {
    let Some(n) = &p.network else {
        return;
    };
    if n.listeners.is_empty() {
        return;
    }
    h.raw("<table class=\"listeners\"><thead><tr><th>listens</th><th>address</th><th>port</th><th>held by</th><th>localhost</th></tr></thead><tbody>");
    for l in &n.listeners {
        let owners: Vec<String> = l
            .owners
            .iter()
            .map(|o| {
                let ctr = o
                    .container_name
                    .or(o.container.map(short_id))
                    .map(|c| format!("container {c}: "))
                    .unwrap_or_default();
                format!("{ctr}{} {}", o.comm, o.pid)
            })
            .collect();
        h.raw("<tr>")
            .elem("td", &[], &format!("{} ({})", l.proto, l.family))
            .elem("td", &[], &l.addr)
            .elem("td", &[], &l.port.to_string())
            .elem("td", &[], &owners.join(", "))
            .elem("td", &[], if l.localhost { "yes" } else { "no" })
            .raw("</tr>");
    }
    h.raw("</tbody></table>");
}

/// Docker's published ports (`-p`) of these containers, each as it stands
/// on the node: who holds the node's port, and whether that is a clash.
fn published<'a>(h: &mut Html, containers: impl Iterator<Item = &'a ContainerWire<'a>>) {
    let rows: Vec<&PublishedWire> = containers
        .filter_map(|c| c.docker.as_ref())
        .flat_map(|d| &d.published)
        .collect();
    if rows.is_empty() {
        return;
    }
    h.raw("<table class=\"published\"><thead><tr><th>published</th><th>held on the node by</th><th>state</th></tr></thead><tbody>");
    for p in rows {
        let holder = match (p.holder_pid, &p.holder_comm) {
            (Some(pid), Some(comm)) => format!("{comm} {pid}"),
            (Some(pid), None) => pid.to_string(),
            _ => "nobody".to_owned(),
        };
        let state = if !p.checked {
            "not checked (the node's listeners were not read)"
        } else if p.conflict {
            "clash: another process holds the node's port"
        } else if p.by_proxy {
            "published (Docker holds the port)"
        } else {
            "published"
        };
        h.raw("<tr>")
            .elem("td", &[], &p.mapping)
            .elem("td", &[], &holder)
            .elem("td", &[], state)
            .raw("</tr>");
    }
    h.raw("</tbody></table>");
}

/// Every container's PID 1: what it is, what it does with SIGTERM, and what
/// the audit predicted of it (with its advice).
fn pid1(h: &mut Html, doc: &ReportDoc<'_>) {
    h.raw("<section id=\"pid1\"><h2>PID 1 of each container</h2>");
    h.raw("<p class=\"legend\">SIGTERM as <code>/proc</code> showed it: <i>handled</i> (a handler), <i>blocked (waited for)</i> (an init that waits for signals), <i>default</i> or <i>ignored</i> (the kernel drops SIGTERM sent to a container's PID 1: only SIGKILL ends it), <i>unknown</i> (not read). An init program (tini, dumb-init, catatonit) waits for SIGTERM with <code>sigtimedwait</code>, which <code>/proc</code> shows as the default: the prediction column says what the audit concluded.</p>");
    h.raw("<table class=\"pid1\"><thead><tr><th>pod / container</th><th>PID 1</th><th>init</th><th>SIGTERM</th><th>prediction and advice</th></tr></thead><tbody>");
    let mut rows = 0;
    let pods = doc
        .topology
        .pods
        .iter()
        .chain(&doc.gone_pods)
        .map(|p| (Some(p), &p.containers));
    let lone = std::iter::once((None, &doc.topology.lone_containers));
    for (pod, ctrs) in pods.chain(lone) {
        for c in ctrs {
            rows += 1;
            let predictions: Vec<&FindingLine<'_>> = doc
                .findings
                .iter()
                .filter(|f| {
                    f.pid == c.init.pid
                        && (f.finding.starts_with("pid1_will") || f.finding.starts_with("pid1_not"))
                })
                .collect();
            // The detectors judge (an init program waits for SIGTERM with
            // sigtimedwait, which /proc shows as the default): marked bad
            // where they predicted the drop.
            let class = if predictions
                .iter()
                .any(|f| f.finding == "pid1_will_ignore_sigterm")
            {
                "term-bad"
            } else if c.init_sigterm == "unknown" {
                "term-unknown"
            } else {
                "term-ok"
            };
            h.open("tr", &[("data-container", c.id), ("class", class)])
                .raw("<td>");
            if let Some(p) = pod {
                h.text(&pod_label(p)).raw(" / ");
            }
            h.elem("b", &[], ctr_label(c));
            if c.infra {
                h.raw(" <span class=\"badge\">infra</span>");
            }
            if let Some(rt) = c.runtime {
                h.raw(" <small>").text(rt).raw("</small>");
            }
            h.raw("<br><small class=\"id\">")
                .text(c.id)
                .raw("</small></td><td>");
            h.fmt(c.init.pid)
                .raw(" ")
                .text(c.init.comm)
                .raw("</td><td>");
            h.text(c.init_kind);
            if let Some(child) = c.init_child {
                h.raw(" → ").text(child);
            }
            h.raw("</td>")
                .elem("td", &[("class", "term")], c.init_sigterm)
                .raw("<td>");
            if predictions.is_empty() {
                h.raw("<span class=\"muted\">none</span>");
            }
            for f in predictions {
                h.open("p", &[("class", &format!("sev-{}", f.severity))])
                    .elem(
                        "span",
                        &[("class", &format!("sev {}", f.severity))],
                        f.severity,
                    )
                    .raw(" ")
                    .text(&f.summary)
                    .close("p");
                for e in f.evidence.iter().filter(|e| e.starts_with("advice:")) {
                    h.elem("p", &[("class", "advice")], e);
                }
            }
            extra_fields(h, c, CONTAINER_FIELDS);
            h.raw("</td></tr>");
        }
    }
    h.raw("</tbody></table>");
    if rows == 0 {
        h.raw("<p class=\"muted\">No container was seen.</p>");
    }
    h.raw("</section>\n");
}

/// The container fields the PID-1 table shows by name.
const CONTAINER_FIELDS: &[&str] = &[
    "id",
    "name",
    "runtime_id",
    "runtime",
    "infra",
    "init",
    "init_kind",
    "init_child",
    "init_sigterm",
    "hostname",
    "ns",
    "processes",
    "network",
];

/// Fields of `v`'s JSON not in `known`, as a small definition list: a new
/// wire field shows without a change here.
fn extra_fields<T: serde::Serialize>(h: &mut Html, v: &T, known: &[&str]) {
    let Ok(Value::Object(map)) = serde_json::to_value(v) else {
        return;
    };
    let extra: Vec<(&String, &Value)> = map
        .iter()
        .filter(|(k, v)| !known.contains(&k.as_str()) && !v.is_null())
        .collect();
    if extra.is_empty() {
        return;
    }
    h.raw("<dl class=\"extra\">");
    for (k, v) in extra {
        h.elem("dt", &[], k).elem("dd", &[], &value_text(v));
    }
    h.raw("</dl>");
}

/// A JSON value in words: strings bare, the rest as compact JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn shutdowns(h: &mut Html, doc: &ReportDoc<'_>) {
    h.raw("<section id=\"shutdowns\"><h2>Shutdowns</h2>");
    if doc.shutdowns.is_empty() {
        h.raw("<p class=\"muted\">No container got SIGTERM during the run.</p></section>\n");
        return;
    }
    h.raw("<table class=\"shutdown-list\"><thead><tr><th>container</th><th>PID 1</th><th>took</th><th>ended by</th><th>verdict</th></tr></thead><tbody>");
    let mut order: Vec<(usize, &TimelineDoc<'_>)> = doc.shutdowns.iter().enumerate().collect();
    // The newest first.
    order.reverse();
    for (i, t) in &order {
        let anchor = format!("#sd-{i}");
        h.open(
            "tr",
            &[("class", if t.killed { "killed" } else { "clean" })],
        )
        .raw("<td>")
        .elem("a", &[("href", &anchor)], t.shutdown)
        .raw("</td>")
        .elem("td", &[], &format!("{} {}", t.init_pid, t.init_comm))
        .elem("td", &[], &format!("{:.3} s", t.total_s))
        .elem("td", &[], if t.killed { "SIGKILL" } else { "exit" })
        .elem("td", &[], &t.verdict)
        .raw("</tr>");
    }
    h.raw("</tbody></table>");
    h.raw("<p class=\"legend\">Time runs from the first SIGTERM (0 s; a preStop hook before it). A row per process, PID 1 first. The band is the grace period. Signals carry the kernel's verdict: <span class=\"k res-delivered\">▲</span> delivered, <span class=\"k res-ignored\">▲</span> ignored by the kernel (dropped when sent), <span class=\"k dlv-handled\">●</span> taken by a handler, <span class=\"k dlv-dropped\">●</span> dropped at delivery, <span class=\"k dlv-default\">●</span> taken with the default action, <span class=\"k kill\">◆</span> SIGKILL, <span class=\"k exit\">■</span> exit.</p>");
    for (i, t) in &order {
        let id = format!("sd-{i}");
        h.open(
            "article",
            &[
                (
                    "class",
                    if t.killed {
                        "shutdown killed"
                    } else {
                        "shutdown clean"
                    },
                ),
                ("id", &id),
                ("data-pid-ns", &t.pid_ns.to_string()),
                ("data-init-pid", &t.init_pid.to_string()),
            ],
        )
        .elem("h3", &[], t.shutdown)
        .open("p", &[("class", "verdict")])
        .elem("b", &[], &format!("{:.3} s", t.total_s))
        .raw(" — ")
        .text(&t.verdict)
        .close("p");
        if !t.advice.is_empty() {
            h.open("p", &[("class", "advice")])
                .raw("<b>Advice:</b> ")
                .text(&t.advice)
                .close("p");
        }
        chart::timeline(h, t);
        steps_table(h, t);
        h.raw("</article>\n");
    }
    h.raw("</section>\n");
}

/// Every step as a row: its time, kind, and the rest of its fields (so a
/// new kind of step, or a new field, shows without a change here).
fn steps_table(h: &mut Html, t: &TimelineDoc<'_>) {
    h.raw("<details class=\"steps\"><summary>Every step (")
        .fmt(t.steps.len())
        .raw(")</summary><table><thead><tr><th>t (s)</th><th>step</th><th>details</th></tr></thead><tbody>");
    for s in &t.steps {
        let Ok(Value::Object(map)) = serde_json::to_value(s) else {
            continue;
        };
        let at = map.get("t").and_then(Value::as_f64).unwrap_or(0.0);
        let kind = map.get("step").and_then(Value::as_str).unwrap_or("?");
        let rest: Vec<String> = map
            .iter()
            .filter(|(k, _)| *k != "t" && *k != "step")
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect();
        h.raw("<tr>")
            .elem("td", &[("class", "num")], &format!("{at:+.3}"))
            .elem("td", &[], kind)
            .elem("td", &[], &rest.join(" "))
            .raw("</tr>");
    }
    if !t.killed_without_warning.is_empty() {
        let v: Vec<String> = t
            .killed_without_warning
            .iter()
            .map(|p| format!("{} ({})", p.pid, p.comm))
            .collect();
        h.raw("<tr><td></td><td>killed without warning</td>")
            .elem("td", &[], &v.join(", "))
            .raw("</tr>");
    }
    h.raw("</tbody></table></details>");
}

/// The finding fields the table shows by name.
const FINDING_FIELDS: &[&str] = &[
    "finding",
    "severity",
    "time",
    "ts_ns",
    "pid",
    "pid_ns",
    "comm",
    "pod",
    "namespace",
    "container",
    "container_name",
    "allowed_by",
    "summary",
    "evidence",
];

/// Where a finding is: `pod P / container C`, a container, or the node.
fn finding_place(f: &FindingLine<'_>) -> String {
    let ctr = f.container_name.or(f.container.map(short_id));
    match (f.pod, ctr) {
        (Some(p), Some(c)) => format!(
            "pod {}{p} / container {c}",
            f.namespace.map(|n| format!("{n}/")).unwrap_or_default()
        ),
        (Some(p), None) => format!(
            "pod {}{p}",
            f.namespace.map(|n| format!("{n}/")).unwrap_or_default()
        ),
        (None, Some(c)) => format!("container {c}"),
        (None, None) => "node".to_owned(),
    }
}

/// The findings, most severe first: filterable (with JavaScript), each with
/// its evidence and its other fields behind a disclosure.
fn findings(h: &mut Html, doc: &ReportDoc<'_>) {
    h.raw("<section id=\"findings\"><h2>Findings</h2>");
    let routine: usize = doc.routine_joins.0.iter().map(|(_, n)| n).sum();
    if routine > 0 {
        h.raw("<p class=\"legend\">Not listed: ")
            .fmt(routine)
            .raw(" routine namespace joins by container runtimes (")
            .text(&pairs(&doc.routine_joins, |n| n.to_string()))
            .raw("), counted only.</p>");
    }
    if doc.findings.is_empty() {
        h.raw("<p class=\"muted\">No finding.</p></section>\n");
        return;
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &doc.findings {
        *kinds.entry(f.finding).or_insert(0) += 1;
    }
    // Filters: hidden until the script shows them (without it every row shows).
    h.raw("<form id=\"filters\" hidden><fieldset><legend>Show</legend>");
    for sev in ["high", "medium", "low", "info"] {
        h.raw("<label>")
            .empty(
                "input",
                &[
                    ("type", "checkbox"),
                    ("name", "sev"),
                    ("value", sev),
                    ("checked", ""),
                ],
            )
            .text(sev)
            .raw("</label>");
    }
    h.raw("<label>kind <select name=\"kind\"><option value=\"\">every kind</option>");
    for (k, n) in &kinds {
        h.open("option", &[("value", k)])
            .text(&format!("{k} ({n})"))
            .close("option");
    }
    h.raw("</select></label><label>text <input type=\"search\" name=\"q\" placeholder=\"pod, pid, comm…\"></label><output id=\"shown\"></output></fieldset></form>");
    let mut order: Vec<&FindingLine<'_>> = doc.findings.iter().collect();
    order.sort_by(|a, b| {
        severity_rank(b.severity)
            .cmp(&severity_rank(a.severity))
            .then(a.ts_ns.cmp(&b.ts_ns))
    });
    h.raw("<table class=\"findings\"><thead><tr><th>severity</th><th>finding</th><th>where</th><th>process</th><th>what (open for the evidence)</th><th>time</th></tr></thead><tbody>");
    for f in order {
        let ts = f.ts_ns.to_string();
        let pid = f.pid.to_string();
        h.open(
            "tr",
            &[
                ("class", &format!("finding sev-{}", f.severity)),
                ("data-kind", f.finding),
                ("data-severity", f.severity),
                ("data-pid", &pid),
                ("data-ts", &ts),
            ],
        )
        .raw("<td>")
        .elem(
            "span",
            &[("class", &format!("sev {}", f.severity))],
            f.severity,
        );
        if let Some(rule) = f.allowed_by {
            h.raw(" ")
                .elem("span", &[("class", "badge")], &format!("allowed by {rule}"));
        }
        h.raw("</td>")
            .open("td", &[])
            .elem("code", &[], f.finding)
            .close("td")
            .elem("td", &[], &finding_place(f))
            .elem("td", &[], &format!("{} ({})", f.pid, f.comm))
            .raw("<td><details><summary>")
            .text(&f.summary)
            .raw("</summary><ul class=\"evidence\">");
        for e in &f.evidence {
            h.elem("li", &[], e);
        }
        h.raw("</ul>");
        extra_fields(h, f, FINDING_FIELDS);
        h.raw("</details></td>")
            .elem("td", &[("class", "time")], clock_of(&f.time))
            .raw("</tr>\n");
    }
    h.raw("</tbody></table></section>\n");
}

/// `HH:MM:SS` of an RFC 3339 time, or the whole of it.
fn clock_of(rfc3339: &str) -> &str {
    rfc3339
        .split_once('T')
        .and_then(|(_, t)| t.get(..8))
        .unwrap_or(rfc3339)
}

/// Namespace joins: who, what, into where, the result, and policy.
fn joins(h: &mut Html, doc: &ReportDoc<'_>) {
    h.raw("<section id=\"joins\"><h2>Namespace joins</h2>");
    let routine: usize = doc.routine_joins.0.iter().map(|(_, n)| n).sum();
    h.raw("<p class=\"legend\">setns, unshare and clone with CLONE_NEW*: the actor (where it lived before the call), the namespaces it went into and who lives there, the result, and the policy rule that allows it. ")
        .fmt(routine)
        .raw(" routine joins by container runtimes are counted, not listed.</p>");
    let joins: Vec<&FindingLine<'_>> = doc.findings.iter().filter(|f| f.join.is_some()).collect();
    if joins.is_empty() {
        h.raw("<p class=\"muted\">No other join.</p></section>\n");
        return;
    }
    h.raw("<table class=\"joins\"><thead><tr><th>time</th><th>actor</th><th>action</th><th>→ target</th><th>result</th><th>severity / policy</th></tr></thead><tbody>");
    for f in joins {
        let Some(j) = &f.join else { continue };
        let a = &j.actor;
        h.open(
            "tr",
            &[
                ("class", &format!("join sev-{}", f.severity)),
                ("data-pid", &a.pid.to_string()),
                ("data-ts", &f.ts_ns.to_string()),
            ],
        )
        .elem("td", &[("class", "time")], clock_of(&f.time))
        .raw("<td>")
        .elem("b", &[], &format!("{} {}", a.comm, a.pid))
        .raw("<br>")
        .text(&a.place.text)
        .raw("<br><small>uid ")
        .fmt(a.uid)
        .raw(", caps ")
        .text(&a.caps)
        .raw(", exe ")
        .text(if a.exe.is_empty() { "?" } else { a.exe })
        .raw("</small></td>")
        .elem(
            "td",
            &[],
            &format!(
                "{}({}){}",
                j.action,
                j.flags.join("|"),
                j.child_pid
                    .map(|c| format!(" → child {c}"))
                    .unwrap_or_default()
            ),
        )
        .raw("<td>");
        if j.targets.is_empty() {
            h.raw("?");
        }
        for t in &j.targets {
            h.open("div", &[("class", &format!("target {}", t.place.class))])
                .text(&format!("{} {} — {}", t.ns_type, t.inode, t.place.text))
                .close("div");
        }
        h.raw("</td>")
            .elem(
                "td",
                &[("class", if j.ret == 0 { "ok" } else { "refused" })],
                &j.result,
            )
            .raw("<td>")
            .elem(
                "span",
                &[("class", &format!("sev {}", f.severity))],
                f.severity,
            );
        if let Some(rule) = f.allowed_by {
            h.raw("<br>allowed by ").elem("b", &[], rule);
        }
        if let Some(why) = &j.expected {
            h.raw("<br><small>expected: ").text(why).raw("</small>");
        }
        h.raw("</td></tr>\n");
    }
    h.raw("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests;
