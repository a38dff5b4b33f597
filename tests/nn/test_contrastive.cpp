// nn/contrastive.h: every loss against a value worked out by hand on a tiny
// input, against PyTorch 1.13 (tests/fixtures/gen_nn_contrastive.py), the
// identities that tie the losses together (NT-Xent = InfoNCE with masks =
// unsupervised SupCon; the queue adds negatives; ∂L/∂s_ij = P_ij/τ), the
// Sinkhorn marginals, float64 gradchecks, and the error paths.
#include <cmath>

#include "nn/contrastive.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
using nn::InfoNceOptions;

namespace {

const double kE = std::exp(1.0);

Tensor fx(const std::string& name) { return fixture("nn_contrastive/" + name); }
Tensor fx_like(const std::string& name, const Tensor& like) {
  Tensor f = fx(name);
  return like.dim() == 0 && f.numel() == 1 ? f.reshape({}) : f;
}
Tensor leaf(const Tensor& t) {
  Tensor l = t.detach().clone();
  l.requires_grad_();
  return l;
}
Tensor f64(std::initializer_list<double> v, const Shape& shape) { return tensor(v, shape, kFloat64); }
Tensor mask(std::initializer_list<bool> v, const Shape& shape) { return tensor(v, shape); }
Tensor i64(std::initializer_list<int64_t> v, std::optional<Shape> shape = {}) { return tensor(v, shape); }
double value(const Tensor& t) { return t.item<double>(); }

// Checks `out` against <name>_out and the gradients w.r.t. `inputs` against
// <name>_g<key> (a non-scalar output is backpropagated with <name>_g).
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

const std::pair<const char*, Reduction> kReductions[] = {
    {"none", Reduction::None}, {"mean", Reduction::Mean}, {"sum", Reduction::Sum}};

}  // namespace

// ---------------------------------------------------------------------------
// Closed forms on tiny inputs.

TEST(InfoNce, IdenticalEmbeddingsGiveLogBatch) {
  // Every logit equal: each row is a uniform softmax over N keys, L = log N.
  Tensor x = ones({4, 3}, kFloat64);
  for (double tau : {0.05, 1.0})
    EXPECT_NEAR(value(nn::info_nce(x, x, {}, tau)), std::log(4.0), 1e-12) << tau;
}

TEST(InfoNce, OrthogonalPairs) {
  // logits [[2, 0], [0, 2]] at τ = 0.5: L_i = −log(e²/(e² + 1)) = log(1 + e^−2).
  Tensor q = f64({3, 0, 0, 1}, {2, 2});  // normalized to e1, e2
  Tensor k = f64({1, 0, 0, 5}, {2, 2});
  EXPECT_NEAR(value(nn::info_nce(q, k, {}, 0.5)), std::log1p(std::exp(-2.0)), 1e-12);
  // Without normalization the raw dot products are used: logits [[6, 0], [0, 10]].
  Tensor none = nn::info_nce(q, k, {}, 0.5, {.normalize = false, .reduction = Reduction::None});
  EXPECT_TRUE(all_close(none, f64({std::log1p(std::exp(-6.0)), std::log1p(std::exp(-10.0))}, {2}), 1e-12));
}

TEST(InfoNce, MultiplePositivesAveragedLikeSupConOut) {
  // q = e1, keys e1, e2, −e1 (τ = 1, logits 1, 0, −1), positives the first two:
  // L = −½[(1 − log Z) + (0 − log Z)] = log Z − ½ with Z = e + 1 + 1/e.
  Tensor q = f64({1, 0}, {1, 2});
  Tensor k = f64({1, 0, 0, 1, -1, 0}, {3, 2});
  Tensor pos = mask({true, true, false}, {1, 3});
  EXPECT_NEAR(value(nn::info_nce(q, k, pos, 1.0)), std::log(kE + 1 + 1 / kE) - 0.5, 1e-12);
  // An empty negative mask leaves only the positives in the denominator: Z = e + 1.
  Tensor no_neg = mask({false, false, false}, {1, 3});
  EXPECT_NEAR(value(nn::info_nce(q, k, pos, 1.0, {.negative_mask = no_neg})), std::log(kE + 1) - 0.5, 1e-12);
}

TEST(InfoNce, QueueAddsNegatives) {
  // q = k = e1, queue e2 and −e1: logits [1 | 0, −1], L = log(e + 1 + 1/e) − 1.
  Tensor q = f64({1, 0}, {1, 2});
  Tensor queue = f64({0, 1, -1, 0}, {2, 2});
  EXPECT_NEAR(value(nn::info_nce(q, q, {}, 1.0, {.queue = queue})), std::log(kE + 1 + 1 / kE) - 1, 1e-12);
  EXPECT_NEAR(value(nn::info_nce(q, q, {}, 1.0)), 0.0, 1e-12);  // one key, nothing to contrast
}

TEST(NtXent, TwoIdenticalViews) {
  // z = [e1, e2, e1, e2], τ = 1: each row sees its twin (logit 1) and two
  // orthogonal rows (0): L = −log(e / (e + 2)).
  Tensor z = f64({1, 0, 0, 1}, {2, 2});
  EXPECT_NEAR(value(nn::nt_xent(z, z, 1.0)), std::log(kE + 2) - 1, 1e-12);
  // Swapped second view: the twin is orthogonal (0), the others are 0 and 1.
  Tensor z2 = f64({0, 2, 2, 0}, {2, 2});
  EXPECT_NEAR(value(nn::nt_xent(z, z2, 1.0)), std::log(2 + kE), 1e-12);
}

