// paper_swav: SwAV (Caron et al., 2020) in miniature on Fashion-MNIST
// (design: shared/papers/vision-and-more.md §1). Six arms on identical data
// and initialization per seed:
//   swav              K = 30 prototypes, Sinkhorn codes on the 2 large crops,
//                     swapped prediction over 2 x 28 + 4 x 14 crops, queue, freeze
//   simclr            the shared SimCLR baseline (papers/common/simclr.h), 2 x 28 crops
//   swav_no_sinkhorn  codes q = softmax(s / ε) (no equipartition)
//   swav_2crop        SwAV with the 2 large crops only
//   swav_no_queue     SwAV without the queue (codes from the batch alone)
//   random_init       the untrained encoder (floor); raw_pixels is a second floor
// Metrics on the test set: linear probe on 100 labels per class, cosine kNN
// (k = 20) with the unlabeled split as the memory bank, and prototype usage
// (distinct argmax prototypes of s = z Cᵀ per batch of 256 and over the test set).
// Before evaluation every arm's BatchNorm statistics are re-estimated on clean
// 28x28 unlabeled images (swav::recalibrate_batchnorm explains why).
// The pass criteria below are the design's, fixed before running.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "ops/creation.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "papers/common/encoders.h"
#include "papers/common/eval.h"
#include "papers/common/fmnist.h"
#include "papers/common/harness.h"
#include "papers/common/simclr.h"
#include "papers/swav/swav.h"
#include "tensor/random.h"

using namespace wick;
using namespace wick::papers;
using namespace wick::papers::swav;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Usage {
  double batch_mean = 0;  // mean over test batches of 256 of the distinct argmax count
  double test = 0;        // distinct argmax prototypes over the whole test set
};

Usage prototype_usage_on(SwavModel& model, const Tensor& images) {
  model.eval();
  NoGradGuard no_grad;
  const int64_t n = images.size(0), batch = 256;
  std::vector<Tensor> scores;
  double total = 0;
  int64_t full_batches = 0;
  for (int64_t i = 0; i < n; i += batch) {
    const int64_t b = std::min(batch, n - i);
    scores.push_back(model.forward_one(images.narrow(0, i, b)).scores);
    // Batch-level usage over full batches only (a short tail batch has fewer
    // samples to spread), unless the set is smaller than one batch.
    if (b == batch || n < batch) {
      total += static_cast<double>(prototype_usage(scores.back()));
      ++full_batches;
    }
  }
  return {total / static_cast<double>(full_batches), static_cast<double>(prototype_usage(cat(scores, 0)))};
}

}  // namespace

