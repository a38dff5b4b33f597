// Scaled dot-product attention: checks, dispatch, and two implementations.
//
// scaled_dot_product_attention_math is the readable reference, composed from
// differentiable ops:
//   scores = (q @ k^T) * scale                       [..., L, S]
//   scores = where(mask, scores, -inf)               bool mask (true = attend) or is_causal (j <= i)
//          | scores + mask                           float mask
//   out    = dropout(softmax(scores, -1), p) @ v     [..., L, Ev]
// Batch dims of q, k, v and the mask broadcast (matmul's and NumPy's rules).
// Its gradients (and higher ones) come from the ops it is made of. A row whose
// every score is masked has softmax 0/0 = NaN, exactly like PyTorch 1.13's
// math implementation (no special case is made for it). It materializes the
// L x S scores (several times, counting the backward).
//
// scaled_dot_product_attention runs a tiled kernel instead when it applies
// (no dropout, E > 0, S > 0, a mask that does not need a gradient, and
// CPU float32/64: ops/cpu/attention.cpp, or CUDA float16/bfloat16/32/64 with
// head dims E, Ev <= 128: cuda/kernels/attention.cu, whose tiles of larger
// heads would not fit in shared memory): q, k, v are broadcast to the common batch
// shape and read in place where their layout allows (kernel_operand: a
// slice_layout, ops/attention_slices.h, e.g. the heads of a [B, T, 3 H E]
// projection), else copied packed (differentiably, so the gradients flow
// back through expand/contiguous to any strides); the output and the
// gradients of heads split from such a projection are laid out [B, T, H, E]
// (empty_output_like); the mask is read through its broadcast strides
// without a copy, and the forward saves the per-row logsumexp. Its backward
// node runs the FlashAttention-2 backward kernel when the backward is not
// itself recorded; under create_graph it re-runs the
// composed reference on the saved inputs and differentiates that (with
// create_graph), so double backward works as before. Memory: O(N L E) for
// inputs/outputs and O(threads * Br * Bc) workspace, never O(L S). The CUDA
// kernel has the same contract and edge cases (NaN rows, the create_graph
// fallback); its saved logsumexp is float32 for 16-bit inputs.
#include "ops/attention.h"

#include <cmath>
#include <limits>

#include "autograd/autocast.h"
#include "autograd/engine.h"
#include "autograd/function.h"
#include "ops/attention_slices.h"
#include "ops/cpu/attention.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/nn.h"
#include "ops/view.h"
#include "tensor/shape.h"

#ifdef WICK_WITH_CUDA
#include "cuda/kernels/attention.h"
#endif

namespace wick {

namespace {

const char* const kOp = "scaled_dot_product_attention";

void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask, double dropout_p,
                  bool is_causal) {
  const char* op = kOp;
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
  const int64_t L = q.size(-2), S = k.size(-2);
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
}

}  // namespace

Tensor scaled_dot_product_attention_math(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                         double dropout_p, bool is_causal, std::optional<double> scale,
                                         Generator* gen) {
  check_inputs(q, k, v, attn_mask, dropout_p, is_causal);
  const int64_t L = q.size(-2), S = k.size(-2), E = q.size(-1);
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


bool scaled_dot_product_attention_uses_flash(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                             double dropout_p) {
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2 || k.dtype() != q.dtype() || v.dtype() != q.dtype()) return false;
  const bool cpu = q.is_cpu() && k.is_cpu() && v.is_cpu() && (!attn_mask.defined() || attn_mask.is_cpu());
  bool kernel = cpu && (q.dtype() == kFloat32 || q.dtype() == kFloat64);
#ifdef WICK_WITH_CUDA
  // CUDA: any floating dtype; head dims above cuda::kAttentionMaxHeadDim (or
  // tiles this device's shared memory cannot hold) take the composed path.
  const bool cuda = q.is_cuda() && k.device() == q.device() && v.device() == q.device() &&
                    (!attn_mask.defined() || attn_mask.device() == q.device());
  if (cuda) kernel = q.size(-1) > 0 && cuda::attention_supported(q.dtype(), q.size(-1), v.size(-1), q.device().index);
#endif
  // A float mask that needs a gradient would need the full dS (O(L S)):
  // the composed path computes it.
  const bool mask_ok = !attn_mask.defined() || attn_mask.dtype() == kBool ||
                       !(attn_mask.requires_grad() && autograd::GradMode::is_enabled());
  return kernel && dropout_p == 0.0 && mask_ok && q.size(-1) > 0 && k.size(-2) > 0;
}

