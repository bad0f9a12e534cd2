//! Shutdown timelines in words: aligned text (SIGTERM at t0 → what the kernel
//! did → exits → SIGKILL → total, verdict, advice) and the JSON document.

use std::fmt::Write as _;

use super::json::{handler_kind, result_name};
use super::text::handler_name;
use super::wire::{self, PidComm, ShutdownTotal, StepWire, TimelineDoc};
use super::{safe, Format};
use crate::detect::shutdown::{Outcome, Step, Timeline};
use crate::event::names::{exit_status, signal_name};
use crate::model::{Init, TermFailure};
use nstrace_common::{HANDLER_IGN, SA_RESETHAND};

/// How much of the grace period was used, when it is known: measured from
/// the runtime's SIGKILL, and the period the orchestrator set where the
/// runtime records it.
fn grace(t: &Timeline) -> String {
    let g = grace_period(t);
    match t.pre_stop() {
        Some((_, ran, pid, comm)) => {
            let hook = format!(
                "after a {:.1} s preStop hook ({pid} {})",
                ran as f64 / 1e9,
                safe(comm)
            );
            match g.strip_suffix(')') {
                Some(open) => format!("{open}, {hook})"),
                None => format!(" ({hook})"),
            }
        }
        None => g,
    }
}

/// The grace period part of [`grace`].
fn grace_period(t: &Timeline) -> String {
    match (t.grace_used_ns(), t.grace_s) {
        (Some(used), Some(set)) => format!(
            " (used {:.1} s of a {set} s grace period)",
            used as f64 / 1e9
        ),
        (Some(used), None) => format!(" (a {:.1} s grace period)", used as f64 / 1e9),
        (None, Some(set)) => format!(
            " ({:.1} s of a {set} s grace period)",
            t.total_ns() as f64 / 1e9
        ),
        (None, None) => String::new(),
    }
}

/// The verdict in one phrase.
pub fn verdict_text(t: &Timeline) -> String {
    let total = t.total_ns() as f64 / 1e9;
    let init = &t.init.1;
    let grace = grace(t);
    match t.verdict().outcome {
        Outcome::NoHandler => format!("PID 1 ({init}) has no SIGTERM handler, so the kernel dropped SIGTERM; only SIGKILL ended it, {total:.1}s later{grace}"),
        Outcome::ReRaised { at_delivery, resethand } => format!(
            "PID 1 ({init}) caught SIGTERM, restored the default action{} and raised it again; the kernel drops a default-action SIGTERM for a namespace's init ({}), so only SIGKILL ended it, {total:.1}s later{grace}",
            if resethand { " (SA_RESETHAND)" } else { "" },
            if at_delivery { "raised inside its handler, it was queued and dropped when dequeued" } else { "dropped as it was raised" }
        ),
        Outcome::DroppedAtDelivery => format!("PID 1 ({init}) had SIGTERM blocked and no handler: the kernel queued it and dropped it when PID 1 took it; only SIGKILL ended it, {total:.1}s later{grace}"),
        Outcome::KeptRunning => format!("PID 1 ({init}) caught SIGTERM and kept running (no process of its own outlived the SIGTERM, so there was nothing to pass on); only SIGKILL ended it, {total:.1}s later{grace}"),
        Outcome::NotPassedOn => format!("PID 1 ({init}) took SIGTERM but never passed it to its children; SIGKILL ended the container {total:.1}s later{grace}"),
        Outcome::TooSlow => format!("SIGTERM was passed on but the processes did not finish within the grace period; SIGKILL ended them {total:.1}s later{grace}"),
        Outcome::Reloaded => {
            let s = t.server().expect("a server's outcome");
            format!("PID 1 ({init}): {}: it reloaded its workers and kept running, so the stop waited out the grace period and SIGKILL ended it {total:.1}s later{grace}", s.term_sentence())
        }
        Outcome::GracefulTooSlow(left) => {
            let s = t.server().expect("a server's outcome");
            let what = if s.server.name == "postgres" {
                "a smart shutdown, which waits for every client session to end"
            } else {
                "a graceful stop, which lets work in flight finish"
            };
            format!(
                "PID 1 ({init}): {} took SIGTERM as {what}; it had not finished when the grace period ran out, with {} of its processes still running, and SIGKILL ended it {total:.1}s later{grace}",
                s.server.what,
                left.len()
            )
        }
        Outcome::FastStop => {
            let s = t.server().expect("a server's outcome");
            format!("PID 1 ({init}) exited {total:.1}s after SIGTERM: {} took SIGTERM as a fast stop, so requests in flight were cut{grace}", s.server.what)
        }
        Outcome::Clean => format!("clean: PID 1 exited {total:.1}s after SIGTERM{grace}"),
        Outcome::Ungraceful(victims) => {
            let list: Vec<String> = victims.iter().map(|(p, c)| format!("{p} ({c})")).collect();
            format!(
                "ungraceful: PID 1 ({init}) exited after SIGTERM and the kernel SIGKILLed {} process(es) that never got a graceful signal: {}",
                victims.len(),
                list.join(", ")
            )
        }
        Outcome::InProgress => format!("in progress: {total:.1}s since SIGTERM"),
    }
}

