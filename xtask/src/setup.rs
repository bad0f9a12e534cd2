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
    "util-linux",                  // unshare, nsenter, lsns
    "iproute2",                    // ip netns
    "procps",                      // ps, kill
    "podman",                      // real pods from Kubernetes YAML
    "runc",                        // the OCI runtime podman uses here (crun refuses hybrid cgroups)
    "containernetworking-plugins", // pod networking as tested (not netavark: a virtual package could pick either)
    "iptables",  // the CNI bridge and portmap plugins need it (podman only suggests it)
    "catatonit", // the pods' infra (pause) process
    "tini",      // a well-behaved PID 1
    "dumb-init", // another well-behaved PID 1
    "busybox-static", // the userland of locally built images
    "graphviz",  // renders topology DOT in tests
    "strace",    // benchmark peer
    "bpftrace",  // benchmark peer
    "prometheus", // the agent's tests scrape it with a real server; ships promtool too
    "stress-ng", // benchmark load (the fork and signal storms of issue 12)
    "xz-utils",  // the VM step unpacks Debian kernels' xz-compressed modules
    "nodejs",    // a language runtime as PID 1 (tests/tests/integration/pid1_runtimes.rs)
    "python3",   // another
    "nginx-light", // a server as PID 1
    // The servers of the model's catalogue, each as PID 1 (tests/tests/integration/pid1_servers.rs).
    "uwsgi-core",
    "postgresql",
    "php-fpm",
    "haproxy",
    "gunicorn",
    "redis-server",
    "containerd", // the kubelet's runtime, driven through CRI by the tests' own small kubelet
    "docker.io",  // Docker Engine 20.10 (dockerd, the 20.10 client, docker-proxy, docker-init)
    "docker-compose", // Compose 1.29: the tests run Compose projects for real
    "protobuf-compiler", // protoc: the test crate's CRI client (k8s-cri) compiles the CRI protos
    "chromium",   // the report's browser tests: headless, driven over the DevTools pipe
    "fonts-dejavu-core", // a font for the browser's screenshots
];

/// Packages whose maintainer scripts start a daemon on install (prometheus's postinst
/// runs `invoke-rc.d prometheus start`, a server on :9090 of every interface;
/// containerd's enables and starts its unit). The tests start their own servers (a
/// Prometheus on a loopback port, a containerd per test): these are installed with a
/// policy-rc.d that forbids starting anything (Debian's mechanism, see invoke-rc.d(8)).
const DAEMONS: &[Daemon] = &[
    Daemon {
        package: "prometheus",
        service: "prometheus",
        pidfile: "/run/prometheus/prometheus.pid",
        exec: "/usr/bin/prometheus",
    },
    Daemon {
        package: "nginx-light",
        service: "nginx",
        pidfile: "/run/nginx.pid",
        exec: "/usr/sbin/nginx",
    },
    Daemon {
        package: "postgresql",
        service: "postgresql",
        pidfile: "/run/postgresql/15-main.pid",
        exec: "/usr/lib/postgresql/15/bin/postgres",
    },
    Daemon {
        package: "php-fpm",
        service: "php8.2-fpm",
        pidfile: "/run/php/php8.2-fpm.pid",
        exec: "/usr/sbin/php-fpm8.2",
    },
    Daemon {
        package: "haproxy",
        service: "haproxy",
        pidfile: "/run/haproxy.pid",
        exec: "/usr/sbin/haproxy",
    },
    Daemon {
        package: "redis-server",
        service: "redis-server",
        pidfile: "/run/redis/redis-server.pid",
        exec: "/usr/bin/redis-check-rdb",
    },
    // Debian's containerd ships a systemd unit only (no init script, no pid file of
    // its own): the pid file here is where a safety-net stop would look.
    Daemon {
        package: "containerd",
        service: "containerd",
        pidfile: "/run/containerd/containerd.pid",
        exec: "/usr/bin/containerd",
    },
    // docker.io's postinst starts docker (and enables docker.socket); its init
    // script's pid file is dockerd's default one.
    Daemon {
        package: "docker.io",
        service: "docker",
        pidfile: "/run/docker.pid",
        exec: "/usr/sbin/dockerd",
    },
];

/// A package whose maintainer scripts start a service.
struct Daemon {
    /// The Debian package.
    package: &'static str,
    /// Its init script and systemd unit name.
    service: &'static str,
    /// The pid file its init script writes.
    pidfile: &'static str,
    /// The daemon's executable.
    exec: &'static str,
}

/// Debian's policy layer for maintainer scripts: exit 101 = "action forbidden".
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

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

