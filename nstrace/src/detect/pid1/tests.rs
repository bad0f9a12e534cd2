//! The PID-1 detectors together, from hand-built event sequences.

use super::*;
use crate::detect::Evidence;
use crate::event::Event;
use crate::model::testutil::{exit, fork, hdr, reap};
use crate::model::{Disposition, Init, Signals};
use crate::model::{Model, Process};
use nstrace_common::sig;
use nstrace_common::{Kind, NsSet, SignalGenerateEvent, WaitEvent, HANDLER_DFL};

const NODE_PID: u32 = 100;
const POD_PID: u32 = 200;
const S: u64 = 1_000_000_000;

fn node() -> NsSet {
    NsSet::from_array([1, 2, 3, NODE_PID, NODE_PID, 6, 7, 8, 9])
}

fn pod() -> NsSet {
    let mut n = node();
    n.pid = POD_PID;
    n.pid_for_children = POD_PID;
    n.mnt = 11;
    n
}

/// A model with an init (pid 500, ns pid 1) in the pod's PID namespace.
fn setup() -> (Model, Pid1) {
    let mut m = Model::new(node(), "node");
    m.add_snapshot(Process {
        pid: 500,
        ppid: 400,
        ns_pid: 1,
        comm: "sh".into(),
        ns: pod(),
        ..Process::default()
    });
    (m, Pid1::new(Config::default(), NODE_PID))
}

fn child(m: &mut Model, d: &mut Pid1, pid: u32, parent: u32, ts: u64, comm: &str) {
    let mut ev = fork(pid, parent, ts, pod(), comm);
    if let Event::Create(c) = &mut ev {
        c.hdr.ns_tgid = pid - 498;
    }
    m.apply(&ev);
    d.on_event(&ev, m);
}

fn unreaped(f: &Finding) -> &Unreaped {
    match &f.evidence {
        Evidence::Unreaped(u) => u,
        e => panic!("not pid1_never_reaps: {e:?}"),
    }
}

fn not_forwarded(f: &Finding) -> &NotForwarded {
    match &f.evidence {
        Evidence::NotForwarded(n) => n,
        e => panic!("not sigterm_not_forwarded: {e:?}"),
    }
}

/// One event through the model and the detector, as the session does it:
/// applied, seen, then what it released leaves.
fn feed(m: &mut Model, d: &mut Pid1, ev: Event) -> Vec<Finding> {
    m.apply(&ev);
    let released = m.releases(&ev);
    let f = d.on_event(&ev, m);
    for r in &released {
        d.released(r.pid);
    }
    m.release(&released);
    f
}

fn sig(from: u32, to: u32, to_ns_pid: u32, sig: u32, result: u32, ts: u64) -> Event {
    Event::SignalGenerate(SignalGenerateEvent {
        hdr: hdr(Kind::SignalGenerate, from, 1, ts, node(), "sender"),
        sig,
        result,
        group: 1,
        target_tgid: to,
        target_tid: to,
        target_ns_tgid: to_ns_pid,
        target_ns: pod(),
        ..Default::default()
    })
}

fn wait(pid: u32, ts: u64) -> Event {
    Event::Wait(WaitEvent {
        hdr: hdr(Kind::Wait, pid, 1, ts, pod(), "sh"),
        ..Default::default()
    })
}

fn exit_with_parent(pid: u32, parent: u32, ts: u64) -> Event {
    let mut e = exit(pid, ts, 0);
    if let Event::Exit(x) = &mut e {
        x.hdr.ppid = parent;
        x.hdr.ns = pod();
    }
    e
}

#[test]
fn init_that_never_reaps_an_orphan_is_reported_once() {
    let (mut m, mut d) = setup();
    // 501 (child of init) forks 502, exits and is reaped; 502 is orphaned to the init.
    child(&mut m, &mut d, 501, 500, S, "sh");
    child(&mut m, &mut d, 502, 501, S, "sleep");
    feed(&mut m, &mut d, exit_with_parent(501, 500, 2 * S));
    feed(&mut m, &mut d, reap(501, 2 * S));
    feed(&mut m, &mut d, exit_with_parent(502, 500, 3 * S));
    assert!(d.on_tick(7 * S, &m).is_empty(), "4 s old: not yet");
    let f = d.on_tick(8 * S, &m);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FindingKind::Pid1NeverReaps);
    assert_eq!(f[0].pid, 500);
    let u = unreaped(&f[0]);
    assert!(u.zombies.iter().any(|z| z.pid == 502 && z.orphan));
    assert!(!u.waited, "never called wait");
    assert_eq!(d.zombie_counts().get(&POD_PID), Some(&1));
    assert!(d.on_tick(20 * S, &m).is_empty(), "reported once");
}

