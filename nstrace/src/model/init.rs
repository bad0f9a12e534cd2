//! Which init runs as a container's PID 1, and how it passes SIGTERM on:
//! named from its executable and argv, the way an SRE would say it
//! ("tini -g", "dumb-init", "a shell", "the application itself").

/// A kind of container init.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Init {
    /// tini; `group`: -g (or TINI_KILL_PROCESS_GROUP) signals the child's whole process group.
    Tini {
        /// Signals the whole process group.
        group: bool,
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
    /// The application itself (`exec app`).
    App(String),
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
        if is("tini") {
            Init::Tini {
                group: has("-g", "-g"),
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
        } else {
            Init::App(if comm.is_empty() { argv0 } else { comm }.to_owned())
        }
    }

    /// In a few words: "tini -g", "dumb-init", "sh (a shell)", "java".
    pub fn describe(&self) -> String {
        match self {
            Init::Tini { group: true } => "tini -g".into(),
            Init::Tini { group: false } => "tini".into(),
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
            Init::App(a) => a.clone(),
        }
    }

    /// What it is, for a sentence: "tini -g", "a shell", "the application itself".
    pub fn noun(&self) -> String {
        match self {
            Init::Shell(_) => "a shell".into(),
            Init::App(_) => "the application itself".into(),
            i => i.describe(),
        }
    }

    /// Whether it is an init program (it reaps any child it is given and
    /// handles SIGTERM by design), rather than a shell or an application.
    pub fn is_init(&self) -> bool {
        !matches!(self, Init::Shell(_) | Init::App(_))
    }

    /// Whether it reaps any child it is given (zombie-safe as PID 1).
    pub fn reaps(&self) -> bool {
        self.is_init()
    }

    /// Whether it passes SIGTERM to its children's whole process group.
    pub fn forwards_to_group(&self) -> bool {
        matches!(
            self,
            Init::Tini { group: true }
                | Init::DumbInit { group: true }
                | Init::Catatonit { group: true }
        )
    }

    /// What this init needs so every process gets SIGTERM, in one phrase.
    pub fn group_advice(&self) -> String {
        match self {
            Init::Tini { group: false } => "run tini with -g (or TINI_KILL_PROCESS_GROUP=1) so SIGTERM reaches the whole process group".into(),
            Init::Catatonit { group: false } => "run catatonit with -g so SIGTERM reaches the whole process group".into(),
            Init::DumbInit { group: false } => "drop --single-child so dumb-init signals the whole session".into(),
            Init::Shell(_) => "have the shell trap TERM and pass it on (`trap 'kill -TERM -- -$$' TERM`), or exec the application under tini -g or dumb-init".into(),
            Init::App(_) => "make the application stop its children on SIGTERM, or run it under tini -g or dumb-init".into(),
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
        assert_eq!(id("/usr/bin/java", "java -jar app.jar", "java"), "java");
        // An option after the program is the program's, not tini's.
        assert_eq!(id("/usr/bin/tini", "tini -- app -g", "tini"), "tini");
        assert!(!Init::identify("/bin/sleep", "sleep 1000", "sleep").reaps());
        assert!(Init::identify("/usr/bin/tini", "tini x", "tini").reaps());
    }
}
