# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_nstrace_global_optspecs
    string join \n h/help V/version
end

function __fish_nstrace_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_nstrace_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_nstrace_using_subcommand
    set -l cmd (__fish_nstrace_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c nstrace -n "__fish_nstrace_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nstrace -n "__fish_nstrace_needs_command" -s V -l version -d 'Print version'
complete -c nstrace -n "__fish_nstrace_needs_command" -f -a "watch" -d 'Stream namespace, process and signal events as they happen.'
complete -c nstrace -n "__fish_nstrace_needs_command" -f -a "replay" -d 'Print a record file (`watch --record`, `audit --record`) exactly as it was printed live, or its topology or audit findings.'
complete -c nstrace -n "__fish_nstrace_needs_command" -f -a "topology" -d 'Show which processes, containers and pods share which namespaces.'
complete -c nstrace -n "__fish_nstrace_needs_command" -f -a "audit" -d 'Watch for PID-1 problems, slow shutdowns, namespace joins, exec sessions into containers and port clashes; print findings and a summary.'
complete -c nstrace -n "__fish_nstrace_needs_command" -f -a "shutdown" -d 'Follow one termination and print its timeline: every signal into the container with the kernel\'s verdict, every exit, the final SIGKILL, the total, a verdict and one line of advice.'
complete -c nstrace -n "__fish_nstrace_needs_command" -f -a "agent" -d 'Run as a node agent: every detector and the live topology, for days.'
complete -c nstrace -n "__fish_nstrace_needs_command" -f -a "report" -d 'One self-contained HTML page of the node: a summary with the counters, each pod as a graph (containers, shared namespaces, network), every container\'s PID 1, every shutdown as a timeline chart, the findings (filterable) and the namespace joins.'
complete -c nstrace -n "__fish_nstrace_needs_command" -f -a "generate" -d 'Write nstrace\'s manual pages or shell completions (for packagers).'
complete -c nstrace -n "__fish_nstrace_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l format -d 'Output format' -r -f -a "text\t'For people: aligned lines (one per event, or a finding with its evidence)'
json\t'One JSON object per line (schema in the README)'"
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l pid -d 'Only this process and its descendants (repeat or comma-separate for several)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l comm -d 'Only tasks with this command name, as the kernel keeps it: at most 15 bytes (signals also match on the target\'s name, renames on the new one)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l kind -d 'Only these event kinds: create, exec, exit, reap, wait, setns, unshare, signal_generate, signal_deliver, rename, bind, sigstate (or "signal" for both signal kinds)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l signal -d 'Only these signals (TERM, SIGKILL, 15…). For watch this also sets which signals the kernel streams; default: HUP INT QUIT ABRT KILL USR1 SEGV USR2 TERM CONT STOP TSTP. Others (CHLD, URG…) are counted, not streamed' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l duration -d 'Stop after this long (e.g. 500ms, 30s, 5m, 1h; a bare number is seconds)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l ring-buffer-size -d 'Ring buffer size: a power of two of at least 4K (e.g. 256K, 8M, 64M). Events that find it full are dropped and counted, never lost silently' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l storage-root -d 'containers/storage container directories, as CRI-O and podman use them (DIR/<id>/userdata/config.json); repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l containerd-root -d 'containerd\'s task directories for Kubernetes (DIR/<id>/config.json); repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l containerd-db -d 'containerd\'s metadata database, which still holds a container\'s spec (and so its names) after containerd deleted its bundle: it does so within milliseconds of the exit of a container that lived only milliseconds; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l podman-db -d 'podman\'s state database, which names its pods and containers; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l docker-root -d 'Docker\'s data root (dockerd\'s --data-root), whose containers/<id>/ config.v2.json and hostconfig.json name Docker\'s containers and Compose projects; repeat for several. Only containers/ is read' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l moby-root -d 'containerd\'s task directories for Docker\'s `moby` namespace (DIR/<id>/config.json): dockerd on the system\'s containerd, or on the one it starts itself; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l record -d 'Also write the shown events to this record file (read it with `nstrace replay`)' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -l debug-probes -d 'Let the kernel programs say, on stderr, which kernel read failed and where (aya-log). Off by default, and then free: the programs\' log calls are removed when they are loaded'
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nstrace -n "__fish_nstrace_using_subcommand watch" -s V -l version -d 'Print version'
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l format -d 'Output format' -r -f -a "text\t'For people: aligned lines (one per event, or a finding with its evidence)'
json\t'One JSON object per line (schema in the README)'"
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l pid -d 'Only this process and its descendants (repeat or comma-separate for several)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l comm -d 'Only tasks with this command name, as the kernel keeps it: at most 15 bytes (signals also match on the target\'s name, renames on the new one)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l kind -d 'Only these event kinds: create, exec, exit, reap, wait, setns, unshare, signal_generate, signal_deliver, rename, bind, sigstate (or "signal" for both signal kinds)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l signal -d 'Only these signals (TERM, SIGKILL, 15…). For watch this also sets which signals the kernel streams; default: HUP INT QUIT ABRT KILL USR1 SEGV USR2 TERM CONT STOP TSTP. Others (CHLD, URG…) are counted, not streamed' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l topology -d 'Print the namespace topology at the end of the recording instead of the events: --topology (a tree), --topology=json or --topology=dot (the recording must be unfiltered)' -r -f -a "tree\t'Pods → containers → processes, with the sharing matrix'
json\t'One JSON document (schema in the README)'
dot\t'Graphviz: namespaces and processes, pods as clusters'"
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l zombie-after -d 'With --audit: see `audit --help`. Default: the recording\'s own (an `audit --record` keeps its settings), else 5s' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l forward-window -d 'With --audit: see `audit --help`. Default: the recording\'s own, else 2s' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l predict-after -d 'With --audit: see `audit --help`. Default: the recording\'s own, else 3s' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l fail-on -d 'With --audit: exit 1 if any finding is at or above this severity' -r -f -a "info\t'For the record'
low\t'Worth a look'
medium\t'Should be fixed'
high\t'Fix now'"
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l min-severity -d 'With --audit: print only findings at or above this severity (default as for `audit`: low in text, info in JSON)' -r -f -a "info\t'For the record'
low\t'Worth a look'
medium\t'Should be fixed'
high\t'Fix now'"
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l policy -d 'With --audit: allow rules (TOML; see `audit --help` and the README)' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -l audit -d 'Run the audit detectors over the recording (record it with `audit --record` or an unfiltered `watch --record`) and print their findings'
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nstrace -n "__fish_nstrace_using_subcommand replay" -s V -l version -d 'Print version'
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -l format -d 'Output format: tree, json or dot' -r -f -a "tree\t'Pods → containers → processes, with the sharing matrix'
json\t'One JSON document (schema in the README)'
dot\t'Graphviz: namespaces and processes, pods as clusters'"
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -l duration -d 'Trace for this long, then print (e.g. 30s, 5m)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -l ring-buffer-size -d 'Ring buffer size: a power of two of at least 4K (e.g. 256K, 8M, 64M). Events that find it full are dropped and counted, never lost silently' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -l storage-root -d 'containers/storage container directories, as CRI-O and podman use them (DIR/<id>/userdata/config.json); repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -l containerd-root -d 'containerd\'s task directories for Kubernetes (DIR/<id>/config.json); repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -l containerd-db -d 'containerd\'s metadata database, which still holds a container\'s spec (and so its names) after containerd deleted its bundle: it does so within milliseconds of the exit of a container that lived only milliseconds; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -l podman-db -d 'podman\'s state database, which names its pods and containers; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -l docker-root -d 'Docker\'s data root (dockerd\'s --data-root), whose containers/<id>/ config.v2.json and hostconfig.json name Docker\'s containers and Compose projects; repeat for several. Only containers/ is read' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -l moby-root -d 'containerd\'s task directories for Docker\'s `moby` namespace (DIR/<id>/config.json): dockerd on the system\'s containerd, or on the one it starts itself; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -l watch -d 'Keep tracing and print the topology again whenever it changes'
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -l debug-probes -d 'Let the kernel programs say, on stderr, which kernel read failed and where (aya-log). Off by default, and then free: the programs\' log calls are removed when they are loaded'
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nstrace -n "__fish_nstrace_using_subcommand topology" -s V -l version -d 'Print version'
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l format -d 'Output format' -r -f -a "text\t'For people: aligned lines (one per event, or a finding with its evidence)'
json\t'One JSON object per line (schema in the README)'"
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l duration -d 'Run for this long (default: until Ctrl-C)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l fail-on -d 'Exit 1 if any finding is at or above this severity (info, low, medium, high)' -r -f -a "info\t'For the record'
low\t'Worth a look'
medium\t'Should be fixed'
high\t'Fix now'"
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l min-severity -d 'Print only findings at or above this severity (the summary counts all). Default: low in text (info findings — routine joins by container runtimes, node administration — are summed up at the end), info in JSON' -r -f -a "info\t'For the record'
low\t'Worth a look'
medium\t'Should be fixed'
high\t'Fix now'"
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l zombie-after -d 'A zombie older than this is a finding' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l forward-window -d 'Time PID 1 has to pass SIGTERM on to its children' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l predict-after -d 'How long a container\'s PID 1 runs its program before its signal handling is judged (programs install their handlers first thing)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l ring-buffer-size -d 'Ring buffer size: a power of two of at least 4K (e.g. 256K, 8M, 64M). Events that find it full are dropped and counted, never lost silently' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l storage-root -d 'containers/storage container directories, as CRI-O and podman use them (DIR/<id>/userdata/config.json); repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l containerd-root -d 'containerd\'s task directories for Kubernetes (DIR/<id>/config.json); repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l containerd-db -d 'containerd\'s metadata database, which still holds a container\'s spec (and so its names) after containerd deleted its bundle: it does so within milliseconds of the exit of a container that lived only milliseconds; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l podman-db -d 'podman\'s state database, which names its pods and containers; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l docker-root -d 'Docker\'s data root (dockerd\'s --data-root), whose containers/<id>/ config.v2.json and hostconfig.json name Docker\'s containers and Compose projects; repeat for several. Only containers/ is read' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l moby-root -d 'containerd\'s task directories for Docker\'s `moby` namespace (DIR/<id>/config.json): dockerd on the system\'s containerd, or on the one it starts itself; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l record -d 'Record everything (snapshot, events, clock ticks) for `replay --audit`' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l policy -d 'Allow rules (TOML) for findings this site expects; matches are shown as allowed, do not count for --fail-on, and are counted per rule. See the README' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l debug-probes -d 'Let the kernel programs say, on stderr, which kernel read failed and where (aya-log). Off by default, and then free: the programs\' log calls are removed when they are loaded'
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -l once -d 'Take the /proc snapshot, print the predictions for every container init (no SIGTERM handler, not reaping), and exit: a pre-rollout check. With --fail-on medium it exits 1 when a PID 1 will drop SIGTERM'
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nstrace -n "__fish_nstrace_using_subcommand audit" -s V -l version -d 'Print version'
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -l pod -d 'The pod: NAME or NAMESPACE/NAME as the runtime names it (else its hostname), or a prefix of its id. A Compose project is a pod' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -l pid -d 'A process in a container (its PID namespace is followed)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -l container -d 'A container on any runtime: its name (the pod spec\'s, Docker\'s `shop-cart`, or a Compose service, which follows every replica of it), POD/NAME, or a prefix of its id (`docker stop shop-cart` is all a Docker user needs to know)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -l timeout -d 'Give up after this long' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -l storage-root -d 'containers/storage container directories, as CRI-O and podman use them (DIR/<id>/userdata/config.json); repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -l containerd-root -d 'containerd\'s task directories for Kubernetes (DIR/<id>/config.json); repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -l containerd-db -d 'containerd\'s metadata database, which still holds a container\'s spec (and so its names) after containerd deleted its bundle: it does so within milliseconds of the exit of a container that lived only milliseconds; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -l podman-db -d 'podman\'s state database, which names its pods and containers; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -l docker-root -d 'Docker\'s data root (dockerd\'s --data-root), whose containers/<id>/ config.v2.json and hostconfig.json name Docker\'s containers and Compose projects; repeat for several. Only containers/ is read' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -l moby-root -d 'containerd\'s task directories for Docker\'s `moby` namespace (DIR/<id>/config.json): dockerd on the system\'s containerd, or on the one it starts itself; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -l format -d 'Output format' -r -f -a "text\t'For people: aligned lines (one per event, or a finding with its evidence)'
json\t'One JSON object per line (schema in the README)'"
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nstrace -n "__fish_nstrace_using_subcommand shutdown" -s V -l version -d 'Print version'
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l listen -d 'Address of the HTTP listener (/, /metrics, /healthz, /topology)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l http-max-connections -d 'HTTP connections open at once at most; a new one closes the oldest' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l http-header-timeout -d 'Time an HTTP client has to send a request\'s head (and, on a kept-alive connection, to start its next request)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l http-idle-timeout -d 'An HTTP connection on which no byte moves for this long is closed' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l output -d 'Also append findings (JSON lines) to this file, rotated by size' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l output-max-size -d 'Rotate --output when it would pass this size (e.g. 10M, 1G)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l output-keep -d 'How many rotated files of --output to keep (FILE.1 … FILE.N)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l lock-file -d 'The lock that keeps a second agent off this node' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l series-hold -d 'How long the metric series of a pod stay after the pod is gone' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l min-severity -d 'Log only findings at or above this severity; every finding is still counted in /metrics. `info` also logs routine joins by container runtimes (otherwise only counted, in nstrace_runtime_joins_total)' -r -f -a "info\t'For the record'
low\t'Worth a look'
medium\t'Should be fixed'
high\t'Fix now'"
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l zombie-after -d 'A zombie older than this is a finding' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l forward-window -d 'Time PID 1 has to pass SIGTERM on to its children' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l predict-after -d 'How long a container\'s PID 1 runs its program before its signal handling is judged (programs install their handlers first thing)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l policy -d 'Allow rules (TOML; see `audit --help` and the README)' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l signals -l signal -d 'Also stream these signals (TERM, SIGWINCH, 28…) to processes in containers, e.g. to see them in shutdown timelines. By default the kernel streams only what the detectors read: HUP INT QUIT KILL USR1 USR2 TERM, to processes outside the node\'s PID namespace; every other signal is counted there (nstrace_signals_counted_total), not streamed' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l ring-buffer-size -d 'Ring buffer size: a power of two of at least 4K (e.g. 256K, 8M, 64M). Events that find it full are dropped and counted, never lost silently' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l storage-root -d 'containers/storage container directories, as CRI-O and podman use them (DIR/<id>/userdata/config.json); repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l containerd-root -d 'containerd\'s task directories for Kubernetes (DIR/<id>/config.json); repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l containerd-db -d 'containerd\'s metadata database, which still holds a container\'s spec (and so its names) after containerd deleted its bundle: it does so within milliseconds of the exit of a container that lived only milliseconds; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l podman-db -d 'podman\'s state database, which names its pods and containers; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l docker-root -d 'Docker\'s data root (dockerd\'s --data-root), whose containers/<id>/ config.v2.json and hostconfig.json name Docker\'s containers and Compose projects; repeat for several. Only containers/ is read' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l moby-root -d 'containerd\'s task directories for Docker\'s `moby` namespace (DIR/<id>/config.json): dockerd on the system\'s containerd, or on the one it starts itself; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l debug -d 'Also log, on stderr, one JSON line (`"level":"debug"`) for each correction of the model from /proc: a process the kernel\'s events said alive or a zombie that /proc shows gone (every correction is counted in nstrace_model_corrections_total{reason} either way)'
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -l debug-probes -d 'Let the kernel programs say, on stderr, which kernel read failed and where (aya-log). Off by default, and then free: the programs\' log calls are removed when they are loaded'
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nstrace -n "__fish_nstrace_using_subcommand agent" -s V -l version -d 'Print version'
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -s o -l output -d 'Write the report to this file (default: stdout)' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l format -d '`html` (one self-contained page) or `json` (the document it is made of)' -r -f -a "html\t'One self-contained page: graphs, timelines, tables'
json\t'The report document the page is rendered from, as one JSON object'"
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l pod -d 'Only this pod: NAME or NAMESPACE/NAME (its graph, shutdowns, findings and joins; the node\'s counters stay the whole node\'s)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l max-items -d 'Keep at most this many shutdowns, findings and pods that came and went (the latest; the rest are counted in the summary)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l duration -d 'Live: trace for this long (default: until Ctrl-C)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l record -d 'Live: also record everything, for `replay` or another report later' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l zombie-after -d 'A zombie older than this is a finding' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l forward-window -d 'Time PID 1 has to pass SIGTERM on to its children' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l predict-after -d 'How long a container\'s PID 1 runs its program before its signal handling is judged (programs install their handlers first thing)' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l policy -d 'Allow rules (TOML; see `audit --help` and the README)' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l ring-buffer-size -d 'Ring buffer size: a power of two of at least 4K (e.g. 256K, 8M, 64M). Events that find it full are dropped and counted, never lost silently' -r
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l storage-root -d 'containers/storage container directories, as CRI-O and podman use them (DIR/<id>/userdata/config.json); repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l containerd-root -d 'containerd\'s task directories for Kubernetes (DIR/<id>/config.json); repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l containerd-db -d 'containerd\'s metadata database, which still holds a container\'s spec (and so its names) after containerd deleted its bundle: it does so within milliseconds of the exit of a container that lived only milliseconds; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l podman-db -d 'podman\'s state database, which names its pods and containers; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l docker-root -d 'Docker\'s data root (dockerd\'s --data-root), whose containers/<id>/ config.v2.json and hostconfig.json name Docker\'s containers and Compose projects; repeat for several. Only containers/ is read' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l moby-root -d 'containerd\'s task directories for Docker\'s `moby` namespace (DIR/<id>/config.json): dockerd on the system\'s containerd, or on the one it starts itself; repeat for several' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -l debug-probes -d 'Let the kernel programs say, on stderr, which kernel read failed and where (aya-log). Off by default, and then free: the programs\' log calls are removed when they are loaded'
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nstrace -n "__fish_nstrace_using_subcommand report" -s V -l version -d 'Print version'
complete -c nstrace -n "__fish_nstrace_using_subcommand generate" -l dir -d 'Write into this directory (one file per page, or the shell\'s file name) instead of stdout' -r -F
complete -c nstrace -n "__fish_nstrace_using_subcommand generate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nstrace -n "__fish_nstrace_using_subcommand generate" -s V -l version -d 'Print version'
complete -c nstrace -n "__fish_nstrace_using_subcommand help; and not __fish_seen_subcommand_from watch replay topology audit shutdown agent report generate help" -f -a "watch" -d 'Stream namespace, process and signal events as they happen.'
complete -c nstrace -n "__fish_nstrace_using_subcommand help; and not __fish_seen_subcommand_from watch replay topology audit shutdown agent report generate help" -f -a "replay" -d 'Print a record file (`watch --record`, `audit --record`) exactly as it was printed live, or its topology or audit findings.'
complete -c nstrace -n "__fish_nstrace_using_subcommand help; and not __fish_seen_subcommand_from watch replay topology audit shutdown agent report generate help" -f -a "topology" -d 'Show which processes, containers and pods share which namespaces.'
complete -c nstrace -n "__fish_nstrace_using_subcommand help; and not __fish_seen_subcommand_from watch replay topology audit shutdown agent report generate help" -f -a "audit" -d 'Watch for PID-1 problems, slow shutdowns, namespace joins, exec sessions into containers and port clashes; print findings and a summary.'
complete -c nstrace -n "__fish_nstrace_using_subcommand help; and not __fish_seen_subcommand_from watch replay topology audit shutdown agent report generate help" -f -a "shutdown" -d 'Follow one termination and print its timeline: every signal into the container with the kernel\'s verdict, every exit, the final SIGKILL, the total, a verdict and one line of advice.'
complete -c nstrace -n "__fish_nstrace_using_subcommand help; and not __fish_seen_subcommand_from watch replay topology audit shutdown agent report generate help" -f -a "agent" -d 'Run as a node agent: every detector and the live topology, for days.'
complete -c nstrace -n "__fish_nstrace_using_subcommand help; and not __fish_seen_subcommand_from watch replay topology audit shutdown agent report generate help" -f -a "report" -d 'One self-contained HTML page of the node: a summary with the counters, each pod as a graph (containers, shared namespaces, network), every container\'s PID 1, every shutdown as a timeline chart, the findings (filterable) and the namespace joins.'
complete -c nstrace -n "__fish_nstrace_using_subcommand help; and not __fish_seen_subcommand_from watch replay topology audit shutdown agent report generate help" -f -a "generate" -d 'Write nstrace\'s manual pages or shell completions (for packagers).'
complete -c nstrace -n "__fish_nstrace_using_subcommand help; and not __fish_seen_subcommand_from watch replay topology audit shutdown agent report generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
