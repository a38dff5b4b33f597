// View ops and their gradients.
//
// The gradient of a view that picks a subset of the input (slice, select,
// diagonal) is a scatter: zeros of the input's shape with the gradient
// written through the same view. That scatter is itself an op whose gradient
// is the view again, so higher-order gradients work.
#include "ops/view.h"

#include <algorithm>
#include <numeric>

#include "autograd/function.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/reduction.h"

namespace wick {

using autograd::Ctx;

namespace {

Tensor make_view(const Tensor& x, Shape sizes, Shape strides, int64_t offset) {
  Tensor v = make_tensor(x.storage(), std::move(sizes), std::move(strides), offset, x.dtype());
  v.impl()->is_view = true;
  return v;
}

using ViewFn = std::function<Tensor(const Tensor&)>;

// zeros(in_shape) with `g` written through view_fn; differentiable.
Tensor view_scatter(const Tensor& g, const Shape& in_shape, const ViewFn& view_fn, const char* name) {
  Tensor z = zeros(in_shape, TensorOptions(g.dtype()).device(g.device()));
  {
    NoGradGuard ng;
    Tensor target = view_fn(z);
    copy_(target, g);
  }
  if (autograd::needs_grad({g}))
    autograd::record(name, {g}, {z}, [view_fn](const Ctx& c) { return tensor_list{view_fn(c.grad())}; });
  return z;
}

// Records a view whose backward scatters through the same view.
void record_scatter_view(const char* name, const char* scatter_name, const Tensor& x, const Tensor& out,
                         ViewFn view_fn) {
  if (!autograd::needs_grad({x})) return;
  autograd::record(name, {x}, {out}, [in = x.sizes(), view_fn, scatter_name](const Ctx& c) {
    return tensor_list{view_scatter(c.grad(), in, view_fn, scatter_name)};
  });
}

void record_reshape_view(const char* name, const Tensor& x, const Tensor& out) {
  if (!autograd::needs_grad({x})) return;
  autograd::record(name, {x}, {out}, [in = x.sizes()](const Ctx& c) { return tensor_list{c.grad().reshape(in)}; });
}

Shape infer_size(const Shape& shape, int64_t numel, const char* op) {
  Shape out = shape;
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      WICK_CHECK(infer < 0, op, ": only one dimension can be inferred in shape ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      WICK_CHECK(out[i] >= 0, op, ": invalid shape dimension ", out[i], " in ", shape_str(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    WICK_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape_str(shape), " is invalid for input of size ",
               numel);
    out[infer] = numel / known;
  } else {
    WICK_CHECK(known == numel, op, ": shape ", shape_str(shape), " is invalid for input of size ", numel);
  }
  return out;
}

// Strides for viewing (sizes, strides) as new_sizes without a copy, or
// nullopt (PyTorch's computeStride: split the old shape into chunks of
// dims that are contiguous with each other and match them to new dims).
std::optional<Shape> view_strides(const Shape& old_sizes, const Shape& old_strides, const Shape& new_sizes) {
  if (old_sizes.empty()) return Shape(new_sizes.size(), 1);
  const int64_t numel = numel_of(old_sizes);
  if (numel == 0) return contiguous_strides(new_sizes);
  Shape new_strides(new_sizes.size(), 0);
  int64_t view_d = static_cast<int64_t>(new_sizes.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t td = static_cast<int64_t>(old_sizes.size()) - 1; td >= 0; --td) {
    tensor_numel *= old_sizes[td];
    if (td == 0 || (old_sizes[td - 1] != 1 && old_strides[td - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_sizes[view_d] == 1)) {
        new_strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_sizes[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (td > 0) {
        chunk_base_stride = old_strides[td - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return new_strides;
}

}  // namespace

Tensor view(const Tensor& x, const Shape& shape_in) {
  Shape shape = infer_size(shape_in, x.numel(), "view");
  auto st = view_strides(x.sizes(), x.strides(), shape);
  WICK_CHECK(st.has_value(), "view: shape ", shape_str(shape), " is not compatible with the input's size ",
             shape_str(x.sizes()), " and strides ", shape_str(x.strides()),
             " (at least one dimension spans two contiguous subspaces); use reshape() instead");
  Tensor out = make_view(x, shape, *st, x.offset());
  record_reshape_view("ViewBackward", x, out);
  return out;
}

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  Shape shape = infer_size(shape_in, x.numel(), "reshape");
  if (view_strides(x.sizes(), x.strides(), shape)) return view(x, shape);
  return view(contiguous(x), shape);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  const int64_t n = x.dim();
  WICK_CHECK(static_cast<int64_t>(dims.size()) == n, "permute: expected ", n, " dims for a tensor of shape ",
             shape_str(x.sizes()), ", got ", shape_str(dims));
  Shape sizes(n), strides(n);
  std::vector<int64_t> inverse(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = wrap_dim(dims[i], n, "permute");
    WICK_CHECK(inverse[d] < 0, "permute: dim ", d, " repeated in ", shape_str(dims));
    inverse[d] = i;
    sizes[i] = x.size(d);
    strides[i] = x.stride(d);
  }
  Tensor out = make_view(x, sizes, strides, x.offset());
  if (autograd::needs_grad({x}))
    autograd::record("PermuteBackward", {x}, {out},
                     [inverse](const Ctx& c) { return tensor_list{permute(c.grad(), inverse)}; });
  return out;
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  const int64_t n = x.dim();
  // Wrapped before the 0-d shortcut, so a 0-d tensor rejects dims other than 0 / -1.
  d0 = wrap_dim(d0, n, "transpose");
  d1 = wrap_dim(d1, n, "transpose");
  if (n == 0) return x;
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[d0], p[d1]);
  return permute(x, p);
}

Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start_in, std::optional<int64_t> end_in,
             int64_t step) {
  WICK_CHECK(x.dim() > 0, "slice: cannot slice a 0-d tensor");
  dim = wrap_dim(dim, x.dim(), "slice");
  WICK_CHECK(step > 0, "slice: step must be positive, got ", step, " (use flip() to reverse)");
  const int64_t n = x.size(dim);
  int64_t start = start_in.value_or(0), end = end_in.value_or(n);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape sizes = x.sizes(), strides = x.strides();
  sizes[dim] = (end - start + step - 1) / step;
  strides[dim] *= step;
  Tensor out = make_view(x, sizes, strides, x.offset() + start * x.stride(dim));
  record_scatter_view("SliceBackward", "SliceScatter", x, out,
                      [dim, start, end, step](const Tensor& t) { return slice(t, dim, start, end, step); });
  return out;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  WICK_CHECK(x.dim() > 0, "narrow: cannot narrow a 0-d tensor");
  dim = wrap_dim(dim, x.dim(), "narrow");
  const int64_t n = x.size(dim);
  if (start < 0) start += n;
  WICK_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow: start ", start, " + length ", length,
             " exceeds dimension ", dim, " of size ", n);
  return slice(x, dim, start, start + length, 1);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  WICK_CHECK(x.dim() > 0, "select: cannot select from a 0-d tensor");
  dim = wrap_dim(dim, x.dim(), "select");
  const int64_t n = x.size(dim);
  WICK_CHECK(index >= -n && index < n, "select: index ", index, " out of range for dimension ", dim, " of size ", n);
  if (index < 0) index += n;
  Shape sizes = x.sizes(), strides = x.strides();
  sizes.erase(sizes.begin() + dim);
  strides.erase(strides.begin() + dim);
  Tensor out = make_view(x, sizes, strides, x.offset() + index * x.stride(dim));
  record_scatter_view("SelectBackward", "SelectScatter", x, out,
                      [dim, index](const Tensor& t) { return select(t, dim, index); });
  return out;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  const int64_t n = static_cast<int64_t>(shape.size());
  WICK_CHECK(n >= x.dim(), "expand: the number of sizes provided (", n,
             ") must be greater or equal to the number of dimensions of the tensor (", x.dim(), ")");
  Shape sizes(n), strides(n);
  const int64_t lead = n - x.dim();
  for (int64_t i = n - 1; i >= 0; --i) {
    if (i < lead) {
      WICK_CHECK(shape[i] >= 0, "expand: cannot use -1 for the new leading dimension ", i, " in ", shape_str(shape));
      sizes[i] = shape[i];
      strides[i] = 0;
      continue;
    }
    int64_t have = x.size(i - lead);
    int64_t want = shape[i] == -1 ? have : shape[i];
    WICK_CHECK(have == want || have == 1, "expand: the expanded size of the tensor (", want,
               ") must match the existing size (", have, ") at non-singleton dimension ", i, ". Target sizes: ",
               shape_str(shape), ". Tensor sizes: ", shape_str(x.sizes()));
    sizes[i] = want;
    strides[i] = have == want ? x.stride(i - lead) : 0;
  }
  if (sizes == x.sizes()) return x;
  Tensor out = make_view(x, sizes, strides, x.offset());
  if (autograd::needs_grad({x}))
    autograd::record("ExpandBackward", {x}, {out}, [in = x.sizes()](const Ctx& c) { return tensor_list{sum_to(c.grad(), in)}; });
  return out;
}

Tensor squeeze(const Tensor& x, std::optional<int64_t> dim) {
  Shape sizes, strides;
  std::optional<int64_t> d;
  if (dim) d = wrap_dim(*dim, x.dim(), "squeeze");
  for (int64_t i = 0; i < x.dim(); ++i) {
    bool drop = x.size(i) == 1 && (!d || *d == i);
    if (!drop) {
      sizes.push_back(x.size(i));
      strides.push_back(x.stride(i));
    }
  }
  if (sizes.size() == static_cast<size_t>(x.dim())) return x;
  Tensor out = make_view(x, sizes, strides, x.offset());
  record_reshape_view("SqueezeBackward", x, out);
  return out;
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  dim = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape sizes = x.sizes(), strides = x.strides();
  int64_t st = dim < x.dim() ? x.stride(dim) * x.size(dim) : 1;
  sizes.insert(sizes.begin() + dim, 1);
  strides.insert(strides.begin() + dim, st);
  Tensor out = make_view(x, sizes, strides, x.offset());
  record_reshape_view("UnsqueezeBackward", x, out);
  return out;
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  start_dim = wrap_dim(start_dim, x.dim(), "flatten");
  end_dim = wrap_dim(end_dim, x.dim(), "flatten");
  WICK_CHECK(start_dim <= end_dim, "flatten: start_dim (", start_dim, ") cannot come after end_dim (", end_dim, ")");
  Shape s;
  for (int64_t i = 0; i < start_dim; ++i) s.push_back(x.size(i));
  int64_t m = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) m *= x.size(i);
  s.push_back(m);
  for (int64_t i = end_dim + 1; i < x.dim(); ++i) s.push_back(x.size(i));
  return reshape(x, s);
}

Tensor unflatten(const Tensor& x, int64_t dim, const Shape& sizes_in) {
  dim = wrap_dim(dim, x.dim(), "unflatten");
  Shape sizes = infer_size(sizes_in, x.size(dim), "unflatten");
  Shape s(x.sizes().begin(), x.sizes().begin() + dim);
  s.insert(s.end(), sizes.begin(), sizes.end());
  s.insert(s.end(), x.sizes().begin() + dim + 1, x.sizes().end());
  return view(x, s);
}

Tensor diagonal(const Tensor& x, int64_t offset, int64_t dim1, int64_t dim2) {
  WICK_CHECK(x.dim() >= 2, "diagonal: expected a tensor with at least 2 dims, got shape ", shape_str(x.sizes()));
  dim1 = wrap_dim(dim1, x.dim(), "diagonal");
  dim2 = wrap_dim(dim2, x.dim(), "diagonal");
  WICK_CHECK(dim1 != dim2, "diagonal: dim1 and dim2 cannot be identical (", dim1, ")");
  int64_t len, off = x.offset();
  if (offset >= 0) {
    len = std::max<int64_t>(0, std::min(x.size(dim1), x.size(dim2) - offset));
    if (len > 0) off += offset * x.stride(dim2);
  } else {
    len = std::max<int64_t>(0, std::min(x.size(dim1) + offset, x.size(dim2)));
    if (len > 0) off -= offset * x.stride(dim1);
  }
  Shape sizes, strides;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i == dim1 || i == dim2) continue;
    sizes.push_back(x.size(i));
    strides.push_back(x.stride(i));
  }
  sizes.push_back(len);
  strides.push_back(x.stride(dim1) + x.stride(dim2));
  Tensor out = make_view(x, sizes, strides, off);
  record_scatter_view("DiagonalBackward", "DiagonalScatter", x, out,
                      [offset, dim1, dim2](const Tensor& t) { return diagonal(t, offset, dim1, dim2); });
  return out;
}

