// Model soups: state-dict averaging, the greedy soup, the logit ensemble and
// BatchNorm re-estimation (see soups.h for the definitions).
#include "papers/model-soups/soups.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <string>

#include "autograd/grad_mode.h"
#include "nn/norm.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "tensor/shape.h"

namespace wick::papers::soups {

StateDict average_state_dicts(const std::vector<StateDict>& dicts, const std::vector<double>& weights) {
  WICK_CHECK(!dicts.empty(), "average_state_dicts: no state dicts to average");
  WICK_CHECK(weights.empty() || weights.size() == dicts.size(), "average_state_dicts: ", weights.size(),
             " weights for ", dicts.size(), " state dicts");
  std::vector<double> w(dicts.size(), 1.0 / static_cast<double>(dicts.size()));
  if (!weights.empty()) {
    double total = 0;
    for (size_t i = 0; i < weights.size(); ++i) {
      WICK_CHECK(weights[i] >= 0, "average_state_dicts: weight ", i, " is negative (", weights[i], ")");
      total += weights[i];
    }
    WICK_CHECK(total > 0, "average_state_dicts: the weights sum to 0");
    for (size_t i = 0; i < weights.size(); ++i) w[i] = weights[i] / total;
  }
  const StateDict& first = dicts[0];
  for (size_t i = 1; i < dicts.size(); ++i)
    WICK_CHECK(dicts[i].size() == first.size(), "average_state_dicts: state dict ", i, " has ", dicts[i].size(),
               " entries, state dict 0 has ", first.size());

  autograd::NoGradGuard no_grad;
  StateDict out;
  for (const auto& [key, t0] : first) {
    WICK_CHECK(t0.defined(), "average_state_dicts: entry '", key, "' of state dict 0 is undefined");
    const DType dtype = t0.dtype();
    WICK_CHECK(is_floating(dtype) || is_integral(dtype), "average_state_dicts: entry '", key, "' has dtype ", dtype,
               ", which cannot be averaged");
    // float64 accumulation: the soup of identical models is bit-exact and the
    // mean of N float32 values is correctly rounded for the N used here.
    Tensor acc;
    for (size_t i = 0; i < dicts.size(); ++i) {
      const Tensor* t = dicts[i].find(key);
      WICK_CHECK(t != nullptr, "average_state_dicts: state dict ", i, " has no entry '", key, "'");
      WICK_CHECK(t->sizes() == t0.sizes(), "average_state_dicts: entry '", key, "' has shape ", shape_str(t->sizes()),
                 " in state dict ", i, " but ", shape_str(t0.sizes()), " in state dict 0");
      WICK_CHECK(t->dtype() == dtype, "average_state_dicts: entry '", key, "' has dtype ", t->dtype(),
                 " in state dict ", i, " but ", dtype, " in state dict 0");
      Tensor term = mul(t->detach().to(kFloat64), w[i]);
      acc = acc.defined() ? add(acc, term) : term;
    }
    // Integer entries (BatchNorm's num_batches_tracked): the rounded mean keeps
    // a counter rather than truncating 4.99 to 4.
    if (is_integral(dtype)) acc = round(acc);
    out.insert(key, acc.to(dtype).contiguous());
  }
  return out;
}

StateDict uniform_soup(const std::vector<StateDict>& dicts, const std::vector<int64_t>& members) {
  WICK_CHECK(!members.empty(), "uniform_soup: no members");
  std::vector<StateDict> chosen;
  chosen.reserve(members.size());
  for (int64_t m : members) {
    WICK_CHECK(m >= 0 && m < static_cast<int64_t>(dicts.size()), "uniform_soup: member ", m, " out of range for ",
               dicts.size(), " ingredients");
    chosen.push_back(dicts[static_cast<size_t>(m)]);
  }
  return average_state_dicts(chosen);
}

StateDict clone_state_dict(const StateDict& sd) {
  autograd::NoGradGuard no_grad;
  StateDict out;
  for (const auto& [key, t] : sd) out.insert(key, t.detach().clone());
  return out;
}

GreedySoup greedy_soup(const std::vector<StateDict>& dicts, const std::vector<double>& val_accs,
                       const SoupEvaluator& evaluate) {
  WICK_CHECK(!dicts.empty(), "greedy_soup: no ingredients");
  WICK_CHECK(val_accs.size() == dicts.size(), "greedy_soup: ", val_accs.size(), " validation accuracies for ",
             dicts.size(), " ingredients");
  WICK_CHECK(static_cast<bool>(evaluate), "greedy_soup: no evaluator");
  GreedySoup g;
  g.order.resize(dicts.size());
  std::iota(g.order.begin(), g.order.end(), int64_t{0});
  std::stable_sort(g.order.begin(), g.order.end(),
                   [&](int64_t a, int64_t b) { return val_accs[static_cast<size_t>(a)] > val_accs[static_cast<size_t>(b)]; });

  g.members = {g.order[0]};
  g.val_acc = val_accs[static_cast<size_t>(g.order[0])];
  g.soup_val.push_back(g.val_acc);
  for (size_t k = 1; k < g.order.size(); ++k) {
    std::vector<int64_t> candidate = g.members;
    candidate.push_back(g.order[k]);
    // The official code keeps a running average (soup * n/(n+1) + θ_m/(n+1));
    // averaging the candidate members afresh is the same mean without the
    // rounding drift of repeated rescaling.
    const double acc = evaluate(uniform_soup(dicts, candidate));
    g.candidate_val.push_back(acc);
    if (acc > g.val_acc) {
      g.members = std::move(candidate);
      g.val_acc = acc;
    }
    g.soup_val.push_back(g.val_acc);
  }
  g.weights = uniform_soup(dicts, g.members);
  return g;
}

Tensor ensemble_logits(const std::vector<Tensor>& logits) {
  WICK_CHECK(!logits.empty(), "ensemble_logits: no models");
  for (size_t i = 1; i < logits.size(); ++i)
    WICK_CHECK(logits[i].sizes() == logits[0].sizes(), "ensemble_logits: logits ", i, " have shape ",
               shape_str(logits[i].sizes()), ", logits 0 have ", shape_str(logits[0].sizes()));
  autograd::NoGradGuard no_grad;
  return mean(stack(logits, 0), {0});
}

namespace {

// Runs fn(layer) on every BatchNorm1d/2d of the model; returns the count.
template <class Fn>
int64_t for_each_batch_norm(nn::Module& model, Fn&& fn) {
  int64_t n = 0;
  for (const auto& [name, m] : model.named_modules()) {
    if (auto bn = std::dynamic_pointer_cast<nn::BatchNorm2d>(m)) {
      fn(*bn);
      ++n;
    } else if (auto bn1 = std::dynamic_pointer_cast<nn::BatchNorm1d>(m)) {
      fn(*bn1);
      ++n;
    }
  }
  return n;
}

}  // namespace

int64_t recompute_bn_stats(nn::Module& model, const Tensor& images, int64_t batch) {
  WICK_CHECK(images.defined() && images.dim() >= 2 && images.size(0) > 0,
             "recompute_bn_stats: expected a non-empty batch of images, got ",
             images.defined() ? shape_str(images.sizes()) : std::string("undefined"));
  WICK_CHECK(batch > 1, "recompute_bn_stats: batch must be > 1 (BatchNorm needs 2 samples), got ", batch);
  std::vector<std::optional<double>> momenta;
  const int64_t layers = for_each_batch_norm(model, [&](auto& bn) {
    WICK_CHECK(bn.track_running_stats, "recompute_bn_stats: a BatchNorm layer has track_running_stats = false");
    momenta.push_back(bn.momentum);
    bn.reset_running_stats();
    bn.momentum = std::nullopt;
  });
  const bool was_training = model.is_training();
  model.train();
  {
    autograd::NoGradGuard no_grad;
    // Near-equal chunks (sizes differ by at most 1): the cumulative average
    // makes running_mean the mean over all images (up to that rounding) and
    // running_var the mean of the per-chunk unbiased variances.
    const int64_t n = images.size(0);
    const int64_t chunks = (n + batch - 1) / batch;
    for (int64_t c = 0; c < chunks; ++c) model.forward(images.slice(0, c * n / chunks, (c + 1) * n / chunks));
  }
  model.train(was_training);
  size_t i = 0;
  for_each_batch_norm(model, [&](auto& bn) { bn.momentum = momenta[i++]; });
  return layers;
}

}  // namespace wick::papers::soups
