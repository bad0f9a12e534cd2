//! The live source: attach the kernel programs, snapshot /proc, then read the
//! ring buffer into the feed until Ctrl-C, SIGTERM, SIGHUP, the deadline, or
//! the consumer says stop; detach, record the counters, print them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{signal, Signal, SignalKind};

use aya::maps::{MapData, RingBuf};

use std::collections::{HashMap, HashSet};

use super::network::{NetProc, NetSource};
use super::reconcile::{self, Reconciler};
use super::{node_meta, Consumer, Feed, Flow, NetNeeds, Outcome};
use crate::event::Event;
use crate::model::{cgroup, joins_unknown_place, wants_enrichment};
use crate::probe::{Options, Probes, PROGRAM_COUNT};
use crate::procfs;
use crate::record::Meta;
use crate::runtime::{self, Lookup, Roots};
use crate::snapshot;
use crate::stats;

/// How often the ring buffer is drained without a wakeup from the kernel.
pub const DRAIN_EVERY: Duration = Duration::from_millis(50);

/// How a live trace runs.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Ring buffer size in bytes.
    pub ring_buffer_size: u32,
    /// Signals the kernel streams (bit n = signal n).
    pub signal_mask: u64,
    /// Only those that concern processes outside the node's PID namespace.
    pub signals_in_containers_only: bool,
    /// Let the programs log which kernel read failed, where.
    pub debug_probes: bool,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Also write everything to this record file.
    pub record: Option<PathBuf>,
    /// Where the container runtimes keep the files that name containers.
    pub runtime_roots: Roots,
    /// The PID-1 detectors' settings, kept in a record file for replay.
    pub detectors: Option<crate::detect::pid1::Config>,
}

impl LiveOptions {
    /// A trace with the ring and runtime flags every tracing command has,
    /// the default signals streamed, no time limit and no record file.
    pub fn new(ring: &crate::cli::RingArgs, runtime: &crate::cli::RuntimeArgs) -> LiveOptions {
        LiveOptions {
            ring_buffer_size: ring.ring_buffer_size,
            signal_mask: nstrace_common::signal_mask(&nstrace_common::DEFAULT_SIGNALS),
            signals_in_containers_only: false,
            debug_probes: ring.debug_probes,
            duration: None,
            record: None,
            runtime_roots: runtime.roots(),
            detectors: None,
        }
    }
}

/// What the live source reads besides the ring buffer, and what it already
/// read: containers' names (once per container) and container inits' signal
/// handling (when due).
struct LiveReads {
    roots: Roots,
    tried: HashSet<String>,
    /// Container inits whose signal handling was read, with their program start then.
    judged: HashMap<u32, u64>,
    /// The model's layout generation at the last pruning.
    pruned_at: u64,
    /// The model checked against /proc.
    reconciler: Reconciler,
}

impl LiveReads {
    /// Looks up the container `cgroup` names, if not tried before; counts the outcome.
    fn name(&mut self, feed: &mut Feed<'_>, cgroup: &str) -> Result<()> {
        let Some(id) = cgroup::parse(cgroup).container else {
            return Ok(());
        };
        if self.tried.contains(&id) {
            return Ok(());
        }
        let slot = match runtime::lookup(&self.roots, &id) {
            Lookup::Found(names) => {
                feed.names(&id, names)?;
                stats::names::FOUND
            }
            Lookup::Missing => stats::names::MISSING,
            Lookup::Unreadable(_) => stats::names::UNREADABLE,
            Lookup::Garbled(_) => stats::names::GARBLED,
        };
        feed.user.names[slot] += 1;
        self.tried.insert(id);
        Ok(())
    }

    /// Forgets what is known of containers that are gone, when the container
    /// layout changed since the last time (so names and tries stay bounded).
    fn forget_gone(&mut self, m: &mut crate::model::Model) {
        if m.layout_generation == self.pruned_at {
            return;
        }
        let live = m.live_container_ids();
        self.tried.retain(|id| live.contains(id));
        m.forget_gone_names(&live);
        self.pruned_at = m.layout_generation;
    }
}

