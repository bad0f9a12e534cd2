//! Booting one guest: qemu with the kernel under test, our initramfs, the
//! host's root shared read-only over 9p and a writable 9p share for results.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::debs::Qemu;

/// How qemu runs the guest's CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation.
    Kvm,
    /// Software emulation. Single-threaded: with one host thread per vCPU,
    /// a 6.12 guest missed events and once oopsed on an `int3` while the
    /// kernel patched its own text to enable a tracepoint (DESIGN.md §4c).
    Tcg,
}

impl Accel {
    fn args(self) -> &'static [&'static str] {
        match self {
            Accel::Kvm => &["-accel", "kvm", "-cpu", "host"],
            Accel::Tcg => &["-accel", "tcg,thread=single"],
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "KVM",
            Accel::Tcg => "TCG (software emulation)",
        }
    }
}

/// Whether this machine offers KVM at all (it may still fail: DESIGN.md §4c).
pub fn kvm_offered() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// One boot.
pub struct Boot<'a> {
    /// qemu to run.
    pub qemu: &'a Qemu,
    /// The kernel image.
    pub kernel: &'a Path,
    /// Our initramfs.
    pub initrd: &'a Path,
    /// Host directory the guest mounts read-write at `/vmout`.
    pub out: &'a Path,
    /// The serial console's transcript.
    pub console: PathBuf,
    /// Kill qemu after this long.
    pub timeout: Duration,
}

/// How a boot ended.
#[derive(Debug)]
pub enum Ended {
    /// qemu exited (the guest powered off, or qemu failed).
    Exited(ExitStatus, Duration),
    /// Killed at the timeout.
    TimedOut,
}

/// Boots the guest and waits for qemu to end.
pub fn boot(b: &Boot<'_>, accel: Accel) -> Result<Ended> {
    let mut cmd = Command::new(&b.qemu.bin);
    for dir in &b.qemu.firmware {
        cmd.arg("-L").arg(dir);
    }
    if let Some(p) = &b.qemu.lib_path {
        cmd.env("LD_LIBRARY_PATH", p);
    }
    cmd.args(accel.args())
        .args(["-m", "2G", "-smp", "2", "-nic", "none", "-no-reboot"])
        .args(["-display", "none", "-monitor", "none"])
        .arg("-serial")
        .arg(format!("file:{}", b.console.display()))
        .arg("-kernel")
        .arg(b.kernel)
        .arg("-initrd")
        .arg(b.initrd)
        .arg("-append")
        .arg("console=ttyS0 quiet panic=-1")
        .arg("-virtfs")
        .arg("local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
        .arg("-virtfs")
        .arg(format!(
            "local,path={},mount_tag=out,security_model=none",
            // qemu's option syntax: a comma in a value is written twice.
            b.out.display().to_string().replace(',', ",,")
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(b.out.join("qemu.log")).context("qemu's log file")?,
        ));
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", b.qemu.bin.display()))?;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Ended::Exited(st, start.elapsed()));
        }
        if start.elapsed() > b.timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Ended::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
