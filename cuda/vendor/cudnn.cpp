// cuDNN execution of wick's three convolution maps (see cudnn.h).
//
// The maps are cuDNN's three legacy entry points with wick's geometry:
//   conv2d_forward      cudnnConvolutionForward        x = image, y = map
//   conv2d_transpose    cudnnConvolutionBackwardData   dx = image, dy = map
//   conv2d_weight_grad  cudnnConvolutionBackwardFilter x = image, dy = map, dw = weight_grad
// all NCHW, cross-correlation, groups through cudnnSetConvolutionGroupCount.
// Every call overwrites its output (beta = 0); biases are added afterwards by
// wick's broadcasting add.
//
// Algorithm selection, once per key (direction, dtype, every extent, pad,
// stride, dilation and group count, device, and the pointers' alignment up
// to 16 bytes, since cuDNN's vectorized kernels refuse misaligned data):
//   1. Measure (unless WICK_CUDNN_FIND=0): cudnnFind*AlgorithmEx runs every
//      algorithm on the call's own tensors with a workspace from wick's
//      caching allocator of min(256 MiB, half of the memory the device could
//      still give: free + the allocator's cache, within its limit), and
//      returns them fastest first. The output is scribbled on, which is
//      harmless: the real call overwrites it (beta = 0, nothing accumulates),
//      and the bias is added after. The first usable entry wins.
//   2. Otherwise, or when nothing measured is usable, the first usable
//      algorithm that cudnnGet*Algorithm_v7's heuristic ranks (workspace up
//      to 1 GiB). That heuristic alone is no way to run cuDNN fast: for NCHW
//      16-bit data it ranks slow fallback kernels first (0.02-3 TFLOP/s on
//      an H100 where measured choices reach PyTorch's speed).
//   3. Neither: wick::Error.
// "Usable" is status success, a workspace within the limit and the precision
// wick promises (see math_type). The choice (algorithm, math type, workspace
// size) goes into a mutex-protected map that later calls read; the workspace
// of each call comes from the caching allocator as a uint8 tensor that lives
// until the call has been enqueued (the stream orders the reuse of the
// block). Measuring costs a device synchronization and a few runs of each
// algorithm per key, once per process: benchmarks warm up before timing.
#include "cuda/vendor/cudnn.h"

#include <cstdlib>
#include <cstring>

#include "cuda/runtime.h"

#ifdef WICK_WITH_CUDNN
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <map>
#include <mutex>

#include "cuda/cuda.h"
#include "cuda/vendor/cudnn_handle.h"
#include "ops/creation.h"
#endif

