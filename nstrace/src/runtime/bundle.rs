//! Names from an OCI bundle's `config.json`: the annotations CRI-O, containerd's CRI
//! plugin and podman write into the spec of every container they create.
//!
//! Where each key comes from (read in the runtimes' own sources):
//! * CRI-O copies the kubelet's labels and annotations into the spec as annotations
//!   (`server/sandbox_run_linux.go`, `internal/factory/container/container.go`
//!   `SpecAddAnnotations`), so a bundle has the kubelet's `io.kubernetes.pod.*` and
//!   `io.kubernetes.container.name` (kubernetes `pkg/kubelet/types/labels.go`,
//!   `pkg/kubelet/kuberuntime/labels.go`) next to its own `io.kubernetes.cri-o.*` keys
//!   (`internal/annotations/annotations.go`). A sandbox's container name is the constant
//!   `POD` (`internal/oci/oci_linux.go` `InfraContainerName`).
//! * containerd writes only its own `io.kubernetes.cri.*` keys
//!   (`internal/cri/annotations/annotations.go` `DefaultCRIAnnotations`; `sandbox-uid`
//!   not in every release: Debian's 1.6.20 writes it, checked on real bundles); no
//!   labels, and no grace period unless its `container_annotations` setting passes
//!   the kubelet's through.
//! * podman marks its bundles `io.container.manager=libpod` and, for a pod's
//!   containers, `io.kubernetes.cri-o.SandboxID` (the infra container's id); the names
//!   are in libpod's database (see `podman.rs`).

use std::collections::HashMap;

use serde::Deserialize;

/// Which runtime wrote a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// CRI-O.
    CriO,
    /// containerd's CRI plugin.
    Containerd,
    /// podman (libpod), e.g. `podman kube play`.
    Podman,
}

impl Runtime {
    /// Stable lowercase name for output.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::CriO => "cri-o",
            Runtime::Containerd => "containerd",
            Runtime::Podman => "podman",
        }
    }
}

/// The names of one container and of its pod, as its runtime recorded them.
///
/// A field the runtime did not write (or wrote empty) is `None`; nothing is guessed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerNames {
    /// The runtime that wrote them.
    pub runtime: Runtime,
    /// The container's name in the pod spec (`web`, not podman's `shop-web`);
    /// `None` for a sandbox (infra/pause) container, which the spec does not name.
    pub container: Option<String>,
    /// The pod's name.
    pub pod: Option<String>,
    /// The pod's Kubernetes namespace (never known under podman).
    pub namespace: Option<String>,
    /// The pod's Kubernetes uid (`metadata.uid`).
    pub pod_uid: Option<String>,
    /// podman's id of the pod (podman only; under CRI-O and containerd the sandbox id
    /// is the runtime's id of the pod).
    pub pod_id: Option<String>,
    /// Whether this is the pod's sandbox (infra/pause) container.
    pub sandbox: bool,
    /// The id of the pod's sandbox (infra/pause) container; a sandbox's own id.
    pub sandbox_id: Option<String>,
    /// Seconds between SIGTERM and SIGKILL when the pod stops: the kubelet's
    /// `terminationGracePeriodSeconds` (workload containers only), or podman's stop timeout.
    pub grace_period_s: Option<u64>,
}

/// What a bundle says about its container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bundle {
    /// CRI-O or containerd: the bundle holds the names.
    Named(ContainerNames),
    /// podman: the names are in libpod's database; the bundle holds only the id of the
    /// pod's infra container (`io.kubernetes.cri-o.SandboxID`, absent outside a pod and
    /// in the infra container itself).
    Podman {
        /// The infra container's id, if the bundle names one.
        sandbox_id: Option<String>,
    },
}

// Kubelet labels and annotations (kubernetes pkg/kubelet/types/labels.go,
// pkg/kubelet/kuberuntime/labels.go); CRI-O copies them into the spec.
const K8S_POD_NAME: &str = "io.kubernetes.pod.name";
const K8S_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
const K8S_POD_UID: &str = "io.kubernetes.pod.uid";
const K8S_CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// Decimal seconds (`strconv.FormatInt(*TerminationGracePeriodSeconds, 10)`), set on
/// workload containers only.
const K8S_GRACE_PERIOD: &str = "io.kubernetes.pod.terminationGracePeriod";

