// Frozen-feature evaluation shared by the self-supervised papers (see eval.h).
//
// Linear probe: features are standardized with the training features' mean
// and standard deviation (per dimension), then a multinomial logistic
// regression  p(y | x) = softmax(x W + b)  is fit by minibatch Adam on the
// mean cross-entropy, with L2 weight decay on W and b, from W = b = 0 (the
// problem is convex, so the start only matters for speed). The test features
// are standardized with the training statistics.
//
// kNN (Wu et al. 2018, InstDisc; DINO's eval_knn): features are L2-normalized,
// each test point takes its k most cosine-similar training points, and class
// c scores  sum over neighbours of class c of exp(sim / T); the prediction is
// the arg-max score (ties: the smallest class index).
//
// Few-shot: an episode draws n_way classes, then k_shot + n_query examples of
// each without replacement; nearest-centroid classifies a query by cosine
// similarity to the mean of its class's L2-normalized support features.
#include "papers/common/eval.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "autograd/grad_mode.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/loss.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "ops/sort.h"
#include "optim/adam.h"
#include "tensor/error.h"

namespace wick::papers {

namespace {

void check_features(const char* op, const Tensor& x, const Tensor& y, const char* which) {
  WICK_CHECK(x.defined() && y.defined() && x.dim() == 2 && y.dim() == 1 && x.size(0) == y.size(0),
             op, ": expected ", which, " features [N, D] and labels [N], got ",
             x.defined() ? shape_str(x.sizes()) : std::string("undefined"), " and ",
             y.defined() ? shape_str(y.sizes()) : std::string("undefined"));
  WICK_CHECK(y.dtype() == kInt64, op, ": labels must be int64, got ", dtype_name(y.dtype()));
}

int64_t num_classes_of(const Tensor& a, const Tensor& b) {
  int64_t c = 0;
  for (const Tensor* t : {&a, &b})
    if (t->numel() > 0) c = std::max(c, max(*t).item<int64_t>() + 1);
  return c;
}

}  // namespace

Tensor extract_features(const FeatureFn& fn, const Tensor& images, int64_t batch) {
  WICK_CHECK(batch >= 1, "extract_features: batch must be >= 1, got ", batch);
  WICK_CHECK(images.defined() && images.dim() >= 1, "extract_features: images must be a batch [N, ...]");
  autograd::NoGradGuard no_grad;
  std::vector<Tensor> parts;
  const int64_t n = images.size(0);
  for (int64_t i = 0; i < n; i += batch) {
    Tensor f = fn(images.narrow(0, i, std::min(batch, n - i)));
    WICK_CHECK(f.dim() == 2, "extract_features: the feature function must return [B, D], got ", shape_str(f.sizes()));
    parts.push_back(f.detach().contiguous());
  }
  WICK_CHECK(!parts.empty(), "extract_features: no images");
  return parts.size() == 1 ? parts[0] : cat(parts, 0);
}

double accuracy(const Tensor& logits, const Tensor& labels) {
  WICK_CHECK(logits.dim() == 2 && labels.dim() == 1 && logits.size(0) == labels.size(0),
             "accuracy: expected logits [N, C] and labels [N], got ", shape_str(logits.sizes()), " and ",
             shape_str(labels.sizes()));
  if (labels.size(0) == 0) return 0.0;
  Tensor correct = eq(argmax(logits.detach(), 1), labels.to(kInt64));
  return 100.0 * sum(correct.to(kFloat64)).item<double>() / static_cast<double>(labels.size(0));
}

double linear_probe(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x, const Tensor& test_y,
                    const ProbeOptions& o) {
  check_features("linear_probe", train_x, train_y, "train");
  check_features("linear_probe", test_x, test_y, "test");
  WICK_CHECK(train_x.size(1) == test_x.size(1), "linear_probe: train and test feature sizes differ (",
             train_x.size(1), " != ", test_x.size(1), ")");
  WICK_CHECK(train_x.size(0) > 0, "linear_probe: no training features");
  WICK_CHECK(o.epochs >= 1 && o.batch >= 1 && o.lr > 0, "linear_probe: need epochs >= 1, batch >= 1, lr > 0, got ",
             o.epochs, ", ", o.batch, ", ", o.lr);
  const int64_t n = train_x.size(0), d = train_x.size(1);
  const int64_t classes = num_classes_of(train_y, test_y);
  Tensor xtr = train_x.detach().to(kFloat32), xte = test_x.detach().to(kFloat32);
  Tensor mu = mean(xtr, {0}, true);
  Tensor sd = std(xtr, {0}, 0, true) + 1e-6;
  xtr = ((xtr - mu) / sd).contiguous();
  xte = ((xte - mu) / sd).contiguous();

  Tensor w = zeros({d, classes}, kFloat32).requires_grad_(true);
  Tensor b = zeros({classes}, kFloat32).requires_grad_(true);
  optim::Adam opt({w, b}, {.lr = o.lr, .weight_decay = o.weight_decay});
  Generator gen(o.seed);
  const int64_t batch = std::min(o.batch, n);
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    Tensor perm = randperm(n, {}, &gen);
    for (int64_t i = 0; i < n; i += batch) {
      Tensor idx = perm.narrow(0, i, std::min(batch, n - i));
      Tensor logits = index_select(xtr, 0, idx).matmul(w) + b;
      Tensor loss = cross_entropy(logits, index_select(train_y, 0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
  }
  autograd::NoGradGuard no_grad;
  return accuracy(xte.matmul(w) + b, test_y);
}

double knn_accuracy(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x, const Tensor& test_y,
                    int64_t k, double temperature) {
  check_features("knn_accuracy", train_x, train_y, "train");
  check_features("knn_accuracy", test_x, test_y, "test");
  WICK_CHECK(train_x.size(1) == test_x.size(1), "knn_accuracy: train and test feature sizes differ (",
             train_x.size(1), " != ", test_x.size(1), ")");
  WICK_CHECK(k >= 1 && temperature > 0, "knn_accuracy: need k >= 1 and temperature > 0, got ", k, ", ", temperature);
  const int64_t n_train = train_x.size(0), n_test = test_x.size(0);
  WICK_CHECK(n_train > 0, "knn_accuracy: no training features");
  if (n_test == 0) return 0.0;
  autograd::NoGradGuard no_grad;
  k = std::min(k, n_train);
  const int64_t classes = num_classes_of(train_y, test_y);
  Tensor tr = normalize(train_x.detach().to(kFloat32), 2.0, 1).contiguous();
  Tensor te = normalize(test_x.detach().to(kFloat32), 2.0, 1).contiguous();
  Tensor ytr = train_y.contiguous(), yte = test_y.contiguous();
  const int64_t* ytr_p = ytr.data_ptr<int64_t>();
  const int64_t* yte_p = yte.data_ptr<int64_t>();
  int64_t correct = 0;
  std::vector<double> votes(classes);
  const int64_t chunk = 512;  // bounds the similarity matrix to chunk x n_train
  for (int64_t s = 0; s < n_test; s += chunk) {
    const int64_t m = std::min(chunk, n_test - s);
    Tensor sim = te.narrow(0, s, m).matmul(tr.t());
    auto [vals, idx] = topk(sim, k, 1);
    vals = vals.contiguous();
    idx = idx.contiguous();
    const float* vp = vals.data_ptr<float>();
    const int64_t* ip = idx.data_ptr<int64_t>();
    for (int64_t r = 0; r < m; ++r) {
      std::fill(votes.begin(), votes.end(), 0.0);
      for (int64_t j = 0; j < k; ++j) votes[ytr_p[ip[r * k + j]]] += std::exp(vp[r * k + j] / temperature);
      const int64_t pred = std::max_element(votes.begin(), votes.end()) - votes.begin();
      if (pred == yte_p[s + r]) ++correct;
    }
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(n_test);
}

Episode sample_episode(const LabeledSet& set, int64_t n_way, int64_t k_shot, int64_t n_query, Generator& gen) {
  WICK_CHECK(set.size() > 0, "sample_episode: the set is empty");
  WICK_CHECK(n_way >= 1 && k_shot >= 1 && n_query >= 0, "sample_episode: need n_way >= 1, k_shot >= 1, n_query >= 0, got ",
             n_way, ", ", k_shot, ", ", n_query);
  Tensor labels = set.labels.contiguous();
  const int64_t* lp = labels.data_ptr<int64_t>();
  std::map<int64_t, std::vector<int64_t>> by_class;
  for (int64_t i = 0; i < set.size(); ++i) by_class[lp[i]].push_back(i);
  std::vector<int64_t> classes;
  for (const auto& [c, idx] : by_class) classes.push_back(c);
  WICK_CHECK(n_way <= static_cast<int64_t>(classes.size()), "sample_episode: n_way ", n_way, " exceeds the ",
             classes.size(), " classes of the set");
  Tensor cperm = randperm(static_cast<int64_t>(classes.size()), {}, &gen);
  const int64_t* cp = cperm.data_ptr<int64_t>();
  std::vector<int64_t> s_idx, s_lab, q_idx, q_lab;
  for (int64_t w = 0; w < n_way; ++w) {
    const std::vector<int64_t>& pool = by_class[classes[cp[w]]];
    WICK_CHECK(static_cast<int64_t>(pool.size()) >= k_shot + n_query, "sample_episode: class ", classes[cp[w]],
               " has ", pool.size(), " examples, fewer than k_shot + n_query = ", k_shot + n_query);
    Tensor perm = randperm(static_cast<int64_t>(pool.size()), {}, &gen);
    const int64_t* pp = perm.data_ptr<int64_t>();
    for (int64_t j = 0; j < k_shot + n_query; ++j) {
      (j < k_shot ? s_idx : q_idx).push_back(pool[pp[j]]);
      (j < k_shot ? s_lab : q_lab).push_back(w);
    }
  }
  auto rows = [&](const std::vector<int64_t>& idx) {
    return index_select(set.images, 0, from_vector<int64_t>(idx, Shape{static_cast<int64_t>(idx.size())}));
  };
  Episode e;
  e.support_x = rows(s_idx);
  e.support_y = from_vector<int64_t>(s_lab, Shape{static_cast<int64_t>(s_lab.size())});
  e.query_x = q_idx.empty() ? Tensor() : rows(q_idx);
  e.query_y = from_vector<int64_t>(q_lab, Shape{static_cast<int64_t>(q_lab.size())});
  if (q_idx.empty()) {
    Shape sh = set.images.sizes();
    sh[0] = 0;
    e.query_x = empty(sh, set.images.dtype());
  }
  return e;
}

double nearest_centroid_accuracy(const Tensor& support_f, const Tensor& support_y, const Tensor& query_f,
                                 const Tensor& query_y) {
  check_features("nearest_centroid_accuracy", support_f, support_y, "support");
  check_features("nearest_centroid_accuracy", query_f, query_y, "query");
  WICK_CHECK(support_f.size(1) == query_f.size(1), "nearest_centroid_accuracy: feature sizes differ (",
             support_f.size(1), " != ", query_f.size(1), ")");
  if (query_f.size(0) == 0) return 0.0;
  autograd::NoGradGuard no_grad;
  const int64_t classes = num_classes_of(support_y, query_y);
  Tensor s = normalize(support_f.detach().to(kFloat32), 2.0, 1);
  // Centroid c = mean of the normalized support features of class c = onehotᵀ s / counts.
  Tensor onehot = one_hot(support_y, classes).to(kFloat32);  // [S, C]
  Tensor counts = clamp_min(sum(onehot, {0}), 1.0).unsqueeze(1);
  Tensor centroids = normalize(onehot.t().matmul(s) / counts, 2.0, 1);  // [C, D]
  Tensor q = normalize(query_f.detach().to(kFloat32), 2.0, 1);
  return accuracy(q.matmul(centroids.t()), query_y);
}

}  // namespace wick::papers
