// Mixture of experts: E expert MLPs, each input handled by one (or k) of them.
//
// Expert e: fc2(activation(fc1(x))), Linear(dim -> hidden) then Linear(hidden -> dim).
// Two ways to route:
//   explicit  forward(x, expert_index): expert_index (int64) has the shape of a
//             leading part of x (e.g. [B] for x [B, T, dim], one expert per
//             example: domain experts) and names the expert of each slice.
//   learned   route(x): a linear router gives each token (x flattened to
//             [N, dim]) probabilities p = softmax(x W_r^T) over the experts; the
//             token goes to its top-k experts, weighted by gates
//               g_j = p_j                        (top_k = 1, Switch Transformer: the
//                                                 router learns through the task loss)
//               g_j = p_j / sum_{top-k} p_i      (top_k > 1, renormalized as GShard/Mixtral)
//             y = sum_j g_j expert_{i_j}(x).
//             Load-balancing auxiliary loss (Fedus et al. 2021, Switch eq. 4,
//             counting all top-k assignments):
//               aux = E * sum_e f_e P_e,   f_e = share of the N*k assignments sent to e,
//                                          P_e = mean over tokens of p_e;
//             aux = 1 when routing is uniform; add aux_weight * aux to the loss.
// Every expert processes exactly the inputs routed to it (gathered with
// index_select, added back with index_add): no capacity limit, no token is dropped.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/linear.h"

namespace wick::nn {

class ExpertMLP : public Cloneable<ExpertMLP> {
 public:
  ExpertMLP(int64_t dim, int64_t hidden, std::string activation = "gelu", bool bias = true);
  void reset() override;
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "ExpertMLP"; }
  std::string extra_repr() const override;

  int64_t dim, hidden;
  std::string activation;
  bool has_bias;
  std::shared_ptr<Linear> fc1, fc2;
};

struct MoEOutput {
  Tensor output;        // x's shape
  Tensor aux_loss;      // 0-d load-balancing loss (differentiable through P)
  Tensor router_probs;  // [N, E]
  Tensor expert_index;  // [N, top_k] int64, chosen experts (best first)
  Tensor gates;         // [N, top_k] combine weights
};

class MixtureOfExperts : public Cloneable<MixtureOfExperts> {
 public:
  // activation: relu, gelu, gelu_tanh or silu.
  MixtureOfExperts(int64_t dim, int64_t hidden, int64_t num_experts, int64_t top_k = 1,
                   std::string activation = "gelu", bool bias = true);
  void reset() override;

  // Explicit routing (see the file comment); the router is not used.
  Tensor forward(const Tensor& x, const Tensor& expert_index);
  // Learned top-k routing of every token of x [..., dim].
  MoEOutput route(const Tensor& x);
  // route(x).output; keeps the auxiliary loss in last_aux_loss.
  Tensor forward(const Tensor& x) override;

  // Copies a dense MLP (fc1, fc2) into expert e ("expert cloning": start every
  // expert from the same pretrained feed-forward block).
  void load_expert(int64_t e, const Linear& fc1, const Linear& fc2);

  std::string name() const override { return "MixtureOfExperts"; }
  std::string extra_repr() const override;

  int64_t dim, hidden, num_experts, top_k;
  std::string activation;
  bool has_bias;
  std::vector<std::shared_ptr<ExpertMLP>> experts;  // registered as "experts.0", ...
  std::shared_ptr<Linear> router;                   // Linear(dim -> num_experts, no bias)
  Tensor last_aux_loss;                             // set by forward(x)
};

}  // namespace wick::nn
