//! The guests' initramfs: busybox-static, the init script, and the kernel
//! modules that mounting the host's root needs (virtio PCI, 9p, overlay), in
//! the order their `depends=` lines require, written as a `newc` cpio archive
//! (the format the kernel unpacks; no compression needed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Modules the init script needs; their dependencies come along. A module the
/// kernel has built in is simply absent from its package.
pub const WANTED: &[&str] = &["virtio_pci", "9pnet_virtio", "9p", "overlay"];

/// One file or directory of the archive.
pub struct Entry {
    /// Path inside the archive, without a leading `/`.
    pub name: String,
    /// `st_mode`: file type and permissions.
    pub mode: u32,
    /// File content (empty for a directory).
    pub data: Vec<u8>,
}

impl Entry {
    /// A directory.
    pub fn dir(name: &str) -> Entry {
        Entry {
            name: name.into(),
            mode: 0o040755,
            data: Vec::new(),
        }
    }

    /// A regular file.
    pub fn file(name: &str, perm: u32, data: Vec<u8>) -> Entry {
        Entry {
            name: name.into(),
            mode: 0o100000 | perm,
            data,
        }
    }
}

/// Pads `out` to a multiple of four bytes, as `newc` requires after each
/// header+name and after each file's data.
fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// The `newc` archive of `entries` (followed by the trailer).
pub fn newc(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let trailer = Entry {
        name: "TRAILER!!!".into(),
        mode: 0,
        data: Vec::new(),
    };
    for (ino, e) in entries.iter().chain([&trailer]).enumerate() {
        let name_len = e.name.len() + 1;
        let fields = [
            ino as u32 + 1,
            e.mode,
            0, // uid
            0, // gid
            1, // nlink
            0, // mtime
            e.data.len() as u32,
            0, // dev major
            0, // dev minor
            0, // rdev major
            0, // rdev minor
            name_len as u32,
            0, // check
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(e.name.as_bytes());
        out.push(0);
        pad4(&mut out);
        out.extend_from_slice(&e.data);
        pad4(&mut out);
    }
    out
}

/// A module's canonical name: `9pnet-virtio.ko.xz` and `9pnet_virtio` alike
/// give `9pnet_virtio`.
fn module_name(file: &str) -> Option<String> {
    let stem = file.split(".ko").next()?;
    (file.len() > stem.len()).then(|| stem.replace('-', "_"))
}

/// The modules of a kernel package's `lib/modules/<version>` tree, by name.
pub fn index_modules(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let e = e?;
            let path = e.path();
            if e.file_type()?.is_dir() {
                stack.push(path);
            } else if let Some(n) = e.file_name().to_str().and_then(module_name) {
                out.insert(n, path);
            }
        }
    }
    Ok(out)
}

