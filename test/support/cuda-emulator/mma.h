// The CPU stand-in (see cuda_runtime.h) for the WMMA fragments moec's tensor-core products use:
// m16n16k16, row-major operands in shared memory, f32 results. Each thread keeps the whole
// 16 x 16 tile (which element a real lane holds is unspecified, so kernels never depend on it);
// a store writes only the elements of the calling thread (i % 32 == lane), so a reader that
// skips the barrier after a store sees other lanes' elements missing. The products are exact
// in f32 (two 11- or 8-bit significands) and summed in k order; a tensor core's order differs.
#pragma once
#include "cuda_runtime.h"

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the stand-in has m16n16k16 only");
  static constexpr int num_elements = 256;
  T x[256];
};

inline float moec_value(float v) { return v; }
inline float moec_value(__half v) { return __half2float(v); }
inline float moec_value(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename Use, typename T, typename Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout>& f, const T* p, unsigned ldm) {
  static_assert(std::is_same_v<Layout, row_major>, "the stand-in loads row-major operands only");
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16; c++) f.x[r * 16 + c] = p[r * ldm + c];
}

template <typename T>
void fill_fragment(fragment<accumulator, 16, 16, 16, float>& f, T v) {
  for (float& e : f.x) e = static_cast<float>(v);
}

template <typename T>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, T, row_major>& a, const fragment<matrix_b, 16, 16, 16, T, row_major>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
  float out[256];
  for (int r = 0; r < 16; r++)
    for (int col = 0; col < 16; col++) {
      float sum = c.x[r * 16 + col];
      for (int k = 0; k < 16; k++) sum += moec_value(a.x[r * 16 + k]) * moec_value(b.x[k * 16 + col]);
      out[r * 16 + col] = sum;
    }
  std::memcpy(d.x, out, sizeof out);
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm, layout_t layout) {
  if (layout != mem_row_major) std::abort();
  const unsigned lane = moec_emulate::linear_thread() % 32;
  for (unsigned i = lane; i < 256; i += 32) p[(i / 16) * ldm + i % 16] = f.x[i];
}
}  // namespace wmma
}  // namespace nvcuda
