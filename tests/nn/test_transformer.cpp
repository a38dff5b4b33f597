// Transformer layers: parity with torch.nn.TransformerEncoderLayer /
// TransformerDecoderLayer / TransformerEncoder (norm_first=True,
// batch_first=True; tests/fixtures/gen_nn_attention.py), KV-cached decoding,
// post-LN, gradcheck, clone, errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "nn/transformer.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

// Loads every fixture nn_attention/<prefix>__<key> into m (strict: the keys
// must be exactly torch's state_dict keys).
void load_torch_state(nn::Module& m, const std::string& prefix) {
  StateDict sd;
  const std::string head = prefix + "__";
  for (const auto& entry : std::filesystem::directory_iterator(std::string(WICK_FIXTURES_DIR) + "/nn_attention")) {
    const std::string file = entry.path().filename().string();
    if (file.rfind(head, 0) != 0) continue;
    const std::string stem = file.substr(0, file.size() - 4);  // drop ".npy"
    sd.insert(stem.substr(head.size()), fixture("nn_attention/" + stem));
  }
  ASSERT_FALSE(sd.empty()) << "no fixtures for " << prefix;
  m.load_state_dict(sd);
}

Tensor fx(const std::string& name) { return fixture("nn_attention/" + name); }

Tensor causal_mask(int64_t t) { return triu(ones({t, t}, kBool), 1); }

nn::TransformerLayerOptions small_options(const std::string& activation = "gelu", double dropout = 0.0) {
  nn::TransformerLayerOptions o;
  o.d_model = 8;
  o.nhead = 2;
  o.dim_feedforward = 16;
  o.dropout = dropout;
  o.activation = activation;
  return o;
}

}  // namespace

TEST(TransformerEncoderLayer, TorchParityKeyPadding) {
  nn::TransformerEncoderLayer layer(8, 2, 16, 0.1, "relu");
  layer.to(kFloat64);
  layer.eval();
  load_torch_state(layer, "enc_relu");
  Tensor x = fx("enc_relu_x").requires_grad_();
  nn::EncoderLayerArgs a;
  a.src_key_padding_mask = fx("enc_relu_kpm");
  Tensor y = layer.forward(x, a);
  EXPECT_TRUE(all_close(y, fx("enc_relu_y"), 1e-12, 1e-10));
  (y * fx("enc_relu_gy")).sum().backward();
  EXPECT_TRUE(all_close(x.grad(), fx("enc_relu_gx"), 1e-11, 1e-9));
}

TEST(TransformerEncoderLayer, TorchParityCausalGelu) {
  nn::TransformerEncoderLayer layer(8, 4, 12, 0.1, "gelu");
  layer.to(kFloat64);
  layer.eval();
  load_torch_state(layer, "enc_gelu");
  Tensor x = fx("enc_gelu_x").requires_grad_();
  nn::EncoderLayerArgs a;
  a.src_mask = causal_mask(4);
  Tensor y = layer.forward(x, a);
  EXPECT_TRUE(all_close(y, fx("enc_gelu_y"), 1e-12, 1e-10));
  (y * fx("enc_gelu_gy")).sum().backward();
  EXPECT_TRUE(all_close(x.grad(), fx("enc_gelu_gx"), 1e-11, 1e-9));
  nn::EncoderLayerArgs c;
  c.is_causal = true;
  EXPECT_TRUE(all_close(layer.forward(x, c), fx("enc_gelu_y"), 1e-12, 1e-10));
}

TEST(TransformerDecoderLayer, TorchParity) {
  nn::TransformerDecoderLayer layer(8, 2, 16, 0.1, "gelu");
  layer.to(kFloat64);
  layer.eval();
  load_torch_state(layer, "dec");
  Tensor x = fx("dec_x").requires_grad_(), memory = fx("dec_memory").requires_grad_();
  nn::DecoderLayerArgs a;
  a.tgt_mask = causal_mask(4);
  a.memory_key_padding_mask = fx("dec_mem_kpm");
  Tensor y = layer.forward(x, memory, a);
  EXPECT_TRUE(all_close(y, fx("dec_y"), 1e-12, 1e-10));
  (y * fx("dec_gy")).sum().backward();
  EXPECT_TRUE(all_close(x.grad(), fx("dec_gx"), 1e-11, 1e-9));
  EXPECT_TRUE(all_close(memory.grad(), fx("dec_gmemory"), 1e-11, 1e-9));
}

