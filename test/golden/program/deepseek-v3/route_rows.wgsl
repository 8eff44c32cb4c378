// route_rows: a stretch of row-wise ops, one invocation per row
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<u32>;
@group(0) @binding(3) var<storage, read> in2: array<u32>;
@group(0) @binding(4) var<storage, read_write> out4: array<i32>;
@group(0) @binding(5) var<storage, read_write> out7: array<f32>;

fn moec_f32_bits(bits: u32) -> f32 {
  return bitcast<f32>(bits);
}

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let global_x: i32 = i32(gid.x);
  let global_y: i32 = i32(gid.y);
  let r0: i32 = global_x + global_y * 262144i;
  if (r0 >= i32(shape.tokens)) {
    return;
  }
  var v1: array<f32, 32>;
  for (var n2: i32 = 0i; n2 < 32i; n2 += 1) {
    var acc3: f32 = 0.0f;
    for (var k4: i32 = 0i; k4 < 16i; k4 += 1) {
      acc3 = acc3 + in0[r0 * 16i + k4] * bitcast<f32>(select(in1[(k4 * 32i + n2) >> u32(1i)] << u32(16i), in1[(k4 * 32i + n2) >> u32(1i)] & 4294901760u, ((k4 * 32i + n2) & 1i) == 1i));
    }
    v1[n2] = acc3;
  }
  var v5: array<f32, 32>;
  for (var i6: i32 = 0i; i6 < 32i; i6 += 1) {
    v5[i6] = select(exp(v1[i6]) / (1.0f + exp(v1[i6])), 1.0f / (1.0f + exp(-v1[i6])), v1[i6] >= 0.0f);
  }
  var v7: array<f32, 32>;
  for (var i8: i32 = 0i; i8 < 32i; i8 += 1) {
    v7[i8] = v5[i8] + bitcast<f32>(select(in2[i8 >> u32(1i)] << u32(16i), in2[i8 >> u32(1i)] & 4294901760u, (i8 & 1i) == 1i));
  }
  var v9: array<f32, 32>;
  var gs10: array<f32, 8>;
  for (var g11: i32 = 0i; g11 < 8i; g11 += 1) {
    var t112: f32 = moec_f32_bits(0xff800000u);
    var t213: f32 = moec_f32_bits(0xff800000u);
    for (var e14: i32 = g11 * 4i; e14 < g11 * 4i + 4i; e14 += 1) {
      let kv15: f32 = v7[e14];
      if (kv15 != moec_f32_bits(0xff800000u)) {
        if (kv15 > t112) {
          t213 = t112;
          t112 = kv15;
        } else {
          if (kv15 > t213) {
            t213 = kv15;
          }
        }
      }
    }
    gs10[g11] = select(t112 + select(t213, 0.0f, t213 == moec_f32_bits(0xff800000u)), moec_f32_bits(0xff800000u), t112 == moec_f32_bits(0xff800000u));
  }
  for (var e16: i32 = 0i; e16 < 32i; e16 += 1) {
    let g17: i32 = e16 / 4i;
    var better18: i32 = 0i;
    for (var h19: i32 = 0i; h19 < 8i; h19 += 1) {
      if ((gs10[h19] > gs10[g17]) || ((gs10[h19] == gs10[g17]) && (h19 < g17))) {
        better18 = better18 + 1i;
      }
    }
    v9[e16] = select(moec_f32_bits(0xff800000u), v7[e16], better18 < 4i);
  }
  var prev20: i32 = -1i;
  var pk21: f32 = 0.0f;
  var done22: bool = false;
  for (var s23: i32 = 0i; s23 < 8i; s23 += 1) {
    out4[r0 * 8i + s23] = -1i;
    if (!done22) {
      var best24: i32 = -1i;
      var bk25: f32 = moec_f32_bits(0xff800000u);
      for (var e26: i32 = 0i; e26 < 32i; e26 += 1) {
        let kv27: f32 = v9[e26];
        if (((kv27 != moec_f32_bits(0xff800000u)) && ((prev20 < 0i) || ((kv27 < pk21) || ((kv27 == pk21) && (e26 > prev20))))) && ((best24 < 0i) || (kv27 > bk25))) {
          best24 = e26;
          bk25 = kv27;
        }
      }
      if (best24 >= 0i) {
        out4[r0 * 8i + s23] = best24;
        prev20 = best24;
        pk21 = v9[best24];
      } else {
        done22 = true;
      }
    }
  }
  var v28: array<f32, 8>;
  for (var s29: i32 = 0i; s29 < 8i; s29 += 1) {
    let id30: i32 = out4[r0 * 8i + s29];
    v28[s29] = select(0.0f, v5[select(0i, id30, id30 >= 0i)], id30 >= 0i);
  }
  var v31: array<f32, 8>;
  var sum32: f32 = 0.0f;
  for (var s33: i32 = 0i; s33 < 8i; s33 += 1) {
    sum32 = sum32 + v28[s33];
  }
  for (var i34: i32 = 0i; i34 < 8i; i34 += 1) {
    v31[i34] = select(v28[i34], v28[i34] / sum32, sum32 != 0.0f);
  }
  for (var i35: i32 = 0i; i35 < 8i; i35 += 1) {
    out7[r0 * 8i + i35] = v31[i35] * 2.5f;
  }
}
