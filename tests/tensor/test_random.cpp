// Random numbers: the Philox4x32-10 block function against the Random123
// known-answer vectors, the stream definitions of tensor/random.h,
// reproducibility, independence from the thread count, statistical checks
// and the error cases of every op.
//
// Statistical bounds: a sample statistic is accepted within 6 standard errors
// of its expectation (the standard error derived from the sample size), and
// chi-square statistics below the critical value at p = 1e-6 for their degrees
// of freedom (df 3: 30.66, df 11: 48.87; computed from the regularized upper
// incomplete gamma function). The seeds are fixed, so each test is
// deterministic; the bounds say how unlikely a failure is for a correct generator.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

// Restores the thread count when a test changes it.
struct ThreadCountGuard {
  int saved = get_num_threads();
  ~ThreadCountGuard() { set_num_threads(saved); }
};

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}
double var_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / static_cast<double>(v.size() - 1);
}

int64_t count_nonzero(const Tensor& t) {
  auto v = t.tolist<double>();
  return std::count_if(v.begin(), v.end(), [](double x) { return x != 0.0; });
}

// Pearson's chi-square of observed counts against expected probabilities.
double chi_square(const std::vector<int64_t>& counts, const std::vector<double>& p, int64_t total) {
  double c2 = 0;
  for (size_t k = 0; k < counts.size(); ++k) {
    const double e = p[k] * static_cast<double>(total);
    c2 += (static_cast<double>(counts[k]) - e) * (static_cast<double>(counts[k]) - e) / e;
  }
  return c2;
}

constexpr double kChi2Df3 = 30.66;   // P(chi2_3 > 30.66) = 1e-6
constexpr double kChi2Df11 = 48.87;  // P(chi2_11 > 48.87) = 1e-6

}  // namespace

// ---- Philox4x32-10: known answers from Random123's tests/kat_vectors ----

