// Floating-point steps rounded one at a time in float or double: a * b, a + b
// and a * b + c that the compiler may not contract with their neighbours.
// Where two instantiations of a kernel (a 16-bit and a float32 form, say) must
// round alike, or an order of roundings is part of a kernel's contract.
#pragma once

#include <type_traits>

namespace wick::cuda {

template <typename S>
__device__ __forceinline__ S mul_rn(S a, S b) {
  static_assert(std::is_same_v<S, float> || std::is_same_v<S, double>);
  if constexpr (std::is_same_v<S, float>)
    return __fmul_rn(a, b);
  else
    return __dmul_rn(a, b);
}

template <typename S>
__device__ __forceinline__ S add_rn(S a, S b) {
  static_assert(std::is_same_v<S, float> || std::is_same_v<S, double>);
  if constexpr (std::is_same_v<S, float>)
    return __fadd_rn(a, b);
  else
    return __dadd_rn(a, b);
}

template <typename S>
__device__ __forceinline__ S fma_rn(S a, S b, S c) {
  static_assert(std::is_same_v<S, float> || std::is_same_v<S, double>);
  if constexpr (std::is_same_v<S, float>)
    return __fmaf_rn(a, b, c);
  else
    return __fma_rn(a, b, c);
}

}  // namespace wick::cuda
