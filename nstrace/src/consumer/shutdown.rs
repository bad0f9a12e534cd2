//! The shutdown follower: one pod's or process's termination, a timeline per
//! PID namespace as each ends, and a total for the pod.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::detect::shutdown::{Shutdowns, Timeline};
use crate::event::Event;
use crate::model::{topology, Model, Release};
use crate::output::{timeline, write_stdout, Format};
use crate::record::Meta;
use crate::session::{Consumer, Flow, Needs, NetNeeds, Outcome, Pins};

/// What to follow.
#[derive(Clone, Debug)]
pub enum Target {
    /// A pod, by name (its hostname) or a prefix of its id.
    Pod(String),
    /// A process in a container (its PID namespace is followed).
    Pid(u32),
    /// A container of any pod, or a lone one: its name, `POD/NAME`, its
    /// Docker name, or a prefix of its id.
    Container(String),
}

/// Follows one termination.
pub struct Follow {
    target: Target,
    format: Format,
    shutdowns: Shutdowns,
    /// PID namespaces still to see end, with their labels.
    targets: BTreeMap<u32, String>,
    /// Timelines shown, for the pod's total.
    finished: Vec<Timeline>,
    shown: usize,
    title: String,
}

impl Follow {
    /// A follower of `target` printing in `format`.
    pub fn new(target: Target, format: Format) -> Follow {
        Follow {
            target,
            format,
            shutdowns: Shutdowns::default(),
            targets: BTreeMap::new(),
            finished: Vec::new(),
            shown: 0,
            title: String::new(),
        }
    }

