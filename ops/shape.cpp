// Shape ops that copy: argument checks, output shapes, and backward formulas
// (written with ops, so they are differentiable again). Kernels live in
// ops/cpu/shape.cpp; split and chunk are views (narrow) and need none.
//
// Gradients:
//   cat            narrow of the gradient per input, converted to its dtype
//   stack          cat of unsqueezed inputs, so unsqueeze/cat backward (= select)
//   repeat/tile    gradient viewed as [r0, s0, r1, s1, ...], summed over the r dims
//   pad constant   pad(grad, -pads): crops where x was padded, zero-pads where cropped
//   pad reflect    reflect_pad_backward (scatter-add of reflected positions), whose
//                  own backward is reflect pad again (CPU and CUDA kernels:
//                  ops/cpu/shape.cpp, cuda/kernels/shape.cu)
//   flip           flip;  roll: roll back
#include "ops/shape.h"

#include <algorithm>

#include "autograd/function.h"
#include "ops/copy.h"
#include "ops/cpu/shape.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/shape.h"
#endif
#include "ops/creation.h"
#include "ops/indexing.h"
#include "ops/reduction.h"
#include "ops/view.h"

namespace wick {

using autograd::Ctx;

namespace {

void check_cpu(const char* op, const Tensor& t) {
  WICK_CHECK(t.is_cpu(), op, ": no kernel for device ", t.device(), " in this build");
}

Tensor empty_as(const Shape& shape, DType dt, const Tensor& like) {
  return empty(shape, TensorOptions(dt).device(like.device()));
}

// torch.cat's legacy rule: a 1-D tensor of shape [0] is skipped whatever the
// other shapes are.
bool cat_skipped(const Tensor& t) { return t.dim() == 1 && t.size(0) == 0; }

}  // namespace

// ---------------------------------------------------------------------------
// cat / stack

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  WICK_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  DType dt = tensors[0].defined() ? tensors[0].dtype() : kFloat32;
  int64_t ref = -1;  // first tensor that is not skipped: it fixes the shape
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    WICK_CHECK(t.defined(), "cat: tensor ", i, " is undefined");
    WICK_CHECK(t.device() == tensors[0].device(), "cat: expected all tensors on the same device, got ",
               tensors[0].device(), " (tensor 0) and ", t.device(), " (tensor ", i, ")");
    WICK_CHECK(t.dim() > 0, "cat: zero-dimensional tensor (at position ", i, ") cannot be concatenated");
    dt = promote_types(dt, t.dtype());
    if (ref < 0 && !cat_skipped(t)) ref = static_cast<int64_t>(i);
  }
  if (ref < 0) return empty_as({0}, dt, tensors[0]);  // only skipped tensors

  const Tensor& r = tensors[ref];
  const int64_t d = wrap_dim(dim, r.dim(), "cat");
  Shape out_shape = r.sizes();
  out_shape[d] = 0;
  std::vector<Tensor> kept;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (cat_skipped(t)) continue;
    WICK_CHECK(t.dim() == r.dim(), "cat: tensors must have the same number of dimensions: tensor ", ref,
               " has shape ", shape_str(r.sizes()), ", tensor ", i, " has shape ", shape_str(t.sizes()));
    for (int64_t k = 0; k < r.dim(); ++k)
      WICK_CHECK(k == d || t.size(k) == r.size(k), "cat: sizes of tensors must match except in dimension ", d,
                 ": tensor ", ref, " has shape ", shape_str(r.sizes()), ", tensor ", i, " has shape ",
                 shape_str(t.sizes()), " (mismatch in dimension ", k, ")");
    out_shape[d] += t.size(d);
    kept.push_back(t);
  }
  Tensor out = empty_as(out_shape, dt, r);
  if (out.is_cpu()) {
    cpu::cat(out, kept, d);
  } else {
    // Other devices: one (converting, strided) copy kernel per input into its slab of out.
    NoGradGuard ng;
    int64_t pos = 0;
    for (const Tensor& t : kept) {
      Tensor slab = out.narrow(d, pos, t.size(d));
      copy_(slab, t.detach());
      pos += t.size(d);
    }
  }

  if (autograd::needs_grad(tensors)) {
    // Per input: where its slab starts along d, its length, its dtype.
    struct Piece {
      bool skipped;
      int64_t start, length;
      DType dtype;
    };
    std::vector<Piece> pieces;
    int64_t pos = 0;
    for (const Tensor& t : tensors) {
      const bool s = cat_skipped(t);
      const int64_t len = s ? 0 : t.size(d);
      pieces.push_back({s, pos, len, t.dtype()});
      pos += len;
    }
    autograd::record("CatBackward", tensors, {out}, [d, pieces](const Ctx& c) {
      tensor_list grads(pieces.size());
      for (size_t i = 0; i < pieces.size(); ++i) {
        const Piece& p = pieces[i];
        if (!c.needs_input_grad(i)) continue;
        grads[i] = p.skipped ? zeros({0}, TensorOptions(p.dtype).device(c.grad().device()))
                             : narrow(c.grad(), d, p.start, p.length).to(p.dtype);
      }
      return grads;
    });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  WICK_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    WICK_CHECK(tensors[i].defined(), "stack: tensor ", i, " is undefined");
    WICK_CHECK(tensors[i].sizes() == tensors[0].sizes(), "stack: expects each tensor to be equal size, but got ",
               shape_str(tensors[0].sizes()), " at entry 0 and ", shape_str(tensors[i].sizes()), " at entry ", i);
  }
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  // A stack is a cat of size-1 slabs; its gradient is cat's narrow + squeeze (= select).
  std::vector<Tensor> slabs;
  slabs.reserve(tensors.size());
  for (const Tensor& t : tensors) slabs.push_back(unsqueeze(t, d));
  return cat(slabs, d);
}

