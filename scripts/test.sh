#!/usr/bin/env bash
# Install, then run lint and the whole test suite (CI runs exactly this); --fast runs the in-process tier.
# Tests run on one worker per core (pytest-xdist, each module kept whole on one worker, in order);
# COACH_TEST_WORKERS=1 runs them in this one process. The 15 slowest are printed on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
tier=full
if [[ "${1:-}" == "--fast" ]]; then
    tier=fast
    shift
fi
# The whole run always checks the install; --fast takes it as done (its premise) unless what the installer
# reads changed since the last install this script ran.
stamp=.venv/.coach-test-installed
if [[ $tier == full || ! -f $stamp || pyproject.toml -nt $stamp || scripts/install.sh -nt $stamp ]]; then
    bash scripts/install.sh --browser
    touch "$stamp"
fi
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
ruff check .
workers=${COACH_TEST_WORKERS:-$(nproc)}
parallel=()
if ((workers > 1)); then
    parallel=(-n "$workers" --dist loadfile)
fi
if [[ $tier == fast ]]; then
    # The tier for every change: in-process tests only (no CLI processes, servers, browser or whole corpus).
    python -m pytest "${parallel[@]}" -m "not slow and not browser and not processes" --durations=15 "$@"
else
    python -m pytest "${parallel[@]}" --durations=15 "$@"
fi
