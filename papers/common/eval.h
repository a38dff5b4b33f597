// Evaluation on frozen features, shared by the self-supervised papers:
//   extract_features  encoder in eval mode, no grad, batched
//   linear_probe      a linear classifier (multinomial logistic regression) on
//                     standardized frozen features, trained with Adam full-batch
//                     or minibatch; returns test accuracy in percent
//   knn_accuracy      cosine kNN (k = 20, votes weighted by exp(sim / 0.07), as
//                     in InstDisc/DINO) in percent
//   few-shot episodes N-way K-shot Q-query from a labeled set; nearest-centroid accuracy
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "papers/common/fmnist.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace wick::papers {

// fn maps a batch [B, 1, 28, 28] to features [B, D]; runs under NoGradGuard.
using FeatureFn = std::function<Tensor(const Tensor&)>;
Tensor extract_features(const FeatureFn& fn, const Tensor& images, int64_t batch = 512);

struct ProbeOptions {
  int64_t epochs = 100;
  double lr = 1e-2;
  double weight_decay = 1e-4;
  int64_t batch = 256;
  uint64_t seed = 0;
};
// Trains on (train_x, train_y) features, returns accuracy (%) on (test_x, test_y).
double linear_probe(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x, const Tensor& test_y,
                    const ProbeOptions& options = {});

double knn_accuracy(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x, const Tensor& test_y,
                    int64_t k = 20, double temperature = 0.07);

// Classification accuracy (%) of logits [N, C] against labels [N].
double accuracy(const Tensor& logits, const Tensor& labels);

struct Episode {
  Tensor support_x, support_y;  // [n_way * k_shot, ...], labels 0..n_way-1
  Tensor query_x, query_y;      // [n_way * n_query, ...]
};
// Draws an episode from `set` (classes chosen at random, then examples without replacement).
Episode sample_episode(const LabeledSet& set, int64_t n_way, int64_t k_shot, int64_t n_query, Generator& gen);
// Nearest-centroid (cosine) accuracy (%) of query features against support features.
double nearest_centroid_accuracy(const Tensor& support_f, const Tensor& support_y, const Tensor& query_f,
                                 const Tensor& query_y);

}  // namespace wick::papers
