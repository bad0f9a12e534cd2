//! The docs cannot drift from the program: every relative link in README.md
//! and docs/ resolves (file and heading), every `nstrace` command line in a
//! shell block or an inline code span parses with the real clap definitions,
//! every JSON example parses and names only fields its reference documents,
//! and the metrics reference lists exactly what the agent exports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// README.md and every page under docs/ (generated man pages aside).
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut out = vec![repo().join("README.md")];
    walk(&repo().join("docs"), &mut out);
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(repo())
        .unwrap_or(p)
        .display()
        .to_string()
        .trim_start_matches("../")
        .to_owned()
}

/// A page split into prose lines and fenced blocks (language, lines).
struct Page {
    prose: Vec<String>,
    blocks: Vec<(String, Vec<String>)>,
}

fn parse(text: &str) -> Page {
    let mut page = Page {
        prose: Vec::new(),
        blocks: Vec::new(),
    };
    let mut open: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(lang)) => open = Some((lang.trim().to_owned(), Vec::new())),
            (Some(_), Some(_)) => page.blocks.push(open.take().unwrap()),
            (Some((_, lines)), None) => lines.push(line.to_owned()),
            (None, None) => page.prose.push(line.to_owned()),
        }
    }
    page
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(page: &Page) -> BTreeSet<String> {
    page.prose
        .iter()
        .filter_map(|l| {
            let t = l.trim_start_matches('#');
            (t.len() < l.len() && t.starts_with(' ')).then(|| slug(t))
        })
        .collect()
}

/// Targets of `[text](target)` links in prose, code spans left out.
fn links(page: &Page) -> Vec<String> {
    let mut out = Vec::new();
    for line in &page.prose {
        let mut in_code = false;
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'`' {
                in_code = !in_code;
            } else if !in_code && b[i] == b']' && b.get(i + 1) == Some(&b'(') {
                if let Some(end) = line[i + 2..].find(')') {
                    out.push(line[i + 2..i + 2 + end].to_owned());
                    i += 2 + end;
                }
            }
            i += 1;
        }
    }
    out
}

#[test]
fn every_link_resolves_to_a_file_and_a_heading() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for p in pages() {
        let page = parse(&std::fs::read_to_string(&p).unwrap());
        for target in links(&page) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            checked += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file = if path.is_empty() {
                p.clone()
            } else {
                p.parent().unwrap().join(path)
            };
            if !file.exists() {
                bad.push(format!("{}: {target}: no such file", rel(&p)));
                continue;
            }
            if !anchor.is_empty() {
                let there = parse(&std::fs::read_to_string(&file).unwrap());
                if !anchors(&there).contains(anchor) {
                    bad.push(format!("{}: {target}: no such heading", rel(&p)));
                }
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} links found: is the scan broken?"
    );
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_readme_is_short() {
    let n = std::fs::read_to_string(repo().join("README.md"))
        .unwrap()
        .lines()
        .count();
    assert!(n <= 250, "README.md has {n} lines: move detail into docs/");
}

/// Words of a shell line (single and double quotes, backslash escapes), up to
/// the first pipe, redirection, `&&`, `;`, `&` or comment.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                has = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                has = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => cur.extend(chars.next()),
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                has = true;
                cur.extend(chars.next());
            }
            '|' | ';' | '&' | '>' | '<' => break,
            '#' if !has => break,
            c if c.is_whitespace() => {
                if has {
                    words.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                has = true;
                cur.push(c);
            }
        }
    }
    if has {
        words.push(cur);
    }
    // `2>` leaves a trailing "2".
    if words.last().is_some_and(|w| w == "2") && line.contains("2>") {
        words.pop();
    }
    words
}

/// The nstrace argv of a line, if it runs nstrace (directly, with sudo or env
/// assignments in front, as `target/release/nstrace`, or through `cargo xtask run --`).
fn nstrace_argv(line: &str) -> Option<Vec<String>> {
    let line = line.trim().trim_start_matches("$ ");
    let mut w = shell_words(line);
    while w
        .first()
        .is_some_and(|f| f == "sudo" || (f.contains('=') && !f.starts_with('-')))
    {
        w.remove(0);
    }
    if w.len() >= 3 && w[0] == "cargo" && w[1] == "xtask" && w[2] == "run" {
        let rest = w.iter().skip(3).skip_while(|a| *a == "--").cloned();
        return Some(std::iter::once("nstrace".to_owned()).chain(rest).collect());
    }
    let first = w.first()?;
    (first == "nstrace" || first.ends_with("/nstrace")).then_some(w)
}

