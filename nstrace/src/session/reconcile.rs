//! Reconciliation: the model checked against /proc, so that a witness the
//! model missed (a lost event) cannot leave a ghost behind for ever.
//!
//! The model learns that a process is gone from the kernel's own witnesses
//! (its reaper's wait, the free of the task, its PID namespace's init
//! released; see [`crate::model::Witness`]). Each can be lost: a full ring
//! buffer drops records (counted), and on some kernels a program does not
//! run at all in some contexts (on this project's machines no program runs
//! while the sandbox supervisor's thread is current, which loses the
//! `sched_process_free` of tasks freed in softirq on top of it). So every
//! [`EVERY`] the collector lists /proc once and reads `/proc/PID/stat` of
//! the model's zombies and of the processes /proc no longer lists, for
//! processes the model has known for at least [`BOUND`]. A process found
//! wrong twice in a row (one sweep apart, so events still in the ring
//! buffer are taken first) is corrected: a [`Correction`], recorded,
//! counted by reason and applied like any other input.
//!
//! Cost: one `getdents` walk of /proc per sweep, plus one stat read per
//! model zombie and per missing process (a few microseconds each).

use std::collections::{HashMap, HashSet};

use crate::model::{Correction, Drift, Model, Process};
use crate::procfs;

/// How often the model is checked against /proc.
pub const EVERY_NS: u64 = 5_000_000_000;

/// How long the model must have believed a process alive (since its start)
/// or a zombie (since its exit) before it is checked.
pub const BOUND_NS: u64 = 5_000_000_000;

/// What /proc says of one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not listed: the pid is free.
    Gone,
    /// A process at that pid, started at `start_ns`, a zombie or not.
    There {
        /// Its start, as /proc gives it (ns since boot).
        start_ns: u64,
        /// State `Z`.
        zombie: bool,
    },
}

/// How far a /proc start time may be from the model's for one process: two
/// clock ticks (/proc counts in ticks).
pub fn tolerance_ns() -> u64 {
    2 * 1_000_000_000 / procfs::clock_ticks()
}

/// What, if anything, the model has wrong about `p` given what /proc shows:
/// the drift and whether the process is still there as a zombie.
pub fn judge(p: &Process, seen: Seen, tolerance_ns: u64) -> Option<(Drift, bool)> {
    match seen {
        Seen::Gone if p.zombie => Some((Drift::ReapMissed, false)),
        Seen::Gone => Some((Drift::ExitMissed, false)),
        // Started later than the model's process: another one at a reused
        // pid (an earlier /proc start is the same process, which the model
        // first saw at an exec).
        Seen::There { start_ns, .. } if start_ns > p.start_ns + tolerance_ns => {
            Some((Drift::PidReused, false))
        }
        Seen::There { zombie: true, .. } if !p.zombie => Some((Drift::ExitMissed, true)),
        Seen::There { .. } => None,
    }
}

/// The reconciliation's state between sweeps.
#[derive(Debug, Default)]
pub struct Reconciler {
    last_ns: u64,
    /// Found wrong at the last sweep: pid → (its start in the model, drift, still a zombie).
    suspects: HashMap<u32, (u64, Drift, bool)>,
}

impl Reconciler {
    /// The corrections due at `now`: none between sweeps. `listed` gives the
    /// pids /proc lists (`None` when it could not be read: no sweep then),
    /// `stat` what /proc says of one pid.
    pub fn sweep(
        &mut self,
        m: &Model,
        now: u64,
        listed: impl FnOnce() -> Option<HashSet<u32>>,
        stat: impl Fn(u32) -> Seen,
    ) -> Vec<Correction> {
        if now < self.last_ns + EVERY_NS {
            return Vec::new();
        }
        self.last_ns = now;
        let Some(listed) = listed() else {
            return Vec::new();
        };
        let tolerance = tolerance_ns();
        let me = std::process::id();
        let mut suspects = HashMap::new();
        let mut out = Vec::new();
        for p in m.processes() {
            let since = if p.zombie { p.exit_ns } else { p.start_ns };
            if p.pid == me || now.saturating_sub(since) < BOUND_NS {
                continue;
            }
            if listed.contains(&p.pid) && !p.zombie {
                continue;
            }
            let seen = if listed.contains(&p.pid) {
                stat(p.pid)
            } else {
                Seen::Gone
            };
            let Some((drift, still_zombie)) = judge(p, seen, tolerance) else {
                continue;
            };
            let found = (p.start_ns, drift, still_zombie);
            if self.suspects.get(&p.pid) == Some(&found) {
                out.push(Correction {
                    pid: p.pid,
                    start_ns: p.start_ns,
                    seen_ns: now,
                    drift,
                    still_zombie,
                });
            } else {
                suspects.insert(p.pid, found);
            }
        }
        self.suspects = suspects;
        out
    }
}