#[test]
fn init_that_reaps_gives_nothing() {
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "sleep");
    feed(&mut m, &mut d, wait(500, S));
    feed(&mut m, &mut d, exit_with_parent(501, 500, 2 * S));
    feed(&mut m, &mut d, reap(501, 2 * S + 1000));
    assert!(d.on_tick(60 * S, &m).is_empty());
}

#[test]
fn sigchld_ignored_means_autoreap_and_no_finding() {
    // With SIGCHLD ignored the kernel releases the child right at exit.
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "sleep");
    feed(&mut m, &mut d, exit_with_parent(501, 500, 2 * S));
    feed(&mut m, &mut d, reap(501, 2 * S));
    assert!(d.on_tick(60 * S, &m).is_empty());
}

#[test]
fn zombies_of_ordinary_parents_are_not_pid1_findings() {
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "sh");
    child(&mut m, &mut d, 502, 501, S, "sleep");
    // 501 is no init and 502 is its own child, not a reparented orphan.
    feed(&mut m, &mut d, exit_with_parent(502, 501, 2 * S));
    assert!(d.on_tick(60 * S, &m).is_empty());
}

#[test]
fn subreaper_holding_orphans_is_reported_as_such() {
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "subreaper");
    child(&mut m, &mut d, 502, 501, S, "sh");
    child(&mut m, &mut d, 503, 502, S, "sleep");
    feed(&mut m, &mut d, exit_with_parent(502, 501, 2 * S));
    feed(&mut m, &mut d, reap(502, 2 * S));
    // 503 was reparented to 501 (not the init): 501 is a child subreaper.
    feed(&mut m, &mut d, exit_with_parent(503, 501, 3 * S));
    let f = d.on_tick(10 * S, &m);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].pid, 501);
    assert!(!unreaped(&f[0]).init, "a child subreaper");
}

#[test]
fn pid_reuse_forgets_the_old_zombie() {
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "sleep");
    feed(&mut m, &mut d, exit_with_parent(501, 500, 2 * S));
    // The pid comes back as a new process (the old one was reaped without us seeing it).
    child(&mut m, &mut d, 501, 500, 3 * S, "sleep");
    assert!(d.on_tick(60 * S, &m).is_empty());
}

#[test]
fn threads_exiting_are_not_zombies() {
    let (mut m, mut d) = setup();
    let mut t = exit_with_parent(500, 400, 2 * S);
    if let Event::Exit(x) = &mut t {
        x.group_dead = 0;
        x.hdr.tid = 510;
    }
    feed(&mut m, &mut d, t);
    assert!(d.on_tick(60 * S, &m).is_empty());
    assert!(d.zombie_counts().is_empty());
}

#[test]
fn ignored_sigterm_is_high_and_names_the_sender() {
    let (mut m, mut d) = setup();
    let f = feed(&mut m, &mut d, sig(42, 500, 1, 15, 1, S));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FindingKind::Pid1IgnoresSigterm);
    assert_eq!(f[0].severity, Severity::High);
    let Evidence::IgnoredSigterm(e) = &f[0].evidence else {
        panic!("{f:?}")
    };
    assert_eq!(e.sender, 42);
    assert!(
        feed(&mut m, &mut d, sig(42, 500, 1, 15, 1, 2 * S)).is_empty(),
        "once"
    );
    // SIGTERM to a non-init, or to the node's init, is not this finding.
    assert!(feed(&mut m, &mut d, sig(42, 501, 2, 15, 1, S)).is_empty());
}

#[test]
fn a_sigterm_pid_1_sends_itself_is_not_ignoring_sigterm() {
    // busybox re-raises the SIGTERM it handled on its way out; as PID 1 the
    // kernel drops it. That says nothing about how the init is stopped.
    let (mut m, mut d) = setup();
    assert!(feed(&mut m, &mut d, sig(500, 500, 1, 15, 1, S)).is_empty());
    assert_eq!(feed(&mut m, &mut d, sig(42, 500, 1, 15, 1, 2 * S)).len(), 1);
}

#[test]
fn sigterm_taken_and_not_forwarded_while_children_run() {
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "sleep");
    feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
    assert!(d.on_tick(11 * S, &m).is_empty(), "inside the window");
    let f = d.on_tick(12 * S, &m);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FindingKind::SigtermNotForwarded);
    assert_eq!(not_forwarded(&f[0]).processes, [(501, "sleep".to_owned())]);
    assert!(d.on_tick(30 * S, &m).is_empty(), "once");
}

