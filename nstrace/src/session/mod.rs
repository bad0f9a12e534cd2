//! The one event pipeline every command runs.
//!
//! ```text
//!  ring buffer ─► live ─┐                       ┌─► consumer.before_event (model before)
//!  (or a record         ├─► Feed: decode, count, ├─► model.apply
//!   file ─► replay) ────┘   admit, record, model ├─► consumer.event       (model after)
//!                            enrich, ticks       └─► /proc enrichment → model
//! ```
//!
//! A [`Feed`] holds the process model, the counters and the recorder, and
//! takes every input in one order, whether it comes live ([`live`]) or from
//! a record file ([`replay`]): a recording holds the very inputs the live
//! run took (snapshot, pins, events, /proc facts, clock ticks), so a replay
//! hands a consumer what the live run handed it. Commands only build a
//! [`Consumer`] and pick where its inputs come from.

pub mod live;
pub mod network;
pub mod reconcile;
pub mod replay;

use std::io::BufWriter;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::event::{decode, Event};
use crate::model::net::{NetFacts, PortHolders};
use crate::model::{
    ContainerNames, Correction, Enrichment, Model, Pinned, Process, Release, Signals,
};
use crate::output::is_broken_pipe;
use crate::procfs;
use crate::record::{Meta, Writer};
use crate::snapshot;
use crate::stats::Stats;

/// How a command ended, for `main`'s exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done (exit 0).
    Done,
    /// A finding reached `--fail-on` (exit 1, no message: the findings are it).
    GateFailed,
}

/// Whether the feed goes on after an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// The consumer has what it wanted (or its reader has gone).
    Stop,
}

/// What the start-up snapshot reads about namespaces kept alive without a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pins {
    /// Bind mounts and every process's open fds (the topology reports both).
    All,
    /// Bind mounts only (named netns): enough to classify joins, and quick.
    Mounts,
}

impl Pins {
    /// Reads them now.
    pub fn read(self) -> Vec<Pinned> {
        match self {
            Pins::All => snapshot::pinned(),
            Pins::Mounts => snapshot::mount_pins(),
        }
    }
}

/// What a consumer asks of the network source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetNeeds {
    /// Nothing.
    Off,
    /// Who holds a port right after a bind lost over it (port clashes).
    Holders,
    /// That, and the wiring and listeners of every network namespace: at
    /// start, then on ticks for what changed.
    Wiring,
}

/// What a consumer asks of the feed.
#[derive(Clone, Copy, Debug)]
pub struct Needs {
    /// Keep the process model: snapshot, events, /proc facts after events.
    pub model: bool,
    /// Which pins the snapshot reads.
    pub pins: Pins,
    /// Live: call [`Consumer::tick`] this often.
    pub tick: Option<Duration>,
    /// Live: read the pins again before each tick (bind mounts and fds make no events).
    pub rescan_pins: bool,
    /// Live: one last tick when the trace ends (so a replay reaches the same verdicts).
    pub final_tick: bool,
    /// Live: read a container PID 1's signal dispositions from /proc once it
    /// has run its program this long (and again while they look wrong), so
    /// detectors can judge its SIGTERM and SIGCHLD handling.
    pub judge_signals_after: Option<Duration>,
    /// Network namespaces: wiring, listeners, port holders.
    pub net: NetNeeds,
}

/// Something the feed hands its inputs to: an event printer, the topology,
/// the audit, a shutdown follower. Every method but `needs` and `event` has
/// a default that does nothing.
pub trait Consumer {
    /// What it needs from the feed.
    fn needs(&self) -> Needs;
    /// Whether an event is for it at all (a filter). A refused event is not
    /// recorded, not applied to the model, and not counted as shown.
    fn admit(&mut self, _ev: &Event) -> bool {
        true
    }
    /// The start-up state is in the model (live: after attach and snapshot).
    fn start(&mut self, _m: &Model, _meta: &Meta) -> Result<Flow> {
        Ok(Flow::Continue)
    }
    /// An event, with the model as it was before it.
    fn before_event(&mut self, _ev: &Event, _m: &Model) {}
    /// An event, with the model after it (a reaped process is still there).
    fn event(&mut self, ev: &Event, m: &Model) -> Result<Flow>;
    /// Processes leave the model (reaped, or found gone), with how that was
    /// learned; they are still in `m`, so whatever is concluded about them
    /// can place them. Called after the event or correction that released them.
    fn released(&mut self, _released: &[Release], _m: &Model) -> Result<Flow> {
        Ok(Flow::Continue)
    }
    /// The model was corrected from /proc (a witness it missed).
    fn corrected(&mut self, _c: &Correction, _m: &Model) {}
    /// A batch of events is done (flush output).
    fn batch_done(&mut self) -> Result<Flow> {
        Ok(Flow::Continue)
    }
    /// Live: the ring buffer was just drained (every few tens of ms; a health signal).
    fn drained(&mut self) {}
    /// Live, before each tick: the counters so far (kernel and collector).
    fn counters(&mut self, _totals: &Stats) {}
    /// The clock moved (live ticks, or ticks a recording holds).
    fn tick(&mut self, _now_ns: u64, _m: &Model) -> Result<Flow> {
        Ok(Flow::Continue)
    }
    /// SIGUSR1: say how things stand (on stderr; the counters follow).
    fn report(&mut self, _m: &Model) {}
    /// The feed ended: print what is left, say how it went.
    fn finish(&mut self, _m: &Model) -> Result<Outcome> {
        Ok(Outcome::Done)
    }
}

