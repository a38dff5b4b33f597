// Scaled dot-product attention, composed from differentiable ops:
//   scores = (q @ k^T) * scale                       [..., L, S]
//   scores = where(mask, scores, -inf)               bool mask (true = attend) or is_causal (j <= i)
//          | scores + mask                           float mask
//   out    = dropout(softmax(scores, -1), p) @ v     [..., L, Ev]
// Batch dims of q, k, v and the mask broadcast (matmul's and NumPy's rules).
// Its gradients (and higher ones) come from the ops it is made of. A row whose
// every score is masked has softmax 0/0 = NaN, exactly like PyTorch 1.13's
// math implementation (no special case is made for it).
//
// This is the readable reference: it materializes the L x S scores. A tiled
// (flash) kernel that never stores them is separate performance work.
#include "ops/attention.h"

#include <cmath>
#include <limits>

#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/nn.h"
#include "ops/view.h"

namespace wick {

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                    double dropout_p, bool is_causal, std::optional<double> scale, Generator* gen) {
  const char* op = "scaled_dot_product_attention";
  WICK_CHECK(q.defined() && k.defined() && v.defined(), op, ": undefined query, key or value");
  WICK_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, op,
             ": expected query, key and value with at least 2 dims ([..., L, E]), got ", shape_str(q.sizes()), ", ",
             shape_str(k.sizes()), ", ", shape_str(v.sizes()));
  WICK_CHECK(is_floating(q.dtype()) && k.dtype() == q.dtype() && v.dtype() == q.dtype(), op,
             ": expected query, key and value of the same floating dtype, got ", q.dtype(), ", ", k.dtype(), ", ",
             v.dtype());
  WICK_CHECK(q.device() == k.device() && q.device() == v.device(), op,
             ": expected query, key and value on the same device");
  WICK_CHECK(q.size(-1) == k.size(-1), op, ": query and key must have the same embedding size, got query ",
             shape_str(q.sizes()), " and key ", shape_str(k.sizes()));
  WICK_CHECK(k.size(-2) == v.size(-2), op, ": key and value must have the same sequence length, got key ",
             shape_str(k.sizes()), " and value ", shape_str(v.sizes()));
  WICK_CHECK(!(is_causal && attn_mask.defined()), op, ": is_causal cannot be combined with an explicit attn_mask");
  WICK_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, op, ": dropout_p must be in [0, 1], got ", dropout_p);
  const int64_t L = q.size(-2), S = k.size(-2), E = q.size(-1);
  if (attn_mask.defined()) {
    WICK_CHECK(attn_mask.dtype() == kBool || attn_mask.dtype() == q.dtype(), op,
               ": expected a bool attn_mask or one of the query's dtype (", q.dtype(), "), got ", attn_mask.dtype());
    WICK_CHECK(attn_mask.device() == q.device(), op, ": attn_mask must be on the query's device");
    // The mask must broadcast to [..., L, S].
    Shape scores_shape = broadcast_shapes(Shape(q.sizes().begin(), q.sizes().end() - 2),
                                          Shape(k.sizes().begin(), k.sizes().end() - 2), op);
    scores_shape.push_back(L);
    scores_shape.push_back(S);
    broadcast_shapes(scores_shape, attn_mask.sizes(), op);
  }

  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(E)));
  Tensor scores = mul(matmul(q, transpose(k, -2, -1)), s);
  const Scalar neg_inf(-std::numeric_limits<double>::infinity());
  if (is_causal) {
    // Query i attends to keys j <= i (top-left aligned when L != S, like PyTorch).
    const TensorOptions idx = TensorOptions(kInt64).device(q.device());
    Tensor allowed = le(view(arange(S, idx), {1, S}), view(arange(L, idx), {L, 1}));
    scores = where(allowed, scores, neg_inf);
  } else if (attn_mask.defined()) {
    scores = attn_mask.dtype() == kBool ? where(attn_mask, scores, neg_inf) : add(scores, attn_mask);
  }
  Tensor weights = softmax(scores, -1);
  if (dropout_p > 0.0) weights = dropout(weights, dropout_p, /*training=*/true, gen);
  return matmul(weights, v);
}

}  // namespace wick
