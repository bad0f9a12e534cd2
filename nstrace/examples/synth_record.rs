//! Writes a synthetic record file for the collector benchmarks of `cargo xtask bench`:
//! a node with PODS pods (infra + app container each: shared net/ipc/uts, own
//! mnt and pid, so 7 namespaces per pod), PROCS live processes in all, then
//! EVENTS events of process churn inside the pods (create, exec, wait, exit,
//! reap), with a signal pair every 50 cycles and an unshare + setns on the
//! node every 1,000, and a clock tick per second of trace time.
//!
//!   cargo run --release --example synth_record -- OUT PODS PROCS EVENTS

use std::path::PathBuf;

use nstrace::event::Event;
use nstrace::model::Process;
use nstrace::record::{Meta, Writer};
use nstrace_common::{
    CreateEvent, ExecEvent, ExitEvent, Header, Kind, NsChangeEvent, NsSet, ReapEvent,
    SignalDeliverEvent, SignalGenerateEvent, WaitEvent, COMM_LEN, FILENAME_LEN, WAIT_WAIT4,
};

const NODE: [u32; 9] = [
    4026531832, 4026531838, 4026531839, 4026531836, 4026531836, 4026531833, 4026531837, 4026531835,
    4026531834,
];

fn comm(s: &str) -> [u8; COMM_LEN] {
    let mut c = [0u8; COMM_LEN];
    c[..s.len()].copy_from_slice(s.as_bytes());
    c
}

struct Pod {
    infra: NsSet,
    app: NsSet,
    app_init: u32,
}

