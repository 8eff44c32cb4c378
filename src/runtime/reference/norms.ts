/** rmsnorm and layernorm over the last dim, statistics in f64. */
export function rmsnorm(x: Float32Array, rows: number, d: number, g: Float32Array, eps: number): Float32Array {
  const y = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let ms = 0;
    for (let i = 0; i < d; i++) ms += x[r * d + i]! ** 2;
    const inv = 1 / Math.sqrt(ms / d + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = x[r * d + i]! * inv * g[i]!;
  }
  return y;
}

export function layernorm(x: Float32Array, rows: number, d: number, g: Float32Array, b: Float32Array, eps: number): Float32Array {
  const y = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[r * d + i]!;
    mean /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[r * d + i]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / d + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = (x[r * d + i]! - mean) * inv * g[i]! + b[i]!;
  }
  return y;
}
