//! The servers found as PID 1 in real images, and what each signal means to
//! them: a server's SIGTERM is often not "exit now" (uWSGI reloads,
//! PostgreSQL waits for its clients, nginx cuts requests in flight), and
//! its official image stops it with another signal for that reason.
//!
//! Each entry is from the server's own documentation, and was checked here
//! with Debian's package running as the PID 1 of a container
//! (tests/tests/integration/pid1_servers.rs): identified from exe and argv,
//! stopped with SIGTERM, its verdict in its own terms.

use nstrace_common::sig;

/// What a signal means to a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meaning {
    /// A graceful stop: work in flight is finished first (which may take
    /// longer than the grace period).
    Graceful,
    /// A fast stop: the server exits at once, cutting work in flight.
    Fast,
    /// A reload: the server restarts its workers or re-reads its
    /// configuration and keeps running.
    Reload,
}

impl Meaning {
    /// In a few words, for a sentence: "a graceful stop".
    pub fn phrase(self) -> &'static str {
        match self {
            Meaning::Graceful => "a graceful stop",
            Meaning::Fast => "a fast stop",
            Meaning::Reload => "a reload",
        }
    }
}

/// A flag (or setting) that changes what SIGTERM means to a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TermFlag {
    /// The flag as the documentation spells it.
    pub flag: &'static str,
    /// Argument forms that set it (an argument equal to one of these).
    pub forms: &'static [&'static str],
    /// SIGTERM's meaning with it.
    pub term: Meaning,
}

/// A server as PID 1.
#[derive(Debug, PartialEq, Eq)]
pub struct Server {
    /// Its short name (`uwsgi`).
    pub name: &'static str,
    /// What it is, in words (`uWSGI`).
    pub what: &'static str,
    /// Executable, argv[0] or command names it runs under (a name also
    /// matches with a version suffix: `php-fpm8.2`).
    pub names: &'static [&'static str],
    /// What SIGTERM means without the flag.
    pub term: Meaning,
    /// The signal that stops it gracefully.
    pub graceful: u32,
    /// The STOPSIGNAL of its official image, if it sets one.
    pub stop_signal: Option<u32>,
    /// A flag that changes SIGTERM's meaning.
    pub term_flag: Option<TermFlag>,
    /// A preStop command that stops it gracefully (where the kubelet sends
    /// only SIGTERM).
    pub pre_stop: Option<&'static str>,
}

/// The catalogue. Servers the issue named that are not here could not be
/// checked on this machine (see the integration test's module comment).
pub static SERVERS: &[Server] = &[
    Server {
        name: "uwsgi",
        what: "uWSGI",
        names: &["uwsgi", "uwsgi-core"],
        // uWSGI 2.0: SIGTERM is a "brutal reload" of the workers; SIGINT and
        // SIGQUIT kill it; SIGHUP is a graceful reload.
        term: Meaning::Reload,
        graceful: sig::INT,
        stop_signal: None,
        term_flag: Some(TermFlag {
            flag: "--die-on-term",
            forms: &["--die-on-term", "--die-on-term=true", "--die-on-term=1"],
            term: Meaning::Fast,
        }),
        pre_stop: None,
    },
    Server {
        name: "postgres",
        what: "PostgreSQL",
        names: &["postgres", "postmaster"],
        // SIGTERM: smart shutdown (waits for every client session);
        // SIGINT: fast shutdown (rolls back sessions, checkpoints, exits);
        // SIGQUIT: immediate shutdown. The official image: STOPSIGNAL SIGINT.
        term: Meaning::Graceful,
        graceful: sig::INT,
        stop_signal: Some(sig::INT),
        term_flag: None,
        pre_stop: Some("pg_ctl stop -m fast"),
    },
    Server {
        name: "nginx",
        what: "nginx",
        names: &["nginx"],
        // SIGTERM/SIGINT: fast shutdown; SIGQUIT: graceful shutdown. The
        // official image: STOPSIGNAL SIGQUIT.
        term: Meaning::Fast,
        graceful: sig::QUIT,
        stop_signal: Some(sig::QUIT),
        term_flag: None,
        pre_stop: Some("nginx -s quit"),
    },
    Server {
        name: "php-fpm",
        what: "PHP-FPM",
        names: &["php-fpm"],
        // SIGTERM/SIGINT: immediate termination; SIGQUIT: graceful stop.
        // The official image's fpm variants: STOPSIGNAL SIGQUIT.
        term: Meaning::Fast,
        graceful: sig::QUIT,
        stop_signal: Some(sig::QUIT),
        term_flag: None,
        pre_stop: None,
    },
    Server {
        name: "haproxy",
        what: "HAProxy",
        names: &["haproxy"],
        // SIGTERM: hard stop (sessions cut); SIGUSR1: soft stop (listeners
        // closed, sessions finish). The official image: STOPSIGNAL SIGUSR1.
        term: Meaning::Fast,
        graceful: sig::USR1,
        stop_signal: Some(sig::USR1),
        term_flag: None,
        pre_stop: None,
    },
    Server {
        name: "gunicorn",
        what: "Gunicorn",
        names: &["gunicorn"],
        // SIGTERM: graceful shutdown, waiting up to --graceful-timeout
        // (30 s by default) for workers; SIGINT/SIGQUIT: quick shutdown.
        term: Meaning::Graceful,
        graceful: sig::TERM,
        stop_signal: None,
        term_flag: None,
        pre_stop: None,
    },
    Server {
        name: "redis",
        what: "Redis",
        names: &["redis-server"],
        // SIGTERM and SIGINT: save (when configured) and exit.
        term: Meaning::Graceful,
        graceful: sig::TERM,
        stop_signal: None,
        term_flag: None,
        pre_stop: None,
    },
];

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `name`, or `name` followed by a version (`php-fpm8.2`, `python3.11`).
pub(crate) fn is_named(n: &str, name: &str) -> bool {
    n.strip_prefix(name).is_some_and(|rest| {
        rest.is_empty() || rest.bytes().all(|c| c.is_ascii_digit() || c == b'.')
    })
}