TEST(Philox, KnownAnswerVectors) {
  EXPECT_EQ(philox4x32({0, 0, 0, 0}, {0, 0}),
            (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, WordStreamLayout) {
  // Word w of the stream at block b is output w % 4 of counter (b + w / 4, 0, 0, 0), key = seed.
  const uint64_t seed = 0x0123456789abcdefULL;
  Generator g(seed);
  for (uint64_t w : {0ULL, 3ULL, 4ULL, 9ULL}) {
    const uint64_t block = 7 + w / 4;
    auto r = philox4x32({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0},
                        {0x89abcdefu, 0x01234567u});
    EXPECT_EQ(g.word(7, w), r[w % 4]) << "word " << w;
  }
  // The counter's high 32 bits come from the 64-bit block index.
  const uint64_t big = (1ULL << 32) + 5;
  auto r = philox4x32({5, 1, 0, 0}, {0x89abcdefu, 0x01234567u});
  EXPECT_EQ(g.word(big, 2), r[2]);
}

// ---- stream definitions (tensor/random.h) ----

TEST(RandomStream, RandFloat32AndOffset) {
  Generator g(42);
  g.set_offset(3);
  Tensor t = rand({2, 5}, {}, &g);  // 10 words -> 3 blocks
  EXPECT_EQ(g.offset(), 3u + 3u);
  auto v = t.tolist<float>();
  for (uint64_t i = 0; i < 10; ++i) EXPECT_EQ(v[i], static_cast<float>(g.word(3, i) >> 8) * 0x1.0p-24f) << i;
}

TEST(RandomStream, RandFloat64) {
  Generator g(7);
  Tensor t = rand({9}, kFloat64, &g);  // 18 words -> 5 blocks
  EXPECT_EQ(g.offset(), 5u);
  auto v = t.tolist<double>();
  for (uint64_t i = 0; i < 9; ++i) {
    const uint64_t bits = (static_cast<uint64_t>(g.word(0, 2 * i)) << 32) | g.word(0, 2 * i + 1);
    EXPECT_EQ(v[i], static_cast<double>(bits >> 11) * 0x1.0p-53) << i;
  }
}

TEST(RandomStream, RandnBoxMuller) {
  Generator g(11);
  Tensor t = randn({6}, kFloat64, &g);
  auto v = t.tolist<double>();
  for (uint64_t i = 0; i < 6; ++i) {
    const double u1 = g.word(0, 2 * i) * 0x1.0p-32, u2 = g.word(0, 2 * i + 1) * 0x1.0p-32;
    EXPECT_DOUBLE_EQ(v[i], std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * M_PI * u2)) << i;
  }
}

TEST(RandomStream, RandintModulo) {
  Generator g(5);
  Tensor t = randint(-10, 17, {7}, {}, &g);
  EXPECT_EQ(t.dtype(), kInt64);
  auto v = t.tolist<int64_t>();
  for (uint64_t i = 0; i < 7; ++i) {
    const uint64_t bits = (static_cast<uint64_t>(g.word(0, 2 * i)) << 32) | g.word(0, 2 * i + 1);
    EXPECT_EQ(v[i], -10 + static_cast<int64_t>(bits % 27)) << i;
  }
}

TEST(RandomStream, BernoulliAndNormalFollowTheirStreams) {
  Generator g(9), h(9);
  Tensor p = tensor({0.1, 0.5, 0.9, 0.3}, {}, kFloat64);
  auto b = bernoulli(p, &g).tolist<double>();
  Tensor u = rand({4}, kFloat64, &h);  // the same words: the float64 uniforms
  auto uv = u.tolist<double>();
  auto pv = p.tolist<double>();
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(b[i], uv[i] < pv[i] ? 1.0 : 0.0);

  Generator g2(3), h2(3);
  Tensor n = normal(2.0, 0.5, {5}, kFloat64, &g2);
  Tensor z = randn({5}, kFloat64, &h2);
  EXPECT_TRUE(all_close(n, z * 0.5 + 2.0, 1e-15, 1e-15));
}

// ---- reproducibility ----

TEST(Random, SameSeedSameValues) {
  auto draw_all = [](uint64_t seed) {
    Generator g(seed);
    tensor_list out;
    out.push_back(rand({33}, {}, &g));
    out.push_back(randn({5, 7}, kFloat64, &g));
    out.push_back(randint(0, 1000, {17}, {}, &g));
    out.push_back(randperm(50, {}, &g));
    out.push_back(bernoulli({40}, 0.4, {}, &g));
    out.push_back(normal(1.0, 2.0, {9}, {}, &g));
    out.push_back(multinomial(tensor({1.0, 2.0, 3.0, 0.0, 5.0}), 3, false, &g));
    out.push_back(multinomial(tensor({1.0, 2.0, 3.0}), 20, true, &g));
    Tensor e = empty({4, 3});
    out.push_back(uniform_(e, -1, 1, &g).clone());
    out.push_back(normal_(e, 0, 1, &g).clone());
    return out;
  };
  auto a = draw_all(1234), b = draw_all(1234), c = draw_all(1235);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(all_equal(a[i], b[i])) << "op " << i;
    if (a[i].numel() > 8) EXPECT_FALSE(all_equal(a[i], c[i])) << "op " << i << " ignores the seed";
  }
}

TEST(Random, ConsecutiveDrawsDiffer) {
  Generator g(77);
  Tensor a = rand({64}, {}, &g), b = rand({64}, {}, &g);
  EXPECT_FALSE(all_equal(a, b));
  // The second draw starts where the first stopped: 64 words = 16 blocks.
  Generator h(77);
  h.set_offset(16);
  EXPECT_TRUE(all_equal(b, rand({64}, {}, &h)));
}

TEST(Random, ManualSeedResetsTheDefaultGenerator) {
  manual_seed(2024);
  Tensor a = randn({10});
  Tensor a2 = randn({10});
  manual_seed(2024);
  EXPECT_TRUE(all_equal(a, randn({10})));
  EXPECT_TRUE(all_equal(a2, randn({10})));
  Generator g(2024);
  EXPECT_TRUE(all_equal(a, randn({10}, {}, &g)));
}

