// Embedding table, as torch.nn.Embedding: row lookup weight[index] for an
// integer index tensor of any shape (output index.shape + [embedding_dim]).
//
// weight ~ N(0, 1) like PyTorch; the padding_idx row is zeroed at
// initialization and receives no gradient.
#pragma once

#include <optional>

#include "nn/module.h"

namespace wick::nn {

class Embedding : public Cloneable<Embedding> {
 public:
  // A negative padding_idx counts from the end, as in PyTorch.
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = {});
  // An embedding initialized from `weight` [V, D] (copied), frozen unless freeze=false.
  static std::shared_ptr<Embedding> from_pretrained(const Tensor& weight, bool freeze = true,
                                                    std::optional<int64_t> padding_idx = {});
  void reset() override;
  void reset_parameters();
  Tensor forward(const Tensor& index) override;
  std::string name() const override { return "Embedding"; }
  std::string extra_repr() const override;

  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;  // normalized to [0, num_embeddings)
  Tensor weight;                       // [num_embeddings, embedding_dim]
};

}  // namespace wick::nn
