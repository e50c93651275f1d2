#!/usr/bin/env bash
# Builds the browser editor (web-editor/) into web-editor/dist, which the
# control plane embeds at compile time: `npm ci`, the client generated from
# proto/ by buf, type-check, Vite, the size budget. Skips all of it when no
# input changed since the last build.
#
#   scripts/editor.sh          build (cached)
#   scripts/editor.sh test     build, then the unit tests (vitest)
#
# Needs Node.js 20.19 or newer with npm. Exits 3 when Node is missing or too
# old, so callers may go on without the editor (gofast then serves a page
# that says how to build it).
set -euo pipefail
cd "$(dirname "$0")/../web-editor"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "scripts/editor.sh: Node.js 20.19+ and npm are needed to build the editor (apt-get install nodejs npm, or https://nodejs.org)" >&2
  exit 3
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "scripts/editor.sh: Node.js $(node --version) is too old to build the editor; 20.19 or newer is needed" >&2
  exit 3
fi

# Dependencies: again only when the lock file changed since they were installed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci (web-editor)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Everything the build reads, hashed: unchanged inputs, no rebuild.
stamp=$(
  { find src templates scripts e2e ../proto ../examples/todo -type f \( -name '*.ts' -o -name '*.css' -o -name '*.py' -o -name '*.mjs' -o -name '*.proto' \) \
      -not -path 'src/gen/*' -not -name '*.test.ts' | LC_ALL=C sort
    echo index.html package-lock.json package.json buf.gen.yaml vite.config.ts tsconfig.json
  } | xargs sha256sum | sha256sum | cut -d' ' -f1
)
if [ -f dist/index.html ] && [ "$(cat .build-stamp 2>/dev/null)" = "$stamp" ]; then
  echo "==> web-editor is up to date (dist/)"
else
  echo "==> building web-editor (dist/)"
  npm run --silent build
  echo "$stamp" > .build-stamp
fi

if [ "${1:-}" = test ]; then
  echo "==> web-editor unit tests (vitest)"
  npx vitest run
fi
