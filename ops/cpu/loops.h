// Elementwise iteration over strided tensors: the engine under every CPU
// elementwise kernel (unary, binary, ternary, copy with conversion).
//
// All operands are first given the output's shape (broadcast inputs have
// stride 0 in the broadcast dims). Adjacent dims that are contiguous with
// each other in *every* operand are merged, so a contiguous tensor is one
// flat loop and a transposed one two. The innermost dim becomes a "row":
// the body is called once per row with the row's base pointers and the
// operands' strides within it. Rows are split across threads when the work
// is large. When every operand has unit stride in the row, kernels take a
// plain `for (i < n) out[i] = f(a[i])` path that the compiler vectorizes
// (for binary ops also when one operand is a broadcast scalar in the row).
// unary_array_loop / binary_array_loop hand whole unit-stride runs to an
// array kernel (vec_math.h) and gather strided rows through an L1 buffer.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "tensor/parallel.h"
#include "tensor/tensor.h"

namespace wick::cpu {

// Work below this many elements runs on one thread.
inline constexpr int64_t kParallelGrain = 32768;

template <size_t N>
struct LoopPlan {
  Shape sizes;                        // merged dims, innermost last; empty => one element
  std::array<Shape, N> strides;       // per operand, in bytes
};

// Builds a plan for iterating `shape` with the given per-operand strides
// (in elements) and element sizes.
template <size_t N>
LoopPlan<N> make_plan(const Shape& shape, const std::array<Shape, N>& strides_elems,
                      const std::array<int64_t, N>& elem_size) {
  LoopPlan<N> p;
  // Drop size-1 dims, convert to bytes.
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    p.sizes.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k) p.strides[k].push_back(strides_elems[k][d] * elem_size[k]);
  }
  // Merge dim d-1 into d when, for every operand, stride[d-1] == stride[d] * size[d].
  for (int64_t d = static_cast<int64_t>(p.sizes.size()) - 1; d > 0; --d) {
    bool mergeable = true;
    for (size_t k = 0; k < N && mergeable; ++k)
      mergeable = p.strides[k][d - 1] == p.strides[k][d] * p.sizes[d];
    if (!mergeable) continue;
    p.sizes[d - 1] *= p.sizes[d];
    p.sizes.erase(p.sizes.begin() + d);
    for (size_t k = 0; k < N; ++k) {
      p.strides[k][d - 1] = p.strides[k][d];
      p.strides[k].erase(p.strides[k].begin() + d);
    }
  }
  return p;
}

// Calls body(ptrs, n, inner_strides) for every row of the plan; ptrs are the
// row's base addresses. Parallel over rows (or within a single long row).
template <size_t N, typename Body>
void for_each_row(const LoopPlan<N>& p, const std::array<char*, N>& base, Body&& body) {
  const int64_t nd = static_cast<int64_t>(p.sizes.size());
  if (nd == 0) {
    std::array<int64_t, N> zero{};
    body(base, int64_t{1}, zero);
    return;
  }
  const int64_t inner = p.sizes[nd - 1];
  std::array<int64_t, N> inner_stride;
  for (size_t k = 0; k < N; ++k) inner_stride[k] = p.strides[k][nd - 1];
  int64_t rows = 1;
  for (int64_t d = 0; d < nd - 1; ++d) rows *= p.sizes[d];

  if (rows == 1) {
    // One long row: split it into chunks.
    parallel_for(0, inner, kParallelGrain, [&](int64_t b, int64_t e) {
      std::array<char*, N> ptr;
      for (size_t k = 0; k < N; ++k) ptr[k] = base[k] + b * inner_stride[k];
      body(ptr, e - b, inner_stride);
    });
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(inner, 1));
  parallel_for(0, rows, grain, [&](int64_t rb, int64_t re) {
    // Multi-index of row rb over the outer dims.
    std::vector<int64_t> idx(nd - 1, 0);
    int64_t r = rb;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d] = r % p.sizes[d];
      r /= p.sizes[d];
    }
    std::array<char*, N> ptr;
    for (size_t k = 0; k < N; ++k) {
      ptr[k] = base[k];
      for (int64_t d = 0; d < nd - 1; ++d) ptr[k] += idx[d] * p.strides[k][d];
    }
    for (int64_t row = rb; row < re; ++row) {
      body(ptr, inner, inner_stride);
      // Advance the multi-index (odometer).
      for (int64_t d = nd - 2; d >= 0; --d) {
        for (size_t k = 0; k < N; ++k) ptr[k] += p.strides[k][d];
        if (++idx[d] < p.sizes[d]) break;
        for (size_t k = 0; k < N; ++k) ptr[k] -= p.strides[k][d] * p.sizes[d];
        idx[d] = 0;
      }
    }
  });
}

