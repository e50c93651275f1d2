#!/usr/bin/env bash
# The benchmarks in BENCHMARKS.md, end to end: builds the release binary,
# makes sure .venv exists, starts `gofast up` on an ephemeral loopback port
# with a temp data dir, signs up a user, then runs bench/gofast_bench.py
# (deploy -> first 200, CLI deploy wall time, requests/s gateway vs direct)
# and prints a table. Everything it starts is stopped on exit.
#
#   scripts/bench.sh                 # everything (about 1-2 minutes after the build)
#   scripts/bench.sh deploy          # only the deploy figures
#   scripts/bench.sh rps             # only requests/s
#   scripts/bench.sh warm            # warm starts (issue #12): --start fork vs exec, same run,
#                                    # deploy -> first 200 and idle app USS (bench/warm_bench.py)
#   scripts/bench.sh hardening       # floods and slow clients beside idle baselines
#                                    # (bench/hardening_bench.py; not part of "all")
#   BENCH_HEADER_TIMEOUT=5 scripts/bench.sh hardening   # gofast up --header-timeout 5
#   scripts/bench.sh density         # 500 apps deployed, asleep, woken one by one
#                                    # (bench/density_bench.py; BENCH_APPS=N, BENCH_SLEEP_AFTER=60s;
#                                    # not part of "all": about 10 minutes)
#   scripts/bench.sh cluster-wake    # sleep and wake in the cluster shape on the real node
#                                    # (bench/cluster_wake_bench.py; needs scripts/kube-node.sh
#                                    # start + traefik; BENCH_APPS=N; not part of "all")
#   BENCH_JSON=out.json scripts/bench.sh   # also keep the raw results
#   BENCH_ARGS="--runs 10 --connections 16" scripts/bench.sh
#   BENCH_NO_BUILD=1 scripts/bench.sh     # use target/release/gofast as it is
#   BENCH_NODELAY_SHIM=1 scripts/bench.sh rps   # the TCP_NODELAY experiment (needs cc)
#
# Requests/s are measured with wrk, which this script installs with apt-get
# when it is missing (Debian/Ubuntu); only if that fails a slower built-in
# Python client stands in (the output says so).
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
default_budget=170
[ "$what" = density ] && default_budget=1800
[ "$what" = cluster-wake ] && default_budget=600
budget=${BENCH_TIMEOUT:-$default_budget} # seconds for start-up plus measurements

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  echo "==> building gofast (release)"
  cargo build --release --quiet --bin gofast
fi
gofast=$PWD/target/release/gofast
scripts/venv.sh
venv=$PWD/.venv
# The load generator for requests/s: wrk, from Debian/Ubuntu (as scripts/deps.sh
# installs packages). Without it the driver falls back to its own, much slower,
# Python client and says so in the table.
# Only the requests/s runs ("all", "rps") use wrk.
case "$what" in hardening|deploy|density|warm|cluster-wake) needs_wrk= ;; *) needs_wrk=1 ;; esac
if [ -n "$needs_wrk" ] && ! command -v wrk >/dev/null; then
  if command -v apt-get >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "==> installing wrk (the load generator)"
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk; } >/dev/null ||
      echo "==> could not install wrk" >&2
  fi
  command -v wrk >/dev/null ||
    echo "==> wrk not found: requests/s will come from the built-in Python client (NOT wrk; install it with apt-get install -y wrk)"
fi

if [ "$what" = cluster-wake ]; then
  # It starts its own platform against the test cluster and stops it.
  eval "$(scripts/kube-testenv.sh env)"
  echo "==> measuring on $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
  exec timeout --signal=TERM --kill-after=5 "$budget" "$venv/bin/python" bench/cluster_wake_bench.py \
    --gofast "$gofast" --venv "$venv" --apps "${BENCH_APPS:-5}" ${BENCH_JSON:+--json "$BENCH_JSON"}
fi

