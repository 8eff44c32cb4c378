// rmsnorm: rmsnorm per row
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<u32>;
@group(0) @binding(3) var<storage, read_write> out0: array<f32>;

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let global_x: i32 = i32(gid.x);
  let global_y: i32 = i32(gid.y);
  let r0: i32 = global_x + global_y * 262144i;
  if (r0 >= i32(shape.tokens)) {
    return;
  }
  var ms1: f32 = 0.0f;
  for (var i2: i32 = 0i; i2 < 16i; i2 += 1) {
    ms1 = ms1 + in0[r0 * 16i + i2] * in0[r0 * 16i + i2];
  }
  let inv3: f32 = 1.0f / sqrt(ms1 / 16.0f + 9.999999974752427e-7f);
  for (var i4: i32 = 0i; i4 < 16i; i4 += 1) {
    out0[r0 * 16i + i4] = in0[r0 * 16i + i4] * inv3 * bitcast<f32>(select(in1[i4 >> u32(1i)] << u32(16i), in1[i4 >> u32(1i)] & 4294901760u, (i4 & 1i) == 1i));
  }
}
