//! The topology view: the model's pods, containers and namespaces, printed at
//! the end, or again whenever they change (`--watch`).

use std::time::Duration;

use anyhow::Result;

use crate::event::Event;
use crate::model::{topology, Model};
use crate::output::topology::{render, TopoFormat};
use crate::output::{time, write_stdout};
use crate::record::Meta;
use crate::session::{Consumer, Flow, Needs, NetNeeds, Pins};

/// Prints the topology.
pub struct TopologyView {
    format: TopoFormat,
    watch: bool,
    wall_offset_ns: i64,
    /// The model generation last rendered.
    shown: u64,
    /// The text last printed (`--watch` prints only what changed).
    last: Option<String>,
}

impl TopologyView {
    /// Prints once at the end, or (`watch`) at the start and on every change.
    pub fn new(format: TopoFormat, watch: bool) -> TopologyView {
        TopologyView {
            format,
            watch,
            wall_offset_ns: 0,
            shown: u64::MAX,
            last: None,
        }
    }

    /// Prints the topology if it differs from what was printed last.
    fn print(&mut self, m: &Model, now_ns: u64) -> Result<()> {
        self.shown = m.generation;
        let text = render(&topology::build(m), self.format);
        if self.last.as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        let mut out = String::new();
        if self.watch && self.format == TopoFormat::Tree {
            out = format!(
                "--- {}\n",
                time::rfc3339(self.wall_offset_ns + now_ns as i64)
            );
        }
        out.push_str(&text);
        write_stdout(out.as_bytes())?;
        self.last = Some(text);
        Ok(())
    }
}

impl Consumer for TopologyView {
    fn needs(&self) -> Needs {
        Needs {
            model: true,
            pins: Pins::All,
            tick: self.watch.then_some(Duration::from_secs(1)),
            // Bind mounts and fds make no events.
            rescan_pins: true,
            final_tick: true,
            judge_signals_after: None,
            net: NetNeeds::Wiring,
        }
    }

    fn start(&mut self, m: &Model, meta: &Meta) -> Result<Flow> {
        self.wall_offset_ns = meta.wall_offset_ns;
        if self.watch {
            self.print(m, crate::procfs::monotonic_ns())?;
        }
        Ok(Flow::Continue)
    }

    fn event(&mut self, _ev: &Event, _m: &Model) -> Result<Flow> {
        Ok(Flow::Continue)
    }

    fn tick(&mut self, now_ns: u64, m: &Model) -> Result<Flow> {
        if self.watch && m.generation != self.shown {
            self.print(m, now_ns)?;
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, m: &Model) -> Result<crate::session::Outcome> {
        if !self.watch {
            // The model is not needed once the topology is built.
            write_stdout(render(&topology::build(m), self.format).as_bytes())?;
        }
        Ok(crate::session::Outcome::Done)
    }
}
