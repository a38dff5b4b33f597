// LoRA and LoRALinear (see lora.h).
#include "nn/lora.h"

#include <cmath>
#include <sstream>

#include "autograd/grad_mode.h"
#include "nn/init.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/nn.h"

namespace wick::nn {

// ---- LoRA --------------------------------------------------------------------

LoRA::LoRA(int64_t in_features_, int64_t out_features_, int64_t rank_, double alpha_, double dropout_)
    : in_features(in_features_), out_features(out_features_), rank(rank_), alpha(alpha_), dropout(dropout_) {
  WICK_CHECK(in_features > 0 && out_features > 0, "LoRA: feature counts must be positive, got in_features=",
             in_features, ", out_features=", out_features);
  WICK_CHECK(rank > 0, "LoRA: rank must be positive, got ", rank);
  WICK_CHECK(dropout >= 0.0 && dropout < 1.0, "LoRA: dropout must be in [0, 1), got ", dropout);
  reset();
}

void LoRA::reset() {
  lora_A = register_parameter("lora_A", empty({rank, in_features}));
  lora_B = register_parameter("lora_B", zeros({out_features, rank}));
  init::kaiming_uniform_(lora_A, std::sqrt(5.0));
}

Tensor LoRA::forward(const Tensor& x) {
  WICK_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "LoRA: expected input [..., ", in_features, "], got ",
             shape_str(x.sizes()));
  Tensor h = dropout > 0.0 ? wick::dropout(x, dropout, is_training()) : x;
  // Two thin products (x A^T is [..., r]) instead of forming B A [out, in].
  return mul(linear(linear(h, lora_A), lora_B), scaling());
}

Tensor LoRA::delta_weight() const { return mul(matmul(lora_B, lora_A), scaling()); }

std::string LoRA::extra_repr() const {
  std::ostringstream s;
  s << "in_features=" << in_features << ", out_features=" << out_features << ", rank=" << rank
    << ", alpha=" << alpha;
  if (dropout > 0.0) s << ", dropout=" << dropout;
  return s.str();
}

// ---- LoRALinear --------------------------------------------------------------

LoRALinear::LoRALinear(std::shared_ptr<Linear> base_, int64_t rank_, double alpha_, double dropout_)
    : in_features(0), out_features(0), rank(rank_), alpha(alpha_), dropout(dropout_), has_bias(false) {
  WICK_CHECK(base_ != nullptr, "LoRALinear: base Linear is null");
  in_features = base_->in_features;
  out_features = base_->out_features;
  has_bias = base_->has_bias;
  given_base_ = std::move(base_);
  reset();
}

LoRALinear::LoRALinear(int64_t in_features_, int64_t out_features_, int64_t rank_, double alpha_, double dropout_,
                       bool bias_)
    : in_features(in_features_), out_features(out_features_), rank(rank_), alpha(alpha_), dropout(dropout_),
      has_bias(bias_) {
  reset();
}

void LoRALinear::reset() {
  base = given_base_ ? given_base_ : std::make_shared<Linear>(in_features, out_features, has_bias);
  given_base_.reset();
  register_module("base", base);
  base->requires_grad_(false);
  lora = register_module("lora", std::make_shared<LoRA>(in_features, out_features, rank, alpha, dropout));
}

Tensor LoRALinear::forward(const Tensor& x) {
  Tensor y = base->forward(x);
  return merged_ ? y : add(y, lora->forward(x));
}

void LoRALinear::merge() {
  if (merged_) return;
  NoGradGuard no_grad;
  base->weight.add_(lora->delta_weight().to(base->weight.dtype()));
  merged_ = true;
}

void LoRALinear::unmerge() {
  if (!merged_) return;
  NoGradGuard no_grad;
  base->weight.sub_(lora->delta_weight().to(base->weight.dtype()));
  merged_ = false;
}

std::string LoRALinear::extra_repr() const {
  std::ostringstream s;
  s << "rank=" << rank << ", alpha=" << alpha << (merged_ ? ", merged" : "");
  return s.str();
}

}  // namespace wick::nn