// ---------------------------------------------------------------------------
// split / chunk (views)

namespace {

// Pieces of x along d of the given lengths, as views, under one backward
// node for all of them (SplitBackward, as in PyTorch): x's gradient is the
// pieces' gradients concatenated along d (the engine zero-fills those of
// unused pieces), one write of x's size. Recorded piece by piece (a
// SliceBackward each), every piece's backward would write a zero tensor of
// x's size and the engine would then sum them: for a GPT block's q, k, v
// split of its [B, T, 3E] projection, ~7x the bytes.
std::vector<Tensor> split_views(const Tensor& x, const std::vector<int64_t>& lengths, int64_t d) {
  std::vector<Tensor> out;
  out.reserve(lengths.size());
  {
    NoGradGuard ng;  // no node per piece
    int64_t start = 0;
    for (int64_t len : lengths) {
      out.push_back(narrow(x, d, start, len));
      start += len;
    }
  }
  if (autograd::needs_grad({x})) {
    auto node = autograd::record("SplitBackward", {x}, out,
                                 [d](const Ctx& c) { return tensor_list{cat(c.grads(), d)}; });
    // Nothing saved: pieces may be backpropagated in separate passes, as with one node per piece.
    static_cast<autograd::FunctionNode*>(node.get())->saves_nothing = true;
  }
  return out;
}

}  // namespace

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  WICK_CHECK(x.dim() > 0, "split: expected at least a 1-dimensional tensor, got a 0-d tensor");
  WICK_CHECK(split_size >= 0, "split: split_size must be non-negative, got ", split_size);
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.size(d);
  WICK_CHECK(split_size > 0 || n == 0, "split: split_size can only be 0 if dimension size is 0, but dimension ", d,
             " of shape ", shape_str(x.sizes()), " has size ", n);
  const int64_t pieces = split_size > 0 ? std::max<int64_t>((n + split_size - 1) / split_size, 1) : 1;
  std::vector<int64_t> lengths;
  lengths.reserve(pieces);
  for (int64_t i = 0; i < pieces; ++i) lengths.push_back(std::min(split_size, n - i * split_size));
  return split_views(x, lengths, d);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  WICK_CHECK(x.dim() > 0, "split: expected at least a 1-dimensional tensor, got a 0-d tensor");
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    WICK_CHECK(s >= 0, "split: split sizes must be non-negative, got ", shape_str(sizes));
    total += s;
  }
  WICK_CHECK(total == x.size(d), "split: split sizes ", shape_str(sizes), " must sum exactly to ", x.size(d),
             " (the size of dimension ", d, " of shape ", shape_str(x.sizes()), "), but sum to ", total);
  return split_views(x, sizes, d);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  WICK_CHECK(x.dim() > 0, "chunk: expected at least a 1-dimensional tensor, got a 0-d tensor");
  WICK_CHECK(chunks > 0, "chunk: expects `chunks` to be greater than 0, got ", chunks);
  const int64_t d = wrap_dim(dim, x.dim(), "chunk");
  const int64_t n = x.size(d);
  // PyTorch's rule: pieces of ceil(n / chunks); an empty dim still gives `chunks` empty pieces.
  if (n == 0) return split(x, std::vector<int64_t>(chunks, 0), d);
  return split(x, (n + chunks - 1) / chunks, d);
}

