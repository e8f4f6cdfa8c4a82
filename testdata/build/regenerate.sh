#!/bin/sh
# Regenerates the goldens of the differential build corpus from docker's
# BuildKit (Debian's docker.io, 20.10): every case directory here gets a
# config.json and a rootfs.txt, then its golden.patch (hand edits where
# today's BuildKit differs from 20.10's, explained in the case's notes).
# Also rewrites the binary fixtures (tarballs) the cases use.
#
# Usage: testdata/build/regenerate.sh [CASE...]   (as root; no network
# needed once docker.io, zstd and busybox-static are installed)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
docker=/usr/bin/docker

need() {
  command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || {
    echo "regenerate.sh: installing $2" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  }
}
need "$docker" docker.io
need zstd zstd
need patch patch
need /bin/busybox busybox-static

python3 "$here/golden.py" fixtures

work=$(mktemp -d /tmp/kiln-golden.XXXXXX)
sock="$work/docker.sock"
export DOCKER_HOST="unix://$sock"
stop() {
  if [ -f "$work/dockerd.pid" ]; then
    kill "$(cat "$work/dockerd.pid")" 2>/dev/null || true
    i=0
    while [ -f "$work/dockerd.pid" ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
  fi
  # containerd's shims and mounts go with the daemon; what is left is data.
  umount -R "$work/root" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT INT TERM

dockerd --iptables=false --bridge=none --data-root "$work/root" \
  --exec-root "$work/exec" --pidfile "$work/dockerd.pid" -H "$DOCKER_HOST" \
  >"$work/dockerd.log" 2>&1 &
i=0
until "$docker" version >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 150 ]; then
    cat "$work/dockerd.log" >&2
    echo "regenerate.sh: dockerd did not start" >&2
    exit 1
  fi
  sleep 0.2
done

"$repo/scripts/busybox-rootfs.sh" "$work/busybox.tar"
# The config `kiln import` gives a root filesystem (ImageConfig::scratch):
# PATH and WorkingDir "/", so that both builders start from the same image.
"$docker" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'WORKDIR /' \
  "$work/busybox.tar" busybox:latest >/dev/null

DOCKER="$docker" python3 "$here/golden.py" build "$@"