/// The signals that stop a trace (SIGINT, SIGTERM, SIGHUP) or ask for the
/// counters (SIGUSR1). Installed first thing, so one that arrives while the
/// programs load still ends the run cleanly, with its counters.
struct Stops {
    int: Signal,
    term: Signal,
    hup: Signal,
    usr1: Signal,
}

impl Stops {
    fn install() -> Result<Stops> {
        Ok(Stops {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }
}

/// Runs `consumer` on the live node; blocks until the trace ends.
pub fn run(opts: &LiveOptions, consumer: &mut dyn Consumer) -> Result<Outcome> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run_async(opts, consumer))
}

/// [`run`], on the runtime it built.
async fn run_async(opts: &LiveOptions, consumer: &mut dyn Consumer) -> Result<Outcome> {
    let mut stops = Stops::install()?;
    let mut probes = Probes::load(Options {
        ring_buffer_size: opts.ring_buffer_size,
        signal_mask: opts.signal_mask,
        signals_in_containers_only: opts.signals_in_containers_only,
        debug_probes: opts.debug_probes,
    })?;
    let mut feed = Feed::new(
        consumer,
        Meta {
            detectors: opts.detectors,
            ..node_meta()
        },
    );
    if let Some(path) = &opts.record {
        feed.record_to(path)?;
    }
    // Snapshot after attach: whatever changes from here on is also in the stream.
    let mut reads = LiveReads {
        roots: opts.runtime_roots.clone(),
        tried: HashSet::new(),
        judged: HashMap::new(),
        pruned_at: 0,
        reconciler: Reconciler::default(),
    };
    let mut net = NetSource::new(feed.meta.node_ns);
    if feed.wants_proc() {
        let node = feed.meta.node_ns;
        let host = feed.meta.hostname.clone();
        // Without a model (a `watch --record`), what the network read needs of each process.
        let mut net_procs = Vec::new();
        for p in snapshot::processes(&node, &host) {
            reads.name(&mut feed, &p.cgroup)?;
            if !feed.needs.model {
                net_procs.push(NetProc::of(&p, &node));
            }
            feed.process(p)?;
        }
        let pins = feed.needs.pins.read();
        // The wiring at start: for the consumer, or for a recording's `replay --topology`.
        let wiring = if feed.needs.net == NetNeeds::Wiring || feed.recording() {
            if feed.needs.model {
                feed.pinned(pins)?;
                net.refresh(&feed.model)
            } else {
                let facts = net.read_all(&net_procs, &pins);
                feed.pinned(pins)?;
                facts
            }
        } else {
            feed.pinned(pins)?;
            Vec::new()
        };
        for f in wiring {
            feed.net(f)?;
        }
    }
    let mut open = feed.start()? == Flow::Continue;
    if open && feed.needs.judge_signals_after.is_some() {
        // The dispositions of the inits and subreapers that exist now, from
        // the kernel: the programs are attached, so what changes from here
        // on is in the stream too.
        let at_start = probes.sigstate_at_start();
        for raw in sigstate_records(at_start) {
            if ingest(&mut feed, &mut reads, &mut net, &raw)? == Flow::Stop {
                open = false;
                break;
            }
        }
    }
    if open {
        open = drive(
            &mut probes,
            &mut stops,
            opts,
            &mut feed,
            &mut reads,
            &mut net,
        )
        .await?;
    }
    if open && feed.needs.final_tick {
        tick(&mut feed, &mut reads, &mut net)?;
    }
    feed.user.net = [net.counts.reads, net.counts.failed, net.counts.lookups];
    let totals = probes.totals(&feed.user);
    feed.close_recording(&totals)?;
    // Everything said before the programs are detached: detaching waits for
    // the kernel's RCU grace periods, seconds on a node busy with a storm,
    // and a kubelet's SIGKILL at the end of the grace period then loses
    // nothing (the kernel detaches them as the process exits anyway).
    feed.counters(&totals);
    let outcome = feed.finish();
    eprintln!("{totals}");
    drop(probes);
    outcome
}