/// One line of advice for the way a shutdown went, naming what this init
/// needs (empty when there is nothing to do).
pub fn advice(t: &Timeline) -> String {
    let init = t.init_kind.clone().unwrap_or(Init::App(t.init.1.clone()));
    match t.verdict().outcome {
        Outcome::NoHandler => init.sigterm_advice(TermFailure::NoHandler),
        Outcome::ReRaised { .. } => init.sigterm_advice(TermFailure::ReRaised),
        Outcome::DroppedAtDelivery => init.sigterm_advice(TermFailure::DroppedAtDelivery),
        Outcome::KeptRunning => init.sigterm_advice(TermFailure::KeptRunning),
        Outcome::NotPassedOn => match init {
            Init::Shell(_) => "forward the signal (`trap 'kill -TERM $child' TERM; wait`), or exec the application, or run it under tini -g or dumb-init".into(),
            i => i.group_advice(),
        },
        Outcome::TooSlow => "make the application exit promptly on SIGTERM, or raise terminationGracePeriodSeconds".into(),
        Outcome::Reloaded | Outcome::FastStop => init.sigterm_advice(TermFailure::KeptRunning),
        Outcome::GracefulTooSlow(_) => match t.server() {
            Some(s) if s.server.graceful != nstrace_common::sig::TERM => format!(
                "for a faster stop, {}; or raise terminationGracePeriodSeconds above the time its graceful stop takes",
                s.advice()
            ),
            _ => "raise terminationGracePeriodSeconds above the time its graceful stop takes".into(),
        },
        Outcome::Ungraceful(_) => init.group_advice(),
        Outcome::Clean | Outcome::InProgress => String::new(),
    }
}

