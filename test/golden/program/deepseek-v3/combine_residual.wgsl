// combine_residual: each token sums its experts in increasing expert order, plus the residual
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> ys: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read> inverse: array<i32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let global_x: i32 = i32(gid.x);
  let global_y: i32 = i32(gid.y);
  let t0: i32 = global_x + global_y * 262144i;
  if (t0 >= i32(shape.tokens) * 16i) {
    return;
  }
  let r1: i32 = t0 / 16i;
  let c2: i32 = t0 - r1 * 16i;
  var order3: array<i32, 9>;
  var len4: i32 = 0i;
  var pe5: i32 = -1i;
  var ps6: i32 = -1i;
  for (var j7: i32 = 0i; j7 < 9i; j7 += 1) {
    var bs8: i32 = -1i;
    var be9: i32 = 0i;
    for (var s10: i32 = 0i; s10 < 9i; s10 += 1) {
      let e11: i32 = ids[r1 * 9i + s10];
      if (((e11 >= 0i) && ((e11 > pe5) || ((e11 == pe5) && (s10 > ps6)))) && ((bs8 < 0i) || (e11 < be9))) {
        bs8 = s10;
        be9 = e11;
      }
    }
    if (bs8 >= 0i) {
      order3[len4] = bs8;
      len4 = len4 + 1i;
      pe5 = be9;
      ps6 = bs8;
    }
  }
  var acc12: f32 = 0.0f;
  for (var j13: i32 = 0i; j13 < len4; j13 += 1) {
    let slot14: i32 = r1 * 9i + order3[j13];
    let v15: f32 = ys[inverse[slot14] * 16i + c2];
    acc12 = acc12 + v15;
  }
  out[t0] = residual[t0] + acc12;
}