TEST(TransformerEncoder, TorchParityStackWithFinalNorm) {
  nn::TransformerEncoder enc(small_options(), 2, /*final_norm=*/true);
  enc.to(kFloat64);
  enc.eval();
  load_torch_state(enc, "encoder");
  nn::EncoderLayerArgs a;
  a.src_mask = causal_mask(5);
  EXPECT_TRUE(all_close(enc.forward(fx("encoder_x"), a), fx("encoder_y"), 1e-12, 1e-10));
  EXPECT_EQ(enc.layers.size(), 2u);
  EXPECT_TRUE(enc.norm != nullptr);
}

// Feeding tokens one at a time with per-layer caches reproduces the causal forward.
TEST(TransformerEncoder, KVCacheMatchesFullForward) {
  nn::TransformerEncoder enc(small_options(), 3, true);
  enc.to(kFloat64);
  enc.eval();
  Tensor x = rand_f64({2, 6, 8}, 1, false);
  nn::EncoderLayerArgs causal;
  causal.is_causal = true;
  Tensor y = enc.forward(x, causal);
  std::vector<nn::KVCache> caches;
  std::vector<Tensor> steps;
  for (int64_t t = 0; t < 6; t += 2) steps.push_back(enc.forward(x.narrow(1, t, 2), causal, &caches));
  ASSERT_EQ(caches.size(), 3u);
  EXPECT_EQ(caches[2].length(), 6);
  EXPECT_TRUE(all_close(cat(steps, 1), y, 1e-12, 1e-10));
  std::vector<nn::KVCache> wrong(2);
  EXPECT_WICK_ERROR(enc.forward(x, causal, &wrong), "expected 3 caches");
}

TEST(TransformerDecoderLayer, KVCacheMatchesFullForward) {
  nn::TransformerDecoderLayer layer(small_options());
  layer.to(kFloat64);
  layer.eval();
  Tensor x = rand_f64({2, 5, 8}, 2, false), memory = rand_f64({2, 4, 8}, 3, false);
  Tensor mem_kpm = tensor({false, false, true, false, false, true, true, false}, Shape{2, 4});
  nn::DecoderLayerArgs full;
  full.tgt_is_causal = true;
  full.memory_key_padding_mask = mem_kpm;
  Tensor y = layer.forward(x, memory, full);
  nn::KVCache self_cache, cross_cache;
  std::vector<Tensor> steps;
  for (int64_t t = 0; t < 5; ++t) {
    nn::DecoderLayerArgs a = full;
    a.self_cache = &self_cache;
    a.cross_cache = &cross_cache;
    // The memory is only needed on the first step.
    steps.push_back(layer.forward(x.narrow(1, t, 1), t == 0 ? memory : Tensor(), a));
  }
  EXPECT_TRUE(cross_cache.static_kv);
  EXPECT_EQ(cross_cache.length(), 4);
  EXPECT_EQ(self_cache.length(), 5);
  EXPECT_TRUE(all_close(cat(steps, 1), y, 1e-12, 1e-10));
}

TEST(TransformerEncoderLayer, PostLayerNorm) {
  nn::TransformerEncoderLayer layer(8, 2, 16, 0.0, "relu", 1e-5, /*norm_first=*/false);
  layer.to(kFloat64);
  Tensor x = rand_f64({2, 3, 8}, 4, false);
  Tensor h = layer.norm1->forward(x + layer.self_attn->forward(x));
  Tensor ref = layer.norm2->forward(h + layer.feed_forward(h));
  EXPECT_TRUE(all_close(layer.forward(x), ref, 1e-14, 0));
  // Pre-LN differs.
  nn::TransformerEncoderLayer pre(8, 2, 16, 0.0, "relu");
  pre.to(kFloat64);
  pre.load_state_dict(layer.state_dict());
  EXPECT_FALSE(all_close(pre.forward(x), ref, 1e-6, 0));
}

