// ops/nn.h: softmax, log_softmax, layer_norm, rms_norm, batch_norm,
// group_norm, dropout, linear. Values and gradients against PyTorch
// (tests/fixtures/gen_nn.py), gradcheck / gradgradcheck in float64, layouts,
// edge cases and error messages.
#include <cmath>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

Tensor fx(const std::string& name) { return fixture("nn/" + name); }
Tensor leaf(const std::string& name) {
  Tensor t = fx(name);
  t.requires_grad_();
  return t;
}
// Gradients of `out` w.r.t. `inputs` for the upstream gradient g.
tensor_list grads(const Tensor& out, const tensor_list& inputs, const Tensor& g) {
  return autograd::grad({out}, inputs, {g});
}

}  // namespace

// ---------------------------------------------------------------------------
// softmax / log_softmax

TEST(Softmax, ValuesAndGradientsVsTorch) {
  Tensor x = leaf("sm_x");
  for (const char* name : {"softmax", "log_softmax"}) {
    const bool log = std::string(name) == "log_softmax";
    for (int d = 0; d < 3; ++d) {
      const std::string p = std::string(name) + "_d" + std::to_string(d) + "_";
      Tensor y = log ? log_softmax(x, d) : softmax(x, d);
      EXPECT_TRUE(all_close(y, fx(p + "y"), 1e-12, 1e-10)) << p;
      auto g = grads(y, {x}, fx(p + "g"));
      EXPECT_TRUE(all_close(g[0], fx(p + "gx"), 1e-12, 1e-10)) << p;
      // Negative dims name the same dim.
      Tensor yn = log ? log_softmax(x, d - 3) : softmax(x, d - 3);
      EXPECT_TRUE(all_equal(yn.detach(), y.detach())) << p;
    }
  }
}

TEST(Softmax, LargeLogitsAreStable) {
  Tensor x = fx("sm_big_x");
  EXPECT_TRUE(all_close(softmax(x, 1), fx("softmax_big_y"), 1e-12, 1e-10));
  EXPECT_TRUE(all_close(log_softmax(x, 1), fx("log_softmax_big_y"), 1e-9, 1e-12));
  Tensor xf = x.to(kFloat32);
  EXPECT_TRUE(all_close(softmax(xf, 1), fx("softmax_big_y").to(kFloat32), 1e-6, 1e-5));
  EXPECT_TRUE(all_close(log_softmax(xf, 1), fx("log_softmax_big_y").to(kFloat32), 1e-3, 1e-6));
}

TEST(Softmax, Float32KeepsDtype) {
  Tensor x = fx("sm_x").to(kFloat32);
  Tensor y = softmax(x, 1), ly = log_softmax(x, 1);
  EXPECT_EQ(y.dtype(), kFloat32);
  EXPECT_EQ(ly.dtype(), kFloat32);
  EXPECT_TRUE(all_close(y, fx("softmax_d1_y").to(kFloat32), 1e-6, 1e-5));
  EXPECT_TRUE(all_close(ly, fx("log_softmax_d1_y").to(kFloat32), 1e-5, 1e-5));
}

TEST(Softmax, NonContiguousInput) {
  // softmax over dim 2 of x^T (transposed 0 <-> 2) is softmax over dim 0 of x, transposed.
  Tensor xt = fx("sm_x").transpose(0, 2);
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_TRUE(all_close(softmax(xt, 2), fx("softmax_d0_y").transpose(0, 2), 1e-12, 1e-10));
  EXPECT_TRUE(all_close(log_softmax(xt, 2), fx("log_softmax_d0_y").transpose(0, 2), 1e-12, 1e-10));
}

