// CUDA kernels of the random ops: the same Philox4x32-10 streams as the CPU
// (tensor/random.h defines them), so for one generator state both devices
// draw the same samples. The caller (tensor/random.cpp) validates arguments
// and reserves the counters: `base` is the first Philox block of the draw,
// element i reads the words of its slot exactly as on the CPU. Outputs are
// contiguous; float32/float64 unless noted (the CPU's dtypes).
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace wick::cuda {

// rand: float32 (word i >> 8) * 2^-24; float64 53 bits of words (2i, 2i+1) * 2^-53.
void random_uniform(const Tensor& out, uint64_t seed, uint64_t base);
// uniform_: lo + (hi - lo) * u in double, below hi in the output dtype.
void random_uniform_range(const Tensor& out, uint64_t seed, uint64_t base, double lo, double hi);
// randn (affine = false) and normal/normal_ (mean + std * z): Box-Muller of words (2i, 2i+1).
void random_normal(const Tensor& out, uint64_t seed, uint64_t base, double mean, double std, bool affine);
// randint: low + (64-bit from words 2i, 2i+1) mod range; every dtype but float16/bfloat16.
void random_int(const Tensor& out, uint64_t seed, uint64_t base, int64_t low, uint64_t range);
// bernoulli with one probability: 1 where the float64 uniform of words (2i, 2i+1) < p; every CPU dtype.
void random_bernoulli(const Tensor& out, uint64_t seed, uint64_t base, double p);
// bernoulli with per-element probabilities p (contiguous, out's dtype and device).
void random_bernoulli(const Tensor& out, const Tensor& p, uint64_t seed, uint64_t base);
// True when every element of p (floating, any layout) is in [0, 1] (NaN is not). Synchronizes.
bool all_in_unit_interval(const Tensor& p);

}  // namespace wick::cuda