#[test]
fn forwarding_init_gives_nothing_even_with_pending_sigterm() {
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "sleep");
    // Already pending (result 2) still counts as taken.
    feed(&mut m, &mut d, sig(42, 500, 1, 15, 2, 10 * S));
    feed(&mut m, &mut d, sig(500, 501, 2, 15, 0, 10 * S + 1000));
    assert!(d.on_tick(20 * S, &m).is_empty());
}

#[test]
fn init_exiting_first_leaves_children_to_sigkill() {
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "sleep");
    feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
    let f = feed(&mut m, &mut d, exit_with_parent(500, 400, 10 * S + 5000));
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].kind, f[0].severity),
        (FindingKind::KilledAtTeardown, Severity::Low),
        "a teardown kill, not a missing forward"
    );
    let Evidence::Teardown(t) = &f[0].evidence else {
        panic!("{f:?}")
    };
    assert_eq!(t.killed, [(501, "sleep".to_owned())]);
    assert!(t.forwards.is_empty());
    // The kernel's SIGKILLs that follow are not mistaken for forwarding, nor re-reported.
    feed(&mut m, &mut d, sig(500, 501, 2, 9, 0, 10 * S + 6000));
    assert!(d.on_tick(30 * S, &m).is_empty());
}

#[test]
fn starting_mid_shutdown_without_the_sigterm_gives_no_guess() {
    // nstrace attached after SIGTERM was sent: no SIGTERM event, so no forwarding verdict.
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "sleep");
    feed(&mut m, &mut d, exit_with_parent(500, 400, 5 * S));
    assert!(d.on_tick(30 * S, &m).is_empty());
}

#[test]
fn zombie_already_there_at_start_is_reported_with_its_age() {
    let mut m = Model::new(node(), "node");
    m.add_snapshot(Process {
        pid: 500,
        ppid: 400,
        ns_pid: 1,
        comm: "sleep".into(),
        ns: pod(),
        seen_ns: S,
        ..Process::default()
    });
    m.add_snapshot(Process {
        pid: 507,
        ppid: 500,
        ns_pid: 7,
        comm: "sleep".into(),
        ns: pod(),
        zombie: true,
        seen_ns: S,
        ..Process::default()
    });
    let mut d = Pid1::new(Config::default(), NODE_PID);
    d.seed(&m);
    assert!(d.on_tick(5 * S, &m).is_empty(), "seen 4 s ago: not yet");
    let f = d.on_tick(6 * S, &m);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].kind, f[0].pid), (FindingKind::Pid1NeverReaps, 500));
    assert!(
        unreaped(&f[0])
            .zombies
            .iter()
            .any(|z| z.pid == 507 && z.at_start),
        "{f:?}"
    );
    assert_eq!(d.zombie_counts().get(&POD_PID), Some(&1));
}

#[test]
fn zombie_counts_are_lasting_zombies_by_their_own_namespace() {
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "sleep");
    feed(&mut m, &mut d, exit_with_parent(501, 500, 2 * S));
    d.on_tick(3 * S, &m);
    assert!(d.zombie_counts().is_empty(), "1 s old is not lasting");
    // Its parent (the init) is gone from the model; the count still names the zombie's namespace.
    d.on_tick(8 * S, &m);
    feed(&mut m, &mut d, reap(500, 8 * S));
    assert_eq!(d.zombie_counts().get(&POD_PID), Some(&1));
}

#[test]
fn init_forwarding_to_its_child_only_leaves_the_grandchild_to_sigkill() {
    // tini without -g: TERM reaches its child sh, not sh's child sleep; tini exits.
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "sh");
    child(&mut m, &mut d, 502, 501, S, "sleep");
    feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
    feed(&mut m, &mut d, sig(500, 501, 3, 15, 0, 10 * S + 100));
    let mut sh_dies = exit_with_parent(501, 500, 10 * S + 200);
    if let Event::Exit(x) = &mut sh_dies {
        x.exit_code = 15;
    }
    feed(&mut m, &mut d, sh_dies);
    let f = feed(&mut m, &mut d, exit_with_parent(500, 400, 10 * S + 300));
    assert_eq!(f.len(), 1, "{f:?}");
    // tini did forward (to sh): the grandchild's end is a teardown kill, not a missing forward.
    assert_eq!(f[0].kind, FindingKind::KilledAtTeardown);
    let Evidence::Teardown(t) = &f[0].evidence else {
        panic!("{f:?}")
    };
    assert_eq!(t.killed, [(502, "sleep".to_owned())]);
    assert_eq!(t.forwards.len(), 1);
    assert_eq!((t.forwards[0].0 .0, t.forwards[0].1 .0), (500, 501));
}

