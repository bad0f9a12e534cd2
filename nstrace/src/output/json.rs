//! JSON lines: one object per event with stable field names (see README).

use std::fmt::Write as _;
use std::io::{self, Write};

use nstrace_common::{
    Header, NsSet, FLAG_NO_NSPROXY, FLAG_READ_FAILED, FLAG_THREAD, FLAG_TRUNCATED, WAIT_WAIT4,
};

use super::text::sig_result;
use super::{time, EventSink};
use crate::event::names::{
    clone_flag_names, errno_name, signal_name, CLONE_NEW_MASK, CLONE_THREAD, CLONE_VFORK,
};
use crate::event::{cstr, Event};

/// JSON-lines renderer.
pub struct Json<W: Write> {
    out: W,
    wall_offset_ns: i64,
    line: String,
}

impl<W: Write> Json<W> {
    /// A renderer writing to `out`.
    pub fn new(out: W, wall_offset_ns: i64) -> Self {
        Json {
            out,
            wall_offset_ns,
            line: String::with_capacity(512),
        }
    }
}

/// Appends `v` as a JSON string, or `null` when absent.
pub fn opt_str(out: &mut String, v: Option<&str>) {
    match v {
        Some(v) => string(out, v),
        None => out.push_str("null"),
    }
}

/// Appends `s` as a JSON string literal.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `"key":` (keys are plain identifiers).
fn key(out: &mut String, k: &str) {
    out.push(',');
    out.push('"');
    out.push_str(k);
    out.push_str("\":");
}

/// Appends a namespace set as an object of inode numbers.
pub fn ns_object(out: &mut String, ns: &NsSet) {
    out.push('{');
    for (i, (t, ino)) in ns.iter().enumerate() {
        let name = t.name();
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{name}\":{ino}");
    }
    out.push('}');
}

fn header(out: &mut String, h: &Header, kind: &str, wall_offset_ns: i64) {
    out.push_str("{\"kind\":");
    string(out, kind);
    key(out, "time");
    string(out, &time::rfc3339(h.ts_ns as i64 + wall_offset_ns));
    let _ = write!(
        out,
        ",\"ts_ns\":{},\"pid\":{},\"tid\":{},\"ppid\":{},\"ns_pid\":{},\"uid\":{},\"euid\":{}",
        h.ts_ns, h.tgid, h.tid, h.ppid, h.ns_tgid, h.uid, h.euid
    );
    key(out, "comm");
    string(out, &cstr(&h.comm));
    key(out, "ns");
    ns_object(out, &h.ns);
    let mut notes = Vec::new();
    for (bit, name) in [
        (FLAG_READ_FAILED, "read_failed"),
        (FLAG_NO_NSPROXY, "no_namespaces"),
        (FLAG_TRUNCATED, "truncated"),
        (FLAG_THREAD, "thread"),
    ] {
        if h.flags & bit != 0 {
            notes.push(name);
        }
    }
    out.push_str(",\"flags\":[");
    for (i, n) in notes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, n);
    }
    out.push(']');
}

/// Appends `"changed":["net","uts"]` listing namespace types that differ.
fn changed(out: &mut String, before: &NsSet, after: &NsSet) {
    key(out, "changed");
    out.push('[');
    let mut first = true;
    for ((t, b), a) in before.iter().zip(after.as_array()) {
        let name = t.name();
        if a != b {
            if !first {
                out.push(',');
            }
            string(out, name);
            first = false;
        }
    }
    out.push(']');
}

/// Appends the names of the clone flags set in `flags & mask` as a JSON array.
pub fn flag_list(out: &mut String, flags: u64, mask: u64) {
    out.push('[');
    let names = clone_flag_names(flags, mask);
    if names != "0" {
        for (i, n) in names.split('|').enumerate() {
            if i > 0 {
                out.push(',');
            }
            string(out, n);
        }
    }
    out.push(']');
}

