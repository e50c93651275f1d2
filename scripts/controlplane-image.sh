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
#   scripts/controlplane-image.sh check    the image vs controlplane/Dockerfile's runtime stage
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
# shellcheck source=scripts/lib/debian-image.sh
source "$ROOT/scripts/lib/debian-image.sh"

binary() { # the cargo output for $PROFILE
    if [[ "$PROFILE" == dev ]]; then echo "$ROOT/target/debug/gofast-controlplane"; else echo "$ROOT/target/$PROFILE/gofast-controlplane"; fi
}

check_suite() { # the binary links against this machine's glibc: the image must be the same Debian
    local host dockerfile
    host="$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)"
    dockerfile="$(sed -n 's/^FROM debian:\([a-z]*\)-slim.*/\1/p' "$ROOT/controlplane/Dockerfile" | tail -n1)"
    [[ "$dockerfile" == "$SUITE" ]] || die "controlplane/Dockerfile runs on $dockerfile, this script builds $SUITE"
    [[ "$host" == "$SUITE" ]] || die "this machine is Debian $host: a binary built here may not run on $SUITE"
}

inputs_hash() {
    (cd "$ROOT" && sha256sum "$(binary)" controlplane/Dockerfile scripts/controlplane-image.sh \
        scripts/lib/debian-image.sh testenv/runner-image/oci_layout.py && echo "$NAME") | sha256sum | cut -d' ' -f1
}

cmd_build() {
    check_suite
    local started=$SECONDS
    mkdir -p "$OUT"
    log "cargo build --profile $PROFILE --bin gofast-controlplane"
    (cd "$ROOT" && cargo build --quiet --profile "$PROFILE" --bin gofast-controlplane)
    mkdir -p "$OUT/bin"
    # the debug build is ~400 MB, nearly all of it debug info
    objcopy --strip-debug "$(binary)" "$OUT/bin/gofast-controlplane"
    log "mmdebstrap $SUITE (minbase + ca-certificates) into $ROOTFS"
    # shellcheck disable=SC2016 # the hooks' $1 is mmdebstrap's (the rootfs), not ours
    debian_rootfs "$SUITE" "$ROOTFS" "$OUT/mmdebstrap.log" ca-certificates \
        --customize-hook='chroot "$1" groupadd --gid 10001 gofast' \
        --customize-hook='chroot "$1" useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/gofast --shell /usr/sbin/nologin gofast' \
        --customize-hook='install -d -o 10001 -g 10001 -m 0700 "$1/var/lib/gofast"' \
        --customize-hook="copy-in $OUT/bin/gofast-controlplane /usr/local/bin"
    chroot "$ROOTFS" /usr/local/bin/gofast-controlplane --version >/dev/null ||
        die "the binary does not run in the $SUITE rootfs"
    # controlplane/Dockerfile's ENV, USER, EXPOSE and ENTRYPOINT (as CMD: the chart passes no args)
    oci_image "$ROOTFS" "$OUT" "$IMAGE_TAR" --name "$NAME" \
        --user 10001:10001 --workdir / --cmd '["/usr/local/bin/gofast-controlplane"]' --expose 8080/tcp \
        --env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --env GOFAST_ADDR=0.0.0.0:8080 --env GOFAST_DATA_DIR=/var/lib/gofast/data --env HOME=/var/lib/gofast \
        --label "org.opencontainers.image.source=controlplane/Dockerfile (built by scripts/controlplane-image.sh)"
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

cmd_check() {
    [[ -d "$ROOTFS" && -f "$IMAGE_TAR" ]] || die "no image yet: scripts/controlplane-image.sh build"
    local fail=0
    # shellcheck disable=SC2016 # dpkg-query's format, not a shell expansion
    if chroot "$ROOTFS" dpkg-query -W -f='${Status}' ca-certificates 2>/dev/null | grep -q 'install ok installed'; then
        log "ok: ca-certificates installed, as the Dockerfile's runtime stage"
    else log "FAIL: ca-certificates is not installed"; fail=1; fi
    if [[ "$(stat -c '%u:%g %a' "$ROOTFS/var/lib/gofast")" == "10001:10001 700" ]]; then
        log "ok: /var/lib/gofast is 10001:10001 0700"
    else log "FAIL: /var/lib/gofast is $(stat -c '%u:%g %a' "$ROOTFS/var/lib/gofast")"; fail=1; fi
    if chroot --userspec=10001:10001 "$ROOTFS" /usr/local/bin/gofast-controlplane --version >/dev/null; then
        log "ok: uid 10001 runs /usr/local/bin/gofast-controlplane"
    else log "FAIL: uid 10001 cannot run the binary"; fail=1; fi
    if [[ -e "$ROOTFS/etc/resolv.conf" ]]; then log "FAIL: /etc/resolv.conf is in the image"; fail=1
    else log "ok: no /etc/resolv.conf"; fi
    # the image config's Env, User, ExposedPorts and Cmd against the Dockerfile's last stage
    if python3 - "$IMAGE_TAR" "$ROOT/controlplane/Dockerfile" <<'EOF'
import json, re, shlex, sys, tarfile

tar = tarfile.open(sys.argv[1])
blob = lambda d: json.load(tar.extractfile("blobs/sha256/" + d.split(":", 1)[1]))
index = json.load(tar.extractfile("index.json"))
config = blob(blob(index["manifests"][0]["digest"])["config"]["digest"])["config"]
text = open(sys.argv[2]).read().replace("\\\n", " ")
stage = re.split(r"(?m)^FROM ", text)[-1]
want_env = {}
for line in re.findall(r"(?m)^ENV (.*)$", stage):
    for kv in shlex.split(line):
        k, v = kv.split("=", 1)
        want_env[k] = v
got_env = dict(e.split("=", 1) for e in config.get("Env", []))
problems = [f"ENV {k}={v!r}, image has {got_env.get(k)!r}" for k, v in want_env.items() if got_env.get(k) != v]
user = re.findall(r"(?m)^USER (\S+)", stage)
if user and config.get("User") != user[-1]:
    problems.append(f"USER {user[-1]}, image has {config.get('User')}")
for port in re.findall(r"(?m)^EXPOSE (\S+)", stage):
    if (port if "/" in port else port + "/tcp") not in config.get("ExposedPorts", {}):
        problems.append(f"EXPOSE {port} missing")
entry = re.findall(r"(?m)^ENTRYPOINT (\[.*\])", stage)
if entry and config.get("Cmd") != json.loads(entry[-1]):
    problems.append(f"ENTRYPOINT {entry[-1]}, image runs {config.get('Cmd')}")
for p in problems:
    print("controlplane-image: FAIL: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
    then log "ok: ENV, USER, EXPOSE and the entry point are the Dockerfile's"; else fail=1; fi
    check_oci_layout "$IMAGE_TAR" "$NAME" || fail=1
    ((fail == 0)) || die "the image does not match controlplane/Dockerfile"
    log "the image matches controlplane/Dockerfile's runtime stage"
}

case "${1:-}" in
    build) cmd_build;;
    ensure) cmd_ensure;;
    check) cmd_check;;
    name) echo "$NAME";;
    *) echo "usage: $0 build|ensure|check|name" >&2; exit 2;;
esac
