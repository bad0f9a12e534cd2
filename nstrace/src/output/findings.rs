//! Findings and the end-of-run summary, in words: text (a headline and
//! indented evidence) or JSON lines. The detectors hand over typed evidence;
//! every sentence is made here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::wire::{
    self, ActorWire, AttachWire, CallerWire, EntrantWire, ExecProbesWire, FindingLine, JoinWire,
    JoinedWire, Ordered, PartyWire, PlaceWire, PortConflictWire, ProbeWire, SessionProcessWire,
    SessionWire, SummaryLine, SummaryWire, TargetWire, WatchedWire,
};
use super::{safe, time, timeline, Format};
use crate::detect::joins::{Action, Join};
use crate::detect::pid1::{
    Dropped, IgnoredSigterm, NotForwarded, Prediction, TeardownKills, Unreaped,
};
use crate::detect::ports::{PortConflict, Relation};
use crate::detect::sessions::{Attach, Caller, Entrant, Probe, Session};
use crate::detect::{Attributed, Evidence, Finding, FindingKind, Severity};
use crate::event::argv_text;
use crate::event::names::{
    cap_summary, clone_flag_list, clone_flag_names, exit_status, CLONE_NEW_MASK,
};
use crate::model::Place;
use crate::model::{Disposition, Init, TermFailure};
use nstrace_common::NsType;

/// One sentence about a finding.
pub fn summary(f: &Finding) -> String {
    match &f.evidence {
        Evidence::Unreaped(u) => format!(
            "{} {} ({}) leaves {} zombie(s) unreaped for over {:.0}s",
            if u.init { "PID 1" } else { "child subreaper" },
            f.pid,
            f.comm,
            u.zombies.len(),
            u.threshold_ns as f64 / 1e9
        ),
        Evidence::IgnoredSigterm(e) => match e.how {
            Dropped::AtGeneration => format!(
                "PID 1 ({}) has no SIGTERM handler: the kernel dropped SIGTERM from {} ({}); only SIGKILL will end it, and with it its whole PID namespace",
                f.comm, e.sender, e.sender_comm
            ),
            Dropped::ReRaised { .. } => format!(
                "PID 1 ({}) caught SIGTERM, restored the default action and raised it again; the kernel drops a default-action SIGTERM for a namespace's init, so only SIGKILL will end it",
                f.comm
            ),
            Dropped::AtDelivery => format!(
                "PID 1 ({}) had SIGTERM blocked and no handler: the kernel queued it and dropped it when PID 1 took it; only SIGKILL will end it",
                f.comm
            ),
        },
        Evidence::Teardown(t) => format!(
            "PID 1 {} ({}, {}) exited after SIGTERM and the kernel SIGKILLed {} remaining process(es) of its namespace that never got a graceful signal: {}",
            f.pid,
            f.comm,
            t.init.noun(),
            t.killed.len(),
            pids(&t.killed)
        ),
        Evidence::Prediction(p) => prediction_summary(f, p),
        Evidence::NotForwarded(n) => format!(
            "PID 1 {} ({}) took SIGTERM {:.1}s ago and passed no terminating signal to its {} running process(es)",
            f.pid,
            f.comm,
            n.since_ns as f64 / 1e9,
            n.processes.len()
        ),
        Evidence::Shutdown(t) => format!("slow shutdown: {}", timeline::verdict_text(t)),
        Evidence::Join(j) => join_summary(j),
        Evidence::PortConflict(c) => conflict_summary(c),
        Evidence::Session(x) => session_summary(x),
        Evidence::Probe(p) => probe_summary(p),
        Evidence::Attach(a) => attach_summary(a),
    }
}

/// The facts behind a finding, one line each.
pub fn evidence(f: &Finding) -> Vec<String> {
    match &f.evidence {
        Evidence::Unreaped(u) => unreaped(f, u),
        Evidence::IgnoredSigterm(e) => ignored_sigterm(f, e),
        Evidence::NotForwarded(n) => not_forwarded(n),
        Evidence::Teardown(t) => teardown(t),
        Evidence::Prediction(p) => prediction_evidence(f, p),
        Evidence::Shutdown(t) => timeline::lines(t),
        Evidence::Join(j) => join_evidence(j),
        Evidence::PortConflict(c) => conflict_evidence(c),
        Evidence::Session(x) => session_evidence(x),
        Evidence::Probe(p) => probe_evidence(p),
        Evidence::Attach(a) => attach_evidence(a),
    }
}

/// "podman (runc under conmon)", "nsenter from the node".
fn entered_by(by: &Entrant) -> String {
    let under = by
        .callers
        .first()
        .map(|c| format!(" under {}", c.comm))
        .unwrap_or_default();
    if by.runtime == by.tool {
        match &by.from {
            Place::Node => format!("{} from the node{under}", by.tool),
            from => format!("{} from {}{under}", by.tool, who(from)),
        }
    } else {
        format!("{} ({}{under})", by.runtime, by.tool)
    }
}

/// "entered by: pid 18273 runc:[1:CHILD] (exe /usr/bin/runc, uid 0, caps all) from node, called by conmon 18263 ← podman 18253".
fn entrant_line(label: &str, by: &Entrant) -> String {
    let mut s = format!(
        "{label}: pid {} {} (exe {}, uid {}, caps {}) from {}",
        by.pid,
        by.comm,
        if by.exe.is_empty() { "?" } else { &by.exe },
        by.uid,
        cap_summary(by.cap_effective),
        by.from
    );
    if !by.callers.is_empty() {
        let chain: Vec<String> = by
            .callers
            .iter()
            .map(|c| format!("{} {}", c.comm, c.pid))
            .collect();
        let _ = write!(s, ", called by {}", chain.join(" ← "));
    }
    s
}

