//! The page from a hand-built run: a pod whose processes carry hostile
//! names, a shutdown ended by SIGKILL, findings of several kinds, a join.

use nstrace_common::{NsSet, NsType};

use super::*;
use crate::consumer::report::{About, Bounds, ReportBook};
use crate::detect::joins::{Action, Actor, Join, Target};
use crate::detect::pid1::{Dropped, IgnoredSigterm};
use crate::detect::shutdown::{Step, Timeline};
use crate::detect::{Attributed, Evidence, Finding, FindingKind};
use crate::model::testutil::{cid, ns_with, NODE};
use crate::model::{topology, CtrRef, Init, Model, Place, PodRef, Process};
use crate::record::Meta;

/// A name a process in a container can give itself (15 bytes fit in comm).
const EVIL: &str = "<img src=x onerror=alert(1)>\"'&";

const S: u64 = 1_000_000_000;

fn proc(pid: u32, ppid: u32, ns_pid: u32, comm: &str, cg: &str, over: &[(NsType, u32)]) -> Process {
    Process {
        pid,
        ppid,
        ns_pid,
        comm: comm.into(),
        cgroup: cg.into(),
        ns: ns_with(over),
        hostname: Some("web".into()),
        ..Process::default()
    }
}

/// A podman-style pod: infra (catatonit) holding net/ipc/uts, an app
/// container (a shell PID 1 and a child with a hostile name).
fn model() -> Model {
    let cg = |c: u32| format!("/libpod_parent/{}/{}", cid(1000), cid(c));
    let shared = [(NsType::Net, 11), (NsType::Ipc, 12), (NsType::Uts, 13)];
    let with = |own: &[(NsType, u32)]| {
        let mut v = shared.to_vec();
        v.extend_from_slice(own);
        v
    };
    let mut m = Model::new(NsSet::from_array(NODE), "node-1");
    for p in [
        proc(
            1000,
            1,
            1,
            "catatonit",
            &cg(1000),
            &with(&[(NsType::Mnt, 14), (NsType::Pid, 15)]),
        ),
        proc(
            1001,
            1,
            1,
            "sh",
            &cg(1001),
            &with(&[(NsType::Mnt, 16), (NsType::Pid, 17)]),
        ),
        proc(
            1002,
            1001,
            7,
            EVIL,
            &cg(1001),
            &with(&[(NsType::Mnt, 16), (NsType::Pid, 17)]),
        ),
    ] {
        m.add_snapshot(p);
    }
    m
}

fn place() -> Place {
    Place::Pod {
        pod: PodRef::named("web"),
        container: Some(CtrRef {
            id: cid(1001),
            name: None,
        }),
    }
}

fn finding(
    kind: FindingKind,
    severity: Severity,
    pid: u32,
    comm: &str,
    evidence: Evidence,
) -> Attributed {
    Attributed {
        finding: Finding {
            kind,
            severity,
            ts_ns: 11 * S,
            pid,
            comm: comm.into(),
            pid_ns: 17,
            evidence,
        },
        place: place(),
        allowed_by: None,
    }
}

/// A trap-less shell stopped with a 3 s grace period: SIGTERM dropped,
/// SIGKILL at 3 s, the kernel kills its child.
fn timeline() -> Timeline {
    let sig = |ts, from: (u32, &str), to: (u32, &str, bool), sig, result| Step::Signal {
        ts_ns: ts,
        from: (from.0, from.1.into()),
        to: (to.0, to.1.into(), to.2),
        sig,
        result,
    };
    let exit = |ts, pid, comm: &str, code| Step::Exit {
        ts_ns: ts,
        pid,
        comm: comm.into(),
        code,
    };
    Timeline {
        pid_ns: 17,
        init: (1001, "sh".into()),
        start_ns: 10 * S,
        steps: vec![
            sig(10 * S, (900, "runc"), (1001, "sh", true), 15, 1),
            sig(13 * S, (901, "runc"), (1001, "sh", true), 9, 0),
            exit(13 * S + 1_000_000, 1001, "sh", 9),
            sig(13 * S + 2_000_000, (1001, "sh"), (1002, EVIL, false), 9, 0),
            exit(13 * S + 3_000_000, 1002, EVIL, 9),
        ],
        end_ns: Some(13 * S + 1_000_000),
        init_kind: Some(Init::Shell("sh".into())),
        grace_s: None,
        others: vec![(1002, EVIL.into())],
        docker: None,
    }
}

