// GPT: a decoder-only causal language model (Radford et al. 2018/2019), with
// generation (greedy, temperature, top-k, top-p, KV cache) and per-token
// log-probabilities.
//
//   h0 = dropout(E_tok[tokens] + E_pos[offset .. offset + T))          [B, T, W]
//   h  = LayerNorm(block_depth(... block_1(h0)))                         pre-LN blocks:
//        block(x): x += attn(LN(x)) (causal), x += MLP(LN(x)), MLP = W -> ratio*W -> W, GELU
//   logits = h E_tok^T (tied head)  or  h W_head^T (untied)              [B, T, V]
// With positional = Rope the position table is dropped and every attention
// layer rotates its queries and keys instead (RoPE).
// Initialization as GPT-2: matrices and embeddings ~ N(0, 0.02^2), biases 0,
// and the projections that write into the residual stream (attention
// out_proj, MLP linear2) ~ N(0, (0.02 / sqrt(2 depth))^2).
//
// Generation: tokens are produced left to right; with use_kv_cache each step
// feeds only the newest token and attends over cached keys/values (one
// nn::KVCache per layer, in a GPTCache the caller may also drive directly
// through forward(tokens, &cache)). Sampling draws from
//   softmax(filter(logits / temperature)), filter = top-k then top-p (nucleus),
// with the given Generator (or a private one seeded with `seed`), so a seeded
// run is reproducible. Call eval() first when the model has dropout.
// log_probs are always those of the model itself (temperature 1, no
// filtering), the quantity RL fine-tuning and scoring need; sample_log_probs
// are those of the distribution actually sampled from.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/positional.h"
#include "nn/transformer.h"
#include "tensor/random.h"

namespace wick::models {

enum class GPTPositional { Learned, Rope };

struct GPTConfig {
  int64_t vocab_size = 256;
  int64_t context_length = 128;
  int64_t depth = 4;
  int64_t width = 128;
  int64_t heads = 4;
  int64_t mlp_ratio = 4;
  double dropout = 0.0;
  bool tied_head = true;
  GPTPositional positional = GPTPositional::Learned;
  std::string activation = "gelu";
  double init_std = 0.02;
};

struct GenerateOptions {
  double temperature = 1.0;
  int64_t top_k = 0;      // keep the k most likely tokens (0 = all)
  double top_p = 1.0;     // keep the smallest set with probability >= top_p (1 = all)
  bool greedy = false;    // argmax instead of sampling
  std::optional<uint64_t> seed;     // sample with a private Generator(seed)
  Generator* generator = nullptr;   // otherwise this one, otherwise the default generator
  bool use_kv_cache = true;
  // Once a row emits eos_token its remaining tokens are eos_token with log-prob
  // 0; generation stops early when every row has finished.
  std::optional<int64_t> eos_token;
};

struct GenerateResult {
  Tensor tokens;            // [B, T + n] int64: the prompt, then n <= max_new_tokens new tokens
  Tensor log_probs;         // [B, n] log p_model(token | prefix) (temperature 1, unfiltered)
  Tensor sample_log_probs;  // [B, n] log-prob under the sampling distribution (0 when greedy)
};

// Per-layer KV caches of one generation (or one scoring pass).
struct GPTCache {
  std::vector<nn::KVCache> layers;
  int64_t length() const { return layers.empty() ? 0 : layers.front().length(); }
  void clear() { layers.clear(); }
  // Keeps batch rows `index` (int64) in every layer.
  void select_rows(const Tensor& index) {
    for (auto& l : layers) l.select_rows(index);
  }
};

// logits [..., V] with every entry below the k-th largest of its row set to
// -inf (ties with the k-th are kept). k <= 0 or k >= V: unchanged.
Tensor top_k_filter(const Tensor& logits, int64_t k);
// Nucleus filtering (Holtzman et al. 2020): sorts each row by probability and
// keeps the smallest prefix whose total probability reaches p (the token that
// crosses p is kept; so is always the most likely one); the rest -> -inf.
// p in (0, 1]; p = 1 keeps everything.
Tensor top_p_filter(const Tensor& logits, double p);

class GPT : public nn::Cloneable<GPT> {
 public:
  explicit GPT(GPTConfig config);
  void reset() override;

  // tokens [B, T] int64 -> logits [B, T, V].
  Tensor forward(const Tensor& tokens) override;
  // Incremental: positions start at cache->length(); appends to the cache.
  Tensor forward(const Tensor& tokens, GPTCache* cache);
  // Final hidden states [B, T, W] (after the last LayerNorm): value heads, probes.
  Tensor hidden_states(const Tensor& tokens, GPTCache* cache = nullptr);
  // hidden [..., W] -> logits [..., V].
  Tensor logits(const Tensor& hidden);
  // log p(tokens[:, t] | tokens[:, <t]) for t = 1 .. T-1: [B, T-1], differentiable.
  Tensor log_probs(const Tensor& tokens);
  // Mean next-token cross-entropy of tokens [B, T] (T >= 2).
  Tensor loss(const Tensor& tokens);
  // Continues prompt [B, T] (int64, T >= 1) by up to max_new_tokens tokens;
  // T + max_new_tokens must not exceed context_length. Runs without autograd.
  GenerateResult generate(const Tensor& prompt, int64_t max_new_tokens, const GenerateOptions& options = {});

  std::string name() const override { return "GPT"; }
  std::string extra_repr() const override;

  GPTConfig config;
  std::shared_ptr<nn::Embedding> token_embedding;                   // [V, W]
  std::shared_ptr<nn::LearnedPositionalEmbedding> position_embedding;  // null with RoPE
  std::shared_ptr<nn::Dropout> embedding_dropout;
  std::shared_ptr<nn::TransformerEncoder> transformer;  // causal pre-LN blocks + final LayerNorm
  std::shared_ptr<nn::Linear> lm_head;                  // null when tied

 private:
  void check_tokens(const Tensor& tokens, int64_t offset) const;
};

}  // namespace wick::models
