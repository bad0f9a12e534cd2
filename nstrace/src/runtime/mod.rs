//! Kubernetes (and podman) names of a container, read from its runtime's files on the
//! node: no API server, no runtime socket, no podman command.
//!
//! Given the 64-hex id from a process's cgroup path, [`lookup`] reads the container's
//! OCI bundle `config.json` where CRI-O, containerd and podman keep it; CRI-O and
//! containerd write the names there as annotations ([`bundle`]), podman keeps them in
//! libpod's database (`podman.rs`), Docker in its data root's `config.v2.json` and
//! `hostconfig.json` ([`docker`]). These are runtime internals: everything is read
//! defensively, and every way it can fail is its own [`Lookup`] so the caller can count
//! it. Nothing is cached here; one lookup is a few small reads, meant for once per
//! container start, with the caller keeping the answer.

pub mod bundle;
pub mod docker;

mod bolt;
mod containerd_db;

/// Entry point for the fuzz target (`nstrace/fuzz`): podman's bolt database
/// as bytes, looked up for a few container ids (one of the seed's among them).
#[doc(hidden)]
pub fn fuzz_podman_db(data: &[u8], ids: &[&str]) {
    for id in ids {
        match podman::record(data, id) {
            Ok(Some(r)) => {
                let _ = format!("{r:?}");
            }
            Ok(None) => {}
            Err(e) => {
                let _ = format!("{e:?}");
            }
        }
    }
}
/// Entry point for the fuzz target (`nstrace/fuzz`): Docker's two files of a
/// container as one input, cut where the first NUL byte is (`config.v2.json`
/// before it, `hostconfig.json` after).
#[doc(hidden)]
pub fn fuzz_docker_config(data: &[u8], id: &str) {
    let at = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (cfg, host) = (&data[..at], data.get(at + 1..).unwrap_or_default());
    match docker::parse(id, cfg, host) {
        Ok(n) => {
            let _ = format!("{n:?}");
            if let Some(d) = n.docker() {
                let _ = d.sharing(|id| Some(id.to_owned()));
            }
        }
        Err(e) => {
            let _ = e.len();
        }
    }
}

#[cfg(test)]
mod fixtures;
mod podman;

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use bundle::Bundle;
pub use bundle::{ContainerNames, Runtime};

/// A bundle `config.json` larger than this is not a runtime's (they are ~10 KiB).
const MAX_CONFIG: u64 = 4 << 20;

/// Where the runtimes keep their files. Only paths under these are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roots {
    /// containers/storage container directories, `<root>/<id>/userdata/config.json`:
    /// CRI-O's bundles, and podman's (the two share the store).
    pub storage: Vec<PathBuf>,
    /// containerd's task directories for the CRI namespace, `<root>/<id>/config.json`.
    pub containerd: Vec<PathBuf>,
    /// containerd's metadata databases (`meta.db`), which keep a CRI container's spec
    /// after its bundle is gone.
    pub containerd_db: Vec<PathBuf>,
    /// libpod state databases (`bolt_state.db`), which name podman's containers and pods.
    pub podman: Vec<PathBuf>,
    /// Docker data roots: `<root>/containers/<id>/{config.v2.json,hostconfig.json}`.
    pub docker: Vec<PathBuf>,
    /// containerd's task directories for Docker's `moby` namespace,
    /// `<root>/<id>/config.json` (they say a container is Docker's).
    pub moby: Vec<PathBuf>,
}

impl Default for Roots {
    /// The paths root-ful CRI-O, containerd and podman use by default.
    fn default() -> Self {
        Roots {
            // CRI-O writes the bundle to both (RunDir and Dir); podman only to the second.
            storage: vec![
                "/run/containers/storage/overlay-containers".into(),
                "/var/lib/containers/storage/overlay-containers".into(),
            ],
            containerd: vec!["/run/containerd/io.containerd.runtime.v2.task/k8s.io".into()],
            containerd_db: vec!["/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db".into()],
            podman: vec!["/var/lib/containers/storage/libpod/bolt_state.db".into()],
            docker: vec!["/var/lib/docker".into()],
            // dockerd on the system's containerd (Debian, Docker's own packages),
            // and on the one it starts itself when given none.
            moby: vec![
                "/run/containerd/io.containerd.runtime.v2.task/moby".into(),
                "/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby".into(),
            ],
        }
    }
}

