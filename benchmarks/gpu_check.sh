#!/usr/bin/env bash
# The GPU check of issue 16: the chapter's models on CTA under KERAS_BACKEND=jax, mixed
# precision off and on, windows/s and validation MAE per model beside the CPU figures
# recorded in benchmarks/gpu_check_cpu.json. Budget: under 8 minutes on one GPU.
#
# Here, first:  make gpu-carry   (writes benchmarks/.gpu_carry/: Keras wheels + CTA frame)
# On a machine with an NVIDIA GPU, JAX with CUDA, numpy, pandas, pyarrow (no Keras, no TF),
# from the repo root, with benchmarks/.gpu_carry carried along:
#     bash benchmarks/gpu_check.sh [--epochs 50] [--json $OUT/gpu_check.json]
# On CPU, here (the figures printed beside the GPU's; --record rewrites them):
#     bash benchmarks/gpu_check.sh --cpu [--record]
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=benchmarks/.gpu_carry

export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ "${1:-}" = "--cpu" ]; then
  shift
  export JAX_PLATFORMS=cpu
  PY=${PYTHON:-.venv/bin/python}
  [ -x "$PY" ] || PY=python3
else
  PY=${PYTHON:-python3}
  command -v nvidia-smi >/dev/null && nvidia-smi -L || echo "note: nvidia-smi not found"
fi

if ! "$PY" -c "import keras" 2>/dev/null; then
  ls "$CARRY"/wheels/*.whl >/dev/null 2>&1 || { echo "no Keras here and no $CARRY/wheels: run make gpu-carry and carry $CARRY" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/seqcast-site "$CARRY"/wheels/*.whl
  export PYTHONPATH="/tmp/seqcast-site:$PYTHONPATH"
fi
exec "$PY" benchmarks/gpu_check.py "$@"