/// One step as a line (without indentation).
fn step_line(t: &Timeline, step: &Step) -> String {
    let off = t.offset_ns(step);
    let at = off.unsigned_abs() as f64 / 1e9;
    let sign = if off < 0 { '-' } else { '+' };
    match step {
        Step::HookStart { pid, comm, .. } => format!(
            "t{sign}{at:>7.3}s  preStop  {pid} ({}) exec'd into the container",
            safe(comm)
        ),
        Step::HookEnd {
            pid, comm, code, ..
        } => format!(
            "t{sign}{at:>7.3}s  preStop  {pid} ({}) ended: {}",
            safe(comm),
            exit_status(*code)
        ),
        Step::Signal {
            from,
            to,
            sig,
            result,
            ..
        } => {
            let sender = if t.is_teardown(step) {
                "kernel (PID 1 exited)".to_owned()
            } else {
                format!("{} ({})", from.0, safe(&from.1))
            };
            format!(
                "t{sign}{at:>7.3}s  SIG{:<5} {sender} → {} ({}{})  {}",
                signal_name(*sig),
                to.0,
                safe(&to.1),
                if to.2 { ", PID 1" } else { "" },
                result_name(*result)
            )
        }
        Step::Deliver {
            pid,
            comm,
            to_init,
            sig,
            handler,
            sa_flags,
            dropped,
            ..
        } => {
            let taken = if *dropped {
                "default action: dropped by the kernel (PID 1 of its namespace)".to_owned()
            } else if *sa_flags & SA_RESETHAND != 0 && *handler > HANDLER_IGN {
                "handler (resets itself to the default: SA_RESETHAND)".to_owned()
            } else {
                handler_name(*handler)
            };
            format!(
                "t+{at:>7.3}s  taken    SIG{} by {pid} ({}{})  {taken}",
                signal_name(*sig),
                safe(comm),
                if *to_init { ", PID 1" } else { "" },
            )
        }
        Step::Exit {
            pid, comm, code, ..
        } => format!(
            "t{sign}{at:>7.3}s  exit     {pid} ({}) {}",
            safe(comm),
            exit_status(*code)
        ),
    }
}

/// The steps, the total with its verdict, and the advice: one line each
/// (the evidence of a `slow_shutdown` finding).
pub fn lines(t: &Timeline) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(d) = &t.docker {
        out.push(format!(
            "docker stop: {}; SIG{}{}; {}",
            safe(&d.chain()),
            signal_name(d.signal),
            if d.signal == nstrace_common::sig::TERM {
                String::new()
            } else {
                " (its stop signal: the image's STOPSIGNAL or --stop-signal)".to_owned()
            },
            d.timeout()
        ));
    }
    out.extend(t.steps.iter().map(|s| step_line(t, s)));
    out.push(format!(
        "total {:.3}s — {}",
        t.total_ns() as f64 / 1e9,
        safe(&verdict_text(t))
    ));
    let a = advice(t);
    if !a.is_empty() {
        out.push(format!("advice: {a}"));
    }
    out
}

/// The timeline as aligned text lines under a title.
pub fn text(t: &Timeline, title: &str) -> String {
    let mut s = format!(
        "shutdown of {} (PID 1 {} {})\n",
        safe(title),
        t.init.0,
        safe(&t.init.1)
    );
    for l in lines(t) {
        let _ = writeln!(s, "  {l}");
    }
    s
}

/// The timeline as one JSON line.
pub fn json(t: &Timeline, title: &str) -> String {
    wire::to_line(&doc(t, title))
}