TEST(Random, IndependentOfThreadCount) {
  ThreadCountGuard guard;
  auto draw_all = [] {
    Generator g(99);
    tensor_list out;
    out.push_back(rand({20011}, {}, &g));
    out.push_back(rand({10007}, kFloat64, &g));
    out.push_back(randn({20011}, {}, &g));
    out.push_back(randint(-5, 5, {20011}, kInt32, &g));
    out.push_back(bernoulli(rand({20011}, kFloat64, &g), &g));
    out.push_back(multinomial(ones({3000, 7}), 3, false, &g));
    out.push_back(multinomial(ones({3000, 7}), 4, true, &g));
    Tensor t = empty({150, 140}).t();
    out.push_back(uniform_(t, 2, 3, &g).clone());
    out.push_back(normal_(t, 0, 1, &g).clone());
    return out;
  };
  set_num_threads(1);
  auto one = draw_all();
  set_num_threads(2);
  auto two = draw_all();
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(all_equal(one[i], two[i])) << "op " << i;
}

// ---- rand / randn statistics ----

TEST(RandomStats, RandMeanAndVariance) {
  const int64_t n = 100000;
  Generator g(1);
  for (DType dt : {kFloat32, kFloat64}) {
    auto v = rand({n}, dt, &g).tolist<double>();
    EXPECT_GE(*std::min_element(v.begin(), v.end()), 0.0);
    EXPECT_LT(*std::max_element(v.begin(), v.end()), 1.0);
    // U(0,1): mean 1/2, variance 1/12, fourth central moment 1/80.
    const double se_mean = std::sqrt(1.0 / 12.0 / n);
    const double se_var = std::sqrt((1.0 / 80.0 - 1.0 / 144.0) / n);
    EXPECT_NEAR(mean_of(v), 0.5, 6 * se_mean) << dt;
    EXPECT_NEAR(var_of(v), 1.0 / 12.0, 6 * se_var) << dt;
  }
}

TEST(RandomStats, RandnMeanVarianceAndTails) {
  const int64_t n = 100000;
  Generator g(2);
  for (DType dt : {kFloat32, kFloat64}) {
    auto v = randn({n}, dt, &g).tolist<double>();
    // N(0,1): se of the mean 1/sqrt(n), of the variance sqrt(2/n).
    EXPECT_NEAR(mean_of(v), 0.0, 6 / std::sqrt(double(n))) << dt;
    EXPECT_NEAR(var_of(v), 1.0, 6 * std::sqrt(2.0 / n)) << dt;
    // P(|z| > 2) = 0.0455: a binomial proportion.
    const double p2 = 0.04550026;
    double frac = std::count_if(v.begin(), v.end(), [](double x) { return std::abs(x) > 2; }) / double(n);
    EXPECT_NEAR(frac, p2, 6 * std::sqrt(p2 * (1 - p2) / n)) << dt;
  }
}

TEST(RandomStats, NormalScalarMeanStd) {
  const int64_t n = 100000;
  Generator g(3);
  auto v = normal(-3.0, 2.5, {n}, kFloat64, &g).tolist<double>();
  EXPECT_NEAR(mean_of(v), -3.0, 6 * 2.5 / std::sqrt(double(n)));
  EXPECT_NEAR(var_of(v), 6.25, 6 * 6.25 * std::sqrt(2.0 / n));
}

// ---- randint ----

TEST(Randint, CoversEveryValueAndStaysInRange) {
  Generator g(4);
  const int64_t n = 20000;
  auto v = randint(-3, 4, {n}, {}, &g).tolist<int64_t>();
  std::vector<int64_t> counts(7, 0);
  for (int64_t x : v) {
    ASSERT_GE(x, -3);
    ASSERT_LT(x, 4);
    ++counts[x + 3];
  }
  EXPECT_LT(chi_square(counts, std::vector<double>(7, 1.0 / 7), n), 39.0);  // df 6 at p = 1e-6: 38.0
  // uint8 over its whole range.
  auto u = randint(0, 256, {20000}, kUInt8, &g).tolist<int64_t>();
  std::set<int64_t> seen(u.begin(), u.end());
  EXPECT_EQ(seen.size(), 256u);
  EXPECT_EQ(*seen.begin(), 0);
  EXPECT_EQ(*seen.rbegin(), 255);
}