fn join() -> Evidence {
    Evidence::Join(Box::new(Join {
        actor: Actor {
            pid: 1002,
            comm: EVIL.into(),
            exe: format!("/tmp/{EVIL}"),
            uid: 0,
            euid: 0,
            cap_effective: 1 << 21,
            pid_ns: 17,
            place: place(),
        },
        action: Action::Setns {
            fd: 3,
            nstype: 0x4000_0000,
        },
        targets: vec![Target {
            ns_type: Some(NsType::Net),
            inode: NODE[5],
            place: Place::Node,
        }],
        ret: 0,
        expected: None,
    }))
}

/// The page of the hand-built run, and its document as JSON.
fn render(book_bounds: Bounds) -> (String, serde_json::Value) {
    let m = model();
    let mut book = ReportBook::new(book_bounds, false);
    let t = topology::build(&m);
    book.look(&t);
    book.findings(&[
        finding(
            FindingKind::Pid1IgnoresSigterm,
            Severity::High,
            1001,
            "sh",
            Evidence::IgnoredSigterm(IgnoredSigterm {
                sender: 900,
                sender_comm: "runc".into(),
                how: Dropped::AtGeneration,
            }),
        ),
        finding(
            FindingKind::HostNamespaceJoin,
            Severity::High,
            1002,
            EVIL,
            join(),
        ),
        finding(
            FindingKind::SlowShutdown,
            Severity::Medium,
            1001,
            "sh",
            Evidence::Shutdown(Box::new(timeline())),
        ),
    ]);
    book.shutdown(place(), timeline());
    page_of(&book, &t)
}

/// The page and JSON document of `book` for topology `t`: a recording of
/// node-1 from 5 s to 20 s.
fn page_of(book: &ReportBook, t: &topology::Topology) -> (String, serde_json::Value) {
    let meta = Meta {
        wall_offset_ns: 1_700_000_000 * S as i64,
        start_mono_ns: 5 * S,
        node_ns: NsSet::from_array(NODE),
        hostname: "node-1".into(),
        kernel: "6.18.0".into(),
        detectors: None,
    };
    let about = About::new("recording", &meta, 5 * S, 20 * S);
    let doc = book.doc(t, &about).expect("a document");
    (page(&doc), serde_json::to_value(&doc).unwrap())
}

/// Tags the page may contain: anything else would have come from the node.
const TAGS: &[&str] = &[
    "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p",
    "nav", "a", "section", "div", "b", "span", "table", "thead", "tbody", "tr", "th", "td",
    "details", "summary", "ul", "li", "dl", "dt", "dd", "code", "small", "br", "i", "article",
    "form", "fieldset", "legend", "label", "input", "select", "option", "output", "footer",
    "script", "svg", "g", "rect", "text", "line", "path", "circle",
];

/// Every tag of `page` outside `<style>` and `<script>`.
fn tags(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let name: String = rest
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect();
        for skip in ["style", "script"] {
            if name == skip && !rest.starts_with('/') {
                let end = format!("</{skip}>");
                if let Some(j) = rest.find(&end) {
                    rest = &rest[j + 1..];
                }
            }
        }
        out.push(name);
    }
    out
}

#[test]
fn a_hostile_process_name_is_text_everywhere() {
    let (page, _) = render(Bounds::each(100));
    let bad: Vec<String> = tags(&page)
        .into_iter()
        .filter(|t| !TAGS.contains(&t.as_str()))
        .collect();
    assert!(bad.is_empty(), "tags that are not the page's own: {bad:?}");
    assert_eq!(page.matches("<script").count(), 1, "one script: the page's");
    assert!(!page.contains("<img"));
    let shown = "&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;";
    // In the graph, the timeline, the findings, the joins and the steps.
    assert!(
        page.matches(shown).count() >= 5,
        "{}",
        page.matches(shown).count()
    );
}

