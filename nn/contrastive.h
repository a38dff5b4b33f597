// Contrastive and metric-learning losses: one tested library shared by the
// self-supervised, retrieval and vision-language papers.
//
// Every loss is a free function on tensors, written with differentiable ops,
// so gradients of any order flow to every floating input (call .detach() on
// the inputs that must not be trained: MoCo keys and queue, BYOL targets,
// DINO/SwAV teacher codes). Embeddings are rows: [N, D].
//
// The general form (InfoNCE with masks, Oord et al. 2018; SupCon's "L_out",
// Khosla et al. 2020). For a logit matrix s [N, M], a positive set P(i) and a
// negative set N(i) per row, and the denominator set A(i) = P(i) ∪ N(i):
//
//   L_i = -1/|P(i)| Σ_{p∈P(i)} log( exp(s_ip) / Σ_{a∈A(i)} exp(s_ia) )
//
// Entries in neither set (the anchor itself, false negatives) are left out of
// the denominator. With one positive per row this is the usual
// cross-entropy over [positive, negatives]. Rows without a positive
// contribute 0; Mean averages over the rows that have one.
//
//   name                        paper / reference                         formula
//   masked_info_nce             general form above on given logits        L_i above
//   info_nce                    CPC, MoCo (queue), Contriever, ESimCSE    s = q·kᵀ/τ (cosine if normalize)
//   nt_xent                     SimCLR                                    2N views, self excluded
//   supcon                      SupCon (Khosla et al.), reference code    L_out · τ/τ_base
//   clip_loss                   CLIP                                      ½(CE(S, I) + CE(Sᵀ, I))
//   multiple_negatives_ranking  sentence-transformers MNRL                CE(scale·cos(a, b), I)
//   triplet_margin              torch.nn.functional.triplet_margin_loss   max(d(a,p) − d(a,n) + m, 0)
//   margin_ranking              torch.nn.functional.margin_ranking_loss   max(−y(x1 − x2) + m, 0)
//   soft_target_cross_entropy   DINO, SwAV                                −Σ_k t_k log softmax(x)_k
//   sinkhorn_knopp              SwAV (log domain, no gradient)            equipartitioned codes Q
//   alignment / uniformity      Wang & Isola 2020                         E‖x−y‖^α, log E e^{−t‖x_i−x_j‖²}
//   byol_loss                   BYOL                                      2 − 2 cos(p, z)
//   barlow_twins_loss           Barlow Twins                              Σ(1 − C_ii)² + λ Σ_{i≠j} C_ij²
#pragma once

#include "ops/loss.h"
#include "tensor/tensor.h"

