//! JSON lines: one object per event with stable field names (see README and
//! the wire types in [`super::wire`]).

use std::io::{self, Write};

use nstrace_common::{
    Header, NsSet, SigResult, FLAG_NO_NSPROXY, FLAG_READ_FAILED, FLAG_THREAD, FLAG_TRUNCATED,
    HANDLER_DFL, HANDLER_IGN, WAIT_STATUS_UNKNOWN, WAIT_WAIT4,
};

use super::wire::{self, EventBody, EventLine, NsObj};
use super::{time, EventSink};
use crate::event::names::{
    bind_ip, clone_flag_list, errno_name, signal_name, sock_type_name, transport_name,
    CLONE_NEW_MASK,
};
use crate::event::{cstr, exec_argv, exec_argv_cut, exec_tty, Event};

/// JSON-lines renderer.
pub struct Json<W: Write> {
    out: W,
    wall_offset_ns: i64,
    node: NsSet,
    line: Vec<u8>,
}

impl<W: Write> Json<W> {
    /// A renderer writing to `out` for the node whose namespaces are `node`.
    pub fn new(out: W, wall_offset_ns: i64, node: NsSet) -> Self {
        Json {
            out,
            wall_offset_ns,
            node,
            line: Vec::with_capacity(1024),
        }
    }
}

/// A handler value in one word: "default", "ignore" or "installed".
pub fn handler_kind(handler: u64) -> &'static str {
    match handler {
        HANDLER_DFL => "default",
        HANDLER_IGN => "ignore",
        _ => "installed",
    }
}

/// Names of the namespace types that differ between two sets.
fn changed(before: &NsSet, after: &NsSet) -> Vec<&'static str> {
    before
        .iter()
        .zip(after.as_array())
        .filter(|((_, b), a)| a != b)
        .map(|((t, _), _)| t.name())
        .collect()
}

/// Names of the header flags set.
fn flag_names(h: &Header) -> Vec<&'static str> {
    [
        (FLAG_READ_FAILED, "read_failed"),
        (FLAG_NO_NSPROXY, "no_namespaces"),
        (FLAG_TRUNCATED, "truncated"),
        (FLAG_THREAD, "thread"),
    ]
    .into_iter()
    .filter(|(bit, _)| h.flags & bit != 0)
    .map(|(_, n)| n)
    .collect()
}

/// "wait4" or "waitid".
pub fn wait_call(syscall: u32) -> &'static str {
    if syscall == WAIT_WAIT4 {
        "wait4"
    } else {
        "waitid"
    }
}

/// "fork", "vfork" or "thread" for clone flags.
pub fn create_kind(clone_flags: u64) -> &'static str {
    use crate::event::names::{CLONE_THREAD, CLONE_VFORK};
    if clone_flags & CLONE_THREAD != 0 {
        "thread"
    } else if clone_flags & CLONE_VFORK != 0 {
        "vfork"
    } else {
        "fork"
    }
}

/// The name of a signal verdict value ("unknown" for one this build does not know).
pub fn result_name(result: u32) -> &'static str {
    SigResult::from_u32(result).map_or("unknown", SigResult::name)
}

