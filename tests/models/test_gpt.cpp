// models::GPT: parameter count against the closed form, shapes, causality,
// KV-cached forward and generation against the uncached ones, log-probs,
// top-k / top-p filtering on hand-made distributions, greedy and seeded
// sampling, overfitting a tiny batch, clone, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "models/gpt.h"
#include "optim/adam.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

models::GPTConfig tiny(bool tied = true, models::GPTPositional pos = models::GPTPositional::Learned) {
  models::GPTConfig c;
  c.vocab_size = 11;
  c.context_length = 12;
  c.depth = 2;
  c.width = 8;
  c.heads = 2;
  c.tied_head = tied;
  c.positional = pos;
  return c;
}

// Parameters of one config, written out: embeddings, per block (attention
// in/out projections with biases, two LayerNorms, the MLP), the final
// LayerNorm and the untied head.
int64_t gpt_param_formula(const models::GPTConfig& c) {
  const int64_t V = c.vocab_size, W = c.width, F = c.mlp_ratio * c.width;
  const int64_t attention = 3 * W * W + 3 * W + W * W + W;
  const int64_t norms = 2 * 2 * W;
  const int64_t mlp = W * F + F + F * W + W;
  int64_t n = V * W + c.depth * (attention + norms + mlp) + 2 * W;
  if (c.positional == models::GPTPositional::Learned) n += c.context_length * W;
  if (!c.tied_head) n += V * W;
  return n;
}

Tensor tokens_of(std::initializer_list<int64_t> v, int64_t B) {
  return tensor(v, Shape{B, static_cast<int64_t>(v.size()) / B}).to(kInt64);
}

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

}  // namespace

TEST(GPT, ParameterCountMatchesFormula) {
  for (bool tied : {true, false})
    for (auto pos : {models::GPTPositional::Learned, models::GPTPositional::Rope}) {
      models::GPTConfig c = tiny(tied, pos);
      models::GPT gpt(c);
      EXPECT_EQ(gpt.num_parameters(), gpt_param_formula(c)) << tied << " " << int(pos);
      EXPECT_EQ(gpt.lm_head == nullptr, tied);
      EXPECT_EQ(gpt.position_embedding == nullptr, pos == models::GPTPositional::Rope);
    }
  models::GPTConfig big = tiny();
  big.vocab_size = 50;
  big.depth = 3;
  big.width = 12;
  big.heads = 3;
  big.mlp_ratio = 2;
  EXPECT_EQ(models::GPT(big).num_parameters(), gpt_param_formula(big));
}

TEST(GPT, ShapesLogProbsAndCausality) {
  models::GPT gpt(tiny());
  Tensor t = tokens_of({1, 5, 2, 9, 0, 3, 4, 4, 10, 7}, 2);
  Tensor logits = gpt.forward(t);
  EXPECT_EQ(logits.sizes(), Shape({2, 5, 11}));
  EXPECT_EQ(gpt.hidden_states(t).sizes(), Shape({2, 5, 8}));
  // Tied head: logits = h E^T.
  EXPECT_TRUE(all_close(logits, matmul(gpt.hidden_states(t), gpt.token_embedding->weight.t()), 1e-6, 1e-5));
  Tensor lp = gpt.log_probs(t);
  ASSERT_EQ(lp.sizes(), Shape({2, 4}));
  auto full = log_softmax(logits, -1).tolist<float>();
  auto lpv = lp.tolist<float>();
  auto tv = t.tolist<int64_t>();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 4; ++i)
      EXPECT_NEAR(lpv[b * 4 + i], full[(b * 5 + i) * 11 + tv[b * 5 + i + 1]], 1e-5);
  EXPECT_NEAR(gpt.loss(t).item(), -lp.mean().item(), 1e-5);
  // Changing token 3 leaves the logits of positions 0..2 unchanged.
  Tensor t2 = tokens_of({1, 5, 2, 0, 0, 3, 4, 4, 0, 7}, 2);
  Tensor l2 = gpt.forward(t2);
  EXPECT_TRUE(all_close(l2.narrow(1, 0, 3), logits.narrow(1, 0, 3), 0, 0));
  EXPECT_FALSE(all_close(l2.narrow(1, 3, 2), logits.narrow(1, 3, 2), 1e-6, 0));
}