/// The timeline as its wire type.
pub fn doc<'a>(t: &'a Timeline, title: &'a str) -> TimelineDoc<'a> {
    let v = t.verdict();
    TimelineDoc {
        shutdown: title,
        pid_ns: t.pid_ns,
        init_pid: t.init.0,
        init_comm: &t.init.1,
        start_ts_ns: t.start_ns,
        total_s: wire::seconds(t.total_ns()),
        killed: v.killed,
        grace_period_s: t.grace_s,
        sigkill_after_s: t.grace_used_ns().map(wire::seconds),
        verdict: verdict_text(t),
        advice: advice(t),
        killed_without_warning: t
            .killed_without_warning()
            .into_iter()
            .map(|(pid, comm)| PidComm {
                pid,
                comm: comm.into(),
            })
            .collect(),
        docker: t.docker.as_ref().map(|d| wire::DockerStopWire {
            chain: d.chain(),
            sender_chain: d
                .sender_chain
                .iter()
                .map(|(pid, comm)| PidComm {
                    pid: *pid,
                    comm: comm.as_str().into(),
                })
                .collect(),
            stop_signal: signal_name(d.signal),
            stop_timeout_s: d.timeout_s,
            default_stop_timeout: d.timeout_s.is_none(),
        }),
        steps: t
            .steps
            .iter()
            .map(|step| match step {
                Step::Signal {
                    from,
                    to,
                    sig,
                    result,
                    ..
                } => StepWire::Signal {
                    t: wire::seconds_signed(t.offset_ns(step)),
                    step: "signal",
                    signal: signal_name(*sig),
                    from_pid: from.0,
                    from_comm: &from.1,
                    to_pid: to.0,
                    to_comm: &to.1,
                    to_pid1: to.2,
                    by_kernel: t.is_teardown(step),
                    result: result_name(*result),
                },
                Step::Deliver {
                    pid,
                    comm,
                    to_init,
                    sig,
                    handler,
                    sa_flags,
                    dropped,
                    ..
                } => StepWire::Deliver {
                    t: wire::seconds_signed(t.offset_ns(step)),
                    step: "deliver",
                    signal: signal_name(*sig),
                    pid: *pid,
                    comm,
                    to_pid1: *to_init,
                    handler: handler_kind(*handler),
                    resethand: *sa_flags & SA_RESETHAND != 0,
                    dropped: *dropped,
                },
                Step::Exit {
                    pid, comm, code, ..
                } => StepWire::Exit {
                    t: wire::seconds_signed(t.offset_ns(step)),
                    step: "exit",
                    pid: *pid,
                    comm,
                    status: exit_status(*code),
                },
                Step::HookStart { pid, comm, .. } => StepWire::Hook {
                    t: wire::seconds_signed(t.offset_ns(step)),
                    step: "prestop_start",
                    pid: *pid,
                    comm,
                    status: None,
                },
                Step::HookEnd {
                    pid, comm, code, ..
                } => StepWire::Hook {
                    t: wire::seconds_signed(t.offset_ns(step)),
                    step: "prestop_end",
                    pid: *pid,
                    comm,
                    status: Some(exit_status(*code)),
                },
            })
            .collect(),
    }
}

/// One timeline in `format`.
pub fn render(t: &Timeline, title: &str, format: Format) -> String {
    match format {
        Format::Text => text(t, title),
        Format::Json => json(t, title),
    }
}