namespace wick::cuda::vendor {

bool cudnn_supports(const ConvGeometry& g) {
  const int64_t full_oh = (g.H + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  const int64_t full_ow = (g.W + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  return g.OH == full_oh && g.OW == full_ow;
}

namespace {
bool parse_find_env() {
  const char* v = std::getenv("WICK_CUDNN_FIND");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "1") == 0) return true;
  if (std::strcmp(v, "0") == 0) return false;
  WICK_FAIL("WICK_CUDNN_FIND must be '1' (measure the algorithms, the default) or '0' (cuDNN's heuristic only), got '",
            v, "'");
}
}  // namespace

bool cudnn_find_enabled() {
  static const bool on = parse_find_env();
  return on;
}

#ifndef WICK_WITH_CUDNN

bool cudnn_built() { return false; }
size_t cudnn_conv_algorithm_cache_size() { return 0; }
size_t cudnn_conv_algorithm_selections() { return 0; }

namespace {
[[noreturn]] void missing(const char* op) {
  WICK_FAIL(op, ": this build of wick has no cuDNN (it was not found when wick was configured); use the wick "
                "backend (WICK_CUDA_CONV=wick)");
}
}  // namespace

void cudnn_conv2d_forward(const ConvGeometry&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  missing("cudnn_conv2d_forward");
}
void cudnn_conv2d_transpose(const ConvGeometry&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  missing("cudnn_conv2d_transpose");
}
void cudnn_conv2d_weight_grad(const ConvGeometry&, const Tensor&, const Tensor&, const Tensor&) {
  missing("cudnn_conv2d_weight_grad");
}

#else  // WICK_WITH_CUDNN

bool cudnn_built() { return true; }

namespace {

#define WICK_CUDNN_CHECK(expr)                                                                           \
  do {                                                                                                   \
    cudnnStatus_t _s = (expr);                                                                           \
    WICK_CHECK(_s == CUDNN_STATUS_SUCCESS, "cuDNN error ", cudnnGetErrorString(_s), " (", static_cast<int>(_s), \
               ") from ", #expr, " at ", __FILE__, ":", __LINE__);                                       \
  } while (0)

void check_status(cudnnStatus_t s, const char* op, const char* what) {
  WICK_CHECK(s == CUDNN_STATUS_SUCCESS, op, ": cuDNN error ", cudnnGetErrorString(s), " (", static_cast<int>(s),
             ") in ", what);
}

constexpr int kMaxDevices = 64;

struct Handles {
  std::mutex mu;  // a handle is not safe to use from two threads at once
  std::array<cudnnHandle_t, kMaxDevices> h{};
};
Handles& handles() {
  // Never destroyed: cudnnDestroy at process exit would race the CUDA
  // runtime's own teardown.
  static Handles* hs = new Handles();
  return *hs;
}

int as_int(int64_t v, const char* op, const char* what) {
  WICK_CHECK(v >= 0 && v <= INT_MAX, op, ": ", what, " = ", v, " does not fit cuDNN's 32-bit int");
  return static_cast<int>(v);
}

cudnnDataType_t data_type(DType d) {
  switch (d) {
    case DType::Float32: return CUDNN_DATA_FLOAT;
    case DType::Float64: return CUDNN_DATA_DOUBLE;
    case DType::Float16: return CUDNN_DATA_HALF;
    case DType::BFloat16: return CUDNN_DATA_BFLOAT16;
    default: WICK_FAIL("cudnn conv: unsupported dtype ", d);
  }
}

// Float32 runs on FMA kernels only: no TF32 (whose 10-bit mantissa would
// make cuDNN's float32 results incomparable with wick's). Float64 has no
// tensor-op or reduced-precision kernels to avoid, and takes the default math
// (as PyTorch sets it: some float64 engines are not offered under FMA_MATH).
// 16-bit inputs may use tensor cores, which accumulate in float32. For
// float32/float64 the descriptor keeps this math type whatever an algorithm
// reports; for 16-bit data it takes the chosen algorithm's.
bool wide(DType d) { return d == kFloat32 || d == kFloat64; }
cudnnMathType_t math_type(DType d) {
  return d == kFloat32 ? CUDNN_FMA_MATH : d == kFloat64 ? CUDNN_DEFAULT_MATH : CUDNN_TENSOR_OP_MATH;
}

struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc(const char* op, DType dt, int64_t n, int64_t c, int64_t h, int64_t w) {
    as_int(n * c * h * w, op, "tensor elements");  // checks first: a throw leaks no descriptor
    const int ni = as_int(n, op, "N"), ci = as_int(c, op, "C"), hi = as_int(h, op, "H"), wi = as_int(w, op, "W");
    WICK_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
    WICK_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, data_type(dt), ni, ci, hi, wi));
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  FilterDesc(const char* op, DType dt, const ConvGeometry& g) {
    const int k = as_int(g.C_out, op, "C_out"), c = as_int(g.C_in / g.groups, op, "C_in/groups");
    const int h = as_int(g.kh, op, "kh"), w = as_int(g.kw, op, "kw");
    WICK_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
    WICK_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d, data_type(dt), CUDNN_TENSOR_NCHW, k, c, h, w));
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};

struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  ConvDesc(const char* op, DType dt, const ConvGeometry& g) {
    const int ph = as_int(g.ph, op, "ph"), pw = as_int(g.pw, op, "pw"), sh = as_int(g.sh, op, "sh");
    const int sw = as_int(g.sw, op, "sw"), dh = as_int(g.dh, op, "dh"), dw = as_int(g.dw, op, "dw");
    const int groups = as_int(g.groups, op, "groups");
    WICK_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
    const cudnnDataType_t compute = dt == kFloat64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    WICK_CUDNN_CHECK(
        cudnnSetConvolution2dDescriptor(d, ph, pw, sh, sw, dh, dw, CUDNN_CROSS_CORRELATION, compute));
    WICK_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d, groups));
    WICK_CUDNN_CHECK(cudnnSetConvolutionMathType(d, math_type(dt)));
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

// Heuristic choices wanting more workspace than this are passed over (it
// ranks some FFT variants first that need gigabytes).
constexpr size_t kMaxWorkspace = size_t(1) << 30;
// The most workspace a measurement offers: enough for the fast algorithms of
// ResNet-sized layers (PyTorch's benchmark mode offers what the allocator
// can give, which can leave gigabytes cached).
constexpr size_t kMaxFindWorkspace = size_t(256) << 20;

