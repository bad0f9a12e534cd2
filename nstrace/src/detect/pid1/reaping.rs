//! `pid1_never_reaps`: a namespace's init, or a child subreaper, that leaves
//! its zombies unreaped.
//!
//! Kernel facts used: orphans are reparented to the nearest
//! PR_SET_CHILD_SUBREAPER ancestor in the namespace, else to its init
//! (kernel/exit.c `find_new_reaper()`, v6.18), so a zombie whose parent at exit
//! is not its creator was reparented; a child stays a zombie until its parent
//! waits, unless the parent set SIGCHLD to SIG_IGN or SA_NOCLDWAIT
//! (kernel/signal.c `do_notify_parent()`, v6.18).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::Config;
use crate::detect::{Evidence, Finding, FindingKind, Severity};
use crate::event::names::CLONE_THREAD;
use crate::event::{cstr, Event};
use crate::model::{Disposition, Model, Outlook};

/// Evidence of `pid1_never_reaps`: the zombies a reaper leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreaped {
    /// Whether the reaper is a PID-namespace init (else a child subreaper).
    pub init: bool,
    /// The zombies, by pid.
    pub zombies: Vec<ZombieFact>,
    /// Whether the reaper ever called wait4/waitid.
    pub waited: bool,
    /// The `--zombie-after` threshold (ns).
    pub threshold_ns: u64,
    /// What the reaper does with SIGCHLD.
    pub chld: Disposition,
    /// Whether it is told of its children's exits and can reap (an init
    /// program, or SIGCHLD handled or waited for): then it is only judged
    /// after it ran again and still did not wait for them.
    pub capable: bool,
}

/// One lasting zombie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZombieFact {
    /// Its pid.
    pub pid: u32,
    /// Its command.
    pub comm: String,
    /// How long since it exited (or, for one found at start, since it was seen).
    pub age_ns: u64,
    /// Its wait status.
    pub code: u32,
    /// Reparented to the reaper (not the reaper's own child).
    pub orphan: bool,
    /// Already a zombie when tracing started (exit time and origin unknown).
    pub at_start: bool,
}

#[derive(Clone, Debug)]
struct Zombie {
    comm: String,
    /// When it exited (or, for one found at start, when it was first seen).
    exit_ns: u64,
    code: u32,
    parent: u32,
    orphan: bool,
    /// Its own PID namespace.
    pid_ns: u32,
    /// Its pid there (what its parent's wait4 names it by).
    ns_pid: u32,
    /// Already a zombie when tracing started (exit time and origin unknown).
    at_start: bool,
    /// Its parent waited in a way that reaps it since it exited: the reap
    /// is under way (the kernel reports it a grace period later).
    claimed: bool,
}

/// `waitid`'s WNOWAIT: leave the child a zombie.
const WNOWAIT: u32 = 0x0100_0000;

/// Whether a wait call could reap the child that is `ns_pid` in the
/// caller's PID namespace (any child, a process group, or that pid).
fn wait_may_reap(w: &nstrace_common::WaitEvent, ns_pid: u32) -> bool {
    if w.syscall == nstrace_common::WAIT_WAITID {
        return w.options & WNOWAIT == 0
            && match w.idtype {
                1 => w.pid as u32 == ns_pid, // P_PID
                _ => true,                   // P_ALL, P_PGID, P_PIDFD
            };
    }
    w.pid <= 0 || w.pid as u32 == ns_pid
}

/// The reaping detector.
#[derive(Debug, Default)]
pub struct Reaping {
    zombie_after_ns: u64,
    node_pid_ns: u32,
    creators: HashMap<u32, u32>,
    zombies: BTreeMap<u32, Zombie>,
    waited: HashSet<u32>,
    reported: HashSet<u32>,
    /// Zombie parents: when each last did anything (0: nothing since).
    active: HashMap<u32, u64>,
    last_ns: u64,
}

impl Reaping {
    /// A detector for a node whose own PID namespace is `node_pid_ns`.
    pub fn new(cfg: Config, node_pid_ns: u32) -> Reaping {
        Reaping {
            zombie_after_ns: cfg.zombie_after_ns,
            node_pid_ns,
            ..Reaping::default()
        }
    }

    /// Takes one snapshot process, if it is a zombie: its exit is before
    /// tracing, so its age counts from when it was seen.
    pub fn seed_one(&mut self, p: &crate::model::Process) {
        if p.zombie {
            self.zombies.entry(p.pid).or_insert(Zombie {
                comm: p.comm.clone(),
                exit_ns: p.seen_ns,
                code: 0,
                parent: p.ppid,
                orphan: false,
                pid_ns: p.ns.pid,
                ns_pid: p.ns_pid,
                at_start: true,
                claimed: false,
            });
            self.active.entry(p.ppid).or_insert(0);
        }
    }

    /// Lasting zombies (older than `--zombie-after` now) per PID namespace
    /// inode they live in: the live count.
    pub fn zombie_counts(&self) -> BTreeMap<u32, usize> {
        let mut out = BTreeMap::new();
        for z in self.zombies.values() {
            // The node's own zombies belong to its init system, not to a container.
            if z.pid_ns == self.node_pid_ns {
                continue;
            }
            if self.last_ns.saturating_sub(z.exit_ns) >= self.zombie_after_ns {
                *out.entry(z.pid_ns).or_insert(0) += 1;
            }
        }
        out
    }