TEST(GPT, CachedForwardMatchesFull) {
  for (auto pos : {models::GPTPositional::Learned, models::GPTPositional::Rope}) {
    models::GPT gpt(tiny(false, pos));
    gpt.to(kFloat64);
    Tensor t = tokens_of({1, 5, 2, 9, 0, 3, 8, 3, 4, 4, 10, 7, 6, 1}, 2);
    Tensor full = gpt.forward(t);
    models::GPTCache cache;
    std::vector<Tensor> parts;
    parts.push_back(gpt.forward(t.narrow(1, 0, 4), &cache));
    for (int64_t i = 4; i < 7; ++i) parts.push_back(gpt.forward(t.narrow(1, i, 1), &cache));
    EXPECT_EQ(cache.length(), 7);
    EXPECT_TRUE(all_close(cat(parts, 1), full, 1e-12, 1e-10));
  }
}

TEST(GPT, GenerationWithAndWithoutCacheAgree) {
  models::GPT gpt(tiny());
  Tensor prompt = tokens_of({1, 2, 3, 4, 5, 6}, 2);
  for (bool greedy : {true, false}) {
    models::GenerateOptions o;
    o.greedy = greedy;
    o.seed = 123;
    o.temperature = 1.3;
    o.top_k = 6;
    o.top_p = 0.9;
    o.use_kv_cache = true;
    auto a = gpt.generate(prompt, 8, o);
    o.use_kv_cache = false;
    auto b = gpt.generate(prompt, 8, o);
    ASSERT_EQ(a.tokens.sizes(), Shape({2, 11}));
    EXPECT_TRUE(all_equal(a.tokens, b.tokens));
    EXPECT_TRUE(all_close(a.log_probs, b.log_probs, 1e-5, 1e-5));
    EXPECT_TRUE(all_close(a.sample_log_probs, b.sample_log_probs, 1e-5, 1e-5));
    EXPECT_TRUE(all_equal(a.tokens.narrow(1, 0, 3), prompt));
    // The reported log-probs are the model's: log_probs() of the result agrees.
    EXPECT_TRUE(all_close(a.log_probs, gpt.log_probs(a.tokens).narrow(1, 2, 8), 1e-5, 1e-5));
  }
}

TEST(GPT, GreedyIsDeterministicArgmax) {
  models::GPT gpt(tiny(false));
  Tensor prompt = tokens_of({3, 7}, 1);
  models::GenerateOptions o;
  o.greedy = true;
  auto a = gpt.generate(prompt, 5, o);
  auto b = gpt.generate(prompt, 5, o);
  EXPECT_TRUE(all_equal(a.tokens, b.tokens));
  EXPECT_EQ(a.sample_log_probs.abs().sum().item(), 0.0);
  // Each new token is the argmax of the model's next-token distribution.
  for (int64_t i = 2; i < 7; ++i) {
    Tensor prefix = a.tokens.narrow(1, 0, i);
    const int64_t best = argmax(gpt.forward(prefix).select(1, i - 1), -1).item<int64_t>();
    EXPECT_EQ(a.tokens.tolist<int64_t>()[i], best) << i;
  }
  // top_k = 1 sampling is greedy, whatever the seed.
  models::GenerateOptions k1;
  k1.top_k = 1;
  k1.seed = 99;
  auto c = gpt.generate(prompt, 5, k1);
  EXPECT_TRUE(all_equal(c.tokens, a.tokens));
  EXPECT_EQ(c.sample_log_probs.abs().sum().item(), 0.0);
}