// The scaling factors cuDNN takes: double for double data, float otherwise.
struct Scale {
  float f;
  double d;
  const void* get(DType dt) const { return dt == kFloat64 ? static_cast<const void*>(&d) : static_cast<const void*>(&f); }
};
const Scale kOne{1.f, 1.0}, kZero{0.f, 0.0};

// Runs body(handle, device) with the current device's handle bound to wick's
// stream, holding the handles' lock (which also serializes measurements).
template <typename Body>
void with_handle(Body&& body) {
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  WICK_CHECK(dev >= 0 && dev < kMaxDevices, "cudnn conv: device index ", dev, " out of range");
  Handles& hs = handles();
  std::lock_guard<std::mutex> lock(hs.mu);
  cudnnHandle_t& h = hs.h[dev];
  if (h == nullptr) WICK_CUDNN_CHECK(cudnnCreate(&h));
  WICK_CUDNN_CHECK(cudnnSetStream(h, current_stream()));
  body(h, dev);
}

Tensor workspace(size_t bytes, const Tensor& like) {
  if (bytes == 0) return Tensor();
  return empty({static_cast<int64_t>(bytes)}, TensorOptions(kUInt8).device(like.device()));
}
void* ws_ptr(const Tensor& ws) { return ws.defined() ? ws.data_ptr_raw() : nullptr; }

// out[n, c, :, :] += bias[c], by wick's broadcasting add on the same stream
// (cudnnAddTensor's dtype support varies between cuDNN versions; bfloat16).
void add_bias(const Tensor& bias, const Tensor& out) {
  if (!bias.defined()) return;
  Tensor o = out;
  o.add_(bias.view({1, bias.numel(), 1, 1}));
}

// ---------------------------------------------------------------------------
// One convolution call in cuDNN's terms, and the three directions.

// The descriptors and device pointers of a call: x / w / y are the image,
// weight and map whichever of them the direction writes.
struct Call {
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  void *xp, *wp, *yp;
};

enum class Dir : int64_t { Forward, BackwardData, BackwardFilter };

struct Forward {  // y = conv(x, w)
  static constexpr Dir kDir = Dir::Forward;
  static constexpr int kAlgos = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  using Algo = cudnnConvolutionFwdAlgo_t;
  static cudnnStatus_t find(cudnnHandle_t h, const Call& c, int* got, Perf* perf, void* ws, size_t bytes) {
    return cudnnFindConvolutionForwardAlgorithmEx(h, c.x, c.xp, c.w, c.wp, c.conv, c.y, c.yp, kAlgos, got, perf, ws,
                                                  bytes);
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Call& c, int* got, Perf* perf) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, c.x, c.w, c.conv, c.y, kAlgos, got, perf);
  }
  static cudnnStatus_t workspace_size(cudnnHandle_t h, const Call& c, Algo a, size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, c.x, c.w, c.conv, c.y, a, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Call& c, Algo a, void* ws, size_t bytes, DType dt) {
    return cudnnConvolutionForward(h, kOne.get(dt), c.x, c.xp, c.w, c.wp, c.conv, a, ws, bytes, kZero.get(dt), c.y,
                                   c.yp);
  }
};

struct BackwardData {  // x = conv^T(y, w)
  static constexpr Dir kDir = Dir::BackwardData;
  static constexpr int kAlgos = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  static cudnnStatus_t find(cudnnHandle_t h, const Call& c, int* got, Perf* perf, void* ws, size_t bytes) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(h, c.w, c.wp, c.y, c.yp, c.conv, c.x, c.xp, kAlgos, got, perf,
                                                       ws, bytes);
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Call& c, int* got, Perf* perf) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, c.w, c.y, c.conv, c.x, kAlgos, got, perf);
  }
  static cudnnStatus_t workspace_size(cudnnHandle_t h, const Call& c, Algo a, size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, c.w, c.y, c.conv, c.x, a, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Call& c, Algo a, void* ws, size_t bytes, DType dt) {
    return cudnnConvolutionBackwardData(h, kOne.get(dt), c.w, c.wp, c.y, c.yp, c.conv, a, ws, bytes, kZero.get(dt),
                                        c.x, c.xp);
  }
};

