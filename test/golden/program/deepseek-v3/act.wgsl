// act: act per element
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let global_x: i32 = i32(gid.x);
  let global_y: i32 = i32(gid.y);
  let t0: i32 = global_x + global_y * 2097152i;
  if (t0 >= i32(shape.tokens) * 24i) {
    return;
  }
  out[t0] = in0[t0] * select(exp(in0[t0]) / (1.0f + exp(in0[t0])), 1.0f / (1.0f + exp(-in0[t0])), in0[t0] >= 0.0f);
}
