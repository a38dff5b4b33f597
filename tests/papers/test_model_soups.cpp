// Model soups (papers/model-soups): state-dict averaging (weights, BatchNorm
// running statistics, num_batches_tracked), the greedy soup's selection rule
// with a stub evaluator, BatchNorm re-estimation, the logit ensemble, and a
// quick-mode run of the whole experiment writing result.json.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "papers/model-soups/experiment.h"
#include "papers/model-soups/soups.h"
#include "support/test_util.h"

namespace wick::papers::soups {
namespace {

using test::all_close;
using test::all_equal;

// A tiny SmallCnn (width 4) with random weights and non-trivial BN buffers.
std::shared_ptr<SmallCnn> tiny_model(uint64_t seed, int64_t batches_tracked) {
  manual_seed(seed);
  SmallCnnOptions o;
  o.width = 4;
  o.num_classes = 3;
  auto m = std::make_shared<SmallCnn>(o);
  NoGradGuard g;
  Generator gen(seed + 1000);
  for (auto& bn : {m->bn1, m->bn2, m->bn3, m->bn4}) {
    bn->running_mean.copy_(randn(bn->running_mean.sizes(), {}, &gen));
    bn->running_var.copy_(rand(bn->running_var.sizes(), {}, &gen) + 0.5);
    bn->num_batches_tracked.fill_(batches_tracked);
  }
  return m;
}

TEST(ModelSoups, UniformSoupIsTheMeanOfEveryEntry) {
  std::vector<StateDict> dicts;
  for (uint64_t s = 0; s < 3; ++s) dicts.push_back(tiny_model(s, 10 + static_cast<int64_t>(s))->state_dict());
  StateDict soup = uniform_soup(dicts, {0, 1, 2});
  ASSERT_EQ(soup.keys(), dicts[0].keys());
  int64_t floats = 0;
  for (const auto& [key, t] : soup) {
    EXPECT_EQ(t.dtype(), dicts[0].at(key).dtype()) << key;
    if (!t.is_floating_point()) continue;
    ++floats;
    Tensor expect = (dicts[0].at(key).to(kFloat64) + dicts[1].at(key).to(kFloat64) + dicts[2].at(key).to(kFloat64)) / 3.0;
    EXPECT_TRUE(all_close(t.to(kFloat64), expect, 1e-7, 1e-6)) << key;
  }
  // 4 convs (weight), 4 BN (weight, bias, running_mean, running_var), the head (weight, bias).
  EXPECT_EQ(floats, 4 + 4 * 4 + 2);
  // The soup loads into the model: it is a state of the same architecture.
  auto m = tiny_model(7, 0);
  m->load_state_dict(soup);
  EXPECT_TRUE(all_equal(m->head->weight.detach(), soup.at("head.weight")));
}

TEST(ModelSoups, SoupOfIdenticalModelsIsThatModelBitForBit) {
  StateDict sd = tiny_model(3, 5)->state_dict();
  StateDict soup = average_state_dicts({sd, sd, sd, sd, sd});
  for (const auto& [key, t] : sd) EXPECT_TRUE(all_equal(soup.at(key), t)) << key;
}

TEST(ModelSoups, BatchNormStatisticsAndCounter) {
  StateDict a = tiny_model(0, 3)->state_dict(), b = tiny_model(1, 6)->state_dict();
  StateDict soup = average_state_dicts({a, b});
  // Running statistics are averaged like weights...
  for (const std::string key : {"bn2.running_mean", "bn2.running_var"})
    EXPECT_TRUE(all_close(soup.at(key), (a.at(key) + b.at(key)) * 0.5)) << key;
  // ...and the counter stays an int64 counter: round(4.5) = 4 (ties to even), round(mean(3, 6, 6)) = 5.
  EXPECT_EQ(soup.at("bn1.num_batches_tracked").dtype(), kInt64);
  EXPECT_EQ(soup.at("bn1.num_batches_tracked").item<int64_t>(), 4);
  StateDict c = tiny_model(2, 6)->state_dict();
  EXPECT_EQ(average_state_dicts({a, b, c}).at("bn3.num_batches_tracked").item<int64_t>(), 5);
  // Weighted: 3:1 -> 0.75 a + 0.25 b; the counter 0.75*3 + 0.25*6 = 3.75 -> 4.
  StateDict w = average_state_dicts({a, b}, {3.0, 1.0});
  EXPECT_TRUE(all_close(w.at("bn4.running_var"), a.at("bn4.running_var") * 0.75 + b.at("bn4.running_var") * 0.25));
  EXPECT_EQ(w.at("bn4.num_batches_tracked").item<int64_t>(), 4);
}

TEST(ModelSoups, AveragingRejectsMismatchedDicts) {
  StateDict a = tiny_model(0, 1)->state_dict();
  StateDict missing;
  for (const auto& [key, t] : a)
    if (key != "conv3.weight") missing.insert(key, t);
  missing.insert("extra", a.at("conv3.weight"));
  EXPECT_WICK_ERROR(average_state_dicts({a, missing}), "no entry 'conv3.weight'");
  StateDict shape = a;
  shape.insert("head.bias", zeros({5}));
  EXPECT_WICK_ERROR(average_state_dicts({a, shape}), "'head.bias' has shape");
  EXPECT_WICK_ERROR(average_state_dicts({a, a}, {1.0}), "1 weights for 2 state dicts");
  EXPECT_WICK_ERROR(average_state_dicts({a, a}, {1.0, -1.0}), "negative");
  EXPECT_WICK_ERROR(average_state_dicts({}), "no state dicts");
  EXPECT_WICK_ERROR(uniform_soup({a}, {1}), "out of range");
}

// Ingredient i = one-hot e_i, so a soup's members are its non-zero entries and
// its values must be exactly 1/|members|.
std::vector<StateDict> one_hot_ingredients(int64_t n) {
  std::vector<StateDict> dicts;
  for (int64_t i = 0; i < n; ++i) {
    StateDict sd;
    Tensor w = zeros({n}, TensorOptions().dtype(kFloat64));
    w.data_ptr<double>()[i] = 1.0;
    sd.insert("w", w);
    dicts.push_back(sd);
  }
  return dicts;
}

std::set<int64_t> members_of(const StateDict& sd) {
  std::set<int64_t> s;
  const Tensor& w = sd.at("w");
  for (int64_t i = 0; i < w.size(0); ++i)
    if (w.data_ptr<double>()[i] != 0) s.insert(i);
  for (int64_t i : s) EXPECT_DOUBLE_EQ(w.data_ptr<double>()[i], 1.0 / static_cast<double>(s.size()));
  return s;
}

TEST(ModelSoups, GreedySoupPicksExactlyTheExpectedSet) {
  const auto dicts = one_hot_ingredients(5);
  // Val order: 1 (80), 4 (78), 2 (75), 0 (70), 3 (60).
  const std::vector<double> val = {70, 80, 75, 60, 78};
  const std::map<std::set<int64_t>, double> table = {
      {{1, 4}, 79.0},     // worse than 80: rejected
      {{1, 2}, 81.0},     // better: accepted
      {{1, 2, 0}, 81.0},  // equal: rejected (strictly greater is required)
      {{1, 2, 3}, 83.0},  // better: accepted, although ingredient 3 is the worst alone
  };
  std::vector<std::set<int64_t>> asked;
  GreedySoup g = greedy_soup(dicts, val, [&](const StateDict& sd) {
    asked.push_back(members_of(sd));
    auto it = table.find(asked.back());
    EXPECT_NE(it, table.end()) << "unexpected candidate";
    return it == table.end() ? 0.0 : it->second;
  });
  EXPECT_EQ(g.order, (std::vector<int64_t>{1, 4, 2, 0, 3}));
  EXPECT_EQ(asked, (std::vector<std::set<int64_t>>{{1, 4}, {1, 2}, {0, 1, 2}, {1, 2, 3}}));
  EXPECT_EQ(g.members, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_DOUBLE_EQ(g.val_acc, 83.0);
  EXPECT_EQ(g.candidate_val, (std::vector<double>{79, 81, 81, 83}));
  EXPECT_EQ(g.soup_val, (std::vector<double>{80, 80, 81, 81, 83}));
  EXPECT_EQ(members_of(g.weights), (std::set<int64_t>{1, 2, 3}));
}

TEST(ModelSoups, GreedySoupOnlyAddsModelsThatImproveValidation) {
  // Arbitrary evaluators (a deterministic hash of the member set, on a coarse
  // 1-point grid so that ties are common): the soup's accuracy never decreases
  // and every member after the first was accepted with a strict improvement
  // over the soup before it.
  const int64_t n = 8;
  const auto dicts = one_hot_ingredients(n);
  for (uint64_t trial = 0; trial < 20; ++trial) {
    Generator gen(trial);
    Tensor v = floor(rand({n}, TensorOptions().dtype(kFloat64), &gen) * 8.0) + 70.0;
    std::vector<double> val(v.data_ptr<double>(), v.data_ptr<double>() + n);
    auto score = [&](const std::set<int64_t>& s) {
      uint64_t h = 1469598103934665603ull ^ trial;
      for (int64_t i : s) h = (h ^ static_cast<uint64_t>(i + 1)) * 1099511628211ull;
      return 70.0 + static_cast<double>(h % 8);
    };
    GreedySoup g = greedy_soup(dicts, val, [&](const StateDict& sd) { return score(members_of(sd)); });
    EXPECT_EQ(g.members.front(), g.order.front());
    std::set<int64_t> soup = {g.members.front()};
    double acc = val[static_cast<size_t>(g.members.front())];
    for (size_t k = 1; k < g.order.size(); ++k) {
      std::set<int64_t> cand = soup;
      cand.insert(g.order[k]);
      const double c = score(cand);
      EXPECT_DOUBLE_EQ(g.candidate_val[k - 1], c);
      if (c > acc) {
        soup = cand;
        acc = c;
      }
      EXPECT_GE(g.soup_val[k], g.soup_val[k - 1]);
    }
    EXPECT_EQ(std::set<int64_t>(g.members.begin(), g.members.end()), soup);
    EXPECT_DOUBLE_EQ(g.val_acc, acc);
  }
}

TEST(ModelSoups, RecomputedBatchNormStatisticsAreTheDataStatistics) {
  auto m = tiny_model(4, 7);
  m->eval();
  const StateDict before = clone_state_dict(m->state_dict());
  Generator gen(9);
  Tensor x = rand({40, 1, 12, 12}, {}, &gen);
  EXPECT_EQ(recompute_bn_stats(*m, x, /*batch=*/64), 4);  // one chunk of 40
  EXPECT_FALSE(m->is_training());
  EXPECT_TRUE(m->bn1->momentum.has_value());
  EXPECT_DOUBLE_EQ(*m->bn1->momentum, 0.1);
  NoGradGuard g;
  Tensor h = m->conv1->forward(x);
  EXPECT_TRUE(all_close(m->bn1->running_mean, mean(h, {0, 2, 3}), 1e-5, 1e-4));
  EXPECT_TRUE(all_close(m->bn1->running_var, var(h, {0, 2, 3}, /*correction=*/1), 1e-5, 1e-4));
  EXPECT_EQ(m->bn1->num_batches_tracked.item<int64_t>(), 1);
  for (const std::string key : {"conv2.weight", "bn2.weight", "head.bias"})
    EXPECT_TRUE(all_equal(m->state_dict().at(key), before.at(key))) << key;

  // Four equal chunks of 10: the running mean is still the mean over all 40 images.
  recompute_bn_stats(*m, x, /*batch=*/10);
  EXPECT_TRUE(all_close(m->bn1->running_mean, mean(h, {0, 2, 3}), 1e-5, 1e-4));
  EXPECT_EQ(m->bn1->num_batches_tracked.item<int64_t>(), 4);
  EXPECT_WICK_ERROR(recompute_bn_stats(*m, x, 1), "batch must be > 1");
}

TEST(ModelSoups, EnsembleAveragesLogits) {
  Tensor a = test::rand_f64({4, 3}, 1, false), b = test::rand_f64({4, 3}, 2, false);
  EXPECT_TRUE(all_close(ensemble_logits({a, b}), (a + b) * 0.5));
  EXPECT_WICK_ERROR(ensemble_logits({a, zeros({4, 2}, TensorOptions().dtype(kFloat64))}), "shape");
}

TEST(ModelSoups, IngredientGridCoversTheHyperparameters) {
  const auto grid = ingredient_grid(8, 0);
  std::set<std::tuple<double, bool, double>> points;
  std::set<uint64_t> seeds;
  for (const auto& h : grid) {
    points.insert({h.lr, h.augment, h.label_smoothing});
    seeds.insert(h.seed);
  }
  EXPECT_EQ(points.size(), 8u);  // the full 2x2x2 grid
  EXPECT_EQ(seeds.size(), 8u);
  EXPECT_NE(ingredient_grid(1, 1)[0].seed, grid[0].seed);
}

TEST(ModelSoups, QuickRunWritesResultWithArmsAndClaims) {
  const std::string out = (std::filesystem::temp_directory_path() / "wick_test_model_soups").string();
  std::filesystem::remove_all(out);
  Cli cli("model-soups", "Model soups (test)");
  RunConfig run = cli.parse_args({"--quick", "--no-progress", "--out", out});
  Result result(run);
  run_experiment(result, SoupsOptions::quick());
  ASSERT_EQ(result.finish(), 0);

  std::ifstream f(out + "/result.json");
  ASSERT_TRUE(f.good());
  nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j["mode"], "quick");
  const auto& metrics = j["metrics"];
  for (const std::string arm : {"best_individual", "uniform_soup", "uniform_soup_bn_recomputed", "greedy_soup",
                                "greedy_soup_bn_recomputed", "ensemble", "control_individual", "control_soup"}) {
    ASSERT_TRUE(metrics.contains(arm)) << arm;
    const double acc = metrics[arm]["test_acc"][0].get<double>();
    EXPECT_GE(acc, 0.0) << arm;
    EXPECT_LE(acc, 100.0) << arm;
  }
  for (const std::string arm : {"best_individual", "uniform_soup", "greedy_soup", "ensemble"})
    for (const std::string m : {"ood_acc", "noise_acc", "blur_acc", "contrast_acc"})
      EXPECT_TRUE(metrics[arm].contains(m)) << arm << " " << m;
  // Quick mode trains well above chance (10%) even in seconds.
  EXPECT_GT(metrics["best_individual"]["test_acc"][0].get<double>(), 30.0);
  const int64_t members = static_cast<int64_t>(metrics["greedy_soup"]["members"][0].get<double>());
  EXPECT_GE(members, 1);
  EXPECT_LE(members, SoupsOptions::quick().n_ingredients);
  ASSERT_EQ(j["claims"].size(), 4u);
  for (const auto& c : j["claims"]) {
    EXPECT_TRUE(c["verdict"] == "pass" || c["verdict"] == "fail");
    EXPECT_FALSE(c["measured"].get<std::string>().empty());
  }
  EXPECT_EQ(j["plots"].size(), 3u);
  std::filesystem::remove_all(out);
}

}  // namespace
}  // namespace wick::papers::soups
