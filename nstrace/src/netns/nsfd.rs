//! Reaching a network namespace: an fd of `/proc/PID/ns/net` or of a bind mount
//! (`/run/netns/NAME`), and a short-lived thread that enters it (network namespace
//! only) to create what must be created there.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `NS_GET_NSTYPE` (linux/nsfs.h: `_IO(0xb7, 0x3)`): the CLONE_NEW* type of an nsfs fd.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// How to reach a network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetnsRef {
    /// The namespace of this process: `/proc/PID/ns/net`.
    Pid(u32),
    /// A namespace file: a bind mount such as `/run/netns/NAME`, or any
    /// `/proc/PID/ns/net` path.
    Path(PathBuf),
}

impl NetnsRef {
    /// The node's network namespace, as the node's PID 1 holds it. Opening it can be
    /// refused (EACCES on hardened hosts, as on this project's test machines, where
    /// PID 1 belongs to the machine's supervisor): fall back the way
    /// `procfs::node_ns` does, to nstrace's own namespace as it was at start-up.
    pub fn node() -> Self {
        NetnsRef::Pid(1)
    }

    /// The path that is opened.
    pub fn path(&self) -> PathBuf {
        match self {
            NetnsRef::Pid(p) => PathBuf::from(format!("/proc/{p}/ns/net")),
            NetnsRef::Path(p) => p.clone(),
        }
    }
}

impl std::fmt::Display for NetnsRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetnsRef::Pid(p) => write!(f, "pid {p}"),
            NetnsRef::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Identity of a namespace: its nsfs inode (the number in `net:[4026532296]`) and
/// the nsfs device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsId {
    /// Namespace inode, as `/proc/PID/ns/net` and `lsns` show it.
    pub inode: u64,
    /// Device of the nsfs file system (the same for every namespace of a boot).
    pub dev: u64,
}

/// An open network namespace. Holding it keeps the namespace alive even if every
/// process in it exits.
#[derive(Debug)]
pub struct NsHandle {
    pub(crate) file: File,
    pub(crate) id: NsId,
}

/// Why a namespace could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// open(2) or fstat(2) failed: NotFound for a gone pid, PermissionDenied for EACCES/EPERM.
    Io(io::Error),
    /// The file is not a namespace, or is another type of namespace.
    NotNetns,
}

impl NsHandle {
    /// Opens a namespace file and checks that it is a network namespace.
    pub fn open(path: &Path) -> Result<NsHandle, OpenError> {
        let file = File::open(path).map_err(OpenError::Io)?; // std opens with O_CLOEXEC
                                                             // SAFETY: ioctl on a valid fd with no argument.
        let t = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
        if t != libc::CLONE_NEWNET {
            return Err(OpenError::NotNetns);
        }
        let m = file.metadata().map_err(OpenError::Io)?;
        Ok(NsHandle {
            id: NsId {
                inode: m.ino(),
                dev: m.dev(),
            },
            file,
        })
    }

    /// Identity of the namespace.
    pub fn id(&self) -> NsId {
        self.id
    }
}

/// The network namespace the calling thread is in now.
pub fn current_thread_netns() -> io::Result<NsId> {
    let m = std::fs::metadata("/proc/thread-self/ns/net")?;
    Ok(NsId {
        inode: m.ino(),
        dev: m.dev(),
    })
}

/// Why `in_netns` failed.
#[derive(Debug)]
pub enum EnterError {
    /// setns(2) refused (EPERM without CAP_SYS_ADMIN over the namespace's owner).
    Setns(io::Error),
    /// The helper thread could not be started, or panicked.
    Thread(String),
}

