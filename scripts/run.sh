#!/usr/bin/env bash
# Install, then start the coach on the bundled corpus (builds the index on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
if [ "$#" -gt 0 ]; then exec coach "$@"; fi
exec coach serve