/// Runs `consumer` over the node as it is now, without tracing: the /proc
/// snapshot, the runtimes' names, and (if the consumer judges signal
/// handling) container inits read once each has run long enough; then one
/// tick at the end. The pre-rollout check (`audit --once`).
pub fn once(roots: &Roots, consumer: &mut dyn Consumer) -> Result<Outcome> {
    let mut feed = Feed::new(consumer, node_meta());
    let mut reads = LiveReads {
        roots: roots.clone(),
        tried: HashSet::new(),
        judged: HashMap::new(),
        pruned_at: 0,
        reconciler: Reconciler::default(),
    };
    let node = feed.meta.node_ns;
    let host = feed.meta.hostname.clone();
    for p in snapshot::processes(&node, &host) {
        reads.name(&mut feed, &p.cgroup)?;
        feed.process(p)?;
    }
    let pins = feed.needs.pins.read();
    feed.pinned(pins)?;
    if feed.start()? == Flow::Stop {
        return feed.finish();
    }
    if feed.needs.judge_signals_after.is_some() {
        // What the kernel holds, from the task iterator alone: the same
        // facts the live commands start from.
        for raw in sigstate_records(crate::probe::sigstate::read_once()) {
            if let Some(ev) = feed.decode(&raw) {
                if feed.event(&ev)? == Flow::Stop {
                    return feed.finish();
                }
            }
        }
    }
    let mut now = procfs::monotonic_ns();
    if let Some(after) = feed.needs.judge_signals_after {
        // Wait until the youngest container init has run long enough to judge.
        let after = after.as_nanos() as u64;
        let node_pid = feed.model.node.pid;
        let youngest = feed
            .model
            .processes()
            .filter(|p| p.is_ns_init(node_pid) && !p.zombie)
            .map(|p| p.program_ns)
            .max();
        if let Some(start) = youngest {
            let wait = (start + after).saturating_sub(now);
            if wait > 0 {
                std::thread::sleep(Duration::from_nanos(wait.min(after)));
                now = procfs::monotonic_ns();
            }
        }
        read_init_signals(&mut feed, &mut reads.judged, now, after)?;
    }
    feed.tick(now)?;
    feed.finish()
}

/// One clock tick: pins read again if wanted, network namespaces that
/// changed read again (for the consumer, or for a recording: `replay
/// --topology` and `report` show the wiring as it was), container inits'
/// signal handling read when due, then the consumer. What is known of
/// containers and network namespaces that are gone is forgotten first.
fn tick(feed: &mut Feed<'_>, reads: &mut LiveReads, net: &mut NetSource) -> Result<Flow> {
    if feed.needs.rescan_pins {
        feed.pinned(snapshot::pinned())?;
    }
    let now = procfs::monotonic_ns();
    if feed.needs.model {
        // First what the kernel's witnesses missed, so that nothing below
        // (names, networks, detectors) keeps a process that is gone.
        for c in reads.reconciler.sweep(
            &feed.model,
            now,
            reconcile::listed_pids,
            reconcile::stat_now,
        ) {
            if feed.correct(c)? == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        reads.forget_gone(&mut feed.model);
        feed.model.forget_gone_net();
        // A recording keeps the wiring too, so a report of it shows each
        // pod's network (only namespaces that changed are read again).
        if feed.needs.net == NetNeeds::Wiring || feed.recording() {
            for f in net.refresh(&feed.model) {
                feed.net(f)?;
            }
        }
    }
    if let Some(after) = feed.needs.judge_signals_after {
        read_init_signals(feed, &mut reads.judged, now, after.as_nanos() as u64)?;
    }
    feed.tick(now)
}

/// Reads the signal dispositions of container inits that are due: once
/// their program has run `after_ns`, then on every tick while SIGTERM has no
/// handler or SIGCHLD is neither handled nor ignored (so a handler installed
/// later withdraws the prediction). `judged` holds each init's program start
/// at its first read.
fn read_init_signals(
    feed: &mut Feed<'_>,
    judged: &mut HashMap<u32, u64>,
    now: u64,
    after: u64,
) -> Result<()> {
    let node_pid = feed.model.node.pid;
    let due: Vec<(u32, u64, crate::model::Signals)> = feed
        .model
        .processes()
        .filter(|p| {
            p.is_ns_init(node_pid) && !p.zombie && now.saturating_sub(p.program_ns) >= after
        })
        // A new program, or one whose state still predicts trouble (it may
        // install its handlers late).
        .filter(|p| judged.get(&p.pid) != Some(&p.program_ns) || !p.pid1_outlook().settled())
        .map(|p| (p.pid, p.program_ns, p.signals))
        .collect();
    for (pid, program, known) in due {
        let Some(s) = snapshot::signals(pid) else {
            continue;
        };
        feed.user.signal_reads += 1;
        judged.insert(pid, program);
        if s != known {
            feed.signals(pid, now, s)?;
        }
    }
    judged.retain(|pid, _| feed.model.get(*pid).is_some());
    Ok(())
}

/// The task iterator's records, each init's signalfd masks added from
/// /proc/PID/fdinfo (the iterator does not walk file tables); a refusal is
/// said once, and the dispositions then come from /proc alone (no handler
/// flags) until a process changes them.
fn sigstate_records(
    at_start: std::result::Result<Vec<Vec<u8>>, crate::probe::sigstate::IterError>,
) -> Vec<Vec<u8>> {
    let mut records = match at_start {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "nstrace: warning: {}; the signal dispositions of processes that exist at start come from /proc (no handler flags) until they change them",
                crate::error::chain(&e)
            );
            return Vec::new();
        }
    };
    let size = std::mem::size_of::<nstrace_common::SigStateEvent>();
    for raw in &mut records {
        let Ok(Event::SigState(mut e)) = crate::event::decode(raw) else {
            continue;
        };
        let fds = snapshot::signalfd_masks(e.hdr.tgid);
        if fds != 0 {
            e.taken |= fds;
            let bytes = crate::event::as_bytes(&e);
            raw[..size].copy_from_slice(bytes);
        }
    }
    records
}

