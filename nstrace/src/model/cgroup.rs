//! Container and pod ids from cgroup paths, for the layouts runtimes use:
//! `kubepods[.slice]/…/pod<uid>/<id>`, `kubepods-…-pod<uid>.slice/cri-containerd-<id>.scope`,
//! `crio-<id>.scope`, `docker-<id>.scope`, podman's `libpod-<id>[.scope]`,
//! `machine-libpod_pod_<podid>.slice` and cgroupfs `libpod_parent/<podid>/<id>`.

/// Ids a cgroup path names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupIds {
    /// Full container id (64 hex digits), if named.
    pub container: Option<String>,
    /// Pod id (Kubernetes pod uid or libpod pod id), if named.
    pub pod: Option<String>,
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A container id inside one path segment, with any runtime prefix or `.scope` suffix removed.
fn container_in(seg: &str) -> Option<&str> {
    let s = seg.strip_suffix(".scope").unwrap_or(seg);
    let s = [
        "libpod-",
        "crio-",
        "cri-containerd-",
        "docker-",
        "containerd-",
    ]
    .iter()
    .find_map(|p| s.strip_prefix(p))
    .unwrap_or(s);
    is_hex64(s).then_some(s)
}

/// A pod id inside one path segment.
fn pod_in(seg: &str) -> Option<String> {
    let s = seg.strip_suffix(".slice").unwrap_or(seg);
    if let Some(i) = s.find("libpod_pod_") {
        let id = &s[i + "libpod_pod_".len()..];
        return is_hex64(id).then(|| id.to_owned());
    }
    // kubepods: "pod<uid>" (cgroupfs) or "kubepods-burstable-pod<uid_with_underscores>" (systemd).
    let uid = s
        .rsplit_once("-pod")
        .map(|(_, u)| u)
        .or_else(|| s.strip_prefix("pod"))?;
    let uid = uid.replace('_', "-");
    let ok = uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    ok.then_some(uid)
}

/// Parses one cgroup path.
pub fn parse(path: &str) -> CgroupIds {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut ids = CgroupIds::default();
    let mut container_at = None;
    for (i, seg) in segs.iter().enumerate().rev() {
        if let Some(c) = container_in(seg) {
            ids.container = Some(c.to_owned());
            container_at = Some(i);
            break;
        }
    }
    for seg in &segs {
        if let Some(p) = pod_in(seg) {
            ids.pod = Some(p);
            break;
        }
    }
    // cgroupfs podman: libpod_parent/<podid>/<ctrid>.
    if ids.pod.is_none() {
        if let Some(i) = container_at {
            if i >= 2 && segs[i - 2] == "libpod_parent" && is_hex64(segs[i - 1]) {
                ids.pod = Some(segs[i - 1].to_owned());
            }
        }
    }
    ids
}

