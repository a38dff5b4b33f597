// max_pool2d, avg_pool2d, adaptive_avg_pool2d, interpolate: values, indices
// and gradients against PyTorch (tests/fixtures/gen_pool.py), gradcheck and
// gradgradcheck, non-contiguous and empty inputs, NaN, error messages.
#include <cmath>
#include <limits>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

using PoolFn = std::function<Tensor(const Tensor&)>;

// Runs fn on the fixture's input and compares y and the gradient of sum(y * gy).
void expect_matches_fixture(const std::string& name, const PoolFn& fn, double tol = 1e-12) {
  SCOPED_TRACE(name);
  const std::string p = "pool/" + name + "_";
  Tensor x = fixture(p + "x").requires_grad_();
  Tensor y = fn(x);
  EXPECT_EQ(y.dtype(), x.dtype());
  EXPECT_TRUE(all_close(y, fixture(p + "y"), tol, tol));
  sum(y * fixture(p + "gy")).backward();
  EXPECT_TRUE(all_close(x.grad(), fixture(p + "gx"), tol, tol));
}

void expect_max_matches_fixture(const std::string& name, std::array<int64_t, 2> k,
                                std::optional<std::array<int64_t, 2>> s, std::array<int64_t, 2> p,
                                std::array<int64_t, 2> d, bool ceil_mode) {
  expect_matches_fixture(name, [&](const Tensor& x) { return max_pool2d(x, k, s, p, d, ceil_mode); });
  Tensor x = fixture("pool/" + name + "_x");
  auto [values, indices] = max_pool2d_with_indices(x, k, s, p, d, ceil_mode);
  EXPECT_TRUE(all_equal(indices, fixture("pool/" + name + "_idx")));
  EXPECT_TRUE(all_close(values, fixture("pool/" + name + "_y"), 0, 0));
}

PoolFn interp(std::optional<std::array<int64_t, 2>> size, std::optional<std::array<double, 2>> scale,
              const std::string& mode, bool align_corners = false) {
  return [=](const Tensor& x) { return interpolate(x, size, scale, mode, align_corners); };
}

}  // namespace

TEST(MaxPool2d, MatchesPyTorch) {
  expect_max_matches_fixture("max_k3s2p1", {3, 3}, std::array<int64_t, 2>{2, 2}, {1, 1}, {1, 1}, false);
  expect_max_matches_fixture("max_k2", {2, 2}, {}, {0, 0}, {1, 1}, false);
  expect_max_matches_fixture("max_dilation", {3, 2}, std::array<int64_t, 2>{1, 2}, {1, 1}, {2, 3}, false);
  expect_max_matches_fixture("max_ceil", {3, 3}, std::array<int64_t, 2>{2, 2}, {0, 0}, {1, 1}, true);
  expect_max_matches_fixture("max_ceil_drop", {2, 2}, std::array<int64_t, 2>{3, 3}, {1, 1}, {1, 1}, true);
  expect_max_matches_fixture("max_unbatched", {2, 3}, std::array<int64_t, 2>{2, 1}, {1, 0}, {1, 1}, false);
}

TEST(MaxPool2d, GradcheckAndTiesNaN) {
  // Distinct values (a permutation of 0..119), so the argmax is stable under the finite-difference steps.
  std::vector<double> v(120);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>((i * 7) % 120);
  Tensor x = from_vector(v, Shape{2, 3, 5, 4}).requires_grad_();
  auto f = [](const tensor_list& t) { return max_pool2d(t[0], {2, 2}, std::array<int64_t, 2>{1, 2}, {1, 0}); };
  EXPECT_TRUE(gradcheck(f, {x}));
  EXPECT_TRUE(gradgradcheck(f, {x}));
  // Non-contiguous input gives the same values.
  Tensor xt = x.detach().transpose(2, 3);
  EXPECT_TRUE(all_close(max_pool2d(xt, {2, 2}), max_pool2d(xt.contiguous(), {2, 2}), 0, 0));

  // Ties resolve to the first maximum; NaN propagates.
  Tensor t = tensor({1.0, 1.0, 0.0, 1.0, NAN, 2.0, 3.0, 3.0}, Shape{1, 2, 4});
  auto [vals, i] = max_pool2d_with_indices(t, {1, 2});
  EXPECT_TRUE(all_equal(i, from_vector(std::vector<int64_t>{0, 3, 4, 6}, Shape{1, 2, 2})));
  Tensor vv = vals.reshape({4});
  EXPECT_EQ(vv[0].item(), 1.0);
  EXPECT_TRUE(std::isnan(vv[2].item()));
  // Empty batch.
  EXPECT_EQ(max_pool2d(zeros({0, 2, 4, 4}), {2, 2}).sizes(), (Shape{0, 2, 2, 2}));

  // A dilated window can miss the input entirely (rows -1 and 1 of a 1-row
  // input): -inf with index -1, and no gradient flows from it.
  Tensor one_row = rand_f64({1, 1, 1, 3}, 3);
  auto [mv, mi] = max_pool2d_with_indices(one_row, {2, 1}, std::array<int64_t, 2>{1, 1}, {1, 0}, {2, 1});
  EXPECT_EQ(mv.sizes(), (Shape{1, 1, 1, 3}));
  EXPECT_TRUE(all_equal(mi, full({1, 1, 1, 3}, int64_t(-1))));
  EXPECT_TRUE(std::isinf(mv.reshape({3})[0].item()));
  sum(where(isinf(mv), zeros_like(mv), mv)).backward();
  EXPECT_TRUE(all_close(one_row.grad(), zeros_like(one_row), 0, 0));
}

