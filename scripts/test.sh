#!/usr/bin/env bash
# Set up, install the CouchDB-protocol test peer (pouchdb-server, needs node/npm), run the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
if command -v npm >/dev/null 2>&1; then
    bash .ci/install_pouchdb.sh
else
    echo "test.sh: npm not found: the sync tests against pouchdb-server will be skipped" >&2
fi
exec .venv/bin/pytest -q "$@"
