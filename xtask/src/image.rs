//! `cargo xtask image`: the node agent's container image, built locally from
//! the release binary and `podman import`ed as `localhost/nstrace:<version>`
//! and `localhost/nstrace:latest` (no image is pulled; this machine reaches no
//! registry of images). The rootfs is the binary and the libraries ldd names;
//! `deploy/daemonset.yaml` runs it.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{nstrace_bin, root, run};

/// Where the image goes (podman's local store).
pub const REPO: &str = "localhost/nstrace";

/// The binary's path inside the image, and the image's ENTRYPOINT.
pub const ENTRYPOINT: &str = "/usr/bin/nstrace";

/// The image's CMD: what runs when no arguments are given.
pub const CMD: &[&str] = &["agent"];

/// The port the agent serves /metrics, /healthz and /topology on.
pub const PORT: u16 = 9750;

/// The image version: the workspace's (`[workspace.package] version`).
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// `localhost/nstrace:<version>`.
pub fn tag() -> String {
    format!("{REPO}:{}", version())
}

/// `["agent"]`: CMD as the JSON array podman's `--change CMD` takes.
fn cmd_json() -> String {
    let items: Vec<String> = CMD.iter().map(|a| format!("\"{a}\"")).collect();
    format!("[{}]", items.join(", "))
}

/// Builds nstrace, then the image (skipped when its content is unchanged);
/// prints the image id and size.
pub fn image() -> Result<()> {
    crate::build()?;
    let work = root().join("target/image");
    std::fs::create_dir_all(&work)?;
    run(Command::new("bash")
        .arg("-c")
        .arg(include_str!("../scripts/nstrace-image.sh"))
        .env("BIN", nstrace_bin())
        .env("REPO", REPO)
        .env("VERSION", version())
        .env("WORK", &work)
        .env("ENTRYPOINT", ENTRYPOINT)
        .env("CMD_JSON", cmd_json())
        .env("PORT", PORT.to_string()))
    .context("building the nstrace image")?;
    let out = Command::new("podman")
        .args(["image", "inspect", "--format", "{{.Id}} {{.Size}}", &tag()])
        .output()
        .context("podman image inspect")?;
    if !out.status.success() {
        bail!(
            "the image {} is missing after the build: {}",
            tag(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let id = it.next().unwrap_or("?");
    let size: u64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    println!(
        "{} (and {REPO}:latest): image id {}, size {:.1} MB ({size} bytes)",
        tag(),
        &id[..id.len().min(12)],
        size as f64 / 1e6
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmd_is_a_json_array() {
        assert_eq!(cmd_json(), "[\"agent\"]");
    }

    #[test]
    fn version_is_the_workspace_version() {
        let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
        let section = manifest
            .split("[workspace.package]")
            .nth(1)
            .expect("a [workspace.package] section");
        let line = section
            .lines()
            .find(|l| l.trim_start().starts_with("version"))
            .expect("a workspace version");
        assert_eq!(
            line.split('"').nth(1),
            Some(version()),
            "xtask's version comes from the workspace"
        );
        assert_eq!(tag(), format!("localhost/nstrace:{}", version()));
    }
}
