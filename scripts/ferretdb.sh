#!/usr/bin/env bash
# FerretDB v1 (a MongoDB wire-protocol server on SQLite) for the MongoDB
# store's tests.
#
#   scripts/ferretdb.sh build          build .cache/bin/ferretdb once (cached), print its path
#   scripts/ferretdb.sh start [PORT]   start it on 127.0.0.1:PORT (default: a free port) with
#                                      its data in a temp dir; print its mongodb:// URI
#   scripts/ferretdb.sh stop           stop it and remove its data
#   scripts/ferretdb.sh uri            print the URI of the running one
#
# The binary comes from the Go module github.com/FerretDB/FerretDB@v1.24.2.
# A plain `go install …/cmd/ferretdb@v1.24.2` builds a binary that panics at
# start (the module's zip lacks the generated build/version/version.txt), so
# this builds that same module version from the module cache with the file
# written.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=v1.24.2
MODULE=github.com/FerretDB/FerretDB
CACHE="$PWD/.cache"
BIN="$CACHE/bin/ferretdb"
STATE="$CACHE/ferretdb"

say() { printf 'ferretdb.sh: %s\n' "$*" >&2; }

build() {
    if [[ -x "$BIN" && "$("$BIN" --version 2>/dev/null)" == *"version: $VERSION"* ]]; then
        return
    fi
    command -v go >/dev/null || {
        say "Go is needed to build FerretDB (https://go.dev/dl/)"
        exit 1
    }
    say "building FerretDB $VERSION (once; cached in $BIN)…"
    local dir src
    dir=$(go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -d "$dir" ]] || {
        say "could not download $MODULE@$VERSION"
        exit 1
    }
    src="$CACHE/ferretdb-src"
    rm -rf "$src"
    mkdir -p "$CACHE/bin"
    cp -R "$dir" "$src"
    chmod -R u+w "$src"
    echo "$VERSION" >"$src/build/version/version.txt"
    (cd "$src" && go build -trimpath -o "$BIN.tmp" ./cmd/ferretdb)
    mv "$BIN.tmp" "$BIN"
    rm -rf "$src"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() {
    [[ -f "$STATE/pid" ]] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null
}

start() {
    build
    if running; then
        say "already running (pid $(cat "$STATE/pid"))"
        cat "$STATE/uri"
        return
    fi
    local port=${1:-$(free_port)} data
    rm -rf "$STATE"
    mkdir -p "$STATE"
    data=$(mktemp -d "${TMPDIR:-/tmp}/gofast-ferretdb.XXXXXX")
    echo "$data" >"$STATE/data"
    "$BIN" --handler=sqlite --sqlite-url="file:$data/" \
        --listen-addr="127.0.0.1:$port" --state-dir="$data" --debug-addr=- \
        --telemetry=disable --log-level=warn \
        </dev/null >"$data/ferretdb.log" 2>&1 &
    echo $! >"$STATE/pid"
    for _ in $(seq 1 150); do
        if ! running; then
            say "FerretDB exited; its log:"
            cat "$data/ferretdb.log" >&2
            exit 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "mongodb://127.0.0.1:$port/" | tee "$STATE/uri"
            return
        fi
        sleep 0.2
    done
    say "FerretDB did not accept connections on 127.0.0.1:$port within 30s"
    stop
    exit 1
}

stop() {
    if running; then
        local pid
        pid=$(cat "$STATE/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    if [[ -f "$STATE/data" ]]; then
        rm -rf "$(cat "$STATE/data")"
    fi
    rm -rf "$STATE"
}

case "${1:-}" in
build)
    build
    echo "$BIN"
    ;;
start) start "${2:-}" ;;
stop) stop ;;
uri)
    running || {
        say "not running"
        exit 1
    }
    cat "$STATE/uri"
    ;;
*)
    echo "usage: $0 build | start [PORT] | stop | uri" >&2
    exit 2
    ;;
esac