// CRI-O (internal/annotations/annotations.go); podman reuses the two last ones.
const MANAGER: &str = "io.container.manager";
const CRIO_CONTAINER_TYPE: &str = "io.kubernetes.cri-o.ContainerType";
const CRIO_SANDBOX_ID: &str = "io.kubernetes.cri-o.SandboxID";

// containerd (internal/cri/annotations/annotations.go, pkg/cri/annotations before 2.0).
const CRI_CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
const CRI_SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";
const CRI_SANDBOX_NAME: &str = "io.kubernetes.cri.sandbox-name";
const CRI_SANDBOX_NAMESPACE: &str = "io.kubernetes.cri.sandbox-namespace";
const CRI_SANDBOX_UID: &str = "io.kubernetes.cri.sandbox-uid";
const CRI_CONTAINER_NAME: &str = "io.kubernetes.cri.container-name";

/// The value both CRI-O and containerd give a sandbox's container type.
const TYPE_SANDBOX: &str = "sandbox";

/// Only the annotations are decoded; serde skips the rest of the spec.
#[derive(Deserialize)]
struct Spec {
    annotations: Option<HashMap<String, String>>,
}

/// Reads the names from the bytes of a bundle's `config.json`.
///
/// Errors (as a reason) when the bytes are not a JSON object, have no annotations,
/// have annotations that are not a map of strings, or carry none of the three
/// runtimes' marks.
pub fn parse(config_json: &[u8]) -> Result<Bundle, String> {
    let spec: Spec = serde_json::from_slice(config_json).map_err(|e| format!("not a spec: {e}"))?;
    let a = spec.annotations.ok_or("no annotations")?;
    // The manager mark first: podman's bundles carry CRI-O keys too, and pod
    // annotations (copied into bundles) could carry anything.
    match a.get(MANAGER).map(String::as_str) {
        Some("libpod") => Ok(Bundle::Podman {
            sandbox_id: get(&a, CRIO_SANDBOX_ID),
        }),
        Some("cri-o") => Ok(Bundle::Named(crio(&a))),
        _ if a.contains_key(CRI_CONTAINER_TYPE) => Ok(Bundle::Named(containerd(&a))),
        // CRI-O before 1.18, which wrote no manager mark.
        _ if a.contains_key(CRIO_CONTAINER_TYPE) => Ok(Bundle::Named(crio(&a))),
        _ => Err("no CRI-O, containerd or podman annotations".into()),
    }
}

/// A value, with empty ones (crictl leaves some empty) as absent.
fn get(a: &HashMap<String, String>, key: &str) -> Option<String> {
    a.get(key).filter(|v| !v.is_empty()).cloned()
}

fn grace(a: &HashMap<String, String>) -> Option<u64> {
    a.get(K8S_GRACE_PERIOD).and_then(|v| v.parse().ok())
}

fn crio(a: &HashMap<String, String>) -> ContainerNames {
    let sandbox = a.get(CRIO_CONTAINER_TYPE).map(String::as_str) == Some(TYPE_SANDBOX);
    ContainerNames {
        runtime: Runtime::CriO,
        // A sandbox's is the constant "POD", not a name from the pod spec.
        container: if sandbox {
            None
        } else {
            get(a, K8S_CONTAINER_NAME)
        },
        pod: get(a, K8S_POD_NAME),
        namespace: get(a, K8S_POD_NAMESPACE),
        pod_uid: get(a, K8S_POD_UID),
        pod_id: None,
        sandbox,
        sandbox_id: get(a, CRIO_SANDBOX_ID),
        grace_period_s: grace(a),
    }
}

