//! The live event loop shared by every tracing command: read the ring
//! buffer until Ctrl-C, SIGTERM, the deadline, or the consumer says stop.

use std::time::Duration;

use anyhow::Result;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{signal, SignalKind};

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
    /// Every `tick` (re-render, rescan).
    fn tick(&mut self) -> Result<()> {
        Ok(())
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

/// Runs until a stop condition; drains what the kernel already wrote before returning.
pub async fn drive(
    probes: &mut Probes,
    duration: Option<Duration>,
    tick: Option<Duration>,
    c: &mut dyn Consumer,
) -> Result<()> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigusr1 = signal(SignalKind::user_defined1())?;
    // SAFETY: the RingBuf owns its fd and is owned by the AsyncFd until both are dropped.
    let mut ring = unsafe { AsyncFd::register(probes.take_ring()?) }
        .map_err(|e| anyhow::anyhow!("watching the ring buffer: {e}"))?;
    eprintln!("nstrace: tracing ({PROGRAM_COUNT} programs attached); Ctrl-C to stop, SIGUSR1 for counters");
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
            _ = ticker.tick() => c.tick()?,
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = &mut deadline => break,
            _ = sigusr1.recv() => c.report(probes),
        }
    }
    if open {
        drain_ring(ring.get_mut(), c)?;
    }
    Ok(())
}
