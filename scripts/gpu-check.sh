#!/usr/bin/env bash
# The CUDA back end against the CPU reference, on a machine with an NVIDIA GPU (docs/cuda.md).
# For every example at its test sizes (test/support/small.ts): compile it with
# `moec compile --target cuda`, build the harness with nvcc for the GPU present, make weights and
# a random input with moec, and run the harness four ways: plain; through a captured CUDA graph
# (token count in device memory); in a context for 4x the tokens (every launch has workgroups
# past the real work); and three times in a row. Each output must match `moec run --backend cpu`
# within relative L2 1e-5 (the CUDA kernels compute in f32 whatever the stored dtype), and the
# four outputs must be bit-identical (no float atomics: results never depend on timing).
# Then the tensor-core builds (test/support/cuda.ts TENSOR_CORE_BUILDS: f16 and bf16 arithmetic,
# products on WMMA subgroup matrices) the same way, within relative L2 2e-3.
#
# usage: scripts/gpu-check.sh [EXAMPLE.moe | LABEL ...]     (default: every build; labels as printed, e.g. mixtral-8x7b-cuda-bf16)
# environment: NVCC (default nvcc), CUDA_ARCH (default native), TOKENS (default 5), KEEP=1 keeps the work directory
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
NVCC=${NVCC:-nvcc}
CUDA_ARCH=${CUDA_ARCH:-native}
TOKENS=${TOKENS:-5}

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU here (nvidia-smi lists none); the CUDA output can only be compiled (npx vitest run test/cuda-nvcc.test.ts)" >&2
  exit 1
fi
command -v "$NVCC" >/dev/null || { echo "gpu-check: $NVCC not found (set NVCC)" >&2; exit 1; }
nvidia-smi -L >&2

work=$(mktemp -d "${TMPDIR:-/tmp}/moec-gpu-check.XXXXXX")
[ "${KEEP:-0}" = 1 ] && echo "gpu-check: working in $work" >&2 || trap 'rm -rf "$work"' EXIT

scripts/with-env npx tsc -p tsconfig.json
moec() { scripts/with-env node "$root/bin/moec.js" "$@"; }

scripts/with-env npx tsx scripts/gpu-builds.ts "$work" >"$work/dims"

# node helpers over moec's own safetensors module: the harness's input from the reference run, and comparisons.
safetensors="$root/dist/runtime/safetensors.js"
make_input() { # REF.safetensors INPUT.safetensors: x from the reference run, ids 0..T-1 as moec run --random-input uses
  scripts/with-env node --input-type=module -e "
    import { readFileSync, writeFileSync } from 'node:fs';
    import { readSafetensors, writeSafetensors } from '$safetensors';
    const x = readSafetensors(readFileSync('$1')).get('x').tensor;
    const ids = { dtype: 'i32', shape: [x.shape[0]], data: Int32Array.from({ length: x.shape[0] }, (_, i) => i) };
    writeFileSync('$2', writeSafetensors(new Map([['x', { tensor: x, as: 'F32' }], ['ids', { tensor: ids, as: 'I32' }]])));
  "
}
compare() { # TOLERANCE REF OUT...: prints the relative L2 error of each OUT's y against REF's; fails past TOLERANCE or if the OUTs differ in any bit
  scripts/with-env node --input-type=module -e "
    import { readFileSync } from 'node:fs';
    import { readSafetensors } from '$safetensors';
    const tolerance = Number(process.argv[1]);
    const [ref, ...outs] = process.argv.slice(2).map((f) => readSafetensors(readFileSync(f)).get('y').tensor.data);
    const errors = outs.map((y) => {
      if (y.length !== ref.length) return Infinity;
      let num = 0, den = 0;
      for (let i = 0; i < y.length; i++) { num += (y[i] - ref[i]) ** 2; den += ref[i] ** 2; }
      return Math.sqrt(num / (den || 1));
    });
    const identical = outs.every((y) => Buffer.from(y.buffer).equals(Buffer.from(outs[0].buffer)));
    console.log(errors.map((e) => e.toExponential(2)).join(' ') + (identical ? '' : ' (outputs differ between runs)'));
    process.exit(errors.every((e) => e < tolerance) && identical ? 0 : 1);
  " "$@"
}

wanted=("$@")
failures=0
printf '%-28s %-10s %s\n' build result 'relative L2 (plain, graph, 4x context, 3 runs)'
while read -r label file arithmetic tolerance sets; do
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " == *" ${file##*/} "* && ! " ${wanted[*]} " == *" $label "* ]]; then continue; fi
  dir="$work/$label"
  mkdir -p "$dir"
  # shellcheck disable=SC2086 # $sets is a list of options
  if ! {
    moec compile "$file" $sets --target cuda --arithmetic "$arithmetic" -o "$dir/out" 2>"$dir/compile.log" &&
      moec init-weights "$file" $sets --seed 1 -o "$dir/w.safetensors" &&
      moec run "$file" $sets --weights "$dir/w.safetensors" --random-input "$TOKENS" --seed 2 -o "$dir/ref.safetensors" &&
      make_input "$dir/ref.safetensors" "$dir/x.safetensors" &&
      (cd "$dir/out/cuda" && "$NVCC" -std=c++17 -O3 -arch="$CUDA_ARCH" -o harness harness.cu "$(ls ./*.cu | grep -v '/harness\.cu$')") >"$dir/nvcc.log" 2>&1
  } 2>"$dir/setup.log"; then
    printf '%-28s %-10s %s\n' "$label" SETUP "see $dir (KEEP=1 keeps it)"
    failures=$((failures + 1))
    continue
  fi
  h="$dir/out/cuda/harness"
  if "$h" "$dir/w.safetensors" "$dir/x.safetensors" "$dir/y.safetensors" 2>"$dir/run.log" &&
    "$h" "$dir/w.safetensors" "$dir/x.safetensors" "$dir/y-graph.safetensors" --graph 2>>"$dir/run.log" &&
    "$h" "$dir/w.safetensors" "$dir/x.safetensors" "$dir/y-max.safetensors" --graph --max-tokens $((4 * TOKENS)) 2>>"$dir/run.log" &&
    "$h" "$dir/w.safetensors" "$dir/x.safetensors" "$dir/y-repeat.safetensors" --repeat 3 2>>"$dir/run.log"; then
    if line=$(compare "$tolerance" "$dir/ref.safetensors" "$dir/y.safetensors" "$dir/y-graph.safetensors" "$dir/y-max.safetensors" "$dir/y-repeat.safetensors"); then
      printf '%-28s %-10s %s\n' "$label" ok "$line"
    else
      printf '%-28s %-10s %s\n' "$label" MISMATCH "$line"
      failures=$((failures + 1))
    fi
  else
    printf '%-28s %-10s %s\n' "$label" RUN-ERROR "$(tail -1 "$dir/run.log")"
    failures=$((failures + 1))
  fi
done <"$work/dims"

if [ "$failures" -gt 0 ]; then
  echo "gpu-check: $failures build(s) failed" >&2
  exit 1
fi
echo "gpu-check: every build matches the CPU reference" >&2