    /// Feeds one event (after the model has applied it).
    pub fn on_event(&mut self, ev: &Event) {
        let h = ev.header();
        self.last_ns = self.last_ns.max(h.ts_ns);
        if let Some(at) = self.active.get_mut(&h.tgid) {
            *at = h.ts_ns;
        }
        match ev {
            Event::Create(c) if c.clone_flags & CLONE_THREAD == 0 => {
                self.creators.insert(h.tgid, c.creator_tgid);
                // A reused pid is a new process.
                self.zombies.remove(&h.tgid);
            }
            Event::Wait(w) => {
                self.waited.insert(h.tgid);
                for z in self.zombies.values_mut() {
                    if z.parent == h.tgid && z.exit_ns <= h.ts_ns && wait_may_reap(w, z.ns_pid) {
                        z.claimed = true;
                    }
                }
            }
            // A new program: what the old one did (its waits) says nothing about it.
            Event::Exec(_) => {
                self.waited.remove(&h.tgid);
            }
            Event::Exit(e) if e.group_dead != 0 => {
                let parent = h.ppid;
                if parent != 0 {
                    let orphan = self.creators.get(&h.tgid).is_some_and(|c| *c != parent);
                    self.zombies.insert(
                        h.tgid,
                        Zombie {
                            comm: cstr(&h.comm).into_owned(),
                            exit_ns: h.ts_ns,
                            code: e.exit_code,
                            parent,
                            orphan,
                            pid_ns: h.ns.pid,
                            ns_pid: h.ns_tgid,
                            at_start: false,
                            claimed: false,
                        },
                    );
                    // Its parent's activity is watched from now on.
                    self.active.entry(parent).or_insert(0);
                }
            }
            _ => {}
        }
    }

    /// Forgets process `pid` (it left the model).
    pub fn forget(&mut self, pid: u32) {
        self.active.remove(&pid);
        self.zombies.remove(&pid);
        self.creators.remove(&pid);
        self.waited.remove(&pid);
        self.reported.remove(&pid);
    }

    /// Zombies older than the threshold that their parent has not waited
    /// for, grouped by the parent that should reap them.
    pub fn on_tick(&mut self, now_ns: u64, m: &Model, out: &mut Vec<Finding>) {
        self.last_ns = self.last_ns.max(now_ns);
        // Only zombies the model still holds exist: one it released without
        // this detector seeing why (a correction of a lost event) is gone.
        self.zombies
            .retain(|pid, _| m.get(*pid).is_some_and(|p| p.zombie));
        let mut by_parent: BTreeMap<u32, Vec<(u32, &Zombie)>> = BTreeMap::new();
        for (pid, z) in &self.zombies {
            if !z.claimed && now_ns.saturating_sub(z.exit_ns) >= self.zombie_after_ns {
                by_parent.entry(z.parent).or_default().push((*pid, z));
            }
        }
        for (parent, mut zs) in by_parent {
            let init = m
                .get(parent)
                .is_some_and(|p| p.is_ns_init(self.node_pid_ns));
            // Orphans go to the nearest subreaper (a zombie found at start has
            // no known origin, so only its namespace's init is blamed for it).
            let subreaper = !init && zs.iter().any(|(_, z)| z.orphan);
            if !(init || subreaper) || self.reported.contains(&parent) {
                continue;
            }
            let Some(p) = m.get(parent) else { continue };
            // A reaper told of its children's exits (an init program, or
            // SIGCHLD handled or waited for) that has not run since they
            // exited is starved, not negligent: it is judged once it ran
            // again and still did not wait for them. One that is not told
            // (SIGCHLD default) is judged by age alone.
            let Outlook {
                chld,
                reaps: capable,
                ..
            } = p.pid1_outlook();
            if capable {
                let ran = self.active.get(&parent).copied().unwrap_or(0);
                zs.retain(|(_, z)| ran > z.exit_ns);
                if zs.is_empty() {
                    continue;
                }
            }
            let zombies = zs
                .iter()
                .map(|(pid, z)| ZombieFact {
                    pid: *pid,
                    comm: z.comm.clone(),
                    age_ns: now_ns - z.exit_ns,
                    code: z.code,
                    orphan: z.orphan,
                    at_start: z.at_start,
                })
                .collect();
            out.push(Finding {
                kind: FindingKind::Pid1NeverReaps,
                severity: Severity::Medium,
                ts_ns: now_ns,
                pid: parent,
                comm: p.comm.clone(),
                pid_ns: p.ns.pid,
                evidence: Evidence::Unreaped(Box::new(Unreaped {
                    init,
                    zombies,
                    waited: self.waited.contains(&parent),
                    threshold_ns: self.zombie_after_ns,
                    chld,
                    capable,
                })),
            });
            self.reported.insert(parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_that_cannot_reap_a_child() {
        let w = |syscall, pid, idtype, options| nstrace_common::WaitEvent {
            syscall,
            pid,
            idtype,
            options,
            ..Default::default()
        };
        use nstrace_common::{WAIT_WAIT4 as W4, WAIT_WAITID as WID};
        assert!(wait_may_reap(&w(W4, -1, 0, 0), 7));
        assert!(wait_may_reap(&w(W4, 7, 0, 0), 7));
        assert!(!wait_may_reap(&w(W4, 8, 0, 0), 7));
        assert!(wait_may_reap(&w(WID, 0, 0, 4), 7), "P_ALL");
        assert!(!wait_may_reap(&w(WID, 8, 1, 4), 7), "P_PID of another");
        assert!(
            !wait_may_reap(&w(WID, 0, 0, WNOWAIT | 4), 7),
            "WNOWAIT leaves it"
        );
    }
}
