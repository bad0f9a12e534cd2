//! A real Prometheus server for the tests (Debian's `prometheus`, installed by
//! `cargo xtask setup`): started on a free loopback port with a temporary
//! config and data directory, scraping the targets a test names every second,
//! and queried over its HTTP API. It is killed and its files removed when the
//! handle drops, also when a test fails (and with the test process: it gets
//! SIGKILL if the thread that started it dies).
//!
//! Also: `promtool check metrics` on a text, a translation of OpenMetrics text
//! (what the `prometheus-client` crate writes) into the Prometheus text format
//! that promtool lints, and a minimal HTTP/1.1 GET over `std::net` (no HTTP
//! client crate) for `/metrics`, `/healthz` and the like.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{TempDir, EVENT_TIMEOUT};

/// How often the test server scrapes its targets (and evaluates).
pub const SCRAPE_INTERVAL: &str = "1s";

/// How long Prometheus may take to become ready (it replays an empty WAL: ~1 s here).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The job name the targets are scraped under (`up{job="nstrace"}`).
pub const JOB: &str = "nstrace";

/// A running Prometheus server of this test; killed and removed on drop.
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    startup: Duration,
    log: PathBuf,
    // Declared last: removed after the server is dead (fields drop after `drop`).
    dir: TempDir,
}

/// Distinguishes the directories of several servers in one test process.
static INSTANCE: AtomicUsize = AtomicUsize::new(0);

