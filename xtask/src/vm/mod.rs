//! `cargo xtask vmtest`: the kernel matrix. Each kernel of [`MATRIX`] is
//! Debian's own package, booted under qemu with the host's root shared
//! read-only (so the guest runs the nstrace and the test binaries just
//! built, at the same paths), cgroup v2 mounted as on today's nodes, and the
//! integration modules that need only a kernel (`kernel`, `foundation`) run
//! inside it. A kernel nstrace refuses runs the one test that says so.
//!
//! Nothing is installed on the machine: packages are fetched with an apt
//! configuration of our own and unpacked into `.tools/vm/` (see `debs`).

mod debs;
mod initramfs;
mod qemu;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::{cargo_user, nstrace_bin, root};
use debs::Suites;
use qemu::{Accel, Boot, Ended};

/// What nstrace must do on a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Load, attach and pass the kernel suites.
    Supported,
    /// Refuse in one line ("too old").
    Refused,
}

/// Which Debian package a kernel of the matrix is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Package {
    /// Pinned: a test run boots what the last one booted.
    Pinned(&'static str),
    /// The newest generic amd64 image in its suites' lists, chosen at each
    /// run, so the matrix follows Debian.
    Newest,
}

/// One kernel of the matrix.
#[derive(Clone, Copy, Debug)]
pub struct KernelSpec {
    /// Short name (`--kernel 6.1`).
    pub name: &'static str,
    /// Debian's package.
    pub package: Package,
    /// Where the package comes from.
    suites: Suites,
    /// What nstrace must do there.
    pub expect: Expect,
}

/// The kernels tested in VMs (the host's own kernel runs the whole suite).
pub const MATRIX: &[KernelSpec] = &[
    KernelSpec {
        name: "5.10",
        package: Package::Pinned("linux-image-5.10.0-32-amd64"),
        suites: Suites::Bullseye,
        expect: Expect::Refused,
    },
    KernelSpec {
        name: "6.1",
        package: Package::Pinned("linux-image-6.1.0-57-amd64"),
        suites: Suites::Bookworm,
        expect: Expect::Supported,
    },
    KernelSpec {
        name: "6.12",
        package: Package::Pinned("linux-image-6.12.95+deb12-amd64"),
        suites: Suites::Bookworm,
        expect: Expect::Supported,
    },
    // Debian's newest: trixie-backports (7.3 when this was written), whose
    // packages from 6.19 on split the image, modules and base files.
    KernelSpec {
        name: "newest",
        package: Package::Newest,
        suites: Suites::TrixieBackports,
        expect: Expect::Supported,
    },
];

/// The integration test binary (tests/tests/integration: one crate of modules).
const TEST_BINARY: &str = "integration";

/// The modules of it a supported kernel runs (every test in each).
const SUITES: &[&str] = &["kernel", "foundation"];

/// The one test a refusing kernel runs.
const REFUSAL_TEST: (&str, &str) = ("kernel", "the_kernel_is_taken_or_refused_in_one_line");

/// The guest powers itself off after this long; the host kills qemu a little later.
const GUEST_WATCHDOG: Duration = Duration::from_secs(840);
const HOST_TIMEOUT: Duration = Duration::from_secs(900);

/// `cargo xtask vmtest` options.
#[derive(Debug, Default)]
pub struct Options {
    /// Kernels to run (default: all of [`MATRIX`]).
    pub kernels: Vec<String>,
    /// Suites a supported kernel runs (default: all of [`SUITES`]).
    pub suites: Vec<String>,
}

impl Options {
    /// Parses `[--kernel NAME[,NAME…]]… [--suite NAME[,NAME…]]…`.
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--kernel" => {
                    let v = it.next().context("--kernel needs a name")?;
                    o.kernels.extend(v.split(',').map(str::to_owned));
                }
                "--suite" => {
                    let v = it.next().context("--suite needs a name")?;
                    o.suites.extend(v.split(',').map(str::to_owned));
                }
                other => bail!(
                    "unknown vmtest argument '{other}' (usage: cargo xtask vmtest [--kernel {}] [--suite {}])",
                    names().join(","),
                    SUITES.join(",")
                ),
            }
        }
        for k in &o.kernels {
            if !MATRIX.iter().any(|s| s.name == k) {
                bail!("no kernel '{k}' in the matrix ({})", names().join(", "));
            }
        }
        for s in &o.suites {
            if !SUITES.contains(&s.as_str()) {
                bail!("no suite '{s}' in the VM step ({})", SUITES.join(", "));
            }
        }
        Ok(o)
    }
}

