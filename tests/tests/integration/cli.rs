//! The nstrace binary's contract with its user: replay reproduces watch,
//! bad input gets one clear line and a non-zero exit, never a panic.

use std::process::{Command, Output, Stdio};

use nstrace_tests::*;

fn nstrace(args: &[&str]) -> Output {
    nstrace_tests::nstrace()
        .args(args)
        .output()
        .expect("nstrace runs")
}

/// The error contract: exit code, exactly one line that says it is an error, no panic.
fn assert_clean_error(out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("nstrace: error: "), "{err:?}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

/// Records a short trace with a workload, in `format`, into `dir`; returns (live stdout, record path).
fn record(dir: &TempDir, format: &str, name: &str) -> (String, std::path::PathBuf) {
    require_root();
    let path = dir.path().join(name);
    let tracer = nstrace_tests::nstrace()
        .args(["watch", "--format", format, "--duration", "3s", "--record"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = Command::new("unshare")
        .args(["-n", "-u", "sh", "-c", "kill -TERM $$ ; exit 0"])
        .status();
    let _ = Command::new("unshare")
        .args(["-p", "-f", "sh", "-c", "kill -TERM 1"])
        .status();
    let out = tracer.wait_with_output().unwrap();
    assert_ok(&out);
    (String::from_utf8(out.stdout).unwrap(), path)
}

#[test]
fn replay_prints_exactly_what_watch_printed() {
    let _g = shared();
    let dir = TempDir::new("cli-replay");
    for format in ["json", "text"] {
        let (live, path) = record(&dir, format, &format!("live-{format}.nst"));
        assert!(live.contains("unshare"), "workload seen live ({format})");
        let replay = nstrace(&["replay", path.to_str().unwrap(), "--format", format]);
        assert_ok(&replay);
        assert_eq!(
            String::from_utf8(replay.stdout).unwrap(),
            live,
            "{format} replay differs"
        );
        // The counters recorded at the end are shown again.
        assert!(String::from_utf8_lossy(&replay.stderr).contains("events received"));
    }
}

#[test]
fn damaged_record_files_are_clear_errors() {
    let _g = shared();
    let dir = TempDir::new("cli-damaged");
    let tmp = |name: &str| dir.path().join(name);
    let (_, path) = record(&dir, "json", "damaged.nst");
    let full = std::fs::read(&path).unwrap();
    let p = path.to_str().unwrap();

    let cut = tmp("truncated.nst");
    std::fs::write(&cut, &full[..full.len() - 7]).unwrap();
    assert_clean_error(
        &nstrace(&["replay", cut.to_str().unwrap()]),
        1,
        "truncated at byte",
    );

    let future = tmp("future.nst");
    let mut b = full.clone();
    b[8] = 99;
    std::fs::write(&future, &b).unwrap();
    assert_clean_error(
        &nstrace(&["replay", future.to_str().unwrap()]),
        1,
        "version 99",
    );

    let corrupt = tmp("corrupt.nst");
    let mut b = full.clone();
    let meta_len = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    let first = 16 + meta_len;
    b[first..first + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&corrupt, &b).unwrap();
    assert_clean_error(
        &nstrace(&["replay", corrupt.to_str().unwrap()]),
        1,
        "corrupt at byte",
    );

    assert_clean_error(
        &nstrace(&["replay", "/etc/hostname"]),
        1,
        "not an nstrace record",
    );
    assert_clean_error(
        &nstrace(&["replay", "/nonexistent/x.nst"]),
        1,
        "No such file",
    );
    assert!(
        nstrace(&["replay", p]).status.success(),
        "the intact file still replays"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let _g = shared();
    for (args, needle) in [
        (&["watch", "--kind", "bogus"][..], "unknown kind 'bogus'"),
        (&["watch", "--signal", "NOPE"], "unknown signal 'NOPE'"),
        (&["watch", "--ring-buffer-size", "3M"], "power of two"),
        (&["watch", "--duration", "soon"], "invalid duration 'soon'"),
        (
            &["watch", "--formt", "json"],
            "tip: a similar argument exists: '--format'",
        ),
        (&["watch", "--comm", "a-name-longer-than-15"], "15 bytes"),
        (&["replay"], "<FILE>"),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
    ] {
        let out = nstrace(args);
        assert_clean_error(&out, 2, needle);
    }
}

#[test]
fn not_root_is_one_clear_line() {
    let _g = shared();
    require_root();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(nstrace_bin())
        .args(["watch"])
        .output()
        .unwrap();
    assert_clean_error(&out, 1, "needs root");
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

/// Root without capabilities (a container's default set, a dropped bounding
/// set) is told which ones are missing, for tracing and for the snapshot alike.
#[test]
fn root_without_capabilities_is_one_clear_line() {
    let _g = shared();
    require_root();
    for cmd in [
        &["watch", "--duration", "1s"][..],
        &["audit", "--duration", "1s"],
        &["topology"],
    ] {
        let out = Command::new("setpriv")
            .args(["--bounding-set", "-all", "--inh-caps", "-all"])
            .arg(nstrace_bin())
            .args(cmd)
            .output()
            .unwrap();
        assert_clean_error(&out, 1, "CAP_SYS_PTRACE");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "{cmd:?}"
        );
        assert!(
            out.stdout.is_empty(),
            "{cmd:?} printed {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn help_teaches() {
    let _g = shared();
    let out = nstrace(&["watch", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--pid",
        "--record",
        "--ring-buffer-size",
        "Examples",
        "Ctrl-C",
    ] {
        assert!(text.contains(needle), "watch --help lacks {needle}");
    }
}

/// `nstrace report`: a bad output path or recording is one clear line before
/// anything is read; a pod that is not in the run is a clear last line (after
/// the run's counters); flags of the live mode are refused with a file.
#[test]
fn report_errors_are_clear() {
    let _g = shared();
    let dir = TempDir::new("cli-report");
    let (_, path) = record(&dir, "json", "report.nst");
    let p = path.to_str().unwrap();
    assert_clean_error(
        &nstrace(&["report", "/nonexistent/rec.nst", "-o", "/tmp/x.html"]),
        1,
        "/nonexistent/rec.nst",
    );
    assert_clean_error(
        &nstrace(&["report", p, "-o", "/nonexistent-dir/report.html"]),
        1,
        "no directory /nonexistent-dir",
    );
    assert_clean_error(
        &nstrace(&["report", p, "-o", dir.path().to_str().unwrap()]),
        1,
        "is a directory",
    );
    assert_clean_error(
        &nstrace(&["report", p, "--duration", "2s"]),
        2,
        "--duration",
    );
    let out = nstrace(&["report", p, "--pod", "no-such-pod", "-o"]);
    assert_eq!(out.status.code(), Some(2), "-o needs a value");
    let out = nstrace(&["report", p, "--pod", "no-such-pod"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty(), "no page for a pod not there");
    assert!(
        err.lines()
            .last()
            .is_some_and(|l| l.starts_with("nstrace: error: no pod named no-such-pod in this run")),
        "{err}"
    );
    // The same recording, whole: a page, written whole.
    let html = dir.path().join("ok.html");
    let out = nstrace(&["report", p, "-o", html.to_str().unwrap()]);
    assert_ok(&out);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
}
