// CPU kernels for cat, repeat, flip, roll and pad.
//
// Most of these ops are a copy between two strided views, so they reuse the
// strided copy of ops/cpu/fill.h (cpu::copy, built on unary_loop, which merges
// contiguous dims and vectorizes unit-stride rows):
//   cat     each input -> the slab of the output it occupies (a plain memcpy
//           of contiguous blocks when dtypes match and the input is contiguous)
//   repeat  out viewed as [r0, s0, r1, s1, ...] <- x viewed as [1, s0, 1, s1, ...]
//           broadcast (stride 0 along the repeat dims), PyTorch's trick
//   flip    out <- x seen through negative strides
//   roll    2^k block copies: each rolled dim splits into [0, n-s) and [n-s, n)
//   pad     fill with the value, then copy the overlap of x and out
// Reflect padding is an index map rather than a view, so it has its own
// row kernel: per output row, the reflected source row is found once, then the
// row is left mirror + memcpy middle + right mirror. Its backward is the
// transposed map (scatter-add), parallel over the leading (batch) planes so
// no two threads add into the same input element.
// All of these move bytes: cost is one read and one write of the output.
#include "ops/cpu/shape.h"

#include <cstring>

#include "ops/cpu/fill.h"
#include "ops/cpu/loops.h"

namespace wick::cpu {

namespace {

// An alias of base's storage with the given geometry (no autograd, internal:
// strides may be negative, which the strided loops handle).
Tensor alias(const Tensor& base, Shape sizes, Shape strides, int64_t offset) {
  return make_tensor(base.storage(), std::move(sizes), std::move(strides), offset, base.dtype());
}

int64_t prod(const Shape& s, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t i = b; i < e; ++i) p *= s[i];
  return p;
}

// Index read by output position i of a reflect-padded dim of size n.
inline int64_t reflect_index(int64_t i, int64_t n, int64_t lo) {
  int64_t p = i - lo;
  if (p < 0) return -p;
  if (p >= n) return 2 * (n - 1) - p;
  return p;
}

}  // namespace

void cat(const Tensor& out, const std::vector<Tensor>& inputs, int64_t dim) {
  if (out.numel() == 0) return;
  const Shape& os = out.sizes();
  const int64_t outer = prod(os, 0, dim);
  const int64_t inner = prod(os, dim + 1, os.size());
  const int64_t out_row = os[dim] * inner;  // elements of out per outer index
  const int64_t es = static_cast<int64_t>(out.element_size());
  char* obase = static_cast<char*>(out.data_ptr_raw());
  int64_t pos = 0;  // where the current input starts along dim
  for (const Tensor& x : inputs) {
    const int64_t len = x.size(dim);
    if (len == 0) continue;
    if (x.dtype() == out.dtype() && x.is_contiguous()) {
      // Each outer index is one contiguous block of len * inner elements.
      const int64_t block = len * inner * es;
      const char* xbase = static_cast<const char*>(x.data_ptr_raw());
      const int64_t grain = std::max<int64_t>(1, kParallelGrain * 8 / std::max<int64_t>(block, 1));
      parallel_for(0, outer, grain, [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o)
          std::memcpy(obase + (o * out_row + pos * inner) * es, xbase + o * block, static_cast<size_t>(block));
      });
    } else {
      copy(alias(out, x.sizes(), out.strides(), out.offset() + pos * inner), x);
    }
    pos += len;
  }
}

void repeat(const Tensor& out, const Tensor& x, const Shape& reps) {
  if (out.numel() == 0) return;
  const int64_t nd = static_cast<int64_t>(reps.size());
  const int64_t lead = nd - x.dim();
  Shape dst_sizes, dst_strides, src_sizes, src_strides;
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t s = d < lead ? 1 : x.size(d - lead);
    dst_sizes.insert(dst_sizes.end(), {reps[d], s});
    dst_strides.insert(dst_strides.end(), {s * out.stride(d), out.stride(d)});
    src_sizes.insert(src_sizes.end(), {1, s});
    src_strides.insert(src_strides.end(), {0, d < lead ? 0 : x.stride(d - lead)});
  }
  copy(alias(out, dst_sizes, dst_strides, out.offset()), alias(x, src_sizes, src_strides, x.offset()));
}

void flip(const Tensor& out, const Tensor& x, const std::vector<bool>& flip) {
  if (out.numel() == 0) return;
  Shape strides = x.strides();
  int64_t offset = x.offset();
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (!flip[d]) continue;
    offset += (x.size(d) - 1) * strides[d];
    strides[d] = -strides[d];
  }
  copy(out, alias(x, x.sizes(), strides, offset));
}

void roll(const Tensor& out, const Tensor& x, const Shape& shifts) {
  if (out.numel() == 0) return;
  std::vector<int64_t> rolled;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (shifts[d] != 0) rolled.push_back(d);
  // Along a rolled dim of size n with shift s: out[s:] = x[:n-s], out[:s] = x[n-s:].
  const int64_t k = static_cast<int64_t>(rolled.size());
  for (int64_t mask = 0; mask < (int64_t{1} << k); ++mask) {
    Shape sizes = x.sizes();
    int64_t ooff = out.offset(), xoff = x.offset();
    for (int64_t j = 0; j < k; ++j) {
      const int64_t d = rolled[j], n = x.size(d), s = shifts[d];
      if (mask >> j & 1) {  // the wrapped-around tail of x
        sizes[d] = s;
        xoff += (n - s) * x.stride(d);
      } else {
        sizes[d] = n - s;
        ooff += s * out.stride(d);
      }
    }
    copy(alias(out, sizes, out.strides(), ooff), alias(x, sizes, x.strides(), xoff));
  }
}