fn secs(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

fn session_summary(x: &Session) -> String {
    let cmd = argv_text(&x.argv, x.argv_cut);
    let tty = if x.tty { "a terminal" } else { "no terminal" };
    let what = if x.pre_stop {
        format!(
            "the preStop hook of {} (a SIGTERM to its PID 1 followed), run by {}",
            who(&x.container),
            entered_by(&x.by)
        )
    } else {
        format!("{} entered {}", entered_by(&x.by), who(&x.container))
    };
    let when = match x.end_ns {
        Some(_) => format!("ended after {}", secs(x.duration_ns())),
        None => format!("still running after {}", secs(x.duration_ns())),
    };
    format!(
        "{what}: {cmd} as uid {}, caps {}, {tty}; {} process(es), {when}",
        x.uid,
        cap_summary(x.cap_effective),
        x.processes_total
    )
}

fn session_evidence(x: &Session) -> Vec<String> {
    let mut out = vec![
        format!(
            "command: {} (exe {}){}",
            argv_text(&x.argv, x.argv_cut),
            x.exe,
            if x.argv_cut { ", arguments cut" } else { "" }
        ),
        entrant_line("entered by", &x.by),
        format!(
            "joined: {} of {}",
            x.joined
                .iter()
                .map(|j| j.ns_type.name())
                .collect::<Vec<_>>()
                .join(", "),
            x.container
        ),
        format!(
            "as: uid {} euid {}, caps {}",
            x.uid,
            x.euid,
            cap_summary(x.cap_effective)
        ),
        format!(
            "terminal: {}",
            match (x.tty, x.interactive) {
                (true, _) => "yes (interactive)",
                (false, true) => "none (an interactive shell)",
                (false, false) => "none",
            }
        ),
    ];
    let procs: Vec<String> = x
        .processes
        .iter()
        .map(|p| {
            if p.argv.is_empty() {
                format!("{} {}", p.pid, p.comm)
            } else {
                format!("{} {} ({})", p.pid, p.comm, argv_text(&p.argv, false))
            }
        })
        .collect();
    let more = x.processes_total.saturating_sub(x.processes.len());
    out.push(format!(
        "processes: {}{}",
        procs.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ));
    out.push(match (x.end_ns, x.exit_code) {
        (Some(_), Some(code)) => format!(
            "time: command {} after entering, ended after {} ({} of pid {})",
            secs(x.exec_ns.saturating_sub(x.start_ns)),
            secs(x.duration_ns()),
            exit_status(code),
            x.leader
        ),
        (Some(_), None) => format!(
            "time: command {} after entering, ended after {}",
            secs(x.exec_ns.saturating_sub(x.start_ns)),
            secs(x.duration_ns())
        ),
        (None, _) => format!(
            "time: command {} after entering, still running after {}",
            secs(x.exec_ns.saturating_sub(x.start_ns)),
            secs(x.duration_ns())
        ),
    });
    out
}

fn probe_summary(p: &Probe) -> String {
    format!(
        "exec probe in {}: {} every {:.1}s by {} ({}); counted from now on, not logged ({} runs so far)",
        who(&p.container),
        argv_text(&p.argv, false),
        p.period_ns as f64 / 1e9,
        p.runtime,
        p.tool,
        p.runs
    )
}

fn probe_evidence(p: &Probe) -> Vec<String> {
    let mut out = vec![
        format!("command: {}", argv_text(&p.argv, false)),
        format!(
            "runs: {} seen, every {:.3}s, no terminal",
            p.runs,
            p.period_ns as f64 / 1e9
        ),
        format!("as: uid {}, caps {}", p.uid, cap_summary(p.cap_effective)),
    ];
    let chain: Vec<String> = p
        .callers
        .iter()
        .map(|c| format!("{} {}", c.comm, c.pid))
        .collect();
    out.push(format!(
        "by: {} ({}), called by {}",
        p.runtime,
        p.tool,
        if chain.is_empty() {
            "?".to_owned()
        } else {
            chain.join(" ← ")
        }
    ));
    out
}

/// What sharing these namespaces of a container lets a process do.
fn attach_power(a: &Attach, target: &str) -> String {
    let mut can = Vec::new();
    if a.shares.contains(&NsType::Pid) {
        if a.powerful() {
            can.push(format!(
                "see {target}'s processes, read their memory and environment, trace and signal them"
            ));
        } else {
            can.push(format!(
                "see {target}'s processes and signal those of its uid"
            ));
        }
    }
    if a.shares.contains(&NsType::Net) {
        can.push(format!("use {target}'s network (its ports and traffic)"));
    }
    can.join(", and ")
}

fn attach_summary(a: &Attach) -> String {
    let shares: Vec<&str> = a
        .shares
        .iter()
        .map(|t| match t {
            NsType::Pid => "PID",
            NsType::Net => "network",
            t => t.name(),
        })
        .collect();
    let target = a
        .target
        .ctr()
        .map_or_else(|| a.target.to_string(), |c| format!("container {c}"));
    let new = match &a.container {
        Place::Unknown => format!("a new container (pid {})", a.pid),
        p => who(p),
    };
    let of = match (a.target.pod_ref(), a.container.pod_ref()) {
        (Some(t), Some(n)) if t == n => format!("{target} of the same pod"),
        _ => who(&a.target),
    };
    format!(
        "{new} was started into the {} namespace of {of}, with caps {}: it can {}",
        shares.join(" and "),
        cap_summary(a.cap_effective),
        attach_power(a, &target)
    )
}

fn attach_evidence(a: &Attach) -> Vec<String> {
    vec![
        format!(
            "new: pid {} {} in {}, uid {}, caps {}",
            a.pid,
            argv_text(&a.argv, false),
            a.container,
            a.uid,
            cap_summary(a.cap_effective)
        ),
        format!(
            "target: {} ({} shared)",
            a.target,
            a.shares
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        entrant_line("started by", &a.by),
        format!("engine: {}", entered_by(&a.by)),
    ]
}

/// A container as the subject of a sentence: "container web of pod shop".
fn who(p: &Place) -> String {
    match p {
        Place::Pod {
            pod,
            container: Some(c),
        } => format!("container {c} of pod {pod}"),
        Place::Pod { pod, .. } => format!("pod {pod}"),
        Place::Container(c) => format!("container {c}"),
        Place::Node => "the node".to_owned(),
        other => other.to_string(),
    }
}

/// `tcp :8080` (any address) or `tcp 127.0.0.1:8080`.
fn port_text(c: &PortConflict, addr: std::net::IpAddr) -> String {
    if addr.is_unspecified() {
        format!("{} :{}", c.proto.name(), c.port)
    } else {
        format!(
            "{} {}",
            c.proto.name(),
            std::net::SocketAddr::new(addr, c.port)
        )
    }
}

fn conflict_summary(c: &PortConflict) -> String {
    let l = &c.loser;
    let asked = port_text(c, l.addr);
    if c.published {
        let holder = c.holder.as_ref().map_or_else(
            || "a process not found holds it".to_owned(),
            |h| format!("{} ({} {}) holds it", who(&h.place), h.comm, h.pid),
        );
        return format!(
            "Docker ({} {}) could not publish {asked} on the node for a container (`-p`): {holder}; the container does not start",
            l.comm, l.pid
        );
    }
    let Some(h) = &c.holder else {
        return format!(
            "{} ({} {}) could not bind {asked}: the address is in use, and no process holding it was found",
            who(&l.place),
            l.comm,
            l.pid
        );
    };
    match c.relation {
        Relation::SiblingContainer => format!(
            "{} could not bind {asked}: container {} of the same pod holds it (one port space for every container of a pod)",
            who(&l.place),
            h.place.ctr().map(ToString::to_string).unwrap_or_default()
        ),
        Relation::SameContainer => format!(
            "{} ({} {}) could not bind {asked}: {} {} of the same container holds it (a restart racing its predecessor, or a second bind)",
            who(&l.place),
            l.comm,
            l.pid,
            h.comm,
            h.pid
        ),
        Relation::Node => format!(
            "{} could not bind {asked}: the node's {} {} holds it ({})",
            who(&l.place),
            h.comm,
            h.pid,
            if c.node_network {
                "a hostNetwork pod shares the node's ports"
            } else {
                "the same network namespace"
            }
        ),
        Relation::OtherPod | Relation::Unknown => format!(
            "{} could not bind {asked}: {} holds it ({})",
            who(&l.place),
            who(&h.place),
            if c.node_network {
                "both on the node network"
            } else {
                "the same network namespace"
            }
        ),
    }
}

fn conflict_evidence(c: &PortConflict) -> Vec<String> {
    let mut out = Vec::new();
    let l = &c.loser;
    if let Some(h) = &c.holder {
        let when = match c.holder_bound_ns {
            Some(t) if t <= c.refused_ns => format!(
                "bound {} {:.3}s before",
                port_text(c, h.addr),
                (c.refused_ns - t) as f64 / 1e9
            ),
            Some(_) => format!("bound {}", port_text(c, h.addr)),
            None if h.place.in_container() => format!(
                "held {} already (bound before tracing started)",
                port_text(c, h.addr)
            ),
            None => format!(
                "held {} (a node process: its bind is not traced)",
                port_text(c, h.addr)
            ),
        };
        out.push(format!(
            "first: pid {} ({}) in {} {when}",
            h.pid, h.comm, h.place
        ));
    }
    out.push(format!(
        "then: pid {} ({}) in {}: bind {} → EADDRINUSE",
        l.pid,
        l.comm,
        l.place,
        port_text(c, l.addr)
    ));
    out.push(if c.node_network {
        format!(
            "port space: the node's (net {}), as for every hostNetwork pod",
            c.netns
        )
    } else {
        match l.place.pod() {
            Some(pod) => format!(
                "port space: net {}, shared by every container of pod {pod}",
                c.netns
            ),
            None => format!("port space: net {}", c.netns),
        }
    });
    if c.holder.is_some() {
        out.push(
            if c.looked_up {
                "holder: found holding the port right after the refusal"
            } else {
                "holder: from the binds traced"
            }
            .to_owned(),
        );
    }
    out
}

fn unreaped(f: &Finding, u: &Unreaped) -> Vec<String> {
    let mut out: Vec<String> = u
        .zombies
        .iter()
        .map(|z| {
            let age = z.age_ns as f64 / 1e9;
            if z.at_start {
                format!(
                    "zombie {} ({}) was already a zombie when tracing started, {age:.1}s ago",
                    z.pid, z.comm
                )
            } else {
                format!(
                    "zombie {} ({}) exited {age:.1}s ago ({}), {}",
                    z.pid,
                    z.comm,
                    exit_status(z.code),
                    if z.orphan {
                        "a reparented orphan"
                    } else {
                        "its own child"
                    }
                )
            }
        })
        .collect();
    out.push(format!(
        "{} {} wait4/waitid",
        f.comm,
        if u.waited { "did call" } else { "never called" }
    ));
    out.push(if u.capable {
        format!(
            "{} ran after they exited and did not wait for them (SIGCHLD {})",
            f.comm,
            u.chld.name()
        )
    } else {
        format!(
            "SIGCHLD {}: {} is not told when its children exit",
            u.chld.name(),
            f.comm
        )
    });
    out
}

fn ignored_sigterm(f: &Finding, e: &IgnoredSigterm) -> Vec<String> {
    let sent = format!(
        "signal_generate SIGTERM {} ({}) -> {}",
        e.sender, e.sender_comm, f.pid
    );
    match e.how {
        Dropped::AtGeneration => vec![format!("{sent} result=ignored")],
        Dropped::AtDelivery => vec![
            format!("{sent} result=delivered (queued: PID 1 blocked it)"),
            format!(
                "signal_deliver SIGTERM at {} handler=default: dropped (PID 1 of its namespace)",
                f.pid
            ),
        ],
        Dropped::ReRaised {
            at_delivery,
            resethand,
        } => {
            let mut out = vec![
                format!("{sent} result=delivered"),
                format!(
                    "signal_deliver SIGTERM at {} handler=installed{}",
                    f.pid,
                    if resethand {
                        " (SA_RESETHAND: reset to the default as it ran)"
                    } else {
                        ""
                    }
                ),
            ];
            if at_delivery {
                out.push(format!("signal_generate SIGTERM {} -> itself, inside the handler: queued (blocked there)", f.pid));
                out.push(format!("signal_deliver SIGTERM at {} handler=default: dropped (PID 1 of its namespace)", f.pid));
            } else {
                out.push(format!(
                    "signal_generate SIGTERM {} -> itself result=ignored (default action at PID 1)",
                    f.pid
                ));
            }
            out.push(format!("{} still running after the SIGTERM", f.comm));
            out
        }
    }
}

/// "12 (sleep), 13 (sh)".
fn pids(list: &[(u32, String)]) -> String {
    let v: Vec<String> = list.iter().map(|(pid, c)| format!("{pid} ({c})")).collect();
    v.join(", ")
}

fn not_forwarded(n: &NotForwarded) -> Vec<String> {
    vec![
        format!("SIGTERM from {} ({})", n.sender, n.sender_comm),
        format!("still running: {}", pids(&n.processes)),
        format!("init: {}", n.init.describe()),
        format!("advice: {}", n.init.group_advice()),
    ]
}

fn teardown(t: &TeardownKills) -> Vec<String> {
    let mut out = vec![format!("SIGTERM from {} ({})", t.sender.0, t.sender.1)];
    if t.forwards.is_empty() {
        out.push("forwarded: nothing".into());
    }
    for (from, to) in &t.forwards {
        out.push(format!(
            "forwarded: {} ({}) → {} ({})",
            from.1, from.0, to.1, to.0
        ));
    }
    for (pid, comm) in &t.killed {
        out.push(format!(
            "nothing → {comm} ({pid}): SIGKILLed by the kernel when PID 1 exited"
        ));
    }
    out.push(format!(
        "advice: if these processes matter, {}",
        t.init.group_advice()
    ));
    out
}

fn prediction_summary(f: &Finding, p: &Prediction) -> String {
    let init = format!("{}, {}", f.comm, p.init.noun());
    let oneshot = p
        .term_flags
        .is_some_and(|fl| fl & nstrace_common::sigstate::sa::RESETHAND != 0);
    if oneshot && !p.resolved && f.kind == FindingKind::Pid1WillIgnoreSigterm {
        return match (&p.init, p.likely) {
            (Init::Known(k), false) => format!(
                "PID 1 {} ({init}) has {}'s own SIGTERM handler, as the kernel holds it (SA_RESETHAND: no listener of the application replaced it): it restores the default action and raises SIGTERM again, which the kernel drops for a namespace's init, so a stop waits the whole grace period and ends in SIGKILL",
                f.pid, k.what
            ),
            _ => format!(
                "PID 1 {} ({init}) catches SIGTERM with a one-shot handler (SA_RESETHAND), the re-raise pattern: if the handler raises SIGTERM again instead of exiting, the kernel drops it for a namespace's init and a stop ends in SIGKILL",
                f.pid
            ),
        };
    }
    if f.kind == FindingKind::Pid1StopSignal {
        return match (&p.init, p.resolved) {
            (Init::Server(s), false) => format!(
                "PID 1 {} ({init}): {}: {}",
                f.pid,
                s.term_sentence(),
                match s.term {
                    crate::model::servers::Meaning::Reload =>
                        "a stop will wait out the whole grace period and end in SIGKILL",
                    _ => "a stop will cut the requests it has in flight",
                }
            ),
            _ => format!(
                "resolved: PID 1 {} ({init}) is no longer such a server",
                f.pid
            ),
        };
    }
    if p.likely && !p.resolved {
        let what = match &p.init {
            Init::Known(k) => k.what,
            _ => "its runtime",
        };
        return format!(
            "PID 1 {} ({init}) catches SIGTERM, but {what}'s own handler restores the default action and raises it again, which the kernel drops for a namespace's init: unless the application listens for SIGTERM itself, a stop waits the whole grace period and ends in SIGKILL",
            f.pid
        );
    }
    if p.exited_on_sigterm {
        return format!("resolved: PID 1 {} ({init}) exited on SIGTERM", f.pid);
    }
    match (f.kind, p.resolved) {
        (FindingKind::Pid1WillIgnoreSigterm, false) => format!(
            "PID 1 {} ({init}) has {} SIGTERM: the kernel will drop it, so a stop waits the whole grace period and ends in SIGKILL",
            f.pid,
            if p.disposition == Disposition::Ignored { "ignored" } else { "no handler for" }
        ),
        (FindingKind::Pid1WillIgnoreSigterm, true) => {
            format!("resolved: PID 1 {} ({init}) now handles SIGTERM", f.pid)
        }
        (_, false) => format!(
            "PID 1 {} ({init}) is not a reaping init and does not handle SIGCHLD: orphans reparented to it will stay zombies",
            f.pid
        ),
        (_, true) => format!(
            "resolved: PID 1 {} ({init}) now reaps (SIGCHLD {})",
            f.pid,
            p.disposition.name()
        ),
    }
}

fn prediction_evidence(f: &Finding, p: &Prediction) -> Vec<String> {
    let sig = if f.kind == FindingKind::Pid1WillIgnoreSigterm {
        "SIGTERM"
    } else {
        "SIGCHLD"
    };
    let mut out = vec![
        format!("init: {}", p.init.describe()),
        format!(
            "{sig}: {} after {:.1}s running its program",
            p.disposition.name(),
            p.age_ns as f64 / 1e9
        ),
    ];
    match p.term_flags {
        Some(fl) if f.kind == FindingKind::Pid1WillIgnoreSigterm => out.push(format!(
            "SIGTERM handler as the kernel holds it: {}",
            crate::model::Signals::flag_names(fl)
        )),
        _ => {}
    }
    if p.likely && p.term_flags.is_none() {
        out.push("likely, not certain: /proc shows SIGTERM caught, and cannot tell the runtime's own re-raising handler from one the application registered".into());
    } else if p.likely {
        out.push("likely, not certain: a one-shot handler re-raises SIGTERM unless it exits the process itself".into());
    }
    if !p.resolved {
        out.push(format!(
            "advice: {}",
            if f.kind == FindingKind::Pid1StopSignal {
                p.init.sigterm_advice(TermFailure::KeptRunning)
            } else if f.kind == FindingKind::Pid1WillIgnoreSigterm {
                p.init.sigterm_advice(if p.likely {
                    TermFailure::ReRaised
                } else {
                    TermFailure::NoHandler
                })
            } else {
                "run it under an init that reaps (tini, dumb-init, catatonit), or set shareProcessNamespace so the pause process reaps".to_owned()
            }
        ));
    }
    out
}

fn join_summary(j: &Join) -> String {
    let a = &j.actor;
    let ok = j.ok();
    let verb = match (j.action, ok) {
        (Action::Setns { .. }, true) => "joined",
        (Action::Setns { .. }, false) => "tried to join",
        (_, true) => "created",
        (_, false) => "tried to create",
    };
    let what = match j.action {
        Action::Setns { .. } if j.targets.is_empty() => "a namespace".to_owned(),
        Action::Setns { .. } => {
            let into: Vec<String> = j
                .targets
                .iter()
                .map(|t| format!("{} {}", t.type_name(), t.place))
                .collect();
            into.join(", ")
        }
        _ => {
            let types: Vec<&str> = j.targets.iter().map(|t| t.type_name()).collect();
            format!("new {} namespace(s)", types.join(","))
        }
    };
    let mut s = format!(
        "{} (pid {}, uid {}) in {} {verb} {what}",
        a.comm, a.pid, a.uid, a.place
    );
    if !ok {
        let _ = write!(s, " ({})", j.result());
    }
    if let Some(why) = &j.expected {
        let _ = write!(s, " — expected: {why}");
    }
    s
}

fn join_evidence(j: &Join) -> Vec<String> {
    let a = &j.actor;
    let mut out = vec![
        format!(
            "actor: pid {} {} exe {} uid {} euid {} caps {} in {}",
            a.pid,
            a.comm,
            if a.exe.is_empty() { "?" } else { &a.exe },
            a.uid,
            a.euid,
            cap_summary(a.cap_effective),
            a.place
        ),
        match j.action {
            Action::Setns { fd, nstype } => format!(
                "action: setns(fd {fd}, {}) → {}",
                clone_flag_names(nstype, u64::MAX),
                j.result()
            ),
            Action::Unshare { flags } => format!(
                "action: unshare({}) → {}",
                clone_flag_names(flags, u64::MAX),
                j.result()
            ),
            Action::Clone { flags, child } => format!(
                "action: clone({}) → child {child}",
                clone_flag_names(flags, CLONE_NEW_MASK)
            ),
        },
    ];
    for t in &j.targets {
        out.push(format!(
            "target: {} {} — {}",
            t.type_name(),
            t.inode,
            t.place
        ));
    }
    out
}

/// Renders one finding: text (a headline and indented evidence) or one JSON line.
pub fn finding(a: &Attributed, format: Format, wall_offset_ns: i64) -> String {
    let f = &a.finding;
    match format {
        Format::Text => {
            let mut s = String::new();
            let clock = time::clock(f.ts_ns as i64 + wall_offset_ns);
            if f.severity == Severity::Info && a.allowed_by.is_none() && !f.resolved() {
                // For the record: one line each, so the findings that matter stand out.
                let _ = writeln!(s, "{clock} [INFO] {}  {}", f.kind.name(), safe(&summary(f)));
                return s;
            }
            let sev = match &a.allowed_by {
                Some(rule) => format!("allowed by \"{rule}\""),
                None if f.resolved() => "RESOLVED".to_owned(),
                None => f.severity.name().to_uppercase(),
            };
            let _ = writeln!(
                s,
                "{clock} [{sev}] {}  {}  pid {} ({})\n  {}",
                f.kind.name(),
                safe(&a.place.to_string()),
                f.pid,
                safe(&f.comm),
                safe(&summary(f))
            );
            for e in evidence(f) {
                let _ = writeln!(s, "    {}", safe(&e));
            }
            s
        }
        Format::Json => wire::to_line(&finding_line(a, wall_offset_ns)),
    }
}

/// One finding as its wire type.
pub fn finding_line(a: &Attributed, wall_offset_ns: i64) -> FindingLine<'_> {
    let f = &a.finding;
    FindingLine {
        finding: f.kind.name(),
        severity: f.severity.name(),
        time: time::rfc3339(f.ts_ns as i64 + wall_offset_ns),
        ts_ns: f.ts_ns,
        pid: f.pid,
        pid_ns: f.pid_ns,
        comm: &f.comm,
        pod: a.place.pod(),
        namespace: a.place.namespace(),
        container: a.place.container(),
        container_name: a.place.container_name(),
        allowed_by: a.allowed_by.as_deref(),
        join: f.join().map(join_wire),
        resolved: f.resolved(),
        port_conflict: f.port_conflict().map(conflict_wire),
        session: f.session().map(session_wire),
        exec_probe: f.probe().map(probe_wire),
        debug_container: f.attach().map(attach_wire),
        summary: summary(f),
        evidence: evidence(f),
    }
}

fn place_wire(p: &Place) -> PlaceWire<'_> {
    PlaceWire {
        class: p.class(),
        pod: p.pod(),
        namespace: p.namespace(),
        container: p.container(),
        container_name: p.container_name(),
        netns: p.netns_name(),
        text: p.to_string(),
    }
}

