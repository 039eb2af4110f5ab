#!/usr/bin/env bash
# Install, then run lint and the whole test suite (CI runs exactly this); --fast runs the in-process tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --browser
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
ruff check .
if [[ "${1:-}" == "--fast" ]]; then
    # The tier for every change: in-process tests only (no CLI processes, servers, browser or whole corpus).
    shift
    python -m pytest -m "not slow and not browser and not processes" --durations=15 "$@"
else
    python -m pytest --durations=15 "$@"
fi
