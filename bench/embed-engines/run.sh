#!/usr/bin/env bash
# Embedding engine measurement (BENCHMARKS.md, "Embedding engine choice") on all-MiniLM-L6-v2: the
# `hf` backend's engines in-process — candle on model.safetensors and onnxruntime (`ort` feature)
# on model.onnx — against onnxruntime in Python on the same model.onnx, plus tract (aiserve's ONNX
# backend) on it. Same 256 sentences of 8-30 words (sentences.txt), same batch (32), same threads
# (2: intra_op_num_threads, inter-op 1, sequential, ORT_ENABLE_ALL on both onnxruntime sides),
# tokenization, pooling and normalisation included everywhere. No torch: model.onnx is built from
# the safetensors weights by scripts/make-minilm-onnx.py.
#
#   bench/embed-engines/run.sh            # results in bench/embed-engines/results/results.tsv
#
# The venv of scripts/requirements-minilm-onnx.txt is VENV (default scripts/.venv-minilm-onnx,
# made when missing); the model is laid out in bench/embed-engines/models/ (gitignored); the
# onnxruntime library is ORT_DYLIB_PATH, default the venv's wheel's. CARGO_TARGET_DIR is honoured.
# THREADS (2), BATCH (32) and PASSES (5) can be overridden. The last column, other_cpu_s, is the
# CPU time other processes took during the row: rerun rows where it is not ~0.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$HERE"
THREADS=${THREADS:-2}
BATCH=${BATCH:-32}
PASSES=${PASSES:-5}

export VENV=${VENV:-$ROOT/scripts/.venv-minilm-onnx}
bash "$ROOT/scripts/make-minilm-onnx.sh" "$HERE/models" >&2
MODEL="$HERE/models/minilm"
PY="$VENV/bin/python"
if [[ -z "${ORT_DYLIB_PATH:-}" ]]; then
    libs=("$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*)
    export ORT_DYLIB_PATH="${libs[0]}"
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && cargo build --release -p aiserve-backend-hf --features ort --example embed_bench)
BIN="$CARGO_TARGET_DIR/release/examples/embed_bench"

export OMP_NUM_THREADS=$THREADS RAYON_NUM_THREADS=$THREADS TOKENIZERS_PARALLELISM=true
mkdir -p results
OUT=results/results.tsv
row() { "$PY" other_cpu.py "$@" >>"$OUT"; }
printf 'engine\tbatch\tthreads\tbatches\tmedian_ms\tp99_ms\tsentences_per_s\tother_cpu_s\n' >"$OUT"
row "$BIN" candle "$MODEL" sentences.txt "$BATCH" "$THREADS" "$PASSES"
row "$BIN" ort "$MODEL" sentences.txt "$BATCH" "$THREADS" "$PASSES"
row "$PY" bench_ort.py "$MODEL/1" sentences.txt "$BATCH" "$THREADS" "$PASSES"
if ! row "$BIN" tract "$MODEL" sentences.txt "$BATCH" "$THREADS" "$PASSES" 2>results/tract.err; then
    printf 'tract\tfailed: %s\n' "$(grep -m1 -E 'panicked|Error|error' results/tract.err || tail -n1 results/tract.err)" >>"$OUT"
fi
column -t -s $'\t' "$OUT"
