//! Names for the numbers events carry: signals, clone flags, errnos.

use nstrace_common::{caps, CLONE_NEW};

/// Signal names, indexed by number (x86_64 / generic Linux numbering).
const SIGNALS: [&str; 32] = [
    "0", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// The short name of a signal ("TERM"), or "RTMIN+n" / the number.
pub fn signal_name(sig: u32) -> std::borrow::Cow<'static, str> {
    match sig {
        1..=31 => SIGNALS[sig as usize].into(),
        34..=64 => format!("RTMIN+{}", sig - 34).into(),
        _ => sig.to_string().into(),
    }
}

/// Parses "TERM", "SIGTERM", "term" or "15" into a signal number.
pub fn parse_signal(s: &str) -> Option<u32> {
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    SIGNALS
        .iter()
        .position(|n| *n == name)
        .filter(|&i| i > 0)
        .map(|i| i as u32)
}

/// CLONE_* flag bits with their names: the namespace flags (from the ABI), then the rest.
pub const CLONE_FLAGS: [(u64, &str); 22] = {
    let rest: [(u64, &str); 14] = [
        (0x0000_0100, "CLONE_VM"),
        (0x0000_0200, "CLONE_FS"),
        (0x0000_0400, "CLONE_FILES"),
        (0x0000_0800, "CLONE_SIGHAND"),
        (0x0000_1000, "CLONE_PIDFD"),
        (0x0000_2000, "CLONE_PTRACE"),
        (0x0000_4000, "CLONE_VFORK"),
        (0x0000_8000, "CLONE_PARENT"),
        (0x0001_0000, "CLONE_THREAD"),
        (0x0004_0000, "CLONE_SYSVSEM"),
        (0x0008_0000, "CLONE_SETTLS"),
        (0x0010_0000, "CLONE_PARENT_SETTID"),
        (0x0020_0000, "CLONE_CHILD_CLEARTID"),
        (0x0100_0000, "CLONE_CHILD_SETTID"),
    ];
    let mut out = [(0u64, ""); 22];
    let mut i = 0;
    while i < CLONE_NEW.len() {
        out[i] = (CLONE_NEW[i].0, CLONE_NEW[i].1);
        i += 1;
    }
    let mut j = 0;
    while j < rest.len() {
        out[CLONE_NEW.len() + j] = rest[j];
        j += 1;
    }
    out
};

/// Every CLONE_NEW* bit.
pub use nstrace_common::CLONE_NEW_MASK;

pub use nstrace_common::{CLONE_THREAD, CLONE_VFORK};

/// The names of the set flags in `flags & only`, in table order, then any
/// unnamed rest as hex (the low byte of clone flags, the exit signal, is no flag).
pub fn clone_flag_list(flags: u64, only: u64) -> Vec<std::borrow::Cow<'static, str>> {
    let mut out: Vec<std::borrow::Cow<'static, str>> = Vec::new();
    let mut rest = flags & only;
    for (bit, name) in CLONE_FLAGS {
        if rest & bit != 0 {
            out.push(name.into());
            rest &= !bit;
        }
    }
    rest &= !0xff | 0x80;
    if rest != 0 {
        out.push(format!("{rest:#x}").into());
    }
    out
}

/// The names of the set flags in `flags & only` joined by `|` ("0" if none).
pub fn clone_flag_names(flags: u64, only: u64) -> String {
    let list = clone_flag_list(flags, only);
    if list.is_empty() {
        "0".to_owned()
    } else {
        list.join("|")
    }
}

/// The errno name of a negative syscall return ("EPERM"), or the number.
pub fn errno_name(ret: i32) -> std::borrow::Cow<'static, str> {
    let name = match -ret {
        1 => "EPERM",
        2 => "ENOENT",
        9 => "EBADF",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        22 => "EINVAL",
        24 => "EMFILE",
        28 => "ENOSPC",
        38 => "ENOSYS",
        87 => "EUSERS",
        98 => "EADDRINUSE",
        _ => return ret.to_string().into(),
    };
    name.into()
}

