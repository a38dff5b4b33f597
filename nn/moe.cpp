// Mixture of experts (see moe.h).
#include "nn/moe.h"

#include <sstream>

#include "autograd/grad_mode.h"
#include "nn/container.h"
#include "nn/transformer.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/nn.h"
#include "ops/reduction.h"
#include "ops/sort.h"
#include "ops/view.h"

namespace wick::nn {

namespace {

bool known_activation(const std::string& a) { return a == "relu" || a == "gelu" || a == "gelu_tanh" || a == "silu"; }

// Rows of x [M, ...] whose mask [M] is true, as an int64 index [n].
Tensor rows_where(const Tensor& mask) { return nonzero(mask).view({-1}); }

}  // namespace

// ---- ExpertMLP ----------------------------------------------------------------------

ExpertMLP::ExpertMLP(int64_t dim_, int64_t hidden_, std::string activation_, bool bias_)
    : dim(dim_), hidden(hidden_), activation(std::move(activation_)), has_bias(bias_) {
  WICK_CHECK(dim > 0 && hidden > 0, "ExpertMLP: dim and hidden must be positive, got ", dim, ", ", hidden);
  WICK_CHECK(known_activation(activation), "ExpertMLP: unknown activation '", activation,
             "' (expected relu, gelu, gelu_tanh or silu)");
  reset();
}

void ExpertMLP::reset() {
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, hidden, has_bias));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, dim, has_bias));
}

Tensor ExpertMLP::forward(const Tensor& x) { return fc2->forward(apply_activation(fc1->forward(x), activation)); }

std::string ExpertMLP::extra_repr() const {
  return "dim=" + std::to_string(dim) + ", hidden=" + std::to_string(hidden) + ", activation=" + activation;
}

// ---- MixtureOfExperts -----------------------------------------------------------------

MixtureOfExperts::MixtureOfExperts(int64_t dim_, int64_t hidden_, int64_t num_experts_, int64_t top_k_,
                                   std::string activation_, bool bias_)
    : dim(dim_),
      hidden(hidden_),
      num_experts(num_experts_),
      top_k(top_k_),
      activation(std::move(activation_)),
      has_bias(bias_) {
  WICK_CHECK(dim > 0 && hidden > 0 && num_experts > 0, "MixtureOfExperts: dim, hidden and num_experts must be "
             "positive, got ", dim, ", ", hidden, ", ", num_experts);
  WICK_CHECK(top_k >= 1 && top_k <= num_experts, "MixtureOfExperts: top_k must be in [1, num_experts = ", num_experts,
             "], got ", top_k);
  WICK_CHECK(known_activation(activation), "MixtureOfExperts: unknown activation '", activation,
             "' (expected relu, gelu, gelu_tanh or silu)");
  reset();
}

void MixtureOfExperts::reset() {
  experts.clear();
  auto list = std::make_shared<ModuleList>();
  for (int64_t e = 0; e < num_experts; ++e) {
    experts.push_back(std::make_shared<ExpertMLP>(dim, hidden, activation, has_bias));
    list->push_back(experts.back());
  }
  register_module("experts", list);
  router = register_module("router", std::make_shared<Linear>(dim, num_experts, /*bias=*/false));
}

Tensor MixtureOfExperts::forward(const Tensor& x, const Tensor& expert_index) {
  const char* op = "MixtureOfExperts";
  WICK_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == dim, op, ": expected input [..., ", dim, "], got ",
             x.defined() ? shape_str(x.sizes()) : std::string("an undefined tensor"));
  WICK_CHECK(expert_index.defined() && (expert_index.dtype() == kInt64 || expert_index.dtype() == kInt32), op,
             ": expert_index must be an int64 tensor");
  const int64_t k = expert_index.dim();
  WICK_CHECK(k < x.dim() && Shape(x.sizes().begin(), x.sizes().begin() + k) == expert_index.sizes(), op,
             ": expert_index ", shape_str(expert_index.sizes()), " must match the leading dims of x ",
             shape_str(x.sizes()));
  Tensor idx = expert_index.reshape({-1}).to(kInt64);
  const int64_t M = idx.numel();
  if (M > 0) {
    const auto lo = min(idx).item<int64_t>(), hi = max(idx).item<int64_t>();
    WICK_CHECK(lo >= 0 && hi < num_experts, op, ": expert_index values must be in [0, ", num_experts, "), got ", lo,
               "..", hi);
  }
  // x as [M, rest..., dim]: slice m goes to expert idx[m].
  Shape flat{M};
  flat.insert(flat.end(), x.sizes().begin() + k, x.sizes().end());
  Tensor xf = x.reshape(flat);
  Tensor out = zeros(flat, TensorOptions(x.dtype()).device(x.device()));
  for (int64_t e = 0; e < num_experts; ++e) {
    Tensor rows = rows_where(eq(idx, Scalar(e)));
    if (rows.numel() == 0) continue;
    out = index_add(out, 0, rows, experts[e]->forward(index_select(xf, 0, rows)));
  }
  return out.view(x.sizes());
}