// ---------------------------------------------------------------------------
// repeat / tile

Tensor repeat(const Tensor& x, const std::vector<int64_t>& repeats) {
  WICK_CHECK(x.defined(), "repeat: undefined tensor");
  const int64_t nd = static_cast<int64_t>(repeats.size());
  WICK_CHECK(nd >= x.dim(), "repeat: number of repeat dims (", nd,
             ") can not be smaller than the number of dims of the tensor (", x.dim(), ", shape ",
             shape_str(x.sizes()), ")");
  for (int64_t r : repeats) WICK_CHECK(r >= 0, "repeat: repeats must be non-negative, got ", shape_str(repeats));
  const int64_t lead = nd - x.dim();
  Shape padded(nd), out_shape(nd);
  for (int64_t d = 0; d < nd; ++d) {
    padded[d] = d < lead ? 1 : x.size(d - lead);
    out_shape[d] = padded[d] * repeats[d];
  }
  Tensor out = empty_as(out_shape, x.dtype(), x);
  if (out.is_cpu()) {
    cpu::repeat(out, x, repeats);
  } else if (out.numel() > 0) {
    // Other devices: x viewed as [1, s0, 1, s1, ...], expanded to [r0, s0, r1, s1, ...]
    // and copied (a broadcasting copy kernel) into out viewed the same way.
    NoGradGuard ng;
    Shape one_s, r_s;
    for (int64_t d = 0; d < nd; ++d) {
      one_s.insert(one_s.end(), {1, padded[d]});
      r_s.insert(r_s.end(), {repeats[d], padded[d]});
    }
    Tensor dst = out.view(r_s);
    copy_(dst, x.detach().reshape(one_s).expand(r_s));
  }

  if (autograd::needs_grad({x})) {
    autograd::record("RepeatBackward", {x}, {out}, [repeats, padded, in = x.sizes()](const Ctx& c) {
      // out viewed as [r0, s0, r1, s1, ...] holds x at every (r0, r1, ...).
      Shape split_shape;
      std::vector<int64_t> rep_dims;
      for (size_t d = 0; d < repeats.size(); ++d) {
        if (repeats[d] != 1) {
          rep_dims.push_back(static_cast<int64_t>(split_shape.size()));
          split_shape.push_back(repeats[d]);
        }
        split_shape.push_back(padded[d]);
      }
      Tensor g = c.grad().reshape(split_shape);
      if (!rep_dims.empty()) g = sum(g, rep_dims);
      return tensor_list{g.reshape(in)};
    });
  }
  return out;
}

Tensor tile(const Tensor& x, const std::vector<int64_t>& reps) {
  WICK_CHECK(x.defined(), "tile: undefined tensor");
  for (int64_t r : reps) WICK_CHECK(r >= 0, "tile: reps must be non-negative, got ", shape_str(reps));
  std::vector<int64_t> full_reps = reps;
  if (static_cast<int64_t>(reps.size()) < x.dim()) full_reps.insert(full_reps.begin(), x.dim() - reps.size(), 1);
  return repeat(x, full_reps);
}

// ---------------------------------------------------------------------------
// pad

