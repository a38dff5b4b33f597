// optim::SGD matches torch.optim.SGD step by step (tests/fixtures/gen_optim.py):
// plain, momentum, dampening + weight decay, Nesterov, maximize, two groups.
#include "optim_test_util.h"

using namespace wick;
using namespace wick::test;
using optim::SGD;
using optim::SGDOptions;

namespace {

MakeOptimizer sgd(SGDOptions o) {
  return [o](std::vector<Tensor> ps) { return std::make_unique<SGD>(std::move(ps), o); };
}

void expect_matches(const MakeOptimizer& make, const std::string& name) {
  EXPECT_TRUE(all_close(trajectory(make), fixture("optim/" + name + "_traj"), 1e-13, 1e-12)) << name;
}

}  // namespace

TEST(SGD, MatchesPyTorch) {
  expect_matches(sgd({.lr = 0.1}), "sgd_plain");
  expect_matches(sgd({.lr = 0.1, .momentum = 0.9}), "sgd_momentum");
  expect_matches(sgd({.lr = 0.05, .momentum = 0.8, .dampening = 0.3, .weight_decay = 0.01}), "sgd_dampening_wd");
  expect_matches(sgd({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.05, .nesterov = true}), "sgd_nesterov_wd");
  expect_matches(sgd({.lr = 0.1, .momentum = 0.5, .maximize = true}), "sgd_maximize");
}

TEST(SGD, ParamGroupsMatchPyTorch) {
  expect_matches(
      [](std::vector<Tensor> ps) {
        return std::make_unique<SGD>(
            two_groups(ps, {{"lr", 0.2}}, {{"lr", 0.02}, {"weight_decay", 0.1}, {"nesterov", 1}}),
            SGDOptions{.lr = 0.1, .momentum = 0.9});
      },
      "sgd_groups");
}

TEST(SGD, GroupsTakeDefaultsForOptionsTheyLeaveOut) {
  std::vector<Tensor> ps = initial_params();
  SGD opt(two_groups(ps, {{"lr", 0.2}}, {{"weight_decay", 0.1}}), {.lr = 0.1, .momentum = 0.9});
  ASSERT_EQ(opt.param_groups().size(), 2u);
  EXPECT_EQ(opt.param_groups()[0].lr(), 0.2);
  EXPECT_EQ(opt.param_groups()[0].get("weight_decay"), 0.0);
  EXPECT_EQ(opt.param_groups()[1].lr(), 0.1);
  EXPECT_EQ(opt.param_groups()[1].get("weight_decay"), 0.1);
  EXPECT_EQ(opt.param_groups()[1].get("momentum"), 0.9);
  opt.param_groups()[1].set_lr(0.5);
  EXPECT_EQ(opt.param_groups()[1].lr(), 0.5);
  EXPECT_WICK_ERROR(opt.param_groups()[1].set("lrr", 1), "no option 'lrr'");
}

TEST(SGD, MomentumBufferIsCreatedAtTheFirstStep) {
  std::vector<Tensor> ps = initial_params();
  SGD plain(std::vector<Tensor>{ps[0]}, {.lr = 0.1});
  SGD heavy(std::vector<Tensor>{ps[1]}, {.lr = 0.1, .momentum = 0.9});
  ps[0].set_grad(fixture_grad(0, 0, kFloat64));
  ps[1].set_grad(fixture_grad(1, 0, kFloat64));
  EXPECT_TRUE(heavy.state(ps[1]).empty());
  plain.step();
  heavy.step();
  EXPECT_TRUE(plain.state(ps[0]).empty());  // no momentum, no state
  StateDict st = heavy.state(ps[1]);
  ASSERT_EQ(st.keys(), std::vector<std::string>{"momentum_buffer"});
  EXPECT_TRUE(all_equal(st.at("momentum_buffer"), fixture_grad(1, 0, kFloat64)));  // b = g at the first step
}

TEST(SGD, AddParamGroupAndZeroGrad) {
  std::vector<Tensor> ps = initial_params();
  SGD opt(std::vector<Tensor>{ps[0]}, {.lr = 0.1});
  opt.add_param_group(optim::ParamGroup({ps[1], ps[2]}, {{"lr", 0.01}}));
  EXPECT_EQ(opt.param_groups()[1].lr(), 0.01);
  EXPECT_EQ(opt.param_groups()[1].get("momentum"), 0.0);
  for (int i = 0; i < 3; ++i) ps[i].set_grad(ones_like(ps[i]));
  opt.zero_grad(false);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(all_equal(ps[i].grad(), zeros_like(ps[i])));
  opt.zero_grad();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(ps[i].grad().defined());
  opt.step();  // no grads: nothing changes
  EXPECT_TRUE(all_equal(ps[0], fixture("optim/p0_init")));
}

TEST(SGD, TrainsAFloat32Regression) {
  // Least squares with momentum: the loss must fall by orders of magnitude.
  Generator gen(3);
  Tensor x = randn({64, 4}, {}, &gen), w_true = randn({4, 1}, {}, &gen);
  Tensor y = matmul(x, w_true);
  Tensor w = zeros({4, 1}).requires_grad_();
  SGD opt(std::vector<Tensor>{w}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  double first = 0, last = 0;
  for (int i = 0; i < 100; ++i) {
    Tensor loss = mean(square(matmul(x, w) - y));
    if (i == 0) first = loss.item();
    last = loss.item();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  EXPECT_LT(last, 1e-4 * first);
}

TEST(SGD, RejectsBadInput) {
  Tensor w = zeros({2}).requires_grad_();
  EXPECT_WICK_ERROR(SGD({w}, {.lr = -1}), "invalid learning rate");
  EXPECT_WICK_ERROR(SGD({w}, {.momentum = -0.1}), "invalid momentum");
  EXPECT_WICK_ERROR(SGD({w}, {.weight_decay = -0.1}), "invalid weight_decay");
  EXPECT_WICK_ERROR(SGD({w}, {.nesterov = true}), "nesterov");
  EXPECT_WICK_ERROR(SGD({w}, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}), "zero dampening");
  EXPECT_WICK_ERROR(SGD(std::vector<Tensor>{}, {}), "empty parameter list");
  EXPECT_WICK_ERROR(SGD(std::vector<optim::ParamGroup>{}, {}), "no parameter groups");
  EXPECT_WICK_ERROR(SGD({add(zeros({2}).requires_grad_(), 1.0)}, {}), "non-leaf");
  EXPECT_WICK_ERROR(SGD({mul(w, 2.0)}, {}), "leaf");
  EXPECT_WICK_ERROR(SGD({w, w}, {}), "more than one place");
  EXPECT_WICK_ERROR(SGD(std::vector<optim::ParamGroup>{optim::ParamGroup({w}, {{"betas", 0.9}})}, {}),
                    "unknown option 'betas'");
  SGD opt({w}, {});
  EXPECT_WICK_ERROR(opt.add_param_group(optim::ParamGroup({w})), "more than one place");
  EXPECT_WICK_ERROR(opt.add_param_group(optim::ParamGroup({zeros({1}).requires_grad_()}, {{"lr", -2}})),
                    "param group 1");
  EXPECT_EQ(opt.param_groups().size(), 1u);  // failed additions leave nothing behind
}
