#!/bin/bash
# Builds and imports the nstrace container image (called by `cargo xtask image`).
# The rootfs holds the release binary (debug info stripped; the embedded kernel
# object is data and keeps its BTF and symbols) and exactly the shared libraries
# ldd names for it. No image is pulled: the tarball is `podman import`ed.
# Idempotent: the tarball is built reproducibly and its sha256 is an image label;
# when REPO:VERSION already carries that label, nothing is imported.
set -euo pipefail

BIN=${BIN:?BIN must name the nstrace binary}
REPO=${REPO:?REPO must name the image repository, e.g. localhost/nstrace}
VERSION=${VERSION:?VERSION must be the image version}
WORK=${WORK:?WORK must name a build directory}
ENTRYPOINT=${ENTRYPOINT:?ENTRYPOINT must be the binary path in the image}
CMD_JSON=${CMD_JSON:?CMD_JSON must be the default arguments, as a JSON array}
PORT=${PORT:?PORT must be the agent port}
ROOT=$WORK/rootfs
TAR=$WORK/rootfs.tar
IMAGE=$REPO:$VERSION

need() { command -v "$1" >/dev/null || { echo "missing: $1 (apt-get install $2)" >&2; exit 1; }; }
need podman podman
need strip binutils
need ldd libc-bin
[ -x "$BIN" ] || { echo "missing $BIN (cargo xtask build)" >&2; exit 1; }

rm -rf "$ROOT"; mkdir -p "$ROOT"
cd "$ROOT"
# Mount points the runtime fills (proc, sys, dev), scratch, and the lock's directory.
mkdir -p proc sys dev tmp etc run/nstrace "$(dirname ".$ENTRYPOINT")"
chmod 1777 tmp

cp "$BIN" ".$ENTRYPOINT"
strip --strip-debug ".$ENTRYPOINT"

# The libraries the dynamic linker will look for, at the paths ldd names (loader included).
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
  mkdir -p ".$(dirname "$lib")"
  cp -L "$lib" ".$lib"
done

cat > etc/passwd <<'EOF'
root:x:0:0:root:/:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat > etc/group <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
# The runtime bind-mounts its own over these.
: > etc/hostname; : > etc/hosts; : > etc/resolv.conf

# Reproducible tarball -> stable hash.
tar --sort=name --mtime='2020-01-01 00:00:00' --owner=0 --group=0 --numeric-owner \
    -cf "$TAR" -C "$ROOT" .
SUM=$(sha256sum "$TAR" | cut -c1-64)

label() { podman image inspect --format "{{index .Labels \"nstrace.rootfs.sha256\"}}" "$1" 2>/dev/null || true; }
OLD=
if podman image exists "$IMAGE"; then
  OLD=$(podman image inspect --format '{{.Id}}' "$IMAGE")
  if [ "$(label "$IMAGE")" = "$SUM" ]; then
    podman tag "$IMAGE" "$REPO:latest"
    echo "up to date: $IMAGE (rootfs sha256 $SUM)"
    exit 0
  fi
fi

podman import --quiet \
  --change "ENTRYPOINT [\"$ENTRYPOINT\"]" \
  --change "CMD $CMD_JSON" \
  --change "EXPOSE $PORT/tcp" \
  --change "LABEL nstrace.rootfs.sha256=$SUM" \
  --change "LABEL org.opencontainers.image.title=nstrace" \
  --change "LABEL org.opencontainers.image.version=$VERSION" \
  --change "LABEL org.opencontainers.image.description=\"nstrace node agent: Linux namespaces and PID-1 behaviour of containers and pods, from eBPF\"" \
  "$TAR" "$IMAGE" >/dev/null
podman tag "$IMAGE" "$REPO:latest"
echo "imported $IMAGE and $REPO:latest (rootfs sha256 $SUM)"

# The image these tags named before is kept only if something else still names or uses it.
if [ -n "$OLD" ] && [ "$OLD" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
  if [ -z "$(podman image inspect --format '{{join .RepoTags " "}}' "$OLD" 2>/dev/null)" ]; then
    podman rmi "$OLD" >/dev/null 2>&1 && echo "removed the previous, now untagged image ${OLD:0:12}" || true
  fi
fi
