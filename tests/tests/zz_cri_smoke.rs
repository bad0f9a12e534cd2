use nstrace_tests::*;
use std::sync::Arc;
#[test]
fn smoke() {
    let c = Arc::new(cri::Containerd::start());
    eprintln!("timings {:?}", c.timings.lock().unwrap());
    let yaml = nstrace_tests::pod::pod_yaml(
        "cri-smoke",
        "",
        &[nstrace_tests::pod::Spec::sh(
            "app",
            &["sh", "-c", "while true; do sleep 1; done"],
        )],
        "",
    );
    let mut p = kubelet::run_pod(c.clone(), &yaml).unwrap();
    eprintln!(
        "sandbox {} pid {:?} ip {:?} netns {:?}",
        p.sandbox,
        p.sandbox_pid(),
        p.ip(),
        p.netns_path()
    );
    let id = p.containers[0].id.clone();
    let pid = p.container_pid(&id).unwrap();
    eprintln!(
        "ctr pid {pid} cgroup {}",
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap()
    );
    eprintln!(
        "status {}",
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("NSpid"))
            .unwrap()
    );
    let out = std::process::Command::new(nstrace_bin())
        .args(["topology"])
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    let t = std::time::Instant::now();
    p.stop(3).unwrap();
    eprintln!("stop took {:?}", t.elapsed());
    p.remove().unwrap();
    drop(p);
    eprintln!("timings {:?}", c.timings.lock().unwrap());
    drop(c);
    eprintln!("left {:?}", cri::leftovers());
}
