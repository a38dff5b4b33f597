// SimCLR (Chen et al., 2020), the shared self-supervised baseline: two
// augmented views per image, encoder -> ProjectionHead -> NT-Xent (nn::nt_xent)
// at temperature tau, Adam. The pretrained encoder is cached: 
// pretrained_simclr() loads <cache_dir>/simclr_<key>.safetensors when present
// and trains + saves it (atomically) otherwise; `paper_simclr_pretrain` is the
// documented command that builds it ahead of time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "papers/common/encoders.h"
#include "papers/common/fmnist.h"

namespace wick::papers {

struct SimclrOptions {
  int64_t epochs = 6;
  int64_t batch = 256;
  double lr = 1e-3;
  double temperature = 0.2;
  int64_t proj_hidden = 256, proj_dim = 64;
  AugmentOptions augment;
  uint64_t seed = 0;
  bool progress = true;
};

// Trains encoder (in place) on images [N, 1, 28, 28]; returns the final epoch's mean loss.
double train_simclr(SmallCnn& encoder, const Tensor& images, const SimclrOptions& options);

// The cache directory: $WICK_DATA_DIR or ~/.cache/wick (created).
std::string data_dir();
// A SimCLR-pretrained SmallCnn (width 32) on the unlabeled split of seed split_seed
// (n_unlabeled images), cached by its configuration.
// Returned in eval mode. The unlabeled split is fmnist_splits(split_seed) with
// the default n_labeled and n_val and the given n_unlabeled.
std::shared_ptr<SmallCnn> pretrained_simclr(const SimclrOptions& options, int64_t n_unlabeled, uint64_t split_seed,
                                            const std::string& cache_dir = data_dir());

// The text every weight-affecting option is written into, and the cache file
// <cache_dir>/simclr_<16 hex digits of its FNV-1a hash>.safetensors.
std::string simclr_cache_key(const SimclrOptions& options, int64_t n_unlabeled, uint64_t split_seed);
std::string simclr_cache_path(const SimclrOptions& options, int64_t n_unlabeled, uint64_t split_seed,
                              const std::string& cache_dir = data_dir());

}  // namespace wick::papers
