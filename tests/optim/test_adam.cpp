// optim::Adam matches torch.optim.Adam step by step (tests/fixtures/gen_optim.py).
#include "optim_test_util.h"

using namespace wick;
using namespace wick::test;
using optim::Adam;
using optim::AdamOptions;

namespace {

Tensor run_adam(const AdamOptions& o) {
  Tensor w = fixture("optim/adam_w0").requires_grad_();
  Tensor x = fixture("optim/adam_x"), y = fixture("optim/adam_y");
  Adam opt({w}, o);
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    Tensor d = matmul(x, w.t()) - y;
    mean(d * d).backward();
    opt.step();
  }
  return w;
}

MakeOptimizer adam(AdamOptions o) {
  return [o](std::vector<Tensor> ps) { return std::make_unique<Adam>(std::move(ps), o); };
}

void expect_matches(const MakeOptimizer& make, const std::string& name) {
  EXPECT_TRUE(all_close(trajectory(make), fixture("optim/" + name + "_traj"), 1e-13, 1e-12)) << name;
}

}  // namespace

TEST(Adam, MatchesPyTorchDefaults) {
  EXPECT_TRUE(all_close(run_adam({}), fixture("optim/adam_default_w3"), 1e-12, 1e-10));
}

TEST(Adam, MatchesPyTorchWithWeightDecay) {
  AdamOptions o;
  o.lr = 0.01;
  o.beta1 = 0.8;
  o.beta2 = 0.99;
  o.eps = 1e-6;
  o.weight_decay = 0.1;
  EXPECT_TRUE(all_close(run_adam(o), fixture("optim/adam_wd_w3"), 1e-12, 1e-10));
}

TEST(Adam, MatchesPyTorchStepByStep) {
  expect_matches(adam({}), "adam_default");
  expect_matches(adam({.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1}), "adam_wd");
  expect_matches(adam({.lr = 0.05, .amsgrad = true}), "adam_amsgrad");
  expect_matches(adam({.lr = 0.02, .maximize = true}), "adam_maximize");
}

TEST(Adam, ParamGroupsMatchPyTorch) {
  expect_matches(
      [](std::vector<Tensor> ps) {
        return std::make_unique<Adam>(
            two_groups(ps, {{"lr", 0.05}}, {{"lr", 0.001}, {"weight_decay", 0.2}, {"beta1", 0.5}, {"beta2", 0.9}}),
            AdamOptions{.lr = 0.01});
      },
      "adam_groups");
}

TEST(Adam, StateCountsStepsPerParameter) {
  // Parameter 2 has no gradient at step 2, so its step count falls behind.
  std::vector<Tensor> ps = initial_params();
  Adam opt(ps, {.amsgrad = true});
  for (int t = 0; t < kSteps; ++t) {
    for (int i = 0; i < kNumParams; ++i) ps[i].set_grad(fixture_grad(i, t, kFloat64));
    opt.step();
  }
  StateDict s0 = opt.state(ps[0]), s2 = opt.state(ps[2]);
  EXPECT_EQ(s0.keys(), (std::vector<std::string>{"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"}));
  EXPECT_EQ(s0.at("step").item<int64_t>(), kSteps);
  EXPECT_EQ(s2.at("step").item<int64_t>(), kSteps - 1);
  EXPECT_EQ(s0.at("step").dtype(), kInt64);
  EXPECT_EQ(s0.at("exp_avg").sizes(), ps[0].sizes());
}

TEST(Adam, RejectsBadInput) {
  Tensor w = zeros({2}).requires_grad_();
  AdamOptions o;
  o.lr = -1;
  EXPECT_WICK_ERROR(Adam({w}, o), "invalid learning rate");
  EXPECT_WICK_ERROR(Adam({add(w, 1.0)}, {}), "non-leaf");
  EXPECT_WICK_ERROR(Adam({w}, {.beta1 = 1.0}), "betas must be in [0, 1)");
  EXPECT_WICK_ERROR(Adam({w}, {.eps = -1}), "invalid eps");
  EXPECT_WICK_ERROR(Adam({w}, {.weight_decay = -1}), "invalid weight_decay");
  EXPECT_WICK_ERROR(Adam({zeros({2}, kInt64)}, {}), "must be floating point");
  EXPECT_WICK_ERROR(Adam(std::vector<optim::ParamGroup>{optim::ParamGroup({w}, {{"momentum", 0.9}})}, {}),
                    "unknown option 'momentum'");
}

TEST(Adam, FrozenParametersAreAcceptedAndSkipped) {
  // As in PyTorch: model->parameters() may hold frozen tensors (LoRA bases).
  Tensor w = ones({2}).requires_grad_();
  Tensor frozen = ones({2});
  Adam opt({w, frozen}, {.lr = 0.1});
  w.set_grad(ones({2}));
  opt.step();
  EXPECT_TRUE(all_equal(frozen, ones({2})));
  EXPECT_LT(w.tolist<float>()[0], 1.0f);
}
