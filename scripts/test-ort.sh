#!/usr/bin/env bash
# The onnxruntime engine's tests from a clean clone (CI): makes the venv of
# scripts/requirements-minilm-onnx.txt, lays out MiniLM and the tiny test classifier with their ONNX
# graphs (scripts/make-minilm-onnx.sh, no torch), points ORT_DYLIB_PATH at the onnxruntime wheel's
# libonnxruntime.so and runs aiserve-backend-hf's tests with the `ort` feature (the candle tests
# run too, on the same folder).
#
#   scripts/test-ort.sh [CARGO TEST ARGS...]
#
# Environment: VENV (default scripts/.venv-minilm-onnx), AISERVE_MINILM_ONNX_REPO (default
# $CARGO_TARGET_DIR/minilm-onnx-repo, else target/minilm-onnx-repo), AISERVE_MINILM_REPO (default:
# the same folder), CARGO_TARGET_DIR. Needs PyPI (pip) and crates.io; idempotent, so later runs
# reuse the venv and the model.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

export VENV=${VENV:-$ROOT/scripts/.venv-minilm-onnx}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export AISERVE_MINILM_ONNX_REPO=${AISERVE_MINILM_ONNX_REPO:-$TARGET/minilm-onnx-repo}
export AISERVE_MINILM_REPO=${AISERVE_MINILM_REPO:-$AISERVE_MINILM_ONNX_REPO}

bash scripts/make-minilm-onnx.sh --with-test-classifier "$AISERVE_MINILM_ONNX_REPO"

libs=("$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*)
if [[ ! -f "${libs[0]}" ]]; then
    echo "no libonnxruntime.so.* in the onnxruntime wheel under $VENV" >&2
    exit 1
fi
export ORT_DYLIB_PATH="${libs[0]}"
echo "ORT_DYLIB_PATH=$ORT_DYLIB_PATH" >&2

cargo test -p aiserve-backend-hf --features ort "$@"
