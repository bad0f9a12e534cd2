//! Renderers for the event stream: aligned text for people, JSON lines for programs.

pub mod findings;
pub mod json;
pub mod text;
pub mod time;
pub mod topology;

use std::io;

use crate::event::Event;

/// Output formats of `watch` and `replay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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

/// Builds the sink for `format` over `out`; `wall_offset_ns` maps event time to wall time.
pub fn sink<'a, W: io::Write + 'a>(
    format: Format,
    out: W,
    wall_offset_ns: i64,
) -> Box<dyn EventSink + 'a> {
    match format {
        Format::Text => Box::new(text::Text::new(out, wall_offset_ns)),
        Format::Json => Box::new(json::Json::new(out, wall_offset_ns)),
    }
}