Tensor as_strided(const Tensor& x, const Shape& sizes, const Shape& strides, std::optional<int64_t> offset_in) {
  WICK_CHECK(sizes.size() == strides.size(), "as_strided: ", sizes.size(), " sizes but ", strides.size(), " strides");
  const int64_t offset = offset_in.value_or(x.offset());
  WICK_CHECK(offset >= 0, "as_strided: negative storage offset ", offset);
  int64_t max_index = offset;
  bool empty_view = false;
  for (size_t i = 0; i < sizes.size(); ++i) {
    WICK_CHECK(sizes[i] >= 0 && strides[i] >= 0, "as_strided: negative size or stride in ", shape_str(sizes), " / ",
               shape_str(strides));
    if (sizes[i] == 0) empty_view = true;
    else max_index += (sizes[i] - 1) * strides[i];
  }
  const int64_t capacity = static_cast<int64_t>(x.storage()->nbytes() / x.element_size());
  WICK_CHECK(empty_view || max_index < capacity, "as_strided: setStorage: sizes ", shape_str(sizes), ", strides ",
             shape_str(strides), " and offset ", offset, " require a storage of ", max_index + 1,
             " elements, but the storage holds ", capacity);
  Tensor out = make_view(x, sizes, strides, offset);
  if (autograd::needs_grad({x})) {
    // Gradient: scatter-add each view element back to the input element that
    // aliases the same storage location. Defined for contiguous inputs.
    WICK_CHECK(x.is_contiguous(), "as_strided: the gradient is only supported for a contiguous input (got strides ",
               shape_str(x.strides()), "); call contiguous() first");
    const int64_t rel = offset - x.offset();
    autograd::record("AsStridedBackward", {x}, {out}, [in = x.sizes(), sizes, strides, rel](const Ctx& c) {
      // Position of every view element within the contiguous input.
      int64_t extent = 1;
      for (size_t i = 0; i < sizes.size(); ++i)
        if (sizes[i] > 0) extent += (sizes[i] - 1) * strides[i];
      Tensor pos = as_strided(arange(rel, rel + extent, 1, TensorOptions(kInt64).device(c.grad().device())), sizes,
                              strides, 0)
                       .reshape({-1});
      Tensor flat = zeros({numel_of(in)}, TensorOptions(c.grad().dtype()).device(c.grad().device()));
      return tensor_list{index_add(flat, 0, pos, c.grad().reshape({-1})).view(in)};
    });
  }
  return out;
}

