// Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms")
// against AdamW at matched learning-rate grids: the method and the experiment
// of paper_lion (vision-and-more.md section 10).
//
// The optimizer itself is wick's optim::Lion (optim/lion.h): per parameter
//   theta <- theta (1 - lr lambda)                 decoupled weight decay
//   u = sign(b1 m + (1 - b1) g);  theta <- theta - lr u
//   m <- b2 m + (1 - b2) g
// so with lambda = 0 every coordinate whose interpolated momentum is nonzero
// moves by exactly lr, and the only state is m (AdamW keeps m, v and a step).
//
// The experiment (run_experiment) trains, for every seed and every point of
// each grid,
//   SmallCnn and tiny_vit on a Fashion-MNIST subset (cross-entropy, batch B,
//     linear warm-up then cosine decay to 0, the same schedule for both),
//   a byte-level GPT over WordNet glosses (train/val split by synset),
// with AdamW lr {1e-3, 3e-3, 1e-2, 3e-2}, wd w and Lion lr {1e-4, 3e-4, 1e-3,
// 3e-3}, wd 10 w. The learning rate of each optimizer is selected on the validation
// split (mean over seeds); the reported image metric is the test accuracy of
// the selected configuration.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <optional>
#include <vector>

#include "optim/optimizer.h"
#include "papers/common/harness.h"
#include "tensor/tensor.h"

namespace wick::papers::lion {

enum class OptimKind { AdamW, Lion };
std::string optim_name(OptimKind kind);  // "AdamW" / "Lion"

// One point of a learning-rate grid.
struct OptimArm {
  OptimKind kind = OptimKind::Lion;
  double lr = 1e-4;
  double weight_decay = 0.0;
  // "adamw_lr1e-03" / "lion_lr3e-05": the arm name in result.json.
  std::string label() const;
};

// The grids: AdamW lr {3e-4, 1e-3, 3e-3, 1e-2, 3e-2} with wd = adamw_wd and
// Lion lr {1e-4, 3e-4, 1e-3, 3e-3, 1e-2} (3-10x smaller) with wd =
// 10 adamw_wd. The design's grids ({3e-4, 1e-3, 3e-3} and {3e-5, 1e-4,
// 3e-4}) were widened because the short runs here selected their edges
// (README: Deviations).
// Lion's weight decay is 10x AdamW's unless `lion_wd` is given (an ablation).
std::vector<OptimArm> lr_grid(OptimKind kind, double adamw_wd, std::optional<double> lion_wd = std::nullopt);

// AdamW (betas 0.9, 0.999, eps 1e-8) or Lion (betas 0.9, 0.99, the paper's
// defaults) over `params`. Throws wick::Error on a negative lr or wd.
std::unique_ptr<optim::Optimizer> make_optimizer(const OptimArm& arm, std::vector<Tensor> params);

// What an optimizer holds for `params` (after at least one step).
struct StateFootprint {
  int64_t param_bytes = 0;        // the parameters themselves
  int64_t state_bytes = 0;        // every state tensor, step counters included
  int64_t min_tensors = 0;        // state tensors per parameter (step counters included),
  int64_t max_tensors = 0;        //   fewest and most over the parameters
  int64_t min_moments = 0;        // state tensors of the parameter's shape and dtype (moments),
  int64_t max_moments = 0;        //   fewest and most over the parameters
  int64_t params_with_state = 0;  // parameters that have any state
};
StateFootprint state_footprint(const optim::Optimizer& opt, const std::vector<Tensor>& params);

// ---------------------------------------------------------------- images

enum class ImageModel { Cnn, Vit };
std::string model_name(ImageModel model);  // "cnn" / "vit"

// Standardized Fashion-MNIST tensors: images float32 [N, 1, 28, 28], labels int64 [N].
struct ImageData {
  Tensor train_x, train_y, val_x, val_y, test_x, test_y;
};
// fmnist_splits(seed) with n_train labeled training images, n_val validation
// images and the first test_limit test images, standardized by the training
// subset's pixel mean and std.
ImageData load_image_data(uint64_t seed, int64_t n_train, int64_t n_val, int64_t test_limit);

struct ImageTrainOptions {
  int64_t epochs = 3;
  int64_t batch = 256;
  double warmup_fraction = 0.05;  // of the total steps, linear from 0
  uint64_t seed = 0;              // model init and batch order
  bool progress = true;
  std::string label;              // progress bar label
};

struct ImageRun {
  std::vector<double> steps, losses;  // training loss (mean of each 1/20 of the run)
  double val_acc = 0, test_acc = 0;   // percent, after the last epoch
  StateFootprint footprint;
  double seconds = 0;
};
ImageRun train_image(ImageModel model, const OptimArm& arm, const ImageData& data, const ImageTrainOptions& options);

// ---------------------------------------------------------------- byte LM

// WordNet glosses as bytes: every synset's gloss followed by '\n', the synsets
// shuffled with split_seed and the first val_fraction of them held out.
struct ByteCorpus {
  Tensor train, val;  // int64 [n] byte streams
};
ByteCorpus gloss_corpus(double val_fraction = 0.1, uint64_t split_seed = 0, int64_t max_train_bytes = 0,
                        int64_t max_val_bytes = 0);

struct LmTrainOptions {
  int64_t steps = 300;
  int64_t batch = 32;
  int64_t context = 64;        // tokens per window (the loss uses context - 1 targets)
  int64_t width = 64, depth = 2, heads = 4;
  int64_t eval_every = 50;     // validation loss every this many steps, and at the end
  int64_t val_windows = 64;    // the first non-overlapping validation windows
  double warmup_fraction = 0.05;
  uint64_t seed = 0;
  bool progress = true;
  std::string label;
};

struct LmRun {
  std::vector<double> eval_steps, val_losses;  // nats per byte
  double best_val_loss = 0;
  StateFootprint footprint;
  double seconds = 0;
};
LmRun train_lm(const OptimArm& arm, const ByteCorpus& corpus, const LmTrainOptions& options);

// ---------------------------------------------------------------- experiment

struct ExperimentOptions {
  // images
  int64_t n_train = 10000, n_val = 2000, test_limit = 10000;  // n_train: a multiple of 10 (class-balanced)
  ImageTrainOptions image;
  std::vector<ImageModel> models = {ImageModel::Cnn, ImageModel::Vit};
  // byte LM
  LmTrainOptions lm;
  int64_t lm_max_train_bytes = 0, lm_max_val_bytes = 0;  // 0: all
  // both
  bool run_lm = true;               // train the byte LM (false: images only)
  double adamw_wd = 0.05;           // Lion: 10x
  std::optional<double> lion_wd;    // overrides Lion's 10x (an ablation; not the design's rule)
  static ExperimentOptions quick();
  static ExperimentOptions full();
};

// Trains every arm for seeds 0 .. run.seeds-1, records metrics, plots and the
// claims (criteria fixed here, before any run) into `result`.
void run_experiment(Result& result, const ExperimentOptions& options);

}  // namespace wick::papers::lion
