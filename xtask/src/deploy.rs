//! `deploy/daemonset.yaml` checked against what it runs: the image that
//! `cargo xtask image` builds (name, ENTRYPOINT, CMD, port) and the agent's
//! flags (every path it is given lies in a mounted host path that is the
//! runtime's own default there). The YAML is read with a small reader of the
//! block-style subset the file uses (no YAML crate for one test).

/// The DaemonSet, relative to the workspace root.
pub const DAEMONSET: &str = "deploy/daemonset.yaml";
/// The alerting rules, as a plain Prometheus rules file.
pub const RULES: &str = "deploy/prometheus-rules.yaml";
/// The same rules as a Prometheus Operator PrometheusRule.
pub const PROMETHEUS_RULE: &str = "deploy/prometheusrule.yaml";

/// A YAML value of the subset: block mappings and sequences, scalars, flow
/// sequences of scalars.
#[derive(Clone, Debug, PartialEq)]
pub enum Yaml {
    /// `key: value` lines, in order.
    Map(Vec<(String, Yaml)>),
    /// `- item` lines or `[a, b]`.
    Seq(Vec<Yaml>),
    /// A scalar, unquoted.
    Str(String),
    /// Nothing after `key:`.
    Null,
}

impl Yaml {
    /// The member `key` of a mapping (Null if absent or not a mapping).
    pub fn get(&self, key: &str) -> &Yaml {
        match self {
            Yaml::Map(m) => m
                .iter()
                .find(|(k, _)| k == key)
                .map_or(&Yaml::Null, |(_, v)| v),
            _ => &Yaml::Null,
        }
    }

    /// Follows a dotted path of mapping keys.
    pub fn at(&self, path: &str) -> &Yaml {
        path.split('.').fold(self, |v, k| v.get(k))
    }

    /// The scalar, if this is one.
    pub fn str(&self) -> Option<&str> {
        match self {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a sequence (none for anything else).
    pub fn items(&self) -> &[Yaml] {
        match self {
            Yaml::Seq(v) => v,
            _ => &[],
        }
    }
}

/// Splits a multi-document stream and reads each document.
pub fn parse_documents(text: &str) -> Result<Vec<Yaml>, String> {
    let mut docs = Vec::new();
    let mut cur = Vec::new();
    for (no, raw) in text.lines().enumerate() {
        if raw.trim_end() == "---" {
            docs.push(std::mem::take(&mut cur));
            continue;
        }
        let line = strip_comment(raw);
        if line.trim().is_empty() {
            continue;
        }
        if line.contains('\t') {
            return Err(format!("line {}: tab in indentation", no + 1));
        }
        let indent = line.len() - line.trim_start().len();
        cur.push((no + 1, indent, line.trim().to_owned()));
    }
    docs.push(cur);
    docs.into_iter()
        .filter(|d| !d.is_empty())
        .map(|lines| {
            let mut i = 0;
            let v = block(&lines, &mut i, lines[0].1)?;
            match lines.get(i) {
                Some((no, _, l)) => Err(format!("line {no}: unexpected {l:?}")),
                None => Ok(v),
            }
        })
        .collect()
}

type Line = (usize, usize, String);

/// The text before a comment (`#` at the start or after a space, outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && (prev == ' ' || i == 0) => return line[..i].trim_end(),
            _ => {}
        }
        prev = c;
    }
    line.trim_end()
}

fn is_item(l: &str) -> bool {
    l == "-" || l.starts_with("- ")
}

/// A block (mapping or sequence) whose lines are indented `indent`.
fn block(lines: &[Line], i: &mut usize, indent: usize) -> Result<Yaml, String> {
    if is_item(&lines[*i].2) {
        seq(lines, i, indent)
    } else {
        map(lines, i, indent)
    }
}

fn seq(lines: &[Line], i: &mut usize, indent: usize) -> Result<Yaml, String> {
    let mut items = Vec::new();
    while let Some((no, ind, l)) = lines.get(*i).cloned() {
        if ind != indent || !is_item(&l) {
            break;
        }
        let rest = l[1..].trim_start().to_owned();
        if rest.is_empty() {
            *i += 1;
            items.push(nested(lines, i, indent)?);
        } else if key_value(&rest).is_some() {
            // `- key: value` starts a mapping indented like `key`.
            let mut sub = lines.to_vec();
            sub[*i] = (no, indent + (l.len() - rest.len()), rest);
            let inner = sub[*i].1;
            items.push(map(&sub, i, inner)?);
        } else {
            *i += 1;
            items.push(scalar(&rest, no)?);
        }
    }
    Ok(Yaml::Seq(items))
}

