//! The alerting rules the project ships (`deploy/prometheus-rules.yaml`),
//! checked by Debian's promtool: they parse, and their unit tests
//! (`tests/promtool/prometheus-rules.test.yaml`: input series for each alert,
//! firing and quiet) pass. No root, no eBPF, no pods.

use std::path::Path;
use std::process::Command;

use nstrace_tests::agent::repo;
use nstrace_tests::shared;

/// Runs promtool; its exit status and everything it said.
fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("starting promtool: {e} (run `cargo xtask setup`)"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn promtool_checks_the_rules() {
    let _g = shared();
    let rules = repo("deploy/prometheus-rules.yaml");
    let (ok, said) = promtool(
        &["check", "rules", rules.to_str().unwrap()],
        &repo("deploy"),
    );
    assert!(ok, "{said}");
    assert!(said.contains("SUCCESS: 7 rules found"), "{said}");
}

#[test]
fn the_rules_unit_tests_pass() {
    let _g = shared();
    let (ok, said) = promtool(
        &["test", "rules", "prometheus-rules.test.yaml"],
        &repo("tests/promtool"),
    );
    assert!(ok, "{said}");
    assert!(said.contains("SUCCESS"), "{said}");
}

/// The unit tests can fail: the same tests against rules whose zombie alert
/// waits longer do not pass (so a passing run means the rules do what the
/// tests expect, not that promtool passes anything).
#[test]
fn the_rules_unit_tests_catch_a_changed_rule() {
    let _g = shared();
    let dir = std::env::temp_dir().join(format!("nstrace-alerts-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("deploy")).unwrap();
    std::fs::create_dir_all(dir.join("tests/promtool")).unwrap();
    let rules = std::fs::read_to_string(repo("deploy/prometheus-rules.yaml")).unwrap();
    let changed = rules.replacen("for: 10m", "for: 30m", 1);
    assert_ne!(
        rules, changed,
        "the zombie alert's `for: 10m` is where the test expects it"
    );
    std::fs::write(dir.join("deploy/prometheus-rules.yaml"), changed).unwrap();
    std::fs::copy(
        repo("tests/promtool/prometheus-rules.test.yaml"),
        dir.join("tests/promtool/prometheus-rules.test.yaml"),
    )
    .unwrap();
    let (ok, said) = promtool(
        &["test", "rules", "prometheus-rules.test.yaml"],
        &dir.join("tests/promtool"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "a changed rule passed its tests: {said}");
    assert!(said.contains("NstraceZombiesAccumulating"), "{said}");
}
