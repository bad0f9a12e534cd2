//! Rendering of audit findings and the end-of-run summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::json::string;
use super::time;
use super::Format;
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
            let _ = writeln!(
                s,
                "{} [{}] {}  {}  pid {} ({})\n  {}",
                time::clock(f.ts_ns as i64 + wall_offset_ns),
                f.severity.name().to_uppercase(),
                f.kind.name(),
                place,
                f.pid,
                f.comm,
                f.summary
            );
            for e in &f.evidence {
                let _ = writeln!(s, "    {e}");
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
            for (k, v) in [("pod", &a.pod), ("container", &a.container)] {
                let _ = write!(s, ",\"{k}\":");
                match v {
                    Some(v) => string(&mut s, v),
                    None => s.push_str("null"),
                }
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

/// End-of-run summary: findings per kind and severity, zombies per PID namespace.
pub fn summary(all: &[Attributed], zombies: &BTreeMap<u32, usize>, format: Format) -> String {
    let mut by_kind: BTreeMap<(&str, Severity), usize> = BTreeMap::new();
    for a in all {
        *by_kind
            .entry((a.finding.kind.name(), a.finding.severity))
            .or_insert(0) += 1;
    }
    let mut s = String::new();
    match format {
        Format::Text => {
            let _ = writeln!(s, "summary: {} finding(s)", all.len());
            for ((k, sev), n) in &by_kind {
                let _ = writeln!(s, "  {n} x {k} ({sev})");
            }
            for (ns, n) in zombies {
                let _ = writeln!(s, "  zombies now in pid namespace {ns}: {n}");
            }
        }
        Format::Json => {
            let _ = write!(
                s,
                "{{\"summary\":{{\"findings\":{},\"by_kind\":{{",
                all.len()
            );
            for (i, ((k, _), n)) in by_kind.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "\"{k}\":{n}");
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
