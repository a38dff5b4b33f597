// Indexing ops: argument checks, output shapes, dispatch to the CPU kernels
// (ops/cpu/indexing.cpp) or the CUDA kernels (cuda/kernels/indexing.cu; index
// tensors of advanced indexing may sit on the CPU for a CUDA x, as in PyTorch)
// and the backward formulas. Each backward is written
// with ops of this file, so it is differentiable again (higher order):
//
//   op                          d/dx                                  d/d(src | values | weight)
//   index_select(x, d, i)       index_add(zeros_like(x), d, i, g)     -
//   index_add(x, d, i, s, a)    g                                     a * index_select(g, d, i)
//   gather(x, d, i)             scatter_add(zeros_like(x), d, i, g)   -
//   scatter(x, d, i, s)         scatter(g, d, i, 0)                   gather(g, d, i)
//   scatter_add(x, d, i, s)     g                                     gather(g, d, i)
//   masked_select(x, m)         masked scatter of g into zeros        -
//   index(x, I)                 index_put(zeros_like(x), I, g, acc)   -
//   index_put(x, I, v, acc)     acc ? g : index_put(g, I, 0)          index(g, I), summed to v's shape
//   embedding(w, i, pad)        -                                     index_add(zeros_like(w), 0, i, g) (pad rows 0)
//
// Index rules follow PyTorch 1.13: int64 indices (int32 accepted too);
// index / index_put wrap negative indices; index_select, index_add, gather,
// scatter*, embedding and one_hot reject them. Any out-of-range index is a
// wick::Error "<op>: index <i> is out of bounds for dimension <d> with size <n>".
#include "ops/indexing.h"

#include <algorithm>

#include "autograd/function.h"
#include "ops/copy.h"
#include "ops/cpu/indexing.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/indexing.h"
#endif
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"
#include "ops/view.h"

namespace wick {

using autograd::Ctx;
using autograd::SavedTensor;

namespace {

void check_defined(const char* op, std::initializer_list<Tensor> ts) {
  for (const Tensor& t : ts) WICK_CHECK(t.defined(), op, ": undefined tensor argument");
}

void check_cpu(const char* op, std::initializer_list<Tensor> ts) {
  Device dev = ts.begin()->device();
  for (const Tensor& t : ts) {
    if (!t.defined()) continue;
    WICK_CHECK(t.device() == dev, op, ": expected all tensors on the same device, got ", dev, " and ", t.device());
    WICK_CHECK(t.is_cpu(), op, ": no kernel for device ", t.device(), " in this build");
  }
}

// Every op of this file has CUDA kernels too (one_hot through scatter).
void check_device(const char* op, std::initializer_list<Tensor> ts) {
#ifdef WICK_WITH_CUDA
  Device dev = ts.begin()->device();
  if (dev.is_cuda()) {
    for (const Tensor& t : ts)
      WICK_CHECK(!t.defined() || t.device() == dev, op, ": expected all tensors on the same device, got ", dev,
                 " and ", t.device());
    return;
  }
#endif
  check_cpu(op, ts);
}

// The kernels of the tensors' device.
namespace kern {
void index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& idx, const char* op) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::index_select(out, x.contiguous(), dim, idx, op);
#endif
  cpu::index_select(out, x, dim, idx, op);
}
void index_add(const Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src, const char* op) {
#ifdef WICK_WITH_CUDA
  if (out.is_cuda()) return cuda::index_add(out, dim, idx, src.contiguous(), op);
#endif
  cpu::index_add(out, dim, idx, src);
}
void gather(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& idx) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::gather(out, x, dim, idx);
#endif
  cpu::gather(out, x, dim, idx);
}
void scatter(const Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src, bool add) {
#ifdef WICK_WITH_CUDA
  if (out.is_cuda()) return cuda::scatter(out, dim, idx, src, add);
#endif
  cpu::scatter(out, dim, idx, src, add);
}
void scatter_fill(const Tensor& out, int64_t dim, const Tensor& idx, const Scalar& value) {
#ifdef WICK_WITH_CUDA
  if (out.is_cuda()) return cuda::scatter_fill(out, dim, idx, value);
#endif
  cpu::scatter_fill(out, dim, idx, value);
}
Tensor masked_select(const Tensor& x, const Tensor& mask) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::masked_select(x, mask);
#endif
  return cpu::masked_select(x, mask);
}
void masked_scatter(const Tensor& out, const Tensor& mask, const Tensor& src) {
#ifdef WICK_WITH_CUDA
  if (out.is_cuda()) return cuda::masked_scatter(out, mask, src);
#endif
  cpu::masked_scatter(out, mask, src);
}
Tensor nonzero(const Tensor& x) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::nonzero(x);
#endif
  return cpu::nonzero(x);
}
void index(const Tensor& out, const Tensor& x, const cpu::IndexSpec& spec) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::index(out, x, spec);
#endif
  cpu::index(out, x, spec);
}
void index_put(const Tensor& out, const cpu::IndexSpec& spec, const Tensor& values, bool accumulate) {
#ifdef WICK_WITH_CUDA
  if (out.is_cuda()) return cuda::index_put(out, spec, values, accumulate);
#endif
  cpu::index_put(out, spec, values, accumulate);
}
}  // namespace kern