TEST(Randint, DtypesAndExtremes) {
  Generator g(5);
  Tensor b = randint(0, 2, {1000}, kBool, &g);
  EXPECT_EQ(b.dtype(), kBool);
  const auto bv0 = b.tolist<bool>();
  EXPECT_EQ(std::set<bool>(bv0.begin(), bv0.end()).size(), 2u);
  Tensor f = randint(-2, 3, {1000}, kFloat32, &g);
  EXPECT_EQ(f.dtype(), kFloat32);
  for (float x : f.tolist<float>()) EXPECT_TRUE(x == std::floor(x) && x >= -2 && x <= 2);
  // The full int64 range does not overflow.
  Tensor big = randint(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), {100}, {}, &g);
  auto bv = big.tolist<int64_t>();
  EXPECT_TRUE(std::any_of(bv.begin(), bv.end(), [](int64_t x) { return x < 0; }));
  EXPECT_TRUE(std::any_of(bv.begin(), bv.end(), [](int64_t x) { return x > 0; }));
  EXPECT_EQ(randint(3, 4, {5}, {}, &g).tolist<int64_t>(), std::vector<int64_t>(5, 3));
  EXPECT_EQ(randint(0, 5, {0, 3}, {}, &g).sizes(), (Shape{0, 3}));
  EXPECT_EQ(randint(0, 5, {}, {}, &g).dim(), 0);
}

TEST(Randint, Errors) {
  EXPECT_WICK_ERROR(randint(5, 5, {3}), "randint: expected low < high");
  EXPECT_WICK_ERROR(randint(0, 300, {3}, kUInt8), "randint: high - 1 = 299 is out of bounds for dtype uint8");
  EXPECT_WICK_ERROR(randint(-1, 3, {3}, kUInt8), "randint: low=-1 is out of bounds");
  EXPECT_WICK_ERROR(randint(0, 3, {3}, kBool), "randint: high - 1 = 2");
  EXPECT_WICK_ERROR(randint(0, (1LL << 24) + 2, {3}, kFloat32), "randint");
  EXPECT_WICK_ERROR(randint(0, 2, {-1}), "negative dimension");
}

// ---- randperm ----

TEST(Randperm, IsAPermutation) {
  Generator g(6);
  for (int64_t n : {0, 1, 2, 17, 1000}) {
    Tensor p = randperm(n, {}, &g);
    EXPECT_EQ(p.dtype(), kInt64);
    EXPECT_EQ(p.sizes(), (Shape{n}));
    auto v = p.tolist<int64_t>();
    std::sort(v.begin(), v.end());
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(v[i], i) << "n=" << n;
  }
  EXPECT_EQ(randperm(5, kFloat32, &g).dtype(), kFloat32);
  EXPECT_EQ(randperm(256, kUInt8, &g).numel(), 256);
}

TEST(Randperm, UniformOverPermutationsOfThree) {
  // 3! = 6 permutations, each with probability 1/6; chi-square df 5 at p = 1e-6: 35.9.
  Generator g(7);
  std::map<std::vector<int64_t>, int64_t> counts;
  const int64_t trials = 12000;
  for (int64_t t = 0; t < trials; ++t) ++counts[randperm(3, {}, &g).tolist<int64_t>()];
  ASSERT_EQ(counts.size(), 6u);
  std::vector<int64_t> c;
  for (auto& [perm, k] : counts) c.push_back(k);
  EXPECT_LT(chi_square(c, std::vector<double>(6, 1.0 / 6), trials), 35.9);
  // Position 0 of a long permutation is uniform too (no small-index bias).
  int64_t first_half = 0;
  for (int64_t t = 0; t < 2000; ++t) first_half += randperm(100, {}, &g)[0].item<int64_t>() < 50;
  EXPECT_NEAR(first_half / 2000.0, 0.5, 6 * std::sqrt(0.25 / 2000));
}

TEST(Randperm, Errors) {
  EXPECT_WICK_ERROR(randperm(-1), "randperm: n must be non-negative");
  EXPECT_WICK_ERROR(randperm(300, kUInt8), "randperm: n=300 does not fit dtype uint8");
  EXPECT_WICK_ERROR(randperm(3, kBool), "randperm: dtype bool");
}

// ---- bernoulli ----