TEST(Softmax, InnerDimKernelMatchesRowKernel) {
  // dim 1 of [3, 7, 130] uses the column-block kernel (inner = 130 spans three
  // blocks); the same values through a transpose use the contiguous-row kernel.
  Tensor x = rand_f64({3, 7, 130}, 5, false) * 4.0;
  for (bool log : {false, true}) {
    Tensor a = log ? log_softmax(x, 1) : softmax(x, 1);
    Tensor xt = x.transpose(1, 2).contiguous();
    Tensor b = (log ? log_softmax(xt, 2) : softmax(xt, 2)).transpose(1, 2);
    EXPECT_TRUE(all_close(a, b, 1e-14, 1e-12));
  }
  EXPECT_TRUE(all_close(sum(softmax(x, 1), {1}), ones({3, 130}, kFloat64), 1e-12, 0));
}

TEST(Softmax, LargeTensorRunsInParallelAndSumsToOne) {
  Tensor x = rand_f64({256, 512}, 6, false) * 10.0;
  EXPECT_TRUE(all_close(sum(softmax(x, 1), {1}), ones({256}, kFloat64), 1e-12, 0));
  EXPECT_TRUE(all_close(sum(softmax(x, 0), {0}), ones({512}, kFloat64), 1e-12, 0));
  EXPECT_TRUE(all_close(exp(log_softmax(x, 1)), softmax(x, 1), 1e-14, 1e-12));
}

TEST(Softmax, ScalarAndEmpty) {
  Tensor s = scalar_tensor(2.5, kFloat64);
  EXPECT_EQ(softmax(s, 0).dim(), 0);
  EXPECT_DOUBLE_EQ(softmax(s, 0).item(), 1.0);
  EXPECT_DOUBLE_EQ(log_softmax(s, -1).item(), 0.0);
  Tensor e = zeros({0, 3}, kFloat64);
  EXPECT_EQ(softmax(e, 1).sizes(), (Shape{0, 3}));
  EXPECT_EQ(log_softmax(e, 0).sizes(), (Shape{0, 3}));
  Tensor e2 = zeros({2, 0}, kFloat64);
  EXPECT_EQ(softmax(e2, 1).sizes(), (Shape{2, 0}));
}

TEST(Softmax, NanAndInfRows) {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor x = tensor({0.0, std::nan(""), 1.0, -inf, -inf, -inf, 1.0, -inf, 2.0}, Shape{3, 3}, kFloat64);
  Tensor y = softmax(x, 1);
  auto v = y.tolist<double>();
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(std::isnan(v[i])) << i;  // a NaN row, an all -inf row
  EXPECT_DOUBLE_EQ(v[7], 0.0);                                      // -inf -> probability 0
  EXPECT_NEAR(v[6] + v[8], 1.0, 1e-15);
}

TEST(Softmax, Gradcheck) {
  for (int d : {0, 1, -1}) {
    EXPECT_TRUE(gradcheck([d](const tensor_list& in) { return softmax(in[0], d); }, {rand_f64({3, 4}, 1)}));
    EXPECT_TRUE(gradcheck([d](const tensor_list& in) { return log_softmax(in[0], d); }, {rand_f64({3, 4}, 2)}));
  }
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return softmax(in[0], 0); }, {noncontig_f64({3, 2}, 3)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return log_softmax(in[0], 1); }, {noncontig_f64({2, 3}, 4)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return softmax(in[0], 0); }, {rand_f64({}, 5)}));
}

TEST(Softmax, Gradgradcheck) {
  EXPECT_TRUE(gradgradcheck([](const tensor_list& in) { return softmax(in[0], 1); }, {rand_f64({2, 3}, 7)}));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& in) { return softmax(in[0], 0); }, {rand_f64({3, 2}, 8)}));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& in) { return log_softmax(in[0], 1); }, {rand_f64({2, 3}, 9)}));
}

TEST(Softmax, Errors) {
  EXPECT_WICK_ERROR(softmax(arange(4), 0), "softmax");
  EXPECT_WICK_ERROR(softmax(zeros({2, 3}), 2), "softmax");
  EXPECT_WICK_ERROR(log_softmax(arange(4), 0), "log_softmax");
  EXPECT_WICK_ERROR(log_softmax(zeros({2, 3}), -3), "log_softmax");
}

