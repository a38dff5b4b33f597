// LR schedulers: StepLR, CosineAnnealingLR and OneCycleLR against the lr (and
// momentum) sequences of torch.optim.lr_scheduler (tests/fixtures/gen_optim.py);
// LinearWarmupCosine against its closed form.
#include <cmath>
#include <numbers>

#include "optim_test_util.h"

using namespace wick;
using namespace wick::test;
using namespace wick::optim;

namespace {

// Two groups (lr 0.1 and 0.02) of one parameter each, as in the fixtures.
struct TwoGroupSGD {
  Tensor a = zeros({1}).requires_grad_(), b = zeros({1}).requires_grad_();
  SGD opt{std::vector<ParamGroup>{ParamGroup({a}, {{"lr", 0.1}}), ParamGroup({b}, {{"lr", 0.02}})},
          SGDOptions{.lr = 0.1, .momentum = 0.9}};
};

// Row t: the option of each group after t scheduler steps.
Tensor run(LRScheduler& sched, int steps, const std::string& option = "lr") {
  std::vector<Tensor> rows;
  auto record = [&] {
    std::vector<double> row;
    for (const ParamGroup& g : sched.optimizer().param_groups()) row.push_back(g.get(option));
    rows.push_back(from_vector(row, Shape{static_cast<int64_t>(row.size())}, kFloat64));
    if (option == "lr") EXPECT_EQ(sched.get_last_lr(), row);
  };
  record();
  for (int t = 0; t < steps; ++t) {
    sched.optimizer().step();
    sched.step();
    record();
  }
  return stack(rows);
}

}  // namespace

TEST(Scheduler, StepLRMatchesPyTorch) {
  TwoGroupSGD s;
  StepLR sched(s.opt, 3, 0.5);
  EXPECT_TRUE(all_close(run(sched, 12), fixture("optim/sched_step_lr"), 1e-15, 1e-13));
  EXPECT_EQ(sched.last_epoch(), 12);
  EXPECT_EQ(sched.base_lrs(), (std::vector<double>{0.1, 0.02}));
}

TEST(Scheduler, CosineAnnealingLRMatchesPyTorch) {
  TwoGroupSGD s;
  CosineAnnealingLR sched(s.opt, 10, 0.001);
  EXPECT_TRUE(all_close(run(sched, 25), fixture("optim/sched_cosine_lr"), 1e-15, 1e-12));
}

TEST(Scheduler, OneCycleLRMatchesPyTorch) {
  TwoGroupSGD s;
  OneCycleLR sched(s.opt, {0.1, 0.05}, 20);
  EXPECT_TRUE(all_close(run(sched, 20), fixture("optim/sched_onecycle_lr"), 1e-15, 1e-12));
  TwoGroupSGD s2;
  OneCycleLR sched2(s2.opt, {0.1, 0.05}, 20);
  EXPECT_TRUE(all_close(run(sched2, 20, "momentum"), fixture("optim/sched_onecycle_momentum"), 1e-15, 1e-12));
  EXPECT_WICK_ERROR(sched.step(), "total_steps = 20");
  EXPECT_EQ(sched.last_epoch(), 20);  // the failed step changed nothing
}

TEST(Scheduler, OneCycleLRThreePhaseLinearCyclesAdamBeta1) {
  auto make = [](Tensor& a, Tensor& b) {
    return std::make_unique<Adam>(std::vector<ParamGroup>{ParamGroup({a}, {{"lr", 0.1}}), ParamGroup({b}, {{"lr", 0.02}})},
                                  AdamOptions{.lr = 0.1});
  };
  const OneCycleOptions o{.pct_start = 0.25, .anneal_strategy = "linear", .base_momentum = 0.8, .max_momentum = 0.9,
                          .div_factor = 10, .final_div_factor = 100, .three_phase = true};
  for (const std::string option : {"lr", "beta1"}) {
    Tensor a = zeros({1}).requires_grad_(), b = zeros({1}).requires_grad_();
    auto opt = make(a, b);
    OneCycleLR sched(*opt, 0.3, 17, o);
    const std::string name = option == "lr" ? "optim/sched_onecycle3_lr" : "optim/sched_onecycle3_beta1";
    EXPECT_TRUE(all_close(run(sched, 17, option), fixture(name), 1e-15, 1e-12)) << option;
  }
}

TEST(Scheduler, LinearWarmupCosineClosedForm) {
  TwoGroupSGD s;
  const int64_t W = 4, T = 12;
  const double f = 0.1, eta_min = 1e-4;
  LinearWarmupCosine sched(s.opt, W, T, f, eta_min);
  Tensor got = run(sched, 15);
  const double base[2] = {0.1, 0.02};
  for (int64_t t = 0; t <= 15; ++t)
    for (int g = 0; g < 2; ++g) {
      double want;
      if (t < W)
        want = base[g] * (f + (1 - f) * static_cast<double>(t) / W);
      else if (t <= T)
        want = eta_min + (base[g] - eta_min) * 0.5 * (1 + std::cos(std::numbers::pi * (t - W) / (T - W)));
      else
        want = eta_min;
      EXPECT_NEAR(got[t][g].item(), want, 1e-15) << "t " << t << " group " << g;
    }
  // The ends of the phases: f * base at 0, base at W, eta_min at T and after.
  EXPECT_NEAR(got[0][0].item(), 0.01, 1e-17);
  EXPECT_DOUBLE_EQ(got[W][0].item(), 0.1);
  EXPECT_DOUBLE_EQ(got[T][1].item(), eta_min);
  EXPECT_DOUBLE_EQ(got[15][1].item(), eta_min);
}

