// Device element types for the CUDA kernels of the elementwise and reduction
// families: the runtime-dtype -> C++-type dispatch (every wick dtype,
// float16 and bfloat16 included) and the "compute type" of each storage type.
//
// float16 / bfloat16 are stored as __half / __nv_bfloat16 and computed in
// float: a kernel loads, converts to float, does its math, and rounds once
// when it stores (what PyTorch does too). Every other type computes in itself.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "tensor/dtype.h"
#include "tensor/tensor.h"

namespace wick::cuda {

template <typename T>
struct compute_type {
  using type = T;
};
template <>
struct compute_type<__half> {
  using type = float;
};
template <>
struct compute_type<__nv_bfloat16> {
  using type = float;
};
template <typename T>
using compute_t = typename compute_type<T>::type;

template <typename T>
inline constexpr bool is_reduced_float_v = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;
// Floating storage types (compute in float or double).
template <typename T>
inline constexpr bool is_float_v = std::is_floating_point_v<T> || is_reduced_float_v<T>;

// Storage -> compute and compute -> storage conversions (host and device).
template <typename C, typename T>
__host__ __device__ inline C to_compute(T v) {
  if constexpr (std::is_same_v<T, __half>) return static_cast<C>(__half2float(v));
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return static_cast<C>(__bfloat162float(v));
  else return static_cast<C>(v);
}
template <typename T, typename C>
__host__ __device__ inline T from_compute(C v) {
  if constexpr (std::is_same_v<T, __half>) return __float2half_rn(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __float2bfloat16_rn(static_cast<float>(v));
  else return static_cast<T>(v);
}

// Two floats rounded to the 16-bit storage type T and packed into 32 bits,
// lo in the low half (the lower column of a pair: the layout of mma/wgmma
// A fragments and of two adjacent elements in memory).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  static_assert(is_reduced_float_v<T>, "pack2 packs float16 or bfloat16");
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  } else {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
}

// The wick dtype stored as T.
template <typename T>
constexpr DType dtype_of_storage() {
  if constexpr (std::is_same_v<T, __half>) return kFloat16;
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return kBFloat16;
  else return dtype_v<T>;
}

// The value of a one-element CPU tensor (a wrapped scalar) as T.
// n / d for element indices (n >= 0, d >= 1), in 32 bits whenever both fit:
// a 64-bit division is a long emulated sequence on the GPU, enough to make a
// memory-bound kernel issue-bound when every element decodes its index.
__device__ __forceinline__ int64_t index_div(int64_t n, int64_t d) {
  if (((n | d) >> 32) == 0) return static_cast<uint32_t>(n) / static_cast<uint32_t>(d);
  return n / d;
}

template <typename T>
inline T host_scalar(const Tensor& t) {
  return *static_cast<const T*>(t.data_ptr_raw());
}

}  // namespace wick::cuda

// Dispatch a runtime dtype to `body.template operator()<T>()`, T the storage type.
#define WICK_DEVICE_CASE_(DT, CT, ...) \
  case DT:                           \
    return __VA_ARGS__.template operator()<CT>();

// bool, uint8, int32, int64, float16, bfloat16, float32, float64
#define WICK_DEVICE_DISPATCH_ALL(dtype, op, ...)                                                 \
  [&] {                                                                                        \
    switch (dtype) {                                                                           \
      WICK_DEVICE_CASE_(::wick::kBool, bool, __VA_ARGS__)                                        \
      WICK_DEVICE_CASE_(::wick::kUInt8, uint8_t, __VA_ARGS__)                                    \
      WICK_DEVICE_CASE_(::wick::kInt32, int32_t, __VA_ARGS__)                                    \
      WICK_DEVICE_CASE_(::wick::kInt64, int64_t, __VA_ARGS__)                                    \
      WICK_DEVICE_CASE_(::wick::kFloat16, __half, __VA_ARGS__)                                   \
      WICK_DEVICE_CASE_(::wick::kBFloat16, __nv_bfloat16, __VA_ARGS__)                           \
      WICK_DEVICE_CASE_(::wick::kFloat32, float, __VA_ARGS__)                                    \
      WICK_DEVICE_CASE_(::wick::kFloat64, double, __VA_ARGS__)                                   \
      default:                                                                                 \
        throw ::wick::Error(::wick::str(op, ": dtype ", dtype, " is not supported on CUDA"));  \
    }                                                                                          \
  }()

// float16, bfloat16, float32, float64
#define WICK_DEVICE_DISPATCH_FLOAT(dtype, op, ...)                                               \
  [&] {                                                                                        \
    switch (dtype) {                                                                           \
      WICK_DEVICE_CASE_(::wick::kFloat16, __half, __VA_ARGS__)                                   \
      WICK_DEVICE_CASE_(::wick::kBFloat16, __nv_bfloat16, __VA_ARGS__)                           \
      WICK_DEVICE_CASE_(::wick::kFloat32, float, __VA_ARGS__)                                    \
      WICK_DEVICE_CASE_(::wick::kFloat64, double, __VA_ARGS__)                                   \
      default:                                                                                 \
        throw ::wick::Error(::wick::str(op, ": expected a floating dtype, got ", dtype));      \
    }                                                                                          \
  }()

// Every dtype but bool.
#define WICK_DEVICE_DISPATCH_NUMERIC(dtype, op, ...)                                             \
  [&] {                                                                                        \
    switch (dtype) {                                                                           \
      WICK_DEVICE_CASE_(::wick::kUInt8, uint8_t, __VA_ARGS__)                                    \
      WICK_DEVICE_CASE_(::wick::kInt32, int32_t, __VA_ARGS__)                                    \
      WICK_DEVICE_CASE_(::wick::kInt64, int64_t, __VA_ARGS__)                                    \
      WICK_DEVICE_CASE_(::wick::kFloat16, __half, __VA_ARGS__)                                   \
      WICK_DEVICE_CASE_(::wick::kBFloat16, __nv_bfloat16, __VA_ARGS__)                           \
      WICK_DEVICE_CASE_(::wick::kFloat32, float, __VA_ARGS__)                                    \
      WICK_DEVICE_CASE_(::wick::kFloat64, double, __VA_ARGS__)                                   \
      default:                                                                                 \
        throw ::wick::Error(::wick::str(op, ": dtype ", dtype, " is not supported"));          \
    }                                                                                          \
  }()
