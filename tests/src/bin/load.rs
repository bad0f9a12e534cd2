//! Benchmark workloads for `cargo xtask bench`: each runs a fixed amount of
//! work as fast as the machine allows and prints one JSON line with the wall time.
//!
//!   nstrace-load fork   N   N processes forked and reaped (one worker per CPU)
//!   nstrace-load signal N   N SIGUSR1/SIGUSR2 round trips between two processes with handlers
//!   nstrace-load ns     N   N rounds of unshare(UTS|IPC|NET) and setns back to the start
//!   nstrace-load bind   N   N rounds, in a network namespace of its own, of a TCP bind
//!                           to a port and a second bind to it refused with EADDRINUSE
//!   nstrace-load exec   N   N processes forked, exec'ing /bin/true with a 180-byte
//!                           command line, and reaped (one worker per CPU)
//!
//! Every process it makes is its own; it never signals or enters anything else.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

fn die(what: &str) -> ! {
    eprintln!("nstrace-load: {what}: {}", std::io::Error::last_os_error());
    std::process::exit(1)
}

fn wait_child(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waiting for a child of this process.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        die("waitpid");
    }
}

/// Forks `n` children that exit at once, reaping each: the process life cycle at full speed.
fn fork_loop(n: u64) {
    for _ in 0..n {
        // SAFETY: the child only calls _exit.
        match unsafe { libc::fork() } {
            -1 => die("fork"),
            0 => unsafe { libc::_exit(0) },
            pid => wait_child(pid),
        }
    }
}

/// `fork N`: the work is split over one worker process per online CPU.
fn fork_storm(n: u64) {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mut pids = Vec::new();
    for w in 0..workers {
        let share = n / workers + u64::from(w < n % workers);
        // SAFETY: the worker runs fork_loop and exits.
        match unsafe { libc::fork() } {
            -1 => die("fork"),
            0 => {
                fork_loop(share);
                unsafe { libc::_exit(0) }
            }
            pid => pids.push(pid),
        }
    }
    for pid in pids {
        wait_child(pid);
    }
}

/// The command line of each exec of the exec storm: about what a shell
/// script's commands carry (180 bytes of argument strings).
const EXEC_ARGV: [&str; 9] = [
    "/bin/true",
    "--config=/etc/app/config.yaml",
    "--log-level=info",
    "--listen=0.0.0.0:8080",
    "--data-dir=/var/lib/app",
    "--metrics-address=127.0.0.1:9100",
    "--user=app",
    "--shutdown-grace=30s",
    "serve",
];

/// `exec N`: N children exec'd and reaped, split over one worker per CPU.
fn exec_storm(n: u64) {
    let args: Vec<std::ffi::CString> = EXEC_ARGV
        .iter()
        .map(|a| std::ffi::CString::new(*a).expect("no NUL"))
        .collect();
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mut pids = Vec::new();
    for w in 0..workers {
        let share = n / workers + u64::from(w < n % workers);
        // SAFETY: the worker forks children that only exec or _exit.
        match unsafe { libc::fork() } {
            -1 => die("fork"),
            0 => {
                for _ in 0..share {
                    // SAFETY: the child calls execv (async-signal-safe) or _exit.
                    match unsafe { libc::fork() } {
                        -1 => die("fork"),
                        0 => unsafe {
                            libc::execv(argv[0], argv.as_ptr());
                            libc::_exit(127)
                        },
                        pid => wait_child(pid),
                    }
                }
                unsafe { libc::_exit(0) }
            }
            pid => pids.push(pid),
        }
    }
    for pid in pids {
        wait_child(pid);
    }
}

/// Set by the handler; a lock-free atomic store is async-signal-safe.
static GOT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    GOT.store(true, Ordering::SeqCst);
}

fn handle(sig: libc::c_int) {
    // SAFETY: installing a plain handler that only stores a flag.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
            die("sigaction");
        }
    }
}

/// Blocks `sig` and returns the mask to wait with (everything else as before).
fn block(sig: libc::c_int) -> libc::sigset_t {
    // SAFETY: plain sigset manipulation of this process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        old
    }
}

