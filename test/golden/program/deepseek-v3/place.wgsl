// place: each expert sums the padded counts before it (its offset), then walks the routing decisions in order and places its rows
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> counts: array<i32>;
@group(0) @binding(3) var<storage, read_write> perm: array<i32>;
@group(0) @binding(4) var<storage, read_write> inverse: array<i32>;
@group(0) @binding(5) var<storage, read_write> slot_of: array<i32>;
@group(0) @binding(6) var<storage, read_write> offsets: array<i32>;

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let global_x: i32 = i32(gid.x);
  let global_y: i32 = i32(gid.y);
  let t0: i32 = global_x + global_y * 262144i;
  if (t0 >= 33i) {
    return;
  }
  var start1: i32 = 0i;
  for (var x2: i32 = 0i; x2 < t0; x2 += 1) {
    start1 = start1 + (counts[x2] + 15i) / 16i * 16i;
  }
  let end3: i32 = start1 + (counts[t0] + 15i) / 16i * 16i;
  offsets[t0] = start1;
  if (t0 == 32i) {
    offsets[33i] = end3;
  }
  var pos4: i32 = start1;
  for (var i5: i32 = 0i; i5 < i32(shape.tokens) * 9i; i5 += 1) {
    let id6: i32 = ids[i5];
    if (id6 == t0) {
      perm[pos4] = i5 / 9i;
      slot_of[pos4] = i5;
      inverse[i5] = pos4;
      pos4 = pos4 + 1i;
    }
    if ((id6 < 0i) && (t0 == 0i)) {
      inverse[i5] = -1i;
    }
  }
  for (var q7: i32 = pos4; q7 < end3; q7 += 1) {
    perm[q7] = -1i;
    slot_of[q7] = -1i;
  }
}