TEST(AvgPool2d, MatchesPyTorch) {
  using S = std::optional<std::array<int64_t, 2>>;
  expect_matches_fixture("avg_k3s2p1", [](const Tensor& x) { return avg_pool2d(x, {3, 3}, S({2, 2}), {1, 1}); });
  expect_matches_fixture("avg_k3s2p1_nopad",
                         [](const Tensor& x) { return avg_pool2d(x, {3, 3}, S({2, 2}), {1, 1}, false, false); });
  expect_matches_fixture("avg_ceil", [](const Tensor& x) { return avg_pool2d(x, {3, 3}, S({2, 2}), {1, 1}, true); });
  expect_matches_fixture("avg_ceil_nopad",
                         [](const Tensor& x) { return avg_pool2d(x, {2, 3}, S({3, 2}), {1, 1}, true, false); });
  expect_matches_fixture("avg_unbatched", [](const Tensor& x) { return avg_pool2d(x, {2, 2}); });
}

TEST(AvgPool2d, GradcheckGradgradcheck) {
  auto f = [](const tensor_list& t) {
    return avg_pool2d(t[0], {2, 3}, std::array<int64_t, 2>{2, 1}, {1, 1}, true, false);
  };
  EXPECT_TRUE(gradcheck(f, {rand_f64({2, 2, 5, 4}, 1)}));
  EXPECT_TRUE(gradgradcheck(f, {rand_f64({1, 2, 4, 4}, 2)}));
  EXPECT_TRUE(gradcheck(f, {noncontig_f64({2, 3, 4, 5}, 3)}));
  EXPECT_EQ(avg_pool2d(zeros({0, 2, 4, 4}), {2, 2}).sizes(), (Shape{0, 2, 2, 2}));
}

TEST(AdaptiveAvgPool2d, MatchesPyTorch) {
  expect_matches_fixture("adaptive_down", [](const Tensor& x) { return adaptive_avg_pool2d(x, {3, 2}); });
  expect_matches_fixture("adaptive_up", [](const Tensor& x) { return adaptive_avg_pool2d(x, {6, 7}); });
  expect_matches_fixture("adaptive_unbatched", [](const Tensor& x) { return adaptive_avg_pool2d(x, {4, 3}); });
  // Output 1x1 is the global mean.
  Tensor x = rand_f64({2, 3, 5, 7}, 4, false);
  EXPECT_TRUE(all_close(adaptive_avg_pool2d(x, {1, 1}), mean(x, {2, 3}, true), 1e-14, 1e-14));
}

TEST(AdaptiveAvgPool2d, GradcheckGradgradcheck) {
  auto f = [](const tensor_list& t) { return adaptive_avg_pool2d(t[0], {3, 2}); };
  EXPECT_TRUE(gradcheck(f, {rand_f64({2, 2, 5, 3}, 5)}));
  EXPECT_TRUE(gradgradcheck(f, {rand_f64({1, 2, 4, 3}, 6)}));
  EXPECT_TRUE(gradcheck(f, {noncontig_f64({1, 3, 4, 4}, 7)}));
}

