//! Encoding of snapshot state (processes, pinned namespaces) in record files,
//! so a replay starts from the same model the live run started from.

use nstrace_common::{NsSet, NsType};

use crate::model::{ContainerNames, Correction, Drift, Enrichment, Pinned, Process, Signals};
use crate::runtime::Runtime;

fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(b.len() as u16).to_le_bytes());
    out.extend_from_slice(b);
}

/// A cursor that fails instead of panicking on short input.
struct Cur<'a>(&'a [u8]);

impl Cur<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().ok()?) as usize;
        Some(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

/// Encodes one snapshot process.
pub fn encode_process(p: &Process) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    for v in [p.pid, p.ppid, p.ns_pid] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in p.ns.as_array() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&p.seen_ns.to_le_bytes());
    out.push(u8::from(p.zombie) | (u8::from(p.hostname.is_some()) << 1));
    for s in [&p.comm, &p.exe, &p.cmdline, &p.cgroup] {
        put_str(&mut out, s);
    }
    put_str(&mut out, p.hostname.as_deref().unwrap_or(""));
    // Added in ABI 2's second record layout: older readers stop before it.
    out.extend_from_slice(&p.program_ns.to_le_bytes());
    put_signals(&mut out, &p.signals);
    // Added with event ABI 3.
    out.extend_from_slice(&p.start_ns.to_le_bytes());
    out.extend_from_slice(&p.exit_ns.to_le_bytes());
    out
}

fn put_signals(out: &mut Vec<u8>, s: &Signals) {
    out.extend_from_slice(&s.caught.to_le_bytes());
    out.extend_from_slice(&s.ignored.to_le_bytes());
    out.extend_from_slice(&s.blocked.to_le_bytes());
    out.push(u8::from(s.known));
}

fn take_signals(c: &mut Cur<'_>) -> Option<Signals> {
    Some(Signals {
        caught: c.u64()?,
        ignored: c.u64()?,
        blocked: c.u64()?,
        known: c.take(1)?[0] != 0,
        // What only the kernel shows comes from its records in the stream.
        kernel: None,
    })
}

/// Decodes what `encode_process` wrote.
pub fn decode_process(b: &[u8]) -> Option<Process> {
    let mut c = Cur(b);
    let (pid, ppid, ns_pid) = (c.u32()?, c.u32()?, c.u32()?);
    let mut a = [0u32; 9];
    for v in &mut a {
        *v = c.u32()?;
    }
    let seen_ns = c.u64()?;
    let flags = c.take(1)?[0];
    let (comm, exe, cmdline, cgroup, hostname) = (c.str()?, c.str()?, c.str()?, c.str()?, c.str()?);
    // A recording from before program start and signals were kept ends here.
    let (program_ns, signals) = if c.0.is_empty() {
        (seen_ns, Signals::default())
    } else {
        (c.u64()?, take_signals(&mut c)?)
    };
    let (start_ns, exit_ns) = if c.0.is_empty() {
        (program_ns, if flags & 1 != 0 { seen_ns } else { 0 })
    } else {
        (c.u64()?, c.u64()?)
    };
    if !c.0.is_empty() {
        return None;
    }
    Some(Process {
        pid,
        ppid,
        ns_pid,
        comm,
        exe,
        cmdline,
        cgroup,
        ns: NsSet::from_array(a),
        hostname: (flags & 2 != 0).then_some(hostname),
        zombie: flags & 1 != 0,
        start_ns,
        exit_ns,
        seen_ns,
        program_ns,
        signals,
    })
}

/// Encodes a correction of the model.
pub fn encode_correction(c: &Correction) -> Vec<u8> {
    let mut out = c.pid.to_le_bytes().to_vec();
    out.extend_from_slice(&c.start_ns.to_le_bytes());
    out.extend_from_slice(&c.seen_ns.to_le_bytes());
    out.push(c.drift.slot() as u8);
    out.push(u8::from(c.still_zombie));
    out
}

/// Decodes what `encode_correction` wrote.
pub fn decode_correction(b: &[u8]) -> Option<Correction> {
    let mut c = Cur(b);
    let pid = c.u32()?;
    let (start_ns, seen_ns) = (c.u64()?, c.u64()?);
    let drift = *Drift::ALL.get(c.take(1)?[0] as usize)?;
    let still_zombie = match c.take(1)?[0] {
        0 => false,
        1 => true,
        _ => return None,
    };
    c.0.is_empty().then_some(Correction {
        pid,
        start_ns,
        seen_ns,
        drift,
        still_zombie,
    })
}

/// Encodes signal dispositions read from /proc for `pid` at `seen_ns`.
pub fn encode_signals(pid: u32, seen_ns: u64, s: &Signals) -> Vec<u8> {
    let mut out = pid.to_le_bytes().to_vec();
    out.extend_from_slice(&seen_ns.to_le_bytes());
    put_signals(&mut out, s);
    out
}

