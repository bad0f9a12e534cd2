//! Every JSON document nstrace prints, as serde wire types in one module:
//! event lines, findings and the audit summary, the topology document and
//! shutdown timelines. Field order here is the order on the wire (and in the
//! README); the types borrow from the model so rendering copies little.

use std::borrow::Cow;

use serde::ser::{SerializeMap, Serializer};
use std::collections::BTreeMap;

use serde::Serialize;

use nstrace_common::NsSet;

/// A namespace set as an object of inode numbers, keyed by type name.
pub struct NsObj<'a>(pub &'a NsSet);

impl Serialize for NsObj<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(9))?;
        for (t, ino) in self.0.iter() {
            m.serialize_entry(t.name(), &ino)?;
        }
        m.end()
    }
}

/// A map whose keys keep the order they were given in.
pub struct Ordered<K, V>(pub Vec<(K, V)>);

impl<K: Serialize, V: Serialize> Serialize for Ordered<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A correction of the model from /proc, as the agent logs it at debug.
#[derive(Serialize)]
pub struct CorrectionLine<'a> {
    /// `debug`.
    pub level: &'static str,
    /// What happened.
    pub msg: &'static str,
    /// When /proc was read (RFC 3339).
    pub time: String,
    /// What the model had missed (`reap_missed`, `exit_missed`, `pid_reused`).
    pub reason: &'static str,
    /// The process.
    pub pid: u32,
    /// Its command.
    pub comm: &'a str,
    /// /proc still has it, as a zombie (it was marked so, not removed).
    pub still_zombie: bool,
    /// Its pod's namespace (empty on the node).
    pub namespace: &'a str,
    /// Its pod.
    pub pod: &'a str,
    /// Its container.
    pub container: String,
}

/// Appends `v` as one JSON line to `out`.
pub fn line<T: Serialize>(out: &mut Vec<u8>, v: &T) {
    // Serialising these types into memory cannot fail: no map has non-string keys.
    serde_json::to_writer(&mut *out, v).expect("wire types serialise");
    out.push(b'\n');
}

/// `v` as one JSON line.
pub fn to_line<T: Serialize>(v: &T) -> String {
    let mut out = Vec::with_capacity(256);
    line(&mut out, v);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

// ---- events ---------------------------------------------------------------

/// One event line: the common header, then the kind's own fields.
#[derive(Serialize)]
pub struct EventLine<'a> {
    /// Kind name.
    pub kind: &'static str,
    /// RFC 3339 wall time.
    pub time: String,
    /// Monotonic ns.
    pub ts_ns: u64,
    /// Node pid.
    pub pid: u32,
    /// Node tid.
    pub tid: u32,
    /// Parent pid.
    pub ppid: u32,
    /// Pid inside its own PID namespace.
    pub ns_pid: u32,
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Command.
    pub comm: Cow<'a, str>,
    /// Namespaces.
    pub ns: NsObj<'a>,
    /// Header flag names.
    pub flags: Vec<&'static str>,
    /// The kind's fields.
    #[serde(flatten)]
    pub body: EventBody<'a>,
}

