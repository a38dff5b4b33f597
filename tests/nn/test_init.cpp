// nn::init: gains, fans (against torch's _calculate_fan_in_and_fan_out),
// statistics of every initializer on large tensors, the default Linear/Conv
// initialization bounds, generators and error cases.
#include <cmath>

#include "nn/conv.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
namespace init = wick::nn::init;

namespace {

struct Stats {
  double mean, std, lo, hi;
};
Stats stats(const Tensor& t) {
  Tensor d = t.detach().to(kFloat64);
  return {d.mean().item(), wick::std(d, {}, 0).item(), min(d).item(), max(d).item()};
}

double phi(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI); }
double Phi(double x) { return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))); }

// U(-bound, bound): every value inside, the extremes close to the bound, std = bound / sqrt(3).
void expect_uniform(const Tensor& t, double bound, const char* what) {
  SCOPED_TRACE(what);
  Stats s = stats(t);
  EXPECT_GE(s.lo, -bound);
  EXPECT_LE(s.hi, bound);
  EXPECT_GT(s.hi, 0.99 * bound);
  EXPECT_LT(s.lo, -0.99 * bound);
  EXPECT_NEAR(s.mean, 0.0, 0.02 * bound);
  EXPECT_NEAR(s.std, bound / std::sqrt(3.0), 0.02 * bound / std::sqrt(3.0));
}

void expect_normal(const Tensor& t, double mean, double std, const char* what) {
  SCOPED_TRACE(what);
  Stats s = stats(t);
  EXPECT_NEAR(s.mean, mean, 0.02 * std);
  EXPECT_NEAR(s.std, std, 0.02 * std);
}

}  // namespace

