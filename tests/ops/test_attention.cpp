// scaled_dot_product_attention: values and gradients against an explicit
// PyTorch reference (tests/fixtures/gen_attention.py) for bool / float /
// causal masks, L != S, batched heads, custom scale, unbatched; gradcheck;
// fully masked rows (NaN like PyTorch 1.13); seeded dropout; errors.
#include <cmath>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

void expect_matches_fixture(const std::string& name, bool has_mask, bool is_causal = false,
                            std::optional<double> scale = {}) {
  SCOPED_TRACE(name);
  const std::string p = "attention/" + name + "_";
  Tensor q = fixture(p + "q").requires_grad_();
  Tensor k = fixture(p + "k").requires_grad_();
  Tensor v = fixture(p + "v").requires_grad_();
  Tensor mask = has_mask ? fixture(p + "mask") : Tensor();
  Tensor y = scaled_dot_product_attention(q, k, v, mask, 0.0, is_causal, scale);
  EXPECT_TRUE(all_close(y, fixture(p + "y"), 1e-12, 1e-10));
  sum(y * fixture(p + "gy")).backward();
  EXPECT_TRUE(all_close(q.grad(), fixture(p + "gq"), 1e-12, 1e-10));
  EXPECT_TRUE(all_close(k.grad(), fixture(p + "gk"), 1e-12, 1e-10));
  EXPECT_TRUE(all_close(v.grad(), fixture(p + "gv"), 1e-12, 1e-10));
}

}  // namespace

TEST(Attention, MatchesPyTorch) {
  expect_matches_fixture("basic", false);
  expect_matches_fixture("bool_mask", true);
  expect_matches_fixture("float_mask", true);
  expect_matches_fixture("causal", false, true);
  expect_matches_fixture("causal_rect", false, true);
  expect_matches_fixture("scale", false, false, 0.3);
  expect_matches_fixture("unbatched", false);
}

TEST(Attention, Float32) {
  Tensor q = fixture("attention/float_mask_q").to(kFloat32);
  Tensor k = fixture("attention/float_mask_k").to(kFloat32);
  Tensor v = fixture("attention/float_mask_v").to(kFloat32);
  Tensor m = fixture("attention/float_mask_mask").to(kFloat32);
  Tensor y = scaled_dot_product_attention(q, k, v, m);
  EXPECT_EQ(y.dtype(), kFloat32);
  EXPECT_TRUE(all_close(y, fixture("attention/float_mask_y"), 1e-5, 1e-5));
}

TEST(Attention, Gradcheck) {
  Tensor q = rand_f64({2, 3, 4}, 1), k = rand_f64({2, 5, 4}, 2), v = rand_f64({2, 5, 3}, 3);
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2]); },
                        {q, k, v}));
  // Float mask broadcast over the batch, and it gets a gradient too.
  Tensor m = rand_f64({3, 5}, 4);
  EXPECT_TRUE(gradcheck(
      [](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2], t[3]); }, {q, k, v, m}));
  // Bool mask (every query keeps key 0), causal, non-contiguous key, broadcast batch dims.
  Tensor bm = from_vector(std::vector<uint8_t>{1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1}, Shape{3, 5}).to(kBool);
  EXPECT_TRUE(gradcheck(
      [bm](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2], bm); }, {q, k, v}));
  Tensor qc = rand_f64({1, 2, 4, 3}, 5), kc = noncontig_f64({2, 1, 4, 3}, 6), vc = rand_f64({2, 1, 4, 2}, 7);
  EXPECT_FALSE(kc.is_contiguous());
  EXPECT_TRUE(gradcheck(
      [](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2], {}, 0.0, true, 0.7); },
      {qc, kc, vc}));
}

TEST(Attention, FullyMaskedRowIsNaN) {
  Tensor q = rand_f64({2, 3, 4}, 8, false), k = rand_f64({2, 5, 4}, 9, false), v = rand_f64({2, 5, 3}, 10, false);
  // Query 1 attends to nothing.
  Tensor mask = from_vector(std::vector<uint8_t>{1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1}, Shape{3, 5}).to(kBool);
  Tensor y = scaled_dot_product_attention(q, k, v, mask);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(std::isnan(y[b][i][j].item()), i == 1) << b << " " << i << " " << j;
}

TEST(Attention, EmptyQueries) {
  Tensor q = zeros({2, 0, 8}, kFloat64).requires_grad_(), k = rand_f64({2, 6, 8}, 14), v = rand_f64({2, 6, 5}, 15);
  Tensor y = scaled_dot_product_attention(q, k, v);
  EXPECT_EQ(y.sizes(), (Shape{2, 0, 5}));
  sum(y).backward();
  EXPECT_TRUE(all_close(k.grad(), zeros_like(k), 0, 0));
}

TEST(Attention, SeededDropout) {
  Tensor q = rand_f64({2, 4, 8}, 11, false), k = rand_f64({2, 6, 8}, 12, false), v = rand_f64({2, 6, 5}, 13, false);
  Generator g1(123), g2(123), g3(123), g4(7);
  Tensor a = scaled_dot_product_attention(q, k, v, {}, 0.5, false, {}, &g1);
  Tensor b = scaled_dot_product_attention(q, k, v, {}, 0.5, false, {}, &g2);
  EXPECT_TRUE(all_close(a, b, 0, 0));
  // The same dropout applied by hand to the attention weights.
  Tensor w = softmax(matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(8.0)), -1);
  EXPECT_TRUE(all_close(a, matmul(dropout(w, 0.5, true, &g3), v), 1e-14, 1e-14));
  EXPECT_FALSE(all_close(a, scaled_dot_product_attention(q, k, v, {}, 0.5, false, {}, &g4), 1e-6, 1e-6));
  // p = 0 is the deterministic result.
  EXPECT_TRUE(all_close(scaled_dot_product_attention(q, k, v, {}, 0.0), matmul(w, v), 1e-14, 1e-14));
}

TEST(Attention, Errors) {
  Tensor q = zeros({2, 4, 8}), k = zeros({2, 6, 8}), v = zeros({2, 6, 5});
  EXPECT_WICK_ERROR(scaled_dot_product_attention(q, zeros({2, 6, 7}), v),
                    "scaled_dot_product_attention: query and key must have the same embedding size");
  EXPECT_WICK_ERROR(scaled_dot_product_attention(q, k, zeros({2, 5, 5})),
                    "scaled_dot_product_attention: key and value must have the same sequence length");
  EXPECT_WICK_ERROR(scaled_dot_product_attention(q, k, v, zeros({4, 6}, kBool), 0.0, true),
                    "scaled_dot_product_attention: is_causal cannot be combined with an explicit attn_mask");
  EXPECT_WICK_ERROR(scaled_dot_product_attention(q, k, v, zeros({4, 6}, kFloat64)),
                    "scaled_dot_product_attention: expected a bool attn_mask or one of the query's dtype");
  EXPECT_WICK_ERROR(scaled_dot_product_attention(q, k, v, zeros({4, 5}, kBool)), "scaled_dot_product_attention");
  EXPECT_WICK_ERROR(scaled_dot_product_attention(zeros({8}), k, v), "scaled_dot_product_attention: expected query");
  EXPECT_WICK_ERROR(scaled_dot_product_attention(q, k, v, {}, 1.5), "scaled_dot_product_attention: dropout_p");
  EXPECT_WICK_ERROR(scaled_dot_product_attention(q, k.to(kFloat64), v), "same floating dtype");
}
