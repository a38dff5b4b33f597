// Model soups (Wortsman et al., 2022): average the weights of several models
// fine-tuned from one shared initialization instead of ensembling their outputs.
//
//   uniform soup   θ = (1/N) Σ_i θ_i over all N ingredients
//   greedy soup    sort the ingredients by held-out validation accuracy (best
//                  first); start the soup with the best one; walk the rest in
//                  that order and keep ingredient m only if
//                      val_acc(mean(soup ∪ {m})) > val_acc(soup)
//                  (strictly greater, as mlfoundations/model-soups main.py, Step 4)
//   logit ensemble (1/N) Σ_i f(x; θ_i), the N-times-more-expensive comparison
//
// Batch normalization. A state dict holds the BN running statistics
// (running_mean, running_var: float buffers) next to the weights, and a
// counter num_batches_tracked (int64). Averaging treats them as follows:
//   float entries (weights, running_mean, running_var) are the weighted mean,
//     accumulated in float64 and cast back to their dtype;
//   integer entries (num_batches_tracked) are the weighted mean rounded to the
//     nearest integer: the counter stays an integer of the same magnitude as
//     the ingredients' counters (it only matters with momentum = None).
// The mean of running variances is not the variance of the soup's activations
// (the soup computes different features than any ingredient), so
// recompute_bn_stats() re-estimates them by forward passes over training
// images; the experiment reports both.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "nn/module.h"
#include "tensor/state_dict.h"
#include "tensor/tensor.h"

namespace wick::papers::soups {

// Σ_i w_i sd_i entry by entry (see the file comment for integer entries).
// Every dict must have the same keys (any order; the result follows the first
// dict's order) with the same shapes and dtypes. weights: empty for the uniform
// mean, else one non-negative weight per dict, normalized to sum 1.
// Throws wick::Error naming the key or the dict on any mismatch.
StateDict average_state_dicts(const std::vector<StateDict>& dicts, const std::vector<double>& weights = {});

// The uniform soup: average_state_dicts over the ingredients `members` (indices into dicts).
StateDict uniform_soup(const std::vector<StateDict>& dicts, const std::vector<int64_t>& members);

// Deep copy of every tensor of a state dict (Module::state_dict() shares the
// module's storage; keep an ingredient's weights after the module changes).
StateDict clone_state_dict(const StateDict& sd);

// Validation accuracy (%) of a model whose state is `sd`.
using SoupEvaluator = std::function<double(const StateDict& sd)>;

struct GreedySoup {
  std::vector<int64_t> order;          // ingredients by validation accuracy, best first (ties: lower index)
  std::vector<int64_t> members;        // the selected ingredients, in the order they were added
  std::vector<double> candidate_val;   // val accuracy of each candidate soup tried (order[1..])
  std::vector<double> soup_val;        // val accuracy of the soup: [0] the best ingredient alone, [k] after trying order[k]
  double val_acc = 0;                  // val accuracy of the final soup
  StateDict weights;                   // the final soup: uniform mean of `members`
};

// The greedy soup. val_accs[i] is ingredient i's own validation accuracy
// (evaluated as an individual model, which starts the soup); evaluate() is
// called once per remaining ingredient on the candidate soup.
GreedySoup greedy_soup(const std::vector<StateDict>& dicts, const std::vector<double>& val_accs,
                       const SoupEvaluator& evaluate);

// Mean of per-model logits [N, C] (the output ensemble).
Tensor ensemble_logits(const std::vector<Tensor>& logits);

// Re-estimates the running statistics of every BatchNorm1d/2d in `model`:
// resets them, switches each to cumulative averaging (momentum = None: after
// k batches running = mean of the k batch statistics, torch's convention), runs
// forward passes in train mode without gradient over `images` in batches of
// `batch`, then restores each layer's momentum and the model's training flag.
// The weights are unchanged. Returns the number of BN layers updated.
int64_t recompute_bn_stats(nn::Module& model, const Tensor& images, int64_t batch = 500);

}  // namespace wick::papers::soups