fn conflict_wire(c: &PortConflict) -> PortConflictWire<'_> {
    PortConflictWire {
        proto: c.proto.name(),
        port: c.port,
        netns: c.netns,
        node_network: c.node_network,
        relation: c.relation.name(),
        published: c.published,
        first: c.holder.as_ref().map(|h| PartyWire {
            pid: h.pid,
            comm: &h.comm,
            addr: h.addr.to_string(),
            place: place_wire(&h.place),
            bound_ts_ns: c.holder_bound_ns,
        }),
        then: PartyWire {
            pid: c.loser.pid,
            comm: &c.loser.comm,
            addr: c.loser.addr.to_string(),
            place: place_wire(&c.loser.place),
            bound_ts_ns: None,
        },
        holder_found_by: match (&c.holder, c.looked_up) {
            (None, _) => "none",
            (Some(_), true) => "lookup",
            (Some(_), false) => "bind_events",
        },
    }
}

fn callers_wire(c: &[Caller]) -> Vec<CallerWire<'_>> {
    c.iter()
        .map(|c| CallerWire {
            pid: c.pid,
            comm: &c.comm,
        })
        .collect()
}

fn entrant_wire(by: &Entrant) -> EntrantWire<'_> {
    EntrantWire {
        pid: by.pid,
        comm: &by.comm,
        tool: &by.tool,
        exe: &by.exe,
        uid: by.uid,
        cap_effective: by.cap_effective,
        caps: cap_summary(by.cap_effective),
        place: place_wire(&by.from),
    }
}

