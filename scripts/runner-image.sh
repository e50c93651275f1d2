#!/usr/bin/env bash
# The runner image without Docker (issue #13): a Debian bookworm rootfs made by mmdebstrap from
# Debian's packages (python3 = 3.11, the Python of runner/Dockerfile's FROM), a venv at /opt/venv
# with runner/requirements.txt installed by the image's own pip (wheels fetched from PyPI on the
# host, installed offline in the chroot), runner/gofast_runner.py, the uid 10001 user, written as
# an OCI image layout tar that `ctr images import` reads. runner/Dockerfile stays the recipe for
# registries; `check` tests that both give the same Python minor and the same packages.
#
#   scripts/runner-image.sh build    -> .cache/runner-image/runner.oci.tar (+ rootfs/, kept for check)
#   scripts/runner-image.sh ensure   build only if the image is missing or its inputs changed
#                                    (runner/, this script, oci_layout.py; stamp in .cache/runner-image)
#   scripts/runner-image.sh check    compare the image with runner/Dockerfile + requirements.txt
#   scripts/runner-image.sh name     print the image reference
#
# Environment: GOFAST_RUNNER_IMAGE_NAME (default gofast.dev/runner:testenv). Needs root,
# mmdebstrap (apt-get install mmdebstrap) and python3 with pip.
set -eEuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.cache/runner-image"
ROOTFS="$OUT/rootfs"
IMAGE_TAR="$OUT/runner.oci.tar"
STAMP="$OUT/inputs.sha256"
NAME="${GOFAST_RUNNER_IMAGE_NAME:-gofast.dev/runner:testenv}"
SUITE=bookworm
VENV=/opt/venv
# what runner/Dockerfile's ENV, USER, WORKDIR and CMD say (python:3.11-slim's PATH with the venv first)
IMAGE_ENV=(
    "PATH=$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
    GOFAST_APP_DIR=/app GOFAST_HOST=0.0.0.0 PORT=8000
)
IMAGE_CMD='["python", "-I", "/runner/gofast_runner.py"]'