/// One line for a whole target with several PID namespaces: from the first
/// SIGTERM to the last exit, and how many ended by SIGKILL.
pub fn overall(title: &str, done: &[Timeline], format: Format) -> Option<String> {
    if done.len() < 2 {
        return None;
    }
    let start = done.iter().map(|t| t.start_ns).min()?;
    let end = done.iter().map(|t| t.start_ns + t.total_ns()).max()?;
    let killed = done.iter().filter(|t| t.verdict().killed).count();
    Some(match format {
        Format::Text => format!(
            "{}: {:.3}s from the first SIGTERM to the last exit; {killed} of {} PID 1s ended by SIGKILL\n",
            safe(title),
            (end - start) as f64 / 1e9,
            done.len()
        ),
        Format::Json => wire::to_line(&ShutdownTotal {
            shutdown_total: title,
            total_s: wire::seconds(end - start),
            containers: done.len(),
            killed,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn sig(ts: u64, from: (u32, &str), to: (u32, &str, bool), sig: u32, result: u32) -> Step {
        Step::Signal {
            ts_ns: ts,
            from: (from.0, from.1.into()),
            to: (to.0, to.1.into(), to.2),
            sig,
            result,
        }
    }

    fn exit(ts: u64, pid: u32, comm: &str, code: u32) -> Step {
        Step::Exit {
            ts_ns: ts,
            pid,
            comm: comm.into(),
            code,
        }
    }

    #[test]
    fn ignored_sigterm_then_sigkill_reads_as_a_timeline() {
        let t = Timeline {
            pid_ns: 7,
            init: (500, "sh".into()),
            start_ns: 10 * S,
            steps: vec![
                sig(10 * S, (42, "podman"), (500, "sh", true), 15, 1),
                sig(15 * S, (42, "podman"), (500, "sh", true), 9, 0),
                exit(15 * S + 1000, 500, "sh", 9),
                exit(15 * S + 2000, 501, "sleep", 9),
            ],
            end_ns: Some(15 * S + 1000),
            init_kind: Some(Init::Shell("sh".into())),
            grace_s: Some(30),
            others: vec![(501, "sleep".into())],
            docker: None,
        };
        let text = text(&t, "pod web");
        assert!(
            text.starts_with("shutdown of pod web (PID 1 500 sh)\n"),
            "{text}"
        );
        assert!(
            text.contains("  t+  0.000s  SIGTERM  42 (podman) → 500 (sh, PID 1)  ignored\n"),
            "{text}"
        );
        assert!(text.contains("t+  5.000s  SIGKILL  42 (podman)"), "{text}");
        assert!(text.contains("no SIGTERM handler"), "{text}");
        assert!(
            text.contains("(used 5.0 s of a 30 s grace period)"),
            "{text}"
        );
        assert!(text.contains("  advice: exec the application"), "{text}");
        let j: serde_json::Value = serde_json::from_str(&json(&t, "pod web")).unwrap();
        assert_eq!(j["killed"], true);
        assert_eq!(j["steps"][1]["t"], 5.0);
        assert_eq!(j["steps"][0]["result"], "ignored");
    }

    #[test]
    fn the_kernels_teardown_kill_is_named_and_advised_against() {
        let t = Timeline {
            pid_ns: 7,
            init: (500, "sh".into()),
            start_ns: S,
            steps: vec![
                sig(S, (42, "runc"), (500, "sh", true), 15, 0),
                exit(S + 100, 500, "sh", 0),
                sig(S + 200, (500, "sh"), (501, "sleep", false), 9, 0),
                exit(S + 300, 501, "sleep", 9),
            ],
            end_ns: Some(S + 100),
            init_kind: Some(Init::Tini {
                group: false,
                docker: false,
            }),
            grace_s: None,
            others: vec![(501, "sleep".into())],
            docker: None,
        };
        let text = text(&t, "pod web");
        assert!(
            text.contains("SIGKILL  kernel (PID 1 exited) → 501 (sleep)"),
            "{text}"
        );
        assert!(text.contains("ungraceful: PID 1 (sh)"), "{text}");
        assert!(text.contains("run tini with -g"), "{text}");
    }

    #[test]
    fn a_pre_stop_hook_reads_before_sigterm() {
        let t = Timeline {
            pid_ns: 7,
            init: (500, "sh".into()),
            start_ns: 10 * S,
            steps: vec![
                Step::HookStart {
                    ts_ns: 8 * S,
                    pid: 600,
                    comm: "sleep".into(),
                },
                Step::HookEnd {
                    ts_ns: 10 * S - 5_000_000,
                    pid: 600,
                    comm: "sleep".into(),
                    code: 0,
                },
                sig(10 * S, (42, "runc"), (500, "sh", true), 15, 1),
                sig(13 * S, (42, "runc"), (500, "sh", true), 9, 0),
                exit(13 * S + 1000, 500, "sh", 9),
            ],
            end_ns: Some(13 * S + 1000),
            init_kind: Some(Init::Shell("sh".into())),
            grace_s: None,
            others: vec![],
            docker: None,
        };
        let text = text(&t, "pod default/web / container app");
        assert!(
            text.contains("  t-  2.000s  preStop  600 (sleep) exec'd into the container\n"),
            "{text}"
        );
        assert!(
            text.contains("  t-  0.005s  preStop  600 (sleep) ended: exit 0\n"),
            "{text}"
        );
        assert!(
            text.contains("(a 3.0 s grace period, after a 2.0 s preStop hook (600 sleep))"),
            "{text}"
        );
        let j: serde_json::Value = serde_json::from_str(&json(&t, "x")).unwrap();
        assert_eq!(j["steps"][0]["step"], "prestop_start");
        assert_eq!(j["steps"][0]["t"], -2.0);
        assert_eq!(j["steps"][1]["status"], "exit 0");
        assert_eq!(j["steps"][2]["t"], 0.0);
        assert_eq!(j["steps"][3]["t"], 3.0);
    }
}
