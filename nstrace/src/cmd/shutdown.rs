//! `nstrace shutdown`: follow one pod's or process's termination and print
//! its timeline (SIGTERM at t0 → what the kernel did → exits → SIGKILL → total).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{bail, Result};
use nstrace_common::{signal_mask, DEFAULT_SIGNALS};

use super::live::{drive, Consumer, Stops};
use crate::cli::ShutdownArgs;
use crate::detect::shutdown::{Shutdowns, Step, Timeline};
use crate::event::decode;
use crate::event::names::{exit_status, signal_name};
use crate::model::{topology, Model};
use crate::output::findings::short_id;
use crate::output::json::string;
use crate::output::text::sig_result;
use crate::output::{write_stdout, Format};
use crate::probe::{Options, Probes};
use crate::stats::Stats;

/// Which PID namespaces make up the target, what to call it, and what to
/// call each namespace's shutdown (its container).
fn resolve(m: &Model, args: &ShutdownArgs) -> Result<(String, BTreeMap<u32, String>)> {
    if let Some(pid) = args.pid {
        let Some(p) = m.get(pid) else {
            bail!("no process {pid}");
        };
        if p.ns.pid == m.node.pid {
            bail!("process {pid} ({}) is in the node's PID namespace: nstrace follows the shutdown of containers (a PID namespace with its own PID 1)", p.comm);
        }
        let title = format!("pid {pid} ({})", p.comm);
        return Ok((title.clone(), [(p.ns.pid, title)].into()));
    }
    let name = args.pod.as_deref().unwrap_or_default();
    if name.is_empty() {
        bail!("--pod needs a pod name (its hostname) or a prefix of its id");
    }
    let t = topology::build(m);
    // An exact name wins over an id prefix; a prefix must name one pod.
    let by_id: Vec<_> = t
        .pods
        .iter()
        .filter(|p| p.id.as_deref().is_some_and(|id| id.starts_with(name)))
        .collect();
    if by_id.len() > 1 && !t.pods.iter().any(|p| p.name == name) {
        bail!(
            "the id prefix {name} matches {} pods: give more of it",
            by_id.len()
        );
    }
    let Some(pod) = t
        .pods
        .iter()
        .find(|p| p.name == name)
        .or_else(|| by_id.first().copied())
    else {
        let names: Vec<&str> = t.pods.iter().map(|p| p.name.as_str()).collect();
        bail!(
            "no pod named {name} (pods now: {})",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        );
    };
    let mut nss: BTreeMap<u32, String> = BTreeMap::new();
    for c in &pod.containers {
        if c.ns.pid == m.node.pid {
            continue;
        }
        let label = format!("pod {} / container {}", pod.name, short_id(&c.id));
        nss.entry(c.ns.pid)
            .and_modify(|l| *l = format!("pod {} (shared PID namespace)", pod.name))
            .or_insert(label);
    }
    if nss.is_empty() {
        bail!("pod {name} uses the node's PID namespace (hostPID): there is no PID 1 of its own to follow");
    }
    Ok((format!("pod {}", pod.name), nss))
}

/// One timeline as a JSON object.
pub fn timeline_json(t: &Timeline, title: &str) -> String {
    let v = t.verdict();
    let mut s = String::from("{\"shutdown\":");
    string(&mut s, title);
    let _ = write!(
        s,
        ",\"pid_ns\":{},\"init_pid\":{},\"init_comm\":",
        t.pid_ns, t.init.0
    );
    string(&mut s, &t.init.1);
    let _ = write!(
        s,
        ",\"start_ts_ns\":{},\"total_s\":{:.6},\"killed\":{},\"verdict\":",
        t.start_ns,
        t.total_ns() as f64 / 1e9,
        v.killed
    );
    string(&mut s, &v.verdict);
    s.push_str(",\"advice\":");
    string(&mut s, &v.advice);
    s.push_str(",\"killed_without_warning\":[");
    for (i, (pid, comm)) in t.killed_without_warning().iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{{\"pid\":{pid},\"comm\":");
        string(&mut s, comm);
        s.push('}');
    }
    s.push_str("],\"steps\":[");
    for (i, step) in t.steps.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        match step {
            Step::Signal {
                ts_ns,
                from,
                to,
                sig,
                result,
            } => {
                let _ = write!(
                    s,
                    "{{\"t\":{:.6},\"step\":\"signal\",\"signal\":",
                    (ts_ns - t.start_ns) as f64 / 1e9
                );
                string(&mut s, &signal_name(*sig));
                let _ = write!(s, ",\"from_pid\":{},\"from_comm\":", from.0);
                string(&mut s, &from.1);
                let _ = write!(s, ",\"to_pid\":{},\"to_comm\":", to.0);
                string(&mut s, &to.1);
                let _ = write!(
                    s,
                    ",\"to_pid1\":{},\"by_kernel\":{},\"result\":",
                    to.2,
                    t.is_teardown(step)
                );
                string(&mut s, sig_result(*result));
                s.push('}');
            }
            Step::Exit {
                ts_ns,
                pid,
                comm,
                code,
            } => {
                let _ = write!(
                    s,
                    "{{\"t\":{:.6},\"step\":\"exit\",\"pid\":{pid},\"comm\":",
                    (ts_ns - t.start_ns) as f64 / 1e9
                );
                string(&mut s, comm);
                s.push_str(",\"status\":");
                string(&mut s, &exit_status(*code));
                s.push('}');
            }
        }
    }
    s.push_str("]}\n");
    s
}

