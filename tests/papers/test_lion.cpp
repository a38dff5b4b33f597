// paper_lion: the mechanics the verdicts rest on.
//  - optim::Lion with weight decay 0 moves every weight by exactly lr (the
//    sign update), through both its fused multi-tensor kernel and its
//    per-parameter composed path, and with decay shrinks first by 1 - lr wd;
//  - it keeps one state tensor (the momentum, the parameter's shape) per
//    parameter, and state_footprint counts half of AdamW's bytes;
//  - the grids and arm names of the design;
//  - the gloss corpus is split by synset into disjoint byte streams;
//  - the --quick executable writes result.json with every arm and claim.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "optim/lion.h"
#include "papers/lion/lion.h"
#include "support/test_util.h"
#include "wick.h"

using namespace wick;
using namespace wick::papers::lion;

namespace {

// Three parameters of different shapes (one 0-d) in float32 and float64.
std::vector<Tensor> make_params(DType dtype, uint64_t seed) {
  Generator gen(seed);
  std::vector<Tensor> ps;
  for (const Shape& s : {Shape{5, 7}, Shape{13}, Shape{}}) {
    Tensor p = randn(s, dtype, &gen);
    p.requires_grad_();
    ps.push_back(p);
  }
  return ps;
}

// Gives every parameter a random gradient (nonzero almost surely).
void random_grads(const std::vector<Tensor>& ps, Generator& gen) {
  for (const Tensor& p : ps) p.set_grad(randn(p.shape(), p.dtype(), &gen));
}

// Runs `steps` Lion steps with weight decay wd and checks each step's change
// against the rule: |dtheta| = lr exactly when wd = 0, and
// theta' = theta (1 - lr wd) -/+ lr otherwise.
void check_exact_steps(bool fused, DType dtype, double wd) {
  const double lr = 3e-3;
  std::vector<Tensor> ps = make_params(dtype, 1);
  optim::Lion opt(ps, optim::LionOptions{.lr = lr, .beta1 = 0.9, .beta2 = 0.99, .weight_decay = wd});
  opt.set_fused(fused);
  Generator gen(7);
  for (int step = 0; step < 5; ++step) {
    std::vector<std::vector<double>> before;
    for (const Tensor& p : ps) before.push_back(p.detach().clone().to(kFloat64).reshape({-1}).tolist<double>());
    random_grads(ps, gen);
    opt.step();
    for (size_t i = 0; i < ps.size(); ++i) {
      const std::vector<double> after = ps[i].detach().to(kFloat64).reshape({-1}).tolist<double>();
      ASSERT_EQ(after.size(), before[i].size());
      for (size_t k = 0; k < after.size(); ++k) {
        // The decayed weight, computed in the parameter's own precision as the optimizer does.
        const double decayed = dtype == kFloat32 ? static_cast<double>(static_cast<float>(before[i][k]) *
                                                                       static_cast<float>(1 - lr * wd))
                                                 : before[i][k] * (1 - lr * wd);
        const double moved = std::abs(after[k] - decayed);
        // float32: the subtraction of lr rounds to the weight's ulp.
        const double tol = dtype == kFloat32 ? 4 * std::abs(after[k]) * 1.2e-7 + 1e-9 : 1e-15;
        EXPECT_NEAR(moved, lr, tol) << "fused " << fused << " step " << step << " param " << i << " elem " << k;
      }
    }
  }
}

}  // namespace

TEST(LionUpdate, EveryWeightMovesByExactlyLrWithoutDecayFused) {
  check_exact_steps(true, kFloat64, 0.0);
  check_exact_steps(true, kFloat32, 0.0);
}

TEST(LionUpdate, EveryWeightMovesByExactlyLrWithoutDecayPerParameter) {
  check_exact_steps(false, kFloat64, 0.0);
  check_exact_steps(false, kFloat32, 0.0);
}

TEST(LionUpdate, DecoupledDecayShrinksByOneMinusLrWdBeforeTheSignStep) {
  check_exact_steps(true, kFloat64, 0.5);
  check_exact_steps(false, kFloat64, 0.5);
}

