// ops/loss.h: every loss and option against PyTorch 1.13
// (tests/fixtures/gen_loss.py), gradcheck in float64, edge cases, errors.
#include <cmath>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

// tests/fixtures/common.py saves 0-d results as shape [1] (np.ascontiguousarray
// promotes 0-d arrays); a one-element fixture is compared as a 0-d value.
Tensor fx(const std::string& name) { return fixture("loss/" + name); }
Tensor fx_like(const std::string& name, const Tensor& like) {
  Tensor f = fx(name);
  return like.dim() == 0 && f.numel() == 1 ? f.reshape({}) : f;
}
Tensor leaf(const std::string& name) {
  Tensor t = fx(name).detach().clone();
  t.requires_grad_();
  return t;
}

const std::pair<const char*, Reduction> kReductions[] = {
    {"none", Reduction::None}, {"mean", Reduction::Mean}, {"sum", Reduction::Sum}};

// Checks out against <name>_out and the gradients w.r.t. `inputs` against
// <name>_g<key>; a 'none' output is backpropagated with the saved <name>_g.
void expect_matches(const std::string& name, const Tensor& out, const std::vector<std::pair<std::string, Tensor>>& inputs,
                    double atol = 1e-12, double rtol = 1e-9) {
  EXPECT_TRUE(all_close(out, fx_like(name + "_out", out), atol, rtol)) << name;
  tensor_list xs;
  for (const auto& [k, t] : inputs) xs.push_back(t);
  tensor_list g = out.dim() == 0 ? autograd::grad({out}, xs) : autograd::grad({out}, xs, {fx(name + "_g")});
  for (size_t i = 0; i < xs.size(); ++i)
    EXPECT_TRUE(all_close(g[i], fx_like(name + "_g" + inputs[i].first, xs[i]), atol, rtol))
        << name << " grad " << inputs[i].first;
}

}  // namespace

// ---------------------------------------------------------------------------
// cross_entropy / nll_loss

TEST(CrossEntropy, ClassIndicesVsTorch) {
  Tensor t = fx("ce_t"), w = fx("ce_w");
  for (const auto& [rn, red] : kReductions) {
    for (const char* wtag : {"nw", "w"}) {
      for (int ls10 : {0, 2}) {
        const std::string name = std::string("ce_") + rn + "_" + wtag + "_ls" + std::to_string(ls10);
        Tensor x = leaf("ce_x");
        Tensor out = cross_entropy(x, t, std::string(wtag) == "w" ? w : Tensor(), -100, red, ls10 / 10.0);
        expect_matches(name, out, {{"x", x}});
      }
    }
  }
}

TEST(CrossEntropy, SpatialTargetsAndIgnoreIndexVsTorch) {
  Tensor t = fx("cek_t"), w = fx("ce_w");
  for (const auto& [rn, red] : kReductions) {
    for (int ls10 : {0, 3}) {
      Tensor x = leaf("cek_x");
      Tensor out = cross_entropy(x, t, w, /*ignore_index=*/7, red, ls10 / 10.0);
      expect_matches(std::string("cek_") + rn + "_ls" + std::to_string(ls10), out, {{"x", x}});
    }
  }
}

TEST(CrossEntropy, UnbatchedVsTorch) {
  for (const auto& [rn, red] : kReductions) {
    Tensor x = leaf("ceu_x");
    Tensor out = cross_entropy(x, tensor({int64_t{2}}, Shape{}), {}, -100, red, 0.1);
    EXPECT_EQ(out.dim(), 0);
    expect_matches(std::string("ceu_") + rn, out, {{"x", x}});
  }
}

TEST(CrossEntropy, ProbabilityTargetsVsTorch) {
  Tensor w = fx("ce_w");
  for (const auto& [rn, red] : kReductions) {
    for (const char* wtag : {"nw", "w"}) {
      for (int ls10 : {0, 2}) {
        const std::string name = std::string("cep_") + rn + "_" + wtag + "_ls" + std::to_string(ls10);
        Tensor x = leaf("ce_x"), t = leaf("cep_t");
        Tensor out = cross_entropy(x, t, std::string(wtag) == "w" ? w : Tensor(), -100, red, ls10 / 10.0);
        expect_matches(name, out, {{"x", x}, {"t", t}});
      }
    }
    Tensor xk = leaf("cek_x");
    expect_matches(std::string("cepk_") + rn, cross_entropy(xk, fx("cepk_t"), w, -100, red, 0.1), {{"x", xk}});
  }
}