/// Waits for the handler to run (the signal stays blocked outside sigsuspend, so none is lost).
fn await_signal(wait_mask: &libc::sigset_t) {
    while !GOT.swap(false, Ordering::SeqCst) {
        // SAFETY: waits with a valid mask.
        unsafe { libc::sigsuspend(wait_mask) };
    }
}

/// `signal N`: ping-pong of SIGUSR1 (parent → child) and SIGUSR2 (child → parent), both handled.
fn signal_storm(n: u64) {
    let parent_wait = block(libc::SIGUSR2);
    let child_wait = block(libc::SIGUSR1);
    handle(libc::SIGUSR1);
    handle(libc::SIGUSR2);
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the child only waits for signals and answers them.
    let child = match unsafe { libc::fork() } {
        -1 => die("fork"),
        0 => {
            for _ in 0..n {
                await_signal(&child_wait);
                // SAFETY: signalling our own parent.
                unsafe { libc::kill(parent, libc::SIGUSR2) };
            }
            unsafe { libc::_exit(0) }
        }
        pid => pid,
    };
    for _ in 0..n {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child, libc::SIGUSR1) };
        await_signal(&parent_wait);
    }
    wait_child(child);
}

/// `ns N`: new UTS, IPC and network namespaces, then back to the original ones, N times.
fn ns_storm(n: u64) {
    let open = |t: &str| {
        std::fs::File::open(format!("/proc/self/ns/{t}"))
            .unwrap_or_else(|e| panic!("/proc/self/ns/{t}: {e}"))
    };
    let (net, uts, ipc) = (open("net"), open("uts"), open("ipc"));
    for _ in 0..n {
        // SAFETY: namespace syscalls on this process only.
        unsafe {
            if libc::unshare(libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWNET) != 0 {
                die("unshare (needs root)");
            }
            for (fd, t) in [
                (&net, libc::CLONE_NEWNET),
                (&uts, libc::CLONE_NEWUTS),
                (&ipc, libc::CLONE_NEWIPC),
            ] {
                if libc::setns(fd.as_raw_fd(), t) != 0 {
                    die("setns");
                }
            }
        }
    }
}

/// A TCP socket bound to `0.0.0.0:port`; `Err(errno)` when the bind is refused.
fn tcp_bound(port: u16) -> Result<libc::c_int, i32> {
    // SAFETY: plain socket calls on this process's own descriptors.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        if fd < 0 {
            die("socket");
        }
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_port = port.to_be();
        let r = libc::bind(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if r != 0 {
            let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            libc::close(fd);
            return Err(e);
        }
        Ok(fd)
    }
}

/// `bind N`: a port clash N times, in a network namespace of this process's
/// own (as a container's bind: the kernel streams both outcomes).
fn bind_storm(n: u64) {
    // SAFETY: a new network namespace for this process only.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        die("unshare(CLONE_NEWNET) (needs root)");
    }
    for i in 0..n {
        let port = 20000 + (i % 1000) as u16;
        let first = tcp_bound(port).unwrap_or_else(|_| die("bind"));
        match tcp_bound(port) {
            Err(libc::EADDRINUSE) => {}
            _ => die("second bind was not refused"),
        }
        // SAFETY: closing this process's own socket.
        unsafe { libc::close(first) };
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (work, n) = match args.as_slice() {
        [w, n] => match n.parse::<u64>() {
            Ok(n) if n > 0 => (w.as_str(), n),
            _ => usage(),
        },
        _ => usage(),
    };
    let start = Instant::now();
    match work {
        "fork" => fork_storm(n),
        "signal" => signal_storm(n),
        "ns" => ns_storm(n),
        "bind" => bind_storm(n),
        "exec" => exec_storm(n),
        _ => usage(),
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"workload\":\"{work}\",\"ops\":{n},\"secs\":{secs:.6},\"ops_per_sec\":{:.1}}}",
        n as f64 / secs
    );
}

fn usage() -> ! {
    eprintln!("usage: nstrace-load <fork|signal|ns|bind|exec> N   (N > 0)");
    std::process::exit(2)
}
