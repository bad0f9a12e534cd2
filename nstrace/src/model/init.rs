//! Which init runs as a container's PID 1, and how it passes SIGTERM on:
//! named from its executable and argv, the way an SRE would say it
//! ("tini -g", "dumb-init", "a shell", "the application itself").

/// How a PID 1 failed to stop on SIGTERM (what advice must address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermFailure {
    /// No handler: the kernel dropped SIGTERM as it was sent.
    NoHandler,
    /// A handler restored the default action and raised SIGTERM again.
    ReRaised,
    /// Blocked with no handler: queued, then dropped when dequeued.
    DroppedAtDelivery,
    /// A handler took SIGTERM and the process kept running.
    KeptRunning,
}

/// A kind of container init.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Init {
    /// tini; `group`: -g (or TINI_KILL_PROCESS_GROUP) signals the child's whole process group.
    Tini {
        /// Signals the whole process group.
        group: bool,
        /// Run as `docker-init` (`docker run --init`, Compose's `init: true`):
        /// Docker's copy of tini, bind-mounted as /sbin/docker-init.
        docker: bool,
    },
    /// dumb-init; by default it signals the whole session (group) unless --single-child.
    DumbInit {
        /// Signals the whole process group.
        group: bool,
    },
    /// catatonit (podman's pause/init); -g forwards to the whole process group.
    Catatonit {
        /// Signals the whole process group.
        group: bool,
    },
    /// The Kubernetes pause container.
    Pause,
    /// s6-svscan (s6-overlay).
    S6,
    /// supervisord.
    Supervisord,
    /// systemd.
    Systemd,
    /// runit (runit-init, runsvdir).
    Runit,
    /// A shell (`sh -c`, `bash`): passes nothing on unless the script traps and forwards.
    Shell(String),
    /// A language runtime whose SIGTERM habit is known.
    Known(Known),
    /// A server of the catalogue, with what SIGTERM means to it.
    Server(super::servers::ServerInit),
    /// The application itself (`exec app`).
    App(String),
}

/// What a known program does with SIGTERM when nothing in the application
/// changes it: what decides whether it stops as a namespace's PID 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermHabit {
    /// Leaves SIGTERM at the default action (CPython, Perl): as PID 1 the
    /// kernel drops it, and /proc shows it (no SigCgt bit).
    Default,
    /// Installs its own SIGTERM handler that restores the default action
    /// and raises the signal again (Node.js: `SA_RESETHAND`, then `raise`):
    /// /proc shows SIGTERM caught, but as PID 1 the kernel drops the
    /// re-raised signal, unless the application registers its own listener
    /// (which /proc cannot tell from the built-in one).
    ReRaises,
    /// Handles SIGTERM by shutting down (the JVM runs its shutdown hooks and
    /// exits 143; nginx's master stops its workers and exits).
    Exits,
}

/// A language runtime or server identified as PID 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    /// Its command name as identified (`node`, `python3.11`, `nginx`).
    pub name: &'static str,
    /// What it is, in words (`Node.js`, `CPython`).
    pub what: &'static str,
    /// Its SIGTERM habit.
    pub term: TermHabit,
    /// How an application on it stops on SIGTERM by itself.
    pub handle_term: &'static str,
}

/// The known programs: executable or argv[0] base names (a name also
/// matches with a version suffix, `python3.11`), checked on each of them.
/// Each habit was checked here with the program as a PID namespace's init
/// (`unshare --pid --fork`, SIGTERM from outside).
const KNOWN: &[(&[&str], Known)] = &[
    (
        &["node", "nodejs"],
        Known {
            name: "node",
            what: "Node.js",
            term: TermHabit::ReRaises,
            handle_term: "register a listener that exits: process.on('SIGTERM', () => process.exit(0))",
        },
    ),
    (
        &["python", "python3"],
        Known {
            name: "python",
            what: "CPython",
            term: TermHabit::Default,
            handle_term: "install a handler that exits: signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))",
        },
    ),
    (
        &["perl"],
        Known {
            name: "perl",
            what: "Perl",
            term: TermHabit::Default,
            handle_term: "install a handler that exits: $SIG{TERM} = sub { exit 0 }",
        },
    ),
    (
        &["java"],
        Known {
            name: "java",
            what: "the JVM",
            term: TermHabit::Exits,
            handle_term: "let the JVM exit (no Signal.handle(\"TERM\") that keeps it running); shutdown hooks run on SIGTERM",
        },
    ),
];

