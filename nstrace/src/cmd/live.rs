//! The live event loop shared by every tracing command: read the ring
//! buffer until Ctrl-C, SIGTERM, the deadline, or the consumer says stop.

use std::time::Duration;

use anyhow::Result;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{signal, SignalKind};

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
    let mut open = true;
    while open {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                let rb = guard.get_inner_mut();
                while let Some(item) = rb.next() {
                    if !c.record(&item)? {
                        open = false;
                        break;
                    }
                }
                guard.clear_ready();
                open = open && c.batch_done()?;
            }
            _ = ticker.tick() => c.tick()?,
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = &mut deadline => break,
            _ = sigusr1.recv() => c.report(probes),
        }
    }
    if open {
        let rb = ring.get_mut();
        while let Some(item) = rb.next() {
            if !c.record(&item)? {
                break;
            }
        }
    }
    Ok(())
}