TEST(SupCon, ClosedFormWithAnAnchorWithoutPositives) {
  // f = [e1, e1, e2], labels [0, 0, 1], τ = 0.5: anchors 0 and 1 have one
  // positive (logit 2) and the denominator {2, 0}: L = log(e² + 1) − 2. Anchor 2
  // has no positive and counts as 0 in the mean (as the reference code does).
  Tensor f = f64({1, 0, 1, 0, 0, 1}, {3, 2});
  Tensor labels = i64({0, 0, 1});
  const double per_anchor = std::log(kE * kE + 1) - 2;
  EXPECT_NEAR(value(nn::supcon(f, labels, 0.5, 0.07)), 0.5 / 0.07 * 2 * per_anchor / 3, 1e-12);
  EXPECT_NEAR(value(nn::supcon(f, labels, 0.5, 0.5)), 2 * per_anchor / 3, 1e-12);
}

TEST(ClipLoss, ClosedForm) {
  // S = [[a, 0], [0, a]]: both directions give log(1 + e^−a).
  Tensor s = f64({3, 0, 0, 3}, {2, 2});
  EXPECT_NEAR(value(nn::clip_loss(s)), std::log1p(std::exp(-3.0)), 1e-12);
  // S = [[1, 2], [0, 0]]: rows give log(1 + e^(2−1)) and log(1 + e^0); columns
  // log(1 + e^(0−1)) and log(1 + e^(2−0)).
  Tensor s2 = f64({1, 2, 0, 0}, {2, 2});
  const double rows = (std::log1p(kE) + std::log(2.0)) / 2, cols = (std::log1p(1 / kE) + std::log1p(kE * kE)) / 2;
  EXPECT_NEAR(value(nn::clip_loss(s2)), (rows + cols) / 2, 1e-12);
}

TEST(MultipleNegativesRanking, ClosedForm) {
  Tensor e = f64({1, 0, 0, 1}, {2, 2});
  // Scores [[20, 0], [0, 20]]: L = log(1 + e^−20).
  EXPECT_NEAR(value(nn::multiple_negatives_ranking(e, e)), std::log1p(std::exp(-20.0)), 1e-15);
  // A hard negative e1 at scale 2: row 0 scores [2, 0, 2], row 1 [0, 2, 0].
  Tensor h = f64({3, 0}, {1, 2});
  const double r0 = std::log(2 * std::exp(2.0) + 1) - 2, r1 = std::log(std::exp(2.0) + 2) - 2;
  EXPECT_NEAR(value(nn::multiple_negatives_ranking(e, e, 2.0, h)), (r0 + r1) / 2, 1e-12);
}

TEST(TripletMargin, ClosedForm) {
  // Row 0: d(a,p) = 5, d(a,n) = 1 -> 5 − 1 + 1 = 5. Row 1: 1 − 5 + 1 < 0 -> 0.
  Tensor a = zeros({2, 2}, kFloat64);
  Tensor p = f64({3, 4, 0, 1}, {2, 2});
  Tensor n = f64({0, 1, 3, 4}, {2, 2});
  EXPECT_TRUE(all_close(nn::triplet_margin(a, p, n, 1.0, 2.0, 0.0, false, Reduction::None), f64({5, 0}, {2}), 1e-12));
  EXPECT_NEAR(value(nn::triplet_margin(a, p, n, 1.0, 2.0, 0.0)), 2.5, 1e-12);
  // L1 distances: row 0 7 − 1 + 1 = 7.
  EXPECT_NEAR(value(nn::triplet_margin(a, p, n, 1.0, 1.0, 0.0, false, Reduction::Sum)), 7.0, 1e-12);
  // Swap: a = 0, p = 3e1, n = 4e1: d(a,n) = 4 but d(p,n) = 1 -> 3 − 1 + 1 = 3 (0 without swap).
  Tensor a1 = zeros({1, 2}, kFloat64), p1 = f64({3, 0}, {1, 2}), n1 = f64({4, 0}, {1, 2});
  EXPECT_NEAR(value(nn::triplet_margin(a1, p1, n1, 1.0, 2.0, 0.0, true)), 3.0, 1e-12);
  EXPECT_NEAR(value(nn::triplet_margin(a1, p1, n1, 1.0, 2.0, 0.0, false)), 0.0, 1e-12);
}

TEST(MarginRanking, ClosedForm) {
  Tensor x1 = f64({1, 2}, {2}), x2 = f64({2, 1}, {2}), y = f64({1, 1}, {2});
  EXPECT_TRUE(all_close(nn::margin_ranking(x1, x2, y, 0.5, Reduction::None), f64({1.5, 0}, {2}), 1e-15));
  EXPECT_NEAR(value(nn::margin_ranking(x1, x2, y, 0.5)), 0.75, 1e-15);
  EXPECT_NEAR(value(nn::margin_ranking(x1, x2, neg(y), 0.0, Reduction::Sum)), 1.0, 1e-15);
}

TEST(SoftTargetCrossEntropy, ClosedForm) {
  // Uniform logits: −Σ t log ½ = log 2 for any target.
  EXPECT_NEAR(value(nn::soft_target_cross_entropy(zeros({1, 2}, kFloat64), f64({0.25, 0.75}, {1, 2}))), std::log(2.0),
              1e-15);
  // softmax(logits) = target: the loss is the target's entropy.
  Tensor logits = f64({0, std::log(3.0)}, {2});
  const double h = -(0.25 * std::log(0.25) + 0.75 * std::log(0.75));
  EXPECT_NEAR(value(nn::soft_target_cross_entropy(logits, f64({0.25, 0.75}, {2}))), h, 1e-15);
}

