//! Allow rules (`audit --policy FILE`): findings a site expects, such as a
//! node agent that enters the node's namespaces on purpose. A finding that
//! matches every field a rule sets is reported as allowed (it no longer counts
//! for `--fail-on`), and each rule's hits are counted in the summary.
//!
//! The file is TOML:
//!
//! ```toml
//! [[allow]]
//! name = "kured reboots nodes"       # required, shown in the summary
//! finding = ["host_namespace_join"]  # finding kinds
//! comm = "nsenter"                   # command name (glob: * and ?)
//! exe = "/usr/bin/nsenter"           # executable path (glob)
//! uid = 0                            # the actor's real uid
//! pod = "kured-*"                    # pod name or NAMESPACE/NAME (glob)
//! ns_type = ["mnt", "pid"]           # every target's namespace type must be listed
//! target = ["node"]                  # every target's class must be listed
//!
//! [[allow]]
//! name = "the backup job's dumps"
//! finding = ["exec_session"]
//! container = "db"                   # container name or id (glob)
//! runtime = "containerd"             # engine or tool of a session, probe, debug container
//! command = "pg_dump *"              # the command line, as printed (glob)
//! ```

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use nstrace_common::NsType;

use super::{Attributed, FindingKind};
use crate::event::argv_text;
use crate::model::Place;

/// Namespace type names a rule may list.
const NS_TYPES: [&str; 8] = {
    let mut names = [""; 8];
    let mut i = 0;
    while i < names.len() {
        names[i] = NsType::KINDS[i].name();
        i += 1;
    }
    names
};
/// Target classes a rule may list (see `Place::class`).
const TARGET_CLASSES: [&str; 8] = Place::CLASSES;

/// A policy file that could not be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file, as given.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.origin, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for PolicyError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    allow: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<Spanned<String>>,
    #[serde(default)]
    finding: Vec<Spanned<String>>,
    comm: Option<String>,
    exe: Option<String>,
    uid: Option<u32>,
    pod: Option<String>,
    container: Option<String>,
    runtime: Option<String>,
    command: Option<String>,
    #[serde(default)]
    ns_type: Vec<Spanned<String>>,
    #[serde(default)]
    target: Vec<Spanned<String>>,
}

/// One allow rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// Its name.
    pub name: String,
    /// Finding kinds it applies to (empty: any).
    pub findings: Vec<FindingKind>,
    /// Command-name glob.
    pub comm: Option<String>,
    /// Executable-path glob (only join findings carry an executable).
    pub exe: Option<String>,
    /// Actor's real uid (only join findings carry one).
    pub uid: Option<u32>,
    /// Pod-name glob.
    pub pod: Option<String>,
    /// Container name (or id) glob.
    pub container: Option<String>,
    /// Runtime glob (sessions, probes, debug containers: `podman`, `containerd`, `nsenter`…).
    pub runtime: Option<String>,
    /// Command-line glob (sessions, probes, debug containers), as printed.
    pub command: Option<String>,
    /// Namespace types every target must have (empty: any).
    pub ns_types: Vec<String>,
    /// Target classes every target must have (empty: any).
    pub targets: Vec<String>,
}