int main(int argc, char** argv) {
  Cli cli("swav", "SwAV: Sinkhorn codes, swapped prediction and multi-crop vs SimCLR on Fashion-MNIST");
  // Full-mode defaults, sized for about 12 minutes on 2 quiet CPU cores
  // (measured: a SwAV step of 256 images x 6 crops takes ~2 s there).
  int64_t n_unlabeled = 4096, test_limit = 5000, n_labeled = 1000, epochs = 2, batch = 256;
  int64_t prototypes = 30, freeze_iters = 4, queue_length = 512, queue_start_epoch = 1, small_crops = 4;
  double lr = 1e-3;
  CLI::App& app = cli.app();
  app.add_option("--n-unlabeled", n_unlabeled, "unlabeled training images")->capture_default_str();
  app.add_option("--test-limit", test_limit, "test images (first N of the official test set)")->capture_default_str();
  app.add_option("--n-labeled", n_labeled, "labeled images for the linear probe (balanced)")->capture_default_str();
  app.add_option("--epochs", epochs, "pretraining epochs (every arm)")->capture_default_str();
  app.add_option("--batch", batch, "images per step")->capture_default_str();
  app.add_option("--prototypes", prototypes, "K")->capture_default_str();
  app.add_option("--freeze-iters", freeze_iters, "iterations with the prototypes frozen")->capture_default_str();
  app.add_option("--queue-length", queue_length, "queue rows per code crop (0: no queue)")->capture_default_str();
  app.add_option("--queue-start-epoch", queue_start_epoch, "epoch (0-based) that creates the queue")
      ->capture_default_str();
  app.add_option("--small-crops", small_crops, "14x14 crops of SwAV's multi-crop arms")->capture_default_str();
  app.add_option("--lr", lr, "Adam learning rate (every arm)")->capture_default_str();
  RunConfig run = cli.parse(argc, argv);
  if (run.quick) {
    // Seconds, for the tests: tiny subsets, a few steps that still pass
    // through the freeze and the queue.
    n_unlabeled = 512;
    test_limit = 1000;
    n_labeled = 200;
    epochs = 1;
    batch = 128;
    freeze_iters = 1;
    queue_length = 256;
    queue_start_epoch = 0;
  }
  Result result(run);
  const int64_t sinkhorn_iterations = 3;
  const double temperature = 0.1, epsilon = 0.05;
  result.config("n_unlabeled", n_unlabeled);
  result.config("n_labeled", n_labeled);
  result.config("test_limit", test_limit);
  result.config("epochs", epochs);
  result.config("batch", batch);
  result.config("optimizer", "Adam lr " + std::to_string(lr) + ", constant (every arm)");
  result.config("prototypes_K", prototypes);
  result.config("temperature_tau", temperature);
  result.config("epsilon", epsilon);
  result.config("sinkhorn_iterations", sinkhorn_iterations);
  result.config("crops", "2x28 (scale 0.4-1) + " + std::to_string(small_crops) + "x14 (scale 0.1-0.4)");
  result.config("freeze_prototypes_iters", freeze_iters);
  result.config("queue_length", queue_length);
  result.config("queue_start_epoch", queue_start_epoch);
  result.config("encoder", "SmallCnn width 32 (128-d features); projection 128-256-128, L2-normalized");
  result.config("simclr", "2x28 crops (scale 0.4-1), tau 0.2, projection 128-256-64");
  result.config("knn", "k=20 cosine, memory bank = the unlabeled split");
  result.config("eval_batchnorm", "running statistics re-estimated on <= 2048 clean unlabeled images, every arm");
  result.config("compute_device", "cpu (multi-crop augmentation and the SimCLR baseline are CPU code)");

  const SwavModelOptions model_options{.width = 32, .proj_hidden = 256, .proj_dim = 128, .prototypes = prototypes};
  const std::vector<std::string> swav_arms = {"swav", "swav_no_sinkhorn", "swav_2crop", "swav_no_queue"};
  std::vector<Series> loss_curves, usage_curves;

  for (int seed = 0; seed < run.seeds; ++seed) {
    FmnistSplits data = fmnist_splits(static_cast<uint64_t>(seed), {.n_labeled = n_labeled,
                                                                     .n_unlabeled = n_unlabeled,
                                                                     .n_val = 0,
                                                                     .test_limit = test_limit});
    // Clean 28x28 images for the BatchNorm re-estimation of every arm before evaluation.
    const Tensor calibration = data.unlabeled.images.narrow(0, 0, std::min<int64_t>(2048, n_unlabeled));
    auto recalibrate_swav = [&](SwavModel& m) {
      recalibrate_batchnorm(m, [&m](const Tensor& x) { m.forward_one(x); }, calibration);
    };
    const uint64_t init_seed = 1000 + static_cast<uint64_t>(seed);  // every arm starts from the same weights

    // Probe + kNN on the frozen features of fn; returns nothing, records metrics.
    auto evaluate = [&](const std::string& arm, const FeatureFn& fn) {
      auto t0 = std::chrono::steady_clock::now();
      Tensor f_lab = extract_features(fn, data.labeled.images);
      Tensor f_bank = extract_features(fn, data.unlabeled.images);
      Tensor f_test = extract_features(fn, data.test.images);
      ProbeOptions probe;
      probe.seed = static_cast<uint64_t>(seed);
      const double probe_acc = linear_probe(f_lab, data.labeled.labels, f_test, data.test.labels, probe);
      const double knn_acc = knn_accuracy(f_bank, data.unlabeled.labels, f_test, data.test.labels);
      result.metric(arm, seed, "probe_acc", probe_acc);
      result.metric(arm, seed, "knn_acc", knn_acc);
      std::fprintf(stderr, "[seed %d] %-17s probe %.2f%%  kNN %.2f%%  (eval %.1fs)\n", seed, arm.c_str(), probe_acc,
                   knn_acc, seconds_since(t0));
    };
    auto encoder_features = [](SmallCnn& enc) {
      enc.eval();
      return FeatureFn([&enc](const Tensor& x) { return enc.features(x); });
    };
    auto record_usage = [&](const std::string& arm, SwavModel& model) {
      Usage u = prototype_usage_on(model, data.test.images);
      result.metric(arm, seed, "proto_usage_batch", u.batch_mean);
      result.metric(arm, seed, "proto_usage_test", u.test);
    };

    // Floors: raw pixels and the untrained network.
    evaluate("raw_pixels", [](const Tensor& x) { return x.reshape({x.size(0), -1}); });
    {
      manual_seed(init_seed);
      SwavModel random_model(model_options);
      recalibrate_swav(random_model);
      evaluate("random_init", encoder_features(*random_model.encoder));
      record_usage("random_init", random_model);
    }

    // The SwAV arms.
    for (const std::string& arm : swav_arms) {
      manual_seed(init_seed);
      SwavModel model(model_options);
      SwavOptions o;
      o.epochs = epochs;
      o.batch = batch;
      o.lr = lr;
      o.temperature = temperature;
      o.epsilon = epsilon;
      o.sinkhorn_iterations = sinkhorn_iterations;
      o.codes = arm == "swav_no_sinkhorn" ? CodeMethod::Softmax : CodeMethod::Sinkhorn;
      o.crops.small_crops = arm == "swav_2crop" ? 0 : small_crops;
      o.freeze_prototypes_iters = freeze_iters;
      // Softmax codes are per sample: no queue there either.
      o.queue_length = arm == "swav_no_sinkhorn" || arm == "swav_no_queue" ? 0 : queue_length;
      o.queue_start_epoch = queue_start_epoch;
      o.seed = static_cast<uint64_t>(seed);
      o.progress = run.progress;
      std::fprintf(stderr, "[seed %d] training %s\n", seed, arm.c_str());
      double max_marginal_error = 0;
      auto t0 = std::chrono::steady_clock::now();
      SwavHistory h = train_swav(model, data.unlabeled.images, o, [&](int64_t step, const StepStats& st) {
        max_marginal_error = std::max(max_marginal_error, st.marginal_error);
        result.log(step, arm,
                   {{"seed", seed},
                    {"loss", st.loss},
                    {"batch_usage", st.batch_usage},
                    {"marginal_error", st.marginal_error},
                    {"frozen", st.prototypes_frozen},
                    {"queue", st.used_queue}});
      });
      result.metric(arm, seed, "train_seconds", seconds_since(t0));
      result.metric(arm, seed, "final_loss", h.final_epoch_loss);
      result.metric(arm, seed, "train_batch_usage_last", h.batch_usage.back());
      recalibrate_swav(model);
      if (o.codes == CodeMethod::Sinkhorn) result.metric(arm, seed, "sinkhorn_marginal_err_max", max_marginal_error);
      if (o.queue_length > 0) result.metric(arm, seed, "queue_first_used_step", static_cast<double>(h.queue_first_used));
      evaluate(arm, encoder_features(*model.encoder));
      record_usage(arm, model);
      if (seed == 0) {
        Series loss{arm, {}, h.loss}, usage{arm, {}, h.batch_usage};
        for (size_t i = 0; i < h.loss.size(); ++i) loss.x.push_back(static_cast<double>(i));
        usage.x = loss.x;
        loss_curves.push_back(loss);
        usage_curves.push_back(usage);
      }
    }

    // SimCLR, the shared baseline, from the same initial encoder.
    {
      manual_seed(init_seed);
      SwavModel init(model_options);  // the same encoder weights as every SwAV arm
      SmallCnn encoder(SmallCnnOptions{.width = 32});
      encoder.load_state_dict(init.encoder->state_dict());
      SimclrOptions so;
      so.epochs = epochs;
      so.batch = batch;
      so.lr = lr;
      so.seed = static_cast<uint64_t>(seed);
      so.progress = run.progress;
      std::fprintf(stderr, "[seed %d] training simclr\n", seed);
      auto t0 = std::chrono::steady_clock::now();
      const double loss = train_simclr(encoder, data.unlabeled.images, so);
      result.metric("simclr", seed, "train_seconds", seconds_since(t0));
      result.metric("simclr", seed, "final_loss", loss);
      recalibrate_batchnorm(encoder, [&encoder](const Tensor& x) { encoder.features(x); }, calibration);
      evaluate("simclr", encoder_features(encoder));
    }
  }

  // ---- verdicts (criteria from the design, fixed before running) ----------
  auto ms = [&](const std::string& arm, const std::string& metric) { return mean_std(result.values(arm, metric)); };
  const MeanStd swav = ms("swav", "probe_acc"), simclr = ms("simclr", "probe_acc"),
                random = ms("random_init", "probe_acc"), two_crop = ms("swav_2crop", "probe_acc"),
                no_sk = ms("swav_no_sinkhorn", "probe_acc"), no_queue = ms("swav_no_queue", "probe_acc");
  const MeanStd no_sk_usage = ms("swav_no_sinkhorn", "proto_usage_test"),
                swav_batch_usage = ms("swav", "proto_usage_batch");
  auto pt = [](const MeanStd& m) { return format_mean_std(m) + "%"; };
  result.headline("simclr", "swav", "probe_acc");
  result.claim("SwAV's linear probe is on par with SimCLR's", "mean probe(swav) >= mean probe(simclr) - 2pt",
               "swav " + pt(swav) + " vs simclr " + pt(simclr), swav.mean >= simclr.mean - 2.0);
  result.claim("SwAV learns features beyond the random network", "mean probe(swav) >= mean probe(random_init) + 3pt",
               "swav " + pt(swav) + " vs random_init " + pt(random), swav.mean >= random.mean + 3.0);
  result.claim("Without Sinkhorn, SwAV collapses",
               "mean test-set usage(no_sinkhorn) <= 3 prototypes, or mean probe(no_sinkhorn) <= mean probe(random_init)",
               "usage " + format_mean_std(no_sk_usage, 1) + " of " + std::to_string(prototypes) + ", probe " +
                   pt(no_sk) + " vs random_init " + pt(random),
               no_sk_usage.mean <= 3.0 || no_sk.mean <= random.mean);
  result.claim("SwAV uses its prototypes (no collapse)", "mean batch-level argmax usage(swav) >= 0.8 K",
               format_mean_std(swav_batch_usage, 1) + " of " + std::to_string(prototypes) + " per batch of 256",
               swav_batch_usage.mean >= 0.8 * static_cast<double>(prototypes));
  result.claim("Multi-crop does not hurt (the paper: it helps)", "mean probe(swav) >= mean probe(swav_2crop) - 0.5pt",
               "swav " + pt(swav) + " vs swav_2crop " + pt(two_crop), swav.mean >= two_crop.mean - 0.5);
  // The paper needs the queue when the batch is small next to K; here B = 256
  // >> K = 30, so the criterion is only that the queue does no harm.
  result.claim("The queue does not hurt (the paper: needed for small batches)",
               "mean probe(swav) >= mean probe(swav_no_queue) - 0.5pt",
               "swav " + pt(swav) + " vs swav_no_queue " + pt(no_queue), swav.mean >= no_queue.mean - 0.5);

  result.plot("loss.png", "SwAV training loss (seed 0)", "step", "swapped-prediction loss", loss_curves);
  result.plot("prototype_usage.png", "Prototypes used per batch during training (seed 0)", "step",
              "distinct argmax prototypes of the first crop", usage_curves);
  return result.finish();
}
