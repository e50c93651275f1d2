#!/usr/bin/env bash
# The control-plane image without Docker (issue #13), like scripts/runner-image.sh: a Debian
# bookworm minbase rootfs with ca-certificates (controlplane/Dockerfile's runtime stage:
# `FROM debian:bookworm-slim` + ca-certificates), the gofast-controlplane binary built by cargo on
# this machine (a bookworm host, so the binary's glibc is the image's; debug info stripped), the
# uid 10001 user and /var/lib/gofast, written as an OCI layout tar for `ctr images import`.
# controlplane/Dockerfile stays the recipe for registries (a release build in rust:bookworm).
#
#   scripts/controlplane-image.sh build    -> .cache/controlplane-image/controlplane.oci.tar
#   scripts/controlplane-image.sh ensure   build only if the binary or these inputs changed
#   scripts/controlplane-image.sh name     print the image reference
#
# Environment: GOFAST_CONTROLPLANE_IMAGE_NAME (default gofast.dev/controlplane:testenv),
# CARGO_PROFILE (default dev; `release` for the Dockerfile's optimised build, much slower here).
# Needs root, mmdebstrap and cargo.
set -eEuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.cache/controlplane-image"
ROOTFS="$OUT/rootfs"
IMAGE_TAR="$OUT/controlplane.oci.tar"
STAMP="$OUT/inputs.sha256"
NAME="${GOFAST_CONTROLPLANE_IMAGE_NAME:-gofast.dev/controlplane:testenv}"
PROFILE="${CARGO_PROFILE:-dev}"
SUITE=bookworm

log() { echo "controlplane-image: $*" >&2; }
die() { log "error: $*"; exit 1; }

binary() { # the cargo output for $PROFILE
    if [[ "$PROFILE" == dev ]]; then echo "$ROOT/target/debug/gofast-controlplane"; else echo "$ROOT/target/$PROFILE/gofast-controlplane"; fi
}

apt_sources() {
    local f
    for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
        [[ -s "$f" ]] && { echo "$f"; return 0; }
    done
    die "no Debian apt sources found on this machine"
}

check_suite() { # the binary links against this machine's glibc: the image must be the same Debian
    local host dockerfile
    # shellcheck disable=SC1091
    host="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    dockerfile="$(sed -n 's/^FROM debian:\([a-z]*\)-slim.*/\1/p' "$ROOT/controlplane/Dockerfile" | tail -n1)"
    [[ "$dockerfile" == "$SUITE" ]] || die "controlplane/Dockerfile runs on $dockerfile, this script builds $SUITE"
    [[ "$host" == "$SUITE" ]] || die "this machine is Debian $host: a binary built here may not run on $SUITE"
}

inputs_hash() {
    (cd "$ROOT" && sha256sum "$(binary)" controlplane/Dockerfile scripts/controlplane-image.sh \
        testenv/runner-image/oci_layout.py && echo "$NAME") | sha256sum | cut -d' ' -f1
}

cmd_build() {
    [[ "$(id -u)" == 0 ]] || die "run as root (mmdebstrap)"
    command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install -y mmdebstrap"
    check_suite
    local started=$SECONDS
    mkdir -p "$OUT"
    rm -rf "$ROOTFS" "$OUT/layer.tar"
    log "cargo build --profile $PROFILE --bin gofast-controlplane"
    (cd "$ROOT" && cargo build --quiet --profile "$PROFILE" --bin gofast-controlplane)
    mkdir -p "$OUT/bin"
    # the debug build is ~400 MB, nearly all of it debug info
    objcopy --strip-debug "$(binary)" "$OUT/bin/gofast-controlplane"
    log "mmdebstrap $SUITE (minbase + ca-certificates) into $ROOTFS"
    # shellcheck disable=SC2016 # the hooks' $1 is mmdebstrap's (the rootfs), not ours
    nice -n 10 mmdebstrap --mode=root --format=directory --variant=minbase --include=ca-certificates \
        --customize-hook='chroot "$1" groupadd --gid 10001 gofast' \
        --customize-hook='chroot "$1" useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/gofast --shell /usr/sbin/nologin gofast' \
        --customize-hook='install -d -o 10001 -g 10001 -m 0700 "$1/var/lib/gofast"' \
        --customize-hook="copy-in $OUT/bin/gofast-controlplane /usr/local/bin" \
        --customize-hook='rm -rf "$1/etc/resolv.conf" "$1/etc/hostname" "$1/var/cache/apt/"*.bin' \
        "$SUITE" "$ROOTFS" "$(apt_sources)" >"$OUT/mmdebstrap.log" 2>&1 ||
        { tail -n 30 "$OUT/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $OUT/mmdebstrap.log)"; }
    [[ ! -e "$ROOTFS/etc/resolv.conf" ]] || die "the rootfs still has /etc/resolv.conf"
    chroot "$ROOTFS" /usr/local/bin/gofast-controlplane --version >/dev/null ||
        die "the binary does not run in the $SUITE rootfs"
    local epoch created
    epoch="$(stat -c %Y "$ROOTFS/var/lib/dpkg/status")"
    tar --sort=name --numeric-owner --mtime="@$epoch" --clamp-mtime --xattrs -C "$ROOTFS" -cf "$OUT/layer.tar" .
    created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
    # controlplane/Dockerfile's ENV, USER, EXPOSE and ENTRYPOINT (as CMD: the chart passes no args)
    python3 "$ROOT/testenv/runner-image/oci_layout.py" --rootfs-tar "$OUT/layer.tar" --name "$NAME" \
        --user 10001:10001 --workdir / --cmd '["/usr/local/bin/gofast-controlplane"]' --expose 8080/tcp \
        --env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --env GOFAST_ADDR=0.0.0.0:8080 --env GOFAST_DATA_DIR=/var/lib/gofast/data --env HOME=/var/lib/gofast \
        --created "$created" --out "$IMAGE_TAR" \
        --label "org.opencontainers.image.source=controlplane/Dockerfile (built by scripts/controlplane-image.sh)" \
        >"$OUT/image.json"
    rm -f "$OUT/layer.tar"
    inputs_hash >"$STAMP"
    log "built $NAME in $((SECONDS - started))s: $IMAGE_TAR ($(du -h "$IMAGE_TAR" | cut -f1))"
}

cmd_ensure() {
    (cd "$ROOT" && cargo build --quiet --profile "$PROFILE" --bin gofast-controlplane)
    if [[ -f "$IMAGE_TAR" && -f "$STAMP" && "$(cat "$STAMP")" == "$(inputs_hash)" ]]; then
        log "up to date: $IMAGE_TAR"
        return 0
    fi
    cmd_build
}

case "${1:-}" in
    build) cmd_build;;
    ensure) cmd_ensure;;
    name) echo "$NAME";;
    *) echo "usage: $0 build|ensure|name" >&2; exit 2;;
esac
