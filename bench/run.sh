#!/usr/bin/env bash
# End-to-end benchmark, one run, side by side on this machine:
#   (a) aiserve gRPC AIService.predict on the default (built-in sentiment) model
#   (b) the seed's Python grpcio server (../shared/seed/server.py, its 10-thread pool)
#   (c) aiserve HTTP /v1/predict (REST frontend, HTTP/1.1)
#   (d) the bare tonic ceiling (crates/aiserve-bench/src/bin/tonic-ceiling.rs)
#   (e) V2 infer on vec384 (384-float output): gRPC ModelInfer vs HTTP/JSON
# (a), (b) and (d) are also driven by h2load, to show `aiserve bench` is not the bottleneck.
#
# Pinning: with 2+ cores the server runs on CPU $SERVER_CPU and the load generator on
# CPU $LOAD_CPU (taskset), so they do not steal each other's cycles and every server
# gets the same single core. Both load generators run one thread.
#
# Results: bench/results/*.json (and h2load-*.txt), summary in bench/results/summary.md.
# Knobs (environment): DURATION (s per run, default 5), WARMUP (requests, default 2000),
# CONNECTIONS (default 2), STREAMS (default 16), SERVER_CPU (0), LOAD_CPU (1), CARGO_TARGET_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
seed="$(cd "$root/../shared/seed" && pwd)"
results="$here/results"
venv="$here/.venv"
py="$venv/bin/python"
duration="${DURATION:-5}"
warmup="${WARMUP:-2000}"
conns="${CONNECTIONS:-2}"
streams="${STREAMS:-16}"
server_cpu="${SERVER_CPU:-0}"
load_cpu="${LOAD_CPU:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
bin="$CARGO_TARGET_DIR/release"

echo "== build (release)"
(cd "$root" && cargo build --quiet --release -p aiserve -p aiserve-bench)

echo "== python venv (grpcio, pinned as in interop/requirements.txt)"
[ -x "$py" ] || python3 -m venv "$venv"
"$py" -m pip install --quiet --disable-pip-version-check \
  $(grep -E '^(grpcio|grpcio-tools|protobuf)==' "$root/interop/requirements.txt")

if ! command -v h2load >/dev/null; then
  echo "== installing h2load (nghttp2-client)"
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq >/dev/null
  $sudo_ apt-get install -y -qq nghttp2-client >/dev/null
fi

if [ "$(nproc)" -ge 2 ]; then
  on_server=(taskset -c "$server_cpu"); on_load=(taskset -c "$load_cpu")
  pinning="server on CPU $server_cpu, load generator on CPU $load_cpu"
else
  on_server=(); on_load=(); pinning="none (one core)"
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$results"; mkdir -p "$results"

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # port: waits until something accepts on it
  for _ in $(seq 1 100); do
    if "$py" -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on port $1"; return 1
}

# The seed's generated modules, and the h2load body: 5-byte gRPC frame prefix + PredictRequest{data}.
text="example data"
(cd "$work" && "$py" -m grpc_tools.protoc --proto_path="$seed" --python_out=. --grpc_python_out=. ai_service.proto)
PYTHONPATH="$work" "$py" - "$work/predict.grpc" "$text" <<'EOF'
import struct, sys
import ai_service_pb2
msg = ai_service_pb2.PredictRequest(data=sys.argv[2]).SerializeToString()
open(sys.argv[1], "wb").write(b"\x00" + struct.pack(">I", len(msg)) + msg)
EOF
echo '{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}' >"$work/vec384.json"

# One aiserve serves (a), (c), (e): the built-in sentiment model (the default) and vec384.
repo="$work/models"
mkdir -p "$repo/sentiment/1" "$repo/vec384"
cp "$root/crates/aiserve-backend-sentiment/src/config.pbtxt" "$repo/sentiment/config.pbtxt"
cp -r "$root/testdata/models/vec384/." "$repo/vec384/"

aiserve_grpc="$(free_port)"; aiserve_http="$(free_port)"; python_port="$(free_port)"; ceiling_port="$(free_port)"
"${on_server[@]}" "$bin/aiserve" serve --listen "127.0.0.1:$aiserve_grpc" --http-listen "127.0.0.1:$aiserve_http" \
  --metrics-listen off --repository "$repo" --default-model sentiment --log-level warn >"$work/aiserve.log" 2>&1 &
pids+=($!)
(cd "$seed" && PYTHONPATH="$work" exec "${on_server[@]}" "$py" server.py "$python_port") >"$work/python.log" 2>&1 &
pids+=($!)
"${on_server[@]}" "$bin/tonic-ceiling" --listen "127.0.0.1:$ceiling_port" >"$work/ceiling.log" 2>&1 &
pids+=($!)
for p in "$aiserve_grpc" "$aiserve_http" "$python_port" "$ceiling_port"; do wait_port "$p"; done

