#!/usr/bin/env bash
# What the browser tests need: Debian's Chromium and playwright-core (pinned
# in testenv/browser/package-lock.json; Playwright never downloads a browser
# of its own here). Installs what is missing; re-running is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    if ! command -v apt-get >/dev/null; then
        echo "scripts/browser.sh: install Chromium at /usr/bin/chromium first" >&2
        exit 1
    fi
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing chromium…"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq chromium
fi

# Again whenever the lock file is newer than the install (axe-core joined later).
if [ ! -f testenv/browser/node_modules/.package-lock.json ] \
    || [ testenv/browser/package-lock.json -nt testenv/browser/node_modules/.package-lock.json ]; then
    (cd testenv/browser && npm ci --no-audit --no-fund --silent)
fi