// ---------------------------------------------------------------------------
// layer_norm / rms_norm

TEST(LayerNorm, ValuesAndGradientsVsTorch) {
  for (const auto& [tag, ns] : {std::pair<std::string, Shape>{"last", {4}}, {"last2", {3, 4}}}) {
    Tensor x = leaf("ln_x"), w = leaf("ln_" + tag + "_w"), b = leaf("ln_" + tag + "_b");
    Tensor y = layer_norm(x, ns, w, b, 1e-5);
    EXPECT_TRUE(all_close(y, fx("ln_" + tag + "_y"), 1e-12, 1e-10)) << tag;
    auto g = grads(y, {x, w, b}, fx("ln_" + tag + "_g"));
    EXPECT_TRUE(all_close(g[0], fx("ln_" + tag + "_gx"), 1e-12, 1e-9)) << tag;
    EXPECT_TRUE(all_close(g[1], fx("ln_" + tag + "_gw"), 1e-12, 1e-9)) << tag;
    EXPECT_TRUE(all_close(g[2], fx("ln_" + tag + "_gb"), 1e-12, 1e-9)) << tag;

    Tensor y0 = layer_norm(x, ns, {}, {}, 1e-3);
    EXPECT_TRUE(all_close(y0, fx("ln_" + tag + "_noaffine_y"), 1e-12, 1e-10)) << tag;
    auto g0 = grads(y0, {x}, fx("ln_" + tag + "_noaffine_g"));
    EXPECT_TRUE(all_close(g0[0], fx("ln_" + tag + "_noaffine_gx"), 1e-12, 1e-9)) << tag;
  }
}

TEST(LayerNorm, Float32AndNonContiguous) {
  Tensor x = fx("ln_x"), w = fx("ln_last_w"), b = fx("ln_last_b");
  Tensor yf = layer_norm(x.to(kFloat32), {4}, w.to(kFloat32), b.to(kFloat32));
  EXPECT_EQ(yf.dtype(), kFloat32);
  EXPECT_TRUE(all_close(yf, fx("ln_last_y").to(kFloat32), 1e-5, 1e-5));
  // The same values laid out transposed in memory.
  Tensor xt = x.transpose(0, 2).contiguous().transpose(0, 2);
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_TRUE(all_close(layer_norm(xt, {4}, w, b), fx("ln_last_y"), 1e-12, 1e-10));
}

TEST(LayerNorm, EmptyBatch) {
  Tensor y = layer_norm(zeros({0, 4}, kFloat64), {4});
  EXPECT_EQ(y.sizes(), (Shape{0, 4}));
}

TEST(LayerNorm, Gradcheck) {
  Tensor x = rand_f64({2, 3, 4}, 1), w = rand_f64({4}, 2), b = rand_f64({4}, 3);
  auto f = [](const tensor_list& in) { return layer_norm(in[0], {4}, in[1], in[2]); };
  EXPECT_TRUE(gradcheck(f, {x, w, b}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return layer_norm(in[0], {2, 3}, in[1]); },
                        {noncontig_f64({2, 3}, 4), rand_f64({2, 3}, 5)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return layer_norm(in[0], {5}); }, {rand_f64({5}, 6)}));
}

TEST(LayerNorm, Gradgradcheck) {
  Tensor x = rand_f64({2, 3}, 11), w = rand_f64({3}, 12), b = rand_f64({3}, 13);
  EXPECT_TRUE(gradgradcheck([](const tensor_list& in) { return layer_norm(in[0], {3}, in[1], in[2]); }, {x, w, b}));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& in) { return layer_norm(in[0], {2, 2}); }, {rand_f64({2, 2}, 14)}));
}

