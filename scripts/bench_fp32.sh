#!/usr/bin/env bash
# FP32 latency of lowbit against ONNX Runtime, batch 1, one thread, measured side by
# side in one run (each model: lowbit, ORT, lowbit, ORT; the best p50 of each is kept).
# Usage: scripts/bench_fp32.sh [ITERS]   (needs python3 with onnxruntime)
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-30}
assets=${LOWBIT_ASSETS:-../shared/assets}
cargo build --release -q -p lowbit-cli
lowbit=${CARGO_TARGET_DIR:-target}/release/lowbit
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$lowbit" zoo --arch resnet50 --output "$tmp/resnet50.onnx" >/dev/null
"$lowbit" zoo --arch mobilenet-v2 --output "$tmp/mobilenet_v2.onnx" >/dev/null

p50() { python3 -c 'import json,sys; print(json.load(sys.stdin)["p50_ms"])'; }
printf '%-20s %10s %10s %8s\n' model lowbit_ms ort_ms ratio
for model in "$assets/efficientnet-lite0/model.onnx" "$tmp/resnet50.onnx" "$tmp/mobilenet_v2.onnx"; do
  ours=() theirs=()
  for _ in 1 2; do
    ours+=("$("$lowbit" bench --model "$model" --threads 1 --iters "$iters" --json | p50)")
    theirs+=("$(python3 scripts/ort_bench.py "$model" --threads 1 --iters "$iters" | p50)")
  done
  python3 - "$model" "${ours[@]}" "${theirs[@]}" <<'PY'
import os, sys
name = os.path.basename(os.path.dirname(sys.argv[1])) if sys.argv[1].endswith("model.onnx") else os.path.basename(sys.argv[1])[:-5]
ours, theirs = min(map(float, sys.argv[2:4])), min(map(float, sys.argv[4:6]))
print(f"{name:<20} {ours:10.2f} {theirs:10.2f} {ours / theirs:8.2f}")
PY
done