/// The fields of one kind of event.
#[derive(Serialize)]
#[serde(untagged)]
pub enum EventBody<'a> {
    /// `create`.
    Create {
        /// fork / vfork / thread.
        create: &'static str,
        /// Raw clone flags.
        clone_flags: u64,
        /// Creator tgid.
        creator_pid: u32,
        /// Creator tid.
        creator_tid: u32,
        /// Creator's effective capabilities.
        cap_effective: u64,
        /// CLONE_NEW* names.
        new_namespaces: Vec<Cow<'static, str>>,
        /// Creator's namespaces.
        creator_ns: NsObj<'a>,
        /// Types differing between creator and child.
        changed: Vec<&'static str>,
    },
    /// `exec`.
    Exec {
        /// Path asked for.
        filename: Cow<'a, str>,
        /// The last directories of its cgroup path, as the kernel gave them.
        cgroup: String,
        /// The program's arguments (argv[0] first).
        argv: Vec<String>,
        /// They were longer than the record keeps: the last one is cut.
        argv_truncated: bool,
        /// It has a controlling terminal.
        tty: bool,
        /// Its effective capabilities after the exec.
        cap_effective: u64,
    },
    /// `exit`.
    Exit {
        /// Raw wait status.
        exit_code: u32,
        /// Exit status.
        status: u32,
        /// Killing signal (0 if it exited).
        signal: u32,
        /// Last thread of the process.
        group_dead: bool,
    },
    /// `reap`.
    Reap {
        /// Final wait status.
        exit_code: u32,
    },
    /// `waited`.
    Waited {
        /// wait4 / waitid.
        syscall: &'static str,
        /// The released child, as the waiter's PID namespace numbers it.
        reaped_pid: i32,
        /// Its raw wait status (null when the waiter asked for none).
        exit_code: Option<u32>,
    },
    /// `wait`.
    Wait {
        /// wait4 / waitid.
        syscall: &'static str,
        /// Pid argument.
        wait_pid: i32,
        /// Options.
        options: u32,
        /// waitid idtype.
        idtype: u32,
    },
    /// `setns`.
    Setns {
        /// fd argument.
        fd: i32,
        /// nstype argument.
        nstype: u64,
        /// Flag names.
        flag_names: Vec<Cow<'static, str>>,
        /// Return value.
        ret: i32,
        /// Caller's effective capabilities.
        cap_effective: u64,
        /// Inode behind the fd.
        target_inode: u32,
        /// errno name.
        error: Option<Cow<'static, str>>,
        /// Namespaces before.
        before: NsObj<'a>,
        /// Types the call moved.
        changed: Vec<&'static str>,
    },
    /// `unshare`.
    Unshare {
        /// Flags argument.
        unshare_flags: u64,
        /// Flag names.
        flag_names: Vec<Cow<'static, str>>,
        /// Return value.
        ret: i32,
        /// Caller's effective capabilities.
        cap_effective: u64,
        /// errno name.
        error: Option<Cow<'static, str>>,
        /// Namespaces before.
        before: NsObj<'a>,
        /// Types the call moved.
        changed: Vec<&'static str>,
    },
    /// `signal_generate`.
    SignalGenerate {
        /// Number.
        signal: u32,
        /// Name.
        signal_name: Cow<'static, str>,
        /// Verdict value.
        result: u32,
        /// Sent to the thread group.
        group: bool,
        /// siginfo si_code.
        si_code: i32,
        /// Target tgid.
        target_pid: u32,
        /// Target tid.
        target_tid: u32,
        /// Target pid in its namespace.
        target_ns_pid: u32,
        /// Verdict name.
        result_name: &'static str,
        /// Target command.
        target_comm: Cow<'a, str>,
        /// Target namespaces.
        target_ns: NsObj<'a>,
    },
    /// `signal_deliver`.
    SignalDeliver {
        /// Number.
        signal: u32,
        /// Name.
        signal_name: Cow<'static, str>,
        /// default / ignore / installed.
        handler: &'static str,
        /// Handler address.
        handler_addr: u64,
        /// sa_flags.
        sa_flags: u64,
        /// The kernel drops it here: the default action at a PID-namespace init.
        dropped: bool,
    },
    /// `sigstate`: a namespace init's or subreaper's dispositions, from the kernel.
    SigState {
        /// Why it was read: 1 at start, 2 rt_sigaction, 3 rt_sigprocmask, 4 signalfd4, 5 rt_sigtimedwait.
        reason: u32,
        /// A child subreaper.
        subreaper: bool,
        /// Signals with a handler (bit n-1 is signal n).
        caught: u64,
        /// Signals set to SIG_IGN.
        ignored: u64,
        /// The blocked mask.
        blocked: u64,
        /// The mask before an `rt_sigtimedwait` under way (0 otherwise).
        real_blocked: u64,
        /// Signals it takes itself (signalfd, sigtimedwait).
        taken: u64,
        /// SIGTERM's handler flags.
        sigterm_flags: u32,
        /// Every handler's flags, signals 1..=32.
        sa_flags: Vec<u32>,
    },
    /// `rename`.
    Rename {
        /// Name now.
        new_comm: Cow<'a, str>,
    },
    /// `bind`.
    Bind {
        /// "tcp", "udp", "sctp", … (from the socket's type and protocol).
        transport: Cow<'static, str>,
        /// "inet" or "inet6".
        family: &'static str,
        /// The address asked for.
        addr: String,
        /// The port asked for.
        port: u16,
        /// Socket type name.
        sock_type: Cow<'static, str>,
        /// Socket protocol number.
        protocol: u16,
        /// The socket's fd.
        fd: i32,
        /// Return value.
        ret: i32,
        /// errno name.
        error: Option<Cow<'static, str>>,
        /// The network namespace whose port space the address was asked in.
        port_space: u32,
        /// Whether that is the node's.
        node_port_space: bool,
    },
}

// ---- findings -------------------------------------------------------------

/// One finding line.
#[derive(Serialize)]
pub struct FindingLine<'a> {
    /// Kind name.
    pub finding: &'static str,
    /// Severity name.
    pub severity: &'static str,
    /// RFC 3339 wall time.
    pub time: String,
    /// Monotonic ns.
    pub ts_ns: u64,
    /// Node pid.
    pub pid: u32,
    /// PID namespace inode.
    pub pid_ns: u32,
    /// Command.
    pub comm: &'a str,
    /// Pod name.
    pub pod: Option<&'a str>,
    /// Pod's Kubernetes namespace.
    pub namespace: Option<&'a str>,
    /// Container id.
    pub container: Option<&'a str>,
    /// Container name in the pod spec.
    pub container_name: Option<&'a str>,
    /// Allowing rule.
    pub allowed_by: Option<&'a str>,
    /// The classified join, for join findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join: Option<JoinWire<'a>>,
    /// Present (true) on a line that withdraws an earlier prediction.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resolved: bool,
    /// The clash, for `port_conflict` findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_conflict: Option<PortConflictWire<'a>>,
    /// The session, for `exec_session` findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionWire<'a>>,
    /// The probe, for `exec_probe` findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_probe: Option<ProbeWire<'a>>,
    /// The attachment, for `debug_container` findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug_container: Option<AttachWire<'a>>,
    /// One sentence.
    pub summary: String,
    /// Supporting facts.
    pub evidence: Vec<String>,
}

