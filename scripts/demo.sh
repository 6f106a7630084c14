#!/usr/bin/env bash
# The main job: set up, then run the demo on ./datastore (or $DATASTORE_ENGINE_PATH).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/datastore-engine demo "$@"
