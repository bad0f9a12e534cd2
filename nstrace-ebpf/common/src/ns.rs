//! Namespaces: their types, a task's set of namespace inodes, the CLONE_NEW*
//! flags, and the setns/unshare record.

use crate::event::Header;

/// A namespace type, in the order of [`NsSet`]'s fields (its slot).
/// `PidForChildren` is the PID namespace a task's future children get: it
/// differs from `Pid` only between `unshare(CLONE_NEWPID)` and the next fork.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NsType {
    /// Mount namespace.
    Mnt = 0,
    /// UTS (hostname) namespace.
    Uts = 1,
    /// IPC namespace.
    Ipc = 2,
    /// The PID namespace a task lives in.
    Pid = 3,
    /// The PID namespace its children will live in.
    PidForChildren = 4,
    /// Network namespace.
    Net = 5,
    /// User namespace.
    User = 6,
    /// Cgroup namespace.
    Cgroup = 7,
    /// Time namespace.
    Time = 8,
}

impl NsType {
    /// Every type, in slot order.
    pub const ALL: [NsType; 9] = [
        NsType::Mnt,
        NsType::Uts,
        NsType::Ipc,
        NsType::Pid,
        NsType::PidForChildren,
        NsType::Net,
        NsType::User,
        NsType::Cgroup,
        NsType::Time,
    ];

    /// The eight kinds of namespace a person means (no `pid_for_children`).
    pub const KINDS: [NsType; 8] = [
        NsType::Mnt,
        NsType::Uts,
        NsType::Ipc,
        NsType::Pid,
        NsType::Net,
        NsType::User,
        NsType::Cgroup,
        NsType::Time,
    ];

    /// Its index in [`NsSet::as_array`].
    pub const fn slot(self) -> usize {
        self as usize
    }

    /// The type at slot `i`.
    pub const fn from_slot(i: usize) -> Option<NsType> {
        if i < NsType::ALL.len() {
            Some(NsType::ALL[i])
        } else {
            None
        }
    }

    /// The name `/proc/PID/ns/` uses ("mnt", "pid_for_children", …).
    pub const fn name(self) -> &'static str {
        match self {
            NsType::Mnt => "mnt",
            NsType::Uts => "uts",
            NsType::Ipc => "ipc",
            NsType::Pid => "pid",
            NsType::PidForChildren => "pid_for_children",
            NsType::Net => "net",
            NsType::User => "user",
            NsType::Cgroup => "cgroup",
            NsType::Time => "time",
        }
    }

    /// The type with this `/proc/PID/ns/` name.
    pub fn from_name(name: &str) -> Option<NsType> {
        NsType::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// The kind of namespace this is: `pid_for_children` is a PID namespace.
    pub const fn kind(self) -> NsType {
        match self {
            NsType::PidForChildren => NsType::Pid,
            t => t,
        }
    }
}

/// The CLONE_NEW* flags (clone, unshare, setns nstype), each with its name and
/// the [`NsSet`] slot it changes. CLONE_NEWPID changes `pid_for_children`;
/// CLONE_NEWTIME changes the time namespace for children, which is not in
/// the set (the `time` slot is the task's own).
pub const CLONE_NEW: [(u64, &str, NsType); 8] = [
    (0x0002_0000, "CLONE_NEWNS", NsType::Mnt),
    (0x0200_0000, "CLONE_NEWCGROUP", NsType::Cgroup),
    (0x0400_0000, "CLONE_NEWUTS", NsType::Uts),
    (0x0800_0000, "CLONE_NEWIPC", NsType::Ipc),
    (0x1000_0000, "CLONE_NEWUSER", NsType::User),
    (0x2000_0000, "CLONE_NEWPID", NsType::PidForChildren),
    (0x4000_0000, "CLONE_NEWNET", NsType::Net),
    (0x0000_0080, "CLONE_NEWTIME", NsType::Time),
];

/// Every CLONE_NEW* bit.
pub const CLONE_NEW_MASK: u64 = {
    let mut m = 0;
    let mut i = 0;
    while i < CLONE_NEW.len() {
        m |= CLONE_NEW[i].0;
        i += 1;
    }
    m
};

/// CLONE_NEWUSER.
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
/// CLONE_NEWTIME.
pub const CLONE_NEWTIME: u64 = 0x0000_0080;

/// The namespace inode numbers of one task (as in `/proc/PID/ns/*`); 0 = unknown.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NsSet {
    /// Mount namespace.
    pub mnt: u32,
    /// UTS (hostname) namespace.
    pub uts: u32,
    /// IPC namespace.
    pub ipc: u32,
    /// The PID namespace the task itself lives in.
    pub pid: u32,
    /// The PID namespace its future children will live in.
    pub pid_for_children: u32,
    /// Network namespace.
    pub net: u32,
    /// User namespace (of the task's credentials).
    pub user: u32,
    /// Cgroup namespace.
    pub cgroup: u32,
    /// Time namespace.
    pub time: u32,
    /// Keeps the struct 8-byte sized.
    pub _pad: u32,
}

impl NsSet {
    /// The inodes as an array in slot ([`NsType`]) order.
    pub fn as_array(&self) -> [u32; 9] {
        [
            self.mnt,
            self.uts,
            self.ipc,
            self.pid,
            self.pid_for_children,
            self.net,
            self.user,
            self.cgroup,
            self.time,
        ]
    }

    /// Builds a set from an array in slot ([`NsType`]) order.
    pub fn from_array(a: [u32; 9]) -> NsSet {
        NsSet {
            mnt: a[0],
            uts: a[1],
            ipc: a[2],
            pid: a[3],
            pid_for_children: a[4],
            net: a[5],
            user: a[6],
            cgroup: a[7],
            time: a[8],
            _pad: 0,
        }
    }

    /// The inode of namespace type `t`.
    pub fn get(&self, t: NsType) -> u32 {
        self.as_array()[t.slot()]
    }

    /// Sets the inode of namespace type `t`.
    pub fn set(&mut self, t: NsType, inode: u32) {
        let mut a = self.as_array();
        a[t.slot()] = inode;
        *self = NsSet::from_array(a);
    }

    /// Each type with its inode, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (NsType, u32)> {
        NsType::ALL.into_iter().zip(self.as_array())
    }
}

/// setns(2) or unshare(2) returned. The header is the caller after the call.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NsChangeEvent {
    /// The caller, with its namespaces after the call.
    pub hdr: Header,
    /// setns: the nstype argument; unshare: the flags argument.
    pub flags: u64,
    /// setns: the fd argument; unshare: 0.
    pub fd: i32,
    /// Syscall return value (0 or -errno).
    pub ret: i32,
    /// The caller's namespaces before the call.
    pub before: NsSet,
    /// The caller's effective capabilities at entry (bit n = capability n).
    pub cap_effective: u64,
    /// setns: inode of the file the fd referred to at entry (a namespace's
    /// inode for an nsfs fd, so a refused call still names its target); 0 unknown.
    pub target_inode: u32,
    /// Keeps 8-byte alignment.
    pub _pad: u32,
}

// The layout both sides rely on, checked where they compile it.
no_padding!(NsSet {
    mnt,
    uts,
    ipc,
    pid,
    pid_for_children,
    net,
    user,
    cgroup,
    time,
    _pad
});
record_layout!(NsChangeEvent {
    hdr,
    flags,
    fd,
    ret,
    before,
    cap_effective,
    target_inode,
    _pad
});