fn names() -> Vec<&'static str> {
    MATRIX.iter().map(|k| k.name).collect()
}

/// The integration test executables, by test target name, built (if needed) now.
fn test_binaries() -> Result<Vec<(String, PathBuf)>> {
    let out = cargo_user(&[
        "test",
        "--release",
        "-p",
        "nstrace-tests",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ])
    .stderr(std::process::Stdio::inherit())
    .output()
    .context("building the integration tests")?;
    if !out.status.success() {
        bail!("building the integration tests failed");
    }
    let mut bins = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" || v["profile"]["test"] != true {
            continue;
        }
        if let (Some(name), Some(exe)) = (v["target"]["name"].as_str(), v["executable"].as_str()) {
            bins.push((name.to_owned(), PathBuf::from(exe)));
        }
    }
    Ok(bins)
}

/// Single-quotes `s` for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// One command the guest runs, reported as `NAME RC` in `/vmout/results`.
struct Step {
    name: String,
    argv: Vec<String>,
}

/// The script the guest runs as its first process (under tini): the mounts
/// a node has (cgroup v2 among them), then each step, then power-off.
/// `keep` are the host directories the steps need (the checkout, the
/// binaries' directories): the guest's own /tmp and /run are tmpfs, so each
/// is bound back over them at its own path, wherever it lives.
fn guest_script(steps: &[Step], keep: &[PathBuf]) -> String {
    let mut s = String::from(include_str!("../../scripts/vm-guest.sh"));
    let keep: Vec<String> = keep
        .iter()
        .map(|p| sh_quote(&p.display().to_string()))
        .collect();
    s = s
        .replace("@WATCHDOG@", &GUEST_WATCHDOG.as_secs().to_string())
        .replace("@KEEP@", &keep.join(" "))
        .replace("@ROOT@", &sh_quote(&root().display().to_string()))
        .replace(
            "@NSTRACE_BIN@",
            &sh_quote(&nstrace_bin().display().to_string()),
        );
    let mut body = String::new();
    for st in steps {
        let argv: Vec<String> = st.argv.iter().map(|a| sh_quote(a)).collect();
        body.push_str(&format!("step {} {}\n", sh_quote(&st.name), argv.join(" ")));
    }
    s.replace("@STEPS@\n", &body)
}

/// libtest's `test result:` lines summed: (passed, failed).
fn test_counts(log: &str) -> (u32, u32) {
    let mut passed = 0;
    let mut failed = 0;
    for l in log.lines().filter(|l| l.starts_with("test result:")) {
        let num = |what: &str| -> u32 {
            l.split(';')
                .find(|p| p.trim_end().ends_with(what))
                .and_then(|p| p.split_whitespace().rev().nth(1)?.parse().ok())
                .unwrap_or(0)
        };
        passed += num("passed");
        failed += num("failed");
    }
    (passed, failed)
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What one kernel's run gave.
struct Outcome {
    spec: KernelSpec,
    package: String,
    accel: Accel,
    secs: f64,
    passed: u32,
}

/// A kernel ready to boot: its package fetched and unpacked, its
/// initramfs (with the guest script) built.
struct Prepared {
    spec: KernelSpec,
    package: String,
    image: PathBuf,
    work: PathBuf,
    out: PathBuf,
    initrd: PathBuf,
    steps: Vec<Step>,
}

/// Fetches `spec`'s kernel and builds what its guest runs. Done one kernel
/// at a time (kernels of one Debian suite share its apt state).
fn prepare(spec: &KernelSpec, suites: &[&str], bins: &[(String, PathBuf)]) -> Result<Prepared> {
    let package = match spec.package {
        Package::Pinned(p) => p.to_owned(),
        Package::Newest => debs::newest_kernel(spec.suites)?,
    };
    let kernel = debs::kernel(spec.suites, &package)?;
    let work = root().join("target/vmtest").join(spec.name);
    let out = work.join("out");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let busybox = Path::new("/bin/busybox");
    let initrd = work.join("initramfs.cpio");
    let bin = |name: &str| -> Result<String> {
        bins.iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.display().to_string())
            .with_context(|| format!("no integration test binary '{name}'"))
    };
    let steps: Vec<Step> = match spec.expect {
        Expect::Supported => suites
            .iter()
            .map(|s| {
                Ok(Step {
                    name: (*s).to_owned(),
                    argv: vec![
                        bin(TEST_BINARY)?,
                        "--test-threads=1".into(),
                        format!("{s}::"),
                    ],
                })
            })
            .collect::<Result<_>>()?,
        Expect::Refused => vec![Step {
            name: REFUSAL_TEST.0.to_owned(),
            argv: vec![
                bin(TEST_BINARY)?,
                "--exact".into(),
                format!("{}::{}", REFUSAL_TEST.0, REFUSAL_TEST.1),
            ],
        }],
    };
    // What the steps run from: the checkout, and the binaries wherever they are.
    let mut keep = vec![root()];
    for p in [nstrace_bin()]
        .into_iter()
        .chain(bins.iter().map(|(_, p)| p.clone()))
    {
        if let Some(dir) = p.parent().filter(|d| !d.starts_with(root())) {
            if !keep.iter().any(|k| dir.starts_with(k)) {
                keep.push(dir.to_path_buf());
            }
        }
    }
    // The guest script travels in the initramfs: no host path (which may
    // hold spaces) on the kernel command line.
    let guest = guest_script(&steps, &keep);
    let script = work.join("guest.sh");
    std::fs::write(&script, &guest).with_context(|| format!("writing {}", script.display()))?;
    std::fs::write(
        &initrd,
        initramfs::build(
            &kernel.modules,
            busybox,
            include_str!("../../scripts/vm-init.sh"),
            &guest,
        )?,
    )
    .with_context(|| format!("writing {}", initrd.display()))?;
    Ok(Prepared {
        spec: *spec,
        package,
        image: kernel.image,
        work,
        out,
        initrd,
        steps,
    })
}

