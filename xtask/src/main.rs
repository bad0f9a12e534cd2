//! `cargo xtask`: one entry point that sets up the machine, builds both sides
//! and runs nstrace or its tests.
//!
//!   cargo xtask setup          toolchain parts, bpf-linker, Debian packages (idempotent)
//!   cargo xtask build-ebpf     the kernel object (nightly, bpfel-unknown-none)
//!   cargo xtask build          kernel object + the nstrace binary that embeds it
//!   cargo xtask run -- ARGS    build, then run nstrace ARGS as root
//!   cargo xtask test           every unit and integration test (what .ci/run runs)
//!   cargo xtask bench          overhead against bpftrace and strace, in-kernel cost, loss, collector speed
//!   cargo xtask fuzz           each decoder's fuzz target for a fixed time (nightly, cargo-fuzz)
//!   cargo xtask image          the agent's container image, localhost/nstrace:<version>, with podman
//!   cargo xtask soak --minutes N   the agent under churning pods: RSS each minute, drops, series
//!   cargo xtask vmtest [--kernel 6.1,…]   the kernel matrix: nstrace's kernel suites in qemu guests
//!   cargo xtask docs           manual pages and shell completions into docs/
//!   cargo xtask perf-doc       the latest bench run's tables into docs/performance.md
//!   cargo xtask screenshot     the report's browser test, and its screenshots into docs/images

mod bench;
mod bpfstats;
#[cfg(test)]
mod deploy;
mod fuzz;
// The one HTTP client, shared with the tests (standard library only).
#[path = "../../tests/src/http.rs"]
mod http;
mod image;
mod perfdoc;
mod probe;
mod setup;
mod soak;
mod vm;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Where the kernel object is built.
pub fn bpf_object() -> PathBuf {
    root().join("target/bpf/bpfel-unknown-none/release/nstrace-probes")
}

/// The nstrace binary built by `build`, or `$NSTRACE_BIN` when set (to
/// bench or test another build, e.g. the one before a change).
pub fn nstrace_bin() -> PathBuf {
    std::env::var_os("NSTRACE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/release/nstrace"))
}

/// Runs a command, failing with its command line if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn build_ebpf() -> Result<()> {
    setup::toolchain()?;
    let dir = root().join("nstrace-ebpf/probes");
    let path = format!(
        "{}:{}",
        setup::tools_dir().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new("cargo")
        .arg("+nightly")
        .args(["build", "--release", "--target-dir"])
        .arg(root().join("target/bpf"))
        .current_dir(&dir)
        .env("PATH", path)
        // The outer cargo's settings are for the host build, not this one.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN"))
}

/// Cargo for the userspace side, pointed at the freshly built kernel object.
pub fn cargo_user(args: &[&str]) -> Command {
    let mut c = Command::new("cargo");
    c.args(args)
        .current_dir(root())
        .env("NSTRACE_BPF_OBJECT", bpf_object());
    c
}

pub(crate) fn build() -> Result<()> {
    build_ebpf()?;
    run(&mut cargo_user(&["build", "--release", "-p", "nstrace"]))
}

/// Where `cargo xtask test` records, before the run, which fixed paths of
/// the runtimes (`/run/containerd`, `/etc/docker`, the `/docker` cgroups…)
/// the node lacks: what of those exists after the run is the run's.
fn node_record() -> PathBuf {
    root().join("target/nstrace-node-before-test")
}

/// Runs `nstrace-sweep`: cleans what the harness's runtimes left (their
/// containerd, dockerd, shims, pods, mounts, bridges, cgroups). Before the run
/// it records the node (`--record`); after it (`after_run`), anything it had
/// to clean, anything of the harness that remains, or any recorded-absent path
/// that now exists is an error: the tests clean up themselves.
fn sweep(after_run: bool) -> Result<()> {
    let record = node_record();
    let out = cargo_user(&[
        "run",
        "--release",
        "-q",
        "-p",
        "nstrace-tests",
        "--bin",
        "nstrace-sweep",
        "--",
        if after_run { "--check" } else { "--record" },
    ])
    .arg(&record)
    .stderr(std::process::Stdio::piped())
    .output()
    .context("running nstrace-sweep")?;
    let err = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("nstrace-sweep:"))
        .collect();
    for l in &said {
        eprintln!("{l}");
    }
    if !out.status.success() {
        bail!("nstrace-sweep failed: {}", err.trim());
    }
    if after_run && !said.is_empty() {
        bail!("the run left test runtime state behind (cleaned now; see above)");
    }
    Ok(())
}

/// The named network namespaces (`/run/netns`).
fn named_netns() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

extern "C" fn on_sigint(_: libc::c_int) {}