namespace {

// Reflect padding's adjoint as a differentiable op: its backward is reflect pad.
Tensor reflect_pad_backward(const Tensor& g, const Shape& in_shape, const Shape& lo, const Shape& hi,
                            const std::vector<int64_t>& pads) {
  Tensor gi = zeros(in_shape, TensorOptions(g.dtype()).device(g.device()));
  {
    NoGradGuard ng;
#ifdef WICK_WITH_CUDA
    if (g.is_cuda())
      cuda::reflect_pad_backward(gi, g.contiguous(), lo, hi);
    else
#endif
      cpu::reflect_pad_backward(gi, g.contiguous(), lo, hi);
  }
  if (autograd::needs_grad({g}))
    autograd::record("ReflectionPadBackwardBackward", {g}, {gi},
                     [pads](const Ctx& c) { return tensor_list{pad(c.grad(), pads, "reflect")}; });
  return gi;
}

}  // namespace

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode, double value) {
  WICK_CHECK(x.defined(), "pad: undefined tensor");
  WICK_CHECK(pads.size() % 2 == 0, "pad: padding length must be even (pairs of low, high), got ", pads.size(),
             " values");
  const int64_t k = static_cast<int64_t>(pads.size()) / 2;  // number of padded dims, counted from the last
  const int64_t nd = x.dim();
  WICK_CHECK(k <= nd, "pad: padding length ", pads.size(), " is too large for a ", nd, "-d tensor of shape ",
             shape_str(x.sizes()), " (at most ", 2 * nd, " values)");
  Shape lo(nd, 0), hi(nd, 0), out_shape = x.sizes();
  for (int64_t j = 0; j < k; ++j) {
    const int64_t d = nd - 1 - j;
    lo[d] = pads[2 * j];
    hi[d] = pads[2 * j + 1];
    out_shape[d] = x.size(d) + lo[d] + hi[d];
  }

  if (mode == "constant") {
    for (int64_t d = 0; d < nd; ++d)
      WICK_CHECK(out_shape[d] >= 0, "pad: the input size ", x.size(d), " of dimension ", d, " plus padding (", lo[d],
                 ", ", hi[d], ") resulted in a negative output size ", out_shape[d]);
    Tensor out = empty_as(out_shape, x.dtype(), x);
    if (out.is_cpu()) {
      cpu::pad_constant(out, x, lo, hi, Scalar(value));
    } else {
      // Other devices: fill, then copy the part of x that survives (negative pads crop).
      NoGradGuard ng;
      out.fill_(Scalar(value));
      Tensor src = x.detach(), dst = out;
      bool any = true;
      for (int64_t d = 0; d < nd; ++d) {
        const int64_t s0 = std::max<int64_t>(0, -lo[d]), d0 = std::max<int64_t>(0, lo[d]);
        const int64_t len = std::min(x.size(d) - s0, out_shape[d] - d0);
        if (len <= 0) {
          any = false;
          break;
        }
        src = src.narrow(d, s0, len);
        dst = dst.narrow(d, d0, len);
      }
      if (any) copy_(dst, src);
    }
    if (autograd::needs_grad({x})) {
      std::vector<int64_t> neg_pads(pads.size());
      std::transform(pads.begin(), pads.end(), neg_pads.begin(), [](int64_t p) { return -p; });
      autograd::record("ConstantPadBackward", {x}, {out},
                       [neg_pads](const Ctx& c) { return tensor_list{pad(c.grad(), neg_pads, "constant", 0.0)}; });
    }
    return out;
  }

  WICK_CHECK(mode == "reflect", "pad: unsupported mode '", mode, "' (expected \"constant\" or \"reflect\")");
  WICK_CHECK(k >= 1 && k <= 3, "pad: reflect padding pads the last 1, 2 or 3 dims (2, 4 or 6 values), got ",
             pads.size(), " values");
  for (int64_t d = nd - k; d < nd; ++d) {
    WICK_CHECK(x.size(d) > 0, "pad: reflect padding needs a non-empty dimension ", d, ", got shape ",
               shape_str(x.sizes()));
    WICK_CHECK(lo[d] >= 0 && hi[d] >= 0, "pad: reflect padding must be non-negative, got (", lo[d], ", ", hi[d],
               ") for dimension ", d);
    WICK_CHECK(lo[d] < x.size(d) && hi[d] < x.size(d), "pad: padding size should be less than the corresponding "
               "input dimension, but got padding (", lo[d], ", ", hi[d], ") at dimension ", d, " of input ",
               shape_str(x.sizes()));
  }
  Shape klo(lo.end() - k, lo.end()), khi(hi.end() - k, hi.end());
  Tensor out = empty_as(out_shape, x.dtype(), x);
  {
    NoGradGuard ng;
#ifdef WICK_WITH_CUDA
    if (x.is_cuda())
      cuda::reflect_pad(out, x.contiguous(), klo, khi);
    else
#endif
    {
      check_cpu("pad (reflect)", x);
      cpu::reflect_pad(out, x.contiguous(), klo, khi);
    }
  }
  if (autograd::needs_grad({x})) {
    autograd::record("ReflectionPadBackward", {x}, {out}, [in = x.sizes(), klo, khi, pads](const Ctx& c) {
      return tensor_list{reflect_pad_backward(c.grad(), in, klo, khi, pads)};
    });
  }
  return out;
}