TEST(Sinkhorn, EqualScoresGiveUniformCodes) {
  // B = 2, K = 4: every entry 1/K, rows sum to 1, columns to B/K = ½.
  Tensor q = nn::sinkhorn_knopp(zeros({2, 4}, kFloat64), 0.05, 3);
  EXPECT_TRUE(all_close(q, full({2, 4}, 0.25, kFloat64), 1e-15));
}

TEST(AlignmentUniformity, ClosedForm) {
  Tensor x = f64({1, 0, 0, 1}, {2, 2}), y = f64({0, 1, 0, 1}, {2, 2});
  // ‖x_i − y_i‖² = [2, 0]: α = 2 gives 1, α = 4 gives (4 + 0)/2.
  EXPECT_NEAR(value(nn::alignment(x, y)), 1.0, 1e-15);
  EXPECT_NEAR(value(nn::alignment(x, y, 4.0)), 2.0, 1e-15);
  // Two antipodal points: one pair at squared distance 4, log e^−8 = −8.
  EXPECT_NEAR(value(nn::uniformity(f64({1, 0, -1, 0}, {2, 2}))), -8.0, 1e-12);
  // e1, e2, −e1: pairs at 2, 4, 2 -> log((2e^−4 + e^−8)/3); at t = 1 log((2e^−2 + e^−4)/3).
  Tensor u = f64({1, 0, 0, 1, -1, 0}, {3, 2});
  EXPECT_NEAR(value(nn::uniformity(u)), std::log((2 * std::exp(-4.0) + std::exp(-8.0)) / 3), 1e-12);
  EXPECT_NEAR(value(nn::uniformity(u, 1.0)), std::log((2 * std::exp(-2.0) + std::exp(-4.0)) / 3), 1e-12);
  // All points equal: every distance is 0, log 1 = 0.
  EXPECT_NEAR(value(nn::uniformity(ones({3, 2}, kFloat64))), 0.0, 1e-12);
}

TEST(Byol, ClosedForm) {
  // cos = 0, 1, −1 -> 2, 0, 4.
  Tensor p = f64({1, 0, 1, 0, 1, 0}, {3, 2});
  Tensor z = f64({0, 1, 2, 0, -3, 0}, {3, 2});
  EXPECT_TRUE(all_close(nn::byol_loss(p, z, Reduction::None), f64({2, 0, 4}, {3}), 1e-15));
  EXPECT_NEAR(value(nn::byol_loss(p, z)), 2.0, 1e-15);
}

TEST(BarlowTwins, ClosedForm) {
  // Both embeddings are ±1 per feature (mean 0, biased variance 1), so
  // z̃ = s·z with s = 1/√(1 + eps) and C = s²[[1, −1], [1, −1]]:
  // loss = (1 − s²)² + (1 + s²)² + λ·2s⁴.
  const double eps = 1e-5, s2 = 1 / (1 + eps), lambda = 0.25;
  Tensor z1 = f64({1, 1, -1, -1}, {2, 2}), z2 = f64({1, -1, -1, 1}, {2, 2});
  const double expect = (1 - s2) * (1 - s2) + (1 + s2) * (1 + s2) + lambda * 2 * s2 * s2;
  EXPECT_NEAR(value(nn::barlow_twins_loss(z1, z2, lambda, eps)), expect, 1e-12);
  // Identical standardized embeddings with independent features: C ≈ I, loss ≈ 0.
  Tensor z = f64({1, 1, -1, 1, 1, -1, -1, -1}, {4, 2});
  EXPECT_NEAR(value(nn::barlow_twins_loss(z, z, 1.0, eps)), (1 - s2) * (1 - s2) * 2, 1e-12);
}

// ---------------------------------------------------------------------------
// Against PyTorch.

TEST(TripletMargin, VsTorch) {
  const struct {
    const char* tag;
    double margin, p;
    bool swap;
  } cases[] = {{"m1_p2", 1.0, 2.0, false}, {"m05_p1_swap", 0.5, 1.0, true}, {"m2_p3", 2.0, 3.0, false}};
  for (const auto& c : cases) {
    for (const auto& [rn, red] : kReductions) {
      Tensor a = leaf(fx("tri_a")), p = leaf(fx("tri_p")), n = leaf(fx("tri_n"));
      Tensor out = nn::triplet_margin(a, p, n, c.margin, c.p, 1e-6, c.swap, red);
      expect_matches(std::string("tri_") + c.tag + "_" + rn, out, {{"a", a}, {"p", p}, {"n", n}});
    }
  }
  Tensor a = leaf(fx("tri_a")[0]), p = leaf(fx("tri_p")[0]), n = leaf(fx("tri_n")[0]);
  expect_matches("tri_unbatched", nn::triplet_margin(a, p, n, 1.5), {{"a", a}, {"p", p}, {"n", n}});
}

TEST(MarginRanking, VsTorch) {
  for (int m10 : {0, 3}) {
    for (const auto& [rn, red] : kReductions) {
      Tensor x1 = leaf(fx("mr_x1")), x2 = leaf(fx("mr_x2"));
      Tensor out = nn::margin_ranking(x1, x2, fx("mr_y"), m10 / 10.0, red);
      expect_matches("mr_m" + std::to_string(m10) + "_" + rn, out, {{"x1", x1}, {"x2", x2}});
    }
  }
}