/// The pids /proc lists now; `None` if /proc cannot be read.
pub fn listed_pids() -> Option<HashSet<u32>> {
    let dir = std::fs::read_dir("/proc").ok()?;
    Some(
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
    )
}

/// What /proc says of `pid` now.
pub fn stat_now(pid: u32) -> Seen {
    match procfs::stat_of(pid) {
        None => Seen::Gone,
        Some(s) => Seen::There {
            start_ns: s.start_ticks.map_or(0, procfs::ticks_to_ns),
            zombie: s.state == 'Z',
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{exit, fork, node};

    const S: u64 = 1_000_000_000;

    fn model() -> Model {
        let mut m = Model::new(node(), "node");
        m.apply(&fork(10, 1, S, node(), "sleep")); // a zombie whose reap is lost
        m.apply(&exit(10, 2 * S, 0));
        m.apply(&fork(11, 1, S, node(), "sh")); // alive, exit lost
        m.apply(&fork(12, 1, S, node(), "tini")); // alive and well
        m.apply(&fork(13, 1, S, node(), "old")); // a zombie whose pid is now someone else's
        m.apply(&exit(13, 2 * S, 0));
        m.apply(&fork(14, 1, 30 * S, node(), "young")); // too young to judge
        m
    }

    fn proc_now(pid: u32) -> Seen {
        match pid {
            12 => Seen::There {
                start_ns: S,
                zombie: false,
            },
            13 => Seen::There {
                start_ns: 20 * S,
                zombie: false,
            },
            _ => Seen::Gone,
        }
    }

    fn listed() -> Option<HashSet<u32>> {
        Some([12, 13].into_iter().collect())
    }

    #[test]
    fn judges_gone_reused_and_missed_exits() {
        let m = model();
        let t = tolerance_ns();
        let zombie = m.get(10).unwrap();
        assert_eq!(
            judge(zombie, Seen::Gone, t),
            Some((Drift::ReapMissed, false))
        );
        let alive = m.get(11).unwrap();
        assert_eq!(
            judge(alive, Seen::Gone, t),
            Some((Drift::ExitMissed, false))
        );
        let dead_now = Seen::There {
            start_ns: S,
            zombie: true,
        };
        assert_eq!(judge(alive, dead_now, t), Some((Drift::ExitMissed, true)));
        assert_eq!(judge(m.get(12).unwrap(), proc_now(12), t), None);
        assert_eq!(
            judge(m.get(13).unwrap(), proc_now(13), t),
            Some((Drift::PidReused, false))
        );
        // A running process at a reused pid is not looked at (only zombies
        // and pids /proc no longer lists are), but judged it would be too.
        assert_eq!(
            judge(m.get(12).unwrap(), proc_now(13), t),
            Some((Drift::PidReused, false))
        );
        // A process first seen at an exec: /proc's earlier start is its own.
        let earlier = Seen::There {
            start_ns: S / 2,
            zombie: false,
        };
        assert_eq!(judge(m.get(12).unwrap(), earlier, t), None);
    }

    #[test]
    fn corrects_only_what_two_sweeps_in_a_row_find_wrong() {
        let m = model();
        let mut r = Reconciler::default();
        let now = 31 * S;
        assert!(
            r.sweep(&m, now, listed, proc_now).is_empty(),
            "the first sighting only makes suspects"
        );
        assert!(
            r.sweep(&m, now + S, listed, proc_now).is_empty(),
            "no sweep before EVERY_NS"
        );
        let mut c = r.sweep(&m, now + EVERY_NS, listed, proc_now);
        c.sort_by_key(|c| c.pid);
        let got: Vec<(u32, Drift)> = c.iter().map(|c| (c.pid, c.drift)).collect();
        assert_eq!(
            got,
            vec![
                (10, Drift::ReapMissed),
                (11, Drift::ExitMissed),
                (13, Drift::PidReused)
            ],
            "the young one and the one /proc agrees with are left alone"
        );
        assert!(c
            .iter()
            .all(|c| !c.still_zombie && c.seen_ns == now + EVERY_NS));
    }

    #[test]
    fn an_event_that_arrives_between_sweeps_clears_the_suspicion() {
        let mut m = model();
        let mut r = Reconciler::default();
        let now = 31 * S;
        r.sweep(&m, now, listed, proc_now);
        // The exit of 11 arrives late: now a zombie, a different suspicion.
        m.apply(&exit(11, now + 1, 0));
        let c = r.sweep(&m, now + EVERY_NS, listed, proc_now);
        assert!(c.iter().all(|c| c.pid != 11), "{c:?}");
    }

    #[test]
    fn no_sweep_without_a_listing() {
        let m = model();
        let mut r = Reconciler::default();
        for k in 0..3 {
            let c = r.sweep(&m, 31 * S + k * EVERY_NS, || None, proc_now);
            assert!(c.is_empty(), "an unreadable /proc is not an empty one");
        }
    }
}