TEST(LayerNorm, Errors) {
  Tensor x = zeros({2, 3, 4}, kFloat64);
  EXPECT_WICK_ERROR(layer_norm(x, {3}), "layer_norm: normalized_shape [3] does not match");
  EXPECT_WICK_ERROR(layer_norm(x, {2, 3, 4, 5}), "[2,3,4]");
  EXPECT_WICK_ERROR(layer_norm(x, {}), "layer_norm");
  EXPECT_WICK_ERROR(layer_norm(x, {4}, zeros({3}, kFloat64)), "layer_norm: weight has shape [3]");
  EXPECT_WICK_ERROR(layer_norm(x, {4}, {}, zeros({4}, kFloat32)), "layer_norm: bias has dtype float32");
  EXPECT_WICK_ERROR(layer_norm(arange(4), {4}), "layer_norm");
}

TEST(RmsNorm, ValuesAndGradientsVsTorch) {
  Tensor x = leaf("ln_x"), w = leaf("rms_w");
  Tensor y = rms_norm(x, {4}, w, 1e-6);
  EXPECT_TRUE(all_close(y, fx("rms_y"), 1e-12, 1e-10));
  auto g = grads(y, {x, w}, fx("rms_g"));
  EXPECT_TRUE(all_close(g[0], fx("rms_gx"), 1e-12, 1e-9));
  EXPECT_TRUE(all_close(g[1], fx("rms_gw"), 1e-12, 1e-9));
}

TEST(RmsNorm, GradcheckAndErrors) {
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return rms_norm(in[0], {3}, in[1]); },
                        {rand_f64({2, 3}, 1), rand_f64({3}, 2)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return rms_norm(in[0], {2, 3}); }, {noncontig_f64({2, 3}, 3)}));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& in) { return rms_norm(in[0], {3}, in[1]); },
                            {rand_f64({2, 3}, 4), rand_f64({3}, 5)}));
  EXPECT_WICK_ERROR(rms_norm(zeros({2, 3}, kFloat64), {2}), "rms_norm: normalized_shape [2]");
}

// ---------------------------------------------------------------------------
// batch_norm

TEST(BatchNorm, TwoTrainingStepsThenEvalVsTorch) {
  for (const std::string tag : {"2d", "3d", "4d"}) {
    const std::string p = "bn_" + tag + "_";
    Tensor x1 = leaf(p + "x1"), x3 = leaf(p + "x3"), w = leaf(p + "w"), b = leaf(p + "b");
    Tensor rm = fx(p + "rm0"), rv = fx(p + "rv0");
    const uint64_t v0 = rm.version();

    Tensor y1 = batch_norm(x1, rm, rv, w, b, /*training=*/true, 0.2, 1e-5);
    EXPECT_TRUE(all_close(y1, fx(p + "y1"), 1e-12, 1e-10)) << tag;
    EXPECT_GT(rm.version(), v0) << "running stats are updated in place";
    EXPECT_FALSE(rm.requires_grad());
    auto g1 = grads(y1, {x1, w, b}, fx(p + "g1"));
    EXPECT_TRUE(all_close(g1[0], fx(p + "gx1"), 1e-12, 1e-9)) << tag;
    EXPECT_TRUE(all_close(g1[1], fx(p + "gw1"), 1e-12, 1e-9)) << tag;
    EXPECT_TRUE(all_close(g1[2], fx(p + "gb1"), 1e-12, 1e-9)) << tag;

    batch_norm(fx(p + "x2"), rm, rv, w, b, /*training=*/true, 0.2, 1e-5);
    EXPECT_TRUE(all_close(rm, fx(p + "rm2"), 1e-14, 1e-12)) << tag;
    EXPECT_TRUE(all_close(rv, fx(p + "rv2"), 1e-14, 1e-12)) << tag;

    const Tensor rm2 = rm.clone();
    Tensor y3 = batch_norm(x3, rm, rv, w, b, /*training=*/false, 0.2, 1e-5);
    EXPECT_TRUE(all_close(y3, fx(p + "y3"), 1e-12, 1e-10)) << tag;
    EXPECT_TRUE(all_close(rm, rm2, 0, 0)) << "eval leaves the running stats alone";
    auto g3 = grads(y3, {x3, w, b}, fx(p + "g3"));
    EXPECT_TRUE(all_close(g3[0], fx(p + "gx3"), 1e-12, 1e-9)) << tag;
    EXPECT_TRUE(all_close(g3[1], fx(p + "gw3"), 1e-12, 1e-9)) << tag;
    EXPECT_TRUE(all_close(g3[2], fx(p + "gb3"), 1e-12, 1e-9)) << tag;

    Tensor yp = batch_norm(x1, {}, {}, {}, {}, /*training=*/true);
    EXPECT_TRUE(all_close(yp, fx(p + "plain_y"), 1e-12, 1e-10)) << tag;
    auto gp = grads(yp, {x1}, fx(p + "plain_g"));
    EXPECT_TRUE(all_close(gp[0], fx(p + "plain_gx"), 1e-12, 1e-9)) << tag;
  }
}

