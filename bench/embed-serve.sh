#!/usr/bin/env bash
# Served embeddings against the raw engine (BENCHMARKS.md, "Embeddings through the server"), one
# run, side by side on this machine, all-MiniLM-L6-v2, the 256 sentences of
# bench/embed-engines/sentences.txt:
#   (raw)    the engine in-process, batches of 32 (embed_bench: the hf backend's Backend::infer,
#            tokenization included), THREADS threads;
#   (served) aiserve with dynamic batching (max_batch_size 32), 32 concurrent gRPC callers
#            (`aiserve bench grpc-embed -c 1 -m 32`) sending one sentence each, closed loop;
# and the server's resident memory: after loading (idle), and its samples while under that load.
#
#   bench/embed-serve.sh                  # ENGINE=candle (the default build)
#   ENGINE=ort bench/embed-serve.sh       # onnxruntime, built with --features ort
#
# ENGINE=ort needs model.onnx and the onnxruntime library: scripts/make-minilm-onnx.sh makes both
# (the graph, and a venv, $VENV, with the onnxruntime wheel whose libonnxruntime.so becomes
# ORT_DYLIB_PATH unless that is set). SPINNING (default false) is onnxruntime's intra-op spin-waiting
# (parameter intra_op_spinning) on both sides. Knobs: THREADS (2),
# DURATION (s, 20), DELAY_US (max_queue_delay, 5000), REPO (where MiniLM is laid out; default
# bench/embed-engines/models), CARGO_TARGET_DIR. Results: bench/results/embed-serve-$ENGINE.json.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
engine="${ENGINE:-candle}"
threads="${THREADS:-2}"
duration="${DURATION:-20}"
delay_us="${DELAY_US:-5000}"
spinning="${SPINNING:-false}"
repo="${REPO:-$here/embed-engines/models}"
sentences="$here/embed-engines/sentences.txt"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
bin="$CARGO_TARGET_DIR/release"
results="$here/results"
mkdir -p "$results"

case "$engine" in
  candle) features=(); param=candle ;;
  ort)
    features=(--features ort); param=onnxruntime
    export VENV="${VENV:-$root/scripts/.venv-minilm-onnx}"
    bash "$root/scripts/make-minilm-onnx.sh" "$repo" >&2
    libs=("$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*)
    export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-${libs[0]}}" ;;
  *) echo "ENGINE is candle or ort, not $engine" >&2; exit 2 ;;
esac
bash "$root/scripts/fetch-minilm.sh" "$repo" >&2

echo "== build (release, engine $engine)"
(cd "$root" && cargo build --quiet --release -p aiserve "${features[@]}" \
  && cargo build --quiet --release -p aiserve-backend-hf --example embed_bench "${features[@]}")

work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# One model folder for both sides: the fetched version folder, this engine and batching config.
model="$work/repo/minilm"
mkdir -p "$model"
ln -s "$(cd "$repo/minilm/1" && pwd)" "$model/1"
cat >"$model/config.pbtxt" <<EOF
backend: "hf"
max_batch_size: 32
dynamic_batching { max_queue_delay_microseconds: $delay_us }
parameters { key: "engine" value: { string_value: "$param" } }
parameters { key: "intra_op_threads" value: { string_value: "$threads" } }
parameters { key: "intra_op_spinning" value: { string_value: "$spinning" } }
EOF

echo "== raw engine: batches of 32, $threads threads"
RAYON_NUM_THREADS=$threads "$bin/examples/embed_bench" "$engine" "$model" "$sentences" 32 "$threads" 5 \
  | tee "$work/raw.tsv"
raw_sps=$(awk -F'\t' 'END { print $NF }' "$work/raw.tsv")

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
grpc_port=$(port)
echo "== server"
RAYON_NUM_THREADS=$threads "$bin/aiserve" serve --repository "$work/repo" --listen "127.0.0.1:$grpc_port" \
  --http-listen off --metrics-listen off --threads 1 --log-level warn &
server_pid=$!
for _ in $(seq 1 300); do
  "$bin/aiserve" health --server "127.0.0.1:$grpc_port" --service minilm >/dev/null 2>&1 && break
  sleep 0.2
done
"$bin/aiserve" health --server "127.0.0.1:$grpc_port" --service minilm >/dev/null
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$server_pid/status"; }
idle_kib=$(rss_kib)

echo "== served: 32 concurrent callers, one sentence each, ${duration}s"
( while kill -0 "$server_pid" 2>/dev/null; do rss_kib; sleep 0.5; done ) >"$work/rss.txt" 2>/dev/null &
sampler=$!
"$bin/aiserve" bench grpc-embed --server "127.0.0.1:$grpc_port" --model minilm --input "$sentences" \
  -c 1 -m 32 -D "$duration" --warmup 256 --json "$results/embed-serve-$engine.json"
kill "$sampler" 2>/dev/null || true
hwm_kib=$(awk '/^VmHWM/ { print $2 }' "/proc/$server_pid/status")

python3 - "$results/embed-serve-$engine.json" "$raw_sps" "$idle_kib" "$hwm_kib" "$work/rss.txt" "$engine" <<'EOF'
import json, sys
report, raw, idle, hwm, rss_file, engine = sys.argv[1:]
r = json.load(open(report))
raw = float(raw)
samples = [int(x) for x in open(rss_file).read().split() if x.strip().isdigit()]
loaded = sorted(samples)[len(samples) // 2] if samples else 0
served = r["ok_rps"]
r["raw_engine_sentences_per_s"] = raw
r["served_vs_raw"] = served / raw
r["rss_idle_mib"] = int(idle) / 1024
r["rss_under_load_median_mib"] = loaded / 1024
r["rss_peak_mib"] = int(hwm) / 1024
json.dump(r, open(report, "w"), indent=2)
lat = r["latency_us"]
print(f"\nengine {engine}: raw batch-32 {raw:.1f} sentences/s; served {served:.1f} sentences/s "
      f"= {served / raw:.3f}x raw; p50 {lat['p50'] / 1000:.1f} ms, p99 {lat['p99'] / 1000:.1f} ms; "
      f"errors {r['errors']}")
print(f"RSS: idle {int(idle) / 1024:.0f} MiB, under load (median) {loaded / 1024:.0f} MiB, "
      f"peak {int(hwm) / 1024:.0f} MiB")
EOF
