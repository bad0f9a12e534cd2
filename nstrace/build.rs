//! Locates the kernel object that `cargo xtask build-ebpf` produced, so the
//! binary can embed it and ship as one file.
//!
//! Without it (a fresh clone: `cargo check`, `cargo clippy`, rust-analyzer,
//! a plain `cargo build`) an empty stand-in is embedded instead and cargo
//! prints a warning: everything compiles, and such a binary says in one line
//! at start that it has no kernel programs. `cargo xtask build` builds the
//! real object first.
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=NSTRACE_BPF_OBJECT");
    let explicit = std::env::var_os("NSTRACE_BPF_OBJECT").map(PathBuf::from);
    let path = explicit.clone().unwrap_or_else(|| {
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join("../target/bpf/bpfel-unknown-none/release/nstrace-probes")
    });
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
        println!("cargo:rustc-env=NSTRACE_BPF_OBJECT={}", path.display());
        return Ok(());
    }
    // Asked for by name (cargo xtask) and missing: that is a broken build.
    if let Some(p) = explicit {
        anyhow::bail!(
            "kernel object {} is missing: build with `cargo xtask build` (it builds the eBPF side first)",
            p.display()
        );
    }
    let stub = PathBuf::from(std::env::var("OUT_DIR")?).join("nstrace-probes.stub");
    std::fs::write(&stub, b"")?;
    println!(
        "cargo:warning=no kernel object at {}: this nstrace embeds none and cannot trace; `cargo xtask build` builds both sides",
        path.display()
    );
    // No rerun-if-changed on the missing path (cargo would rerun this on
    // every build): `cargo xtask build` names the object, a changed
    // NSTRACE_BPF_OBJECT reruns this script.
    println!("cargo:rustc-env=NSTRACE_BPF_OBJECT={}", stub.display());
    Ok(())
}
