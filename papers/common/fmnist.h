// Fashion-MNIST splits shared by the papers, drawn by seed from the training
// set so that every arm of a paper sees identical data:
//   labeled   n_labeled images, class-balanced (n_labeled / 10 per class)
//   unlabeled n_unlabeled images (disjoint from labeled and val), labels kept for kNN/probe floors
//   val       n_val images held out (disjoint from the others), for model selection
//   test      the official 10,000-image test set (or its first test_limit)
// Images are float32 [N, 1, 28, 28] in [0, 1]; labels int64 [N].
#pragma once

#include <cstdint>
#include <string>

#include "data/fashion_mnist.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace wick::papers {

struct LabeledSet {
  Tensor images;  // float32 [N, 1, 28, 28] in [0, 1]
  Tensor labels;  // int64 [N]
  Tensor index;   // int64 [N]: the rows of the source set (60k train / 10k test) when known, else undefined
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct FmnistSplits {
  LabeledSet labeled, unlabeled, val, test;
};

struct FmnistSplitOptions {
  int64_t n_labeled = 1000;    // multiple of 10 (balanced)
  int64_t n_unlabeled = 10000;
  int64_t n_val = 5000;
  int64_t test_limit = 10000;  // first N of the official test set
  std::string root = data::kFashionMnistRoot;
};

// Deterministic in seed; throws wick::Error (naming the package) when the data is missing
// and when the requested sizes exceed the 60,000 training images.
FmnistSplits fmnist_splits(uint64_t seed, const FmnistSplitOptions& options = {});

// Rows `index` (int64 [K]) of a set.
LabeledSet subset(const LabeledSet& set, const Tensor& index);

// Per-sample augmentation of a batch [B, 1, 28, 28] for contrastive views:
// random resized crop (scale range, aspect 3/4..4/3) to `size`, horizontal flip
// with p = 0.5, brightness/contrast jitter of strength `jitter` (0: none).
// Deterministic in gen. Output [B, 1, size, size].
struct AugmentOptions {
  double scale_min = 0.4, scale_max = 1.0;
  int64_t size = 28;
  double flip_p = 0.5;
  double jitter = 0.4;
};
Tensor augment_batch(const Tensor& images, const AugmentOptions& options, Generator& gen);

// Corruptions for out-of-distribution tests (deterministic in seed), each
// applied to every image and clamped to [0, 1]:
//   "noise"     additive Gaussian, std = severity * 0.1
//   "blur"      Gaussian blur, sigma = severity * 0.5 (kernel 5)
//   "contrast"  (x - mean) * (1 - severity * 0.2) + mean
// severity 1..4. Throws wick::Error on an unknown name.
Tensor corrupt(const Tensor& images, const std::string& kind, int severity, uint64_t seed);

}  // namespace wick::papers
