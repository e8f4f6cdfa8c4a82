#!/bin/sh
# README command 2 (and CI): the whole test suite. Installs what it needs,
# checks formatting and lints, runs every crate's unit tests, the
# conformance vectors and the integration tests that drive the real
# binary. Exits non-zero on any failure.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
PATH="$HOME/.cargo/bin:$PATH"
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
log=$(mktemp)
rc=$(mktemp)
trap 'rm -f "$log" "$rc"' EXIT
# POSIX sh has no pipefail: cargo's status travels through a file. The
# `||` keeps `set -e` from ending the group before the status is written;
# a missing status counts as a failure.
{ cargo test --workspace --locked --no-fail-fast 2>&1 && echo 0 >"$rc" || echo $? >"$rc"; } | tee "$log"
status=$(cat "$rc")
status=${status:-1}
# `cargo test` prints one result line per test binary; sum them up.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i; if ($(i+1) ~ /^ignored;?$/) g += $i } }
     /^[a-z]+ tests: [0-9]+ run, [0-9]+ failed/ { p += $3 - $5; f += $5 }
     END { printf "\n== summary: %d passed, %d failed, %d ignored\n", p, f, g }' "$log"
echo "== conformance (BuildKit's own vectors)"
cargo test -q -p kiln-parser --locked --test shell_conformance --test parser_conformance -- --nocapture 2>&1 \
  | grep -E "(passed|rejected)$" | sed "s/^[.]*//" || true
grep -h "skipped:" "$log" | sort | uniq -c || true
echo "== fuzz (60 s per target)"
./scripts/fuzz.sh 60 || status=1
exit $status
