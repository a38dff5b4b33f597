// optim::Lion follows the published rule (Chen et al., 2023, Algorithm 2),
// computed here by a plain float64 loop, and keeps one state tensor per
// parameter.
#include <cmath>

#include "optim_test_util.h"

using namespace wick;
using namespace wick::test;
using optim::Lion;
using optim::LionOptions;

namespace {

struct Hyper {
  double lr, beta1, beta2, wd;
};

// The paper's update, element by element:
//   c = b1 m + (1 - b1) g;  p -= lr (sign(c) + wd p);  m = b2 m + (1 - b2) g.
Tensor reference(const std::vector<Hyper>& hyper_of_param) {
  std::vector<std::vector<double>> p(kNumParams), m(kNumParams);
  for (int i = 0; i < kNumParams; ++i) {
    p[i] = fixture("optim/p" + std::to_string(i) + "_init").reshape({-1}).tolist<double>();
    m[i].assign(p[i].size(), 0.0);
  }
  std::vector<Tensor> rows;
  for (int t = 0; t < kSteps; ++t) {
    std::vector<double> row;
    for (int i = 0; i < kNumParams; ++i) {
      Tensor g_t = fixture_grad(i, t, kFloat64);
      const Hyper& h = hyper_of_param[i];
      if (g_t.defined()) {
        const std::vector<double> g = g_t.reshape({-1}).tolist<double>();
        for (size_t k = 0; k < g.size(); ++k) {
          const double c = h.beta1 * m[i][k] + (1 - h.beta1) * g[k];
          const double sign = c > 0 ? 1.0 : c < 0 ? -1.0 : 0.0;
          p[i][k] -= h.lr * (sign + h.wd * p[i][k]);
          m[i][k] = h.beta2 * m[i][k] + (1 - h.beta2) * g[k];
        }
      }
      row.insert(row.end(), p[i].begin(), p[i].end());
    }
    rows.push_back(from_vector(row, Shape{static_cast<int64_t>(row.size())}, kFloat64));
  }
  return stack(rows);
}

}  // namespace

TEST(Lion, FollowsThePublishedRule) {
  const LionOptions o{.lr = 0.01, .beta1 = 0.9, .beta2 = 0.99, .weight_decay = 0.5};
  Tensor got = trajectory([&](std::vector<Tensor> ps) { return std::make_unique<Lion>(std::move(ps), o); });
  const Hyper h{0.01, 0.9, 0.99, 0.5};
  EXPECT_TRUE(all_close(got, reference({h, h, h}), 1e-14, 1e-13));
}

TEST(Lion, ParamGroupsFollowThePublishedRule) {
  Tensor got = trajectory([](std::vector<Tensor> ps) {
    return std::make_unique<Lion>(two_groups(ps, {{"beta1", 0.5}}, {{"lr", 0.003}, {"weight_decay", 1.0}}),
                                  LionOptions{.lr = 0.02});
  });
  const Hyper g0{0.02, 0.5, 0.99, 0.0}, g1{0.003, 0.9, 0.99, 1.0};
  EXPECT_TRUE(all_close(got, reference({g0, g0, g1}), 1e-14, 1e-13));
}

TEST(Lion, EveryCoordinateMovesByLr) {
  // Without decay, |p_t - p_{t-1}| = lr wherever the interpolation is non-zero.
  Tensor p = fixture("optim/p0_init").clone().requires_grad_();
  Lion opt({p}, {.lr = 0.25});
  Tensor before = p.detach().clone();
  p.set_grad(fixture_grad(0, 0, kFloat64));
  opt.step();
  EXPECT_TRUE(all_close(abs(p.detach() - before), full(p.sizes(), 0.25, kFloat64), 1e-15, 0));
}

TEST(Lion, KeepsOneStateTensorPerParameter) {
  std::vector<Tensor> ps = initial_params();
  Lion opt(two_groups(ps, {}, {{"lr", 1e-3}}), {});
  EXPECT_EQ(opt.defaults().at("lr"), 1e-4);
  EXPECT_EQ(opt.defaults().at("beta1"), 0.9);
  EXPECT_EQ(opt.defaults().at("beta2"), 0.99);
  EXPECT_EQ(opt.defaults().at("weight_decay"), 0.0);
  for (int t = 0; t < 2; ++t) {
    for (int i = 0; i < kNumParams; ++i) ps[i].set_grad(fixture_grad(i, t, kFloat64));
    opt.step();
  }
  std::vector<std::string> state_keys;
  for (const std::string& k : opt.state_dict().keys())
    if (k.rfind("state.", 0) == 0) state_keys.push_back(k);
  EXPECT_EQ(state_keys, (std::vector<std::string>{"state.0.exp_avg", "state.1.exp_avg", "state.2.exp_avg"}));
  for (int i = 0; i < kNumParams; ++i) {
    StateDict st = opt.state(ps[i]);
    ASSERT_EQ(st.size(), 1u);
    EXPECT_EQ(st.at("exp_avg").sizes(), ps[i].sizes());
  }
}

TEST(Lion, RejectsBadInput) {
  Tensor w = zeros({2}).requires_grad_();
  EXPECT_WICK_ERROR(Lion({w}, {.lr = -1}), "Lion: invalid learning rate");
  EXPECT_WICK_ERROR(Lion({w}, {.beta1 = 1.5}), "betas");
  EXPECT_WICK_ERROR(Lion({w}, {.weight_decay = -1}), "invalid weight_decay");
  EXPECT_WICK_ERROR(Lion(std::vector<optim::ParamGroup>{optim::ParamGroup({w}, {{"eps", 1e-8}})}, {}),
                    "unknown option 'eps'");
}
