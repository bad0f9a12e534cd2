//! Locates the kernel object that `cargo xtask build-ebpf` produced, so the
//! binary can embed it and ship as one file.
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=NSTRACE_BPF_OBJECT");
    let path = match std::env::var_os("NSTRACE_BPF_OBJECT") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?)
            .join("../target/bpf/bpfel-unknown-none/release/nstrace-probes"),
    };
    if !path.exists() {
        anyhow::bail!(
            "kernel object {} is missing: build with `cargo xtask build` (it builds the eBPF side first)",
            path.display()
        );
    }
    println!("cargo:rerun-if-changed={}", path.display());
    println!("cargo:rustc-env=NSTRACE_BPF_OBJECT={}", path.display());
    Ok(())
}
