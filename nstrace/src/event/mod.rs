//! Decoding of raw records (from the ring buffer or a record file) into typed
//! events. Each record is copied into aligned storage by value; nothing is
//! allocated per event but an exec's (boxed: it carries its cgroup's names and
//! the arguments).

pub mod names;

use std::fmt;

use nstrace_common::{
    BindEvent, CreateEvent, ExecArgs, ExecEvent, ExitEvent, Header, Kind, NsChangeEvent, ReapEvent,
    RenameEvent, SigStateEvent, SignalDeliverEvent, SignalGenerateEvent, WaitEvent, WaitedEvent,
    EXEC_ARGV_TRUNCATED, EXEC_TTY,
};

/// One decoded kernel event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A task was created.
    Create(CreateEvent),
    /// A program was executed. Boxed: with its cgroup's names and its
    /// arguments it is several times the size of any other record, and every
    /// event would carry that size.
    Exec(Box<ExecEvent>),
    /// A task exited.
    Exit(ExitEvent),
    /// A dead task was released.
    Reap(ReapEvent),
    /// A task entered wait.
    Wait(WaitEvent),
    /// setns returned.
    Setns(NsChangeEvent),
    /// unshare returned.
    Unshare(NsChangeEvent),
    /// A signal was generated.
    SignalGenerate(SignalGenerateEvent),
    /// A signal was delivered.
    SignalDeliver(SignalDeliverEvent),
    /// A task renamed itself.
    Rename(RenameEvent),
    /// bind(2) returned (EADDRINUSE, or success in a container).
    Bind(BindEvent),
    /// A wait returned a child's exit: the child is released.
    Waited(WaitedEvent),
    /// A namespace init's or subreaper's signal dispositions, from the kernel.
    SigState(SigStateEvent),
}

/// Why a record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than an event header.
    Short {
        /// The record's length in bytes.
        len: usize,
    },
    /// The kind value is not one this build knows.
    UnknownKind {
        /// The kind value in the header.
        kind: u16,
    },
    /// The length does not match the kind's struct.
    BadSize {
        /// The kind in the header.
        kind: Kind,
        /// The record's length in bytes.
        len: usize,
        /// The size of the kind's struct.
        expected: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Short { len } => {
                write!(f, "record of {len} bytes is shorter than a header")
            }
            DecodeError::UnknownKind { kind } => write!(f, "unknown event kind {kind}"),
            DecodeError::BadSize {
                kind,
                len,
                expected,
            } => write!(
                f,
                "{} record is {len} bytes, expected {expected}",
                kind.name()
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A record struct of the event ABI: plain old data that may be read from,
/// and viewed as, raw bytes.
///
/// # Safety
/// Only for `#[repr(C)]` types with no implicit padding (every byte is
/// initialised) for which every bit pattern is a valid value: integers and
/// integer arrays only, no `bool`, enum, reference or pointer fields.
pub unsafe trait Abi: Copy {}

macro_rules! abi {
    ($($t:ty),* $(,)?) => {
        // SAFETY: the nstrace-common record structs are repr(C), built from
        // integers and byte arrays, with explicit `_pad` fields (see its crate doc).
        $(unsafe impl Abi for $t {})*
    };
}

abi!(
    Header,
    CreateEvent,
    ExecEvent,
    ExitEvent,
    ReapEvent,
    WaitEvent,
    NsChangeEvent,
    SignalGenerateEvent,
    SignalDeliverEvent,
    RenameEvent,
    BindEvent,
    WaitedEvent,
    SigStateEvent,
);

/// Copies `buf`, which must be exactly a `T` long, into a `T`: a properly
/// aligned value, whatever the alignment of `buf` (ring-buffer records are
/// 8-byte aligned, record-file payloads are not). No allocation.
fn read_exact<T: Abi>(buf: &[u8], kind: Kind) -> Result<T, DecodeError> {
    let expected = std::mem::size_of::<T>();
    if buf.len() != expected {
        return Err(DecodeError::BadSize {
            kind,
            len: buf.len(),
            expected,
        });
    }
    // SAFETY: `buf` holds exactly size_of::<T>() readable bytes; T: Abi, so any
    // bytes make a valid T; read_unaligned makes no alignment assumption about
    // the source and returns the copy by value, in T's own alignment.
    Ok(unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<T>()) })
}