fn map(lines: &[Line], i: &mut usize, indent: usize) -> Result<Yaml, String> {
    let mut entries = Vec::new();
    while let Some((no, ind, l)) = lines.get(*i).cloned() {
        if ind < indent || (ind == indent && is_item(&l)) {
            break;
        }
        if ind > indent {
            return Err(format!("line {no}: unexpected indentation"));
        }
        let (k, v) = key_value(&l).ok_or_else(|| format!("line {no}: not `key: value`: {l:?}"))?;
        *i += 1;
        let value = if v.is_empty() {
            // A nested block, or a sequence at the key's own indentation.
            match lines.get(*i) {
                Some((_, ind2, l2)) if *ind2 == indent && is_item(l2) => seq(lines, i, indent)?,
                _ => nested(lines, i, indent)?,
            }
        } else {
            scalar(v, no)?
        };
        if entries.iter().any(|(k2, _)| k2 == k) {
            return Err(format!("line {no}: duplicate key {k}"));
        }
        entries.push((k.to_owned(), value));
    }
    Ok(Yaml::Map(entries))
}

/// What is indented deeper than `indent` at line `i`, or Null.
fn nested(lines: &[Line], i: &mut usize, indent: usize) -> Result<Yaml, String> {
    match lines.get(*i) {
        Some((_, ind, _)) if *ind > indent => block(lines, i, *ind),
        _ => Ok(Yaml::Null),
    }
}

/// `key: value` or `key:` (the key unquoted).
fn key_value(l: &str) -> Option<(&str, &str)> {
    if l.starts_with('"') || l.starts_with('\'') || l.starts_with('[') {
        return None;
    }
    if let Some(k) = l.strip_suffix(':') {
        return (!k.contains(": ")).then_some((k, ""));
    }
    let (k, v) = l.split_once(": ")?;
    Some((k.trim(), v.trim()))
}

