// Contrastive losses (see contrastive.h for the formulas). Everything is
// composed from differentiable ops; the only hand-written numerics are the
// masking rules of the general InfoNCE form and the log-domain Sinkhorn loop.
#include "nn/contrastive.h"

#include <cmath>
#include <limits>
#include <string>

#include "autograd/grad_mode.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/nn.h"
#include "ops/reduction.h"
#include "ops/shape.h"

namespace wick::nn {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void check_defined(const char* op, const Tensor& t, const char* what) {
  WICK_CHECK(t.defined(), op, ": ", what, " is undefined");
}

void check_floating(const char* op, const Tensor& t, const char* what) {
  check_defined(op, t, what);
  WICK_CHECK(t.is_floating_point(), op, ": ", what, " must be floating, got ", t.dtype());
}

void check_matrix(const char* op, const Tensor& t, const char* what) {
  check_floating(op, t, what);
  WICK_CHECK(t.dim() == 2, op, ": ", what, " must be 2-d [N, D], got shape ", shape_str(t.sizes()));
}

void check_same_shape(const char* op, const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  WICK_CHECK(a.sizes() == b.sizes(), op, ": ", an, " and ", bn, " must have the same shape, got ",
             shape_str(a.sizes()), " and ", shape_str(b.sizes()));
}

void check_positive(const char* op, double v, const char* what) {
  WICK_CHECK(v > 0 && std::isfinite(v), op, ": ", what, " must be positive and finite, got ", v);
}

void check_mask(const char* op, const Tensor& mask, const char* what, int64_t n, int64_t m) {
  check_defined(op, mask, what);
  WICK_CHECK(mask.dtype() == kBool, op, ": ", what, " must be bool, got ", mask.dtype());
  WICK_CHECK(mask.dim() == 2 && mask.size(0) == n && mask.size(1) == m, op, ": ", what, " has shape ",
             shape_str(mask.sizes()), " but the logits are [", n, ",", m, "]");
}

Tensor reduce(const Tensor& per_item, Reduction reduction) {
  switch (reduction) {
    case Reduction::None: return per_item;
    case Reduction::Sum: return sum(per_item);
    case Reduction::Mean: return mean(per_item);
  }
  WICK_FAIL("contrastive: unknown reduction");
}

// int64 0..n-1 on `like`'s device.
Tensor index_range(int64_t n, const Tensor& like) {
  return arange(n, TensorOptions(kInt64).device(like.device()));
}

// [n, m] bool with true where row == column.
Tensor diagonal_mask(int64_t n, int64_t m, const Tensor& like) {
  return eq(index_range(n, like).unsqueeze(1), index_range(m, like).unsqueeze(0));
}

Tensor l2_normalize(const Tensor& x) { return wick::normalize(x, 2.0, -1); }

}  // namespace

// ---------------------------------------------------------------------------
// The general masked form.

Tensor masked_info_nce(const Tensor& logits, const Tensor& positive_mask, const Tensor& negative_mask,
                       Reduction reduction) {
  const char* op = "masked_info_nce";
  check_matrix(op, logits, "logits");
  const int64_t n = logits.size(0), m = logits.size(1);
  check_mask(op, positive_mask, "positive_mask", n, m);
  if (negative_mask.defined()) check_mask(op, negative_mask, "negative_mask", n, m);

  const Tensor& pos = positive_mask;
  // The denominator set A(i) = P(i) ∪ N(i); the default N(i) is "not positive",
  // so the union is then every entry.
  Tensor in_denominator = negative_mask.defined() ? logical_or(pos, negative_mask) : Tensor();
  Tensor log_denominator;
  if (in_denominator.defined()) {
    // A row with an empty denominator has no positive either; it keeps all its
    // entries so its logsumexp stays finite (its loss is 0 regardless), and
    // excluded entries get -inf so they carry neither mass nor gradient.
    Tensor keep = logical_or(in_denominator, logical_not(any(in_denominator, {1}, /*keepdim=*/true)));
    log_denominator = logsumexp(masked_fill(logits, logical_not(keep), -kInf), {1}, /*keepdim=*/true);
  } else {
    log_denominator = logsumexp(logits, {1}, /*keepdim=*/true);
  }
  // log p_ij at the positives, 0 elsewhere (where, not a product: entries
  // outside A(i) may be arbitrary and must not leak NaN into the gradient).
  Tensor log_prob = where(pos, sub(logits, log_denominator), 0.0);
  Tensor n_pos = sum(pos, {1}).to(logits.dtype());
  Tensor row_loss = neg(div(sum(log_prob, {1}), clamp_min(n_pos, 1.0)));
  switch (reduction) {
    case Reduction::None: return row_loss;
    case Reduction::Sum: return sum(row_loss);
    case Reduction::Mean: {
      Tensor rows_with_positive = sum(gt(n_pos, 0.0)).to(logits.dtype());
      return div(sum(row_loss), clamp_min(rows_with_positive, 1.0));
    }
  }
  WICK_FAIL(op, ": unknown reduction");
}