TEST(GPT, SeededSamplingIsReproducible) {
  models::GPT gpt(tiny());
  Tensor prompt = tokens_of({1, 2, 3}, 3);
  models::GenerateOptions o;
  o.seed = 7;
  auto a = gpt.generate(prompt, 9, o);
  auto b = gpt.generate(prompt, 9, o);
  EXPECT_TRUE(all_equal(a.tokens, b.tokens));
  EXPECT_TRUE(all_equal(a.log_probs, b.log_probs));
  // Unfiltered, temperature 1: the sampling distribution is the model's.
  EXPECT_TRUE(all_close(a.sample_log_probs, a.log_probs, 1e-6, 0));
  o.seed = 8;
  EXPECT_FALSE(all_equal(gpt.generate(prompt, 9, o).tokens, a.tokens));
  // A caller's Generator advances: two draws differ, a re-seeded one repeats.
  Generator g(5);
  models::GenerateOptions og;
  og.generator = &g;
  auto g1 = gpt.generate(prompt, 9, og);
  auto g2 = gpt.generate(prompt, 9, og);
  EXPECT_FALSE(all_equal(g1.tokens, g2.tokens));
  g.manual_seed(5);
  EXPECT_TRUE(all_equal(gpt.generate(prompt, 9, og).tokens, g1.tokens));
}

TEST(GPT, EosStopsRows) {
  models::GPT gpt(tiny());
  Tensor prompt = tokens_of({4, 1}, 1);
  models::GenerateOptions o;
  o.greedy = true;
  auto plain = gpt.generate(prompt, 6, o);
  // The first greedy token as EOS: the row finishes at once and generation stops.
  o.eos_token = plain.tokens.tolist<int64_t>()[2];
  auto r = gpt.generate(prompt, 6, o);
  EXPECT_EQ(r.tokens.sizes(), Shape({1, 3}));
  EXPECT_TRUE(all_close(r.log_probs, plain.log_probs.narrow(1, 0, 1), 0, 0));
}

TEST(SamplingFilters, TopKOnHandMadeLogits) {
  Tensor logits = tensor({1.f, 3.f, 2.f, 5.f, 4.f, 0.f, 2.f, 2.f, -1.f, 1.f}, Shape{2, 5});
  auto f = models::top_k_filter(logits, 2).tolist<float>();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f, (std::vector<float>{-inf, -inf, -inf, 5.f, 4.f, -inf, 2.f, 2.f, -inf, -inf}));
  auto g = models::top_k_filter(logits, 3).tolist<float>();
  EXPECT_EQ(g, (std::vector<float>{-inf, 3.f, -inf, 5.f, 4.f, -inf, 2.f, 2.f, -inf, 1.f}));
  // Ties with the k-th largest are kept: k = 1 keeps both 2s of row 1.
  auto h = models::top_k_filter(logits, 1).tolist<float>();
  EXPECT_EQ(h, (std::vector<float>{-inf, -inf, -inf, 5.f, -inf, -inf, 2.f, 2.f, -inf, -inf}));
  EXPECT_TRUE(all_equal(models::top_k_filter(logits, 0), logits));
  EXPECT_TRUE(all_equal(models::top_k_filter(logits, 5), logits));
}

TEST(SamplingFilters, TopPOnHandMadeDistribution) {
  // Probabilities 0.15, 0.5, 0.05, 0.3 (shuffled on purpose).
  Tensor logits = log(tensor({0.15, 0.5, 0.05, 0.3}, Shape{1, 4}));
  auto kept = [&](double p) {
    std::vector<bool> k;
    for (double v : models::top_p_filter(logits, p).tolist<double>()) k.push_back(v != kNegInf);
    return k;
  };
  EXPECT_EQ(kept(0.4), (std::vector<bool>{false, true, false, false}));   // 0.5 alone reaches 0.4
  EXPECT_EQ(kept(0.5), (std::vector<bool>{false, true, false, false}));   // exactly reached
  EXPECT_EQ(kept(0.7), (std::vector<bool>{false, true, false, true}));    // 0.5 + 0.3 crosses 0.7
  EXPECT_EQ(kept(0.81), (std::vector<bool>{true, true, false, true}));    // needs 0.15 too
  EXPECT_EQ(kept(0.99), (std::vector<bool>{true, true, true, true}));
  EXPECT_EQ(kept(0.01), (std::vector<bool>{false, true, false, false}));  // the top token always stays
  // Kept entries keep their values.
  auto v = models::top_p_filter(logits, 0.7).tolist<double>();
  EXPECT_DOUBLE_EQ(v[1], std::log(0.5));
  EXPECT_DOUBLE_EQ(v[3], std::log(0.3));
  // Sampling with top_p never picks a filtered token.
  Tensor probs = softmax(models::top_p_filter(logits.expand({64, 4}), 0.7), -1);
  Generator g(3);
  for (int64_t s : multinomial(probs, 1, false, &g).view({-1}).tolist<int64_t>()) EXPECT_TRUE(s == 1 || s == 3);
  EXPECT_WICK_ERROR(models::top_p_filter(logits, 0.0), "p must be in (0, 1]");
}

