import type { Program } from '../program.js';
import { cmakeSource, harnessSource } from './harness-source.js';
import { cIdentifier, modelSource } from './model-source.js';
import { RUNTIME_HEADER } from './runtime-header.js';
import { SAFETENSORS_HEADER } from './safetensors-header.js';

/**
 * Every file of a Program's CUDA output, by file name: the model (`<model>.cu` with its kernels
 * and tables, `<model>.h` with its C API), the model-independent runtime and safetensors
 * headers, the harness and a CMake project. Deterministic: the same Program gives the same bytes.
 */
export function cudaFiles(program: Program): Map<string, string> {
  const id = cIdentifier(program.name);
  const { cu, h } = modelSource(program);
  return new Map([
    [`${id}.cu`, cu],
    [`${id}.h`, h],
    ['moec_runtime.cuh', RUNTIME_HEADER],
    ['moec_safetensors.h', SAFETENSORS_HEADER],
    ['harness.cu', harnessSource(id)],
    ['CMakeLists.txt', cmakeSource(id)],
  ]);
}
