// nn::MultiheadAttention: parity with torch.nn.MultiheadAttention
// (tests/fixtures/gen_nn_attention.py), masks, KV cache, per-head outputs,
// LoRA, gradchecks, clone, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "nn/attention.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

// Loads every fixture named nn_attention/<prefix>__<key> into m (strict), so
// the keys must be exactly torch's state_dict keys.
void load_torch_state(nn::Module& m, const std::string& prefix) {
  StateDict sd;
  const std::string dir = std::string(WICK_FIXTURES_DIR) + "/nn_attention";
  const std::string head = prefix + "__";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind(head, 0) != 0) continue;
    const std::string key = file.substr(head.size(), file.size() - head.size() - 4);  // drop ".npy"
    sd.insert(key, fixture("nn_attention/" + file.substr(0, file.size() - 4)));
  }
  ASSERT_FALSE(sd.empty()) << "no fixtures for " << prefix;
  m.load_state_dict(sd);
}

Tensor fx(const std::string& name) { return fixture("nn_attention/" + name); }

std::shared_ptr<nn::MultiheadAttention> f64_mha(int64_t e, int64_t h, std::optional<int64_t> kdim = {},
                                                std::optional<int64_t> vdim = {}) {
  auto m = std::make_shared<nn::MultiheadAttention>(e, h, 0.0, true, kdim, vdim);
  m->to(kFloat64);
  return m;
}

// Runs a torch case: forward with weights (averaged and per head), backward
// of sum(y * gy), comparisons.
void check_torch_case(const std::string& c, int64_t e, int64_t h, bool self_attn, std::optional<int64_t> kdim = {},
                      std::optional<int64_t> vdim = {}, bool causal_flag = false) {
  SCOPED_TRACE(c);
  auto m = f64_mha(e, h, kdim, vdim);
  load_torch_state(*m, c);
  Tensor q = fx(c + "_q").requires_grad_();
  Tensor k = self_attn ? q : fx(c + "_k").requires_grad_();
  Tensor v = self_attn ? q : fx(c + "_v").requires_grad_();
  nn::AttentionArgs a;
  if (has_fixture("nn_attention/" + c + "_kpm")) a.key_padding_mask = fx(c + "_kpm");
  if (causal_flag)
    a.is_causal = true;
  else if (has_fixture("nn_attention/" + c + "_attn_mask"))
    a.attn_mask = fx(c + "_attn_mask");
  a.need_weights = true;
  auto out = m->forward(q, k, v, a);
  EXPECT_TRUE(all_close(out.output, fx(c + "_y"), 1e-12, 1e-10));
  EXPECT_TRUE(all_close(out.weights, fx(c + "_w"), 1e-12, 1e-10));
  a.average_attn_weights = false;
  EXPECT_TRUE(all_close(m->forward(q, k, v, a).weights, fx(c + "_w_heads"), 1e-12, 1e-10));
  // The scaled_dot_product_attention path (no weights) gives the same output.
  a.need_weights = false;
  Tensor y = m->forward(q, k, v, a).output;
  EXPECT_TRUE(all_close(y, fx(c + "_y"), 1e-12, 1e-10));
  (y * fx(c + "_gy")).sum().backward();
  EXPECT_TRUE(all_close(q.grad(), fx(c + "_gq"), 1e-11, 1e-9));
  if (!self_attn) {
    EXPECT_TRUE(all_close(k.grad(), fx(c + "_gk"), 1e-11, 1e-9));
    EXPECT_TRUE(all_close(v.grad(), fx(c + "_gv"), 1e-11, 1e-9));
  }
  if (m->packed) EXPECT_TRUE(all_close(m->in_proj_weight.grad(), fx(c + "_g_in_proj_weight"), 1e-11, 1e-9));
}

}  // namespace

TEST(MultiheadAttention, TorchParitySelf) { check_torch_case("mha_self", 8, 2, true); }
TEST(MultiheadAttention, TorchParityCrossKeyPadding) { check_torch_case("mha_cross_kpm", 8, 2, false); }
TEST(MultiheadAttention, TorchParityKdimVdim) { check_torch_case("mha_kvdim", 6, 3, false, 5, 4); }
TEST(MultiheadAttention, TorchParityCausalMask) { check_torch_case("mha_causal", 8, 4, true); }
// is_causal reproduces torch's triu(1) bool mask.
TEST(MultiheadAttention, TorchParityCausalFlag) { check_torch_case("mha_causal", 8, 4, true, {}, {}, true); }
TEST(MultiheadAttention, TorchParityFloatMaskPerHead) { check_torch_case("mha_float_mask", 8, 2, false); }