TEST(Init, Gains) {
  EXPECT_EQ(init::calculate_gain("linear"), 1.0);
  EXPECT_EQ(init::calculate_gain("conv2d"), 1.0);
  EXPECT_EQ(init::calculate_gain("sigmoid"), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("tanh"), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("relu"), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu"), std::sqrt(2.0 / (1.0 + 0.01 * 0.01)));
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu", 0.2), std::sqrt(2.0 / 1.04));
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu", std::sqrt(5.0)), std::sqrt(1.0 / 3.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain("selu"), 0.75);
  EXPECT_WICK_ERROR(init::calculate_gain("swish"), "unsupported nonlinearity 'swish'");
}

TEST(Init, FansMatchTorch) {
  const std::vector<Shape> shapes = {{7, 5}, {8, 3, 3, 5}, {4, 2, 7}, {6, 4, 3, 3}, {2, 3, 2, 2, 2}, {1, 1}};
  Tensor expected = fixture("nn_layers/init_fans");
  ASSERT_EQ(expected.size(0), static_cast<int64_t>(shapes.size()));
  for (size_t i = 0; i < shapes.size(); ++i) {
    auto [fi, fo] = init::calculate_fan_in_and_fan_out(empty(shapes[i]));
    EXPECT_EQ(fi, expected[i][0].item<int64_t>()) << shape_str(shapes[i]);
    EXPECT_EQ(fo, expected[i][1].item<int64_t>()) << shape_str(shapes[i]);
  }
  EXPECT_WICK_ERROR(init::calculate_fan_in_and_fan_out(empty({5})), "fewer than 2 dimensions");
}

TEST(Init, UniformNormalConstant) {
  manual_seed(0);
  Tensor t = empty({100000});
  init::uniform_(t, -0.5, 1.5);
  Stats s = stats(t);
  EXPECT_GE(s.lo, -0.5);
  EXPECT_LT(s.hi, 1.5);
  EXPECT_NEAR(s.mean, 0.5, 0.01);
  EXPECT_NEAR(s.std, 2.0 / std::sqrt(12.0), 0.01);
  init::normal_(t, 2.0, 0.5);
  expect_normal(t, 2.0, 0.5, "normal_");
  init::constant_(t, 0.25);
  EXPECT_TRUE(all_equal(t, full({100000}, 0.25f)));
  init::zeros_(t);
  EXPECT_EQ(max(t).item(), 0.0);
  init::ones_(t);
  EXPECT_EQ(min(t).item(), 1.0);
  Tensor i = zeros({3}, kInt64);
  EXPECT_WICK_ERROR(init::normal_(i), "expected a floating tensor");
}

TEST(Init, XavierAndKaiming) {
  manual_seed(1);
  Tensor w = empty({300, 500});  // fan_in 500, fan_out 300
  init::xavier_uniform_(w, 2.0);
  expect_uniform(w, 2.0 * std::sqrt(6.0 / 800.0), "xavier_uniform_");
  init::xavier_normal_(w, 0.5);
  expect_normal(w, 0.0, 0.5 * std::sqrt(2.0 / 800.0), "xavier_normal_");

  Tensor c = empty({64, 32, 3, 3}, kFloat64);  // fan_in 288, fan_out 576
  init::kaiming_uniform_(c, 0.0, "fan_in", "relu");
  expect_uniform(c, std::sqrt(3.0) * std::sqrt(2.0) / std::sqrt(288.0), "kaiming_uniform_ relu fan_in");
  init::kaiming_normal_(c, 0.0, "fan_out", "relu");
  expect_normal(c, 0.0, std::sqrt(2.0) / std::sqrt(576.0), "kaiming_normal_ relu fan_out");
  init::kaiming_uniform_(c, 0.2, "fan_out");  // leaky_relu with slope 0.2
  expect_uniform(c, std::sqrt(3.0) * std::sqrt(2.0 / 1.04) / std::sqrt(576.0), "kaiming_uniform_ leaky 0.2");
  EXPECT_WICK_ERROR(init::kaiming_uniform_(c, 0.0, "fan_avg"), "mode must be 'fan_in' or 'fan_out'");
  Tensor v = empty({10});
  EXPECT_WICK_ERROR(init::xavier_uniform_(v), "fewer than 2 dimensions");
}

TEST(Init, TruncNormal) {
  manual_seed(2);
  Tensor t = empty({100000}, kFloat64);
  // Standard normal on [-2, 2]: var = 1 - 2 * 2 phi(2) / (2 Phi(2) - 1).
  init::trunc_normal_(t);
  Stats s = stats(t);
  EXPECT_GE(s.lo, -2.0);
  EXPECT_LE(s.hi, 2.0);
  EXPECT_GT(s.hi, 1.99);
  EXPECT_NEAR(s.mean, 0.0, 0.01);
  EXPECT_NEAR(s.std, std::sqrt(1.0 - 4.0 * phi(2.0) / (2.0 * Phi(2.0) - 1.0)), 0.01);

  // An asymmetric window and a far tail: mean = mu + sigma (phi(alpha) - phi(beta)) / (Phi(beta) - Phi(alpha)).
  auto truncated_mean = [](double mu, double sigma, double a, double b) {
    const double al = (a - mu) / sigma, be = (b - mu) / sigma;
    return mu + sigma * (phi(al) - phi(be)) / (Phi(be) - Phi(al));
  };
  init::trunc_normal_(t, 1.0, 0.5, 0.5, 3.0);
  s = stats(t);
  EXPECT_GE(s.lo, 0.5);
  EXPECT_LE(s.hi, 3.0);
  EXPECT_NEAR(s.mean, truncated_mean(1.0, 0.5, 0.5, 3.0), 0.005);
  init::trunc_normal_(t, 0.0, 1.0, 3.0, 5.0);
  s = stats(t);
  EXPECT_GE(s.lo, 3.0);
  EXPECT_LE(s.hi, 5.0);
  EXPECT_NEAR(s.mean, truncated_mean(0.0, 1.0, 3.0, 5.0), 0.005);

  // ViT-style: std 0.02 on float32, truncated at +-2 (i.e. +-100 std: effectively untruncated).
  Tensor f = empty({100000});
  init::trunc_normal_(f, 0.0, 0.02);
  expect_normal(f, 0.0, 0.02, "trunc_normal_ std 0.02");
  EXPECT_WICK_ERROR(init::trunc_normal_(t, 0.0, 1.0, 2.0, -2.0), "need a < b");
  EXPECT_WICK_ERROR(init::trunc_normal_(t, 0.0, 0.0), "std must be positive");
}

TEST(Init, DefaultLinearAndConvBoundsEqualTorch) {
  // torch: weight = kaiming_uniform_(a=sqrt(5)) -> U(+-1/sqrt(fan_in)); bias U(+-1/sqrt(fan_in)).
  manual_seed(3);
  nn::Linear l(300, 400);
  expect_uniform(l.weight, 1.0 / std::sqrt(300.0), "Linear weight");
  Stats b = stats(l.bias);
  EXPECT_LE(b.hi, 1.0 / std::sqrt(300.0));
  EXPECT_GE(b.lo, -1.0 / std::sqrt(300.0));
  EXPECT_GT(b.hi, 0.9 / std::sqrt(300.0));

  nn::Conv2d c(16, 96, 3);  // fan_in = 16 * 9
  expect_uniform(c.weight, 1.0 / 12.0, "Conv2d weight");
  EXPECT_LE(stats(c.bias).hi, 1.0 / 12.0);
  nn::Conv1d c1(8, 2000, 2);  // fan_in = 16
  expect_uniform(c1.weight, 0.25, "Conv1d weight");
  // ConvTranspose2d's weight is [in, out/groups, kh, kw]: torch's fan_in is weight.size(1) * k*k.
  nn::ConvTranspose2d t(64, 8, 3);
  expect_uniform(t.weight, 1.0 / std::sqrt(72.0), "ConvTranspose2d weight");
  EXPECT_LE(stats(t.bias).hi, 1.0 / std::sqrt(72.0));
}

TEST(Init, GeneratorsNoGradAndParameters) {
  Generator g1(42), g2(42);
  Tensor a = empty({50}), b = empty({50});
  manual_seed(9);
  const uint64_t offset = default_generator().offset();
  init::kaiming_normal_(a = empty({5, 10}), 0.0, "fan_in", "relu", &g1);
  init::kaiming_normal_(b = empty({5, 10}), 0.0, "fan_in", "relu", &g2);
  EXPECT_TRUE(all_equal(a, b));
  init::trunc_normal_(a, 0.0, 1.0, -2.0, 2.0, &g1);
  init::trunc_normal_(b, 0.0, 1.0, -2.0, 2.0, &g2);
  EXPECT_TRUE(all_equal(a, b));
  EXPECT_EQ(default_generator().offset(), offset);  // an explicit generator leaves the default alone

  // In-place on a leaf that requires grad, with grad mode on: no history recorded.
  Tensor p = zeros({4, 4});
  p.requires_grad_();
  init::xavier_uniform_(p);
  init::constant_(p, 1.0);
  init::trunc_normal_(p);
  EXPECT_TRUE(p.is_leaf());
  EXPECT_TRUE(p.requires_grad());
  EXPECT_FALSE(p.grad_fn());
  // Non-contiguous views are filled through.
  Tensor m = zeros({4, 6});
  Tensor view = m.t();
  init::ones_(view);
  EXPECT_TRUE(all_equal(m, ones({4, 6})));
  Tensor half = m.slice(1, 0, 3);
  init::uniform_(half, 2.0, 3.0);
  EXPECT_GE(min(m.slice(1, 0, 3)).item(), 2.0);
  EXPECT_TRUE(all_equal(m.slice(1, 3, 6), ones({4, 3})));
}
