//! Sockets: bind(2), paired from syscall entry (fd and the caller's address
//! pointer) to exit (the result) through an LRU hash by thread id, and
//! filtered so that only two outcomes reach the ring buffer:
//!
//! * `EADDRINUSE`, from any task (a port clash, wherever it happens);
//! * success on a named port of an IPv4/IPv6 socket, from a task outside the
//!   node's mount or network namespace (a container's listener, which the
//!   port-clash detector and the listener table use).
//!
//! Netlink and unix sockets (most binds on a node: `ip`, systemd, every
//! netlink user) stop at entry, after a two-byte read of the address family;
//! at exit, other errors, ephemeral ports and the node's own daemons stop
//! before the address is read. The checks are ordered cheapest first: the
//! result, then two direct loads for the namespaces, then the user-memory
//! read of the address, then the socket.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user},
    macros::{map, tracepoint},
    maps::LruHashMap,
    programs::TracePointContext,
};
use nstrace_common::{BindEvent, Kind, NetConfig, AF_INET, AF_INET6, EADDRINUSE, FLAG_READ_FAILED};

use crate::{
    emit::{fill_header, reserve, skip, submit},
    process::sys_arg,
    task::{self, load, load_ptr, load_u32, read_kernel, Ptr},
};

/// The node's namespaces, written by the loader (see `nstrace::probe`).
#[no_mangle]
static NET_CONFIG: NetConfig = NetConfig {
    node_mnt: 0,
    node_net: 0,
};

/// A bind(2) in flight: its arguments.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Binding {
    fd: i32,
    addrlen: u32,
    /// The caller's `struct sockaddr *`.
    uaddr: u64,
}

/// IPv4/IPv6 binds in flight, by thread id.
///
/// An LRU hash, not task storage: a process mostly binds once or twice,
/// soon after it starts, and creating a task's storage costs more than an
/// LRU insert and delete (the kernel side measured that for prctl renames:
/// 1,419 ns per entry with task storage). An entry whose exit was never seen
/// is evicted, never fills the table.
#[map]
static BINDING: LruHashMap<u32, Binding> = LruHashMap::with_max_entries(4096, 0);

/// `sockaddr_in6` is the larger of the two families asked for.
const SOCKADDR_IN6_LEN: usize = 28;
/// `sockaddr_in`.
const SOCKADDR_IN_LEN: usize = 16;

/// syscalls:sys_enter_bind(fd, umyaddr, addrlen) — keeps the arguments of
/// an IPv4/IPv6 bind for exit.
#[tracepoint]
pub fn sys_enter_bind(ctx: TracePointContext) -> i32 {
    if skip() {
        return 0;
    }
    let uaddr = sys_arg(&ctx, 1);
    // SAFETY: the helper checks the user address; a bad one fails the bind too.
    let family = match unsafe { bpf_probe_read_user(uaddr as *const u16) } {
        Ok(f) => f,
        Err(_) => return 0,
    };
    if family != AF_INET && family != AF_INET6 {
        return 0;
    }
    let b = Binding {
        fd: sys_arg(&ctx, 0) as i32,
        addrlen: sys_arg(&ctx, 2) as u32,
        uaddr,
    };
    let _ = BINDING.insert(bpf_get_current_pid_tgid() as u32, b, 0);
    0
}

/// Reads a `u32` of the `NET_CONFIG` global.
macro_rules! net_config {
    ($f:ident) => {
        // SAFETY: a plain read of a global the loader initialised.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!(NET_CONFIG.$f)) }
    };
}

/// Whether `task` is in the node's mount and network namespaces (two loads
/// each, through the nsproxy; an exiting task without one counts as the node's).
#[inline(always)]
fn on_node(task: Ptr) -> bool {
    let mut ok = true;
    let nsproxy = load_ptr(task, off!(task_nsproxy), &mut ok);
    if nsproxy.is_null() {
        return true;
    }
    // nsproxy members in NSPROXY_ORDER: 0 = mnt_ns, 4 = net_ns.
    let mnt: Ptr = load(nsproxy, off!(nsproxy_ns[0]));
    let net: Ptr = load(nsproxy, off!(nsproxy_ns[4]));
    let inum = |ns: Ptr, common: usize| -> u32 {
        if ns.is_null() {
            0
        } else {
            load(ns, common + off!(ns_common_inum))
        }
    };
    inum(mnt, off!(ns_common_in[0])) == net_config!(node_mnt)
        && inum(net, off!(ns_common_in[4])) == net_config!(node_net)
}

