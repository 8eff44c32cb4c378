// A CPU stand-in for the parts of the CUDA runtime and device code that moec's CUDA output uses,
// so test/cuda-emulate.test.ts can run the generated model, runtime and harness with g++ (and
// AddressSanitizer) on a machine without a GPU. Not a CUDA implementation: just enough of one.
//
// Device memory is host memory. A launch runs its blocks one after another, each block's threads
// as real threads (so __syncthreads is a barrier, and shared arrays, spelled `static`, are
// shared by one block at a time); warp shuffles exchange through the block, which is valid
// because moec's kernels call them in uniform control flow. Launches run at once unless the
// stream is capturing, in which case they are recorded into the graph. The test rewrites the
// triple-chevron launch `k<<<g, b, s, stream>>>(args)` into `moec_emulate::launch(k, g, b, s, stream)(args)`.
#pragma once
#include <math.h>
#include <cmath>
#include <algorithm>
#include <atomic>
#include <barrier>
#include <climits>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct uint3 {
  unsigned x, y, z;
};
// The 16-byte vector types: a misaligned load through them is undefined (UBSan's alignment check reports it).
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(16) float4 { float x, y, z, w; };

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2, cudaErrorNotSupported = 801 };
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal, cudaStreamCaptureModeRelaxed };
#define cudaStreamNonBlocking 1u

namespace moec_emulate {
struct Stream {
  bool capturing = false;
  std::vector<std::function<void()>> recorded;
};
struct Block {
  std::barrier<>* barrier;
  std::vector<uint64_t>* exchange;
  unsigned threads;
};
inline thread_local uint3 thread_idx, block_idx;
inline thread_local dim3 block_dim, grid_dim;
inline thread_local Block block;
/** Which half of the exchange buffer a thread's next shuffle uses (see exchange). */
inline thread_local unsigned exchange_parity;
inline cudaError_t last_error = cudaSuccess;
}  // namespace moec_emulate

typedef moec_emulate::Stream* cudaStream_t;
typedef std::vector<std::function<void()>>* cudaGraph_t;
typedef std::vector<std::function<void()>>* cudaGraphExec_t;

#define threadIdx moec_emulate::thread_idx
#define blockIdx moec_emulate::block_idx
#define blockDim moec_emulate::block_dim
#define gridDim moec_emulate::grid_dim

namespace moec_emulate {
/** Worker threads kept for the whole run: a block's threads are workers 0..n-1 (starting a thread per block is too slow under ASan). */
class Pool {
 public:
  void run(unsigned n, const std::function<void(unsigned)>& job) {
    std::unique_lock<std::mutex> lock(m_);
    while (workers_ < n) {
      std::thread(&Pool::work, this, workers_++).detach();
    }
    job_ = &job;
    n_ = n;
    done_ = 0;
    generation_++;
    start_.notify_all();
    finished_.wait(lock, [&] { return done_ == n_; });
  }

 private:
  void work(unsigned index) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(m_);
    for (;;) {
      start_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (index >= n_) continue;
      const std::function<void(unsigned)>* job = job_;
      lock.unlock();
      (*job)(index);
      lock.lock();
      if (++done_ == n_) finished_.notify_one();
    }
  }
  std::mutex m_;
  std::condition_variable start_, finished_;
  const std::function<void(unsigned)>* job_ = nullptr;
  unsigned workers_ = 0, n_ = 0, done_ = 0;
  uint64_t generation_ = 0;
};

inline Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: its threads wait forever
  return *p;
}

/** Run `body` once per thread of every block of the grid, one block at a time. */
inline void run_grid(dim3 grid, dim3 threads, const std::function<void()>& body) {
  const unsigned n = threads.x * threads.y * threads.z;
  for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
      for (unsigned bx = 0; bx < grid.x; bx++) {
        std::barrier<> barrier(n);
        std::vector<uint64_t> exchange(2 * n);
        pool().run(n, [&](unsigned t) {
          thread_idx = {t % threads.x, (t / threads.x) % threads.y, t / (threads.x * threads.y)};
          block_idx = {bx, by, bz};
          block_dim = threads;
          grid_dim = grid;
          block = {&barrier, &exchange, n};
          exchange_parity = 0;
          body();
        });
      }
}