// The index as int64 (int32 converted); any other dtype is an error.
Tensor as_index(const char* op, const Tensor& index) {
  WICK_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, op, ": index must be int64 or int32, got ",
             index.dtype());
  NoGradGuard ng;
  return index.to(kInt64);
}

bool is_one(const Scalar& s) { return !s.is_floating() && s.to_int() == 1; }

// 0-d tensors take part in along-a-dim ops as 1-element 1-d tensors (PyTorch's ensure_nonempty_dim).
Tensor as_1d(const Tensor& t) { return t.dim() == 0 ? t.reshape({1}) : t; }

// `g` (of shape `have`, a leading box of `shape`) placed in zeros of `shape`.
// Differentiable: it is an index_put with arange indices, whose gradient is
// the box again. Used when scatter's src is larger than its index.
Tensor zero_pad_to(const Tensor& g, const Shape& shape) {
  if (g.sizes() == shape) return g;
  if (g.numel() == numel_of(shape)) return g.reshape(shape);
  Tensor g1 = as_1d(g);
  WICK_CHECK(g1.dim() == static_cast<int64_t>(shape.size()), "zero_pad_to: rank mismatch");
  std::vector<Tensor> box;
  for (int64_t d = 0; d < g1.dim(); ++d) {
    Shape s(shape.size(), 1);
    s[d] = g1.size(d);
    box.push_back(arange(g1.size(d)).reshape(s));
  }
  return index_put(zeros(shape, TensorOptions(g.dtype()).device(g.device())), box, g1);
}

}  // namespace

