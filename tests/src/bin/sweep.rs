//! `nstrace-sweep [--record FILE | --check FILE]`: cleans what the harness's
//! runtimes left behind (a test process killed by Ctrl-C or a crash leaves its
//! containerd or dockerd, their shims and pods running), then
//! * with `--record FILE`: writes which of the fixed paths the runtimes may make
//!   (`/run/containerd`, `/etc/docker`, the `/docker` and `/kubepods`
//!   cgroups…) are absent now, before a run;
//! * with `--check FILE`: fails (exit 1) if anything of the harness remains or
//!   any path FILE recorded as absent exists now, after a run.
//!
//! `cargo xtask test` runs it before and after the suite. Paths a machine had
//! before the run (its own containerd's or dockerd's) are never touched.

use nstrace_tests::footprint::Footprint;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, file) = match args.as_slice() {
        [] => ("", None),
        [m, f] if m == "--record" || m == "--check" => (m.as_str(), Some(f.clone())),
        _ => {
            eprintln!("nstrace-sweep: error: usage: nstrace-sweep [--record FILE | --check FILE]");
            return std::process::ExitCode::from(2);
        }
    };
    let mut found = Vec::new();
    for sweep in [nstrace_tests::cri::sweep, nstrace_tests::docker::sweep] {
        match sweep() {
            Ok(f) => found.extend(f),
            Err(e) => {
                eprintln!("nstrace-sweep: error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    if !found.is_empty() {
        eprintln!(
            "nstrace-sweep: cleaned what a run left: {}",
            found.join(", ")
        );
    }
    match (mode, file) {
        ("--record", Some(f)) => {
            if let Err(e) = Footprint::now().save(std::path::Path::new(&f)) {
                eprintln!("nstrace-sweep: error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
        ("--check", Some(f)) => {
            let mut left = nstrace_tests::cri::leftovers();
            left.extend(nstrace_tests::docker::leftovers());
            match Footprint::load(std::path::Path::new(&f)) {
                Ok(before) => {
                    let appeared = before.appeared();
                    if !appeared.is_empty() {
                        left.extend(
                            appeared
                                .iter()
                                .map(|p| format!("{p} (absent before the run)")),
                        );
                        let failed = before.clean();
                        if !failed.is_empty() {
                            eprintln!(
                                "nstrace-sweep: error: could not remove: {}",
                                failed.join(", ")
                            );
                        }
                    }
                }
                Err(e) => left.push(format!("no record of the node before the run: {e}")),
            }
            if !left.is_empty() {
                eprintln!(
                    "nstrace-sweep: error: left behind after cleaning: {}",
                    left.join(", ")
                );
                return std::process::ExitCode::FAILURE;
            }
        }
        _ => {}
    }
    std::process::ExitCode::SUCCESS
}
