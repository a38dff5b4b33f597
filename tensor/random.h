// Random numbers: a counter-based Philox4x32-10 generator (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3", SC'11).
//
// A Generator is (seed, offset). Element i of a draw is a pure function of
// (seed, offset, i), so kernels can generate in parallel, and the CUDA
// backend reproduces the same streams bit for bit. Each draw advances the
// offset past the counters it used. Streams:
//   32-bit words: word w of a draw is output (w % 4) of philox(key = seed,
//                 counter = (offset + w / 4, 0, 0, 0)).
//   rand float32: element i = (word i >> 8) * 2^-24           in [0, 1)
//   rand float64: element i = (words 2i, 2i+1 -> 53 bits) * 2^-53
//   randn:        element i = Box-Muller of the uniforms (u1, u2) built from
//                 words (2i, 2i+1): sqrt(-2 log(1 - u1)) cos(2 pi u2)
//   randint:      element i = low + (64-bit from words 2i, 2i+1) mod range
//   randperm:     inside-out Fisher-Yates; step i swaps in position
//                 (64-bit from words 2i, 2i+1) mod (i + 1)
//   bernoulli:    element i = (float64 uniform of words 2i, 2i+1) < p_i
//   normal:       mean + std * (randn element i)
//   multinomial:  see tensor/random.cpp (per-row slots of the stream)
//   uniform_ / normal_: like rand / randn, element i in row-major order of
//                 the (possibly non-contiguous) tensor
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

#include "ops/creation.h"

namespace wick {

// One Philox4x32-10 block: 4 random words from a 128-bit counter and 64-bit key.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ULL) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t o) { offset_ = o; }
  // Reserves `n_blocks` Philox counters and returns the first.
  uint64_t advance(uint64_t n_blocks) {
    uint64_t o = offset_;
    offset_ += n_blocks;
    return o;
  }
  // 32-bit word w of the stream starting at block `base`.
  uint32_t word(uint64_t base, uint64_t w) const;
  std::mutex& mutex() { return mutex_; }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
  std::mutex mutex_;
};

// The global default generator (torch.manual_seed).
Generator& default_generator();
void manual_seed(uint64_t seed);

// Uniform [0, 1).
Tensor rand(const Shape& shape, const TensorOptions& opt = {}, Generator* gen = nullptr);
// Standard normal.
Tensor randn(const Shape& shape, const TensorOptions& opt = {}, Generator* gen = nullptr);
// Uniform integers in [low, high); int64 by default.
Tensor randint(int64_t low, int64_t high, const Shape& shape, const TensorOptions& opt = {}, Generator* gen = nullptr);
// A random permutation of 0..n-1 (int64).
Tensor randperm(int64_t n, const TensorOptions& opt = {}, Generator* gen = nullptr);
// Elementwise: 1 with probability p (p in [0, 1]), else 0; dtype of p.
Tensor bernoulli(const Tensor& p, Generator* gen = nullptr);
Tensor bernoulli(const Shape& shape, double p, const TensorOptions& opt = {}, Generator* gen = nullptr);
// mean + std * randn, elementwise broadcast of tensors, or scalars.
Tensor normal(const Tensor& mean, const Tensor& std, Generator* gen = nullptr);
Tensor normal(double mean, double std, const Shape& shape, const TensorOptions& opt = {}, Generator* gen = nullptr);
// Samples indices from the rows of a non-negative weight matrix ([n] or [m, n]).
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false, Generator* gen = nullptr);
// Fills in place with uniform [lo, hi) / normal(mean, std) values.
Tensor& uniform_(Tensor& t, double lo = 0.0, double hi = 1.0, Generator* gen = nullptr);
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);

}  // namespace wick
