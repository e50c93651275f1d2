#!/usr/bin/env bash
# System packages `gofast up` and the tests need beyond Rust and Python:
# bubblewrap (the local runtime's sandbox: without it `gofast up` refuses to
# run apps unless told --sandbox none) and util-linux (setpriv, for a uid per
# app when running as root; unshare, used by the attack tests); see
# docs/isolation.md. Installs what is missing with apt-get on Debian and
# Ubuntu; elsewhere says what to install. Used by scripts/quickstart.sh and
# scripts/test.sh.
set -euo pipefail

missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
{ command -v setpriv && command -v unshare; } >/dev/null || missing+=(util-linux)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
    echo "scripts/deps.sh: install these packages first: ${missing[*]}" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing ${missing[*]}…"
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