/// The socket behind `fd` of `task`: (type, protocol), from
/// `files->fdt->fd[fd]->private_data` (a `struct socket`) and its `sk`.
/// The fd array is indexed by a variable, so from there on these are helper
/// reads; bind(2) succeeded or failed with EADDRINUSE, so `fd` is a socket.
#[inline(always)]
fn socket_of(task: Ptr, fd: i32, ok: &mut bool) -> (u16, u16) {
    if fd < 0 {
        *ok = false;
        return (0, 0);
    }
    let files = load_ptr(task, off!(task_files), ok);
    let fdt = load_ptr(files, off!(files_fdt), ok);
    let max = load_u32(fdt, off!(fdtable_max_fds), ok);
    if fd as u32 >= max {
        *ok = false;
        return (0, 0);
    }
    let fds: usize = load(fdt, off!(fdtable_fd));
    let file: usize = read_kernel(fds + fd as usize * 8, "fdtable.fd[fd]", ok);
    let sock: usize = read_kernel(file + off!(file_private_data), "file.private_data", ok);
    let sock_type: u16 = read_kernel(sock + off!(socket_type), "socket.type", ok);
    let sk: usize = read_kernel(sock + off!(socket_sk), "socket.sk", ok);
    let protocol: u16 = read_kernel(sk + off!(sock_protocol), "sock.sk_protocol", ok);
    (sock_type, protocol)
}

/// syscalls:sys_exit_bind(ret) — streams the two outcomes that matter.
#[tracepoint]
pub fn sys_exit_bind(ctx: TracePointContext) -> i32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    // Only IPv4/IPv6 binds have an entry: every other exit stops here.
    // SAFETY: the value is copied out before the entry is removed.
    let Some(b) = (unsafe { BINDING.get(tid) }).copied() else {
        return 0;
    };
    let _ = BINDING.remove(tid);
    let task = task::current();
    let ret = sys_arg(&ctx, 0) as i64;
    let ok_bind = ret == 0;
    if !ok_bind && ret != -(EADDRINUSE as i64) {
        return 0;
    }
    if ok_bind && on_node(task) {
        return 0;
    }
    // The address the caller asked for: the kernel copied it at entry, so it
    // is paged in. A sockaddr_in may sit at the very end of a mapping: then
    // read only its 16 bytes.
    let mut sa = [0u8; SOCKADDR_IN6_LEN];
    let uaddr = b.uaddr as *const [u8; SOCKADDR_IN6_LEN];
    // SAFETY: the helper checks the user address.
    match unsafe { bpf_probe_read_user(uaddr) } {
        Ok(v) if b.addrlen as usize >= SOCKADDR_IN6_LEN => sa = v,
        _ => {
            // SAFETY: as above.
            match unsafe { bpf_probe_read_user(uaddr as *const [u8; SOCKADDR_IN_LEN]) } {
                Ok(v) => sa[..SOCKADDR_IN_LEN].copy_from_slice(&v),
                Err(_) => return 0,
            }
        }
    }
    let family = u16::from_ne_bytes([sa[0], sa[1]]);
    if family != AF_INET && family != AF_INET6 {
        return 0;
    }
    let port = u16::from_be_bytes([sa[2], sa[3]]);
    if ok_bind && port == 0 {
        // An ephemeral port: nobody asked for it, nobody can clash over it.
        return 0;
    }
    let mut entry = reserve!(BindEvent, Kind::Bind);
    // SAFETY: sized for BindEvent; every field is written.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut ev.hdr, Kind::Bind, task);
    ev.ret = ret as i32;
    ev.fd = b.fd;
    ev.family = family;
    ev.port = port;
    ev.addr = [0; 16];
    if family == AF_INET {
        ev.addr[..4].copy_from_slice(&sa[4..8]);
    } else {
        ev.addr.copy_from_slice(&sa[8..24]);
    }
    let mut ok = true;
    let (sock_type, protocol) = socket_of(task, b.fd, &mut ok);
    ev.sock_type = sock_type;
    ev.protocol = protocol;
    if !ok {
        ev.hdr.flags |= FLAG_READ_FAILED;
    }
    submit(entry, &ev.hdr);
    0
}
