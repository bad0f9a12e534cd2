//! Namespace joins for security review, on the real kernel: `nstrace audit`
//! classifies what util-linux and iproute2 do on the node, and a policy file
//! turns an expected finding into an allowed one. (Joins from inside real pods
//! are in pods.rs.)

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use nstrace_tests::*;

/// Findings (not the summary line) whose join actor is `pid`.
fn findings_of(events: &[Value], pid: u64) -> Vec<Value> {
    events
        .iter()
        .filter(|v| v["join"]["actor"]["pid"] == pid)
        .cloned()
        .collect()
}

/// `ip netns add x; ip netns exec x true` on the node: node-level administration,
/// info, and the target is named "named netns x" with the inode of /run/netns/x.
#[test]
fn ip_netns_exec_is_info_into_the_named_netns() {
    let _g = serial();
    let name = format!("nstrace-t{}", std::process::id());
    let t = Tracer::audit(&[]);
    let ns = NamedNetns::add(&name);
    let inode = std::fs::metadata(format!("/run/netns/{name}"))
        .unwrap()
        .ino();
    let exec = Command::new("ip")
        .args(["netns", "exec", &name, "true"])
        .spawn()
        .unwrap();
    let pid = exec.id() as u64;
    assert_ok(&exec.wait_with_output().unwrap());
    let f = t.wait_for("join into the named netns", |v| {
        v["join"]["actor"]["pid"] == pid && v["join"]["action"] == "setns"
    });
    assert_eq!(f["finding"], "namespace_join", "{f}");
    assert_eq!(f["severity"], "info", "{f}");
    assert_eq!(f["join"]["actor"]["place"]["class"], "node", "{f}");
    assert_eq!(f["join"]["actor"]["uid"], 0);
    assert_eq!(f["join"]["result"], "ok");
    let target = &f["join"]["targets"][0];
    assert_eq!(target["type"], "net", "{f}");
    assert_eq!(target["inode"], inode, "{f}");
    assert_eq!(target["place"]["class"], "named_netns", "{f}");
    assert_eq!(target["place"]["netns"], name.as_str(), "{f}");
    assert_eq!(f["pod"], Value::Null);
    drop(ns);
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    // Everything `ip` did here (unshare for the mount namespace too) is info.
    for v in findings_of(&done.events, pid) {
        assert_eq!(v["severity"], "info", "{v}");
    }
}

/// `unshare -U` by an unprivileged uid: user_namespace_created (medium), with
/// the actor's uid and the new user namespace's inode; by root on the node: info.
#[test]
fn user_namespace_by_unprivileged_uid_is_medium_by_root_info() {
    let _g = serial();
    let t = Tracer::audit(&[]);
    let nobody = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["unshare", "-U", "readlink", "/proc/self/ns/user"])
        .output()
        .unwrap();
    assert_ok(&nobody);
    let inside = String::from_utf8_lossy(&nobody.stdout);
    let new_user: u64 = inside
        .trim()
        .strip_prefix("user:[")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("odd readlink output {inside:?}"));
    let f = t.wait_for("user namespace by uid 65534", |v| {
        v["finding"] == "user_namespace_created" && v["join"]["actor"]["uid"] == 65534
    });
    assert_eq!(f["severity"], "medium", "{f}");
    assert_eq!(f["join"]["action"], "unshare");
    assert_eq!(f["join"]["targets"][0]["type"], "user");
    assert_eq!(f["join"]["targets"][0]["inode"], new_user, "{f}");
    assert_eq!(f["join"]["targets"][0]["place"]["class"], "new");
    assert_eq!(
        f["join"]["actor"]["caps"], "none",
        "an unprivileged caller has no capabilities: {f}"
    );

    let root = Command::new("unshare")
        .args(["-U", "true"])
        .spawn()
        .unwrap();
    let pid = root.id() as u64;
    assert_ok(&root.wait_with_output().unwrap());
    let f = t.wait_for("user namespace by root", |v| {
        v["finding"] == "user_namespace_created" && v["join"]["actor"]["pid"] == pid
    });
    assert_eq!(f["severity"], "info", "{f}");
    let caps = f["join"]["actor"]["cap_effective"].as_u64().unwrap();
    assert_ne!(caps & 1 << 21, 0, "root on the node has CAP_SYS_ADMIN: {f}");
    t.stop();
}