#[test]
fn the_script_hash_in_the_policy_is_the_scripts() {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum (coreutils)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(SCRIPT.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    assert_eq!(
        SCRIPT_SHA256, b64,
        "report.js changed: set SCRIPT_SHA256 to this"
    );
    let (page, _) = render(Bounds::each(100));
    let csp = content_security_policy();
    assert!(csp.contains(&format!("script-src 'sha256-{b64}'")));
    assert!(csp.starts_with("default-src 'none';"));
    assert!(page.contains(&crate::output::html::escape(&csp)));
}

#[test]
fn every_pod_container_finding_and_shutdown_of_the_document_is_on_the_page() {
    let (page, doc) = render(Bounds::each(100));
    for p in doc["topology"]["pods"].as_array().unwrap() {
        assert!(page.contains(&format!("data-pod=\"{}\"", p["name"].as_str().unwrap())));
        for c in p["containers"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            assert!(
                page.matches(&format!("data-container=\"{id}\"")).count() >= 2,
                "container {id} in the graph and the PID-1 table"
            );
        }
    }
    assert_eq!(doc["findings"].as_array().unwrap().len(), 3);
    for f in doc["findings"].as_array().unwrap() {
        let row = format!(
            "data-kind=\"{}\" data-severity=\"{}\" data-pid=\"{}\" data-ts=\"{}\"",
            f["finding"].as_str().unwrap(),
            f["severity"].as_str().unwrap(),
            f["pid"],
            f["ts_ns"]
        );
        assert!(page.contains(&row), "{row}");
    }
    assert_eq!(doc["shutdowns"].as_array().unwrap().len(), 1);
    assert!(page.contains("id=\"sd-0\""));
    // The join's target is the node's, named as such.
    assert!(page.contains("net 105 — node"), "the join's target");
    // The shell's SIGTERM disposition was never read: said so.
    assert_eq!(
        doc["topology"]["pods"][0]["containers"][1]["init_sigterm"],
        "unknown"
    );
}

/// The SIGKILL mark's x, mapped through two of the axis ticks, is its time:
/// 3 s after the SIGTERM, where the grace band ends.
#[test]
fn the_sigkill_mark_sits_at_the_grace_period_on_the_axis() {
    let (page, doc) = render(Bounds::each(100));
    let sd = &doc["shutdowns"][0];
    assert_eq!(sd["sigkill_after_s"], 3.0);
    let attr = |tag: &str, name: &str| -> f64 {
        let key = format!(" {name}=\"");
        let i = tag.find(&key).unwrap() + key.len();
        tag[i..tag[i..].find('"').unwrap() + i].parse().unwrap()
    };
    // Elements whose class list has every word of `class`.
    let elements = |class: &str| -> Vec<String> {
        page.split('<')
            .map(|t| t.split('>').next().unwrap().to_owned())
            .filter(|t| {
                let Some(i) = t.find(" class=\"") else {
                    return false;
                };
                let list = &t[i + 8..];
                let list: Vec<&str> = list[..list.find('"').unwrap()].split(' ').collect();
                class.split(' ').all(|w| list.contains(&w))
            })
            .collect()
    };
    let ticks: Vec<(f64, f64)> = elements("tick")
        .iter()
        .map(|t| (attr(t, "data-t"), attr(t, "x1")))
        .collect();
    assert!(ticks.len() >= 4, "{ticks:?}");
    let (a, b) = (ticks[0], ticks[ticks.len() - 1]);
    let to_t = |x: f64| a.0 + (x - a.1) / (b.1 - a.1) * (b.0 - a.0);
    let kill = elements("mark kill res-delivered")
        .into_iter()
        .find(|t| t.contains("data-to-pid1=\"true\""))
        .expect("the runtime's SIGKILL to PID 1");
    // The diamond's path starts at its top vertex: x is its centre.
    let d = kill.split(" d=\"M").nth(1).unwrap();
    let x: f64 = d.split(',').next().unwrap().parse().unwrap();
    assert!((to_t(x) - 3.0).abs() < 0.01, "{} s", to_t(x));
    let band = elements("band").remove(0);
    let band_end = attr(&band, "x") + attr(&band, "width");
    assert!((to_t(band_end) - 3.0).abs() < 0.01);
}

#[test]
fn the_book_keeps_the_latest_and_counts_the_rest() {
    let (page, doc) = render(Bounds::each(2));
    assert_eq!(doc["findings"].as_array().unwrap().len(), 2);
    assert_eq!(doc["report"]["omitted"]["findings"], 1);
    assert_eq!(doc["summary"]["findings"], 3, "counted all the same");
    assert!(page.contains("1 older findings"), "said on the page");
}

#[test]
fn a_withdrawn_prediction_is_taken_back_and_a_routine_join_only_counted() {
    use crate::detect::joins::Expected;
    use crate::detect::pid1::Prediction;
    use crate::model::Disposition;
    let prediction = |resolved| {
        finding(
            FindingKind::Pid1WillIgnoreSigterm,
            if resolved {
                Severity::Info
            } else {
                Severity::Medium
            },
            1001,
            "sh",
            Evidence::Prediction(Box::new(Prediction {
                init: Init::Shell("sh".into()),
                disposition: Disposition::Default,
                age_ns: 3 * S,
                resolved,
                likely: false,
                exited_on_sigterm: false,
                term_flags: None,
            })),
        )
    };
    let mut routine = finding(
        FindingKind::NamespaceJoin,
        Severity::Info,
        900,
        "runc",
        join(),
    );
    if let Evidence::Join(j) = &mut routine.finding.evidence {
        j.expected = Some(Expected {
            by: "runc".into(),
            network_plugin: false,
        });
    }
    let mut book = ReportBook::new(Bounds::each(10), false);
    book.findings(&[prediction(false), routine.clone(), routine]);
    book.findings(&[prediction(true)]);
    let m = model();
    let t = topology::build(&m);
    let meta = Meta {
        wall_offset_ns: 0,
        start_mono_ns: 0,
        node_ns: NsSet::from_array(NODE),
        hostname: "n".into(),
        kernel: "k".into(),
        detectors: None,
    };
    let about = About::new("live", &meta, 0, S);
    let doc = serde_json::to_value(book.doc(&t, &about).unwrap()).unwrap();
    assert_eq!(doc["findings"].as_array().unwrap().len(), 0, "{doc}");
    assert_eq!(doc["summary"]["findings"], 0);
    assert_eq!(doc["routine_joins"]["runc"], 2);
}

#[test]
fn a_pod_that_went_is_kept_as_last_seen_with_every_container() {
    let m = model();
    let full = topology::build(&m);
    let mut book = ReportBook::new(Bounds::each(10), false);
    // First seen while runc was making the app container: a provisional id.
    let mut making = full.clone();
    let app = making.pods[0]
        .containers
        .iter_mut()
        .find(|c| !c.infra)
        .unwrap();
    app.id = "mnt-16".into();
    app.runtime_id = false;
    app.init.comm = "runc:[2:INIT]".into();
    book.look(&making);
    book.look(&full);
    // The app container ends first, then the whole pod.
    let mut partial = full.clone();
    partial.pods[0].containers.retain(|c| c.infra);
    book.look(&partial);
    let mut empty = full.clone();
    empty.pods.clear();
    book.look(&empty);
    let meta = Meta {
        wall_offset_ns: 0,
        start_mono_ns: 0,
        node_ns: NsSet::from_array(NODE),
        hostname: "n".into(),
        kernel: "k".into(),
        detectors: None,
    };
    let about = About::new("live", &meta, 0, S);
    let doc = serde_json::to_value(book.doc(&empty, &about).unwrap()).unwrap();
    let gone = doc["gone_pods"].as_array().unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["containers"].as_array().unwrap().len(), 2, "{doc}");
    assert!(
        !doc.to_string().contains("mnt-16"),
        "the provisional container is what it became"
    );
    assert_eq!(
        doc["summary"]["watched"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Narrowed to another pod: nothing, and a clear error.
    let mut about = About::new("live", &meta, 0, S);
    about.pod = Some("other");
    let err = book.doc(&empty, &about).err().unwrap().to_string();
    assert!(
        err.contains("no pod named other") && err.contains("web"),
        "{err}"
    );
}

/// The agent's page stays within its bound: the book keeps half as much each
/// time it is asked, counting what goes, until nothing is left to drop; a
/// node larger than the bound alone gets a short page that says so.
#[test]
fn a_book_shrinks_to_fit_and_says_so() {
    let mut book = ReportBook::new(Bounds::each(8), true);
    let many: Vec<Attributed> = (0..8)
        .map(|i| {
            let mut a = finding(
                FindingKind::Pid1IgnoresSigterm,
                Severity::High,
                1001,
                "sh",
                join(),
            );
            a.finding.ts_ns = i;
            a
        })
        .collect();
    book.findings(&many);
    assert!(book.shrink());
    let t = topology::build(&model());
    let meta = Meta {
        wall_offset_ns: 0,
        start_mono_ns: 0,
        node_ns: NsSet::from_array(NODE),
        hostname: "n".into(),
        kernel: "k".into(),
        detectors: None,
    };
    let about = About::new("agent", &meta, 0, S);
    let doc = serde_json::to_value(book.doc(&t, &about).unwrap()).unwrap();
    assert_eq!(doc["findings"].as_array().unwrap().len(), 4);
    assert_eq!(doc["report"]["omitted"]["findings"], 4);
    assert_eq!(doc["findings"][0]["ts_ns"], 4, "the latest kept");
    while book.shrink() {}
    let doc = serde_json::to_value(book.doc(&t, &about).unwrap()).unwrap();
    assert_eq!(doc["findings"].as_array().unwrap().len(), 0);
    assert_eq!(doc["summary"]["findings"], 8, "all counted");
    let page = too_large(3 << 20, 2 << 20);
    assert!(
        page.contains("3145728 bytes") && page.contains("/topology"),
        "{page}"
    );
    assert!(page.len() < 1024);
}

/// A Docker container's published ports are on the page with who holds
/// the node's port: Docker's proxy, or another process (a clash).
#[test]
fn published_ports_show_their_holder_and_a_clash() {
    use crate::model::topology::{Owner, Published};
    use crate::runtime::docker::{DockerInfo, Mode, PortBinding};
    let m = model();
    let mut t = topology::build(&m);
    let binding = |port: u16| PortBinding {
        container_port: 80,
        proto: "tcp".into(),
        host_ip: Some([127, 0, 0, 1].into()),
        host_port: port,
    };
    let c = &mut t.pods[0].containers[1];
    c.names = Some(crate::model::ContainerNames {
        runtime: crate::model::Runtime::Docker,
        container: Some("web".into()),
        pod: None,
        namespace: None,
        pod_uid: None,
        pod_id: None,
        sandbox: false,
        sandbox_id: None,
        grace_period_s: None,
        docker: Some(Box::new(DockerInfo {
            name: "shop-web".into(),
            compose: None,
            hostname: None,
            stop_signal: None,
            stop_timeout: None,
            init: false,
            privileged: false,
            cap_add: Vec::new(),
            network: Mode::Network("bridge".into()),
            pid: Mode::Private,
            ipc: Mode::Private,
            uts: Mode::Private,
            ports: vec![binding(8088), binding(8089)],
            restart: None,
            restart_count: 0,
        })),
    });
    let holder = |pid: u32, comm: &str| Owner {
        pid,
        comm: comm.into(),
        container: None,
    };
    c.published = vec![
        Published {
            binding: binding(8088),
            holder: Some(holder(700, "docker-proxy")),
            by_proxy: true,
            conflict: false,
            checked: true,
        },
        Published {
            binding: binding(8089),
            holder: Some(holder(701, "python3")),
            by_proxy: false,
            conflict: true,
            checked: true,
        },
    ];
    let mut book = ReportBook::new(Bounds::each(100), false);
    book.look(&t);
    let (page, json) = page_of(&book, &t);
    let published = json["topology"]["pods"][0]["containers"][1]["docker"]["published"]
        .as_array()
        .expect("published ports in the document");
    assert_eq!(published.len(), 2);
    let table = &page[page.find("<table class=\"published\">").expect("the table")..];
    let table = &table[..table.find("</table>").unwrap()];
    for p in published {
        let mapping = p["mapping"].as_str().unwrap().replace('>', "&gt;");
        let row = &table[table.find(&mapping).unwrap_or_else(|| panic!("{mapping}"))..];
        let row = &row[..row.find("</tr>").unwrap()];
        let holder = format!("{} {}", p["holder_comm"].as_str().unwrap(), p["holder_pid"]);
        assert!(row.contains(&holder), "{row}");
        assert_eq!(row.contains("clash"), p["conflict"] == true, "{row}");
    }
}