fn scalar(s: &str, no: usize) -> Result<Yaml, String> {
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| format!("line {no}: unclosed flow sequence"))?;
        if inner.trim().is_empty() {
            return Ok(Yaml::Seq(Vec::new()));
        }
        return inner
            .split(',')
            .map(|p| scalar(p.trim(), no))
            .collect::<Result<_, _>>()
            .map(Yaml::Seq);
    }
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q) {
            return inner
                .strip_suffix(q)
                .map(|v| Yaml::Str(v.to_owned()))
                .ok_or_else(|| format!("line {no}: unclosed quote"));
        }
    }
    if s.starts_with('{') || s.starts_with('&') || s.starts_with('*') || s.starts_with('|') {
        return Err(format!(
            "line {no}: outside the subset this reader knows: {s}"
        ));
    }
    Ok(Yaml::Str(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image;

    /// The agent's flags (issue 11 and the runtime-root flags of every tracing command).
    const AGENT_FLAGS: &[&str] = &[
        "--listen",
        "--output",
        "--output-max-size",
        "--output-keep",
        "--lock-file",
        "--storage-root",
        "--containerd-root",
        "--containerd-db",
        "--podman-db",
        "--ring-buffer-size",
        "--zombie-after",
        "--forward-window",
        "--policy",
    ];

    /// Flags whose value is a path the agent reads (or, for the lock, writes).
    const PATH_FLAGS: &[&str] = &[
        "--storage-root",
        "--containerd-root",
        "--containerd-db",
        "--podman-db",
        "--lock-file",
        "--policy",
        "--output",
    ];

    /// Where each runtime keeps what the agent reads on the node: nstrace's defaults
    /// (nstrace/src/cli.rs, DESIGN.md §5b). A flag given in the DaemonSet must lead to
    /// one of these on the host.
    const HOST_DEFAULTS: &[(&str, &str)] = &[
        (
            "--storage-root",
            "/run/containers/storage/overlay-containers",
        ),
        (
            "--storage-root",
            "/var/lib/containers/storage/overlay-containers",
        ),
        (
            "--containerd-root",
            "/run/containerd/io.containerd.runtime.v2.task/k8s.io",
        ),
        (
            "--containerd-db",
            "/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db",
        ),
        (
            "--podman-db",
            "/var/lib/containers/storage/libpod/bolt_state.db",
        ),
        ("--lock-file", "/run/nstrace/agent.lock"),
    ];

    /// The agent's default lock file (issue 11's interface).
    const DEFAULT_LOCK: &str = "/run/nstrace/agent.lock";

    fn docs() -> Vec<Yaml> {
        let text = std::fs::read_to_string(crate::root().join(DAEMONSET)).unwrap();
        parse_documents(&text).unwrap_or_else(|e| panic!("{DAEMONSET}: {e}"))
    }

    fn daemonset() -> Yaml {
        docs()
            .into_iter()
            .find(|d| d.get("kind").str() == Some("DaemonSet"))
            .expect("a DaemonSet")
    }

    fn pod(ds: &Yaml) -> &Yaml {
        ds.at("spec.template.spec")
    }

    fn container(ds: &Yaml) -> &Yaml {
        let cs = pod(ds).get("containers").items();
        assert_eq!(cs.len(), 1, "one container");
        &cs[0]
    }

    fn args(ds: &Yaml) -> Vec<String> {
        container(ds)
            .get("args")
            .items()
            .iter()
            .map(|a| a.str().expect("scalar args").to_owned())
            .collect()
    }

    /// Values of `--flag V` and `--flag=V` in `args`.
    fn flag_values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        let mut out = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if a == flag {
                out.push(args.get(i + 1).map(String::as_str).unwrap_or(""));
            } else if let Some(v) = a.strip_prefix(&format!("{flag}=")) {
                out.push(v);
            }
        }
        out
    }

    /// (mountPath, host path, readOnly, hostPath type) of each volume mount.
    fn mounts(ds: &Yaml) -> Vec<(String, String, bool, String)> {
        let volumes = pod(ds).get("volumes").items();
        container(ds)
            .get("volumeMounts")
            .items()
            .iter()
            .map(|m| {
                let name = m.get("name").str().unwrap();
                let vol = volumes
                    .iter()
                    .find(|v| v.get("name").str() == Some(name))
                    .unwrap_or_else(|| panic!("no volume {name}"));
                let hp = vol.get("hostPath");
                (
                    m.get("mountPath").str().unwrap().to_owned(),
                    hp.get("path")
                        .str()
                        .unwrap_or_else(|| panic!("{name} is not a hostPath"))
                        .to_owned(),
                    m.get("readOnly").str() == Some("true"),
                    hp.get("type").str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// The host path behind `path` inside the container (the deepest mount holding it).
    fn host_path(ds: &Yaml, path: &str) -> Option<(String, bool)> {
        mounts(ds)
            .into_iter()
            .filter(|(mp, ..)| path == mp || path.starts_with(&format!("{mp}/")))
            .max_by_key(|(mp, ..)| mp.len())
            .map(|(mp, hp, ro, _)| (format!("{hp}{}", &path[mp.len()..]), ro))
    }

    fn read(path: &str) -> Vec<Yaml> {
        let text = std::fs::read_to_string(crate::root().join(path)).unwrap();
        parse_documents(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_prometheus_rule_wraps_exactly_the_plain_rules_and_every_alert_the_issue_asks_for() {
        let plain = read(RULES);
        assert_eq!(plain.len(), 1, "one document");
        let groups = plain[0].get("groups");
        let wrapped = read(PROMETHEUS_RULE);
        assert_eq!(wrapped.len(), 1, "one document");
        let r = &wrapped[0];
        assert_eq!(r.get("apiVersion").str(), Some("monitoring.coreos.com/v1"));
        assert_eq!(r.get("kind").str(), Some("PrometheusRule"));
        assert_eq!(r.at("metadata.namespace").str(), Some("nstrace-system"));
        assert_eq!(
            r.at("spec.groups"),
            groups,
            "the same groups, rule for rule"
        );
        let alerts: Vec<&str> = groups
            .items()
            .iter()
            .flat_map(|g| g.get("rules").items())
            .filter_map(|r| r.get("alert").str())
            .collect();
        for want in [
            "NstraceAgentDown",
            "NstraceAgentUnhealthy",
            "NstraceEventsDropped",
            "NstracePid1IgnoresSigterm",
            "NstracePodKilledAtGraceEnd",
            "NstraceZombiesAccumulating",
        ] {
            assert!(alerts.contains(&want), "{want} missing: {alerts:?}");
        }
        // Every alert says how bad and what to do, for the people it pages.
        for rule in groups.items().iter().flat_map(|g| g.get("rules").items()) {
            let name = rule.get("alert").str().unwrap();
            assert!(rule.at("labels.severity").str().is_some(), "{name}");
            assert!(rule.at("annotations.summary").str().is_some(), "{name}");
            assert!(rule.at("annotations.description").str().is_some(), "{name}");
        }
    }

    #[test]
    fn reader_knows_the_subset() {
        let y = "a: 1\nb:\n  - x\n  - k: v\n    l: \"q # not a comment\"\n  -\n    m: n\nc: [\"e\", f]  # comment\nd:\n- s\n---\ne: 'z'\n";
        let d = parse_documents(y).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].get("a").str(), Some("1"));
        assert_eq!(d[0].get("b").items()[0].str(), Some("x"));
        assert_eq!(
            d[0].get("b").items()[1].get("l").str(),
            Some("q # not a comment")
        );
        assert_eq!(d[0].get("b").items()[2].get("m").str(), Some("n"));
        assert_eq!(d[0].get("c").items()[1].str(), Some("f"));
        assert_eq!(d[0].get("d").items()[0].str(), Some("s"));
        assert_eq!(d[1].get("e").str(), Some("z"));
        assert!(parse_documents("a: 1\n  b: 2\n").is_err());
        assert!(parse_documents("a: 1\na: 2\n").is_err());
    }

    #[test]
    fn kinds_and_namespace() {
        let d = docs();
        let kinds: Vec<_> = d.iter().map(|d| d.get("kind").str().unwrap()).collect();
        assert_eq!(kinds, ["Namespace", "ServiceAccount", "DaemonSet"]);
        assert_eq!(d[0].at("metadata.name").str(), Some("nstrace-system"));
        for x in &d[1..] {
            assert_eq!(x.at("metadata.namespace").str(), Some("nstrace-system"));
        }
        let ds = &d[2];
        assert_eq!(ds.get("apiVersion").str(), Some("apps/v1"));
        assert_eq!(
            pod(ds).get("serviceAccountName").str(),
            d[1].at("metadata.name").str()
        );
        // Label keys hold dots: looked up with get(), not walked with at().
        let want = ds
            .at("spec.selector.matchLabels")
            .get("app.kubernetes.io/name");
        assert_eq!(want.str(), Some("nstrace"));
        assert_eq!(
            ds.at("spec.template.metadata.labels")
                .get("app.kubernetes.io/name"),
            want
        );
    }

    #[test]
    fn runs_the_image_xtask_builds_as_its_entrypoint_wants() {
        let ds = daemonset();
        let c = container(&ds);
        assert_eq!(c.get("image").str(), Some(image::tag().as_str()));
        assert_eq!(c.get("imagePullPolicy").str(), Some("IfNotPresent"));
        assert_eq!(
            ds.at("metadata.labels")
                .get("app.kubernetes.io/version")
                .str(),
            Some(image::version())
        );
        // No `command:`: the image's ENTRYPOINT (the binary) runs, with these args
        // in place of its CMD, so they must start with the CMD's subcommand.
        assert_eq!(c.get("command"), &Yaml::Null);
        assert_eq!(image::ENTRYPOINT, "/usr/bin/nstrace");
        assert_eq!(args(&ds).first().map(String::as_str), Some(image::CMD[0]));
    }

    #[test]
    fn every_flag_is_the_agents_and_the_port_agrees_everywhere() {
        let ds = daemonset();
        let a = args(&ds);
        for f in a.iter().filter(|a| a.starts_with("--")) {
            let name = f.split('=').next().unwrap();
            assert!(AGENT_FLAGS.contains(&name), "{name} is not an agent flag");
        }
        let port = image::PORT.to_string();
        assert_eq!(flag_values(&a, "--listen"), [format!("0.0.0.0:{port}")]);
        let c = container(&ds);
        assert_eq!(
            c.get("ports").items()[0].get("containerPort").str(),
            Some(port.as_str())
        );
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
            let g = c.get(probe).get("httpGet");
            assert_eq!(g.get("path").str(), Some("/healthz"), "{probe}");
            assert_eq!(g.get("port").str(), Some(port.as_str()), "{probe}");
        }
        let ann = ds.at("spec.template.metadata.annotations");
        assert_eq!(ann.get("prometheus.io/scrape").str(), Some("true"));
        assert_eq!(ann.get("prometheus.io/port").str(), Some(port.as_str()));
        assert_eq!(ann.get("prometheus.io/path").str(), Some("/metrics"));
    }

    /// The capability names of `nstrace agent`'s table (AGENT_CAPS in
    /// nstrace/src/probe/mod.rs), without `CAP_`, as Kubernetes writes them.
    fn agent_caps_in_source() -> Vec<String> {
        let src = std::fs::read_to_string(crate::root().join("nstrace/src/probe/mod.rs")).unwrap();
        let table = src
            .split("pub const AGENT_CAPS")
            .nth(1)
            .and_then(|t| t.split("];").next())
            .expect("AGENT_CAPS in probe/mod.rs");
        table
            .split('"')
            .filter_map(|q| q.strip_prefix("CAP_"))
            .filter(|n| n.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn least_privilege_in_the_nodes_pid_and_net_namespaces_on_every_node() {
        let ds = daemonset();
        let p = pod(&ds);
        assert_eq!(p.get("hostPID").str(), Some("true"));
        assert_eq!(p.get("hostNetwork").str(), Some("true"));
        let sc = container(&ds).get("securityContext");
        assert_eq!(sc.get("privileged").str(), Some("false"));
        assert_eq!(sc.get("allowPrivilegeEscalation").str(), Some("false"));
        assert_eq!(sc.get("readOnlyRootFilesystem").str(), Some("true"));
        let names = |k: &str| -> Vec<String> {
            sc.at(k)
                .items()
                .iter()
                .map(|c| c.str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(names("capabilities.drop"), ["ALL"]);
        let add = names("capabilities.add");
        assert_eq!(
            add,
            agent_caps_in_source(),
            "the DaemonSet adds exactly what the agent checks for"
        );
        assert!(
            add.iter().all(|c| !c.starts_with("CAP_")),
            "Kubernetes names capabilities without CAP_: {add:?}"
        );
        let tolerates_all = p
            .get("tolerations")
            .items()
            .iter()
            .any(|t| t.get("operator").str() == Some("Exists") && t.get("key") == &Yaml::Null);
        assert!(
            tolerates_all,
            "a toleration of every taint (control-plane too)"
        );
        let grace: u32 = p
            .get("terminationGracePeriodSeconds")
            .str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            grace <= 10,
            "the agent exits within 1 s of SIGTERM: {grace}"
        );
        let r = container(&ds).get("resources");
        for k in [
            "requests.cpu",
            "requests.memory",
            "limits.cpu",
            "limits.memory",
        ] {
            assert!(r.at(k).str().is_some(), "resources.{k}");
        }
        // Never two agents on a node during an update.
        assert_eq!(
            ds.at("spec.updateStrategy.rollingUpdate.maxSurge").str(),
            Some("0")
        );
    }

    #[test]
    fn mounts_are_read_only_host_paths_that_exist_and_paths_lead_to_the_runtimes_files() {
        let ds = daemonset();
        let ms = mounts(&ds);
        for (mp, hp, ro, ty) in &ms {
            if *ro {
                assert!(
                    !ty.ends_with("OrCreate"),
                    "{mp}: a read-only host path must not be created on the node ({ty})"
                );
            }
            if hp.starts_with("/sys/") {
                assert_eq!(mp, hp, "{hp} at its own path (aya and nstrace look there)");
                assert!(*ro, "{hp} read-only");
            }
        }
        for sys in ["/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/cgroup"] {
            assert!(ms.iter().any(|(mp, ..)| mp == sys), "{sys} mounted");
        }
        // Every path flag leads, through a mount, to where a runtime keeps its files
        // on the node (nstrace's own default there).
        let a = args(&ds);
        let mut given = Vec::new();
        for flag in PATH_FLAGS {
            for v in flag_values(&a, flag) {
                let (host, ro) = host_path(&ds, v)
                    .unwrap_or_else(|| panic!("{flag} {v} is in no mounted host path"));
                assert!(
                    HOST_DEFAULTS.contains(&(flag, host.as_str())),
                    "{flag} {v} is {host} on the node, not where a runtime keeps it"
                );
                assert_eq!(
                    ro,
                    *flag != "--lock-file",
                    "{flag} {v}: read-only unless the lock"
                );
                given.push(*flag);
            }
        }
        assert!(given.contains(&"--storage-root") && given.contains(&"--containerd-root"));
        // The lock: the agent's default path, on the host, writable.
        assert!(flag_values(&a, "--lock-file").is_empty());
        assert_eq!(
            host_path(&ds, DEFAULT_LOCK),
            Some((DEFAULT_LOCK.to_owned(), false)),
            "the default lock file is the host's, writable"
        );
    }

    #[test]
    fn the_runtime_defaults_here_are_nstraces() {
        let cli = std::fs::read_to_string(crate::root().join("nstrace/src/cli.rs")).unwrap();
        for (flag, path) in HOST_DEFAULTS.iter().filter(|(f, _)| *f != "--lock-file") {
            assert!(
                cli.contains(flag.trim_start_matches('-')),
                "{flag} in cli.rs"
            );
            assert!(
                cli.contains(&format!("\"{path}\"")),
                "{flag} default {path} in cli.rs"
            );
        }
    }
}