// ---------------------------------------------------------------------------
// index_select / index_add

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("index_select", {x, index});
  check_device("index_select", {x, index});
  Tensor idx = as_index("index_select", index);
  WICK_CHECK(idx.dim() <= 1, "index_select: index must be 0-d or 1-d, got shape ", shape_str(idx.sizes()));
  dim = wrap_dim(dim, x.dim(), "index_select");
  idx = idx.reshape({-1}).contiguous();
  const TensorOptions opt = TensorOptions(x.dtype()).device(x.device());
  Tensor out;
  if (x.dim() == 0) {
    // Like PyTorch: a 0-d x gives a 0-d result; every index must be 0.
    Tensor tmp = empty({idx.numel()}, opt);
    kern::index_select(tmp, x.detach().reshape({1}), 0, idx, "index_select");
    out = x.detach().clone();
  } else {
    Shape s = x.sizes();
    s[dim] = idx.numel();
    out = empty(s, opt);
    kern::index_select(out, x, dim, idx, "index_select");
  }
  if (autograd::needs_grad({x})) {
    autograd::record("IndexSelectBackward", {x}, {out}, [dim, idx, in = x.sizes()](const Ctx& c) {
      if (in.empty()) return tensor_list{c.grad()};  // 0-d: the output is x itself
      return tensor_list{index_add(zeros(in, TensorOptions(c.grad().dtype()).device(c.grad().device())), dim, idx,
                                   c.grad())};
    });
  }
  return out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source, const Scalar& alpha) {
  check_defined("index_add", {x, index, source});
  check_device("index_add", {x, index, source});
  Tensor idx = as_index("index_add", index);
  WICK_CHECK(idx.dim() <= 1, "index_add: index must be 0-d or 1-d, got shape ", shape_str(idx.sizes()));
  WICK_CHECK(source.dtype() == x.dtype(), "index_add: x (", x.dtype(), ") and source (", source.dtype(),
             ") must have the same dtype");
  dim = wrap_dim(dim, x.dim(), "index_add");
  idx = idx.reshape({-1}).contiguous();
  const int64_t m = idx.numel();
  Shape expect = x.sizes();
  if (x.dim() > 0) expect[dim] = m;
  const bool ok = x.dim() > 0 ? source.sizes() == expect : source.numel() == m;
  WICK_CHECK(ok, "index_add: source of shape ", shape_str(source.sizes()), " does not match ", shape_str(expect),
             " (x ", shape_str(x.sizes()), " with dimension ", dim, " of size ", m, ")");
  // PyTorch converts alpha to x's dtype (an integer x truncates a float alpha).
  const Scalar a = is_floating(x.dtype()) ? alpha : Scalar(alpha.to_int());
  Tensor out = x.detach().clone();
  {
    NoGradGuard ng;
    Tensor src = source.detach();
    if (!is_one(a)) src = x.dtype() == kBool ? src : mul(src, scalar_tensor(a, TensorOptions(x.dtype())));
    if (x.dim() == 0)
      kern::index_add(out.reshape({1}), 0, idx, src.reshape({m}), "index_add");
    else
      kern::index_add(out, dim, idx, src, "index_add");
  }
  if (autograd::needs_grad({x, source})) {
    autograd::record("IndexAddBackward", {x, source}, {out},
                     [dim, idx, a, src_shape = source.sizes()](const Ctx& c) {
      Tensor gs;
      if (c.needs_input_grad(1)) {
        gs = index_select(c.grad().dim() == 0 ? c.grad().reshape({1}) : c.grad(), dim, idx);
        if (c.grad().dim() == 0) gs = gs.reshape({-1}).expand({idx.numel()});
        if (!is_one(a)) gs = mul(gs, a);
        gs = gs.reshape(src_shape);
      }
      return tensor_list{c.grad(), gs};
    });
  }
  return out;
}

// ---------------------------------------------------------------------------
// gather / scatter

namespace {

// Shapes for gather/scatter: index has x's rank; no dim but `dim` larger than x (and than src).
void check_scatter_gather(const char* op, const Tensor& x1, int64_t dim, const Tensor& idx1, const Tensor* src1) {
  WICK_CHECK(idx1.dim() == x1.dim(), op, ": index must have as many dimensions as x: index ", shape_str(idx1.sizes()),
             " vs x ", shape_str(x1.sizes()));
  if (src1) {
    WICK_CHECK(src1->dim() == x1.dim(), op, ": src must have as many dimensions as x: src ",
               shape_str(src1->sizes()), " vs x ", shape_str(x1.sizes()));
  }
  for (int64_t d = 0; d < x1.dim(); ++d) {
    WICK_CHECK(d == dim || idx1.size(d) <= x1.size(d), op, ": index ", shape_str(idx1.sizes()),
               " is larger than x ", shape_str(x1.sizes()), " in dimension ", d, " (only dimension ", dim,
               " may be larger)");
    if (src1)
      WICK_CHECK(idx1.size(d) <= src1->size(d), op, ": index ", shape_str(idx1.sizes()), " is larger than src ",
                 shape_str(src1->sizes()), " in dimension ", d);
  }
}

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("gather", {x, index});
  check_device("gather", {x, index});
  Tensor idx = as_index("gather", index);
  dim = wrap_dim(dim, x.dim(), "gather");
  Tensor x1 = as_1d(x.detach()), idx1 = as_1d(idx);
  check_scatter_gather("gather", x1, dim, idx1, nullptr);
  Tensor out = empty(idx1.sizes(), TensorOptions(x.dtype()).device(x.device()));
  kern::gather(out, x1, dim, idx1);
  out = out.view(idx.sizes());
  if (autograd::needs_grad({x})) {
    autograd::record("GatherBackward", {x}, {out}, [dim, si = SavedTensor(idx), in = x.sizes()](const Ctx& c) {
      Tensor z = zeros(in, TensorOptions(c.grad().dtype()).device(c.grad().device()));
      return tensor_list{scatter_add(z, dim, si.unpack(), c.grad())};
    });
  }
  return out;
}