TEST(BatchNorm, Float32AndNonContiguous) {
  const std::string p = "bn_3d_";
  Tensor rm = fx(p + "rm0").to(kFloat32), rv = fx(p + "rv0").to(kFloat32);
  Tensor y = batch_norm(fx(p + "x1").to(kFloat32), rm, rv, fx(p + "w").to(kFloat32), fx(p + "b").to(kFloat32), true,
                        0.2);
  EXPECT_EQ(y.dtype(), kFloat32);
  EXPECT_TRUE(all_close(y, fx(p + "y1").to(kFloat32), 1e-5, 1e-5));
  Tensor x = fx(p + "x1");
  Tensor xt = x.transpose(0, 2).contiguous().transpose(0, 2);
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_TRUE(all_close(batch_norm(xt, {}, {}, fx(p + "w"), fx(p + "b"), true, 0.2), fx(p + "y1"), 1e-12, 1e-10));
}

TEST(BatchNorm, Gradcheck) {
  auto train = [](const tensor_list& in) { return batch_norm(in[0], {}, {}, in[1], in[2], true); };
  EXPECT_TRUE(gradcheck(train, {rand_f64({3, 2}, 1), rand_f64({2}, 2), rand_f64({2}, 3)}));
  EXPECT_TRUE(gradcheck(train, {rand_f64({2, 2, 3}, 4), rand_f64({2}, 5), rand_f64({2}, 6)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return batch_norm(in[0], {}, {}, {}, {}, true); },
                        {noncontig_f64({3, 2}, 7)}));
  Tensor rm = rand_f64({2}, 8, false), rv = rand_f64({2}, 9, false) + 2.0;
  auto eval = [&](const tensor_list& in) { return batch_norm(in[0], rm, rv, in[1], in[2], false); };
  EXPECT_TRUE(gradcheck(eval, {rand_f64({2, 2, 2}, 10), rand_f64({2}, 11), rand_f64({2}, 12)}));
  EXPECT_TRUE(gradgradcheck(train, {rand_f64({3, 2}, 13), rand_f64({2}, 14), rand_f64({2}, 15)}));
}

TEST(BatchNorm, Errors) {
  Tensor w = ones({3}, kFloat64);
  EXPECT_WICK_ERROR(batch_norm(zeros({1, 3}, kFloat64), {}, {}, w, {}, true),
                    "batch_norm: expected more than 1 value per channel when training, got input of shape [1,3]");
  EXPECT_WICK_ERROR(batch_norm(zeros({4, 3}, kFloat64), {}, {}, w, {}, false),
                    "batch_norm: running_mean and running_var must be defined in evaluation mode");
  EXPECT_WICK_ERROR(batch_norm(zeros({4, 3}, kFloat64), {}, {}, ones({4}, kFloat64), {}, true),
                    "batch_norm: weight has shape [4] but expected [3]");
  EXPECT_WICK_ERROR(batch_norm(zeros({4}, kFloat64), {}, {}, {}, {}, true), "batch_norm: expected input of shape");
}

