//! Rendering of audit findings and the end-of-run summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::json::{flag_list, opt_str, string};
use super::safe;
use super::time;
use super::Format;
use crate::detect::joins::{cap_summary, Action, Join, Place};
use crate::detect::{Attributed, Severity};

/// Runtime ids (64 hex) are shown as their first 12 digits, like podman and docker do.
pub fn short_id(id: &str) -> &str {
    if id.len() == 64 {
        &id[..12]
    } else {
        id
    }
}

/// Renders one finding: text (a headline and indented evidence) or one JSON line.
pub fn finding(a: &Attributed, format: Format, wall_offset_ns: i64) -> String {
    let f = &a.finding;
    let mut s = String::new();
    match format {
        Format::Text => {
            let place = match (&a.pod, &a.container) {
                (Some(p), Some(c)) => format!("pod {p} / container {}", short_id(c)),
                (None, Some(c)) => format!("container {}", short_id(c)),
                _ => "node".to_owned(),
            };
            let sev = match &a.allowed_by {
                Some(rule) => format!("allowed by \"{rule}\""),
                None => f.severity.name().to_uppercase(),
            };
            if f.severity == Severity::Info && a.allowed_by.is_none() {
                // For the record: one line each, so the findings that matter stand out.
                let _ = writeln!(
                    s,
                    "{} [INFO] {}  {}",
                    time::clock(f.ts_ns as i64 + wall_offset_ns),
                    f.kind.name(),
                    safe(&f.summary)
                );
                return s;
            }
            let _ = writeln!(
                s,
                "{} [{}] {}  {}  pid {} ({})\n  {}",
                time::clock(f.ts_ns as i64 + wall_offset_ns),
                sev,
                f.kind.name(),
                safe(&place),
                f.pid,
                safe(&f.comm),
                safe(&f.summary)
            );
            for e in &f.evidence {
                let _ = writeln!(s, "    {}", safe(e));
            }
        }
        Format::Json => {
            s.push_str("{\"finding\":");
            string(&mut s, f.kind.name());
            s.push_str(",\"severity\":");
            string(&mut s, f.severity.name());
            s.push_str(",\"time\":");
            string(&mut s, &time::rfc3339(f.ts_ns as i64 + wall_offset_ns));
            let _ = write!(
                s,
                ",\"ts_ns\":{},\"pid\":{},\"pid_ns\":{},\"comm\":",
                f.ts_ns, f.pid, f.pid_ns
            );
            string(&mut s, &f.comm);
            for (k, v) in [
                ("pod", &a.pod),
                ("container", &a.container),
                ("allowed_by", &a.allowed_by),
            ] {
                let _ = write!(s, ",\"{k}\":");
                opt_str(&mut s, v.as_deref());
            }
            if let Some(j) = &f.join {
                s.push_str(",\"join\":");
                join(&mut s, j);
            }
            s.push_str(",\"summary\":");
            string(&mut s, &f.summary);
            s.push_str(",\"evidence\":[");
            for (i, e) in f.evidence.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                string(&mut s, e);
            }
            s.push_str("]}\n");
        }
    }
    s
}

/// A place as JSON: `{"class":…,"pod":…,"container":…,"name":…}`.
fn place(s: &mut String, p: &Place) {
    s.push_str("{\"class\":");
    string(s, p.class());
    for (k, v) in [
        ("pod", p.pod()),
        ("container", p.container()),
        ("netns", p.netns_name()),
    ] {
        let _ = write!(s, ",\"{k}\":");
        opt_str(s, v);
    }
    s.push_str(",\"text\":");
    string(s, &p.to_string());
    s.push('}');
}

/// A classified join as JSON (the `join` field of join findings).
fn join(s: &mut String, j: &Join) {
    let a = &j.actor;
    let _ = write!(s, "{{\"actor\":{{\"pid\":{},\"comm\":", a.pid);
    string(s, &a.comm);
    s.push_str(",\"exe\":");
    string(s, &a.exe);
    let _ = write!(
        s,
        ",\"uid\":{},\"euid\":{},\"cap_effective\":{},\"caps\":",
        a.uid, a.euid, a.cap_effective
    );
    string(s, &cap_summary(a.cap_effective));
    s.push_str(",\"place\":");
    place(s, &a.place);
    s.push_str("},\"action\":");
    string(s, j.action.syscall());
    s.push_str(",\"flags\":");
    flag_list(s, j.action.flags(), u64::MAX);
    match j.action {
        Action::Setns { fd, .. } => {
            let _ = write!(s, ",\"fd\":{fd}");
        }
        Action::Clone { child, .. } => {
            let _ = write!(s, ",\"child_pid\":{child}");
        }
        Action::Unshare { .. } => {}
    }
    s.push_str(",\"targets\":[");
    for (i, t) in j.targets.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"type\":");
        string(s, t.ns_type);
        let _ = write!(s, ",\"inode\":{},\"place\":", t.inode);
        place(s, &t.place);
        s.push('}');
    }
    let _ = write!(s, "],\"ret\":{},\"result\":", j.ret);
    string(s, &j.result());
    s.push_str(",\"expected\":");
    opt_str(s, j.expected.as_deref());
    s.push('}');
}

/// End-of-run summary: findings per kind and severity (allowed ones apart),
/// policy hits per rule, zombies per PID namespace.
pub fn summary(
    all: &[Attributed],
    zombies: &BTreeMap<u32, usize>,
    rule_hits: &[(&str, usize)],
    format: Format,
) -> String {
    let mut by_kind: BTreeMap<(&str, Severity), usize> = BTreeMap::new();
    let allowed = all.iter().filter(|a| a.allowed_by.is_some()).count();
    for a in all.iter().filter(|a| a.allowed_by.is_none()) {
        *by_kind
            .entry((a.finding.kind.name(), a.finding.severity))
            .or_insert(0) += 1;
    }
    let mut s = String::new();
    match format {
        Format::Text => {
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
        }
        Format::Json => {
            let _ = write!(
                s,
                "{{\"summary\":{{\"findings\":{},\"allowed\":{allowed},\"by_kind\":{{",
                all.len() - allowed
            );
            let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
            for ((k, _), n) in &by_kind {
                *kinds.entry(k).or_insert(0) += n;
            }
            for (i, (k, n)) in kinds.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "\"{k}\":{n}");
            }
            s.push_str("},\"by_severity\":{");
            let mut sevs: BTreeMap<Severity, usize> = BTreeMap::new();
            for ((_, sev), n) in &by_kind {
                *sevs.entry(*sev).or_insert(0) += n;
            }
            for (i, (sev, n)) in sevs.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "\"{sev}\":{n}");
            }
            s.push_str("},\"policy_hits\":{");
            for (i, (rule, n)) in rule_hits.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                string(&mut s, rule);
                let _ = write!(s, ":{n}");
            }
            s.push_str("},\"zombies_by_pid_ns\":{");
            for (i, (ns, n)) in zombies.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "\"{ns}\":{n}");
            }
            s.push_str("}}}\n");
        }
    }
    s
}
