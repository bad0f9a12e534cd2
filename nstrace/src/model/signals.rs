//! What a process does with each signal: its handler (caught), SIG_IGN, or
//! the default action. Read from /proc (SigCgt, SigIgn) and kept current
//! with events: exec resets every handler to the default (SIG_IGN survives),
//! and a delivery shows the handler in force.
//!
//! The kernel facts the model rests on, with where the kernel says them
//! (Linux v6.18; unchanged in substance since 5.10, the oldest kernel the
//! matrix boots):
//! * A PID namespace's init is `SIGNAL_UNKILLABLE`: kernel/fork.c
//!   `copy_process()` sets it when the new task is its namespace's child
//!   reaper (`is_child_reaper`).
//! * Such an init never gets a signal whose handler is SIG_DFL, unless it
//!   is SIGKILL/SIGSTOP from an ancestor namespace: kernel/signal.c
//!   `sig_task_ignored()` drops it **at generation** (`signal_generate`
//!   result 1, "ignored"), called through `sig_ignored()` from
//!   `prepare_signal()` in `__send_signal_locked()`.
//! * A blocked signal is never ignored at generation (kernel/signal.c
//!   `sig_ignored()`: `t->blocked` or `t->real_blocked` holds it), so it is
//!   queued, and `get_signal()` drops it **at delivery** when it is dequeued
//!   with SIG_DFL at an unkillable init (the `SIGNAL_UNKILLABLE &&
//!   !sig_kernel_only()` test after `sig_kernel_ignore()`).
//! * exec resets handlers to SIG_DFL and keeps SIG_IGN and the blocked mask:
//!   kernel/signal.c `flush_signal_handlers()`, called from fs/exec.c
//!   `begin_new_exec()`.
//! * `sigtimedwait` unblocks the signals it waits for while it sleeps, with
//!   the mask before it saved in `task->real_blocked`: kernel/signal.c
//!   `do_sigtimedwait()`; /proc's SigBlk shows only `blocked`.
//! * A handler installed with SA_RESETHAND (`SA_ONESHOT`) is reset to
//!   SIG_DFL as the signal is delivered: kernel/signal.c `get_signal()`.

/// How a process treats one signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// A handler is installed.
    Handled,
    /// SIG_IGN.
    Ignored,
    /// Blocked and waited for (signalfd, sigwait: tini, catatonit): queued, not dropped.
    Blocked,
    /// SIG_DFL (at a PID-namespace init, the kernel drops such a signal).
    Default,
    /// Not known.
    Unknown,
}

impl Disposition {
    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Disposition::Handled => "handled",
            Disposition::Ignored => "ignored",
            Disposition::Blocked => "blocked (waited for)",
            Disposition::Default => "default",
            Disposition::Unknown => "unknown",
        }
    }
}

/// What only the kernel shows of a process's dispositions (a `SigState`
/// record from `task->sighand`, not /proc): each handler's flags, and the
/// signals it takes itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KernelSigs {
    /// `sa_flags` of signals 1..=32 (index sig-1); 0 where no handler.
    pub sa_flags: [u32; nstrace_common::SIGSTATE_SIGNALS],
    /// Signals it takes itself: by a signalfd, or waited for in
    /// `rt_sigtimedwait` (the mask before the wait holds them).
    pub taken: u64,
    /// When the kernel said so (monotonic ns; an exec resets it).
    pub seen_ns: u64,
}

/// Signal dispositions: bit n-1 is signal n. From /proc/PID/status, or
/// from the kernel itself (then with [`KernelSigs`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Signals {
    /// SigCgt: signals with a handler.
    pub caught: u64,
    /// SigIgn: signals set to SIG_IGN.
    pub ignored: u64,
    /// SigBlk: signals the main thread blocks (an init waiting for them with
    /// signalfd or sigwait gets them queued, never dropped).
    pub blocked: u64,
    /// Whether the two masks were read (else nothing is known).
    pub known: bool,
    /// What the kernel itself said, once a `SigState` record was seen.
    pub kernel: Option<KernelSigs>,
}

