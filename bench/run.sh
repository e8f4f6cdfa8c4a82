#!/usr/bin/env bash
# kiln's own benchmarks: kiln against the floor of the same work done with plain
# tools (../shared/bench compares kiln with BuildKit and other builders).
#
#   bench/run.sh [--reps N] [--quick] [--only noop,steps,parallel] [--out FILE] [--keep]
#
#   noop      no-op rebuild of a 10-step Dockerfile over a generated 10,000-file context
#             vs `tar -c ctx | sha256sum`
#   steps     50 sequential `RUN true`, cold: total / 50 per step, and the marginal
#             cost (50 steps - 1 step) / 49, vs 50 x `unshare -mpfun --mount-proc true`
#   parallel  4 stages each `RUN sleep 2`, a final COPY --from each, cold: time / 2 s
#             (with the default --jobs, and with --jobs 4)
#
# Prints a table of medians and ratios; never asserts. Needs root. Builds kiln in
# release unless KILN=/path/to/kiln is set; every build uses a temporary store.
# Environment: KILN, BENCH_WORK (scratch, default /var/tmp), BENCH_STATE (generated
# contexts, kept between runs, default /var/tmp/kiln-bench-state), GENTREE (default
# ../shared/bench/lib/gentree.py), BENCH_NO_APT=1 (do not apt-get install hyperfine).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
REPS=5
QUICK=0
ONLY=noop,steps,parallel
OUT=
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --reps)  REPS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --only)  ONLY=$2; shift 2 ;;
    --out)   OUT=$2; shift 2 ;;
    --keep)  KEEP=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "bench/run.sh must run as root (kiln builds in namespaces)" >&2; exit 1; }
[ "$QUICK" = 1 ] && [ "$REPS" = 5 ] && REPS=3

FILES=10000
BYTES=100000000
STEPS=50
SLEEP=2

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# kiln ------------------------------------------------------------------------------
if [ -z "${KILN:-}" ]; then
  log "cargo build --release --bin kiln"
  (cd "$REPO" && cargo build --release --quiet --bin kiln)
  KILN="$REPO/target/x86_64-unknown-linux-gnu/release/kiln"
fi
[ -x "$KILN" ] || { echo "no kiln binary at $KILN" >&2; exit 1; }

# timing tool: hyperfine if present (or installable), else a loop with medians --------
if ! command -v hyperfine >/dev/null 2>&1 && [ "${BENCH_NO_APT:-0}" != 1 ] \
   && command -v apt-get >/dev/null 2>&1; then
  log "installing hyperfine"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null 2>&1 \
    || log "apt-get install hyperfine failed; timing with a shell loop"
fi
HYPERFINE=$(command -v hyperfine || true)

# scratch: a temporary store per cold build, the contexts ------------------------------
WORK="$(mktemp -d "${BENCH_WORK:-/var/tmp}/kiln-bench.XXXXXX")"
STATE="${BENCH_STATE:-/var/tmp/kiln-bench-state}"
mkdir -p "$STATE"
cleanup() { [ "$KEEP" = 1 ] && log "kept $WORK" || rm -rf "$WORK"; }
trap cleanup EXIT
export KILN WORK
export KILN_ROOT="$WORK/store"
TSV="$WORK/results.tsv"
: >"$TSV"

# The base image: busybox-static, laid out like ../shared/bench's benchbase:1.
BASE_TAR="$STATE/benchbase-rootfs.tar"
if [ ! -s "$BASE_TAR" ]; then
  BB=$(command -v busybox || true)
  [ -n "$BB" ] && ! ldd "$BB" >/dev/null 2>&1 || { echo "need a static busybox (apt install busybox-static)" >&2; exit 1; }
  root="$WORK/rootfs"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,var/tmp}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  cp "$BB" "$root/bin/busybox"
  "$BB" --list-full | while read -r applet; do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$BASE_TAR.tmp" .
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  rm -rf "$root"
fi
export BASE_TAR
# fresh_store: an empty store holding only the base image (untimed, before a cold build).
fresh_store() { rm -rf "$KILN_ROOT" && "$KILN" import "$BASE_TAR" benchbase:1 >/dev/null; }
export -f fresh_store
fresh_store

