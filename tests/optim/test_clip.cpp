// clip_grad_norm_ matches torch.nn.utils.clip_grad_norm_ (p = 1, 2, 3, inf;
// clipping and not); clip_grad_value_ clamps.
#include <cmath>

#include "optim_test_util.h"

using namespace wick;
using namespace wick::test;
using optim::clip_grad_norm_;
using optim::clip_grad_value_;

namespace {

std::vector<Tensor> params_with_fixture_grads() {
  std::vector<Tensor> ps;
  for (int i = 0; i < kNumParams; ++i) {
    Tensor g = fixture("optim/clip_g" + std::to_string(i));
    Tensor p = zeros(g.sizes(), kFloat64).requires_grad_();
    p.set_grad(g.clone());
    ps.push_back(p);
  }
  return ps;
}

Tensor flat_grads(const std::vector<Tensor>& ps) {
  std::vector<Tensor> parts;
  for (const Tensor& p : ps) parts.push_back(p.grad().reshape({-1}));
  return cat(parts);
}

}  // namespace

TEST(Clip, GradNormMatchesPyTorch) {
  const std::pair<const char*, double> norms[] = {{"2", 2.0}, {"1", 1.0}, {"inf", optim::kInfNorm}, {"3", 3.0}};
  for (const auto& [tag, p] : norms)
    for (double max_norm : {0.5, 100.0}) {
      const std::string key = std::string("optim/clip_") + tag + "_" + std::to_string(static_cast<int>(max_norm * 10));
      std::vector<Tensor> ps = params_with_fixture_grads();
      Tensor total = clip_grad_norm_(ps, max_norm, p);
      EXPECT_EQ(total.dim(), 0);
      EXPECT_TRUE(all_close(total, fixture(key + "_total"), 1e-15, 1e-13)) << key;
      EXPECT_TRUE(all_close(flat_grads(ps), fixture(key + "_grads"), 1e-15, 1e-13)) << key;
    }
}

TEST(Clip, ClippedNormIsMaxNorm) {
  std::vector<Tensor> ps = params_with_fixture_grads();
  const double before = clip_grad_norm_(ps, 0.25).item();
  EXPECT_GT(before, 0.25);
  EXPECT_NEAR(norm(flat_grads(ps)).item(), 0.25, 1e-6);
  // A second call sees the clipped norm and (nearly) leaves it alone.
  EXPECT_NEAR(clip_grad_norm_(ps, 0.25).item(), 0.25, 1e-6);
}

TEST(Clip, SkipsParametersWithoutGradients) {
  std::vector<Tensor> ps = params_with_fixture_grads();
  Tensor no_grad = zeros({7}).requires_grad_();
  std::vector<Tensor> with_extra = ps;
  with_extra.push_back(no_grad);
  const double total = clip_grad_norm_(with_extra, 100.0).item();
  EXPECT_NEAR(total, norm(flat_grads(ps)).item(), 1e-14);
  EXPECT_FALSE(no_grad.grad().defined());
  // No gradients at all: total norm 0.
  EXPECT_EQ(clip_grad_norm_({no_grad}, 1.0).item(), 0.0);
}

TEST(Clip, Float32GradientsStayFloat32) {
  Tensor p = zeros({3}).requires_grad_();
  p.set_grad(tensor({3.f, 4.f, 0.f}));
  Tensor total = clip_grad_norm_({p}, 1.0);
  EXPECT_EQ(total.dtype(), kFloat32);
  EXPECT_NEAR(total.item(), 5.0, 1e-6);
  EXPECT_TRUE(all_close(p.grad(), tensor({0.6f, 0.8f, 0.f}), 1e-6, 1e-6));
}

TEST(Clip, NonFiniteNorm) {
  Tensor p = zeros({2}, kFloat64).requires_grad_();
  p.set_grad(tensor({1.0, INFINITY}, {}, kFloat64));
  EXPECT_WICK_ERROR(clip_grad_norm_({p}, 1.0, 2.0, true), "non-finite");
  EXPECT_EQ(p.grad()[0].item(), 1.0);  // unchanged when it throws
  // Without the check the gradients are scaled by max_norm / inf = 0 (and NaN * ...).
  Tensor total = clip_grad_norm_({p}, 1.0);
  EXPECT_TRUE(std::isinf(total.item()));
  EXPECT_WICK_ERROR(clip_grad_norm_({p}, 1.0, -1.0), "norm_type must be positive");
}

TEST(Clip, GradValue) {
  Tensor a = zeros({4}, kFloat64).requires_grad_(), b = zeros({2}, kFloat64).requires_grad_();
  a.set_grad(tensor({-3.0, -0.5, 0.25, 2.0}, {}, kFloat64));
  clip_grad_value_({a, b}, 1.0);
  EXPECT_TRUE(all_equal(a.grad(), tensor({-1.0, -0.5, 0.25, 1.0}, {}, kFloat64)));
  EXPECT_FALSE(b.grad().defined());
  EXPECT_WICK_ERROR(clip_grad_value_({a}, -1.0), "clip_value must be non-negative");
}
