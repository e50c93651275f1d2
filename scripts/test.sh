#!/usr/bin/env bash
# Runs every test of gofast: formatting and lints, the Rust unit and
# end-to-end tests (real `gofast up`, real uvicorn processes), and the
# runner's pytest suite. Installs what the tests need on first run.
set -euo pipefail
cd "$(dirname "$0")/.."

stage() { printf '\n==> %s\n' "$*"; }

stage "System packages (bubblewrap)"
scripts/deps.sh

stage "Python virtualenv for the runner"
scripts/venv.sh
export GOFAST_TEST_VENV="$PWD/.venv"

stage "Chromium and playwright-core for the browser tests"
scripts/browser.sh

# Before cargo: the control plane embeds web-editor/dist at compile time.
stage "Browser editor (npm ci, build, size budget, vitest)"
scripts/editor.sh test

stage "cargo fmt --check"
cargo fmt --all -- --check

stage "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

cleanup() {
  scripts/ferretdb.sh stop || true
  scripts/kube-node.sh stop || true
  scripts/kube-testenv.sh stop || true
}
trap cleanup EXIT

stage "FerretDB for the MongoDB store's tests"
GOFAST_TEST_MONGODB_URI=$(scripts/ferretdb.sh start)
export GOFAST_TEST_MONGODB_URI
export GOFAST_TEST_FERRETDB_BIN="$PWD/.cache/bin/ferretdb"
echo "FerretDB at $GOFAST_TEST_MONGODB_URI"

stage "Kubernetes test control plane (etcd, kube-apiserver, controllers, kwok, Traefik CRDs)"
scripts/kube-testenv.sh start
eval "$(scripts/kube-testenv.sh env)"
echo "KUBECONFIG=$KUBECONFIG"

stage "cargo test (unit and end-to-end)"
# The real-node suite runs in a stage of its own, below.
GOFAST_TEST_REAL_NODE=0 cargo test --workspace --no-fail-fast

stage "runner tests (pytest)"
.venv/bin/python -m pytest runner/tests -q

stage "A real node: kubelet, containerd and Traefik in network namespace gofast-node (issue #13)"
scripts/kube-node.sh deps
scripts/kube-node.sh build       # cached in .cache/kube/bin (stamps)
scripts/runner-image.sh ensure   # cached in .cache/runner-image (inputs hash)
scripts/runner-image.sh check    # the same Python and packages as runner/Dockerfile installs
scripts/kube-node.sh start
scripts/kube-node.sh traefik

stage "cargo test --test real_node (gofast up --runtime kubernetes, apps in real pods behind Traefik)"
GOFAST_TEST_REAL_NODE=1 cargo test -p gofast --test real_node

stage "The Helm chart on the real node (control-plane image, helm install, helm test)"
scripts/kube-node.sh chart-test "$GOFAST_TEST_MONGODB_URI"
