enable subgroups;

// grouped_gate: x·W_gate over each expert's rows (first pass of a gated expert)
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> a_perm: array<i32>;
@group(0) @binding(3) var<storage, read> w0: array<u32>;
@group(0) @binding(4) var<storage, read> grid: array<i32>;
@group(0) @binding(5) var<storage, read> tiles: array<i32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

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
  var acc8: f32 = 0.0f;
  var acc9: f32 = 0.0f;
  var acc10: f32 = 0.0f;
  var acc11: f32 = 0.0f;
  var acc12: f32 = 0.0f;
  var acc13: f32 = 0.0f;
  var acc14: f32 = 0.0f;
  var acc15: f32 = 0.0f;
  var acc16: f32 = 0.0f;
  var acc17: f32 = 0.0f;
  var acc18: f32 = 0.0f;
  var acc19: f32 = 0.0f;
  var acc20: f32 = 0.0f;
  var acc21: f32 = 0.0f;
  var acc22: f32 = 0.0f;
  var acc23: f32 = 0.0f;
  let abase24: i32 = a_perm[r05] * 16i;
  let abase25: i32 = a_perm[r05 + min(1i, m_end6 - 1i)] * 16i;
  let abase26: i32 = a_perm[r05 + min(2i, m_end6 - 1i)] * 16i;
  let abase27: i32 = a_perm[r05 + min(3i, m_end6 - 1i)] * 16i;
  let abase28: i32 = a_perm[r05 + min(4i, m_end6 - 1i)] * 16i;
  let abase29: i32 = a_perm[r05 + min(5i, m_end6 - 1i)] * 16i;
  let abase30: i32 = a_perm[r05 + min(6i, m_end6 - 1i)] * 16i;
  let abase31: i32 = a_perm[r05 + min(7i, m_end6 - 1i)] * 16i;
  var achunk32: f32 = 0.0f;
  var achunk33: f32 = 0.0f;
  var achunk34: f32 = 0.0f;
  var achunk35: f32 = 0.0f;
  var achunk36: f32 = 0.0f;
  var achunk37: f32 = 0.0f;
  var achunk38: f32 = 0.0f;
  var achunk39: f32 = 0.0f;
  for (var k040: i32 = 0i; k040 < 16i; k040 += 8) {
    achunk32 = a[abase24 + (k040 + local_x)];
    achunk33 = a[abase25 + (k040 + local_x)];
    achunk34 = a[abase26 + (k040 + local_x)];
    achunk35 = a[abase27 + (k040 + local_x)];
    achunk36 = a[abase28 + (k040 + local_x)];
    achunk37 = a[abase29 + (k040 + local_x)];
    achunk38 = a[abase30 + (k040 + local_x)];
    achunk39 = a[abase31 + (k040 + local_x)];
    let wd41: u32 = w0[(we7 * 128i + ((k040 + 0i) * 8i + c02)) >> u32(1i)];
    let b42: f32 = bitcast<f32>(wd41 << u32(16i));
    let b43: f32 = bitcast<f32>(wd41 & 4294901760u);
    let a44: f32 = subgroupBroadcast(achunk32, 0u);
    acc8 = acc8 + a44 * b42;
    acc9 = acc9 + a44 * b43;
    if (m_end6 > 1i) {
      let a45: f32 = subgroupBroadcast(achunk33, 0u);
      acc10 = acc10 + a45 * b42;
      acc11 = acc11 + a45 * b43;
    }
    if (m_end6 > 2i) {
      let a46: f32 = subgroupBroadcast(achunk34, 0u);
      acc12 = acc12 + a46 * b42;
      acc13 = acc13 + a46 * b43;
    }
    if (m_end6 > 3i) {
      let a47: f32 = subgroupBroadcast(achunk35, 0u);
      acc14 = acc14 + a47 * b42;
      acc15 = acc15 + a47 * b43;
    }
    if (m_end6 > 4i) {
      let a48: f32 = subgroupBroadcast(achunk36, 0u);
      acc16 = acc16 + a48 * b42;
      acc17 = acc17 + a48 * b43;
    }
    if (m_end6 > 5i) {
      let a49: f32 = subgroupBroadcast(achunk37, 0u);
      acc18 = acc18 + a49 * b42;
      acc19 = acc19 + a49 * b43;
    }
    if (m_end6 > 6i) {
      let a50: f32 = subgroupBroadcast(achunk38, 0u);
      acc20 = acc20 + a50 * b42;
      acc21 = acc21 + a50 * b43;
    }
    if (m_end6 > 7i) {
      let a51: f32 = subgroupBroadcast(achunk39, 0u);
      acc22 = acc22 + a51 * b42;
      acc23 = acc23 + a51 * b43;
    }
    let wd52: u32 = w0[(we7 * 128i + ((k040 + 1i) * 8i + c02)) >> u32(1i)];
    let b53: f32 = bitcast<f32>(wd52 << u32(16i));
    let b54: f32 = bitcast<f32>(wd52 & 4294901760u);
    let a55: f32 = subgroupBroadcast(achunk32, 1u);
    acc8 = acc8 + a55 * b53;
    acc9 = acc9 + a55 * b54;
    if (m_end6 > 1i) {
      let a56: f32 = subgroupBroadcast(achunk33, 1u);
      acc10 = acc10 + a56 * b53;
      acc11 = acc11 + a56 * b54;
    }
    if (m_end6 > 2i) {
      let a57: f32 = subgroupBroadcast(achunk34, 1u);
      acc12 = acc12 + a57 * b53;
      acc13 = acc13 + a57 * b54;
    }
    if (m_end6 > 3i) {
      let a58: f32 = subgroupBroadcast(achunk35, 1u);
      acc14 = acc14 + a58 * b53;
      acc15 = acc15 + a58 * b54;
    }
    if (m_end6 > 4i) {
      let a59: f32 = subgroupBroadcast(achunk36, 1u);
      acc16 = acc16 + a59 * b53;
      acc17 = acc17 + a59 * b54;
    }
    if (m_end6 > 5i) {
      let a60: f32 = subgroupBroadcast(achunk37, 1u);
      acc18 = acc18 + a60 * b53;
      acc19 = acc19 + a60 * b54;
    }
    if (m_end6 > 6i) {
      let a61: f32 = subgroupBroadcast(achunk38, 1u);
      acc20 = acc20 + a61 * b53;
      acc21 = acc21 + a61 * b54;
    }
    if (m_end6 > 7i) {
      let a62: f32 = subgroupBroadcast(achunk39, 1u);
      acc22 = acc22 + a62 * b53;
      acc23 = acc23 + a62 * b54;
    }
    let wd63: u32 = w0[(we7 * 128i + ((k040 + 2i) * 8i + c02)) >> u32(1i)];
    let b64: f32 = bitcast<f32>(wd63 << u32(16i));
    let b65: f32 = bitcast<f32>(wd63 & 4294901760u);
    let a66: f32 = subgroupBroadcast(achunk32, 2u);
    acc8 = acc8 + a66 * b64;
    acc9 = acc9 + a66 * b65;
    if (m_end6 > 1i) {
      let a67: f32 = subgroupBroadcast(achunk33, 2u);
      acc10 = acc10 + a67 * b64;
      acc11 = acc11 + a67 * b65;
    }
    if (m_end6 > 2i) {
      let a68: f32 = subgroupBroadcast(achunk34, 2u);
      acc12 = acc12 + a68 * b64;
      acc13 = acc13 + a68 * b65;
    }
    if (m_end6 > 3i) {
      let a69: f32 = subgroupBroadcast(achunk35, 2u);
      acc14 = acc14 + a69 * b64;
      acc15 = acc15 + a69 * b65;
    }
    if (m_end6 > 4i) {
      let a70: f32 = subgroupBroadcast(achunk36, 2u);
      acc16 = acc16 + a70 * b64;
      acc17 = acc17 + a70 * b65;
    }
    if (m_end6 > 5i) {
      let a71: f32 = subgroupBroadcast(achunk37, 2u);
      acc18 = acc18 + a71 * b64;
      acc19 = acc19 + a71 * b65;
    }
    if (m_end6 > 6i) {
      let a72: f32 = subgroupBroadcast(achunk38, 2u);
      acc20 = acc20 + a72 * b64;
      acc21 = acc21 + a72 * b65;
    }
    if (m_end6 > 7i) {
      let a73: f32 = subgroupBroadcast(achunk39, 2u);
      acc22 = acc22 + a73 * b64;
      acc23 = acc23 + a73 * b65;
    }
    let wd74: u32 = w0[(we7 * 128i + ((k040 + 3i) * 8i + c02)) >> u32(1i)];
    let b75: f32 = bitcast<f32>(wd74 << u32(16i));
    let b76: f32 = bitcast<f32>(wd74 & 4294901760u);
    let a77: f32 = subgroupBroadcast(achunk32, 3u);
    acc8 = acc8 + a77 * b75;
    acc9 = acc9 + a77 * b76;
    if (m_end6 > 1i) {
      let a78: f32 = subgroupBroadcast(achunk33, 3u);
      acc10 = acc10 + a78 * b75;
      acc11 = acc11 + a78 * b76;
    }
    if (m_end6 > 2i) {
      let a79: f32 = subgroupBroadcast(achunk34, 3u);
      acc12 = acc12 + a79 * b75;
      acc13 = acc13 + a79 * b76;
    }
    if (m_end6 > 3i) {
      let a80: f32 = subgroupBroadcast(achunk35, 3u);
      acc14 = acc14 + a80 * b75;
      acc15 = acc15 + a80 * b76;
    }
    if (m_end6 > 4i) {
      let a81: f32 = subgroupBroadcast(achunk36, 3u);
      acc16 = acc16 + a81 * b75;
      acc17 = acc17 + a81 * b76;
    }
    if (m_end6 > 5i) {
      let a82: f32 = subgroupBroadcast(achunk37, 3u);
      acc18 = acc18 + a82 * b75;
      acc19 = acc19 + a82 * b76;
    }
    if (m_end6 > 6i) {
      let a83: f32 = subgroupBroadcast(achunk38, 3u);
      acc20 = acc20 + a83 * b75;
      acc21 = acc21 + a83 * b76;
    }
    if (m_end6 > 7i) {
      let a84: f32 = subgroupBroadcast(achunk39, 3u);
      acc22 = acc22 + a84 * b75;
      acc23 = acc23 + a84 * b76;
    }
    let wd85: u32 = w0[(we7 * 128i + ((k040 + 4i) * 8i + c02)) >> u32(1i)];
    let b86: f32 = bitcast<f32>(wd85 << u32(16i));
    let b87: f32 = bitcast<f32>(wd85 & 4294901760u);
    let a88: f32 = subgroupBroadcast(achunk32, 4u);
    acc8 = acc8 + a88 * b86;
    acc9 = acc9 + a88 * b87;
    if (m_end6 > 1i) {
      let a89: f32 = subgroupBroadcast(achunk33, 4u);
      acc10 = acc10 + a89 * b86;
      acc11 = acc11 + a89 * b87;
    }
    if (m_end6 > 2i) {
      let a90: f32 = subgroupBroadcast(achunk34, 4u);
      acc12 = acc12 + a90 * b86;
      acc13 = acc13 + a90 * b87;
    }
    if (m_end6 > 3i) {
      let a91: f32 = subgroupBroadcast(achunk35, 4u);
      acc14 = acc14 + a91 * b86;
      acc15 = acc15 + a91 * b87;
    }
    if (m_end6 > 4i) {
      let a92: f32 = subgroupBroadcast(achunk36, 4u);
      acc16 = acc16 + a92 * b86;
      acc17 = acc17 + a92 * b87;
    }
    if (m_end6 > 5i) {
      let a93: f32 = subgroupBroadcast(achunk37, 4u);
      acc18 = acc18 + a93 * b86;
      acc19 = acc19 + a93 * b87;
    }
    if (m_end6 > 6i) {
      let a94: f32 = subgroupBroadcast(achunk38, 4u);
      acc20 = acc20 + a94 * b86;
      acc21 = acc21 + a94 * b87;
    }
    if (m_end6 > 7i) {
      let a95: f32 = subgroupBroadcast(achunk39, 4u);
      acc22 = acc22 + a95 * b86;
      acc23 = acc23 + a95 * b87;
    }
    let wd96: u32 = w0[(we7 * 128i + ((k040 + 5i) * 8i + c02)) >> u32(1i)];
    let b97: f32 = bitcast<f32>(wd96 << u32(16i));
    let b98: f32 = bitcast<f32>(wd96 & 4294901760u);
    let a99: f32 = subgroupBroadcast(achunk32, 5u);
    acc8 = acc8 + a99 * b97;
    acc9 = acc9 + a99 * b98;
    if (m_end6 > 1i) {
      let a100: f32 = subgroupBroadcast(achunk33, 5u);
      acc10 = acc10 + a100 * b97;
      acc11 = acc11 + a100 * b98;
    }
    if (m_end6 > 2i) {
      let a101: f32 = subgroupBroadcast(achunk34, 5u);
      acc12 = acc12 + a101 * b97;
      acc13 = acc13 + a101 * b98;
    }
    if (m_end6 > 3i) {
      let a102: f32 = subgroupBroadcast(achunk35, 5u);
      acc14 = acc14 + a102 * b97;
      acc15 = acc15 + a102 * b98;
    }
    if (m_end6 > 4i) {
      let a103: f32 = subgroupBroadcast(achunk36, 5u);
      acc16 = acc16 + a103 * b97;
      acc17 = acc17 + a103 * b98;
    }
    if (m_end6 > 5i) {
      let a104: f32 = subgroupBroadcast(achunk37, 5u);
      acc18 = acc18 + a104 * b97;
      acc19 = acc19 + a104 * b98;
    }
    if (m_end6 > 6i) {
      let a105: f32 = subgroupBroadcast(achunk38, 5u);
      acc20 = acc20 + a105 * b97;
      acc21 = acc21 + a105 * b98;
    }
    if (m_end6 > 7i) {
      let a106: f32 = subgroupBroadcast(achunk39, 5u);
      acc22 = acc22 + a106 * b97;
      acc23 = acc23 + a106 * b98;
    }
    let wd107: u32 = w0[(we7 * 128i + ((k040 + 6i) * 8i + c02)) >> u32(1i)];
    let b108: f32 = bitcast<f32>(wd107 << u32(16i));
    let b109: f32 = bitcast<f32>(wd107 & 4294901760u);
    let a110: f32 = subgroupBroadcast(achunk32, 6u);
    acc8 = acc8 + a110 * b108;
    acc9 = acc9 + a110 * b109;
    if (m_end6 > 1i) {
      let a111: f32 = subgroupBroadcast(achunk33, 6u);
      acc10 = acc10 + a111 * b108;
      acc11 = acc11 + a111 * b109;
    }
    if (m_end6 > 2i) {
      let a112: f32 = subgroupBroadcast(achunk34, 6u);
      acc12 = acc12 + a112 * b108;
      acc13 = acc13 + a112 * b109;
    }
    if (m_end6 > 3i) {
      let a113: f32 = subgroupBroadcast(achunk35, 6u);
      acc14 = acc14 + a113 * b108;
      acc15 = acc15 + a113 * b109;
    }
    if (m_end6 > 4i) {
      let a114: f32 = subgroupBroadcast(achunk36, 6u);
      acc16 = acc16 + a114 * b108;
      acc17 = acc17 + a114 * b109;
    }
    if (m_end6 > 5i) {
      let a115: f32 = subgroupBroadcast(achunk37, 6u);
      acc18 = acc18 + a115 * b108;
      acc19 = acc19 + a115 * b109;
    }
    if (m_end6 > 6i) {
      let a116: f32 = subgroupBroadcast(achunk38, 6u);
      acc20 = acc20 + a116 * b108;
      acc21 = acc21 + a116 * b109;
    }
    if (m_end6 > 7i) {
      let a117: f32 = subgroupBroadcast(achunk39, 6u);
      acc22 = acc22 + a117 * b108;
      acc23 = acc23 + a117 * b109;
    }
    let wd118: u32 = w0[(we7 * 128i + ((k040 + 7i) * 8i + c02)) >> u32(1i)];
    let b119: f32 = bitcast<f32>(wd118 << u32(16i));
    let b120: f32 = bitcast<f32>(wd118 & 4294901760u);
    let a121: f32 = subgroupBroadcast(achunk32, 7u);
    acc8 = acc8 + a121 * b119;
    acc9 = acc9 + a121 * b120;
    if (m_end6 > 1i) {
      let a122: f32 = subgroupBroadcast(achunk33, 7u);
      acc10 = acc10 + a122 * b119;
      acc11 = acc11 + a122 * b120;
    }
    if (m_end6 > 2i) {
      let a123: f32 = subgroupBroadcast(achunk34, 7u);
      acc12 = acc12 + a123 * b119;
      acc13 = acc13 + a123 * b120;
    }
    if (m_end6 > 3i) {
      let a124: f32 = subgroupBroadcast(achunk35, 7u);
      acc14 = acc14 + a124 * b119;
      acc15 = acc15 + a124 * b120;
    }
    if (m_end6 > 4i) {
      let a125: f32 = subgroupBroadcast(achunk36, 7u);
      acc16 = acc16 + a125 * b119;
      acc17 = acc17 + a125 * b120;
    }
    if (m_end6 > 5i) {
      let a126: f32 = subgroupBroadcast(achunk37, 7u);
      acc18 = acc18 + a126 * b119;
      acc19 = acc19 + a126 * b120;
    }
    if (m_end6 > 6i) {
      let a127: f32 = subgroupBroadcast(achunk38, 7u);
      acc20 = acc20 + a127 * b119;
      acc21 = acc21 + a127 * b120;
    }
    if (m_end6 > 7i) {
      let a128: f32 = subgroupBroadcast(achunk39, 7u);
      acc22 = acc22 + a128 * b119;
      acc23 = acc23 + a128 * b120;
    }
  }
  if (n0 < 4i) {
    let row129: i32 = r05;
    let n130: i32 = c02 + 0i;
    out[row129 * 8i + n130] = acc8;
    let n131: i32 = c02 + 1i;
    out[row129 * 8i + n131] = acc9;
    if (m_end6 > 1i) {
      let row132: i32 = r05 + 1i;
      let n133: i32 = c02 + 0i;
      out[row132 * 8i + n133] = acc10;
      let n134: i32 = c02 + 1i;
      out[row132 * 8i + n134] = acc11;
    }
    if (m_end6 > 2i) {
      let row135: i32 = r05 + 2i;
      let n136: i32 = c02 + 0i;
      out[row135 * 8i + n136] = acc12;
      let n137: i32 = c02 + 1i;
      out[row135 * 8i + n137] = acc13;
    }
    if (m_end6 > 3i) {
      let row138: i32 = r05 + 3i;
      let n139: i32 = c02 + 0i;
      out[row138 * 8i + n139] = acc14;
      let n140: i32 = c02 + 1i;
      out[row138 * 8i + n140] = acc15;
    }
    if (m_end6 > 4i) {
      let row141: i32 = r05 + 4i;
      let n142: i32 = c02 + 0i;
      out[row141 * 8i + n142] = acc16;
      let n143: i32 = c02 + 1i;
      out[row141 * 8i + n143] = acc17;
    }
    if (m_end6 > 5i) {
      let row144: i32 = r05 + 5i;
      let n145: i32 = c02 + 0i;
      out[row144 * 8i + n145] = acc18;
      let n146: i32 = c02 + 1i;
      out[row144 * 8i + n146] = acc19;
    }
    if (m_end6 > 6i) {
      let row147: i32 = r05 + 6i;
      let n148: i32 = c02 + 0i;
      out[row147 * 8i + n148] = acc20;
      let n149: i32 = c02 + 1i;
      out[row147 * 8i + n149] = acc21;
    }
    if (m_end6 > 7i) {
      let row150: i32 = r05 + 7i;
      let n151: i32 = c02 + 0i;
      out[row150 * 8i + n151] = acc22;
      let n152: i32 = c02 + 1i;
      out[row150 * 8i + n152] = acc23;
    }
  }
}