struct BackwardFilter {  // w = sum over the batch of y (x) x
  static constexpr Dir kDir = Dir::BackwardFilter;
  static constexpr int kAlgos = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  static cudnnStatus_t find(cudnnHandle_t h, const Call& c, int* got, Perf* perf, void* ws, size_t bytes) {
    return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, c.x, c.xp, c.y, c.yp, c.conv, c.w, c.wp, kAlgos, got,
                                                         perf, ws, bytes);
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Call& c, int* got, Perf* perf) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, c.x, c.y, c.conv, c.w, kAlgos, got, perf);
  }
  static cudnnStatus_t workspace_size(cudnnHandle_t h, const Call& c, Algo a, size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, c.x, c.y, c.conv, c.w, a, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Call& c, Algo a, void* ws, size_t bytes, DType dt) {
    return cudnnConvolutionBackwardFilter(h, kOne.get(dt), c.x, c.xp, c.y, c.yp, c.conv, a, ws, bytes,
                                          kZero.get(dt), c.w, c.wp);
  }
};

// ---------------------------------------------------------------------------
// The algorithm cache.

// Direction, dtype, device, alignment, then the geometry.
using Key = std::array<int64_t, 20>;

// The largest power of two dividing p, up to 16 bytes (the widest vector
// access, and the alignment TMA wants of a global address).
int64_t alignment(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  return a == 0 ? 16 : static_cast<int64_t>(std::min<uintptr_t>(a & (~a + 1), 16));
}

Key make_key(Dir dir, DType dt, int dev, const ConvGeometry& g, const Call& c) {
  const int64_t align = std::min({alignment(c.xp), alignment(c.wp), alignment(c.yp)});
  return {static_cast<int64_t>(dir), static_cast<int64_t>(dt), dev, align, g.N, g.C_in, g.H, g.W, g.C_out, g.kh,
          g.kw, g.OH, g.OW, g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, g.groups};
}

struct Choice {
  int algo;              // the direction's cudnnConvolution*Algo_t
  cudnnMathType_t math;  // the descriptor's math type for the call
  size_t bytes;          // workspace
};

struct AlgoCache {
  std::mutex mu;
  std::map<Key, Choice> map;
  size_t selections = 0;  // choose() calls, for cudnn_conv_algorithm_selections()
};
AlgoCache& algo_cache() {
  static AlgoCache* c = new AlgoCache();  // never destroyed, like the handles
  return *c;
}

bool cache_find(const Key& k, Choice* out) {
  AlgoCache& c = algo_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  const auto it = c.map.find(k);
  if (it == c.map.end()) return false;
  *out = it->second;
  return true;
}
void cache_put(const Key& k, const Choice& ch) {
  AlgoCache& c = algo_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.map.insert_or_assign(k, ch);
  ++c.selections;
}

// ---------------------------------------------------------------------------
// Selection and execution.

// The first usable entry of a list cuDNN ranked (Find: fastest first;
// heuristic: its preference), or null.
template <typename Perf>
const Perf* first_usable(DType dt, const Perf* perf, int count, size_t max_bytes) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > max_bytes) continue;
    if (wide(dt) && (perf[i].mathType == CUDNN_TENSOR_OP_MATH ||
                     perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    return &perf[i];
  }
  return nullptr;
}

// The workspace a measurement may use on device dev: half of what the
// caching allocator could still hand out (the driver's free memory plus its
// own cached blocks, within its limit), at most kMaxFindWorkspace.
size_t find_workspace_budget(int dev) {
  size_t free_b = 0, total_b = 0;
  WICK_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const MemoryStats s = memory_stats(dev);
  size_t avail = free_b + static_cast<size_t>(s.cached);
  const int64_t limit = memory_limit(dev);
  if (limit > 0) avail = std::min(avail, static_cast<size_t>(std::max<int64_t>(limit - s.allocated, 0)));
  return std::min(kMaxFindWorkspace, avail / 2);
}

