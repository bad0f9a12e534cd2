//! Docker Engine's names and settings of a container, from the files dockerd
//! keeps in its data root (no socket, no `docker` command).
//!
//! dockerd (moby 20.10, `container/container.go` `ToDisk`, `daemon/container.go`)
//! writes for every container `<data root>/containers/<id>/`:
//! * `config.v2.json`: the `container.Container` struct: `ID`, `Name` (with a
//!   leading `/`), `Config` (`Hostname`, `Labels`, `StopSignal`, `StopTimeout`),
//!   `RestartCount`, and much that is not read here;
//! * `hostconfig.json`: `container.HostConfig`: `Init`, `PortBindings`
//!   (`{"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8088"}]}`),
//!   `NetworkMode` (`default`, `bridge`, `host`, `none`, `container:<id>`, or a
//!   network's name), `PidMode`, `IpcMode` (`private`, `shareable`, `host`,
//!   `container:<id>`, `none`), `UTSMode`, `Privileged`, `CapAdd`,
//!   `RestartPolicy`.
//!
//! Compose (docker-compose 1.x and `docker compose` 2.x alike) labels every
//! container it makes `com.docker.compose.project`, `com.docker.compose.service`
//! and `com.docker.compose.container-number`: the project is shown as the pod,
//! the service as the container (docs/guide/runtimes.md).
//!
//! The task's OCI bundle is under containerd's `moby` namespace
//! (`/run/containerd/io.containerd.runtime.v2.task/moby/<id>/`, or
//! `/run/docker/containerd/daemon/…` when dockerd runs its own containerd) and
//! names nothing; a bundle there without a `config.v2.json` under the Docker
//! roots says the container is Docker's but its names cannot be read.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::bundle::{ContainerNames, Runtime};

/// Compose's labels (compose/const.py; compose-spec's api/labels.go).
const COMPOSE_PROJECT: &str = "com.docker.compose.project";
const COMPOSE_SERVICE: &str = "com.docker.compose.service";
const COMPOSE_NUMBER: &str = "com.docker.compose.container-number";
const COMPOSE_ONEOFF: &str = "com.docker.compose.oneoff";

/// How a container has one kind of namespace, as Docker says it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Its own (Docker's default; `private`, or unset).
    Private,
    /// The node's (`host`): hostNetwork, hostPID, hostIPC in Kubernetes' words.
    Host,
    /// Another container's (`container:<id>`), as a pod's containers share.
    Container(String),
    /// Its own, and others may join it (`--ipc shareable`).
    Shareable,
    /// None at all (`--network none`, `--ipc none`).
    Disabled,
    /// A Docker network of that name (`bridge`, `default`, a Compose network).
    Network(String),
}

impl Mode {
    /// The mode of a `NetworkMode`/`PidMode`/`IpcMode`/`UTSMode` value.
    pub fn parse(v: &str) -> Mode {
        match v {
            "" | "private" => Mode::Private,
            "host" => Mode::Host,
            "shareable" => Mode::Shareable,
            "none" => Mode::Disabled,
            _ => match v.strip_prefix("container:") {
                Some(id) => Mode::Container(id.to_owned()),
                None => Mode::Network(v.to_owned()),
            },
        }
    }

    /// The container whose namespace this is, for `container:<id>`.
    pub fn partner(&self) -> Option<&str> {
        match self {
            Mode::Container(id) => Some(id),
            _ => None,
        }
    }
}

/// One published port (`-p [IP:]HOST:CONTAINER[/PROTO]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// The container's port.
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub proto: String,
    /// The node address it is published on; `None` for every address.
    pub host_ip: Option<IpAddr>,
    /// The node port (0: one dockerd picked; the node's listener says which).
    pub host_port: u16,
}

/// A Compose project's container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compose {
    /// The project (shown as the pod).
    pub project: String,
    /// The service (shown as the container).
    pub service: String,
    /// The replica's number (1 for the first), when Compose wrote one.
    pub number: Option<u32>,
    /// A `docker-compose run` container, not one of the service's replicas.
    pub oneoff: bool,
}

