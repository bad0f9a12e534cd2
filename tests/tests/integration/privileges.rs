//! The agent's least privilege, with its image under podman: the DaemonSet's
//! capability list is exactly what the agent needs (with it, the image passes
//! the agent test in agent.rs), and without any one of them the agent
//! refuses to start, in one line that names the missing capability.

use nstrace_tests::agent::{daemonset_caps, podman_run, AgentContainer};
use nstrace_tests::*;

/// The capabilities these tests know, each with its own test below: a
/// capability added to the DaemonSet without a test here fails this list.
const TESTED: [&str; 3] = ["SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"];

#[test]
fn the_daemonset_adds_exactly_the_tested_capabilities() {
    let _g = shared();
    let mut caps = daemonset_caps();
    caps.sort();
    let mut tested: Vec<String> = TESTED.iter().map(|c| c.to_string()).collect();
    tested.sort();
    assert_eq!(caps, tested);
}

/// Runs the image with the DaemonSet's capabilities minus `dropped`: it exits
/// 1 at once, before loading anything, with one line naming `CAP_<dropped>`.
fn refused_without(dropped: &str) {
    require_root();
    let _g = serial();
    let caps: Vec<String> = daemonset_caps()
        .into_iter()
        .filter(|c| c != dropped)
        .collect();
    assert_eq!(
        caps.len(),
        TESTED.len() - 1,
        "{dropped} is in the DaemonSet"
    );
    let dir = TempDir::new(&format!("agent-caps-{dropped}"));
    let name = format!(
        "nstrace-caps-test-{}-{}",
        dropped.to_lowercase(),
        std::process::id()
    );
    let _rm = AgentContainer(name.clone());
    let mark = bpf::last_program_id();
    let out = podman_run(
        &name,
        &caps,
        dir.path(),
        false,
        &["--listen", "127.0.0.1:0"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("nstrace: error: nstrace agent needs CAP_"),
        "{err}"
    );
    assert!(err.contains(&format!("needs CAP_{dropped} to ")), "{err}");
    for other in TESTED.iter().filter(|c| **c != dropped) {
        assert!(
            !err.contains(&format!("CAP_{other} ")),
            "only the missing one: {err}"
        );
    }
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        bpf::nstrace_programs_since(mark).is_empty(),
        "nothing was loaded"
    );
}

#[test]
fn without_cap_sys_admin_the_agent_refuses_in_one_line() {
    refused_without("SYS_ADMIN");
}

#[test]
fn without_cap_sys_ptrace_the_agent_refuses_in_one_line() {
    refused_without("SYS_PTRACE");
}

#[test]
fn without_cap_dac_read_search_the_agent_refuses_in_one_line() {
    refused_without("DAC_READ_SEARCH");
}