/// The outcome of one [`lookup`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The runtime's names for the container.
    Found(ContainerNames),
    /// No bundle under any root (gone already, another runtime, or not a 64-hex id).
    Missing,
    /// A file is there but could not be read (permissions, I/O, a podman bundle without
    /// a readable libpod database, a database busy for the whole read); may pass.
    Unreadable(String),
    /// A file was read but is not what the runtime writes.
    Garbled(String),
}

/// Finds the names of container `id` (64 lowercase hex digits) under `roots`.
///
/// Roots are tried in order, storage first, then containerd's, then Docker's;
/// the first bundle (or Docker container directory) found decides. Without
/// one, containerd's metadata may still hold the spec of a CRI container whose
/// bundle is gone (it exited within milliseconds).
pub fn lookup(roots: &Roots, id: &str) -> Lookup {
    // The id becomes a path component: nothing but an id may get that far.
    if !(id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))) {
        return Lookup::Missing;
    }
    let storage = roots.storage.iter().map(|r| r.join(id).join("userdata"));
    let containerd = roots.containerd.iter().map(|r| r.join(id));
    let mut unreadable = None;
    for path in storage.chain(containerd).map(|dir| dir.join("config.json")) {
        match read_small(&path, MAX_CONFIG) {
            Ok(bytes) => return from_bundle(roots, id, &path, &bytes),
            Err(Failure::Absent) => {}
            Err(Failure::Unreadable(why)) => {
                unreadable.get_or_insert(why);
            }
            Err(Failure::Garbled(why)) => return Lookup::Garbled(why),
        }
    }
    match from_docker(roots, id) {
        Lookup::Missing => {}
        found => return found,
    }
    match from_containerd_db(&roots.containerd_db, id) {
        Lookup::Missing => unreadable.map_or(Lookup::Missing, Lookup::Unreadable),
        found => found,
    }
}

/// A CRI container's names from the spec in the first containerd metadata
/// database that holds it (its bundle is gone: containerd deletes it with the task).
fn from_containerd_db(dbs: &[PathBuf], id: &str) -> Lookup {
    for path in dbs {
        let file = match open_db(path) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(why) => return Lookup::Unreadable(why),
        };
        let json = match containerd_db::spec(&file, "k8s.io", id) {
            Ok(Some(json)) => json,
            // Another containerd's, or not a CRI container: the next database may hold it.
            Ok(None) => continue,
            Err(e) => return e.lookup(path),
        };
        return match bundle::parse(&json) {
            Ok(Bundle::Named(names)) => Lookup::Found(names),
            Ok(Bundle::Podman { .. }) => DbError::Record("a podman spec".into()).lookup(path),
            Err(why) => DbError::Record(format!("container {}: {why}", short(id))).lookup(path),
        };
    }
    Lookup::Missing
}

