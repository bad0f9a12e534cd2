#!/bin/sh
# The guest's script (written by `cargo xtask vmtest`; runs under tini after
# switch_root). Mounts what a node has, cgroup v2 as on today's nodes, runs
# each step with its output in /vmout/guest.log and its exit code in
# /vmout/results, and powers off. The host reads /vmout after qemu exits.
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
# The checkout and the binaries may live under /tmp or /run (a fresh clone in
# /tmp): keep each aside before the tmpfs mounts and bind it back at its path.
i=0
for p in @KEEP@; do
    mkdir -p "/.nstrace-keep/$i" && mount --bind "$p" "/.nstrace-keep/$i"
    i=$((i + 1))
done
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
i=0
for p in @KEEP@; do
    mkdir -p "$p" && mount --bind "/.nstrace-keep/$i" "$p"
    i=$((i + 1))
done
mkdir -p /vmout /run/netns
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 out /vmout; then
    echo "vm-guest: cannot mount the results share" > /dev/console
    echo o > /proc/sysrq-trigger
fi
(sleep @WATCHDOG@; echo "vm-guest: watchdog: powering off after @WATCHDOG@ s" > /dev/console; echo o > /proc/sysrq-trigger) &
exec > /vmout/guest.log 2>&1
uname -r > /vmout/uname
# The kernel's BTF, kept for comparing layouts across kernels (examples/offsets.rs).
cp /sys/kernel/btf/vmlinux /vmout/vmlinux.btf
echo "kernel $(uname -r); cgroup $(stat -f -c %T /sys/fs/cgroup); $(nproc) CPUs"
ip link set lo up
hostname nstrace-vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
export NSTRACE_BIN=@NSTRACE_BIN@ RUST_BACKTRACE=1
cd @ROOT@ || echo "vm-guest: no @ROOT@"
step() {
    name=$1; shift
    echo "== $name: $*"
    start=$(date +%s)
    "$@"
    rc=$?
    echo "== $name: exit $rc after $(( $(date +%s) - start )) s"
    echo "$name $rc" >> /vmout/results
}
@STEPS@
echo done >> /vmout/results
sync
echo o > /proc/sysrq-trigger
sleep 30