/// A parsed policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Rules in file order; the first that matches wins.
    pub rules: Vec<Rule>,
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Policy {
    /// Parses a policy; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let err = |span: Range<usize>, message: String| {
            let (line, column) = line_col(text, span.start);
            PolicyError {
                origin: origin.to_owned(),
                line,
                column,
                message,
            }
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            // The message is multi-line in toml's Display; keep its first line.
            let msg = e.message().lines().next().unwrap_or("invalid TOML").trim();
            err(span, msg.to_owned())
        })?;
        let mut rules: Vec<Rule> = Vec::new();
        for spanned in file.allow {
            let span = spanned.span();
            let raw = spanned.into_inner();
            let name_spanned = raw
                .name
                .ok_or_else(|| err(span.clone(), "an [[allow]] rule needs a name".into()))?;
            if rules.iter().any(|r| r.name == *name_spanned.get_ref()) {
                return Err(err(
                    name_spanned.span(),
                    format!(
                        "a second rule named '{}': names count hits, so they must differ",
                        name_spanned.get_ref()
                    ),
                ));
            }
            let name = name_spanned.into_inner();
            let mut findings = Vec::new();
            for f in raw.finding {
                let kind = FindingKind::ALL
                    .iter()
                    .copied()
                    .find(|k| k.name() == f.get_ref())
                    .ok_or_else(|| {
                        let names: Vec<&str> = FindingKind::ALL.iter().map(|k| k.name()).collect();
                        err(
                            f.span(),
                            format!(
                                "unknown finding '{}' (expected one of: {})",
                                f.get_ref(),
                                names.join(", ")
                            ),
                        )
                    })?;
                findings.push(kind);
            }
            let check = |vals: Vec<Spanned<String>>,
                         allowed: &[&str],
                         what: &str|
             -> Result<Vec<String>, PolicyError> {
                vals.into_iter()
                    .map(|v| {
                        if allowed.contains(&v.get_ref().as_str()) {
                            Ok(v.into_inner())
                        } else {
                            Err(err(
                                v.span(),
                                format!(
                                    "unknown {what} '{}' (expected one of: {})",
                                    v.get_ref(),
                                    allowed.join(", ")
                                ),
                            ))
                        }
                    })
                    .collect()
            };
            rules.push(Rule {
                name,
                findings,
                comm: raw.comm,
                exe: raw.exe,
                uid: raw.uid,
                pod: raw.pod,
                container: raw.container,
                runtime: raw.runtime,
                command: raw.command,
                ns_types: check(raw.ns_type, &NS_TYPES, "namespace type")?,
                targets: check(raw.target, &TARGET_CLASSES, "target class")?,
            });
        }
        Ok(Policy { rules })
    }

    /// The index of the first rule that allows `a`, if any.
    pub fn allows(&self, a: &Attributed) -> Option<usize> {
        self.rules.iter().position(|r| r.matches(a))
    }
}

impl Rule {
    /// Whether every field this rule sets matches the finding.
    pub fn matches(&self, a: &Attributed) -> bool {
        let f = &a.finding;
        let join = f.join();
        if !self.findings.is_empty() && !self.findings.contains(&f.kind) {
            return false;
        }
        if let Some(c) = &self.comm {
            if !glob(c, &f.comm) {
                return false;
            }
        }
        if let Some(e) = &self.exe {
            let exe = join
                .map(|j| j.actor.exe.as_str())
                .or_else(|| f.session().map(|s| s.exe.as_str()));
            if !exe.is_some_and(|x| glob(e, x)) {
                return false;
            }
        }
        if let Some(u) = self.uid {
            let uid = join
                .map(|j| j.actor.uid)
                .or_else(|| f.session().map(|s| s.uid))
                .or_else(|| f.probe().map(|p| p.uid))
                .or_else(|| f.attach().map(|a| a.uid));
            if uid != Some(u) {
                return false;
            }
        }
        if let Some(c) = &self.container {
            let matches = |c2: &crate::model::CtrRef| {
                glob(c, &c2.id) || c2.name.as_deref().is_some_and(|n| glob(c, n))
            };
            if !a.place.ctr().is_some_and(matches) {
                return false;
            }
        }
        if let Some(r) = &self.runtime {
            if !f.runtime().is_some_and(|x| glob(r, x)) {
                return false;
            }
        }
        if let Some(cmd) = &self.command {
            let line = f
                .session()
                .map(|s| argv_text(&s.argv, s.argv_cut))
                .or_else(|| f.probe().map(|p| argv_text(&p.argv, false)))
                .or_else(|| f.attach().map(|a| argv_text(&a.argv, false)));
            if !line.is_some_and(|l| glob(cmd, &l)) {
                return false;
            }
        }
        if let Some(p) = &self.pod {
            let matches = |pod: &crate::model::PodRef| {
                glob(p, &pod.name) || (pod.namespace.is_some() && glob(p, &pod.to_string()))
            };
            if !a.place.pod_ref().is_some_and(matches) {
                return false;
            }
        }
        if !self.ns_types.is_empty() {
            let Some(j) = join else { return false };
            if j.targets.is_empty()
                || !j
                    .targets
                    .iter()
                    .all(|t| self.ns_types.iter().any(|n| n == t.type_name()))
            {
                return false;
            }
        }
        if !self.targets.is_empty() {
            let Some(j) = join else { return false };
            if j.targets.is_empty()
                || !j
                    .targets
                    .iter()
                    .all(|t| self.targets.iter().any(|c| c == t.place.class()))
            {
                return false;
            }
        }
        true
    }
}

