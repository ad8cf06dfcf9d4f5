#!/usr/bin/env bash
# Create benchmarks/recbole/.venv (git-ignored) with RecBole 1.2.1 for the peer-library benchmark.
# Separate from prismrec's own venv on purpose: RecBole needs numpy<2 and pulls in torch and ray.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3.11}"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
# One pip call for everything, torch included, so the CPU build of torch 2.13.0 is the one chosen.
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
"$venv/bin/python" - <<'PY'
import numpy, recbole, torch
print(f"recbole {recbole.__version__}, torch {torch.__version__}, numpy {numpy.__version__}")
PY
echo "ready: $venv/bin/python $here/run_recbole.py --help"
