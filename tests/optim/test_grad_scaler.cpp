// optim::GradScaler: a scaled step equals the unscaled one bit for bit (the
// scale is a power of two), inf/NaN gradients skip the step and back off the
// scale, good steps grow it after growth_interval, unscale_ before clipping
// divides once, the call-order errors, disabled pass-through, and the
// state_dict round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"
#include "optim/optim.h"
#include "support/test_util.h"

using namespace wick;
using optim::GradScaler;
using optim::GradScalerOptions;
using wick::test::all_equal;

namespace {

// Three float32 parameters with fixed values, and the loss
// sum_i sum((p_i * x_i)^2) whose gradients are 2 p x^2.
struct Problem {
  std::vector<Tensor> ps, xs;
  explicit Problem(uint64_t seed) {
    for (int i = 0; i < 3; ++i) {
      const Shape s = i == 0 ? Shape{4, 3} : i == 1 ? Shape{3} : Shape{2, 2, 5};
      ps.push_back(wick::test::randn_t(s, kFloat32, seed + i, /*requires_grad=*/true));
      xs.push_back(wick::test::randn_t(s, kFloat32, seed + 10 + i, /*requires_grad=*/false));
    }
  }
  Tensor loss() const {
    Tensor l;
    for (size_t i = 0; i < ps.size(); ++i) {
      Tensor t = sum(mul(mul(ps[i], xs[i]), mul(ps[i], xs[i])));
      l = l.defined() ? add(l, t) : t;
    }
    return l;
  }
};

std::vector<Tensor> snapshot(const std::vector<Tensor>& ps) {
  std::vector<Tensor> out;
  for (const Tensor& p : ps) out.push_back(p.detach().clone());
  return out;
}

void expect_params_equal(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(all_equal(a[i].detach(), b[i].detach())) << "param " << i;
}

}  // namespace

TEST(GradScaler, ScaledStepsEqualUnscaledSteps) {
  Problem ref(1), amp(1);
  optim::Adam opt_ref(ref.ps, {.lr = 1e-2}), opt_amp(amp.ps, {.lr = 1e-2});
  GradScaler scaler;
  for (int step = 0; step < 4; ++step) {
    opt_ref.zero_grad();
    opt_amp.zero_grad();
    ref.loss().backward();
    Tensor scaled = scaler.scale(amp.loss());
    EXPECT_EQ(scaled.item<float>(), static_cast<float>(ref.loss().item<double>() * 65536.0));
    scaled.backward();
    EXPECT_FALSE(all_equal(amp.ps[0].grad(), ref.ps[0].grad()));  // scaled by 2^16 before step
    opt_ref.step();
    EXPECT_TRUE(scaler.step(opt_amp));
    scaler.update();
    for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(all_equal(amp.ps[i].grad(), ref.ps[i].grad()));
    expect_params_equal(amp.ps, ref.ps);
  }
  EXPECT_EQ(scaler.get_scale(), 65536.0);
  EXPECT_EQ(scaler.growth_tracker(), 4);
}

TEST(GradScaler, NonFiniteGradientsSkipTheStepAndBackOff) {
  for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()}) {
    Problem pb(2);
    optim::Adam opt(pb.ps, {.lr = 1e-2});
    GradScaler scaler({.init_scale = 1024.0});
    scaler.scale(pb.loss()).backward();
    Tensor g = pb.ps[2].grad();
    g.view({-1})[7].fill_(bad);  // one element of the last parameter's gradient
    const std::vector<Tensor> before = snapshot(pb.ps);
    EXPECT_FALSE(scaler.step(opt));
    expect_params_equal(pb.ps, before);
    EXPECT_TRUE(opt.state(pb.ps[0]).empty()) << "a skipped step must not touch the optimizer state";
    scaler.update();
    EXPECT_EQ(scaler.get_scale(), 512.0);
    EXPECT_EQ(scaler.growth_tracker(), 0);

    // The next iteration with finite gradients steps again.
    opt.zero_grad();
    scaler.scale(pb.loss()).backward();
    EXPECT_TRUE(scaler.step(opt));
    scaler.update();
    EXPECT_FALSE(opt.state(pb.ps[0]).empty());
    EXPECT_EQ(scaler.growth_tracker(), 1);
  }
}

TEST(GradScaler, OverflowInTheScaledLossIsCaught) {
  // S so large that loss * S overflows float32: every gradient is inf or NaN.
  Problem pb(3);
  optim::SGD opt(pb.ps, {.lr = 0.1});
  GradScaler scaler({.init_scale = 1e38});
  scaler.scale(mul(pb.loss(), 1e6)).backward();
  const std::vector<Tensor> before = snapshot(pb.ps);
  EXPECT_FALSE(scaler.step(opt));
  expect_params_equal(pb.ps, before);
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 0.5e38);
}

TEST(GradScaler, GrowsAfterGrowthIntervalGoodSteps) {
  Problem pb(4);
  optim::SGD opt(pb.ps, {.lr = 1e-3});
  GradScaler scaler({.init_scale = 8.0, .growth_factor = 4.0, .backoff_factor = 0.25, .growth_interval = 3});
  const double expected[] = {8, 8, 32, 32, 32, 128};
  for (double e : expected) {
    opt.zero_grad();
    scaler.scale(pb.loss()).backward();
    EXPECT_TRUE(scaler.step(opt));
    scaler.update();
    EXPECT_EQ(scaler.get_scale(), e);
  }
  // An explicit new scale wins.
  opt.zero_grad();
  scaler.scale(pb.loss()).backward();
  scaler.step(opt);
  scaler.update(3.0);
  EXPECT_EQ(scaler.get_scale(), 3.0);
}