/// Shell-style match: `*` any run, `?` one character; everything else literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::joins::{Action, Actor, Join, Target};
    use crate::detect::pid1::IgnoredSigterm;
    use crate::detect::{Evidence, Finding, Severity};
    use crate::model::Place;
    use nstrace_common::NsType;

    fn join_finding(
        kind: FindingKind,
        comm: &str,
        exe: &str,
        uid: u32,
        targets: Vec<Target>,
    ) -> Attributed {
        let join = Join {
            actor: Actor {
                pid: 10,
                comm: comm.into(),
                exe: exe.into(),
                uid,
                euid: uid,
                cap_effective: 0,
                pid_ns: 0,
                place: Place::Pod {
                    pod: "kured-x".into(),
                    container: Some("c1".into()),
                },
            },
            action: Action::Setns { fd: 3, nstype: 0 },
            targets,
            ret: 0,
            expected: None,
        };
        Attributed {
            finding: Finding {
                kind,
                severity: Severity::High,
                ts_ns: 1,
                pid: 10,
                comm: comm.into(),
                pid_ns: 0,
                evidence: Evidence::Join(Box::new(join)),
            },
            place: Place::Pod {
                pod: "kured-x".into(),
                container: Some("c1".into()),
            },
            allowed_by: None,
        }
    }

    fn node_target(ty: &'static str) -> Target {
        Target {
            ns_type: NsType::from_name(ty),
            inode: 1,
            place: Place::Node,
        }
    }

    #[test]
    fn rule_matches_only_when_every_field_does() {
        let p = Policy::parse(
            r#"
# kured enters the node's mount and pid namespaces to reboot it
[[allow]]
name = "kured"
finding = ["host_namespace_join"]
comm = "nsenter"
exe = "/usr/bin/*"
uid = 0
pod = "kured-*"
ns_type = ["mnt", "pid"]
target = ["node"]
"#,
            "p.toml",
        )
        .unwrap();
        let good = join_finding(
            FindingKind::HostNamespaceJoin,
            "nsenter",
            "/usr/bin/nsenter",
            0,
            vec![node_target("mnt"), node_target("pid")],
        );
        assert_eq!(p.allows(&good), Some(0));
        let net = join_finding(
            FindingKind::HostNamespaceJoin,
            "nsenter",
            "/usr/bin/nsenter",
            0,
            vec![node_target("mnt"), node_target("net")],
        );
        assert_eq!(p.allows(&net), None, "net is not listed");
        let other_uid = join_finding(
            FindingKind::HostNamespaceJoin,
            "nsenter",
            "/usr/bin/nsenter",
            1000,
            vec![node_target("mnt")],
        );
        assert_eq!(p.allows(&other_uid), None);
        let other_exe = join_finding(
            FindingKind::HostNamespaceJoin,
            "nsenter",
            "/tmp/nsenter",
            0,
            vec![node_target("mnt")],
        );
        assert_eq!(p.allows(&other_exe), None);
        let mut other_pod = good.clone();
        other_pod.place = Place::Pod {
            pod: "web".into(),
            container: None,
        };
        assert_eq!(p.allows(&other_pod), None);
        let mut other_kind = good.clone();
        other_kind.finding.kind = FindingKind::CrossPodJoin;
        assert_eq!(p.allows(&other_kind), None);
    }

    #[test]
    fn sessions_are_allowed_by_container_runtime_command_and_uid() {
        use crate::detect::sessions::Session;
        let s = Session::example();
        let a = Attributed {
            place: s.container.clone(),
            finding: Finding {
                kind: FindingKind::ExecSession,
                severity: Severity::Low,
                ts_ns: 1,
                pid: s.leader,
                comm: "sh".into(),
                pid_ns: s.pid_ns,
                evidence: Evidence::Session(Box::new(s)),
            },
            allowed_by: None,
        };
        let rule = |body: &str| {
            Policy::parse(&format!("[[allow]]\nname = \"r\"\n{body}"), "p")
                .unwrap()
                .allows(&a)
        };
        assert_eq!(
            rule("finding = [\"exec_session\"]\ncontainer = \"app\"\nruntime = \"podman\"\ncommand = \"/bin/sh -c 'cat *\"\nuid = 0\nexe = \"/bin/sh\"\npod = \"web\"\n"),
            Some(0)
        );
        assert_eq!(
            rule(&format!("container = \"{:012x}*\"\n", 0)),
            Some(0),
            "by id"
        );
        assert_eq!(rule("container = \"db\"\n"), None);
        assert_eq!(rule("runtime = \"containerd\"\n"), None);
        assert_eq!(rule("command = \"id\"\n"), None);
        assert_eq!(rule("uid = 1000\n"), None);
        // Join fields a session has none of never match it.
        assert_eq!(rule("ns_type = [\"mnt\"]\n"), None);
    }

    #[test]
    fn join_fields_never_match_findings_without_a_join() {
        let p = Policy::parse("[[allow]]\nname = \"x\"\nuid = 0\n", "p").unwrap();
        let mut a = join_finding(FindingKind::SlowShutdown, "sh", "", 0, vec![]);
        a.finding.evidence = Evidence::IgnoredSigterm(IgnoredSigterm {
            sender: 1,
            sender_comm: "runc".into(),
            how: crate::detect::pid1::Dropped::AtGeneration,
        });
        assert_eq!(p.allows(&a), None);
        let by_pod = Policy::parse("[[allow]]\nname = \"x\"\npod = \"kured-*\"\n", "p").unwrap();
        assert_eq!(by_pod.allows(&a), Some(0));
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases = [
            (
                "[[allow]]\nname = \"a\"\ncom = \"x\"\n",
                3,
                1,
                "unknown field",
            ),
            (
                "[[allow]]\nname = \"a\"\nfinding = [\"nope\"]\n",
                3,
                12,
                "unknown finding 'nope'",
            ),
            (
                "[[allow]]\nname = \"a\"\nns_type = [\"net\", \"nett\"]\n",
                3,
                19,
                "unknown namespace type 'nett'",
            ),
            (
                "[[allow]]\nname = \"a\"\ntarget = [\"host\"]\n",
                3,
                11,
                "unknown target class 'host'",
            ),
            (
                "[[allow]]\nname = \"a\"\nuid = \"root\"\n",
                3,
                7,
                "invalid type",
            ),
            (
                "[[allow]]\nname = \"a\nuid = 0\n",
                2,
                10,
                "invalid basic string",
            ),
            ("\n\n[[allow]]\ncomm = \"x\"\n", 3, 1, "needs a name"),
            (
                "[[allow]]\nname = \"a\"\n[[allow]]\nname = \"a\"\n",
                4,
                8,
                "a second rule named 'a'",
            ),
        ];
        for (text, line, col, needle) in cases {
            let e = Policy::parse(text, "policy.toml").unwrap_err();
            assert_eq!((e.line, e.column), (line, col), "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("policy.toml:{line}:{col}: ")),
                "{shown}"
            );
            assert!(!shown.contains('\n'), "one line: {shown:?}");
        }
    }

    #[test]
    fn empty_policy_allows_nothing() {
        let p = Policy::parse("# nothing yet\n", "p").unwrap();
        let a = join_finding(FindingKind::NamespaceJoin, "ip", "/usr/bin/ip", 0, vec![]);
        assert_eq!(p.allows(&a), None);
    }

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("kured-*", "kured-abc"));
        assert!(!glob("kured-*", "kure"));
        assert!(glob("/usr/*/nsenter", "/usr/bin/nsenter"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*a*b*", "xxaxxbxx"));
        assert!(!glob("*a*b", "xxaxxbxx"));
    }
}
