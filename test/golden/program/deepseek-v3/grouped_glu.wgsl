enable subgroups;

// grouped_glu: silu(x·W_gate) * (x·W_up) over each expert's rows, x read through the permutation
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> a_perm: array<i32>;
@group(0) @binding(3) var<storage, read> w0: array<f32>;
@group(0) @binding(4) var<storage, read> w1: array<f32>;
@group(0) @binding(5) var<storage, read> tile_start: array<i32>;
@group(0) @binding(6) var<storage, read> tile_expert: array<i32>;
@group(0) @binding(7) var<storage, read> tile_row: array<i32>;
@group(0) @binding(8) var<storage, read> offsets: array<i32>;
@group(0) @binding(9) var<storage, read> counts: array<i32>;
@group(0) @binding(10) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sgid: u32) {
  let local_x: i32 = i32(lid.x);
  let workgroup_x: i32 = i32(wid.x);
  let workgroup_y: i32 = i32(wid.y);
  let n0: i32 = workgroup_x * 8i + local_x;
  let col1: i32 = min(n0, 7i);
  let tile2: i32 = tile_start[0i] + workgroup_y;
  let e3: i32 = tile_expert[tile2];
  let r04: i32 = tile_row[tile2];
  let m_end5: i32 = min(8i, offsets[e3] + counts[e3] - r04);
  let wbase6: i32 = (e3 - 0i) * 128i;
  if (m_end5 <= 0i) {
    return;
  }
  var acc7: array<f32, 8>;
  var acc8: array<f32, 8>;
  var abase9: array<i32, 8>;
  for (var m10: i32 = 0i; m10 < 8i; m10 += 1) {
    acc7[m10] = 0.0f;
    acc8[m10] = 0.0f;
  }
  for (var m11: i32 = 0i; m11 < m_end5; m11 += 1) {
    abase9[m11] = a_perm[r04 + m11] * 16i;
  }
  var achunk12: array<f32, 8>;
  for (var k013: i32 = 0i; k013 < 16i; k013 += 8) {
    for (var m14: i32 = 0i; m14 < m_end5; m14 += 1) {
      achunk12[m14] = a[abase9[m14] + (k013 + local_x)];
    }
    let b15: f32 = w0[wbase6 + ((k013 + 0i) * 8i + col1)];
    let b16: f32 = w1[wbase6 + ((k013 + 0i) * 8i + col1)];
    for (var m17: i32 = 0i; m17 < m_end5; m17 += 1) {
      let a18: f32 = subgroupBroadcast(achunk12[m17], 0u);
      acc7[m17] = acc7[m17] + a18 * b15;
      acc8[m17] = acc8[m17] + a18 * b16;
    }
    let b19: f32 = w0[wbase6 + ((k013 + 1i) * 8i + col1)];
    let b20: f32 = w1[wbase6 + ((k013 + 1i) * 8i + col1)];
    for (var m21: i32 = 0i; m21 < m_end5; m21 += 1) {
      let a22: f32 = subgroupBroadcast(achunk12[m21], 1u);
      acc7[m21] = acc7[m21] + a22 * b19;
      acc8[m21] = acc8[m21] + a22 * b20;
    }
    let b23: f32 = w0[wbase6 + ((k013 + 2i) * 8i + col1)];
    let b24: f32 = w1[wbase6 + ((k013 + 2i) * 8i + col1)];
    for (var m25: i32 = 0i; m25 < m_end5; m25 += 1) {
      let a26: f32 = subgroupBroadcast(achunk12[m25], 2u);
      acc7[m25] = acc7[m25] + a26 * b23;
      acc8[m25] = acc8[m25] + a26 * b24;
    }
    let b27: f32 = w0[wbase6 + ((k013 + 3i) * 8i + col1)];
    let b28: f32 = w1[wbase6 + ((k013 + 3i) * 8i + col1)];
    for (var m29: i32 = 0i; m29 < m_end5; m29 += 1) {
      let a30: f32 = subgroupBroadcast(achunk12[m29], 3u);
      acc7[m29] = acc7[m29] + a30 * b27;
      acc8[m29] = acc8[m29] + a30 * b28;
    }
    let b31: f32 = w0[wbase6 + ((k013 + 4i) * 8i + col1)];
    let b32: f32 = w1[wbase6 + ((k013 + 4i) * 8i + col1)];
    for (var m33: i32 = 0i; m33 < m_end5; m33 += 1) {
      let a34: f32 = subgroupBroadcast(achunk12[m33], 4u);
      acc7[m33] = acc7[m33] + a34 * b31;
      acc8[m33] = acc8[m33] + a34 * b32;
    }
    let b35: f32 = w0[wbase6 + ((k013 + 5i) * 8i + col1)];
    let b36: f32 = w1[wbase6 + ((k013 + 5i) * 8i + col1)];
    for (var m37: i32 = 0i; m37 < m_end5; m37 += 1) {
      let a38: f32 = subgroupBroadcast(achunk12[m37], 5u);
      acc7[m37] = acc7[m37] + a38 * b35;
      acc8[m37] = acc8[m37] + a38 * b36;
    }
    let b39: f32 = w0[wbase6 + ((k013 + 6i) * 8i + col1)];
    let b40: f32 = w1[wbase6 + ((k013 + 6i) * 8i + col1)];
    for (var m41: i32 = 0i; m41 < m_end5; m41 += 1) {
      let a42: f32 = subgroupBroadcast(achunk12[m41], 6u);
      acc7[m41] = acc7[m41] + a42 * b39;
      acc8[m41] = acc8[m41] + a42 * b40;
    }
    let b43: f32 = w0[wbase6 + ((k013 + 7i) * 8i + col1)];
    let b44: f32 = w1[wbase6 + ((k013 + 7i) * 8i + col1)];
    for (var m45: i32 = 0i; m45 < m_end5; m45 += 1) {
      let a46: f32 = subgroupBroadcast(achunk12[m45], 7u);
      acc7[m45] = acc7[m45] + a46 * b43;
      acc8[m45] = acc8[m45] + a46 * b44;
    }
  }
  if (n0 < 8i) {
    for (var m47: i32 = 0i; m47 < m_end5; m47 += 1) {
      let row48: i32 = r04 + m47;
      out[row48 * 8i + n0] = acc7[m47] * select(exp(acc7[m47]) / (1.0f + exp(acc7[m47])), 1.0f / (1.0f + exp(-acc7[m47])), acc7[m47] >= 0.0f) * acc8[m47];
    }
  }
}