Tensor info_nce(const Tensor& query, const Tensor& keys, const Tensor& positive_mask, double temperature,
                const InfoNceOptions& options) {
  const char* op = "info_nce";
  check_matrix(op, query, "query");
  check_matrix(op, keys, "keys");
  check_positive(op, temperature, "temperature");
  const int64_t n = query.size(0), m = keys.size(0), d = query.size(1);
  WICK_CHECK(keys.size(1) == d, op, ": query [", n, ",", d, "] and keys ", shape_str(keys.sizes()),
             " differ in the embedding dim");
  Tensor pos = positive_mask;
  if (!pos.defined()) {
    WICK_CHECK(n == m, op, ": without a positive_mask keys[i] is query[i]'s positive, which needs as many keys (",
               m, ") as queries (", n, ")");
    pos = diagonal_mask(n, m, query);
  }
  check_mask(op, pos, "positive_mask", n, m);
  Tensor neg_mask = options.negative_mask;
  if (neg_mask.defined())
    check_mask(op, neg_mask, "negative_mask", n, m);
  else if (!options.in_batch_negatives)
    neg_mask = zeros({n, m}, TensorOptions(kBool).device(query.device()));

  Tensor q = options.normalize ? l2_normalize(query) : query;
  Tensor k = options.normalize ? l2_normalize(keys) : keys;
  Tensor logits = div(matmul(q, k.t()), temperature);
  if (options.queue.defined()) {
    check_matrix(op, options.queue, "queue");
    WICK_CHECK(options.queue.size(1) == d, op, ": queue ", shape_str(options.queue.sizes()),
               " and query [", n, ",", d, "] differ in the embedding dim");
    const int64_t kq = options.queue.size(0);
    Tensor qu = options.normalize ? l2_normalize(options.queue) : options.queue;
    logits = cat({logits, div(matmul(q, qu.t()), temperature)}, 1);
    // Queue columns are never positive and always negative.
    Tensor no = zeros({n, kq}, TensorOptions(kBool).device(query.device()));
    if (neg_mask.defined()) neg_mask = cat({neg_mask, logical_not(no)}, 1);
    pos = cat({pos, no}, 1);
  }
  return masked_info_nce(logits, pos, neg_mask, options.reduction);
}

Tensor nt_xent(const Tensor& z1, const Tensor& z2, double temperature, Reduction reduction) {
  const char* op = "nt_xent";
  check_matrix(op, z1, "z1");
  check_matrix(op, z2, "z2");
  check_same_shape(op, z1, "z1", z2, "z2");
  check_positive(op, temperature, "temperature");
  const int64_t n = z1.size(0);
  WICK_CHECK(n >= 1, op, ": needs at least one pair, got an empty batch");
  // The textbook implementation: cross-entropy over the 2N-1 other rows, with
  // the target the other view.
  Tensor z = l2_normalize(cat({z1, z2}, 0));
  Tensor logits = masked_fill(div(matmul(z, z.t()), temperature), diagonal_mask(2 * n, 2 * n, z), -kInf);
  Tensor target = cat({add(index_range(n, z), n), index_range(n, z)}, 0);
  return cross_entropy(logits, target, {}, -100, reduction);
}

Tensor supcon(const Tensor& features, const Tensor& labels, double temperature, double base_temperature,
              SupConMode contrast_mode) {
  const char* op = "supcon";
  check_floating(op, features, "features");
  WICK_CHECK(features.dim() == 2 || features.dim() == 3, op, ": features must be [N, V, D] or [N, D], got shape ",
             shape_str(features.sizes()));
  check_positive(op, temperature, "temperature");
  check_positive(op, base_temperature, "base_temperature");
  Tensor f = features.dim() == 2 ? features.unsqueeze(1) : features;
  const int64_t n = f.size(0), views = f.size(1), d = f.size(2);
  WICK_CHECK(n >= 1 && views >= 1, op, ": features must hold at least one sample and one view, got shape ",
             shape_str(features.sizes()));

  // Same-sample (or same-label) relation between the N samples.
  Tensor same;
  if (labels.defined()) {
    WICK_CHECK(labels.dim() == 1 && labels.size(0) == n, op, ": labels must be [N] = [", n, "], got shape ",
               shape_str(labels.sizes()));
    same = eq(labels.unsqueeze(1), labels.unsqueeze(0));
  } else {
    same = diagonal_mask(n, n, f);
  }
  // Contrast set: all views stacked view-major (row v*N + i = view v of sample i).
  Tensor contrast = f.transpose(0, 1).reshape({views * n, d});
  const int64_t anchor_views = contrast_mode == SupConMode::All ? views : 1;
  Tensor anchor = contrast_mode == SupConMode::All ? contrast : f.select(1, 0);
  Tensor logits = div(matmul(anchor, contrast.t()), temperature);

  const int64_t a = anchor_views * n, c = views * n;
  Tensor self = diagonal_mask(a, c, f);  // anchor row r is contrast row r
  Tensor related = repeat(same, {anchor_views, views});
  Tensor pos = logical_and(related, logical_not(self));
  Tensor negs = logical_and(logical_not(related), logical_not(self));
  Tensor row_loss = masked_info_nce(logits, pos, negs, Reduction::None);
  return mul(mean(row_loss), temperature / base_temperature);
}

