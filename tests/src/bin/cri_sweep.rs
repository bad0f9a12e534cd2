//! `nstrace-cri-sweep [--check]`: cleans what containerd-CRI tests left behind
//! (a test process killed by Ctrl-C or a crash leaves its containerd, its shims
//! and pods running), then, with `--check`, fails (exit 1) if anything of the
//! harness remains. `cargo xtask test` runs it before and after the suite.

fn main() -> std::process::ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    match nstrace_tests::cri::sweep() {
        Ok(found) if !found.is_empty() => {
            eprintln!(
                "nstrace-cri-sweep: cleaned what a run left: {}",
                found.join(", ")
            )
        }
        Ok(_) => {}
        Err(e) => {
            eprintln!("nstrace-cri-sweep: error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    if check {
        let left = nstrace_tests::cri::leftovers();
        if !left.is_empty() {
            eprintln!(
                "nstrace-cri-sweep: error: left behind after cleaning: {}",
                left.join(", ")
            );
            return std::process::ExitCode::FAILURE;
        }
    }
    std::process::ExitCode::SUCCESS
}
