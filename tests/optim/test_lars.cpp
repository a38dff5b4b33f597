// optim::LARS against a plain float64 loop of You et al.'s rule, with a
// group excluded from adaptation and decay (biases and norms in SimCLR/BYOL).
#include <cmath>

#include "optim_test_util.h"

using namespace wick;
using namespace wick::test;
using optim::LARS;
using optim::LARSOptions;

namespace {

struct Hyper {
  double lr, momentum, wd, eta;
  bool nesterov, exclude;
};

// trust = eta ||w|| / (||g|| + wd ||w||) (1 if a norm is 0); d = trust (g + wd w);
// v = m v + lr d;  w -= v  (nesterov: w -= m v + lr d). Excluded: d = g.
Tensor reference(const std::vector<Hyper>& hyper_of_param) {
  std::vector<std::vector<double>> p(kNumParams), v(kNumParams);
  for (int i = 0; i < kNumParams; ++i) {
    p[i] = fixture("optim/p" + std::to_string(i) + "_init").reshape({-1}).tolist<double>();
    v[i].assign(p[i].size(), 0.0);
  }
  std::vector<Tensor> rows;
  for (int t = 0; t < kSteps; ++t) {
    std::vector<double> row;
    for (int i = 0; i < kNumParams; ++i) {
      Tensor g_t = fixture_grad(i, t, kFloat64);
      const Hyper& h = hyper_of_param[i];
      if (g_t.defined()) {
        const std::vector<double> g = g_t.reshape({-1}).tolist<double>();
        double w_norm = 0, g_norm = 0;
        for (size_t k = 0; k < g.size(); ++k) {
          w_norm += p[i][k] * p[i][k];
          g_norm += g[k] * g[k];
        }
        w_norm = std::sqrt(w_norm);
        g_norm = std::sqrt(g_norm);
        const double trust = w_norm > 0 && g_norm > 0 ? h.eta * w_norm / (g_norm + h.wd * w_norm) : 1.0;
        for (size_t k = 0; k < g.size(); ++k) {
          const double d = h.exclude ? g[k] : trust * (g[k] + h.wd * p[i][k]);
          v[i][k] = h.momentum * v[i][k] + h.lr * d;
          p[i][k] -= h.nesterov ? h.momentum * v[i][k] + h.lr * d : v[i][k];
        }
      }
      row.insert(row.end(), p[i].begin(), p[i].end());
    }
    rows.push_back(from_vector(row, Shape{static_cast<int64_t>(row.size())}, kFloat64));
  }
  return stack(rows);
}

}  // namespace

TEST(LARS, MatchesTheReferenceLoop) {
  for (bool nesterov : {false, true}) {
    const LARSOptions o{.lr = 0.5, .momentum = 0.9, .weight_decay = 0.01, .eta = 0.02, .nesterov = nesterov};
    Tensor got = trajectory([&](std::vector<Tensor> ps) { return std::make_unique<LARS>(std::move(ps), o); });
    const Hyper h{0.5, 0.9, 0.01, 0.02, nesterov, false};
    EXPECT_TRUE(all_close(got, reference({h, h, h}), 1e-14, 1e-12)) << "nesterov " << nesterov;
  }
}

TEST(LARS, ExcludedGroupIsPlainMomentumSGD) {
  Tensor got = trajectory([](std::vector<Tensor> ps) {
    return std::make_unique<LARS>(two_groups(ps, {}, {{"exclude", 1}, {"lr", 0.05}}),
                                  LARSOptions{.lr = 1.0, .weight_decay = 1e-3});
  });
  const Hyper weights{1.0, 0.9, 1e-3, 1e-3, false, false}, biases{0.05, 0.9, 1e-3, 1e-3, false, true};
  EXPECT_TRUE(all_close(got, reference({weights, weights, biases}), 1e-14, 1e-12));
}

TEST(LARS, UpdateNormIsAFractionOfTheWeightNorm) {
  // First step, no momentum history and no decay: ||delta w|| = lr eta ||w||,
  // whatever the gradient's scale.
  for (double scale : {1e-3, 1.0, 1e3}) {
    Tensor w = fixture("optim/p0_init").clone().requires_grad_();
    LARS opt({w}, {.lr = 0.1, .eta = 0.01});
    Tensor before = w.detach().clone();
    w.set_grad(mul(fixture_grad(0, 0, kFloat64), scale));
    opt.step();
    EXPECT_NEAR(norm(w.detach() - before).item(), 0.1 * 0.01 * norm(before).item(), 1e-15) << scale;
  }
}

TEST(LARS, ZeroWeightsGetTrustOne) {
  Tensor w = zeros({4}, kFloat64).requires_grad_();
  LARS opt({w}, {.lr = 0.1, .momentum = 0.0, .eta = 0.01});
  w.set_grad(full({4}, 2.0, kFloat64));
  opt.step();
  EXPECT_TRUE(all_close(w, full({4}, -0.2, kFloat64), 1e-15, 0));
}

TEST(LARS, SplitByNdimPutsBiasesInTheExcludedGroup) {
  std::vector<Tensor> ps = initial_params();  // [3,4], [5], [2,3,2]
  std::vector<optim::ParamGroup> groups = optim::split_by_ndim(ps, {{"exclude", 1}});
  ASSERT_EQ(groups.size(), 2u);
  ASSERT_EQ(groups[0].params.size(), 2u);
  EXPECT_TRUE(groups[0].params[0].is_same(ps[0]));
  EXPECT_TRUE(groups[0].params[1].is_same(ps[2]));
  ASSERT_EQ(groups[1].params.size(), 1u);
  EXPECT_TRUE(groups[1].params[0].is_same(ps[1]));
  LARS opt(groups, {});
  EXPECT_EQ(opt.param_groups()[0].get("exclude"), 0.0);
  EXPECT_EQ(opt.param_groups()[1].get("exclude"), 1.0);
}

TEST(LARS, RejectsBadInput) {
  Tensor w = zeros({2}).requires_grad_();
  EXPECT_WICK_ERROR(LARS({w}, {.lr = -1}), "LARS: invalid learning rate");
  EXPECT_WICK_ERROR(LARS({w}, {.momentum = -1}), "invalid momentum");
  EXPECT_WICK_ERROR(LARS({w}, {.weight_decay = -1}), "invalid weight_decay");
  EXPECT_WICK_ERROR(LARS({w}, {.eta = 0}), "invalid eta");
}