/// What Docker's files say of one container, beyond its names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerInfo {
    /// Docker's name (`shop-cart`; Compose 1.x's `shop_web_1`), no leading `/`.
    pub name: String,
    /// Its Compose project, service and replica, if Compose made it.
    pub compose: Option<Compose>,
    /// Its hostname (Docker's default is the short id).
    pub hostname: Option<String>,
    /// The signal `docker stop` sends first: the image's STOPSIGNAL or
    /// `--stop-signal`; `None` for SIGTERM's default.
    pub stop_signal: Option<u32>,
    /// `--stop-timeout` (seconds): `None` for dockerd's 10 s default.
    pub stop_timeout: Option<u64>,
    /// `--init`: docker-init (tini) is its PID 1.
    pub init: bool,
    /// `--privileged`.
    pub privileged: bool,
    /// `--cap-add`, as written (`NET_ADMIN`, `CAP_SYS_ADMIN`, `ALL`).
    pub cap_add: Vec<String>,
    /// `--network`.
    pub network: Mode,
    /// `--pid`.
    pub pid: Mode,
    /// `--ipc`.
    pub ipc: Mode,
    /// `--uts`.
    pub uts: Mode,
    /// `-p`, by container port.
    pub ports: Vec<PortBinding>,
    /// The restart policy (`always`, `unless-stopped`, `on-failure`), `None` for `no`.
    pub restart: Option<String>,
    /// How often dockerd restarted it (its policy's restarts, not `docker restart`).
    pub restart_count: u64,
}

impl DockerInfo {
    /// Kubernetes' word for each shared namespace (`hostNetwork`,
    /// `shares web's network`…), for the topology and findings.
    pub fn sharing(&self, name_of: impl Fn(&str) -> Option<String>) -> Vec<String> {
        let partner = |id: &str| name_of(id).unwrap_or_else(|| id[..id.len().min(12)].to_owned());
        let mut out = Vec::new();
        for (kind, mode, host) in [
            ("network", &self.network, "hostNetwork"),
            ("pid", &self.pid, "hostPID"),
            ("ipc", &self.ipc, "hostIPC"),
            ("uts", &self.uts, "hostUTS"),
        ] {
            match mode {
                Mode::Host => out.push(host.to_owned()),
                Mode::Container(id) => out.push(format!("{kind} of {}", partner(id))),
                Mode::Disabled if kind == "network" => out.push("no network".to_owned()),
                _ => {}
            }
        }
        out
    }
}

#[derive(Deserialize)]
struct ConfigV2 {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Config")]
    config: Option<Config>,
    #[serde(rename = "RestartCount", default)]
    restart_count: u64,
}

#[derive(Deserialize, Default)]
struct Config {
    #[serde(rename = "Hostname", default)]
    hostname: Option<String>,
    #[serde(rename = "Labels", default)]
    labels: Option<HashMap<String, String>>,
    #[serde(rename = "StopSignal", default)]
    stop_signal: Option<String>,
    #[serde(rename = "StopTimeout", default)]
    stop_timeout: Option<i64>,
}

#[derive(Deserialize)]
struct HostConfig {
    #[serde(rename = "Init", default)]
    init: Option<bool>,
    #[serde(rename = "PortBindings", default)]
    port_bindings: Option<HashMap<String, Option<Vec<Binding>>>>,
    #[serde(rename = "NetworkMode", default)]
    network_mode: Option<String>,
    #[serde(rename = "PidMode", default)]
    pid_mode: Option<String>,
    #[serde(rename = "IpcMode", default)]
    ipc_mode: Option<String>,
    #[serde(rename = "UTSMode", default)]
    uts_mode: Option<String>,
    #[serde(rename = "Privileged", default)]
    privileged: Option<bool>,
    #[serde(rename = "CapAdd", default)]
    cap_add: Option<Vec<String>>,
    #[serde(rename = "RestartPolicy", default)]
    restart_policy: Option<RestartPolicy>,
}

#[derive(Deserialize)]
struct Binding {
    #[serde(rename = "HostIp", default)]
    host_ip: String,
    #[serde(rename = "HostPort", default)]
    host_port: String,
}

#[derive(Deserialize)]
struct RestartPolicy {
    #[serde(rename = "Name", default)]
    name: String,
}

