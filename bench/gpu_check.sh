#!/usr/bin/env bash
# The GPU check of issue 24 (bench/gpu_check.py): train-step bench at base size on CUDA with the
# fraction of the bf16 peak, the resident data path, a short compiled bf16 training with exact
# resume. <= 8 minutes on one H100. Run from the repository root on the GPU machine:
#   OUT=/path/for/results bash bench/gpu_check.sh [extra gpu_check.py options]
# Needs only what slife's training imports (torch, numpy, pillow, pyyaml, tqdm; no PyAV or OpenGL:
# the life is rendered by tests/lives.py); results: $OUT/gpu_check.{json,md}, $OUT/log.txt.
set -uo pipefail
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
(nvidia-smi || true) > "$OUT/nvidia-smi.txt" 2>&1
timeout 470 "$PY" bench/gpu_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/log.txt"