TEST(Bernoulli, Frequency) {
  const int64_t n = 100000;
  Generator g(8);
  for (double p : {0.3, 0.9}) {
    Tensor b = bernoulli({n}, p, {}, &g);
    EXPECT_EQ(b.dtype(), kFloat32);
    auto v = b.tolist<double>();
    for (double x : v) ASSERT_TRUE(x == 0.0 || x == 1.0);
    EXPECT_NEAR(mean_of(v), p, 6 * std::sqrt(p * (1 - p) / n)) << p;
  }
  // Per-element probabilities, a non-contiguous p, float64 result.
  Tensor p = full({2, n / 2}, 0.25, kFloat64);
  Tensor row1 = p.select(0, 1);
  row1.copy_(scalar_tensor(0.75, kFloat64));
  Tensor b = bernoulli(p.t(), &g);  // [n/2, 2]: column 0 has p = 0.25, column 1 p = 0.75
  EXPECT_EQ(b.dtype(), kFloat64);
  EXPECT_EQ(b.sizes(), (Shape{n / 2, 2}));
  auto c0 = b.select(1, 0).tolist<double>(), c1 = b.select(1, 1).tolist<double>();
  const double se = std::sqrt(0.25 * 0.75 / (n / 2));
  EXPECT_NEAR(mean_of(c0), 0.25, 6 * se);
  EXPECT_NEAR(mean_of(c1), 0.75, 6 * se);
}

TEST(Bernoulli, ExtremeProbabilitiesAreExact) {
  Generator g(9);
  Tensor p = tensor({0.f, 1.f, 0.f, 1.f, 1.f});
  EXPECT_TRUE(all_equal(bernoulli(p, &g), p));
  EXPECT_EQ(bernoulli({0, 4}, 0.5, {}, &g).numel(), 0);
  EXPECT_EQ(bernoulli(empty({0}), &g).numel(), 0);
  Tensor bi = bernoulli({100}, 1.0, kInt64, &g);
  EXPECT_EQ(bi.dtype(), kInt64);
  EXPECT_EQ(sum(bi).item<int64_t>(), 100);
  EXPECT_FALSE(bernoulli(rand({3}).requires_grad_(), &g).requires_grad());
}

TEST(Bernoulli, Errors) {
  EXPECT_WICK_ERROR(bernoulli(tensor({0.5f, 1.5f})), "bernoulli: probabilities must be in [0, 1], got 1.5");
  EXPECT_WICK_ERROR(bernoulli(tensor({-0.1})), "bernoulli: probabilities must be in [0, 1]");
  EXPECT_WICK_ERROR(bernoulli(tensor({NAN})), "bernoulli: probabilities must be in [0, 1]");
  EXPECT_WICK_ERROR(bernoulli(tensor({0, 1})), "bernoulli: expected a floating probability tensor");
  EXPECT_WICK_ERROR(bernoulli({3}, 1.01), "bernoulli: probability must be in [0, 1]");
}

// ---- normal with tensors ----

TEST(Normal, TensorMeanStdBroadcastAndStream) {
  Tensor mean = tensor({0.0, 10.0, -10.0}, Shape{3, 1}, kFloat64);
  Tensor std = tensor({1.0, 0.0}, {}, kFloat64);
  Generator g(10), h(10);
  Tensor out = normal(mean, std, &g);
  ASSERT_EQ(out.sizes(), (Shape{3, 2}));
  Tensor z = randn({3, 2}, kFloat64, &h);
  EXPECT_TRUE(all_close(out, mean + std * z, 1e-15, 1e-15));
  // std = 0 gives the mean exactly.
  EXPECT_TRUE(all_equal(out.select(1, 1), tensor({0.0, 10.0, -10.0}, {}, kFloat64)));
  // float32 mean with float64 std promotes.
  EXPECT_EQ(normal(zeros({2}), ones({2}, kFloat64)).dtype(), kFloat64);
}

TEST(Normal, TensorStatistics) {
  const int64_t n = 100000;
  Generator g(12);
  Tensor out = normal(full({n}, 5.0, kFloat64), full({1}, 0.5, kFloat64), &g);
  auto v = out.tolist<double>();
  EXPECT_NEAR(mean_of(v), 5.0, 6 * 0.5 / std::sqrt(double(n)));
  EXPECT_NEAR(var_of(v), 0.25, 6 * 0.25 * std::sqrt(2.0 / n));
}

