//! Servers as PID 1, from the node's own Debian packages, the way
//! `pid1_runtimes` runs language runtimes: one container each in a real pod
//! whose image is an empty root mounting the node's /usr (hostPath). Each
//! server is identified, predicted in its own terms before any stop, stopped
//! the kubelet's way (SIGTERM, SIGKILL after the grace period), and its
//! timeline says what SIGTERM meant to it and names the fix. Every entry of
//! the model's catalogue (`nstrace::model::servers::SERVERS`) is here, and
//! nginx in `pid1_runtimes`.
//!
//! Left out of the catalogue because they were not checked here: Apache httpd
//! (its Debian config needs the init script's environment), Ruby and
//! Erlang/BEAM (time ran out), Go binaries (no Go toolchain on the node).

use std::collections::BTreeMap;

use nstrace_tests::pod::{Node, Runtime};
use nstrace_tests::*;

const POD: &str = "nst-srv";
const GRACE_S: u32 = 3;
const IMAGE: &str = "localhost/nstrace-usr:latest";
const PG: &str = "/usr/lib/postgresql/15/bin";

/// Container name → (argv, uid to run as).
fn containers() -> Vec<(&'static str, Vec<String>, u32)> {
    let sh = |script: String| vec!["/bin/sh".to_owned(), "-c".to_owned(), script];
    vec![
        // uWSGI 2.0 reloads on SIGTERM; with --die-on-term it stops.
        (
            "uwsgi",
            sh("exec uwsgi-core --master --http-socket 127.0.0.1:9091 --processes 1".into()),
            0,
        ),
        (
            "uwsgi-dies",
            sh(
                "exec uwsgi-core --master --http-socket 127.0.0.1:9092 --processes 1 --die-on-term"
                    .into(),
            ),
            0,
        ),
        // PostgreSQL (as nobody: it refuses root) with one client session
        // held open by psql in the next container: a smart shutdown waits for it.
        (
            "pg",
            sh(format!(
                "{PG}/initdb -D /tmp/pg -U postgres --auth=trust >/dev/null && exec {PG}/postgres -D /tmp/pg -k /tmp -c listen_addresses=127.0.0.1 -p 5433"
            )),
            65534,
        ),
        (
            "psql",
            sh(format!(
                "until {PG}/pg_isready -q -h 127.0.0.1 -p 5433; do sleep 0.5; done; exec {PG}/psql -h 127.0.0.1 -p 5433 -U postgres -c 'select pg_sleep(600)'"
            )),
            65534,
        ),
        (
            "phpfpm",
            sh("printf '[global]\\nerror_log=/proc/self/fd/2\\n[www]\\nlisten=127.0.0.1:9093\\npm=static\\npm.max_children=1\\n' > /tmp/fpm.conf && exec php-fpm8.2 -F -R -y /tmp/fpm.conf".into()),
            0,
        ),
        (
            "haproxy",
            sh("printf 'global\\n  maxconn 64\\ndefaults\\n  mode http\\n  timeout connect 1s\\n  timeout client 10s\\n  timeout server 10s\\nfrontend f\\n  bind 127.0.0.1:9094\\n' > /tmp/h.cfg && exec haproxy -W -db -f /tmp/h.cfg".into()),
            0,
        ),
        (
            "gunicorn",
            sh("mkdir -p /tmp/app && printf 'def app(e, s):\\n    s(\"200 OK\", [])\\n    return [b\"ok\"]\\n' > /tmp/app/app.py && exec gunicorn --chdir /tmp/app -b 127.0.0.1:9095 -w 1 app:app".into()),
            0,
        ),
        (
            "redis",
            sh("exec redis-server --port 9096 --bind 127.0.0.1 --save '' --appendonly no".into()),
            0,
        ),
    ]
}

fn yaml() -> String {
    let mut y = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {POD}\nspec:\n  terminationGracePeriodSeconds: {GRACE_S}\n  containers:\n"
    );
    for (name, argv, uid) in containers() {
        let argv: Vec<String> = argv
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        y.push_str(&format!(
            "  - name: {name}\n    image: {IMAGE}\n    imagePullPolicy: Never\n    command: [{}]\n    securityContext:\n      runAsUser: {uid}\n    volumeMounts:\n    - name: usr\n      mountPath: /usr\n      readOnly: true\n",
            argv.join(", ")
        ));
    }
    y.push_str(
        "  volumes:\n  - name: usr\n    hostPath:\n      path: /usr\n      type: Directory\n",
    );
    y
}

/// The (kind, severity) of each finding about container `id`.
fn findings_of(events: &[Value], id: &str) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|v| v["finding"].is_string() && v["container"] == id)
        .map(|v| (s(v, "finding").to_owned(), s(v, "severity").to_owned()))
        .collect()
}

nstrace_tests::on_both_runtimes!(servers_as_pid_1_are_judged_by_what_sigterm_means_to_them);