/// A Docker container's names from the first data root that has its
/// `config.v2.json`; without one, a bundle in the `moby` namespace still says
/// the container is Docker's (its names unreadable: a data root not given or
/// not mounted).
fn from_docker(roots: &Roots, id: &str) -> Lookup {
    let mut unreadable = None;
    for root in &roots.docker {
        let dir = root.join("containers").join(id);
        let cfg = match read_small(&dir.join("config.v2.json"), MAX_CONFIG) {
            Ok(b) => b,
            Err(Failure::Absent) => continue,
            Err(Failure::Unreadable(why)) => {
                unreadable.get_or_insert(why);
                continue;
            }
            Err(Failure::Garbled(why)) => return Lookup::Garbled(why),
        };
        let host_path = dir.join("hostconfig.json");
        let host = match read_small(&host_path, MAX_CONFIG) {
            Ok(b) => b,
            // dockerd writes both at once; one without the other is a moment's
            // state (or a damaged root), which may pass.
            Err(Failure::Absent) => {
                return Lookup::Unreadable(format!("{}: missing", host_path.display()))
            }
            Err(Failure::Unreadable(why)) => return Lookup::Unreadable(why),
            Err(Failure::Garbled(why)) => return Lookup::Garbled(why),
        };
        return match docker::parse(id, &cfg, &host) {
            Ok(names) => Lookup::Found(names),
            Err(why) => Lookup::Garbled(format!("{}: {why}", dir.display())),
        };
    }
    if let Some(why) = unreadable {
        return Lookup::Unreadable(why);
    }
    for root in &roots.moby {
        let bundle = root.join(id).join("config.json");
        if std::fs::symlink_metadata(&bundle).is_ok() {
            return Lookup::Unreadable(format!(
                "{}: a Docker container, but no containers/{}/config.v2.json under the Docker roots (--docker-root)",
                bundle.display(),
                short(id)
            ));
        }
    }
    Lookup::Missing
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn from_bundle(roots: &Roots, id: &str, path: &Path, bytes: &[u8]) -> Lookup {
    match bundle::parse(bytes) {
        Ok(Bundle::Named(names)) => Lookup::Found(names),
        Ok(Bundle::Podman { .. }) => from_libpod(&roots.podman, id),
        Err(why) => Lookup::Garbled(format!("{}: {why}", path.display())),
    }
}

/// A podman container's names from the first libpod database that exists.
fn from_libpod(dbs: &[PathBuf], id: &str) -> Lookup {
    for path in dbs {
        let file = match open_db(path) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(why) => return Lookup::Unreadable(why),
        };
        return match podman::record(&file, id) {
            Ok(Some(record)) => Lookup::Found(podman::names(id, record)),
            // Another podman's container (a different root), or a bundle left behind.
            Ok(None) => Lookup::Missing,
            Err(e) => e.lookup(path),
        };
    }
    Lookup::Unreadable(
        "a podman bundle, but no libpod database (bolt_state.db) under the podman roots".into(),
    )
}

/// Why a record could not be read from a runtime's bbolt database (libpod's,
/// containerd's).
#[derive(Debug)]
pub(crate) enum DbError {
    /// The database file (see [`bolt::BoltError`]).
    Bolt(bolt::BoltError),
    /// A record that is not what the runtime writes.
    Record(String),
}

impl DbError {
    /// The lookup's outcome, naming the database at `path`.
    fn lookup(self, path: &Path) -> Lookup {
        let at = |why: &dyn std::fmt::Display| format!("{}: {why}", path.display());
        match self {
            DbError::Bolt(bolt::BoltError::Corrupt(why)) | DbError::Record(why) => {
                Lookup::Garbled(at(&why))
            }
            DbError::Bolt(e) => Lookup::Unreadable(at(&e)),
        }
    }
}

/// Opens a runtime's database: `None` when there is none at `path`, the
/// reason when it cannot be read.
fn open_db(path: &Path) -> Result<Option<File>, String> {
    match open(path) {
        Ok(f) => Ok(Some(f)),
        Err(Failure::Absent) => Ok(None),
        Err(Failure::Unreadable(why) | Failure::Garbled(why)) => Err(why),
    }
}

/// Why a file gave no bytes.
enum Failure {
    /// Nothing there.
    Absent,
    /// There, but not readable.
    Unreadable(String),
    /// There, but not a regular file of a sane size.
    Garbled(String),
}

