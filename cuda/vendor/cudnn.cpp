// cuDNN execution of wick's three convolution maps (see cudnn.h).
//
// The maps are cuDNN's three legacy entry points with wick's geometry:
//   conv2d_forward      cudnnConvolutionForward        x = image, y = map
//   conv2d_transpose    cudnnConvolutionBackwardData   dx = image, dy = map
//   conv2d_weight_grad  cudnnConvolutionBackwardFilter x = image, dy = map, dw = weight_grad
// all NCHW, cross-correlation, groups through cudnnSetConvolutionGroupCount.
// Biases are added afterwards by wick's broadcasting add.
// The algorithm is the first that cudnnGet*Algorithm_v7's heuristic ranks
// usable (no benchmarking, so no hidden allocations or timing noise), within
// the precision wick promises (see math_type); its workspace comes from wick's
// caching allocator as a uint8 tensor that lives until the call has been
// enqueued (the stream orders the reuse of the block).
#include "cuda/vendor/cudnn.h"

#include "cuda/runtime.h"

#ifdef WICK_WITH_CUDNN
#include <cudnn.h>

#include <array>
#include <climits>
#include <mutex>

#include "ops/creation.h"
#endif

namespace wick::cuda::vendor {

bool cudnn_supports(const ConvGeometry& g) {
  const int64_t full_oh = (g.H + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  const int64_t full_ow = (g.W + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  return g.OH == full_oh && g.OW == full_ow;
}

#ifndef WICK_WITH_CUDNN

bool cudnn_built() { return false; }

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
// 16-bit inputs may use tensor cores, which accumulate in float32.
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

// Algorithms wanting more workspace than this are passed over (the
// heuristic ranks some FFT variants first that need gigabytes).
constexpr size_t kMaxWorkspace = size_t(1) << 30;

// The heuristic's best usable algorithm: status success, a workspace under
// kMaxWorkspace and, for float32 / float64, a math type without tensor-core
// conversions.
template <typename Perf>
const Perf& pick(const char* op, DType dt, const Perf* perf, int count) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kMaxWorkspace) continue;
    if (wide(dt) && (perf[i].mathType == CUDNN_TENSOR_OP_MATH ||
                     perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    return perf[i];
  }
  WICK_FAIL(op, ": cuDNN offers no algorithm for this ", dt, " convolution");
}

// The scaling factors cuDNN takes: double for double data, float otherwise.
struct Scale {
  float f;
  double d;
  const void* get(DType dt) const { return dt == kFloat64 ? static_cast<const void*>(&d) : static_cast<const void*>(&f); }
};
const Scale kOne{1.f, 1.0}, kZero{0.f, 0.0};

// Runs body(handle) with the current device's handle bound to wick's stream.
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
  body(h);
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

}  // namespace

void cudnn_conv2d_forward(const ConvGeometry& g, const Tensor& image, const Tensor& weight, const Tensor& bias,
                          const Tensor& map) {
  const char* op = "cudnn_conv2d_forward";
  const DType dt = image.dtype();
  const TensorDesc x(op, dt, g.N, g.C_in, g.H, g.W), y(op, dt, g.N, g.C_out, g.OH, g.OW);
  const FilterDesc w(op, dt, g);
  const ConvDesc conv(op, dt, g);
  with_handle([&](cudnnHandle_t h) {
    std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> perf{};
    int count = 0;
    WICK_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, x.d, w.d, conv.d, y.d, static_cast<int>(perf.size()),
                                                            &count, perf.data()));
    const auto& best = pick(op, dt, perf.data(), count);
    if (!wide(dt)) WICK_CUDNN_CHECK(cudnnSetConvolutionMathType(conv.d, best.mathType));
    size_t bytes = 0;
    WICK_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, x.d, w.d, conv.d, y.d, best.algo, &bytes));
    const Tensor ws = workspace(bytes, image);
    WICK_CUDNN_CHECK(cudnnConvolutionForward(h, kOne.get(dt), x.d, image.data_ptr_raw(), w.d, weight.data_ptr_raw(),
                                             conv.d, best.algo, ws_ptr(ws), bytes, kZero.get(dt), y.d,
                                             map.data_ptr_raw()));
  });
  add_bias(bias, map);
}

void cudnn_conv2d_transpose(const ConvGeometry& g, const Tensor& map, const Tensor& weight, const Tensor& bias,
                            const Tensor& image) {
  const char* op = "cudnn_conv2d_transpose";
  const DType dt = image.dtype();
  const TensorDesc dx(op, dt, g.N, g.C_in, g.H, g.W), dy(op, dt, g.N, g.C_out, g.OH, g.OW);
  const FilterDesc w(op, dt, g);
  const ConvDesc conv(op, dt, g);
  with_handle([&](cudnnHandle_t h) {
    std::array<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT> perf{};
    int count = 0;
    WICK_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, w.d, dy.d, conv.d, dx.d,
                                                                 static_cast<int>(perf.size()), &count, perf.data()));
    const auto& best = pick(op, dt, perf.data(), count);
    if (!wide(dt)) WICK_CUDNN_CHECK(cudnnSetConvolutionMathType(conv.d, best.mathType));
    size_t bytes = 0;
    WICK_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, w.d, dy.d, conv.d, dx.d, best.algo, &bytes));
    const Tensor ws = workspace(bytes, image);
    WICK_CUDNN_CHECK(cudnnConvolutionBackwardData(h, kOne.get(dt), w.d, weight.data_ptr_raw(), dy.d,
                                                  map.data_ptr_raw(), conv.d, best.algo, ws_ptr(ws), bytes,
                                                  kZero.get(dt), dx.d, image.data_ptr_raw()));
  });
  add_bias(bias, image);
}

void cudnn_conv2d_weight_grad(const ConvGeometry& g, const Tensor& image, const Tensor& map,
                              const Tensor& weight_grad) {
  const char* op = "cudnn_conv2d_weight_grad";
  const DType dt = image.dtype();
  const TensorDesc x(op, dt, g.N, g.C_in, g.H, g.W), dy(op, dt, g.N, g.C_out, g.OH, g.OW);
  const FilterDesc dw(op, dt, g);
  const ConvDesc conv(op, dt, g);
  with_handle([&](cudnnHandle_t h) {
    std::array<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT> perf{};
    int count = 0;
    WICK_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, x.d, dy.d, conv.d, dw.d,
                                                                   static_cast<int>(perf.size()), &count, perf.data()));
    const auto& best = pick(op, dt, perf.data(), count);
    if (!wide(dt)) WICK_CUDNN_CHECK(cudnnSetConvolutionMathType(conv.d, best.mathType));
    size_t bytes = 0;
    WICK_CUDNN_CHECK(
        cudnnGetConvolutionBackwardFilterWorkspaceSize(h, x.d, dy.d, conv.d, dw.d, best.algo, &bytes));
    const Tensor ws = workspace(bytes, image);
    WICK_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, kOne.get(dt), x.d, image.data_ptr_raw(), dy.d,
                                                    map.data_ptr_raw(), conv.d, best.algo, ws_ptr(ws), bytes,
                                                    kZero.get(dt), dw.d, weight_grad.data_ptr_raw()));
  });
}

#endif  // WICK_WITH_CUDNN

}  // namespace wick::cuda::vendor