#[test]
fn forwarding_to_the_whole_process_group_gives_nothing() {
    // tini -g / dumb-init: TERM reaches every process before the init exits.
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "sh");
    child(&mut m, &mut d, 502, 501, S, "sleep");
    feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
    feed(&mut m, &mut d, sig(500, 501, 3, 15, 0, 10 * S + 100));
    feed(&mut m, &mut d, sig(500, 502, 4, 15, 0, 10 * S + 110));
    feed(&mut m, &mut d, exit_with_parent(502, 501, 10 * S + 200));
    feed(&mut m, &mut d, reap(502, 10 * S + 210));
    feed(&mut m, &mut d, exit_with_parent(501, 500, 10 * S + 250));
    feed(&mut m, &mut d, reap(501, 10 * S + 260));
    assert!(feed(&mut m, &mut d, exit_with_parent(500, 400, 10 * S + 300)).is_empty());
    assert!(d.on_tick(30 * S, &m).is_empty());
}

#[test]
fn init_killed_at_the_end_of_the_grace_period_is_not_also_unforwarded() {
    // Plain tini forwarded to its child; the grandchild ran on; SIGKILL after the grace period.
    let (mut m, mut d) = setup();
    child(&mut m, &mut d, 501, 500, S, "sh");
    child(&mut m, &mut d, 502, 501, S, "sleep");
    feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
    feed(&mut m, &mut d, sig(500, 501, 3, 15, 0, 10 * S + 100));
    assert!(d.on_tick(13 * S, &m).is_empty(), "it did forward");
    feed(&mut m, &mut d, sig(43, 500, 1, 9, 0, 15 * S));
    let mut killed = exit_with_parent(500, 400, 15 * S + 100);
    if let Event::Exit(x) = &mut killed {
        x.exit_code = 9;
    }
    assert!(feed(&mut m, &mut d, killed).is_empty());
}

fn init_with(exe: &str, cmdline: &str, comm: &str, caught: &[u32], blocked: &[u32]) -> Model {
    let mask = |sigs: &[u32]| sigs.iter().fold(0u64, |m, s| m | 1 << (s - 1));
    let mut m = Model::new(node(), "node");
    m.add_snapshot(Process {
        pid: 500,
        ppid: 400,
        ns_pid: 1,
        comm: comm.into(),
        exe: exe.into(),
        cmdline: cmdline.into(),
        ns: pod(),
        program_ns: 0,
        signals: crate::model::Signals {
            caught: mask(caught),
            ignored: 0,
            blocked: mask(blocked),
            known: true,
            kernel: None,
        },
        ..Process::default()
    });
    m
}

fn kinds(f: &[Finding]) -> Vec<(FindingKind, Severity, bool)> {
    f.iter()
        .map(|f| (f.kind, f.severity, f.resolved()))
        .collect()
}

#[test]
fn a_shell_without_a_trap_is_predicted_to_drop_sigterm_once_it_has_run_a_while() {
    let mut m = init_with("/bin/busybox", "/bin/sh -c sleep 1000", "sh", &[2, 17], &[]);
    let mut d = Pid1::new(Config::default(), NODE_PID);
    assert!(d.on_tick(2 * S, &m).is_empty(), "too young to judge");
    let f = d.on_tick(4 * S, &m);
    assert_eq!(
        kinds(&f),
        [(FindingKind::Pid1WillIgnoreSigterm, Severity::Medium, false)],
        "a shell handles SIGCHLD: it can reap"
    );
    let Evidence::Prediction(p) = &f[0].evidence else {
        panic!("{f:?}")
    };
    assert_eq!(p.init, Init::Shell("sh".into()));
    assert_eq!(p.disposition, Disposition::Default);
    assert!(d.on_tick(5 * S, &m).is_empty(), "raised once");
    // The script installs its trap later: the prediction is withdrawn.
    let mut now = m.get(500).unwrap().signals;
    now.caught |= 1 << 14;
    m.set_signals(500, 6 * S, now);
    let f = d.on_tick(6 * S, &m);
    assert_eq!(
        kinds(&f),
        [(FindingKind::Pid1WillIgnoreSigterm, Severity::Info, true)]
    );
    assert!(d.on_tick(7 * S, &m).is_empty());
}

#[test]
fn inits_that_handle_or_wait_for_sigterm_are_not_predicted() {
    // A trap; catatonit's way (signals blocked, read from a signalfd); and
    // tini's, which /proc shows as nothing at all: inside sigtimedwait the
    // kernel unblocks what it waits for (`real_blocked` is not in /proc).
    for m in [
        init_with("/bin/busybox", "/bin/sh -c x", "sh", &[2, 15, 17], &[]),
        init_with("/bin/busybox", "/bin/sh -c x", "sh", &[2, 17], &[15]),
        init_with("/usr/bin/tini-static", "tini -g -- app", "tini", &[], &[]),
    ] {
        let mut d = Pid1::new(Config::default(), NODE_PID);
        assert!(d.on_tick(10 * S, &m).is_empty());
    }
}

