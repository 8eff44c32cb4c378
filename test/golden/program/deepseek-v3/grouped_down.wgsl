enable subgroups;

// grouped_down: w · (h·W_down) over each expert's rows (the routing weight applied here, summed by combine)
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w0: array<u32>;
@group(0) @binding(3) var<storage, read> grid: array<i32>;
@group(0) @binding(4) var<storage, read> tiles: array<i32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> slot_of: array<i32>;
@group(0) @binding(7) var<storage, read> route_w: array<f32>;

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sgid: u32) {
  let local_x: i32 = i32(lid.x);
  let workgroup_x: i32 = i32(wid.x);
  let workgroup_y: i32 = i32(wid.y);
  let n0: i32 = workgroup_x * 8i + local_x;
  let col1: i32 = min(n0, 15i);
  let tile2: i32 = (grid[3i] + workgroup_y) * 3i;
  let e3: i32 = tiles[tile2];
  let r04: i32 = tiles[tile2 + 1i];
  let m_end5: i32 = tiles[tile2 + 2i];
  let wbase6: i32 = (e3 - grid[4i]) * 128i;
  if (m_end5 <= 0i) {
    return;
  }
  var acc7: array<f32, 8>;
  var abase8: array<i32, 8>;
  for (var m9: i32 = 0i; m9 < 8i; m9 += 1) {
    acc7[m9] = 0.0f;
  }
  for (var m10: i32 = 0i; m10 < m_end5; m10 += 1) {
    abase8[m10] = (r04 + m10) * 8i;
  }
  var achunk11: array<f32, 8>;
  for (var k012: i32 = 0i; k012 < 8i; k012 += 8) {
    for (var m13: i32 = 0i; m13 < m_end5; m13 += 1) {
      achunk11[m13] = a[abase8[m13] + (k012 + local_x)];
    }
    let b14: f32 = bitcast<f32>(select(w0[(wbase6 + ((k012 + 0i) * 16i + col1)) >> u32(1i)] << u32(16i), w0[(wbase6 + ((k012 + 0i) * 16i + col1)) >> u32(1i)] & 4294901760u, ((wbase6 + ((k012 + 0i) * 16i + col1)) & 1i) == 1i));
    for (var m15: i32 = 0i; m15 < m_end5; m15 += 1) {
      let a16: f32 = subgroupBroadcast(achunk11[m15], 0u);
      acc7[m15] = acc7[m15] + a16 * b14;
    }
    let b17: f32 = bitcast<f32>(select(w0[(wbase6 + ((k012 + 1i) * 16i + col1)) >> u32(1i)] << u32(16i), w0[(wbase6 + ((k012 + 1i) * 16i + col1)) >> u32(1i)] & 4294901760u, ((wbase6 + ((k012 + 1i) * 16i + col1)) & 1i) == 1i));
    for (var m18: i32 = 0i; m18 < m_end5; m18 += 1) {
      let a19: f32 = subgroupBroadcast(achunk11[m18], 1u);
      acc7[m18] = acc7[m18] + a19 * b17;
    }
    let b20: f32 = bitcast<f32>(select(w0[(wbase6 + ((k012 + 2i) * 16i + col1)) >> u32(1i)] << u32(16i), w0[(wbase6 + ((k012 + 2i) * 16i + col1)) >> u32(1i)] & 4294901760u, ((wbase6 + ((k012 + 2i) * 16i + col1)) & 1i) == 1i));
    for (var m21: i32 = 0i; m21 < m_end5; m21 += 1) {
      let a22: f32 = subgroupBroadcast(achunk11[m21], 2u);
      acc7[m21] = acc7[m21] + a22 * b20;
    }
    let b23: f32 = bitcast<f32>(select(w0[(wbase6 + ((k012 + 3i) * 16i + col1)) >> u32(1i)] << u32(16i), w0[(wbase6 + ((k012 + 3i) * 16i + col1)) >> u32(1i)] & 4294901760u, ((wbase6 + ((k012 + 3i) * 16i + col1)) & 1i) == 1i));
    for (var m24: i32 = 0i; m24 < m_end5; m24 += 1) {
      let a25: f32 = subgroupBroadcast(achunk11[m24], 3u);
      acc7[m24] = acc7[m24] + a25 * b23;
    }
    let b26: f32 = bitcast<f32>(select(w0[(wbase6 + ((k012 + 4i) * 16i + col1)) >> u32(1i)] << u32(16i), w0[(wbase6 + ((k012 + 4i) * 16i + col1)) >> u32(1i)] & 4294901760u, ((wbase6 + ((k012 + 4i) * 16i + col1)) & 1i) == 1i));
    for (var m27: i32 = 0i; m27 < m_end5; m27 += 1) {
      let a28: f32 = subgroupBroadcast(achunk11[m27], 4u);
      acc7[m27] = acc7[m27] + a28 * b26;
    }
    let b29: f32 = bitcast<f32>(select(w0[(wbase6 + ((k012 + 5i) * 16i + col1)) >> u32(1i)] << u32(16i), w0[(wbase6 + ((k012 + 5i) * 16i + col1)) >> u32(1i)] & 4294901760u, ((wbase6 + ((k012 + 5i) * 16i + col1)) & 1i) == 1i));
    for (var m30: i32 = 0i; m30 < m_end5; m30 += 1) {
      let a31: f32 = subgroupBroadcast(achunk11[m30], 5u);
      acc7[m30] = acc7[m30] + a31 * b29;
    }
    let b32: f32 = bitcast<f32>(select(w0[(wbase6 + ((k012 + 6i) * 16i + col1)) >> u32(1i)] << u32(16i), w0[(wbase6 + ((k012 + 6i) * 16i + col1)) >> u32(1i)] & 4294901760u, ((wbase6 + ((k012 + 6i) * 16i + col1)) & 1i) == 1i));
    for (var m33: i32 = 0i; m33 < m_end5; m33 += 1) {
      let a34: f32 = subgroupBroadcast(achunk11[m33], 6u);
      acc7[m33] = acc7[m33] + a34 * b32;
    }
    let b35: f32 = bitcast<f32>(select(w0[(wbase6 + ((k012 + 7i) * 16i + col1)) >> u32(1i)] << u32(16i), w0[(wbase6 + ((k012 + 7i) * 16i + col1)) >> u32(1i)] & 4294901760u, ((wbase6 + ((k012 + 7i) * 16i + col1)) & 1i) == 1i));
    for (var m36: i32 = 0i; m36 < m_end5; m36 += 1) {
      let a37: f32 = subgroupBroadcast(achunk11[m36], 7u);
      acc7[m36] = acc7[m36] + a37 * b35;
    }
  }
  if (n0 < 16i) {
    for (var m38: i32 = 0i; m38 < m_end5; m38 += 1) {
      let row39: i32 = r04 + m38;
      out[row39 * 16i + n0] = route_w[select(0i, slot_of[row39], slot_of[row39] >= 0i)] * acc7[m38];
    }
  }
}
