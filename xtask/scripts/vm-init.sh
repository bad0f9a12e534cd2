#!/bin/busybox sh
# The initramfs /init of `cargo xtask vmtest` guests (busybox-static only).
# Loads the 9p and overlay modules of the kernel under test, mounts the host's
# root read-only over 9p with a tmpfs overlay on top, and switch_roots into it
# to run the guest script, which comes in this initramfs (/guest.sh): no host
# path, which may hold spaces, on the kernel command line.
bb=/bin/busybox
$bb mkdir -p /proc /sys /dev /ro /rw /newroot
$bb mount -t proc proc /proc
$bb mount -t sysfs sys /sys
$bb mount -t devtmpfs dev /dev
say() { echo "vm-init: $*" > /dev/console; }
for m in $($bb cat /modules); do
    $bb insmod "/lib/modules/$m" || say "insmod $m failed"
done
$bb mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=loose,ro hostroot /ro || say "mounting the host root over 9p failed"
$bb mount -t tmpfs -o size=1g tmpfs /rw
$bb mkdir -p /rw/upper /rw/work
$bb mount -t overlay overlay -o lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work /newroot || say "overlay failed"
for d in proc sys dev; do $bb mount --move /$d /newroot/$d || say "moving /$d failed"; done
$bb cp /guest.sh /newroot/.nstrace-guest.sh || say "copying the guest script failed"
# tini reaps what the scenarios orphan, as a node's init does.
exec $bb switch_root /newroot /usr/bin/tini -s -- /bin/sh /.nstrace-guest.sh