// ---- Tensor methods ----
Tensor Tensor::view(const Shape& s) const { return wick::view(*this, s); }
Tensor Tensor::reshape(const Shape& s) const { return wick::reshape(*this, s); }
Tensor Tensor::permute(const std::vector<int64_t>& d) const { return wick::permute(*this, d); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return wick::transpose(*this, a, b); }
Tensor Tensor::t() const {
  WICK_CHECK(dim() <= 2, "t: expects a tensor with <= 2 dimensions, but got ", dim(), "-d (use transpose or mT)");
  return dim() < 2 ? *this : wick::transpose(*this, 0, 1);
}
Tensor Tensor::slice(int64_t d, std::optional<int64_t> s, std::optional<int64_t> e, int64_t st) const {
  return wick::slice(*this, d, s, e, st);
}
Tensor Tensor::narrow(int64_t d, int64_t s, int64_t l) const { return wick::narrow(*this, d, s, l); }
Tensor Tensor::select(int64_t d, int64_t i) const { return wick::select(*this, d, i); }
Tensor Tensor::expand(const Shape& s) const { return wick::expand(*this, s); }
Tensor Tensor::squeeze() const { return wick::squeeze(*this); }
Tensor Tensor::squeeze(int64_t d) const { return wick::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return wick::unsqueeze(*this, d); }
Tensor Tensor::flatten(int64_t s, int64_t e) const { return wick::flatten(*this, s, e); }
Tensor Tensor::unflatten(int64_t d, const Shape& s) const { return wick::unflatten(*this, d, s); }
Tensor Tensor::diagonal(int64_t o, int64_t a, int64_t b) const { return wick::diagonal(*this, o, a, b); }
Tensor Tensor::as_strided(const Shape& s, const Shape& st, std::optional<int64_t> o) const {
  return wick::as_strided(*this, s, st, o);
}

}  // namespace wick
