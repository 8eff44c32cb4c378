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
  var acc5: f32 = 0.0f;
  var acc6: f32 = 0.0f;
  var acc7: f32 = 0.0f;
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
  let abase21: i32 = r03 * 16i;
  let abase22: i32 = (r03 + min(1i, m_end4 - 1i)) * 16i;
  let abase23: i32 = (r03 + min(2i, m_end4 - 1i)) * 16i;
  let abase24: i32 = (r03 + min(3i, m_end4 - 1i)) * 16i;
  let abase25: i32 = (r03 + min(4i, m_end4 - 1i)) * 16i;
  let abase26: i32 = (r03 + min(5i, m_end4 - 1i)) * 16i;
  let abase27: i32 = (r03 + min(6i, m_end4 - 1i)) * 16i;
  let abase28: i32 = (r03 + min(7i, m_end4 - 1i)) * 16i;
  var achunk29: f32 = 0.0f;
  var achunk30: f32 = 0.0f;
  var achunk31: f32 = 0.0f;
  var achunk32: f32 = 0.0f;
  var achunk33: f32 = 0.0f;
  var achunk34: f32 = 0.0f;
  var achunk35: f32 = 0.0f;
  var achunk36: f32 = 0.0f;
  for (var k037: i32 = 0i; k037 < 16i; k037 += 8) {
    achunk29 = a[abase21 + (k037 + local_x)];
    achunk30 = a[abase22 + (k037 + local_x)];
    achunk31 = a[abase23 + (k037 + local_x)];
    achunk32 = a[abase24 + (k037 + local_x)];
    achunk33 = a[abase25 + (k037 + local_x)];
    achunk34 = a[abase26 + (k037 + local_x)];
    achunk35 = a[abase27 + (k037 + local_x)];
    achunk36 = a[abase28 + (k037 + local_x)];
    let wd38: u32 = w0[((k037 + 0i) * 24i + c02) >> u32(1i)];
    let b39: f32 = bitcast<f32>(wd38 << u32(16i));
    let b40: f32 = bitcast<f32>(wd38 & 4294901760u);
    let a41: f32 = subgroupBroadcast(achunk29, 0u);
    acc5 = acc5 + a41 * b39;
    acc6 = acc6 + a41 * b40;
    if (m_end4 > 1i) {
      let a42: f32 = subgroupBroadcast(achunk30, 0u);
      acc7 = acc7 + a42 * b39;
      acc8 = acc8 + a42 * b40;
    }
    if (m_end4 > 2i) {
      let a43: f32 = subgroupBroadcast(achunk31, 0u);
      acc9 = acc9 + a43 * b39;
      acc10 = acc10 + a43 * b40;
    }
    if (m_end4 > 3i) {
      let a44: f32 = subgroupBroadcast(achunk32, 0u);
      acc11 = acc11 + a44 * b39;
      acc12 = acc12 + a44 * b40;
    }
    if (m_end4 > 4i) {
      let a45: f32 = subgroupBroadcast(achunk33, 0u);
      acc13 = acc13 + a45 * b39;
      acc14 = acc14 + a45 * b40;
    }
    if (m_end4 > 5i) {
      let a46: f32 = subgroupBroadcast(achunk34, 0u);
      acc15 = acc15 + a46 * b39;
      acc16 = acc16 + a46 * b40;
    }
    if (m_end4 > 6i) {
      let a47: f32 = subgroupBroadcast(achunk35, 0u);
      acc17 = acc17 + a47 * b39;
      acc18 = acc18 + a47 * b40;
    }
    if (m_end4 > 7i) {
      let a48: f32 = subgroupBroadcast(achunk36, 0u);
      acc19 = acc19 + a48 * b39;
      acc20 = acc20 + a48 * b40;
    }
    let wd49: u32 = w0[((k037 + 1i) * 24i + c02) >> u32(1i)];
    let b50: f32 = bitcast<f32>(wd49 << u32(16i));
    let b51: f32 = bitcast<f32>(wd49 & 4294901760u);
    let a52: f32 = subgroupBroadcast(achunk29, 1u);
    acc5 = acc5 + a52 * b50;
    acc6 = acc6 + a52 * b51;
    if (m_end4 > 1i) {
      let a53: f32 = subgroupBroadcast(achunk30, 1u);
      acc7 = acc7 + a53 * b50;
      acc8 = acc8 + a53 * b51;
    }
    if (m_end4 > 2i) {
      let a54: f32 = subgroupBroadcast(achunk31, 1u);
      acc9 = acc9 + a54 * b50;
      acc10 = acc10 + a54 * b51;
    }
    if (m_end4 > 3i) {
      let a55: f32 = subgroupBroadcast(achunk32, 1u);
      acc11 = acc11 + a55 * b50;
      acc12 = acc12 + a55 * b51;
    }
    if (m_end4 > 4i) {
      let a56: f32 = subgroupBroadcast(achunk33, 1u);
      acc13 = acc13 + a56 * b50;
      acc14 = acc14 + a56 * b51;
    }
    if (m_end4 > 5i) {
      let a57: f32 = subgroupBroadcast(achunk34, 1u);
      acc15 = acc15 + a57 * b50;
      acc16 = acc16 + a57 * b51;
    }
    if (m_end4 > 6i) {
      let a58: f32 = subgroupBroadcast(achunk35, 1u);
      acc17 = acc17 + a58 * b50;
      acc18 = acc18 + a58 * b51;
    }
    if (m_end4 > 7i) {
      let a59: f32 = subgroupBroadcast(achunk36, 1u);
      acc19 = acc19 + a59 * b50;
      acc20 = acc20 + a59 * b51;
    }
    let wd60: u32 = w0[((k037 + 2i) * 24i + c02) >> u32(1i)];
    let b61: f32 = bitcast<f32>(wd60 << u32(16i));
    let b62: f32 = bitcast<f32>(wd60 & 4294901760u);
    let a63: f32 = subgroupBroadcast(achunk29, 2u);
    acc5 = acc5 + a63 * b61;
    acc6 = acc6 + a63 * b62;
    if (m_end4 > 1i) {
      let a64: f32 = subgroupBroadcast(achunk30, 2u);
      acc7 = acc7 + a64 * b61;
      acc8 = acc8 + a64 * b62;
    }
    if (m_end4 > 2i) {
      let a65: f32 = subgroupBroadcast(achunk31, 2u);
      acc9 = acc9 + a65 * b61;
      acc10 = acc10 + a65 * b62;
    }
    if (m_end4 > 3i) {
      let a66: f32 = subgroupBroadcast(achunk32, 2u);
      acc11 = acc11 + a66 * b61;
      acc12 = acc12 + a66 * b62;
    }
    if (m_end4 > 4i) {
      let a67: f32 = subgroupBroadcast(achunk33, 2u);
      acc13 = acc13 + a67 * b61;
      acc14 = acc14 + a67 * b62;
    }
    if (m_end4 > 5i) {
      let a68: f32 = subgroupBroadcast(achunk34, 2u);
      acc15 = acc15 + a68 * b61;
      acc16 = acc16 + a68 * b62;
    }
    if (m_end4 > 6i) {
      let a69: f32 = subgroupBroadcast(achunk35, 2u);
      acc17 = acc17 + a69 * b61;
      acc18 = acc18 + a69 * b62;
    }
    if (m_end4 > 7i) {
      let a70: f32 = subgroupBroadcast(achunk36, 2u);
      acc19 = acc19 + a70 * b61;
      acc20 = acc20 + a70 * b62;
    }
    let wd71: u32 = w0[((k037 + 3i) * 24i + c02) >> u32(1i)];
    let b72: f32 = bitcast<f32>(wd71 << u32(16i));
    let b73: f32 = bitcast<f32>(wd71 & 4294901760u);
    let a74: f32 = subgroupBroadcast(achunk29, 3u);
    acc5 = acc5 + a74 * b72;
    acc6 = acc6 + a74 * b73;
    if (m_end4 > 1i) {
      let a75: f32 = subgroupBroadcast(achunk30, 3u);
      acc7 = acc7 + a75 * b72;
      acc8 = acc8 + a75 * b73;
    }
    if (m_end4 > 2i) {
      let a76: f32 = subgroupBroadcast(achunk31, 3u);
      acc9 = acc9 + a76 * b72;
      acc10 = acc10 + a76 * b73;
    }
    if (m_end4 > 3i) {
      let a77: f32 = subgroupBroadcast(achunk32, 3u);
      acc11 = acc11 + a77 * b72;
      acc12 = acc12 + a77 * b73;
    }
    if (m_end4 > 4i) {
      let a78: f32 = subgroupBroadcast(achunk33, 3u);
      acc13 = acc13 + a78 * b72;
      acc14 = acc14 + a78 * b73;
    }
    if (m_end4 > 5i) {
      let a79: f32 = subgroupBroadcast(achunk34, 3u);
      acc15 = acc15 + a79 * b72;
      acc16 = acc16 + a79 * b73;
    }
    if (m_end4 > 6i) {
      let a80: f32 = subgroupBroadcast(achunk35, 3u);
      acc17 = acc17 + a80 * b72;
      acc18 = acc18 + a80 * b73;
    }
    if (m_end4 > 7i) {
      let a81: f32 = subgroupBroadcast(achunk36, 3u);
      acc19 = acc19 + a81 * b72;
      acc20 = acc20 + a81 * b73;
    }
    let wd82: u32 = w0[((k037 + 4i) * 24i + c02) >> u32(1i)];
    let b83: f32 = bitcast<f32>(wd82 << u32(16i));
    let b84: f32 = bitcast<f32>(wd82 & 4294901760u);
    let a85: f32 = subgroupBroadcast(achunk29, 4u);
    acc5 = acc5 + a85 * b83;
    acc6 = acc6 + a85 * b84;
    if (m_end4 > 1i) {
      let a86: f32 = subgroupBroadcast(achunk30, 4u);
      acc7 = acc7 + a86 * b83;
      acc8 = acc8 + a86 * b84;
    }
    if (m_end4 > 2i) {
      let a87: f32 = subgroupBroadcast(achunk31, 4u);
      acc9 = acc9 + a87 * b83;
      acc10 = acc10 + a87 * b84;
    }
    if (m_end4 > 3i) {
      let a88: f32 = subgroupBroadcast(achunk32, 4u);
      acc11 = acc11 + a88 * b83;
      acc12 = acc12 + a88 * b84;
    }
    if (m_end4 > 4i) {
      let a89: f32 = subgroupBroadcast(achunk33, 4u);
      acc13 = acc13 + a89 * b83;
      acc14 = acc14 + a89 * b84;
    }
    if (m_end4 > 5i) {
      let a90: f32 = subgroupBroadcast(achunk34, 4u);
      acc15 = acc15 + a90 * b83;
      acc16 = acc16 + a90 * b84;
    }
    if (m_end4 > 6i) {
      let a91: f32 = subgroupBroadcast(achunk35, 4u);
      acc17 = acc17 + a91 * b83;
      acc18 = acc18 + a91 * b84;
    }
    if (m_end4 > 7i) {
      let a92: f32 = subgroupBroadcast(achunk36, 4u);
      acc19 = acc19 + a92 * b83;
      acc20 = acc20 + a92 * b84;
    }
    let wd93: u32 = w0[((k037 + 5i) * 24i + c02) >> u32(1i)];
    let b94: f32 = bitcast<f32>(wd93 << u32(16i));
    let b95: f32 = bitcast<f32>(wd93 & 4294901760u);
    let a96: f32 = subgroupBroadcast(achunk29, 5u);
    acc5 = acc5 + a96 * b94;
    acc6 = acc6 + a96 * b95;
    if (m_end4 > 1i) {
      let a97: f32 = subgroupBroadcast(achunk30, 5u);
      acc7 = acc7 + a97 * b94;
      acc8 = acc8 + a97 * b95;
    }
    if (m_end4 > 2i) {
      let a98: f32 = subgroupBroadcast(achunk31, 5u);
      acc9 = acc9 + a98 * b94;
      acc10 = acc10 + a98 * b95;
    }
    if (m_end4 > 3i) {
      let a99: f32 = subgroupBroadcast(achunk32, 5u);
      acc11 = acc11 + a99 * b94;
      acc12 = acc12 + a99 * b95;
    }
    if (m_end4 > 4i) {
      let a100: f32 = subgroupBroadcast(achunk33, 5u);
      acc13 = acc13 + a100 * b94;
      acc14 = acc14 + a100 * b95;
    }
    if (m_end4 > 5i) {
      let a101: f32 = subgroupBroadcast(achunk34, 5u);
      acc15 = acc15 + a101 * b94;
      acc16 = acc16 + a101 * b95;
    }
    if (m_end4 > 6i) {
      let a102: f32 = subgroupBroadcast(achunk35, 5u);
      acc17 = acc17 + a102 * b94;
      acc18 = acc18 + a102 * b95;
    }
    if (m_end4 > 7i) {
      let a103: f32 = subgroupBroadcast(achunk36, 5u);
      acc19 = acc19 + a103 * b94;
      acc20 = acc20 + a103 * b95;
    }
    let wd104: u32 = w0[((k037 + 6i) * 24i + c02) >> u32(1i)];
    let b105: f32 = bitcast<f32>(wd104 << u32(16i));
    let b106: f32 = bitcast<f32>(wd104 & 4294901760u);
    let a107: f32 = subgroupBroadcast(achunk29, 6u);
    acc5 = acc5 + a107 * b105;
    acc6 = acc6 + a107 * b106;
    if (m_end4 > 1i) {
      let a108: f32 = subgroupBroadcast(achunk30, 6u);
      acc7 = acc7 + a108 * b105;
      acc8 = acc8 + a108 * b106;
    }
    if (m_end4 > 2i) {
      let a109: f32 = subgroupBroadcast(achunk31, 6u);
      acc9 = acc9 + a109 * b105;
      acc10 = acc10 + a109 * b106;
    }
    if (m_end4 > 3i) {
      let a110: f32 = subgroupBroadcast(achunk32, 6u);
      acc11 = acc11 + a110 * b105;
      acc12 = acc12 + a110 * b106;
    }
    if (m_end4 > 4i) {
      let a111: f32 = subgroupBroadcast(achunk33, 6u);
      acc13 = acc13 + a111 * b105;
      acc14 = acc14 + a111 * b106;
    }
    if (m_end4 > 5i) {
      let a112: f32 = subgroupBroadcast(achunk34, 6u);
      acc15 = acc15 + a112 * b105;
      acc16 = acc16 + a112 * b106;
    }
    if (m_end4 > 6i) {
      let a113: f32 = subgroupBroadcast(achunk35, 6u);
      acc17 = acc17 + a113 * b105;
      acc18 = acc18 + a113 * b106;
    }
    if (m_end4 > 7i) {
      let a114: f32 = subgroupBroadcast(achunk36, 6u);
      acc19 = acc19 + a114 * b105;
      acc20 = acc20 + a114 * b106;
    }
    let wd115: u32 = w0[((k037 + 7i) * 24i + c02) >> u32(1i)];
    let b116: f32 = bitcast<f32>(wd115 << u32(16i));
    let b117: f32 = bitcast<f32>(wd115 & 4294901760u);
    let a118: f32 = subgroupBroadcast(achunk29, 7u);
    acc5 = acc5 + a118 * b116;
    acc6 = acc6 + a118 * b117;
    if (m_end4 > 1i) {
      let a119: f32 = subgroupBroadcast(achunk30, 7u);
      acc7 = acc7 + a119 * b116;
      acc8 = acc8 + a119 * b117;
    }
    if (m_end4 > 2i) {
      let a120: f32 = subgroupBroadcast(achunk31, 7u);
      acc9 = acc9 + a120 * b116;
      acc10 = acc10 + a120 * b117;
    }
    if (m_end4 > 3i) {
      let a121: f32 = subgroupBroadcast(achunk32, 7u);
      acc11 = acc11 + a121 * b116;
      acc12 = acc12 + a121 * b117;
    }
    if (m_end4 > 4i) {
      let a122: f32 = subgroupBroadcast(achunk33, 7u);
      acc13 = acc13 + a122 * b116;
      acc14 = acc14 + a122 * b117;
    }
    if (m_end4 > 5i) {
      let a123: f32 = subgroupBroadcast(achunk34, 7u);
      acc15 = acc15 + a123 * b116;
      acc16 = acc16 + a123 * b117;
    }
    if (m_end4 > 6i) {
      let a124: f32 = subgroupBroadcast(achunk35, 7u);
      acc17 = acc17 + a124 * b116;
      acc18 = acc18 + a124 * b117;
    }
    if (m_end4 > 7i) {
      let a125: f32 = subgroupBroadcast(achunk36, 7u);
      acc19 = acc19 + a125 * b116;
      acc20 = acc20 + a125 * b117;
    }
  }
  if (n0 < 12i) {
    let row126: i32 = r03;
    let n127: i32 = c02 + 0i;
    out[row126 * 24i + n127] = acc5;
    let n128: i32 = c02 + 1i;
    out[row126 * 24i + n128] = acc6;
    if (m_end4 > 1i) {
      let row129: i32 = r03 + 1i;
      let n130: i32 = c02 + 0i;
      out[row129 * 24i + n130] = acc7;
      let n131: i32 = c02 + 1i;
      out[row129 * 24i + n131] = acc8;
    }
    if (m_end4 > 2i) {
      let row132: i32 = r03 + 2i;
      let n133: i32 = c02 + 0i;
      out[row132 * 24i + n133] = acc9;
      let n134: i32 = c02 + 1i;
      out[row132 * 24i + n134] = acc10;
    }
    if (m_end4 > 3i) {
      let row135: i32 = r03 + 3i;
      let n136: i32 = c02 + 0i;
      out[row135 * 24i + n136] = acc11;
      let n137: i32 = c02 + 1i;
      out[row135 * 24i + n137] = acc12;
    }
    if (m_end4 > 4i) {
      let row138: i32 = r03 + 4i;
      let n139: i32 = c02 + 0i;
      out[row138 * 24i + n139] = acc13;
      let n140: i32 = c02 + 1i;
      out[row138 * 24i + n140] = acc14;
    }
    if (m_end4 > 5i) {
      let row141: i32 = r03 + 5i;
      let n142: i32 = c02 + 0i;
      out[row141 * 24i + n142] = acc15;
      let n143: i32 = c02 + 1i;
      out[row141 * 24i + n143] = acc16;
    }
    if (m_end4 > 6i) {
      let row144: i32 = r03 + 6i;
      let n145: i32 = c02 + 0i;
      out[row144 * 24i + n145] = acc17;
      let n146: i32 = c02 + 1i;
      out[row144 * 24i + n146] = acc18;
    }
    if (m_end4 > 7i) {
      let row147: i32 = r03 + 7i;
      let n148: i32 = c02 + 0i;
      out[row147 * 24i + n148] = acc19;
      let n149: i32 = c02 + 1i;
      out[row147 * 24i + n149] = acc20;
    }
  }
}