TEST(SoftTargetCrossEntropy, VsTorch) {
  for (const auto& [rn, red] : kReductions) {
    Tensor x = leaf(fx("soft_x")), t = leaf(fx("soft_t"));
    expect_matches(std::string("soft_") + rn, nn::soft_target_cross_entropy(x, t, red), {{"x", x}, {"t", t}});
  }
}

TEST(NtXent, VsTorch) {
  Tensor z1 = leaf(fx("ntx_z1")), z2 = leaf(fx("ntx_z2"));
  expect_matches("ntx", nn::nt_xent(z1, z2, 0.5), {{"z1", z1}, {"z2", z2}});
}

TEST(SupCon, VsReferenceFormula) {
  Tensor labels = fx("sc_labels");
  Tensor f = leaf(fx("sc_f"));
  expect_matches("sc_all", nn::supcon(f, labels, 0.1, 0.07), {{"f", f}});
  f = leaf(fx("sc_f"));
  expect_matches("sc_one", nn::supcon(f, labels, 0.1, 0.07, nn::SupConMode::One), {{"f", f}});
  f = leaf(fx("sc_f"));
  expect_matches("sc_unsup", nn::supcon(f, {}, 0.5, 0.5), {{"f", f}});
  f = leaf(fx("sc_f").select(1, 0));  // one view: anchors 1 and 3 have no positive
  expect_matches("sc_1view", nn::supcon(f, labels, 0.2, 0.07), {{"f", f}});
}

TEST(InfoNce, MocoQueueVsTorch) {
  Tensor q = leaf(fx("moco_q")), k = leaf(fx("moco_k")), queue = leaf(fx("moco_queue"));
  // MoCo contrasts each query with its own key and the queue only.
  expect_matches("moco", nn::info_nce(q, k, {}, 0.07, {.in_batch_negatives = false, .queue = queue}),
                 {{"q", q}, {"k", k}, {"queue", queue}});
}

TEST(MultipleNegativesRanking, VsTorch) {
  Tensor a = leaf(fx("mnr_a")), p = leaf(fx("mnr_p")), h = leaf(fx("mnr_h"));
  expect_matches("mnr", nn::multiple_negatives_ranking(a, p), {{"a", a}, {"p", p}});
  a = leaf(fx("mnr_a")), p = leaf(fx("mnr_p"));
  expect_matches("mnr_hard", nn::multiple_negatives_ranking(a, p, 5.0, h), {{"a", a}, {"p", p}, {"h", h}});
}

TEST(ClipLoss, VsTorch) {
  Tensor s = leaf(fx("clip_logits"));
  expect_matches("clip", nn::clip_loss(s), {{"s", s}});
}

TEST(Byol, VsTorch) {
  Tensor p = leaf(fx("byol_p")), z = leaf(fx("byol_z"));
  expect_matches("byol", nn::byol_loss(p, z), {{"p", p}, {"z", z}});
}

TEST(BarlowTwins, VsTorchBatchNorm) {
  Tensor z1 = leaf(fx("bt_z1")), z2 = leaf(fx("bt_z2"));
  expect_matches("bt", nn::barlow_twins_loss(z1, z2), {{"z1", z1}, {"z2", z2}}, 1e-10, 1e-8);
}

TEST(AlignmentUniformity, VsWangIsolaCode) {
  Tensor x = leaf(fx("au_x")), y = leaf(fx("au_y"));
  expect_matches("align_a2", nn::alignment(x, y), {{"x", x}, {"y", y}});
  x = leaf(fx("au_x")), y = leaf(fx("au_y"));
  expect_matches("align_a3", nn::alignment(x, y, 3.0), {{"x", x}, {"y", y}});
  x = leaf(fx("au_x"));
  expect_matches("unif_t2", nn::uniformity(x), {{"x", x}}, 1e-11, 1e-9);
  x = leaf(fx("au_x"));
  expect_matches("unif_t05", nn::uniformity(x, 0.5), {{"x", x}}, 1e-11, 1e-9);
}

TEST(Sinkhorn, MatchesSwavKernelForm) {
  Tensor s = fx("sk_scores");
  EXPECT_TRUE(all_close(nn::sinkhorn_knopp(s, 0.5, 3), fx("sk_e05_i3_out"), 1e-13, 1e-11));
  EXPECT_TRUE(all_close(nn::sinkhorn_knopp(s, 0.1, 10), fx("sk_e01_i10_out"), 1e-13, 1e-11));
}

// ---------------------------------------------------------------------------
// Identities and properties.

TEST(NtXent, EqualsInfoNceWithMasksAndUnsupervisedSupCon) {
  const int64_t n = 3;
  const double tau = 0.3;
  Tensor z1 = rand_f64({n, 4}, 1, false), z2 = rand_f64({n, 4}, 2, false);
  Tensor z = cat({z1, z2}, 0);
  // Row i's positive is its other view i ± N; its negatives every row but itself and that view.
  Tensor r = arange(2 * n).unsqueeze(1), c = arange(2 * n).unsqueeze(0);
  Tensor pos = logical_or(eq(c, add(r, n)), eq(c, sub(r, n)));
  Tensor negs = logical_and(logical_not(pos), ne(r, c));
  Tensor expect = nn::nt_xent(z1, z2, tau, Reduction::None);
  EXPECT_TRUE(all_close(nn::info_nce(z, z, pos, tau, {.negative_mask = negs, .reduction = Reduction::None}), expect,
                        1e-12));
  // Unsupervised SupCon with two (normalized) views and τ_base = τ is NT-Xent.
  Tensor views = stack({normalize(z1, 2.0, 1), normalize(z2, 2.0, 1)}, 1);
  EXPECT_NEAR(value(nn::supcon(views, {}, tau, tau)), value(mean(expect)), 1e-12);
  // With the self-similarity counted as a negative the loss differs.
  EXPECT_GT(value(nn::info_nce(z, z, pos, tau)), value(mean(expect)) + 1e-3);
}

