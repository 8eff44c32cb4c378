#!/usr/bin/env bash
# The CUDA MoE-layer benchmark (bench/cuda/bench.cu) on a machine with an NVIDIA GPU: issue 7's two
# configurations at 1 and 128 tokens, MoE layer vs the dense FFN of the same active FLOPs, and vs the
# bandwidth floor of 1-token decode. Prints one JSON object per configuration; docs/perf.md has the
# figures (or says they are unrun).
#   A: hidden 1024, ffn 3584, 8 experts, top-2    (dense: swiglu 1024 -> 7168 -> 1024)
#   B: hidden 2048, ffn 1024, 64 experts, top-8   (dense: swiglu 2048 -> 8192 -> 2048)
# usage: bench/cuda/run.sh        environment: NVCC (default nvcc), CUDA_ARCH (default native), PAIRS (default 51),
#   ARITHMETIC (default f32; f16 or bf16 runs both models' products on tensor cores: docs/cuda.md)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
NVCC=${NVCC:-nvcc}
CUDA_ARCH=${CUDA_ARCH:-native}
PAIRS=${PAIRS:-51}
ARITHMETIC=${ARITHMETIC:-f32}
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "bench/cuda: no NVIDIA GPU here; nothing to time" >&2
  exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/moec-cuda-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
scripts/with-env npx tsc -p tsconfig.json
moec() { scripts/with-env node bin/moec.js "$@"; }

for config in "A 1024 3584 8 2" "B 2048 1024 64 8"; do
  read -r id hidden ffn experts k <<<"$config"
  dir="$work/$id"
  moe=(--set "hidden=$hidden" --set "ffn=$ffn" --set "experts=$experts" --set "k=$k")
  dense=(--set "hidden=$hidden" --set "ffn=$ffn" --set "k=$k")
  moec compile bench/models/moe-layer.moe "${moe[@]}" --target cuda --arithmetic "$ARITHMETIC" -o "$dir/moe" 2>/dev/null
  moec compile bench/models/dense-ffn.moe "${dense[@]}" --target cuda --arithmetic "$ARITHMETIC" -o "$dir/dense" 2>/dev/null
  moec init-weights bench/models/moe-layer.moe "${moe[@]}" --seed 1 -o "$dir/moe.safetensors"
  moec init-weights bench/models/dense-ffn.moe "${dense[@]}" --seed 1 -o "$dir/dense.safetensors"
  # Each model's translation unit includes its own copy of the runtime header (internal linkage).
  "$NVCC" -std=c++17 -O3 -arch="$CUDA_ARCH" -I"$dir/moe/cuda" -I"$dir/dense/cuda" -o "$dir/bench" \
    bench/cuda/bench.cu "$dir/moe/cuda/moe_layer.cu" "$dir/dense/cuda/dense_ffn.cu"
  for tokens in 1 128; do
    echo "config $id, $tokens token(s), $ARITHMETIC:" >&2
    "$dir/bench" "$dir/moe.safetensors" "$dir/dense.safetensors" "$tokens" "$hidden" "$ffn" "$experts" "$k" "$PAIRS"
  done
done
