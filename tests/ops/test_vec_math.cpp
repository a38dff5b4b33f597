// vec_math (ops/cpu/vec_math.h): every instruction-set variant this CPU
// supports (scalar always, AVX2 and AVX-512 when present) against libm in
// double precision rounded to float. Millions of sampled inputs (random bit
// patterns covering every exponent, plus dense uniform ranges around where
// the algorithms switch branches) and the special values; the test prints
// the max ulp error it measured and bounds it.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <functional>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "ops/cpu/vec_math.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::cpu;

namespace {

using ArrayFn = void (*)(const float*, float*, int64_t, VecIsa);

// Distance in representable floats (ulps) between a and the correctly
// rounded value of `ref`; 0 when both are the same NaN/inf, huge on a class
// mismatch.
double ulp_error(float a, double ref) {
  const float r = static_cast<float>(ref);
  if (std::isnan(a) || std::isnan(r)) return std::isnan(a) && std::isnan(r) ? 0 : 1e30;
  if (std::isinf(a) || std::isinf(r)) return a == r ? 0 : 1e30;
  auto ord = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, 4);
    return i < 0 ? -static_cast<int64_t>(i & 0x7fffffff) : static_cast<int64_t>(i);
  };
  return std::fabs(static_cast<double>(ord(a) - ord(r)));
}

std::vector<float> special_values() {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float den = std::numeric_limits<float>::denorm_min(), fmin = std::numeric_limits<float>::min();
  const float fmax = std::numeric_limits<float>::max();
  return {0.f,     -0.f,     inf,      -inf,     nan,      -nan,     den,      -den,     fmin,    -fmin,
          fmax,    -fmax,    1.f,      -1.f,     0.5f,     2.f,      88.7228f, 88.7229f, 89.f,    -87.33f,
          -87.34f, -103.9f,  -104.f,   -110.f,   0.625f,   -0.625f,  3.925f,   -3.925f,  9.01f,   1e-20f,
          -1e-20f, 1e-40f,   -1e-40f,  1e30f,    -1e30f,   20.f,     -20.f,    44.f,     -44.f,   0.999999f};
}

std::vector<float> sample_inputs() {
  std::vector<float> xs = special_values();
  std::mt19937 gen(1234);
  // Random bit patterns: every exponent, sign and denormals, equally often.
  for (int i = 0; i < 2000000; ++i) {
    uint32_t b = gen();
    float f;
    std::memcpy(&f, &b, 4);
    xs.push_back(f);
  }
  // Dense ranges where the algorithms live (branch switches at 0.625, 1, 3.925, ...).
  for (auto [lo, hi] : {std::pair{-5.f, 5.f}, {-20.f, 20.f}, {-110.f, 95.f}, {0.f, 2.f}}) {
    std::uniform_real_distribution<float> u(lo, hi);
    for (int i = 0; i < 500000; ++i) xs.push_back(u(gen));
  }
  return xs;
}

struct Case {
  const char* name;
  ArrayFn fn;
  double (*ref)(double);
  double max_ulp;  // the bound the test enforces
};