TEST(CrossEntropy, Float32AndInt32Targets) {
  Tensor x = fx("ce_x").to(kFloat32);
  Tensor out = cross_entropy(x, fx("ce_t").to(kInt32), fx("ce_w").to(kFloat32), -100, Reduction::Mean, 0.2);
  EXPECT_EQ(out.dtype(), kFloat32);
  EXPECT_TRUE(all_close(out, fx_like("ce_mean_w_ls2_out", out).to(kFloat32), 1e-6, 1e-5));
}

TEST(CrossEntropy, EmptyAndAllIgnored) {
  Tensor e = zeros({0, 3}, kFloat64);
  Tensor te = zeros({0}, kInt64);
  EXPECT_TRUE(std::isnan(cross_entropy(e, te).item()));
  EXPECT_EQ(cross_entropy(e, te, {}, -100, Reduction::Sum).item(), 0.0);
  EXPECT_EQ(cross_entropy(e, te, {}, -100, Reduction::None).sizes(), (Shape{0}));
  Tensor x = rand_f64({2, 3}, 1, false);
  Tensor ign = tensor({int64_t{-100}, int64_t{-100}});
  EXPECT_TRUE(std::isnan(cross_entropy(x, ign).item()));  // 0 / 0, like PyTorch
  EXPECT_EQ(cross_entropy(x, ign, {}, -100, Reduction::Sum).item(), 0.0);
}

TEST(CrossEntropy, Gradcheck) {
  Tensor t = tensor({int64_t{0}, int64_t{2}, int64_t{-100}, int64_t{1}});
  Tensor w = rand_f64({3}, 1, false) + 2.0;
  for (Reduction red : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    EXPECT_TRUE(gradcheck([&](const tensor_list& in) { return cross_entropy(in[0], t, w, -100, red, 0.25); },
                          {rand_f64({4, 3}, 2)}));
    EXPECT_TRUE(gradcheck([&](const tensor_list& in) { return cross_entropy(in[0], in[1], w, -100, red, 0.1); },
                          {rand_f64({2, 3}, 3), rand_f64({2, 3}, 4)}));
  }
  Tensor tk = tensor({int64_t{0}, int64_t{2}, int64_t{1}, int64_t{1}}, Shape{2, 2});
  EXPECT_TRUE(gradcheck([&](const tensor_list& in) { return cross_entropy(in[0], tk); }, {noncontig_f64({2, 3, 2}, 5)}));
  EXPECT_TRUE(gradgradcheck([&](const tensor_list& in) { return cross_entropy(in[0], t, w, -100, Reduction::Mean, 0.1); },
                            {rand_f64({4, 3}, 6)}));
}

TEST(CrossEntropy, Errors) {
  Tensor x = zeros({4, 3}, kFloat64);
  EXPECT_WICK_ERROR(cross_entropy(x, tensor({int64_t{0}, int64_t{1}, int64_t{2}})),
                    "cross_entropy: target has shape [3] but input has batch size 4");
  EXPECT_WICK_ERROR(cross_entropy(zeros({2, 3, 5}, kFloat64), zeros({2, 4}, kInt64)),
                    "cross_entropy: target has shape [2,4] but expected [2,5]");
  EXPECT_WICK_ERROR(cross_entropy(x, tensor({int64_t{0}, int64_t{1}, int64_t{3}, int64_t{0}})),
                    "cross_entropy: target 3 is out of bounds for 3 classes");
  EXPECT_WICK_ERROR(cross_entropy(x, zeros({4}, kInt64), {}, -100, Reduction::Mean, 1.5),
                    "cross_entropy: label_smoothing must be between 0.0 and 1.0");
  EXPECT_WICK_ERROR(cross_entropy(x, zeros({4, 2}, kFloat64)), "cross_entropy: a floating target");
  EXPECT_WICK_ERROR(cross_entropy(x, zeros({4, 3}, kInt64)), "must be floating");
  EXPECT_WICK_ERROR(cross_entropy(x, zeros({4}, kInt64), ones({2}, kFloat64)), "cross_entropy: weight has shape [2]");
  EXPECT_WICK_ERROR(cross_entropy(zeros({3}, kFloat64), zeros({1}, kInt64)), "needs a 0-d target");
  EXPECT_WICK_ERROR(cross_entropy(scalar_tensor(1.0), zeros({}, kInt64)), "cross_entropy");
}

