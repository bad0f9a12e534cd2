//! podman's names for a container, from libpod's state database `bolt_state.db`.
//!
//! podman 4.3 writes no pod or container name into a bundle, and no file under
//! containers/storage names the pod: `containers.json` has the container's name but not
//! its pod, the bundle's hostname is the pod's only until the Pod YAML sets
//! `spec.hostname`, and conmon's `-n` is the container's name again. libpod's database
//! holds all of it (libpod/boltdb_state_internal.go, podman v4.3.1):
//! * `ctr/<id>/config`: the container's `ContainerConfig` as JSON (libpod/container_config.go):
//!   `name`, `pod` (the pod's id), `pause` (true for an infra container), `stopTimeout`;
//! * `id-registry/<pod id>`: the pod's name;
//! * `pod/<pod id>/state`: `podState` as JSON (libpod/pod.go), with `InfraContainerID`.
//!
//! podman 4.8 and later keep the same in SQLite (`db.sql`) on new installs, which this
//! does not read: a podman bundle without a `bolt_state.db` is reported unreadable.

use serde::Deserialize;

use super::bolt::{self, ReadAt};
use super::bundle::{ContainerNames, Runtime};
use super::DbError;

const CTR: &[u8] = b"ctr";
const POD: &[u8] = b"pod";
const ID_REGISTRY: &[u8] = b"id-registry";
const CONFIG: &[u8] = b"config";
const STATE: &[u8] = b"state";

/// The fields of libpod's `ContainerConfig` read here.
#[derive(Deserialize)]
struct CtrConfig {
    name: String,
    #[serde(default)]
    pod: String,
    #[serde(default)]
    pause: bool,
    #[serde(default, rename = "stopTimeout")]
    stop_timeout: Option<u64>,
}

/// The field of libpod's `podState` read here (it has no JSON tag).
#[derive(Deserialize)]
struct PodState {
    #[serde(default, rename = "InfraContainerID")]
    infra: String,
}

/// What libpod's database says about one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// podman's container name (`<pod>-<container>` under kube play).
    pub name: String,
    /// The pod's id, if the container is in one.
    pub pod_id: Option<String>,
    /// The pod's name, if the pod is still registered.
    pub pod_name: Option<String>,
    /// The pod's infra container, if the pod has one.
    pub infra_id: Option<String>,
    /// Whether this container is its pod's infra container.
    pub infra: bool,
    /// Seconds `podman stop` waits before SIGKILL.
    pub stop_timeout: Option<u64>,
}

/// The record of container `id`, `None` when the database does not hold it.
pub(crate) fn record(db: &(impl ReadAt + ?Sized), id: &str) -> Result<Option<Record>, DbError> {
    // JSON errors ride inside Ok so that a moving database is still retried first.
    let read = bolt::read(db, |tx| {
        let Some(raw) = tx.get(&[CTR, id.as_bytes()], CONFIG)? else {
            return Ok(None);
        };
        let cfg: CtrConfig = match serde_json::from_slice(&raw) {
            Ok(c) => c,
            Err(e) => return Ok(Some(Err(format!("container config: {e}")))),
        };
        let (mut pod_name, mut infra_id) = (None, None);
        if !cfg.pod.is_empty() {
            let pod = cfg.pod.as_bytes();
            pod_name = tx.get(&[ID_REGISTRY], pod)?;
            if let Some(raw) = tx.get(&[POD, pod], STATE)? {
                match serde_json::from_slice::<PodState>(&raw) {
                    Ok(s) => infra_id = Some(s.infra).filter(|i| !i.is_empty()),
                    Err(e) => return Ok(Some(Err(format!("pod state: {e}")))),
                }
            }
        }
        Ok(Some(Ok((cfg, pod_name, infra_id))))
    });
    let Some(parsed) = read.map_err(DbError::Bolt)? else {
        return Ok(None);
    };
    let (cfg, pod_name, infra_id) = parsed.map_err(DbError::Record)?;
    let pod_name = pod_name
        .map(String::from_utf8)
        .transpose()
        .map_err(|_| DbError::Record("pod name is not UTF-8".into()))?;
    Ok(Some(Record {
        infra: cfg.pause || infra_id.as_deref() == Some(id),
        name: cfg.name,
        pod_id: Some(cfg.pod).filter(|p| !p.is_empty()),
        pod_name,
        infra_id,
        stop_timeout: cfg.stop_timeout,
    }))
}

/// The name a Pod YAML gave a container: kube play names it `<pod>-<name>`
/// (pkg/specgen/generate/kube/kube.go `ToSpecGen`), so the pod's name and one dash come
/// off the front. Any other name (`podman run --pod`, a pod renamed nothing) stays whole.
pub(crate) fn spec_name<'a>(podman_name: &'a str, pod: Option<&str>) -> &'a str {
    pod.and_then(|p| podman_name.strip_prefix(p))
        .and_then(|rest| rest.strip_prefix('-'))
        .filter(|rest| !rest.is_empty())
        .unwrap_or(podman_name)
}

