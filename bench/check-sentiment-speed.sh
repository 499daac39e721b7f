#!/usr/bin/env bash
# Runs the criterion benchmark of the built-in sentiment model (one 30-word
# text through `score`) and checks its median against the 50 µs target of
# issue 3. The margin is wide (the median is ~2 µs), so machine noise cannot
# flip the result. Prints the median.
set -euo pipefail
cd "$(dirname "$0")/.."
log="$(mktemp)"
if ! cargo bench --quiet -p aiserve-sentiment --bench score -- --warm-up-time 1 --measurement-time 3 >"$log" 2>&1; then
  cat "$log"; exit 1
fi
rm -f "$log"
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
estimates="$target_dir/criterion/score_30_words/new/estimates.json"
python3 - "$estimates" <<'PY'
import json, sys
median_ns = json.load(open(sys.argv[1]))["median"]["point_estimate"]
print(f"sentiment score, 30 words: median {median_ns / 1000:.2f} µs (target <= 50 µs)")
sys.exit(0 if median_ns <= 50_000 else 1)
PY