/// A server identified as PID 1, with what SIGTERM means for its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerInit {
    /// The catalogue entry.
    pub server: &'static Server,
    /// What SIGTERM means to it, with the flags it was given.
    pub term: Meaning,
    /// Whether its command line has the flag that changes SIGTERM's meaning.
    pub flagged: bool,
}

impl ServerInit {
    /// The server `exe`, `cmdline` and `comm` name, if any. A script
    /// (Gunicorn) runs under its interpreter: its name is argv[1] and comm.
    pub fn identify(exe: &str, cmdline: &str, comm: &str) -> Option<ServerInit> {
        let args: Vec<&str> = cmdline.split_whitespace().collect();
        let mut names = vec![base(exe), comm];
        names.extend(args.iter().take(2).map(|a| base(a)));
        // A process title (`nginx: master process …`) names the server first.
        if let Some(first) = args.first() {
            names.push(first.trim_end_matches(':'));
        }
        let server = SERVERS
            .iter()
            .find(|s| s.names.iter().any(|n| names.iter().any(|x| is_named(x, n))))?;
        let flagged = server
            .term_flag
            .is_some_and(|f| args.iter().any(|a| f.forms.contains(a)));
        let term = match server.term_flag {
            Some(f) if flagged => f.term,
            _ => server.term,
        };
        Some(ServerInit {
            server,
            term,
            flagged,
        })
    }

    /// What SIGTERM does to it, in one sentence fragment: "uWSGI takes
    /// SIGTERM as a reload (no --die-on-term)".
    pub fn term_sentence(&self) -> String {
        let s = self.server;
        let why = match (s.term_flag, self.flagged) {
            (Some(f), false) => format!(" (no {})", f.flag),
            (Some(f), true) => format!(" ({})", f.flag),
            _ => String::new(),
        };
        format!("{} takes SIGTERM as {}{why}", s.what, self.term.phrase())
    }

