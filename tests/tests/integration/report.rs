//! `nstrace report` of a real recorded scenario, opened in a real browser
//! (Debian's chromium, headless, no network): a pod with a trap-less shell
//! PID 1 stopped with a 3 s grace period, a tini container whose child names
//! itself `<b>pwn</b>`, two containers clashing on one port, and a privileged
//! container entering the node's network namespace. What the page must hold
//! comes from elsewhere: the runtime's container ids, the independent JSON
//! of `replay --audit` and `replay --topology=json`, and the grace period the
//! test itself gave.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use nstrace_tests::browser::{Browser, Options};
use nstrace_tests::pod::{pod_yaml, Node, Pod, Runtime, Spec, NOTRAP};
use nstrace_tests::*;

/// The grace period the test stops the pod with.
const GRACE_S: f64 = 3.0;

/// What a process in a container calls itself: markup, shown as text or not at all.
const EVIL_COMM: &str = "<b>pwn</b>";

/// Where a test keeps its screenshots (`cargo xtask screenshot` copies one
/// into the docs).
fn shots(rt: Runtime) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/report-screenshots")
        .join(format!("{rt:?}").to_lowercase())
}

fn run_nstrace(args: &[&str]) -> String {
    run_ok(Command::new(nstrace_bin()).args(args))
}

/// JSON lines.
fn lines(s: &str) -> Vec<Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A privileged container `tool` handed the network namespace of process
/// `pid` (a process of this test's, on the node) as `/handle/net`.
fn tool_pod(node: &Node, pid: u32) -> (Pod, NsPin) {
    let pin = NsPin::new(pid, "net");
    let lp = ["sh", "-c", "while true; do sleep 1; done"];
    let tool = Spec {
        name: "tool",
        command: &lp,
        extra: "    securityContext:\n      privileged: true\n    volumeMounts:\n    - name: handle\n      mountPath: /handle/net\n",
    };
    let volumes = format!(
        "  volumes:\n  - name: handle\n    hostPath:\n      path: {}\n      type: File\n",
        pin.path().display()
    );
    let name = "nst-rep-tool";
    (node.play(name, &pod_yaml(name, "", &[tool], &volumes)), pin)
}

/// A control for the harness itself: a page that asks the network for an
/// image and throws is seen doing both, with the network off.
#[test]
fn the_browser_sees_every_request_and_error_of_a_page() {
    let _g = shared();
    let dir = TempDir::new("browser-control");
    let page = dir.path().join("control.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><img src=\"http://192.0.2.1/x.png\"><p id=t>hi</p><script>nosuch();</script></body></html>",
    )
    .unwrap();
    let url = format!("file://{}", page.display());
    let b = Browser::open(&url, Options::default());
    let requests = b.requests();
    assert!(
        requests.iter().any(|r| r == "http://192.0.2.1/x.png"),
        "{requests:?}"
    );
    let errors = b.errors();
    assert!(errors.iter().any(|e| e.contains("nosuch")), "{errors:?}");
    // The image could not load: there is no network at all.
    assert!(
        errors
            .iter()
            .any(|e| e.contains("ERR_INTERNET_DISCONNECTED")),
        "{errors:?}"
    );
    // With scripts off, the page throws nothing; it still asks for its image.
    let mut off = Browser::open(
        &url,
        Options {
            javascript: false,
            ..Options::default()
        },
    );
    assert!(
        !off.errors().iter().any(|e| e.contains("nosuch")),
        "{:?}",
        off.errors()
    );
    assert!(off.requests().iter().any(|r| r.ends_with("/x.png")));
    assert_eq!(off.eval("document.getElementById('t').textContent"), "hi");
}

nstrace_tests::on_both_runtimes!(a_recorded_scenario_reads_in_a_real_browser);