namespace {

// The shared body of scatter (tensor src, or a scalar when src is undefined) and scatter_add.
Tensor scatter_op(const char* op, const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                  const Scalar& value, bool add) {
  check_defined(op, {x, index});
  check_device(op, {x, index, src});
  Tensor idx = as_index(op, index);
  dim = wrap_dim(dim, x.dim(), op);
  if (src.defined())
    WICK_CHECK(src.dtype() == x.dtype(), op, ": x (", x.dtype(), ") and src (", src.dtype(),
               ") must have the same dtype");
  Tensor x1 = as_1d(x), idx1 = as_1d(idx), src1 = src.defined() ? as_1d(src.detach()) : Tensor();
  check_scatter_gather(op, x1, dim, idx1, src.defined() ? &src1 : nullptr);
  Tensor out = x.detach().clone();
  if (src.defined())
    kern::scatter(as_1d(out), dim, idx1, src1, add);
  else
    kern::scatter_fill(as_1d(out), dim, idx1, value);

  const tensor_list inputs = src.defined() ? tensor_list{x, src} : tensor_list{x};
  if (autograd::needs_grad(inputs)) {
    const Shape src_shape = src.defined() ? src.sizes() : Shape{};
    autograd::record(add ? "ScatterAddBackward" : "ScatterBackward", inputs, {out},
                     [dim, add, si = SavedTensor(idx), src_shape, has_src = src.defined()](const Ctx& c) {
      const Tensor& g = c.grad();
      tensor_list grads;
      // Scattered positions were overwritten, so x gets no gradient there.
      grads.push_back(!c.needs_input_grad(0) ? Tensor() : add ? g : scatter(g, dim, si.unpack(), Scalar(0)));
      if (has_src)
        grads.push_back(c.needs_input_grad(1) ? zero_pad_to(gather(g, dim, si.unpack()), src_shape) : Tensor());
      return grads;
    });
  }
  return out;
}

}  // namespace

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined("scatter", {src});
  return scatter_op("scatter", x, dim, index, src, Scalar(0), false);
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Scalar& value) {
  return scatter_op("scatter", x, dim, index, Tensor(), value, false);
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined("scatter_add", {src});
  return scatter_op("scatter_add", x, dim, index, src, Scalar(0), true);
}

// ---------------------------------------------------------------------------
// masks