TEST(GradScaler, UnscaleBeforeClippingDividesOnce) {
  Problem ref(5), amp(5);
  optim::SGD opt_ref(ref.ps, {.lr = 0.1}), opt_amp(amp.ps, {.lr = 0.1});
  GradScaler scaler({.init_scale = 256.0});
  ref.loss().backward();
  scaler.scale(amp.loss()).backward();
  scaler.unscale_(opt_amp);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(all_equal(amp.ps[i].grad(), ref.ps[i].grad()));
  const Tensor n_ref = optim::clip_grad_norm_(ref.ps, 0.5), n_amp = optim::clip_grad_norm_(amp.ps, 0.5);
  EXPECT_TRUE(all_equal(n_amp, n_ref));
  opt_ref.step();
  EXPECT_TRUE(scaler.step(opt_amp));  // does not unscale again
  scaler.update();
  expect_params_equal(amp.ps, ref.ps);
}

TEST(GradScaler, TwoOptimizersAnyInfBacksOff) {
  Problem pb(6);
  optim::SGD a({pb.ps[0]}, {.lr = 0.1}), b({pb.ps[1], pb.ps[2]}, {.lr = 0.1});
  GradScaler scaler({.init_scale = 64.0});
  scaler.scale(pb.loss()).backward();
  pb.ps[1].grad().fill_(std::numeric_limits<float>::quiet_NaN());
  const std::vector<Tensor> before = snapshot(pb.ps);
  EXPECT_TRUE(scaler.step(a));
  EXPECT_FALSE(scaler.step(b));
  EXPECT_FALSE(all_equal(pb.ps[0].detach(), before[0]));
  EXPECT_TRUE(all_equal(pb.ps[2].detach(), before[2]));
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 32.0);
}

TEST(GradScaler, CallOrderErrors) {
  Problem pb(7);
  optim::SGD opt(pb.ps, {.lr = 0.1});
  GradScaler scaler;
  EXPECT_THROW(scaler.update(), Error);  // nothing recorded yet
  scaler.scale(pb.loss()).backward();
  scaler.unscale_(opt);
  EXPECT_THROW(scaler.unscale_(opt), Error);
  scaler.step(opt);
  EXPECT_THROW(scaler.step(opt), Error);
  EXPECT_THROW(scaler.unscale_(opt), Error);
  scaler.update();
  EXPECT_THROW(scaler.update(), Error);
  // Gradients of another dtype than float32/float64.
  Tensor p = zeros({3}, TensorOptions(kInt64));
  EXPECT_THROW(scaler.scale(p), Error);
  for (auto bad : {GradScalerOptions{.init_scale = 0}, GradScalerOptions{.growth_factor = 1.0},
                   GradScalerOptions{.backoff_factor = 1.0}, GradScalerOptions{.growth_interval = 0}})
    EXPECT_THROW(GradScaler{bad}, Error);
  try {
    GradScaler{{.backoff_factor = 2.0}};
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("backoff_factor"), std::string::npos) << e.what();
  }
}

TEST(GradScaler, DisabledPassesThrough) {
  Problem ref(8), pb(8);
  optim::SGD opt_ref(ref.ps, {.lr = 0.1}), opt(pb.ps, {.lr = 0.1});
  GradScaler scaler({.enabled = false});
  Tensor loss = pb.loss();
  EXPECT_TRUE(scaler.scale(loss).is_same(loss));
  EXPECT_EQ(scaler.get_scale(), 1.0);
  loss.backward();
  ref.loss().backward();
  EXPECT_TRUE(scaler.step(opt));
  scaler.update();
  opt_ref.step();
  expect_params_equal(pb.ps, ref.ps);
  EXPECT_TRUE(scaler.state_dict().empty());
}

TEST(GradScaler, StateDictRoundTrip) {
  Problem pb(9);
  optim::SGD opt(pb.ps, {.lr = 1e-3});
  GradScaler a({.init_scale = 16.0, .growth_interval = 5});
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    a.scale(pb.loss()).backward();
    a.step(opt);
    a.update();
  }
  StateDict sd = a.state_dict();
  EXPECT_EQ(sd.at("scale").item<double>(), 16.0);
  EXPECT_EQ(sd.at("_growth_tracker").item<int64_t>(), 3);
  GradScaler b;
  b.load_state_dict(sd);
  EXPECT_EQ(b.get_scale(), 16.0);
  EXPECT_EQ(b.growth_tracker(), 3);
  // Two more good steps grow both the same way.
  for (GradScaler* s : {&a, &b})
    for (int i = 0; i < 2; ++i) {
      opt.zero_grad();
      s->scale(pb.loss()).backward();
      s->step(opt);
      s->update();
    }
  EXPECT_EQ(a.get_scale(), 32.0);
  EXPECT_EQ(b.get_scale(), 32.0);

  StateDict bad = sd;
  bad.insert("_growth_tracker", scalar_tensor(int64_t{7}, TensorOptions(kInt64)));  // >= growth_interval 5
  EXPECT_THROW(b.load_state_dict(bad), Error);
  EXPECT_THROW(b.load_state_dict(StateDict{}), Error);
  EXPECT_EQ(b.get_scale(), 32.0);  // unchanged by the failed loads
}
