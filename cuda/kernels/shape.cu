// CUDA reflect padding and its backward (contracts: cuda/kernels/shape.h).
//
// The padded dims are always seen as three (missing leading ones have size 1
// and no padding), everything before them as a batch of planes:
//   forward   one thread per output element; each of the three coordinates
//             maps to its source, reflect(i) = |i - lo| mirrored at n - 1.
//   backward  the gather form of the adjoint, one thread per input element:
//             along one dim, input position p is read by at most three output
//             positions, p + lo (always), lo - p (when 1 <= p <= lo, the low
//             mirror) and lo + 2(n - 1) - p (when n - 1 - hi <= p <= n - 2,
//             the high mirror); the thread sums grad_out over the product of
//             those lists (at most 27 terms) in the compute type and writes
//             its element once. No atomics, deterministic, and every element
//             of grad_in is written (no zero fill needed).
// Both move bytes: one read and one write per output element (the forward's
// reads hit mostly the same input rows, so L2 absorbs the mirror reuse).
#include "cuda/kernels/shape.h"

#include <cstdint>

#include "cuda/kernels/device_types.cuh"
#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"

namespace wick::cuda {

namespace {

constexpr unsigned kThreads = 256;

// Sizes of the three padded dims: input n, output m = lo + n + hi.
struct ReflectGeom {
  int64_t n[3], m[3], lo[3], hi[3];
  int64_t plane_in, plane_out;
};

ReflectGeom make_geom(const Tensor& in, const Shape& lo, const Shape& hi, const char* op) {
  const int64_t k = static_cast<int64_t>(lo.size()), nd = in.dim();
  WICK_CHECK(k >= 1 && k <= 3 && static_cast<int64_t>(hi.size()) == k && k <= nd, op,
             ": reflect padding pads the last 1, 2 or 3 dims");
  ReflectGeom g;
  g.plane_in = g.plane_out = 1;
  for (int64_t j = 0; j < 3; ++j) {
    const int64_t jj = j - (3 - k);  // index into lo/hi, < 0: a size-1 filler dim
    g.n[j] = jj < 0 ? 1 : in.size(nd - k + jj);
    g.lo[j] = jj < 0 ? 0 : lo[jj];
    g.hi[j] = jj < 0 ? 0 : hi[jj];
    WICK_CHECK(g.lo[j] >= 0 && g.hi[j] >= 0 && g.lo[j] < g.n[j] && g.hi[j] < g.n[j], op,
               ": reflect padding must lie in [0, size) of its dimension");
    g.m[j] = g.n[j] + g.lo[j] + g.hi[j];
    g.plane_in *= g.n[j];
    g.plane_out *= g.m[j];
  }
  return g;
}

__device__ __forceinline__ int64_t reflect_index(int64_t i, int64_t n, int64_t lo) {
  const int64_t p = i - lo;
  if (p < 0) return -p;
  if (p >= n) return 2 * (n - 1) - p;
  return p;
}

template <typename T>
__global__ void reflect_pad_kernel(T* __restrict__ out, const T* __restrict__ x, int64_t total, ReflectGeom g) {
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    int64_t rem = i, off = 0, stride = 1;
#pragma unroll
    for (int j = 2; j >= 0; --j) {
      const int64_t c = rem % g.m[j];
      rem /= g.m[j];
      off += reflect_index(c, g.n[j], g.lo[j]) * stride;
      stride *= g.n[j];
    }
    out[i] = x[rem * g.plane_in + off];  // rem is now the plane
  }
}

template <typename T>
__global__ void reflect_pad_backward_kernel(T* __restrict__ gin, const T* __restrict__ gout, int64_t total,
                                            ReflectGeom g) {
  using C = compute_t<T>;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    int64_t src[3][3];  // per dim: the output coordinates that read this input coordinate
    int cnt[3];
    int64_t rem = i;
#pragma unroll
    for (int j = 2; j >= 0; --j) {
      const int64_t n = g.n[j], lo = g.lo[j], p = rem % n;
      rem /= n;
      int c = 0;
      src[j][c++] = p + lo;
      if (p >= 1 && p <= lo) src[j][c++] = lo - p;
      if (p <= n - 2 && p >= n - 1 - g.hi[j]) src[j][c++] = lo + 2 * (n - 1) - p;
      cnt[j] = c;
    }
    const T* plane = gout + rem * g.plane_out;
    C acc = C(0);
    for (int a = 0; a < cnt[0]; ++a)
      for (int b = 0; b < cnt[1]; ++b)
        for (int c = 0; c < cnt[2]; ++c)
          acc += to_compute<C>(plane[(src[0][a] * g.m[1] + src[1][b]) * g.m[2] + src[2][c]]);
    gin[i] = from_compute<T>(acc);
  }
}

}  // namespace

void reflect_pad(const Tensor& out, const Tensor& x, const Shape& lo, const Shape& hi) {
  WICK_CHECK(x.is_cuda() && out.device() == x.device() && out.dtype() == x.dtype() && x.is_contiguous() &&
                 out.is_contiguous(),
             "pad: expected contiguous tensors of one dtype on one CUDA device");
  const int64_t total = out.numel();
  if (total == 0) return;
  const ReflectGeom g = make_geom(x, lo, hi, "pad");
  DeviceGuard guard(x.device().index);
  WICK_DEVICE_DISPATCH_ALL(x.dtype(), "pad", [&]<typename T>() {
    reflect_pad_kernel<T><<<grid_for(total, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(x.data_ptr_raw()), total, g);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void reflect_pad_backward(const Tensor& grad_in, const Tensor& grad_out, const Shape& lo, const Shape& hi) {
  WICK_CHECK(grad_in.is_cuda() && grad_out.device() == grad_in.device() && grad_out.dtype() == grad_in.dtype() &&
                 grad_in.is_contiguous() && grad_out.is_contiguous(),
             "reflect_pad_backward: expected contiguous tensors of one dtype on one CUDA device");
  const int64_t total = grad_in.numel();
  if (total == 0) return;
  const ReflectGeom g = make_geom(grad_in, lo, hi, "reflect_pad_backward");
  DeviceGuard guard(grad_in.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(grad_in.dtype(), "reflect_pad_backward", [&]<typename T>() {
    reflect_pad_backward_kernel<T><<<grid_for(total, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(grad_in.data_ptr_raw()), static_cast<const T*>(grad_out.data_ptr_raw()), total, g);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace wick::cuda
