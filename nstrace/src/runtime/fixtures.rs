//! Test fixtures shared by the runtime tests: bundles shaped field for field like the
//! runtimes write them, a libpod database, and temporary roots.
//!
//! The ids are made up (64 hex each); the pod is `shop-7d9f8b6c5-x2x9q` in namespace
//! `prod` with containers `web-api` and `side-car` under CRI-O and containerd, and
//! `my-shop` under podman.

use std::path::{Path, PathBuf};

use super::bolt::build::{file, Item};

/// A CRI-O pod sandbox, after cri-o `server/sandbox_run_linux.go` (`runPodSandbox`,
/// `setupSandboxAnnotations`: its own keys, then the kubelet's annotations and labels with
/// `io.kubernetes.container.name` set to `POD` by `prepareSandboxMetadataAndLabels`).
pub(crate) const CRIO_SANDBOX: &str = include_str!("testdata/crio-sandbox.json");
/// A CRI-O workload container, after cri-o `internal/factory/container/container.go`
/// (`SpecAddAnnotations`: the pod's annotations, its own keys, then the kubelet's
/// container annotations of kubernetes `pkg/kubelet/kuberuntime/labels.go` and labels).
pub(crate) const CRIO_WORKLOAD: &str = include_str!("testdata/crio-workload.json");
/// A containerd pod sandbox, after containerd
/// `internal/cri/server/podsandbox/sandbox_run_linux.go` (`sandboxContainerSpec`) and
/// `internal/cri/annotations/annotations.go` (`DefaultCRIAnnotations`, sandbox = true).
pub(crate) const CONTAINERD_SANDBOX: &str = include_str!("testdata/containerd-sandbox.json");
/// A containerd workload container, after containerd `internal/cri/server/container_create.go`
/// and `DefaultCRIAnnotations` (sandbox = false).
pub(crate) const CONTAINERD_WORKLOAD: &str = include_str!("testdata/containerd-workload.json");
/// podman 4.3.1's infra container of a `kube play`ed pod: this machine's file, with the
/// ids replaced and the seccomp profile cut to two rules.
pub(crate) const PODMAN_INFRA: &str = include_str!("testdata/podman-infra.json");
/// podman 4.3.1's workload container of the same pod, cut the same way.
pub(crate) const PODMAN_WORKLOAD: &str = include_str!("testdata/podman-workload.json");

/// Docker 20.10's files of `docker run -d --name shop-web --init --stop-signal SIGQUIT
/// --stop-timeout 7 -p 127.0.0.1:8088:80 --restart unless-stopped --cap-add NET_ADMIN`,
/// written by Debian's dockerd on this machine (its data root's path replaced by
/// `/var/lib/docker`).
pub(crate) const DOCKER_WEB_CONFIG: &str = include_str!("testdata/docker-shop-web-config.v2.json");
/// Its hostconfig.json.
pub(crate) const DOCKER_WEB_HOSTCONFIG: &str =
    include_str!("testdata/docker-shop-web-hostconfig.json");
/// `docker run --name shop-sidecar --network container:shop-web --pid container:shop-web
/// --privileged`, the same way.
pub(crate) const DOCKER_SIDECAR_CONFIG: &str =
    include_str!("testdata/docker-shop-sidecar-config.v2.json");
/// Its hostconfig.json.
pub(crate) const DOCKER_SIDECAR_HOSTCONFIG: &str =
    include_str!("testdata/docker-shop-sidecar-hostconfig.json");
/// Service `api` of Compose project `shop` (docker-compose 1.29, `stop_signal: SIGUSR1`),
/// the same way (the project's directory replaced by `/srv/shop`).
pub(crate) const DOCKER_COMPOSE_CONFIG: &str =
    include_str!("testdata/docker-shop-api-1-config.v2.json");
/// Its hostconfig.json.
pub(crate) const DOCKER_COMPOSE_HOSTCONFIG: &str =
    include_str!("testdata/docker-shop-api-1-hostconfig.json");
/// shop-web's id.
pub(crate) const DOCKER_WEB: &str =
    "370015bf06f9d072bcd7f4fbbf109ed7bf58d734a7bdf704825281dd05a874d2";
/// shop-sidecar's id.
pub(crate) const DOCKER_SIDECAR: &str =
    "013a06a951fa8b9e41b1745c6f1dcac3e236477dee5fd9054ab8aefa2bbebfc9";
/// shop_api_1's id.
pub(crate) const DOCKER_COMPOSE: &str =
    "84c6aa54d3e882f1404f3cb3da17e3cc81b3bd5c5823fa9531bad2318006c45c";

/// The pod of the CRI-O and containerd fixtures.
pub(crate) const POD: &str = "shop-7d9f8b6c5-x2x9q";
/// Its uid.
pub(crate) const UID: &str = "5f1c2a9e-3b7d-4c1a-9e0f-2d8b6a4c1e73";
/// The CRI-O sandbox's id.
pub(crate) const CRIO_SBX: &str =
    "8c1b2f6a0e4d4b7f9a3c5e2d1f0b8a7c6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b";
/// The CRI-O workload's id.
pub(crate) const CRIO_CTR: &str =
    "561417775f43b479cf113d854444b70eb383c1bed8aabe6929afe391a385e9e9";
