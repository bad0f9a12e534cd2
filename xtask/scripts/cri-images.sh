#!/bin/bash
# The images the containerd-CRI tests import into each containerd they start
# (called by `cargo xtask setup` and, for the agent's image, `cargo xtask test`).
# Builds the pause image (Debian's static catatonit in pause mode, the sandbox
# every CRI pod starts with) into podman's store like the test image, then saves
# each image of IMAGES as a docker-archive OUT/<name>.tar, which `ctr images
# import` reads. No image is pulled. Idempotent: an archive is written again only
# when its image's id changed (the id is kept in OUT/<name>.id).
set -euo pipefail

OUT=${OUT:?OUT must name the archive directory}
PAUSE=${PAUSE:?PAUSE must name the pause image}
IMAGES=${IMAGES:?IMAGES must list the images to save}
WORK=$OUT/pause-rootfs
mkdir -p "$OUT"

[ -x /usr/bin/catatonit ] || { echo "missing /usr/bin/catatonit (apt-get install catatonit)" >&2; exit 1; }
if ldd /usr/bin/catatonit >/dev/null 2>&1; then echo "/usr/bin/catatonit is not static" >&2; exit 1; fi

rm -rf "$WORK"; mkdir -p "$WORK"/{proc,sys,dev,etc}
cp /usr/bin/catatonit "$WORK/catatonit"
: > "$WORK/etc/hostname"; : > "$WORK/etc/hosts"; : > "$WORK/etc/resolv.conf"
tar --sort=name --mtime='2020-01-01 00:00:00' --owner=0 --group=0 --numeric-owner \
    -cf "$OUT/pause-rootfs.tar" -C "$WORK" .
rm -rf "$WORK"
SUM=$(sha256sum "$OUT/pause-rootfs.tar" | cut -c1-64)
if ! podman image exists "$PAUSE" ||
   [ "$(podman image inspect --format '{{index .Labels "nstrace.rootfs.sha256"}}' "$PAUSE")" != "$SUM" ]; then
  # -P: catatonit's pause mode (it only reaps and waits for a signal), what the kubelet's pause does.
  podman import --quiet \
    --change 'ENTRYPOINT ["/catatonit", "-P"]' \
    --change "LABEL nstrace.rootfs.sha256=$SUM" \
    "$OUT/pause-rootfs.tar" "$PAUSE" >/dev/null
  echo "imported $PAUSE (rootfs sha256 $SUM)"
fi
rm -f "$OUT/pause-rootfs.tar"

for image in $IMAGES; do
  name=${image##*/}; name=${name%%:*}
  id=$(podman image inspect --format '{{.Id}}' "$image")
  if [ -f "$OUT/$name.tar" ] && [ "$(cat "$OUT/$name.id" 2>/dev/null)" = "$id" ]; then
    continue
  fi
  rm -f "$OUT/$name.tar" "$OUT/$name.id"
  podman save --quiet --format docker-archive -o "$OUT/$name.tar" "$image"
  echo "$id" > "$OUT/$name.id"
  echo "saved $image for containerd ($OUT/$name.tar)"
done