namespace {

Tensor as_mask(const char* op, const Tensor& mask) {
  WICK_CHECK(mask.dtype() == kBool || mask.dtype() == kUInt8, op, ": mask must be bool (or uint8), got ",
             mask.dtype());
  NoGradGuard ng;
  return mask.to(kBool);
}

// zeros(mask.shape) with src written, in order, where mask is true: the
// backward of masked_select. Its own backward is masked_select again.
Tensor masked_scatter_zeros(const Tensor& src, const Tensor& mask) {
  Tensor out = zeros(mask.sizes(), TensorOptions(src.dtype()).device(src.device()));
  kern::masked_scatter(out, mask, src.detach());
  if (autograd::needs_grad({src}))
    autograd::record("MaskedScatterBackward", {src}, {out},
                     [mask](const Ctx& c) { return tensor_list{masked_select(c.grad(), mask)}; });
  return out;
}

}  // namespace

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  check_defined("masked_select", {x, mask});
  check_device("masked_select", {x, mask});
  Tensor m = as_mask("masked_select", mask);
  const Shape shape = broadcast_shapes(x.sizes(), m.sizes(), "masked_select");
  // The broadcast of x is a differentiable view: its backward sums the gradient back to x's shape.
  Tensor xe = x.sizes() == shape ? x : expand(x, shape);
  Tensor me = m.sizes() == shape ? m : m.expand(shape);
  Tensor out = kern::masked_select(xe.detach(), me);
  if (autograd::needs_grad({xe}))
    autograd::record("MaskedSelectBackward", {xe}, {out},
                     [me](const Ctx& c) { return tensor_list{masked_scatter_zeros(c.grad(), me)}; });
  return out;
}

Tensor nonzero(const Tensor& x) {
  check_defined("nonzero", {x});
  check_device("nonzero", {x});
  return kern::nonzero(x.detach());
}

// ---------------------------------------------------------------------------
// advanced indexing

namespace {

bool is_mask_dtype(DType d) { return d == kBool || d == kUInt8; }

// The position of the first 0-d mask in `indices` and the x dim it sits at,
// or {-1, -1}. A 0-d mask consumes no dim of x: like Python's x[True] it adds
// a new dim of size 1 (true) or 0 (false) there.
std::pair<int64_t, int64_t> find_scalar_mask(const std::vector<Tensor>& indices) {
  int64_t dim = 0;
  for (size_t i = 0; i < indices.size(); ++i) {
    const Tensor& t = indices[i];
    if (t.defined() && is_mask_dtype(t.dtype()) && t.dim() == 0) return {static_cast<int64_t>(i), dim};
    dim += t.defined() && is_mask_dtype(t.dtype()) ? t.dim() : 1;
  }
  return {-1, -1};
}

// indices with the 0-d mask at `pos` replaced by [0] (true) or an empty index (false).
std::vector<Tensor> replace_scalar_mask(const std::vector<Tensor>& indices, int64_t pos) {
  std::vector<Tensor> out = indices;
  const bool on = indices[pos].to(kBool).item<bool>();
  out[pos] = zeros({on ? 1 : 0}, kInt64);
  return out;
}

// Advanced indexing resolved against x's shape.
struct Resolved {
  std::vector<Tensor> per_dim;  // one int64 index per x dim (undefined = ':'), masks expanded
  cpu::IndexSpec spec;
  Shape result;
};

// Index tensors may live on another device than x (like PyTorch's CPU
// indices for a CUDA tensor): they are moved to x's device `dev`.
Resolved resolve(const char* op, const Shape& xs, Device dev, const std::vector<Tensor>& indices) {
  const int64_t nd = static_cast<int64_t>(xs.size());
  Resolved r;
  int64_t used = 0;
  for (const Tensor& t : indices) used += t.defined() && is_mask_dtype(t.dtype()) ? t.dim() : 1;
  WICK_CHECK(used <= nd, op, ": too many indices for tensor of dimension ", nd, " (got ", used, ")");
  NoGradGuard ng;
  for (const Tensor& t : indices) {
    const int64_t cur = static_cast<int64_t>(r.per_dim.size());
    if (!t.defined()) {
      r.per_dim.emplace_back();
    } else if (is_mask_dtype(t.dtype())) {
      // A k-d mask indexes k dims with the coordinates of its true elements.
      for (int64_t j = 0; j < t.dim(); ++j)
        WICK_CHECK(t.size(j) == xs[cur + j], op, ": the shape of the mask ", shape_str(t.sizes()),
                   " does not match the shape of the indexed tensor ", shape_str(xs), " at dimension ", cur + j);
      Tensor nz = kern::nonzero(t.to(kBool)).to(dev);
      for (int64_t j = 0; j < t.dim(); ++j) r.per_dim.push_back(nz.select(1, j));
    } else {
      WICK_CHECK(t.dtype() == kInt64 || t.dtype() == kInt32, op,
                 ": tensors used as indices must be int64, int32, bool or uint8, got ", t.dtype());
      r.per_dim.push_back(t.to(kInt64).to(dev));
    }
  }
  r.per_dim.resize(nd);

  std::vector<int64_t> dims;
  std::vector<Shape> shapes;
  for (int64_t d = 0; d < nd; ++d) {
    if (!r.per_dim[d].defined()) continue;
    dims.push_back(d);
    shapes.push_back(r.per_dim[d].sizes());
  }
  cpu::IndexSpec& s = r.spec;
  if (dims.empty()) {
    for (int64_t d = 0; d < nd; ++d) s.post.push_back(d);
    r.result = xs;
    return r;
  }
  s.dims = dims;
  s.broadcast_shape = broadcast_shapes(shapes, op);
  for (int64_t d : dims) s.indices.push_back(r.per_dim[d].expand(s.broadcast_shape).contiguous());
  // Adjacent index dims keep their place in the result; separated ones move to the front (NumPy rule).
  const bool adjacent = dims.back() - dims.front() + 1 == static_cast<int64_t>(dims.size());
  for (int64_t d = 0; d < nd; ++d) {
    if (r.per_dim[d].defined()) continue;
    (adjacent && d < dims.front() ? s.pre : s.post).push_back(d);
  }
  for (int64_t d : s.pre) r.result.push_back(xs[d]);
  r.result.insert(r.result.end(), s.broadcast_shape.begin(), s.broadcast_shape.end());
  for (int64_t d : s.post) r.result.push_back(xs[d]);
  return r;
}

}  // namespace

