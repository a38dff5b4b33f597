// Shared device-side helpers of the copy/fill/random kernels (their dtype
// dispatch, WICK_DEVICE_DISPATCH_ALL, is in device_types.cuh): conversion
// between any two element types with wick's CPU semantics, and a
// strided indexer that turns a linear element index into the memory offsets
// of several operands sharing one shape (with broadcasting as stride 0).
//
// The indexer coalesces dimensions first: two neighbouring dims merge when
// every operand steps over them as one (stride[d] == stride[d+1] * size[d+1]),
// so a contiguous or row-sliced tensor costs one div/mod per element, not ndim.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <array>
#include <cstdint>
#include <type_traits>

#include "cuda/kernels/device_types.cuh"
#include "tensor/tensor.h"

namespace wick::cuda {

// Most dims a strided kernel takes after coalescing (more throws wick::Error).
constexpr int kMaxDims = 16;

template <int N>
struct StridedIndexer {
  int ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];

  // off[k] = memory offset (elements) of operand k at row-major index `linear`
  // (each dim's division 32-bit whenever it fits: index_div).
  __device__ __forceinline__ void offsets(int64_t linear, int64_t (&off)[N]) const {
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t size = sizes[d];
      const int64_t q = index_div(linear, size);
      const int64_t i = linear - q * size;
      linear = q;
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
  }
};

// Strides of `t` seen through `shape` (t broadcast to shape: missing leading
// dims and size-1 dims that stretch get stride 0). Caller checked broadcastability.
inline Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  const int64_t nd = static_cast<int64_t>(shape.size()), td = t.dim();
  Shape st(shape.size(), 0);
  for (int64_t d = 0; d < td; ++d) {
    const int64_t od = nd - td + d;
    st[od] = (t.size(d) == 1 && shape[od] != 1) ? 0 : t.stride(d);
  }
  return st;
}

// Coalesced indexer over `shape` for operands with the given strides.
template <int N>
StridedIndexer<N> make_indexer(const Shape& shape, const std::array<Shape, N>& strides, const char* op) {
  // Keep the dims of size != 1 (a size-1 dim contributes nothing to any offset).
  std::array<std::array<int64_t, 64>, N + 1> dims{};  // [0] sizes, [1..N] strides
  int nd = 0;
  WICK_CHECK(shape.size() <= 64, op, ": tensors of more than 64 dims are not supported on CUDA");
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    dims[0][nd] = shape[d];
    for (int k = 0; k < N; ++k) dims[k + 1][nd] = strides[k][d];
    ++nd;
  }
  // Merge inner dim d+1 into outer dim d when all operands allow it.
  int out = 0;
  for (int d = 0; d < nd; ++d) {
    if (out > 0) {
      bool merge = true;
      for (int k = 1; k <= N; ++k) merge = merge && dims[k][out - 1] == dims[k][d] * dims[0][d];
      if (merge) {
        dims[0][out - 1] *= dims[0][d];
        for (int k = 1; k <= N; ++k) dims[k][out - 1] = dims[k][d];
        continue;
      }
    }
    for (int k = 0; k <= N; ++k) dims[k][out] = dims[k][d];
    ++out;
  }
  WICK_CHECK(out <= kMaxDims, op, ": a strided tensor with ", out, " non-mergeable dims (shape ", shape_str(shape),
             ") exceeds the CUDA kernels' limit of ", kMaxDims, "; call contiguous() first");
  StridedIndexer<N> ix;
  ix.ndim = out;
  for (int d = 0; d < out; ++d) {
    ix.sizes[d] = dims[0][d];
    for (int k = 0; k < N; ++k) ix.strides[k][d] = dims[k + 1][d];
  }
  return ix;
}

// ---- element conversion with the CPU's semantics (ops/cpu/copy.cpp) ----
// bool: v != 0. Integers and floats: static_cast (the same IEEE rounding on
// both sides). float16/bfloat16 go through float (from double: directly,
// avoiding a double rounding).
template <typename To, typename From>
__device__ __forceinline__ To cast_to(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<From, __half>) {
    return cast_to<To>(__half2float(v));
  } else if constexpr (std::is_same_v<From, __nv_bfloat16>) {
    return cast_to<To>(__bfloat162float(v));
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_same_v<To, __half>) {
    if constexpr (std::is_same_v<From, double>)
      return __double2half(v);
    else
      return __float2half_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, __nv_bfloat16>) {
    if constexpr (std::is_same_v<From, double>)
      return __double2bfloat16(v);
    else
      return __float2bfloat16_rn(static_cast<float>(v));
  } else {
    return static_cast<To>(v);
  }
}

// i-th thread's first index and the grid stride, in int64 (tensors of more
// than 2^31 elements are indexed without overflow).
__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

}  // namespace wick::cuda