/// Decodes what `encode_signals` wrote.
pub fn decode_signals(b: &[u8]) -> Option<(u32, u64, Signals)> {
    let mut c = Cur(b);
    let (pid, seen) = (c.u32()?, c.u64()?);
    let s = take_signals(&mut c)?;
    c.0.is_empty().then_some((pid, seen, s))
}

/// Encodes an enrichment.
pub fn encode_enrichment(e: &Enrichment) -> Vec<u8> {
    let mut out = e.pid.to_le_bytes().to_vec();
    out.extend_from_slice(&e.seen_ns.to_le_bytes());
    out.push(u8::from(e.hostname.is_some()));
    put_str(&mut out, &e.cgroup);
    put_str(&mut out, e.hostname.as_deref().unwrap_or(""));
    put_str(&mut out, &e.comm);
    put_str(&mut out, &e.exe);
    put_str(&mut out, &e.cmdline);
    out
}

/// Decodes what `encode_enrichment` wrote.
pub fn decode_enrichment(b: &[u8]) -> Option<Enrichment> {
    let mut c = Cur(b);
    let (pid, seen_ns) = (c.u32()?, c.u64()?);
    let has_host = c.take(1)?[0] != 0;
    let (cgroup, hostname, comm, exe) = (c.str()?, c.str()?, c.str()?, c.str()?);
    // Recordings from before argv was read after exec end here.
    let cmdline = if c.0.is_empty() {
        String::new()
    } else {
        c.str()?
    };
    c.0.is_empty().then_some(Enrichment {
        pid,
        seen_ns,
        cgroup,
        hostname: has_host.then_some(hostname),
        comm,
        exe,
        cmdline,
    })
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    out.push(u8::from(s.is_some()));
    put_str(out, s.unwrap_or(""));
}

/// Encodes container `id`'s runtime names.
pub fn encode_names(id: &str, n: &ContainerNames) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    put_str(&mut out, id);
    out.push(match n.runtime {
        Runtime::CriO => 1,
        Runtime::Containerd => 2,
        Runtime::Podman => 3,
        Runtime::Docker => 4,
    });
    out.push(u8::from(n.sandbox));
    for s in [
        &n.container,
        &n.pod,
        &n.namespace,
        &n.pod_uid,
        &n.pod_id,
        &n.sandbox_id,
    ] {
        put_opt(&mut out, s.as_deref());
    }
    out.push(u8::from(n.grace_period_s.is_some()));
    out.extend_from_slice(&n.grace_period_s.unwrap_or(0).to_le_bytes());
    // Docker's settings, as JSON (added after the fields above: a record
    // written before them ends here and still reads).
    if let Some(d) = &n.docker {
        let json = serde_json::to_string(d).expect("plain data serializes");
        put_str(&mut out, &json);
    }
    out
}

/// Decodes what `encode_names` wrote.
pub fn decode_names(b: &[u8]) -> Option<(String, ContainerNames)> {
    let mut c = Cur(b);
    let id = c.str()?;
    let runtime = match c.take(1)?[0] {
        1 => Runtime::CriO,
        2 => Runtime::Containerd,
        3 => Runtime::Podman,
        4 => Runtime::Docker,
        _ => return None,
    };
    let sandbox = c.take(1)?[0] != 0;
    let mut opt = || -> Option<Option<String>> {
        let present = c.take(1)?[0] != 0;
        let s = c.str()?;
        Some(present.then_some(s))
    };
    let (container, pod, namespace, pod_uid, pod_id, sandbox_id) =
        (opt()?, opt()?, opt()?, opt()?, opt()?, opt()?);
    let has_grace = c.take(1)?[0] != 0;
    let grace = c.u64()?;
    let docker = if c.0.is_empty() {
        None
    } else {
        Some(Box::new(serde_json::from_str(&c.str()?).ok()?))
    };
    c.0.is_empty().then_some((
        id,
        ContainerNames {
            runtime,
            container,
            pod,
            namespace,
            pod_uid,
            pod_id,
            sandbox,
            sandbox_id,
            grace_period_s: has_grace.then_some(grace),
            docker,
        },
    ))
}

/// Encodes a pinned-namespace list.
pub fn encode_pinned(list: &[Pinned]) -> Vec<u8> {
    let mut out = (list.len() as u32).to_le_bytes().to_vec();
    for p in list {
        out.extend_from_slice(&(p.ns_type.slot() as u32).to_le_bytes());
        out.extend_from_slice(&p.inode.to_le_bytes());
        put_str(&mut out, &p.holder);
    }
    out
}

