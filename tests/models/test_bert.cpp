// models/bert.h: parameter count from the configuration, shapes, padding
// masks (padding never changes the outputs at real tokens), the tied MLM
// decoder, pooling, clone(), overfitting a tiny MLM batch, errors.
#include "models/bert.h"

#include "optim/adam.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
using models::Bert;
using models::BertConfig;
using models::BertPooling;

namespace {

BertConfig tiny(double dropout = 0.0) {
  BertConfig c;
  c.vocab_size = 20;
  c.max_len = 8;
  c.depth = 2;
  c.width = 16;
  c.heads = 2;
  c.ffn = 32;
  c.type_vocab_size = 2;
  c.dropout = dropout;
  return c;
}

Tensor ids(std::initializer_list<int64_t> v, const Shape& shape) { return tensor(v, shape); }
double value_of(const Tensor& t) { return t.item<double>(); }

}  // namespace

TEST(Bert, ParameterCountMatchesFormula) {
  for (int64_t types : {0, 2}) {
    BertConfig c = tiny();
    c.type_vocab_size = types;
    Bert model(c);
    const int64_t V = c.vocab_size, L = c.max_len, D = c.width, F = c.ffn;
    const int64_t attention = 4 * D * D + 4 * D;                  // packed q,k,v [3D, D] + [3D], out [D, D] + [D]
    const int64_t block = attention + (D * F + F) + (F * D + D) + 2 * (2 * D);  // + MLP + 2 LayerNorms
    const int64_t embeddings = V * D + L * D + types * D;
    const int64_t head = (D * D + D) + 2 * D + V;                 // dense, LayerNorm, vocab bias (decoder tied)
    EXPECT_EQ(model.num_parameters(), embeddings + c.depth * block + 2 * D + head) << types;
  }
}

TEST(Bert, ShapesPoolingAndTiedDecoder) {
  manual_seed(1);
  Bert model(tiny());
  Tensor x = ids({2, 5, 6, 7, 0, 0, 2, 8, 9, 10, 11, 12}, {2, 6});
  Tensor logits = model.forward(x);
  EXPECT_EQ(logits.sizes(), (Shape{2, 6, 20}));
  Tensor hidden = model.encode(x);
  EXPECT_EQ(hidden.sizes(), (Shape{2, 6, 16}));
  // Mean pooling over the non-padding tokens only.
  Tensor pooled = model.embed(x);
  EXPECT_EQ(pooled.sizes(), (Shape{2, 16}));
  EXPECT_TRUE(all_close(pooled[0], mean(hidden[0].narrow(0, 0, 4), {0}), 1e-6));
  EXPECT_TRUE(all_close(pooled[1], mean(hidden[1], {0}), 1e-6));
  // CLS pooling takes the first token.
  BertConfig cc = tiny();
  cc.pooling = BertPooling::Cls;
  Bert cls_model(cc);
  EXPECT_TRUE(all_close(cls_model.embed(x), cls_model.encode(x).select(1, 0), 0, 0));
  // The MLM decoder is the token embedding: the loss's gradient reaches the table.
  model.zero_grad();
  model.mlm_loss(x, ids({-100, 3, -100, -100, -100, -100, -100, -100, 4, -100, -100, -100}, {2, 6})).backward();
  Tensor g = model.token_embedding->weight.grad();
  ASSERT_TRUE(g.defined());
  EXPECT_GT(value_of(sum(abs(g[3]))), 0.0);
  // The padding row is zero at initialization.
  EXPECT_EQ(value_of(sum(abs(model.token_embedding->weight[0]))), 0.0);
}

TEST(Bert, PaddingDoesNotChangeRealTokens) {
  manual_seed(2);
  Bert model(tiny(0.1));
  model.eval();
  Tensor short_ids = ids({2, 5, 6, 7}, {1, 4});
  Tensor padded = ids({2, 5, 6, 7, 0, 0, 0}, {1, 7});
  Tensor h_short = model.encode(short_ids);
  Tensor h_padded = model.encode(padded);
  EXPECT_TRUE(all_close(h_padded.narrow(1, 0, 4), h_short, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(model.embed(padded), model.embed(short_ids), 1e-5, 1e-5));
  // The check can fail: attending to the padding (an all-false mask) changes the CLS output.
  Tensor no_mask = zeros({1, 7}, kBool);
  EXPECT_FALSE(all_close(model.encode(padded, {}, no_mask).select(1, 0), h_short.select(1, 0), 1e-4, 1e-4));
  // Segments change the outputs.
  Tensor types = ids({0, 0, 1, 1}, {1, 4});
  EXPECT_FALSE(all_close(model.encode(short_ids, types), h_short, 1e-4, 1e-4));
}

TEST(Bert, CloneIsDeepAndEqual) {
  manual_seed(3);
  auto model = std::make_shared<Bert>(tiny());
  model->eval();
  auto copy = nn::clone(model);
  Tensor x = ids({2, 5, 6, 7, 8, 0}, {1, 6});
  EXPECT_TRUE(all_close(copy->forward(x), model->forward(x), 0, 0));
  EXPECT_EQ(copy->num_parameters(), model->num_parameters());
  // Independent storage, and the copy's decoder is tied to the copy's table.
  {
    NoGradGuard ng;
    copy->token_embedding->weight.mul_(2.0);  // (a constant shift would cancel in the LayerNorms)
  }
  EXPECT_FALSE(all_close(copy->forward(x), model->forward(x), 1e-3, 1e-3));
  EXPECT_TRUE(copy->token_embedding->weight.is_same(copy->parameter("token_embedding.weight")));
}

TEST(Bert, OverfitsATinyMlmBatch) {
  manual_seed(4);
  Bert model(tiny());
  // Token 1 plays [MASK]; the labels hold the hidden tokens.
  Tensor x = ids({2, 1, 6, 7, 1, 9, 2, 10, 1, 12, 13, 1}, {2, 6});
  Tensor y = ids({-100, 5, -100, -100, 8, -100, -100, -100, 11, -100, -100, 14}, {2, 6});
  optim::Adam opt(model.parameters(), {.lr = 1e-2});
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    opt.zero_grad();
    Tensor loss = model.mlm_loss(x, y);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_GT(first, 2.0);  // about log(20) at initialization
  EXPECT_LT(last, 0.05);
}

TEST(Bert, Errors) {
  Bert model(tiny());
  EXPECT_WICK_ERROR(model.encode(zeros({1, 9}, kInt64)), "Bert: sequence length 9 is outside [1, max_len=8]");
  EXPECT_WICK_ERROR(model.encode(zeros({4}, kInt64)), "Bert: input_ids must be an integer tensor [B, T]");
  EXPECT_WICK_ERROR(model.encode(zeros({1, 4}, kInt64), zeros({1, 3}, kInt64)), "token_type_ids has shape [1,3]");
  EXPECT_WICK_ERROR(model.encode(zeros({1, 4}, kInt64), {}, zeros({1, 4}, kInt64)), "padding_mask must be bool");
  EXPECT_WICK_ERROR(model.mlm_loss(zeros({1, 4}, kInt64), zeros({1, 3}, kInt64)), "labels must have input_ids' shape");
  BertConfig c = tiny();
  c.heads = 3;
  EXPECT_WICK_ERROR(Bert{c}, "Bert: width (16) must be divisible by heads (3)");
  c = tiny();
  c.type_vocab_size = 0;
  Bert no_segments(c);
  EXPECT_WICK_ERROR(no_segments.encode(zeros({1, 4}, kInt64), zeros({1, 4}, kInt64)), "no segment embeddings");
}