fn ports(bindings: HashMap<String, Option<Vec<Binding>>>) -> Result<Vec<PortBinding>, String> {
    let mut out = Vec::new();
    for (key, list) in bindings {
        let (port, proto) = key.split_once('/').unwrap_or((&key, "tcp"));
        let container_port: u16 = port
            .parse()
            .map_err(|_| format!("PortBindings: not a port: {key:?}"))?;
        if !matches!(proto, "tcp" | "udp" | "sctp") {
            return Err(format!("PortBindings: not a transport: {key:?}"));
        }
        for b in list.unwrap_or_default() {
            let host_ip = match b.host_ip.as_str() {
                "" => None,
                ip => Some(
                    ip.parse::<IpAddr>()
                        .map_err(|_| format!("PortBindings: not an address: {ip:?}"))?,
                ),
            }
            .filter(|ip| !ip.is_unspecified());
            let host_port = match b.host_port.as_str() {
                "" => 0,
                // A range (`8000-8010`) published as one: the first port of it.
                p => p
                    .split('-')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| format!("PortBindings: not a port: {p:?}"))?,
            };
            out.push(PortBinding {
                container_port,
                proto: proto.to_owned(),
                host_ip,
                host_port,
            });
        }
    }
    out.sort_by(|a, b| {
        (a.container_port, &a.proto, a.host_port, a.host_ip).cmp(&(
            b.container_port,
            &b.proto,
            b.host_port,
            b.host_ip,
        ))
    });
    Ok(out)
}

