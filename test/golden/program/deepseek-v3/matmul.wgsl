enable subgroups;

// matmul: x·W
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w0: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sgid: u32) {
  let local_x: i32 = i32(lid.x);
  let workgroup_x: i32 = i32(wid.x);
  let workgroup_y: i32 = i32(wid.y);
  let n0: i32 = workgroup_x * 8i + local_x;
  let col1: i32 = min(n0, 23i);
  let r02: i32 = workgroup_y * 8i;
  let m_end3: i32 = min(8i, i32(shape.tokens) - r02);
  if (m_end3 <= 0i) {
    return;
  }
  var acc4: array<f32, 8>;
  var abase5: array<i32, 8>;
  for (var m6: i32 = 0i; m6 < 8i; m6 += 1) {
    acc4[m6] = 0.0f;
  }
  for (var m7: i32 = 0i; m7 < m_end3; m7 += 1) {
    abase5[m7] = (r02 + m7) * 16i;
  }
  var achunk8: array<f32, 8>;
  for (var k09: i32 = 0i; k09 < 16i; k09 += 8) {
    for (var m10: i32 = 0i; m10 < m_end3; m10 += 1) {
      achunk8[m10] = a[abase5[m10] + (k09 + local_x)];
    }
    let b11: f32 = bitcast<f32>(select(w0[(0i + ((k09 + 0i) * 24i + col1)) >> u32(1i)] << u32(16i), w0[(0i + ((k09 + 0i) * 24i + col1)) >> u32(1i)] & 4294901760u, ((0i + ((k09 + 0i) * 24i + col1)) & 1i) == 1i));
    for (var m12: i32 = 0i; m12 < m_end3; m12 += 1) {
      let a13: f32 = subgroupBroadcast(achunk8[m12], 0u);
      acc4[m12] = acc4[m12] + a13 * b11;
    }
    let b14: f32 = bitcast<f32>(select(w0[(0i + ((k09 + 1i) * 24i + col1)) >> u32(1i)] << u32(16i), w0[(0i + ((k09 + 1i) * 24i + col1)) >> u32(1i)] & 4294901760u, ((0i + ((k09 + 1i) * 24i + col1)) & 1i) == 1i));
    for (var m15: i32 = 0i; m15 < m_end3; m15 += 1) {
      let a16: f32 = subgroupBroadcast(achunk8[m15], 1u);
      acc4[m15] = acc4[m15] + a16 * b14;
    }
    let b17: f32 = bitcast<f32>(select(w0[(0i + ((k09 + 2i) * 24i + col1)) >> u32(1i)] << u32(16i), w0[(0i + ((k09 + 2i) * 24i + col1)) >> u32(1i)] & 4294901760u, ((0i + ((k09 + 2i) * 24i + col1)) & 1i) == 1i));
    for (var m18: i32 = 0i; m18 < m_end3; m18 += 1) {
      let a19: f32 = subgroupBroadcast(achunk8[m18], 2u);
      acc4[m18] = acc4[m18] + a19 * b17;
    }
    let b20: f32 = bitcast<f32>(select(w0[(0i + ((k09 + 3i) * 24i + col1)) >> u32(1i)] << u32(16i), w0[(0i + ((k09 + 3i) * 24i + col1)) >> u32(1i)] & 4294901760u, ((0i + ((k09 + 3i) * 24i + col1)) & 1i) == 1i));
    for (var m21: i32 = 0i; m21 < m_end3; m21 += 1) {
      let a22: f32 = subgroupBroadcast(achunk8[m21], 3u);
      acc4[m21] = acc4[m21] + a22 * b20;
    }
    let b23: f32 = bitcast<f32>(select(w0[(0i + ((k09 + 4i) * 24i + col1)) >> u32(1i)] << u32(16i), w0[(0i + ((k09 + 4i) * 24i + col1)) >> u32(1i)] & 4294901760u, ((0i + ((k09 + 4i) * 24i + col1)) & 1i) == 1i));
    for (var m24: i32 = 0i; m24 < m_end3; m24 += 1) {
      let a25: f32 = subgroupBroadcast(achunk8[m24], 4u);
      acc4[m24] = acc4[m24] + a25 * b23;
    }
    let b26: f32 = bitcast<f32>(select(w0[(0i + ((k09 + 5i) * 24i + col1)) >> u32(1i)] << u32(16i), w0[(0i + ((k09 + 5i) * 24i + col1)) >> u32(1i)] & 4294901760u, ((0i + ((k09 + 5i) * 24i + col1)) & 1i) == 1i));
    for (var m27: i32 = 0i; m27 < m_end3; m27 += 1) {
      let a28: f32 = subgroupBroadcast(achunk8[m27], 5u);
      acc4[m27] = acc4[m27] + a28 * b26;
    }
    let b29: f32 = bitcast<f32>(select(w0[(0i + ((k09 + 6i) * 24i + col1)) >> u32(1i)] << u32(16i), w0[(0i + ((k09 + 6i) * 24i + col1)) >> u32(1i)] & 4294901760u, ((0i + ((k09 + 6i) * 24i + col1)) & 1i) == 1i));
    for (var m30: i32 = 0i; m30 < m_end3; m30 += 1) {
      let a31: f32 = subgroupBroadcast(achunk8[m30], 6u);
      acc4[m30] = acc4[m30] + a31 * b29;
    }
    let b32: f32 = bitcast<f32>(select(w0[(0i + ((k09 + 7i) * 24i + col1)) >> u32(1i)] << u32(16i), w0[(0i + ((k09 + 7i) * 24i + col1)) >> u32(1i)] & 4294901760u, ((0i + ((k09 + 7i) * 24i + col1)) & 1i) == 1i));
    for (var m33: i32 = 0i; m33 < m_end3; m33 += 1) {
      let a34: f32 = subgroupBroadcast(achunk8[m33], 7u);
      acc4[m33] = acc4[m33] + a34 * b32;
    }
  }
  if (n0 < 24i) {
    for (var m35: i32 = 0i; m35 < m_end3; m35 += 1) {
      let row36: i32 = r02 + m35;
      out[row36 * 24i + n0] = acc4[m35];
    }
  }
}