/// The known program `names` (exe, argv[0], comm base names) point to.
fn known(names: &[&str]) -> Option<Known> {
    KNOWN.iter().find_map(|(bases, k)| {
        names
            .iter()
            .any(|n| bases.iter().any(|b| super::servers::is_named(n, b)))
            .then_some(*k)
    })
}

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl Init {
    /// Names the init from its executable path, command line and command name.
    pub fn identify(exe: &str, cmdline: &str, comm: &str) -> Init {
        let mut args = cmdline.split_whitespace();
        let argv0 = args.next().map(base).unwrap_or("");
        let rest: Vec<&str> = args.collect();
        // Options come before the program (`--` or the first non-option ends them).
        let opts: Vec<&str> = rest
            .iter()
            .copied()
            .take_while(|a| a.starts_with('-') && *a != "--")
            .collect();
        let has = |short: &str, long: &str| opts.iter().any(|o| *o == short || *o == long);
        let exe_base = base(exe);
        let names = [exe_base, argv0, comm];
        let is = |n: &str| {
            names
                .iter()
                .any(|x| *x == n || x.starts_with(&format!("{n}-")))
        };
        if is("tini") || is("docker-init") {
            Init::Tini {
                group: has("-g", "-g"),
                docker: is("docker-init"),
            }
        } else if is("dumb-init") {
            Init::DumbInit {
                group: !has("-c", "--single-child"),
            }
        } else if is("catatonit") {
            Init::Catatonit {
                group: has("-g", "-g"),
            }
        } else if is("pause") {
            Init::Pause
        } else if is("s6-svscan") {
            Init::S6
        } else if is("supervisord") {
            Init::Supervisord
        } else if is("systemd") || is("init") && exe.contains("systemd") {
            Init::Systemd
        } else if is("runit") || is("runit-init") || is("runsvdir") {
            Init::Runit
        } else if ["sh", "bash", "ash", "dash", "zsh", "ksh"]
            .iter()
            .any(|s| names.contains(s))
        {
            Init::Shell(if argv0.is_empty() { comm } else { argv0 }.to_owned())
        } else if let Some(s) = super::servers::ServerInit::identify(exe, cmdline, comm) {
            Init::Server(s)
        } else if let Some(k) = known(&names) {
            Init::Known(k)
        } else {
            Init::App(if comm.is_empty() { argv0 } else { comm }.to_owned())
        }
    }

    /// In a few words: "tini -g", "dumb-init", "sh (a shell)", "java".
    pub fn describe(&self) -> String {
        match self {
            Init::Tini {
                group: true,
                docker: false,
            } => "tini -g".into(),
            Init::Tini {
                group: false,
                docker: false,
            } => "tini".into(),
            Init::Tini {
                group,
                docker: true,
            } => {
                format!("docker-init (tini{})", if *group { " -g" } else { "" })
            }
            Init::DumbInit { group: true } => "dumb-init".into(),
            Init::DumbInit { group: false } => "dumb-init --single-child".into(),
            Init::Catatonit { group: true } => "catatonit -g".into(),
            Init::Catatonit { group: false } => "catatonit".into(),
            Init::Pause => "pause".into(),
            Init::S6 => "s6-svscan".into(),
            Init::Supervisord => "supervisord".into(),
            Init::Systemd => "systemd".into(),
            Init::Runit => "runit".into(),
            Init::Shell(s) => format!("{s} (a shell)"),
            Init::Known(k) => format!("{} ({})", k.name, k.what),
            Init::Server(s) => format!("{} ({})", s.server.name, s.server.what),
            Init::App(a) => a.clone(),
        }
    }

    /// The known program's SIGTERM habit, if it is one.
    pub fn term_habit(&self) -> Option<TermHabit> {
        match self {
            Init::Known(k) => Some(k.term),
            _ => None,
        }
    }

    /// What this init needs so that SIGTERM stops it, given how it failed.
    pub fn sigterm_advice(&self, failure: TermFailure) -> String {
        const UNDER_INIT: &str = "or run it under an init that passes SIGTERM on (tini -g, dumb-init; `--init` with docker or podman)";
        match (self, failure) {
            (Init::Shell(_), TermFailure::NoHandler | TermFailure::DroppedAtDelivery) => "exec the application from the shell (`exec app`) so it is PID 1 and handles SIGTERM, or trap TERM and pass it on, or run it under tini -g or dumb-init".into(),
            (Init::Server(s), _) => s.advice(),
            (Init::Known(k), TermFailure::KeptRunning) => format!("make its SIGTERM handling end {} ({})", k.name, k.handle_term),
            (Init::Known(k), _) => format!("{} in the application, {UNDER_INIT}", k.handle_term),
            (Init::App(app), TermFailure::ReRaised) => format!("have {app}'s SIGTERM handler exit the process itself (exit, not raise: a namespace's init gets no default-action signal), {UNDER_INIT}"),
            (_, TermFailure::ReRaised) => format!("have the SIGTERM handler exit the process itself (exit, not raise), {UNDER_INIT}"),
            (_, TermFailure::KeptRunning) => "make the SIGTERM handler end the process (or finish within the grace period), or raise terminationGracePeriodSeconds if it needs longer".into(),
            (Init::App(app), _) => format!("handle SIGTERM in {app} by exiting, {UNDER_INIT}"),
            _ => "run the application under an init that handles SIGTERM (tini -g, dumb-init)".into(),
        }
    }

    /// What it is, for a sentence: "tini -g", "a shell", "the application itself".
    pub fn noun(&self) -> String {
        match self {
            Init::Shell(_) => "a shell".into(),
            Init::Known(k) => format!("{}, as the application itself", k.what),
            Init::Server(s) => format!("{}, as the application itself", s.server.what),
            Init::App(_) => "the application itself".into(),
            i => i.describe(),
        }
    }

    /// Whether it is an init program (it reaps any child it is given and
    /// handles SIGTERM by design), rather than a shell or an application.
    pub fn is_init(&self) -> bool {
        !matches!(
            self,
            Init::Shell(_) | Init::App(_) | Init::Known(_) | Init::Server(_)
        )
    }

    /// Whether it reaps any child it is given (zombie-safe as PID 1).
    pub fn reaps(&self) -> bool {
        self.is_init()
    }

    /// Whether it passes SIGTERM to its children's whole process group.
    pub fn forwards_to_group(&self) -> bool {
        matches!(
            self,
            Init::Tini { group: true, .. }
                | Init::DumbInit { group: true }
                | Init::Catatonit { group: true }
        )
    }

    /// What this init needs so every process gets SIGTERM, in one phrase.
    pub fn group_advice(&self) -> String {
        match self {
            Init::Tini { group: false, docker: false } => "run tini with -g (or TINI_KILL_PROCESS_GROUP=1) so SIGTERM reaches the whole process group".into(),
            Init::Tini { group: false, docker: true } => "set TINI_KILL_PROCESS_GROUP=1 in the container's environment (docker-init is tini; `--init` passes it no -g) so SIGTERM reaches the whole process group".into(),
            Init::Catatonit { group: false } => "run catatonit with -g so SIGTERM reaches the whole process group".into(),
            Init::DumbInit { group: false } => "drop --single-child so dumb-init signals the whole session".into(),
            Init::Shell(_) => "have the shell trap TERM and pass it on (`trap 'kill -TERM -- -$$' TERM`), or exec the application under tini -g or dumb-init".into(),
            Init::App(_) | Init::Known(_) | Init::Server(_) => "make the application stop its children on SIGTERM, or run it under tini -g or dumb-init".into(),
            _ => "make sure every process of the container gets SIGTERM before the init exits".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_common_inits() {
        let id = |exe: &str, cmd: &str, comm: &str| Init::identify(exe, cmd, comm).describe();
        assert_eq!(
            id(
                "/usr/bin/tini-static",
                "/usr/bin/tini -g -- java -jar a",
                "tini"
            ),
            "tini -g"
        );
        assert_eq!(id("/usr/bin/tini", "tini -- sh -c x", "tini"), "tini");
        assert_eq!(
            id("/usr/bin/dumb-init", "dumb-init sh -c x", "dumb-init"),
            "dumb-init"
        );
        assert_eq!(
            id(
                "/usr/bin/dumb-init",
                "dumb-init --single-child sh",
                "dumb-init"
            ),
            "dumb-init --single-child"
        );
        assert_eq!(id("/catatonit", "/catatonit -P", "catatonit"), "catatonit");
        assert_eq!(
            id("/usr/bin/catatonit", "catatonit -g -- sh", "catatonit"),
            "catatonit -g"
        );
        assert_eq!(
            id("/bin/busybox", "/bin/sh -c sleep 1000", "sh"),
            "sh (a shell)"
        );
        assert_eq!(
            id("/usr/bin/java", "java -jar app.jar", "java"),
            "java (the JVM)"
        );
        assert_eq!(id("/usr/local/bin/myapp", "myapp serve", "myapp"), "myapp");
        // An option after the program is the program's, not tini's.
        assert_eq!(id("/usr/bin/tini", "tini -- app -g", "tini"), "tini");
        assert!(!Init::identify("/bin/sleep", "sleep 1000", "sleep").reaps());
        assert!(Init::identify("/usr/bin/tini", "tini x", "tini").reaps());
    }

    #[test]
    fn names_runtimes_and_servers_by_their_sigterm_habit() {
        let habit = |exe: &str, cmd: &str, comm: &str| Init::identify(exe, cmd, comm).term_habit();
        assert_eq!(
            habit("/usr/bin/node", "node server.js", "node"),
            Some(TermHabit::ReRaises)
        );
        assert_eq!(
            habit("/usr/bin/nodejs", "nodejs app.js", "nodejs"),
            Some(TermHabit::ReRaises)
        );
        assert_eq!(
            habit("/usr/bin/python3.11", "python3 -m http.server", "python3"),
            Some(TermHabit::Default)
        );
        assert_eq!(
            habit("/usr/bin/perl", "perl -e sleep", "perl"),
            Some(TermHabit::Default)
        );
        assert!(matches!(
            Init::identify(
                "/usr/sbin/nginx",
                "nginx: master process nginx -g daemon off;",
                "nginx"
            ),
            Init::Server(_)
        ));
        // Prefixes are not names: "nodemon", "pythonic", "perlbrew" are apps.
        assert_eq!(habit("/usr/bin/nodemon", "nodemon x", "nodemon"), None);
        assert_eq!(habit("/opt/pythonic", "pythonic", "pythonic"), None);
        // A runtime under an init is the init's child: the init is judged.
        assert_eq!(
            Init::identify("/usr/bin/tini", "tini -- node app.js", "tini"),
            Init::Tini {
                group: false,
                docker: false
            }
        );
        // `docker run --init`: Docker's tini, as Docker mounts it.
        let di = Init::identify(
            "/sbin/docker-init",
            "/sbin/docker-init -- httpd -f",
            "docker-init",
        );
        assert_eq!(
            di,
            Init::Tini {
                group: false,
                docker: true
            }
        );
        assert_eq!(di.describe(), "docker-init (tini)");
        assert!(di.reaps() && !di.forwards_to_group());
        assert!(di.group_advice().contains("TINI_KILL_PROCESS_GROUP=1"));
        // A runtime as PID 1 is no reaping init.
        assert!(!Init::identify("/usr/bin/node", "node a.js", "node").reaps());
    }

    #[test]
    fn advice_fits_the_failure() {
        let node = Init::identify("/usr/bin/node", "node a.js", "node");
        assert!(node
            .sigterm_advice(TermFailure::ReRaised)
            .contains("process.on('SIGTERM'"));
        let app = Init::App("server".into());
        let re = app.sigterm_advice(TermFailure::ReRaised);
        assert!(
            re.contains("exit, not raise") && re.contains("tini"),
            "{re}"
        );
        let none = app.sigterm_advice(TermFailure::NoHandler);
        assert!(none.contains("handle SIGTERM in server"), "{none}");
        let kept = app.sigterm_advice(TermFailure::KeptRunning);
        assert!(kept.contains("end the process"), "{kept}");
    }
}
