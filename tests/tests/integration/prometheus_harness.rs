//! The Prometheus harness itself, against endpoints served from the test:
//! a real server (Debian's prometheus) scrapes them, answers queries over its
//! HTTP API, and is gone with its files when the handle drops, also when the
//! test panics; promtool accepts a good exposition and rejects bad ones.
//! No eBPF and no pods: these need no root and no node lock.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nstrace_tests::prometheus::{
    http_get, openmetrics_to_text, promtool_check_metrics, sample_value, Prometheus,
};
use nstrace_tests::shared;

/// The Prometheus text format (0.0.4), as a hand-written exporter serves it.
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// What a `prometheus-client` exporter must send with its OpenMetrics text.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A plain exposition; `scrapes` is how many this endpoint served before.
fn plain(scrapes: usize) -> String {
    format!(
        "# HELP harness_answer A constant the test reads back.\n# TYPE harness_answer gauge\nharness_answer{{who=\"harness\"}} 42\n\
         # HELP harness_scrapes_total Scrapes this endpoint served.\n# TYPE harness_scrapes_total counter\nharness_scrapes_total {scrapes}\n"
    )
}

/// OpenMetrics exactly as the `prometheus-client` crate encodes an info
/// metric, a labelled counter and a histogram with a unit (family names
/// without `_total` / `_info`, HELP ending in a period, `# EOF`).
const CLIENT_OPENMETRICS: &str = "\
# HELP nstrace_build Build information.
# TYPE nstrace_build info
nstrace_build_info{version=\"0.1.0\"} 1
# HELP nstrace_events Events received from the kernel, by kind.
# TYPE nstrace_events counter
nstrace_events_total{kind=\"exec\"} 12
nstrace_events_total{kind=\"exit\"} 7
# HELP nstrace_pod_shutdown_seconds Time from the first SIGTERM to the last exit of a pod.
# TYPE nstrace_pod_shutdown_seconds histogram
# UNIT nstrace_pod_shutdown_seconds seconds
nstrace_pod_shutdown_seconds_sum{namespace=\"default\",verdict=\"sigkill\"} 5.02
nstrace_pod_shutdown_seconds_count{namespace=\"default\",verdict=\"sigkill\"} 1
nstrace_pod_shutdown_seconds_bucket{le=\"1.0\",namespace=\"default\",verdict=\"sigkill\"} 0
nstrace_pod_shutdown_seconds_bucket{le=\"10.0\",namespace=\"default\",verdict=\"sigkill\"} 1
nstrace_pod_shutdown_seconds_bucket{le=\"+Inf\",namespace=\"default\",verdict=\"sigkill\"} 1
# EOF
";

/// A tiny HTTP endpoint on a loopback port serving `/metrics`; stopped on drop.
struct Endpoint {
    addr: String,
    scrapes: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    fn serve(content_type: &'static str, body: fn(usize) -> String) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let scrapes = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, halt) = (scrapes.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => req.extend_from_slice(&buf[..k]),
                    }
                }
                let head = String::from_utf8_lossy(&req);
                let (status, ctype, text) = if head.starts_with("GET /metrics ") {
                    (
                        "200 OK",
                        content_type,
                        body(n.fetch_add(1, Ordering::Relaxed)),
                    )
                } else {
                    ("404 Not Found", "text/plain", "not here\n".to_owned())
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        Endpoint {
            addr,
            scrapes,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether `pid` is gone (or, after reuse, no longer a prometheus).
fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .map(|c| !c.starts_with("prometheus"))
        .unwrap_or(true)
}

/// Prometheus scrapes a plain exposition and a prometheus-client style
/// OpenMetrics one; queries give the served numbers back under the names the
/// agent's metrics are to have; OpenMetrics sent as text/plain is refused.
#[test]
fn prometheus_scrapes_served_metrics_and_answers_queries() {
    let _g = shared();
    let text = Endpoint::serve(TEXT, plain);
    let om = Endpoint::serve(OPENMETRICS, |_| CLIENT_OPENMETRICS.to_owned());
    let mislabelled = Endpoint::serve(TEXT, |_| CLIENT_OPENMETRICS.to_owned());
    // Our endpoint answers the harness's own HTTP client too.
    let direct = http_get(&text.addr, "/metrics").unwrap();
    assert_eq!(direct.status, 200);
    assert_eq!(direct.header("content-type"), Some(TEXT));
    assert!(direct.body.contains("harness_answer"), "{}", direct.body);
    assert_eq!(http_get(&text.addr, "/nothing").unwrap().status, 404);

    let prom = Prometheus::start(&[&text.addr, &om.addr, &mislabelled.addr]);
    eprintln!(
        "prometheus ready on {} in {:.2} s",
        prom.addr(),
        prom.startup().as_secs_f64()
    );
    let answer = prom.wait_for("harness_answer{job=\"nstrace\"}");
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert_eq!(sample_value(&answer[0]), 42.0);
    assert_eq!(answer[0]["metric"]["instance"], text.addr.as_str());
    assert_eq!(answer[0]["metric"]["who"], "harness");
    let scrapes = prom.wait_for("harness_scrapes_total");
    assert!(sample_value(&scrapes[0]) >= 0.0);
    assert!(text.scrapes.load(Ordering::Relaxed) >= 1);

    // OpenMetrics: families `nstrace_build` (info) and `nstrace_events`
    // (counter) are stored as the series the agent promises.
    let build = prom.wait_for("nstrace_build_info");
    assert_eq!(build[0]["metric"]["version"], "0.1.0");
    let exec = prom.wait_for("nstrace_events_total{kind=\"exec\"}");
    assert_eq!(sample_value(&exec[0]), 12.0);
    assert_eq!(
        sample_value(&prom.wait_for("sum(nstrace_events_total)")[0]),
        19.0
    );
    let killed = prom.wait_for("nstrace_pod_shutdown_seconds_count{verdict=\"sigkill\"}");
    assert_eq!(sample_value(&killed[0]), 1.0);
    let p50 = prom.wait_for("histogram_quantile(0.5, nstrace_pod_shutdown_seconds_bucket)");
    let q = sample_value(&p50[0]);
    assert!(q > 1.0 && q <= 10.0, "{q}");

    // The same text labelled text/plain: the 0.0.4 parser refuses `info`.
    let down = prom.wait_for(&format!("up{{instance=\"{}\"}} == 0", mislabelled.addr));
    assert_eq!(down.len(), 1);
    prom.wait_up(2);
    let health = prom.target_health();
    eprintln!("targets: {health}");
    assert!(
        health.contains("info"),
        "the scrape error names it: {health}"
    );

    let (pid, dir) = (prom.pid(), prom.dir());
    assert!(dir.join("data").is_dir());
    drop(prom);
    assert!(gone(pid), "prometheus {pid} still runs");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

/// A test that panics with a server running leaves neither process nor files.
#[test]
fn prometheus_is_cleaned_up_when_a_test_panics() {
    let _g = shared();
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::panic::catch_unwind(move || {
        let prom = Prometheus::start(&["127.0.0.1:9"]);
        tx.send((prom.pid(), prom.dir())).unwrap();
        panic!("a failing test");
    });
    assert!(failed.is_err());
    let (pid, dir) = rx.recv().unwrap();
    assert!(gone(pid), "prometheus {pid} still runs");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

/// promtool lints the text format: a good exposition passes; a syntax error,
/// a counter without `_total`, a metric without HELP fail; prometheus-client's
/// OpenMetrics fails as is and passes once translated.
#[test]
fn promtool_accepts_good_metrics_and_rejects_bad() {
    let _g = shared();
    promtool_check_metrics(&plain(3)).expect("a good exposition");
    let syntax = promtool_check_metrics("# TYPE x gauge\nx{a=\"b} 1\n").unwrap_err();
    assert!(syntax.contains("parsing error"), "{syntax}");
    let suffix =
        promtool_check_metrics("# HELP x_count Things.\n# TYPE x_count counter\nx_count 1\n")
            .unwrap_err();
    assert!(suffix.contains("_total"), "{suffix}");
    let help = promtool_check_metrics("x_total 1\n").unwrap_err();
    assert!(help.contains("no help text"), "{help}");
    let raw = promtool_check_metrics(CLIENT_OPENMETRICS).unwrap_err();
    assert!(raw.contains("info"), "{raw}");
    promtool_check_metrics(&openmetrics_to_text(CLIENT_OPENMETRICS))
        .expect("prometheus-client's OpenMetrics, translated");
}