TEST(NllLoss, ValuesAndGradientsVsTorch) {
  Tensor t = fx("nll_t"), w = fx("ce_w");
  for (const auto& [rn, red] : kReductions) {
    for (const char* wtag : {"nw", "w"}) {
      Tensor x = leaf("nll_x");
      Tensor out = nll_loss(x, t, std::string(wtag) == "w" ? w : Tensor(), /*ignore_index=*/1, red);
      expect_matches(std::string("nll_") + rn + "_" + wtag, out, {{"x", x}});
    }
  }
}

TEST(NllLoss, GradcheckAndErrors) {
  Tensor t = tensor({int64_t{1}, int64_t{0}, int64_t{2}});
  EXPECT_TRUE(gradcheck([&](const tensor_list& in) { return nll_loss(in[0], t, {}, 0); }, {rand_f64({3, 3}, 1)}));
  EXPECT_WICK_ERROR(nll_loss(zeros({4, 3}, kFloat64), tensor({int64_t{0}, int64_t{1}, int64_t{2}, int64_t{3}})),
                    "nll_loss: target 3 is out of bounds for 3 classes");
  EXPECT_WICK_ERROR(nll_loss(zeros({4, 3}, kFloat64), tensor({int64_t{0}, int64_t{-1}, int64_t{2}, int64_t{0}})),
                    "nll_loss: target -1 is out of bounds");
  EXPECT_WICK_ERROR(nll_loss(zeros({4, 3}, kFloat64), zeros({4}, kFloat64)),
                    "nll_loss: expected class-index targets of dtype int64");
  EXPECT_WICK_ERROR(nll_loss(zeros({4, 3}, kFloat64), zeros({5}, kInt64)),
                    "nll_loss: target has shape [5] but input has batch size 4");
}

// ---------------------------------------------------------------------------
// binary_cross_entropy_with_logits

TEST(BceWithLogits, ValuesAndGradientsVsTorch) {
  Tensor w = fx("bce_w"), pw = fx("bce_pw");
  for (const auto& [rn, red] : kReductions) {
    Tensor x = leaf("bce_x"), t = leaf("bce_t");
    expect_matches(std::string("bce_") + rn, binary_cross_entropy_with_logits(x, t, {}, {}, red),
                   {{"x", x}, {"t", t}});
    expect_matches(std::string("bce_") + rn + "_wpw", binary_cross_entropy_with_logits(x, t, w, pw, red),
                   {{"x", x}, {"t", t}});
  }
}

TEST(BceWithLogits, ExtremeLogitsStayFinite) {
  Tensor x = tensor({1000.0, -1000.0, 1000.0, -1000.0}, {}, kFloat64);
  Tensor t = tensor({0.0, 1.0, 1.0, 0.0}, {}, kFloat64);
  Tensor l = binary_cross_entropy_with_logits(x, t, {}, {}, Reduction::None);
  EXPECT_TRUE(all_close(l, tensor({1000.0, 1000.0, 0.0, 0.0}, {}, kFloat64), 0, 1e-15));
  Tensor lf = binary_cross_entropy_with_logits(x.to(kFloat32), t.to(kFloat32), {}, {}, Reduction::None);
  EXPECT_TRUE(all_close(lf, tensor({1000.0f, 1000.0f, 0.0f, 0.0f}), 0, 1e-6));
}