/// Survives Ctrl-C (a handler, not SIG_IGN: the tests started after this must
/// still get the default action, and exec resets handlers but keeps ignores).
fn catch_sigint() {
    // SAFETY: installing an async-signal-safe handler that does nothing.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

fn main() -> std::process::ExitCode {
    match dispatch() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `cargo xtask test [-- FILTER]`: setup, the agent's image, every test; the
/// kernel matrix unless a filter narrows the run.
fn test(rest: &[String]) -> Result<()> {
    setup::all()?;
    // Builds both sides, then the agent's image the agent test runs.
    image::image()?;
    // ... and saved for the containerd the CRI agent test starts.
    setup::cri_images(&[setup::TEST_IMAGE, setup::USR_IMAGE, &image::tag()])?;
    // `cargo xtask test -- --test integration -- kernel::` means cargo's
    // `--test` (the integration binary), not libtest's: a leading `--`
    // is dropped, so the rest goes to cargo (a bare word still filters).
    let rest = rest.strip_prefix(&["--".to_string()]).unwrap_or(rest);
    // What a killed earlier run left (its containerd, dockerd, shims,
    // pods) goes first; then the node is recorded as it is.
    sweep(false)?;
    let netns_before = named_netns();
    // Ctrl-C stops the tests (the terminal signals the whole process
    // group); this process waits for them and cleans up after them.
    catch_sigint();
    let tests = run(cargo_user(&["test", "--release", "--workspace"])
        .env("NSTRACE_BIN", nstrace_bin())
        .env("NSTRACE_CRI_IMAGES", setup::cri_images_dir())
        .args(rest));
    // Nothing of the run may remain: after a pass, a failure or Ctrl-C.
    let swept = sweep(true);
    let netns_left: Vec<String> = named_netns()
        .into_iter()
        .filter(|n| !netns_before.contains(n))
        .collect();
    tests?;
    swept?;
    if !netns_left.is_empty() {
        bail!(
            "the run left network namespaces behind: {}",
            netns_left.join(", ")
        );
    }
    // The kernel matrix, unless the run was narrowed to some tests.
    if rest.is_empty() {
        vm::vmtest(&vm::Options::default())
    } else {
        eprintln!("xtask: a filter was given: the VM step is skipped (cargo xtask vmtest runs it)");
        Ok(())
    }
}

/// The screenshots in the docs: the report's browser test on podman (a real
/// recorded scenario, which keeps a screenshot of each section under
/// `target/report-screenshots/`), then two of them copied into `docs/images/`.
fn screenshot() -> Result<()> {
    test(&[
        "--".into(),
        "--test".into(),
        "integration".into(),
        "--".into(),
        "report::a_recorded_scenario_reads_in_a_real_browser::podman".into(),
    ])?;
    let from = root().join("target/report-screenshots/podman");
    let to = root().join("docs/images");
    std::fs::create_dir_all(&to)?;
    for (shot, name) in [
        ("timeline.png", "report-timeline.png"),
        ("pod.png", "report-pod.png"),
    ] {
        std::fs::copy(from.join(shot), to.join(name))
            .with_context(|| format!("copying {}", from.join(shot).display()))?;
        eprintln!("xtask: wrote docs/images/{name}");
    }
    Ok(())
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    match cmd {
        "setup" => setup::all(),
        "build-ebpf" => build_ebpf(),
        "build" => build(),
        "run" => {
            build()?;
            let rest: Vec<&String> = rest.iter().filter(|a| *a != "--").collect();
            let status = Command::new(nstrace_bin()).args(rest).status()?;
            std::process::exit(status.code().unwrap_or(1));
        }
        "test" => test(rest),
        "screenshot" => screenshot(),
        "bench" => {
            let opts = bench::Options::parse(rest)?;
            setup::all()?;
            build()?;
            bench::bench(&opts)
        }
        "vmtest" => {
            let opts = vm::Options::parse(rest)?;
            setup::all()?;
            vm::vmtest(&opts)
        }
        "fuzz" => fuzz::fuzz(&fuzz::Options::parse(rest)?),
        "docs" => {
            build()?;
            // Manual pages and completions from the clap definitions (a unit
            // test fails while the committed ones differ from these).
            let docs = root().join("docs");
            run(Command::new(nstrace_bin())
                .args(["generate", "man", "--dir"])
                .arg(docs.join("man")))?;
            for shell in ["bash", "zsh", "fish"] {
                run(Command::new(nstrace_bin())
                    .args(["generate", shell, "--dir"])
                    .arg(docs.join("completions")))?;
            }
            eprintln!("xtask: wrote docs/man and docs/completions");
            Ok(())
        }
        "perf-doc" => perfdoc::perf_doc(),
        "image" => image::image(),
        "soak" => {
            let opts = soak::Options::parse(rest)?;
            setup::all()?;
            if opts.nstrace.is_none() {
                build()?;
            }
            soak::soak(&opts)
        }
        "clippy" => {
            build_ebpf()?;
            run(&mut cargo_user(&[
                "clippy",
                "--release",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))?;
            let path = format!(
                "{}:{}",
                setup::tools_dir().join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            );
            run(Command::new("cargo")
                .args(["+nightly", "clippy", "--release", "--target-dir"])
                .arg(root().join("target/bpf"))
                .args(["--", "-D", "warnings"])
                .current_dir(root().join("nstrace-ebpf/probes"))
                .env("PATH", path))
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <setup|build-ebpf|build|run -- ARGS|test [-- FILTER]|vmtest [--kernel NAME]|docs|bench [--rounds N] [--only PART,…]|perf-doc|screenshot|fuzz [--seconds N] [TARGET...]|image|soak [--minutes N]|clippy>"
            );
            if cmd == "help" || cmd == "--help" {
                Ok(())
            } else {
                bail!("unknown xtask command '{cmd}'")
            }
        }
    }
}
