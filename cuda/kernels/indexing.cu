// CUDA index_select and index_add (contracts: cuda/kernels/indexing.h).
// Both view their tensors as [outer, n, inner] around `dim` (n: x's or out's
// size there, m = index.numel() on the other side).
//   index_select: one thread per output element; a warp reads 32 adjacent
//     `inner` elements of one selected slice (coalesced when inner >= 32,
//     e.g. embedding rows).
//   index_add: one thread per (outer, inner column, bucket of output rows);
//     it scans the m indices in order and adds the sources of the rows in its
//     bucket. The scan is cheap (indices stay in L1/L2); the adds are
//     coalesced across the inner columns; the result is deterministic.
#include "cuda/kernels/indexing.h"

#include <algorithm>

#include "cuda/kernels/block.cuh"
#include "cuda/kernels/device_types.cuh"
#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr unsigned kThreads = 256;
constexpr int64_t kBuckets = 32;

// first_bad = the smallest position i with index[i] outside [0, n).
__global__ void check_index_kernel(const int64_t* __restrict__ index, int64_t m, int64_t n,
                                   unsigned long long* __restrict__ first_bad) {
  for (int64_t i = global_thread(); i < m; i += grid_threads())
    if (index[i] < 0 || index[i] >= n) atomicMin(first_bad, static_cast<unsigned long long>(i));
}

template <typename T>
__global__ void index_select_kernel(T* __restrict__ out, const T* __restrict__ x, const int64_t* __restrict__ index,
                                    int64_t outer, int64_t n, int64_t m, int64_t inner) {
  const int64_t total = outer * m * inner;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t k = i % inner, j = (i / inner) % m, o = i / (inner * m);
    out[i] = x[(o * n + index[j]) * inner + k];
  }
}

template <typename T>
__global__ void index_add_kernel(T* __restrict__ out, const T* __restrict__ src, const int64_t* __restrict__ index,
                                 int64_t outer, int64_t n, int64_t m, int64_t inner) {
  using C = compute_t<T>;
  const int64_t total = outer * inner * kBuckets;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t k = t % inner, b = (t / inner) % kBuckets, o = t / (inner * kBuckets);
    for (int64_t j = 0; j < m; ++j) {
      const int64_t r = index[j];
      if (r % kBuckets != b) continue;
      T* dst = out + (o * n + r) * inner + k;
      *dst = from_compute<T>(to_compute<C>(*dst) + to_compute<C>(src[(o * m + j) * inner + k]));
    }
  }
}

// Throws the CPU's error for the first index outside [0, n).
void check_indices(const Tensor& index, int64_t n, int64_t dim, const char* op) {
  const int64_t m = index.numel();
  if (m == 0) return;
  WICK_CHECK(index.is_cuda() && index.dtype() == kInt64 && index.is_contiguous(), op,
             ": expected a contiguous int64 index on the device");
  Tensor flag = full({1}, -1, TensorOptions(kInt64).device(index.device()));  // all bits set: none bad
  check_index_kernel<<<grid_for(m, kThreads), kThreads, 0, current_stream()>>>(
      static_cast<const int64_t*>(index.data_ptr_raw()), m, n,
      static_cast<unsigned long long*>(flag.data_ptr_raw()));
  WICK_CUDA_CHECK_LAUNCH();
  const int64_t bad = flag.item<int64_t>();  // synchronizes
  if (bad != -1) {
    const int64_t i = index.narrow(0, bad, 1).cpu().item<int64_t>();
    WICK_FAIL(op, ": index ", i, " is out of bounds for dimension ", dim, " with size ", n);
  }
}

}  // namespace

void index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index, const char* op) {
  WICK_CHECK(x.is_cuda() && out.device() == x.device() && index.device() == x.device() && x.is_contiguous() &&
                 out.is_contiguous() && out.dtype() == x.dtype(),
             op, ": expected contiguous tensors on one CUDA device");
  DeviceGuard guard(x.device().index);
  const int64_t n = x.size(dim), m = index.numel();
  check_indices(index, n, dim, op);
  if (out.numel() == 0) return;
  const Around a = around(x, dim);
  WICK_DEVICE_DISPATCH_ALL(x.dtype(), op, [&]<typename T>() {
    index_select_kernel<T><<<grid_for(out.numel(), kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(x.data_ptr_raw()),
        static_cast<const int64_t*>(index.data_ptr_raw()), a.outer, n, m, a.inner);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, const char* op) {
  WICK_CHECK(out.is_cuda() && src.device() == out.device() && index.device() == out.device() && out.is_contiguous() &&
                 src.is_contiguous() && src.dtype() == out.dtype(),
             op, ": expected contiguous tensors of one dtype on one CUDA device");
  WICK_CHECK(out.dtype() != kBool, op, ": bool is not supported on CUDA");
  DeviceGuard guard(out.device().index);
  const int64_t n = out.size(dim), m = index.numel();
  check_indices(index, n, dim, op);
  const Around a = around(out, dim);
  if (m == 0 || a.outer * a.inner == 0) return;
  WICK_DEVICE_DISPATCH_NUMERIC(out.dtype(), op, [&]<typename T>() {
    index_add_kernel<T><<<grid_for(a.outer * a.inner * kBuckets, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(src.data_ptr_raw()),
        static_cast<const int64_t*>(index.data_ptr_raw()), a.outer, n, m, a.inner);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace wick::cuda
