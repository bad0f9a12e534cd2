# import_rootfs: the directory $ROOT as podman image $IMAGE, through the tarball $TAR.
# The tarball is reproducible (sorted, fixed times and owners), so its sha256 says
# whether the image already holds this root: then nothing is imported again.
# Sourced ahead of mkimage.sh and mkimage-usr.sh (xtask/src/setup.rs).

# write_etc: the /etc both images need, in the current directory (their root):
# root and nobody, and the files a runtime bind-mounts over.
write_etc() {
  mkdir -p etc
  cat > etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
  cat > etc/group <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
  : > etc/hostname; : > etc/hosts; : > etc/resolv.conf
}

import_rootfs() {
  tar --sort=name --mtime='2020-01-01 00:00:00' --owner=0 --group=0 --numeric-owner \
      -cf "$TAR" -C "$ROOT" .
  local sum
  sum=$(sha256sum "$TAR" | cut -c1-64)
  if podman image exists "$IMAGE" &&
     [ "$(podman image inspect --format '{{index .Labels "nstrace.rootfs.sha256"}}' "$IMAGE")" = "$sum" ]; then
    return 0
  fi
  podman import --quiet \
    --change 'CMD ["/bin/sh"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL nstrace.rootfs.sha256=$sum" \
    "$TAR" "$IMAGE" >/dev/null
  echo "imported $IMAGE (rootfs sha256 $sum)"
}