Tensor index(const Tensor& x, const std::vector<Tensor>& indices) {
  check_defined("index", {x});
  check_device("index", {x});
  auto [pos, at] = find_scalar_mask(indices);
  if (pos >= 0) return index(unsqueeze(x, at), replace_scalar_mask(indices, pos));

  Resolved r = resolve("index", x.sizes(), x.device(), indices);
  Tensor out = empty(r.result, TensorOptions(x.dtype()).device(x.device()));
  kern::index(out, x.detach(), r.spec);
  if (autograd::needs_grad({x})) {
    autograd::record("IndexBackward", {x}, {out}, [per_dim = r.per_dim, in = x.sizes()](const Ctx& c) {
      Tensor z = zeros(in, TensorOptions(c.grad().dtype()).device(c.grad().device()));
      return tensor_list{index_put(z, per_dim, c.grad(), /*accumulate=*/true)};
    });
  }
  return out;
}

Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate) {
  check_defined("index_put", {x, values});
  check_device("index_put", {x, values});
  WICK_CHECK(values.dtype() == x.dtype(), "index_put: values (", values.dtype(), ") and x (", x.dtype(),
             ") must have the same dtype");
  auto [pos, at] = find_scalar_mask(indices);
  if (pos >= 0) return squeeze(index_put(unsqueeze(x, at), replace_scalar_mask(indices, pos), values, accumulate), at);

  Resolved r = resolve("index_put", x.sizes(), x.device(), indices);
  const bool fits = values.dim() <= static_cast<int64_t>(r.result.size()) && [&] {
    for (int64_t i = 1; i <= values.dim(); ++i) {
      const int64_t v = values.size(values.dim() - i), t = r.result[r.result.size() - i];
      if (v != 1 && v != t) return false;
    }
    return true;
  }();
  WICK_CHECK(fits, "index_put: values of shape ", shape_str(values.sizes()),
             " cannot be broadcast to the indexing result of shape ", shape_str(r.result));
  Tensor out = x.detach().clone();
  {
    NoGradGuard ng;
    kern::index_put(out, r.spec, values.detach().expand(r.result).contiguous(), accumulate);
  }
  if (autograd::needs_grad({x, values})) {
    autograd::record("IndexPutBackward", {x, values}, {out},
                     [per_dim = r.per_dim, accumulate, vs = values.sizes()](const Ctx& c) {
      const Tensor& g = c.grad();
      Tensor gx, gv;
      if (c.needs_input_grad(0))
        gx = accumulate ? g : index_put(g, per_dim, zeros({}, TensorOptions(g.dtype()).device(g.device())));
      if (c.needs_input_grad(1)) gv = sum_to(index(g, per_dim), vs);
      return tensor_list{gx, gv};
    });
  }
  return out;
}