/// Decodes one raw record.
pub fn decode(buf: &[u8]) -> Result<Event, DecodeError> {
    if buf.len() < std::mem::size_of::<Header>() {
        return Err(DecodeError::Short { len: buf.len() });
    }
    let raw_kind = u16::from_ne_bytes([buf[0], buf[1]]);
    let kind = Kind::from_u16(raw_kind).ok_or(DecodeError::UnknownKind { kind: raw_kind })?;
    Ok(match kind {
        Kind::Create => Event::Create(read_exact(buf, kind)?),
        Kind::Exec => Event::Exec(Box::new(read_exact(buf, kind)?)),
        Kind::Exit => Event::Exit(read_exact(buf, kind)?),
        Kind::Reap => Event::Reap(read_exact(buf, kind)?),
        Kind::Wait => Event::Wait(read_exact(buf, kind)?),
        Kind::Setns => Event::Setns(read_exact(buf, kind)?),
        Kind::Unshare => Event::Unshare(read_exact(buf, kind)?),
        Kind::SignalGenerate => Event::SignalGenerate(read_exact(buf, kind)?),
        Kind::SignalDeliver => Event::SignalDeliver(read_exact(buf, kind)?),
        Kind::Rename => Event::Rename(read_exact(buf, kind)?),
        Kind::Bind => Event::Bind(read_exact(buf, kind)?),
        Kind::Waited => Event::Waited(read_exact(buf, kind)?),
        Kind::SigState => Event::SigState(read_exact(buf, kind)?),
    })
}

/// The raw bytes of an ABI struct (for writing records and building test input).
pub fn as_bytes<T: Abi>(v: &T) -> &[u8] {
    // SAFETY: T: Abi has no implicit padding, so every one of its bytes is initialised.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

impl Event {
    /// The common header.
    pub fn header(&self) -> &Header {
        match self {
            Event::Create(e) => &e.hdr,
            Event::Exec(e) => &e.hdr,
            Event::Exit(e) => &e.hdr,
            Event::Reap(e) => &e.hdr,
            Event::Wait(e) => &e.hdr,
            Event::Setns(e) | Event::Unshare(e) => &e.hdr,
            Event::SignalGenerate(e) => &e.hdr,
            Event::SignalDeliver(e) => &e.hdr,
            Event::Rename(e) => &e.hdr,
            Event::Bind(e) => &e.hdr,
            Event::Waited(e) => &e.hdr,
            Event::SigState(e) => &e.hdr,
        }
    }

    /// The common header, to change (building test input and synthetic traces).
    pub fn header_mut(&mut self) -> &mut Header {
        match self {
            Event::Create(e) => &mut e.hdr,
            Event::Exec(e) => &mut e.hdr,
            Event::Exit(e) => &mut e.hdr,
            Event::Reap(e) => &mut e.hdr,
            Event::Wait(e) => &mut e.hdr,
            Event::Setns(e) | Event::Unshare(e) => &mut e.hdr,
            Event::SignalGenerate(e) => &mut e.hdr,
            Event::SignalDeliver(e) => &mut e.hdr,
            Event::Rename(e) => &mut e.hdr,
            Event::Bind(e) => &mut e.hdr,
            Event::Waited(e) => &mut e.hdr,
            Event::SigState(e) => &mut e.hdr,
        }
    }

    /// The event kind.
    pub fn kind(&self) -> Kind {
        match self {
            Event::Create(_) => Kind::Create,
            Event::Exec(_) => Kind::Exec,
            Event::Exit(_) => Kind::Exit,
            Event::Reap(_) => Kind::Reap,
            Event::Wait(_) => Kind::Wait,
            Event::Setns(_) => Kind::Setns,
            Event::Unshare(_) => Kind::Unshare,
            Event::SignalGenerate(_) => Kind::SignalGenerate,
            Event::SignalDeliver(_) => Kind::SignalDeliver,
            Event::Rename(_) => Kind::Rename,
            Event::Bind(_) => Kind::Bind,
            Event::Waited(_) => Kind::Waited,
            Event::SigState(_) => Kind::SigState,
        }
    }

    /// The raw bytes of this event, as the kernel wrote them.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Event::Create(e) => as_bytes(e),
            Event::Exec(e) => as_bytes(&**e),
            Event::Exit(e) => as_bytes(e),
            Event::Reap(e) => as_bytes(e),
            Event::Wait(e) => as_bytes(e),
            Event::Setns(e) | Event::Unshare(e) => as_bytes(e),
            Event::SignalGenerate(e) => as_bytes(e),
            Event::SignalDeliver(e) => as_bytes(e),
            Event::Rename(e) => as_bytes(e),
            Event::Bind(e) => as_bytes(e),
            Event::Waited(e) => as_bytes(e),
            Event::SigState(e) => as_bytes(e),
        }
    }
}