/// A place: its class, pod, container, named netns and words.
#[derive(Serialize)]
pub struct PlaceWire<'a> {
    /// Class name.
    pub class: &'static str,
    /// Pod name.
    pub pod: Option<&'a str>,
    /// Pod's Kubernetes namespace.
    pub namespace: Option<&'a str>,
    /// Container id.
    pub container: Option<&'a str>,
    /// Container name in the pod spec.
    pub container_name: Option<&'a str>,
    /// Named netns.
    pub netns: Option<&'a str>,
    /// In words.
    pub text: String,
}

/// A join's actor.
#[derive(Serialize)]
pub struct ActorWire<'a> {
    /// Node pid.
    pub pid: u32,
    /// Command.
    pub comm: &'a str,
    /// Executable.
    pub exe: &'a str,
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Effective capabilities, bit n = capability n.
    pub cap_effective: u64,
    /// The same in words.
    pub caps: String,
    /// Where it lived before the call.
    pub place: PlaceWire<'a>,
}

/// One target of a join.
#[derive(Serialize)]
pub struct TargetWire<'a> {
    /// Namespace type.
    #[serde(rename = "type")]
    pub ns_type: &'static str,
    /// Inode.
    pub inode: u32,
    /// Who lives there.
    pub place: PlaceWire<'a>,
}

/// A classified join.
#[derive(Serialize)]
pub struct JoinWire<'a> {
    /// Who.
    pub actor: ActorWire<'a>,
    /// Syscall.
    pub action: &'static str,
    /// Flag names.
    pub flags: Vec<Cow<'static, str>>,
    /// setns's fd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fd: Option<i32>,
    /// clone's child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_pid: Option<u32>,
    /// Into what.
    pub targets: Vec<TargetWire<'a>>,
    /// Return value.
    pub ret: i32,
    /// "ok" or errno name.
    pub result: String,
    /// Why it is expected.
    pub expected: Option<String>,
}

/// A port clash.
#[derive(Serialize)]
pub struct PortConflictWire<'a> {
    /// "tcp" or "udp".
    pub proto: &'static str,
    /// The port.
    pub port: u16,
    /// The network namespace whose port space it is.
    pub netns: u32,
    /// It is the node's (hostNetwork).
    pub node_network: bool,
    /// `sibling_container`, `same_container`, `node`, `other_pod`, `unknown`.
    pub relation: &'static str,
    /// The loser is Docker publishing a container's port (`-p`): docker-proxy,
    /// or dockerd reserving it with the userland proxy off.
    pub published: bool,
    /// Who held the port (was first), or null when not found.
    pub first: Option<PartyWire<'a>>,
    /// Whose bind was refused.
    pub then: PartyWire<'a>,
    /// `lookup` (right after the refusal), `bind_events` (traced), `none`.
    pub holder_found_by: &'static str,
}

/// One side of a port clash.
#[derive(Serialize)]
pub struct PartyWire<'a> {
    /// Node pid.
    pub pid: u32,
    /// Command.
    pub comm: &'a str,
    /// The address bound or asked for.
    pub addr: String,
    /// Where it lives.
    pub place: PlaceWire<'a>,
    /// When its bind was traced (monotonic ns), or null.
    pub bound_ts_ns: Option<u64>,
}

/// A process above the program that entered a container.
#[derive(Serialize)]
pub struct CallerWire<'a> {
    /// Node pid.
    pub pid: u32,
    /// Command.
    pub comm: &'a str,
}

/// The program that entered a container (or started one).
#[derive(Serialize)]
pub struct EntrantWire<'a> {
    /// Node pid.
    pub pid: u32,
    /// Command (`runc:[1:CHILD]`, `nsenter`).
    pub comm: &'a str,
    /// The tool (`runc`, `crun`, `nsenter`).
    pub tool: &'a str,
    /// Executable.
    pub exe: &'a str,
    /// Real uid.
    pub uid: u32,
    /// Effective capabilities at its first setns.
    pub cap_effective: u64,
    /// The same in words.
    pub caps: String,
    /// Where it lived.
    pub place: PlaceWire<'a>,
}

/// A namespace joined.
#[derive(Serialize)]
pub struct JoinedWire {
    /// Type.
    #[serde(rename = "type")]
    pub ns_type: &'static str,
    /// Inode.
    pub inode: u32,
}

