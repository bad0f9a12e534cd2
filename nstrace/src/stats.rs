//! Counters of everything that was not streamed: ring-buffer drops, failed
//! kernel reads, filtered signals, records userspace could not decode.

use std::fmt;

use nstrace_common::{counter, Kind, KIND_SLOTS};

use crate::event::names::signal_name;

/// Highest signal number counted.
pub const MAX_SIG: usize = 64;

/// Totals over all CPUs, plus what userspace itself lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Events the kernel could not reserve ring-buffer space for, per kind value.
    pub drops: [u64; KIND_SLOTS],
    /// Kernel reads that failed (events still sent, flagged).
    pub read_failures: u64,
    /// setns/unshare exits whose entry was not seen.
    pub unpaired_exits: u64,
    /// Signals generated but not streamed, per signal number.
    pub signals_filtered: [u64; MAX_SIG + 1],
    /// Records userspace could not decode (unknown kind or bad size).
    pub undecodable: u64,
    /// Events received from the kernel.
    pub received: u64,
    /// Container names looked up in the runtime's files: found, no file,
    /// unreadable, garbled (see `runtime::Lookup`).
    pub names: [u64; 4],
    /// Signal dispositions of container inits read from /proc to judge them.
    pub signal_reads: u64,
    /// Network namespaces read, reads that failed, port-holder lookups after
    /// a refused bind (see `session::network`).
    pub net: [u64; 3],
    /// Corrections of the model from /proc, per reason (`model::Drift::ALL` order).
    pub corrections: [u64; 3],
    /// Processes released because their PID namespace's init was released
    /// before their own reap was seen.
    pub pid_ns_releases: u64,
}

/// [`Stats::net`] slots.
pub mod net {
    /// Namespaces read.
    pub const READS: usize = 0;
    /// Reads or lookups that failed.
    pub const FAILED: usize = 1;
    /// Port-holder lookups.
    pub const LOOKUPS: usize = 2;
}

/// [`Stats::names`] slots.
pub mod names {
    /// Names found.
    pub const FOUND: usize = 0;
    /// No bundle under any root.
    pub const MISSING: usize = 1;
    /// A file that could not be read.
    pub const UNREADABLE: usize = 2;
    /// A file that is not what the runtime writes.
    pub const GARBLED: usize = 3;
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            drops: [0; KIND_SLOTS],
            read_failures: 0,
            unpaired_exits: 0,
            signals_filtered: [0; MAX_SIG + 1],
            undecodable: 0,
            received: 0,
            names: [0; 4],
            signal_reads: 0,
            net: [0; 3],
            corrections: [0; 3],
            pid_ns_releases: 0,
        }
    }
}

impl Stats {
    /// Builds totals from the summed per-CPU `COUNTERS` slots.
    pub fn from_slots(slots: &[u64]) -> Stats {
        let get = |i: u32| slots.get(i as usize).copied().unwrap_or(0);
        let mut s = Stats::default();
        for (k, d) in s.drops.iter_mut().enumerate() {
            *d = get(counter::DROPS + k as u32);
        }
        s.read_failures = get(counter::READ_FAILURES);
        s.unpaired_exits = get(counter::UNPAIRED_EXITS);
        for (sig, c) in s.signals_filtered.iter_mut().enumerate() {
            *c = get(counter::SIGNALS_FILTERED + sig as u32);
        }
        s
    }

    /// Total ring-buffer drops.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    fn fields(&self) -> impl Iterator<Item = u64> + '_ {
        self.drops
            .iter()
            .copied()
            .chain([self.read_failures, self.unpaired_exits])
            .chain(self.signals_filtered.iter().copied())
            .chain([self.undecodable, self.received])
            .chain(self.names.iter().copied())
            .chain([self.signal_reads])
            .chain(self.net.iter().copied())
            .chain(self.corrections.iter().copied())
            .chain([self.pid_ns_releases])
    }

    /// Total corrections of the model.
    pub fn total_corrections(&self) -> u64 {
        self.corrections.iter().sum()
    }

    /// Serialises as little-endian u64s (count first) for the record file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.fields().count() as u64;
        let mut out = n.to_le_bytes().to_vec();
        for v in self.fields() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Parses what `to_bytes` wrote (also an older build's shorter list:
    /// counters it did not have are zero); `None` if the layout does not match.
    pub fn from_bytes(b: &[u8]) -> Option<Stats> {
        let mut words = b
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        if !b.len().is_multiple_of(8) {
            return None;
        }
        let n = words.next()? as usize;
        let mut s = Stats::default();
        // The first build that wrote counters wrote up to `received`; later
        // ones added the name counters (4), signal_reads (1), the network
        // ones (3), the corrections (3) and pid_ns_releases (1).
        let oldest = s.fields().count() - s.names.len() - 1 - s.net.len() - s.corrections.len() - 1;
        if n < oldest || n > s.fields().count() || b.len() != (n + 1) * 8 {
            return None;
        }
        for d in s.drops.iter_mut() {
            *d = words.next()?;
        }
        s.read_failures = words.next()?;
        s.unpaired_exits = words.next()?;
        for c in s.signals_filtered.iter_mut() {
            *c = words.next()?;
        }
        s.undecodable = words.next()?;
        s.received = words.next()?;
        let mut later = s
            .names
            .iter_mut()
            .chain(std::iter::once(&mut s.signal_reads))
            .chain(s.net.iter_mut())
            .chain(s.corrections.iter_mut())
            .chain(std::iter::once(&mut s.pid_ns_releases))
            .take(n - oldest);
        for c in &mut later {
            *c = words.next()?;
        }
        Some(s)
    }
}

