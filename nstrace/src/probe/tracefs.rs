//! Classic tracepoints (the syscall ones) are attached through tracefs. When
//! the node has none mounted, nstrace mounts one in a mount namespace of its
//! own, so nothing is left on the node even if nstrace is killed.

use std::ffi::CString;
use std::path::Path;

use anyhow::{bail, Result};

/// Where aya looks for tracefs first.
pub const TRACEFS: &str = "/sys/kernel/tracing";

fn mounted() -> bool {
    Path::new(TRACEFS)
        .read_dir()
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in constant")
}

/// Makes tracefs available to this process. Call before any thread is started.
pub fn ensure() -> Result<()> {
    if mounted() {
        return Ok(());
    }
    // The node's namespaces are read once; when they fall back to nstrace's
    // own, that must be before this process leaves the node's mount namespace.
    let _ = crate::procfs::node_ns();
    // SAFETY: plain syscalls with valid, NUL-terminated arguments.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            bail!(
                "tracefs is not mounted and a private mount namespace could not be made: {}",
                std::io::Error::last_os_error()
            );
        }
        // Slave: the node's later mounts (ip netns add…) still reach us, ours never reach the node.
        let root = cstr("/");
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        ) != 0
        {
            bail!(
                "making nstrace's mounts one-way (slave): {}",
                std::io::Error::last_os_error()
            );
        }
        let (src, dst, fs) = (cstr("nodev"), cstr(TRACEFS), cstr("tracefs"));
        if libc::mount(src.as_ptr(), dst.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) != 0 {
            bail!(
                "mounting tracefs at {TRACEFS}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}