std::vector<Case> cases() {
  return {
      {"exp", exp_array, [](double x) { return std::exp(x); }, 2},
      {"log", log_array, [](double x) { return std::log(x); }, 2},
      {"tanh", tanh_array, [](double x) { return std::tanh(x); }, 3},
      {"sigmoid", sigmoid_array, [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, 3},
      {"erf", erf_array, [](double x) { return std::erf(x); }, 3},
  };
}

std::vector<VecIsa> isas() {
  std::vector<VecIsa> r;
  for (VecIsa i : {VecIsa::Scalar, VecIsa::Avx2, VecIsa::Avx512})
    if (vec_math_supported(i)) r.push_back(i);
  return r;
}

TEST(VecMath, MaxUlpAgainstLibm) {
  const std::vector<float> xs = sample_inputs();
  std::vector<float> y(xs.size());
  std::printf("vec_math: best ISA here: %s; %zu inputs per function\n", vec_isa_name(vec_math_isa()), xs.size());
  for (VecIsa isa : isas()) {
    for (const Case& c : cases()) {
      c.fn(xs.data(), y.data(), static_cast<int64_t>(xs.size()), isa);
      double worst = 0;
      float at = 0;
      for (size_t i = 0; i < xs.size(); ++i) {
        const double e = ulp_error(y[i], c.ref(static_cast<double>(xs[i])));
        if (e > worst) worst = e, at = xs[i];
      }
      std::printf("  %-7s %-8s max error %g ulp (at x = %a)\n", vec_isa_name(isa), c.name, worst, at);
      EXPECT_LE(worst, c.max_ulp) << vec_isa_name(isa) << " " << c.name << " at x = " << at;
    }
  }
}

TEST(VecMath, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (VecIsa isa : isas()) {
    SCOPED_TRACE(vec_isa_name(isa));
    auto f = [isa](ArrayFn fn, float x) {
      // In a full vector and as a tail element, to cover both paths.
      std::vector<float> v(19, x), y(19);
      fn(v.data(), y.data(), 19, isa);
      EXPECT_TRUE((std::isnan(y[0]) && std::isnan(y[18])) || std::memcmp(&y[0], &y[18], 4) == 0);
      return y[18];
    };
    EXPECT_EQ(f(exp_array, -inf), 0.f);
    EXPECT_EQ(f(exp_array, inf), inf);
    EXPECT_EQ(f(exp_array, 89.f), inf);
    EXPECT_EQ(f(exp_array, 0.f), 1.f);
    EXPECT_TRUE(std::isnan(f(exp_array, nan)));
    EXPECT_EQ(f(exp_array, -103.2789f), std::exp(-103.2789f));  // denormal result
    EXPECT_GT(f(exp_array, -103.2789f), 0.f);
    EXPECT_EQ(f(exp_array, -200.f), 0.f);
    EXPECT_EQ(f(log_array, 0.f), -inf);
    EXPECT_EQ(f(log_array, -0.f), -inf);
    EXPECT_TRUE(std::isnan(f(log_array, -1.f)));
    EXPECT_TRUE(std::isnan(f(log_array, -inf)));
    EXPECT_EQ(f(log_array, inf), inf);
    EXPECT_EQ(f(log_array, 1.f), 0.f);
    EXPECT_TRUE(std::isnan(f(log_array, nan)));
    EXPECT_NEAR(f(log_array, std::numeric_limits<float>::denorm_min()), std::log(1.4012984643e-45), 1e-5);
    EXPECT_EQ(f(tanh_array, inf), 1.f);
    EXPECT_EQ(f(tanh_array, -inf), -1.f);
    EXPECT_TRUE(std::signbit(f(tanh_array, -0.f)));
    EXPECT_TRUE(std::isnan(f(tanh_array, nan)));
    EXPECT_EQ(f(tanh_array, 1e-40f), 1e-40f);
    EXPECT_EQ(f(sigmoid_array, inf), 1.f);
    EXPECT_EQ(f(sigmoid_array, -inf), 0.f);
    EXPECT_EQ(f(sigmoid_array, 0.f), 0.5f);
    EXPECT_TRUE(std::isnan(f(sigmoid_array, nan)));
    EXPECT_EQ(f(erf_array, inf), 1.f);
    EXPECT_EQ(f(erf_array, -inf), -1.f);
    EXPECT_EQ(f(erf_array, 0.f), 0.f);
    EXPECT_TRUE(std::signbit(f(erf_array, -0.f)));
    EXPECT_TRUE(std::isnan(f(erf_array, nan)));
  }
}

// Every length from 0 to 70 (full vectors + every tail length), in place and
// out of place: the same values as the scalar variant within 1 ulp, the
// tails within the same bound of libm as full vectors (the function's
// max_ulp), and nothing written past n.
TEST(VecMath, TailsAndAliasing) {
  std::mt19937 gen(7);
  std::normal_distribution<float> nd(0.f, 3.f);
  for (VecIsa isa : isas()) {
    for (const Case& c : cases()) {
      for (int64_t n = 0; n <= 70; ++n) {
        std::vector<float> x(n + 1), y(n + 1, -7.f), ref(n + 1);
        for (auto& v : x) v = std::string(c.name) == "log" ? std::fabs(nd(gen)) : nd(gen);
        c.fn(x.data(), y.data(), n, isa);
        EXPECT_EQ(y[n], -7.f) << "wrote past the end";
        c.fn(x.data(), ref.data(), n, VecIsa::Scalar);
        for (int64_t i = 0; i < n; ++i) EXPECT_LE(ulp_error(y[i], ref[i]), 1) << c.name << " n=" << n;
        for (int64_t i = 0; i < n; ++i)
          EXPECT_LE(ulp_error(y[i], c.ref(static_cast<double>(x[i]))), c.max_ulp)
              << vec_isa_name(isa) << " " << c.name << " n=" << n << " x=" << x[i];
        std::vector<float> inplace(x.begin(), x.begin() + n);
        c.fn(inplace.data(), inplace.data(), n, isa);
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(inplace[i], y[i]) << c.name << " in place, n=" << n;
      }
    }
  }
}

// The fused activation arrays against double-precision formulas.
TEST(VecMath, FusedActivations) {
  std::mt19937 gen(3);
  std::normal_distribution<float> nd(0.f, 4.f);
  const int64_t n = 100003;
  std::vector<float> x(n), g(n), y(n);
  for (int64_t i = 0; i < n; ++i) x[i] = nd(gen), g[i] = nd(gen);
  x[0] = 0.f, x[1] = 30.f, x[2] = -30.f, x[3] = 1e-30f;
  const double k = std::sqrt(2.0 / std::numbers::pi), a = 0.044715;
  auto phi = [](double v) { return 0.5 * (1 + std::erf(v / std::sqrt(2.0))); };
  auto pdf = [](double v) { return std::exp(-0.5 * v * v) / std::sqrt(2 * std::numbers::pi); };
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  struct F {
    const char* name;
    std::function<void()> run;
    std::function<double(double, double)> ref;
  };
  std::vector<F> fs = {
      {"gelu", [&] { gelu_array(x.data(), y.data(), n); }, [&](double v, double) { return v * phi(v); }},
      {"gelu_tanh", [&] { gelu_tanh_array(x.data(), y.data(), n); },
       [&](double v, double) { return 0.5 * v * (1 + std::tanh(k * (v + a * v * v * v))); }},
      {"silu", [&] { silu_array(x.data(), y.data(), n); }, [&](double v, double) { return v * sig(v); }},
      {"gelu_backward", [&] { gelu_backward_array(g.data(), x.data(), y.data(), n); },
       [&](double v, double gv) { return gv * (phi(v) + v * pdf(v)); }},
      {"gelu_tanh_backward", [&] { gelu_tanh_backward_array(g.data(), x.data(), y.data(), n); },
       [&](double v, double gv) {
         const double t = std::tanh(k * (v + a * v * v * v));
         return gv * 0.5 * (1 + t + v * (1 - t * t) * k * (1 + 3 * a * v * v));
       }},
      {"silu_backward", [&] { silu_backward_array(g.data(), x.data(), y.data(), n); },
       [&](double v, double gv) {
         const double s = sig(v);
         return gv * s * (1 + v * (1 - s));
       }},
  };
  for (auto& f : fs) {
    f.run();
    double worst = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double r = f.ref(x[i], g[i]);
      // Relative to the magnitude of the terms (|x| and |g|): cancellation in
      // 1 + erf(x) for x << 0 is inherent to the float formula.
      const bool backward = std::string(f.name).ends_with("backward");
      const double err = std::fabs(y[i] - r) / ((backward ? std::fabs(g[i]) : 1.0) * (1 + std::fabs(x[i])) + 1e-30);
      worst = std::max(worst, err);
    }
    std::printf("  %-20s max error %.3g (relative to (1 + |x|), times |g| for backward)\n", f.name, worst);
    EXPECT_LT(worst, 2e-6) << f.name;
  }
}

TEST(VecMath, UnsupportedIsaIsAnError) {
  for (VecIsa isa : {VecIsa::Avx2, VecIsa::Avx512}) {
    if (vec_math_supported(isa)) continue;
    float v = 1.f;
    EXPECT_WICK_ERROR(exp_array(&v, &v, 1, isa), "not supported");
  }
}

}  // namespace