/// Decodes what `encode_pinned` wrote.
pub fn decode_pinned(b: &[u8]) -> Option<Vec<Pinned>> {
    let mut c = Cur(b);
    let n = c.u32()? as usize;
    let mut out = Vec::with_capacity(n.min(4096));
    for _ in 0..n {
        let ns_type = NsType::from_slot(c.u32()? as usize)?;
        out.push(Pinned {
            ns_type,
            inode: c.u32()?,
            holder: c.str()?,
        });
    }
    c.0.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let p = Process {
            pid: 7,
            ppid: 1,
            ns_pid: 1,
            comm: "catatonit".into(),
            exe: "/catatonit".into(),
            cmdline: "/catatonit -P".into(),
            cgroup: "/libpod_parent/x".into(),
            ns: NsSet::from_array([1, 2, 3, 4, 5, 6, 7, 8, 9]),
            hostname: Some("web".into()),
            zombie: true,
            start_ns: 40,
            exit_ns: 90,
            seen_ns: 99,
            program_ns: 50,
            signals: Signals {
                caught: 1 << 14,
                ignored: 4,
                blocked: 1,
                known: true,
                kernel: None,
            },
        };
        let b = encode_process(&p);
        assert_eq!(decode_process(&b), Some(p.clone()));
        // The layout before program start and signals: 33 bytes shorter, and
        // the one before start and exit times: 16 bytes shorter; both still read.
        let (old, before_start) = (b.len() - 16 - 33, b.len() - 16);
        for cut in 0..b.len() {
            if cut != old && cut != before_start {
                assert_eq!(decode_process(&b[..cut]), None, "cut at {cut}");
            }
        }
        let older = decode_process(&b[..old]).unwrap();
        assert_eq!((older.program_ns, older.signals.known), (99, false));
        let before = decode_process(&b[..before_start]).unwrap();
        assert_eq!(
            (before.start_ns, before.exit_ns),
            (50, 99),
            "from program start; a zombie's exit when it was seen"
        );
        let c = Correction {
            pid: 9,
            start_ns: 1,
            seen_ns: 2,
            drift: Drift::PidReused,
            still_zombie: false,
        };
        let b = encode_correction(&c);
        assert_eq!(decode_correction(&b), Some(c));
        for cut in 0..b.len() {
            assert_eq!(decode_correction(&b[..cut]), None, "cut at {cut}");
        }
        let mut bad = b.clone();
        bad[20] = 9;
        assert_eq!(decode_correction(&bad), None, "no such reason");
        let pins = vec![Pinned {
            ns_type: NsType::Net,
            inode: 42,
            holder: "/run/netns/x".into(),
        }];
        let b = encode_pinned(&pins);
        assert_eq!(decode_pinned(&b), Some(pins));
        assert_eq!(decode_pinned(&b[..b.len() - 1]), None);
        assert_eq!(decode_pinned(&[255, 255, 255, 255]), None);
        let e = Enrichment {
            pid: 3,
            seen_ns: 4,
            cgroup: "/c".into(),
            hostname: None,
            comm: "sleep".into(),
            exe: "/bin/busybox".into(),
            cmdline: "sleep 1000".into(),
        };
        let b = encode_enrichment(&e);
        assert_eq!(decode_enrichment(&b), Some(e));
        assert_eq!(decode_enrichment(&b[..b.len() - 1]), None);
        let s = Signals {
            caught: 9,
            ignored: 0,
            blocked: 0,
            known: true,
            kernel: None,
        };
        let b = encode_signals(7, 8, &s);
        assert_eq!(decode_signals(&b), Some((7, 8, s)));
        assert_eq!(decode_signals(&b[..b.len() - 1]), None);
        let n = ContainerNames {
            runtime: Runtime::CriO,
            container: Some("web-api".into()),
            pod: Some("my-shop".into()),
            namespace: Some("prod".into()),
            pod_uid: None,
            pod_id: None,
            sandbox: false,
            sandbox_id: Some("ab".into()),
            grace_period_s: Some(30),
            docker: None,
        };
        let b = encode_names("c1", &n);
        assert_eq!(decode_names(&b), Some(("c1".to_owned(), n)));
        for cut in 0..b.len() {
            assert_eq!(decode_names(&b[..cut]), None);
        }
    }

    #[test]
    fn docker_names_and_settings_round_trip() {
        let id = "370015bf06f9d072bcd7f4fbbf109ed7bf58d734a7bdf704825281dd05a874d2";
        let n = crate::runtime::docker::parse(
            id,
            include_bytes!("../runtime/testdata/docker-shop-web-config.v2.json"),
            include_bytes!("../runtime/testdata/docker-shop-web-hostconfig.json"),
        )
        .unwrap();
        assert!(n.docker.is_some());
        let b = encode_names(id, &n);
        assert_eq!(decode_names(&b), Some((id.to_owned(), n)));
        // Cut anywhere inside the Docker part: not a record (a cut exactly
        // where the older fields end reads as a record without it).
        let plain = encode_names(
            id,
            &ContainerNames {
                docker: None,
                ..decode_names(&b).unwrap().1
            },
        );
        for cut in plain.len() + 1..b.len() {
            assert_eq!(decode_names(&b[..cut]), None, "{cut}");
        }
    }
}
