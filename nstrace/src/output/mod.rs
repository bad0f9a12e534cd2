//! Renderers for the event stream: aligned text for people, JSON lines for programs.

pub mod findings;
pub mod html;
pub mod json;
pub mod logfile;
pub mod metrics;
pub mod report;
pub mod text;
pub mod time;
pub mod timeline;
pub mod topology;
pub mod wire;

use std::borrow::Cow;
use std::io;

use nstrace_common::NsSet;

use crate::event::Event;

/// Writes to stdout and flushes. A closed pipe (`| head`) is an error of
/// kind `BrokenPipe`, which the session takes as "stop" and `main` as a quiet
/// exit: one policy, in those two places.
pub fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    use io::Write;
    let mut out = io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush())
}

/// Whether `e` (or what caused it) is a write to a reader that has gone.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Text for a terminal from strings the traced processes control (command
/// names, exec paths, hostnames that become pod names): every control
/// character is written as an escape (`\x1b`, `\n`), so a process cannot
/// colour, rewrite or add lines on the operator's screen. JSON escapes on its own.
pub fn safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                for unit in c.to_string().bytes() {
                    out.push_str(&format!("\\x{unit:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Output formats of events, findings and timelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// For people: aligned lines (one per event, or a finding with its evidence).
    Text,
    /// One JSON object per line (schema in the README).
    Json,
}

/// Something that renders events.
pub trait EventSink {
    /// Writes anything that comes before the first event (a column header).
    fn begin(&mut self) -> io::Result<()>;
    /// Renders one event.
    fn event(&mut self, ev: &Event) -> io::Result<()>;
    /// Flushes buffered output.
    fn flush(&mut self) -> io::Result<()>;
}

/// Builds the sink for `format` over `out`; `wall_offset_ns` maps event time
/// to wall time, `node` (the node's namespaces) names the node's port space
/// and tells a container's PID 1 (where the kernel drops default-action signals).
pub fn sink<'a, W: io::Write + 'a>(
    format: Format,
    out: W,
    wall_offset_ns: i64,
    node: NsSet,
) -> Box<dyn EventSink + 'a> {
    match format {
        Format::Text => Box::new(text::Text::new(out, wall_offset_ns, node)),
        Format::Json => Box::new(json::Json::new(out, wall_offset_ns, node)),
    }
}

/// Whether the kernel dropped this delivered signal: the default action at
/// the init of a PID namespace other than the node's.
pub fn delivery_dropped(e: &nstrace_common::SignalDeliverEvent, node: &NsSet) -> bool {
    crate::model::signals::dropped_at_delivery(
        e.sig,
        e.handler,
        crate::model::is_ns_init(e.hdr.ns_tgid, e.hdr.ns.pid, node.pid),
    )
}

#[cfg(test)]
mod tests {
    use super::safe;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(safe("sleep"), "sleep");
        assert_eq!(safe("\x1b[31mEVIL\x07\n"), "\\x1b[31mEVIL\\x07\\n");
        assert_eq!(safe("a\u{9b}b"), "a\\xc2\\x9bb", "C1 controls too");
        assert_eq!(safe("日本"), "日本");
    }
}