Tensor clip_loss(const Tensor& logits_per_image) {
  const char* op = "clip_loss";
  check_matrix(op, logits_per_image, "logits_per_image");
  const int64_t b = logits_per_image.size(0);
  WICK_CHECK(logits_per_image.size(1) == b, op, ": logits_per_image must be square [B, B], got shape ",
             shape_str(logits_per_image.sizes()));
  Tensor target = index_range(b, logits_per_image);
  return mul(add(cross_entropy(logits_per_image, target), cross_entropy(logits_per_image.t(), target)), 0.5);
}

Tensor multiple_negatives_ranking(const Tensor& anchors, const Tensor& positives, double scale,
                                  const Tensor& hard_negatives) {
  const char* op = "multiple_negatives_ranking";
  check_matrix(op, anchors, "anchors");
  check_matrix(op, positives, "positives");
  check_same_shape(op, anchors, "anchors", positives, "positives");
  Tensor candidates = positives;
  if (hard_negatives.defined()) {
    check_matrix(op, hard_negatives, "hard_negatives");
    WICK_CHECK(hard_negatives.size(1) == anchors.size(1), op, ": hard_negatives ", shape_str(hard_negatives.sizes()),
               " and anchors ", shape_str(anchors.sizes()), " differ in the embedding dim");
    candidates = cat({positives, hard_negatives}, 0);
  }
  Tensor scores = mul(matmul(l2_normalize(anchors), l2_normalize(candidates).t()), scale);
  return cross_entropy(scores, index_range(anchors.size(0), anchors));
}

// ---------------------------------------------------------------------------
// Margin losses.

Tensor triplet_margin(const Tensor& anchor, const Tensor& positive, const Tensor& negative, double margin, double p,
                      double eps, bool swap, Reduction reduction) {
  const char* op = "triplet_margin";
  check_floating(op, anchor, "anchor");
  check_floating(op, positive, "positive");
  check_floating(op, negative, "negative");
  WICK_CHECK(anchor.dim() == 1 || anchor.dim() == 2, op, ": inputs must be [N, D] or [D], got shape ",
             shape_str(anchor.sizes()));
  check_same_shape(op, anchor, "anchor", positive, "positive");
  check_same_shape(op, anchor, "anchor", negative, "negative");
  WICK_CHECK(p > 0, op, ": p must be positive, got ", p);
  // torch.pairwise_distance: ‖x − y + eps‖_p (eps keeps the norm differentiable).
  auto dist = [&](const Tensor& x, const Tensor& y) { return norm(add(sub(x, y), eps), p, {-1}); };
  Tensor d_ap = dist(anchor, positive);
  Tensor d_an = dist(anchor, negative);
  if (swap) d_an = minimum(d_an, dist(positive, negative));
  return reduce(clamp_min(add(sub(d_ap, d_an), margin), 0.0), reduction);
}

Tensor margin_ranking(const Tensor& x1, const Tensor& x2, const Tensor& y, double margin, Reduction reduction) {
  const char* op = "margin_ranking";
  check_floating(op, x1, "x1");
  check_floating(op, x2, "x2");
  check_defined(op, y, "y");
  check_same_shape(op, x1, "x1", x2, "x2");
  check_same_shape(op, x1, "x1", y, "y");
  return reduce(clamp_min(add(neg(mul(y, sub(x1, x2))), margin), 0.0), reduction);
}

// ---------------------------------------------------------------------------
// Cluster / distillation targets.

Tensor soft_target_cross_entropy(const Tensor& logits, const Tensor& target_probs, Reduction reduction) {
  const char* op = "soft_target_cross_entropy";
  check_floating(op, logits, "logits");
  check_floating(op, target_probs, "target_probs");
  WICK_CHECK(logits.dim() >= 1, op, ": logits must have a class dim, got a 0-d tensor");
  check_same_shape(op, logits, "logits", target_probs, "target_probs");
  return reduce(neg(sum(mul(target_probs, log_softmax(logits, -1)), {-1})), reduction);
}