#[test]
fn an_application_as_pid_1_that_does_not_handle_sigchld_cannot_reap() {
    let m = init_with("/bin/busybox", "sleep 1000", "sleep", &[], &[]);
    let mut d = Pid1::new(Config::default(), NODE_PID);
    let f = d.on_tick(10 * S, &m);
    assert_eq!(
        kinds(&f),
        [
            (FindingKind::Pid1WillIgnoreSigterm, Severity::Medium, false),
            (FindingKind::Pid1NotReapingCapable, Severity::Low, false)
        ]
    );
    // Not judged without its signal state.
    let mut unknown = m.clone();
    let mut s = unknown.get(500).unwrap().signals;
    s.known = false;
    unknown.set_signals(500, 1, s);
    assert!(Pid1::new(Config::default(), NODE_PID)
        .on_tick(10 * S, &unknown)
        .is_empty());
}

fn deliver_to(pid: u32, ts: u64, handler: u64, sa_flags: u64) -> Event {
    crate::model::testutil::deliver(pid, 1, ts, pod(), sig::TERM, handler, sa_flags)
}

fn ignored(f: &[Finding]) -> Vec<Dropped> {
    f.iter()
        .filter_map(|f| match &f.evidence {
            Evidence::IgnoredSigterm(e) if f.kind == FindingKind::Pid1IgnoresSigterm => {
                assert_eq!(f.severity, Severity::High);
                Some(e.how)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_handler_re_raising_inside_itself_is_ignoring_sigterm_once_the_window_closes() {
    // Node.js as PID 1: its SA_RESETHAND handler raises SIGTERM again inside
    // itself; queued while blocked, dropped when dequeued with the default.
    let (mut m, mut d) = setup();
    feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
    feed(
        &mut m,
        &mut d,
        deliver_to(500, 10 * S + 10, 0x55_0000, 0x8400_0000),
    );
    feed(&mut m, &mut d, sig(500, 500, 1, 15, 0, 10 * S + 20));
    let f = feed(
        &mut m,
        &mut d,
        deliver_to(500, 10 * S + 30, HANDLER_DFL, 0x8400_0000),
    );
    assert!(f.is_empty(), "judged when the window closes, not at once");
    assert!(d.on_tick(11 * S, &m).is_empty());
    let f = d.on_tick(13 * S, &m);
    assert_eq!(
        ignored(&f),
        [Dropped::ReRaised {
            at_delivery: true,
            resethand: true
        }]
    );
    let Evidence::IgnoredSigterm(e) = &f[0].evidence else {
        unreachable!()
    };
    assert_eq!(e.sender, 42, "the outside sender, not PID 1 itself");
    assert!(d.on_tick(20 * S, &m).is_empty(), "once");
    // No child: "not forwarded" is no part of it.
    assert!(!f.iter().any(|f| f.kind == FindingKind::SigtermNotForwarded));
}

#[test]
fn a_handler_re_raising_after_itself_is_ignoring_sigterm_too() {
    // Python: handler runs, SIG_DFL restored, os.kill(getpid(), SIGTERM)
    // dropped as it is raised (result ignored).
    let (mut m, mut d) = setup();
    feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
    feed(
        &mut m,
        &mut d,
        deliver_to(500, 10 * S + 10, 0x55_0000, 0x0400_0000),
    );
    feed(&mut m, &mut d, sig(500, 500, 1, 15, 1, 10 * S + 20));
    assert_eq!(
        ignored(&d.on_tick(13 * S, &m)),
        [Dropped::ReRaised {
            at_delivery: false,
            resethand: false
        }]
    );
}

#[test]
fn an_init_re_raising_on_its_way_out_is_not_ignoring_sigterm() {
    // busybox handles TERM, re-raises and exits: gone before the window closes.
    let (mut m, mut d) = setup();
    feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
    feed(&mut m, &mut d, deliver_to(500, 10 * S + 10, 0x55_0000, 0));
    feed(&mut m, &mut d, sig(500, 500, 1, 15, 1, 10 * S + 20));
    feed(&mut m, &mut d, exit_with_parent(500, 400, 10 * S + 30));
    assert!(ignored(&d.on_tick(20 * S, &m)).is_empty());
}

#[test]
fn sigterm_blocked_without_a_handler_is_dropped_at_delivery() {
    let (mut m, mut d) = setup();
    feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 10 * S));
    feed(&mut m, &mut d, deliver_to(500, 11 * S, HANDLER_DFL, 0));
    assert_eq!(ignored(&d.on_tick(14 * S, &m)), [Dropped::AtDelivery]);
}

#[test]
fn node_as_pid_1_is_likely_to_drop_sigterm_and_the_jvm_is_not() {
    // Both show SIGTERM caught in /proc; only Node.js's own handler re-raises.
    // (Node.js 20's SigCgt as PID 1: INT, USR1, SEGV, TERM and 33, no
    // SIGCHLD until it spawns a child.)
    let m = init_with(
        "/usr/bin/node",
        "node a.js",
        "node",
        &[2, 10, 11, 15, 33],
        &[],
    );
    let mut d = Pid1::new(Config::default(), NODE_PID);
    let f = d.on_tick(10 * S, &m);
    assert_eq!(
        kinds(&f),
        [
            (FindingKind::Pid1WillIgnoreSigterm, Severity::Low, false),
            (FindingKind::Pid1NotReapingCapable, Severity::Low, false),
        ],
        "likely, below a certain prediction"
    );
    let Evidence::Prediction(p) = &f[0].evidence else {
        unreachable!()
    };
    assert!(p.likely);
    let jvm = init_with(
        "/usr/bin/java",
        "java -jar a.jar",
        "java",
        &[2, 15, 17],
        &[],
    );
    assert!(Pid1::new(Config::default(), NODE_PID)
        .on_tick(10 * S, &jvm)
        .is_empty());
    // CPython leaves SIGTERM alone: certain.
    let py = init_with(
        "/usr/bin/python3.11",
        "python3 app.py",
        "python3",
        &[2],
        &[],
    );
    let f = Pid1::new(Config::default(), NODE_PID).on_tick(10 * S, &py);
    assert!(f.contains_kind(FindingKind::Pid1WillIgnoreSigterm, Severity::Medium));
}

trait ContainsKind {
    fn contains_kind(&self, kind: FindingKind, sev: Severity) -> bool;
}

impl ContainsKind for Vec<Finding> {
    fn contains_kind(&self, kind: FindingKind, sev: Severity) -> bool {
        self.iter().any(|f| f.kind == kind && f.severity == sev)
    }
}

#[test]
fn exiting_on_sigterm_withdraws_the_prediction() {
    // The application registered its own listener: /proc could not tell, the exit does.
    let mut m = init_with("/usr/bin/node", "node server.js", "node", &[2, 15, 17], &[]);
    let mut d = Pid1::new(Config::default(), NODE_PID);
    assert_eq!(d.on_tick(10 * S, &m).len(), 1);
    feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 11 * S));
    let mut bye = exit_with_parent(500, 400, 11 * S + 100);
    if let Event::Exit(x) = &mut bye {
        x.exit_code = 0;
    }
    let f = feed(&mut m, &mut d, bye);
    assert_eq!(
        kinds(&f),
        [(FindingKind::Pid1WillIgnoreSigterm, Severity::Info, true)]
    );
    let Evidence::Prediction(p) = &f[0].evidence else {
        unreachable!()
    };
    assert!(p.exited_on_sigterm);
}

