#!/bin/sh
# Installs what building and testing kiln needs on Debian 12, as root:
# a C compiler (bundled SQLite), static busybox (base images for demos and
# tests), git, and a Rust toolchain when none is on PATH. Idempotent.
set -eu
need=""
for pkg in gcc libc6-dev busybox-static git ca-certificates curl tar; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need="$need $pkg"
done
if [ -n "$need" ]; then
  echo "setup: installing$need"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] || {
    echo "setup: installing Rust with rustup"
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
  }
fi