TEST(GPT, OverfitsATinyBatch) {
  manual_seed(0);  // fixed initialization whatever ran before
  models::GPTConfig c = tiny();
  c.width = 16;
  models::GPT gpt(c);
  Tensor batch = tokens_of({1, 4, 2, 8, 5, 7, 3, 9, 0, 6, 10, 2, 5, 5, 1, 3, 9, 9, 4, 0, 7, 2, 6, 8, 3, 1, 0, 10, 4, 6,
                            2, 2},
                           4);
  optim::Adam opt(gpt.parameters(), {.lr = 1e-2});
  const double first = gpt.loss(batch).item();
  double last = first;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    Tensor l = gpt.loss(batch);
    l.backward();
    opt.step();
    last = l.item();
  }
  EXPECT_GT(first, 2.0);  // about log(11) at initialization
  EXPECT_LT(last, 0.05);
  // Greedy decoding now reproduces every memorized sequence from its first token.
  models::GenerateOptions o;
  o.greedy = true;
  auto r = gpt.generate(batch.narrow(1, 0, 1), 7, o);
  EXPECT_TRUE(all_equal(r.tokens, batch));
}

TEST(GPT, CloneAndStateDict) {
  auto gpt = std::make_shared<models::GPT>(tiny(false));
  auto keys = gpt->state_dict().keys();
  EXPECT_EQ(keys.front(), "token_embedding.weight");
  EXPECT_EQ(keys[1], "position_embedding.weight");
  EXPECT_EQ(keys[2], "transformer.layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(keys.back(), "lm_head.weight");
  auto c = nn::clone(gpt);
  Tensor t = tokens_of({1, 2, 3}, 1);
  EXPECT_TRUE(all_close(c->forward(t), gpt->forward(t), 0, 0));
  {
    NoGradGuard ng;
    c->lm_head->weight.mul_(2.0);
  }
  EXPECT_FALSE(all_close(c->forward(t), gpt->forward(t), 1e-6, 0));
  // RoPE survives cloning.
  auto rope = std::make_shared<models::GPT>(tiny(true, models::GPTPositional::Rope));
  EXPECT_TRUE(nn::clone(rope)->transformer->layers[1]->self_attn->use_rope);
}

TEST(GPT, Errors) {
  models::GPT gpt(tiny());
  EXPECT_WICK_ERROR(gpt.forward(tokens_of({1, 11}, 1)), "token ids must be in [0, 11)");
  EXPECT_WICK_ERROR(gpt.forward(zeros({1, 13}, kInt64)), "13 positions exceed context_length 12");
  EXPECT_WICK_ERROR(gpt.forward(zeros({1, 3})), "expected int64 tokens");
  Tensor p = tokens_of({1, 2}, 1);
  EXPECT_WICK_ERROR(gpt.generate(p, 11), "exceeds context_length");
  models::GenerateOptions o;
  o.temperature = 0.0;
  EXPECT_WICK_ERROR(gpt.generate(p, 2, o), "temperature must be > 0");
  o = {};
  o.top_p = 1.5;
  EXPECT_WICK_ERROR(gpt.generate(p, 2, o), "top_p must be in (0, 1]");
  EXPECT_WICK_ERROR(gpt.log_probs(tokens_of({1}, 1)), "T >= 2");
  models::GPTConfig bad = tiny();
  bad.heads = 3;
  EXPECT_WICK_ERROR(models::GPT{bad}, "divisible");
}
