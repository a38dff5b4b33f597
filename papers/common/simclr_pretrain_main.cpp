// paper_simclr_pretrain: builds (or checks) the cached SimCLR encoder that the
// self-supervised papers compare against, ahead of time:
//   build/papers/paper_simclr_pretrain                 # defaults = what the papers use
//   build/papers/paper_simclr_pretrain --epochs 2 --n-unlabeled 2000 --cache-dir /tmp/c
// The file lands in $WICK_DATA_DIR (default ~/.cache/wick) as
// simclr_<key>.safetensors; a paper asking for the same options loads it
// instead of training. With --eval it also reports the kNN (k = 20) and
// linear-probe accuracy of the encoder's features on the Fashion-MNIST test
// set, from the 1,000-image labeled split of the same seed.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "papers/common/eval.h"
#include "papers/common/simclr.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

using namespace wick;

int main(int argc, char** argv) {
  papers::SimclrOptions o;
  int64_t n_unlabeled = 10000;
  uint64_t split_seed = 0;
  std::string cache_dir;
  bool force = false, eval = false, no_progress = false;
  int threads = 0;
  CLI::App app("Pretrain (or load) the cached SimCLR SmallCnn encoder on the Fashion-MNIST unlabeled split",
               "paper_simclr_pretrain");
  app.add_option("--epochs", o.epochs, "pretraining epochs")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch, "images per step (2x views)")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  app.add_option("--lr", o.lr, "Adam learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--temperature", o.temperature, "NT-Xent temperature")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--seed", o.seed, "initialization and augmentation seed")->capture_default_str();
  app.add_option("--n-unlabeled", n_unlabeled, "unlabeled images")->capture_default_str()->check(CLI::Range(2, 54000));
  app.add_option("--split-seed", split_seed, "seed of the Fashion-MNIST split")->capture_default_str();
  app.add_option("--cache-dir", cache_dir, "cache directory (default $WICK_DATA_DIR or ~/.cache/wick)");
  app.add_flag("--force", force, "retrain even when the cached file exists");
  app.add_flag("--eval", eval, "report kNN and linear-probe test accuracy of the features");
  app.add_option("--threads", threads, "CPU threads (0: WICK_NUM_THREADS or every core)")->check(CLI::Range(0, 4096));
  app.add_flag("--no-progress", no_progress, "hide the progress bars");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    if (rc != 0) std::fprintf(stderr, "see %s --help\n", argv[0]);
    return rc == 0 ? 0 : 2;
  }
  try {
    if (threads > 0) set_num_threads(threads);
    o.progress = !no_progress;
    if (cache_dir.empty()) cache_dir = papers::data_dir();
    const std::string path = papers::simclr_cache_path(o, n_unlabeled, split_seed, cache_dir);
    std::printf("paper_simclr_pretrain: %s\n  threads %d, cache %s\n",
                papers::simclr_cache_key(o, n_unlabeled, split_seed).c_str(), get_num_threads(), path.c_str());
    if (force && std::filesystem::exists(path)) std::filesystem::remove(path);
    auto encoder = papers::pretrained_simclr(o, n_unlabeled, split_seed, cache_dir);
    if (eval) {
      papers::FmnistSplitOptions so;
      so.n_unlabeled = n_unlabeled;
      papers::FmnistSplits s = papers::fmnist_splits(split_seed, so);
      auto fn = [&](const Tensor& x) { return encoder->features(x); };
      Tensor ftr = papers::extract_features(fn, s.labeled.images);
      Tensor fte = papers::extract_features(fn, s.test.images);
      std::printf("eval (1000 labeled -> 10000 test): kNN k=20 %.2f%%, linear probe %.2f%%\n",
                  papers::knn_accuracy(ftr, s.labeled.labels, fte, s.test.labels),
                  papers::linear_probe(ftr, s.labeled.labels, fte, s.test.labels));
    }
    std::printf("%s\n", path.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paper_simclr_pretrain: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