/// A process of a session.
#[derive(Serialize)]
pub struct SessionProcessWire<'a> {
    /// Node pid.
    pub pid: u32,
    /// Command.
    pub comm: &'a str,
    /// Its exec's arguments (empty when it exec'd nothing of its own).
    pub argv: &'a [String],
}

/// An exec session.
#[derive(Serialize)]
pub struct SessionWire<'a> {
    /// The container entered.
    pub container: PlaceWire<'a>,
    /// The engine (`podman`, `containerd`, `docker`, `cri-o`) or tool (`nsenter`).
    pub runtime: &'a str,
    /// Who entered.
    pub entered_by: EntrantWire<'a>,
    /// Its callers, nearest first.
    pub callers: Vec<CallerWire<'a>>,
    /// The namespaces it joined, in order.
    pub joined: Vec<JoinedWire>,
    /// The command (argv of the first exec inside).
    pub argv: &'a [String],
    /// The exec record cut it.
    pub argv_truncated: bool,
    /// The executable asked for.
    pub exe: &'a str,
    /// uid.
    pub uid: u32,
    /// euid.
    pub euid: u32,
    /// Effective capabilities of the command.
    pub cap_effective: u64,
    /// The same in words.
    pub caps: String,
    /// It has a controlling terminal.
    pub tty: bool,
    /// A terminal, or a shell without `-c`.
    pub interactive: bool,
    /// The processes it started (at most 16), the first one first.
    pub processes: Vec<SessionProcessWire<'a>>,
    /// How many it started in all.
    pub processes_total: usize,
    /// Its first setns (monotonic ns).
    pub start_ts_ns: u64,
    /// The command's exec.
    pub exec_ts_ns: u64,
    /// Its end, or null while it runs.
    pub end_ts_ns: Option<u64>,
    /// Seconds from its first setns to its end (or to now, while it runs).
    pub duration_s: f64,
    /// Its first process's wait status, or null.
    pub exit_code: Option<u32>,
    /// The kubelet's preStop hook (a SIGTERM to the container's PID 1 followed it).
    pub pre_stop: bool,
}

/// An exec probe.
#[derive(Serialize)]
pub struct ProbeWire<'a> {
    /// The container.
    pub container: PlaceWire<'a>,
    /// The command.
    pub argv: &'a [String],
    /// The engine.
    pub runtime: &'a str,
    /// The tool that enters for it.
    pub tool: &'a str,
    /// Its callers, nearest first.
    pub callers: Vec<CallerWire<'a>>,
    /// uid.
    pub uid: u32,
    /// Effective capabilities.
    pub cap_effective: u64,
    /// The same in words.
    pub caps: String,
    /// Its period.
    pub period_s: f64,
    /// Runs seen when it was recognised.
    pub runs: u64,
}

/// A container started into another container's namespaces.
#[derive(Serialize)]
pub struct AttachWire<'a> {
    /// The new container.
    pub container: PlaceWire<'a>,
    /// Its first process.
    pub pid: u32,
    /// Its command.
    pub argv: &'a [String],
    /// Its uid.
    pub uid: u32,
    /// Its effective capabilities.
    pub cap_effective: u64,
    /// The same in words.
    pub caps: String,
    /// The container it attached to.
    pub target: PlaceWire<'a>,
    /// The target's namespaces it shares (`pid`, `net`).
    pub shares: Vec<&'static str>,
    /// The engine.
    pub runtime: &'a str,
    /// Who started it.
    pub started_by: EntrantWire<'a>,
    /// Its callers, nearest first.
    pub callers: Vec<CallerWire<'a>>,
}

/// The audit's closing line.
#[derive(Serialize)]
pub struct SummaryLine<'a> {
    /// The counts.
    pub summary: SummaryWire<'a>,
}

/// Counts of an audit.
#[derive(Serialize)]
pub struct SummaryWire<'a> {
    /// Findings not allowed by policy.
    pub findings: usize,
    /// Findings allowed by policy.
    pub allowed: usize,
    /// Per kind.
    pub by_kind: Ordered<&'static str, usize>,
    /// Per severity.
    pub by_severity: Ordered<&'static str, usize>,
    /// Per policy rule, in rule order.
    pub policy_hits: Ordered<&'a str, usize>,
    /// Lasting zombies per PID namespace.
    pub zombies_by_pid_ns: Ordered<String, usize>,
    /// What the audit looked at: a run with no finding is only worth as
    /// much as what it watched.
    pub watched: WatchedWire<'a>,
    /// Exec probes recognised, and their runs (counted, not reported).
    pub exec_probes: ExecProbesWire,
}

/// Exec probes of an audit.
#[derive(Serialize)]
pub struct ExecProbesWire {
    /// Commands recognised as probes.
    pub probes: usize,
    /// Their runs.
    pub runs: u64,
}

/// What an audit watched.
#[derive(Serialize)]
pub struct WatchedWire<'a> {
    /// Ids of the containers it saw running, sorted.
    pub containers: &'a [String],
    /// The names the runtime gave those it could name: id → name.
    pub names: &'a BTreeMap<String, String>,
    /// PID-namespace inits (node pids) whose signal handling it judged.
    pub inits: &'a [u32],
    /// Processes it saw reap a child (node pids): their reaping was watched.
    pub reapers: &'a [u32],
    /// Container shutdowns it followed from SIGTERM to the end.
    pub shutdowns: usize,
}