/// The names of container `id` from its record.
pub(crate) fn names(id: &str, r: Record) -> ContainerNames {
    let container = (!r.infra).then(|| spec_name(&r.name, r.pod_name.as_deref()).to_owned());
    ContainerNames {
        runtime: Runtime::Podman,
        container,
        pod: r.pod_name,
        // podman has no Kubernetes namespace or uid.
        namespace: None,
        pod_uid: None,
        pod_id: r.pod_id,
        sandbox: r.infra,
        sandbox_id: if r.infra {
            Some(id.to_owned())
        } else {
            r.infra_id
        },
        grace_period_s: r.stop_timeout,
        docker: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bolt::build::file;
    use crate::runtime::fixtures::*;

    /// The podman_db fuzz target's seed is this fixture (branch pages,
    /// inline buckets), byte for byte, and reads as such.
    #[test]
    fn the_fuzz_seed_is_the_fixture_database() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/seeds/podman_db/two-pods.db"
        );
        let want = libpod_db_paged(1024, 3, 2);
        if std::env::var_os("NSTRACE_WRITE_FUZZ_SEEDS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let seed = std::fs::read(path).unwrap();
        assert!(
            seed == want,
            "{path} differs from libpod_db_paged(1024, 3, 2)"
        );
        let r = record(&seed[..], WEB).unwrap().unwrap();
        assert_eq!(r.pod_name.as_deref(), Some("my-shop"));
    }

    #[test]
    fn kube_play_names_lose_exactly_the_pod_prefix() {
        let cases = [
            ("my-shop-web-api", Some("my-shop"), "web-api"),
            ("my-shop-side-car", Some("my-shop"), "side-car"),
            // The pod's name decides, not the first or last dash.
            ("a-b-c", Some("a"), "b-c"),
            ("a-b-c", Some("a-b"), "c"),
            ("shop-web", Some("shop"), "web"),
            // A pod member not named after its pod, or no pod: the name stays whole.
            ("web", Some("shop"), "web"),
            ("shopweb", Some("shop"), "shopweb"),
            ("shop-", Some("shop"), "shop-"),
            ("shop", Some("shop"), "shop"),
            ("my-shop-web", None, "my-shop-web"),
            // A Deployment's pods are `<name>-pod-<i>`.
            ("cache-pod-0-redis", Some("cache-pod-0"), "redis"),
        ];
        for (name, pod, want) in cases {
            assert_eq!(spec_name(name, pod), want, "{name} in {pod:?}");
        }
    }

    #[test]
    fn records_of_infra_workload_and_lone_container() {
        for (inline_below, per_leaf) in [(0, 100), (3, 2), (100, 3)] {
            let db = libpod_db(inline_below, per_leaf);
            let web = record(&db[..], WEB).unwrap().unwrap();
            assert_eq!(
                names(WEB, web),
                ContainerNames {
                    runtime: Runtime::Podman,
                    container: Some("web-api".into()),
                    pod: Some("my-shop".into()),
                    namespace: None,
                    pod_uid: None,
                    pod_id: Some(POD_ID.into()),
                    sandbox: false,
                    sandbox_id: Some(INFRA.into()),
                    grace_period_s: Some(10),
                    docker: None,
                }
            );
            let infra = names(INFRA, record(&db[..], INFRA).unwrap().unwrap());
            assert!(infra.sandbox);
            assert_eq!(infra.container, None);
            assert_eq!(infra.pod.as_deref(), Some("my-shop"));
            assert_eq!(infra.sandbox_id.as_deref(), Some(INFRA));
            let lone = names(LONE, record(&db[..], LONE).unwrap().unwrap());
            assert_eq!(
                (lone.container.as_deref(), lone.pod, lone.pod_id),
                (Some("lone-ranger"), None, None)
            );
            assert_eq!(
                (lone.sandbox, lone.sandbox_id, lone.grace_period_s),
                (false, None, Some(3))
            );
            let absent = "f".repeat(64);
            assert!(matches!(record(&db[..], &absent), Ok(None)));
        }
    }

    #[test]
    fn a_config_that_is_not_libpods_json_is_a_record_error() {
        let id = "e".repeat(64);
        for cfg in ["not json", "{\"name\":7}", "[]", "{\"pod\":\"x\"}"] {
            let db = file(
                4096,
                vec![bucket("ctr", vec![bucket(&id, vec![kv("config", cfg)])])],
                0,
                100,
            );
            assert!(
                matches!(record(&db[..], &id), Err(DbError::Record(_))),
                "{cfg}"
            );
        }
    }
}