/// A loopback port that was free a moment ago (the kernel's pick for port 0).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The scrape config: one job, every target scraped each [`SCRAPE_INTERVAL`];
/// `rules`: rule files evaluated as often.
pub fn config(targets: &[&str], rules: &[&Path]) -> String {
    let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    let mut c = format!(
        "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: {SCRAPE_INTERVAL}\n  evaluation_interval: {SCRAPE_INTERVAL}\n\
         scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [{}]\n",
        list.join(", ")
    );
    if !rules.is_empty() {
        c.push_str("rule_files:\n");
        for r in rules {
            c.push_str(&format!("  - '{}'\n", r.display()));
        }
    }
    c
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (`host:port`, path `/metrics`) and
    /// waits until it is ready. Panics (with its log) if it cannot start.
    pub fn start(targets: &[&str]) -> Prometheus {
        Prometheus::start_with_rules(targets, &[])
    }

    /// [`Prometheus::start`], evaluating the alerting and recording rules of
    /// `rules` (their alerts show in the `ALERTS` series).
    pub fn start_with_rules(targets: &[&str], rules: &[&Path]) -> Prometheus {
        let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let dir = TempDir::new(&format!("prometheus{n}"));
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, config(targets, rules)).expect("writing the Prometheus config");
        let log = dir.path().join("prometheus.log");
        // The port is free when picked, not reserved: on a clash, pick again.
        let mut last = String::new();
        for _ in 0..3 {
            let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            let started = Instant::now();
            let mut child = spawn(&cfg, &dir, addr, &log);
            match wait_ready(&mut child, addr, &log, started) {
                Ok(()) => {
                    return Prometheus {
                        child,
                        addr,
                        startup: started.elapsed(),
                        log,
                        dir,
                    }
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = why;
                    if !last.contains("address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("Prometheus did not start: {last}");
    }

    /// Its address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its temporary directory (config, data, log): gone after drop.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// From exec to `/-/ready` answering 200.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path_and_query` of its API; the `data` member of a `success` answer.
    pub fn api(&self, path_and_query: &str) -> Result<Value, String> {
        let r = http_get(&self.addr.to_string(), path_and_query)?;
        let v: Value = serde_json::from_str(&r.body).map_err(|e| {
            format!(
                "{path_and_query}: HTTP {} not JSON ({e}): {}",
                r.status, r.body
            )
        })?;
        if v["status"] != "success" {
            return Err(format!(
                "{path_and_query}: HTTP {} {}: {}",
                r.status, v["errorType"], v["error"]
            ));
        }
        Ok(v["data"].clone())
    }

    /// An instant query (`/api/v1/query`): the `result` of its data (for a
    /// vector, an array of `{"metric": {labels}, "value": [time, "number"]}`).
    /// Panics if Prometheus refuses the expression.
    pub fn query(&self, expr: &str) -> Value {
        let data = self
            .api(&format!("/api/v1/query?query={}", url_encode(expr)))
            .unwrap_or_else(|e| panic!("query {expr}: {e}"));
        data["result"].clone()
    }

    /// Polls `expr` until it gives a non-empty vector (scrapes come every
    /// second); returns its samples. Panics after the event timeout with the
    /// targets' scrape state.
    pub fn wait_for(&self, expr: &str) -> Vec<Value> {
        let start = Instant::now();
        loop {
            if let Some(v) = self.query(expr).as_array().filter(|a| !a.is_empty()) {
                return v.clone();
            }
            assert!(
                start.elapsed() < EVENT_TIMEOUT,
                "no sample for {expr} within {EVENT_TIMEOUT:?}; targets: {}",
                self.target_health()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until every target was scraped successfully (`up == 1`).
    /// Panics with each target's last error if one keeps failing.
    pub fn wait_up(&self, targets: usize) {
        let start = Instant::now();
        loop {
            let up = self.query(&format!("up{{job=\"{JOB}\"}} == 1"));
            if up.as_array().is_some_and(|a| a.len() >= targets) {
                return;
            }
            assert!(
                start.elapsed() < EVENT_TIMEOUT,
                "not all {targets} target(s) up within {EVENT_TIMEOUT:?}: {}",
                self.target_health()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `/api/v1/targets`'s active targets: `scrapeUrl`, `health` (up, down,
    /// unknown), `lastError`.
    pub fn targets(&self) -> Vec<Value> {
        self.api("/api/v1/targets?state=active")
            .map(|d| d["activeTargets"].as_array().cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// One line per target: URL, health and last error.
    pub fn target_health(&self) -> String {
        self.targets()
            .iter()
            .map(|t| format!("{} {} {}", t["scrapeUrl"], t["health"], t["lastError"]))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // Our own child: SIGKILL is enough, its data is thrown away with the directory.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `/-/ready` answers 200, or the server exits, or the timeout.
fn wait_ready(
    child: &mut Child,
    addr: SocketAddr,
    log: &std::path::Path,
    started: Instant,
) -> Result<(), String> {
    let log = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("it exited ({st}): {}", log()));
        }
        if http_get(&addr.to_string(), "/-/ready").is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(format!("not ready within {READY_TIMEOUT:?}: {}", log()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn(cfg: &std::path::Path, dir: &TempDir, addr: SocketAddr, log: &std::path::Path) -> Child {
    let out = std::fs::File::create(log).expect("Prometheus log file");
    let err = out.try_clone().expect("log fd");
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--storage.tsdb.retention.time=1h")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: prctl is async-signal-safe; it only arranges SIGKILL for the
    // server when the thread that started it dies (a test killed mid-way).
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("starting prometheus: {e} (run `cargo xtask setup`)"))
}

/// The number in a vector sample's `value: [time, "number"]`.
pub fn sample_value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no value in sample {sample}"))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `promtool check metrics` on `text` (it lints the Prometheus text format
/// 0.0.4: parse errors, and conventions such as HELP on every metric and
/// `_total` on counters). `Err` carries what promtool said and its exit code.
pub fn promtool_check_metrics(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting promtool: {e} (run `cargo xtask setup`)"))?;
    // A writer thread: promtool may answer (and exit) before reading it all.
    let mut stdin = child.stdin.take().expect("piped");
    let input = text.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child
        .wait_with_output()
        .map_err(|e| format!("promtool: {e}"))?;
    let _ = writer.join();
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "promtool check metrics failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// OpenMetrics text (what the `prometheus-client` crate writes) as the
/// Prometheus text format 0.0.4, which `promtool check metrics` (2.42) parses:
/// a counter family `x` becomes `x_total` (its samples already are), an `info`
/// family `x` a gauge `x_info`, `stateset` a gauge, `gaugehistogram` and
/// `unknown` untyped; `# UNIT` and `# EOF` go, exemplars go, timestamps turn
/// from seconds into milliseconds, and HELP keeps only the escapes 0.0.4 knows.
/// Prometheus itself parses OpenMetrics natively; this only lets promtool lint it.
pub fn openmetrics_to_text(om: &str) -> String {
    let types: std::collections::HashMap<&str, &str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|r| r.split_once(' '))
        .map(|(name, ty)| (name, ty.trim()))
        .collect();
    let family = |name: &str| -> (String, &'static str) {
        match types.get(name).copied() {
            Some("counter") if !name.ends_with("_total") => (format!("{name}_total"), "counter"),
            Some("counter") => (name.to_owned(), "counter"),
            Some("info") => (format!("{name}_info"), "gauge"),
            Some("stateset") | Some("gauge") => (name.to_owned(), "gauge"),
            Some("histogram") => (name.to_owned(), "histogram"),
            Some("summary") => (name.to_owned(), "summary"),
            _ => (name.to_owned(), "untyped"),
        }
    };
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") || line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap_or("");
            let (n, ty) = family(name);
            out.push_str(&format!("# TYPE {n} {ty}\n"));
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let (n, _) = family(name);
            // OpenMetrics escapes \" in HELP; 0.0.4 knows only \\ and \n.
            out.push_str(&format!("# HELP {n} {}\n", help.replace("\\\"", "\"")));
        } else if line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
        } else {
            out.push_str(&sample_to_text(line));
            out.push('\n');
        }
    }
    out
}

/// One OpenMetrics sample line without its exemplar, its timestamp in ms.
fn sample_to_text(line: &str) -> String {
    // The series is the name and the label set, whose quoted values may hold
    // spaces, braces and '#': scan to the closing brace outside quotes.
    let bytes = line.as_bytes();
    let mut end = line.find([' ', '{']).unwrap_or(line.len());
    if bytes.get(end) == Some(&b'{') {
        let (mut quoted, mut escaped) = (false, false);
        for (i, &b) in bytes.iter().enumerate().skip(end) {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b'}' if !quoted => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
    }
    let (series, rest) = line.split_at(end);
    let rest = rest.split(" # ").next().unwrap_or("");
    let mut parts = rest.split_whitespace();
    let value = parts.next().unwrap_or("");
    match parts.next().and_then(|t| t.parse::<f64>().ok()) {
        Some(ts) => format!("{series} {value} {}", (ts * 1000.0).round() as i64),
        None => format!("{series} {value}"),
    }
}

pub use crate::http::{parse_response, Response};

/// `GET path` from `addr` (`host:port`) with HTTP/1.1 and `Connection: close`.
pub fn http_get(addr: &str, path: &str) -> Result<Response, String> {
    http_get_with(addr, path, &[])
}

/// [`http_get`] with extra request headers (e.g. the `Accept` Prometheus sends).
pub fn http_get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
    crate::http::get(addr, path, headers, Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_from_prometheus_client_becomes_text_format() {
        let om = "# HELP nstrace_build Build information.\n# TYPE nstrace_build info\nnstrace_build_info{version=\"0.1.0\"} 1\n\
                  # HELP nstrace_events Events \\\"received\\\".\n# TYPE nstrace_events counter\nnstrace_events_total{kind=\"exec\"} 12 # {trace_id=\"a\"} 1.0 1.5\n\
                  # HELP nstrace_shutdown_seconds Stop time.\n# TYPE nstrace_shutdown_seconds histogram\n# UNIT nstrace_shutdown_seconds seconds\n\
                  nstrace_shutdown_seconds_bucket{le=\"+Inf\",pod=\"a b}#\"} 1 1700000000.5\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om),
            "# HELP nstrace_build_info Build information.\n# TYPE nstrace_build_info gauge\nnstrace_build_info{version=\"0.1.0\"} 1\n\
             # HELP nstrace_events_total Events \"received\".\n# TYPE nstrace_events_total counter\nnstrace_events_total{kind=\"exec\"} 12\n\
             # HELP nstrace_shutdown_seconds Stop time.\n# TYPE nstrace_shutdown_seconds histogram\n\
             nstrace_shutdown_seconds_bucket{le=\"+Inf\",pod=\"a b}#\"} 1 1700000000500\n"
        );
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            url_encode("up{job=\"nstrace\"} == 1"),
            "up%7Bjob%3D%22nstrace%22%7D%20%3D%3D%201"
        );
    }

    #[test]
    fn config_scrapes_each_target_every_second() {
        let c = config(&["127.0.0.1:9750", "127.0.0.1:9751"], &[]);
        assert!(c.contains("scrape_interval: 1s"), "{c}");
        assert!(
            c.contains("targets: ['127.0.0.1:9750', '127.0.0.1:9751']"),
            "{c}"
        );
        assert!(!c.contains("rule_files"), "{c}");
        let r = config(&["127.0.0.1:9750"], &[Path::new("/x/rules.yaml")]);
        assert!(r.ends_with("rule_files:\n  - '/x/rules.yaml'\n"), "{r}");
    }
}