TEST(InfoNce, QueueEqualsKeysWithExtraNegativeColumns) {
  Tensor q = rand_f64({3, 4}, 3, false), k = rand_f64({3, 4}, 4, false), queue = rand_f64({5, 4}, 5, false);
  Tensor with_queue = nn::info_nce(q, k, {}, 0.2, {.queue = queue, .reduction = Reduction::None});
  Tensor pos = cat({eq(arange(3).unsqueeze(1), arange(3).unsqueeze(0)), zeros({3, 5}, kBool)}, 1);
  Tensor as_keys = nn::info_nce(q, cat({k, queue}, 0), pos, 0.2, {.reduction = Reduction::None});
  EXPECT_TRUE(all_close(with_queue, as_keys, 1e-12));
  // More negatives can only raise each row's loss.
  Tensor without = nn::info_nce(q, k, {}, 0.2, {.reduction = Reduction::None});
  EXPECT_TRUE(value(all(gt(with_queue, without))) != 0);
  // A custom negative mask is extended with the (always negative) queue columns.
  Tensor none_neg = zeros({3, 3}, kBool);
  Tensor only_queue = nn::info_nce(q, k, {}, 0.2, {.negative_mask = none_neg, .queue = queue});
  Tensor qn = normalize(q, 2.0, 1), kn = normalize(k, 2.0, 1), un = normalize(queue, 2.0, 1);
  Tensor logits = div(cat({sum(mul(qn, kn), {1}, true), matmul(qn, un.t())}, 1), 0.2);
  EXPECT_NEAR(value(only_queue), value(cross_entropy(logits, zeros({3}, kInt64))), 1e-12);
  Tensor moco = nn::info_nce(q, k, {}, 0.2, {.in_batch_negatives = false, .queue = queue});
  EXPECT_NEAR(value(moco), value(only_queue), 1e-15);
}

TEST(InfoNce, ExcludedEntriesCarryNoMassAndNoGradient) {
  Tensor logits = leaf(rand_f64({2, 4}, 6, false));
  Tensor pos = mask({true, false, false, false, false, true, false, false}, {2, 4});
  Tensor negs = mask({false, true, true, false, true, false, false, false}, {2, 4});  // (0,3), (1,2), (1,3) out
  Tensor loss = nn::masked_info_nce(logits, pos, negs);
  Tensor g = autograd::grad({loss}, {logits})[0];
  EXPECT_EQ(value(g[0][3]), 0.0);
  EXPECT_EQ(value(g[1][2]), 0.0);
  EXPECT_EQ(value(g[1][3]), 0.0);
  // Changing an excluded logit (even to +inf) leaves the loss unchanged.
  Tensor moved = masked_fill(logits.detach(), logical_not(logical_or(pos, negs)), 1e300);
  EXPECT_NEAR(value(nn::masked_info_nce(moved, pos, negs)), value(loss), 1e-12);
}

TEST(InfoNce, RowsWithoutPositivesAreSkipped) {
  Tensor logits = rand_f64({3, 3}, 7, false);
  Tensor pos = mask({true, false, false, false, false, false, false, true, true}, {3, 3});
  Tensor negs = mask({false, true, true, false, false, false, false, false, false}, {3, 3});  // row 1: nothing
  Tensor rows = nn::masked_info_nce(logits, pos, negs, Reduction::None);
  EXPECT_EQ(value(rows[1]), 0.0);
  EXPECT_TRUE(std::isfinite(value(rows[0])) && std::isfinite(value(rows[2])));
  EXPECT_NEAR(value(nn::masked_info_nce(logits, pos, negs)), (value(rows[0]) + value(rows[2])) / 2, 1e-12);
  // No positive anywhere: 0, with a zero (not NaN) gradient.
  Tensor x = leaf(logits);
  Tensor loss = nn::masked_info_nce(x, zeros({3, 3}, kBool), negs);
  EXPECT_EQ(value(loss), 0.0);
  Tensor g = autograd::grad({loss}, {x})[0];
  EXPECT_TRUE(all_equal(g, zeros({3, 3}, kFloat64)));
}

TEST(InfoNce, GradientIsBoltzmannOverTemperature) {
  // Wang & Liu: for L_i = −log softmax(s_i/τ)_i, ∂L_i/∂s_ij = P_ij/τ for j ≠ i and
  // ∂L_i/∂s_ii = −(1/τ) Σ_{k≠i} P_ik, with P = softmax(s/τ) per row.
  const double tau = 0.2;
  const int64_t n = 3;
  Tensor s = leaf(rand_f64({n, n}, 8, false));
  Tensor eye_mask = eq(arange(n).unsqueeze(1), arange(n).unsqueeze(0));
  Tensor loss = nn::masked_info_nce(div(s, tau), eye_mask, {}, Reduction::Sum);
  Tensor g = autograd::grad({loss}, {s})[0];
  Tensor p = softmax(div(s.detach(), tau), 1);
  Tensor off = masked_fill(p, eye_mask, 0.0);
  Tensor expect = where(eye_mask, neg(sum(off, {1}, true)), off);
  EXPECT_TRUE(all_close(g, div(expect, tau), 1e-12));
}