    /// Prints the timelines that ended; stops once every container of the
    /// target has gone.
    fn show_done(&mut self) -> Result<Flow> {
        let mut text = String::new();
        while self.shown < self.shutdowns.done.len() {
            let t = self.shutdowns.done[self.shown].clone();
            self.shown += 1;
            if let Some(label) = self.targets.remove(&t.pid_ns) {
                text.push_str(&timeline::render(&t, &label, self.format));
                self.finished.push(t);
            }
        }
        if !text.is_empty() {
            write_stdout(text.as_bytes())?;
        }
        Ok(if self.targets.is_empty() {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }
}

/// Which PID namespaces make up the target, what to call it, and what to
/// call each namespace's shutdown (its container).
fn resolve(m: &Model, target: &Target) -> Result<(String, BTreeMap<u32, String>)> {
    let name = match target {
        Target::Pid(pid) => {
            let Some(p) = m.get(*pid) else {
                bail!("no process {pid}");
            };
            if p.ns.pid == m.node.pid {
                bail!("process {pid} ({}) is in the node's PID namespace: nstrace follows the shutdown of containers (a PID namespace with its own PID 1)", p.comm);
            }
            let title = format!("pid {pid} ({})", p.comm);
            return Ok((title.clone(), [(p.ns.pid, title)].into()));
        }
        Target::Pod(name) => name.as_str(),
        Target::Container(sel) => return resolve_container(m, sel),
    };
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
    if by_id.len() > 1 && !t.pods.iter().any(|p| p.pod_ref().matches(name)) {
        bail!(
            "the id prefix {name} matches {} pods: give more of it",
            by_id.len()
        );
    }
    let Some(pod) = t
        .pods
        .iter()
        .find(|p| p.pod_ref().matches(name))
        .or_else(|| by_id.first().copied())
    else {
        let names: Vec<String> = t.pods.iter().map(|p| p.pod_ref().to_string()).collect();
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
        let pod_ref = pod.pod_ref();
        let label = format!("pod {pod_ref} / container {}", c.label());
        nss.entry(c.ns.pid)
            .and_modify(|l| *l = format!("pod {pod_ref} (shared PID namespace)"))
            .or_insert(label);
    }
    if nss.is_empty() {
        bail!("pod {name} uses the node's PID namespace (hostPID): there is no PID 1 of its own to follow");
    }
    Ok((format!("pod {}", pod.pod_ref()), nss))
}

/// The containers `sel` names: by name (every container of that name: a
/// Compose service's replicas), `POD/NAME`, Docker name, or a prefix of the
/// id (which must name one).
fn resolve_container(m: &Model, sel: &str) -> Result<(String, BTreeMap<u32, String>)> {
    if sel.is_empty() {
        bail!("--container needs a container name or a prefix of its id");
    }
    let t = topology::build(m);
    let all: Vec<(Option<&topology::Pod>, &topology::Container)> = t
        .pods
        .iter()
        .flat_map(|p| p.containers.iter().map(move |c| (Some(p), c)))
        .chain(t.lone.iter().map(|c| (None, c)))
        .filter(|(_, c)| !c.infra)
        .collect();
    let docker_name = |c: &topology::Container| {
        c.names
            .as_ref()
            .and_then(|n| n.docker())
            .map(|d| d.name.clone())
    };
    let by_name: Vec<_> = all
        .iter()
        .filter(|(p, c)| {
            c.name() == Some(sel)
                || docker_name(c).as_deref() == Some(sel)
                || p.is_some_and(|p| {
                    sel.rsplit_once('/').is_some_and(|(pod, name)| {
                        p.pod_ref().matches(pod) && c.name() == Some(name)
                    })
                })
        })
        .collect();
    let chosen: Vec<_> = if !by_name.is_empty() {
        by_name
    } else {
        let by_id: Vec<_> = all
            .iter()
            .filter(|(_, c)| c.runtime_id && c.id.starts_with(sel))
            .collect();
        if by_id.len() > 1 {
            bail!(
                "the id prefix {sel} matches {} containers: give more of it",
                by_id.len()
            );
        }
        by_id
    };
    if chosen.is_empty() {
        let mut names: Vec<String> = all.iter().map(|(_, c)| c.label().to_owned()).collect();
        names.sort();
        names.dedup();
        bail!(
            "no container named {sel} (containers now: {})",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        );
    }
    let mut nss: BTreeMap<u32, String> = BTreeMap::new();
    for (p, c) in &chosen {
        if c.ns.pid == m.node.pid {
            bail!(
                "container {} uses the node's PID namespace (--pid host): there is no PID 1 of its own to follow",
                c.label()
            );
        }
        let label = match p {
            Some(p) => format!("pod {} / container {}", p.pod_ref(), c.label()),
            None => format!("container {}", c.label()),
        };
        nss.entry(c.ns.pid).or_insert(label);
    }
    let title = if chosen.len() == 1 {
        nss.values().next().cloned().unwrap_or_default()
    } else {
        format!("container {sel} ({} containers)", chosen.len())
    };
    Ok((title, nss))
}

impl Consumer for Follow {
    fn needs(&self) -> Needs {
        Needs {
            model: true,
            pins: Pins::Mounts,
            tick: None,
            rescan_pins: false,
            final_tick: false,
            judge_signals_after: None,
            net: NetNeeds::Off,
        }
    }

    fn start(&mut self, m: &Model, _meta: &Meta) -> Result<Flow> {
        let (title, targets) = resolve(m, &self.target)?;
        eprintln!("nstrace: following the shutdown of {title} ({} PID namespace(s)); stop it now (kubectl delete, podman pod stop, docker stop …)", targets.len());
        self.title = title;
        self.targets = targets;
        self.shutdowns = Shutdowns::new(m.node.pid);
        Ok(Flow::Continue)
    }

    fn event(&mut self, ev: &Event, m: &Model) -> Result<Flow> {
        self.shutdowns.on_event(ev, m);
        self.show_done()
    }

    fn released(&mut self, released: &[Release], _m: &Model) -> Result<Flow> {
        for r in released {
            self.shutdowns.released(r.pid);
        }
        self.show_done()
    }

    fn report(&mut self, _m: &Model) {
        for t in self.shutdowns.open() {
            if let Some(label) = self.targets.get(&t.pid_ns) {
                eprint!("{}", timeline::text(t, &format!("{label} (in progress)")));
            }
        }
    }

    fn finish(&mut self, _m: &Model) -> Result<Outcome> {
        let mut text = String::new();
        let mut seen_sigterm = !self.finished.is_empty();
        if !self.targets.is_empty() {
            // Timed out or interrupted: show what happened so far.
            for t in self.shutdowns.open() {
                if let Some(label) = self.targets.get(&t.pid_ns) {
                    seen_sigterm = true;
                    text.push_str(&timeline::render(
                        t,
                        &format!("{label} (not finished)"),
                        self.format,
                    ));
                }
            }
        }
        if let Some(line) = timeline::overall(&self.title, &self.finished, self.format) {
            text.push_str(&line);
        }
        write_stdout(text.as_bytes())?;
        if !seen_sigterm {
            bail!("no SIGTERM reached {} while watching", self.title);
        }
        Ok(Outcome::Done)
    }
}