TEST(BceWithLogits, GradcheckIncludingWeights) {
  // PyTorch does not differentiate w.r.t. weight and pos_weight; wick does.
  auto f = [](const tensor_list& in) {
    return binary_cross_entropy_with_logits(in[0], in[1], in[2], in[3], Reduction::Mean);
  };
  EXPECT_TRUE(gradcheck(f, {rand_f64({2, 3}, 1), rand_f64({2, 3}, 2), rand_f64({3}, 3), rand_f64({2, 1}, 4)}));
  auto g = [](const tensor_list& in) { return binary_cross_entropy_with_logits(in[0], in[1], {}, {}, Reduction::None); };
  EXPECT_TRUE(gradcheck(g, {noncontig_f64({2, 3}, 5), rand_f64({2, 3}, 6)}));
  EXPECT_TRUE(gradgradcheck(g, {rand_f64({2, 2}, 7), rand_f64({2, 2}, 8)}));
}

TEST(BceWithLogits, Errors) {
  Tensor x = zeros({2, 3}, kFloat64);
  EXPECT_WICK_ERROR(binary_cross_entropy_with_logits(x, zeros({3}, kFloat64)),
                    "binary_cross_entropy_with_logits: target has shape [3] but input has shape [2,3]");
  EXPECT_WICK_ERROR(binary_cross_entropy_with_logits(x, x, {}, zeros({2}, kFloat64)),
                    "binary_cross_entropy_with_logits: pos_weight of shape [2] cannot be broadcast to input of shape [2,3]");
  EXPECT_WICK_ERROR(binary_cross_entropy_with_logits(x, x, zeros({4, 3}, kFloat64)), "weight of shape [4,3]");
}

// ---------------------------------------------------------------------------
// mse / l1 / smooth_l1

TEST(RegressionLosses, ValuesAndGradientsVsTorch) {
  for (const auto& [rn, red] : kReductions) {
    const std::string r = rn;
    Tensor x = leaf("reg_x"), t = leaf("reg_t");
    expect_matches("mse_" + r, mse_loss(x, t, red), {{"x", x}, {"t", t}});
    expect_matches("l1_" + r, l1_loss(x, t, red), {{"x", x}, {"t", t}});
    for (int b10 : {10, 5, 0})
      expect_matches("sl1_" + r + "_b" + std::to_string(b10), smooth_l1_loss(x, t, red, b10 / 10.0),
                     {{"x", x}, {"t", t}});
  }
  Tensor x = leaf("reg_x"), tb = leaf("reg_tb");
  expect_matches("mse_bcast", mse_loss(x, tb), {{"x", x}, {"t", tb}});
}

TEST(RegressionLosses, GradcheckAndEdges) {
  auto mse = [](const tensor_list& in) { return mse_loss(in[0], in[1], Reduction::Sum); };
  auto l1 = [](const tensor_list& in) { return l1_loss(in[0], in[1], Reduction::None); };
  auto sl1 = [](const tensor_list& in) { return smooth_l1_loss(in[0], in[1], Reduction::Mean, 0.7); };
  EXPECT_TRUE(gradcheck(mse, {noncontig_f64({2, 3}, 1), rand_f64({3}, 2)}));
  EXPECT_TRUE(gradcheck(l1, {rand_f64({2, 3}, 3), rand_f64({2, 3}, 4)}));
  EXPECT_TRUE(gradcheck(sl1, {rand_f64({2, 3}, 5), rand_f64({2, 3}, 6)}));
  EXPECT_TRUE(gradgradcheck(mse, {rand_f64({2, 2}, 7), rand_f64({2, 2}, 8)}));
  EXPECT_TRUE(std::isnan(mse_loss(zeros({0}, kFloat64), zeros({0}, kFloat64)).item()));
  EXPECT_EQ(l1_loss(zeros({0}, kFloat64), zeros({0}, kFloat64), Reduction::Sum).item(), 0.0);
  Tensor s = scalar_tensor(3.0, kFloat64);
  EXPECT_DOUBLE_EQ(smooth_l1_loss(s, scalar_tensor(1.0, kFloat64), Reduction::Mean, 1.0).item(), 1.5);
  EXPECT_DOUBLE_EQ(smooth_l1_loss(s, scalar_tensor(2.5, kFloat64), Reduction::Mean, 1.0).item(), 0.125);
}