template <typename F>
struct Launcher {
  F kernel;
  dim3 grid, threads;
  cudaStream_t stream;
  template <typename... A>
  void operator()(A... args) {
    const F k = kernel;
    const dim3 g = grid, b = threads;
    std::function<void()> run = [=] { run_grid(g, b, [=] { k(args...); }); };
    if (stream && stream->capturing) stream->recorded.push_back(run);
    else run();
  }
};

template <typename F>
Launcher<F> launch(F kernel, dim3 grid, dim3 threads, size_t, cudaStream_t stream) {
  return Launcher<F>{kernel, grid, threads, stream};
}

inline unsigned linear_thread() {
  return thread_idx.x + block_dim.x * (thread_idx.y + block_dim.y * thread_idx.z);
}

/**
 * Every thread of the block posts a value, then reads the one at `source(its index)`. Exchanges
 * alternate between two halves of the buffer, so one barrier each suffices: a thread can post
 * into a half again only two exchanges later, past a barrier every thread reaches after reading.
 */
template <typename T, typename S>
T exchange(T v, S source) {
  const unsigned me = linear_thread();
  uint64_t* slots = block.exchange->data() + (exchange_parity ^= 1) * block.threads;
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  slots[me] = bits;
  block.barrier->arrive_and_wait();
  bits = slots[source(me)];
  T r;
  std::memcpy(&r, &bits, sizeof(T));
  return r;
}
}  // namespace moec_emulate

inline void __syncthreads() { moec_emulate::block.barrier->arrive_and_wait(); }

template <typename T>
T __shfl_sync(unsigned, T v, int lane, int width = 32) {
  return moec_emulate::exchange(v, [&](unsigned me) { return me / width * width + static_cast<unsigned>(lane); });
}
template <typename T>
T __shfl_xor_sync(unsigned, T v, int offset, int width = 32) {
  return moec_emulate::exchange(v, [&](unsigned me) { return me / width * width + ((me % width) ^ static_cast<unsigned>(offset)); });
}

inline int atomicAdd(int* p, int v) { return std::atomic_ref<int>(*p).fetch_add(v); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return std::atomic_ref<unsigned>(*p).fetch_add(v); }

inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline float __uint_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
inline int __float_as_int(float f) { int v; std::memcpy(&v, &f, 4); return v; }
inline unsigned __float_as_uint(float f) { unsigned v; std::memcpy(&v, &f, 4); return v; }
inline int __float2int_rz(float f) { return f != f ? 0 : f >= 2147483648.0f ? INT_MAX : f <= -2147483648.0f ? INT_MIN : static_cast<int>(f); }
inline unsigned __float2uint_rz(float f) { return f != f || f <= 0.0f ? 0u : f >= 4294967296.0f ? UINT_MAX : static_cast<unsigned>(f); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }

