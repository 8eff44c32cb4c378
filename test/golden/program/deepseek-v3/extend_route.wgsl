// extend_route: append always-selected experts to every row
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_ids: array<i32>;
@group(0) @binding(4) var<storage, read_write> out_w: array<f32>;

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let global_x: i32 = i32(gid.x);
  let global_y: i32 = i32(gid.y);
  let t0: i32 = global_x + global_y * 262144i;
  if (t0 >= i32(shape.tokens)) {
    return;
  }
  for (var s1: i32 = 0i; s1 < 9i; s1 += 1) {
    let from2: i32 = t0 * 8i + s1;
    let to3: i32 = t0 * 9i + s1;
    out_ids[to3] = select(ids[select(from2, 0i, s1 >= 8i)], s1 - 8i + 32i, s1 >= 8i);
    out_w[to3] = select(w[select(from2, 0i, s1 >= 8i)], 1.0f, s1 >= 8i);
  }
}
