//! Machine setup, idempotent and quick when already done: nightly rust-src,
//! bpf-linker built against the nightly's own LLVM (project-local), and the
//! Debian packages the tests drive.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{root, run};

/// bpf-linker release line known to work with the nightly's LLVM here.
const BPF_LINKER_VERSION: &str = "0.13";

/// Debian packages the integration tests and benchmarks use.
pub const PACKAGES: &[&str] = &[
    "util-linux",     // unshare, nsenter, lsns
    "iproute2",       // ip netns
    "procps",         // ps, kill
    "podman",         // real pods from Kubernetes YAML
    "runc",           // the OCI runtime podman uses here (crun refuses hybrid cgroups)
    "catatonit",      // the pods' infra (pause) process
    "tini",           // a well-behaved PID 1
    "dumb-init",      // another well-behaved PID 1
    "busybox-static", // the userland of locally built images
    "graphviz",       // renders topology DOT in tests
    "strace",         // benchmark peer
    "bpftrace",       // benchmark peer
];

/// Project-local directory for built tools.
pub fn tools_dir() -> PathBuf {
    root().join(".tools")
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// rust-src for nightly and a bpf-linker matching nightly's LLVM.
pub fn toolchain() -> Result<()> {
    let sysroot = PathBuf::from(
        output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))
            .context("the nightly toolchain is needed for the kernel side")?
            .trim(),
    );
    if !sysroot.join("lib/rustlib/src/rust/library/core").exists() {
        eprintln!("xtask: adding rust-src to nightly");
        run(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
    }
    let linker = tools_dir().join("bin/bpf-linker");
    if linker.exists() {
        if let Ok(v) = output(Command::new(&linker).arg("--version")) {
            if v.contains(&format!(" {BPF_LINKER_VERSION}.")) {
                return Ok(());
            }
        }
    }
    // bpf-linker must use the same LLVM as rustc nightly: link it to the nightly's own libLLVM.
    let vv = output(Command::new("rustc").args(["+nightly", "-vV"]))?;
    let major = vv
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .context("rustc +nightly -vV does not name its LLVM version")?
        .to_string();
    let libdir = sysroot.join("lib");
    let libname = std::fs::read_dir(&libdir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|n| n.starts_with(&format!("libLLVM.so.{major}.")))
        .with_context(|| format!("no libLLVM.so.{major}.* in {}", libdir.display()))?;
    let prefix = tools_dir().join("llvm");
    let plib = prefix.join("lib");
    std::fs::create_dir_all(&plib)?;
    for link in ["libLLVM.so", libname.as_str()] {
        let l = plib.join(link);
        let _ = std::fs::remove_file(&l);
        std::os::unix::fs::symlink(libdir.join(&libname), &l)?;
    }
    eprintln!("xtask: building bpf-linker {BPF_LINKER_VERSION} against {libname} (about 75 s)");
    run(Command::new("cargo")
        .args(["install", "bpf-linker", "--locked", "--version"])
        .arg(format!("^{BPF_LINKER_VERSION}"))
        .args(["--no-default-features", "--features"])
        .arg(format!("llvm-{major}"))
        .arg("--root")
        .arg(tools_dir())
        .env("LLVM_PREFIX", &prefix)
        .env_remove("RUSTUP_TOOLCHAIN"))
}

fn missing_packages() -> Vec<&'static str> {
    PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect()
}

/// Installs whatever Debian packages are missing.
pub fn packages() -> Result<()> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Everything.
pub fn all() -> Result<()> {
    toolchain()?;
    packages()
}