/// A module file's bytes, decompressed (Debian compresses them with xz from 6.x on).
pub fn module_bytes(path: &Path) -> Result<Vec<u8>> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        "xz"
    } else if name.ends_with(".zst") {
        "zstd"
    } else if name.ends_with(".gz") {
        "gzip"
    } else {
        return std::fs::read(path).with_context(|| format!("reading {name}"));
    };
    let out = Command::new(tool)
        .args(["-dc"])
        .arg(path)
        .output()
        .with_context(|| format!("running {tool} -dc (apt-get install xz-utils zstd gzip)"))?;
    if !out.status.success() {
        bail!(
            "{tool} -dc {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// The `depends=` list of a module's `.modinfo` section.
pub fn depends(ko: &[u8]) -> Vec<String> {
    let key = b"depends=";
    ko.split(|&b| b == 0)
        .find_map(|field| field.strip_prefix(key))
        .map(|list| {
            String::from_utf8_lossy(list)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.replace('-', "_"))
                .collect()
        })
        .unwrap_or_default()
}

/// `wanted` and their dependencies, each after what it depends on, with
/// their (decompressed) bytes. Names not in `modules` are built in.
pub fn load_order(
    modules: &BTreeMap<String, PathBuf>,
    wanted: &[&str],
    read: &dyn Fn(&Path) -> Result<Vec<u8>>,
) -> Result<Vec<(String, Vec<u8>)>> {
    fn visit(
        name: &str,
        modules: &BTreeMap<String, PathBuf>,
        read: &dyn Fn(&Path) -> Result<Vec<u8>>,
        out: &mut Vec<(String, Vec<u8>)>,
        path: &mut Vec<String>,
    ) -> Result<()> {
        if out.iter().any(|(n, _)| n == name) {
            return Ok(());
        }
        if path.iter().any(|n| n == name) {
            bail!("module dependency cycle: {} → {name}", path.join(" → "));
        }
        let Some(file) = modules.get(name) else {
            return Ok(()); // built into the kernel
        };
        let bytes = read(file)?;
        path.push(name.to_owned());
        for dep in depends(&bytes) {
            visit(&dep, modules, read, out, path)?;
        }
        path.pop();
        out.push((name.to_owned(), bytes));
        Ok(())
    }
    let mut out = Vec::new();
    for w in wanted {
        visit(w, modules, read, &mut out, &mut Vec::new())?;
    }
    Ok(out)
}

/// The whole initramfs for the kernel whose modules are under `modules_dir`,
/// with the guest script the init runs once the root is switched.
pub fn build(modules_dir: &Path, busybox: &Path, init: &str, guest: &str) -> Result<Vec<u8>> {
    let modules = index_modules(modules_dir)?;
    let order = load_order(&modules, WANTED, &module_bytes)?;
    let mut entries = vec![
        Entry::dir("bin"),
        Entry::dir("lib"),
        Entry::dir("lib/modules"),
        Entry::file(
            "bin/busybox",
            0o755,
            std::fs::read(busybox).with_context(|| format!("reading {}", busybox.display()))?,
        ),
        Entry::file("init", 0o755, init.as_bytes().to_vec()),
        Entry::file("guest.sh", 0o755, guest.as_bytes().to_vec()),
    ];
    let list: String = order.iter().map(|(n, _)| format!("{n}.ko\n")).collect();
    entries.push(Entry::file("modules", 0o644, list.into_bytes()));
    for (name, bytes) in order {
        entries.push(Entry::file(&format!("lib/modules/{name}.ko"), 0o644, bytes));
    }
    Ok(newc(&entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_headers_names_and_padding() {
        let a = newc(&[
            Entry::dir("bin"),
            Entry::file("bin/x", 0o755, b"hello".to_vec()),
        ]);
        // Three records: bin, bin/x, the trailer; each header 110 bytes of ASCII hex.
        assert_eq!(&a[..6], b"070701");
        assert_eq!(a.len() % 4, 0);
        let text = String::from_utf8_lossy(&a);
        assert!(text.contains("bin\0"));
        assert!(text.contains("TRAILER!!!\0"));
        // The file record: mode 0100755, size 5, name length 6 ("bin/x\0").
        let at = text.find("bin/x\0").unwrap() - 110;
        let hdr = &text[at..at + 110];
        assert_eq!(&hdr[14..22], "000081ed", "mode");
        assert_eq!(&hdr[54..62], "00000005", "file size");
        assert_eq!(&hdr[94..102], "00000006", "name size with its NUL");
        // Data starts 4-aligned right after the padded name.
        let data_at = (at + 110 + 6).div_ceil(4) * 4;
        assert_eq!(&a[data_at..data_at + 5], b"hello");
    }

    #[test]
    fn modinfo_depends_and_names() {
        let ko = b"\x7fELF junk\0license=GPL\0depends=virtio,virtio_ring\0name=virtio_pci\0";
        assert_eq!(depends(ko), ["virtio", "virtio_ring"]);
        assert!(depends(b"\0depends=\0name=x\0").is_empty());
        assert!(depends(b"no modinfo").is_empty());
        assert_eq!(
            module_name("9pnet_virtio.ko.xz").as_deref(),
            Some("9pnet_virtio")
        );
        assert_eq!(module_name("virtio-rng.ko").as_deref(), Some("virtio_rng"));
        assert_eq!(module_name("modules.dep"), None);
    }

    #[test]
    fn dependencies_load_first_and_built_ins_are_skipped() {
        let mut modules = BTreeMap::new();
        for n in ["a", "b", "c"] {
            modules.insert(n.to_owned(), PathBuf::from(n));
        }
        // a needs b and "builtin" (not a file: built into the kernel); b needs c.
        let read = |p: &Path| -> Result<Vec<u8>> {
            Ok(match p.to_str().unwrap() {
                "a" => b"\0depends=b,builtin\0".to_vec(),
                "b" => b"\0depends=c\0".to_vec(),
                _ => b"\0depends=\0".to_vec(),
            })
        };
        let order = load_order(&modules, &["a", "c"], &read).unwrap();
        let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["c", "b", "a"]);
    }

    #[test]
    fn a_dependency_cycle_is_an_error() {
        let mut modules = BTreeMap::new();
        modules.insert("a".to_owned(), PathBuf::from("a"));
        modules.insert("b".to_owned(), PathBuf::from("b"));
        let read = |p: &Path| -> Result<Vec<u8>> {
            Ok(if p.to_str() == Some("a") {
                b"\0depends=b\0".to_vec()
            } else {
                b"\0depends=a\0".to_vec()
            })
        };
        let e = load_order(&modules, &["a"], &read).unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
    }
}
