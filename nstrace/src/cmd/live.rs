//! The live event loop shared by every tracing command: read the ring
//! buffer until Ctrl-C, SIGTERM, the deadline, or the consumer says stop.

use std::time::Duration;

use anyhow::Result;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{signal, Signal, SignalKind};

use aya::maps::{MapData, RingBuf};

use crate::probe::{Probes, PROGRAM_COUNT};

/// What the loop calls back.
pub trait Consumer {
    /// One raw record; `Ok(false)` stops the loop (e.g. stdout closed).
    fn record(&mut self, raw: &[u8]) -> Result<bool>;
    /// After each batch of records (flush output).
    fn batch_done(&mut self) -> Result<bool> {
        Ok(true)
    }
    /// Every `tick` (re-render, rescan); `Ok(false)` stops the loop.
    fn tick(&mut self) -> Result<bool> {
        Ok(true)
    }
    /// SIGUSR1: print counters.
    fn report(&mut self, probes: &Probes);
}

/// How often the ring buffer is drained without a wakeup from the kernel.
pub const DRAIN_EVERY: Duration = Duration::from_millis(50);

/// Hands every waiting record to the consumer; `Ok(false)` when it says stop.
fn drain_ring(rb: &mut RingBuf<MapData>, c: &mut dyn Consumer) -> Result<bool> {
    let mut any = false;
    while let Some(item) = rb.next() {
        any = true;
        if !c.record(&item)? {
            return Ok(false);
        }
    }
    if any {
        return c.batch_done();
    }
    Ok(true)
}

/// The signals that stop a trace (SIGINT, SIGTERM, SIGHUP) or ask for the
/// counters (SIGUSR1). Installed first thing, so one that arrives while the
/// programs load still ends the run cleanly, with its counters.
pub struct Stops {
    int: Signal,
    term: Signal,
    hup: Signal,
    usr1: Signal,
}

impl Stops {
    /// Installs the handlers (needs the tokio runtime).
    pub fn install() -> Result<Stops> {
        Ok(Stops {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }
}

/// Runs until a stop condition; drains what the kernel already wrote before returning.
pub async fn drive(
    probes: &mut Probes,
    stops: &mut Stops,
    duration: Option<Duration>,
    tick: Option<Duration>,
    c: &mut dyn Consumer,
) -> Result<()> {
    // SAFETY: the RingBuf owns its fd and is owned by the AsyncFd until both are dropped.
    let mut ring = unsafe { AsyncFd::register(probes.take_ring()?) }
        .map_err(|e| anyhow::anyhow!("watching the ring buffer: {e}"))?;
    eprintln!(
        "nstrace: tracing ({PROGRAM_COUNT} programs attached); Ctrl-C to stop, SIGUSR1 for counters"
    );
    let far = Duration::from_secs(1 << 40);
    let deadline = tokio::time::sleep(duration.unwrap_or(far));
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(tick.unwrap_or(far));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    // The kernel wakes us only when 1/16 of the buffer waits; this timer
    // drains the rest, so an event is shown at most DRAIN_EVERY late.
    let mut drain = tokio::time::interval(DRAIN_EVERY);
    drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut open = true;
    while open {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                open = drain_ring(guard.get_inner_mut(), c)?;
                guard.clear_ready();
            }
            _ = drain.tick() => open = drain_ring(ring.get_mut(), c)?,
            _ = ticker.tick() => open = c.tick()?,
            _ = stops.int.recv() => break,
            _ = stops.term.recv() => break,
            _ = stops.hup.recv() => break,
            _ = &mut deadline => break,
            _ = stops.usr1.recv() => c.report(probes),
        }
    }
    if open {
        drain_ring(ring.get_mut(), c)?;
    }
    Ok(())
}
