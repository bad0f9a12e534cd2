//! Debian packages for the VM step, fetched with an apt configuration of our
//! own (own sources list, package lists and cache under `.tools/vm/`) and
//! unpacked with `dpkg-deb -x` into that cache: nothing is installed, and
//! the machine's own sources, lists and packages are never touched (apt here
//! would resolve qemu's dependencies by *removing* a package of the image,
//! DESIGN.md §4c).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::setup::tools_dir;

/// A set of Debian suites with its own apt state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suites {
    /// Debian 12: bookworm, its updates, security and backports (6.1, 6.12, qemu).
    Bookworm,
    /// Debian 11: bullseye and its security suite (5.10).
    Bullseye,
    /// Debian 13's backports alone: its newest kernels (7.x today).
    TrixieBackports,
}

impl Suites {
    fn name(self) -> &'static str {
        match self {
            Suites::Bookworm => "bookworm",
            Suites::Bullseye => "bullseye",
            Suites::TrixieBackports => "trixie-backports",
        }
    }

    /// The sources list: one line per suite (a one-line entry names one suite).
    fn sources(self) -> String {
        let (suites, security): (&[&str], &str) = match self {
            Suites::Bookworm => (
                &["bookworm", "bookworm-updates", "bookworm-backports"],
                "bookworm-security",
            ),
            Suites::Bullseye => (&["bullseye"], "bullseye-security"),
            // The backports' own lists: the newest kernel is chosen from them.
            Suites::TrixieBackports => {
                return "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main\n".to_owned();
            }
        };
        let key = "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]";
        let mut s: String = suites
            .iter()
            .map(|x| format!("deb {key} http://deb.debian.org/debian {x} main\n"))
            .collect();
        s.push_str(&format!(
            "deb {key} http://deb.debian.org/debian-security {security} main\n"
        ));
        s
    }
}

/// Where everything of the VM step is cached.
pub fn cache_dir() -> PathBuf {
    tools_dir().join("vm")
}

/// apt-get / apt-cache with the configuration of `suites`.
struct Apt {
    dir: PathBuf,
}

impl Apt {
    /// Writes the configuration and fetches the package lists (once).
    fn new(suites: Suites) -> Result<Apt> {
        let dir = cache_dir().join(format!("apt-{}", suites.name()));
        for d in ["lists/partial", "cache/archives/partial", "sources.list.d"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        let sources = suites.sources();
        std::fs::write(dir.join("sources.list"), &sources)?;
        let apt = Apt { dir };
        // The lists are fetched once per sources list.
        let fetched = apt.dir.join("lists/.fetched");
        if std::fs::read_to_string(&fetched).ok().as_deref() != Some(sources.as_str()) {
            eprintln!(
                "xtask: vm: fetching Debian {} package lists (own apt state in {})",
                suites.name(),
                apt.dir.display()
            );
            crate::run(apt.cmd("apt-get").args(["update", "-qq"]))
                .context("apt-get update with the VM step's own sources")?;
            std::fs::write(&fetched, &sources)?;
        }
        Ok(apt)
    }

    fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        let d = &self.dir;
        for (k, v) in [
            ("Dir::Etc::SourceList", d.join("sources.list")),
            ("Dir::Etc::SourceParts", d.join("sources.list.d")),
            ("Dir::State::Lists", d.join("lists")),
            ("Dir::Cache", d.join("cache")),
        ] {
            c.arg("-o").arg(format!("{k}={}", v.display()));
        }
        // Downloads land in directories of root's: no _apt sandbox warning.
        c.args(["-o", "APT::Sandbox::User=root"]);
        c
    }

    /// Downloads `packages` into `into` (apt-get download: no dependency
    /// resolution, nothing installed).
    fn download(&self, packages: &[String], into: &Path) -> Result<()> {
        std::fs::create_dir_all(into)?;
        crate::run(
            self.cmd("apt-get")
                .args(["download", "-qq"])
                .args(packages)
                .current_dir(into),
        )
        .with_context(|| format!("downloading {}", packages.join(" ")))
    }