// ---------------------------------------------------------------------------
// group_norm

TEST(GroupNorm, ValuesAndGradientsVsTorch) {
  for (const auto& [tag, G] : {std::pair<std::string, int64_t>{"3d", 3}, {"4d", 2}, {"2d", 4}}) {
    const std::string p = "gn_" + tag + "_";
    Tensor x = leaf(p + "x"), w = leaf(p + "w"), b = leaf(p + "b");
    Tensor y = group_norm(x, G, w, b, 1e-5);
    EXPECT_TRUE(all_close(y, fx(p + "y"), 1e-12, 1e-10)) << tag;
    auto g = grads(y, {x, w, b}, fx(p + "g"));
    EXPECT_TRUE(all_close(g[0], fx(p + "gx"), 1e-12, 1e-9)) << tag;
    EXPECT_TRUE(all_close(g[1], fx(p + "gw"), 1e-12, 1e-9)) << tag;
    EXPECT_TRUE(all_close(g[2], fx(p + "gb"), 1e-12, 1e-9)) << tag;
  }
}

TEST(GroupNorm, GradcheckAndErrors) {
  auto f = [](const tensor_list& in) { return group_norm(in[0], 2, in[1], in[2]); };
  EXPECT_TRUE(gradcheck(f, {rand_f64({2, 4, 2}, 1), rand_f64({4}, 2), rand_f64({4}, 3)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return group_norm(in[0], 1); }, {noncontig_f64({2, 3}, 4)}));
  EXPECT_TRUE(gradgradcheck(f, {rand_f64({1, 4, 2}, 5), rand_f64({4}, 6), rand_f64({4}, 7)}));
  EXPECT_WICK_ERROR(group_norm(zeros({2, 6, 3}, kFloat64), 4),
                    "group_norm: expected the number of channels (6) to be divisible by num_groups (4)");
  EXPECT_WICK_ERROR(group_norm(zeros({2, 6}, kFloat64), 3, ones({3}, kFloat64)), "group_norm: weight has shape [3]");
}

// ---------------------------------------------------------------------------
// dropout

TEST(Dropout, DeterministicWithSeededGenerator) {
  Tensor x = ones({1000}, kFloat64);
  Generator g1(123), g2(123), g3(124);
  Tensor a = dropout(x, 0.4, true, &g1), b = dropout(x, 0.4, true, &g2), c = dropout(x, 0.4, true, &g3);
  EXPECT_TRUE(all_equal(a, b));
  EXPECT_FALSE(all_equal(a, c));
  // The generator advances: a second draw differs from the first.
  EXPECT_FALSE(all_equal(dropout(x, 0.4, true, &g1), a));
}

TEST(Dropout, KeptFractionAndScale) {
  const int64_t n = 1 << 20;
  const double p = 0.3;
  Generator gen(7);
  Tensor x = ones({n}, kFloat32);
  Tensor y = dropout(x, p, true, &gen);
  EXPECT_EQ(y.dtype(), kFloat32);
  auto v = y.tolist<double>();
  int64_t kept = 0;
  const double scale = static_cast<float>(1.0 / (1.0 - p));
  for (double e : v) {
    if (e != 0.0) {
      ++kept;
      ASSERT_DOUBLE_EQ(e, scale);
    }
  }
  // kept ~ Binomial(n, 1 - p): allow 5 standard deviations.
  const double sd = std::sqrt(n * p * (1 - p));
  EXPECT_NEAR(static_cast<double>(kept), n * (1 - p), 5 * sd);
}

