//! `nstrace shutdown`: follow one pod's or process's termination and print
//! its timeline (SIGTERM at t0 → what the kernel did → exits → SIGKILL → total).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use anyhow::{bail, Result};
use nstrace_common::{signal_mask, DEFAULT_SIGNALS};

use super::live::{drive, Consumer};
use crate::cli::ShutdownArgs;
use crate::detect::shutdown::{Shutdowns, Step, Timeline};
use crate::event::decode;
use crate::event::names::{exit_status, signal_name};
use crate::model::{topology, Model};
use crate::output::findings::short_id;
use crate::output::json::string;
use crate::output::text::sig_result;
use crate::output::Format;
use crate::probe::{Options, Probes};

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
    let t = topology::build(m);
    let Some(pod) = t
        .pods
        .iter()
        .find(|p| p.name == name || p.id.as_deref().is_some_and(|id| id.starts_with(name)))
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
    shown: usize,
    title: String,
    format: Format,
}

impl Consumer for Follow {
    fn record(&mut self, raw: &[u8]) -> Result<bool> {
        let Ok(ev) = decode(raw) else { return Ok(true) };
        self.model.apply(&ev);
        self.shutdowns.on_event(&ev);
        let mut out = std::io::stdout().lock();
        while self.shown < self.shutdowns.done.len() {
            let t = &self.shutdowns.done[self.shown];
            self.shown += 1;
            if let Some(label) = self.targets.remove(&t.pid_ns) {
                let text = match self.format {
                    Format::Text => t.render(&label),
                    Format::Json => timeline_json(t, &label),
                };
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
        }
        // Done when every container of the target has gone.
        Ok(!self.targets.is_empty())
    }

    fn report(&mut self, _: &Probes) {
        for t in self.shutdowns.open() {
            if let Some(label) = self.targets.get(&t.pid_ns) {
                eprint!("{}", t.render(&format!("{label} (in progress)")));
            }
        }
    }
}

/// Runs the command.
pub async fn run(args: &ShutdownArgs) -> Result<()> {
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
        shown: 0,
        title,
        format: args.format,
    };
    drive(&mut probes, args.timeout, None, &mut f).await?;
    if !f.targets.is_empty() {
        // Timed out or interrupted: show what happened so far.
        let mut out = std::io::stdout().lock();
        for t in f.shutdowns.open() {
            if let Some(label) = f.targets.get(&t.pid_ns) {
                out.write_all(t.render(&format!("{label} (not finished)")).as_bytes())?;
            }
        }
        if f.shutdowns
            .open()
            .all(|t| !f.targets.contains_key(&t.pid_ns))
        {
            eprintln!("nstrace: no SIGTERM reached {} while watching", f.title);
        }
    }
    Ok(())
}
