// GPT language model and its sampler (see gpt.h).
#include "models/gpt.h"

#include <cmath>
#include <limits>

#include "autograd/grad_mode.h"
#include "nn/init.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/loss.h"
#include "ops/nn.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "ops/sort.h"
#include "ops/view.h"

namespace wick::models {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// ---- filtering -----------------------------------------------------------------------

Tensor top_k_filter(const Tensor& logits, int64_t k) {
  WICK_CHECK(logits.defined() && logits.dim() >= 1 && logits.is_floating_point(),
             "top_k_filter: expected floating logits [..., V]");
  const int64_t V = logits.size(-1);
  if (k <= 0 || k >= V) return logits;
  Tensor kth = topk(logits, k, -1).first.narrow(-1, k - 1, 1);  // k-th largest per row
  return masked_fill(logits, lt(logits, kth), kNegInf);
}

Tensor top_p_filter(const Tensor& logits, double p) {
  WICK_CHECK(logits.defined() && logits.dim() >= 1 && logits.is_floating_point(),
             "top_p_filter: expected floating logits [..., V]");
  WICK_CHECK(p > 0.0 && p <= 1.0, "top_p_filter: p must be in (0, 1], got ", p);
  if (p >= 1.0) return logits;
  const int64_t last = logits.dim() - 1;
  auto [sorted, order] = sort(logits, last, /*descending=*/true);
  Tensor probs = softmax(sorted, last);
  // A token goes when the tokens ranked above it already hold >= p; the one
  // that crosses p stays, and so does the first (nothing precedes it).
  Tensor before = sub(cumsum(probs, last), probs);
  Tensor kept_sorted = masked_fill(sorted, ge(before, Scalar(p)), kNegInf);
  return scatter(logits, last, order, kept_sorted);
}

// ---- GPT --------------------------------------------------------------------------------

GPT::GPT(GPTConfig config_) : config(std::move(config_)) {
  const GPTConfig& c = config;
  WICK_CHECK(c.vocab_size > 0 && c.context_length > 0 && c.depth >= 0 && c.width > 0 && c.heads > 0 &&
                 c.mlp_ratio > 0,
             "GPT: vocab_size, context_length, width, heads and mlp_ratio must be positive and depth >= 0, got "
             "vocab_size=", c.vocab_size, ", context_length=", c.context_length, ", depth=", c.depth,
             ", width=", c.width, ", heads=", c.heads, ", mlp_ratio=", c.mlp_ratio);
  WICK_CHECK(c.width % c.heads == 0, "GPT: width (", c.width, ") must be divisible by heads (", c.heads, ")");
  WICK_CHECK(c.positional != GPTPositional::Rope || (c.width / c.heads) % 2 == 0,
             "GPT: RoPE needs an even head size, got ", c.width / c.heads);
  reset();
}

void GPT::reset() {
  const GPTConfig& c = config;
  token_embedding = register_module("token_embedding", std::make_shared<nn::Embedding>(c.vocab_size, c.width));
  position_embedding =
      c.positional == GPTPositional::Learned
          ? register_module("position_embedding",
                            std::make_shared<nn::LearnedPositionalEmbedding>(c.context_length, c.width))
          : nullptr;
  embedding_dropout = register_module("embedding_dropout", std::make_shared<nn::Dropout>(c.dropout));
  nn::TransformerLayerOptions layer;
  layer.d_model = c.width;
  layer.nhead = c.heads;
  layer.dim_feedforward = c.mlp_ratio * c.width;
  layer.dropout = c.dropout;
  layer.activation = c.activation;
  layer.norm_first = true;
  transformer = register_module("transformer", std::make_shared<nn::TransformerEncoder>(layer, c.depth, true));
  if (c.positional == GPTPositional::Rope)
    for (auto& l : transformer->layers) l->self_attn->use_rope = true;
  lm_head = c.tied_head ? nullptr
                        : register_module("lm_head", std::make_shared<nn::Linear>(c.width, c.vocab_size, false));

  // GPT-2 initialization (see gpt.h).
  for (auto [pname, p] : named_parameters()) {
    if (p.dim() >= 2)
      nn::init::normal_(p, 0.0, c.init_std);
    else if (ends_with(pname, "bias"))
      nn::init::zeros_(p);
  }
  const double residual_std = c.init_std / std::sqrt(2.0 * static_cast<double>(std::max<int64_t>(c.depth, 1)));
  for (auto& l : transformer->layers) {
    nn::init::normal_(l->self_attn->out_proj->weight, 0.0, residual_std);
    nn::init::normal_(l->linear2->weight, 0.0, residual_std);
  }
}

void GPT::check_tokens(const Tensor& tokens, int64_t offset) const {
  WICK_CHECK(tokens.defined() && tokens.dim() == 2 && tokens.dtype() == kInt64,
             "GPT: expected int64 tokens [B, T], got ",
             tokens.defined() ? str(tokens.dtype(), " ", shape_str(tokens.sizes())) : std::string("undefined"));
  WICK_CHECK(offset + tokens.size(1) <= config.context_length, "GPT: ", offset + tokens.size(1),
             " positions exceed context_length ", config.context_length);
  if (tokens.numel() > 0) {
    const auto lo = min(tokens).item<int64_t>(), hi = max(tokens).item<int64_t>();
    WICK_CHECK(lo >= 0 && hi < config.vocab_size, "GPT: token ids must be in [0, ", config.vocab_size, "), got ", lo,
               "..", hi);
  }
}

Tensor GPT::hidden_states(const Tensor& tokens, GPTCache* cache) {
  const int64_t offset = cache ? cache->length() : 0;
  check_tokens(tokens, offset);
  Tensor h = token_embedding->forward(tokens);
  if (position_embedding) h = position_embedding->forward(h, offset);
  h = embedding_dropout->forward(h);
  nn::EncoderLayerArgs args;
  args.is_causal = true;
  return transformer->forward(h, args, cache ? &cache->layers : nullptr);
}

Tensor GPT::logits(const Tensor& hidden) {
  return lm_head ? lm_head->forward(hidden) : linear(hidden, token_embedding->weight);
}

Tensor GPT::forward(const Tensor& tokens) { return logits(hidden_states(tokens)); }

Tensor GPT::forward(const Tensor& tokens, GPTCache* cache) { return logits(hidden_states(tokens, cache)); }

Tensor GPT::log_probs(const Tensor& tokens) {
  WICK_CHECK(tokens.defined() && tokens.dim() == 2 && tokens.size(1) >= 2,
             "GPT::log_probs: expected tokens [B, T] with T >= 2");
  const int64_t T = tokens.size(1);
  // The last position predicts nothing that is scored: leave it out.
  Tensor lp = log_softmax(forward(tokens.narrow(1, 0, T - 1)), -1);
  return gather(lp, 2, tokens.narrow(1, 1, T - 1).unsqueeze(-1)).squeeze(-1);
}

Tensor GPT::loss(const Tensor& tokens) {
  WICK_CHECK(tokens.defined() && tokens.dim() == 2 && tokens.size(1) >= 2,
             "GPT::loss: expected tokens [B, T] with T >= 2");
  const int64_t T = tokens.size(1);
  Tensor lg = forward(tokens.narrow(1, 0, T - 1));
  return cross_entropy(lg.reshape({-1, config.vocab_size}), tokens.narrow(1, 1, T - 1).reshape({-1}));
}

GenerateResult GPT::generate(const Tensor& prompt, int64_t max_new_tokens, const GenerateOptions& o) {
  const char* op = "GPT::generate";
  WICK_CHECK(prompt.defined() && prompt.dim() == 2 && prompt.size(1) >= 1 && prompt.dtype() == kInt64, op,
             ": expected an int64 prompt [B, T] with T >= 1");
  WICK_CHECK(max_new_tokens >= 0, op, ": max_new_tokens must be >= 0, got ", max_new_tokens);
  WICK_CHECK(prompt.size(1) + max_new_tokens <= config.context_length, op, ": prompt length ", prompt.size(1),
             " + max_new_tokens ", max_new_tokens, " exceeds context_length ", config.context_length);
  WICK_CHECK(o.greedy || o.temperature > 0.0, op, ": temperature must be > 0 (or use greedy), got ", o.temperature);
  WICK_CHECK(o.top_k >= 0, op, ": top_k must be >= 0, got ", o.top_k);
  WICK_CHECK(o.top_p > 0.0 && o.top_p <= 1.0, op, ": top_p must be in (0, 1], got ", o.top_p);
  WICK_CHECK(!o.eos_token || (*o.eos_token >= 0 && *o.eos_token < config.vocab_size), op,
             ": eos_token out of range [0, ", config.vocab_size, ")");
  NoGradGuard no_grad;
  Generator seeded(o.seed.value_or(0));
  Generator* gen = o.seed ? &seeded : (o.generator ? o.generator : &default_generator());

  const int64_t B = prompt.size(0);
  GPTCache cache;
  Tensor tokens = prompt.contiguous();
  auto next_logits = [&](const Tensor& new_tokens) {
    Tensor lg = o.use_kv_cache ? forward(new_tokens, &cache) : forward(tokens);
    return lg.select(1, lg.size(1) - 1);  // [B, V]
  };
  Tensor last = next_logits(tokens);
  Tensor finished = zeros({B}, kBool);
  std::vector<Tensor> lps, slps;
  for (int64_t i = 0; i < max_new_tokens; ++i) {
    Tensor next, sample_lp;
    if (o.greedy) {
      next = argmax(last, -1);
      sample_lp = zeros({B}, last.dtype());
    } else {
      Tensor l = o.temperature != 1.0 ? div(last, o.temperature) : last;
      if (o.top_k > 0) l = top_k_filter(l, o.top_k);
      if (o.top_p < 1.0) l = top_p_filter(l, o.top_p);
      Tensor logp = log_softmax(l, -1);
      next = multinomial(exp(logp), 1, /*replacement=*/false, gen).view({B});
      sample_lp = gather(logp, 1, next.unsqueeze(1)).view({B});
    }
    Tensor lp = gather(log_softmax(last, -1), 1, next.unsqueeze(1)).view({B});
    if (o.eos_token) {
      const Scalar eos(*o.eos_token);
      next = where(finished, eos, next);
      lp = where(finished, Scalar(0.0), lp);
      sample_lp = where(finished, Scalar(0.0), sample_lp);
      finished = logical_or(finished, eq(next, eos));
    }
    tokens = cat({tokens, next.unsqueeze(1)}, 1);
    lps.push_back(lp);
    slps.push_back(sample_lp);
    if (o.eos_token && all(finished).item<bool>()) break;
    if (i + 1 < max_new_tokens) last = next_logits(next.unsqueeze(1));
  }
  GenerateResult r;
  r.tokens = tokens;
  const TensorOptions fo(last.dtype());
  r.log_probs = lps.empty() ? zeros({B, 0}, fo) : stack(lps, 1);
  r.sample_log_probs = slps.empty() ? zeros({B, 0}, fo) : stack(slps, 1);
  return r;
}

std::string GPT::extra_repr() const {
  const GPTConfig& c = config;
  return str("vocab_size=", c.vocab_size, ", context_length=", c.context_length, ", depth=", c.depth,
             ", width=", c.width, ", heads=", c.heads, ", tied_head=", c.tied_head ? "true" : "false",
             ", positional=", c.positional == GPTPositional::Rope ? "rope" : "learned");
}

}  // namespace wick::models