TEST(MultipleNegativesRanking, IsInfoNceAtTemperatureOneOverScale) {
  Tensor a = rand_f64({3, 4}, 9, false), p = rand_f64({3, 4}, 10, false), h = rand_f64({2, 4}, 11, false);
  EXPECT_NEAR(value(nn::multiple_negatives_ranking(a, p, 20.0, h)),
              value(nn::info_nce(a, p, {}, 1.0 / 20.0, {.queue = h})), 1e-12);
}

TEST(ClipLoss, IsTheMeanOfBothInfoNceDirections) {
  Tensor s = rand_f64({4, 4}, 12, false);
  Tensor eye_mask = eq(arange(4).unsqueeze(1), arange(4).unsqueeze(0));
  const double both = (value(nn::masked_info_nce(s, eye_mask)) + value(nn::masked_info_nce(s.t(), eye_mask))) / 2;
  EXPECT_NEAR(value(nn::clip_loss(s)), both, 1e-12);
}

TEST(SoftTargetCrossEntropy, OneHotTargetsAreCrossEntropy) {
  Tensor x = rand_f64({2, 3, 4}, 13, false);  // classes on the last dim, any leading dims
  Tensor idx = i64({0, 3, 2, 1, 1, 0}, Shape{2, 3});
  Tensor expect = cross_entropy(x.reshape({6, 4}), idx.reshape({6}), {}, -100, Reduction::None).reshape({2, 3});
  EXPECT_TRUE(all_close(nn::soft_target_cross_entropy(x, one_hot(idx, 4).to(kFloat64), Reduction::None), expect,
                        1e-12));
}

TEST(Sinkhorn, MarginalsAndNoGradient) {
  Tensor s = leaf(rand_f64({8, 4}, 14, false));
  Tensor q = nn::sinkhorn_knopp(s, 0.3, 3);
  EXPECT_FALSE(q.requires_grad());
  EXPECT_EQ(q.sizes(), (Shape{8, 4}));
  // Rows sum to 1 exactly after any number of iterations.
  EXPECT_TRUE(all_close(sum(q, {1}), ones({8}, kFloat64), 1e-12));
  // Columns reach B/K = 2 as the iterations converge.
  Tensor q_long = nn::sinkhorn_knopp(s, 0.3, 200);
  EXPECT_TRUE(all_close(sum(q_long, {0}), full({4}, 2.0, kFloat64), 1e-9));
  EXPECT_TRUE(all_close(sum(q_long, {1}), ones({8}, kFloat64), 1e-12));
  // Equipartition versus a plain softmax: Sinkhorn spreads samples that all
  // prefer prototype 0 over every prototype.
  Tensor biased = add(rand_f64({8, 4}, 15, false), mul(one_hot(zeros({8}, kInt64), 4).to(kFloat64), 3.0));
  Tensor codes = nn::sinkhorn_knopp(biased, 0.05, 50);
  Tensor used = sum(one_hot(argmax(codes, 1), 4), {0});
  EXPECT_EQ(value(amin(used)), 2.0);  // every prototype gets its 2 samples
  EXPECT_EQ(value(all(eq(argmax(softmax(div(biased, 0.05), 1), 1), 0))), 1.0);
}

TEST(Sinkhorn, LogDomainDoesNotOverflowInFloat32) {
  // scores/ε up to 1000: exp overflows float32 (max ≈ 3.4e38 < e^89) in the kernel form.
  Tensor s = rand_f64({6, 3}, 16, false).to(kFloat32);
  Tensor q = nn::sinkhorn_knopp(s, 1e-3, 5);
  EXPECT_EQ(q.dtype(), kFloat32);
  EXPECT_EQ(value(all(isfinite(q))), 1.0);
  EXPECT_TRUE(all_close(sum(q, {1}), ones({6}), 1e-5));
}

TEST(AlignmentUniformity, FiniteGradientAtCoincidentPoints) {
  Tensor x = leaf(ones({3, 2}, kFloat64));
  Tensor y = ones({3, 2}, kFloat64);
  Tensor g = autograd::grad({nn::alignment(x, y)}, {x})[0];
  EXPECT_TRUE(all_equal(g, zeros({3, 2}, kFloat64)));
  Tensor gu = autograd::grad({nn::uniformity(x)}, {x})[0];
  EXPECT_EQ(value(all(isfinite(gu))), 1.0);
}

TEST(Contrastive, Float32MatchesFloat64) {
  Tensor z1 = rand_f64({4, 3}, 17, false), z2 = rand_f64({4, 3}, 18, false);
  Tensor labels = i64({0, 1, 0, 1});
  EXPECT_NEAR(value(nn::nt_xent(z1.to(kFloat32), z2.to(kFloat32), 0.1)), value(nn::nt_xent(z1, z2, 0.1)), 1e-5);
  Tensor f = stack({z1, z2}, 1);
  EXPECT_NEAR(value(nn::supcon(f.to(kFloat32), labels)), value(nn::supcon(f, labels)), 1e-4);
  EXPECT_NEAR(value(nn::uniformity(z1.to(kFloat32))), value(nn::uniformity(z1)), 1e-5);
}

// ---------------------------------------------------------------------------
// Gradients (float64 central differences).