TEST(Dropout, TrivialCasesAndGradient) {
  Tensor x = rand_f64({4, 5}, 1);
  EXPECT_TRUE(dropout(x, 0.0, true).is_same(x));
  EXPECT_TRUE(dropout(x, 0.7, false).is_same(x));
  Tensor z = dropout(x, 1.0, true);
  EXPECT_TRUE(all_equal(z.detach(), zeros({4, 5}, kFloat64)));
  Generator gen(3);
  Tensor y = dropout(x, 0.5, true, &gen);
  y.backward(ones({4, 5}, kFloat64));
  // dy/dx is the scaled mask: 2 where kept, 0 where dropped.
  auto yv = y.detach().tolist<double>(), xv = x.detach().tolist<double>(), gv = x.grad().tolist<double>();
  for (size_t i = 0; i < gv.size(); ++i) {
    EXPECT_TRUE(gv[i] == 0.0 || gv[i] == 2.0) << gv[i];
    EXPECT_DOUBLE_EQ(yv[i], xv[i] * gv[i]);
  }
  EXPECT_EQ(dropout(zeros({0, 3}), 0.5, true).sizes(), (Shape{0, 3}));
}

TEST(Dropout, Errors) {
  EXPECT_WICK_ERROR(dropout(ones({3}), 1.5, true), "dropout: probability has to be between 0 and 1, but got 1.5");
  EXPECT_WICK_ERROR(dropout(ones({3}), -0.1, true), "dropout");
  EXPECT_WICK_ERROR(dropout(arange(3), 0.5, true), "dropout");
}

// ---------------------------------------------------------------------------
// linear

TEST(Linear, ValuesAndGradientsVsTorch) {
  Tensor x = leaf("linear_x"), w = leaf("linear_w"), b = leaf("linear_b");
  Tensor y = linear(x, w, b);
  EXPECT_TRUE(all_close(y, fx("linear_y"), 1e-12, 1e-10));
  auto g = grads(y, {x, w, b}, fx("linear_g"));
  EXPECT_TRUE(all_close(g[0], fx("linear_gx"), 1e-12, 1e-10));
  EXPECT_TRUE(all_close(g[1], fx("linear_gw"), 1e-12, 1e-10));
  EXPECT_TRUE(all_close(g[2], fx("linear_gb"), 1e-12, 1e-10));

  Tensor x1 = leaf("linear1d_x"), w1 = leaf("linear_w");
  Tensor y1 = linear(x1, w1);
  EXPECT_TRUE(all_close(y1, fx("linear1d_y"), 1e-12, 1e-10));
  auto g1 = grads(y1, {x1, w1}, fx("linear1d_g"));
  EXPECT_TRUE(all_close(g1[0], fx("linear1d_gx"), 1e-12, 1e-10));
  EXPECT_TRUE(all_close(g1[1], fx("linear1d_gw"), 1e-12, 1e-10));
}

TEST(Linear, GradcheckAndLayouts) {
  auto f = [](const tensor_list& in) { return linear(in[0], in[1], in[2]); };
  EXPECT_TRUE(gradcheck(f, {rand_f64({2, 3}, 1), rand_f64({4, 3}, 2), rand_f64({4}, 3)}));
  EXPECT_TRUE(gradcheck(f, {rand_f64({2, 2, 3}, 4), noncontig_f64({2, 3}, 5), rand_f64({2}, 6)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return linear(in[0], in[1]); },
                        {noncontig_f64({3, 2}, 7), rand_f64({2, 2}, 8)}));
  Tensor e = linear(zeros({0, 3}, kFloat64), ones({2, 3}, kFloat64), ones({2}, kFloat64));
  EXPECT_EQ(e.sizes(), (Shape{0, 2}));
}

TEST(Linear, Errors) {
  EXPECT_WICK_ERROR(linear(zeros({2, 3}), zeros({4, 5})), "linear: input of shape [2,3] has 3 features");
  EXPECT_WICK_ERROR(linear(zeros({2, 3}), zeros({3})), "linear: weight must be 2-D");
  EXPECT_WICK_ERROR(linear(zeros({2, 3}), zeros({4, 3}), zeros({3})), "linear: bias has shape [3]");
}