/// Picks, from the lines of /proc/PID/cgroup (v1 and v2 on hybrid hosts), the
/// path that names the most (a container id first), or the v2 path.
pub fn best_path(proc_cgroup: &str) -> String {
    let mut best: Option<(u8, &str)> = None;
    for line in proc_cgroup.lines() {
        let Some(path) = line.splitn(3, ':').nth(2) else {
            continue;
        };
        let ids = parse(path);
        let score = u8::from(ids.container.is_some()) * 2 + u8::from(ids.pod.is_some());
        let v2 = line.starts_with("0::");
        if best.is_none_or(|(s, _)| score > s || (score == s && v2)) {
            best = Some((score, path));
        }
    }
    best.map(|(_, p)| p.to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "3f2a1b0c3f2a1b0c3f2a1b0c3f2a1b0c3f2a1b0c3f2a1b0c3f2a1b0c3f2a1b0c";
    const P: &str = "aaaabbbbccccddddeeeeffff00001111aaaabbbbccccddddeeeeffff00001111";

    #[test]
    fn runtime_layouts() {
        let k = parse(&format!(
            "/kubepods/burstable/pod1b4a6f2e-0c2d-4e5f-8a9b-0123456789ab/{C}"
        ));
        assert_eq!(k.container.as_deref(), Some(C));
        assert_eq!(
            k.pod.as_deref(),
            Some("1b4a6f2e-0c2d-4e5f-8a9b-0123456789ab")
        );
        let s = parse(&format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b4a6f2e_0c2d_4e5f_8a9b_0123456789ab.slice/cri-containerd-{C}.scope"
        ));
        assert_eq!(s.container.as_deref(), Some(C));
        assert_eq!(
            s.pod.as_deref(),
            Some("1b4a6f2e-0c2d-4e5f-8a9b-0123456789ab")
        );
        let crio = parse(&format!("/kubepods.slice/crio-{C}.scope"));
        assert_eq!(crio.container.as_deref(), Some(C));
        let lp = parse(&format!(
            "/machine.slice/machine-libpod_pod_{P}.slice/libpod-{C}.scope/container"
        ));
        assert_eq!(lp.container.as_deref(), Some(C));
        assert_eq!(lp.pod.as_deref(), Some(P));
        let cgfs = parse(&format!("/libpod_parent/{P}/{C}"));
        assert_eq!(cgfs.container.as_deref(), Some(C));
        assert_eq!(cgfs.pod.as_deref(), Some(P));
        let lone = parse(&format!("/libpod_parent/libpod-{C}"));
        assert_eq!(lone.container.as_deref(), Some(C));
        assert_eq!(lone.pod, None);
        assert_eq!(
            parse("/user.slice/user-0.slice/session-1.scope"),
            CgroupIds::default()
        );
        assert_eq!(parse("/"), CgroupIds::default());
    }

    #[test]
    fn picks_the_line_that_names_a_container() {
        let text = format!("12:pids:/libpod_parent/{P}/{C}\n1:name=systemd:/\n0::/\n");
        assert_eq!(best_path(&text), format!("/libpod_parent/{P}/{C}"));
        assert_eq!(best_path("0::/init.scope\n"), "/init.scope");
        assert_eq!(best_path("garbage"), "");
    }

    /// `/proc/PID/cgroup` of container processes as nodes show them, for each
    /// layout the kubelet (cgroupfs and systemd drivers) and the runtimes
    /// write, on cgroup v1, hybrid and v2 hosts: the container id and the pod
    /// (uid, or podman's pod id) come out of each, and the runtime's own
    /// processes (CRI-O's conmon scope, the pod's own cgroup) give no container.
    #[test]
    fn container_ids_from_every_kubelet_and_runtime_layout() {
        const UID: &str = "5f1e5a0c-7b8a-4f3e-9d2c-1a2b3c4d5e6f";
        let uid_ = UID.replace('-', "_");
        // (what, /proc/PID/cgroup, container id, pod)
        let cases: Vec<(&str, String, Option<&str>, Option<&str>)> = vec![
            (
                "v2, systemd driver, containerd (EKS, GKE, AKS, kubeadm)",
                format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{C}.scope\n"),
                Some(C),
                Some(UID),
            ),
            (
                "v2, systemd driver, containerd, a Guaranteed pod",
                format!("0::/kubepods.slice/kubepods-pod{uid_}.slice/cri-containerd-{C}.scope\n"),
                Some(C),
                Some(UID),
            ),
            (
                "v2, systemd driver, CRI-O (OpenShift)",
                format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/crio-{C}.scope\n"),
                Some(C),
                Some(UID),
            ),
            (
                "v2, systemd driver, CRI-O's conmon (a node process)",
                format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/crio-conmon-{C}.scope\n"),
                None,
                Some(UID),
            ),
            (
                "v2, cgroupfs driver, containerd (k3s, kubeadm with cgroupfs)",
                format!("0::/kubepods/burstable/pod{UID}/{C}\n"),
                Some(C),
                Some(UID),
            ),
            (
                "v2, cgroupfs driver, a Guaranteed pod",
                format!("0::/kubepods/pod{UID}/{C}\n"),
                Some(C),
                Some(UID),
            ),
            (
                "v2, kind node (the kubelet under kubelet.slice)",
                format!("0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{uid_}.slice/cri-containerd-{C}.scope\n"),
                Some(C),
                Some(UID),
            ),
            (
                "v2, containerd without the kubelet's cgroup parent (crictl, this project's hand runs)",
                format!("0::/k8s.io/{C}\n"),
                Some(C),
                None,
            ),
            (
                "v2, the pod's own cgroup (no container)",
                format!("0::/kubepods/besteffort/pod{UID}\n"),
                None,
                Some(UID),
            ),
            (
                "v1, cgroupfs driver, containerd (this project's machines: hybrid, as read from a CRI pod)",
                [
                    "9:name=systemd", "8:pids", "7:blkio", "6:freezer", "5:devices",
                    "4:memory", "3:cpuset", "2:cpuacct", "1:cpu", "0:",
                ]
                .iter()
                .map(|c| format!("{c}:/kubepods/besteffort/pod{UID}/{C}\n"))
                .collect(),
                Some(C),
                Some(UID),
            ),
            (
                "v1, systemd driver, containerd (older EKS AMIs)",
                [
                    "12:hugetlb", "11:memory", "10:cpu,cpuacct", "9:pids", "8:devices",
                    "1:name=systemd",
                ]
                .iter()
                .map(|c| format!("{c}:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{C}.scope\n"))
                .chain(std::iter::once("0::/\n".to_owned()))
                .collect(),
                Some(C),
                Some(UID),
            ),
            (
                "v1, systemd driver, Docker through dockershim",
                format!("11:memory:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/docker-{C}.scope\n1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/docker-{C}.scope\n"),
                Some(C),
                Some(UID),
            ),
            (
                "v1, cgroupfs, podman kube play (this project's machines)",
                format!("12:pids:/libpod_parent/{P}/{C}\n1:name=systemd:/libpod_parent/{P}/{C}\n0::/\n"),
                Some(C),
                Some(P),
            ),
            (
                "v2, systemd, podman pod",
                format!("0::/machine.slice/machine-libpod_pod_{P}.slice/libpod-{C}.scope/container\n"),
                Some(C),
                Some(P),
            ),
            (
                "a node process",
                "0::/system.slice/containerd.service\n".to_owned(),
                None,
                None,
            ),
        ];
        for (what, lines, container, pod) in cases {
            let ids = parse(&best_path(&lines));
            assert_eq!(ids.container.as_deref(), container, "{what}: {lines}");
            assert_eq!(ids.pod.as_deref(), pod, "{what}: {lines}");
        }
    }
}