TEST(Scheduler, LinearWarmupCosineWithoutWarmupIsCosine) {
  TwoGroupSGD s1, s2;
  LinearWarmupCosine a(s1.opt, 0, 10, 0.0, 0.001);
  CosineAnnealingLR b(s2.opt, 10, 0.001);
  EXPECT_TRUE(all_close(run(a, 10), run(b, 10), 0, 1e-15));
}

TEST(Scheduler, StateDictRoundTrip) {
  TwoGroupSGD s1, s2;
  OneCycleLR a(s1.opt, {0.1, 0.05}, 20);
  for (int i = 0; i < 7; ++i) a.step();
  StateDict sd = a.state_dict();
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"last_epoch", "base_lrs"}));
  EXPECT_EQ(sd.at("last_epoch").item<int64_t>(), 7);
  OneCycleLR b(s2.opt, {0.1, 0.05}, 20);
  b.load_state_dict(sd);
  EXPECT_EQ(b.last_epoch(), 7);
  EXPECT_EQ(b.get_last_lr(), a.get_last_lr());
  for (int g = 0; g < 2; ++g) {
    EXPECT_EQ(s2.opt.param_groups()[g].lr(), s1.opt.param_groups()[g].lr());
    EXPECT_EQ(s2.opt.param_groups()[g].get("momentum"), s1.opt.param_groups()[g].get("momentum"));
  }
  for (int i = 0; i < 13; ++i) {
    a.step();
    b.step();
    EXPECT_EQ(b.get_last_lr(), a.get_last_lr());
  }
}

TEST(Scheduler, LoadStateDictErrors) {
  TwoGroupSGD s;
  StepLR sched(s.opt, 2);
  sched.step();
  StateDict good = sched.state_dict();
  StateDict extra = good;
  extra.insert("gamma", scalar_tensor(0.5, kFloat64));
  EXPECT_WICK_ERROR(sched.load_state_dict(extra), "unexpected key 'gamma'");
  StateDict missing;
  missing.insert("last_epoch", good.at("last_epoch"));
  EXPECT_WICK_ERROR(sched.load_state_dict(missing), "missing key 'base_lrs'");
  StateDict wrong_groups = good;
  wrong_groups.insert("base_lrs", tensor({0.1}, {}, kFloat64));
  EXPECT_WICK_ERROR(sched.load_state_dict(wrong_groups), "1 base lr(s) but the optimizer has 2");
  StateDict wrong_dtype = good;
  wrong_dtype.insert("last_epoch", scalar_tensor(1.0, kFloat32));
  EXPECT_WICK_ERROR(sched.load_state_dict(wrong_dtype), "last_epoch must be a 0-d int64");
  EXPECT_EQ(sched.last_epoch(), 1);  // failed loads change nothing

  TwoGroupSGD s2;
  OneCycleLR one(s2.opt, 0.1, 10);
  StateDict past_end = one.state_dict();
  past_end.insert("last_epoch", scalar_tensor(int64_t{11}, kInt64));
  EXPECT_WICK_ERROR(one.load_state_dict(past_end), "total_steps = 10");
  EXPECT_EQ(one.last_epoch(), 0);
}

namespace {
// An optimizer with neither momentum nor beta1 (plain gradient descent),
// written against the public base class as a user would.
class PlainGD : public Optimizer {
 public:
  explicit PlainGD(std::vector<Tensor> params) : Optimizer("PlainGD", {{"lr", 0.1}}, {}) {
    add_param_groups({ParamGroup(std::move(params))});
  }

 protected:
  void check_group(const ParamGroup&, size_t) const override {}
  void update(Tensor& p, const Tensor& g, StateDict&, const ParamGroup& group) override { p.sub_(g, group.lr()); }
};
}  // namespace

TEST(Scheduler, RejectsBadConfigurations) {
  TwoGroupSGD s;
  EXPECT_WICK_ERROR(StepLR(s.opt, 0), "step_size must be positive");
  EXPECT_WICK_ERROR(CosineAnnealingLR(s.opt, 0), "T_max must be positive");
  EXPECT_WICK_ERROR(LinearWarmupCosine(s.opt, 11, 10), "warmup_steps <= total_steps");
  EXPECT_WICK_ERROR(LinearWarmupCosine(s.opt, 1, 10, 1.5), "warmup_start_factor");
  EXPECT_WICK_ERROR(OneCycleLR(s.opt, {0.1, 0.2, 0.3}, 10), "3 max_lr values for 2 param groups");
  EXPECT_WICK_ERROR(OneCycleLR(s.opt, 0.1, 10, {.anneal_strategy = "exp"}), "anneal_strategy");
  EXPECT_WICK_ERROR(OneCycleLR(s.opt, 0.1, 10, {.pct_start = 1.5}), "pct_start");
  Tensor w = zeros({1}).requires_grad_();
  PlainGD gd({w});
  EXPECT_WICK_ERROR(OneCycleLR(gd, 0.1, 10), "cycle_momentum");
  OneCycleLR ok(gd, 0.1, 10, {.cycle_momentum = false});
  EXPECT_DOUBLE_EQ(gd.param_groups()[0].lr(), 0.1 / 25);
  StepLR step(gd, 1);
  gd.add_param_group(ParamGroup({zeros({1}).requires_grad_()}));
  EXPECT_WICK_ERROR(step.step(), "had 1 when the scheduler was built");
}