fn servers_as_pid_1_are_judged_by_what_sigterm_means_to_them(rt: Runtime) {
    let _g = serial();
    let node = Node::new(rt);
    if let Some(c) = node.containerd() {
        let archive = nstrace_tests::cri::images_dir().join("nstrace-usr.tar");
        c.import(&archive)
            .unwrap_or_else(|e| panic!("{e} (run `cargo xtask setup`)"));
    }
    let audit = Tracer::audit(&["--predict-after", "2s"]);
    let pod = node.play(POD, &yaml());
    let containers = pod.containers();
    let ids: BTreeMap<String, String> = containers
        .iter()
        .filter(|c| !c.infra)
        .map(|c| (c.name.clone(), c.id.clone()))
        .collect();
    assert_eq!(ids.len(), self::containers().len(), "{ids:?}");

    // Predicted before any stop, in the server's own terms.
    for (name, severity) in [
        ("uwsgi", "medium"),
        ("uwsgi-dies", "low"),
        ("phpfpm", "low"),
        ("haproxy", "low"),
    ] {
        let id = ids[name].clone();
        audit.wait_for(&format!("the stop-signal prediction for {name}"), |v| {
            v["finding"] == "pid1_stop_signal"
                && v["container"] == id.as_str()
                && v["severity"] == severity
        });
    }
    // The session psql holds is open before the stop.
    eventually("postgres's client session", || {
        let pg = containers.iter().find(|c| c.name == "pg")?;
        let kids =
            std::fs::read_to_string(format!("/proc/{}/task/{}/children", pg.pid, pg.pid)).ok()?;
        // checkpointer, background writer, walwriter, autovacuum and
        // logical replication launchers, and the session.
        (kids.split_whitespace().count() >= 6).then_some(())
    });
    // Identified from exe and argv.
    let topo = topology_json();
    let inits: BTreeMap<String, String> = find_pod(&topo, POD)["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            let name = ids.iter().find(|(_, id)| c["id"] == id.as_str())?.0;
            Some((name.clone(), s(c, "init_kind").to_owned()))
        })
        .collect();
    for (name, want) in [
        ("uwsgi", "uwsgi (uWSGI)"),
        ("pg", "postgres (PostgreSQL)"),
        ("phpfpm", "php-fpm (PHP-FPM)"),
        ("haproxy", "haproxy (HAProxy)"),
        ("gunicorn", "gunicorn (Gunicorn)"),
        ("redis", "redis (Redis)"),
    ] {
        assert_eq!(inits.get(name).map(String::as_str), Some(want), "{inits:?}");
    }

    let follow = Tracer::shutdown(POD);
    pod.stop(GRACE_S);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let timelines = follow.stop().events;
    drop(pod);
    let done = audit.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let ev = &done.events;
    let timeline = |name: &str| -> Value {
        timelines
            .iter()
            .find(|t| {
                t["shutdown"]
                    .as_str()
                    .is_some_and(|s| s.ends_with(&format!("/ container {name}")))
            })
            .cloned()
            .unwrap_or_else(|| panic!("no timeline for {name}: {timelines:?}"))
    };

    // uWSGI took SIGTERM as a reload and ran until SIGKILL; the fix is the flag.
    let t = timeline("uwsgi");
    assert_eq!(t["killed"], true, "{t}");
    assert!(
        s(&t, "verdict").contains("uWSGI takes SIGTERM as a reload (no --die-on-term)"),
        "{t}"
    );
    assert!(s(&t, "advice").contains("--die-on-term"), "{t}");
    assert!(findings_of(ev, &ids["uwsgi"]).contains(&("slow_shutdown".into(), "medium".into())));
    // With --die-on-term it stopped at once: no SIGKILL, no slow shutdown.
    let t = timeline("uwsgi-dies");
    assert_eq!(t["killed"], false, "{t}");

    // PostgreSQL began a smart shutdown and waited for its client until the grace ran out.
    let t = timeline("pg");
    assert_eq!(t["killed"], true, "{t}");
    let v = s(&t, "verdict");
    assert!(
        v.contains("smart shutdown") && v.contains("grace period"),
        "{t}"
    );
    assert!(s(&t, "advice").contains("SIGINT"), "{t}");

    // PHP-FPM and HAProxy: fast stops, the graceful signal named.
    for (name, graceful) in [("phpfpm", "SIGQUIT"), ("haproxy", "SIGUSR1")] {
        let t = timeline(name);
        assert_eq!(t["killed"], false, "{t}");
        assert!(
            s(&t, "verdict").contains("took SIGTERM as a fast stop"),
            "{t}"
        );
        assert!(s(&t, "advice").contains(graceful), "{t}");
    }
    // Gunicorn and Redis stop gracefully on SIGTERM, with nothing in flight: clean.
    for name in ["gunicorn", "redis"] {
        let t = timeline(name);
        assert_eq!(t["killed"], false, "{t}");
        assert!(s(&t, "verdict").starts_with("clean"), "{t}");
        assert!(
            !findings_of(ev, &ids[name])
                .iter()
                .any(|(k, _)| k == "pid1_stop_signal"),
            "{name}"
        );
    }
}