namespace wick::nn {

// ---- InfoNCE family ------------------------------------------------------

// The general form on precomputed logits [N, M] (already divided by the
// temperature). positive_mask and negative_mask are bool [N, M]; an undefined
// negative_mask means every entry that is not positive. Reduction::None gives
// the per-row losses [N] (0 for rows without a positive); Mean divides their
// sum by the number of rows with at least one positive (0 if there is none).
// Use this for custom similarity matrices (learned scales, gated logits,
// extra mixture columns).
Tensor masked_info_nce(const Tensor& logits, const Tensor& positive_mask, const Tensor& negative_mask = {},
                       Reduction reduction = Reduction::Mean);

struct InfoNceOptions {
  // [N, M] bool: which keys count as negatives for each query. Default: every
  // key that is not a positive, or none when in_batch_negatives is false.
  // The queue is always negative.
  Tensor negative_mask;
  // Without a negative_mask: whether the other keys of the batch are
  // negatives (SimCLR/CLIP-style in-batch contrast) or not (MoCo: the
  // negatives come from the queue only).
  bool in_batch_negatives = true;
  // [K, D] extra negatives shared by every query (MoCo's queue); appended as
  // K more logit columns. Pass it detached, as MoCo does.
  Tensor queue;
  // L2-normalize query, keys and queue first (cosine similarities).
  bool normalize = true;
  Reduction reduction = Reduction::Mean;
};

// Logits s = q·kᵀ/τ (plus q·queueᵀ/τ) fed to masked_info_nce.
// query [N, D], keys [M, D]; positive_mask [N, M] bool, or undefined for the
// diagonal (keys[i] is the one positive of query[i]; needs N == M).
//   info_nce(q, k, {}, 0.07);                                                // in-batch (CPC, CLIP rows)
//   info_nce(q, k, {}, 0.05, {.in_batch_negatives = false, .queue = queue}); // MoCo, Contriever
//   info_nce(q, k, {}, 0.05, {.queue = queue});                              // ESimCSE: batch + queue
Tensor info_nce(const Tensor& query, const Tensor& keys, const Tensor& positive_mask, double temperature,
                const InfoNceOptions& options = {});

// SimCLR's NT-Xent over two views z1, z2 [N, D]: the 2N rows of cat(z1, z2)
// are L2-normalized, s = z·zᵀ/τ with the self-similarity removed, and row i's
// positive is its other view (i ± N). Mean over the 2N rows (None: [2N]).
Tensor nt_xent(const Tensor& z1, const Tensor& z2, double temperature, Reduction reduction = Reduction::Mean);

enum class SupConMode {
  All,  // every view of every sample is an anchor (the reference default)
  One,  // only the first view is an anchor
};

// Supervised contrastive loss, as the reference SupConLoss (Khosla et al.):
// features [N, V, D] (V views) or [N, D] (one view), expected L2-normalized
// (not normalized here, like the reference); labels [N] (any dtype compared
// with ==), or undefined for the unsupervised SimCLR case (positives are the
// other views of the same sample). Anchor a's positives are the other
// entries with its label, the denominator is every entry but a itself, and
//   loss = τ/τ_base · mean over all anchors of L_out(a),
// where anchors without any positive count as 0 in the mean (as the
// reference does).
Tensor supcon(const Tensor& features, const Tensor& labels = {}, double temperature = 0.07,
              double base_temperature = 0.07, SupConMode contrast_mode = SupConMode::All);

// CLIP's symmetric loss on logits_per_image [B, B] (logit_scale · image·textᵀ;
// pair i is the positive): ½(CE(S, arange(B)) + CE(Sᵀ, arange(B))).
Tensor clip_loss(const Tensor& logits_per_image);

// sentence-transformers' MultipleNegativesRankingLoss: anchors [N, D],
// positives [N, D], optional hard_negatives [K, D] appended as extra
// candidates; S = scale · cos(anchors, cat(positives, hard_negatives)),
// loss = CE(S, arange(N)) (mean).
Tensor multiple_negatives_ranking(const Tensor& anchors, const Tensor& positives, double scale = 20.0,
                                  const Tensor& hard_negatives = {});

// ---- margin losses (torch.nn.functional semantics) -------------------------

// max(d(a, p) − d(a, n) + margin, 0) with d(x, y) = ‖x − y + eps‖_p over the
// last dim; swap uses min(d(a, n), d(p, n)) as the negative distance.
// Inputs [N, D] or [D], all the same shape.
Tensor triplet_margin(const Tensor& anchor, const Tensor& positive, const Tensor& negative, double margin = 1.0,
                      double p = 2.0, double eps = 1e-6, bool swap = false, Reduction reduction = Reduction::Mean);

// max(−y · (x1 − x2) + margin, 0); y is +1 where x1 should rank higher and
// −1 where x2 should. All three the same shape.
Tensor margin_ranking(const Tensor& x1, const Tensor& x2, const Tensor& y, double margin = 0.0,
                      Reduction reduction = Reduction::Mean);

// ---- cluster / distillation targets ----------------------------------------

// −Σ_k target_k · log_softmax(logits)_k over the last dim (classes last, any
// leading dims); Mean averages over the leading elements. DINO's and SwAV's
// loss with teacher probabilities or Sinkhorn codes as targets.
Tensor soft_target_cross_entropy(const Tensor& logits, const Tensor& target_probs,
                                 Reduction reduction = Reduction::Mean);

// SwAV's Sinkhorn-Knopp equipartition of scores [B, K] (sample-prototype
// similarities), run in the log domain so tiny epsilons cannot overflow, with
// no gradient (the result is detached). Starting from Q ∝ exp(scores/ε)
// normalized to total mass 1, each iteration rescales every prototype
// (column) to mass 1/K, then every sample (row) to mass 1/B; the result is
// multiplied by B. Convention (as SwAV's distributed_sinkhorn, transposed to
// [B, K]): every row of the result sums to exactly 1 (a soft assignment of
// the sample), every column to approximately B/K (exactly in the limit of
// many iterations). iterations >= 1.
Tensor sinkhorn_knopp(const Tensor& scores, double epsilon = 0.05, int64_t iterations = 3);

// ---- representation metrics (Wang & Isola 2020) ----------------------------

// E_i ‖x_i − y_i‖₂^α over paired rows x, y [N, D] (lower = better aligned).
Tensor alignment(const Tensor& x, const Tensor& y, double alpha = 2.0);
// log E_{i<j} exp(−t ‖x_i − x_j‖₂²) over all pairs of rows of x [N, D], N >= 2
// (lower = more uniform). Computed as a logsumexp, so it does not underflow.
Tensor uniformity(const Tensor& x, double t = 2.0);

// ---- non-contrastive self-supervision ---------------------------------------

// BYOL's regression loss 2 − 2·cos(p, z) per row of prediction p and target z
// ([N, D]); detach z (the EMA target) yourself. Mean over rows (None: [N]).
Tensor byol_loss(const Tensor& prediction, const Tensor& target, Reduction reduction = Reduction::Mean);

// Barlow Twins: each embedding [N, D] is batch-normalized per feature (biased
// variance, eps, no affine: BatchNorm1d(affine=False) in training mode),
// C = z̃1ᵀ z̃2 / N [D, D], loss = Σ_i (1 − C_ii)² + lambda · Σ_{i≠j} C_ij².
// The reference default lambda is 0.0051. N >= 2.
Tensor barlow_twins_loss(const Tensor& z1, const Tensor& z2, double lambda = 0.0051, double eps = 1e-5);

}  // namespace wick::nn
