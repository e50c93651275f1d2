#!/usr/bin/env bash
# A real node for the test control plane of scripts/kube-testenv.sh (issue #13): kubelet,
# containerd and Traefik built from the Go module proxy into .cache/kube/bin, Debian's runc and
# CNI plugins. See testenv/README.md, "A real node".
#
#   scripts/kube-node.sh build      build kubelet, containerd (+ ctr, shim) and traefik (cached,
#                                   each rebuilt only when its version stamp changes)
#   scripts/kube-node.sh versions   print the versions that `build` builds
#
# Environment:
#   GOFAST_NODE_BUILD="kubelet containerd traefik"   which binaries `build` builds
set -eEuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESTENV="$ROOT/testenv"
CACHE="$ROOT/.cache/kube"
BIN="$CACHE/bin"
BUILD_LOG="$CACHE/build-node.log"
BUILD_TIMES="$CACHE/build-times"

export GOTOOLCHAIN=local
GO_BUILD_FLAGS="-mod=mod -buildvcs=false"

log() { echo "kube-node: $*" >&2; }
die() { log "error: $*"; exit 1; }

mod_version() { # module go.mod-dir -> version required in that go.mod
    awk -v m="$1" '$1==m && $2 ~ /^v/ {print $2; exit}' "$2/go.mod"
}

# The kubelet is built from the same k8s.io/kubernetes as the apiserver (testenv/go.mod);
# containerd from testenv/containerd/go.mod; Traefik from testenv/traefik/go.mod, meant to be the
# version of the CRDs that kube-testenv.sh installs (its TRAEFIK_VERSION; see build_traefik).
KUBE_VERSION="$(mod_version k8s.io/kubernetes "$TESTENV")"
CONTAINERD_VERSION="$(mod_version github.com/containerd/containerd/v2 "$TESTENV/containerd")"
TRAEFIK_VERSION="$(awk -F'"' '/^TRAEFIK_VERSION=/{print $2; exit}' "$ROOT/scripts/kube-testenv.sh")"
[[ -n "$KUBE_VERSION" && -n "$CONTAINERD_VERSION" && -n "$TRAEFIK_VERSION" ]] ||
    die "cannot read the versions from testenv/go.mod, testenv/containerd/go.mod and scripts/kube-testenv.sh"

stamp_of() { # name version extra...
    echo "$* $(go env GOVERSION)"
}

build_one() { # name moddir package stamp ldflags [go build args...]
    local name="$1" moddir="$2" pkg="$3" stamp="$4" ldflags="$5"
    shift 5
    if [[ -x "$BIN/$name" && -f "$BIN/$name.stamp" && "$(cat "$BIN/$name.stamp")" == "$stamp" ]]; then
        return 0
    fi
    log "building $name ($pkg) — a long Go build; log: $BUILD_LOG"
    local start=$SECONDS
    if ! (cd "$moddir" && echo "== $(date -Is) go build $* $pkg" &&
          GOFLAGS="$GO_BUILD_FLAGS" nice -n 10 go build -trimpath -ldflags="$ldflags" "$@" -o "$BIN/$name.tmp" "$pkg") \
          >>"$BUILD_LOG" 2>&1; then
        tail -n 30 "$BUILD_LOG" >&2
        die "building $name failed (command: cd $moddir && GOFLAGS='$GO_BUILD_FLAGS' go build -trimpath -ldflags='$ldflags' $* -o $BIN/$name $pkg)"
    fi
    mv -f "$BIN/$name.tmp" "$BIN/$name"
    echo "$stamp" >"$BIN/$name.stamp"
    local took=$((SECONDS - start))
    echo "$(date -Is) $name $took s ($stamp)" >>"$BUILD_TIMES"
    log "built $name in ${took}s"
}

build_kubelet() {
    local kv="k8s.io/component-base/version"
    local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
    local ld="-s -w -X $kv.gitVersion=$KUBE_VERSION -X $kv.gitMajor=1 -X $kv.gitMinor=$minor -X $kv.gitTreeState=clean"
    # static, as Kubernetes releases it
    CGO_ENABLED=0 build_one kubelet "$TESTENV" k8s.io/kubernetes/cmd/kubelet "$(stamp_of kubelet "$KUBE_VERSION" "$ld")" "$ld"
}

build_containerd() {
    local m=github.com/containerd/containerd/v2
    local ld="-s -w -X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Package=$m"
    # no_btrfs: the btrfs snapshotter needs the btrfs headers (cgo); overlayfs is what the node uses
    local tags="no_btrfs urfave_cli_no_docs"
    local c
    for c in containerd ctr containerd-shim-runc-v2; do
        CGO_ENABLED=1 build_one "$c" "$TESTENV/containerd" "$m/cmd/$c" \
            "$(stamp_of "$c" "$CONTAINERD_VERSION" "$ld" "$tags")" "$ld" -tags "$tags"
    done
}

build_traefik() {
    local m=github.com/traefik/traefik/v3
    [[ -f "$TESTENV/traefik/go.mod" ]] || die "testenv/traefik/go.mod is missing"
    local tv
    tv="$(mod_version "$m" "$TESTENV/traefik")"
    [[ -n "$tv" ]] || die "testenv/traefik/go.mod has no $m requirement"
    # v3.7.13's build list is not fully served by the Go module proxy (testenv/README.md), so
    # the binary may trail the CRDs by a minor version: say so rather than fail
    [[ "$tv" == "$TRAEFIK_VERSION" ]] ||
        log "note: building Traefik $tv; kube-testenv.sh installs the CRDs of $TRAEFIK_VERSION"
    local ld="-s -w -X $m/pkg/version.Version=$tv -X $m/pkg/version.Codename=gofast-testenv"
    CGO_ENABLED=0 build_one traefik "$TESTENV/traefik" "$m/cmd/traefik" "$(stamp_of traefik "$tv" "$ld")" "$ld"
}

cmd_build() {
    command -v go >/dev/null || die "go is not installed"
    mkdir -p "$BIN"
    local what="${GOFAST_NODE_BUILD:-kubelet containerd traefik}" w
    for w in $what; do
        case "$w" in
            kubelet) build_kubelet;;
            containerd) build_containerd;;
            traefik) build_traefik;;
            *) die "GOFAST_NODE_BUILD: unknown binary $w (kubelet, containerd, traefik)";;
        esac
    done
}

case "${1:-}" in
    build) mkdir -p "$CACHE"; exec 8>"$CACHE/node-build.lock"; flock 8; cmd_build; log "binaries in $BIN";;
    versions) echo "kubelet $KUBE_VERSION"; echo "containerd $CONTAINERD_VERSION"
        echo "traefik $(mod_version github.com/traefik/traefik/v3 "$TESTENV/traefik") (CRDs: $TRAEFIK_VERSION)";;
    *) echo "usage: $0 build|versions" >&2; exit 2;;
esac
