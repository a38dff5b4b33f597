// Positional encodings: sinusoidal table and RoPE against closed forms
// written out here, RoPE's relative-position property, learned embeddings,
// offsets, gradchecks, errors.
#include <gtest/gtest.h>

#include <cmath>

#include "nn/positional.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

TEST(Sinusoidal, TableMatchesClosedForm) {
  for (int64_t dim : {6, 7}) {
    const int64_t len = 9, offset = 3;
    auto pe = nn::sinusoidal_table(len, dim, offset, 10000.0, kFloat64).tolist<double>();
    for (int64_t p = 0; p < len; ++p)
      for (int64_t i = 0; 2 * i < dim; ++i) {
        const double angle = static_cast<double>(p + offset) / std::pow(10000.0, 2.0 * i / dim);
        EXPECT_NEAR(pe[p * dim + 2 * i], std::sin(angle), 1e-15);
        if (2 * i + 1 < dim) EXPECT_NEAR(pe[p * dim + 2 * i + 1], std::cos(angle), 1e-15);
      }
  }
}

TEST(Sinusoidal, ModuleAddsTableWithOffset) {
  nn::SinusoidalPositionalEncoding enc(8, 16);
  EXPECT_TRUE(enc.state_dict().empty());  // the table is a non-persistent buffer
  EXPECT_EQ(enc.buffers().size(), 1u);
  Tensor x = rand_f64({2, 5, 8}, 1, false).to(kFloat32);
  Tensor y = enc.forward(x, 4);
  Tensor ref = x + nn::sinusoidal_table(5, 8, 4).unsqueeze(0);
  EXPECT_TRUE(all_close(y, ref, 1e-6, 0));
  EXPECT_TRUE(all_close(enc.forward(x), x + nn::sinusoidal_table(5, 8), 1e-6, 0));
  EXPECT_WICK_ERROR(enc.forward(x, 12), "exceed max_len 16");
  EXPECT_WICK_ERROR(enc.forward(zeros({2, 5, 7})), "expected input [..., T, 8]");
  auto c = nn::clone(std::make_shared<nn::SinusoidalPositionalEncoding>(enc));
  EXPECT_TRUE(all_close(c->forward(x, 4), y, 0, 0));
}

TEST(LearnedPositional, AddsRowsAndTrainsOnlyThose) {
  nn::LearnedPositionalEmbedding pos(10, 4);
  EXPECT_EQ(pos.state_dict().keys(), std::vector<std::string>{"weight"});
  // N(0, 0.02^2) initialization.
  Tensor w = pos.weight.detach();
  EXPECT_NEAR(w.mean().item(), 0.0, 0.01);
  EXPECT_GT(max(w.abs()).item<double>(), 0.0);
  EXPECT_LT(max(w.abs()).item<double>(), 0.12);
  Tensor x = zeros({3, 2, 4});
  Tensor y = pos.forward(x, 5);
  EXPECT_TRUE(all_close(y.select(0, 1), pos.weight.narrow(0, 5, 2), 0, 0));
  y.sum().backward();
  auto g = pos.weight.grad().sum({1}).tolist<float>();
  for (int64_t r = 0; r < 10; ++r) EXPECT_EQ(g[r], (r == 5 || r == 6) ? 12.0f : 0.0f) << r;
  EXPECT_WICK_ERROR(pos.forward(x, 9), "exceed max_len 10");
  EXPECT_WICK_ERROR(pos.forward(x, -1), "non-negative");
}

TEST(RoPE, MatchesClosedForm) {
  const int64_t B = 2, H = 3, T = 5, D = 8, offset = 7;
  const double base = 500.0;
  Tensor x = rand_f64({B, H, T, D}, 2, false);
  auto xs = x.tolist<double>();
  auto ys = nn::apply_rotary_embedding(x, offset, base).tolist<double>();
  for (int64_t r = 0; r < B * H; ++r)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < D / 2; ++i) {
        const double angle = static_cast<double>(offset + t) * std::pow(base, -2.0 * i / D);
        const int64_t row = (r * T + t) * D;
        const double a = xs[row + i], b = xs[row + i + D / 2];
        EXPECT_NEAR(ys[row + i], a * std::cos(angle) - b * std::sin(angle), 1e-14);
        EXPECT_NEAR(ys[row + i + D / 2], b * std::cos(angle) + a * std::sin(angle), 1e-14);
      }
}

// <rope(q, m), rope(k, n)> depends only on m - n, and rotations keep norms.
TEST(RoPE, DotProductDependsOnlyOnRelativePosition) {
  Tensor q = rand_f64({1, 16}, 3, false), k = rand_f64({1, 16}, 4, false);
  auto score = [&](int64_t m, int64_t n) {
    return (nn::apply_rotary_embedding(q, m) * nn::apply_rotary_embedding(k, n)).sum().item();
  };
  for (auto [m, n] : std::vector<std::pair<int64_t, int64_t>>{{5, 2}, {0, 3}, {9, 9}}) {
    const double s = score(m, n);
    for (int64_t shift : {1, 4, 100}) EXPECT_NEAR(score(m + shift, n + shift), s, 1e-12);
  }
  EXPECT_GT(std::abs(score(5, 2) - score(5, 4)), 1e-6);  // but it does depend on m - n
  EXPECT_NEAR(score(0, 0), (q * k).sum().item(), 1e-14);   // position 0 is the identity
  Tensor r = nn::apply_rotary_embedding(q, 37);
  EXPECT_NEAR((r * r).sum().item(), (q * q).sum().item(), 1e-12);
}

TEST(RoPE, OffsetSelectsAbsolutePositions) {
  Tensor x = rand_f64({2, 6, 4}, 5, false);
  Tensor full = nn::apply_rotary_embedding(x);
  Tensor tail = nn::apply_rotary_embedding(x.narrow(1, 2, 4), 2);
  EXPECT_TRUE(all_close(tail, full.narrow(1, 2, 4), 1e-15, 0));
  nn::RotaryEmbedding rope(4);
  EXPECT_TRUE(all_close(rope.forward(x), full, 0, 0));
  EXPECT_TRUE(rope.state_dict().empty());
}

TEST(RoPE, Gradcheck) {
  Tensor x = rand_f64({2, 3, 4}, 6);
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return nn::apply_rotary_embedding(in[0], 2); }, {x}));
  Tensor pe_in = rand_f64({2, 3, 4}, 7);
  nn::LearnedPositionalEmbedding pos(5, 4);
  pos.to(kFloat64);
  EXPECT_TRUE(gradcheck([&](const tensor_list& in) { return pos.forward(in[0], 1); }, {pe_in, pos.weight}));
}

TEST(RoPE, Errors) {
  EXPECT_WICK_ERROR(nn::apply_rotary_embedding(zeros({3, 5})), "must be even");
  EXPECT_WICK_ERROR(nn::apply_rotary_embedding(zeros({4})), "expected x [..., T, D]");
  EXPECT_WICK_ERROR(nn::apply_rotary_embedding(zeros({2, 4}, kInt64)), "floating");
  EXPECT_WICK_ERROR(nn::RotaryEmbedding(3), "even");
  nn::RotaryEmbedding rope(4);
  EXPECT_WICK_ERROR(rope.forward(zeros({2, 6})), "expected input [..., T, 4]");
}