log() { echo "runner-image: $*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/lib/debian-image.sh
source "$ROOT/scripts/lib/debian-image.sh"

dockerfile_python_minor() { # "3.11" from `FROM python:3.11-slim`
    sed -n 's/^FROM python:\([0-9]*\.[0-9]*\).*/\1/p' "$ROOT/runner/Dockerfile" | head -n1
}

cmd_build() {
    local minor started=$SECONDS
    minor="$(dockerfile_python_minor)"
    [[ -n "$minor" ]] || die "cannot read the Python version from runner/Dockerfile's FROM line"
    mkdir -p "$OUT"
    rm -rf "$OUT/wheels"

    # Wheels for the image's CPython (bookworm's glibc 2.36), exactly the pins; the image's pip
    # installs them offline, so the chroot needs no network and no resolv.conf.
    log "downloading the pinned wheels (PyPI) for CPython $minor"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version "$minor" --implementation cp --abi "cp${minor/./}" \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
        -r "$ROOT/runner/requirements.txt" -d "$OUT/wheels"

    log "mmdebstrap $SUITE (minbase + python3, python3-venv) into $ROOTFS"
    local env_pip="env PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore"
    # shellcheck disable=SC2016 # the hooks' $1 is mmdebstrap's (the rootfs), not ours
    debian_rootfs "$SUITE" "$ROOTFS" "$OUT/mmdebstrap.log" python3,python3-venv \
        --customize-hook="mkdir -p \"\$1/runner\" \"\$1/app\"" \
        --customize-hook="copy-in $OUT/wheels /runner" \
        --customize-hook="copy-in $ROOT/runner/requirements.txt $ROOT/runner/gofast_runner.py /runner" \
        --customize-hook="chroot \"\$1\" python3 -m venv $VENV" \
        --customize-hook="chroot \"\$1\" $env_pip $VENV/bin/pip install --no-index --find-links /runner/wheels --no-deps -r /runner/requirements.txt" \
        --customize-hook="chroot \"\$1\" $env_pip $VENV/bin/pip check" \
        --customize-hook='chroot "$1" groupadd --gid 10001 gofast' \
        --customize-hook='chroot "$1" useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin gofast' \
        --customize-hook='rm -rf "$1/runner/wheels"'

    log "writing the OCI layout"
    local args=(--name "$NAME" --user 10001:10001 --workdir /app --cmd "$IMAGE_CMD" --expose 8000/tcp
        --label "org.opencontainers.image.source=runner/Dockerfile (built by scripts/runner-image.sh)")
    local e
    for e in "${IMAGE_ENV[@]}"; do args+=(--env "$e"); done
    oci_image "$ROOTFS" "$OUT" "$IMAGE_TAR" "${args[@]}"
    rm -rf "$OUT/wheels"
    inputs_hash >"$STAMP"
    log "built $NAME in $((SECONDS - started))s: $IMAGE_TAR ($(du -h "$IMAGE_TAR" | cut -f1)); import with: ctr -n k8s.io images import $IMAGE_TAR"
}

# what the image is made of: a change to any of these means a new image
inputs_hash() {
    (cd "$ROOT" && cat runner/requirements.txt runner/gofast_runner.py runner/Dockerfile \
        scripts/runner-image.sh scripts/lib/debian-image.sh testenv/runner-image/oci_layout.py &&
        echo "$NAME") | sha256sum | cut -d' ' -f1
}

cmd_ensure() {
    if [[ -f "$IMAGE_TAR" && -f "$STAMP" && "$(cat "$STAMP")" == "$(inputs_hash)" ]]; then
        log "up to date: $IMAGE_TAR"
        return 0
    fi
    cmd_build
}

# normalised `name==version` lines (PEP 503 names), sorted
normalise() { tr 'A-Z_.' 'a-z--' | sed 's/-*==/==/' | sort; }

cmd_check() {
    [[ -d "$ROOTFS" && -f "$IMAGE_TAR" ]] || die "no image yet: scripts/runner-image.sh build"
    local fail=0 want got
    want="$(dockerfile_python_minor)"
    got="$(chroot "$ROOTFS" $VENV/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if [[ "$want" == "$got" ]]; then log "ok: Python $got, as runner/Dockerfile (FROM python:$want-slim)"
    else log "FAIL: the image has Python $got, runner/Dockerfile uses $want"; fail=1; fi

    # the Dockerfile installs exactly requirements.txt (--no-deps + pip check), so its
    # `pip freeze` is the pins; the image's must be the same set
    want="$(grep -E '^[A-Za-z0-9]' "$ROOT/runner/requirements.txt" | sed 's/[[:space:]]*#.*//' | normalise)"
    got="$(chroot "$ROOTFS" env PIP_DISABLE_PIP_VERSION_CHECK=1 $VENV/bin/pip freeze | normalise)"
    if [[ "$want" == "$got" ]]; then log "ok: pip freeze = requirements.txt ($(wc -l <<<"$got") packages)"
    else log "FAIL: pip freeze differs from requirements.txt:"; diff <(echo "$want") <(echo "$got") >&2 || true; fail=1; fi
    if chroot "$ROOTFS" env PIP_DISABLE_PIP_VERSION_CHECK=1 $VENV/bin/pip check >/dev/null; then log "ok: pip check"
    else log "FAIL: pip check"; fail=1; fi

    # as the runtime user, isolated (-I) like the CMD, with bytecode writes off
    if chroot --userspec=10001:10001 "$ROOTFS" env -i HOME=/tmp PATH="$VENV/bin:/usr/bin:/bin" \
        python -I -c 'import sys, fastapi, uvicorn, pydantic, email_validator, multipart; compile(open("/runner/gofast_runner.py").read(), "r", "exec"); assert sys.prefix == "/opt/venv", sys.prefix' ; then
        log "ok: uid 10001 imports fastapi/uvicorn/pydantic/email_validator from $VENV and compiles the runner"
    else log "FAIL: the runtime user cannot import the packages"; fail=1; fi
    if [[ -e "$ROOTFS/etc/resolv.conf" ]]; then log "FAIL: /etc/resolv.conf is in the image"; fail=1
    else log "ok: no /etc/resolv.conf"; fi

    check_oci_layout "$IMAGE_TAR" "$NAME" || fail=1
    ((fail == 0)) || die "the image does not match runner/Dockerfile"
    log "the image matches runner/Dockerfile"
}

case "${1:-}" in
    build) cmd_build;;
    ensure) cmd_ensure;;
    check) cmd_check;;
    name) echo "$NAME";;
    *) echo "usage: $0 build|ensure|check|name" >&2; exit 2;;
esac