/// One raw record from the ring buffer through the feed.
fn ingest(
    feed: &mut Feed<'_>,
    reads: &mut LiveReads,
    net: &mut NetSource,
    raw: &[u8],
) -> Result<Flow> {
    let Some(ev) = feed.decode(raw) else {
        return Ok(Flow::Continue);
    };
    if !feed.admit(&ev) {
        return Ok(Flow::Continue);
    }
    if let Event::Setns(e) = &ev {
        // `ip netns add` makes no event: look for new nsfs bind mounts before
        // the join is classified (recorded, so a replay agrees), only when the
        // join goes somewhere neither the node nor a known pin is.
        if feed.needs.model && joins_unknown_place(&feed.model, e) {
            let pins = snapshot::refresh_mount_pins(&feed.model.pinned);
            if pins != feed.model.pinned {
                feed.pinned(pins)?;
            }
        }
    }
    if let Event::Bind(b) = &ev {
        // Who holds the port, looked up before the clash is judged (recorded,
        // so a replay agrees), while the holder still holds it.
        if b.ret != 0 && feed.needs.net != NetNeeds::Off && feed.needs.model {
            if let Some(h) = net.holders_after(&ev, &feed.model) {
                feed.port_holders(h)?;
            }
        }
    }
    let flow = feed.event(&ev)?;
    if feed.needs.net == NetNeeds::Wiring || feed.recording() {
        net.on_event(&ev);
    }
    if feed.wants_proc() {
        if let Some(pid) = wants_enrichment(&feed.meta.node_ns, &ev) {
            // Once per container, after its first exec: the runtime's files
            // name it, found by the cgroup the exec carries (its process may
            // be gone already), or else by the one /proc gives.
            if let Event::Exec(e) = &ev {
                reads.name(feed, &crate::event::exec_cgroup(e))?;
            }
            let (node, host) = (feed.meta.node_ns, &feed.meta.hostname);
            if let Some(e) = snapshot::enrichment(pid, &node, host) {
                reads.name(feed, &e.cgroup)?;
                feed.enrich(e)?;
            }
        }
    }
    Ok(flow)
}

/// Records taken from the ring buffer before the loop looks at its other
/// inputs again (stop signals, ticks; the agent's HTTP runs on its own
/// thread): a few milliseconds of work, so a storm cannot hold the loop.
pub const DRAIN_BATCH: usize = 2048;

/// No record is smaller (an event header alone is larger, with the ring's own 8).
const MIN_RECORD_BYTES: usize = 64;

