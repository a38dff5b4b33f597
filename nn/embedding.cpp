// Embedding layer (see embedding.h).
#include "nn/embedding.h"

#include "autograd/grad_mode.h"
#include "nn/init.h"
#include "ops/indexing.h"

namespace wick::nn {

Embedding::Embedding(int64_t num_embeddings_, int64_t embedding_dim_, std::optional<int64_t> padding_idx_)
    : num_embeddings(num_embeddings_), embedding_dim(embedding_dim_), padding_idx(padding_idx_) {
  WICK_CHECK(num_embeddings >= 0 && embedding_dim >= 0, "Embedding: sizes must be non-negative, got ", num_embeddings,
             " x ", embedding_dim);
  if (padding_idx) {
    WICK_CHECK(*padding_idx >= -num_embeddings && *padding_idx < num_embeddings,
               "Embedding: padding_idx must be within num_embeddings (", num_embeddings, "), got ", *padding_idx);
    if (*padding_idx < 0) *padding_idx += num_embeddings;
  }
  reset();
}

std::shared_ptr<Embedding> Embedding::from_pretrained(const Tensor& w, bool freeze,
                                                      std::optional<int64_t> padding_idx) {
  WICK_CHECK(w.defined() && w.dim() == 2, "Embedding::from_pretrained: expected a 2-d weight, got ",
             w.defined() ? shape_str(w.sizes()) : std::string("undefined"));
  auto e = std::make_shared<Embedding>(w.size(0), w.size(1), padding_idx);
  NoGradGuard no_grad;
  e->weight.set_data(w.detach().clone());
  e->weight.requires_grad_(!freeze);
  return e;
}

void Embedding::reset() {
  weight = register_parameter("weight", empty({num_embeddings, embedding_dim}));
  reset_parameters();
}

void Embedding::reset_parameters() {
  init::normal_(weight);
  if (padding_idx) {
    NoGradGuard no_grad;
    weight.detach().select(0, *padding_idx).fill_(0.0);
  }
}

Tensor Embedding::forward(const Tensor& index) {
  WICK_CHECK(index.defined() && !index.is_floating_point() && index.dtype() != kBool,
             "Embedding: expected an integer index tensor, got ",
             index.defined() ? std::string(dtype_name(index.dtype())) : std::string("undefined"));
  return embedding(weight, index, padding_idx.value_or(-1));
}

std::string Embedding::extra_repr() const {
  std::string s = std::to_string(num_embeddings) + ", " + std::to_string(embedding_dim);
  if (padding_idx) s += ", padding_idx=" + std::to_string(*padding_idx);
  return s;
}

}  // namespace wick::nn