// ---- topology -------------------------------------------------------------

/// The topology document.
#[derive(Serialize)]
pub struct TopologyDoc<'a> {
    /// The node.
    pub node: NodeWire<'a>,
    /// Pods.
    pub pods: Vec<PodWire<'a>>,
    /// Containers in no pod.
    pub lone_containers: Vec<ContainerWire<'a>>,
    /// Other namespaces.
    pub namespaces: Vec<PlainWire<'a>>,
}

/// The node.
#[derive(Serialize)]
pub struct NodeWire<'a> {
    /// Hostname.
    pub hostname: &'a str,
    /// Its namespaces.
    pub ns: NsObj<'a>,
    /// Processes in the node's namespaces only.
    pub processes: usize,
}

/// A pod.
#[derive(Serialize)]
pub struct PodWire<'a> {
    /// Name (the runtime's, else its hostname).
    pub name: &'a str,
    /// Kubernetes namespace, when the runtime's files say.
    pub namespace: Option<&'a str>,
    /// Kubernetes uid, when the runtime's files say.
    pub uid: Option<&'a str>,
    /// Id.
    pub id: Option<&'a str>,
    /// Its infra container.
    pub infra: Option<InfraWire<'a>>,
    /// hostNetwork, hostPID, hostIPC, shareProcessNamespace.
    pub flags: PodFlags,
    /// Sharing per namespace type.
    pub sharing: Ordered<&'static str, &'static str>,
    /// Containers.
    pub containers: Vec<ContainerWire<'a>>,
    /// Its network namespace: wiring and listeners (null when unknown).
    pub network: Option<NetworkWire<'a>>,
}

/// The network of a pod, lone container or network namespace.
#[derive(Serialize)]
pub struct NetworkWire<'a> {
    /// Network namespace inode.
    pub netns: u32,
    /// It is the node's (hostNetwork): only its own listeners are listed.
    pub node_network: bool,
    /// Whether it was read (false: not yet, or it could not be).
    pub read: bool,
    /// The main address (first global IPv4, else global IPv6).
    pub ip: Option<String>,
    /// `lo` is up.
    pub lo_up: bool,
    /// Interfaces.
    pub interfaces: Vec<InterfaceWire<'a>>,
    /// Listening sockets.
    pub listeners: Vec<ListenerWire<'a>>,
    /// Why it could not be read.
    pub error: Option<&'a str>,
}

/// One interface.
#[derive(Serialize)]
pub struct InterfaceWire<'a> {
    /// Name.
    pub name: &'a str,
    /// ifindex in its namespace.
    pub index: u32,
    /// Kind (`veth`, `loopback`, `macvlan`, `ipvlan`, `device`…).
    pub kind: &'a str,
    /// Up.
    pub up: bool,
    /// Ethernet address.
    pub mac: Option<&'a str>,
    /// `ADDR/PREFIX`, IPv4 and IPv6.
    pub addrs: Vec<String>,
    /// A veth's other end on the node.
    pub peer: Option<PeerWire<'a>>,
    /// Where another kind of link goes, in words.
    pub link: Option<&'a str>,
}

/// The node side of a veth.
#[derive(Serialize)]
pub struct PeerWire<'a> {
    /// Its name on the node.
    pub ifname: &'a str,
    /// Its ifindex on the node.
    pub ifindex: u32,
    /// Up.
    pub up: bool,
    /// The bridge it is on.
    pub bridge: Option<BridgeWire<'a>>,
}

/// A bridge (or other master) on the node.
#[derive(Serialize)]
pub struct BridgeWire<'a> {
    /// Name.
    pub name: &'a str,
    /// ifindex on the node.
    pub index: u32,
    /// Kind.
    pub kind: &'a str,
    /// Up.
    pub up: bool,
    /// `ADDR/PREFIX`.
    pub addrs: Vec<String>,
}

/// A listening socket.
#[derive(Serialize)]
pub struct ListenerWire<'a> {
    /// "tcp" or "udp".
    pub proto: &'static str,
    /// "ipv4" or "ipv6".
    pub family: &'static str,
    /// Local address (`0.0.0.0`, `::` for any).
    pub addr: String,
    /// Port.
    pub port: u16,
    /// Reachable as localhost within the namespace.
    pub localhost: bool,
    /// Socket inode.
    pub inode: u64,
    /// Processes holding it.
    pub owners: Vec<OwnerWire<'a>>,
}

/// A process holding a socket.
#[derive(Serialize)]
pub struct OwnerWire<'a> {
    /// Node pid.
    pub pid: u32,
    /// Command.
    pub comm: &'a str,
    /// Container id, when in a container of the namespace.
    pub container: Option<&'a str>,
    /// Container name, when known.
    pub container_name: Option<&'a str>,
}

