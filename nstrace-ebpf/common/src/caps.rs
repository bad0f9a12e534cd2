//! Linux capabilities: the numbers nstrace checks and the names it prints
//! (linux/capability.h; `cap_effective` fields carry bit n = capability n).

/// CAP_DAC_READ_SEARCH: list /proc/PID/fd of processes of other users.
pub const DAC_READ_SEARCH: u32 = 2;
/// CAP_SYS_PTRACE: read every process's namespaces and /proc entries.
pub const SYS_PTRACE: u32 = 19;
/// CAP_SYS_ADMIN: load eBPF programs, setns, mount.
pub const SYS_ADMIN: u32 = 21;

/// Capability names without the `CAP_` prefix, by bit (CAP_LAST_CAP is 40).
pub const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];
