#!/bin/sh
# README command 1: build kiln, make a busybox base image with `kiln
# import`, build examples/hello (two stages) and run it. Offline after
# set-up. Uses its own store (KILN_ROOT, default /var/lib/kiln-demo).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked
kiln=./target/x86_64-unknown-linux-gnu/release/kiln  # see .cargo/config.toml
install -m 0755 "$kiln" /usr/local/bin/kiln
export KILN_ROOT="${KILN_ROOT:-/var/lib/kiln-demo}"
rootfs=$(mktemp --suffix=.tar)
trap 'rm -f "$rootfs"' EXIT
./scripts/busybox-rootfs.sh "$rootfs"
echo "== kiln import busybox"
$kiln import "$rootfs" busybox:latest
echo "== kiln build -t hello:1 examples/hello"
$kiln build -t hello:1 examples/hello
echo "== kiln images"
$kiln images
echo "== kiln run --rm hello:1"
$kiln run --rm hello:1