#[test]
fn every_nstrace_command_in_the_docs_parses() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for p in pages() {
        let page = parse(&std::fs::read_to_string(&p).unwrap());
        // (line, whether it is an inline span: one may name a command
        // without its required arguments, as a heading does).
        let mut lines: Vec<(String, bool)> = Vec::new();
        for (lang, block) in &page.blocks {
            if ["sh", "bash", "console", "shell"].contains(&lang.as_str()) {
                lines.extend(block.iter().map(|l| (l.clone(), false)));
            }
        }
        // Inline code spans that are whole command lines (a span may wrap
        // across lines of a paragraph).
        for para in page.prose.split(|l| l.trim().is_empty()) {
            let para = para.join(" ");
            for (i, span) in para.split('`').enumerate() {
                if i % 2 == 1 && span.starts_with("nstrace ") {
                    lines.push((span.to_owned(), true));
                }
            }
        }
        for (line, inline) in lines {
            // Placeholders (`nstrace <command> --help`, `a\|b`, `…`) are not commands.
            let placeholder = line
                .split('<')
                .skip(1)
                .any(|rest| rest.starts_with(|c: char| c.is_ascii_lowercase()))
                || line.contains("\\|")
                || line.contains('…')
                || line.contains("...");
            let Some(argv) = nstrace_argv(&line).filter(|_| !placeholder) else {
                continue;
            };
            checked += 1;
            match nstrace::cli::Cli::try_parse_from(&argv) {
                Ok(_) => {}
                Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {}
                Err(e) if inline && e.kind() == clap::error::ErrorKind::MissingRequiredArgument => {
                }
                Err(e) => bad.push(format!(
                    "{}: `{}`: {}",
                    rel(&p),
                    line.trim(),
                    e.to_string().lines().next().unwrap_or("")
                )),
            }
        }
    }
    assert!(checked > 20, "only {checked} command lines found");
    assert!(bad.is_empty(), "{bad:#?}");
}

/// The backticked names in a markdown table cell, outside parentheses (which
/// hold values and remarks, not field names).
fn ticked(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut code, mut cur) = (0u32, false, String::new());
    for c in cell.chars() {
        match c {
            '`' if code => {
                code = false;
                if depth == 0 {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
            '`' => code = true,
            c if code => cur.push(c),
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    out
}

/// Rows of the markdown tables of a page, cells trimmed (`\|` stays in its cell).
fn rows(page: &Page) -> Vec<Vec<String>> {
    page.prose
        .iter()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .map(|l| {
            let l = l.trim().replace("\\|", "\u{1}");
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace('\u{1}', "\\|"))
                .collect()
        })
        .collect()
}

/// The JSON values of a page's json blocks (one per line, or the block whole).
fn json_examples(page: &Page) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (lang, block) in &page.blocks {
        if lang != "json" {
            continue;
        }
        let whole = block.join("\n");
        if let Ok(v) = serde_json::from_str::<Value>(&whole) {
            out.push(v);
            continue;
        }
        for l in block.iter().filter(|l| !l.trim().is_empty()) {
            out.push(serde_json::from_str(l).map_err(|e| format!("{e}: {l}"))?);
        }
    }
    Ok(out)
}

#[test]
fn every_json_example_parses() {
    let mut n = 0;
    for p in pages() {
        let page = parse(&std::fs::read_to_string(&p).unwrap());
        n += json_examples(&page)
            .unwrap_or_else(|e| panic!("{}: {e}", rel(&p)))
            .len();
    }
    assert!(n >= 10, "only {n} JSON examples found");
}

/// The event examples of the JSON reference name exactly the fields its
/// tables give for every event plus those of their kind.
#[test]
fn the_json_reference_documents_every_field_of_its_examples() {
    let page = parse(&std::fs::read_to_string(repo().join("docs/reference/json.md")).unwrap());
    let mut common = BTreeSet::new();
    let mut per_kind: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in rows(&page) {
        match row.as_slice() {
            // | field | type | meaning |: fields of every event.
            [field, _, _] if field != "field" => common.extend(ticked(field)),
            // | kind | fields |
            [kind, fields] if kind != "kind" => {
                let names = ticked(fields);
                per_kind.insert(
                    ticked(kind).first().cloned().unwrap_or_default(),
                    names.into_iter().collect(),
                );
            }
            _ => {}
        }
    }
    assert!(
        common.contains("kind") && common.contains("ns"),
        "{common:?}"
    );
    let examples = json_examples(&page).unwrap();
    let mut seen = 0;
    for ex in examples.iter().filter(|e| e["kind"].is_string()) {
        let kind = ex["kind"].as_str().unwrap();
        let documented: BTreeSet<String> = common
            .iter()
            .chain(per_kind.get(kind).into_iter().flatten())
            .cloned()
            .collect();
        let keys: BTreeSet<String> = ex.as_object().unwrap().keys().cloned().collect();
        let undocumented: Vec<_> = keys.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "{kind}: fields in the example but not in the reference: {undocumented:?}"
        );
        let missing: Vec<_> = per_kind[kind].difference(&keys).collect();
        assert!(
            missing.is_empty(),
            "{kind}: documented fields the example lacks: {missing:?}"
        );
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} event examples");
}