// ---------------------------------------------------------------------------
// flip / roll

Tensor flip(const Tensor& x, const std::vector<int64_t>& dims) {
  WICK_CHECK(x.defined(), "flip: undefined tensor");
  std::vector<bool> flipped(std::max<int64_t>(x.dim(), 1), false);
  for (int64_t dim : dims) {
    const int64_t d = wrap_dim(dim, x.dim(), "flip");
    WICK_CHECK(!flipped[d], "flip: dim ", d, " appears multiple times in the list of dims ", shape_str(dims));
    flipped[d] = true;
  }
  Tensor out = empty_as(x.sizes(), x.dtype(), x);
  if (out.is_cpu()) {
    cpu::flip(out, x, flipped);
  } else if (x.dim() > 0 && out.numel() > 0) {
    // Other devices: index_select with reversed indices along each flipped dim.
    NoGradGuard ng;
    Tensor r = x.detach();
    for (int64_t d = 0; d < x.dim(); ++d)
      if (flipped[d]) r = index_select(r, d, arange(x.size(d) - 1, -1, -1, TensorOptions(kInt64).device(x.device())));
    copy_(out, r);
  } else {
    copy_(out, x.detach());
  }
  if (autograd::needs_grad({x}))
    autograd::record("FlipBackward", {x}, {out}, [dims](const Ctx& c) { return tensor_list{flip(c.grad(), dims)}; });
  return out;
}

Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims) {
  WICK_CHECK(x.defined(), "roll: undefined tensor");
  if (dims.empty()) {
    // Roll the flattened tensor, then restore the shape.
    WICK_CHECK(shifts.size() == 1, "roll: without dims, shifts must hold exactly one value, got ",
               shape_str(shifts));
    return view(roll(flatten(x), shifts, {0}), x.sizes());
  }
  WICK_CHECK(shifts.size() == dims.size(), "roll: shifts and dims must have the same length, got shifts ",
             shape_str(shifts), " and dims ", shape_str(dims));
  Shape normalized(std::max<int64_t>(x.dim(), 1), 0);
  std::vector<int64_t> back(shifts.size());  // the shifts that undo this roll
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], x.dim(), "roll");
    const int64_t n = x.dim() == 0 ? 1 : x.size(d);
    if (n == 0) continue;
    const int64_t s = (shifts[i] % n + n) % n;
    normalized[d] = (normalized[d] + s) % n;  // repeated dims add up
    back[i] = -s;
  }
  Tensor out = empty_as(x.sizes(), x.dtype(), x);
  if (out.is_cpu()) {
    cpu::roll(out, x, normalized);
  } else {
    // Other devices: per rolled dim, the last s slices then the first n - s (cat: copy kernels).
    NoGradGuard ng;
    Tensor r = x.detach();
    for (int64_t d = 0; d < x.dim(); ++d) {
      const int64_t n = x.size(d), sh = normalized[d];
      if (sh != 0) r = cat({r.narrow(d, n - sh, sh), r.narrow(d, 0, n - sh)}, d);
    }
    copy_(out, r);
  }
  if (autograd::needs_grad({x}))
    autograd::record("RollBackward", {x}, {out},
                     [back, dims](const Ctx& c) { return tensor_list{roll(c.grad(), back, dims)}; });
  return out;
}

}  // namespace wick