// Strides of `t` as seen from a tensor of shape `out_shape` (broadcasting:
// missing leading dims and size-1 dims get stride 0).
inline Shape broadcast_strides(const Tensor& t, const Shape& out_shape) {
  Shape st(out_shape.size(), 0);
  const int64_t off = static_cast<int64_t>(out_shape.size()) - t.dim();
  for (int64_t d = 0; d < t.dim(); ++d) st[off + d] = t.size(d) == 1 ? 0 : t.stride(d);
  return st;
}

// out[i] = f(a[i]); `out` is written with its own strides, `a` is broadcast to out's shape.
template <typename O, typename A, typename F>
void unary_loop(const Tensor& out, const Tensor& a, F f) {
  if (out.numel() == 0) return;
  auto plan = make_plan<2>(out.sizes(), {out.strides(), broadcast_strides(a, out.sizes())},
                           {int64_t(sizeof(O)), int64_t(sizeof(A))});
  for_each_row<2>(plan, {static_cast<char*>(out.data_ptr_raw()), static_cast<char*>(a.data_ptr_raw())},
                  [&](const std::array<char*, 2>& p, int64_t n, const std::array<int64_t, 2>& s) {
                    if (s[0] == sizeof(O) && s[1] == sizeof(A)) {
                      O* o = reinterpret_cast<O*>(p[0]);
                      const A* x = reinterpret_cast<const A*>(p[1]);
                      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
                    } else {
                      for (int64_t i = 0; i < n; ++i)
                        *reinterpret_cast<O*>(p[0] + i * s[0]) = f(*reinterpret_cast<const A*>(p[1] + i * s[1]));
                    }
                  });
}

// out[i] = f(a[i], b[i]) with broadcasting.
template <typename O, typename A, typename B, typename F>
void binary_loop(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  if (out.numel() == 0) return;
  const Shape& sh = out.sizes();
  auto plan = make_plan<3>(sh, {out.strides(), broadcast_strides(a, sh), broadcast_strides(b, sh)},
                           {int64_t(sizeof(O)), int64_t(sizeof(A)), int64_t(sizeof(B))});
  for_each_row<3>(plan,
                  {static_cast<char*>(out.data_ptr_raw()), static_cast<char*>(a.data_ptr_raw()),
                   static_cast<char*>(b.data_ptr_raw())},
                  [&](const std::array<char*, 3>& p, int64_t n, const std::array<int64_t, 3>& s) {
                    O* o = reinterpret_cast<O*>(p[0]);
                    const A* x = reinterpret_cast<const A*>(p[1]);
                    const B* y = reinterpret_cast<const B*>(p[2]);
                    if (s[0] == sizeof(O) && s[1] == sizeof(A) && s[2] == sizeof(B)) {
                      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
                    } else if (s[0] == sizeof(O) && s[1] == sizeof(A) && s[2] == 0) {
                      const B yv = *y;  // tensor op scalar
                      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
                    } else if (s[0] == sizeof(O) && s[1] == 0 && s[2] == sizeof(B)) {
                      const A xv = *x;
                      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
                    } else {
                      for (int64_t i = 0; i < n; ++i)
                        *reinterpret_cast<O*>(p[0] + i * s[0]) =
                            f(*reinterpret_cast<const A*>(p[1] + i * s[1]), *reinterpret_cast<const B*>(p[2] + i * s[2]));
                    }
                  });
}