TEST(Contrastive, Gradcheck) {
  Tensor labels = i64({0, 1, 0});
  Tensor pos = mask({true, false, true, false, true, false, false, false, false}, {3, 3});
  Tensor negs = mask({false, true, false, true, false, false, true, true, false}, {3, 3});
  using In = const tensor_list&;
  // InfoNCE family.
  EXPECT_TRUE(gradcheck([&](In in) { return nn::masked_info_nce(in[0], pos, negs); }, {rand_f64({3, 3}, 1)}));
  EXPECT_TRUE(gradcheck([&](In in) { return nn::info_nce(in[0], in[1], pos, 0.5, {.negative_mask = negs}); },
                        {rand_f64({3, 4}, 2), rand_f64({3, 4}, 3)}));
  EXPECT_TRUE(gradcheck([&](In in) { return nn::info_nce(in[0], in[1], {}, 0.3, {.queue = in[2]}); },
                        {rand_f64({2, 3}, 4), rand_f64({2, 3}, 5), rand_f64({4, 3}, 6)}));
  EXPECT_TRUE(gradcheck([&](In in) { return nn::info_nce(in[0], in[1], {}, 0.7, {.normalize = false}); },
                        {rand_f64({3, 2}, 7), rand_f64({3, 2}, 8)}));
  EXPECT_TRUE(gradcheck([&](In in) { return nn::nt_xent(in[0], in[1], 0.5); }, {rand_f64({3, 4}, 9), rand_f64({3, 4}, 10)}));
  EXPECT_TRUE(gradcheck([&](In in) { return nn::supcon(in[0], labels, 0.5, 0.3); }, {rand_f64({3, 2, 4}, 11)}));
  EXPECT_TRUE(gradcheck([&](In in) { return nn::supcon(in[0], labels, 0.5, 0.5, nn::SupConMode::One); },
                        {rand_f64({3, 2, 4}, 12)}));
  EXPECT_TRUE(gradcheck([&](In in) { return nn::clip_loss(in[0]); }, {rand_f64({3, 3}, 13)}));
  EXPECT_TRUE(gradcheck([&](In in) { return nn::multiple_negatives_ranking(in[0], in[1], 4.0, in[2]); },
                        {rand_f64({3, 4}, 14), rand_f64({3, 4}, 15), rand_f64({2, 4}, 16)}));
  // Margin losses (random points are away from the hinge and the swap tie).
  for (double p : {1.0, 2.0, 3.0})
    EXPECT_TRUE(gradcheck([&](In in) { return nn::triplet_margin(in[0], in[1], in[2], 1.0, p, 1e-6, p == 1.0); },
                          {rand_f64({4, 3}, 17), rand_f64({4, 3}, 18), rand_f64({4, 3}, 19)}))
        << p;
  Tensor y = f64({1, -1, 1, -1, 1}, {5});
  EXPECT_TRUE(gradcheck([&](In in) { return nn::margin_ranking(in[0], in[1], y, 0.2, Reduction::Sum); },
                        {rand_f64({5}, 20), rand_f64({5}, 21)}));
  // Soft targets (gradient to the logits and to the targets).
  EXPECT_TRUE(gradcheck([&](In in) { return nn::soft_target_cross_entropy(in[0], in[1]); },
                        {rand_f64({3, 4}, 22), rand_f64({3, 4}, 23)}));
  // Metrics and non-contrastive losses.
  EXPECT_TRUE(gradcheck([&](In in) { return nn::alignment(in[0], in[1], 3.0); }, {rand_f64({3, 2}, 24), rand_f64({3, 2}, 25)}));
  EXPECT_TRUE(gradcheck([&](In in) { return nn::uniformity(in[0], 2.0); }, {rand_f64({4, 3}, 26)}));
  EXPECT_TRUE(gradcheck([&](In in) { return nn::byol_loss(in[0], in[1]); }, {rand_f64({3, 4}, 27), rand_f64({3, 4}, 28)}));
  EXPECT_TRUE(gradcheck([&](In in) { return nn::barlow_twins_loss(in[0], in[1], 0.1); },
                        {rand_f64({4, 3}, 29), rand_f64({4, 3}, 30)}));
}

TEST(Contrastive, SecondOrderGradients) {
  // Written with ops, so gradients of gradients exist (gradient penalties,
  // meta-learning through a virtual update).
  Tensor labels = i64({0, 1, 0});
  using In = const tensor_list&;
  EXPECT_TRUE(gradgradcheck([&](In in) { return nn::info_nce(in[0], in[1], {}, 0.5, {.queue = in[2]}); },
                            {rand_f64({2, 3}, 31), rand_f64({2, 3}, 32), rand_f64({2, 3}, 33)}));
  EXPECT_TRUE(gradgradcheck([&](In in) { return nn::supcon(in[0], labels, 0.5, 0.5); }, {rand_f64({3, 2, 2}, 34)}));
  EXPECT_TRUE(gradgradcheck([&](In in) { return nn::nt_xent(in[0], in[1], 0.5); },
                            {rand_f64({2, 3}, 38), rand_f64({2, 3}, 39)}));
  EXPECT_TRUE(gradgradcheck([&](In in) { return nn::triplet_margin(in[0], in[1], in[2], 1.0, 2.0); },
                            {rand_f64({2, 3}, 40), rand_f64({2, 3}, 41), rand_f64({2, 3}, 42)}));
  EXPECT_TRUE(gradgradcheck([&](In in) { return nn::uniformity(in[0]); }, {rand_f64({3, 2}, 35)}));
  EXPECT_TRUE(gradgradcheck([&](In in) { return nn::barlow_twins_loss(in[0], in[1], 0.5); },
                            {rand_f64({3, 2}, 36), rand_f64({3, 2}, 37)}));
}