struct __half { uint16_t bits = 0; };
typedef __half half;
struct __nv_bfloat16 { uint16_t bits = 0; };
inline float __bfloat162float(__nv_bfloat16 h) { return __uint_as_float(static_cast<unsigned>(h.bits) << 16); }
/** float to bfloat16, rounding to nearest even (NaN kept quiet; overflow rounds to infinity by the same carry). */
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  const unsigned x = __float_as_uint(f);
  __nv_bfloat16 h;
  h.bits = (x & 0x7fffffffu) > 0x7f800000u ? static_cast<uint16_t>((x >> 16) | 0x40u) : static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
  return h;
}
inline float __half2float(__half h) {
  const unsigned sign = (h.bits & 0x8000u) << 16, exp = (h.bits >> 10) & 0x1f, mant = h.bits & 0x3ff;
  if (exp == 0x1f) return __uint_as_float(sign | 0x7f800000u | (mant << 13));
  if (exp) return __uint_as_float(sign | ((exp + 112) << 23) | (mant << 13));
  return (sign ? -1.0f : 1.0f) * static_cast<float>(mant) * 5.9604644775390625e-8f;
}
/** float to half, rounding to nearest even (subnormals, overflow to infinity, NaN kept quiet). */
inline __half __float2half_rn(float f) {
  const unsigned x = __float_as_uint(f), sign = (x >> 16) & 0x8000u, mag = x & 0x7fffffffu;
  __half h;
  if (mag > 0x7f800000u) { h.bits = static_cast<uint16_t>(sign | 0x7e00u); return h; }
  if (mag >= 0x477ff000u) { h.bits = static_cast<uint16_t>(sign | 0x7c00u); return h; }  // rounds to >= 65520: infinity
  if (mag < 0x38800000u) {
    // Subnormal (or zero): the value in units of 2^-24, rounded to nearest even.
    const float units = __uint_as_float(mag) * 16777216.0f;
    h.bits = static_cast<uint16_t>(sign | static_cast<unsigned>(std::nearbyint(units)));
    return h;
  }
  const unsigned rounded = mag + 0xfffu + ((mag >> 13) & 1u);
  h.bits = static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
  return h;
}
// half arithmetic as the device does it: each operation correctly rounded (computing in float and
// rounding once is exact for +, -, *, / and sqrt, since float has more than 2 * 11 + 2 bits).
inline __half operator+(__half a, __half b) { return __float2half_rn(__half2float(a) + __half2float(b)); }
inline __half operator-(__half a, __half b) { return __float2half_rn(__half2float(a) - __half2float(b)); }
inline __half operator*(__half a, __half b) { return __float2half_rn(__half2float(a) * __half2float(b)); }
inline __half operator/(__half a, __half b) { return __float2half_rn(__half2float(a) / __half2float(b)); }
inline __half operator-(__half a) { a.bits ^= 0x8000u; return a; }
inline __half& operator+=(__half& a, __half b) { return a = a + b; }
inline bool operator<(__half a, __half b) { return __half2float(a) < __half2float(b); }
inline bool operator>(__half a, __half b) { return __half2float(a) > __half2float(b); }
inline bool operator<=(__half a, __half b) { return __half2float(a) <= __half2float(b); }
inline bool operator>=(__half a, __half b) { return __half2float(a) >= __half2float(b); }
inline bool operator==(__half a, __half b) { return __half2float(a) == __half2float(b); }
inline bool operator!=(__half a, __half b) { return __half2float(a) != __half2float(b); }
inline __half hexp(__half a) { return __float2half_rn(expf(__half2float(a))); }
inline __half hsqrt(__half a) { return __float2half_rn(sqrtf(__half2float(a))); }
inline __half hrsqrt(__half a) { return __float2half_rn(1.0f / sqrtf(__half2float(a))); }
inline __half __habs(__half a) { a.bits &= 0x7fffu; return a; }
inline __half __hmax(__half a, __half b) { return a < b ? b : a; }
inline __half __hmin(__half a, __half b) { return b < a ? b : a; }

// ---- host API ----
inline const char* cudaGetErrorName(cudaError_t e) { return e == cudaSuccess ? "cudaSuccess" : e == cudaErrorMemoryAllocation ? "cudaErrorMemoryAllocation" : e == cudaErrorNotSupported ? "cudaErrorNotSupported" : "cudaErrorInvalidValue"; }
inline const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated error"; }
inline cudaError_t cudaGetLastError() { const cudaError_t e = moec_emulate::last_error; moec_emulate::last_error = cudaSuccess; return e; }
inline cudaError_t cudaPeekAtLastError() { return moec_emulate::last_error; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = 2; return cudaSuccess; }
template <typename F>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, F, int, size_t) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, size_t n) { *p = std::malloc(n ? n : 1); return *p ? cudaSuccess : cudaErrorMemoryAllocation; }
template <typename T>
cudaError_t cudaMalloc(T** p, size_t n) { return cudaMalloc(reinterpret_cast<void**>(p), n); }
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { if (n) std::memcpy(d, s, n); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k, cudaStream_t) { return cudaMemcpy(d, s, n, k); }
inline cudaError_t cudaMemset(void* d, int v, size_t n) { std::memset(d, v, n); return cudaSuccess; }
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t) { return cudaMemset(d, v, n); }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { *s = new moec_emulate::Stream(); return cudaSuccess; }
inline cudaError_t cudaStreamDestroy(cudaStream_t s) { delete s; return cudaSuccess; }
inline cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) { if (!s) return cudaErrorInvalidValue; s->capturing = true; s->recorded.clear(); return cudaSuccess; }
inline cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) { s->capturing = false; *g = new std::vector<std::function<void()>>(std::move(s->recorded)); return cudaSuccess; }
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) { *e = new std::vector<std::function<void()>>(*g); return cudaSuccess; }
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t) { for (auto& f : *e) f(); return cudaSuccess; }
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) { delete e; return cudaSuccess; }
inline cudaError_t cudaGraphDestroy(cudaGraph_t g) { delete g; return cudaSuccess; }