/// Reads a container's names and settings from the bytes of its
/// `config.v2.json` and `hostconfig.json`; `id` is the container the caller
/// looked up (a file of another container is an error).
pub fn parse(id: &str, config_v2: &[u8], hostconfig: &[u8]) -> Result<ContainerNames, String> {
    let c: ConfigV2 =
        serde_json::from_slice(config_v2).map_err(|e| format!("config.v2.json: {e}"))?;
    let h: HostConfig =
        serde_json::from_slice(hostconfig).map_err(|e| format!("hostconfig.json: {e}"))?;
    if c.id != id {
        return Err(format!("config.v2.json is container {:?}'s", c.id));
    }
    let name = c
        .name
        .strip_prefix('/')
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("config.v2.json: not a container name: {:?}", c.name))?
        .to_owned();
    let cfg = c.config.unwrap_or_default();
    let labels = cfg.labels.unwrap_or_default();
    let label = |k: &str| labels.get(k).filter(|v| !v.is_empty()).cloned();
    let compose = match (label(COMPOSE_PROJECT), label(COMPOSE_SERVICE)) {
        (Some(project), Some(service)) => Some(Compose {
            project,
            service,
            number: label(COMPOSE_NUMBER).and_then(|n| n.parse().ok()),
            oneoff: label(COMPOSE_ONEOFF).is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }),
        _ => None,
    };
    let stop_signal = match cfg.stop_signal.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            crate::event::names::parse_signal(s)
                .ok_or_else(|| format!("config.v2.json: not a signal: {s:?}"))?,
        ),
    }
    .filter(|&s| s != libc::SIGTERM as u32);
    let mode = |m: &Option<String>| Mode::parse(m.as_deref().unwrap_or(""));
    let info = DockerInfo {
        name: name.clone(),
        hostname: cfg.hostname.filter(|h| !h.is_empty()),
        stop_signal,
        // Negative or absent: dockerd's default (10 s).
        stop_timeout: cfg.stop_timeout.and_then(|t| u64::try_from(t).ok()),
        init: h.init == Some(true),
        privileged: h.privileged == Some(true),
        cap_add: h.cap_add.unwrap_or_default(),
        network: mode(&h.network_mode),
        pid: mode(&h.pid_mode),
        ipc: mode(&h.ipc_mode),
        uts: mode(&h.uts_mode),
        ports: ports(h.port_bindings.unwrap_or_default())?,
        restart: h
            .restart_policy
            .map(|r| r.name)
            .filter(|n| !n.is_empty() && n != "no"),
        restart_count: c.restart_count,
        compose: compose.clone(),
    };
    // A pod's containers join the namespaces of one of them: that one stands
    // for the pod's sandbox (outside Compose, which names the pod itself).
    let partner = [&info.network, &info.ipc, &info.pid]
        .iter()
        .find_map(|m| m.partner().map(str::to_owned));
    Ok(ContainerNames {
        runtime: Runtime::Docker,
        container: Some(compose.as_ref().map_or(name, |c| c.service.clone())),
        pod: compose.as_ref().map(|c| c.project.clone()),
        namespace: None,
        pod_uid: None,
        pod_id: compose.as_ref().map(|c| c.project.clone()),
        sandbox: false,
        sandbox_id: if compose.is_some() { None } else { partner },
        grace_period_s: info.stop_timeout,
        docker: Some(Box::new(info)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fixtures::*;

    fn names(cfg: &str, host: &str, id: &str) -> ContainerNames {
        parse(id, cfg.as_bytes(), host.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_plain_container_with_ports_init_and_stop_signal() {
        let n = names(DOCKER_WEB_CONFIG, DOCKER_WEB_HOSTCONFIG, DOCKER_WEB);
        assert_eq!(n.runtime, Runtime::Docker);
        assert_eq!(
            (n.container.as_deref(), n.pod.as_deref()),
            (Some("shop-web"), None)
        );
        let d = n.docker.as_ref().unwrap();
        assert_eq!(d.name, "shop-web");
        assert!(d.init);
        assert_eq!(d.stop_signal, Some(libc::SIGQUIT as u32));
        assert_eq!(d.stop_timeout, Some(7));
        assert_eq!(n.grace_period_s, Some(7));
        assert_eq!(
            d.ports,
            vec![PortBinding {
                container_port: 80,
                proto: "tcp".into(),
                host_ip: Some("127.0.0.1".parse().unwrap()),
                host_port: 8088,
            }]
        );
        assert_eq!(d.restart.as_deref(), Some("unless-stopped"));
        assert_eq!(d.network, Mode::Network("default".into()));
        assert_eq!(d.cap_add, vec!["NET_ADMIN".to_owned()]);
    }

    #[test]
    fn a_container_joining_another_names_it_as_its_sandbox() {
        let n = names(
            DOCKER_SIDECAR_CONFIG,
            DOCKER_SIDECAR_HOSTCONFIG,
            DOCKER_SIDECAR,
        );
        let d = n.docker.as_ref().unwrap();
        assert_eq!(d.network, Mode::Container(DOCKER_WEB.into()));
        assert_eq!(d.pid, Mode::Container(DOCKER_WEB.into()));
        assert_eq!(n.sandbox_id.as_deref(), Some(DOCKER_WEB));
        assert!(d.privileged);
        assert_eq!((d.stop_signal, d.stop_timeout, d.init), (None, None, false));
        let web = |id: &str| (id == DOCKER_WEB).then(|| "shop-web".to_owned());
        assert_eq!(
            d.sharing(web),
            vec!["network of shop-web", "pid of shop-web"]
        );
    }

    #[test]
    fn a_compose_container_is_its_projects_service() {
        let n = names(
            DOCKER_COMPOSE_CONFIG,
            DOCKER_COMPOSE_HOSTCONFIG,
            DOCKER_COMPOSE,
        );
        assert_eq!(n.container.as_deref(), Some("api"));
        assert_eq!(n.pod.as_deref(), Some("shop"));
        assert_eq!(n.pod_id.as_deref(), Some("shop"));
        assert_eq!(n.sandbox_id, None, "Compose names the pod itself");
        let d = n.docker.as_ref().unwrap();
        let c = d.compose.clone().unwrap();
        assert_eq!((c.number, c.oneoff), (Some(1), false));
        assert_eq!(d.name, "shop_api_1");
        assert_eq!(d.stop_signal, Some(libc::SIGUSR1 as u32));
        assert_eq!(d.network, Mode::Network("shop_default".into()));
        assert_eq!(d.restart, None, "Compose writes an empty policy");
    }

    /// The docker_config fuzz target's seeds are these fixtures, joined by a
    /// NUL byte as the target splits them.
    #[test]
    fn the_fuzz_seeds_are_the_fixtures() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/docker_config");
        for (seed, cfg, host, id) in [
            (
                "shop-web",
                DOCKER_WEB_CONFIG,
                DOCKER_WEB_HOSTCONFIG,
                DOCKER_WEB,
            ),
            (
                "shop-sidecar",
                DOCKER_SIDECAR_CONFIG,
                DOCKER_SIDECAR_HOSTCONFIG,
                DOCKER_SIDECAR,
            ),
            (
                "shop-api-1",
                DOCKER_COMPOSE_CONFIG,
                DOCKER_COMPOSE_HOSTCONFIG,
                DOCKER_COMPOSE,
            ),
        ] {
            let want = [cfg.as_bytes(), b"\0", host.as_bytes()].concat();
            let got = std::fs::read(format!("{dir}/{seed}.bin")).unwrap();
            assert!(got == want, "{seed}.bin differs from its fixtures");
            let at = got.iter().position(|&b| b == 0).unwrap();
            assert!(parse(id, &got[..at], &got[at + 1..]).is_ok(), "{seed}");
        }
    }

    #[test]
    fn modes_in_every_spelling() {
        for (v, want) in [
            ("", Mode::Private),
            ("private", Mode::Private),
            ("host", Mode::Host),
            ("none", Mode::Disabled),
            ("shareable", Mode::Shareable),
            ("container:abc", Mode::Container("abc".into())),
            ("default", Mode::Network("default".into())),
            ("shop_default", Mode::Network("shop_default".into())),
        ] {
            assert_eq!(Mode::parse(v), want, "{v:?}");
        }
    }

    #[test]
    fn garbled_and_truncated_files_are_errors() {
        let id = DOCKER_WEB;
        let host = DOCKER_WEB_HOSTCONFIG;
        for bad in [
            "",
            "[]",
            "{\"Name\":\"/x\"}",
            &DOCKER_WEB_CONFIG.replace(DOCKER_WEB, DOCKER_SIDECAR),
            &DOCKER_WEB_CONFIG.replace("\"/shop-web\"", "\"shop-web\""),
            &DOCKER_WEB_CONFIG.replace("\"SIGQUIT\"", "\"SIGNOPE\""),
            &DOCKER_WEB_CONFIG.replace("\"Labels\":{", "\"Labels\":{\"n\":7,"),
        ] {
            assert!(
                parse(id, bad.as_bytes(), host.as_bytes()).is_err(),
                "{bad:.80}"
            );
        }
        for bad in [
            "",
            "{\"PortBindings\":{\"http/tcp\":[]}}",
            "{\"PortBindings\":{\"80/quic\":[]}}",
            "{\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"nope\",\"HostPort\":\"1\"}]}}",
            "{\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"x\"}]}}",
            "{\"CapAdd\":\"ALL\"}",
        ] {
            assert!(
                parse(id, DOCKER_WEB_CONFIG.as_bytes(), bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
        for (cfg, host) in [
            (DOCKER_WEB_CONFIG, DOCKER_WEB_HOSTCONFIG),
            (DOCKER_COMPOSE_CONFIG, DOCKER_COMPOSE_HOSTCONFIG),
        ] {
            for cut in [1, cfg.len() / 3, cfg.len() / 2, cfg.len() - 2] {
                assert!(parse(id, &cfg.as_bytes()[..cut], host.as_bytes()).is_err());
            }
            for cut in [1, host.len() / 2, host.len() - 2] {
                assert!(parse(id, cfg.as_bytes(), &host.as_bytes()[..cut]).is_err());
            }
        }
    }

    #[test]
    fn unset_and_default_values() {
        let cfg = format!(
            "{{\"ID\":\"{DOCKER_WEB}\",\"Name\":\"/x\",\"Config\":{{\"StopSignal\":\"SIGTERM\",\"StopTimeout\":-1}}}}"
        );
        let n = names(
            &cfg,
            "{\"RestartPolicy\":{\"Name\":\"no\"},\"PortBindings\":{\"80/tcp\":null}}",
            DOCKER_WEB,
        );
        let d = n.docker.unwrap();
        assert_eq!((d.stop_signal, d.stop_timeout), (None, None));
        assert_eq!((d.restart, d.ports.len()), (None, 0));
        assert_eq!(d.network, Mode::Private);
        let cfg = format!("{{\"ID\":\"{DOCKER_WEB}\",\"Name\":\"/x\"}}");
        let n = names(
            &cfg,
            "{\"PortBindings\":{\"53/udp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"\"},{\"HostIp\":\"::1\",\"HostPort\":\"5300-5310\"}]}}",
            DOCKER_WEB,
        );
        let p = &n.docker.unwrap().ports;
        assert_eq!(
            (p[0].host_port, p[0].host_ip),
            (0, None),
            "any address, a port dockerd picks"
        );
        assert_eq!(
            (p[1].host_port, p[1].host_ip),
            (5300, Some("::1".parse().unwrap()))
        );
    }
}