// out[i] = f(a[i], b[i], c[i]) with broadcasting.
template <typename O, typename A, typename B, typename C, typename F>
void ternary_loop(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c, F f) {
  if (out.numel() == 0) return;
  const Shape& sh = out.sizes();
  auto plan = make_plan<4>(sh, {out.strides(), broadcast_strides(a, sh), broadcast_strides(b, sh), broadcast_strides(c, sh)},
                           {int64_t(sizeof(O)), int64_t(sizeof(A)), int64_t(sizeof(B)), int64_t(sizeof(C))});
  for_each_row<4>(plan,
                  {static_cast<char*>(out.data_ptr_raw()), static_cast<char*>(a.data_ptr_raw()),
                   static_cast<char*>(b.data_ptr_raw()), static_cast<char*>(c.data_ptr_raw())},
                  [&](const std::array<char*, 4>& p, int64_t n, const std::array<int64_t, 4>& s) {
                    for (int64_t i = 0; i < n; ++i)
                      *reinterpret_cast<O*>(p[0] + i * s[0]) =
                          f(*reinterpret_cast<const A*>(p[1] + i * s[1]), *reinterpret_cast<const B*>(p[2] + i * s[2]),
                            *reinterpret_cast<const C*>(p[3] + i * s[3]));
                  });
}

// Array-kernel versions of unary_loop / binary_loop for kernels that process
// whole runs at once (the vectorized transcendentals of vec_math.h):
// f(const T* x, T* y, int64_t n) for unary, f(const T* a, const T* b, T* y, n)
// for binary. Unit-stride rows are passed straight through; strided or
// broadcast rows are gathered into stack buffers of kArrayBlock elements,
// computed there (in L1) and scattered back. In-place use (out == a) is fine.
inline constexpr int64_t kArrayBlock = 256;

template <typename T, typename F>
void unary_array_loop(const Tensor& out, const Tensor& a, F f) {
  if (out.numel() == 0) return;
  auto plan = make_plan<2>(out.sizes(), {out.strides(), broadcast_strides(a, out.sizes())},
                           {int64_t(sizeof(T)), int64_t(sizeof(T))});
  for_each_row<2>(plan, {static_cast<char*>(out.data_ptr_raw()), static_cast<char*>(a.data_ptr_raw())},
                  [&](const std::array<char*, 2>& p, int64_t n, const std::array<int64_t, 2>& s) {
                    if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
                      f(reinterpret_cast<const T*>(p[1]), reinterpret_cast<T*>(p[0]), n);
                      return;
                    }
                    T buf[kArrayBlock];
                    for (int64_t b = 0; b < n; b += kArrayBlock) {
                      const int64_t m = std::min(kArrayBlock, n - b);
                      for (int64_t i = 0; i < m; ++i) buf[i] = *reinterpret_cast<const T*>(p[1] + (b + i) * s[1]);
                      f(buf, buf, m);
                      for (int64_t i = 0; i < m; ++i) *reinterpret_cast<T*>(p[0] + (b + i) * s[0]) = buf[i];
                    }
                  });
}

template <typename T, typename F>
void binary_array_loop(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  if (out.numel() == 0) return;
  const Shape& sh = out.sizes();
  auto plan = make_plan<3>(sh, {out.strides(), broadcast_strides(a, sh), broadcast_strides(b, sh)},
                           {int64_t(sizeof(T)), int64_t(sizeof(T)), int64_t(sizeof(T))});
  for_each_row<3>(plan,
                  {static_cast<char*>(out.data_ptr_raw()), static_cast<char*>(a.data_ptr_raw()),
                   static_cast<char*>(b.data_ptr_raw())},
                  [&](const std::array<char*, 3>& p, int64_t n, const std::array<int64_t, 3>& s) {
                    if (s[0] == sizeof(T) && s[1] == sizeof(T) && s[2] == sizeof(T)) {
                      f(reinterpret_cast<const T*>(p[1]), reinterpret_cast<const T*>(p[2]), reinterpret_cast<T*>(p[0]),
                        n);
                      return;
                    }
                    T ba[kArrayBlock], bb[kArrayBlock];
                    for (int64_t k = 0; k < n; k += kArrayBlock) {
                      const int64_t m = std::min(kArrayBlock, n - k);
                      for (int64_t i = 0; i < m; ++i) {
                        ba[i] = *reinterpret_cast<const T*>(p[1] + (k + i) * s[1]);
                        bb[i] = *reinterpret_cast<const T*>(p[2] + (k + i) * s[2]);
                      }
                      f(ba, bb, ba, m);
                      for (int64_t i = 0; i < m; ++i) *reinterpret_cast<T*>(p[0] + (k + i) * s[0]) = ba[i];
                    }
                  });
}

}  // namespace wick::cpu