fn header(kind: Kind, ts: u64, pid: u32, ppid: u32, ns_pid: u32, ns: NsSet, name: &str) -> Header {
    Header {
        kind: kind as u16,
        ts_ns: ts,
        tgid: pid,
        tid: pid,
        ppid,
        ns_tgid: ns_pid,
        comm: comm(name),
        ns,
        ..Header::default()
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, pods, procs, events] = args.as_slice() else {
        eprintln!("usage: synth_record OUT PODS PROCS EVENTS");
        std::process::exit(2)
    };
    let num = |s: &String| -> u64 {
        s.parse().unwrap_or_else(|_| {
            eprintln!("synth_record: '{s}' is not a number");
            std::process::exit(2)
        })
    };
    let (n_pods, n_procs, n_events) = (num(pods) as u32, num(procs) as u32, num(events));
    let node = NsSet::from_array(NODE);
    let meta = Meta {
        node_ns: node,
        hostname: "synthetic-node".into(),
        kernel: "6.18.0-synthetic".into(),
        ..Meta::default()
    };
    let mut w = Writer::create(&PathBuf::from(out), &meta)?;
    let mut next_ino = 4026540000u32;
    let mut ino = || {
        next_ino += 1;
        next_ino
    };
    let mut pid = 1000u32;
    let mut next_pid = || {
        pid += 1;
        pid
    };
    // The start-up snapshot: node processes, then the pods.
    let per_pod = 2 + (n_procs.saturating_sub(1000 + 2 * n_pods)).div_ceil(n_pods.max(1));
    let mut live = 0u32;
    for _ in 0..1000.min(n_procs) {
        let p = next_pid();
        w.process(&Process {
            pid: p,
            ppid: 1,
            ns_pid: p,
            comm: "node-daemon".into(),
            exe: "/usr/sbin/node-daemon".into(),
            cmdline: "/usr/sbin/node-daemon --serve".into(),
            cgroup: "/system.slice/node-daemon.service".into(),
            ns: node,
            hostname: Some(meta.hostname.clone()),
            zombie: false,
            seen_ns: 1,
            ..Process::default()
        })?;
        live += 1;
    }
    let mut all_pods = Vec::new();
    for k in 0..n_pods {
        let (net, ipc, uts) = (ino(), ino(), ino());
        let mut infra = node;
        (infra.net, infra.ipc, infra.uts) = (net, ipc, uts);
        let mut app = infra;
        (infra.mnt, infra.pid) = (ino(), ino());
        infra.pid_for_children = infra.pid;
        (app.mnt, app.pid) = (ino(), ino());
        app.pid_for_children = app.pid;
        let pod_id = format!("{k:064x}");
        let name = format!("pod-{k}");
        let (infra_pid, app_pid) = (next_pid(), next_pid());
        for (p, ns, c, cid) in [
            (
                infra_pid,
                infra,
                "catatonit",
                format!("{:064x}", u64::from(infra_pid)),
            ),
            (app_pid, app, "app", format!("{:064x}", u64::from(app_pid))),
        ] {
            w.process(&Process {
                pid: p,
                ppid: 1,
                ns_pid: 1,
                comm: c.into(),
                exe: format!("/usr/bin/{c}"),
                cmdline: format!("/usr/bin/{c}"),
                cgroup: format!("/libpod_parent/libpod-{pod_id}/libpod-{cid}"),
                ns,
                hostname: Some(name.clone()),
                zombie: false,
                seen_ns: 1,
                ..Process::default()
            })?;
            live += 1;
        }
        for i in 0..per_pod.saturating_sub(2) {
            if live >= n_procs {
                break;
            }
            let p = next_pid();
            w.process(&Process {
                pid: p,
                ppid: app_pid,
                ns_pid: 2 + i,
                comm: "worker".into(),
                exe: "/usr/bin/worker".into(),
                cmdline: "/usr/bin/worker".into(),
                cgroup: format!(
                    "/libpod_parent/libpod-{pod_id}/libpod-{:064x}",
                    u64::from(app_pid)
                ),
                ns: app,
                hostname: Some(name.clone()),
                zombie: false,
                seen_ns: 1,
                ..Process::default()
            })?;
            live += 1;
        }
        all_pods.push(Pod {
            infra,
            app,
            app_init: app_pid,
        });
    }
    w.pinned(&[])?;
    // The event stream.
    let mut ts = 1_000_000_000u64;
    let mut written = 0u64;
    let mut last_tick = ts;
    let mut cycle = 0u64;
    // Each event gets the next timestamp, 10 µs apart.
    let emit = |w: &mut Writer<_>, mut ev: Event, ts: &mut u64| -> std::io::Result<()> {
        *ts += 10_000;
        ev.header_mut().ts_ns = *ts;
        w.event(ev.bytes())
    };
    while written < n_events {
        let pod = &all_pods[(cycle % all_pods.len().max(1) as u64) as usize];
        let parent = pod.app_init;
        let child = next_pid();
        let ns = pod.app;
        let mut exec = ExecEvent {
            hdr: header(Kind::Exec, ts, child, parent, 99, ns, "task"),
            filename: [0; FILENAME_LEN],
            args: Default::default(),
        };
        exec.filename[..13].copy_from_slice(b"/usr/bin/task");
        let seq = [
            Event::Create(CreateEvent {
                hdr: header(Kind::Create, ts, child, parent, 99, ns, "app"),
                clone_flags: 17,
                creator_tgid: parent,
                creator_tid: parent,
                creator_ns: ns,
                cap_effective: 0,
            }),
            Event::Exec(Box::new(exec)),
            Event::Wait(WaitEvent {
                hdr: header(Kind::Wait, ts, parent, 1, 1, ns, "app"),
                syscall: WAIT_WAIT4,
                pid: -1,
                ..Default::default()
            }),
            Event::Exit(ExitEvent {
                hdr: header(Kind::Exit, ts, child, parent, 99, ns, "task"),
                exit_code: 0,
                group_dead: 1,
            }),
            Event::Reap(ReapEvent {
                hdr: header(Kind::Reap, ts, child, parent, 0, NsSet::default(), "task"),
                ..Default::default()
            }),
        ];
        for ev in seq {
            emit(&mut w, ev, &mut ts)?;
            written += 1;
        }
        if cycle.is_multiple_of(50) {
            emit(
                &mut w,
                Event::SignalGenerate(SignalGenerateEvent {
                    hdr: header(Kind::SignalGenerate, ts, parent, 1, 1, ns, "app"),
                    sig: 10,
                    target_tgid: parent,
                    target_tid: parent,
                    target_ns_tgid: 1,
                    target_comm: comm("app"),
                    target_ns: ns,
                    ..Default::default()
                }),
                &mut ts,
            )?;
            emit(
                &mut w,
                Event::SignalDeliver(SignalDeliverEvent {
                    hdr: header(Kind::SignalDeliver, ts, parent, 1, 1, ns, "app"),
                    sig: 10,
                    handler: 0x401000,
                    ..Default::default()
                }),
                &mut ts,
            )?;
            written += 2;
        }
        if cycle.is_multiple_of(1000) {
            // A node administrator entering a pod's network namespace and leaving again.
            let admin = 1001;
            let mut inside = node;
            inside.net = pod.infra.net;
            for (before, after) in [(node, inside), (inside, node)] {
                emit(
                    &mut w,
                    Event::Setns(NsChangeEvent {
                        hdr: header(Kind::Setns, ts, admin, 1, admin, after, "nsenter"),
                        flags: 0x4000_0000,
                        fd: 3,
                        before,
                        target_inode: after.net,
                        ..Default::default()
                    }),
                    &mut ts,
                )?;
                written += 1;
            }
        }
        if ts - last_tick >= 1_000_000_000 {
            last_tick = ts;
            w.tick(ts)?;
        }
        cycle += 1;
    }
    w.flush()?;
    eprintln!(
        "synth_record: {out}: {live} processes, {} namespaces, {written} events",
        all_pods.len() * 7
    );
    Ok(())
}
