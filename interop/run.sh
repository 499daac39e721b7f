#!/usr/bin/env bash
# Interop suites: real Python clients against the real aiserve binary.
#  1. protocol definitions are wire-compatible with tritonclient's and the seed's;
#  2. the seed's own client (../shared/seed/client.py, grpcio) against the built-in model;
#  3. tritonclient[grpc] and a reflection client against a repository of ONNX models.
# Python dependencies go into interop/.venv. Prints "N passed, N failed".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
seed="$(cd "$root/../shared/seed" && pwd)"
venv="$here/.venv"
py="$venv/bin/python"

if [ ! -x "$py" ]; then
  python3 -m venv "$venv"
fi
"$py" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

cargo build --quiet -p aiserve
bin="${CARGO_TARGET_DIR:-$root/target}/debug/aiserve"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
check() { # name, command...
  local name="$1"; shift
  if "$@"; then
    echo "PASS $name"; passed=$((passed + 1))
  else
    echo "FAIL $name"; failed=$((failed + 1))
  fi
}

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_server() { # port, extra args...; sets server_pid and http_port
  local port="$1"; shift
  # The REST API and metrics on free ports too (their defaults may be taken).
  http_port="$(free_port)"
  "$bin" serve --listen "127.0.0.1:$port" --http-listen "127.0.0.1:$http_port" \
    --metrics-listen "127.0.0.1:$(free_port)" "$@" >"$work/server-$port.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 100); do
    if "$bin" health --server "127.0.0.1:$port" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "server on port $port did not become healthy:"; cat "$work/server-$port.log"; return 1
}

echo "== protocol definitions vs tritonclient and the seed"
check proto_compat "$py" "$here/check_proto_compat.py" "$root/crates/aiserve-proto/proto" "$seed"

echo "== the seed's client against the built-in model"
port="$(free_port)"
start_server "$port"
(cd "$work" && "$py" -m grpc_tools.protoc --proto_path="$seed" --python_out=. --grpc_python_out=. ai_service.proto)
seed_out="$(PYTHONPATH="$work" "$py" "$seed/client.py" "127.0.0.1:$port")"
echo "seed client printed: $seed_out"
check seed_client_line grep -Eq '^Prediction result: -?[0-9]+(\.[0-9]+)?(e-?[0-9]+)?$' <<<"$seed_out"
cli_out="$("$bin" predict "example data" --server "127.0.0.1:$port")"
seed_value="${seed_out#Prediction result: }"
cli_value="${cli_out#Prediction result: }"
check seed_client_matches_cli "$py" -c "import sys; sys.exit(abs(float('$seed_value') - float('$cli_value')) > 1e-6)"
positive="$("$bin" predict "what a wonderful day" --server "127.0.0.1:$port")"
echo "aiserve predict printed: $positive"
check cli_predict_positive "$py" -c "import sys; sys.exit(not float('${positive#Prediction result: }') > 0.2)"
kill -TERM "$server_pid"
status=0; wait "$server_pid" || status=$?
check graceful_sigterm_exit_0 test "$status" -eq 0

echo "== tritonclient (gRPC and HTTP) and reflection against a model repository"
repo="$work/models"
mkdir -p "$repo"
cp -r "$root/testdata/models/." "$repo/"
mkdir -p "$repo/sentiment/1"
cp "$root/crates/aiserve-backend-sentiment/src/config.pbtxt" "$repo/sentiment/config.pbtxt"
port="$(free_port)"
start_server "$port" --repository "$repo" --model-control explicit
if AISERVE_ADDR="127.0.0.1:$port" AISERVE_HTTP_ADDR="127.0.0.1:$http_port" "$py" -m pytest -q -p no:cacheprovider \
    "$here/test_tritonclient.py" "$here/test_tritonclient_http.py" "$here/test_reflection.py"; then
  passed=$((passed + 1)); echo "PASS pytest suites"
else
  failed=$((failed + 1)); echo "FAIL pytest suites"; cat "$work/server-$port.log" | tail -30
fi

echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