TEST(Normal, Gradcheck) {
  // A fixed generator per call makes the function deterministic: d/dmean = 1, d/dstd = z.
  auto fn = [](const tensor_list& in) {
    Generator g(13);
    return normal(in[0], in[1], &g);
  };
  Tensor mean = rand_f64({2, 3});
  Tensor std = (rand_f64({3}, 1, false) * 0.5 + 1.0).requires_grad_();  // in [0.5, 1.5)
  EXPECT_TRUE(gradcheck(fn, {mean, std}));
}

TEST(Normal, Errors) {
  EXPECT_WICK_ERROR(normal(zeros({2}), tensor({-1.f, 1.f})), "normal: expects all elements of std >= 0.0");
  EXPECT_WICK_ERROR(normal(zeros({2}), tensor({NAN, 1.f})), "normal: expects all elements of std >= 0.0");
  EXPECT_WICK_ERROR(normal(zeros({2}, kInt64), ones({2}, kInt64)), "normal: expected floating mean and std");
  EXPECT_WICK_ERROR(normal(zeros({2}), ones({3})), "normal: shapes [2] and [3] cannot be broadcast");
  EXPECT_WICK_ERROR(normal(0.0, -1.0, {2}), "normal: expects std >= 0.0, but found std -1");
  EXPECT_WICK_ERROR(normal(0.0, 1.0, {2}, kInt64), "normal: expected a floating dtype");
}

// ---- multinomial ----

TEST(Multinomial, WithReplacementFrequencies) {
  // Unnormalized weights with a zero; chi-square over the nonzero categories (df 3).
  const int64_t n = 100000;
  Generator g(14);
  Tensor s = multinomial(tensor({1.0, 0.0, 2.0, 3.0, 4.0}, {}, kFloat64), n, true, &g);
  EXPECT_EQ(s.dtype(), kInt64);
  EXPECT_EQ(s.sizes(), (Shape{n}));
  std::vector<int64_t> counts(5, 0);
  for (int64_t x : s.tolist<int64_t>()) ++counts[x];
  EXPECT_EQ(counts[1], 0);
  EXPECT_LT(chi_square({counts[0], counts[2], counts[3], counts[4]}, {0.1, 0.2, 0.3, 0.4}, n), kChi2Df3);
}

TEST(Multinomial, WithoutReplacementFirstDrawFrequencies) {
  // 25000 rows of the same weights, one sample each: the law of the first draw (df 3).
  const int64_t rows = 25000;
  Generator g(15);
  Tensor w = tensor({4.f, 3.f, 2.f, 1.f}).expand({rows, 4});
  Tensor s = multinomial(w, 1, false, &g);
  EXPECT_EQ(s.sizes(), (Shape{rows, 1}));
  std::vector<int64_t> counts(4, 0);
  for (int64_t x : s.tolist<int64_t>()) ++counts[x];
  EXPECT_LT(chi_square(counts, {0.4, 0.3, 0.2, 0.1}, rows), kChi2Df3);
}

TEST(Multinomial, WithoutReplacementOrderedPairs) {
  // Sequential sampling: P(first = i, second = j) = w_i / W * w_j / (W - w_i).
  // 12 ordered pairs, df 11.
  const int64_t rows = 30000;
  Generator g(16);
  const std::vector<double> w = {4, 3, 2, 1};
  Tensor s = multinomial(tensor({4.0, 3.0, 2.0, 1.0}, {}, kFloat64).expand({rows, 4}), 2, false, &g);
  auto v = s.tolist<int64_t>();
  std::vector<int64_t> counts(16, 0);
  for (int64_t r = 0; r < rows; ++r) {
    ASSERT_NE(v[2 * r], v[2 * r + 1]);
    ++counts[v[2 * r] * 4 + v[2 * r + 1]];
  }
  std::vector<int64_t> obs;
  std::vector<double> p;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      if (i != j) {
        obs.push_back(counts[i * 4 + j]);
        p.push_back(w[i] / 10.0 * w[j] / (10.0 - w[i]));
      }
  EXPECT_LT(chi_square(obs, p, rows), kChi2Df11);
}

