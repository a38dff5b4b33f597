#include "tensor/random.h"

#include <cmath>

#include "tensor/parallel.h"

namespace wick {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  constexpr uint32_t kM0 = 0xD2511F53, kM1 = 0xCD9E8D57;  // round multipliers
  constexpr uint32_t kW0 = 0x9E3779B9, kW1 = 0xBB67AE85;  // Weyl key increments
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * ctr[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * ctr[2];
    ctr = {static_cast<uint32_t>(p1 >> 32) ^ ctr[1] ^ key[0], static_cast<uint32_t>(p1),
           static_cast<uint32_t>(p0 >> 32) ^ ctr[3] ^ key[1], static_cast<uint32_t>(p0)};
    key[0] += kW0;
    key[1] += kW1;
  }
  return ctr;
}

uint32_t Generator::word(uint64_t base, uint64_t w) const {
  const uint64_t block = base + w / 4;
  auto r = philox4x32({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0},
                      {static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32)});
  return r[w % 4];
}

Generator& default_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace {

Generator& gen_or_default(Generator* g) { return g ? *g : default_generator(); }

// Reserves the counters for `words` 32-bit words; returns the base block.
uint64_t reserve(Generator& g, uint64_t words) {
  std::lock_guard<std::mutex> lock(g.mutex());
  return g.advance((words + 3) / 4);
}

constexpr double kTwoPi = 6.28318530717958647692;

// The uniform in [0, 1) that element i of a float32 / float64 draw gets.
inline float uniform_f32(const Generator& g, uint64_t base, uint64_t i) {
  return static_cast<float>(g.word(base, i) >> 8) * 0x1.0p-24f;
}
inline double uniform_f64(const Generator& g, uint64_t base, uint64_t i) {
  const uint64_t hi = g.word(base, 2 * i), lo = g.word(base, 2 * i + 1);
  return static_cast<double>(((hi << 32) | lo) >> 11) * 0x1.0p-53;
}

// Fills a fresh contiguous tensor: f(i) gives element i as T.
template <typename T, typename F>
void fill_elements(Tensor& t, F f) {
  T* p = t.data_ptr<T>();
  parallel_for(0, t.numel(), 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = f(static_cast<uint64_t>(i));
  });
}

void check_cpu(const TensorOptions& opt, const char* op) {
  WICK_CHECK(opt.device_.is_cpu(), op, ": CPU generator cannot fill a tensor on ", opt.device_);
}

}  // namespace

Tensor rand(const Shape& shape, const TensorOptions& opt, Generator* gen) {
  check_cpu(opt, "rand");
  Tensor t = empty(shape, opt.requires_grad(false));
  Generator& g = gen_or_default(gen);
  const uint64_t n = static_cast<uint64_t>(t.numel());
  WICK_DISPATCH_FLOAT(t.dtype(), "rand", [&]<typename T>() {
    if constexpr (std::is_same_v<T, float>) {
      const uint64_t base = reserve(g, n);
      fill_elements<T>(t, [&](uint64_t i) { return uniform_f32(g, base, i); });
    } else {
      const uint64_t base = reserve(g, 2 * n);
      fill_elements<T>(t, [&](uint64_t i) { return uniform_f64(g, base, i); });
    }
  });
  if (opt.requires_grad_) t.requires_grad_();
  return t;
}

Tensor randn(const Shape& shape, const TensorOptions& opt, Generator* gen) {
  check_cpu(opt, "randn");
  Tensor t = empty(shape, opt.requires_grad(false));
  Generator& g = gen_or_default(gen);
  const uint64_t n = static_cast<uint64_t>(t.numel());
  const uint64_t base = reserve(g, 2 * n);
  WICK_DISPATCH_FLOAT(t.dtype(), "randn", [&]<typename T>() {
    fill_elements<T>(t, [&](uint64_t i) {
      const double u1 = static_cast<double>(g.word(base, 2 * i)) * 0x1.0p-32;
      const double u2 = static_cast<double>(g.word(base, 2 * i + 1)) * 0x1.0p-32;
      return static_cast<T>(std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(kTwoPi * u2));
    });
  });
  if (opt.requires_grad_) t.requires_grad_();
  return t;
}

}  // namespace wick