// ---------------------------------------------------------------------------
// one_hot / embedding

Tensor one_hot(const Tensor& index, int64_t num_classes) {
  check_defined("one_hot", {index});
  check_device("one_hot", {index});
  Tensor idx = as_index("one_hot", index).reshape({-1}).contiguous();
  const int64_t n = idx.numel();
  int64_t lo = 0, hi = -1;
  if (n > 0 && idx.is_cpu()) {
    const int64_t* p = idx.data_ptr<int64_t>();
    auto [mn, mx] = std::minmax_element(p, p + n);
    lo = *mn;
    hi = *mx;
  } else if (n > 0) {
    NoGradGuard ng;
    lo = min(idx).item<int64_t>();
    hi = max(idx).item<int64_t>();
  }
  WICK_CHECK(num_classes >= -1, "one_hot: num_classes must be -1 (infer) or non-negative, got ", num_classes);
  WICK_CHECK(lo >= 0, "one_hot: class values must be non-negative, got ", lo);
  if (num_classes == -1) {
    WICK_CHECK(n > 0, "one_hot: cannot infer the number of classes from an empty tensor");
    num_classes = hi + 1;
  }
  WICK_CHECK(hi < num_classes, "one_hot: class value ", hi, " is out of range for num_classes ", num_classes);
  Shape s = index.sizes();
  s.push_back(num_classes);
  Tensor out = zeros(s, TensorOptions(kInt64).device(index.device()));
  if (out.is_cpu())
    cpu::one_hot(out, idx, num_classes);
  else if (n > 0)  // indices checked above: a 1 at [i, idx[i]] of the [n, num_classes] view
    kern::scatter_fill(out.view({n, num_classes}), 1, idx.reshape({n, 1}), Scalar(int64_t{1}));
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& index, int64_t padding_idx) {
  check_defined("embedding", {weight, index});
  check_device("embedding", {weight, index});
  WICK_CHECK(weight.dim() == 2, "embedding: weight must be 2-D [num_embeddings, dim], got shape ",
             shape_str(weight.sizes()));
  const int64_t V = weight.size(0), D = weight.size(1);
  WICK_CHECK(padding_idx >= -1 && padding_idx < V, "embedding: padding_idx ", padding_idx,
             " must be -1 (none) or in [0, ", V, ")");
  Tensor flat = as_index("embedding", index).reshape({-1}).contiguous();
  Tensor out = empty({flat.numel(), D}, TensorOptions(weight.dtype()).device(weight.device()));
  kern::index_select(out, weight.detach(), 0, flat, "embedding");
  Shape s = index.sizes();
  s.push_back(D);
  out = out.view(s);
  if (autograd::needs_grad({weight})) {
    autograd::record("EmbeddingBackward", {weight}, {out}, [flat, V, D, padding_idx](const Ctx& c) {
      const Tensor& g = c.grad();
      TensorOptions opt = TensorOptions(g.dtype()).device(g.device());
      Tensor rows = g.reshape({-1, D});
      if (padding_idx >= 0) {
        // Lookups of the padding row contribute nothing: zero their gradient rows.
        rows = mul(rows, ne(flat, Scalar(padding_idx)).to(g.dtype()).reshape({-1, 1}));
      }
      return tensor_list{index_add(zeros({V, D}, opt), 0, flat, rows)};
    });
  }
  return out;
}

}  // namespace wick