TEST(MultiheadAttention, ParameterNamesAndInit) {
  nn::MultiheadAttention packed(8, 2);
  EXPECT_EQ(packed.state_dict().keys(),
            (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
  EXPECT_EQ(packed.in_proj_weight.sizes(), Shape({24, 8}));
  EXPECT_EQ(packed.in_proj_weight.dtype(), kFloat32);
  EXPECT_EQ(packed.in_proj_bias.abs().sum().item(), 0.0);
  EXPECT_EQ(packed.out_proj->bias.abs().sum().item(), 0.0);
  // xavier_uniform over [24, 8]: bound sqrt(6 / 32).
  EXPECT_LE(packed.in_proj_weight.abs().tolist<float>()[0], std::sqrt(6.0 / 32.0) + 1e-6);
  EXPECT_GT(packed.in_proj_weight.abs().sum().item(), 0.0);
  nn::MultiheadAttention split(6, 3, 0.0, false, 5, 4);
  EXPECT_EQ(split.state_dict().keys(),
            (std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"}));
  EXPECT_EQ(split.k_proj_weight.sizes(), Shape({6, 5}));
  EXPECT_EQ(split.v_weight().sizes(), Shape({6, 4}));
  EXPECT_FALSE(split.q_bias().defined());
}

TEST(MultiheadAttention, PaddedKeysGetNoAttention) {
  auto m = f64_mha(8, 2);
  Tensor q = rand_f64({2, 3, 8}, 1, false), kv = rand_f64({2, 5, 8}, 2, false);
  Tensor kpm = tensor({false, false, true, false, true, false, false, false, false, true}, Shape{2, 5});
  nn::AttentionArgs a;
  a.key_padding_mask = kpm;
  a.need_weights = true;
  a.average_attn_weights = false;
  auto out = m->forward(q, kv, kv, a);
  auto w = out.weights.tolist<double>();  // [2, 2, 3, 5]
  auto pad = kpm.tolist<bool>();
  for (int b = 0; b < 2; ++b)
    for (int hl = 0; hl < 6; ++hl)
      for (int s = 0; s < 5; ++s)
        if (pad[b * 5 + s]) EXPECT_EQ(w[(b * 6 + hl) * 5 + s], 0.0);
  // Changing the padded keys/values changes nothing.
  Tensor kv2 = kv.clone();
  {
    NoGradGuard ng;
    kv2.select(0, 0).select(0, 2).fill_(7.0);
    kv2.select(0, 1).select(0, 4).fill_(-3.0);
  }
  a.need_weights = false;
  EXPECT_TRUE(all_close(m->forward(q, kv2, kv2, a).output, out.output, 1e-13, 0));
  // The same mask given as a float mask (-inf = ignore) gives the same output.
  Tensor fmask = masked_fill(zeros({2, 5}, kFloat64), kpm, -std::numeric_limits<double>::infinity());
  a.key_padding_mask = fmask;
  EXPECT_TRUE(all_close(m->forward(q, kv, kv, a).output, out.output, 1e-13, 0));
}

TEST(MultiheadAttention, CausalIgnoresTheFuture) {
  auto m = f64_mha(8, 4);
  Tensor x = rand_f64({2, 6, 8}, 3, false);
  nn::AttentionArgs a;
  a.is_causal = true;
  a.need_weights = true;
  auto out = m->forward(x, x, x, a);
  auto w = out.weights.tolist<double>();  // [2, 6, 6]
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 6; ++i)
      for (int j = i + 1; j < 6; ++j) EXPECT_EQ(w[(b * 6 + i) * 6 + j], 0.0);
  Tensor x2 = x.clone();
  {
    NoGradGuard ng;
    x2.narrow(1, 4, 2).fill_(5.0);
  }
  Tensor y2 = m->forward(x2, x2, x2, a).output;
  EXPECT_TRUE(all_close(y2.narrow(1, 0, 4), out.output.narrow(1, 0, 4), 1e-13, 0));
  EXPECT_FALSE(all_close(y2.narrow(1, 4, 2), out.output.narrow(1, 4, 2), 1e-6, 0));
}

// Incremental decoding with a KV cache equals the full causal forward, token
// by token and in uneven chunks, with and without RoPE.
TEST(MultiheadAttention, KVCacheMatchesFullCausalForward) {
  for (bool rope : {false, true}) {
    SCOPED_TRACE(rope ? "rope" : "no rope");
    auto m = f64_mha(8, 2);
    m->use_rope = rope;
    Tensor x = rand_f64({2, 7, 8}, 4, false);
    nn::AttentionArgs full;
    full.is_causal = true;
    Tensor y = m->forward(x, x, x, full).output;

    nn::KVCache cache;
    std::vector<Tensor> steps;
    for (int64_t t = 0; t < 7; ++t) {
      nn::AttentionArgs a;
      a.is_causal = true;
      a.cache = &cache;
      Tensor xt = x.narrow(1, t, 1);
      steps.push_back(m->forward(xt, xt, xt, a).output);
      EXPECT_EQ(cache.length(), t + 1);
    }
    EXPECT_TRUE(all_close(cat(steps, 1), y, 1e-13, 1e-11));

    cache.clear();
    std::vector<Tensor> chunks;
    for (auto [start, len] : std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {3, 1}, {4, 3}}) {
      nn::AttentionArgs a;
      a.is_causal = true;
      a.cache = &cache;
      Tensor xt = x.narrow(1, start, len);
      chunks.push_back(m->forward(xt, xt, xt, a).output);
    }
    EXPECT_TRUE(all_close(cat(chunks, 1), y, 1e-13, 1e-11));
  }
}

TEST(MultiheadAttention, KVCacheSelectRowsAndPadding) {
  auto m = f64_mha(4, 2);
  Tensor x = rand_f64({3, 4, 4}, 5, false);
  // Key padding over the cached positions: the mask covers all keys so far.
  Tensor kpm = tensor({false, true, false, false, false, false, false, false, false, false, true, false}, Shape{3, 4});
  nn::AttentionArgs full;
  full.is_causal = true;
  full.key_padding_mask = kpm;
  Tensor y = m->forward(x, x, x, full).output;
  nn::KVCache cache;
  std::vector<Tensor> steps;
  for (int64_t t = 0; t < 4; ++t) {
    nn::AttentionArgs a;
    a.is_causal = true;
    a.cache = &cache;
    a.key_padding_mask = kpm.narrow(1, 0, t + 1);
    Tensor xt = x.narrow(1, t, 1);
    steps.push_back(m->forward(xt, xt, xt, a).output);
  }
  EXPECT_TRUE(all_close(cat(steps, 1), y, 1e-13, 1e-11));
  cache.select_rows(tensor({2, 0}, Shape{2}).to(kInt64));
  EXPECT_EQ(cache.k.sizes(), Shape({2, 2, 4, 2}));
}

TEST(MultiheadAttention, StaticCacheReusesMemory) {
  auto m = f64_mha(8, 2);
  Tensor q = rand_f64({2, 3, 8}, 6, false), mem = rand_f64({2, 5, 8}, 7, false);
  Tensor y = m->forward(q, mem, mem).output;
  nn::KVCache cache;
  cache.static_kv = true;
  nn::AttentionArgs a;
  a.cache = &cache;
  EXPECT_TRUE(all_close(m->forward(q, mem, mem, a).output, y, 1e-14, 0));
  EXPECT_EQ(cache.length(), 5);
  // Second call: the memory comes from the cache.
  EXPECT_TRUE(all_close(m->forward(q, Tensor(), Tensor(), a).output, y, 1e-14, 0));
  EXPECT_EQ(cache.length(), 5);
}

TEST(MultiheadAttention, HeadOutputsAndHook) {
  auto m = f64_mha(8, 4);
  Tensor x = rand_f64({2, 5, 8}, 8, false);
  nn::AttentionArgs a;
  a.need_head_outputs = true;
  auto out = m->forward(x, x, x, a);
  ASSERT_EQ(out.head_outputs.sizes(), Shape({2, 4, 5, 2}));
  // output = out_proj(concat of heads).
  Tensor merged = out.head_outputs.transpose(1, 2).reshape({2, 5, 8});
  EXPECT_TRUE(all_close(m->out_proj->forward(merged), out.output, 1e-14, 0));

  // Ablating head 1 through the hook = zeroing its slice of the concatenation.
  m->head_hook = [](const Tensor& h) {
    Tensor keep = tensor({1.0, 0.0, 1.0, 1.0}, Shape{1, 4, 1, 1});
    return h * keep;
  };
  auto ablated = m->forward(x, x, x, a);
  Tensor zeroed = out.head_outputs.clone();
  {
    NoGradGuard ng;
    zeroed.select(1, 1).zero_();
  }
  EXPECT_TRUE(all_close(ablated.output, m->out_proj->forward(zeroed.transpose(1, 2).reshape({2, 5, 8})), 1e-14, 0));
  EXPECT_TRUE(all_close(ablated.head_outputs, zeroed, 0, 0));

  // LoFiT-style per-head parameters get gradients through the hook.
  Tensor A = zeros({1, 4, 1, 2}, kFloat64).requires_grad_();
  Tensor bias = zeros({1, 4, 1, 2}, kFloat64).requires_grad_();
  m->head_hook = [&](const Tensor& h) { return h * (A + 1.0) + bias; };
  EXPECT_TRUE(all_close(m->forward(x), out.output, 1e-14, 0));
  m->forward(x).sum().backward();
  ASSERT_TRUE(A.grad().defined() && bias.grad().defined());
  EXPECT_GT(bias.grad().abs().sum().item(), 0.0);

  m->head_hook = [](const Tensor& h) { return h.sum({-1}); };
  EXPECT_WICK_ERROR(m->forward(x), "head_hook must return");
}

TEST(MultiheadAttention, Gradcheck) {
  // Inputs, masks and every parameter, in float64.
  auto m = f64_mha(4, 2);
  {
    NoGradGuard ng;
    m->in_proj_bias.copy_(rand_f64({12}, 9, false));
  }
  Tensor q = rand_f64({2, 3, 4}, 10), k = rand_f64({2, 4, 4}, 11), v = rand_f64({2, 4, 4}, 12);
  Tensor kpm = tensor({false, false, true, false, false, false, false, true}, Shape{2, 4});
  Tensor bias = rand_f64({3, 4}, 13, false);
  for (bool weights : {false, true}) {
    auto fn = [&](const tensor_list&) {
      nn::AttentionArgs a;
      a.key_padding_mask = kpm;
      a.attn_mask = bias;
      a.need_weights = weights;
      auto out = m->forward(q, k, v, a);
      return weights ? tensor_list{out.output, out.weights} : tensor_list{out.output};
    };
    EXPECT_TRUE(gradcheck(fn, {q, k, v, m->in_proj_weight, m->in_proj_bias, m->out_proj->weight, m->out_proj->bias}));
  }
  // Self-attention (fused projection) with causal masking and RoPE.
  m->use_rope = true;
  Tensor x = rand_f64({1, 4, 4}, 14);
  auto self_fn = [&](const tensor_list&) {
    nn::AttentionArgs a;
    a.is_causal = true;
    return tensor_list{m->forward(x, x, x, a).output};
  };
  EXPECT_TRUE(gradcheck(self_fn, {x, m->in_proj_weight}));
}

TEST(MultiheadAttention, DropoutOnlyInTraining) {
  auto m = std::make_shared<nn::MultiheadAttention>(8, 2, 0.5);
  m->to(kFloat64);
  Tensor x = rand_f64({2, 5, 8}, 15, false);
  nn::AttentionArgs a;
  a.need_weights = true;
  m->eval();
  auto e1 = m->forward(x, x, x, a);
  EXPECT_TRUE(all_close(m->forward(x, x, x, a).output, e1.output, 0, 0));
  m->train();
  auto t1 = m->forward(x, x, x, a);
  EXPECT_FALSE(all_close(t1.output, e1.output, 1e-6, 0));
  // Dropout acts on the attention weights: some are exactly zero.
  a.average_attn_weights = false;
  int zeros_seen = 0;
  for (double v : m->forward(x, x, x, a).weights.tolist<double>()) zeros_seen += v == 0.0;
  EXPECT_GT(zeros_seen, 0);
  m->eval();
  for (double v : m->forward(x, x, x, a).weights.tolist<double>()) EXPECT_GT(v, 0.0);
}

TEST(MultiheadAttention, LoRAOnProjections) {
  auto m = f64_mha(8, 2);
  Tensor x = rand_f64({2, 3, 8}, 16, false);
  Tensor y = m->forward(x);
  m->requires_grad_(false);
  m->enable_lora(2, 4.0, {"q", "v", "out"});
  ASSERT_TRUE(m->lora_q && m->lora_v && m->lora_out && !m->lora_k);
  m->to(kFloat64);
  // B = 0: the output is unchanged.
  EXPECT_TRUE(all_close(m->forward(x), y, 1e-14, 0));
  EXPECT_EQ(m->num_parameters(/*only_trainable=*/true), 3 * (2 * 8 + 8 * 2));
  {
    NoGradGuard ng;
    m->lora_v->lora_B.copy_(rand_f64({8, 2}, 17, false));
  }
  Tensor y2 = m->forward(x);
  EXPECT_FALSE(all_close(y2, y, 1e-6, 0));
  // The update equals adapting the v rows of in_proj_weight by scaling * B A.
  auto ref = f64_mha(8, 2);
  ref->load_state_dict(m->state_dict(), /*strict=*/false);
  {
    NoGradGuard ng;
    ref->in_proj_weight.narrow(0, 16, 8).add_(m->lora_v->delta_weight());
  }
  EXPECT_TRUE(all_close(ref->forward(x), y2, 1e-13, 0));
  y2.sum().backward();
  EXPECT_FALSE(m->in_proj_weight.grad().defined());
  EXPECT_TRUE(m->lora_v->lora_A.grad().defined());
  // clone keeps the LoRA structure and values.
  auto c = nn::clone(m);
  EXPECT_TRUE(c->lora_v && c->lora_rank == 2);
  EXPECT_TRUE(all_close(c->forward(x), y2, 0, 0));
  EXPECT_WICK_ERROR(m->enable_lora(2), "already enabled");
  nn::MultiheadAttention other(8, 2);
  EXPECT_WICK_ERROR(other.enable_lora(2, 1.0, {"w"}), "unknown target 'w'");
}

TEST(MultiheadAttention, CloneIsDeep) {
  auto m = f64_mha(8, 2);
  m->use_rope = true;
  Tensor x = rand_f64({1, 4, 8}, 18, false);
  auto c = nn::clone(m);
  EXPECT_TRUE(c->use_rope);
  EXPECT_TRUE(all_close(c->forward(x), m->forward(x), 0, 0));
  {
    NoGradGuard ng;
    c->in_proj_weight.add_(1.0);
  }
  EXPECT_FALSE(all_close(c->forward(x), m->forward(x), 1e-6, 0));
  EXPECT_FALSE(c->out_proj.get() == m->out_proj.get());
}

TEST(MultiheadAttention, Errors) {
  EXPECT_WICK_ERROR(nn::MultiheadAttention(10, 3), "divisible");
  EXPECT_WICK_ERROR(nn::MultiheadAttention(8, 2, 1.5), "dropout");
  nn::MultiheadAttention m(8, 2);
  EXPECT_WICK_ERROR(m.forward(zeros({2, 3, 7})), "expected query [B, L, 8]");
  Tensor x = zeros({2, 3, 8});
  EXPECT_WICK_ERROR(m.forward(x, zeros({2, 4, 8}), zeros({2, 5, 8})), "expected value");
  EXPECT_WICK_ERROR(m.forward(x, zeros({3, 4, 8}), zeros({3, 4, 8})), "expected key");
  nn::AttentionArgs a;
  a.key_padding_mask = zeros({2, 4}, kBool);
  EXPECT_WICK_ERROR(m.forward(x, x, x, a), "key_padding_mask");
  a = {};
  a.attn_mask = zeros({4, 3}, kBool);
  EXPECT_WICK_ERROR(m.forward(x, x, x, a), "does not broadcast");
  a = {};
  a.key_padding_mask = zeros({2, 3}, kInt64);
  EXPECT_WICK_ERROR(m.forward(x, x, x, a), "bool or floating");
  a = {};
  a.is_causal = true;
  EXPECT_WICK_ERROR(m.forward(x, zeros({2, 2, 8}), zeros({2, 2, 8}), a), "is_causal");
  nn::KVCache cache;
  a.cache = &cache;
  m.forward(x, x, x, a);
  Tensor x1 = zeros({1, 1, 8});
  EXPECT_WICK_ERROR(m.forward(x1, x1, x1, a), "KV cache holds");
  nn::KVCache empty_static;
  empty_static.static_kv = true;
  a = {};
  a.cache = &empty_static;
  EXPECT_WICK_ERROR(m.forward(x, Tensor(), Tensor(), a), "key and value are required");
}