#[test]
fn an_init_on_its_way_out_after_sigterm_is_not_predicted_anew() {
    // CPython with its own SIGTERM handler: not predicted while it runs.
    let mut m = init_with(
        "/usr/bin/python3",
        "python3 app.py",
        "python3",
        &[2, 15],
        &[],
    );
    let mut d = Pid1::new(Config::default(), NODE_PID);
    let will_ignore = |f: &[Finding]| {
        f.iter()
            .any(|f| f.kind == FindingKind::Pid1WillIgnoreSigterm)
    };
    assert!(!will_ignore(&d.on_tick(10 * S, &m)));
    // SIGTERM taken by the handler; its sys.exit() finalizes the
    // interpreter, which sets SIGTERM back to the default before the exit.
    feed(&mut m, &mut d, sig(42, 500, 1, 15, 0, 11 * S));
    let mut now = m.get(500).unwrap().signals;
    now.caught &= !(1 << 14);
    m.set_signals(500, 11 * S + 10, now);
    assert!(
        !will_ignore(&d.on_tick(12 * S, &m)),
        "a stop under way is judged by what happens, not predicted"
    );
}

/// tini (a reaping init) as PID 1 with an orphan that exited at 3 s.
fn starved_reaper() -> (Model, Pid1) {
    let mut m = init_with("/usr/bin/tini", "tini -- sh -c x", "tini", &[], &[]);
    let mut d = Pid1::new(Config::default(), NODE_PID);
    child(&mut m, &mut d, 501, 500, S, "sh");
    child(&mut m, &mut d, 502, 501, S, "sleep");
    feed(&mut m, &mut d, exit_with_parent(501, 500, 2 * S));
    feed(&mut m, &mut d, reap(501, 2 * S));
    feed(&mut m, &mut d, exit_with_parent(502, 500, 3 * S));
    (m, d)
}