/// Boots a prepared kernel under `accel`, runs its steps, and checks every
/// one passed; the outcome names the accelerator that worked (KVM may be
/// offered and still fail at once on a nested machine: then TCG).
fn boot_and_check(p: &Prepared, q: &debs::Qemu, accel: Accel) -> Result<Outcome> {
    let Prepared {
        spec,
        package,
        image,
        work,
        out,
        initrd,
        steps,
    } = p;
    let mut accel = accel;
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out)?;
    let boot = Boot {
        qemu: q,
        kernel: image,
        initrd,
        out,
        console: work.join("console.log"),
        timeout: HOST_TIMEOUT,
    };
    eprintln!(
        "xtask: vm: {} ({package}) booting under {}",
        spec.name,
        accel.name()
    );
    let mut ended = qemu::boot(&boot, accel)?;
    // KVM may be offered and still fail at once on a nested machine: fall back, once.
    if accel == Accel::Kvm && !out.join("uname").exists() {
        eprintln!(
            "xtask: vm: KVM did not boot the guest ({}); using TCG from now on",
            tail(&read(&out.join("qemu.log")), 1)
        );
        accel = Accel::Tcg;
        let _ = std::fs::remove_dir_all(out);
        std::fs::create_dir_all(out)?;
        ended = qemu::boot(&boot, accel)?;
    }
    let log = read(&out.join("guest.log"));
    let results = read(&out.join("results"));
    let console = read(&work.join("console.log"));
    let diagnose = |why: String| -> anyhow::Error {
        anyhow::anyhow!(
            "{} ({}): {why}\n--- guest log (last 80 lines; all in {}) ---\n{}\n--- console (last 30 lines) ---\n{}\n--- qemu ---\n{}",
            spec.name,
            package,
            out.join("guest.log").display(),
            tail(&log, 80),
            tail(&console, 30),
            tail(&read(&out.join("qemu.log")), 10)
        )
    };
    let (status, secs) = match ended {
        Ended::TimedOut => return Err(diagnose(format!("no power-off within {HOST_TIMEOUT:?}"))),
        Ended::Exited(st, d) => (st, d.as_secs_f64()),
    };
    let uname = read(&out.join("uname"));
    if uname.trim().is_empty() {
        return Err(diagnose(format!(
            "the guest never reached its script (qemu {status})"
        )));
    }
    for st in steps {
        let line = results
            .lines()
            .find(|l| l.split_whitespace().next() == Some(st.name.as_str()));
        match line.and_then(|l| l.split_whitespace().nth(1)) {
            Some("0") => {}
            Some(rc) => return Err(diagnose(format!("step '{}' failed (exit {rc})", st.name))),
            None => return Err(diagnose(format!("step '{}' did not finish", st.name))),
        }
    }
    if !results.lines().any(|l| l == "done") {
        return Err(diagnose("the guest script did not finish".into()));
    }
    let (passed, failed) = test_counts(&log);
    if failed > 0 || passed == 0 {
        return Err(diagnose(format!("{passed} passed, {failed} failed")));
    }
    Ok(Outcome {
        spec: *spec,
        package: package.clone(),
        accel,
        secs,
        passed,
    })
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Runs the matrix (or the kernels `opts` names).
pub fn vmtest(opts: &Options) -> Result<()> {
    crate::build()?;
    let bins = test_binaries()?;
    let q = debs::qemu().context("getting qemu for the VM step")?;
    let mut accel = if qemu::kvm_offered() {
        Accel::Kvm
    } else {
        Accel::Tcg
    };
    let suites: Vec<&str> = SUITES
        .iter()
        .copied()
        .filter(|s| opts.suites.is_empty() || opts.suites.iter().any(|n| n == s))
        .collect();
    let mut done = Vec::new();
    let mut failed = Vec::new();
    // Every kernel runs: one failing says nothing about the next.
    let mut ready = Vec::new();
    for spec in MATRIX
        .iter()
        .filter(|k| opts.kernels.is_empty() || opts.kernels.iter().any(|n| n == k.name))
    {
        match prepare(spec, &suites, &bins) {
            Ok(p) => ready.push(p),
            Err(e) => {
                eprintln!("xtask: vm: {}: {e:#}", spec.name);
                failed.push(spec.name);
            }
        }
    }
    // The first guest alone (it finds out whether KVM works here), then the
    // rest side by side, one per host CPU: each TCG guest is one host thread.
    let mut rest = ready.iter();
    let mut results = Vec::new();
    if let Some(first) = rest.next() {
        let r = boot_and_check(first, &q, accel);
        if let Ok(o) = &r {
            accel = o.accel;
        }
        results.push((first.spec.name, r));
    }
    let queue = std::sync::Mutex::new(rest);
    let results = std::sync::Mutex::new(results);
    let side_by_side = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..side_by_side {
            s.spawn(|| loop {
                let Some(p) = queue.lock().unwrap().next() else {
                    break;
                };
                let r = boot_and_check(p, &q, accel);
                results.lock().unwrap().push((p.spec.name, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    // In the matrix's order, whatever order they ended in.
    results.sort_by_key(|(name, _)| MATRIX.iter().position(|k| k.name == *name));
    for (name, r) in results {
        match r {
            Ok(o) => done.push(o),
            Err(e) => {
                eprintln!("xtask: vm: {e:#}");
                failed.push(name);
            }
        }
    }
    for o in &done {
        let what = match o.spec.expect {
            Expect::Supported => "loads, traces and passes the kernel suites",
            Expect::Refused => "refused in one line, as it must be",
        };
        eprintln!(
            "xtask: vm: {:>5} {:<34} {what}: {} tests passed, {:.0} s under {}",
            o.spec.name,
            o.package,
            o.passed,
            o.secs,
            o.accel.name()
        );
    }
    if !failed.is_empty() {
        bail!(
            "the VM step failed on {} (each kernel's guest log is under target/vmtest/)",
            failed.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_over_every_test_binary() {
        let log = "running 3 tests\ntest a ... ok\n\ntest result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s\n\
                   test result: FAILED. 14 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 9.00s\n";
        assert_eq!(test_counts(log), (17, 1));
        assert_eq!(test_counts("nothing ran"), (0, 0));
    }

    #[test]
    fn the_guest_script_runs_every_step_quoted() {
        let s = guest_script(
            &[Step {
                name: "kernel".into(),
                argv: vec!["/t/kernel-1".into(), "it's".into()],
            }],
            &[PathBuf::from("/tmp/a checkout"), PathBuf::from("/var/t")],
        );
        assert!(
            s.contains("step 'kernel' '/t/kernel-1' 'it'\\''s'\n"),
            "{s}"
        );
        // The kept directories, quoted: a path under /tmp, with a space.
        assert!(s.contains("for p in '/tmp/a checkout' '/var/t'; do"), "{s}");
        for p in ["@WATCHDOG@", "@ROOT@", "@NSTRACE_BIN@", "@STEPS@", "@KEEP@"] {
            assert!(!s.contains(p), "{p} is filled: {s}");
        }
    }

    #[test]
    fn options_name_kernels_of_the_matrix_only() {
        let o = Options::parse(&["--kernel".into(), "6.1,6.12".into()]).unwrap();
        assert_eq!(o.kernels, ["6.1", "6.12"]);
        assert!(Options::parse(&["--kernel".into(), "4.19".into()]).is_err());
        assert!(Options::parse(&["--bogus".into()]).is_err());
        // The matrix keeps a refused kernel and at least two supported ones.
        assert!(MATRIX.iter().any(|k| k.expect == Expect::Refused));
        assert!(
            MATRIX
                .iter()
                .filter(|k| k.expect == Expect::Supported)
                .count()
                >= 2
        );
    }
}