/// The packages a simulated `apt-get install` of `args` would remove (the
/// `Remv NAME …` lines of `apt-get -s`).
fn removals(sim_output: &str) -> Vec<String> {
    sim_output
        .lines()
        .filter_map(|l| l.strip_prefix("Remv "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Installs whatever Debian packages are missing, never removing one: a
/// dry run first (apt resolves some conflicts by removing a package of the
/// machine, DESIGN.md §4c), refused if it would remove anything, and the
/// install itself with `--no-remove`.
pub fn packages() -> Result<()> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    let sim = output(
        Command::new("apt-get")
            .args(["install", "-s", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    let removed = removals(&sim);
    if !removed.is_empty() {
        bail!(
            "installing {} would remove {}: not done (install them by hand if that is what you want)",
            missing.join(" "),
            removed.join(" ")
        );
    }
    // No service may start: without systemd here, only policy-rc.d stops invoke-rc.d.
    let _policy = missing
        .iter()
        .any(|p| DAEMONS.iter().any(|d| d.package == *p))
        .then(NoServiceStarts::install)
        .transpose()?;
    run(Command::new("apt-get")
        .args([
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "--no-remove",
        ])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    for d in DAEMONS.iter().filter(|d| missing.contains(&d.package)) {
        keep_daemon_off(d);
    }
    Ok(())
}

/// A policy-rc.d forbidding every init-script action, for the length of one install;
/// removed on drop, and only if it was ours (a machine may have its own: then it stays).
struct NoServiceStarts {
    /// The file we wrote, to remove.
    ours: Option<PathBuf>,
}

impl NoServiceStarts {
    const MARK: &'static str = "# nstrace xtask setup: no service may start during apt-get install";

    fn install() -> Result<NoServiceStarts> {
        Self::install_at(std::path::Path::new(POLICY_RC_D))
    }

    fn install_at(path: &std::path::Path) -> Result<NoServiceStarts> {
        match std::fs::read_to_string(path) {
            // A policy of the machine's own (Docker-style images ship one that exits 101).
            Ok(have) if !have.contains(Self::MARK) => return Ok(NoServiceStarts { ours: None }),
            // Absent, or ours left by an interrupted run.
            _ => {}
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, format!("#!/bin/sh\n{}\nexit 101\n", Self::MARK))
            .with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
        Ok(NoServiceStarts {
            ours: Some(path.to_path_buf()),
        })
    }
}

impl Drop for NoServiceStarts {
    fn drop(&mut self) {
        if let Some(p) = &self.ours {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// After installing daemon package `name` ourselves: not started at boot either (the
/// postinst enabled it: rc links and the systemd unit's wants link), and, as a
/// safety net should its init script have run anyway, the daemon it started is stopped
/// through its own pid file (so only that process).
fn keep_daemon_off(d: &Daemon) {
    let name = d.service;
    let quiet = |c: &mut Command| {
        let _ = c
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    };
    let unit = format!("{name}.service");
    quiet(Command::new("update-rc.d").args([name, "disable"]));
    // Works without a running systemd too (it edits the links); `--now` only where one runs.
    let now = std::path::Path::new("/run/systemd/system").is_dir();
    quiet(
        Command::new("systemctl")
            .arg("disable")
            .args(now.then_some("--now"))
            .arg(&unit),
    );
    let pidfile = d.pidfile;
    if std::path::Path::new(pidfile).exists() {
        eprintln!("xtask: warning: installing {name} started its service; stopping it");
        quiet(
            Command::new("start-stop-daemon")
                .args(["--stop", "--quiet", "--oknodo", "--retry=TERM/10/KILL/5"])
                .args(["--pidfile", pidfile, "--exec", d.exec])
                .arg("--remove-pidfile"),
        );
    }
}

/// What podman needs on this machine class (DESIGN.md §5): no CAP_SYS_RESOURCE,
/// so its default rlimits cannot be set; crun refuses hybrid cgroups; no systemd.
const CONTAINERS_CONF: &str = "# Written by nstrace's `cargo xtask setup` (DESIGN.md §5); delete this line to keep your own edits.
[containers]
default_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]
[engine]
cgroup_manager = \"cgroupfs\"
events_logger = \"file\"
runtime = \"runc\"
";

const CONTAINERS_CONF_PATH: &str = "/etc/containers/containers.conf";

/// The image every test pod runs: static busybox, tini and dumb-init, built locally.
pub const TEST_IMAGE: &str = "localhost/nstrace-busybox:latest";

/// The image of the language-runtime tests: an empty merged-/usr root that
/// mounts the node's /usr (hostPath) to run its node, python3 and nginx.
pub const USR_IMAGE: &str = "localhost/nstrace-usr:latest";

/// containers.conf, the local test image, and podman's infra (pause) image,
/// which podman 4.3 builds from the host's catatonit the first time a pod is made.
pub fn pods() -> Result<()> {
    match std::fs::read_to_string(CONTAINERS_CONF_PATH) {
        Ok(have) if have == CONTAINERS_CONF => {}
        Ok(have) if !have.starts_with("# Written by nstrace") => {
            if !have.contains("default_ulimits") {
                eprintln!(
                    "xtask: warning: {CONTAINERS_CONF_PATH} is not ours and sets no default_ulimits; podman may fail to start containers here (see DESIGN.md §5)"
                );
            }
        }
        _ => {
            eprintln!("xtask: writing {CONTAINERS_CONF_PATH}");
            std::fs::create_dir_all("/etc/containers")?;
            std::fs::write(CONTAINERS_CONF_PATH, CONTAINERS_CONF)?;
        }
    }
    let work = root().join("target/podimage");
    std::fs::create_dir_all(&work)?;
    run(Command::new("bash")
        .arg("-c")
        .arg(concat!(
            include_str!("../scripts/import-rootfs.sh"),
            include_str!("../scripts/mkimage.sh")
        ))
        .env("IMAGE", TEST_IMAGE)
        .env("WORK", &work))
    .context("building the local test image")?;
    run(Command::new("bash")
        .arg("-c")
        .arg(concat!(
            include_str!("../scripts/import-rootfs.sh"),
            include_str!("../scripts/mkimage-usr.sh")
        ))
        .env("IMAGE", USR_IMAGE)
        .env("WORK", &work))
    .context("building the local /usr test image")?;
    let images =
        output(Command::new("podman").args(["image", "ls", "--format", "{{.Repository}}"]))?;
    if !images.lines().any(|l| l == "localhost/podman-pause") {
        eprintln!("xtask: letting podman build its infra (pause) image from catatonit");
        let probe = "nstrace-setup-probe";
        let made = run(Command::new("podman")
            .args(["pod", "create", "--name", probe])
            .stdout(std::process::Stdio::null()));
        let _ = Command::new("podman")
            .args(["pod", "rm", "-f", probe])
            .output();
        made.context("creating a probe pod")?;
    }
    Ok(())
}

/// The sandbox (pause) image of the containerd-CRI tests: catatonit in pause mode.
pub const PAUSE_IMAGE: &str = "localhost/nstrace-pause:latest";

/// Where the images for containerd are saved (`<name>.tar`, docker-archive), for the
/// tests to import into each containerd they start.
pub fn cri_images_dir() -> PathBuf {
    root().join("target/cri-images")
}

/// Builds the pause image and saves `images` (and it) where the CRI tests import them.
pub fn cri_images(images: &[&str]) -> Result<()> {
    let mut all = vec![PAUSE_IMAGE];
    all.extend_from_slice(images);
    run(Command::new("bash")
        .arg("-c")
        .arg(include_str!("../scripts/cri-images.sh"))
        .env("OUT", cri_images_dir())
        .env("PAUSE", PAUSE_IMAGE)
        .env("IMAGES", all.join(" ")))
    .context("saving the images for containerd")
}

/// Everything.
pub fn all() -> Result<()> {
    toolchain()?;
    packages()?;
    pods()?;
    cri_images(&[TEST_IMAGE, USR_IMAGE])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rc_d_forbids_starting_and_is_removed_after() {
        let dir = std::env::temp_dir().join(format!("xtask-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("policy-rc.d");
        {
            let _p = NoServiceStarts::install_at(&path).unwrap();
            // What invoke-rc.d runs: `policy-rc.d SERVICE ACTION` → 101, forbidden.
            let st = Command::new(&path)
                .args(["prometheus", "start"])
                .status()
                .unwrap();
            assert_eq!(st.code(), Some(101));
        }
        assert!(!path.exists(), "ours is removed after the install");
        // The machine's own policy is left as it is.
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        drop(NoServiceStarts::install_at(&path).unwrap());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "#!/bin/sh\nexit 0\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_dry_run_that_removes_is_seen() {
        let sim = "Reading package lists...\nRemv qemu-utils [1:7.2+dfsg-7+deb12u12~bpo11+1]\nInst qemu-system-x86 (1:7.2)\nConf qemu-system-x86 (1:7.2)\n";
        assert_eq!(removals(sim), vec!["qemu-utils".to_owned()]);
        assert!(removals("Inst docker.io (20.10.24)\nConf docker.io (20.10.24)\n").is_empty());
        let plan = "NOTE: This is only a simulation!\nInst chromium-common (156.0 Debian-Security:12/stable-security [amd64])\nRemv qemu-utils [1:10.0.2+ds-2]\nInst chromium (156.0 Debian-Security:12/stable-security [amd64])\nConf chromium (156.0)\n";
        assert_eq!(removals(plan), vec!["qemu-utils".to_owned()]);
    }

    #[test]
    fn prometheus_is_installed_without_recommends_and_as_a_daemon_package() {
        assert!(PACKAGES.contains(&"prometheus"));
        assert!(PACKAGES.contains(&"chromium"));
        assert!(DAEMONS.iter().all(|d| PACKAGES.contains(&d.package)));
    }
}