fn never_reaps(f: &[Finding]) -> bool {
    f.iter().any(|f| f.kind == FindingKind::Pid1NeverReaps)
}

#[test]
fn a_reaping_init_that_did_not_run_since_its_child_exited_is_not_judged() {
    // A loaded node: tini got no CPU for 20 s. Not "never reaps".
    let (m, mut d) = starved_reaper();
    assert!(!never_reaps(&d.on_tick(23 * S, &m)));
}

#[test]
fn a_reaping_init_that_waited_for_its_child_is_not_judged_while_the_free_is_late() {
    // tini waited at once; the kernel's release (sched_process_free, after
    // an RCU grace period) is late: the reap is under way.
    let (mut m, mut d) = starved_reaper();
    feed(&mut m, &mut d, wait(500, 3 * S + 1000));
    assert!(!never_reaps(&d.on_tick(23 * S, &m)));
}

#[test]
fn a_reaping_init_that_ran_and_did_not_wait_for_its_child_never_reaps() {
    let (mut m, mut d) = starved_reaper();
    // It ran (it sent a signal) and waited only for another pid.
    feed(&mut m, &mut d, sig(500, 777, 9, 15, 0, 4 * S));
    let mut other = wait(500, 4 * S);
    if let Event::Wait(w) = &mut other {
        w.syscall = nstrace_common::WAIT_WAIT4;
        w.pid = 9;
    }
    feed(&mut m, &mut d, other);
    let f = d.on_tick(9 * S, &m);
    assert!(never_reaps(&f), "{f:?}");
    assert!(
        unreaped(
            f.iter()
                .find(|f| f.kind == FindingKind::Pid1NeverReaps)
                .unwrap()
        )
        .capable
    );
}

/// An init whose dispositions the kernel showed: SIGTERM (and SIGINT)
/// handled with `term_flags`.
fn init_from_kernel(exe: &str, cmdline: &str, comm: &str, term_flags: u32) -> Model {
    let mut m = init_with(exe, cmdline, comm, &[2, 15], &[]);
    let mut e = nstrace_common::SigStateEvent {
        hdr: hdr(Kind::SigState, 500, 400, S, pod(), comm),
        reason: nstrace_common::sigstate::reason::AT_START,
        caught: (1 << 1) | (1 << 14),
        ..Default::default()
    };
    e.hdr.ns_tgid = 1;
    e.sa_flags[1] = term_flags;
    e.sa_flags[14] = term_flags;
    m.apply(&Event::SigState(e));
    assert_eq!(m.get(500).unwrap().signals.flags_of(15), Some(term_flags));
    m
}

#[test]
fn node_with_and_without_a_listener_are_told_apart_by_the_kernels_flags() {
    use nstrace_common::sigstate::sa;
    // Node.js's own handler: SA_RESETHAND (seen here as 0x84000000 with SA_RESTORER).
    let bare = init_from_kernel(
        "/usr/bin/node",
        "node a.js",
        "node",
        sa::RESETHAND | sa::RESTORER,
    );
    let f = Pid1::new(Config::default(), NODE_PID).on_tick(10 * S, &bare);
    assert!(
        f.contains_kind(FindingKind::Pid1WillIgnoreSigterm, Severity::Medium),
        "certain: {f:?}"
    );
    let p = f
        .iter()
        .find_map(|f| match &f.evidence {
            Evidence::Prediction(p) if f.kind == FindingKind::Pid1WillIgnoreSigterm => Some(p),
            _ => None,
        })
        .unwrap();
    assert!(!p.likely);
    assert_eq!(p.term_flags, Some(sa::RESETHAND | sa::RESTORER));
    // libuv's listener for process.on('SIGTERM'): SA_RESTART, no SA_RESETHAND.
    let listens = init_from_kernel(
        "/usr/bin/node",
        "node a.js",
        "node",
        sa::RESTART | sa::RESTORER,
    );
    let f = Pid1::new(Config::default(), NODE_PID).on_tick(10 * S, &listens);
    assert!(
        !f.iter()
            .any(|f| f.kind == FindingKind::Pid1WillIgnoreSigterm),
        "clean: {f:?}"
    );
}