MoEOutput MixtureOfExperts::route(const Tensor& x) {
  const char* op = "MixtureOfExperts";
  WICK_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == dim, op, ": expected input [..., ", dim, "], got ",
             x.defined() ? shape_str(x.sizes()) : std::string("an undefined tensor"));
  Tensor xf = x.reshape({-1, dim});
  const int64_t N = xf.size(0), E = num_experts;
  MoEOutput r;
  r.router_probs = softmax(router->forward(xf), -1);  // [N, E]
  auto [top_p, top_i] = topk(r.router_probs, top_k, -1);
  r.expert_index = top_i;
  r.gates = top_k == 1 ? top_p : div(top_p, sum(top_p, {-1}, /*keepdim=*/true));

  Tensor out = zeros({N, dim}, TensorOptions(x.dtype()).device(x.device()));
  for (int64_t e = 0; e < E; ++e) {
    Tensor chosen = eq(top_i, Scalar(e));          // [N, k]; at most one true per row
    Tensor rows = rows_where(any(chosen, {-1}));   // tokens routed to e
    if (rows.numel() == 0) continue;
    Tensor gate = sum(mul(r.gates, chosen.to(r.gates.dtype())), {-1});  // [N], 0 where not routed
    Tensor y = experts[e]->forward(index_select(xf, 0, rows));
    out = index_add(out, 0, rows, mul(y, index_select(gate, 0, rows).unsqueeze(-1)));
  }
  r.output = out.view(x.sizes());

  // aux = E * sum_e f_e P_e; f counts assignments (no gradient), P carries the router's gradient.
  Tensor f = div(sum(one_hot(top_i, E), {0, 1}).to(r.router_probs.dtype()), static_cast<double>(N * top_k));
  Tensor P = mean(r.router_probs, {0});
  r.aux_loss = N > 0 ? mul(sum(mul(f, P)), static_cast<double>(E)) : zeros({}, TensorOptions(x.dtype()));
  return r;
}

Tensor MixtureOfExperts::forward(const Tensor& x) {
  MoEOutput r = route(x);
  last_aux_loss = r.aux_loss;
  return r.output;
}

void MixtureOfExperts::load_expert(int64_t e, const Linear& fc1, const Linear& fc2) {
  WICK_CHECK(e >= 0 && e < num_experts, "MixtureOfExperts::load_expert: expert ", e, " out of range [0, ", num_experts,
             ")");
  auto& ex = *experts[static_cast<size_t>(e)];
  WICK_CHECK(fc1.weight.sizes() == ex.fc1->weight.sizes() && fc2.weight.sizes() == ex.fc2->weight.sizes() &&
                 fc1.has_bias == has_bias && fc2.has_bias == has_bias,
             "MixtureOfExperts::load_expert: expected fc1 ", shape_str(ex.fc1->weight.sizes()), " and fc2 ",
             shape_str(ex.fc2->weight.sizes()), (has_bias ? " with" : " without"), " biases, got ",
             shape_str(fc1.weight.sizes()), " and ", shape_str(fc2.weight.sizes()));
  NoGradGuard no_grad;
  ex.fc1->weight.copy_(fc1.weight);
  ex.fc2->weight.copy_(fc2.weight);
  if (has_bias) {
    ex.fc1->bias.copy_(fc1.bias);
    ex.fc2->bias.copy_(fc2.bias);
  }
}

std::string MixtureOfExperts::extra_repr() const {
  std::ostringstream s;
  s << "dim=" << dim << ", hidden=" << hidden << ", num_experts=" << num_experts << ", top_k=" << top_k
    << ", activation=" << activation;
  return s.str();
}

}  // namespace wick::nn