// ---------------------------------------------------------------------------
// Errors.

TEST(Contrastive, Errors) {
  Tensor a = rand_f64({3, 4}, 1, false), b = rand_f64({3, 5}, 2, false), c = rand_f64({2, 4}, 3, false);
  Tensor m33 = zeros({3, 3}, kBool);
  // Temperatures and other positive parameters.
  EXPECT_WICK_ERROR(nn::info_nce(a, a, {}, 0.0), "info_nce: temperature must be positive");
  EXPECT_WICK_ERROR(nn::info_nce(a, a, {}, -0.1), "temperature must be positive");
  EXPECT_WICK_ERROR(nn::nt_xent(a, a, 0.0), "nt_xent: temperature must be positive");
  EXPECT_WICK_ERROR(nn::supcon(a, {}, -1.0), "supcon: temperature must be positive");
  EXPECT_WICK_ERROR(nn::supcon(a, {}, 0.1, 0.0), "supcon: base_temperature must be positive");
  EXPECT_WICK_ERROR(nn::sinkhorn_knopp(a, 0.0), "sinkhorn_knopp: epsilon must be positive");
  EXPECT_WICK_ERROR(nn::sinkhorn_knopp(a, 0.05, 0), "sinkhorn_knopp: iterations must be >= 1");
  EXPECT_WICK_ERROR(nn::uniformity(a, 0.0), "uniformity: t must be positive");
  EXPECT_WICK_ERROR(nn::alignment(a, a, -2.0), "alignment: alpha must be positive");
  // Shapes.
  EXPECT_WICK_ERROR(nn::info_nce(a, b, m33, 0.1), "info_nce: query [3,4] and keys [3,5] differ in the embedding dim");
  EXPECT_WICK_ERROR(nn::info_nce(a, c, {}, 0.1), "needs as many keys (2) as queries (3)");
  EXPECT_WICK_ERROR(nn::info_nce(a, a, zeros({3, 2}, kBool), 0.1), "positive_mask has shape [3,2] but the logits are [3,3]");
  EXPECT_WICK_ERROR(nn::info_nce(a, a, zeros({3, 3}), 0.1), "positive_mask must be bool");
  EXPECT_WICK_ERROR(nn::info_nce(a, a, {}, 0.1, {.negative_mask = zeros({2, 3}, kBool)}), "negative_mask has shape");
  EXPECT_WICK_ERROR(nn::info_nce(a, a, {}, 0.1, {.queue = b}), "info_nce: queue [3,5]");
  EXPECT_WICK_ERROR(nn::info_nce(a[0], a, {}, 0.1), "info_nce: query must be 2-d [N, D], got shape [4]");
  EXPECT_WICK_ERROR(nn::masked_info_nce(a, m33), "masked_info_nce: positive_mask has shape [3,3] but the logits are [3,4]");
  EXPECT_WICK_ERROR(nn::nt_xent(a, c, 0.1), "nt_xent: z1 and z2 must have the same shape, got [3,4] and [2,4]");
  EXPECT_WICK_ERROR(nn::supcon(a, i64({0, 1}), 0.1), "supcon: labels must be [N] = [3], got shape [2]");
  EXPECT_WICK_ERROR(nn::supcon(a[0], {}, 0.1), "supcon: features must be [N, V, D] or [N, D]");
  EXPECT_WICK_ERROR(nn::clip_loss(a), "clip_loss: logits_per_image must be square [B, B], got shape [3,4]");
  EXPECT_WICK_ERROR(nn::multiple_negatives_ranking(a, c), "anchors and positives must have the same shape");
  EXPECT_WICK_ERROR(nn::multiple_negatives_ranking(a, a, 20.0, b), "hard_negatives [3,5]");
  EXPECT_WICK_ERROR(nn::triplet_margin(a, a, c), "triplet_margin: anchor and negative must have the same shape");
  EXPECT_WICK_ERROR(nn::margin_ranking(a, a, a[0]), "margin_ranking: x1 and y must have the same shape");
  EXPECT_WICK_ERROR(nn::soft_target_cross_entropy(a, b), "logits and target_probs must have the same shape");
  EXPECT_WICK_ERROR(nn::soft_target_cross_entropy(a, zeros({3, 4}, kInt64)), "target_probs must be floating");
  EXPECT_WICK_ERROR(nn::uniformity(a.narrow(0, 0, 1)), "uniformity: needs at least 2 rows to form a pair, got 1");
  EXPECT_WICK_ERROR(nn::barlow_twins_loss(a.narrow(0, 0, 1), a.narrow(0, 0, 1)), "at least 2 samples, got 1");
  EXPECT_WICK_ERROR(nn::barlow_twins_loss(a, b), "barlow_twins_loss: z1 and z2 must have the same shape");
  EXPECT_WICK_ERROR(nn::byol_loss(a, b), "byol_loss: prediction and target must have the same shape");
  EXPECT_WICK_ERROR(nn::alignment(a, c), "alignment: x and y must have the same shape");
  EXPECT_WICK_ERROR(nn::info_nce(i64({1, 2}, Shape{1, 2}), a, {}, 0.1), "query must be floating, got int64");
  EXPECT_WICK_ERROR(nn::info_nce(Tensor(), a, {}, 0.1), "info_nce: query is undefined");
}