void pad_constant(const Tensor& out, const Tensor& x, const Shape& lo, const Shape& hi, const Scalar& value) {
  if (out.numel() == 0) return;
  fill(out, value);
  if (x.numel() == 0) return;
  Shape sizes(x.dim());
  int64_t ooff = out.offset(), xoff = x.offset();
  for (int64_t d = 0; d < x.dim(); ++d) {
    const int64_t ostart = std::max<int64_t>(lo[d], 0), xstart = std::max<int64_t>(-lo[d], 0);
    sizes[d] = out.size(d) - ostart - std::max<int64_t>(hi[d], 0);
    if (sizes[d] <= 0) return;  // everything was cropped away along d
    ooff += ostart * out.stride(d);
    xoff += xstart * x.stride(d);
  }
  copy(alias(out, sizes, out.strides(), ooff), alias(x, sizes, x.strides(), xoff));
}

namespace {

// Geometry shared by reflect_pad and its backward. The last k dims are
// padded; everything before them is a batch of independent planes.
struct ReflectGeom {
  int64_t k, batch, w_in, w_out, lo_w, hi_w;
  Shape n, m, lo;        // per padded dim: input size, output size, low pad
  Shape in_stride;       // per padded dim, contiguous input strides within a plane
  int64_t plane_in, plane_out, rows_per_plane;

  ReflectGeom(const Shape& in, const Shape& lo_, const Shape& hi_) : lo(lo_) {
    k = static_cast<int64_t>(lo_.size());
    const int64_t nd = static_cast<int64_t>(in.size());
    batch = prod(in, 0, nd - k);
    n.assign(in.end() - k, in.end());
    m.resize(k);
    in_stride.resize(k);
    for (int64_t j = 0; j < k; ++j) m[j] = n[j] + lo_[j] + hi_[j];
    int64_t st = 1;
    for (int64_t j = k - 1; j >= 0; --j) {
      in_stride[j] = st;
      st *= n[j];
    }
    plane_in = st;
    plane_out = prod(m, 0, k);
    w_in = n[k - 1];
    w_out = m[k - 1];
    lo_w = lo_[k - 1];
    hi_w = hi_[k - 1];
    rows_per_plane = plane_out / std::max<int64_t>(w_out, 1);
  }

  // Offset (within a plane) of the input row read by output row r of a plane.
  int64_t src_row(int64_t r) const {
    int64_t off = 0;
    for (int64_t j = k - 2; j >= 0; --j) {
      off += reflect_index(r % m[j], n[j], lo[j]) * in_stride[j];
      r /= m[j];
    }
    return off;
  }
};

}  // namespace

void reflect_pad(const Tensor& out, const Tensor& x, const Shape& lo, const Shape& hi) {
  if (out.numel() == 0) return;
  const ReflectGeom g(x.sizes(), lo, hi);
  WICK_DISPATCH_ALL(x.dtype(), "pad", [&]<typename T>() {
    const T* xp = x.data_ptr<T>();
    T* op = out.data_ptr<T>();
    const int64_t rows = g.batch * g.rows_per_plane;
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / g.w_out);
    parallel_for(0, rows, grain, [&](int64_t rb, int64_t re) {
      for (int64_t r = rb; r < re; ++r) {
        const int64_t b = r / g.rows_per_plane;
        const T* src = xp + b * g.plane_in + g.src_row(r % g.rows_per_plane);
        T* dst = op + r * g.w_out;
        for (int64_t w = 0; w < g.lo_w; ++w) dst[w] = src[g.lo_w - w];
        std::memcpy(dst + g.lo_w, src, static_cast<size_t>(g.w_in) * sizeof(T));
        for (int64_t t = 0; t < g.hi_w; ++t) dst[g.lo_w + g.w_in + t] = src[g.w_in - 2 - t];
      }
    });
  });
}

void reflect_pad_backward(const Tensor& grad_in, const Tensor& grad_out, const Shape& lo, const Shape& hi) {
  if (grad_out.numel() == 0) return;
  const ReflectGeom g(grad_in.sizes(), lo, hi);
  WICK_DISPATCH_FLOAT(grad_out.dtype(), "reflect_pad_backward", [&]<typename T>() {
    const T* gop = grad_out.data_ptr<T>();
    T* gip = grad_in.data_ptr<T>();
    // Rows of one plane may read the same input row: one thread per plane.
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(g.plane_out, 1));
    parallel_for(0, g.batch, grain, [&](int64_t bb, int64_t be) {
      for (int64_t b = bb; b < be; ++b) {
        for (int64_t r = 0; r < g.rows_per_plane; ++r) {
          T* dst = gip + b * g.plane_in + g.src_row(r);
          const T* src = gop + (b * g.rows_per_plane + r) * g.w_out;
          for (int64_t w = 0; w < g.lo_w; ++w) dst[g.lo_w - w] += src[w];
          for (int64_t i = 0; i < g.w_in; ++i) dst[i] += src[g.lo_w + i];
          for (int64_t t = 0; t < g.hi_w; ++t) dst[g.w_in - 2 - t] += src[g.lo_w + g.w_in + t];
        }
      }
    });
  });
}

}  // namespace wick::cpu
