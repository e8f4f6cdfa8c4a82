#!/bin/sh
# Fuzzes the Dockerfile front end: `scripts/fuzz.sh [SECONDS] [TARGET...]`
# runs each cargo-fuzz target in fuzz/ (default: dockerfile, lower and shell) for
# SECONDS (default 60) with libFuzzer, after seeding fuzz/corpus/<target>
# from BuildKit's parser and shell vectors in ../shared/conformance.
# Installs cargo-fuzz from crates.io when it is missing. Exits non-zero on
# any crash, timeout or out-of-memory, printing the reproducer's path and
# its bytes. The corpus and artifacts stay (git ignores them), so later
# runs start from what earlier runs found.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-dockerfile lower shell}
PATH="$HOME/.cargo/bin:$PATH"
vectors="$root/../shared/conformance/buildkit"

command -v g++ >/dev/null 2>&1 || {
  echo "fuzz: installing g++ (libFuzzer is C++)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
}
cargo fuzz --version >/dev/null 2>&1 || {
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
}

# Seeds: whole Dockerfiles for the dockerfile target, one shell vector per
# file for the shell target (option byte 0, the word, then the env the
# conformance test uses). Rewritten every run; libFuzzer adds its finds
# beside them under content-hash names.
seed() {
  dcorp="$root/fuzz/corpus/dockerfile"
  scorp="$root/fuzz/corpus/shell"
  mkdir -p "$dcorp" "$scorp"
  for f in "$vectors"/parser/testfiles*/*/Dockerfile "$root"/examples/*/Dockerfile; do
    [ -f "$f" ] || continue
    cp "$f" "$dcorp/seed-$(basename "$(dirname "$f")")"
  done
  # Forms the BuildKit vectors lack: heredocs, flags, escape=`, ONBUILD.
  cat >"$dcorp/seed-kiln-heredocs" <<'SEED'
# syntax=docker/dockerfile:1
ARG BASE=alpine
FROM ${BASE:-scratch} AS build
ENV A=1 B="two words" C=${A:+set}
RUN <<EOT bash -e
echo "$A ${B%% *}"
EOT
COPY --chmod=644 <<-"X" <<Y /out/
	literal $A
	X
expanded ${B/two/2}
Y
RUN --mount=type=cache,target=/root/.cache --network=none cat <<EOF > /f && \
    true
body
EOF
SEED
  # Lowering paths: build args (as kiln.arg.* labels, see the lower
  # target), ONBUILD triggers run by `FROM trig`, mounts, stages.
  cat >"$dcorp/seed-kiln-lower" <<'SEED'
ARG SOURCE_DATE_EPOCH=1700000000
ARG BASE=trig
FROM ${BASE}:1 AS one
LABEL kiln.arg.V=2 kiln.arg.SOURCE_DATE_EPOCH=5
ONBUILD RUN --mount=type=cache,target=/c echo $V
ONBUILD COPY --from=two /x /y
ARG V=1
ENV P=${V:+set} Q="${V%%.*}"
WORKDIR rel/../dir
USER 1000:1000
RUN --mount=type=secret,id=tok,env=TOK --mount=type=tmpfs,target=/t,size=1m \
    --mount=type=bind,from=two,source=/x,target=/x,rw true
STOPSIGNAL SIGRTMIN+3
EXPOSE 80/tcp 53/udp 8000-8001
HEALTHCHECK --interval=1s CMD true
FROM missing AS two
FROM one
COPY --chown=app:app --chmod=u+x,g=r --from=one --parents --exclude=*.md a* /d/
ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 https://example.invalid/f /f
SHELL ["/bin/bash", "-c"]
CMD run it
SEED
  cat >"$dcorp/seed-kiln-escape" <<'SEED'
# escape=`
FROM scratch
ARG V=a\b
WORKDIR C:\app`
  \sub
COPY --from=build --chown=1:1 --link --exclude=*.md ["a b", "c:\\d"]
ADD --checksum=sha256:00 --keep-git-dir=true https://x/y.git /src
ONBUILD RUN echo ${V//\\/\/}
HEALTHCHECK --interval=30s --timeout=1m --start-period=5s --retries=3 CMD ["true"]
SHELL ["/bin/sh", "-c"]
STOPSIGNAL SIGTERM
EXPOSE 80/tcp 443
VOLUME ["/data"]
USER ${U:-1000}:${G-1000}
LABEL a=b "c d"=e
MAINTAINER someone
ENTRYPOINT exec "$0" "$@"
CMD []
SEED
  s=0
  env_var="PWD=/home
SHELL=bash
KOREAN=한국어
NULL="
  if [ -f "$vectors/shell/envVarTest" ]; then
    # `A|word|expected`: the word is field 2, trimmed.
    while IFS= read -r line; do
      case "$line" in [AU]\|*) ;; *) continue ;; esac
      word=$(printf '%s\n' "$line" | awk -F'|' '{ sub(/^[ \t]+/, "", $2); sub(/[ \t]+$/, "", $2); print $2 }')
      s=$((s + 1))
      { printf '\000%s\n%s' "$word" "$env_var"; } >"$scorp/seed-env-$s"
      printf 'FROM scratch\nARG PWD=/home\nENV SHELL=bash NULL=\nWORKDIR %s\n' "$word" >"$dcorp/seed-env-$s"
    done <"$vectors/shell/envVarTest"
  fi
  if [ -f "$vectors/shell/wordsTest" ]; then
    env_words=""
    while IFS= read -r line; do
      case "$line" in
        \#*) continue ;;
        "ENV "*) env_words="$env_words
${line#ENV }"; continue ;;
      esac
      word=$(printf '%s\n' "$line" | awk -F'|' '{ sub(/^[ \t]+/, "", $1); sub(/[ \t]+$/, "", $1); print $1 }')
      s=$((s + 1))
      { printf '\000%s%s' "$word" "$env_words"; } >"$scorp/seed-words-$s"
    done <"$vectors/shell/wordsTest"
  fi
  # Lowering reads the same files.
  lcorp="$root/fuzz/corpus/lower"
  mkdir -p "$lcorp"
  cp "$dcorp"/seed-* "$lcorp"/
  echo "fuzz: seeded $(ls "$dcorp" | grep -c '^seed-') Dockerfiles and $s shell words"
}
seed

status=0
for t in $targets; do
  case "$t" in
    dockerfile | lower) max_len=16384 ;;
    *) max_len=2048 ;;
  esac
  log="$root/fuzz/artifacts/$t.log"
  mkdir -p "$root/fuzz/artifacts"
  echo "== fuzz $t for ${secs}s"
  start=$(date +%s)
  # -timeout: one input taking 5 s is a bug (the parser's budget is 1 s;
  # the sanitizer build is slower). -rss_limit_mb: well under the 24 GiB
  # box, far over what any Dockerfile should need.
  if (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=5 -rss_limit_mb=4096 -max_len="$max_len" \
        -dict=dockerfile.dict -print_final_stats=1) >"$log" 2>&1; then
    tail -n 20 "$log" | grep -E "^stat::(number_of_executed_units|peak_rss_mb|new_units_added)" || true
    grep -E "^#[0-9]+" "$log" | tail -n 1
    echo "fuzz: $t clean after $(($(date +%s) - start))s"
  else
    status=1
    echo "fuzz: $t FAILED, log $log"
    grep -qE "^(INFO|#[0-9])" "$log" || tail -n 30 "$log" # the build failed
    grep -A1 -E "ERROR|panicked at|SUMMARY|Test unit written|overflowed" "$log" | head -n 20
    for a in $(sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$log"); do
      case "$a" in /*) ;; *) a="$root/fuzz/$a" ;; esac
      echo "reproducer: $a"
      echo "input (od -c):"
      od -An -c "$a" | head -n 40
      echo "replay: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $t $a)"
    done
  fi
done
exit $status