/// The containerd sandbox's id.
pub(crate) const CTRD_SBX: &str =
    "3e9a7c5b1d2f4e6a8c0b9d7f5e3a1c2b4d6f8e0a9c7b5d3f1e2a4c6b8d0f9e7a";
/// The containerd workload's id.
pub(crate) const CTRD_CTR: &str =
    "6146ac808ce2542fd490cd7c56b5986764cb77b1a1ee487c3fff36e936247445";

/// podman's pod id.
pub(crate) const POD_ID: &str = "94a1b9dffb88f34d73bb91ba12beb9644f68b29e507683f542e6919982664063";
/// Its infra container.
pub(crate) const INFRA: &str = "a9c6e8f0b2d4a6c8e0f2b4d6a8c0e2f4b6d8a0c2e4f6b8d0a2c4e6f8b0d2a4c6";
/// Its `web-api` container.
pub(crate) const WEB: &str = "c8bdd3f9aad9fc1510c5bd5d2fafb8c282e3ae42987b1e2ec73aa3a4c31fe8a0";
/// A podman container in no pod.
pub(crate) const LONE: &str = "0d8e6f4a2c0b9e7d5f3a1c8b6e4d2f0a9c7e5b3d1f8a6c4e2b0d9f7a5c3e1b8d";

pub(crate) fn kv(k: &str, v: &str) -> (Vec<u8>, Item) {
    (k.as_bytes().to_vec(), Item::Value(v.as_bytes().to_vec()))
}

pub(crate) fn bucket(k: &str, items: Vec<(Vec<u8>, Item)>) -> (Vec<u8>, Item) {
    (k.as_bytes().to_vec(), Item::Bucket(items))
}

/// A libpod database shaped like podman 4.3's after `kube play` of pod `my-shop`
/// (container `web-api`) and a `podman run` outside any pod; the JSON is cut to the
/// fields read, plus a few neighbours.
pub(crate) fn libpod_db(inline_below: usize, per_leaf: usize) -> Vec<u8> {
    libpod_db_paged(4096, inline_below, per_leaf)
}

/// [`libpod_db`] with page size `ps` (small pages make a small fuzz seed).
pub(crate) fn libpod_db_paged(ps: usize, inline_below: usize, per_leaf: usize) -> Vec<u8> {
    let infra_cfg = format!(
        r#"{{"id":"{INFRA}","name":"94a1b9dffb88-infra","pod":"{POD_ID}","pause":true,"stopTimeout":10,"createCommand":["podman","kube","play","pod.yaml"]}}"#
    );
    let web_cfg = format!(
        r#"{{"id":"{WEB}","name":"my-shop-web-api","pod":"{POD_ID}","rootfsImageName":"localhost/nstrace-busybox:latest","stopTimeout":10,"labels":{{"app":"shop"}}}}"#
    );
    let lone_cfg = format!(r#"{{"id":"{LONE}","name":"lone-ranger","stopTimeout":3}}"#);
    let ctr = |id: &str, cfg: String, pod: bool| {
        let mut items = vec![
            kv("config", &cfg),
            kv("state", r#"{"state":3,"pid":4242}"#),
            bucket("dependencies", vec![]),
        ];
        if pod {
            items.push(kv("pod-id", POD_ID));
        }
        bucket(id, items)
    };
    file(
        ps,
        vec![
            bucket(
                "id-registry",
                vec![
                    kv(INFRA, "94a1b9dffb88-infra"),
                    kv(WEB, "my-shop-web-api"),
                    kv(LONE, "lone-ranger"),
                    kv(POD_ID, "my-shop"),
                ],
            ),
            bucket(
                "name-registry",
                vec![
                    kv("94a1b9dffb88-infra", INFRA),
                    kv("my-shop-web-api", WEB),
                    kv("lone-ranger", LONE),
                    kv("my-shop", POD_ID),
                ],
            ),
            bucket(
                "ctr",
                vec![
                    ctr(INFRA, infra_cfg, true),
                    ctr(WEB, web_cfg, true),
                    ctr(LONE, lone_cfg, false),
                ],
            ),
            bucket(
                "all-ctrs",
                vec![
                    kv(INFRA, "94a1b9dffb88-infra"),
                    kv(WEB, "my-shop-web-api"),
                    kv(LONE, "lone-ranger"),
                ],
            ),
            bucket(
                "pod",
                vec![bucket(
                    POD_ID,
                    vec![
                        kv(
                            "config",
                            &format!(r#"{{"id":"{POD_ID}","name":"my-shop","hasInfra":true}}"#),
                        ),
                        kv(
                            "state",
                            &format!(
                                r#"{{"cgroupPath":"/libpod_parent/{POD_ID}","InfraContainerID":"{INFRA}"}}"#
                            ),
                        ),
                        bucket("containers", vec![kv(INFRA, INFRA), kv(WEB, WEB)]),
                    ],
                )],
            ),
            bucket("allPods", vec![kv(POD_ID, "my-shop")]),
            bucket(
                "runtime-config",
                vec![kv("graph-root", "/var/lib/containers/storage")],
            ),
        ],
        inline_below,
        per_leaf,
    )
}

/// A directory under the system temp dir, removed with everything in it on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory named after `tag`.
    pub(crate) fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("nstrace-runtime-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `bytes` to `rel` below it, making the directories on the way.
    pub(crate) fn write(&self, rel: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("dirs");
        std::fs::write(&path, bytes).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