/// The finding lines shown in the docs name only fields the audit guide's
/// JSON table documents.
#[test]
fn finding_examples_name_only_documented_fields() {
    let audit = parse(&std::fs::read_to_string(repo().join("docs/guide/audit.md")).unwrap());
    let documented: BTreeSet<String> = rows(&audit)
        .into_iter()
        .filter(|r| r.len() == 2)
        .flat_map(|r| ticked(&r[0]))
        .collect();
    assert!(documented.contains("finding") && documented.contains("evidence[]"));
    let documented: BTreeSet<String> = documented
        .into_iter()
        .map(|f| f.trim_end_matches("[]").to_owned())
        .collect();
    let mut seen = 0;
    for p in pages() {
        let page = parse(&std::fs::read_to_string(&p).unwrap());
        for ex in json_examples(&page).unwrap() {
            if !ex["finding"].is_string() {
                continue;
            }
            seen += 1;
            for k in ex.as_object().unwrap().keys() {
                assert!(
                    documented.contains(k),
                    "{}: finding field `{k}` is not in the audit guide's table",
                    rel(&p)
                );
            }
        }
    }
    assert!(seen >= 1, "no finding example found");
}

/// The metrics reference's table is the agent's registry: every family the
/// agent exports is documented, and nothing documented is gone.
#[test]
fn the_metrics_reference_lists_exactly_the_exported_families() {
    let page = parse(&std::fs::read_to_string(repo().join("docs/reference/metrics.md")).unwrap());
    let documented: BTreeSet<String> = rows(&page)
        .into_iter()
        .filter(|r| r.len() == 3 && r[0] != "metric")
        .flat_map(|r| ticked(&r[0]))
        .collect();
    // Families are exported once they have a series: give each one.
    let mut m = nstrace::output::metrics::Metrics::new("6.18.0");
    let one = |k: &'static str| [(k, "x".to_owned())];
    for f in [
        &m.events,
        &m.dropped,
        &m.signals_counted,
        &m.name_lookups,
        &m.runtime_joins,
        &m.http.closed,
    ] {
        f.get_or_create(&one("label")).inc();
    }
    let session = [
        ("namespace", String::new()),
        ("pod", "p".to_owned()),
        ("container", "c".to_owned()),
        ("runtime", "podman".to_owned()),
    ];
    m.exec_sessions.get_or_create(&session).inc();
    m.exec_probes.get_or_create(&session).inc();
    let place = [
        ("namespace", String::new()),
        ("pod", "p".to_owned()),
        ("container", "c".to_owned()),
    ];
    m.zombies.get_or_create(&place).set(1);
    m.restarts.get_or_create(&place).inc();
    m.counters(&nstrace::stats::Stats::default());
    m.findings
        .get_or_create(&[
            ("finding", "f".to_owned()),
            ("severity", "high".to_owned()),
            ("namespace", String::new()),
            ("pod", "p".to_owned()),
            ("container", "c".to_owned()),
        ])
        .inc();
    m.shutdown_seconds
        .get_or_create(&[
            ("namespace", String::new()),
            ("verdict", "sigkill".to_owned()),
            ("cause", "no_handler".to_owned()),
        ])
        .observe(1.0);
    let exposition = m.render();
    let exported: BTreeSet<String> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(|name| name.trim_end_matches("_info").to_owned())
        .map(|name| {
            // OpenMetrics names counters without `_total` in TYPE lines.
            if exposition.contains(&format!("# TYPE {name} counter")) {
                format!("{name}_total")
            } else {
                name
            }
        })
        .collect();
    let documented: BTreeSet<String> = documented
        .into_iter()
        .map(|n| n.trim_end_matches("_info").to_owned())
        .collect();
    let undocumented: Vec<_> = exported.difference(&documented).collect();
    let gone: Vec<_> = documented.difference(&exported).collect();
    assert!(
        undocumented.is_empty() && gone.is_empty(),
        "exported but not documented: {undocumented:?}; documented but not exported: {gone:?}"
    );
}

