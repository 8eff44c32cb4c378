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
  let col1: i32 = min(n0, 11i);
  let c02: i32 = col1 * 2i;
  let r03: i32 = workgroup_y * 8i;
  let m_end4: i32 = min(8i, i32(shape.tokens) - r03);
  if (m_end4 <= 0i) {
    return;
  }
  var acc5: array<f32, 16>;
  var abase6: array<i32, 8>;
  for (var m7: i32 = 0i; m7 < 16i; m7 += 1) {
    acc5[m7] = 0.0f;
  }
  for (var m8: i32 = 0i; m8 < m_end4; m8 += 1) {
    abase6[m8] = (r03 + m8) * 16i;
  }
  var achunk9: array<f32, 8>;
  for (var k010: i32 = 0i; k010 < 16i; k010 += 8) {
    for (var m11: i32 = 0i; m11 < m_end4; m11 += 1) {
      achunk9[m11] = a[abase6[m11] + (k010 + local_x)];
    }
    let wd12: u32 = w0[((k010 + 0i) * 24i + c02) >> u32(1i)];
    let b13: f32 = bitcast<f32>(wd12 << u32(16i));
    let b14: f32 = bitcast<f32>(wd12 & 4294901760u);
    for (var m15: i32 = 0i; m15 < m_end4; m15 += 1) {
      let a16: f32 = subgroupBroadcast(achunk9[m15], 0u);
      acc5[m15 * 2i + 0i] = acc5[m15 * 2i + 0i] + a16 * b13;
      acc5[m15 * 2i + 1i] = acc5[m15 * 2i + 1i] + a16 * b14;
    }
    let wd17: u32 = w0[((k010 + 1i) * 24i + c02) >> u32(1i)];
    let b18: f32 = bitcast<f32>(wd17 << u32(16i));
    let b19: f32 = bitcast<f32>(wd17 & 4294901760u);
    for (var m20: i32 = 0i; m20 < m_end4; m20 += 1) {
      let a21: f32 = subgroupBroadcast(achunk9[m20], 1u);
      acc5[m20 * 2i + 0i] = acc5[m20 * 2i + 0i] + a21 * b18;
      acc5[m20 * 2i + 1i] = acc5[m20 * 2i + 1i] + a21 * b19;
    }
    let wd22: u32 = w0[((k010 + 2i) * 24i + c02) >> u32(1i)];
    let b23: f32 = bitcast<f32>(wd22 << u32(16i));
    let b24: f32 = bitcast<f32>(wd22 & 4294901760u);
    for (var m25: i32 = 0i; m25 < m_end4; m25 += 1) {
      let a26: f32 = subgroupBroadcast(achunk9[m25], 2u);
      acc5[m25 * 2i + 0i] = acc5[m25 * 2i + 0i] + a26 * b23;
      acc5[m25 * 2i + 1i] = acc5[m25 * 2i + 1i] + a26 * b24;
    }
    let wd27: u32 = w0[((k010 + 3i) * 24i + c02) >> u32(1i)];
    let b28: f32 = bitcast<f32>(wd27 << u32(16i));
    let b29: f32 = bitcast<f32>(wd27 & 4294901760u);
    for (var m30: i32 = 0i; m30 < m_end4; m30 += 1) {
      let a31: f32 = subgroupBroadcast(achunk9[m30], 3u);
      acc5[m30 * 2i + 0i] = acc5[m30 * 2i + 0i] + a31 * b28;
      acc5[m30 * 2i + 1i] = acc5[m30 * 2i + 1i] + a31 * b29;
    }
    let wd32: u32 = w0[((k010 + 4i) * 24i + c02) >> u32(1i)];
    let b33: f32 = bitcast<f32>(wd32 << u32(16i));
    let b34: f32 = bitcast<f32>(wd32 & 4294901760u);
    for (var m35: i32 = 0i; m35 < m_end4; m35 += 1) {
      let a36: f32 = subgroupBroadcast(achunk9[m35], 4u);
      acc5[m35 * 2i + 0i] = acc5[m35 * 2i + 0i] + a36 * b33;
      acc5[m35 * 2i + 1i] = acc5[m35 * 2i + 1i] + a36 * b34;
    }
    let wd37: u32 = w0[((k010 + 5i) * 24i + c02) >> u32(1i)];
    let b38: f32 = bitcast<f32>(wd37 << u32(16i));
    let b39: f32 = bitcast<f32>(wd37 & 4294901760u);
    for (var m40: i32 = 0i; m40 < m_end4; m40 += 1) {
      let a41: f32 = subgroupBroadcast(achunk9[m40], 5u);
      acc5[m40 * 2i + 0i] = acc5[m40 * 2i + 0i] + a41 * b38;
      acc5[m40 * 2i + 1i] = acc5[m40 * 2i + 1i] + a41 * b39;
    }
    let wd42: u32 = w0[((k010 + 6i) * 24i + c02) >> u32(1i)];
    let b43: f32 = bitcast<f32>(wd42 << u32(16i));
    let b44: f32 = bitcast<f32>(wd42 & 4294901760u);
    for (var m45: i32 = 0i; m45 < m_end4; m45 += 1) {
      let a46: f32 = subgroupBroadcast(achunk9[m45], 6u);
      acc5[m45 * 2i + 0i] = acc5[m45 * 2i + 0i] + a46 * b43;
      acc5[m45 * 2i + 1i] = acc5[m45 * 2i + 1i] + a46 * b44;
    }
    let wd47: u32 = w0[((k010 + 7i) * 24i + c02) >> u32(1i)];
    let b48: f32 = bitcast<f32>(wd47 << u32(16i));
    let b49: f32 = bitcast<f32>(wd47 & 4294901760u);
    for (var m50: i32 = 0i; m50 < m_end4; m50 += 1) {
      let a51: f32 = subgroupBroadcast(achunk9[m50], 7u);
      acc5[m50 * 2i + 0i] = acc5[m50 * 2i + 0i] + a51 * b48;
      acc5[m50 * 2i + 1i] = acc5[m50 * 2i + 1i] + a51 * b49;
    }
  }
  if (n0 < 12i) {
    for (var m52: i32 = 0i; m52 < m_end4; m52 += 1) {
      let row53: i32 = r03 + m52;
      let n54: i32 = c02 + 0i;
      out[row53 * 24i + n54] = acc5[m52 * 2i + 0i];
      let n55: i32 = c02 + 1i;
      out[row53 * 24i + n55] = acc5[m52 * 2i + 1i];
    }
  }
}