impl Signals {
    /// Parses SigCgt and SigIgn from a /proc/PID/status text.
    pub fn from_status(status: &str) -> Signals {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        };
        match (field("SigCgt:"), field("SigIgn:"), field("SigBlk:")) {
            (Some(caught), Some(ignored), Some(blocked)) => Signals {
                caught,
                ignored,
                blocked,
                known: true,
                kernel: None,
            },
            _ => Signals::default(),
        }
    }

    fn bit(sig: u32) -> u64 {
        if (1..=64).contains(&sig) {
            1 << (sig - 1)
        } else {
            0
        }
    }

    /// The dispositions a `SigState` record gives. Inside `rt_sigtimedwait`
    /// the kernel unblocks what is waited for and keeps the mask before in
    /// `real_blocked`: that is the process's own mask.
    pub fn from_kernel(e: &nstrace_common::SigStateEvent, taken: u64) -> Signals {
        Signals {
            caught: e.caught,
            ignored: e.ignored,
            blocked: if e.real_blocked != 0 {
                e.real_blocked
            } else {
                e.blocked
            },
            known: true,
            kernel: Some(KernelSigs {
                sa_flags: e.sa_flags,
                taken,
                seen_ns: e.hdr.ts_ns,
            }),
        }
    }

    /// The `sa_flags` of `sig`'s handler as the kernel holds them: `None`
    /// when only /proc was read, or `sig` has no handler.
    pub fn flags_of(&self, sig: u32) -> Option<u32> {
        let k = self.kernel?;
        (self.caught & Self::bit(sig) != 0 && (1..=32).contains(&sig))
            .then(|| k.sa_flags[sig as usize - 1])
    }

    /// Whether the process takes `sig` itself (signalfd, sigtimedwait), as
    /// the kernel showed; `None` when only /proc was read.
    pub fn taken(&self, sig: u32) -> Option<bool> {
        self.kernel.map(|k| k.taken & Self::bit(sig) != 0)
    }

    /// How signal `sig` is treated.
    pub fn of(&self, sig: u32) -> Disposition {
        if !self.known {
            Disposition::Unknown
        } else if self.caught & Self::bit(sig) != 0 {
            Disposition::Handled
        } else if self.taken(sig) == Some(true) || self.blocked & Self::bit(sig) != 0 {
            Disposition::Blocked
        } else if self.ignored & Self::bit(sig) != 0 {
            Disposition::Ignored
        } else {
            Disposition::Default
        }
    }

    /// What exec leaves: handlers reset to the default, SIG_IGN and the
    /// blocked mask kept (what the kernel held stays known: no flags).
    pub fn after_exec(self) -> Signals {
        Signals {
            caught: 0,
            kernel: self.kernel.map(|k| KernelSigs {
                sa_flags: [0; nstrace_common::SIGSTATE_SIGNALS],
                taken: 0,
                ..k
            }),
            ..self
        }
    }

    /// Notes the handler a delivery showed for `sig` (0 default, 1 ignore, else a handler).
    pub fn saw_handler(&mut self, sig: u32, handler: u64) {
        if !self.known {
            return;
        }
        let b = Self::bit(sig);
        // A delivery that disagrees with what the kernel said before: the
        // flags are no longer known (a SigState record brings them back).
        let was = self.of(sig);
        self.caught &= !b;
        self.ignored &= !b;
        match handler {
            nstrace_common::HANDLER_DFL => {}
            nstrace_common::HANDLER_IGN => self.ignored |= b,
            _ => self.caught |= b,
        }
        if self.of(sig) != was {
            self.kernel = None;
        }
    }

    /// The flags of a handler, named: "SA_RESETHAND|SA_RESTART".
    pub fn flag_names(flags: u32) -> String {
        use nstrace_common::sigstate::sa;
        let names: Vec<&str> = [
            (sa::RESETHAND, "SA_RESETHAND"),
            (sa::SIGINFO, "SA_SIGINFO"),
            (sa::RESTART, "SA_RESTART"),
            (sa::ONSTACK, "SA_ONSTACK"),
            (sa::NODEFER, "SA_NODEFER"),
            (sa::NOCLDWAIT, "SA_NOCLDWAIT"),
            (sa::NOCLDSTOP, "SA_NOCLDSTOP"),
        ]
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
        if names.is_empty() {
            "no flags".into()
        } else {
            names.join("|")
        }
    }
}

