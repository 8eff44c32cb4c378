// count: routing decisions per expert
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<i32>;

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let global_x: i32 = i32(gid.x);
  let global_y: i32 = i32(gid.y);
  let t0: i32 = global_x + global_y * 262144i;
  if (t0 >= 33i) {
    return;
  }
  var c1: i32 = 0i;
  for (var i2: i32 = 0i; i2 < i32(shape.tokens) * 9i; i2 += 1) {
    if (ids[i2] == t0) {
      c1 = c1 + 1i;
    }
  }
  out[t0] = c1;
}