/// Opens a regular file without following a final symlink, and without blocking on a
/// FIFO planted where a file should be.
fn open(path: &Path) -> Result<File, Failure> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Failure::Absent,
            _ => Failure::Unreadable(format!("{}: {e}", path.display())),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Failure::Unreadable(format!("{}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(Failure::Garbled(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    Ok(file)
}

/// The whole of a small regular file.
fn read_small(path: &Path, max: u64) -> Result<Vec<u8>, Failure> {
    let file = open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Unreadable(format!("{}: {e}", path.display())))?;
    if bytes.len() as u64 > max {
        return Err(Failure::Garbled(format!(
            "{}: larger than {max} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    /// Roots laid out like a node's, below a temporary directory.
    struct Node {
        dir: TempDir,
        roots: Roots,
    }

    impl Node {
        fn new(tag: &str) -> Node {
            let dir = TempDir::new(tag);
            let p = dir.path();
            let roots = Roots {
                storage: vec![
                    p.join("run/containers/storage/overlay-containers"),
                    p.join("var/lib/containers/storage/overlay-containers"),
                ],
                containerd: vec![p.join("run/containerd/io.containerd.runtime.v2.task/k8s.io")],
                containerd_db: vec![
                    p.join("none/meta.db"),
                    p.join("var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db"),
                ],
                podman: vec![p.join("var/lib/containers/storage/libpod/bolt_state.db")],
                docker: vec![p.join("var/lib/docker"), p.join("data2")],
                moby: vec![p.join("run/containerd/io.containerd.runtime.v2.task/moby")],
            };
            Node { dir, roots }
        }

        /// Writes a bundle in storage root `i`, as CRI-O and podman do.
        fn storage(&self, i: usize, id: &str, json: &str) {
            let root = self.roots.storage[i].strip_prefix(self.dir.path()).unwrap();
            self.dir
                .write(root.join(id).join("userdata/config.json"), json);
        }

        fn containerd(&self, id: &str, json: &str) {
            let root = self.roots.containerd[0]
                .strip_prefix(self.dir.path())
                .unwrap();
            self.dir.write(root.join(id).join("config.json"), json);
        }

        /// Writes a Docker container's two files in data root `i`.
        fn docker(&self, i: usize, id: &str, cfg: &str, host: Option<&str>) {
            let root = self.roots.docker[i].strip_prefix(self.dir.path()).unwrap();
            let dir = root.join("containers").join(id);
            self.dir.write(dir.join("config.v2.json"), cfg);
            if let Some(h) = host {
                self.dir.write(dir.join("hostconfig.json"), h);
            }
        }

        fn libpod(&self, bytes: &[u8]) {
            let db = self.roots.podman[0].strip_prefix(self.dir.path()).unwrap();
            self.dir.write(db, bytes);
        }

        fn found(&self, id: &str) -> ContainerNames {
            match lookup(&self.roots, id) {
                Lookup::Found(n) => n,
                other => panic!("{id}: {other:?}"),
            }
        }
    }

    #[test]
    fn default_roots_are_the_runtimes_paths() {
        let r = Roots::default();
        assert_eq!(
            r.storage[1],
            Path::new("/var/lib/containers/storage/overlay-containers")
        );
        assert_eq!(
            r.containerd[0],
            Path::new("/run/containerd/io.containerd.runtime.v2.task/k8s.io")
        );
        assert_eq!(
            r.podman[0],
            Path::new("/var/lib/containers/storage/libpod/bolt_state.db")
        );
        assert_eq!(r.docker, vec![PathBuf::from("/var/lib/docker")]);
        assert_eq!(
            r.moby,
            vec![
                PathBuf::from("/run/containerd/io.containerd.runtime.v2.task/moby"),
                PathBuf::from("/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby"),
            ]
        );
    }

    #[test]
    fn crio_bundles_in_either_storage_root() {
        let node = Node::new("crio");
        node.storage(0, CRIO_SBX, CRIO_SANDBOX);
        node.storage(1, CRIO_CTR, CRIO_WORKLOAD);
        let sandbox = node.found(CRIO_SBX);
        assert_eq!(
            (sandbox.runtime, sandbox.sandbox, sandbox.container),
            (Runtime::CriO, true, None)
        );
        let web = node.found(CRIO_CTR);
        assert_eq!(web.container.as_deref(), Some("web-api"));
        assert_eq!(
            (web.pod.as_deref(), web.namespace.as_deref()),
            (Some(POD), Some("prod"))
        );
        assert_eq!(
            (web.pod_uid.as_deref(), web.sandbox_id.as_deref()),
            (Some(UID), Some(CRIO_SBX))
        );
        assert_eq!(web.grace_period_s, Some(45));
    }

    #[test]
    fn containerd_bundles() {
        let node = Node::new("containerd");
        node.containerd(CTRD_SBX, CONTAINERD_SANDBOX);
        node.containerd(CTRD_CTR, CONTAINERD_WORKLOAD);
        let sandbox = node.found(CTRD_SBX);
        assert_eq!(
            (sandbox.runtime, sandbox.sandbox),
            (Runtime::Containerd, true)
        );
        let car = node.found(CTRD_CTR);
        assert_eq!(
            (car.container.as_deref(), car.pod.as_deref()),
            (Some("side-car"), Some(POD))
        );
        assert_eq!(
            (car.sandbox_id.as_deref(), car.grace_period_s),
            (Some(CTRD_SBX), None)
        );
    }

    /// containerd deleted the bundle (the container lived milliseconds): its
    /// metadata database still names it; another containerd's database that
    /// lacks it is passed over, and only the CRI namespace is read.
    #[test]
    fn containerd_names_outlive_the_bundle_in_its_metadata() {
        use super::containerd_db::build::{any_bytes, meta_db, SPEC_TYPE};
        let node = Node::new("containerd-db");
        let spec = any_bytes(SPEC_TYPE, CONTAINERD_WORKLOAD.as_bytes());
        let db = meta_db(&[
            ("k8s.io", vec![(CTRD_CTR, spec.clone())]),
            ("moby", vec![(CTRD_SBX, spec)]),
        ]);
        let at = node.roots.containerd_db[1]
            .strip_prefix(node.dir.path())
            .unwrap();
        node.dir.write(at, &db);
        let car = node.found(CTRD_CTR);
        assert_eq!(
            (car.runtime, car.container.as_deref(), car.pod.as_deref()),
            (Runtime::Containerd, Some("side-car"), Some(POD))
        );
        assert_eq!(lookup(&node.roots, CTRD_SBX), Lookup::Missing);
        // The bundle, while there, is read first (the database is not needed).
        node.containerd(CTRD_SBX, CONTAINERD_SANDBOX);
        assert!(node.found(CTRD_SBX).sandbox);
        // A spec that is not containerd's record is garbled, and says where.
        let bad = meta_db(&[("k8s.io", vec![(CTRD_CTR, b"{}".to_vec())])]);
        node.dir.write(at, &bad);
        match lookup(&node.roots, CTRD_CTR) {
            Lookup::Garbled(why) => assert!(why.contains("meta.db"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn podman_names_come_from_libpod() {
        let node = Node::new("podman");
        node.storage(1, INFRA, PODMAN_INFRA);
        node.storage(1, WEB, PODMAN_WORKLOAD);
        // No database yet: the bundle alone names nothing.
        assert!(matches!(lookup(&node.roots, WEB), Lookup::Unreadable(_)));
        node.libpod(&libpod_db(0, 100));
        let web = node.found(WEB);
        assert_eq!(
            web,
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
        let infra = node.found(INFRA);
        assert_eq!(
            (infra.sandbox, infra.container, infra.pod.as_deref()),
            (true, None, Some("my-shop"))
        );
        // A bundle whose container libpod no longer knows.
        let gone = "b".repeat(64);
        node.storage(1, &gone, PODMAN_WORKLOAD);
        assert_eq!(lookup(&node.roots, &gone), Lookup::Missing);
        // A database that is not one.
        node.libpod(b"SQLite format 3\0 and then some");
        assert!(matches!(lookup(&node.roots, WEB), Lookup::Garbled(_)));
    }

    #[test]
    fn docker_containers_from_either_data_root() {
        let node = Node::new("docker");
        node.docker(
            0,
            DOCKER_WEB,
            DOCKER_WEB_CONFIG,
            Some(DOCKER_WEB_HOSTCONFIG),
        );
        node.docker(
            1,
            DOCKER_COMPOSE,
            DOCKER_COMPOSE_CONFIG,
            Some(DOCKER_COMPOSE_HOSTCONFIG),
        );
        let web = node.found(DOCKER_WEB);
        assert_eq!(
            (web.runtime, web.container.as_deref()),
            (Runtime::Docker, Some("shop-web"))
        );
        let api = node.found(DOCKER_COMPOSE);
        assert_eq!(
            (api.pod.as_deref(), api.container.as_deref()),
            (Some("shop"), Some("api"))
        );
    }

    #[test]
    fn docker_files_missing_unreadable_or_garbled() {
        let node = Node::new("docker-bad");
        // A bundle in the moby namespace, no data root with the container.
        let moby = node.roots.moby[0].strip_prefix(node.dir.path()).unwrap();
        node.dir
            .write(moby.join(DOCKER_WEB).join("config.json"), "{}");
        assert!(
            matches!(lookup(&node.roots, DOCKER_WEB), Lookup::Unreadable(ref w) if w.contains("--docker-root")),
            "{:?}",
            lookup(&node.roots, DOCKER_WEB)
        );
        assert_eq!(lookup(&node.roots, DOCKER_SIDECAR), Lookup::Missing);
        // config.v2.json without hostconfig.json: a moment's state.
        node.docker(0, DOCKER_SIDECAR, DOCKER_SIDECAR_CONFIG, None);
        assert!(matches!(
            lookup(&node.roots, DOCKER_SIDECAR),
            Lookup::Unreadable(_)
        ));
        // Truncated, or another container's.
        node.docker(
            0,
            DOCKER_WEB,
            &DOCKER_WEB_CONFIG[..100],
            Some(DOCKER_WEB_HOSTCONFIG),
        );
        assert!(matches!(
            lookup(&node.roots, DOCKER_WEB),
            Lookup::Garbled(_)
        ));
        node.docker(
            0,
            DOCKER_COMPOSE,
            DOCKER_WEB_CONFIG,
            Some(DOCKER_WEB_HOSTCONFIG),
        );
        assert!(matches!(
            lookup(&node.roots, DOCKER_COMPOSE),
            Lookup::Garbled(_)
        ));
    }

    #[test]
    fn missing_and_ids_that_are_not_ids() {
        let node = Node::new("missing");
        assert_eq!(lookup(&node.roots, CRIO_CTR), Lookup::Missing);
        // A bundle where "../x" would lead must not be found through such an id.
        node.storage(0, "x", CRIO_WORKLOAD);
        let upper = CRIO_CTR.to_uppercase();
        for id in [
            "",
            "../x",
            "x",
            &CRIO_CTR[1..],
            &upper,
            &format!("{}/", &CRIO_CTR[..63]),
        ] {
            assert_eq!(lookup(&node.roots, id), Lookup::Missing, "{id:?}");
        }
        // A file where a root's directory should be is no bundle either.
        let flat = Node::new("flat");
        flat.dir
            .write("run/containerd/io.containerd.runtime.v2.task/k8s.io", "x");
        assert_eq!(lookup(&flat.roots, CTRD_CTR), Lookup::Missing);
    }

    #[test]
    fn unreadable_and_garbled_files() {
        let node = Node::new("bad");
        let ids: Vec<String> = (0..6).map(|i| format!("{i}").repeat(64)).collect();
        node.storage(0, &ids[0], "{\"ociVersion\": \"1.0.2-dev\", \"annot");
        node.storage(
            0,
            &ids[1],
            "{\"ociVersion\":\"1.0.2-dev\",\"process\":{\"args\":[\"/pause\"]}}",
        );
        node.containerd(
            &ids[2],
            "{\"annotations\":{\"io.kubernetes.cri.sandbox-name\":[\"x\"]}}",
        );
        node.storage(1, &ids[3], &" ".repeat(MAX_CONFIG as usize + 1));
        for id in &ids[..4] {
            assert!(
                matches!(lookup(&node.roots, id), Lookup::Garbled(_)),
                "{id}"
            );
        }
        // A directory where config.json should be; a FIFO (must not block).
        std::fs::create_dir_all(
            node.roots.storage[0]
                .join(&ids[4])
                .join("userdata/config.json"),
        )
        .unwrap();
        assert!(matches!(lookup(&node.roots, &ids[4]), Lookup::Garbled(_)));
        let fifo_dir = node.roots.containerd[0].join(&ids[5]);
        std::fs::create_dir_all(&fifo_dir).unwrap();
        let fifo = std::ffi::CString::new(
            fifo_dir
                .join("config.json")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(matches!(lookup(&node.roots, &ids[5]), Lookup::Garbled(_)));
    }

    #[test]
    fn a_symlinked_bundle_is_unreadable_unless_another_root_has_it() {
        let node = Node::new("symlink");
        let outside = node.dir.write("elsewhere/config.json", CRIO_WORKLOAD);
        let link_dir = node.roots.storage[0].join(CRIO_CTR).join("userdata");
        std::fs::create_dir_all(&link_dir).unwrap();
        std::os::unix::fs::symlink(&outside, link_dir.join("config.json")).unwrap();
        assert!(matches!(
            lookup(&node.roots, CRIO_CTR),
            Lookup::Unreadable(_)
        ));
        node.storage(1, CRIO_CTR, CRIO_WORKLOAD);
        assert_eq!(node.found(CRIO_CTR).container.as_deref(), Some("web-api"));
    }
}
