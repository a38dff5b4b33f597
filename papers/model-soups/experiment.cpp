// The model-soups experiment (see experiment.h for the protocol and claims).
#include "papers/model-soups/experiment.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>

#include "autograd/grad_mode.h"
#include "data/progress.h"
#include "ops/indexing.h"
#include "ops/loss.h"
#include "ops/shape.h"
#include "optim/adam.h"
#include "optim/scheduler.h"
#include "papers/common/eval.h"
#include "papers/model-soups/soups.h"
#include "tensor/random.h"

namespace wick::papers::soups {

std::string Ingredient::describe() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "lr=%.0e aug=%s ls=%.1f seed=%llu", lr, augment ? "on" : "off", label_smoothing,
                static_cast<unsigned long long>(seed));
  return buf;
}

std::vector<Ingredient> ingredient_grid(int64_t n, uint64_t seed) {
  WICK_CHECK(n >= 1, "ingredient_grid: need at least one ingredient, got ", n);
  static constexpr double kLr[2] = {1e-3, 3e-4};
  static constexpr double kSmoothing[2] = {0.0, 0.1};
  std::vector<Ingredient> grid;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t g = i % 8;  // lr varies fastest, then augmentation, then smoothing
    Ingredient h;
    h.lr = kLr[g % 2];
    h.augment = (g / 2) % 2 == 1;
    h.label_smoothing = kSmoothing[g / 4];
    h.seed = seed * 1000 + 100 + static_cast<uint64_t>(i);
    grid.push_back(h);
  }
  return grid;
}

double fine_tune(SmallCnn& model, const LabeledSet& train, const Ingredient& h, const FineTuneOptions& o,
                 const std::string& label) {
  WICK_CHECK(model.head, "fine_tune: the model has no classification head (num_classes = 0)");
  WICK_CHECK(o.epochs >= 1 && o.batch >= 2, "fine_tune: need epochs >= 1 and batch >= 2, got epochs ", o.epochs,
             ", batch ", o.batch);
  const int64_t n = train.size();
  WICK_CHECK(n >= o.batch, "fine_tune: ", n, " training images is fewer than one batch of ", o.batch);
  const int64_t steps_per_epoch = n / o.batch;  // drop the ragged last batch (BatchNorm)
  Generator gen(h.seed);
  optim::AdamOptions adam;
  adam.lr = h.lr;
  optim::Adam opt(model.parameters(), adam);
  optim::CosineAnnealingLR schedule(opt, o.epochs * steps_per_epoch);
  model.train();
  std::unique_ptr<data::ProgressBar> bar;
  if (o.progress) bar = std::make_unique<data::ProgressBar>(o.epochs * steps_per_epoch, label);
  double epoch_loss = 0;
  for (int64_t e = 0; e < o.epochs; ++e) {
    Tensor perm = randperm(n, {}, &gen);
    double total = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      Tensor idx = perm.slice(0, s * o.batch, (s + 1) * o.batch);
      Tensor x = index_select(train.images, 0, idx);
      if (h.augment) x = augment_batch(x, o.augment, gen);
      Tensor loss = cross_entropy(model.forward(x), index_select(train.labels, 0, idx), {}, -100, Reduction::Mean,
                                  h.label_smoothing);
      opt.zero_grad();
      loss.backward();
      opt.step();
      schedule.step();
      const double l = loss.item();
      total += l;
      if (bar) {
        char status[32];
        std::snprintf(status, sizeof status, "loss %.3f", l);
        bar->update(1, status);
      }
    }
    epoch_loss = total / static_cast<double>(steps_per_epoch);
  }
  if (bar) bar->finish();
  if (o.precise_bn) recompute_bn_stats(model, train.images);
  model.eval();
  return epoch_loss;
}

Tensor predict(SmallCnn& model, const Tensor& images, int64_t batch) {
  autograd::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  std::vector<Tensor> parts;
  for (int64_t b = 0; b < images.size(0); b += batch)
    parts.push_back(model.forward(images.slice(0, b, std::min(images.size(0), b + batch))));
  model.train(was_training);
  return cat(parts, 0);
}

// Quick mode is a smoke test of the mechanics (seconds, numbers not a result).
// Small batches give BatchNorm's running statistics (momentum 0.1) enough
// updates to converge: 8 SimCLR steps + 20 fine-tuning steps.
SoupsOptions SoupsOptions::quick() {
  SoupsOptions o;
  o.split.n_labeled = 200;
  o.split.n_unlabeled = 0;
  o.split.n_val = 200;
  o.split.test_limit = 200;
  o.n_ingredients = 4;
  o.n_control = 2;
  o.finetune.epochs = 2;
  o.finetune.batch = 20;
  o.simclr.epochs = 1;
  o.simclr.batch = 64;
  o.simclr_unlabeled = 512;
  return o;
}