fn session_wire(x: &Session) -> SessionWire<'_> {
    SessionWire {
        container: place_wire(&x.container),
        runtime: &x.by.runtime,
        entered_by: entrant_wire(&x.by),
        callers: callers_wire(&x.by.callers),
        joined: x
            .joined
            .iter()
            .map(|j| JoinedWire {
                ns_type: j.ns_type.name(),
                inode: j.inode,
            })
            .collect(),
        argv: &x.argv,
        argv_truncated: x.argv_cut,
        exe: &x.exe,
        uid: x.uid,
        euid: x.euid,
        cap_effective: x.cap_effective,
        caps: cap_summary(x.cap_effective),
        tty: x.tty,
        interactive: x.interactive,
        processes: x
            .processes
            .iter()
            .map(|p| SessionProcessWire {
                pid: p.pid,
                comm: &p.comm,
                argv: &p.argv,
            })
            .collect(),
        processes_total: x.processes_total,
        start_ts_ns: x.start_ns,
        exec_ts_ns: x.exec_ns,
        end_ts_ns: x.end_ns,
        duration_s: wire::seconds(x.duration_ns()),
        exit_code: x.exit_code,
        pre_stop: x.pre_stop,
    }
}

fn probe_wire(p: &Probe) -> ProbeWire<'_> {
    ProbeWire {
        container: place_wire(&p.container),
        argv: &p.argv,
        runtime: &p.runtime,
        tool: &p.tool,
        callers: callers_wire(&p.callers),
        uid: p.uid,
        cap_effective: p.cap_effective,
        caps: cap_summary(p.cap_effective),
        period_s: wire::seconds(p.period_ns),
        runs: p.runs,
    }
}