TEST(Interpolate, MatchesPyTorch) {
  using Sz = std::optional<std::array<int64_t, 2>>;
  using Sc = std::optional<std::array<double, 2>>;
  expect_matches_fixture("nearest_size", interp(Sz({7, 4}), {}, "nearest"));
  expect_matches_fixture("nearest_x2", interp({}, Sc({2.0, 2.0}), "nearest"));
  expect_matches_fixture("nearest_scale", interp({}, Sc({1.7, 0.6}), "nearest"));
  expect_matches_fixture("nearest_scale_f32", interp({}, Sc({1.3, 2.7}), "nearest"), 0);
  expect_matches_fixture("bilinear_up", interp(Sz({7, 9}), {}, "bilinear"));
  expect_matches_fixture("bilinear_down", interp(Sz({3, 5}), {}, "bilinear"));
  expect_matches_fixture("bilinear_ac", interp(Sz({7, 3}), {}, "bilinear", true));
  expect_matches_fixture("bilinear_scale", interp({}, Sc({1.5, 0.7}), "bilinear"));
  expect_matches_fixture("bilinear_up_f32", interp(Sz({11, 13}), {}, "bilinear"), 1e-6);
  expect_matches_fixture("bilinear_scale_f32", interp({}, Sc({2.3, 1.9}), "bilinear"), 1e-6);
  expect_matches_fixture("bilinear_ac_f32", interp(Sz({9, 11}), {}, "bilinear", true), 1e-6);
}

TEST(Interpolate, GradcheckUnbatchedNonContiguous) {
  using Sz = std::optional<std::array<int64_t, 2>>;
  for (bool ac : {false, true}) {
    auto f = [ac](const tensor_list& t) { return interpolate(t[0], Sz({5, 3}), {}, "bilinear", ac); };
    EXPECT_TRUE(gradcheck(f, {rand_f64({2, 2, 3, 4}, 8)}));
    EXPECT_TRUE(gradgradcheck(f, {rand_f64({1, 1, 3, 4}, 9)}));
  }
  auto nearest = [](const tensor_list& t) { return interpolate(t[0], Sz({5, 3}), {}, "nearest"); };
  EXPECT_TRUE(gradcheck(nearest, {noncontig_f64({2, 2, 3, 4}, 10)}));
  EXPECT_TRUE(gradgradcheck(nearest, {rand_f64({1, 2, 3, 4}, 11)}));
  // Unbatched [C, H, W] equals the batched result of one sample.
  Tensor x = rand_f64({3, 4, 5}, 12, false);
  EXPECT_TRUE(all_close(interpolate(x, Sz({6, 7}), {}, "bilinear"),
                        interpolate(x.unsqueeze(0), Sz({6, 7}), {}, "bilinear")[0], 0, 0));
  EXPECT_EQ(interpolate(zeros({0, 2, 3, 3}), {}, std::array<double, 2>{2.0, 2.0}).sizes(), (Shape{0, 2, 6, 6}));
}

TEST(Pool, Errors) {
  Tensor x = zeros({1, 2, 4, 4});
  EXPECT_WICK_ERROR(max_pool2d(x, {0, 2}), "max_pool2d: kernel_size must be positive");
  EXPECT_WICK_ERROR(max_pool2d(x, {2, 2}, std::array<int64_t, 2>{0, 1}), "max_pool2d: stride must be positive");
  EXPECT_WICK_ERROR(max_pool2d(x, {2, 2}, {}, {2, 0}), "max_pool2d: padding must be non-negative and at most half");
  EXPECT_WICK_ERROR(max_pool2d(x, {3, 3}, {}, {0, 0}, {2, 2}), "max_pool2d: input [1,2,4,4] gives output size [0,0]");
  EXPECT_WICK_ERROR(max_pool2d(zeros({4, 4}), {2, 2}), "max_pool2d: expected a 3-D [C, H, W] or 4-D");
  EXPECT_WICK_ERROR(max_pool2d(zeros({1, 0, 4, 4}), {2, 2}), "max_pool2d: expected non-zero channel");
  EXPECT_WICK_ERROR(max_pool2d(zeros({1, 1, 4, 4}, kInt64), {2, 2}), "max_pool2d: expected a float32 or float64");
  EXPECT_WICK_ERROR(avg_pool2d(x, {5, 5}), "avg_pool2d: input [1,2,4,4] gives output size");
  EXPECT_WICK_ERROR(adaptive_avg_pool2d(x, {0, 2}), "adaptive_avg_pool2d: output_size must be positive");
  EXPECT_WICK_ERROR(interpolate(x, {}, {}), "interpolate: either size or scale_factor");
  EXPECT_WICK_ERROR(interpolate(x, std::array<int64_t, 2>{2, 2}, std::array<double, 2>{2, 2}),
                    "interpolate: only one of size or scale_factor");
  EXPECT_WICK_ERROR(interpolate(x, std::array<int64_t, 2>{2, 2}, {}, "bicubic"), "interpolate: unsupported mode 'bicubic'");
  EXPECT_WICK_ERROR(interpolate(x, std::array<int64_t, 2>{2, 2}, {}, "nearest", true),
                    "interpolate: align_corners can only be set with mode 'bilinear'");
  EXPECT_WICK_ERROR(interpolate(x, {}, std::array<double, 2>{0.1, 1.0}), "interpolate: output size must be positive");
}