# measure ID LABEL PREPARE CMD: runs CMD $REPS times after one warm-up, PREPARE (untimed)
# before each; appends "ID<TAB>LABEL<TAB>median<TAB>min<TAB>max<TAB>n" to $TSV.
measure() {
  local id=$1 label=$2 prepare=$3 cmd=$4
  log "$label"
  if [ -n "$HYPERFINE" ]; then
    "$HYPERFINE" --shell=bash --style=none --warmup 1 --runs "$REPS" \
      ${prepare:+--prepare "$prepare"} --export-json "$WORK/$id.json" "$cmd" >/dev/null
    python3 - "$WORK/$id.json" "$id" "$label" >>"$TSV" <<'EOF'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"][0]["times"]
print("\t".join([sys.argv[2], sys.argv[3], "%.4f" % statistics.median(r),
                 "%.4f" % min(r), "%.4f" % max(r), str(len(r))]))
EOF
  else
    local i t0 t1 times=()
    for i in $(seq 0 "$REPS"); do
      [ -z "$prepare" ] || bash -c "$prepare"
      t0=$(date +%s.%N); bash -c "$cmd" >/dev/null 2>&1; t1=$(date +%s.%N)
      [ "$i" = 0 ] || times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')")
    done
    printf '%s\n' "${times[@]}" | python3 -c '
import statistics, sys
r = [float(x) for x in sys.stdin]
print("\t".join([sys.argv[1], sys.argv[2], "%.4f" % statistics.median(r),
                 "%.4f" % min(r), "%.4f" % max(r), str(len(r))]))' "$id" "$label" >>"$TSV"
  fi
}
# get ID: the median of a measurement.
get() { awk -F'\t' -v id="$1" '$1 == id { print $3 }' "$TSV"; }
NOTES=()

WL="$HERE/workloads"
has() { [[ ",$ONLY," == *",$1,"* ]]; }

# (a) no-op rebuild ----------------------------------------------------------------
if has noop; then
  GENTREE="${GENTREE:-$REPO/../shared/bench/lib/gentree.py}"
  CTX="$STATE/ctx-noop"
  want="--files $FILES --bytes $BYTES --seed 1"
  if [ "$(cat "$CTX.args" 2>/dev/null)" != "$want" ]; then
    [ -f "$GENTREE" ] || { echo "no gentree.py at $GENTREE (set GENTREE=)" >&2; exit 1; }
    log "generating the context ($want)"
    rm -rf "$CTX" "$CTX.tmp"
    # shellcheck disable=SC2086
    python3 "$GENTREE" "$CTX.tmp" $want
    mv "$CTX.tmp" "$CTX" && echo "$want" >"$CTX.args"
  fi
  export CTX NOOP="$WL/noop.Dockerfile"
  measure noop-floor "floor: tar -c ctx | sha256sum" "" 'tar -C "$CTX" -c . | sha256sum'
  fresh_store
  t0=$(date +%s.%N)
  "$KILN" build --progress plain -t bench-noop -f "$NOOP" "$CTX" >"$WORK/noop-cold.log" 2>&1
  t1=$(date +%s.%N)
  NOTES+=("no-op: the cold build took $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s")
  measure noop "no-op rebuild, 10 steps, $FILES files" "" \
    '"$KILN" build --progress plain -t bench-noop -f "$NOOP" "$CTX"'
  "$KILN" build --progress plain -t bench-noop -f "$NOOP" "$CTX" >"$WORK/noop-check.log" 2>&1
  steps=$(grep -oE '^#[0-9]+ \[[0-9]+/[0-9]+\]' "$WORK/noop-check.log" | sort -u | wc -l)
  cached=$(grep -cE '^#[0-9]+ CACHED' "$WORK/noop-check.log" || true)
  read_note=$(grep -oE 'transferring context: [^ ]+' "$WORK/noop-check.log" | head -1 || true)
  NOTES+=("no-op: the last rebuild showed $cached of $steps steps CACHED (${read_note:-no context line})")