fn attach_wire(a: &Attach) -> AttachWire<'_> {
    AttachWire {
        container: place_wire(&a.container),
        pid: a.pid,
        argv: &a.argv,
        uid: a.uid,
        cap_effective: a.cap_effective,
        caps: cap_summary(a.cap_effective),
        target: place_wire(&a.target),
        shares: a.shares.iter().map(|t| t.name()).collect(),
        runtime: &a.by.runtime,
        started_by: entrant_wire(&a.by),
        callers: callers_wire(&a.by.callers),
    }
}

fn join_wire(j: &Join) -> JoinWire<'_> {
    let a = &j.actor;
    JoinWire {
        actor: ActorWire {
            pid: a.pid,
            comm: &a.comm,
            exe: &a.exe,
            uid: a.uid,
            euid: a.euid,
            cap_effective: a.cap_effective,
            caps: cap_summary(a.cap_effective),
            place: place_wire(&a.place),
        },
        action: j.action.syscall(),
        flags: clone_flag_list(j.action.flags(), u64::MAX),
        fd: match j.action {
            Action::Setns { fd, .. } => Some(fd),
            _ => None,
        },
        child_pid: match j.action {
            Action::Clone { child, .. } => Some(child),
            _ => None,
        },
        targets: j
            .targets
            .iter()
            .map(|t| TargetWire {
                ns_type: t.type_name(),
                inode: t.inode,
                place: place_wire(&t.place),
            })
            .collect(),
        ret: j.ret,
        result: j.result(),
        expected: j.expected.as_ref().map(ToString::to_string),
    }
}