/// Whether the kernel drops signal `sig` when a task dequeues it with
/// `handler` in force (`signal_deliver`). A PID-namespace init is
/// SIGNAL_UNKILLABLE: `get_signal()` discards a signal whose action is the
/// default unless that default is to do nothing anyway, or the signal is
/// SIGKILL/SIGSTOP. Such a signal was queued because the init blocked it when
/// it was generated (a blocked signal is never ignored at generation), as a
/// handler that restores the default and raises the signal again does.
pub fn dropped_at_delivery(sig: u32, handler: u64, at_ns_init: bool) -> bool {
    use nstrace_common::sig::{IGNORED_BY_DEFAULT, KERNEL_ONLY};
    at_ns_init
        && handler == nstrace_common::HANDLER_DFL
        && !IGNORED_BY_DEFAULT.contains(&sig)
        && !KERNEL_ONLY.contains(&sig)
}

#[cfg(test)]
mod tests {
    #[test]
    fn what_the_kernel_drops_at_delivery_to_a_namespace_init() {
        use super::dropped_at_delivery;
        use nstrace_common::{sig, HANDLER_DFL, HANDLER_IGN};
        // The re-raised SIGTERM of a handler that restored the default.
        assert!(dropped_at_delivery(sig::TERM, HANDLER_DFL, true));
        assert!(dropped_at_delivery(sig::INT, HANDLER_DFL, true));
        assert!(dropped_at_delivery(sig::TSTP, HANDLER_DFL, true));
        // The same at any other process is the default action: it ends it.
        assert!(!dropped_at_delivery(sig::TERM, HANDLER_DFL, false));
        // A handler runs; SIG_IGN and do-nothing defaults are not drops.
        assert!(!dropped_at_delivery(sig::TERM, 0x40_1000, true));
        assert!(!dropped_at_delivery(sig::TERM, HANDLER_IGN, true));
        assert!(!dropped_at_delivery(sig::CHLD, HANDLER_DFL, true));
        assert!(!dropped_at_delivery(sig::WINCH, HANDLER_DFL, true));
        // SIGKILL from an ancestor namespace does end an init.
        assert!(!dropped_at_delivery(sig::KILL, HANDLER_DFL, true));
    }

    use super::*;

    #[test]
    fn reads_status_masks() {
        let s = Signals::from_status(
            "Name:\tsh\nSigBlk:\t0000000000000100\nSigIgn:\t0000000000000004\nSigCgt:\t0000000000014002\n",
        );
        assert_eq!(s.of(15), Disposition::Handled, "bit 14 of 0x4002");
        assert_eq!(s.of(2), Disposition::Handled);
        assert_eq!(s.of(3), Disposition::Ignored);
        assert_eq!(
            s.of(9),
            Disposition::Blocked,
            "bit 8: tini's sigtimedwait way"
        );
        assert_eq!(s.of(10), Disposition::Default);
        assert_eq!(s.of(17), Disposition::Handled);
        assert_eq!(s.after_exec().of(15), Disposition::Default);
        assert_eq!(s.after_exec().of(3), Disposition::Ignored);
        assert_eq!(Signals::from_status("garbage").of(15), Disposition::Unknown);
        let mut d = s;
        d.saw_handler(15, 0);
        assert_eq!(d.of(15), Disposition::Default);
    }
}
