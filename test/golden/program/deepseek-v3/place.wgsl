// place: each expert sums the padded counts before it (its offset), then walks the routing decisions in order and places its rows
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> counts: array<i32>;
@group(0) @binding(3) var<storage, read_write> perm: array<i32>;
@group(0) @binding(4) var<storage, read_write> inverse: array<i32>;
@group(0) @binding(5) var<storage, read_write> slot_of: array<i32>;
@group(0) @binding(6) var<storage, read_write> offsets: array<i32>;
@group(0) @binding(7) var<storage, read_write> tiles: array<i32>;
@group(0) @binding(8) var<storage, read_write> tile_start: array<i32>;

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let global_x: i32 = i32(gid.x);
  let global_y: i32 = i32(gid.y);
  let t0: i32 = global_x + global_y * 262144i;
  if (t0 >= 33i) {
    return;
  }
  var start1: i32 = 0i;
  var first_tile2: i32 = 0i;
  for (var x3: i32 = 0i; x3 < t0; x3 += 1) {
    start1 = start1 + (counts[x3] + 15i) / 16i * 16i;
    first_tile2 = first_tile2 + (counts[x3] + 7i) / 8i;
  }
  let end4: i32 = start1 + (counts[t0] + 15i) / 16i * 16i;
  offsets[t0] = start1;
  if (t0 == 32i) {
    offsets[33i] = end4;
  }
  let tiles5: i32 = (counts[t0] + 7i) / 8i;
  tile_start[t0] = first_tile2;
  if (t0 == 32i) {
    tile_start[33i] = first_tile2 + tiles5;
  }
  for (var j6: i32 = 0i; j6 < tiles5; j6 += 1) {
    let record7: i32 = (first_tile2 + j6) * 3i;
    tiles[record7] = t0;
    tiles[record7 + 1i] = start1 + j6 * 8i;
    tiles[record7 + 2i] = min(8i, counts[t0] - j6 * 8i);
  }
  var pos8: i32 = start1;
  for (var i9: i32 = 0i; i9 < i32(shape.tokens) * 9i; i9 += 1) {
    let id10: i32 = ids[i9];
    if (id10 == t0) {
      perm[pos8] = i9 / 9i;
      slot_of[pos8] = i9;
      inverse[i9] = pos8;
      pos8 = pos8 + 1i;
    }
    if ((id10 < 0i) && (t0 == 0i)) {
      inverse[i9] = -1i;
    }
  }
  for (var q11: i32 = pos8; q11 < end4; q11 += 1) {
    perm[q11] = -1i;
    slot_of[q11] = -1i;
  }
}