std::optional<SliceLayout> slice_layout(const Tensor& t) {
  const int64_t nd = t.dim();
  WICK_CHECK(nd >= 2, "slice_layout: expected [batch..., rows, cols], got ", shape_str(t.sizes()));
  const int64_t R = t.size(-2), C = t.size(-1);
  if (t.numel() == 0) return SliceLayout::packed(R, C);
  if (C > 1 && t.stride(-1) != 1) return std::nullopt;
  // The batch dims as (size, stride), outermost first: size-1 dims dropped,
  // a dim merged into the one before it when that one steps over it exactly.
  int64_t size[2] = {1, 1}, stride[2] = {0, 0};
  int used = 0;
  for (int64_t d = 0; d + 2 < nd; ++d) {
    const int64_t sz = t.size(d), st = t.stride(d);
    if (sz == 1) continue;
    if (used > 0 && stride[used - 1] == sz * st) {
      size[used - 1] *= sz;
      stride[used - 1] = st;
    } else {
      if (used == 2) return std::nullopt;
      size[used] = sz;
      stride[used] = st;
      ++used;
    }
  }
  SliceLayout l;
  l.row_stride = R > 1 ? t.stride(-2) : C;
  if (used == 1) {
    l.batch_stride = stride[0];
  } else if (used == 2) {
    l.heads = size[1];
    l.batch_stride = stride[0];
    l.head_stride = stride[1];
  }
  return l;
}