/// Batches drained at the end of a trace: as many records as the ring buffer
/// can hold, so what the kernel wrote before the stop is taken, and a storm
/// that goes on cannot keep the stop waiting.
fn final_batches(ring_buffer_size: u32) -> usize {
    (ring_buffer_size as usize / MIN_RECORD_BYTES).div_ceil(DRAIN_BATCH)
}

/// Hands up to `DRAIN_BATCH` waiting records to the feed: the flow, and
/// whether more were waiting.
fn drain(
    rb: &mut RingBuf<MapData>,
    feed: &mut Feed<'_>,
    reads: &mut LiveReads,
    net: &mut NetSource,
) -> Result<(Flow, bool)> {
    let mut taken = 0;
    while taken < DRAIN_BATCH {
        let Some(item) = rb.next() else {
            break;
        };
        taken += 1;
        if ingest(feed, reads, net, &item)? == Flow::Stop {
            return Ok((Flow::Stop, false));
        }
    }
    feed.drained();
    let more = taken == DRAIN_BATCH;
    if taken > 0 {
        return Ok((feed.batch_done()?, more));
    }
    Ok((Flow::Continue, more))
}

/// Runs until a stop condition; drains what the kernel already wrote before
/// returning. `false` when the consumer stopped it.
async fn drive(
    probes: &mut Probes,
    stops: &mut Stops,
    opts: &LiveOptions,
    feed: &mut Feed<'_>,
    reads: &mut LiveReads,
    net: &mut NetSource,
) -> Result<bool> {
    // SAFETY: the RingBuf owns its fd and is owned by the AsyncFd until both are dropped.
    let mut ring = unsafe { AsyncFd::register(probes.take_ring()?) }
        .map_err(|e| anyhow::anyhow!("watching the ring buffer: {e}"))?;
    eprintln!(
        "nstrace: tracing ({PROGRAM_COUNT} programs attached); Ctrl-C to stop, SIGUSR1 for counters"
    );
    let far = Duration::from_secs(1 << 40);
    let deadline = tokio::time::sleep(opts.duration.unwrap_or(far));
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(feed.needs.tick.unwrap_or(far));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    // The kernel wakes us only when enough data waits; this timer drains the
    // rest, so an event is shown at most DRAIN_EVERY late.
    let mut drain_timer = tokio::time::interval(DRAIN_EVERY);
    drain_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flow = Flow::Continue;
    // Records still waiting after a full batch: drained next, after the
    // runtime has had a look at signals and timers.
    let mut backlog = false;
    while flow == Flow::Continue {
        if backlog {
            tokio::task::yield_now().await;
        }
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                (flow, backlog) = drain(guard.get_inner_mut(), feed, reads, net)?;
                guard.clear_ready();
            }
            _ = std::future::ready(()), if backlog => {
                (flow, backlog) = drain(ring.get_mut(), feed, reads, net)?;
            }
            _ = drain_timer.tick() => {
                probes.flush_logs();
                (flow, backlog) = drain(ring.get_mut(), feed, reads, net)?;
            }
            _ = ticker.tick(), if feed.needs.tick.is_some() => {
                feed.counters(&probes.totals(&feed.user));
                flow = tick(feed, reads, net)?;
            }
            _ = stops.int.recv() => break,
            _ = stops.term.recv() => break,
            _ = stops.hup.recv() => break,
            _ = &mut deadline => break,
            _ = stops.usr1.recv() => {
                feed.report();
                eprintln!("{}", probes.totals(&feed.user));
            }
        }
    }
    for _ in 0..final_batches(opts.ring_buffer_size) {
        if flow != Flow::Continue {
            break;
        }
        let more;
        (flow, more) = drain(ring.get_mut(), feed, reads, net)?;
        if !more {
            break;
        }
    }
    Ok(flow == Flow::Continue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_drain_covers_a_full_ring_and_no_more() {
        // 8 MiB of the smallest records: 131,072, in 64 batches.
        assert_eq!(final_batches(8 << 20), 64);
        assert_eq!(final_batches(4096), 1);
        assert!(final_batches(8 << 20) * DRAIN_BATCH * MIN_RECORD_BYTES >= 8 << 20);
    }
}