Tensor sinkhorn_knopp(const Tensor& scores, double epsilon, int64_t iterations) {
  const char* op = "sinkhorn_knopp";
  check_matrix(op, scores, "scores");
  check_positive(op, epsilon, "epsilon");
  WICK_CHECK(iterations >= 1, op, ": iterations must be >= 1, got ", iterations);
  const int64_t b = scores.size(0), k = scores.size(1);
  WICK_CHECK(b >= 1 && k >= 1, op, ": scores must be non-empty, got shape ", shape_str(scores.sizes()));
  NoGradGuard no_grad;
  const double log_b = std::log(static_cast<double>(b)), log_k = std::log(static_cast<double>(k));
  // log Q, Q ∝ exp(scores / ε) with total mass 1.
  Tensor log_q = div(scores.detach(), epsilon);
  log_q = sub(log_q, logsumexp(log_q, {0, 1}, /*keepdim=*/true));
  for (int64_t it = 0; it < iterations; ++it) {
    log_q = sub(log_q, add(logsumexp(log_q, {0}, /*keepdim=*/true), log_k));  // each prototype: mass 1/K
    log_q = sub(log_q, add(logsumexp(log_q, {1}, /*keepdim=*/true), log_b));  // each sample: mass 1/B
  }
  return exp(add(log_q, log_b));  // rows sum to 1
}

// ---------------------------------------------------------------------------
// Representation metrics.

Tensor alignment(const Tensor& x, const Tensor& y, double alpha) {
  const char* op = "alignment";
  check_matrix(op, x, "x");
  check_matrix(op, y, "y");
  check_same_shape(op, x, "x", y, "y");
  check_positive(op, alpha, "alpha");
  // ‖d‖^α as (‖d‖²)^(α/2): no square root, so x == y has a finite gradient for α >= 2.
  return mean(pow(sum(square(sub(x, y)), {1}), alpha / 2.0));
}

Tensor uniformity(const Tensor& x, double t) {
  const char* op = "uniformity";
  check_matrix(op, x, "x");
  check_positive(op, t, "t");
  const int64_t n = x.size(0);
  WICK_CHECK(n >= 2, op, ": needs at least 2 rows to form a pair, got ", n);
  // ‖x_i − x_j‖² = ‖x_i‖² + ‖x_j‖² − 2 x_i·x_j (clamped: rounding can make it
  // slightly negative), over the N(N−1)/2 pairs i < j.
  Tensor sq = sum(square(x), {1});
  Tensor d2 = clamp_min(sub(add(sq.unsqueeze(1), sq.unsqueeze(0)), mul(matmul(x, x.t()), 2.0)), 0.0);
  Tensor rows = index_range(n, x);
  Tensor upper = lt(rows.unsqueeze(1), rows.unsqueeze(0));
  Tensor lse = logsumexp(masked_fill(mul(d2, -t), logical_not(upper), -kInf), {0, 1});
  return sub(lse, std::log(static_cast<double>(n) * static_cast<double>(n - 1) / 2.0));
}

// ---------------------------------------------------------------------------
// Non-contrastive self-supervision.

Tensor byol_loss(const Tensor& prediction, const Tensor& target, Reduction reduction) {
  const char* op = "byol_loss";
  check_matrix(op, prediction, "prediction");
  check_matrix(op, target, "target");
  check_same_shape(op, prediction, "prediction", target, "target");
  Tensor cos = sum(mul(l2_normalize(prediction), l2_normalize(target)), {-1});
  return reduce(rsub(mul(cos, 2.0), 2.0), reduction);
}

Tensor barlow_twins_loss(const Tensor& z1, const Tensor& z2, double lambda, double eps) {
  const char* op = "barlow_twins_loss";
  check_matrix(op, z1, "z1");
  check_matrix(op, z2, "z2");
  check_same_shape(op, z1, "z1", z2, "z2");
  WICK_CHECK(lambda >= 0, op, ": lambda must be >= 0, got ", lambda);
  check_positive(op, eps, "eps");
  const int64_t n = z1.size(0), d = z1.size(1);
  WICK_CHECK(n >= 2, op, ": batch normalization needs at least 2 samples, got ", n);
  auto standardize = [&](const Tensor& z) {
    return div(sub(z, mean(z, {0}, true)), sqrt(add(var(z, {0}, /*correction=*/0, true), eps)));
  };
  Tensor c = div(matmul(standardize(z1).t(), standardize(z2)), static_cast<double>(n));
  Tensor diag = diagonal_mask(d, d, c);
  Tensor on_diag = sum(square(rsub(c.diagonal(), 1.0)));
  Tensor off_diag = sum(square(masked_fill(c, diag, 0.0)));
  return add(on_diag, mul(off_diag, lambda));
}

}  // namespace wick::nn
