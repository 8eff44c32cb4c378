enable subgroups;

// grouped_up_glu: silu(gate) * (x·W_up) over each expert's rows, the gate from the first pass
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> a_perm: array<i32>;
@group(0) @binding(3) var<storage, read> w0: array<u32>;
@group(0) @binding(4) var<storage, read> grid: array<i32>;
@group(0) @binding(5) var<storage, read> tiles: array<i32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read> gate: array<f32>;

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sgid: u32) {
  let local_x: i32 = i32(lid.x);
  let workgroup_x: i32 = i32(wid.x);
  let workgroup_y: i32 = i32(wid.y);
  let n0: i32 = workgroup_x * 8i + local_x;
  let col1: i32 = min(n0, 3i);
  let c02: i32 = col1 * 2i;
  let tile3: i32 = (grid[3i] + workgroup_y) * 3i;
  let e4: i32 = tiles[tile3];
  let r05: i32 = tiles[tile3 + 1i];
  let m_end6: i32 = tiles[tile3 + 2i];
  let we7: i32 = e4 - grid[4i];
  if (m_end6 <= 0i) {
    return;
  }
  var acc8: array<f32, 16>;
  var abase9: array<i32, 8>;
  for (var m10: i32 = 0i; m10 < 16i; m10 += 1) {
    acc8[m10] = 0.0f;
  }
  for (var m11: i32 = 0i; m11 < m_end6; m11 += 1) {
    abase9[m11] = a_perm[r05 + m11] * 16i;
  }
  var achunk12: array<f32, 8>;
  for (var k013: i32 = 0i; k013 < 16i; k013 += 8) {
    for (var m14: i32 = 0i; m14 < m_end6; m14 += 1) {
      achunk12[m14] = a[abase9[m14] + (k013 + local_x)];
    }
    let wd15: u32 = w0[(we7 * 128i + ((k013 + 0i) * 8i + c02)) >> u32(1i)];
    let b16: f32 = bitcast<f32>(wd15 << u32(16i));
    let b17: f32 = bitcast<f32>(wd15 & 4294901760u);
    for (var m18: i32 = 0i; m18 < m_end6; m18 += 1) {
      let a19: f32 = subgroupBroadcast(achunk12[m18], 0u);
      acc8[m18 * 2i + 0i] = acc8[m18 * 2i + 0i] + a19 * b16;
      acc8[m18 * 2i + 1i] = acc8[m18 * 2i + 1i] + a19 * b17;
    }
    let wd20: u32 = w0[(we7 * 128i + ((k013 + 1i) * 8i + c02)) >> u32(1i)];
    let b21: f32 = bitcast<f32>(wd20 << u32(16i));
    let b22: f32 = bitcast<f32>(wd20 & 4294901760u);
    for (var m23: i32 = 0i; m23 < m_end6; m23 += 1) {
      let a24: f32 = subgroupBroadcast(achunk12[m23], 1u);
      acc8[m23 * 2i + 0i] = acc8[m23 * 2i + 0i] + a24 * b21;
      acc8[m23 * 2i + 1i] = acc8[m23 * 2i + 1i] + a24 * b22;
    }
    let wd25: u32 = w0[(we7 * 128i + ((k013 + 2i) * 8i + c02)) >> u32(1i)];
    let b26: f32 = bitcast<f32>(wd25 << u32(16i));
    let b27: f32 = bitcast<f32>(wd25 & 4294901760u);
    for (var m28: i32 = 0i; m28 < m_end6; m28 += 1) {
      let a29: f32 = subgroupBroadcast(achunk12[m28], 2u);
      acc8[m28 * 2i + 0i] = acc8[m28 * 2i + 0i] + a29 * b26;
      acc8[m28 * 2i + 1i] = acc8[m28 * 2i + 1i] + a29 * b27;
    }
    let wd30: u32 = w0[(we7 * 128i + ((k013 + 3i) * 8i + c02)) >> u32(1i)];
    let b31: f32 = bitcast<f32>(wd30 << u32(16i));
    let b32: f32 = bitcast<f32>(wd30 & 4294901760u);
    for (var m33: i32 = 0i; m33 < m_end6; m33 += 1) {
      let a34: f32 = subgroupBroadcast(achunk12[m33], 3u);
      acc8[m33 * 2i + 0i] = acc8[m33 * 2i + 0i] + a34 * b31;
      acc8[m33 * 2i + 1i] = acc8[m33 * 2i + 1i] + a34 * b32;
    }
    let wd35: u32 = w0[(we7 * 128i + ((k013 + 4i) * 8i + c02)) >> u32(1i)];
    let b36: f32 = bitcast<f32>(wd35 << u32(16i));
    let b37: f32 = bitcast<f32>(wd35 & 4294901760u);
    for (var m38: i32 = 0i; m38 < m_end6; m38 += 1) {
      let a39: f32 = subgroupBroadcast(achunk12[m38], 4u);
      acc8[m38 * 2i + 0i] = acc8[m38 * 2i + 0i] + a39 * b36;
      acc8[m38 * 2i + 1i] = acc8[m38 * 2i + 1i] + a39 * b37;
    }
    let wd40: u32 = w0[(we7 * 128i + ((k013 + 5i) * 8i + c02)) >> u32(1i)];
    let b41: f32 = bitcast<f32>(wd40 << u32(16i));
    let b42: f32 = bitcast<f32>(wd40 & 4294901760u);
    for (var m43: i32 = 0i; m43 < m_end6; m43 += 1) {
      let a44: f32 = subgroupBroadcast(achunk12[m43], 5u);
      acc8[m43 * 2i + 0i] = acc8[m43 * 2i + 0i] + a44 * b41;
      acc8[m43 * 2i + 1i] = acc8[m43 * 2i + 1i] + a44 * b42;
    }
    let wd45: u32 = w0[(we7 * 128i + ((k013 + 6i) * 8i + c02)) >> u32(1i)];
    let b46: f32 = bitcast<f32>(wd45 << u32(16i));
    let b47: f32 = bitcast<f32>(wd45 & 4294901760u);
    for (var m48: i32 = 0i; m48 < m_end6; m48 += 1) {
      let a49: f32 = subgroupBroadcast(achunk12[m48], 6u);
      acc8[m48 * 2i + 0i] = acc8[m48 * 2i + 0i] + a49 * b46;
      acc8[m48 * 2i + 1i] = acc8[m48 * 2i + 1i] + a49 * b47;
    }
    let wd50: u32 = w0[(we7 * 128i + ((k013 + 7i) * 8i + c02)) >> u32(1i)];
    let b51: f32 = bitcast<f32>(wd50 << u32(16i));
    let b52: f32 = bitcast<f32>(wd50 & 4294901760u);
    for (var m53: i32 = 0i; m53 < m_end6; m53 += 1) {
      let a54: f32 = subgroupBroadcast(achunk12[m53], 7u);
      acc8[m53 * 2i + 0i] = acc8[m53 * 2i + 0i] + a54 * b51;
      acc8[m53 * 2i + 1i] = acc8[m53 * 2i + 1i] + a54 * b52;
    }
  }
  if (n0 < 4i) {
    for (var m55: i32 = 0i; m55 < m_end6; m55 += 1) {
      let row56: i32 = r05 + m55;
      let n57: i32 = c02 + 0i;
      out[row56 * 8i + n57] = gate[row56 * 8i + n57] * select(exp(gate[row56 * 8i + n57]) / (1.0f + exp(gate[row56 * 8i + n57])), 1.0f / (1.0f + exp(-gate[row56 * 8i + n57])), gate[row56 * 8i + n57] >= 0.0f) * acc8[m55 * 2i + 0i];
      let n58: i32 = c02 + 1i;
      out[row56 * 8i + n58] = gate[row56 * 8i + n58] * select(exp(gate[row56 * 8i + n58]) / (1.0f + exp(gate[row56 * 8i + n58])), 1.0f / (1.0f + exp(-gate[row56 * 8i + n58])), gate[row56 * 8i + n58] >= 0.0f) * acc8[m55 * 2i + 1i];
    }
  }
}
