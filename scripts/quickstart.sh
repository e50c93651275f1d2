#!/usr/bin/env bash
# Builds gofast, starts the platform on 127.0.0.1:8080, deploys
# examples/hello/main.py as a demo user and prints its URL. The platform
# keeps running in the foreground until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

server=${GOFAST_SERVER:-http://127.0.0.1:8080}
addr=${server#http://}
email=${GOFAST_DEMO_EMAIL:-demo@example.com}
password=${GOFAST_DEMO_PASSWORD:-gofast-demo-password}

# Apps run in bubblewrap; without it `gofast up` refuses to start them.
echo "==> checking the sandbox's system packages (bubblewrap, util-linux)"
scripts/deps.sh

# Before cargo: gofast embeds the editor's assets. Without Node.js (exit 3)
# gofast still builds and its / says how to add the editor.
echo "==> building the browser editor (web-editor/)"
rc=0
scripts/editor.sh || rc=$?
if [ "$rc" -eq 3 ]; then
  echo "    skipped: gofast will run without the browser editor (the command line works)"
elif [ "$rc" -ne 0 ]; then
  exit "$rc"
fi

echo "==> building gofast (the first build takes a few minutes)"
cargo build --release --quiet --bin gofast
gofast=$PWD/target/release/gofast

pid=
if curl -fsS "$server/healthz" >/dev/null 2>&1; then
  echo "==> gofast is already running at $server"
else
  echo "==> starting gofast up on $addr"
  "$gofast" up --addr "$addr" &
  pid=$!
  trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' INT TERM EXIT
  # The first start makes the apps' Python environment: allow a few minutes.
  for _ in $(seq 1 600); do
    curl -fsS "$server/healthz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { echo "gofast up exited; see the messages above" >&2; exit 1; }
    sleep 0.5
  done
fi

export GOFAST_SERVER=$server
if ! printf '%s\n' "$password" | "$gofast" login --email "$email" --password-stdin 2>/dev/null; then
  printf '%s\n' "$password" | "$gofast" signup --email "$email" --password-stdin
fi

echo "==> deploying examples/hello/main.py"
url=$("$gofast" deploy examples/hello/main.py)
echo
echo "  app:     $url"
echo "  docs:    ${url}docs"
echo "  answer:  $(curl -fsS "$url")"
echo "  editor:  $server/"
echo
if [ -n "$pid" ]; then
  echo "gofast is running (Ctrl-C stops it and every app)."
  wait "$pid"
fi
