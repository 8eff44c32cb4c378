// grid_args: the exact grid of a grouped matmul: its column blocks and the real row tiles of its experts
struct Shape { tokens: u32 }
@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> range: array<i32>;
@group(0) @binding(2) var<storage, read> tile_start: array<i32>;
@group(0) @binding(3) var<storage, read_write> args: array<i32>;

@compute @workgroup_size(1, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let first_tile0: i32 = tile_start[range[0i]];
  args[0i] = range[2i];
  args[1i] = tile_start[range[1i]] - first_tile0;
  args[2i] = 1i;
  args[3i] = first_tile0;
  args[4i] = range[0i];
}
