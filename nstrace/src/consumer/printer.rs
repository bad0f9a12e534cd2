//! The event printer: every admitted event as a text line or a JSON line.

use std::io::{BufWriter, StdoutLock};

use anyhow::Result;

use crate::event::Event;
use crate::filter::Filter;
use crate::model::Model;
use crate::output::{self, EventSink, Format};
use crate::record::Meta;
use crate::session::{Consumer, Flow, Needs, NetNeeds, Pins};

/// Prints events that pass a filter.
pub struct Printer {
    format: Format,
    filter: Filter,
    sink: Option<Box<dyn EventSink>>,
}

impl Printer {
    /// A printer of `format` for events that pass `filter`.
    pub fn new(format: Format, filter: Filter) -> Printer {
        Printer {
            format,
            filter,
            sink: None,
        }
    }
}

fn stdout() -> BufWriter<StdoutLock<'static>> {
    BufWriter::with_capacity(1 << 16, std::io::stdout().lock())
}

impl Consumer for Printer {
    fn needs(&self) -> Needs {
        Needs {
            model: false,
            // What a recording keeps for `replay --topology`.
            pins: Pins::All,
            tick: None,
            rescan_pins: false,
            final_tick: false,
            judge_signals_after: None,
            net: NetNeeds::Off,
        }
    }

    fn admit(&mut self, ev: &Event) -> bool {
        self.filter.matches(ev)
    }

    fn start(&mut self, _m: &Model, meta: &Meta) -> Result<Flow> {
        let mut sink = output::sink(self.format, stdout(), meta.wall_offset_ns, meta.node_ns);
        sink.begin()?;
        sink.flush()?;
        self.sink = Some(sink);
        Ok(Flow::Continue)
    }

    fn event(&mut self, ev: &Event, _m: &Model) -> Result<Flow> {
        if let Some(s) = self.sink.as_mut() {
            s.event(ev)?;
        }
        Ok(Flow::Continue)
    }

    fn batch_done(&mut self) -> Result<Flow> {
        if let Some(s) = self.sink.as_mut() {
            s.flush()?;
        }
        Ok(Flow::Continue)
    }
}