if [ "$what" = warm ]; then
  # It starts its own two platforms (--start fork and --start exec) and stops them.
  echo "==> measuring on $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
  # shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
  exec timeout --signal=TERM --kill-after=5 "$budget" "$venv/bin/python" bench/warm_bench.py \
    --gofast "$gofast" --venv "$venv" ${BENCH_JSON:+--json "$BENCH_JSON"} ${BENCH_ARGS:-}
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gofast-bench.XXXXXX")
up_pid=
bench_pid=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then
    # SIGTERM, as Ctrl-C would: gofast up stops every app it started.
    kill -TERM "$up_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$up_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$up_pid" 2>/dev/null || true
    wait "$up_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

preload=
if [ -n "${BENCH_NODELAY_SHIM:-}" ]; then
  # The experiment in BENCHMARKS.md: TCP_NODELAY on the gateway's sockets.
  cc -shared -fPIC -O2 -o "$tmp/nodelay_shim.so" bench/nodelay_shim.c -ldl
  preload=$tmp/nodelay_shim.so
  echo "==> gofast up runs with bench/nodelay_shim.c preloaded (TCP_NODELAY on accepted sockets)"
fi

up_args=()
if [ "$what" = hardening ]; then
  up_args=(--header-timeout "${BENCH_HEADER_TIMEOUT:-10}")
fi
if [ "$what" = density ]; then
  apps=${BENCH_APPS:-500}
  up_args=(--sleep-after "${BENCH_SLEEP_AFTER:-60s}" --max-apps-per-user "$apps")
fi

start=$(date +%s)
echo "==> starting gofast up (data dir $tmp/data)"
LD_PRELOAD=${preload:-${LD_PRELOAD:-}} GOFAST_VENV=$venv "$gofast" up --addr 127.0.0.1:0 --data-dir "$tmp/data" \
  ${up_args[@]+"${up_args[@]}"} </dev/null >"$tmp/up.out" 2>"$tmp/up.log" &
up_pid=$!
url=
for _ in $(seq 1 600); do
  url=$(sed -n 's/^gofast is listening on \(http:[^ ]*\).*/\1/p' "$tmp/up.log" | head -n1)
  [ -n "$url" ] && break
  if ! kill -0 "$up_pid" 2>/dev/null; then
    cat "$tmp/up.log" >&2
    echo "gofast up exited before listening" >&2
    exit 1
  fi
  sleep 0.1
done
[ -n "$url" ] || { cat "$tmp/up.log" >&2; echo "gofast up did not start in 60s" >&2; exit 1; }
echo "==> gofast is listening on $url"

export GOFAST_SERVER=$url GOFAST_CONFIG_DIR=$tmp/config NO_COLOR=1
unset GOFAST_TOKEN
printf '%s\n' "bench-password-$$" | "$gofast" signup --email bench@example.com --password-stdin >/dev/null

echo "==> measuring on $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); load $(cut -d' ' -f1-3 /proc/loadavg)"
left=$((budget - ($(date +%s) - start)))
if [ "$what" = hardening ]; then
  # It reads the control plane's memory from /proc/$up_pid (gofast up itself).
  driver=(bench/hardening_bench.py --pid "$up_pid" --header-timeout "${BENCH_HEADER_TIMEOUT:-10}")
elif [ "$what" = density ]; then
  # It reads the memory of gofast up and every process below it from /proc.
  driver=(bench/density_bench.py --pid "$up_pid" --apps "$apps")
else
  driver=(bench/gofast_bench.py "$what" --data-dir "$tmp/data" --venv "$venv")
fi
# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
timeout --signal=TERM --kill-after=5 "$left" \
  "$venv/bin/python" "${driver[@]}" \
  --server "$url" --config-dir "$GOFAST_CONFIG_DIR" \
  --gofast "$gofast" ${BENCH_JSON:+--json "$BENCH_JSON"} ${BENCH_ARGS:-} &
bench_pid=$!
status=0
wait "$bench_pid" || status=$?
bench_pid=
if [ "$status" -ne 0 ]; then
  echo "benchmark failed (exit $status); gofast up's log:" >&2
  tail -n 30 "$tmp/up.log" >&2
  exit "$status"
fi
echo "==> done in $(($(date +%s) - start)) s (not counting the build)"
