// optim::AdamW matches torch.optim.AdamW step by step (tests/fixtures/gen_optim.py).
#include "optim_test_util.h"

using namespace wick;
using namespace wick::test;
using optim::AdamW;
using optim::AdamWOptions;

namespace {

MakeOptimizer adamw(AdamWOptions o) {
  return [o](std::vector<Tensor> ps) { return std::make_unique<AdamW>(std::move(ps), o); };
}

void expect_matches(const MakeOptimizer& make, const std::string& name) {
  EXPECT_TRUE(all_close(trajectory(make), fixture("optim/" + name + "_traj"), 1e-13, 1e-12)) << name;
}

}  // namespace

TEST(AdamW, DefaultsAreTorchs) {
  AdamW opt(initial_params(), {});
  EXPECT_EQ(opt.name(), "AdamW");
  const optim::HyperParams& d = opt.defaults();
  EXPECT_EQ(d.at("lr"), 1e-3);
  EXPECT_EQ(d.at("beta1"), 0.9);
  EXPECT_EQ(d.at("beta2"), 0.999);
  EXPECT_EQ(d.at("eps"), 1e-8);
  EXPECT_EQ(d.at("weight_decay"), 1e-2);
  EXPECT_EQ(d.at("amsgrad"), 0.0);
}

TEST(AdamW, MatchesPyTorchStepByStep) {
  expect_matches(adamw({}), "adamw_default");
  expect_matches(adamw({.lr = 0.05, .beta1 = 0.85, .beta2 = 0.98, .eps = 1e-7, .weight_decay = 0.3}),
                 "adamw_custom");
  expect_matches(adamw({.lr = 0.05, .weight_decay = 0.1, .amsgrad = true}), "adamw_amsgrad");
}

TEST(AdamW, ParamGroupsMatchPyTorch) {
  expect_matches(
      [](std::vector<Tensor> ps) {
        return std::make_unique<AdamW>(two_groups(ps, {{"weight_decay", 0.0}}, {{"lr", 0.1}, {"weight_decay", 0.5}}),
                                       AdamWOptions{.lr = 0.02});
      },
      "adamw_groups");
}

TEST(AdamW, Float32MatchesPyTorch) {
  const AdamWOptions o{.lr = 0.05, .beta1 = 0.85, .beta2 = 0.98, .eps = 1e-7, .weight_decay = 0.3};
  Tensor traj = trajectory(adamw(o), kFloat32);
  EXPECT_EQ(traj.dtype(), kFloat32);
  EXPECT_TRUE(all_close(traj, fixture("optim/adamw_custom_f32_traj"), 1e-6, 1e-5));
}

TEST(AdamW, DecayIsDecoupledFromTheMoments) {
  // With a zero gradient, Adam's L2 decay feeds the moments (and moves the
  // weight by about lr), while AdamW only shrinks the weight by lr * wd.
  Tensor a = full({3}, 2.0, kFloat64).requires_grad_(), b = full({3}, 2.0, kFloat64).requires_grad_();
  optim::Adam adam({a}, {.lr = 0.1, .weight_decay = 0.5});
  AdamW adamw({b}, {.lr = 0.1, .weight_decay = 0.5});
  a.set_grad(zeros({3}, kFloat64));
  b.set_grad(zeros({3}, kFloat64));
  adam.step();
  adamw.step();
  EXPECT_TRUE(all_close(b, full({3}, 2.0 * (1 - 0.1 * 0.5), kFloat64), 0, 1e-15));
  EXPECT_TRUE(all_close(a, full({3}, 2.0 - 0.1, kFloat64), 0, 1e-7));
  EXPECT_TRUE(all_equal(adamw.state(b).at("exp_avg"), zeros({3}, kFloat64)));
}

TEST(AdamW, RejectsBadInput) {
  Tensor w = zeros({2}).requires_grad_();
  EXPECT_WICK_ERROR(AdamW({w}, {.lr = -1}), "AdamW: invalid learning rate");
  EXPECT_WICK_ERROR(AdamW({w}, {.beta2 = -0.5}), "betas");
  EXPECT_WICK_ERROR(AdamW({w}, {.weight_decay = -1}), "invalid weight_decay");
}
