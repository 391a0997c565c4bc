#!/usr/bin/env bash
# The GPU check of issue 19: on one H100, under 10 minutes with compilation, the `gpu` profile
# of benchmarks/bench.yaml (env stepping of every task at 4096+ envs; PPO at the origin's
# shapes for 1- and 6-layer transformers with cuDNN and XLA attention, the GRU and the MLP),
# saved after every case to benchmarks/baseline-h100.json. A case that fails is recorded with
# its error and the others still run.
#
#   uv sync --extra cuda && benchmarks/gpu_check.sh
#   benchmarks/gpu_check.sh --dry-run     # every case once at a tiny size (CPU is fine),
#                                         # saved to a temporary file, never the baseline
#
# Environment: GPU_CHECK_OUT (the JSON, default benchmarks/baseline-h100.json),
# PMARL_BENCH (the command, default `uv run pmarl-bench`). Extra arguments go to `bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${GPU_CHECK_OUT:-benchmarks/baseline-h100.json}"
for arg in "$@"; do  # a dry run's tiny sizes never replace the committed baseline
  if [[ "$arg" == "--dry-run" && -z "${GPU_CHECK_OUT:-}" ]]; then
    out="$(mktemp -d)/gpu-check-dry-run.json"
    echo "dry run: saving to $out" >&2
  fi
done
read -r -a cmd <<<"${PMARL_BENCH:-uv run pmarl-bench}"
exec "${cmd[@]}" bench benchmarks/bench.yaml --budget gpu --keep-going --save "$out" "$@"
