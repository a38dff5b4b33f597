// LoRA: low-rank adaptation of a frozen linear map (Hu et al. 2021,
// "LoRA: Low-Rank Adaptation of Large Language Models").
//
// A frozen weight W [out, in] is adapted by a trainable rank-r update:
//   y = x W^T + b + (alpha / r) * dropout(x) A^T B^T,   A [r, in], B [out, r]
// A is initialized like a Linear weight (kaiming_uniform, a = sqrt(5)) and B
// with zeros, so the adapted layer starts out computing exactly the base
// layer. merge() folds the update into the weight, W += (alpha / r) B A, so
// inference costs nothing extra; unmerge() takes it out again.
//
// LoRA is the update alone (x -> delta), so that it can also adapt weights
// that are not a Linear (MultiheadAttention::enable_lora adapts the q/k/v
// slices of the packed in_proj_weight with it). LoRALinear wraps a Linear.
#pragma once

#include <memory>

#include "nn/linear.h"

namespace wick::nn {

class LoRA : public Cloneable<LoRA> {
 public:
  LoRA(int64_t in_features, int64_t out_features, int64_t rank, double alpha = 1.0, double dropout = 0.0);
  void reset() override;
  // x [..., in_features] -> the update [..., out_features].
  Tensor forward(const Tensor& x) override;
  // scaling * B @ A, [out_features, in_features] (what merge() adds).
  Tensor delta_weight() const;
  double scaling() const { return alpha / static_cast<double>(rank); }
  std::string name() const override { return "LoRA"; }
  std::string extra_repr() const override;

  int64_t in_features, out_features, rank;
  double alpha, dropout;
  Tensor lora_A;  // [rank, in_features]
  Tensor lora_B;  // [out_features, rank], zeros at initialization
};

class LoRALinear : public Cloneable<LoRALinear> {
 public:
  // Wraps `base`, which stays shared with the caller (the same parameters) and
  // is frozen (requires_grad = false).
  LoRALinear(std::shared_ptr<Linear> base, int64_t rank, double alpha = 1.0, double dropout = 0.0);
  // A LoRALinear around a freshly initialized Linear(in, out, bias).
  LoRALinear(int64_t in_features, int64_t out_features, int64_t rank, double alpha = 1.0, double dropout = 0.0,
             bool bias = true);
  void reset() override;
  // base(x) + lora(x); base(x) alone once merged.
  Tensor forward(const Tensor& x) override;
  // Folds the update into base->weight (no-op if already merged); in-place, no grad.
  void merge();
  // Subtracts the update back out of base->weight (no-op if not merged).
  void unmerge();
  bool is_merged() const { return merged_; }
  std::string name() const override { return "LoRALinear"; }
  std::string extra_repr() const override;

  int64_t in_features, out_features, rank;
  double alpha, dropout;
  bool has_bias;
  std::shared_ptr<Linear> base;
  std::shared_ptr<LoRA> lora;

 private:
  bool merged_ = false;
  std::shared_ptr<Linear> given_base_;  // adopted by the first reset(); clones build their own
};

}  // namespace wick::nn
