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

#include "cuda/kernels/device_types.cuh"
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

// A block's sweep over a row of n values in chunks of kRowChunk: chunk k
// (values kRowChunk k ..) belongs to thread k % blockDim.x, which reads it
// with one vector load where the chunk is aligned to its size and whole,
// else with kRowChunk loads issued before any is used, and then calls
// f(i, x[i]) for its values in index order. So every thread has kRowChunk
// loads in flight instead of one, and which thread sums which values (the
// order of a reduction's sums) depends on the index alone, not on the row's
// alignment or dtype. For the row kernels' opt-in chunked forms.
constexpr int kRowChunk = 8;
template <typename T>
struct alignas(sizeof(T) * kRowChunk) RowChunk {
  T v[kRowChunk];
};
// Values i0 .. i0 + kRowChunk - 1 of the row (those < n; the rest repeat
// xr[i0]): one vector load when aligned and whole, else kRowChunk loads
// issued before any is used.
template <typename T>
__device__ __forceinline__ RowChunk<T> row_chunk_raw(const T* __restrict__ xr, int64_t n, int64_t i0) {
  if (i0 + kRowChunk <= n && reinterpret_cast<uintptr_t>(xr + i0) % sizeof(RowChunk<T>) == 0)
    return *reinterpret_cast<const RowChunk<T>*>(xr + i0);
  RowChunk<T> c;
#pragma unroll
  for (int j = 0; j < kRowChunk; ++j) c.v[j] = i0 + j < n ? xr[i0 + j] : xr[i0];
  return c;
}
// The same values in the compute type A.
template <typename T, typename A>
__device__ __forceinline__ void row_chunk_load(const T* __restrict__ xr, int64_t n, int64_t i0, A (&v)[kRowChunk]) {
  const RowChunk<T> c = row_chunk_raw(xr, n, i0);
#pragma unroll
  for (int j = 0; j < kRowChunk; ++j) v[j] = to_compute<A>(c.v[j]);
}
// out[i] = g(i) (g returns T) for i0 .. i0 + kRowChunk - 1 (< n): one vector
// store when aligned and whole.
template <typename T, typename G>
__device__ __forceinline__ void row_chunk_store(T* __restrict__ out, int64_t n, int64_t i0, G&& g) {
  static_assert(sizeof(RowChunk<T>) % 16 == 0, "a chunk is whole 16-byte words");
  if (i0 + kRowChunk <= n && reinterpret_cast<uintptr_t>(out + i0) % sizeof(RowChunk<T>) == 0) {
    RowChunk<T> c;
#pragma unroll
    for (int j = 0; j < kRowChunk; ++j) c.v[j] = g(i0 + j);
    // As 16-byte words through st.global.v4: a plain store of the struct (or of
    // its words) was merged with the branch below into stores of single
    // values (23 16-bit stores in the cross entropy's gradient kernel).
    constexpr int kWords = static_cast<int>(sizeof(RowChunk<T>) / 16);
    uint4 w[kWords];
    memcpy(w, &c, sizeof(c));
#pragma unroll
    for (int k = 0; k < kWords; ++k)
      asm volatile("st.global.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"l"(out + i0 + k * (16 / sizeof(T))), "r"(w[k].x),
                   "r"(w[k].y), "r"(w[k].z), "r"(w[k].w)
                   : "memory");
  } else {
#pragma unroll
    for (int j = 0; j < kRowChunk; ++j)
      if (i0 + j < n) out[i0 + j] = g(i0 + j);
  }
}
// The sweep: f(i, x[i]) for this thread's chunks, in index order.
template <typename T, typename F>
__device__ __forceinline__ void row_chunks(const T* __restrict__ xr, int64_t n, F&& f) {
  for (int64_t i0 = int64_t(threadIdx.x) * kRowChunk; i0 < n; i0 += int64_t(blockDim.x) * kRowChunk) {
    const RowChunk<T> c = row_chunk_raw(xr, n, i0);
#pragma unroll
    for (int j = 0; j < kRowChunk; ++j)
      if (i0 + j < n) f(i0 + j, c.v[j]);
  }
}

// Threads for a block-per-row kernel: enough warps for the row, at most 256.
inline unsigned row_threads(int64_t n) {
  const int64_t warps = std::min<int64_t>(8, std::max<int64_t>(1, (n + 31) / 32));
  return static_cast<unsigned>(warps * 32);
}
// Threads for a block-per-row kernel that sweeps its rows in chunks
// (row_chunks): enough warps for the row's chunks, at most 256.
inline unsigned row_threads_chunked(int64_t n) { return row_threads((n + kRowChunk - 1) / kRowChunk); }
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
