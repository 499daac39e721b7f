#!/usr/bin/env bash
# Lays out all-MiniLM-L6-v2 with an ONNX graph beside its weights, for the `hf` backend's
# onnxruntime engine (cargo feature `ort` of aiserve-backend-hf):
#
#   DEST_REPO/minilm/...              scripts/fetch-minilm.sh's layout (safetensors, tokenizer, ...)
#   DEST_REPO/minilm/1/model.onnx     scripts/make-minilm-onnx.py's graph (last_hidden_state)
#
# With --with-test-classifier, also DEST_REPO/tiny-bert-classifier/: a copy of
# testdata/hf/tiny-bert-classifier plus its graph (logits), for the classification path's tests.
#
# No torch: the graph is built from model.safetensors with the onnx package. The Python packages
# (scripts/requirements-minilm-onnx.txt, ~260 MB) go into the venv $VENV, default
# scripts/.venv-minilm-onnx (gitignored), made when missing or when the requirements changed. The
# same venv's onnxruntime wheel holds the libonnxruntime.so the engine loads
# ($VENV/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*).
#
# Idempotent: a graph newer than the weights and the generator is kept.
set -euo pipefail

usage() {
    echo "usage: $0 [--with-test-classifier] DEST_REPO" >&2
    exit 2
}
classifier=0
args=()
for a in "$@"; do
    case "$a" in
        --with-test-classifier) classifier=1 ;;
        -*) usage ;;
        *) args+=("$a") ;;
    esac
done
[[ ${#args[@]} -eq 1 ]] || usage
DEST_REPO=${args[0]}

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
REQUIREMENTS="$HERE/requirements-minilm-onnx.txt"
GENERATOR="$HERE/make-minilm-onnx.py"
VENV=${VENV:-$HERE/.venv-minilm-onnx}
PYTHON=${PYTHON:-python3}

# The venv, (re)installed when its record of the requirements differs from the file.
stamp="$VENV/.aiserve-requirements-minilm-onnx.txt"
if [[ ! -x "$VENV/bin/python" ]] || ! cmp -s "$REQUIREMENTS" "$stamp"; then
    echo "making the venv $VENV ($REQUIREMENTS)" >&2
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$stamp"
fi

# Writes OUT from the version folder DIR unless OUT is newer than DIR's weights and the generator.
make_graph() {
    local dir=$1 out=$2
    if [[ -s "$out" && "$out" -nt "$dir/model.safetensors" && "$out" -nt "$GENERATOR" ]]; then
        echo "$out is up to date" >&2
        return
    fi
    "$VENV/bin/python" "$GENERATOR" "$dir" "$out"
}

PYTHON="$VENV/bin/python" bash "$HERE/fetch-minilm.sh" "$DEST_REPO" >&2
make_graph "$DEST_REPO/minilm/1" "$DEST_REPO/minilm/1/model.onnx"

if [[ $classifier -eq 1 ]]; then
    src="$ROOT/testdata/hf/tiny-bert-classifier"
    dest="$DEST_REPO/tiny-bert-classifier"
    mkdir -p "$dest/1"
    for f in config.pbtxt expected.json 1/config.json 1/tokenizer.json 1/model.safetensors; do
        # -p keeps the weights' time, so an unchanged copy does not look newer than the graph.
        cmp -s "$src/$f" "$dest/$f" || cp -p "$src/$f" "$dest/$f"
    done
    make_graph "$dest/1" "$dest/1/model.onnx"
fi