    /// The fix, named: the flag, the image's STOPSIGNAL, a preStop hook, or
    /// the kubelet's `lifecycle.stopSignal`.
    pub fn advice(&self) -> String {
        let s = self.server;
        let name = |n: u32| format!("SIG{}", crate::event::names::signal_name(n));
        let mut fixes = Vec::new();
        if let (Some(f), false) = (s.term_flag, self.flagged) {
            fixes.push(format!(
                "start it with {} so SIGTERM stops it instead of {}",
                f.flag,
                s.term.phrase()
            ));
        }
        if s.graceful != sig::TERM {
            let stop = s.stop_signal.map_or_else(
                || {
                    format!(
                        "stop it with {} ({})",
                        name(s.graceful),
                        Meaning::Graceful.phrase()
                    )
                },
                |st| {
                    format!(
                        "stop it with {} as its official image does (STOPSIGNAL {})",
                        name(st),
                        name(st)
                    )
                },
            );
            fixes.push(stop);
            fixes.push(format!(
                "on Kubernetes set lifecycle.stopSignal: {}{}",
                name(s.graceful),
                s.pre_stop
                    .map(|p| format!(", or a preStop hook `{p}`"))
                    .unwrap_or_default()
            ));
        } else {
            fixes.push(
                "give it a grace period longer than its own shutdown takes (terminationGracePeriodSeconds)"
                    .into(),
            );
        }
        fixes.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(exe: &str, cmd: &str, comm: &str) -> Option<(&'static str, Meaning)> {
        ServerInit::identify(exe, cmd, comm).map(|s| (s.server.name, s.term))
    }

    #[test]
    fn identifies_each_server_and_what_sigterm_means_to_it() {
        assert_eq!(
            id(
                "/usr/bin/uwsgi-core",
                "uwsgi --http-socket :9090 --master",
                "uwsgi"
            ),
            Some(("uwsgi", Meaning::Reload))
        );
        assert_eq!(
            id(
                "/usr/bin/uwsgi-core",
                "uwsgi --master --die-on-term",
                "uwsgi"
            ),
            Some(("uwsgi", Meaning::Fast)),
            "the flag changes SIGTERM's meaning"
        );
        assert_eq!(
            id(
                "/usr/lib/postgresql/15/bin/postgres",
                "postgres -D /d",
                "postgres"
            ),
            Some(("postgres", Meaning::Graceful))
        );
        assert_eq!(
            id(
                "/usr/sbin/nginx",
                "nginx: master process nginx -g daemon off;",
                "nginx"
            ),
            Some(("nginx", Meaning::Fast))
        );
        assert_eq!(
            id(
                "/usr/sbin/php-fpm8.2",
                "php-fpm: master process (/x.conf)",
                "php-fpm8.2"
            ),
            Some(("php-fpm", Meaning::Fast))
        );
        assert_eq!(
            id("/usr/sbin/haproxy", "haproxy -W -db -f /c.cfg", "haproxy"),
            Some(("haproxy", Meaning::Fast))
        );
        // A script under its interpreter: named by argv[1] and comm.
        assert_eq!(
            id(
                "/usr/bin/python3.11",
                "/usr/bin/python3 /usr/bin/gunicorn app:app",
                "gunicorn"
            ),
            Some(("gunicorn", Meaning::Graceful))
        );
        assert_eq!(
            id(
                "/usr/bin/redis-server",
                "/usr/bin/redis-server *:6379",
                "redis-server"
            ),
            Some(("redis", Meaning::Graceful))
        );
        assert_eq!(id("/usr/bin/python3.11", "python3 app.py", "python3"), None);
        assert_eq!(id("/usr/local/bin/nginxer", "nginxer", "nginxer"), None);
    }

    #[test]
    fn advice_names_the_fix() {
        let uwsgi = ServerInit::identify("/usr/bin/uwsgi-core", "uwsgi --master", "uwsgi").unwrap();
        assert!(
            uwsgi.advice().contains("--die-on-term"),
            "{}",
            uwsgi.advice()
        );
        assert_eq!(
            uwsgi.term_sentence(),
            "uWSGI takes SIGTERM as a reload (no --die-on-term)"
        );
        let nginx = ServerInit::identify("/usr/sbin/nginx", "nginx", "nginx").unwrap();
        let a = nginx.advice();
        assert!(a.contains("STOPSIGNAL SIGQUIT"), "{a}");
        assert!(a.contains("lifecycle.stopSignal: SIGQUIT"), "{a}");
        assert!(a.contains("preStop hook `nginx -s quit`"), "{a}");
        let pg = ServerInit::identify(
            "/usr/lib/postgresql/15/bin/postgres",
            "postgres",
            "postgres",
        )
        .unwrap();
        assert!(pg.advice().contains("STOPSIGNAL SIGINT"), "{}", pg.advice());
        let redis =
            ServerInit::identify("/usr/bin/redis-server", "redis-server", "redis-server").unwrap();
        assert!(redis.advice().contains("terminationGracePeriodSeconds"));
    }
}
