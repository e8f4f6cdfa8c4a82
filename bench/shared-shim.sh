#!/bin/sh
# KILN= for ../shared/bench. That harness resets a tool before each cold build
# with `kiln prune -a -f` (falling back to `kiln prune`, then ignoring the
# failure); kiln has no prune command yet, so without this shim every "cold"
# kiln build after the first would be served from the cache. Here `prune`
# empties the store (KILN_ROOT, which must be a store of its own for the
# benchmark) and imports the base image again; everything else goes to the real
# binary.
#
#   KILN_REAL=/work/main/target/x86_64-unknown-linux-gnu/release/kiln KILN_ROOT=/var/tmp/kiln-shared-bench \
#   KILN_BASE_TAR=../shared/bench/state/benchbase-rootfs.tar \
#   KILN=$PWD/bench/shared-shim.sh ../shared/bench/run.sh --quick --tools buildkit,kiln
set -eu
real=${KILN_REAL:?set KILN_REAL to the kiln binary}
case "${1:-}" in
  prune)
    root=${KILN_ROOT:?set KILN_ROOT to a store used only by the benchmark}
    # Only ever remove something that is a kiln store (or nothing at all).
    if [ -e "$root" ] && [ ! -e "$root/meta.db" ] && [ -n "$(ls -A "$root")" ]; then
      echo "shared-shim: $root is not a kiln store; not removing it" >&2
      exit 1
    fi
    rm -rf "$root"
    exec "$real" import "${KILN_BASE_TAR:?set KILN_BASE_TAR to the base rootfs tarball}" \
      "${KILN_BASE:-benchbase:1}" >/dev/null
    ;;
  *) exec "$real" "$@" ;;
esac
