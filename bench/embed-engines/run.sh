#!/usr/bin/env bash
# Embedding engine measurement (BENCHMARKS.md, "Embedding engine choice"): candle in-process, as
# aiserve-backend-hf runs it, against onnxruntime in Python on an ONNX export of the same model
# (all-MiniLM-L6-v2), same 256 sentences of 8-30 words (sentences.txt), same batch (32), same
# threads (2). Both sides include tokenization (the tokenizers crate / its Python wheel).
#
#   bench/embed-engines/run.sh            # results in bench/embed-engines/results/results.tsv
#
# Needs a venv with scripts/requirements-minilm-reference.txt (torch for the export, ~6 GB):
# VENV=/path/to/venv to reuse one, else bench/embed-engines/.venv is made. The model is laid out by
# scripts/fetch-minilm.sh into bench/embed-engines/models/ (gitignored). CARGO_TARGET_DIR is honoured.
# THREADS (2), BATCH (32) and PASSES (5) can be overridden.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$HERE"
THREADS=${THREADS:-2}
BATCH=${BATCH:-32}
PASSES=${PASSES:-5}

VENV=${VENV:-$HERE/.venv}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r "$ROOT/scripts/requirements-minilm-reference.txt"
fi

bash "$ROOT/scripts/fetch-minilm.sh" "$HERE/models" >&2
MODEL="$HERE/models/minilm/1"
ONNX="$HERE/models/minilm.onnx"
if [ ! -s "$ONNX" ]; then
    HF_HUB_OFFLINE=1 "$VENV/bin/python" export_onnx.py "$MODEL" "$ONNX"
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && cargo build --release -p aiserve-backend-hf --example embed_bench)
BIN="$CARGO_TARGET_DIR/release/examples/embed_bench"

export OMP_NUM_THREADS=$THREADS RAYON_NUM_THREADS=$THREADS TOKENIZERS_PARALLELISM=true
mkdir -p results
OUT=results/results.tsv
printf 'engine\tbatch\tthreads\tbatches\tmedian_ms\tp99_ms\tsentences_per_s\n' >"$OUT"
"$BIN" candle "$MODEL" sentences.txt "$BATCH" "$PASSES" >>"$OUT"
"$VENV/bin/python" bench_ort.py "$MODEL" "$ONNX" sentences.txt "$BATCH" "$THREADS" "$PASSES" >>"$OUT"
column -t -s $'\t' "$OUT"
