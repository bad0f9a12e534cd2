#!/bin/bash
# Builds and imports the image the language-runtime tests run (called by `cargo xtask setup`):
# an empty merged-/usr root (bin, sbin, lib, lib64 link into /usr) whose /usr is the node's,
# mounted read-only through a hostPath volume by each pod. The programs under test (node,
# python3, nginx) are the node's own Debian packages: nothing is copied or pulled.
# Idempotent: the rootfs tarball is reproducible and its sha256 is an image label.
set -euo pipefail

IMAGE=${IMAGE:-localhost/nstrace-usr:latest}
WORK=${WORK:?WORK must name a build directory}
ROOT=$WORK/rootfs-usr
TAR=$WORK/rootfs-usr.tar

command -v podman >/dev/null || { echo "missing: podman (apt-get install podman)" >&2; exit 1; }

rm -rf "$ROOT"; mkdir -p "$ROOT"
cd "$ROOT"
mkdir -p usr etc proc sys dev tmp run root var/tmp
chmod 1777 tmp var/tmp
for d in bin sbin lib lib64; do ln -s "usr/$d" "$d"; done

write_etc

# nginx as a container's PID 1, on loopback only, writing nothing outside /tmp.
cat > etc/nginx-pid1.conf <<'NGINX'
user root;
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path /tmp/nginx-body;
    proxy_temp_path /tmp/nginx-proxy;
    fastcgi_temp_path /tmp/nginx-fastcgi;
    uwsgi_temp_path /tmp/nginx-uwsgi;
    scgi_temp_path /tmp/nginx-scgi;
    server { listen 127.0.0.1:8089; }
}
NGINX

import_rootfs