fn body<'a>(ev: &'a Event, node: &NsSet) -> EventBody<'a> {
    let node_net = node.net;
    let error = |ret: i32| (ret != 0).then(|| errno_name(ret));
    match ev {
        Event::Create(e) => EventBody::Create {
            create: create_kind(e.clone_flags),
            clone_flags: e.clone_flags,
            creator_pid: e.creator_tgid,
            creator_tid: e.creator_tid,
            cap_effective: e.cap_effective,
            new_namespaces: clone_flag_list(e.clone_flags, CLONE_NEW_MASK),
            creator_ns: NsObj(&e.creator_ns),
            changed: changed(&e.creator_ns, &e.hdr.ns),
        },
        Event::Exec(e) => EventBody::Exec {
            filename: cstr(&e.filename),
            cgroup: crate::event::exec_cgroup(e),
            argv: exec_argv(&e.args),
            argv_truncated: exec_argv_cut(&e.args),
            tty: exec_tty(&e.args),
            cap_effective: e.args.cap_effective,
        },
        Event::Exit(e) => EventBody::Exit {
            exit_code: e.exit_code,
            status: (e.exit_code >> 8) & 0xff,
            signal: e.exit_code & 0x7f,
            group_dead: e.group_dead != 0,
        },
        Event::Reap(e) => EventBody::Reap {
            exit_code: e.exit_code,
        },
        Event::Waited(e) => EventBody::Waited {
            syscall: wait_call(e.syscall),
            reaped_pid: e.pid,
            exit_code: (e.status != WAIT_STATUS_UNKNOWN).then_some(e.status),
        },
        Event::Wait(e) => EventBody::Wait {
            syscall: wait_call(e.syscall),
            wait_pid: e.pid,
            options: e.options,
            idtype: e.idtype,
        },
        Event::Setns(e) => EventBody::Setns {
            fd: e.fd,
            nstype: e.flags,
            flag_names: clone_flag_list(e.flags, u64::MAX),
            ret: e.ret,
            cap_effective: e.cap_effective,
            target_inode: e.target_inode,
            error: error(e.ret),
            before: NsObj(&e.before),
            changed: changed(&e.before, &e.hdr.ns),
        },
        Event::Unshare(e) => EventBody::Unshare {
            unshare_flags: e.flags,
            flag_names: clone_flag_list(e.flags, u64::MAX),
            ret: e.ret,
            cap_effective: e.cap_effective,
            error: error(e.ret),
            before: NsObj(&e.before),
            changed: changed(&e.before, &e.hdr.ns),
        },
        Event::SignalGenerate(e) => EventBody::SignalGenerate {
            signal: e.sig,
            signal_name: signal_name(e.sig),
            result: e.result,
            group: e.group != 0,
            si_code: e.si_code,
            target_pid: e.target_tgid,
            target_tid: e.target_tid,
            target_ns_pid: e.target_ns_tgid,
            result_name: result_name(e.result),
            target_comm: cstr(&e.target_comm),
            target_ns: NsObj(&e.target_ns),
        },
        Event::SignalDeliver(e) => EventBody::SignalDeliver {
            signal: e.sig,
            signal_name: signal_name(e.sig),
            handler: handler_kind(e.handler),
            handler_addr: e.handler,
            sa_flags: e.sa_flags,
            dropped: super::delivery_dropped(e, node),
        },
        Event::SigState(e) => EventBody::SigState {
            reason: e.reason,
            subreaper: e.subreaper != 0,
            caught: e.caught,
            ignored: e.ignored,
            blocked: e.blocked,
            real_blocked: e.real_blocked,
            taken: e.taken,
            sigterm_flags: e.sa_flags[nstrace_common::sig::TERM as usize - 1],
            sa_flags: e.sa_flags.to_vec(),
        },
        Event::Rename(e) => EventBody::Rename {
            new_comm: cstr(&e.new_comm),
        },
        Event::Bind(e) => EventBody::Bind {
            transport: transport_name(e.sock_type, e.protocol),
            family: if e.family == nstrace_common::AF_INET {
                "inet"
            } else {
                "inet6"
            },
            addr: bind_ip(e).to_string(),
            port: e.port,
            sock_type: sock_type_name(e.sock_type),
            protocol: e.protocol,
            fd: e.fd,
            ret: e.ret,
            error: error(e.ret),
            port_space: e.hdr.ns.net,
            node_port_space: e.hdr.ns.net == node_net,
        },
    }
}

/// One event as its wire type, for the node whose namespaces are `node`.
pub fn event_line<'a>(ev: &'a Event, wall_offset_ns: i64, node: &NsSet) -> EventLine<'a> {
    let h = ev.header();
    EventLine {
        kind: ev.kind().name(),
        time: time::rfc3339(h.ts_ns as i64 + wall_offset_ns),
        ts_ns: h.ts_ns,
        pid: h.tgid,
        tid: h.tid,
        ppid: h.ppid,
        ns_pid: h.ns_tgid,
        uid: h.uid,
        euid: h.euid,
        comm: cstr(&h.comm),
        ns: NsObj(&h.ns),
        flags: flag_names(h),
        body: body(ev, node),
    }
}

impl<W: Write> EventSink for Json<W> {
    fn begin(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn event(&mut self, ev: &Event) -> io::Result<()> {
        self.line.clear();
        wire::line(
            &mut self.line,
            &event_line(ev, self.wall_offset_ns, &self.node),
        );
        self.out.write_all(&self.line)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