template <typename D>
Choice choose(const char* op, cudnnHandle_t h, int dev, DType dt, const Call& c, const Tensor& like) {
  std::array<typename D::Perf, D::kAlgos> perf{};
  int got = 0;
  const typename D::Perf* best = nullptr;
  if (cudnn_find_enabled()) {
    size_t budget = find_workspace_budget(dev);
    Tensor ws;
    try {
      ws = workspace(budget, like);
    } catch (const Error&) {  // the estimate was too hopeful: measure what needs no workspace
      budget = 0;
    }
    // A failed measurement is not fatal: the heuristic below still answers.
    if (D::find(h, c, &got, perf.data(), ws_ptr(ws), budget) == CUDNN_STATUS_SUCCESS)
      best = first_usable(dt, perf.data(), got, budget);
  }
  if (best == nullptr) {
    got = 0;
    check_status(D::heuristic(h, c, &got, perf.data()), op, "the algorithm heuristic");
    best = first_usable(dt, perf.data(), got, kMaxWorkspace);
  }
  WICK_CHECK(best != nullptr, op, ": cuDNN offers no algorithm for this ", dt, " convolution");
  Choice ch{static_cast<int>(best->algo), wide(dt) ? math_type(dt) : best->mathType, 0};
  // The size under the math type the call will use (never below what the
  // measurement reported).
  WICK_CUDNN_CHECK(cudnnSetConvolutionMathType(c.conv, ch.math));
  size_t bytes = 0;
  check_status(D::workspace_size(h, c, best->algo, &bytes), op, "the workspace size query");
  ch.bytes = std::max(bytes, best->memory);
  return ch;
}

// Runs direction D on the descriptors and pointers of c, choosing (and
// caching) its algorithm on the first call of its key.
template <typename D>
void convolve(const char* op, const ConvGeometry& g, DType dt, const Call& c, const Tensor& like) {
  with_handle([&](cudnnHandle_t h, int dev) {
    const Key key = make_key(D::kDir, dt, dev, g, c);
    Choice ch{};
    if (!cache_find(key, &ch)) {
      ch = choose<D>(op, h, dev, dt, c, like);
      cache_put(key, ch);
    }
    WICK_CUDNN_CHECK(cudnnSetConvolutionMathType(c.conv, ch.math));
    const Tensor ws = workspace(ch.bytes, like);
    check_status(D::run(h, c, static_cast<typename D::Algo>(ch.algo), ws_ptr(ws), ch.bytes, dt), op,
                 "the convolution");
  });
}

}  // namespace

size_t cudnn_conv_algorithm_cache_size() {
  AlgoCache& c = algo_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.map.size();
}

size_t cudnn_conv_algorithm_selections() {
  AlgoCache& c = algo_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.selections;
}

void cudnn_conv2d_forward(const ConvGeometry& g, const Tensor& image, const Tensor& weight, const Tensor& bias,
                          const Tensor& map) {
  const char* op = "cudnn_conv2d_forward";
  const DType dt = image.dtype();
  const TensorDesc x(op, dt, g.N, g.C_in, g.H, g.W), y(op, dt, g.N, g.C_out, g.OH, g.OW);
  const FilterDesc w(op, dt, g);
  const ConvDesc conv(op, dt, g);
  const Call c{x.d, y.d, w.d, conv.d, image.data_ptr_raw(), weight.data_ptr_raw(), map.data_ptr_raw()};
  convolve<Forward>(op, g, dt, c, image);
  add_bias(bias, map);
}

void cudnn_conv2d_transpose(const ConvGeometry& g, const Tensor& map, const Tensor& weight, const Tensor& bias,
                            const Tensor& image) {
  const char* op = "cudnn_conv2d_transpose";
  const DType dt = image.dtype();
  const TensorDesc dx(op, dt, g.N, g.C_in, g.H, g.W), dy(op, dt, g.N, g.C_out, g.OH, g.OW);
  const FilterDesc w(op, dt, g);
  const ConvDesc conv(op, dt, g);
  const Call c{dx.d, dy.d, w.d, conv.d, image.data_ptr_raw(), weight.data_ptr_raw(), map.data_ptr_raw()};
  convolve<BackwardData>(op, g, dt, c, image);
  add_bias(bias, image);
}

void cudnn_conv2d_weight_grad(const ConvGeometry& g, const Tensor& image, const Tensor& map,
                              const Tensor& weight_grad) {
  const char* op = "cudnn_conv2d_weight_grad";
  const DType dt = image.dtype();
  const TensorDesc x(op, dt, g.N, g.C_in, g.H, g.W), dy(op, dt, g.N, g.C_out, g.OH, g.OW);
  const FilterDesc dw(op, dt, g);
  const ConvDesc conv(op, dt, g);
  const Call c{x.d, dy.d, dw.d, conv.d, image.data_ptr_raw(), weight_grad.data_ptr_raw(), map.data_ptr_raw()};
  convolve<BackwardFilter>(op, g, dt, c, image);
}

void with_cudnn_handle(const std::function<void(cudnnHandle_t, int)>& body) {
  with_handle([&](cudnnHandle_t h, int dev) { body(h, dev); });
}

#endif  // WICK_WITH_CUDNN

}  // namespace wick::cuda::vendor