/// The summary's last text line when findings were not printed: how many,
/// how many of them routine runtime joins, and how to see them.
pub fn hidden_note(hidden: usize, routine: usize, min: Severity) -> String {
    let lower = Severity::ALL
        .into_iter()
        .rev()
        .find(|s| *s < min)
        .unwrap_or(Severity::Info);
    format!(
        "  not printed: {hidden} finding(s) below {min}, {routine} of them routine joins by container runtimes (--min-severity {lower} prints them)\n"
    )
}

/// What an audit watched over its run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watched {
    /// Ids of the containers seen running, sorted.
    pub containers: Vec<String>,
    /// The names the runtime gave those it could name (id → container name),
    /// read as they ran: a container that lived milliseconds is named too.
    pub names: BTreeMap<String, String>,
    /// PID-namespace inits whose signal handling was judged, sorted.
    pub inits: Vec<u32>,
    /// Processes seen reaping a child, sorted.
    pub reapers: Vec<u32>,
    /// Container shutdowns followed from SIGTERM to the end.
    pub shutdowns: usize,
    /// Exec probes recognised.
    pub probes: usize,
    /// Their runs, counted and not reported.
    pub probe_runs: u64,
}

/// End-of-run summary: findings per kind and severity (allowed ones apart),
/// policy hits per rule, zombies per PID namespace, and what the run watched.
pub fn summary_of_run(
    all: &[Attributed],
    zombies: &BTreeMap<u32, usize>,
    rule_hits: &[(&str, usize)],
    watched: &Watched,
    format: Format,
) -> String {
    let mut by_kind: BTreeMap<(&'static str, Severity), usize> = BTreeMap::new();
    let allowed = all.iter().filter(|a| a.allowed_by.is_some()).count();
    for a in all.iter().filter(|a| a.allowed_by.is_none()) {
        *by_kind
            .entry((a.finding.kind.name(), a.finding.severity))
            .or_insert(0) += 1;
    }
    match format {
        Format::Text => {
            let mut s = String::new();
            let _ = writeln!(
                s,
                "summary: {} finding(s), {allowed} allowed by policy",
                all.len() - allowed
            );
            for ((k, sev), n) in &by_kind {
                let _ = writeln!(s, "  {n} x {k} ({sev})");
            }
            for (rule, n) in rule_hits {
                let _ = writeln!(s, "  policy rule \"{rule}\": {n} hit(s)");
            }
            for (ns, n) in zombies {
                let _ = writeln!(s, "  zombies now in pid namespace {ns}: {n}");
            }
            if watched.probes > 0 {
                let _ = writeln!(
                    s,
                    "  exec probes: {} recognised, {} run(s) counted, not reported",
                    watched.probes, watched.probe_runs
                );
            }
            let _ = writeln!(
                s,
                "  watched: {} container(s) ({} named), {} init(s) judged, {} reaper(s) seen reaping, {} shutdown(s) followed",
                watched.containers.len(),
                watched.names.len(),
                watched.inits.len(),
                watched.reapers.len(),
                watched.shutdowns
            );
            s
        }
        Format::Json => {
            let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
            let mut sevs: BTreeMap<Severity, usize> = BTreeMap::new();
            for ((k, sev), n) in &by_kind {
                *kinds.entry(k).or_insert(0) += n;
                *sevs.entry(*sev).or_insert(0) += n;
            }
            wire::to_line(&SummaryLine {
                summary: SummaryWire {
                    findings: all.len() - allowed,
                    allowed,
                    by_kind: Ordered(kinds.into_iter().collect()),
                    by_severity: Ordered(sevs.into_iter().map(|(s, n)| (s.name(), n)).collect()),
                    policy_hits: Ordered(rule_hits.to_vec()),
                    zombies_by_pid_ns: Ordered(
                        zombies.iter().map(|(ns, n)| (ns.to_string(), *n)).collect(),
                    ),
                    watched: WatchedWire {
                        containers: &watched.containers,
                        names: &watched.names,
                        inits: &watched.inits,
                        reapers: &watched.reapers,
                        shutdowns: watched.shutdowns,
                    },
                    exec_probes: ExecProbesWire {
                        probes: watched.probes,
                        runs: watched.probe_runs,
                    },
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::pid1::{IgnoredSigterm, ZombieFact};
    use crate::detect::FindingKind;

    #[test]
    fn the_summary_says_what_the_run_watched() {
        let watched = Watched {
            containers: vec!["aaa".into(), "bbb".into()],
            names: [("aaa".to_owned(), "web".to_owned())].into(),
            inits: vec![7],
            reapers: vec![7, 9],
            shutdowns: 1,
            ..Watched::default()
        };
        let text = summary_of_run(&[], &BTreeMap::new(), &[], &watched, Format::Text);
        assert!(
            text.ends_with("  watched: 2 container(s) (1 named), 1 init(s) judged, 2 reaper(s) seen reaping, 1 shutdown(s) followed\n"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&summary_of_run(
            &[],
            &BTreeMap::new(),
            &[],
            &watched,
            Format::Json,
        ))
        .unwrap();
        assert_eq!(
            json["summary"]["watched"],
            serde_json::json!({"containers": ["aaa", "bbb"], "names": {"aaa": "web"}, "inits": [7], "reapers": [7, 9], "shutdowns": 1})
        );
    }

    fn f(evidence: Evidence) -> Finding {
        Finding {
            kind: FindingKind::Pid1NeverReaps,
            severity: Severity::Medium,
            ts_ns: 1,
            pid: 500,
            comm: "sh".into(),
            pid_ns: 7,
            evidence,
        }
    }

    #[test]
    fn the_summary_says_what_was_not_printed_and_how_to_print_it() {
        assert_eq!(
            hidden_note(12, 10, Severity::Low),
            "  not printed: 12 finding(s) below low, 10 of them routine joins by container runtimes (--min-severity info prints them)\n"
        );
        assert!(hidden_note(3, 0, Severity::High).contains("--min-severity medium prints them"));
    }

    #[test]
    fn pid1_findings_in_words() {
        let u = f(Evidence::Unreaped(Box::new(Unreaped {
            init: false,
            zombies: vec![ZombieFact {
                pid: 502,
                comm: "sleep".into(),
                age_ns: 5_000_000_000,
                code: 0,
                orphan: true,
                at_start: false,
            }],
            waited: false,
            threshold_ns: 5_000_000_000,
            chld: Disposition::Default,
            capable: false,
        })));
        assert_eq!(
            summary(&u),
            "child subreaper 500 (sh) leaves 1 zombie(s) unreaped for over 5s"
        );
        assert_eq!(
            evidence(&u),
            [
                "zombie 502 (sleep) exited 5.0s ago (exit 0), a reparented orphan",
                "sh never called wait4/waitid",
                "SIGCHLD default: sh is not told when its children exit"
            ]
        );
        let i = f(Evidence::IgnoredSigterm(IgnoredSigterm {
            sender: 42,
            sender_comm: "runc".into(),
            how: Dropped::AtGeneration,
        }));
        assert!(summary(&i).contains("dropped SIGTERM from 42 (runc); only SIGKILL"));
        let n = f(Evidence::NotForwarded(Box::new(NotForwarded {
            init: Init::Shell("sh".into()),
            sender: 42,
            sender_comm: "runc".into(),
            since_ns: 2_000_000_000,
            processes: vec![(501, "sleep".into())],
        })));
        assert!(summary(&n)
            .contains("took SIGTERM 2.0s ago and passed no terminating signal to its 1 running"));
        assert_eq!(evidence(&n)[1], "still running: 501 (sleep)");
        assert!(evidence(&n)[3].starts_with("advice: have the shell trap TERM"));
        let t = f(Evidence::Teardown(Box::new(TeardownKills {
            init: Init::Catatonit { group: false },
            sender: (42, "runc".into()),
            forwards: vec![((500, "catatonit".into()), (501, "sh".into()))],
            killed: vec![(502, "sleep".into())],
        })));
        assert!(
            summary(&t).contains("catatonit) exited after SIGTERM"),
            "{}",
            summary(&t)
        );
        let ev = evidence(&t);
        assert_eq!(ev[1], "forwarded: catatonit (500) → sh (501)");
        assert_eq!(
            ev[2],
            "nothing → sleep (502): SIGKILLed by the kernel when PID 1 exited"
        );
        assert!(ev[3].contains("catatonit with -g"), "{ev:?}");
    }

    #[test]
    fn port_conflicts_in_words_and_json() {
        use crate::detect::ports::{Party, PortConflict, Relation};
        use crate::model::net::Proto;
        use crate::model::{CtrRef, PodRef};
        let place = |c: &str| Place::Pod {
            pod: PodRef::named("web"),
            container: Some(CtrRef {
                id: format!("{:064}", 7),
                name: Some(c.into()),
            }),
        };
        let party = |pid, c: &str| Party {
            pid,
            comm: "httpd".into(),
            place: place(c),
            addr: "::".parse().unwrap(),
        };
        let c = PortConflict {
            proto: Proto::Tcp,
            port: 8080,
            netns: 4026532296,
            node_network: false,
            loser: party(202, "sidecar"),
            holder: Some(party(101, "web")),
            holder_bound_ns: Some(1_000_000_000),
            looked_up: false,
            relation: Relation::SiblingContainer,
            refused_ns: 3_500_000_000,
            published: false,
        };
        let mut fc = f(Evidence::PortConflict(Box::new(c.clone())));
        fc.kind = FindingKind::PortConflict;
        assert_eq!(
            summary(&fc),
            "container sidecar of pod web could not bind tcp :8080: container web of the same pod holds it (one port space for every container of a pod)"
        );
        assert_eq!(
            evidence(&fc),
            [
                "first: pid 101 (httpd) in pod web / container web bound tcp :8080 2.500s before",
                "then: pid 202 (httpd) in pod web / container sidecar: bind tcp :8080 → EADDRINUSE",
                "port space: net 4026532296, shared by every container of pod web",
                "holder: from the binds traced",
            ]
        );
        let a = Attributed {
            finding: fc,
            place: place("sidecar"),
            allowed_by: None,
        };
        let v: serde_json::Value = serde_json::from_str(&finding(&a, Format::Json, 0)).unwrap();
        assert_eq!(v["finding"], "port_conflict");
        assert_eq!(v["container_name"], "sidecar");
        let pc = &v["port_conflict"];
        assert_eq!(pc["port"], 8080);
        assert_eq!(pc["relation"], "sibling_container");
        assert_eq!(pc["first"]["place"]["container_name"], "web");
        assert_eq!(pc["then"]["pid"], 202);
        assert_eq!(pc["holder_found_by"], "bind_events");
        // Without a holder: one sentence that says so, no "first" line.
        let lone = PortConflict {
            holder: None,
            holder_bound_ns: None,
            relation: Relation::Unknown,
            ..c
        };
        let fu = f(Evidence::PortConflict(Box::new(lone)));
        assert!(
            summary(&fu).ends_with("no process holding it was found"),
            "{}",
            summary(&fu)
        );
        assert!(evidence(&fu)[0].starts_with("then: "));
        // Docker's proxy refused a published port: the container's clash.
        let proxy = PortConflict {
            loser: Party {
                pid: 77,
                comm: "docker-proxy".into(),
                place: Place::Node,
                addr: "127.0.0.1".parse().unwrap(),
            },
            holder: Some(Party {
                pid: 99,
                comm: "python3".into(),
                place: Place::Node,
                addr: "127.0.0.1".parse().unwrap(),
            }),
            relation: Relation::Node,
            node_network: true,
            published: true,
            ..c
        };
        let fp = f(Evidence::PortConflict(Box::new(proxy)));
        assert_eq!(
            summary(&fp),
            "Docker (docker-proxy 77) could not publish tcp 127.0.0.1:8080 on the node for a container (`-p`): the node (python3 99) holds it; the container does not start"
        );
    }

    #[test]
    fn sessions_in_words_and_json() {
        use crate::detect::sessions::Session;
        let s = Session::example();
        let a = Attributed {
            place: s.container.clone(),
            finding: Finding {
                kind: FindingKind::ExecSession,
                severity: Severity::Low,
                ts_ns: 1_031_000_000,
                pid: 18274,
                comm: "sh".into(),
                pid_ns: s.pid_ns,
                evidence: Evidence::Session(Box::new(s)),
            },
            allowed_by: None,
        };
        assert_eq!(
            summary(&a.finding),
            "podman (runc under conmon) entered container app of pod web: /bin/sh -c 'cat /proc/1/environ; id' as uid 0, caps CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,SETGID,SETUID,SETPCAP,NET_BIND_SERVICE,NET_RAW,SYS_CHROOT,MKNOD,AUDIT_WRITE,SETFCAP, no terminal; 2 process(es), ended after 0.031s"
        );
        let ev = evidence(&a.finding);
        assert_eq!(
            ev[0],
            "command: /bin/sh -c 'cat /proc/1/environ; id' (exe /bin/sh)"
        );
        assert_eq!(ev[1], "entered by: pid 18273 runc:[1:CHILD] (exe /usr/bin/runc, uid 0, caps all) from node, called by conmon 18263 ← podman 18253");
        assert_eq!(
            ev[2],
            "joined: ipc, uts, net, pid, mnt of pod web / container app"
        );
        assert_eq!(ev[4], "terminal: none");
        assert_eq!(
            ev[5],
            "processes: 18274 sh (/bin/sh -c 'cat /proc/1/environ; id'), 18279 cat (cat /proc/1/environ)"
        );
        assert_eq!(
            ev[6],
            "time: command 0.027s after entering, ended after 0.031s (exit 0 of pid 18274)"
        );
        let text = finding(&a, Format::Text, 0);
        assert!(
            text.contains("[LOW] exec_session  pod web / container app  pid 18274 (sh)"),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&finding(&a, Format::Json, 0)).unwrap();
        assert_eq!(v["finding"], "exec_session");
        assert_eq!(v["container_name"], "app");
        let x = &v["session"];
        assert_eq!(x["runtime"], "podman");
        assert_eq!(
            x["argv"],
            serde_json::json!(["/bin/sh", "-c", "cat /proc/1/environ; id"])
        );
        assert_eq!(x["entered_by"]["tool"], "runc");
        assert_eq!(x["callers"][0]["comm"], "conmon");
        assert_eq!(x["joined"][4]["type"], "mnt");
        assert_eq!(x["tty"], false);
        assert_eq!(x["processes_total"], 2);
        assert_eq!(x["duration_s"], 0.031);
        assert_eq!(x["end_ts_ns"], 1_031_000_000u64);
        assert_eq!(x["container"]["container_name"], "app");
    }

    #[test]
    fn json_finding_keeps_its_fields_in_order() {
        let a = Attributed {
            finding: f(Evidence::IgnoredSigterm(IgnoredSigterm {
                sender: 42,
                sender_comm: "runc".into(),
                how: Dropped::AtGeneration,
            })),
            place: Place::Node,
            allowed_by: None,
        };
        let line = finding(&a, Format::Json, 0);
        let keys: Vec<&str> = line
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|k| {
                [
                    "finding",
                    "severity",
                    "time",
                    "ts_ns",
                    "pid",
                    "pid_ns",
                    "comm",
                    "pod",
                    "namespace",
                    "container",
                    "container_name",
                    "allowed_by",
                    "join",
                    "summary",
                    "evidence",
                ]
                .contains(k)
            })
            .collect();
        assert_eq!(
            keys,
            [
                "finding",
                "severity",
                "time",
                "ts_ns",
                "pid",
                "pid_ns",
                "comm",
                "pod",
                "namespace",
                "container",
                "container_name",
                "allowed_by",
                "summary",
                "evidence"
            ]
        );
        assert!(line.ends_with("}\n"));
    }
}
