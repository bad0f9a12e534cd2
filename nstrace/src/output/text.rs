//! Aligned, human-readable lines: time, pid, ppid, comm, event, details.

use std::fmt::Write as _;
use std::io::{self, Write};

use nstrace_common::{NsSet, HANDLER_DFL, HANDLER_IGN, WAIT_STATUS_UNKNOWN};

use super::json::{create_kind, result_name};
use super::{safe, time, EventSink};
use crate::event::names::{
    bind_ip, clone_flag_names, endpoint, errno_name, exit_status, signal_name, transport_name,
    CLONE_NEW_MASK, CLONE_THREAD,
};
use crate::event::{argv_text, cstr, exec_argv, exec_argv_cut, exec_tty, Event};

/// Text renderer.
pub struct Text<W: Write> {
    out: W,
    wall_offset_ns: i64,
    node: NsSet,
    line: String,
}

impl<W: Write> Text<W> {
    /// A renderer writing to `out` for the node whose namespaces are `node`.
    pub fn new(out: W, wall_offset_ns: i64, node: NsSet) -> Self {
        Text {
            out,
            wall_offset_ns,
            node,
            line: String::with_capacity(256),
        }
    }
}

/// Appends "net 4026531833 → 4026532181, uts …" for every namespace that differs.
pub fn ns_diff(out: &mut String, before: &NsSet, after: &NsSet) -> bool {
    let mut any = false;
    for ((t, b), a) in before.iter().zip(after.as_array()) {
        let name = t.name();
        if a != b && a != 0 && b != 0 {
            if any {
                out.push_str(", ");
            }
            let _ = write!(out, "{name} {b} → {a}");
            any = true;
        }
    }
    any
}

/// Describes a signal handler value.
pub fn handler_name(h: u64) -> String {
    match h {
        HANDLER_DFL => "default".into(),
        HANDLER_IGN => "ignore".into(),
        addr => format!("handler {addr:#x}"),
    }
}

fn details(s: &mut String, ev: &Event, node: &NsSet) {
    let node_net = node.net;
    match ev {
        Event::Create(e) => {
            let _ = write!(s, "{} by {}", create_kind(e.clone_flags), e.creator_tgid);
            if e.creator_tid != e.creator_tgid {
                let _ = write!(s, "/{}", e.creator_tid);
            }
            if e.clone_flags & CLONE_NEW_MASK != 0 {
                let _ = write!(s, " {}", clone_flag_names(e.clone_flags, CLONE_NEW_MASK));
            }
            if e.hdr.ns_tgid != e.hdr.tgid && e.clone_flags & CLONE_THREAD == 0 {
                let _ = write!(s, " (pid {} in its namespace)", e.hdr.ns_tgid);
            }
            let mut diff = String::new();
            if ns_diff(&mut diff, &e.creator_ns, &e.hdr.ns) {
                let _ = write!(s, "; {diff}");
            }
        }
        Event::Exec(e) => {
            let argv = exec_argv(&e.args);
            let _ = write!(s, "{}", safe(&cstr(&e.filename)));
            if !argv.is_empty() {
                let _ = write!(s, ": {}", safe(&argv_text(&argv, exec_argv_cut(&e.args))));
            }
            if exec_tty(&e.args) {
                s.push_str(" (tty)");
            }
            let cgroup = crate::event::exec_cgroup(e);
            if !cgroup.is_empty() {
                let _ = write!(s, " cgroup {}", safe(&cgroup));
            }
        }
        Event::Exit(e) => {
            s.push_str(&exit_status(e.exit_code));
            if e.group_dead == 0 {
                s.push_str(" (thread)");
            }
        }
        Event::Reap(e) => {
            let _ = write!(
                s,
                "gone ({}) parent {}",
                exit_status(e.exit_code),
                e.hdr.ppid
            );
        }
        Event::Wait(e) => {
            let call = super::json::wait_call(e.syscall);
            let _ = write!(s, "{call} pid={} options={:#x}", e.pid, e.options);
        }
        Event::Waited(e) => {
            let call = super::json::wait_call(e.syscall);
            let _ = write!(s, "{call} released pid {}", e.pid);
            if e.status != WAIT_STATUS_UNKNOWN {
                let _ = write!(s, " ({})", exit_status(e.status));
            }
        }
        Event::Setns(e) | Event::Unshare(e) => {
            if let Event::Setns(_) = ev {
                let _ = write!(
                    s,
                    "fd={} nstype={}",
                    e.fd,
                    clone_flag_names(e.flags, u64::MAX)
                );
            } else {
                let _ = write!(s, "{}", clone_flag_names(e.flags, u64::MAX));
            }
            if e.ret == 0 {
                s.push_str(" ok");
            } else {
                let _ = write!(s, " failed {}", errno_name(e.ret));
            }
            let mut diff = String::new();
            if ns_diff(&mut diff, &e.before, &e.hdr.ns) {
                let _ = write!(s, "; {diff}");
            }
        }
        Event::SigState(e) => {
            let _ = write!(s, "{}", sigstate_text(e));
        }
        Event::SignalGenerate(e) => {
            let _ = write!(
                s,
                "SIG{} → {} ({})",
                signal_name(e.sig),
                e.target_tgid,
                safe(&cstr(&e.target_comm))
            );
            if e.target_tid != e.target_tgid {
                let _ = write!(s, " tid {}", e.target_tid);
            }
            if e.target_ns_tgid != e.target_tgid {
                let _ = write!(s, " [pid {} in its namespace]", e.target_ns_tgid);
            }
            let _ = write!(s, " {}", result_name(e.result));
            if e.group == 0 {
                s.push_str(" (thread)");
            }
        }
        Event::SignalDeliver(e) => {
            let _ = write!(s, "SIG{} {}", signal_name(e.sig), handler_name(e.handler));
            if super::delivery_dropped(e, node) {
                s.push_str(" → dropped by the kernel (PID 1 of its namespace)");
            }
        }
        Event::Rename(e) => {
            let _ = write!(s, "→ {}", safe(&cstr(&e.new_comm)));
        }
        Event::Bind(e) => {
            let _ = write!(
                s,
                "{} {} ",
                transport_name(e.sock_type, e.protocol),
                endpoint(bind_ip(e), e.port)
            );
            if e.ret == 0 {
                s.push_str("ok");
            } else {
                let _ = write!(s, "failed {}", errno_name(e.ret));
            }
            let net = e.hdr.ns.net;
            if net == node_net {
                let _ = write!(s, "; port space of the node (net {net})");
            } else {
                let _ = write!(s, "; port space of net {net}");
            }
        }
    }
}

