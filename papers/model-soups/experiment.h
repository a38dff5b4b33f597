// The model-soups experiment in miniature (vision-and-more.md §9 d), as a
// library function so that tests can run quick mode in-process.
//
// Per seed s:
//   1. init    the SimCLR-pretrained SmallCnn (papers::pretrained_simclr, one
//              cached encoder for all seeds) + a linear head drawn once per seed:
//              every ingredient starts from exactly this θ_0.
//   2. ingredients  N fine-tunes of θ_0 (all layers, Adam, cosine lr to 0) on
//              the labeled split, over the grid lr {1e-3, 3e-4} x augmentation
//              {off, on} x label smoothing {0, 0.1}, each with its own data-order
//              seed; each ends with precise BN statistics (FineTuneOptions).
//   3. arms    best individual (by val accuracy), uniform soup, greedy soup
//              (soups.h; candidates scored on the held-out val split), logit
//              ensemble of all N; soups with BN running statistics averaged
//              (the primary arms) and re-estimated on the labeled images ("_bn_recomputed").
//   4. tests   in-distribution: the FMNIST test set; out-of-distribution: the
//              same images under noise, blur and contrast (papers::corrupt).
//   5. negative control: n_control models fine-tuned from *different* random
//              inits (no pretraining, own heads) with ingredient 0's recipe;
//              their uniform soup vs their mean individual accuracy.
// Claims (fixed before running; primary BN mode = averaged statistics), means over seeds:
//   greedy ID  >= best individual ID - 0.1pt;   greedy OOD >= best individual OOD;
//   greedy ID  >= uniform ID;                   control soup <= control individuals - 20pt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "papers/common/encoders.h"
#include "papers/common/fmnist.h"
#include "papers/common/harness.h"
#include "papers/common/simclr.h"

namespace wick::papers::soups {

// One ingredient's fine-tuning hyperparameters.
struct Ingredient {
  double lr = 1e-3;
  bool augment = false;
  double label_smoothing = 0.0;
  uint64_t seed = 0;  // data order and augmentation draws
  std::string describe() const;  // "lr=1e-03 aug=off ls=0.0 seed=17"
};

// The first n points of the grid lr x augmentation x label smoothing (the
// grid repeats with new seeds past 8); seeds derived from `seed`.
std::vector<Ingredient> ingredient_grid(int64_t n, uint64_t seed);

struct FineTuneOptions {
  int64_t epochs = 1;
  int64_t batch = 64;
  AugmentOptions augment{/*scale_min=*/0.6, /*scale_max=*/1.0, /*size=*/28, /*flip_p=*/0.5, /*jitter=*/0.2};
  // After training, re-estimate the BN running statistics on the (un-augmented)
  // training images ("precise BN"). With momentum 0.1 the running variance
  // still carries 0.9^k of its initial value 1 after k steps; a random-init
  // SmallCnn after 32 steps has a layer-1 running variance of ~0.07 against a
  // true 0.04, which drops its eval accuracy from 61% to 19%. Every model is
  // therefore evaluated with precise statistics.
  bool precise_bn = true;
  bool progress = true;
};

// Fine-tunes every parameter of `model` (a SmallCnn with a head) with Adam and a
// cosine lr schedule to 0 on `train`, then (precise_bn) re-estimates its BN
// statistics on train.images; returns the last epoch's mean loss.
double fine_tune(SmallCnn& model, const LabeledSet& train, const Ingredient& h, const FineTuneOptions& options,
                 const std::string& label = "fine-tune");

// Logits [N, C] of `model` in eval mode, no grad, in batches.
Tensor predict(SmallCnn& model, const Tensor& images, int64_t batch = 500);

struct SoupsOptions {
  FmnistSplitOptions split;      // labeled (fine-tuning), val (greedy selection), test_limit
  int64_t n_ingredients = 8;
  int64_t n_control = 3;         // different-init models of the negative control
  FineTuneOptions finetune;
  SimclrOptions simclr;          // the shared pretraining (cached by these options)
  int64_t simclr_unlabeled = 10000;
  uint64_t simclr_split_seed = 0;
  std::vector<std::string> corruptions{"noise", "blur", "contrast"};
  int corruption_severity = 3;
  int64_t width = 32;            // SmallCnn width (the SimCLR encoder's)

  static SoupsOptions quick();
  static SoupsOptions full();
};

// Runs the experiment over result.run().seeds seeds, recording metrics,
// claims and plots into `result` (the caller calls result.finish()).
void run_experiment(Result& result, const SoupsOptions& options);

}  // namespace wick::papers::soups