/// A pod's infra container, briefly.
#[derive(Serialize)]
pub struct InfraWire<'a> {
    /// Container id.
    pub container: &'a str,
    /// Its init's pid.
    pub pid: u32,
    /// Its init's command.
    pub comm: &'a str,
}

/// A pod's Kubernetes-style flags.
#[derive(Serialize)]
#[allow(non_snake_case)]
pub struct PodFlags {
    /// Net is the node's.
    pub hostNetwork: bool,
    /// Pid is the node's.
    pub hostPID: bool,
    /// Ipc is the node's.
    pub hostIPC: bool,
    /// All containers share one non-node PID namespace.
    pub shareProcessNamespace: bool,
}

/// A container.
#[derive(Serialize)]
pub struct ContainerWire<'a> {
    /// Id.
    pub id: &'a str,
    /// Name in the pod spec, when the runtime's files say.
    pub name: Option<&'a str>,
    /// Whether the id came from the runtime.
    pub runtime_id: bool,
    /// The runtime whose files name it (`podman`, `containerd`, `cri-o`, `docker`), or null.
    pub runtime: Option<&'static str>,
    /// Whether it is the pod's infra.
    pub infra: bool,
    /// Its init.
    pub init: ProcWire<'a>,
    /// Which init that is ("tini -g", "sh (a shell)", "java").
    pub init_kind: &'a str,
    /// The command of the init's first child.
    pub init_child: Option<&'a str>,
    /// What its init does with SIGTERM, as /proc last showed it (`handled`,
    /// `ignored`, `blocked (waited for)`, `default`, `unknown`).
    pub init_sigterm: &'static str,
    /// UTS hostname.
    pub hostname: Option<&'a str>,
    /// Its init's namespaces.
    pub ns: NsObj<'a>,
    /// Its processes.
    pub processes: Vec<ProcWire<'a>>,
    /// A lone container's network (absent for a pod's containers: see the pod's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkWire<'a>>,
    /// What Docker's files say of it (Docker containers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerWire<'a>>,
}

/// A Docker container's settings, in pod language where Kubernetes has words.
#[derive(Serialize)]
pub struct DockerWire<'a> {
    /// Docker's name (`shop-cart`; Compose 1.x's `shop_web_1`).
    pub name: &'a str,
    /// Its Compose project (the pod) and service (the container).
    pub compose: Option<ComposeWire<'a>>,
    /// Namespaces shared with the node or another container:
    /// `hostNetwork`, `hostPID`, `hostIPC`, `hostUTS`, `network of web`,
    /// `pid of web`, `ipc of web`, `no network`.
    pub sharing: &'a [String],
    /// `--init`: docker-init (tini) is its PID 1.
    pub init: bool,
    /// `--privileged`.
    pub privileged: bool,
    /// `--cap-add`.
    pub cap_add: &'a [String],
    /// The signal `docker stop` sends first, when not SIGTERM (`SIGQUIT`).
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds; null: dockerd's default, 10 s.
    pub stop_timeout_s: Option<u64>,
    /// Restart policy (`always`, `unless-stopped`, `on-failure`); null for none.
    pub restart: Option<&'a str>,
    /// Restarts dockerd made under that policy.
    pub restart_count: u64,
    /// Published ports, each as it stands on the node.
    pub published: Vec<PublishedWire>,
}

/// A Compose project's container.
#[derive(Serialize)]
pub struct ComposeWire<'a> {
    /// Project.
    pub project: &'a str,
    /// Service.
    pub service: &'a str,
    /// Replica number.
    pub number: Option<u32>,
    /// A `docker-compose run` container.
    pub oneoff: bool,
}

/// A published port (`-p`) and what holds it on the node.
#[derive(Serialize)]
pub struct PublishedWire {
    /// `node 127.0.0.1:8088/tcp → web:80`.
    pub mapping: String,
    /// `tcp`, `udp`, `sctp`.
    pub proto: String,
    /// The node address (null: every address).
    pub host_ip: Option<String>,
    /// The node port.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// The node process holding it (docker-proxy, or another: a conflict).
    pub holder_pid: Option<u32>,
    /// Its command.
    pub holder_comm: Option<String>,
    /// Held by Docker: its userland proxy, or dockerd reserving the port.
    pub by_proxy: bool,
    /// Held by another process: a `port_conflict`.
    pub conflict: bool,
    /// The node's listeners were read.
    pub checked: bool,
}

/// A process.
#[derive(Serialize)]
pub struct ProcWire<'a> {
    /// Node pid.
    pub pid: u32,
    /// Parent.
    pub ppid: u32,
    /// Pid inside.
    pub ns_pid: u32,
    /// Command.
    pub comm: &'a str,
    /// Exited, not reaped.
    pub zombie: bool,
    /// Namespaces.
    pub ns: NsObj<'a>,
}

