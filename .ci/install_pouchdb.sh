#!/usr/bin/env bash
# Install pouchdb-server (the real CouchDB-protocol peer for the sync tests) into
# .ci/node/ (git-ignored). Idempotent: does nothing when the pinned version is there.
#
# --ignore-scripts skips leveldown's native build (no compiler, no prebuilt download);
# the tests run the server with --in-memory, which uses memdown and needs no native code.
set -euo pipefail

VERSION="4.2.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$ROOT/.ci/node"
MANIFEST="$PREFIX/node_modules/pouchdb-server/package.json"

installed_version() {
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$MANIFEST" 2>/dev/null || true
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "install_pouchdb: node and npm are needed (apt-get install nodejs npm)" >&2
    exit 1
fi

if [[ -f "$MANIFEST" && "$(installed_version)" == "$VERSION" ]]; then
    echo "install_pouchdb: pouchdb-server $VERSION already in $PREFIX"
    exit 0
fi

mkdir -p "$PREFIX"
start=$(date +%s)
npm install --prefix "$PREFIX" --ignore-scripts --no-audit --no-fund --loglevel=error \
    "pouchdb-server@$VERSION"
if [[ "$(installed_version)" != "$VERSION" ]]; then
    echo "install_pouchdb: pouchdb-server $VERSION is not in $PREFIX after npm install" >&2
    exit 1
fi
echo "install_pouchdb: installed pouchdb-server $VERSION in $(( $(date +%s) - start ))s"
