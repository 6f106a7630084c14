#!/bin/sh
# Run every fuzz target for SECONDS each (default 60): atheris when it imports, else hypothesis.
#   fuzz/run.sh 300
# Exit status 1 if any target broke its invariant (its last output lines are shown).
SECONDS_EACH="${1:-60}"
cd "$(dirname "$0")/.." || exit 2
PY="${PYTHON:-.venv/bin/python}"
if "$PY" -c "import atheris" 2>/dev/null; then
    mkdir -p fuzz/artifacts  # libFuzzer writes a failing input here (crash-<sha1>)
    MODE="--atheris -max_total_time=$SECONDS_EACH -artifact_prefix=fuzz/artifacts/"
else
    MODE=""
fi
status=0
for target in fuzz/fuzz_*.py; do
    log="$(mktemp)"
    echo "== $target (${SECONDS_EACH}s, ${MODE:-hypothesis})"
    # libFuzzer starts from the target's seeds (fuzz/seeds/<name>/) when it has them, and
    # writes what it finds to a scratch corpus listed first, not into the repository.
    name="$(basename "$target" .py)"
    name="${name#fuzz_}"
    corpus=""
    if [ -n "$MODE" ] && [ -d "fuzz/seeds/$name" ]; then
        scratch="$(mktemp -d)"
        corpus="$scratch fuzz/seeds/$name"
    fi
    # shellcheck disable=SC2086 # MODE and corpus are several words on purpose
    if "$PY" "$target" --seconds "$SECONDS_EACH" $MODE $corpus >"$log" 2>&1; then
        grep -E "executions in|^Done [0-9]+ runs" "$log"
    else
        echo "FAILED:"
        tail -40 "$log"
        status=1
    fi
    rm -f "$log"
    if [ -n "$corpus" ]; then rm -rf "$scratch"; fi
done
exit $status