struct Follow {
    model: Model,
    shutdowns: Shutdowns,
    /// PID namespaces still to see end, with their labels.
    targets: BTreeMap<u32, String>,
    /// Timelines shown, for the pod's total.
    finished: Vec<Timeline>,
    shown: usize,
    title: String,
    format: Format,
    user: Stats,
}

impl Follow {
    /// One timeline in the chosen format.
    fn render(&self, t: &Timeline, label: &str) -> String {
        match self.format {
            Format::Text => t.render(label),
            Format::Json => timeline_json(t, label),
        }
    }
}

impl Consumer for Follow {
    fn record(&mut self, raw: &[u8]) -> Result<bool> {
        self.user.received += 1;
        let Ok(ev) = decode(raw) else {
            self.user.undecodable += 1;
            return Ok(true);
        };
        self.model.apply(&ev);
        self.shutdowns.on_event(&ev);
        let mut text = String::new();
        while self.shown < self.shutdowns.done.len() {
            let t = self.shutdowns.done[self.shown].clone();
            self.shown += 1;
            if let Some(label) = self.targets.remove(&t.pid_ns) {
                text.push_str(&self.render(&t, &label));
                self.finished.push(t);
            }
        }
        if !text.is_empty() && !write_stdout(text.as_bytes())? {
            return Ok(false);
        }
        // Done when every container of the target has gone.
        Ok(!self.targets.is_empty())
    }

    fn report(&mut self, probes: &Probes) {
        for t in self.shutdowns.open() {
            if let Some(label) = self.targets.get(&t.pid_ns) {
                eprint!("{}", t.render(&format!("{label} (in progress)")));
            }
        }
        eprintln!("{}", probes.totals(&self.user));
    }
}

/// One line for the whole target when it had several PID namespaces: from
/// the first SIGTERM to the last exit, and how many ended by SIGKILL.
fn overall(title: &str, done: &[Timeline], format: Format) -> Option<String> {
    if done.len() < 2 {
        return None;
    }
    let start = done.iter().map(|t| t.start_ns).min()?;
    let end = done.iter().map(|t| t.start_ns + t.total_ns()).max()?;
    let killed = done.iter().filter(|t| t.verdict().killed).count();
    let total = (end - start) as f64 / 1e9;
    Some(match format {
        Format::Text => format!(
            "{}: {total:.3}s from the first SIGTERM to the last exit; {killed} of {} PID 1s ended by SIGKILL\n",
            crate::output::safe(title),
            done.len()
        ),
        Format::Json => {
            let mut s = String::from("{\"shutdown_total\":");
            string(&mut s, title);
            let _ = writeln!(
                s,
                ",\"total_s\":{total:.6},\"containers\":{},\"killed\":{killed}}}",
                done.len()
            );
            s
        }
    })
}

/// Runs the command.
pub async fn run(args: &ShutdownArgs) -> Result<()> {
    let mut stops = Stops::install()?;
    let mut probes = Probes::load(Options {
        ring_buffer_size: 8 << 20,
        signal_mask: signal_mask(&DEFAULT_SIGNALS),
    })?;
    let model = super::topology::snapshot_model(super::topology::Pins::Mounts);
    let (title, targets) = resolve(&model, args)?;
    eprintln!("nstrace: following the shutdown of {title} ({} PID namespace(s)); stop it now (kubectl delete, podman pod stop …)", targets.len());
    let node_pid = model.node.pid;
    let mut f = Follow {
        model,
        shutdowns: Shutdowns::new(node_pid),
        targets,
        finished: Vec::new(),
        shown: 0,
        title,
        format: args.format,
        user: Stats::default(),
    };
    drive(&mut probes, &mut stops, args.timeout, None, &mut f).await?;
    let mut text = String::new();
    let mut seen_sigterm = !f.finished.is_empty();
    if !f.targets.is_empty() {
        // Timed out or interrupted: show what happened so far.
        for t in f.shutdowns.open() {
            if let Some(label) = f.targets.get(&t.pid_ns) {
                seen_sigterm = true;
                text.push_str(&f.render(t, &format!("{label} (not finished)")));
            }
        }
    }
    if let Some(line) = overall(&f.title, &f.finished, f.format) {
        text.push_str(&line);
    }
    write_stdout(text.as_bytes())?;
    let totals = probes.totals(&f.user);
    drop(probes);
    eprintln!("{totals}");
    if !seen_sigterm {
        bail!("no SIGTERM reached {} while watching", f.title);
    }
    Ok(())
}
