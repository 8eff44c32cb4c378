// bench/cuda/bench.cu: one MoE layer (bench/models/moe-layer.moe) against a dense SwiGLU FFN of the
// same active FLOPs (bench/models/dense-ffn.moe), both compiled by moec --target cuda, on one GPU;
// and the MoE layer against the memory-bandwidth floor of 1-token decode: the bytes of the selected
// experts' weights (and the router's) over the GPU's device-to-device copy bandwidth.
//
// Built and run by bench/cuda/run.sh, which compiles the two models and makes their weights.
// usage: bench MOE_WEIGHTS DENSE_WEIGHTS TOKENS HIDDEN FFN EXPERTS K [PAIRS]
//
// Each forward runs from a captured CUDA graph (what a serving stack would launch). After a
// warm-up, MoE and dense graphs alternate (A B, B A, ...), each timed with CUDA events; the
// figures are medians. Correctness is scripts/gpu-check.sh's business (every example against the
// CPU reference), not this program's.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#include <cuda_runtime.h>
#include "dense_ffn.h"
#include "moe_layer.h"

#define CHECK(call)                                                                              \
  do {                                                                                           \
    const cudaError_t e = (call);                                                                \
    if (e != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "bench: %s: %s (line %d)\n", #call, cudaGetErrorString(e), __LINE__); \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

#define API(call, message)                                                   \
  do {                                                                       \
    if ((call) != MOEC_OK) {                                                 \
      std::fprintf(stderr, "bench: %s: %s\n", #call, message());             \
      std::exit(1);                                                          \
    }                                                                        \
  } while (0)

namespace {

float median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/** Milliseconds one launch of the graph takes, on the stream, timed by events. */
float time_graph(cudaGraphExec_t g, cudaStream_t s, cudaEvent_t a, cudaEvent_t b) {
  CHECK(cudaEventRecord(a, s));
  CHECK(cudaGraphLaunch(g, s));
  CHECK(cudaEventRecord(b, s));
  CHECK(cudaEventSynchronize(b));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, a, b));
  return ms;
}

/** Device-to-device copy bandwidth in bytes/s, counting the read and the write of every byte. */
double copy_bandwidth(cudaStream_t s, cudaEvent_t a, cudaEvent_t b) {
  const size_t bytes = size_t(1) << 30;
  void *src = nullptr, *dst = nullptr;
  CHECK(cudaMalloc(&src, bytes));
  CHECK(cudaMalloc(&dst, bytes));
  CHECK(cudaMemsetAsync(src, 1, bytes, s));
  std::vector<float> ms;
  for (int i = 0; i < 11; i++) {
    CHECK(cudaEventRecord(a, s));
    CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
    CHECK(cudaEventRecord(b, s));
    CHECK(cudaEventSynchronize(b));
    float t = 0;
    CHECK(cudaEventElapsedTime(&t, a, b));
    if (i) ms.push_back(t);  // the first copy warms up
  }
  CHECK(cudaFree(src));
  CHECK(cudaFree(dst));
  return 2.0 * bytes / (median(ms) / 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 8) {
    std::fprintf(stderr, "usage: bench MOE_WEIGHTS DENSE_WEIGHTS TOKENS HIDDEN FFN EXPERTS K [PAIRS]\n");
    return 2;
  }
  const int tokens = std::atoi(argv[3]);
  const long long hidden = std::atoll(argv[4]), ffn = std::atoll(argv[5]), experts = std::atoll(argv[6]), k = std::atoll(argv[7]);
  const int pairs = argc > 8 ? std::atoi(argv[8]) : 51;
  if (tokens < 1 || hidden != moec_moe_layer_width() || hidden != moec_dense_ffn_width() || pairs < 1) {
    std::fprintf(stderr, "bench: TOKENS must be positive and HIDDEN the models' width (%d)\n", moec_moe_layer_width());
    return 2;
  }

  moec_moe_layer* moe = nullptr;
  moec_dense_ffn* dense = nullptr;
  API(moec_moe_layer_create(&moe, tokens, 0), moec_moe_layer_error_message);
  API(moec_dense_ffn_create(&dense, tokens, 0), moec_dense_ffn_error_message);
  API(moec_moe_layer_load_weights(moe, argv[1]), moec_moe_layer_error_message);
  API(moec_dense_ffn_load_weights(dense, argv[2]), moec_dense_ffn_error_message);

  std::vector<float> host(static_cast<size_t>(tokens) * hidden);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (float& v : host) v = normal(rng);
  float *x = nullptr, *y = nullptr;
  CHECK(cudaMalloc(&x, host.size() * sizeof(float)));
  CHECK(cudaMalloc(&y, host.size() * sizeof(float)));
  CHECK(cudaMemcpy(x, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice));

  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  cudaGraph_t graphs[2];
  cudaGraphExec_t execs[2];
  CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  API(moec_moe_layer_forward(moe, x, nullptr, nullptr, y, tokens, s), moec_moe_layer_error_message);
  CHECK(cudaStreamEndCapture(s, &graphs[0]));
  CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  API(moec_dense_ffn_forward(dense, x, nullptr, nullptr, y, tokens, s), moec_dense_ffn_error_message);
  CHECK(cudaStreamEndCapture(s, &graphs[1]));
  for (int i = 0; i < 2; i++) CHECK(cudaGraphInstantiate(&execs[i], graphs[i], 0));

  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 5; i++)
    for (int g = 0; g < 2; g++) time_graph(execs[g], s, a, b);
  std::vector<float> moe_ms, dense_ms, ratio;
  for (int p = 0; p < pairs; p++) {
    // Alternate which runs first, so neither side always follows the other.
    const float first = time_graph(execs[p % 2], s, a, b), second = time_graph(execs[1 - p % 2], s, a, b);
    const float m = p % 2 ? second : first, d = p % 2 ? first : second;
    moe_ms.push_back(m);
    dense_ms.push_back(d);
    ratio.push_back(m / d);
  }
  const double bandwidth = copy_bandwidth(s, a, b);
  // 1-token decode reads k experts' gate, up and down matrices and the router: f32 on the device.
  const double selected = 4.0 * (static_cast<double>(k) * 3 * hidden * ffn + static_cast<double>(hidden) * experts);
  const double floor_ms = selected / bandwidth * 1e3;
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("{\"device\": \"%s\", \"tokens\": %d, \"hidden\": %lld, \"ffn\": %lld, \"experts\": %lld, \"k\": %lld, \"pairs\": %d,\n", prop.name, tokens, hidden, ffn, experts, k, pairs);
  std::printf(" \"moe_ms\": %.4f, \"dense_ms\": %.4f, \"moe_over_dense\": %.3f,\n", median(moe_ms), median(dense_ms), median(ratio));
  std::printf(" \"copy_bandwidth_gbs\": %.1f, \"selected_weight_bytes\": %.0f, \"floor_ms\": %.4f, \"moe_over_floor\": %.2f}\n", bandwidth / 1e9, selected, floor_ms, median(moe_ms) / floor_ms);

  for (int i = 0; i < 2; i++) {
    CHECK(cudaGraphExecDestroy(execs[i]));
    CHECK(cudaGraphDestroy(graphs[i]));
  }
  CHECK(cudaEventDestroy(a));
  CHECK(cudaEventDestroy(b));
  CHECK(cudaStreamDestroy(s));
  CHECK(cudaFree(x));
  CHECK(cudaFree(y));
  moec_moe_layer_destroy(moe);
  moec_dense_ffn_destroy(dense);
  return 0;
}
