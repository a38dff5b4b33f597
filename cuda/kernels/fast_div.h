// FastDiv: q = n / d and n % d for 0 <= n < 2^31 by a multiply-high and a
// shift instead of the ~20-instruction 32-bit (or the far longer 64-bit)
// integer division (Granlund & Montgomery, "Division by invariant integers
// using multiplication", 1994). With l = ceil(log2 d) and
// mul = ceil(2^(31 + l) / d), which fits 32 bits, q = (n * mul) >> (31 + l)
// exactly for every n < 2^31: mul * d exceeds 2^(31 + l) by less than
// d <= 2^l, too little to move a quotient of a 31-bit n. The magic numbers
// are computed on the host, once per divisor; kernels take the struct by
// value. The kernels' index decoding (convolution gathers, batch norm's
// channel of an element) uses it.
//
// Plain C++ as well as CUDA (the host path is the same arithmetic in 64
// bits), so tests/cuda/test_fast_div.cpp checks it on the CPU.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define WICK_FAST_DIV_FN __host__ __device__ __forceinline__
#else
#define WICK_FAST_DIV_FN inline
#endif

namespace wick::cuda {

struct FastDiv {
  int d = 1;
  uint32_t mul = 0, shift = 0;  // d == 1: q = n

  FastDiv() = default;
  // Divisors below 1 (an empty extent, never divided by) become 1.
  explicit FastDiv(int divisor) : d(divisor < 1 ? 1 : divisor) {
    if (d == 1) return;
    int l = 0;
    while ((1u << l) < static_cast<uint32_t>(d)) ++l;
    mul = static_cast<uint32_t>(((1ull << (31 + l)) + d - 1) / d);
    shift = static_cast<uint32_t>(l - 1);  // the low word of n * mul is dropped by umulhi: 31 + l - 32
  }
  WICK_FAST_DIV_FN int div(int n) const {
    if (d == 1) return n;
#ifdef __CUDA_ARCH__
    return static_cast<int>(__umulhi(static_cast<uint32_t>(n), mul) >> shift);
#else
    return static_cast<int>((static_cast<uint64_t>(static_cast<uint32_t>(n)) * mul) >> 32 >> shift);
#endif
  }
  // Returns n / d and sets rem = n % d.
  WICK_FAST_DIV_FN int divmod(int n, int& rem) const {
    const int q = div(n);
    rem = n - q * d;
    return q;
  }
};

}  // namespace wick::cuda