/// A namespace outside containers.
#[derive(Serialize)]
pub struct PlainWire<'a> {
    /// Type.
    #[serde(rename = "type")]
    pub ns_type: &'static str,
    /// Inode.
    pub inode: u32,
    /// Its processes.
    pub processes: Vec<ProcWire<'a>>,
    /// What pins it.
    pub pinned_by: &'a [String],
    /// Its processes see the node's /proc.
    pub shares_node_mnt: bool,
    /// A network namespace's wiring and listeners (absent for other types).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkWire<'a>>,
}

// ---- shutdown -------------------------------------------------------------

/// One shutdown timeline.
#[derive(Serialize)]
pub struct TimelineDoc<'a> {
    /// What shut down.
    pub shutdown: &'a str,
    /// Its PID namespace.
    pub pid_ns: u32,
    /// PID 1's node pid.
    pub init_pid: u32,
    /// PID 1's command.
    pub init_comm: &'a str,
    /// t0 (monotonic ns).
    pub start_ts_ns: u64,
    /// Seconds from t0 to the last exit.
    pub total_s: f64,
    /// Ended by SIGKILL.
    pub killed: bool,
    /// The grace period the orchestrator set, where its runtime records it (s).
    pub grace_period_s: Option<u64>,
    /// When the runtime's SIGKILL reached PID 1, after t0 (s): the grace period used.
    pub sigkill_after_s: Option<f64>,
    /// The verdict in words.
    pub verdict: String,
    /// Advice (empty when clean).
    pub advice: String,
    /// Killed by the kernel without a graceful signal.
    pub killed_without_warning: Vec<PidComm<'a>>,
    /// How Docker stopped it (Docker containers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerStopWire<'a>>,
    /// Every step.
    pub steps: Vec<StepWire<'a>>,
}

/// A `docker stop`.
#[derive(Serialize)]
pub struct DockerStopWire<'a> {
    /// `dockerd → containerd → containerd-shim 812 → runc kill 4410`.
    pub chain: String,
    /// The sender of the first signal and its parents (runc, containerd-shim).
    pub sender_chain: Vec<PidComm<'a>>,
    /// The signal the stop began with (`TERM`, or the stop signal: `QUIT`…).
    pub stop_signal: std::borrow::Cow<'static, str>,
    /// `--stop-timeout`, if the container set one.
    pub stop_timeout_s: Option<u64>,
    /// dockerd's default (10 s) was in force unless `docker stop -t` said otherwise.
    pub default_stop_timeout: bool,
}

/// A pid and its command.
#[derive(Serialize)]
pub struct PidComm<'a> {
    /// Pid.
    pub pid: u32,
    /// Command.
    pub comm: Cow<'a, str>,
}

/// One step of a timeline.
#[derive(Serialize)]
#[serde(untagged)]
pub enum StepWire<'a> {
    /// A signal.
    Signal {
        /// Seconds since t0.
        t: f64,
        /// "signal".
        step: &'static str,
        /// Signal name.
        signal: Cow<'static, str>,
        /// Sender pid.
        from_pid: u32,
        /// Sender command.
        from_comm: &'a str,
        /// Target pid.
        to_pid: u32,
        /// Target command.
        to_comm: &'a str,
        /// Target is PID 1.
        to_pid1: bool,
        /// The kernel's teardown kill.
        by_kernel: bool,
        /// Verdict name.
        result: &'static str,
    },
    /// A delivery: the receiver dequeued the signal to act on it.
    Deliver {
        /// Seconds since t0.
        t: f64,
        /// "deliver".
        step: &'static str,
        /// Signal name.
        signal: Cow<'static, str>,
        /// Receiver pid.
        pid: u32,
        /// Receiver command.
        comm: &'a str,
        /// Receiver is PID 1.
        to_pid1: bool,
        /// "default", "ignore" or "installed".
        handler: &'static str,
        /// The handler resets itself to the default (SA_RESETHAND).
        resethand: bool,
        /// The kernel dropped it there (the default action at a namespace's init).
        dropped: bool,
    },
    /// The preStop hook's start or end (before t0, or after it when the hook ran on).
    Hook {
        /// Seconds since t0 (negative before the first SIGTERM).
        t: f64,
        /// "prestop_start" or "prestop_end".
        step: &'static str,
        /// The hook's pid.
        pid: u32,
        /// Its command.
        comm: &'a str,
        /// How it ended (`prestop_end` only).
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<String>,
    },
    /// An exit.
    Exit {
        /// Seconds since t0.
        t: f64,
        /// "exit".
        step: &'static str,
        /// Pid.
        pid: u32,
        /// Command.
        comm: &'a str,
        /// Exit status in words.
        status: String,
    },
}

/// The closing line of a pod's shutdown with several PID namespaces.
#[derive(Serialize)]
pub struct ShutdownTotal<'a> {
    /// What shut down.
    pub shutdown_total: &'a str,
    /// Seconds from the first SIGTERM to the last exit.
    pub total_s: f64,
    /// PID namespaces followed.
    pub containers: usize,
    /// How many ended by SIGKILL.
    pub killed: usize,
}

