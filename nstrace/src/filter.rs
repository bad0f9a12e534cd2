//! Which events `watch` and `replay` show: by process tree, comm, kind and signal.

use std::collections::HashSet;

use nstrace_common::Kind;

use crate::event::names::CLONE_THREAD;
use crate::event::{cstr, Event};

/// Event filter; every given criterion must hold.
#[derive(Debug, Default)]
pub struct Filter {
    /// Processes followed (the --pid roots and their descendants); `None` = all.
    pub pids: Option<HashSet<u32>>,
    /// Accepted command names; empty = all.
    pub comms: Vec<String>,
    /// Accepted kinds; `None` = all.
    pub kinds: Option<HashSet<Kind>>,
    /// Accepted signals as a bit mask (signal events only); `None` = all.
    pub signals: Option<u64>,
    /// Followed processes that exited: their reap takes them out of `pids`
    /// (not before: the reap of an older process with a reused pid must not).
    pub exited: HashSet<u32>,
}

impl Filter {
    /// Whether `ev` is shown. Creation events also extend the followed tree.
    pub fn matches(&mut self, ev: &Event) -> bool {
        let h = ev.header();
        if let Some(pids) = &mut self.pids {
            if let Event::Create(c) = ev {
                if c.clone_flags & CLONE_THREAD == 0
                    && (pids.contains(&c.creator_tgid) || pids.contains(&h.ppid))
                {
                    pids.insert(h.tgid);
                }
            }
            let target = match ev {
                Event::SignalGenerate(s) => pids.contains(&s.target_tgid),
                Event::Reap(r) => pids.contains(&r.hdr.ppid),
                _ => false,
            };
            if !pids.contains(&h.tgid) && !target {
                return false;
            }
            // Keep the followed set to the living tree (pids are reused).
            match ev {
                Event::Exit(e) if e.group_dead != 0 => {
                    self.exited.insert(h.tgid);
                }
                Event::Reap(_) if h.tid == h.tgid && self.exited.remove(&h.tgid) => {
                    pids.remove(&h.tgid);
                }
                _ => {}
            }
        }
        if let Some(kinds) = &self.kinds {
            if !kinds.contains(&ev.kind()) {
                return false;
            }
        }
        if let Some(mask) = self.signals {
            let sig = match ev {
                Event::SignalGenerate(s) => Some(s.sig),
                Event::SignalDeliver(s) => Some(s.sig),
                _ => None,
            };
            if let Some(sig) = sig {
                if sig >= 64 || mask & (1 << sig) == 0 {
                    return false;
                }
            }
        }
        if !self.comms.is_empty() {
            let comm = cstr(&h.comm);
            let target = match ev {
                Event::SignalGenerate(s) => Some(cstr(&s.target_comm)),
                Event::Rename(r) => Some(cstr(&r.new_comm)),
                _ => None,
            };
            let hit = self
                .comms
                .iter()
                .any(|c| *c == comm || target.as_deref().is_some_and(|t| t == c));
            if !hit {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nstrace_common::{CreateEvent, ExitEvent, Header, ReapEvent, SignalGenerateEvent};

    fn hdr(kind: Kind, tgid: u32, ppid: u32, comm: &str) -> Header {
        let mut c = [0u8; 16];
        c[..comm.len()].copy_from_slice(comm.as_bytes());
        Header {
            kind: kind as u16,
            tgid,
            tid: tgid,
            ppid,
            comm: c,
            ..Header::default()
        }
    }

    fn exit(tgid: u32, comm: &str) -> Event {
        Event::Exit(ExitEvent {
            hdr: hdr(Kind::Exit, tgid, 1, comm),
            exit_code: 0,
            group_dead: 1,
        })
    }

    #[test]
    fn pid_filter_follows_descendants_but_not_threads_of_others() {
        let mut f = Filter {
            pids: Some([100].into_iter().collect()),
            ..Filter::default()
        };
        assert!(!f.matches(&exit(200, "x")));
        let child = Event::Create(CreateEvent {
            hdr: hdr(Kind::Create, 101, 100, "sh"),
            creator_tgid: 100,
            creator_tid: 100,
            ..Default::default()
        });
        assert!(f.matches(&child));
        let grandchild = Event::Create(CreateEvent {
            hdr: hdr(Kind::Create, 102, 101, "sleep"),
            creator_tgid: 101,
            creator_tid: 101,
            ..Default::default()
        });
        assert!(f.matches(&grandchild));
        assert!(f.matches(&exit(102, "sleep")));
        assert!(!f.matches(&exit(103, "sleep")));
        // Once reaped, 102 leaves the followed set: a new process with its pid is not followed.
        let reap = Event::Reap(ReapEvent {
            hdr: hdr(Kind::Reap, 102, 101, "sleep"),
            ..Default::default()
        });
        assert!(f.matches(&reap));
        assert!(!f.matches(&exit(102, "other")));
    }

    #[test]
    fn signal_to_followed_process_is_shown() {
        let mut f = Filter {
            pids: Some([100].into_iter().collect()),
            ..Filter::default()
        };
        let sig = Event::SignalGenerate(SignalGenerateEvent {
            hdr: hdr(Kind::SignalGenerate, 5, 1, "kill"),
            sig: 15,
            target_tgid: 100,
            ..Default::default()
        });
        assert!(f.matches(&sig));
        let mut g = Filter {
            signals: Some(1 << 9),
            ..Filter::default()
        };
        assert!(!g.matches(&sig));
        assert!(
            g.matches(&exit(1, "a")),
            "non-signal events pass a signal filter"
        );
    }

    #[test]
    fn kind_and_comm() {
        let mut f = Filter {
            kinds: Some([Kind::Exit].into_iter().collect()),
            comms: vec!["sleep".into()],
            ..Filter::default()
        };
        assert!(f.matches(&exit(1, "sleep")));
        assert!(!f.matches(&exit(1, "sh")));
    }
}
