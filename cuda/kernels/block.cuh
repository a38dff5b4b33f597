// Building blocks shared by the row kernels (softmax, norms, cross entropy,
// indexing): precise exp/log/sqrt in the compute type, warp and block sums
// and maxima returned to every thread, the launch geometry of a
// block-per-row kernel, and two host helpers (a tensor viewed as
// [outer, n, inner] around a dim; a typed pointer or nullptr).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "tensor/tensor.h"

namespace wick::cuda {

template <typename A>
__device__ __forceinline__ A dexp(A v) {
  if constexpr (std::is_same_v<A, float>)
    return expf(v);
  else
    return ::exp(v);
}
template <typename A>
__device__ __forceinline__ A dlog(A v) {
  if constexpr (std::is_same_v<A, float>)
    return logf(v);
  else
    return ::log(v);
}
template <typename A>
__device__ __forceinline__ A dsqrt(A v) {
  if constexpr (std::is_same_v<A, float>)
    return sqrtf(v);
  else
    return ::sqrt(v);
}

template <typename A>
__device__ __forceinline__ A warp_sum(A v) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;
}
// The CPU's std::max(m, v): a NaN v never replaces m.
template <typename A>
__device__ __forceinline__ A max_keep(A m, A v) {
  return m < v ? v : m;
}
template <typename A>
__device__ __forceinline__ A warp_max(A v) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) v = max_keep(v, __shfl_xor_sync(0xffffffffu, v, d));
  return v;
}

// Sum (max) over the block, returned to every thread. blockDim.x is a
// multiple of 32; every thread must call.
template <typename A>
__device__ A block_sum(A v) {
  __shared__ A sm[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // an earlier call's readers are done with sm
  if (lane == 0) sm[warp] = v;
  __syncthreads();
  return warp_sum(lane < nwarps ? sm[lane] : A(0));
}
template <typename A>
__device__ A block_max(A v) {
  __shared__ A sm[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) sm[warp] = v;
  __syncthreads();
  return warp_max(lane < nwarps ? sm[lane] : A(-INFINITY));
}

// Threads for a block-per-row kernel: enough warps for the row, at most 256.
inline unsigned row_threads(int64_t n) {
  const int64_t warps = std::min<int64_t>(8, std::max<int64_t>(1, (n + 31) / 32));
  return static_cast<unsigned>(warps * 32);
}
// Blocks for `rows` rows (the kernels loop when there are more).
inline unsigned row_grid(int64_t rows) { return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(rows, 1), 1 << 20)); }

// [outer, n, inner] around `dim` (a 0-d tensor is [1, 1, 1]).
struct Around {
  int64_t outer = 1, n = 1, inner = 1;
};
inline Around around(const Tensor& t, int64_t dim) {
  Around a;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d < dim) a.outer *= t.size(d);
    else if (d == dim) a.n = t.size(d);
    else a.inner *= t.size(d);
  }
  return a;
}

// t's data as T*, or nullptr for an undefined (optional) tensor.
template <typename T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.data_ptr_raw()) : nullptr;
}

}  // namespace wick::cuda