TEST(LionUpdate, FusedAndPerParameterPathsAgreeBitForBit) {
  std::vector<Tensor> a = make_params(kFloat32, 3), b = make_params(kFloat32, 3);
  optim::Lion fa(a, {.lr = 1e-3, .weight_decay = 0.1}), fb(b, {.lr = 1e-3, .weight_decay = 0.1});
  fb.set_fused(false);
  Generator ga(5), gb(5);
  for (int step = 0; step < 4; ++step) {
    random_grads(a, ga);
    random_grads(b, gb);
    fa.step();
    fb.step();
  }
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(test::all_equal(a[i].detach(), b[i].detach())) << i;
}

TEST(LionState, OneStateTensorPerParameterOnBothPaths) {
  for (bool fused : {true, false}) {
    std::vector<Tensor> ps = make_params(kFloat32, 2);
    auto opt = make_optimizer({OptimKind::Lion, 1e-4, 0.1}, ps);
    opt->set_fused(fused);
    Generator gen(9);
    random_grads(ps, gen);
    opt->step();
    for (const Tensor& p : ps) {
      const StateDict st = opt->state(p);
      ASSERT_EQ(st.size(), 1u) << "fused " << fused;
      const Tensor* m = st.find("exp_avg");
      ASSERT_NE(m, nullptr);
      EXPECT_EQ(m->shape(), p.shape());
      EXPECT_EQ(m->dtype(), p.dtype());
    }
    const StateFootprint f = state_footprint(*opt, ps);
    EXPECT_EQ(f.min_tensors, 1);
    EXPECT_EQ(f.max_tensors, 1);
    EXPECT_EQ(f.min_moments, 1);
    EXPECT_EQ(f.max_moments, 1);
    EXPECT_EQ(f.params_with_state, 3);
    EXPECT_EQ(f.state_bytes, f.param_bytes);  // m has the parameters' size
  }
}

TEST(LionState, AdamWKeepsTwoMomentsAndAStepSoTwiceLionPlusCounters) {
  std::vector<Tensor> ps = make_params(kFloat32, 2);
  auto opt = make_optimizer({OptimKind::AdamW, 1e-3, 0.01}, ps);
  Generator gen(9);
  random_grads(ps, gen);
  opt->step();
  const StateFootprint f = state_footprint(*opt, ps);
  EXPECT_EQ(f.min_tensors, 3);  // step, exp_avg, exp_avg_sq
  EXPECT_EQ(f.max_tensors, 3);
  EXPECT_EQ(f.min_moments, 2);
  EXPECT_EQ(f.state_bytes, 2 * f.param_bytes + 3 * 8);  // + one int64 step per parameter
}

TEST(LionState, FootprintBeforeAnyStepIsEmpty) {
  std::vector<Tensor> ps = make_params(kFloat32, 2);
  auto opt = make_optimizer({OptimKind::Lion, 1e-4, 0.0}, ps);
  const StateFootprint f = state_footprint(*opt, ps);
  EXPECT_EQ(f.state_bytes, 0);
  EXPECT_EQ(f.min_tensors, 0);
  EXPECT_EQ(f.params_with_state, 0);
}

TEST(LionGrid, DesignGridsAndLabels) {
  const std::vector<OptimArm> a = lr_grid(OptimKind::AdamW, 0.05), l = lr_grid(OptimKind::Lion, 0.05);
  ASSERT_EQ(a.size(), 5u);
  ASSERT_EQ(l.size(), 5u);
  const double adamw_lr[] = {3e-4, 1e-3, 3e-3, 1e-2, 3e-2}, lion_lr[] = {1e-4, 3e-4, 1e-3, 3e-3, 1e-2};
  for (int i = 0; i < 5; ++i) {
    EXPECT_DOUBLE_EQ(a[i].lr, adamw_lr[i]);
    EXPECT_DOUBLE_EQ(l[i].lr, lion_lr[i]);
    EXPECT_DOUBLE_EQ(a[i].weight_decay, 0.05);
    EXPECT_DOUBLE_EQ(l[i].weight_decay, 0.5);  // 10x AdamW's
  }
  EXPECT_EQ(a[2].label(), "adamw_lr3e-03");
  EXPECT_EQ(l[0].label(), "lion_lr1e-04");
  EXPECT_THROW(lr_grid(OptimKind::Lion, -1.0), Error);
  EXPECT_THROW(make_optimizer({OptimKind::Lion, -1e-4, 0.0}, make_params(kFloat32, 0)), Error);
}

