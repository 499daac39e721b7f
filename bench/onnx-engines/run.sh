#!/usr/bin/env bash
# ONNX engine measurement (BENCHMARKS.md, "ONNX engine choice"): tract, as
# aiserve-backend-onnx runs it, against onnxruntime (CPU, Python wheel), on
# the same models and inputs, one thread each, pinned to one core when
# `taskset` exists.
#
#   bench/onnx-engines/run.sh            # results in bench/onnx-engines/results/results.tsv
#
# Creates bench/onnx-engines/.venv (onnx, numpy, onnxruntime from PyPI) and
# bench/onnx-engines/models/mlp_large (generated, ~6 MB); both are gitignored.
# CARGO_TARGET_DIR is honoured (default: the workspace's target/).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$HERE"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q -r requirements.txt
.venv/bin/python make_bench_models.py

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && cargo build --release -p aiserve-backend-onnx --example engine_bench)
BIN="$CARGO_TARGET_DIR/release/examples/engine_bench"

PIN=()
if command -v taskset >/dev/null 2>&1; then
    PIN=(taskset -c 0)
fi
export OMP_NUM_THREADS=1

SIMPLE="$ROOT/testdata/models/simple"
LARGE="$HERE/models/mlp_large"
mkdir -p results
OUT=results/results.tsv
printf 'engine\tcase\tbatch\titerations\tmedian_us\tp99_us\titems_per_s\n' >"$OUT"
# Cases: <name> <model folder> <version> <batches...>
for engine in tract onnxruntime; do
    for spec in "simple $SIMPLE 1 1 8" "mlp_large $LARGE 1 1 32"; do
        # shellcheck disable=SC2086
        set -- $spec
        if [ "$engine" = tract ]; then
            "${PIN[@]}" "$BIN" "$@" >>"$OUT"
        else
            "${PIN[@]}" .venv/bin/python bench_ort.py "$@" >>"$OUT"
        fi
    done
done
column -t -s $'\t' "$OUT"
