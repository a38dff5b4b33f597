// A BERT-style bidirectional encoder (Devlin et al. 2019) with pre-LN blocks,
// a masked-language-model head tied to the token embedding, and CLS or mean
// pooling for sentence embeddings.
//
//   h0 = dropout(E_tok[ids] + E_pos[0..T) + E_seg[type_ids])         [B, T, D]
//   h  = LayerNorm(TransformerEncoder_depth(h0, key_padding_mask))    pre-LN blocks, final norm
//   MLM logits = LayerNorm(GELU(h W_d^T + b_d)) E_tok^T + b_vocab     [B, T, V]  (decoder tied to E_tok)
//   pooled     = h[:, 0]  (CLS)   or   Σ_t h_t [t not pad] / #not pad  (mean)
//
// Differences from the original BERT, on purpose: pre-LN blocks with a final
// LayerNorm (Xiong et al. 2020) instead of post-LN with a LayerNorm on the
// embeddings, and no tanh "pooler" layer (sentence-embedding work pools the
// hidden states directly). Initialization as BERT's: every matrix and
// embedding ~ N(0, init_std²), biases 0, LayerNorms 1/0, the padding row 0.
//
// Padding: a key_padding_mask (true = padding) keeps padding tokens from
// being attended to, so the outputs at real tokens do not depend on how much
// padding follows. By default it is input_ids == pad_id.
#pragma once

#include <memory>
#include <string>

#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/norm.h"
#include "nn/transformer.h"

namespace wick::models {

enum class BertPooling {
  Cls,   // the first token's hidden state
  Mean,  // the mean over non-padding tokens
};

struct BertConfig {
  int64_t vocab_size = 4096;
  int64_t max_len = 64;
  int64_t depth = 4;
  int64_t width = 128;
  int64_t heads = 4;
  int64_t ffn = 512;              // hidden size of each block's MLP
  int64_t type_vocab_size = 2;    // segment embeddings; 0 = none
  int64_t pad_id = 0;
  double dropout = 0.1;
  std::string activation = "gelu";
  double layer_norm_eps = 1e-5;
  double init_std = 0.02;
  BertPooling pooling = BertPooling::Mean;
};

class Bert : public nn::Cloneable<Bert> {
 public:
  explicit Bert(BertConfig config);
  void reset() override;

  // input_ids [B, T] int64 (T <= max_len); token_type_ids [B, T] (undefined:
  // all segment 0); padding_mask [B, T] bool, true = padding (undefined:
  // input_ids == pad_id). Returns the final hidden states [B, T, width].
  Tensor encode(const Tensor& input_ids, const Tensor& token_type_ids = {}, const Tensor& padding_mask = {});
  // MLM logits [..., vocab_size] from hidden states [..., width].
  Tensor mlm_logits(const Tensor& hidden);
  // hidden [B, T, width] -> [B, width] with config.pooling (mean skips the
  // tokens where padding_mask is true; undefined = no padding).
  Tensor pool(const Tensor& hidden, const Tensor& padding_mask = {}) const;
  // Sentence embeddings [B, width]: encode then pool.
  Tensor embed(const Tensor& input_ids, const Tensor& token_type_ids = {}, const Tensor& padding_mask = {});
  // MLM logits [B, T, vocab_size] of input_ids.
  Tensor forward(const Tensor& input_ids) override;
  // Mean cross-entropy of the MLM logits against labels [B, T] int64, where
  // -100 marks positions that were not masked (as Hugging Face's collator).
  Tensor mlm_loss(const Tensor& input_ids, const Tensor& labels, const Tensor& token_type_ids = {});

  std::string name() const override { return "Bert"; }
  std::string extra_repr() const override;

  BertConfig config;
  std::shared_ptr<nn::Embedding> token_embedding, position_embedding, segment_embedding;  // segment: null if none
  std::shared_ptr<nn::Dropout> embedding_dropout;
  std::shared_ptr<nn::TransformerEncoder> encoder;  // with the final LayerNorm
  std::shared_ptr<nn::Linear> mlm_dense;
  std::shared_ptr<nn::LayerNorm> mlm_norm;
  Tensor mlm_bias;  // [vocab_size]; the decoder matrix is token_embedding->weight

 private:
  Tensor padding_mask_of(const Tensor& input_ids, const Tensor& padding_mask) const;
};

}  // namespace wick::models