impl fmt::Display for Stats {
    /// A short human summary, one line per concern.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nstrace: {} events received", self.received)?;
        let drops = self.total_drops();
        write!(f, "; {drops} dropped (ring buffer full)")?;
        if drops > 0 {
            let per: Vec<String> = Kind::ALL
                .iter()
                .filter(|k| self.drops[**k as usize] > 0)
                .map(|k| format!("{}={}", k.name(), self.drops[*k as usize]))
                .collect();
            write!(f, " [{}]", per.join(" "))?;
        }
        write!(
            f,
            "; {} failed kernel reads; {} undecodable",
            self.read_failures, self.undecodable
        )?;
        if self.unpaired_exits > 0 {
            write!(
                f,
                "; {} setns/unshare calls begun before attach",
                self.unpaired_exits
            )?;
        }
        let filtered: Vec<String> = self
            .signals_filtered
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(sig, c)| format!("{}={c}", signal_name(sig as u32)))
            .collect();
        if !filtered.is_empty() {
            write!(f, "; signals counted, not streamed: {}", filtered.join(" "))?;
        }
        if self.names.iter().any(|n| *n > 0) {
            write!(
                f,
                "; container names: {} read, {} without runtime files, {} unreadable, {} garbled",
                self.names[names::FOUND],
                self.names[names::MISSING],
                self.names[names::UNREADABLE],
                self.names[names::GARBLED]
            )?;
        }
        if self.signal_reads > 0 {
            write!(
                f,
                "; {} signal-state reads of container inits",
                self.signal_reads
            )?;
        }
        if self.net.iter().any(|n| *n > 0) {
            write!(
                f,
                "; network namespaces: {} read, {} failed, {} port-holder lookups",
                self.net[net::READS],
                self.net[net::FAILED],
                self.net[net::LOOKUPS]
            )?;
        }
        if self.total_corrections() > 0 || self.pid_ns_releases > 0 {
            let per: Vec<String> = crate::model::Drift::ALL
                .iter()
                .filter(|d| self.corrections[d.slot()] > 0)
                .map(|d| format!("{}={}", d.name(), self.corrections[d.slot()]))
                .collect();
            write!(
                f,
                "; model corrected from /proc {} time(s) [{}], {} process(es) released with their PID namespace",
                self.total_corrections(),
                per.join(" "),
                self.pid_ns_releases
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_map_to_fields() {
        let mut slots = vec![0u64; counter::SLOTS as usize];
        slots[(counter::DROPS + Kind::Exit as u32) as usize] = 5;
        slots[counter::READ_FAILURES as usize] = 2;
        slots[(counter::SIGNALS_FILTERED + 17) as usize] = 40;
        let s = Stats::from_slots(&slots);
        assert_eq!(s.drops[Kind::Exit as usize], 5);
        assert_eq!(s.total_drops(), 5);
        assert_eq!(s.read_failures, 2);
        assert_eq!(s.signals_filtered[17], 40);
        let text = s.to_string();
        assert!(text.contains("5 dropped"), "{text}");
        assert!(text.contains("exit=5"), "{text}");
        assert!(text.contains("CHLD=40"), "{text}");
    }

    #[test]
    fn bytes_round_trip_and_reject_garbage() {
        let mut s = Stats {
            received: 99,
            undecodable: 1,
            ..Stats::default()
        };
        s.signals_filtered[64] = 3;
        assert_eq!(Stats::from_bytes(&s.to_bytes()), Some(s.clone()));
        let b = s.to_bytes();
        assert_eq!(Stats::from_bytes(&b[..b.len() - 8]), None);
        assert_eq!(Stats::from_bytes(&b[..b.len() - 1]), None);
        assert_eq!(Stats::from_bytes(&[]), None);
        // A recording from before the name counters still reads.
        let mut older = s.clone();
        older.names = [0; 4];
        older.signal_reads = 0;
        older.net = [0; 3];
        let mut b = older.to_bytes();
        b.truncate(b.len() - 96);
        let n = (b.len() / 8 - 1) as u64;
        b[..8].copy_from_slice(&n.to_le_bytes());
        assert_eq!(Stats::from_bytes(&b), Some(older));
    }
}