namespace {

// Whether the kernels take x [batch..., rows, cols] as it is (else the
// caller copies it packed): always on the CPU for any slice_layout; on CUDA
// when cuda::attention_strided() is on and wick's kernels run, and for
// 16-bit dtypes only if every row starts 16-byte aligned (the FA2 kernels
// move 16-byte chunks; a packed copy of a head dim of 8k elements is).
bool kernel_reads_in_place(const Tensor& x) {
  const std::optional<SliceLayout> l = slice_layout(x);
  if (!l) return false;
  if (x.is_cpu()) return true;
#ifdef WICK_WITH_CUDA
  if (!cuda::attention_strided() || cuda::attention_backend() != cuda::AttentionBackend::Wick) return false;
  if (x.dtype() == kFloat16 || x.dtype() == kBFloat16) {
    const int64_t chunk = 8;  // elements per 16 bytes
    return l->batch_stride % chunk == 0 && l->head_stride % chunk == 0 && l->row_stride % chunk == 0 &&
           reinterpret_cast<uintptr_t>(x.data_ptr_raw()) % 16 == 0;
  }
  return true;
#else
  return false;
#endif
}

// x itself when the kernels read it in place, else a packed copy
// (differentiable: gradients flow back through the copy).
Tensor kernel_operand(const Tensor& x) { return kernel_reads_in_place(x) ? x : x.contiguous(); }

// An uninitialized [batch..., rows, cols] output (the attention output, or a
// gradient) laid out like `like` [batch..., rows, like_cols], as PyTorch's
// flash attention does: when like is [B, H, rows, E] with the heads inside
// the rows (the heads split from a [B, rows, H E] projection: stride(1) <
// stride(2)) and the kernels read it in place, the result is [B, rows, H,
// cols] packed and returned with the strides of its transpose(1, 2) (a
// tensor of its own, not a view: in-place ops on it stay allowed), so that
// the usual out.transpose(1, 2).reshape(B, rows, H cols) needs no copy.
// Else packed.
Tensor empty_output_like(const Tensor& like, int64_t cols, DType dtype) {
  const TensorOptions opt = TensorOptions(dtype).device(like.device());
  Shape shape(like.sizes().begin(), like.sizes().end());
  shape.back() = cols;
  if (like.dim() == 4 && like.size(1) > 1 && like.size(2) > 1 && like.stride(1) > 0 &&
      like.stride(1) < like.stride(2) && kernel_reads_in_place(like)) {
    const int64_t B = shape[0], H = shape[1], R = shape[2];
    Tensor base = empty({B, R, H, cols}, opt);
    return make_tensor(base.storage(), shape, {R * H * cols, cols, H * cols, 1}, base.offset(), dtype);
  }
  return empty(shape, opt);
}

template <typename T>
cpu::AttentionProblem<T> make_problem(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                      const std::vector<int64_t>& mask_offset, bool is_causal, double scale) {
  cpu::AttentionProblem<T> p;
  p.L = q.size(-2);
  p.S = k.size(-2);
  p.E = q.size(-1);
  p.Ev = v.size(-1);
  p.N = numel_of(Shape(q.sizes().begin(), q.sizes().end() - 2));
  p.q = slices_of<const T>(q);
  p.k = slices_of<const T>(k);
  p.v = slices_of<const T>(v);
  p.scale = static_cast<T>(scale);
  p.causal = is_causal;
  if (mask.defined()) {
    if (mask.dtype() == kBool)
      p.mask_bool = mask.data_ptr<bool>();
    else
      p.mask_float = mask.data_ptr<T>();
    p.mask_offset = mask_offset.data();
    p.mask_rs = mask.stride(-2);
    p.mask_cs = mask.stride(-1);
  }
  return p;
}

// The tiled kernel's autograd-aware forward. q, k, v: a common batch shape,
// each packed or read in place (kernel_operand); mask: undefined or a view
// broadcast to [batch..., L, S].
Tensor flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool is_causal,
                       double scale) {
  const Shape batch(q.sizes().begin(), q.sizes().end() - 2);
  const int64_t L = q.size(-2), Ev = v.size(-1);
  // Element offset of each batch slice in the (broadcast, strided) mask.
  std::vector<int64_t> mask_offset;
  if (mask.defined()) {
    const int64_t N = numel_of(batch), nb = static_cast<int64_t>(batch.size());
    mask_offset.resize(static_cast<size_t>(N));
    std::vector<int64_t> idx(static_cast<size_t>(nb), 0);
    for (int64_t n = 0; n < N; ++n) {
      int64_t off = 0;
      for (int64_t d = 0; d < nb; ++d) off += idx[d] * mask.stride(d);
      mask_offset[n] = off;
      for (int64_t d = nb - 1; d >= 0; --d) {
        if (++idx[d] < batch[d]) break;
        idx[d] = 0;
      }
    }
  }
  Tensor out = empty_output_like(q, Ev, q.dtype());
  // The CUDA kernel reads the mask offsets from device memory, and keeps the
  // logsumexp in float32 for 16-bit inputs.
  Tensor mask_offset_dev;
  DType lse_dtype = q.dtype();
#ifdef WICK_WITH_CUDA
  if (q.is_cuda()) {
    if (mask.defined()) mask_offset_dev = from_vector(mask_offset).to(q.device());
    lse_dtype = cuda::attention_lse_dtype(q.dtype());
  }
#endif
  Tensor lse = empty({numel_of(batch) * L}, TensorOptions(lse_dtype).device(q.device()));
#ifdef WICK_WITH_CUDA
  if (q.is_cuda()) {
    cuda::attention_forward(out, lse, q, k, v, mask, mask_offset_dev, is_causal, scale);
  } else
#endif
  {
    WICK_DISPATCH_FLOAT(q.dtype(), kOp, [&]<typename scalar_t>() {
      cpu::attention_forward(make_problem<scalar_t>(q, k, v, mask, mask_offset, is_causal, scale),
                             slices_of<scalar_t>(out), lse.data_ptr<scalar_t>());
    });
  }

  if (autograd::needs_grad({q, k, v})) {
    autograd::record(
        "ScaledDotProductAttentionBackward", {q, k, v}, {out},
        [sq = autograd::SavedTensor(q), sk = autograd::SavedTensor(k), sv = autograd::SavedTensor(v), mask,
         mask_offset = std::move(mask_offset), mask_offset_dev, lse, is_causal, scale](const autograd::Ctx& c) {
          Tensor qs = sq.unpack(), ks = sk.unpack(), vs = sv.unpack();
          if (autograd::GradMode::is_enabled()) {
            // create_graph: the gradient must itself be differentiable, so
            // differentiate the composed reference on the saved inputs.
            tensor_list wrt;
            std::vector<size_t> which;
            const Tensor* in[3] = {&qs, &ks, &vs};
            for (size_t i = 0; i < 3; ++i)
              if (c.needs_input_grad(i) && in[i]->requires_grad()) {
                wrt.push_back(*in[i]);
                which.push_back(i);
              }
            tensor_list res(3);
            if (wrt.empty()) return res;
            Tensor y = scaled_dot_product_attention_math(qs, ks, vs, mask, 0.0, is_causal, scale);
            tensor_list g = autograd::grad({y}, wrt, {c.grad()}, /*retain_graph=*/true, /*create_graph=*/true,
                                           /*allow_unused=*/true);
            for (size_t i = 0; i < which.size(); ++i) res[which[i]] = g[i];
            return res;
          }
          Tensor o = c.output();
          Tensor go = c.grad();
          if (go.dtype() != qs.dtype()) go = go.to(qs.dtype());
          go = kernel_operand(go);
          auto grad_like = [&](size_t i, const Tensor& x) {
            return c.needs_input_grad(i) ? empty_output_like(x, x.size(-1), x.dtype()) : Tensor();
          };
          Tensor dq = grad_like(0, qs), dk = grad_like(1, ks), dv = grad_like(2, vs);
#ifdef WICK_WITH_CUDA
          if (qs.is_cuda()) {
            cuda::attention_backward(dq, dk, dv, qs, ks, vs, mask, mask_offset_dev, is_causal, scale, o, go, lse);
            return tensor_list{dq, dk, dv};
          }
#endif
          WICK_DISPATCH_FLOAT(qs.dtype(), kOp, [&]<typename scalar_t>() {
            cpu::attention_backward(make_problem<scalar_t>(qs, ks, vs, mask, mask_offset, is_causal, scale),
                                    slices_of<const scalar_t>(o), slices_of<const scalar_t>(go),
                                    lse.data_ptr<scalar_t>(), slices_of<scalar_t>(dq), slices_of<scalar_t>(dk),
                                    slices_of<scalar_t>(dv));
          });
          return tensor_list{dq, dk, dv};
        },
        /*save_outputs=*/true);
  }
  return out;
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                    double dropout_p, bool is_causal, std::optional<double> scale, Generator* gen) {
  if (autocast::Cast ac{q, k, v, attn_mask}; ac)
    return scaled_dot_product_attention(ac.lower(q), ac.lower(k), ac.lower(v), ac.lower(attn_mask), dropout_p,
                                        is_causal, scale, gen);
  check_inputs(q, k, v, attn_mask, dropout_p, is_causal);
  if (!scaled_dot_product_attention_uses_flash(q, k, v, attn_mask, dropout_p))
    return scaled_dot_product_attention_math(q, k, v, attn_mask, dropout_p, is_causal, scale, gen);
  const int64_t L = q.size(-2), S = k.size(-2), E = q.size(-1), Ev = v.size(-1);
  std::vector<Shape> batches = {Shape(q.sizes().begin(), q.sizes().end() - 2),
                                Shape(k.sizes().begin(), k.sizes().end() - 2),
                                Shape(v.sizes().begin(), v.sizes().end() - 2)};
  if (attn_mask.defined() && attn_mask.dim() > 2)
    batches.emplace_back(attn_mask.sizes().begin(), attn_mask.sizes().end() - 2);
  const Shape batch = broadcast_shapes(batches, kOp);
  auto with = [&](int64_t a, int64_t b) {
    Shape s = batch;
    s.push_back(a);
    s.push_back(b);
    return s;
  };
  // Differentiable broadcast, then a packed copy only where the kernels
  // cannot read the operand in place (kernel_operand).
  Tensor qc = kernel_operand(q.expand(with(L, E)));
  Tensor kc = kernel_operand(k.expand(with(S, E)));
  Tensor vc = kernel_operand(v.expand(with(S, Ev)));
  Tensor mask = attn_mask.defined() ? attn_mask.detach().expand(with(L, S)) : Tensor();
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(E)));
  return flash_attention(qc, kc, vc, mask, is_causal, s);
}

}  // namespace wick