    /// What `package` depends on directly (Depends lines).
    fn depends(&self, package: &str) -> Result<Vec<String>> {
        let out = self.cmd("apt-cache").args(["depends", package]).output()?;
        if !out.status.success() {
            bail!(
                "apt-cache depends {package}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Depends:"))
            .map(|d| {
                d.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
            .collect())
    }

    /// `package` and everything it depends on (Depends and Pre-Depends,
    /// recursively), real packages only.
    fn closure(&self, package: &str) -> Result<Vec<String>> {
        let out = self
            .cmd("apt-cache")
            .args([
                "depends",
                "--recurse",
                "--no-recommends",
                "--no-suggests",
                "--no-conflicts",
                "--no-breaks",
                "--no-replaces",
                "--no-enhances",
            ])
            .arg(package)
            .output()?;
        if !out.status.success() {
            bail!(
                "apt-cache depends {package}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            // Top-level lines name packages; indented ones are their relations,
            // `<virtual>` ones have no archive of their own.
            .filter(|l| !l.starts_with(' ') && !l.starts_with('<') && !l.is_empty())
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// Whether dpkg has `package` installed on this machine.
fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Unpacks every `.deb` in `debs` into `root`.
fn unpack_all(debs: &Path, root: &Path) -> Result<()> {
    std::fs::create_dir_all(root)?;
    for e in std::fs::read_dir(debs)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "deb") {
            crate::run(Command::new("dpkg-deb").arg("-x").arg(&p).arg(root))?;
        }
    }
    Ok(())
}

/// The newest `linux-image-<version>-amd64` in `suites`' package lists (the
/// generic flavour: no cloud, rt or debug ones), so the matrix follows Debian.
pub fn newest_kernel(suites: Suites) -> Result<String> {
    let apt = Apt::new(suites)?;
    let out = apt
        .cmd("apt-cache")
        .args(["pkgnames", "linux-image-"])
        .output()
        .context("apt-cache pkgnames")?;
    let names = String::from_utf8_lossy(&out.stdout).into_owned();
    pick_newest(names.lines()).with_context(|| {
        format!(
            "no linux-image-<version>-amd64 in Debian {}'s package lists",
            suites.name()
        )
    })
}

/// The generic amd64 image of the highest version among `names`.
fn pick_newest<'a>(names: impl Iterator<Item = &'a str>) -> Option<String> {
    names
        .filter_map(|n| {
            let v = n.strip_prefix("linux-image-")?.strip_suffix("-amd64")?;
            // "7.3.4+bpo", "6.12.95+deb12": a version, then a Debian suffix;
            // flavours ("-cloud", "-rt") and "-unsigned" have more dashes.
            if v.contains('-') || !v.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            let num: Vec<u32> = v
                .split(|c: char| !c.is_ascii_digit())
                .take_while(|p| !p.is_empty())
                .filter_map(|p| p.parse().ok())
                .collect();
            Some((num, n.to_owned()))
        })
        .max()
        .map(|(_, n)| n)
}

/// A kernel package, unpacked: its image and its modules directory.
pub struct Kernel {
    /// `boot/vmlinuz-*`.
    pub image: PathBuf,
    /// `lib/modules/<version>`.
    pub modules: PathBuf,
}

/// Fetches and unpacks the kernel package `package` (once; cached).
pub fn kernel(suites: Suites, package: &str) -> Result<Kernel> {
    let dir = cache_dir().join("kernels").join(package);
    let root = dir.join("root");
    let done = dir.join(".unpacked");
    if !done.exists() {
        let apt = Apt::new(suites)?;
        // From 6.19 on `linux-image-*` is a metapackage: the image is in
        // linux-binary-unsigned-*, the modules in linux-modules-*, System.map
        // and config in linux-base-*. Its own such dependencies come along.
        let mut wanted = vec![package.to_owned()];
        wanted.extend(apt.depends(package)?.into_iter().filter(|d| split_part(d)));
        eprintln!("xtask: vm: downloading {}", wanted.join(" "));
        let debs = dir.join("debs");
        let _ = std::fs::remove_dir_all(&debs);
        let _ = std::fs::remove_dir_all(&root);
        apt.download(&wanted, &debs)?;
        unpack_all(&debs, &root)?;
        std::fs::remove_dir_all(&debs)?;
        std::fs::write(&done, "")?;
    }
    let find = |sub: &str, prefix: &str| -> Result<PathBuf> {
        let d = root.join(sub);
        std::fs::read_dir(&d)
            .with_context(|| format!("reading {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .with_context(|| format!("{package} has no {sub}/{prefix}*"))
    };
    // 6.19 on: merged /usr and the image beside its modules.
    let modules = find("lib/modules", "").or_else(|_| find("usr/lib/modules", ""))?;
    let image = find("boot", "vmlinuz-").or_else(|_| {
        let unsigned = modules.join("vmlinuz.unsigned");
        let plain = modules.join("vmlinuz");
        [unsigned, plain]
            .into_iter()
            .find(|p| p.exists())
            .with_context(|| {
                format!(
                    "{package} has no boot/vmlinuz-* nor {}/vmlinuz*",
                    modules.display()
                )
            })
    })?;
    Ok(Kernel { image, modules })
}

/// Whether a kernel package's dependency is a part of its split kernel
/// (image, modules, base files), not an ordinary dependency (initramfs tools).
fn split_part(dep: &str) -> bool {
    ["linux-binary-", "linux-modules-", "linux-base-"]
        .iter()
        .any(|p| dep.starts_with(p))
}

/// How to run qemu: the binary, its firmware directories, and the library
/// path an unpacked copy needs.
pub struct Qemu {
    /// `qemu-system-x86_64`.
    pub bin: PathBuf,
    /// `-L` directories (qemu's data and SeaBIOS).
    pub firmware: Vec<PathBuf>,
    /// `LD_LIBRARY_PATH` for an unpacked copy (empty for the machine's own).
    pub lib_path: Option<String>,
}

/// The machine's qemu when it has one, else Debian's qemu-system-x86 and the
/// libraries the machine lacks, unpacked into the cache (once).
pub fn qemu() -> Result<Qemu> {
    let system = Path::new("/usr/bin/qemu-system-x86_64");
    if system.exists() {
        return Ok(Qemu {
            bin: system.into(),
            firmware: Vec::new(),
            lib_path: None,
        });
    }
    let dir = cache_dir().join("qemu");
    let root = dir.join("root");
    let done = dir.join(".unpacked");
    if !done.exists() {
        let apt = Apt::new(Suites::Bookworm)?;
        let missing: Vec<String> = apt
            .closure("qemu-system-x86")?
            .into_iter()
            .filter(|p| !installed(p))
            .collect();
        eprintln!(
            "xtask: vm: downloading qemu-system-x86 and {} packages this machine lacks, unpacked into {} (nothing is installed)",
            missing.len().saturating_sub(1),
            root.display()
        );
        let debs = dir.join("debs");
        let _ = std::fs::remove_dir_all(&debs);
        let _ = std::fs::remove_dir_all(&root);
        apt.download(&missing, &debs)?;
        unpack_all(&debs, &root)?;
        std::fs::remove_dir_all(&debs)?;
        std::fs::write(&done, "")?;
    }
    let libs = [
        root.join("usr/lib/x86_64-linux-gnu"),
        root.join("lib/x86_64-linux-gnu"),
    ];
    let lib_path = libs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let q = Qemu {
        bin: root.join("usr/bin/qemu-system-x86_64"),
        firmware: vec![root.join("usr/share/qemu"), root.join("usr/share/seabios")],
        lib_path: Some(lib_path),
    };
    // A library the machine lacks and the closure missed shows here, not as a
    // qemu that dies at start.
    let v = Command::new(&q.bin)
        .arg("--version")
        .env("LD_LIBRARY_PATH", q.lib_path.as_deref().unwrap_or(""))
        .output()
        .with_context(|| format!("running {}", q.bin.display()))?;
    if !v.status.success() {
        bail!(
            "the unpacked qemu does not start ({}); delete {} to fetch it again",
            String::from_utf8_lossy(&v.stderr).trim(),
            dir.display()
        );
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_generic_kernel_is_picked_from_the_lists() {
        let names = [
            "linux-image-6.16.12+deb13-amd64",
            "linux-image-7.3.4+bpo-amd64",
            "linux-image-7.3.4+bpo-cloud-amd64",
            "linux-image-7.3.4+bpo-rt-amd64",
            "linux-image-7.10.1+bpo-amd64-unsigned",
            "linux-image-7.2.9+bpo-amd64",
            "linux-image-amd64",
            "linux-image-7.3.4+bpo-amd64-dbg",
        ];
        assert_eq!(
            pick_newest(names.iter().copied()).as_deref(),
            Some("linux-image-7.3.4+bpo-amd64")
        );
        assert_eq!(pick_newest(["linux-image-amd64"].into_iter()), None);
        assert!(split_part("linux-binary-unsigned-7.3.4+bpo-amd64"));
        assert!(split_part("linux-modules-7.3.4+bpo-amd64"));
        assert!(!split_part("initramfs-tools"));
    }

    #[test]
    fn each_sources_line_names_one_suite_and_the_main_component() {
        for s in [Suites::Bookworm, Suites::Bullseye, Suites::TrixieBackports] {
            for line in s.sources().lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                // deb [options] URI SUITE COMPONENT
                assert_eq!(words.len(), 5, "{line}");
                assert_eq!(words[0], "deb");
                assert!(words[3].starts_with(s.name()), "{line}");
                assert_eq!(words[4], "main");
            }
        }
        assert!(Suites::Bookworm
            .sources()
            .contains(" bookworm-backports main"));
        assert!(Suites::Bookworm
            .sources()
            .contains(" bookworm-security main"));
    }
}