fi

# (b) per-step overhead --------------------------------------------------------------
if has steps; then
  export STEPSF="$WL/steps.Dockerfile" ONEF="$WL/one-step.Dockerfile" EMPTY="$WORK/empty"
  mkdir -p "$EMPTY"
  measure steps-floor "floor: $STEPS x unshare -mpfun --mount-proc true" "" \
    'for i in $(seq 1 '"$STEPS"'); do unshare -mpfun --mount-proc true || exit 1; done'
  measure steps "$STEPS x RUN true, cold" fresh_store \
    '"$KILN" build --progress plain -t bench-steps -f "$STEPSF" "$EMPTY"'
  measure one-step "1 x RUN true, cold" fresh_store \
    '"$KILN" build --progress plain -t bench-one -f "$ONEF" "$EMPTY"'
fi

# (c) parallel stages ---------------------------------------------------------------
if has parallel; then
  export PARF="$WL/parallel.Dockerfile" EMPTY="$WORK/empty"
  mkdir -p "$EMPTY"
  measure parallel "4 parallel sleep-$SLEEP stages, cold" fresh_store \
    '"$KILN" build --progress plain -t bench-par -f "$PARF" "$EMPTY"'
  # The default --jobs is the number of CPUs; sleeping steps need no CPU.
  measure parallel-j4 "4 parallel sleep-$SLEEP stages, cold, --jobs 4" fresh_store \
    '"$KILN" build --progress plain --jobs 4 -t bench-par -f "$PARF" "$EMPTY"'
fi

# report ----------------------------------------------------------------------------
{
  echo "kiln bench, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(hostname -s 2>/dev/null || echo host)"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
       "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r),"\
       "scratch fs $(stat -f -c %T "$WORK")"
  echo "kiln: $KILN ($("$KILN" --version 2>&1 | head -1); git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' +local changes'))"
  echo "timing: ${HYPERFINE:+hyperfine, }$REPS runs after 1 warm-up, medians (s)"
  echo
  echo "| measure | median s | min s | max s | n | ratio |"
  echo "|---|---|---|---|---|---|"
  while IFS=$'\t' read -r id label med min max n; do
    ratio="—"
    case "$id" in
      noop)     f=$(get noop-floor);  [ -n "$f" ] && ratio=$(awk -v a="$med" -v b="$f" 'BEGIN{printf "%.2f x floor", a/b}') ;;
      steps)    f=$(get steps-floor); [ -n "$f" ] && ratio=$(awk -v a="$med" -v b="$f" -v s="$STEPS" 'BEGIN{printf "%.1f ms/step; %.2f x floor", 1000*a/s, a/b}') ;;
      steps-floor) ratio=$(awk -v a="$med" -v s="$STEPS" 'BEGIN{printf "%.1f ms/step", 1000*a/s}') ;;
      one-step) s=$(get steps); [ -n "$s" ] && ratio=$(awk -v a="$med" -v b="$s" -v n="$STEPS" 'BEGIN{printf "marginal %.1f ms/step = (%d steps - 1) / %d", 1000*(b-a)/(n-1), n, n-1}') ;;
      parallel*) ratio=$(awk -v a="$med" -v c="$SLEEP" 'BEGIN{printf "%.3f x critical path (%d s)", a/c, c}') ;;
    esac
    echo "| ${label//|/\\|} | $med | $min | $max | $n | $ratio |"
  done <"$TSV"
  echo
  for n in "${NOTES[@]}"; do echo "- $n"; done
} | tee "${OUT:-/dev/null}"