TEST(RegressionLosses, Errors) {
  EXPECT_WICK_ERROR(mse_loss(zeros({2, 3}), zeros({2})), "mse_loss");
  EXPECT_WICK_ERROR(l1_loss(zeros({2, 3}), zeros({4})), "l1_loss");
  EXPECT_WICK_ERROR(smooth_l1_loss(zeros({3}), zeros({3}), Reduction::Mean, -1.0),
                    "smooth_l1_loss: beta must be non-negative, got -1");
  EXPECT_WICK_ERROR(mse_loss(arange(3), arange(3)), "mse_loss: expected a floating input");
}

// ---------------------------------------------------------------------------
// kl_div

TEST(KlDiv, ValuesAndGradientsVsTorch) {
  for (const std::string rn : {"none", "mean", "sum", "batchmean"}) {
    Reduction red = rn == "none" ? Reduction::None : rn == "sum" ? Reduction::Sum : Reduction::Mean;
    // log targets: values and both gradients.
    Tensor x = leaf("kl_x"), tl = leaf("kl_tl");
    Tensor out = rn == "batchmean" ? kl_div_batchmean(x, tl, true) : kl_div(x, tl, red, true);
    expect_matches("kllog_" + rn, out, {{"x", x}, {"t", tl}});

    // probability targets with zeros: d/dt of t log t does not exist at t = 0
    // (PyTorch returns NaN there, wick the derivative of the 0 log 0 = 0
    // convention); compare the target gradient elsewhere.
    Tensor x2 = leaf("kl_x"), t = leaf("kl_t");
    Tensor out2 = rn == "batchmean" ? kl_div_batchmean(x2, t) : kl_div(x2, t, red);
    EXPECT_TRUE(all_close(out2, fx_like("kl_" + rn + "_out", out2), 1e-12, 1e-9)) << rn;
    tensor_list g = out2.dim() == 0 ? autograd::grad({out2}, {x2, t}) : autograd::grad({out2}, {x2, t}, {fx("kl_" + rn + "_g")});
    EXPECT_TRUE(all_close(g[0], fx("kl_" + rn + "_gx"), 1e-12, 1e-9)) << rn;
    Tensor zero = eq(t.detach(), 0.0);
    Tensor gt_ref = fx("kl_" + rn + "_gt");
    EXPECT_TRUE(all_close(where(zero, 0.0, g[1]), where(zero, 0.0, gt_ref), 1e-12, 1e-9)) << rn;
    EXPECT_EQ(all(isfinite(g[1])).item(), 1.0) << rn;
  }
}

TEST(KlDiv, GradcheckAndErrors) {
  Tensor t = rand_f64({2, 3}, 1, false) * 0.4 + 0.5;  // in (0.1, 0.9)
  t.requires_grad_();
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return kl_div(in[0], in[1], Reduction::Sum); },
                        {rand_f64({2, 3}, 2), t}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return kl_div_batchmean(in[0], in[1], true); },
                        {noncontig_f64({2, 3}, 3), rand_f64({2, 3}, 4)}));
  EXPECT_WICK_ERROR(kl_div(zeros({2, 3}), zeros({4})), "kl_div");
  EXPECT_DOUBLE_EQ(kl_div_batchmean(scalar_tensor(0.5, kFloat64), scalar_tensor(0.25, kFloat64)).item(),
                   0.25 * std::log(0.25) - 0.25 * 0.5);
}

// ---------------------------------------------------------------------------
// cosine_similarity / normalize / cdist

TEST(CosineSimilarity, ValuesAndGradientsVsTorch) {
  Tensor a = leaf("cos_a"), b = leaf("cos_b");
  expect_matches("cos", cosine_similarity(a, b, 1), {{"a", a}, {"b", b}});
  Tensor ab = leaf("cosb_a"), bb = leaf("cosb_b");
  expect_matches("cosb", cosine_similarity(ab, bb, -1), {{"a", ab}, {"b", bb}});
  expect_matches("cosb0", cosine_similarity(ab, bb, 0), {{"a", ab}, {"b", bb}});
  // Tiny norms: each norm is clamped to eps separately (PyTorch 1.13).
  Tensor at = leaf("cost_a"), bt = leaf("cost_b");
  expect_matches("cost", cosine_similarity(at, bt, 1, 1e-8), {{"a", at}, {"b", bt}}, 1e-9, 1e-9);
}