fn body(out: &mut String, ev: &Event) {
    match ev {
        Event::Create(e) => {
            let what = if e.clone_flags & CLONE_THREAD != 0 {
                "thread"
            } else if e.clone_flags & CLONE_VFORK != 0 {
                "vfork"
            } else {
                "fork"
            };
            key(out, "create");
            string(out, what);
            let _ = write!(
                out,
                ",\"clone_flags\":{},\"creator_pid\":{},\"creator_tid\":{},\"cap_effective\":{}",
                e.clone_flags, e.creator_tgid, e.creator_tid, e.cap_effective
            );
            key(out, "new_namespaces");
            flag_list(out, e.clone_flags, CLONE_NEW_MASK);
            key(out, "creator_ns");
            ns_object(out, &e.creator_ns);
            changed(out, &e.creator_ns, &e.hdr.ns);
        }
        Event::Exec(e) => {
            key(out, "filename");
            string(out, &cstr(&e.filename));
        }
        Event::Exit(e) => {
            let sig = e.exit_code & 0x7f;
            let _ = write!(
                out,
                ",\"exit_code\":{},\"status\":{},\"signal\":{},\"group_dead\":{}",
                e.exit_code,
                (e.exit_code >> 8) & 0xff,
                sig,
                e.group_dead != 0
            );
        }
        Event::Reap(e) => {
            let _ = write!(out, ",\"exit_code\":{}", e.exit_code);
        }
        Event::Wait(e) => {
            key(out, "syscall");
            string(
                out,
                if e.syscall == WAIT_WAIT4 {
                    "wait4"
                } else {
                    "waitid"
                },
            );
            let _ = write!(
                out,
                ",\"wait_pid\":{},\"options\":{},\"idtype\":{}",
                e.pid, e.options, e.idtype
            );
        }
        Event::Setns(e) | Event::Unshare(e) => {
            if let Event::Setns(_) = ev {
                let _ = write!(out, ",\"fd\":{},\"nstype\":{}", e.fd, e.flags);
            } else {
                let _ = write!(out, ",\"unshare_flags\":{}", e.flags);
            }
            key(out, "flag_names");
            flag_list(out, e.flags, u64::MAX);
            let _ = write!(
                out,
                ",\"ret\":{},\"cap_effective\":{}",
                e.ret, e.cap_effective
            );
            if let Event::Setns(_) = ev {
                let _ = write!(out, ",\"target_inode\":{}", e.target_inode);
            }
            key(out, "error");
            if e.ret == 0 {
                out.push_str("null");
            } else {
                string(out, &errno_name(e.ret));
            }
            key(out, "before");
            ns_object(out, &e.before);
            changed(out, &e.before, &e.hdr.ns);
        }
        Event::SignalGenerate(e) => {
            let _ = write!(out, ",\"signal\":{}", e.sig);
            key(out, "signal_name");
            string(out, &signal_name(e.sig));
            let _ = write!(
                out,
                ",\"result\":{},\"group\":{},\"si_code\":{},\"target_pid\":{},\"target_tid\":{},\"target_ns_pid\":{}",
                e.result, e.group != 0, e.si_code, e.target_tgid, e.target_tid, e.target_ns_tgid
            );
            key(out, "result_name");
            string(out, sig_result(e.result));
            key(out, "target_comm");
            string(out, &cstr(&e.target_comm));
            key(out, "target_ns");
            ns_object(out, &e.target_ns);
        }
        Event::SignalDeliver(e) => {
            let _ = write!(out, ",\"signal\":{}", e.sig);
            key(out, "signal_name");
            string(out, &signal_name(e.sig));
            key(out, "handler");
            match e.handler {
                0 => string(out, "default"),
                1 => string(out, "ignore"),
                _ => string(out, "installed"),
            }
            let _ = write!(
                out,
                ",\"handler_addr\":{},\"sa_flags\":{}",
                e.handler, e.sa_flags
            );
        }
        Event::Rename(e) => {
            key(out, "new_comm");
            string(out, &cstr(&e.new_comm));
        }
    }
}

impl<W: Write> EventSink for Json<W> {
    fn begin(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn event(&mut self, ev: &Event) -> io::Result<()> {
        let s = &mut self.line;
        s.clear();
        header(s, ev.header(), ev.kind().name(), self.wall_offset_ns);
        body(s, ev);
        s.push_str("}\n");
        self.out.write_all(s.as_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_strings() {
        let mut s = String::new();
        string(&mut s, "a\"b\\c\nd\u{1}");
        assert_eq!(s, r#""a\"b\\c\nd\u0001""#);
    }
}
