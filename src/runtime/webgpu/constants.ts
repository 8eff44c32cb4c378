/**
 * WebGPU's flag constants (GPUBufferUsage, GPUMapMode, GPUShaderStage) by value, as the spec
 * fixes them: Node's `webgpu` package exposes them only through its `globals`, and the
 * launcher must not depend on globals being installed.
 */
export const BUFFER_USAGE = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
  INDIRECT: 0x0100,
  QUERY_RESOLVE: 0x0200,
} as const;

export const MAP_MODE = { READ: 0x0001, WRITE: 0x0002 } as const;

export const SHADER_STAGE = { COMPUTE: 0x4 } as const;