// ---- counters and the report --------------------------------------------

/// The run's counters: what was received, and everything not streamed or lost.
#[derive(Serialize)]
pub struct CountersWire {
    /// Events received from the kernel.
    pub received: u64,
    /// Events the kernel dropped (ring buffer full), all kinds.
    pub dropped: u64,
    /// The same per event kind (kinds with drops only).
    pub dropped_by_kind: Ordered<&'static str, u64>,
    /// Kernel reads that failed (the events were sent, flagged).
    pub read_failures: u64,
    /// setns/unshare exits whose entry was not seen.
    pub unpaired_exits: u64,
    /// Records userspace could not decode.
    pub undecodable: u64,
    /// Signals counted in the kernel, not streamed (filtered by number).
    pub signals_counted: u64,
    /// Container names looked up: found, no file, unreadable, garbled.
    pub name_lookups: Ordered<&'static str, u64>,
    /// Container inits' signal dispositions read from /proc.
    pub signal_reads: u64,
    /// Network namespaces read, reads that failed, port-holder lookups.
    pub net: Ordered<&'static str, u64>,
}

/// The report: what `nstrace report` renders as one HTML page (and prints
/// with `--format json`), and what the agent serves at `/`. The same wire
/// types as every other JSON document, put together.
#[derive(Serialize)]
pub struct ReportDoc<'a> {
    /// What the report covers.
    pub report: ReportMetaWire<'a>,
    /// The node, and the run's counters.
    pub node: NodeSummaryWire<'a>,
    /// The topology at the end (live: now).
    pub topology: TopologyDoc<'a>,
    /// Pods seen during the run and gone at its end, as last seen (newest last).
    pub gone_pods: Vec<PodWire<'a>>,
    /// Shutdown timelines (newest last).
    pub shutdowns: Vec<TimelineDoc<'a>>,
    /// Findings (newest last); routine joins by container runtimes are counted in `routine_joins`.
    pub findings: Vec<FindingLine<'a>>,
    /// Routine joins by container runtimes, per runtime: counted, not listed.
    pub routine_joins: Ordered<&'a str, usize>,
    /// Counts over the whole run (also of what the bounds left out).
    pub summary: SummaryWire<'a>,
}

/// What a report covers and how it was made.
#[derive(Serialize)]
pub struct ReportMetaWire<'a> {
    /// `recording`, `live` or `agent`.
    pub source: &'static str,
    /// The recording's path, for a recording.
    pub file: Option<&'a str>,
    /// The pod it is narrowed to (`--pod`), if any.
    pub pod: Option<&'a str>,
    /// RFC 3339: the first and last moment covered.
    pub start: String,
    /// RFC 3339.
    pub end: String,
    /// Seconds between them.
    pub duration_s: f64,
    /// What the bounds left out: counted here, not shown.
    pub omitted: OmittedWire,
}

/// What a report's bounds left out.
#[derive(Serialize)]
pub struct OmittedWire {
    /// Pods gone before the end, beyond the last ones kept.
    pub gone_pods: usize,
    /// Shutdowns, beyond the last ones kept.
    pub shutdowns: usize,
    /// Findings, beyond the last ones kept.
    pub findings: usize,
    /// Pods, findings and shutdowns of other pods (`--pod`).
    pub other_pods: usize,
}

/// The node, for the report's summary.
#[derive(Serialize)]
pub struct NodeSummaryWire<'a> {
    /// Hostname.
    pub hostname: &'a str,
    /// Kernel release.
    pub kernel: &'a str,
    /// Container runtimes whose files named a container, sorted.
    pub runtimes: Vec<&'static str>,
    /// The counters (null when the run has none: a recording cut short).
    pub counters: Option<CountersWire>,
}

/// Seconds with microsecond precision, as the timelines print them.
pub fn seconds(ns: u64) -> f64 {
    (ns as f64 / 1e3).round() / 1e6
}

/// Signed nanoseconds as seconds, to the microsecond.
pub fn seconds_signed(ns: i64) -> f64 {
    (ns as f64 / 1e3).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_orders() {
        #[derive(Serialize)]
        struct T<'a> {
            b: &'a str,
            a: Ordered<&'a str, u32>,
        }
        let s = to_line(&T {
            b: "a\"b\\c\nd\u{1}",
            a: Ordered(vec![("z", 1), ("y", 2)]),
        });
        assert_eq!(
            s,
            "{\"b\":\"a\\\"b\\\\c\\nd\\u0001\",\"a\":{\"z\":1,\"y\":2}}\n"
        );
        let ns = NsSet::from_array([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(
            serde_json::to_string(&NsObj(&ns)).unwrap(),
            "{\"mnt\":1,\"uts\":2,\"ipc\":3,\"pid\":4,\"pid_for_children\":5,\"net\":6,\"user\":7,\"cgroup\":8,\"time\":9}"
        );
        assert_eq!(seconds(5_011_234_567), 5.011235);
    }
}