fn a_recorded_scenario_reads_in_a_real_browser(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    let dir = TempDir::new(&format!("report-{rt:?}"));
    let rec = dir.path().join("scenario.nst");
    let audit = Tracer::audit(&["--record", rec.to_str().unwrap()]);

    // The scenario.
    let serve = ["sh", "-c", "while true; do httpd -f -p 8080; sleep 2; done"];
    let renamed = format!("printf '{EVIL_COMM}' > /proc/self/comm; while true; do sleep 1; done");
    let tini = ["tini", "-g", "--", "sh", "-c", renamed.as_str()];
    let stubborn = ["sh", "-c", NOTRAP];
    let yaml = pod_yaml(
        "nst-rep-shop",
        "",
        &[
            Spec::sh("stubborn", &stubborn),
            Spec::sh("tini", &tini),
            Spec::sh("one", &serve),
            Spec::sh("two", &serve),
        ],
        "",
    )
    .replace(
        "terminationGracePeriodSeconds: 5",
        "terminationGracePeriodSeconds: 3",
    );
    let shop = node.play("nst-rep-shop", &yaml);
    let holder = Proc::spawn(Command::new("sleep").arg("600"));
    let (tools, _pin) = tool_pod(&node, holder.pid());
    let shop_ids: Vec<String> = shop.containers().into_iter().map(|c| c.id).collect();
    let tool_ids: Vec<String> = tools.containers().into_iter().map(|c| c.id).collect();
    let stubborn = shop.container("stubborn");
    audit.wait_for("the port clash", |v| {
        v["finding"] == "port_conflict" && v["pod"] == "nst-rep-shop"
    });
    audit.wait_for("the prediction for the trap-less shell", |v| {
        v["finding"] == "pid1_will_ignore_sigterm" && v["pid"] == stubborn.pid
    });
    let tool = tools.container("tool");
    let (ok, _, err) = tools.exec(&tool, &["nsenter", "--net=/handle/net", "true"]);
    assert!(ok, "{err}");
    audit.wait_for("the container entering the node's net", |v| {
        v["finding"] == "host_namespace_join"
    });
    wait_has_child(stubborn.pid);
    let given = shop.stop(GRACE_S as u32);
    assert_eq!(
        given["stubborn"] as f64, GRACE_S,
        "no hook ate into the grace"
    );
    audit.wait_for("the slow shutdown", |v| {
        v["finding"] == "slow_shutdown" && v["pid"] == stubborn.pid
    });
    drop(shop);
    let done = audit.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);

    // The report, its JSON, and the independent JSON of the same recording.
    let rec_s = rec.to_str().unwrap();
    let html = dir.path().join("report.html");
    run_nstrace(&["report", rec_s, "-o", html.to_str().unwrap()]);
    let report: Value =
        serde_json::from_str(&run_nstrace(&["report", rec_s, "--format", "json"])).unwrap();
    let audit_json = lines(&run_nstrace(&[
        "replay", rec_s, "--audit", "--format", "json",
    ]));
    let end: Value =
        serde_json::from_str(&run_nstrace(&["replay", rec_s, "--topology=json"])).unwrap();
    let url = format!("file://{}", html.display());

    // Narrowed to the tool pod: its pod and its join only.
    let narrow: Value = serde_json::from_str(&run_nstrace(&[
        "report",
        rec_s,
        "--pod",
        "nst-rep-tool",
        "--format",
        "json",
    ]))
    .unwrap();
    let names: Vec<&str> = narrow["topology"]["pods"]
        .as_array()
        .unwrap()
        .iter()
        .chain(narrow["gone_pods"].as_array().unwrap())
        .map(|p| s(p, "name"))
        .collect();
    assert_eq!(names, ["nst-rep-tool"], "{narrow}");
    assert!(narrow["shutdowns"].as_array().unwrap().is_empty());
    let kinds: Vec<&str> = narrow["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["pod"], "nst-rep-tool", "{f}");
            s(f, "finding")
        })
        .collect();
    assert!(kinds.contains(&"host_namespace_join"), "{kinds:?}");
    assert!(u(&narrow["report"]["omitted"], "other_pods") > 0);

    // Open it with scripts on.
    let mut b = Browser::open(&url, Options::default());
    assert!(b.errors().is_empty(), "console errors: {:?}", b.errors());
    assert_eq!(
        b.requests(),
        std::slice::from_ref(&url),
        "a request left the page"
    );

    // Every pod and container: the runtime's ids, in the graph and the PID-1 table.
    for (pod, ids) in [("nst-rep-shop", &shop_ids), ("nst-rep-tool", &tool_ids)] {
        let n = b.eval(&format!(
            "document.querySelectorAll('article.pod[data-pod=\"{pod}\"]').length"
        ));
        assert_eq!(n, 1, "pod {pod} on the page");
        for id in ids.iter() {
            let n = b.eval(&format!(
                "document.querySelectorAll('[data-container=\"{id}\"]').length"
            ));
            assert!(
                n.as_u64() >= Some(2),
                "container {id} of {pod}: in the graph and the PID-1 table ({n})"
            );
        }
    }
    // ... and every pod of the topology at the end.
    for p in end["pods"].as_array().unwrap() {
        let n = b.eval(&format!(
            "document.querySelectorAll('article.pod[data-pod={}]').length",
            serde_json::to_string(p["name"].as_str().unwrap()).unwrap()
        ));
        assert_eq!(n, 1, "{}", p["name"]);
    }

    // Every finding of `replay --audit`: withdrawn predictions aside, and
    // routine joins by the runtimes counted, not listed.
    let withdrawn: BTreeSet<(String, u64)> = audit_json
        .iter()
        .filter(|v| v["resolved"] == true)
        .map(|v| (s(v, "finding").to_owned(), u(v, "pid")))
        .collect();
    let findings: Vec<&Value> = audit_json
        .iter()
        .filter(|v| v["finding"].is_string())
        .filter(|v| !withdrawn.contains(&(s(v, "finding").to_owned(), u(v, "pid"))))
        .collect();
    let routine = |v: &Value| {
        v["severity"] == "info" && v["join"]["expected"].is_string() && v["allowed_by"].is_null()
    };
    let listed: Vec<&&Value> = findings.iter().filter(|v| !routine(v)).collect();
    let counted: u64 = report["routine_joins"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(
        counted,
        findings.iter().filter(|v| routine(v)).count() as u64,
        "routine joins counted"
    );
    for f in &listed {
        let sel = format!(
            "tr.finding[data-kind=\"{}\"][data-pid=\"{}\"][data-ts=\"{}\"]",
            s(f, "finding"),
            u(f, "pid"),
            u(f, "ts_ns")
        );
        let n = b.eval(&format!("document.querySelectorAll('{sel}').length"));
        assert_eq!(n, 1, "{sel}: {f}");
    }
    let rows = b.eval("document.querySelectorAll('tr.finding').length");
    assert_eq!(rows, listed.len(), "no finding the audit did not make");
    for kind in [
        "port_conflict",
        "pid1_will_ignore_sigterm",
        "pid1_ignores_sigterm",
        "slow_shutdown",
        "host_namespace_join",
    ] {
        assert!(
            listed.iter().any(|f| f["finding"] == kind),
            "the scenario made no {kind}"
        );
    }

    // The SIGKILL sits at the grace period on the time axis: read the
    // geometry of the ticks, the mark and the band.
    let g = b.eval(&format!(
        "(() => {{
           const a = document.querySelector('article.shutdown[data-init-pid=\"{}\"]');
           const mid = e => {{ const r = e.getBoundingClientRect(); return r.left + r.width / 2; }};
           const ticks = [...a.querySelectorAll('line.tick')].map(l => [parseFloat(l.getAttribute('data-t')), mid(l)]);
           const k = a.querySelector('path.kill[data-to-pid1=\"true\"][data-by-kernel=\"false\"]');
           return {{ ticks, kill: mid(k), t: parseFloat(k.getAttribute('data-t')),
                    band: a.querySelector('rect.band').getBoundingClientRect().right }};
         }})()",
        stubborn.pid
    ));
    let ticks = g["ticks"].as_array().unwrap();
    assert!(ticks.len() >= 4, "{g}");
    let (t0, x0) = (ticks[0][0].as_f64().unwrap(), ticks[0][1].as_f64().unwrap());
    let last = &ticks[ticks.len() - 1];
    let (t1, x1) = (last[0].as_f64().unwrap(), last[1].as_f64().unwrap());
    let at = |x: f64| t0 + (x - x0) / (x1 - x0) * (t1 - t0);
    let kill_x = g["kill"].as_f64().unwrap();
    let kill_t = at(kill_x);
    let sd = report["shutdowns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["init_pid"] == stubborn.pid)
        .expect("the trap-less shell's shutdown in the report");
    let sigkill = sd["sigkill_after_s"]
        .as_f64()
        .expect("the runtime's SIGKILL");
    assert!(
        (kill_t - sigkill).abs() < 0.05,
        "the mark reads {kill_t:.3} s on the axis, the SIGKILL came at {sigkill:.3} s"
    );
    assert!(
        (GRACE_S..GRACE_S + 0.5).contains(&kill_t),
        "the SIGKILL mark reads {kill_t:.3} s: not at the {GRACE_S} s grace period"
    );
    assert!(
        (g["band"].as_f64().unwrap() - kill_x).abs() < 2.0,
        "the grace band ends at the SIGKILL: {g}"
    );

    // A process's name is text, never markup.
    assert_eq!(
        b.eval("[...document.querySelectorAll('b')].some(e => e.textContent === 'pwn')"),
        false,
        "{EVIL_COMM} became markup"
    );
    assert_eq!(
        b.eval(&format!(
            "document.body.innerText.includes({})",
            serde_json::to_string(EVIL_COMM).unwrap()
        )),
        true,
        "{EVIL_COMM} is shown as text"
    );

    // The filters work: high only.
    let highs = listed.iter().filter(|f| f["severity"] == "high").count();
    assert!(highs >= 2, "the scenario's high findings");
    let shown = b.eval(
        "(() => { const f = document.getElementById('filters');
           f.querySelectorAll('input[name=sev]').forEach(c => { c.checked = c.value === 'high'; });
           f.dispatchEvent(new Event('change'));
           return [...document.querySelectorAll('tr.finding')].filter(r => !r.hidden && r.getClientRects().length)
             .map(r => r.getAttribute('data-severity')); })()",
    );
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), highs, "{shown:?}");
    assert!(shown.iter().all(|s| s == "high"), "{shown:?}");
    assert_eq!(b.eval("document.getElementById('filters').hidden"), false);
    b.eval(
        "(() => { const f = document.getElementById('filters');
           f.querySelectorAll('input[name=sev]').forEach(c => { c.checked = true; });
           f.dispatchEvent(new Event('change')); })()",
    );

    // Screenshots of each section, and of the two pictures the docs show.
    let out = shots(rt);
    for section in ["summary", "pods", "pid1", "shutdowns", "findings", "joins"] {
        b.screenshot(&format!("#{section}"), &out.join(format!("{section}.png")));
    }
    b.screenshot(
        &format!("article.shutdown[data-init-pid=\"{}\"]", stubborn.pid),
        &out.join("timeline.png"),
    );
    b.screenshot(
        "article.pod[data-pod=\"nst-rep-shop\"]",
        &out.join("pod.png"),
    );
    // Print: the filters and the navigation are not printed; a PDF comes out.
    b.page(
        "Emulation.setEmulatedMedia",
        serde_json::json!({"media": "print"}),
    );
    assert_eq!(
        b.eval("getComputedStyle(document.querySelector('nav')).display"),
        "none"
    );
    assert!(b.pdf().starts_with(b"%PDF-"));
    assert!(b.errors().is_empty(), "console errors: {:?}", b.errors());
    let light = b.eval("getComputedStyle(document.body).backgroundColor");
    drop(b);

    // Scripts off: everything shows, the filters stay hidden, nothing fails.
    let mut off = Browser::open(
        &url,
        Options {
            javascript: false,
            ..Options::default()
        },
    );
    assert!(off.errors().is_empty(), "{:?}", off.errors());
    assert_eq!(off.requests(), std::slice::from_ref(&url));
    assert_eq!(off.eval("document.getElementById('filters').hidden"), true);
    assert_eq!(
        off.eval("[...document.querySelectorAll('tr.finding')].filter(r => r.getClientRects().length).length"),
        listed.len()
    );
    assert_eq!(
        off.eval("[...document.querySelectorAll('svg.graph')].filter(s => s.getBoundingClientRect().height > 50).length"),
        report["topology"]["pods"].as_array().unwrap().len()
            + report["gone_pods"].as_array().unwrap().len()
    );
    assert_eq!(
        off.eval("document.querySelectorAll('svg.chart path.kill').length > 0"),
        true
    );
    drop(off);

    // Dark: the reader's setting is followed.
    let mut dark = Browser::open(
        &url,
        Options {
            dark: true,
            ..Options::default()
        },
    );
    let night = dark.eval("getComputedStyle(document.body).backgroundColor");
    assert_ne!(light, night, "prefers-color-scheme: dark changes the page");
    dark.screenshot("body", &out.join("page-dark.png"));
    assert!(dark.errors().is_empty(), "{:?}", dark.errors());
    drop(tools);
    drop(holder);
}

/// `nstrace report --duration` traces the node live: a running pod, its
/// containers (the runtime's ids) and its network are in the document, with
/// the run's counters.
#[test]
fn a_live_report_shows_the_pods_running() {
    let _g = serial();
    let node = Node::new(Runtime::Podman);
    let lp = ["sh", "-c", "while true; do sleep 1; done"];
    let pod = node.play(
        "nst-rep-live",
        &pod_yaml("nst-rep-live", "", &[Spec::sh("app", &lp)], ""),
    );
    let ids: BTreeSet<String> = pod.containers().into_iter().map(|c| c.id).collect();
    let doc: Value = serde_json::from_str(&run_nstrace(&[
        "report",
        "--duration",
        "3s",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(doc["report"]["source"], "live");
    let p = doc["topology"]["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "nst-rep-live")
        .unwrap_or_else(|| panic!("the running pod: {doc}"));
    let got: BTreeSet<String> = p["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| s(c, "id").to_owned())
        .collect();
    assert_eq!(got, ids);
    assert_eq!(p["network"]["read"], true, "{p}");
    assert!(
        u(&doc["node"]["counters"], "received") > 0,
        "{}",
        doc["node"]
    );
    assert!(doc["node"]["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "podman"));
}
