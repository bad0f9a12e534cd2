#!/bin/bash
# Builds and imports the local image the pod tests run (called by `cargo xtask setup`).
# Idempotent: the rootfs tarball is built reproducibly and its sha256 is stored as
# an image label; if an image with the same label exists, nothing is imported.
# No network: everything comes from Debian packages already installed
# (busybox-static, tini, dumb-init, catatonit).
set -euo pipefail

IMAGE=${IMAGE:-localhost/nstrace-busybox:latest}
WORK=${WORK:?WORK must name a build directory}
ROOT=$WORK/rootfs
TAR=$WORK/rootfs.tar

need() { command -v "$1" >/dev/null || { echo "missing: $1 (apt-get install $2)" >&2; exit 1; }; }
need podman podman
[ -x /bin/busybox ] || { echo "missing /bin/busybox (apt-get install busybox-static)" >&2; exit 1; }
# busybox-static's /bin/busybox needs no libraries (ldd says so on stderr and fails).
if ldd /bin/busybox >/dev/null 2>&1; then echo "/bin/busybox is not static (install busybox-static)" >&2; exit 1; fi
[ -x /usr/bin/tini-static ] || { echo "missing /usr/bin/tini-static (apt-get install tini)" >&2; exit 1; }
[ -x /usr/bin/dumb-init ] || { echo "missing /usr/bin/dumb-init (apt-get install dumb-init)" >&2; exit 1; }
[ -x /usr/bin/catatonit ] || { echo "missing /usr/bin/catatonit (apt-get install catatonit)" >&2; exit 1; }

rm -rf "$ROOT"; mkdir -p "$ROOT"
cd "$ROOT"
mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev tmp run var/log root lib64 lib/x86_64-linux-gnu
chmod 1777 tmp

# busybox + one symlink per applet in /bin
cp /bin/busybox bin/busybox
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] && continue
  ln -sf busybox "bin/$a"
done

# tini: the static build, under both names (tini-static is what "docker run --init" uses)
cp /usr/bin/tini-static usr/bin/tini-static
ln -sf tini-static usr/bin/tini

# catatonit: podman's init, statically linked in Debian
cp /usr/bin/catatonit usr/bin/catatonit

# dumb-init: Debian ships it dynamically linked against libc only: copy the libs ldd names
cp /usr/bin/dumb-init usr/bin/dumb-init
for lib in $(ldd /usr/bin/dumb-init | grep -o '/[^ ]*'); do
  mkdir -p ".$(dirname "$lib")"
  cp -L "$lib" ".$lib"
done

write_etc

import_rootfs
