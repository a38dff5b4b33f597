// Losses and similarity functions (torch.nn.functional).
#pragma once

#include "tensor/tensor.h"

namespace wick {

enum class Reduction { None, Mean, Sum };

// input [N, C] or [N, C, d1, ...] logits (or [C]); target int64 class indices
// [N, ...] or float class probabilities with input's shape. weight [C] per class.
// Mean reduction divides by the summed weights of non-ignored targets, like PyTorch.
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {}, int64_t ignore_index = -100,
                     Reduction reduction = Reduction::Mean, double label_smoothing = 0.0);
// input: log-probabilities [N, C, ...]; target int64 [N, ...].
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = {}, int64_t ignore_index = -100,
                Reduction reduction = Reduction::Mean);
// Stable: max(x,0) - x*y + log(1 + exp(-|x|)); pos_weight scales the positive term.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                                        const Tensor& pos_weight = {}, Reduction reduction = Reduction::Mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                      double beta = 1.0);
// input: log-probabilities; target: probabilities (or log if log_target).
// Reduction::Mean averages over all elements like PyTorch's 'mean'; use
// batchmean = Sum / N yourself (kl_div_batchmean below).
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
              bool log_target = false);
Tensor kl_div_batchmean(const Tensor& input, const Tensor& target, bool log_target = false);
// <a, b> / (max(||a||, eps) * max(||b||, eps)) along dim (broadcasting), as
// torch 1.13 computes it (each squared norm clamped to eps^2 separately).
Tensor cosine_similarity(const Tensor& a, const Tensor& b, int64_t dim = 1, double eps = 1e-8);
// x / max(||x||_p, eps) along dim.
Tensor normalize(const Tensor& x, double p = 2.0, int64_t dim = 1, double eps = 1e-12);
// Pairwise p-norm distances: a [..., P, M], b [..., R, M] -> [..., P, R].
Tensor cdist(const Tensor& a, const Tensor& b, double p = 2.0);

}  // namespace wick