TEST(TransformerEncoderLayer, Gradcheck) {
  nn::TransformerEncoderLayer layer(4, 2, 6, 0.0, "gelu");
  layer.to(kFloat64);
  Tensor x = rand_f64({1, 3, 4}, 5);
  Tensor kpm = tensor({false, true, false}, Shape{1, 3});
  auto fn = [&](const tensor_list&) {
    nn::EncoderLayerArgs a;
    a.src_key_padding_mask = kpm;
    return tensor_list{layer.forward(x, a)};
  };
  EXPECT_TRUE(gradcheck(fn, {x, layer.linear1->weight, layer.norm1->weight, layer.self_attn->in_proj_weight}));
}

TEST(TransformerDecoderLayer, Gradcheck) {
  nn::TransformerDecoderLayer layer(4, 2, 6, 0.0, "relu");
  layer.to(kFloat64);
  Tensor x = rand_f64({1, 3, 4}, 6), memory = rand_f64({1, 2, 4}, 7);
  auto fn = [&](const tensor_list&) {
    nn::DecoderLayerArgs a;
    a.tgt_is_causal = true;
    return tensor_list{layer.forward(x, memory, a)};
  };
  EXPECT_TRUE(gradcheck(fn, {x, memory, layer.multihead_attn->in_proj_weight, layer.norm3->bias}));
}

TEST(TransformerEncoderLayer, DropoutTrainEval) {
  nn::TransformerEncoderLayer layer(8, 2, 16, 0.3, "relu");
  Tensor x = rand_f64({2, 4, 8}, 8, false).to(kFloat32);
  layer.eval();
  Tensor e = layer.forward(x);
  EXPECT_TRUE(all_close(layer.forward(x), e, 0, 0));
  layer.train();
  EXPECT_FALSE(all_close(layer.forward(x), e, 1e-4, 0));
}

TEST(TransformerEncoder, CloneAndIndependentInit) {
  auto enc = std::make_shared<nn::TransformerEncoder>(small_options("relu", 0.1), 2, true);
  // Each layer gets its own initialization.
  EXPECT_FALSE(all_close(enc->layers[0]->linear1->weight, enc->layers[1]->linear1->weight, 1e-6, 0));
  auto c = nn::clone(enc);
  enc->eval();
  c->eval();
  Tensor x = rand_f64({1, 3, 8}, 9, false).to(kFloat32);
  EXPECT_TRUE(all_close(c->forward(x), enc->forward(x), 0, 0));
  {
    NoGradGuard ng;
    c->layers[1]->linear2->weight.mul_(2.0);
  }
  EXPECT_FALSE(all_close(c->forward(x), enc->forward(x), 1e-4, 0));
  EXPECT_EQ(c->state_dict().keys(), enc->state_dict().keys());
  EXPECT_EQ(enc->state_dict().keys().front(), "layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(enc->state_dict().keys().back(), "norm.bias");
}

TEST(Transformer, Errors) {
  EXPECT_WICK_ERROR(nn::TransformerEncoderLayer(8, 2, 16, 0.1, "tanh"), "unknown activation 'tanh'");
  EXPECT_WICK_ERROR(nn::TransformerEncoderLayer(8, 3), "divisible");
  nn::TransformerEncoderLayer layer(8, 2, 16);
  EXPECT_WICK_ERROR(layer.forward(zeros({2, 8})), "expected src [B, T, 8]");
  nn::TransformerDecoderLayer dec(8, 2, 16);
  EXPECT_WICK_ERROR(dec.forward(zeros({1, 2, 8}), zeros({1, 2, 4})), "expected memory [B, T, 8]");
  EXPECT_WICK_ERROR(nn::apply_activation(zeros({2}), "swish"), "unknown activation");
}