/// The cgroup directories an exec event carries, joined into a path from
/// the highest to the leaf: `/a/b` when the kernel reached the hierarchy's
/// root, `…/a/b/c` when it stopped below it; empty when none was read.
pub fn exec_cgroup(e: &ExecEvent) -> String {
    let segs: Vec<std::borrow::Cow<'_, str>> = e
        .cgroup
        .iter()
        .map(|s| cstr(s))
        .take_while(|s| !s.is_empty())
        .collect();
    if segs.is_empty() {
        return String::new();
    }
    let mut path = String::from(if segs.len() == e.cgroup.len() {
        "…"
    } else {
        ""
    });
    for s in segs.iter().rev() {
        path.push('/');
        path.push_str(s);
    }
    path
}

/// The argument strings of an exec record, as the program got them (lossy
/// UTF-8). When the record cut them (`EXEC_ARGV_TRUNCATED`), the last one is
/// the start of a longer string.
pub fn exec_argv(a: &ExecArgs) -> Vec<String> {
    let len = (a.argv_len as usize).min(a.argv.len());
    let mut bytes = &a.argv[..len];
    // Each string ends with a NUL; a cut record's last one does not.
    if let Some(stripped) = bytes.strip_suffix(&[0]) {
        bytes = stripped;
    }
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Whether an exec record's arguments were cut to fit.
pub fn exec_argv_cut(a: &ExecArgs) -> bool {
    a.flags & EXEC_ARGV_TRUNCATED != 0
}

/// Whether the exec'd task has a controlling terminal.
pub fn exec_tty(a: &ExecArgs) -> bool {
    a.flags & EXEC_TTY != 0
}

/// A command line as a shell would take it back: words made only of
/// unremarkable characters bare, the others in single quotes; `…` after a
/// cut one. Control characters are left for the renderer to escape.
pub fn argv_text(argv: &[String], cut: bool) -> String {
    let plain = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_alphanumeric() || "_@%+=:,./-".contains(c))
    };
    let mut out = String::new();
    for (i, w) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if plain(w) {
            out.push_str(w);
        } else {
            out.push('\'');
            out.push_str(&w.replace('\'', "'\\''"));
            out.push('\'');
        }
    }
    if cut {
        out.push('…');
    }
    out
}