impl<W: Write> EventSink for Text<W> {
    fn begin(&mut self) -> io::Result<()> {
        writeln!(
            self.out,
            "{:<15} {:>7} {:>7} {:<16} {:<15} DETAILS",
            "TIME", "PID", "PPID", "COMM", "EVENT"
        )
    }

    fn event(&mut self, ev: &Event) -> io::Result<()> {
        let h = ev.header();
        let s = &mut self.line;
        s.clear();
        let pid = if h.tid == h.tgid {
            h.tgid.to_string()
        } else {
            format!("{}/{}", h.tgid, h.tid)
        };
        let _ = write!(
            s,
            "{:<15} {:>7} {:>7} {:<16} {:<15} ",
            time::clock(h.ts_ns as i64 + self.wall_offset_ns),
            pid,
            h.ppid,
            safe(&cstr(&h.comm)),
            ev.kind().name(),
        );
        details(s, ev, &self.node);
        s.push('\n');
        self.out.write_all(s.as_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A `sigstate` record in a line: why, then each handled signal with its
/// flags, the ignored, blocked and self-taken ones.
pub fn sigstate_text(e: &nstrace_common::SigStateEvent) -> String {
    use nstrace_common::sigstate::reason;
    let why = match e.reason {
        reason::AT_START => "at start",
        reason::SIGACTION => "rt_sigaction",
        reason::SIGPROCMASK => "rt_sigprocmask",
        reason::SIGNALFD => "signalfd4",
        reason::SIGWAIT => "rt_sigtimedwait",
        _ => "?",
    };
    let list = |mask: u64| -> String {
        let v: Vec<String> = (1..=64u32)
            .filter(|n| mask & (1u64 << (n - 1)) != 0)
            .map(|n| signal_name(n).to_string())
            .collect();
        if v.is_empty() {
            "-".into()
        } else {
            v.join(",")
        }
    };
    let handled: Vec<String> = (1..=32u32)
        .filter(|n| e.caught & (1u64 << (n - 1)) != 0)
        .map(|n| {
            format!(
                "{}[{}]",
                signal_name(n),
                crate::model::Signals::flag_names(e.sa_flags[n as usize - 1])
            )
        })
        .collect();
    format!(
        "{why}{}: handled {} ignored {} blocked {} taken {}",
        if e.subreaper != 0 { " (subreaper)" } else { "" },
        if handled.is_empty() {
            "-".to_owned()
        } else {
            handled.join(",")
        },
        list(e.ignored),
        list(if e.real_blocked != 0 {
            e.real_blocked
        } else {
            e.blocked
        }),
        list(e.taken)
    )
}