/// Runs `f` on a new thread that first joins the network namespace of `ns` (and
/// nothing else: `setns(fd, CLONE_NEWNET)` refuses any other namespace type). The
/// thread ends before this returns, so no thread of the process is left in
/// another namespace; what `f` creates there (sockets, open `/proc/thread-self/net`
/// files) stays bound to that namespace. When the calling thread is already in
/// that namespace, `f` runs here without a thread.
pub fn in_netns<T: Send>(ns: &NsHandle, f: impl FnOnce() -> T + Send) -> Result<T, EnterError> {
    if current_thread_netns().ok() == Some(ns.id) {
        return Ok(f());
    }
    let fd = ns.file.as_raw_fd();
    std::thread::scope(|s| {
        let h = std::thread::Builder::new()
            .name("nstrace-netns".into())
            .stack_size(256 * 1024)
            .spawn_scoped(s, move || {
                // SAFETY: setns on a valid fd; only this thread changes namespace.
                if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                    return Err(EnterError::Setns(io::Error::last_os_error()));
                }
                Ok(f())
            })
            .map_err(|e| EnterError::Thread(e.to_string()))?;
        h.join()
            .map_err(|_| EnterError::Thread("namespace helper thread panicked".into()))?
    })
}

/// Like [`in_netns`] for many namespaces with one thread: the thread joins each in
/// turn and runs `f` there, then ends. One result per namespace, in order; the
/// outer error is a thread that could not run at all. Namespaces the calling thread
/// is in run here, without the thread.
pub fn in_each_netns<T: Send>(
    nss: &[&NsHandle],
    f: impl Fn() -> T + Sync,
) -> Result<Vec<Result<T, EnterError>>, EnterError> {
    let here = current_thread_netns().ok();
    let (local, remote): (Vec<usize>, Vec<usize>) =
        (0..nss.len()).partition(|&i| Some(nss[i].id) == here);
    let mut out: Vec<Option<Result<T, EnterError>>> = (0..nss.len()).map(|_| None).collect();
    for &i in &local {
        out[i] = Some(Ok(f()));
    }
    if !remote.is_empty() {
        let fds: Vec<(usize, RawFd)> = remote
            .iter()
            .map(|&i| (i, nss[i].file.as_raw_fd()))
            .collect();
        let f = &f;
        let done = std::thread::scope(|s| {
            let h = std::thread::Builder::new()
                .name("nstrace-netns".into())
                .stack_size(256 * 1024)
                .spawn_scoped(s, move || {
                    fds.into_iter()
                        .map(|(i, fd)| {
                            // SAFETY: setns on a valid fd; only this thread changes namespace.
                            if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                                return (i, Err(EnterError::Setns(io::Error::last_os_error())));
                            }
                            (i, Ok(f()))
                        })
                        .collect::<Vec<_>>()
                })
                .map_err(|e| EnterError::Thread(e.to_string()))?;
            h.join()
                .map_err(|_| EnterError::Thread("namespace helper thread panicked".into()))
        })?;
        for (i, r) in done {
            out[i] = Some(r);
        }
    }
    Ok(out
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(EnterError::Thread("no result".into()))))
        .collect())
}

/// Opens files named relative to `/proc/thread-self/net/` on the calling thread:
/// they show the namespace this thread is in at open time, and keep showing it.
pub fn open_thread_net(names: &[&str]) -> Vec<io::Result<OwnedFd>> {
    names
        .iter()
        .map(|n| File::open(format!("/proc/thread-self/net/{n}")).map(OwnedFd::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_own_namespace_and_refuses_others() {
        let me = NsHandle::open(Path::new("/proc/self/ns/net")).unwrap();
        assert_eq!(Some(me.id()), current_thread_netns().ok());
        let link = std::fs::read_link("/proc/self/ns/net").unwrap();
        assert_eq!(link.to_string_lossy(), format!("net:[{}]", me.id().inode));
        assert!(matches!(
            NsHandle::open(Path::new("/proc/self/ns/uts")),
            Err(OpenError::NotNetns)
        ));
        assert!(matches!(
            NsHandle::open(Path::new("/proc/self/status")),
            Err(OpenError::NotNetns)
        ));
        match NsHandle::open(Path::new("/proc/0/ns/net")) {
            Err(OpenError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
            other => panic!("{other:?}"),
        }
        // Own namespace: runs in place.
        assert_eq!(in_netns(&me, || 7).unwrap(), 7);
        let r = in_each_netns(&[&me, &me], || 8).unwrap();
        assert_eq!(
            r.into_iter().map(|r| r.unwrap()).collect::<Vec<_>>(),
            [8, 8]
        );
    }
}