TEST(CosineSimilarity, GradcheckAndErrors) {
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return cosine_similarity(in[0], in[1], 1); },
                        {rand_f64({2, 3}, 1), noncontig_f64({2, 3}, 2)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return cosine_similarity(in[0], in[1], 0); },
                        {rand_f64({3, 1}, 3), rand_f64({2}, 4)}));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& in) { return cosine_similarity(in[0], in[1], 1); },
                            {rand_f64({2, 3}, 5), rand_f64({2, 3}, 6)}));
  EXPECT_WICK_ERROR(cosine_similarity(zeros({2, 3}), zeros({4, 3})), "cosine_similarity");
  EXPECT_WICK_ERROR(cosine_similarity(zeros({2, 3}), zeros({2, 3}), 2), "cosine_similarity");
  EXPECT_WICK_ERROR(cosine_similarity(arange(3), arange(3), 0), "cosine_similarity: expected floating inputs");
}

TEST(Normalize, ValuesAndGradientsVsTorch) {
  Tensor x = leaf("norm_x");
  expect_matches("normalize_p2_d1", normalize(x, 2.0, 1), {{"x", x}});
  expect_matches("normalize_p1_d0", normalize(x, 1.0, 0), {{"x", x}});
  expect_matches("normalize_p3_dm1", normalize(x, 3.0, -1, 1e-3), {{"x", x}});
}

TEST(Normalize, GradcheckAndErrors) {
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return normalize(in[0], 2.0, 1); }, {noncontig_f64({2, 3}, 1)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return normalize(in[0], 1.0, 0); }, {rand_f64({3, 2}, 2)}));
  EXPECT_WICK_ERROR(normalize(zeros({2, 3}), 2.0, 2), "normalize");
  EXPECT_WICK_ERROR(normalize(arange(3)), "normalize: expected a floating input");
}

TEST(Cdist, ValuesAndGradientsVsTorch) {
  for (const std::string tag : {"p2", "p1", "pinf", "p3"}) {
    const double p = tag == "p2" ? 2.0 : tag == "p1" ? 1.0 : tag == "p3" ? 3.0 : INFINITY;
    Tensor a = leaf("cdist_a"), b = leaf("cdist_b");
    Tensor d = cdist(a, b, p);
    EXPECT_EQ(d.sizes(), (Shape{2, 3, 5}));
    expect_matches("cdist_" + tag, d, {{"a", a}, {"b", b}});
  }
  Tensor a = leaf("cdist_a"), b2 = leaf("cdist_b2");
  expect_matches("cdist_bcast", cdist(a, b2), {{"a", a}, {"b", b2}});
  EXPECT_TRUE(all_close(cdist(fx("cdist_p0_a"), fx("cdist_p0_b"), 0.0), fx("cdist_p0_out"), 0, 0));
}

TEST(Cdist, GradcheckAndErrors) {
  for (double p : {1.0, 2.0, 3.0})
    EXPECT_TRUE(gradcheck([p](const tensor_list& in) { return cdist(in[0], in[1], p); },
                          {rand_f64({2, 3}, 1), noncontig_f64({3, 3}, 2)}));
  EXPECT_WICK_ERROR(cdist(zeros({2, 3}), zeros({2, 4})),
                    "cdist: x1 and x2 must have the same number of columns: [2,3] and [2,4] (3 != 4)");
  EXPECT_WICK_ERROR(cdist(zeros({3}), zeros({2, 3})), "cdist: expected inputs");
  EXPECT_WICK_ERROR(cdist(zeros({2, 3}), zeros({2, 3}), -1.0), "cdist: p must be non-negative");
  EXPECT_EQ(cdist(zeros({0, 3}, kFloat64), zeros({2, 3}, kFloat64)).sizes(), (Shape{0, 2}));
}