TEST(LionCorpus, GlossesSplitBySynsetIntoDisjointStreams) {
  const ByteCorpus a = gloss_corpus(0.1, 0, 20000, 5000), b = gloss_corpus(0.1, 0, 20000, 5000);
  ASSERT_GT(a.train.numel(), 20000);  // capped at the first gloss past the cap
  ASSERT_GT(a.val.numel(), 5000);
  EXPECT_TRUE(test::all_equal(a.train, b.train));  // deterministic in the split seed
  const std::vector<int64_t> t = a.train.tolist<int64_t>(), v = a.val.tolist<int64_t>();
  EXPECT_EQ(t.back(), '\n');
  EXPECT_EQ(v.back(), '\n');
  for (int64_t c : t) ASSERT_TRUE(c >= 0 && c < 256);
  // Whole glosses: no validation gloss (line) appears in the training stream.
  const std::string ts(t.begin(), t.end()), vs(v.begin(), v.end());
  const std::string first_val = vs.substr(0, vs.find('\n') + 1);
  EXPECT_EQ(ts.find("\n" + first_val), std::string::npos);
  EXPECT_THROW(gloss_corpus(0.0), Error);
}

// --quick end to end: result.json with every arm of both grids on both image
// models and the LM, the optimizer memory, and the five claims.
TEST(LionPaper, QuickRunWritesResultWithArmsAndClaims) {
  const std::filesystem::path out = std::filesystem::temp_directory_path() / "wick_test_lion_quick";
  std::filesystem::remove_all(out);
  const std::string cmd = std::string(PAPER_EXE_DIR) + "/paper_lion --quick --no-progress --out " + out.string() +
                          " > " + (out.string() + ".log") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "see " << out.string() << ".log";
  std::ifstream in(out / "result.json");
  ASSERT_TRUE(in.good());
  const nlohmann::json r = nlohmann::json::parse(in);
  EXPECT_EQ(r["paper"], "lion");
  EXPECT_EQ(r["mode"], "quick");
  for (const char* model : {"cnn", "vit"})
    for (const char* arm : {"adamw_lr1e-03", "adamw_lr3e-03", "adamw_lr1e-02", "adamw_lr3e-02", "lion_lr1e-04",
                            "lion_lr3e-04", "lion_lr1e-03", "lion_lr3e-03"}) {
      const std::string name = std::string(model) + "/" + arm;
      ASSERT_TRUE(r["metrics"].contains(name)) << name;
      for (const char* m : {"val_acc", "test_acc", "optimizer_state_bytes"})
        EXPECT_TRUE(r["metrics"][name].contains(m)) << name << " " << m;
      const double acc = r["metrics"][name]["test_acc"][0].get<double>();
      EXPECT_TRUE(acc >= 0 && acc <= 100) << name;
      const std::string lm = std::string("lm/") + arm;
      ASSERT_TRUE(r["metrics"].contains(lm)) << lm;
      const double loss = r["metrics"][lm]["best_val_loss"][0].get<double>();
      EXPECT_TRUE(loss > 0 && loss < 10) << lm;  // ln 256 = 5.55 at init
    }
  // Lion's state is the momentum only: the parameters' bytes, half of AdamW's moments.
  const double lion_state = r["metrics"]["cnn/lion_lr1e-04"]["optimizer_state_bytes"][0].get<double>();
  const double lion_params = r["metrics"]["cnn/lion_lr1e-04"]["param_bytes"][0].get<double>();
  const double adamw_state = r["metrics"]["cnn/adamw_lr1e-03"]["optimizer_state_bytes"][0].get<double>();
  EXPECT_EQ(lion_state, lion_params);
  EXPECT_GT(adamw_state, 2 * lion_params);
  ASSERT_EQ(r["claims"].size(), 5u);
  for (const auto& c : r["claims"]) EXPECT_TRUE(c["verdict"] == "pass" || c["verdict"] == "fail");
  EXPECT_EQ(r["claims"][3]["verdict"], "pass");  // one state tensor per parameter
  EXPECT_EQ(r["claims"][4]["verdict"], "pass");  // half the memory
  EXPECT_GE(r["plots"].size(), 6u);
  for (const char* key : {"cnn_AdamW_selected_at_grid_edge", "vit_Lion_selected_at_grid_edge",
                          "lm_Lion_selected_at_grid_edge"}) {
    ASSERT_TRUE(r["config"].contains(key)) << key;
    const std::string edge = r["config"][key].get<std::string>();
    EXPECT_TRUE(edge == "top" || edge == "bottom" || edge == "none") << key << " = " << edge;
  }
}