/// The pipeline's state: the model, the counters, the recorder, and the
/// consumer they feed.
pub struct Feed<'c> {
    /// The process model (empty unless the consumer needs it or a recording is made).
    pub model: Model,
    /// What the consumer needs.
    pub needs: Needs,
    /// What the recording says about where it was made, or this node now.
    pub meta: Meta,
    consumer: &'c mut dyn Consumer,
    recorder: Option<Writer<BufWriter<std::fs::File>>>,
    /// Events received and records that could not be decoded.
    pub user: Stats,
    started: bool,
    /// A snapshot process was taken (a recording without one is noted).
    pub saw_snapshot: bool,
}

/// Turns a consumer's error into a stop when it is only a closed stdout.
fn flow(r: Result<Flow>) -> Result<Flow> {
    match r {
        Err(e) if is_broken_pipe(&e) => Ok(Flow::Stop),
        r => r,
    }
}

impl<'c> Feed<'c> {
    /// A feed for `consumer` on a node described by `meta`.
    pub fn new(consumer: &'c mut dyn Consumer, meta: Meta) -> Feed<'c> {
        Feed {
            model: Model::new(meta.node_ns, &meta.hostname),
            needs: consumer.needs(),
            meta,
            consumer,
            recorder: None,
            user: Stats::default(),
            started: false,
            saw_snapshot: false,
        }
    }

    /// Also writes every input to a record file at `path`.
    pub fn record_to(&mut self, path: &std::path::Path) -> Result<()> {
        let w = Writer::create(path, &self.meta)
            .with_context(|| format!("creating record file {}", path.display()))?;
        self.recorder = Some(w);
        Ok(())
    }

    /// Whether /proc facts are wanted: for the model, or for a recording
    /// (replays rebuild the model from it).
    pub fn wants_proc(&self) -> bool {
        self.needs.model || self.recorder.is_some()
    }

    fn rec(
        &mut self,
        f: impl FnOnce(&mut Writer<BufWriter<std::fs::File>>) -> std::io::Result<()>,
    ) -> Result<()> {
        if let Some(w) = self.recorder.as_mut() {
            f(w).context("writing the record file")?;
        }
        Ok(())
    }

    /// A process of the start-up snapshot.
    pub fn process(&mut self, p: Process) -> Result<()> {
        self.saw_snapshot = true;
        self.rec(|w| w.process(&p))?;
        if self.needs.model {
            self.model.add_snapshot(p);
        }
        Ok(())
    }

    /// The namespaces pinned by mounts or fds now.
    pub fn pinned(&mut self, pins: Vec<Pinned>) -> Result<()> {
        self.rec(|w| w.pinned(&pins))?;
        if self.needs.model {
            self.model.set_pinned(pins);
        }
        Ok(())
    }

    /// /proc facts read right after an event.
    pub fn enrich(&mut self, e: Enrichment) -> Result<()> {
        self.rec(|w| w.enrichment(&e))?;
        if self.needs.model {
            self.model.enrich(&e);
        }
        Ok(())
    }

    /// A read of a network namespace.
    pub fn net(&mut self, f: NetFacts) -> Result<()> {
        self.rec(|w| w.net(&f))?;
        if self.needs.model {
            self.model.set_net(f);
        }
        Ok(())
    }

    /// Who held a port right after a bind lost over it.
    pub fn port_holders(&mut self, h: PortHolders) -> Result<()> {
        self.rec(|w| w.port_holders(&h))?;
        if self.needs.model {
            self.model.set_port_holders(h);
        }
        Ok(())
    }

    /// Whether a recording is being written.
    pub fn recording(&self) -> bool {
        self.recorder.is_some()
    }

    /// What the container runtime calls container `id` and its pod.
    pub fn names(&mut self, id: &str, names: ContainerNames) -> Result<()> {
        self.rec(|w| w.names(id, &names))?;
        if self.needs.model {
            self.model.set_names(id, names);
        }
        Ok(())
    }

    /// A process's signal dispositions, read from /proc at `seen_ns`.
    pub fn signals(&mut self, pid: u32, seen_ns: u64, s: Signals) -> Result<()> {
        self.rec(|w| w.signals(pid, seen_ns, &s))?;
        if self.needs.model {
            self.model.set_signals(pid, seen_ns, s);
        }
        Ok(())
    }

    /// Tells the consumer the start-up state is complete (once).
    pub fn start(&mut self) -> Result<Flow> {
        if self.started {
            return Ok(Flow::Continue);
        }
        self.started = true;
        flow(self.consumer.start(&self.model, &self.meta))
    }

    /// Decodes and counts one raw record; `None` for one that does not decode.
    pub fn decode(&mut self, raw: &[u8]) -> Option<Event> {
        self.user.received += 1;
        match decode(raw) {
            Ok(ev) => Some(ev),
            Err(_) => {
                self.user.undecodable += 1;
                None
            }
        }
    }

    /// Whether the consumer wants `ev`.
    pub fn admit(&mut self, ev: &Event) -> bool {
        self.consumer.admit(ev)
    }

    /// One admitted event: recorded, shown to the consumer before and after
    /// the model takes it. The processes it releases leave the model last,
    /// so whatever the consumer concludes about them can still place them.
    pub fn event(&mut self, ev: &Event) -> Result<Flow> {
        self.rec(|w| w.event(ev.bytes()))?;
        if !self.needs.model {
            return flow(self.consumer.event(ev, &self.model));
        }
        self.consumer.before_event(ev, &self.model);
        self.model.apply(ev);
        let released = self.model.releases(ev);
        let f = flow(self.consumer.event(ev, &self.model))?;
        let g = self.release(&released)?;
        Ok(if f == Flow::Stop { f } else { g })
    }

    /// Shows the consumer what leaves the model, then removes it.
    fn release(&mut self, released: &[Release]) -> Result<Flow> {
        if released.is_empty() {
            return Ok(Flow::Continue);
        }
        for r in released {
            if let crate::model::Witness::PidNsGone { .. } = r.witness {
                self.user.pid_ns_releases += 1;
            }
        }
        let f = flow(self.consumer.released(released, &self.model));
        self.model.release(released);
        f
    }

    /// A correction of the model from /proc (reconciliation): recorded,
    /// counted by reason, applied, and what it releases released.
    pub fn correct(&mut self, c: Correction) -> Result<Flow> {
        self.rec(|w| w.correction(&c))?;
        self.user.corrections[c.drift.slot()] += 1;
        if !self.needs.model {
            return Ok(Flow::Continue);
        }
        let released = self.model.correction_releases(&c);
        self.model.correct(&c);
        self.consumer.corrected(&c, &self.model);
        self.release(&released)
    }

    /// A batch of events ended.
    pub fn batch_done(&mut self) -> Result<Flow> {
        flow(self.consumer.batch_done())
    }

    /// The ring buffer was drained.
    pub fn drained(&mut self) {
        self.consumer.drained();
    }

    /// The counters so far.
    pub fn counters(&mut self, totals: &Stats) {
        self.consumer.counters(totals);
    }

    /// The clock moved to `now_ns`.
    pub fn tick(&mut self, now_ns: u64) -> Result<Flow> {
        self.rec(|w| w.tick(now_ns))?;
        flow(self.consumer.tick(now_ns, &self.model))
    }

    /// SIGUSR1.
    pub fn report(&mut self) {
        self.consumer.report(&self.model);
    }

    /// Writes the final counters into the recording and closes it.
    pub fn close_recording(&mut self, totals: &Stats) -> Result<()> {
        if let Some(mut w) = self.recorder.take() {
            w.stats(totals).context("writing the record file")?;
            w.flush().context("writing the record file")?;
        }
        Ok(())
    }

    /// The consumer's last word.
    pub fn finish(&mut self) -> Result<Outcome> {
        self.consumer.finish(&self.model)
    }
}

/// Describes this node now, for record files and wall-clock output.
pub fn node_meta() -> Meta {
    Meta {
        wall_offset_ns: procfs::wall_offset_ns(),
        start_mono_ns: procfs::monotonic_ns(),
        node_ns: procfs::node_ns(),
        hostname: procfs::hostname(),
        kernel: procfs::kernel_release(),
        detectors: None,
    }
}

/// A model of this node from /proc and the runtimes' files now (no tracing).
pub fn snapshot_model(pins: Pins, roots: &crate::runtime::Roots) -> Model {
    let node = procfs::node_ns();
    let host = procfs::hostname();
    let mut m = Model::new(node, &host);
    for p in snapshot::processes(&node, &host) {
        m.add_snapshot(p);
    }
    for id in m.live_container_ids() {
        if let crate::runtime::Lookup::Found(names) = crate::runtime::lookup(roots, &id) {
            m.set_names(&id, names);
        }
    }
    m.set_pinned(pins.read());
    m
}

/// [`snapshot_model`] with the wiring and listeners of every network namespace.
pub fn snapshot_model_with_net(pins: Pins, roots: &crate::runtime::Roots) -> Model {
    let mut m = snapshot_model(pins, roots);
    for f in network::NetSource::new(m.node).refresh(&m) {
        m.set_net(f);
    }
    m
}