/// The address a bind asked for.
pub fn bind_ip(e: &nstrace_common::BindEvent) -> std::net::IpAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    if e.family == nstrace_common::AF_INET {
        IpAddr::V4(Ipv4Addr::new(e.addr[0], e.addr[1], e.addr[2], e.addr[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(e.addr))
    }
}

/// `ADDR:PORT` as people write it: `0.0.0.0:8080`, `[::]:8080`.
pub fn endpoint(ip: std::net::IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

/// The transport of a socket by type and protocol: "tcp", "udp", "sctp",
/// "mptcp", "udplite", "raw", or the numbers when unknown.
pub fn transport_name(sock_type: u16, protocol: u16) -> std::borrow::Cow<'static, str> {
    use nstrace_common as c;
    match (sock_type, protocol) {
        (_, c::IPPROTO_TCP) => "tcp".into(),
        (_, c::IPPROTO_UDP) => "udp".into(),
        (_, c::IPPROTO_SCTP) => "sctp".into(),
        (_, c::IPPROTO_MPTCP) => "mptcp".into(),
        (_, c::IPPROTO_UDPLITE) => "udplite".into(),
        (c::SOCK_RAW, _) => "raw".into(),
        (c::SOCK_STREAM, 0) => "stream".into(),
        (c::SOCK_DGRAM, 0) => "dgram".into(),
        (t, p) => format!("type {t} protocol {p}").into(),
    }
}

/// A socket type's name ("stream", "dgram", …).
pub fn sock_type_name(sock_type: u16) -> std::borrow::Cow<'static, str> {
    use nstrace_common as c;
    match sock_type {
        c::SOCK_STREAM => "stream".into(),
        c::SOCK_DGRAM => "dgram".into(),
        c::SOCK_RAW => "raw".into(),
        c::SOCK_SEQPACKET => "seqpacket".into(),
        0 => "unknown".into(),
        t => t.to_string().into(),
    }
}

/// Turns a wait status (task->exit_code) into words: "exit 3" or "killed by KILL".
pub fn exit_status(code: u32) -> String {
    let sig = code & 0x7f;
    if sig == 0 {
        format!("exit {}", (code >> 8) & 0xff)
    } else {
        let core = if code & 0x80 != 0 { " (core)" } else { "" };
        format!("killed by {}{core}", signal_name(sig))
    }
}

/// Capabilities in words: "none", "all", "all except SYS_RESOURCE" (root
/// with a few dropped), or the set ones ("NET_BIND_SERVICE,SYS_ADMIN").
pub fn cap_summary(caps: u64) -> String {
    let name = |bit: usize| caps::NAMES[bit];
    let set: Vec<&str> = (0..caps::NAMES.len())
        .filter(|b| caps & (1 << b) != 0)
        .map(name)
        .collect();
    let missing: Vec<&str> = (0..caps::NAMES.len())
        .filter(|b| caps & (1 << b) == 0)
        .map(name)
        .collect();
    let unknown = caps >> caps::NAMES.len();
    let mut s = match (set.len(), missing.len()) {
        (0, _) => "none".to_owned(),
        (_, 0) => "all".to_owned(),
        (_, m) if m <= 4 => format!("all except {}", missing.join(",")),
        _ => set.join(","),
    };
    if unknown != 0 {
        s.push_str(&format!(" +{:#x}", unknown << caps::NAMES.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signal_spellings() {
        assert_eq!(parse_signal("TERM"), Some(15));
        assert_eq!(parse_signal("sigkill"), Some(9));
        assert_eq!(parse_signal("10"), Some(10));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("65"), None);
        assert_eq!(parse_signal("BOGUS"), None);
        assert_eq!(signal_name(15), "TERM");
        assert_eq!(signal_name(35), "RTMIN+1");
    }

    #[test]
    fn names_clone_flags() {
        assert_eq!(
            clone_flag_names(0x4000_0000 | 0x0400_0000 | 17, CLONE_NEW_MASK),
            "CLONE_NEWUTS|CLONE_NEWNET"
        );
        assert_eq!(clone_flag_names(17, u64::MAX), "0");
        assert_eq!(
            clone_flag_names(CLONE_THREAD | 0x100, u64::MAX),
            "CLONE_VM|CLONE_THREAD"
        );
    }

    #[test]
    fn describes_exit_status() {
        assert_eq!(exit_status(3 << 8), "exit 3");
        assert_eq!(exit_status(9), "killed by KILL");
        assert_eq!(exit_status(0x80 | 11), "killed by SEGV (core)");
    }

    #[test]
    fn capability_summaries() {
        assert_eq!(cap_summary(0), "none");
        assert_eq!(cap_summary(0x1ff_ffff_ffff), "all");
        assert_eq!(
            cap_summary(0x1ff_ffff_ffff & !(1 << 24)),
            "all except SYS_RESOURCE"
        );
        assert_eq!(cap_summary(1 << 21 | 1 << 12), "NET_ADMIN,SYS_ADMIN");
        // Docker's default set: 14 capabilities, no SYS_ADMIN.
        let docker = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31]
            .iter()
            .fold(0u64, |m, b| m | 1 << b);
        let s = cap_summary(docker);
        assert!(
            s.starts_with("CHOWN,DAC_OVERRIDE,") && !s.contains("SYS_ADMIN"),
            "{s}"
        );
        assert_eq!(cap_summary(1 << 45 | 1), "CHOWN +0x200000000000");
    }
}