fn containerd(a: &HashMap<String, String>) -> ContainerNames {
    let sandbox = a.get(CRI_CONTAINER_TYPE).map(String::as_str) == Some(TYPE_SANDBOX);
    ContainerNames {
        runtime: Runtime::Containerd,
        // Written for workload containers only.
        container: if sandbox {
            None
        } else {
            get(a, CRI_CONTAINER_NAME)
        },
        pod: get(a, CRI_SANDBOX_NAME),
        namespace: get(a, CRI_SANDBOX_NAMESPACE),
        pod_uid: get(a, CRI_SANDBOX_UID),
        pod_id: None,
        sandbox,
        sandbox_id: get(a, CRI_SANDBOX_ID),
        grace_period_s: grace(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fixtures::*;

    fn named(json: &str) -> ContainerNames {
        match parse(json.as_bytes()) {
            Ok(Bundle::Named(n)) => n,
            other => panic!("not named: {other:?}"),
        }
    }

    #[test]
    fn crio_sandbox_is_the_pod_without_a_container_name() {
        assert_eq!(
            named(CRIO_SANDBOX),
            ContainerNames {
                runtime: Runtime::CriO,
                container: None,
                pod: Some(POD.into()),
                namespace: Some("prod".into()),
                pod_uid: Some(UID.into()),
                pod_id: None,
                sandbox: true,
                sandbox_id: Some(CRIO_SBX.into()),
                grace_period_s: None,
            }
        );
    }

    #[test]
    fn crio_workload_has_container_name_and_grace_period() {
        assert_eq!(
            named(CRIO_WORKLOAD),
            ContainerNames {
                runtime: Runtime::CriO,
                container: Some("web-api".into()),
                pod: Some(POD.into()),
                namespace: Some("prod".into()),
                pod_uid: Some(UID.into()),
                pod_id: None,
                sandbox: false,
                sandbox_id: Some(CRIO_SBX.into()),
                grace_period_s: Some(45),
            }
        );
    }

    #[test]
    fn containerd_sandbox_and_workload() {
        let sandbox = named(CONTAINERD_SANDBOX);
        assert_eq!(
            sandbox,
            ContainerNames {
                runtime: Runtime::Containerd,
                container: None,
                pod: Some(POD.into()),
                namespace: Some("prod".into()),
                pod_uid: Some(UID.into()),
                pod_id: None,
                sandbox: true,
                sandbox_id: Some(CTRD_SBX.into()),
                grace_period_s: None,
            }
        );
        assert_eq!(
            named(CONTAINERD_WORKLOAD),
            ContainerNames {
                container: Some("side-car".into()),
                sandbox: false,
                ..sandbox
            }
        );
    }

    #[test]
    fn podman_bundles_defer_to_libpod() {
        assert_eq!(
            parse(PODMAN_INFRA.as_bytes()),
            Ok(Bundle::Podman { sandbox_id: None })
        );
        assert_eq!(
            parse(PODMAN_WORKLOAD.as_bytes()),
            Ok(Bundle::Podman {
                sandbox_id: Some(INFRA.into())
            })
        );
    }

    #[test]
    fn containerd_without_a_uid_and_empty_values_are_absent() {
        let json = r#"{"ociVersion":"1.0.2-dev","annotations":{
            "io.kubernetes.cri.container-type":"container",
            "io.kubernetes.cri.container-name":"web",
            "io.kubernetes.cri.sandbox-id":"",
            "io.kubernetes.cri.sandbox-name":"web-0",
            "io.kubernetes.cri.sandbox-namespace":"default"}}"#;
        let n = named(json);
        assert_eq!(n.pod_uid, None);
        assert_eq!(n.sandbox_id, None);
        assert_eq!(n.container.as_deref(), Some("web"));
    }

    #[test]
    fn crio_without_manager_mark_and_odd_grace_periods() {
        for (value, want) in [("30", Some(30)), ("-1", None), ("", None), ("3s", None)] {
            let json = format!(
                r#"{{"annotations":{{"io.kubernetes.cri-o.ContainerType":"container",
                "io.kubernetes.pod.terminationGracePeriod":"{value}"}}}}"#
            );
            let n = named(&json);
            assert_eq!(n.runtime, Runtime::CriO);
            assert_eq!(n.grace_period_s, want, "{value:?}");
        }
    }

    #[test]
    fn garbled_bundles_are_errors() {
        for bad in [
            &b""[..],
            b"\x00\xff not json",
            b"{\"ociVersion\": \"1.0.2\"",
            b"[]",
            b"\"annotations\"",
            b"{\"ociVersion\":\"1.0.2\",\"process\":{}}",
            b"{\"annotations\":null}",
            b"{\"annotations\":[\"io.container.manager\"]}",
            b"{\"annotations\":{\"io.kubernetes.pod.name\":7}}",
            b"{\"annotations\":{}}",
            b"{\"annotations\":{\"io.kubernetes.pod.name\":\"shop\"}}",
            b"{\"annotations\":{\"io.container.manager\":\"docker\"}}",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn truncated_fixtures_are_errors() {
        for f in [CRIO_SANDBOX, CONTAINERD_WORKLOAD, PODMAN_WORKLOAD] {
            for cut in [1, f.len() / 3, f.len() / 2, f.len() - 2] {
                assert!(parse(&f.as_bytes()[..cut]).is_err());
            }
        }
    }
}
