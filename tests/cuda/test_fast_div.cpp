// cuda::FastDiv (cuda/kernels/fast_div.h), the multiply-shift division the
// CUDA kernels decode indices with, checked on the host against the
// division operator: every divisor up to 4096 with numerators at the edges
// of each quotient step and random ones, the powers of two and their
// neighbours up to 2^31 - 1, and numerators up to 2^31 - 1. (The device
// path is the same arithmetic through __umulhi.)
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "cuda/kernels/fast_div.h"

namespace wick {
namespace {

using cuda::FastDiv;

constexpr int kMax = std::numeric_limits<int>::max();

// Counts mismatches of q and r over the numerators.
int64_t mismatches(int d, const std::vector<int>& ns) {
  const FastDiv f(d);
  int64_t bad = 0;
  for (int n : ns) {
    int r = -1;
    const int q = f.divmod(n, r);
    if (q != n / d || r != n % d || f.div(n) != q) {
      if (bad < 3) ADD_FAILURE() << n << " / " << d << ": got " << q << " rem " << r << ", expected " << n / d
                                 << " rem " << n % d;
      ++bad;
    }
  }
  return bad;
}

// Numerators around multiples of d (the quotient's steps), the top of the
// range, and random ones.
std::vector<int> numerators(int d, std::mt19937_64& rng) {
  std::vector<int> ns = {0, 1, kMax, kMax - 1, kMax - d + 1};
  for (int64_t k : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{1000}, int64_t{kMax} / d / 2, int64_t{kMax} / d})
    for (int64_t delta : {-1, 0, 1}) {
      const int64_t n = k * d + delta;
      if (n >= 0 && n <= kMax) ns.push_back(static_cast<int>(n));
    }
  std::uniform_int_distribution<int> any(0, kMax);
  for (int i = 0; i < 64; ++i) ns.push_back(any(rng));
  return ns;
}

TEST(CudaFastDiv, SmallDivisors) {
  std::mt19937_64 rng(1);
  for (int d = 1; d <= 4096; ++d) ASSERT_EQ(mismatches(d, numerators(d, rng)), 0) << "d = " << d;
}

TEST(CudaFastDiv, PowersOfTwoAndNeighbours) {
  std::mt19937_64 rng(2);
  for (int l = 1; l <= 31; ++l) {
    const int64_t p = int64_t{1} << l;
    for (int64_t d : {p - 1, p, p + 1}) {
      if (d < 1 || d > kMax) continue;
      ASSERT_EQ(mismatches(static_cast<int>(d), numerators(static_cast<int>(d), rng)), 0) << "d = " << d;
    }
  }
}

TEST(CudaFastDiv, RandomDivisors) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int> any(1, kMax);
  for (int i = 0; i < 2000; ++i) {
    const int d = any(rng);
    ASSERT_EQ(mismatches(d, numerators(d, rng)), 0) << "d = " << d;
  }
}

TEST(CudaFastDiv, EveryNumeratorOfTypicalExtents) {
  // The extents the kernels divide by (map widths, H*W, channel counts),
  // every numerator up to 2^20.
  std::vector<int> ns(1 << 20);
  for (int i = 0; i < (1 << 20); ++i) ns[i] = i;
  for (int d : {3, 7, 49, 56, 112, 196, 224, 784, 3136, 12544, 64, 2048, 1000})
    ASSERT_EQ(mismatches(d, ns), 0) << "d = " << d;
}

TEST(CudaFastDiv, NonPositiveDivisorIsOne) {
  EXPECT_EQ(FastDiv(0).d, 1);
  EXPECT_EQ(FastDiv(-5).div(17), 17);
}

}  // namespace
}  // namespace wick