/// A policy rule turns the matching finding into an allowed one, counts the
/// hit, and an allowed finding does not trip --fail-on.
#[test]
fn policy_rule_allows_and_counts_a_finding() {
    let _g = serial();
    let dir = TempDir::new("policy");
    let policy = dir.path().join("allow.toml");
    std::fs::write(
        &policy,
        "# the build farm makes rootless sandboxes as uid 65533\n\
         [[allow]]\n\
         name = \"build sandboxes\"\n\
         finding = [\"user_namespace_created\"]\n\
         uid = 65533\n\
         target = [\"new\"]\n",
    )
    .unwrap();
    let t = Tracer::audit(&["--policy", policy.to_str().unwrap()]);
    let run = |uid: &str| {
        let out = Command::new("setpriv")
            .args(["--reuid", uid, "--regid", uid, "--clear-groups"])
            .args(["unshare", "-U", "true"])
            .status()
            .unwrap();
        assert!(out.success());
    };
    run("65533");
    run("65532");
    let allowed = t.wait_for("allowed finding", |v| {
        v["finding"] == "user_namespace_created" && v["join"]["actor"]["uid"] == 65533
    });
    assert_eq!(allowed["allowed_by"], "build sandboxes", "{allowed}");
    let other = t.wait_for("finding of another uid", |v| {
        v["finding"] == "user_namespace_created" && v["join"]["actor"]["uid"] == 65532
    });
    assert_eq!(other["allowed_by"], Value::Null, "{other}");
    assert_eq!(other["severity"], "medium");
    let done = t.stop();
    let summary =
        audit_summary(&done.events).unwrap_or_else(|| panic!("no summary: {}", done.stderr));
    assert_eq!(
        summary["summary"]["policy_hits"]["build sandboxes"], 1,
        "{summary}"
    );
    assert!(
        summary["summary"]["allowed"].as_u64().unwrap() >= 1,
        "{summary}"
    );
}

/// --fail-on ignores allowed findings: with every medium finding allowed, the exit code is 0.
#[test]
fn fail_on_counts_only_findings_that_are_not_allowed() {
    let _g = serial();
    let dir = TempDir::new("gate");
    let policy = dir.path().join("allow.toml");
    std::fs::write(
        &policy,
        "[[allow]]\nname = \"uid 65531 sandboxes\"\nfinding = [\"user_namespace_created\"]\nuid = 65531\n",
    )
    .unwrap();
    let gate = |policy_args: &[&str]| {
        let t = Tracer::audit(&[&["--fail-on", "medium"][..], policy_args].concat());
        let st = Command::new("setpriv")
            .args(["--reuid", "65531", "--regid", "65531", "--clear-groups"])
            .args(["unshare", "-U", "true"])
            .status()
            .unwrap();
        assert!(st.success());
        t.wait_for("the sandbox's finding", |v| {
            v["finding"] == "user_namespace_created" && v["join"]["actor"]["uid"] == 65531
        });
        let done = t.stop();
        let summary = audit_summary(&done.events)
            .cloned()
            .unwrap_or_else(|| panic!("no summary: {}", done.stderr));
        (done.code, summary)
    };
    let (code, summary) = gate(&[]);
    assert_eq!(code, Some(1), "a medium finding fails the gate: {summary}");
    let (code, summary) = gate(&["--policy", policy.to_str().unwrap()]);
    // Only the machine's own activity could add a medium finding here; the summary says if it did.
    let unallowed_medium = ["medium", "high"]
        .iter()
        .map(|s| summary["summary"]["by_severity"][s].as_u64().unwrap_or(0))
        .sum::<u64>();
    assert_eq!(
        code,
        Some(if unallowed_medium == 0 { 0 } else { 1 }),
        "{summary}"
    );
    assert_eq!(
        summary["summary"]["policy_hits"]["uid 65531 sandboxes"], 1,
        "{summary}"
    );
}

/// A malformed policy is one line naming file, line and column, exit 1, nothing loaded.
#[test]
fn malformed_policy_is_rejected_with_line_and_column() {
    let _g = shared();
    let dir = TempDir::new("badpolicy");
    for (text, at) in [
        ("[[allow]]\nname = \"x\"\ntargett = [\"node\"]\n", ":3:1: "),
        (
            "[[allow]]\nname = \"x\"\nns_type = [\"net\", \"bogus\"]\n",
            ":3:19: ",
        ),
        ("[[allow]\nname = \"x\"\n", ":1:"),
    ] {
        let policy = dir.path().join("bad.toml");
        std::fs::write(&policy, text).unwrap();
        let out = nstrace_tests::nstrace()
            .args(["audit", "--duration", "1s", "--policy"])
            .arg(&policy)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(&format!("{}{at}", policy.display())),
            "{text:?} should be reported at {at}: {err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("tracing"),
            "{err}"
        );
    }
}

/// `--min-severity medium` prints no info finding, while the summary still counts them.
#[test]
fn min_severity_filters_printing_not_counting() {
    let _g = serial();
    let t = Tracer::audit(&["--min-severity", "medium"]);
    let root = Command::new("unshare")
        .args(["-U", "true"])
        .status()
        .unwrap();
    assert!(root.success());
    let nobody = Command::new("setpriv")
        .args(["--reuid", "65530", "--regid", "65530", "--clear-groups"])
        .args(["unshare", "-U", "true"])
        .status()
        .unwrap();
    assert!(nobody.success());
    t.wait_for("the medium finding", |v| {
        v["finding"] == "user_namespace_created" && v["join"]["actor"]["uid"] == 65530
    });
    let done = t.stop();
    let printed: Vec<&Value> = done
        .events
        .iter()
        .filter(|v| v["finding"].is_string())
        .collect();
    assert!(
        printed.iter().all(|v| v["severity"] != "info"),
        "info printed: {printed:#?}"
    );
    let summary = audit_summary(&done.events).expect("summary");
    assert!(
        summary["summary"]["by_severity"]["info"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "root's user namespace is counted: {summary}"
    );
}