/// A NUL-padded kernel string as text (lossy, without allocation when valid UTF-8).
pub fn cstr(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use nstrace_common::NsSet;

    fn header(kind: Kind) -> Header {
        Header {
            kind: kind as u16,
            tgid: 42,
            tid: 42,
            ns: NsSet::from_array([1, 2, 3, 4, 5, 6, 7, 8, 9]),
            ..Header::default()
        }
    }

    #[test]
    fn round_trips_every_kind() {
        let events = [
            Event::Create(CreateEvent {
                hdr: header(Kind::Create),
                clone_flags: 0x4000_0000,
                ..Default::default()
            }),
            Event::Exec(Box::new(ExecEvent {
                hdr: header(Kind::Exec),
                ..Default::default()
            })),
            Event::Exit(ExitEvent {
                hdr: header(Kind::Exit),
                exit_code: 3 << 8,
                group_dead: 1,
            }),
            Event::Reap(ReapEvent {
                hdr: header(Kind::Reap),
                ..Default::default()
            }),
            Event::Wait(WaitEvent {
                hdr: header(Kind::Wait),
                ..Default::default()
            }),
            Event::Setns(NsChangeEvent {
                hdr: header(Kind::Setns),
                ..Default::default()
            }),
            Event::Unshare(NsChangeEvent {
                hdr: header(Kind::Unshare),
                flags: 0x4000_0000,
                ..Default::default()
            }),
            Event::SignalGenerate(SignalGenerateEvent {
                hdr: header(Kind::SignalGenerate),
                sig: 15,
                result: 1,
                ..Default::default()
            }),
            Event::SignalDeliver(SignalDeliverEvent {
                hdr: header(Kind::SignalDeliver),
                sig: 15,
                ..Default::default()
            }),
            Event::Rename(RenameEvent {
                hdr: header(Kind::Rename),
                new_comm: *b"sleep\0\0\0\0\0\0\0\0\0\0\0",
            }),
            Event::Bind(BindEvent {
                hdr: header(Kind::Bind),
                ret: -98,
                family: 10,
                port: 8080,
                ..Default::default()
            }),
            Event::Waited(WaitedEvent {
                hdr: header(Kind::Waited),
                syscall: 1,
                pid: 7,
                status: 9,
                ..Default::default()
            }),
            Event::SigState(SigStateEvent {
                hdr: header(Kind::SigState),
                caught: 1 << 14,
                sa_flags: [0x8400_0000; 32],
                ..Default::default()
            }),
        ];
        assert_eq!(events.len(), Kind::ALL.len(), "one of each kind");
        for e in events {
            let decoded = decode(e.bytes()).expect("decodes");
            assert_eq!(decoded, e);
            assert_eq!(decoded.kind() as u16, decoded.header().kind);
        }
    }

    #[test]
    fn rejects_short_unknown_and_missized_records() {
        assert_eq!(decode(&[0u8; 10]), Err(DecodeError::Short { len: 10 }));
        let mut h = header(Kind::Exit);
        h.kind = 999;
        let mut buf = as_bytes(&ExitEvent {
            hdr: h,
            ..Default::default()
        })
        .to_vec();
        assert_eq!(decode(&buf), Err(DecodeError::UnknownKind { kind: 999 }));
        buf[0..2].copy_from_slice(&(Kind::Exit as u16).to_ne_bytes());
        buf.push(0);
        assert!(matches!(
            decode(&buf),
            Err(DecodeError::BadSize {
                kind: Kind::Exit,
                ..
            })
        ));
    }

    #[test]
    fn decodes_from_unaligned_buffer() {
        let e = ExitEvent {
            hdr: header(Kind::Exit),
            exit_code: 9,
            group_dead: 1,
        };
        let mut buf = vec![0u8; 1];
        buf.extend_from_slice(as_bytes(&e));
        assert_eq!(decode(&buf[1..]), Ok(Event::Exit(e)));
    }

    fn args(bytes: &[u8], flags: u16) -> ExecArgs {
        let mut a = ExecArgs {
            argv_size: bytes.len() as u32,
            argv_len: bytes.len() as u16,
            flags,
            ..ExecArgs::default()
        };
        a.argv[..bytes.len()].copy_from_slice(bytes);
        a
    }

    #[test]
    fn exec_arguments_are_split_at_nuls_and_quoted_like_a_shell() {
        let a = args(b"/bin/sh\0-c\0cat /proc/1/environ; id\0\0x\0", 0);
        let argv = exec_argv(&a);
        assert_eq!(argv, ["/bin/sh", "-c", "cat /proc/1/environ; id", "", "x"]);
        assert_eq!(
            argv_text(&argv, false),
            "/bin/sh -c 'cat /proc/1/environ; id' '' x"
        );
        assert_eq!(
            argv_text(&["echo".into(), "it's".into()], false),
            "echo 'it'\\''s'"
        );
        // Cut: the last string has no NUL and is marked.
        let cut = args(b"sleep\x00100", EXEC_ARGV_TRUNCATED);
        assert!(exec_argv_cut(&cut));
        assert_eq!(argv_text(&exec_argv(&cut), true), "sleep 100…");
        assert!(exec_argv(&args(b"", 0)).is_empty());
        assert!(exec_tty(&args(b"sh\0", EXEC_TTY)));
        // Bytes past argv_len are not arguments (the record is not zeroed there).
        let mut stale = args(b"id\0", 0);
        stale.argv[3..8].copy_from_slice(b"junk\0");
        assert_eq!(exec_argv(&stale), ["id"]);
    }

    #[test]
    fn cstr_stops_at_nul() {
        assert_eq!(cstr(b"sh\0\0garbage"), "sh");
        assert_eq!(cstr(b"abcd"), "abcd");
    }
}