#[test]
fn any_one_shot_sigterm_handler_at_pid_1_is_the_re_raise_pattern_and_only_likely() {
    use nstrace_common::sigstate::sa;
    let app = init_from_kernel("/srv/app", "app serve", "app", sa::RESETHAND | sa::SIGINFO);
    let f = Pid1::new(Config::default(), NODE_PID).on_tick(10 * S, &app);
    assert!(
        f.contains_kind(FindingKind::Pid1WillIgnoreSigterm, Severity::Low),
        "{f:?}"
    );
    // The same application with an ordinary handler: nothing predicted.
    let plain = init_from_kernel("/srv/app", "app serve", "app", sa::SIGINFO | sa::RESTART);
    let f = Pid1::new(Config::default(), NODE_PID).on_tick(10 * S, &plain);
    assert!(
        !f.iter()
            .any(|f| f.kind == FindingKind::Pid1WillIgnoreSigterm),
        "{f:?}"
    );
    // An init program with a one-shot handler is no application re-raising.
    let tini = init_from_kernel("/usr/bin/tini", "tini -- app", "tini", sa::RESETHAND);
    let f = Pid1::new(Config::default(), NODE_PID).on_tick(10 * S, &tini);
    assert!(
        !f.iter()
            .any(|f| f.kind == FindingKind::Pid1WillIgnoreSigterm),
        "{f:?}"
    );
}

#[test]
fn kernel_flags_outlive_a_proc_read_that_agrees_and_not_an_exec() {
    use nstrace_common::sigstate::sa;
    let mut m = init_from_kernel("/usr/bin/node", "node a.js", "node", sa::RESETHAND);
    // The collector's /proc re-read: same handlers, no flags of its own.
    let proc_read = Signals {
        kernel: None,
        ..m.get(500).unwrap().signals
    };
    m.set_signals(500, 2 * S, proc_read);
    assert_eq!(
        m.get(500).unwrap().signals.flags_of(15),
        Some(sa::RESETHAND)
    );
    // A record older than what the kernel said is not taken.
    let mut old = nstrace_common::SigStateEvent {
        hdr: hdr(Kind::SigState, 500, 400, S / 2, pod(), "node"),
        caught: 1 << 14,
        ..Default::default()
    };
    old.sa_flags[14] = sa::RESTART;
    m.apply(&Event::SigState(old));
    assert_eq!(
        m.get(500).unwrap().signals.flags_of(15),
        Some(sa::RESETHAND)
    );
}

#[test]
fn a_server_whose_sigterm_is_no_graceful_stop_is_predicted_in_its_own_terms() {
    // uWSGI without --die-on-term reloads on SIGTERM: certain, medium.
    let uwsgi = init_with(
        "/usr/bin/uwsgi-core",
        "uwsgi --master",
        "uwsgi",
        &[2, 3, 15, 17],
        &[],
    );
    let f = Pid1::new(Config::default(), NODE_PID).on_tick(10 * S, &uwsgi);
    assert!(
        f.contains_kind(FindingKind::Pid1StopSignal, Severity::Medium),
        "{f:?}"
    );
    assert!(!f
        .iter()
        .any(|f| f.kind == FindingKind::Pid1WillIgnoreSigterm));
    // nginx stops fast on SIGTERM: low.
    let nginx = init_with(
        "/usr/sbin/nginx",
        "nginx: master process",
        "nginx",
        &[1, 2, 3, 15, 17],
        &[],
    );
    let f = Pid1::new(Config::default(), NODE_PID).on_tick(10 * S, &nginx);
    assert!(
        f.contains_kind(FindingKind::Pid1StopSignal, Severity::Low),
        "{f:?}"
    );
    // PostgreSQL's SIGTERM is a graceful (smart) stop: nothing predicted.
    let pg = init_with(
        "/usr/lib/postgresql/15/bin/postgres",
        "postgres -D /d",
        "postgres",
        &[1, 2, 3, 15, 17],
        &[],
    );
    let f = Pid1::new(Config::default(), NODE_PID).on_tick(10 * S, &pg);
    assert!(
        !f.iter().any(|f| f.kind == FindingKind::Pid1StopSignal),
        "{f:?}"
    );
}

#[test]
fn a_proc_read_showing_real_time_signals_too_keeps_the_kernels_flags() {
    use nstrace_common::sigstate::sa;
    // Node.js catches signal 33 as well, which the kernel's record (1..=32) leaves out.
    let mut m = init_from_kernel("/usr/bin/node", "node a.js", "node", sa::RESETHAND);
    let mut proc_read = m.get(500).unwrap().signals;
    proc_read.kernel = None;
    proc_read.caught |= 1 << 32;
    m.set_signals(500, 2 * S, proc_read);
    let s = m.get(500).unwrap().signals;
    assert_eq!(s.flags_of(15), Some(sa::RESETHAND));
    assert_ne!(s.caught & (1 << 32), 0);
}