TEST(Multinomial, WithoutReplacementTakesEveryNonzeroCategory) {
  Generator g(17);
  Tensor w = tensor({0.0, 5.0, 1e-6, 2.0, 0.0, 3.0}, Shape{2, 3}, kFloat64);
  Tensor s = multinomial(w, 2, false, &g);
  ASSERT_EQ(s.sizes(), (Shape{2, 2}));
  auto r0 = s[0].tolist<int64_t>(), r1 = s[1].tolist<int64_t>();
  std::sort(r0.begin(), r0.end());
  std::sort(r1.begin(), r1.end());
  // Each row has exactly two nonzero weights: both are drawn, however small.
  EXPECT_EQ(r0, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(r1, (std::vector<int64_t>{0, 2}));
  // One category with all the weight.
  EXPECT_EQ(multinomial(tensor({0.f, 0.f, 7.f}), 5, true, &g).tolist<int64_t>(), std::vector<int64_t>(5, 2));
  // A non-contiguous weight matrix.
  Tensor wt = tensor({1.f, 0.f, 0.f, 1.f}, Shape{2, 2}).t();  // rows [1, 0] and [0, 1]
  EXPECT_EQ(multinomial(wt, 3, true, &g).tolist<int64_t>(), (std::vector<int64_t>{0, 0, 0, 1, 1, 1}));
}

TEST(Multinomial, Errors) {
  EXPECT_WICK_ERROR(multinomial(tensor({0.f, 0.f}), 1), "multinomial: invalid distribution in row 0");
  EXPECT_WICK_ERROR(multinomial(tensor({1.f, -1.f}), 1), "multinomial: probability tensor contains either inf");
  EXPECT_WICK_ERROR(multinomial(tensor({1.f, INFINITY}), 1), "multinomial: probability tensor contains");
  EXPECT_WICK_ERROR(multinomial(tensor({1.f, NAN}), 1, true), "multinomial: probability tensor contains");
  EXPECT_WICK_ERROR(multinomial(tensor({1.f, 2.f}), 0), "multinomial: cannot sample num_samples <= 0");
  EXPECT_WICK_ERROR(multinomial(tensor({1.f, 2.f}), 3), "multinomial: cannot sample num_samples=3 > number");
  EXPECT_WICK_ERROR(multinomial(tensor({1.f, 0.f, 0.f}), 2), "multinomial: row 0 has only 1 categories");
  EXPECT_WICK_ERROR(multinomial(tensor({1, 2}), 1), "multinomial: only floating-point weights");
  EXPECT_WICK_ERROR(multinomial(ones({2, 2, 2}), 1), "multinomial: expected a 1-d or 2-d");
  EXPECT_WICK_ERROR(multinomial(ones({2, 0}), 1), "multinomial: the weight tensor of shape [2,0]");
  // An error does not advance the generator.
  Generator g(1);
  EXPECT_WICK_ERROR(multinomial(tensor({0.f}), 1, false, &g), "multinomial");
  EXPECT_EQ(g.offset(), 0u);
}

// ---- uniform_ / normal_ ----

TEST(InPlace, UniformOnContiguousMatchesRand) {
  Generator g(18), h(18);
  Tensor t = zeros({3, 4}, kFloat64);
  const uint64_t v0 = t.version();
  uniform_(t, -2.0, 6.0, &g);
  EXPECT_GT(t.version(), v0);
  Tensor r = rand({3, 4}, kFloat64, &h);
  EXPECT_TRUE(all_close(t, r * 8.0 - 2.0, 1e-14, 0));
}

TEST(InPlace, NonContiguousFillsInRowMajorOrder) {
  Generator g(19), h(19);
  Tensor base = zeros({4, 6});
  Tensor view = base.t().slice(0, 1, std::nullopt, 2);  // [3, 4], non-contiguous, shares base
  ASSERT_FALSE(view.is_contiguous());
  uniform_(view, 0.0, 1.0, &g);
  EXPECT_TRUE(all_equal(view, rand({3, 4}, {}, &h)));
  // Only the viewed elements changed.
  EXPECT_EQ(count_nonzero(base.t().slice(0, 0, std::nullopt, 2)), 0);
  EXPECT_EQ(count_nonzero(base), 12);

  Generator g2(20), h2(20);
  normal_(view, 1.0, 3.0, &g2);
  EXPECT_TRUE(all_close(view, randn({3, 4}, {}, &h2) * 3.0 + 1.0, 1e-6, 1e-6));
}

TEST(InPlace, Statistics) {
  const int64_t n = 100000;
  Generator g(21);
  Tensor t = empty({n}, kFloat64);
  auto u = uniform_(t, 3.0, 5.0, &g).tolist<double>();
  EXPECT_GE(*std::min_element(u.begin(), u.end()), 3.0);
  EXPECT_LT(*std::max_element(u.begin(), u.end()), 5.0);
  EXPECT_NEAR(mean_of(u), 4.0, 6 * std::sqrt(4.0 / 12.0 / n));
  auto z = normal_(t, -1.0, 0.1, &g).tolist<double>();
  EXPECT_NEAR(mean_of(z), -1.0, 6 * 0.1 / std::sqrt(double(n)));
  EXPECT_NEAR(var_of(z), 0.01, 6 * 0.01 * std::sqrt(2.0 / n));
}

TEST(InPlace, FloatBoundsAreHalfOpen) {
  // [1, 1 + 2^-20) in float32: the computed value may round up to hi; it never equals hi.
  Generator g(22);
  Tensor t = empty({50000});
  const float hi = 1.0f + 0x1.0p-20f;
  uniform_(t, 1.0, hi, &g);
  for (float x : t.tolist<float>()) ASSERT_TRUE(x >= 1.0f && x < hi) << x;
  uniform_(t, 2.0, 2.0, &g);  // an empty range gives lo
  EXPECT_TRUE(all_equal(t, full({50000}, 2.0f)));
}

TEST(InPlace, Autograd) {
  Tensor leaf = zeros({3}).requires_grad_();
  EXPECT_WICK_ERROR(uniform_(leaf), "uniform_: a leaf tensor that requires grad");
  {
    NoGradGuard ng;  // how initializers fill parameters
    uniform_(leaf, -1, 1);
  }
  EXPECT_TRUE(leaf.requires_grad());
  Tensor y = leaf * 2.0;
  normal_(y);
  sum(y * leaf).backward();
  // y was overwritten by constants: only the second factor's path carries a gradient.
  EXPECT_TRUE(all_close(leaf.grad(), y.detach()));
}

TEST(InPlace, Errors) {
  Tensor i = zeros({3}, kInt64);
  EXPECT_WICK_ERROR(uniform_(i), "uniform_: expected a floating tensor");
  EXPECT_WICK_ERROR(normal_(i), "normal_: expected a floating tensor");
  Tensor f = zeros({3});
  EXPECT_WICK_ERROR(uniform_(f, 1.0, 0.0), "uniform_ expects to return a [from, to) range");
  EXPECT_WICK_ERROR(uniform_(f, 0.0, INFINITY), "uniform_: bounds must be finite");
  EXPECT_WICK_ERROR(uniform_(f, -1.7e308, 1.7e308), "uniform_: the range");
  EXPECT_WICK_ERROR(normal_(f, 0.0, -1.0), "normal_: expects std >= 0.0");
  Tensor ex = zeros({1}).expand({4});
  EXPECT_WICK_ERROR(uniform_(ex), "uniform_: unsupported operation: more than one element");
  EXPECT_WICK_ERROR(normal_(ex), "normal_: unsupported operation");
}

TEST(Random, EmptyAndScalarShapes) {
  Generator g(23);
  EXPECT_EQ(rand({0}, {}, &g).numel(), 0);
  EXPECT_EQ(g.offset(), 0u);
  Tensor s = randn({}, {}, &g);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_TRUE(std::isfinite(s.item()));
  EXPECT_TRUE(rand({2}, TensorOptions().requires_grad(), &g).requires_grad());
  EXPECT_WICK_ERROR(rand({2}, kInt64), "rand: expected a floating dtype");
  EXPECT_WICK_ERROR(randn({2}, kInt32), "randn: expected a floating dtype");
  // 16-bit draws are the rounded float32 draws, on CUDA tensors (tests/cuda/test_random.cpp).
  const uint64_t before = g.offset();
  EXPECT_WICK_ERROR(randn({2}, kBFloat16, &g), "CUDA only");
  EXPECT_WICK_ERROR(rand({2}, kFloat16, &g), "draw in float32");
  EXPECT_EQ(g.offset(), before);  // the errors consumed nothing
}