/// Every event kind has its row in the events reference.
#[test]
fn the_events_reference_documents_every_event_kind() {
    let page = parse(&std::fs::read_to_string(repo().join("docs/reference/events.md")).unwrap());
    let documented: BTreeSet<String> = rows(&page)
        .into_iter()
        .filter(|r| r.len() == 4 && r[0] != "kind")
        .flat_map(|r| ticked(&r[0]))
        .collect();
    for k in nstrace_common::Kind::ALL {
        assert!(
            documented.contains(k.name()),
            "docs/reference/events.md has no row for `{}`",
            k.name()
        );
    }
}

/// Every cause a shutdown can end with is in the metrics reference (the
/// `cause` label).
#[test]
fn every_cause_is_documented() {
    use nstrace::detect::shutdown::Outcome;
    let metrics = std::fs::read_to_string(repo().join("docs/reference/metrics.md")).unwrap();
    let row = metrics
        .lines()
        .find(|l| l.starts_with("| `nstrace_pod_shutdown_seconds`"))
        .expect("the shutdown histogram's row");
    for o in [
        Outcome::NoHandler,
        Outcome::ReRaised {
            at_delivery: true,
            resethand: true,
        },
        Outcome::DroppedAtDelivery,
        Outcome::KeptRunning,
        Outcome::NotPassedOn,
        Outcome::TooSlow,
        Outcome::Reloaded,
        Outcome::GracefulTooSlow(Vec::new()),
        Outcome::FastStop,
        Outcome::Clean,
        Outcome::Ungraceful(Vec::new()),
    ] {
        assert!(
            row.contains(&format!("`{}`", o.name())),
            "cause `{}` is not in the metrics reference",
            o.name()
        );
    }
}

/// Every finding kind is in the audit guide's table (with its severity) and
/// in `audit --help`; nothing documented there is gone.
#[test]
fn every_finding_is_documented_in_the_audit_guide_and_the_help() {
    let audit = parse(&std::fs::read_to_string(repo().join("docs/guide/audit.md")).unwrap());
    let documented: BTreeSet<String> = rows(&audit)
        .into_iter()
        .filter(|r| r.len() == 3 && r[0] != "finding")
        .flat_map(|r| ticked(&r[0]))
        .collect();
    let kinds: BTreeSet<String> = nstrace::detect::FindingKind::ALL
        .iter()
        .map(|k| k.name().to_owned())
        .collect();
    assert_eq!(documented, kinds, "the audit guide's findings table");
    let help = {
        use clap::CommandFactory;
        let mut cmd = nstrace::cli::Cli::command();
        cmd.find_subcommand_mut("audit")
            .expect("audit")
            .render_long_help()
            .to_string()
    };
    for k in &kinds {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{k} "))),
            "`audit --help` does not list {k}"
        );
    }
}

/// The objects of the finding examples (`join`, `session`, `exec_probe`,
/// `debug_container`, `port_conflict`) name only fields their row of the
/// audit guide's JSON table lists.
#[test]
fn finding_objects_name_only_documented_fields() {
    let audit = parse(&std::fs::read_to_string(repo().join("docs/guide/audit.md")).unwrap());
    let rows: BTreeMap<String, BTreeSet<String>> = rows(&audit)
        .into_iter()
        .filter(|r| r.len() == 2)
        .filter_map(|r| {
            let key = ticked(&r[0]).into_iter().next()?;
            // Fields and sub-fields, inside braces or not.
            let fields = r[1]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(|f| f.trim_end_matches("[]").to_owned())
                .collect();
            Some((key, fields))
        })
        .collect();
    let mut seen = 0;
    for p in pages() {
        let page = parse(&std::fs::read_to_string(&p).unwrap());
        for ex in json_examples(&page).unwrap() {
            for key in [
                "join",
                "session",
                "exec_probe",
                "debug_container",
                "port_conflict",
            ] {
                let Some(obj) = ex[key].as_object() else {
                    continue;
                };
                seen += 1;
                let row = rows
                    .get(key)
                    .unwrap_or_else(|| panic!("no row for `{key}` in the audit guide"));
                for k in obj.keys() {
                    assert!(
                        row.contains(k),
                        "{}: `{key}.{k}` is not in the audit guide's `{key}` row",
                        rel(&p)
                    );
                }
            }
        }
    }
    assert!(seen >= 2, "only {seen} finding objects in the examples");
}
