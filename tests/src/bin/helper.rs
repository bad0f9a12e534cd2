//! Small workloads the integration tests trace: things util-linux cannot do.
//!
//!   clone-newnet     clone(CLONE_NEWNET) a child that prints its net ns and exits
//!   thread           start one thread and join it
//!   burst N          fork N children as fast as possible, reaping each
//!   rename NAME      prctl(PR_SET_NAME, NAME), then print its pid and /proc comm
//!   setuid-rename    rename to before-uid, setresuid(65534) without exec, rename to after-uid
//!   ns-cycle N       N times: unshare(UTS), rename to iN, setns back, rename to oN;
//!                    prints "pid", then "iN INODE" / "oN INODE" as /proc/self/ns/uts says
//!   ns-report        rename to nsfid-root, setresuid(65534) without exec, rename to
//!                    nsfid-nobody; after each rename prints "TAG NSPID uid=U mnt=I uts=I …"
//!                    (NSpid from /proc/self/status, every /proc/self/ns link)

use std::io::Write;

fn clone_newnet() {
    const STACK: usize = 64 * 1024;
    let mut stack = vec![0u8; STACK];
    extern "C" fn child(_: *mut libc::c_void) -> libc::c_int {
        let link = std::fs::read_link("/proc/self/ns/net").unwrap_or_default();
        println!("child {} {}", std::process::id(), link.display());
        let _ = std::io::stdout().flush();
        0
    }
    // SAFETY: the child runs on its own stack and only reads /proc and prints.
    let pid = unsafe {
        libc::clone(
            child,
            stack.as_mut_ptr().add(STACK).cast(),
            libc::CLONE_NEWNET | libc::SIGCHLD,
            std::ptr::null_mut(),
        )
    };
    assert!(pid > 0, "clone failed: {}", std::io::Error::last_os_error());
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    println!("parent {} child {pid}", std::process::id());
}

fn thread() {
    let t = std::thread::spawn(|| {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::syscall(libc::SYS_gettid) }
    });
    let tid = t.join().expect("thread ran");
    println!("parent {} thread {tid}", std::process::id());
}

fn burst(n: u32) {
    for _ in 0..n {
        // SAFETY: the child only calls _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: async-signal-safe exit in the child.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
    println!("forked {n}");
}

fn rename(name: &str) {
    let c = std::ffi::CString::new(name).expect("no NUL in the name");
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of this process.
    let rc = unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) };
    assert_eq!(rc, 0, "prctl: {}", std::io::Error::last_os_error());
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    println!("{} {}", std::process::id(), comm.trim());
}

fn uts_inode() -> u64 {
    let l = std::fs::read_link("/proc/self/ns/uts").expect("own uts link");
    let s = l.to_string_lossy();
    s.trim_start_matches("uts:[")
        .trim_end_matches(']')
        .parse()
        .expect("inode")
}

fn ns_cycle(n: u32) {
    use std::os::fd::AsRawFd;
    let node_uts = std::fs::File::open("/proc/self/ns/uts").expect("own uts");
    println!("{}", std::process::id());
    for i in 0..n {
        // SAFETY: namespace and prctl calls on this process only.
        unsafe {
            assert_eq!(libc::unshare(libc::CLONE_NEWUTS), 0, "unshare (needs root)");
        }
        let name = std::ffi::CString::new(format!("i{i}")).unwrap();
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
        println!("i{i} {}", uts_inode());
        // SAFETY: as above.
        unsafe {
            assert_eq!(
                libc::setns(node_uts.as_raw_fd(), libc::CLONE_NEWUTS),
                0,
                "setns"
            );
        }
        let name = std::ffi::CString::new(format!("o{i}")).unwrap();
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
        println!("o{i} {}", uts_inode());
    }
}

fn setuid_rename() {
    let name = |n: &str| {
        let c = std::ffi::CString::new(n).unwrap();
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of this process.
        unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) };
    };
    println!("{}", std::process::id());
    name("before-uid");
    // SAFETY: dropping this process's own privileges.
    assert_eq!(
        unsafe { libc::setresuid(65534, 65534, 65534) },
        0,
        "setresuid"
    );
    name("after-uid");
}

/// What /proc says about this process: its NSpid chain, uid and namespaces.
fn proc_report(tag: &str) -> String {
    let status = std::fs::read_to_string("/proc/self/status").expect("own status");
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut line = format!(
        "{tag} {} uid={}",
        field("NSpid:").join(","),
        field("Uid:").first().copied().unwrap_or("?")
    );
    for name in [
        "mnt",
        "uts",
        "ipc",
        "pid",
        "pid_for_children",
        "net",
        "user",
        "cgroup",
        "time",
    ] {
        let l = std::fs::read_link(format!("/proc/self/ns/{name}")).expect("own ns link");
        let s = l.to_string_lossy();
        let ino = s
            .split_once(":[")
            .and_then(|(_, r)| r.strip_suffix(']'))
            .expect("inode");
        line.push_str(&format!(" {name}={ino}"));
    }
    line
}

fn ns_report() {
    let name = |n: &str| {
        let c = std::ffi::CString::new(n).unwrap();
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of this process.
        assert_eq!(unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) }, 0);
    };
    name("nsfid-root");
    println!("{}", proc_report("nsfid-root"));
    // SAFETY: dropping this process's own privileges (no exec follows).
    assert_eq!(
        unsafe { libc::setresuid(65534, 65534, 65534) },
        0,
        "setresuid"
    );
    name("nsfid-nobody");
    println!("{}", proc_report("nsfid-nobody"));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("clone-newnet") => clone_newnet(),
        Some("thread") => thread(),
        Some("burst") => burst(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000)),
        Some("rename") => rename(args.get(1).map_or("renamed", String::as_str)),
        Some("setuid-rename") => setuid_rename(),
        Some("ns-report") => ns_report(),
        Some("ns-cycle") => ns_cycle(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100)),
        _ => {
            eprintln!(
                "usage: nstrace-test-helper clone-newnet|thread|burst N|rename NAME|setuid-rename|ns-cycle N|ns-report"
            );
            std::process::exit(2);
        }
    }
}
