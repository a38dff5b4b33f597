// CUDA fill, arange, linspace and the identity's diagonal. Store-only
// kernels: n * sizeof(T) bytes written, nothing read, so bandwidth-bound;
// the contiguous fill stores 4 elements per thread as one vector when the
// pointer is aligned for it.
//
// The element formulas are the CPU's (ops/creation.cpp), and every
// floating-point operation is rounded on its own (__dmul_rn, __dadd_rn,
// __fmul_rn, ...): nvcc would otherwise contract a + b * c into an fma,
// whose single rounding differs from the CPU's two.
#include "cuda/kernels/fill.h"

#include <type_traits>

#include "cuda/kernels/rounding.cuh"
#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"

namespace wick::cuda {

namespace {

constexpr unsigned kThreads = 256;
constexpr int kVec = 4;

template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
  T x[V];
};

// S is double or int64_t (the Scalar's kind), converted on the device.
template <typename T, typename S, int V>
__global__ void fill_contiguous_kernel(T* __restrict__ p, int64_t n, S v) {
  const T value = cast_to<T>(v);
  const int64_t nvec = V > 1 ? n / V : 0;  // V == 1: the scalar loop below does all of it
  if constexpr (V > 1) {
    Vec<T, V> vec;
#pragma unroll
    for (int j = 0; j < V; ++j) vec.x[j] = value;
    auto* out = reinterpret_cast<Vec<T, V>*>(p);
    for (int64_t i = global_thread(); i < nvec; i += grid_threads()) out[i] = vec;
  }
  for (int64_t i = nvec * V + global_thread(); i < n; i += grid_threads()) p[i] = value;
}

template <typename T, typename S>
__global__ void fill_strided_kernel(T* __restrict__ p, int64_t n, S v, StridedIndexer<1> ix) {
  const T value = cast_to<T>(v);
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t off[1];
    ix.offsets(i, off);
    p[off[0]] = value;
  }
}

template <typename T>
__global__ void arange_int_kernel(T* __restrict__ p, int64_t n, int64_t start, int64_t step) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) p[i] = cast_to<T>(start + i * step);
}

template <typename T>
__global__ void arange_float_kernel(T* __restrict__ p, int64_t n, double start, double step) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    p[i] = cast_to<T>(__dadd_rn(start, __dmul_rn(static_cast<double>(i), step)));
}

// mul_rn, add_rn (rounding.cuh): one rounding per operation in float or double.

// The first half steps up from start, the second down from end (both exact).
template <typename T, typename S>
__global__ void linspace_kernel(T* __restrict__ p, int64_t steps, S s, S e, S step) {
  const int64_t half = steps / 2;
  for (int64_t i = global_thread(); i < steps; i += grid_threads()) {
    const S v = i < half ? add_rn(s, mul_rn(step, static_cast<S>(i)))
                         : add_rn(e, -mul_rn(step, static_cast<S>(steps - i - 1)));
    p[i] = static_cast<T>(v);
  }
}

template <typename T>
__global__ void eye_kernel(T* __restrict__ p, int64_t diag, int64_t cols) {
  for (int64_t i = global_thread(); i < diag; i += grid_threads()) p[i * cols + i] = cast_to<T>(1);
}

bool aligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

}  // namespace

void fill(const Tensor& t, const Scalar& v) {
  const int64_t n = t.numel();
  if (n == 0) return;
  DeviceGuard guard(t.device().index);
  cudaStream_t stream = current_stream();
  WICK_DEVICE_DISPATCH_ALL(t.dtype(), "fill", [&]<typename T>() {
    T* p = static_cast<T*>(t.data_ptr_raw());
    auto launch = [&](auto value) {
      using S = decltype(value);
      if (t.is_contiguous()) {
        if (aligned(p, alignof(Vec<T, kVec>)))
          fill_contiguous_kernel<T, S, kVec><<<grid_for((n + kVec - 1) / kVec, kThreads), kThreads, 0, stream>>>(p, n, value);
        else
          fill_contiguous_kernel<T, S, 1><<<grid_for(n, kThreads), kThreads, 0, stream>>>(p, n, value);
      } else {
        auto ix = make_indexer<1>(t.sizes(), {t.strides()}, "fill");
        fill_strided_kernel<T, S><<<grid_for(n, kThreads), kThreads, 0, stream>>>(p, n, value, ix);
      }
      WICK_CUDA_CHECK_LAUNCH();
    };
    if (v.is_floating())
      launch(v.to<double>());
    else
      launch(v.to<int64_t>());
  });
}

void arange(const Tensor& t, const Scalar& start, const Scalar& step, bool integral) {
  const int64_t n = t.numel();
  if (n == 0) return;
  WICK_CHECK(t.is_contiguous() && t.dim() == 1, "cuda::arange: expected a contiguous 1-d output");
  DeviceGuard guard(t.device().index);
  cudaStream_t stream = current_stream();
  WICK_DEVICE_DISPATCH_ALL(t.dtype(), "arange", [&]<typename T>() {
    T* p = static_cast<T*>(t.data_ptr_raw());
    if (integral)
      arange_int_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>(p, n, start.to_int(), step.to_int());
    else
      arange_float_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>(p, n, start.to_double(), step.to_double());
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void linspace(const Tensor& t, double start, double end) {
  const int64_t steps = t.numel();
  WICK_CHECK(t.is_contiguous() && t.dim() == 1 && steps >= 2, "cuda::linspace: expected a contiguous 1-d output of >= 2 elements");
  DeviceGuard guard(t.device().index);
  cudaStream_t stream = current_stream();
  // Same dtypes as the CPU (WICK_DISPATCH_NUMERIC); the endpoints and step as ops/creation.cpp computes them.
  auto run = [&]<typename T>() {
    using S = std::conditional_t<std::is_integral_v<T>, double, T>;
    const T s = static_cast<T>(start), e = static_cast<T>(end);
    const S step = (static_cast<S>(e) - static_cast<S>(s)) / static_cast<S>(steps - 1);
    linspace_kernel<T, S><<<grid_for(steps, kThreads), kThreads, 0, stream>>>(static_cast<T*>(t.data_ptr_raw()), steps,
                                                                             static_cast<S>(s), static_cast<S>(e), step);
    WICK_CUDA_CHECK_LAUNCH();
  };
  switch (t.dtype()) {
    case kUInt8: return run.template operator()<uint8_t>();
    case kInt32: return run.template operator()<int32_t>();
    case kInt64: return run.template operator()<int64_t>();
    case kFloat32: return run.template operator()<float>();
    case kFloat64: return run.template operator()<double>();
    default: WICK_FAIL("linspace: dtype ", t.dtype(), " is not supported on CUDA");
  }
}

void eye_diagonal(const Tensor& t) {
  WICK_CHECK(t.is_contiguous() && t.dim() == 2, "cuda::eye_diagonal: expected a contiguous 2-d output");
  const int64_t diag = std::min(t.size(0), t.size(1));
  if (diag == 0) return;
  DeviceGuard guard(t.device().index);
  cudaStream_t stream = current_stream();
  WICK_DEVICE_DISPATCH_ALL(t.dtype(), "eye", [&]<typename T>() {
    eye_kernel<T><<<grid_for(diag, kThreads), kThreads, 0, stream>>>(static_cast<T*>(t.data_ptr_raw()), diag, t.size(1));
    WICK_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace wick::cuda