# Servers run one at a time under load; the idle ones only sleep on their sockets.
bench() { # name, kind, port, extra args...
  local name="$1" kind="$2" port="$3"; shift 3
  echo "-- $name: aiserve bench $kind -c $conns -m $streams -D $duration"
  "${on_load[@]}" "$bin/aiserve" bench "$kind" --server "127.0.0.1:$port" -c "$conns" -m "$streams" \
    -D "$duration" --warmup "$warmup" --json "$results/$name.json" "$@" | sed 's/^/   /'
}
h2load_grpc() { # name, port
  local name="$1" port="$2"
  echo "-- $name: h2load -c $conns -m $streams -D $duration"
  "${on_load[@]}" h2load -t 1 -c "$conns" -m "$streams" -D "$duration" --warm-up-time=1 \
    -d "$work/predict.grpc" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$port/AIService/predict" >"$results/$name.txt"
  grep -E '^(finished in|requests:|time for request:)' "$results/$name.txt" | sed 's/^/   /'
}

echo "== measuring ($pinning; $conns connections x $streams streams; $duration s per run)"
bench a-aiserve-grpc-predict grpc-predict "$aiserve_grpc" --text "$text"
h2load_grpc a-aiserve-grpc-predict-h2load "$aiserve_grpc"
bench b-python-grpc-predict grpc-predict "$python_port" --text "$text"
h2load_grpc b-python-grpc-predict-h2load "$python_port"
bench c-aiserve-http-predict http-predict "$aiserve_http" --text "$text"
bench d-ceiling-grpc-predict grpc-predict "$ceiling_port" --text "$text"
h2load_grpc d-ceiling-grpc-predict-h2load "$ceiling_port"
bench e-aiserve-grpc-infer-vec384 grpc-infer "$aiserve_grpc" --model vec384 --input "$work/vec384.json"
bench e-aiserve-http-infer-vec384 http-infer "$aiserve_http" --model vec384 --input "$work/vec384.json"

"$py" - "$results" "$pinning" "$conns" "$streams" "$duration" <<'EOF' | tee "$results/summary.md"
import json, os, re, sys
results, pinning, conns, streams, duration = sys.argv[1:]
def bench(name):
    return json.load(open(os.path.join(results, name + ".json")))
def h2load(name):
    text = open(os.path.join(results, name + ".txt")).read()
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text).group(1))
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    lat = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", text)
    out = {"throughput_rps": rps, "requests": int(m.group(2)), "errors": int(m.group(4)) + int(m.group(5)),
           "latency_min_max_mean_sd": lat.groups() if lat else None}
    json.dump(out, open(os.path.join(results, name + ".json"), "w"), indent=2)
    return out
rows = [
    ("(a) aiserve gRPC predict (sentiment)", "a-aiserve-grpc-predict", True),
    ("(b) seed Python grpcio server", "b-python-grpc-predict", True),
    ("(c) aiserve HTTP /v1/predict (sentiment)", "c-aiserve-http-predict", False),
    ("(d) bare tonic ceiling", "d-ceiling-grpc-predict", True),
    ("(e) aiserve gRPC ModelInfer vec384", "e-aiserve-grpc-infer-vec384", False),
    ("(e) aiserve HTTP/JSON infer vec384", "e-aiserve-http-infer-vec384", False),
]
print(f"Pinning: {pinning}; {conns} connections x {streams} streams, closed loop, {duration} s per run.\n")
print("| run | aiserve bench req/s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | errors | h2load req/s | bench / h2load |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
rps = {}
for label, name, with_h2 in rows:
    b = bench(name); l = b["latency_us"]; rps[name] = b["throughput_rps"]
    h2 = h2load(name + "-h2load") if with_h2 else None
    h2cols = f"{h2['throughput_rps']:.0f} | {b['throughput_rps'] / h2['throughput_rps']:.2f}" if h2 else "- | -"
    if h2: rps[name + "-h2load"] = h2["throughput_rps"]
    print(f"| {label} | {b['throughput_rps']:.0f} | {l['p50']:.0f} | {l['p90']:.0f} | {l['p99']:.0f} | {l['p999']:.0f} "
          f"| {l['max']:.0f} | {b['errors']} | {h2cols} |")
def ratio(label, num, den, target, op):
    r = rps[num] / rps[den]
    ok = r >= target if op == ">=" else abs(1 - r) <= target
    want = f">= {target}x" if op == ">=" else f"within {target:.0%}"
    print(f"| {label} | {r:.2f} | {want} | {'met' if ok else 'MISSED'} |")
print("\n| ratio | value | target | |")
print("| --- | ---: | --- | --- |")
ratio("aiserve / ceiling (gRPC predict, aiserve bench)", "a-aiserve-grpc-predict", "d-ceiling-grpc-predict", 0.8, ">=")
ratio("aiserve / ceiling (gRPC predict, h2load)", "a-aiserve-grpc-predict-h2load", "d-ceiling-grpc-predict-h2load", 0.8, ">=")
ratio("aiserve / Python (gRPC predict, aiserve bench)", "a-aiserve-grpc-predict", "b-python-grpc-predict", 15, ">=")
ratio("aiserve / Python (gRPC predict, h2load)", "a-aiserve-grpc-predict-h2load", "b-python-grpc-predict-h2load", 15, ">=")
ratio("gRPC infer / HTTP-JSON infer (vec384)", "e-aiserve-grpc-infer-vec384", "e-aiserve-http-infer-vec384", 2, ">=")
for n in ("a-aiserve-grpc-predict", "b-python-grpc-predict", "d-ceiling-grpc-predict"):
    ratio(f"aiserve bench / h2load ({n[0]})", n, n + "-h2load", 0.10, "within")
EOF