// Sized for about 12 minutes on 2 CPU cores (3 seeds, the SimCLR encoder
// included on its first run); see README.md for the deviations from §9 d.
SoupsOptions SoupsOptions::full() {
  SoupsOptions o;
  o.split.n_labeled = 2000;
  o.split.n_unlabeled = 0;
  o.split.n_val = 1000;
  o.split.test_limit = 1000;
  o.n_ingredients = 8;
  o.n_control = 2;
  o.finetune.epochs = 1;
  o.finetune.batch = 64;
  o.simclr.epochs = 3;
  o.simclr_unlabeled = 5000;
  return o;
}

namespace {

// Accuracies of one model: val, then each test set (clean first, then the corruptions).
struct Scores {
  double val = NAN;
  std::vector<double> test;
  double id() const { return test.at(0); }
  double ood() const {
    double s = 0;
    for (size_t k = 1; k < test.size(); ++k) s += test[k];
    return test.size() > 1 ? s / static_cast<double>(test.size() - 1) : NAN;
  }
};

// The test sets of one seed: the clean test images and their corrupted copies.
struct TestSets {
  std::vector<std::string> names;  // "test", then the corruption names
  std::vector<Tensor> images;
  Tensor labels;
};

struct Logits {
  Tensor val;
  std::vector<Tensor> test;  // per test set
};

Logits logits_of(SmallCnn& model, const LabeledSet& val, const TestSets& sets, bool with_val, bool with_ood) {
  Logits l;
  if (with_val) l.val = predict(model, val.images);
  for (size_t k = 0; k < sets.images.size(); ++k) {
    if (k > 0 && !with_ood) break;
    l.test.push_back(predict(model, sets.images[k]));
  }
  return l;
}

Scores scores_of(const Logits& l, const LabeledSet& val, const TestSets& sets) {
  Scores s;
  if (l.val.defined()) s.val = accuracy(l.val, val.labels);
  for (const Tensor& t : l.test) s.test.push_back(accuracy(t, sets.labels));
  return s;
}

void record(Result& result, const std::string& arm, int seed, const Scores& s, const TestSets& sets) {
  if (!std::isnan(s.val)) result.metric(arm, seed, "val_acc", s.val);
  result.metric(arm, seed, "test_acc", s.id());
  if (s.test.size() > 1) {
    result.metric(arm, seed, "ood_acc", s.ood());
    for (size_t k = 1; k < s.test.size(); ++k) result.metric(arm, seed, sets.names[k] + "_acc", s.test[k]);
  }
}

void print_scores(const std::string& what, const Scores& s) {
  std::printf("  %-44s val %6.2f  test %6.2f", what.c_str(), s.val, s.id());
  if (s.test.size() > 1) std::printf("  ood %6.2f", s.ood());
  std::printf("\n");
  std::fflush(stdout);
}

std::shared_ptr<SmallCnn> make_classifier(int64_t width) {
  SmallCnnOptions so;
  so.width = width;
  so.num_classes = 10;
  return std::make_shared<SmallCnn>(so);
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string paired_summary(const std::string& a_name, const std::vector<double>& a, const std::string& b_name,
                           const std::vector<double>& b) {
  Paired p = paired(a, b);
  return a_name + " " + format_mean_std(mean_std(a)) + ", " + b_name + " " + format_mean_std(mean_std(b)) +
         "; difference " + format_mean_std(p.diff) + " pt (higher in " + std::to_string(p.wins) + "/" +
         std::to_string(a.size()) + " seeds)";
}

double mean_of(const std::vector<double>& v) { return mean_std(v).mean; }

}  // namespace

void run_experiment(Result& result, const SoupsOptions& o) {
  const RunConfig& run = result.run();
  WICK_CHECK(o.n_ingredients >= 2, "model-soups: need at least 2 ingredients, got ", o.n_ingredients);
  WICK_CHECK(o.n_control >= 2, "model-soups: the negative control needs at least 2 models, got ", o.n_control);
  WICK_CHECK(run.device.is_cpu(), "model-soups: runs on the CPU only (got device ", run.device.str(), ")");

  result.config("n_labeled", o.split.n_labeled);
  result.config("n_val", o.split.n_val);
  result.config("test_limit", o.split.test_limit);
  result.config("n_ingredients", o.n_ingredients);
  result.config("n_control", o.n_control);
  result.config("finetune_epochs", o.finetune.epochs);
  result.config("finetune_batch", o.finetune.batch);
  result.config("finetune_optimizer", "Adam, cosine lr to 0, all layers");
  result.config("simclr_epochs", o.simclr.epochs);
  result.config("simclr_batch", o.simclr.batch);
  result.config("simclr_unlabeled", o.simclr_unlabeled);
  result.config("corruption_severity", o.corruption_severity);
  std::string corr;
  for (const auto& c : o.corruptions) corr += (corr.empty() ? "" : ",") + c;
  result.config("corruptions", corr);
  result.config("bn_ingredients", o.finetune.precise_bn ? "re-estimated on the labeled images after fine-tuning"
                                                         : "running averages from training (momentum 0.1)");
  result.config("bn_primary", "running statistics averaged with the weights");
  result.config("bn_recomputed", "running statistics re-estimated on the labeled images (momentum None)");
  const auto grid0 = ingredient_grid(o.n_ingredients, 0);
  for (size_t i = 0; i < grid0.size(); ++i)
    result.config("ingredient_" + std::to_string(i), grid0[i].describe() + " (seed varies with the run seed)");

  // 1. The shared pretrained encoder (one for all seeds; cached on disk).
  SimclrOptions simclr = o.simclr;
  simclr.progress = run.progress;
  std::shared_ptr<SmallCnn> encoder = pretrained_simclr(simclr, o.simclr_unlabeled, o.simclr_split_seed);
  WICK_CHECK(encoder->options.width == o.width, "model-soups: the SimCLR encoder has width ", encoder->options.width,
             ", expected ", o.width);

  FineTuneOptions ft = o.finetune;
  ft.progress = run.progress;
  const int64_t N = o.n_ingredients;
  // Per-ingredient means over seeds, for the plot.
  std::vector<std::vector<double>> ing_id(N), ing_ood(N);
  GreedySoup trace0;

  for (int seed = 0; seed < run.seeds; ++seed) {
    std::printf("== seed %d\n", seed);
    FmnistSplits splits = fmnist_splits(static_cast<uint64_t>(seed), o.split);
    TestSets sets;
    sets.names.push_back("test");
    sets.images.push_back(splits.test.images);
    sets.labels = splits.test.labels;
    for (size_t k = 0; k < o.corruptions.size(); ++k) {
      sets.names.push_back(o.corruptions[k]);
      sets.images.push_back(
          corrupt(splits.test.images, o.corruptions[k], o.corruption_severity, static_cast<uint64_t>(seed) * 10 + k));
    }

    // θ_0: the pretrained encoder + one head drawn for this seed.
    manual_seed(static_cast<uint64_t>(seed) * 7919 + 1);
    auto init = make_classifier(o.width);
    nn::LoadResult lr = init->load_state_dict(encoder->state_dict(), /*strict=*/false);
    WICK_CHECK(lr.unexpected_keys.empty() && lr.missing_keys.size() == 2,
               "model-soups: the SimCLR encoder's state does not match SmallCnn's (", lr.missing_keys.size(),
               " missing, ", lr.unexpected_keys.size(), " unexpected keys)");
    const StateDict theta0 = clone_state_dict(init->state_dict());

    // 2. Ingredients.
    const auto grid = ingredient_grid(N, static_cast<uint64_t>(seed));
    std::vector<StateDict> dicts;
    std::vector<Logits> logits;
    std::vector<Scores> scores;
    std::vector<double> val_accs;
    for (int64_t i = 0; i < N; ++i) {
      auto model = make_classifier(o.width);
      model->load_state_dict(theta0);
      const double loss = fine_tune(*model, splits.labeled, grid[i], ft, "ingredient " + std::to_string(i));
      dicts.push_back(clone_state_dict(model->state_dict()));
      logits.push_back(logits_of(*model, splits.val, sets, true, true));
      scores.push_back(scores_of(logits.back(), splits.val, sets));
      val_accs.push_back(scores.back().val);
      record(result, "ingredient_" + std::to_string(i), seed, scores.back(), sets);
      result.log(i, "ingredient", {{"seed", seed}, {"index", i}, {"final_loss", loss}, {"val_acc", scores.back().val},
                                   {"test_acc", scores.back().id()}, {"ood_acc", scores.back().ood()}});
      ing_id[i].push_back(scores.back().id());
      ing_ood[i].push_back(scores.back().ood());
      print_scores("ingredient " + std::to_string(i) + " " + grid[i].describe(), scores.back());
    }

    // 3. Arms.
    const int64_t best = std::max_element(val_accs.begin(), val_accs.end()) - val_accs.begin();
    record(result, "best_individual", seed, scores[best], sets);
    result.metric("best_individual", seed, "index", static_cast<double>(best));
    print_scores("best individual (ingredient " + std::to_string(best) + ")", scores[best]);
    {
      Scores mean_ind;
      mean_ind.val = 0;
      mean_ind.test.assign(sets.images.size(), 0.0);
      for (const Scores& s : scores) {
        mean_ind.val += s.val / static_cast<double>(N);
        for (size_t k = 0; k < s.test.size(); ++k) mean_ind.test[k] += s.test[k] / static_cast<double>(N);
      }
      record(result, "mean_individual", seed, mean_ind, sets);
    }

    auto soup_model = make_classifier(o.width);
    // Scores a soup: BN statistics averaged (as loaded) or re-estimated.
    auto score_soup = [&](const StateDict& sd, bool recompute, bool with_ood) {
      soup_model->load_state_dict(sd);
      if (recompute) recompute_bn_stats(*soup_model, splits.labeled.images);
      return scores_of(logits_of(*soup_model, splits.val, sets, true, with_ood), splits.val, sets);
    };

    std::vector<int64_t> all(N);
    std::iota(all.begin(), all.end(), int64_t{0});
    const StateDict uniform = uniform_soup(dicts, all);
    for (bool recompute : {false, true}) {
      const std::string arm = recompute ? "uniform_soup_bn_recomputed" : "uniform_soup";
      Scores s = score_soup(uniform, recompute, true);
      record(result, arm, seed, s, sets);
      print_scores(arm, s);
    }

    // Greedy selection scores candidates with averaged BN statistics (the primary mode).
    GreedySoup greedy = greedy_soup(dicts, val_accs, [&](const StateDict& sd) {
      soup_model->load_state_dict(sd);
      return accuracy(predict(*soup_model, splits.val.images), splits.val.labels);
    });
    if (seed == 0) trace0 = greedy;
    std::string members;
    for (int64_t m : greedy.members) members += (members.empty() ? "" : ",") + std::to_string(m);
    for (bool recompute : {false, true}) {
      const std::string arm = recompute ? "greedy_soup_bn_recomputed" : "greedy_soup";
      Scores s = score_soup(greedy.weights, recompute, true);
      record(result, arm, seed, s, sets);
      result.metric(arm, seed, "members", static_cast<double>(greedy.members.size()));
      print_scores(arm + " {" + members + "}", s);
    }

    {
      Logits ens;
      std::vector<Tensor> parts;
      for (const Logits& l : logits) parts.push_back(l.val);
      ens.val = ensemble_logits(parts);
      for (size_t k = 0; k < sets.images.size(); ++k) {
        parts.clear();
        for (const Logits& l : logits) parts.push_back(l.test[k]);
        ens.test.push_back(ensemble_logits(parts));
      }
      Scores s = scores_of(ens, splits.val, sets);
      record(result, "ensemble", seed, s, sets);
      print_scores("logit ensemble", s);
    }

    // 5. Negative control: different random inits, ingredient 0's recipe.
    std::vector<StateDict> control;
    Scores control_mean;
    control_mean.val = 0;
    control_mean.test.assign(1, 0.0);
    for (int64_t j = 0; j < o.n_control; ++j) {
      manual_seed(static_cast<uint64_t>(seed) * 7919 + 1000 + static_cast<uint64_t>(j));
      auto model = make_classifier(o.width);
      Ingredient h = grid[0];
      h.seed = static_cast<uint64_t>(seed) * 1000 + 500 + static_cast<uint64_t>(j);
      fine_tune(*model, splits.labeled, h, ft, "control " + std::to_string(j));
      control.push_back(clone_state_dict(model->state_dict()));
      Scores s = scores_of(logits_of(*model, splits.val, sets, true, false), splits.val, sets);
      print_scores("control " + std::to_string(j) + " (random init) " + h.describe(), s);
      control_mean.val += s.val / static_cast<double>(o.n_control);
      control_mean.test[0] += s.id() / static_cast<double>(o.n_control);
    }
    record(result, "control_individual", seed, control_mean, sets);
    std::vector<int64_t> control_all(o.n_control);
    std::iota(control_all.begin(), control_all.end(), int64_t{0});
    const StateDict control_soup = uniform_soup(control, control_all);
    for (bool recompute : {false, true}) {
      const std::string arm = recompute ? "control_soup_bn_recomputed" : "control_soup";
      Scores s = score_soup(control_soup, recompute, false);
      record(result, arm, seed, s, sets);
      print_scores(arm, s);
    }
  }

  // Claims (criteria fixed before the run; means over seeds, BN averaged).
  const auto& greedy_id = result.values("greedy_soup", "test_acc");
  const auto& best_id = result.values("best_individual", "test_acc");
  const auto& uniform_id = result.values("uniform_soup", "test_acc");
  const auto& greedy_ood = result.values("greedy_soup", "ood_acc");
  const auto& best_ood = result.values("best_individual", "ood_acc");
  const auto& control_ind = result.values("control_individual", "test_acc");
  const auto& control_soup = result.values("control_soup", "test_acc");
  const double d_id = paired(greedy_id, best_id).diff.mean;
  result.headline("best_individual", "greedy_soup", "test_acc");
  result.claim("The greedy soup is at least as accurate in-distribution as the best individual model",
               "mean over seeds of greedy - best (selected by val) test accuracy >= -0.1pt",
               paired_summary("greedy", greedy_id, "best", best_id), d_id >= -0.1);
  const double d_ood = paired(greedy_ood, best_ood).diff.mean;
  result.claim("The greedy soup is at least as robust as the best individual model (OOD)",
               "mean over seeds of greedy - best accuracy on the corrupted test sets (mean of noise, blur, "
               "contrast) >= 0",
               paired_summary("greedy", greedy_ood, "best", best_ood), d_ood >= 0.0);
  const double d_uni = paired(greedy_id, uniform_id).diff.mean;
  result.claim("The greedy soup is at least as accurate as the uniform soup",
               "mean over seeds of greedy - uniform test accuracy >= 0",
               paired_summary("greedy", greedy_id, "uniform", uniform_id), d_uni >= 0.0);
  const double drop = paired(control_ind, control_soup).diff.mean;
  result.claim("Negative control: averaging models fine-tuned from different random inits fails",
               "mean over seeds of (mean individual - soup) test accuracy >= 20pt",
               "individuals " + format_mean_std(mean_std(control_ind)) + ", soup " +
                   format_mean_std(mean_std(control_soup)) + "; drop " + fmt(drop) + " pt",
               drop >= 20.0);

  // Plots: ID vs OOD (the paper's Figure 1 in miniature), accuracy per test set, greedy trace.
  {
    std::vector<std::pair<double, double>> pts;
    for (int64_t i = 0; i < N; ++i) pts.emplace_back(mean_of(ing_id[i]), mean_of(ing_ood[i]));
    std::sort(pts.begin(), pts.end());
    Series ing{"ingredients", {}, {}};
    for (auto [x, y] : pts) {
      ing.x.push_back(x);
      ing.y.push_back(y);
    }
    std::vector<Series> series{ing};
    for (const std::string arm : {"best_individual", "uniform_soup", "greedy_soup", "uniform_soup_bn_recomputed",
                                  "greedy_soup_bn_recomputed", "ensemble"})
      series.push_back({arm, {mean_of(result.values(arm, "test_acc"))}, {mean_of(result.values(arm, "ood_acc"))}});
    result.plot("id_vs_ood.png", "Model soups: in-distribution vs corrupted accuracy (mean over seeds)",
                "test accuracy (%)", "mean accuracy on noise/blur/contrast (%)", series);
  }
  {
    std::vector<Series> series;
    for (const std::string arm : {"best_individual", "mean_individual", "uniform_soup", "greedy_soup", "ensemble"}) {
      Series s{arm, {}, {}};
      s.x.push_back(0);
      s.y.push_back(mean_of(result.values(arm, "test_acc")));
      for (size_t k = 0; k < o.corruptions.size(); ++k) {
        s.x.push_back(static_cast<double>(k + 1));
        s.y.push_back(mean_of(result.values(arm, o.corruptions[k] + "_acc")));
      }
      series.push_back(s);
    }
    result.plot("accuracy_by_test_set.png", "Accuracy per test set (0 clean, then " + corr + ")", "test set",
                "accuracy (%)", series);
  }
  {
    // x = k: the k-th ingredient by val rank is tried (x = 0: the soup is the best ingredient alone).
    Series cand{"candidate soup", {}, {}}, soup{"greedy soup", {}, {}};
    for (size_t k = 0; k < trace0.candidate_val.size(); ++k) {
      cand.x.push_back(static_cast<double>(k + 1));
      cand.y.push_back(trace0.candidate_val[k]);
    }
    for (size_t k = 0; k < trace0.soup_val.size(); ++k) {
      soup.x.push_back(static_cast<double>(k));
      soup.y.push_back(trace0.soup_val[k]);
    }
    result.plot("greedy_trace.png", "Greedy soup, seed 0: val accuracy of each candidate (ingredients by val rank)",
                "candidate (rank of the added ingredient)", "val accuracy (%)", {cand, soup});
  }
}

}  // namespace wick::papers::soups
