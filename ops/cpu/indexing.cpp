// Indexing kernels.
//
// Along-a-dim ops (index_select, index_add, gather, scatter) iterate over the
// positions of their iteration shape with the `dim` coordinate held at 0 —
// the "rows" of the strided loop planner in ops/cpu/loops.h — and walk `dim`
// themselves:
//
//   for each row (parallel):            r runs over the other dims
//     for k in [0, K):                  K = index size along dim
//       out[r, k] = x[r, index[k]]      (index_select; gather reads index[r, k])
//
// The loop order inside a row is picked so the innermost loop touches
// adjacent memory: k outer when the row is the inner (contiguous) direction,
// r outer when `dim` is. Reads (index_select, gather) may also split k
// across threads; writes (index_add, scatter) split only r, because two
// positions with different r never write the same element however the
// indices repeat, while two different k may. That makes the accumulating
// kernels race-free and deterministic without atomics.
//
// Advanced indexing (index, index_put) turns the indexed dims into one table
// of element offsets, off[b] = sum_k index_k[b] * x.stride(dims[k]), computed
// (and bounds-checked) once; then out[p, b, q] = x[pre[p] + off[b] + post[q]]
// is a row copy per (p, b) (contiguous when the trailing dims are). index_put
// parallelizes over (p, q) and walks b serially, for the same reason as above.
//
// Mask ops (masked_select, masked_scatter, nonzero) are two passes over
// contiguous chunks: count per chunk, prefix-sum the counts, then write, so
// each chunk knows where its output starts.
//
// All of these are memory-bound: one read and one write per element moved
// (plus one index read), so the target is memcpy bandwidth.
#include "ops/cpu/indexing.h"

#include <algorithm>
#include <optional>

#include "autograd/grad_mode.h"
#include "ops/cpu/loops.h"
#include "ops/creation.h"
#include "tensor/parallel.h"

namespace wick::cpu {

namespace {

[[noreturn]] void out_of_bounds(const char* op, int64_t i, int64_t dim, int64_t n) {
  WICK_FAIL(op, ": index ", i, " is out of bounds for dimension ", dim, " with size ", n);
}

// An index that must lie in [0, n) (gather, scatter, index_select, ...).
inline int64_t check_index(int64_t i, int64_t n, const char* op, int64_t dim) {
  if (i < 0 || i >= n) [[unlikely]]
    out_of_bounds(op, i, dim, n);
  return i;
}

// An index in [-n, n), negatives counting from the end (advanced indexing).
inline int64_t wrap_index(int64_t i, int64_t n, const char* op, int64_t dim) {
  if (i < -n || i >= n) [[unlikely]]
    out_of_bounds(op, i, dim, n);
  return i < 0 ? i + n : i;
}

const int64_t* index_data(const Tensor& index) {
  WICK_CHECK(index.dtype() == kInt64, "indexing kernel: expected an int64 index, got ", index.dtype());
  return static_cast<const int64_t*>(index.data_ptr_raw());
}

// A 1-D index read linearly.
const int64_t* flat_index_data(const Tensor& index) {
  WICK_CHECK(index.dim() <= 1 && index.is_contiguous(), "indexing kernel: expected a contiguous 1-D index");
  return index_data(index);
}

template <typename T>
inline T add_values(T a, T b) {
  if constexpr (std::is_same_v<T, bool>)
    return a || b;
  else
    return static_cast<T>(a + b);
}

// Runs body(ptrs, n, row_strides) over the rows of `shape` with coordinate
// `dim` fixed at 0; operand k is tensors[k] seen with its own strides (its
// sizes may exceed `shape`, as for gather's x).
template <size_t N, typename Body>
void for_each_dim_row(const Shape& shape, int64_t dim, const std::array<const Tensor*, N>& tensors, Body&& body) {
  Shape s = shape;
  s[dim] = 1;
  std::array<Shape, N> strides;
  std::array<int64_t, N> esize;
  std::array<char*, N> base;
  for (size_t k = 0; k < N; ++k) {
    strides[k] = tensors[k]->strides();
    esize[k] = static_cast<int64_t>(tensors[k]->element_size());
    base[k] = static_cast<char*>(tensors[k]->data_ptr_raw());
  }
  for_each_row<N>(make_plan<N>(s, strides, esize), base, body);
}

// Whether a row (stride row_stride, n elements) is the inner direction
// compared with the dim walk (stride dim_stride, K elements): then the k
// loop goes outside.
inline bool row_is_inner(int64_t row_stride, int64_t n, int64_t dim_stride, int64_t K) {
  if (n <= 1 || K <= 1) return true;
  return std::abs(row_stride) <= std::abs(dim_stride);
}

inline int64_t grain_for(int64_t work_per_iter) { return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(work_per_iter, 1)); }

}  // namespace

// ---------------------------------------------------------------------------
// index_select / index_add

void index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index, const char* op) {
  const int64_t m = index.numel();
  const int64_t* idx = flat_index_data(index);
  const int64_t n = x.size(dim);
  for (int64_t k = 0; k < m; ++k) check_index(idx[k], n, op, dim);
  if (out.numel() == 0) return;
  WICK_DISPATCH_ALL(x.dtype(), op, [&]<typename T>() {
    const int64_t od = out.stride(dim), xd = x.stride(dim);  // elements
    for_each_dim_row<2>(out.sizes(), dim, {&out, &x},
                        [&](const std::array<char*, 2>& p, int64_t rn, const std::array<int64_t, 2>& s) {
      T* o = reinterpret_cast<T*>(p[0]);
      const T* xp = reinterpret_cast<const T*>(p[1]);
      const int64_t os = s[0] / int64_t(sizeof(T)), xs = s[1] / int64_t(sizeof(T));
      if (row_is_inner(os, rn, od, m)) {
        // One row copy per index (a memcpy when both rows are contiguous).
        parallel_for(0, m, grain_for(rn), [&](int64_t kb, int64_t ke) {
          for (int64_t k = kb; k < ke; ++k) {
            T* dst = o + k * od;
            const T* src = xp + idx[k] * xd;
            if (os == 1 && xs == 1) {
              std::copy_n(src, rn, dst);
            } else {
              for (int64_t r = 0; r < rn; ++r) dst[r * os] = src[r * xs];
            }
          }
        });
      } else {
        parallel_for(0, rn, grain_for(m), [&](int64_t rb, int64_t re) {
          for (int64_t r = rb; r < re; ++r) {
            T* dst = o + r * os;
            const T* src = xp + r * xs;
            for (int64_t k = 0; k < m; ++k) dst[k * od] = src[idx[k] * xd];
          }
        });
      }
    });
  });
}

void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t m = index.numel();
  const int64_t* idx = flat_index_data(index);
  const int64_t n = out.size(dim);
  for (int64_t k = 0; k < m; ++k) check_index(idx[k], n, "index_add", dim);
  if (src.numel() == 0) return;
  WICK_DISPATCH_ALL(out.dtype(), "index_add", [&]<typename T>() {
    const int64_t od = out.stride(dim), sd = src.stride(dim);  // elements
    for_each_dim_row<2>(src.sizes(), dim, {&out, &src},
                        [&](const std::array<char*, 2>& p, int64_t rn, const std::array<int64_t, 2>& s) {
      T* o = reinterpret_cast<T*>(p[0]);
      const T* sp = reinterpret_cast<const T*>(p[1]);
      const int64_t os = s[0] / int64_t(sizeof(T)), ss = s[1] / int64_t(sizeof(T));
      const bool k_outer = row_is_inner(os, rn, od, m);
      // Threads split r only: repeated indices then add into one element from one thread, in order.
      parallel_for(0, rn, grain_for(m), [&](int64_t rb, int64_t re) {
        if (k_outer) {
          for (int64_t k = 0; k < m; ++k) {
            T* dst = o + idx[k] * od;
            const T* add = sp + k * sd;
            if (os == 1 && ss == 1) {
              for (int64_t r = rb; r < re; ++r) dst[r] = add_values(dst[r], add[r]);
            } else {
              for (int64_t r = rb; r < re; ++r) dst[r * os] = add_values(dst[r * os], add[r * ss]);
            }
          }
        } else {
          for (int64_t r = rb; r < re; ++r) {
            T* dst = o + r * os;
            const T* add = sp + r * ss;
            for (int64_t k = 0; k < m; ++k) dst[idx[k] * od] = add_values(dst[idx[k] * od], add[k * sd]);
          }
        }
      });
    });
  });
}

// ---------------------------------------------------------------------------
// gather / scatter

namespace {

// One line of gather: len elements, out/x/index advancing by os/xs/is
// elements per step, x jumping by xjump per index unit. The unit-stride case
// is spelled out so it compiles to a tight loop.
template <typename T>
void gather_line(T* o, int64_t os, const T* x, int64_t xs, const int64_t* ix, int64_t is, int64_t len, int64_t xjump,
                 int64_t n, int64_t dim) {
  if (os == 1 && is == 1) {
    for (int64_t e = 0; e < len; ++e) o[e] = x[e * xs + check_index(ix[e], n, "gather", dim) * xjump];
  } else {
    for (int64_t e = 0; e < len; ++e) o[e * os] = x[e * xs + check_index(ix[e * is], n, "gather", dim) * xjump];
  }
}

// One line of scatter: out[index[e] * ojump + e * os] = combine(old, src[e * ss]).
template <typename T, typename Combine>
void scatter_line(T* o, int64_t os, const T* src, int64_t ss, const int64_t* ix, int64_t is, int64_t len,
                  int64_t ojump, int64_t n, int64_t dim, const char* op, Combine combine) {
  for (int64_t e = 0; e < len; ++e) {
    T& d = o[e * os + check_index(ix[e * is], n, op, dim) * ojump];
    d = combine(d, src[e * ss]);
  }
}

}  // namespace

void gather(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  index_data(index);
  if (out.numel() == 0) return;
  const int64_t K = index.size(dim);
  const int64_t n = x.size(dim);
  WICK_DISPATCH_ALL(x.dtype(), "gather", [&]<typename T>() {
    const int64_t od = out.stride(dim), xd = x.stride(dim), id = index.stride(dim);  // elements
    for_each_dim_row<3>(index.sizes(), dim, {&out, &x, &index},
                        [&](const std::array<char*, 3>& p, int64_t rn, const std::array<int64_t, 3>& s) {
      T* o = reinterpret_cast<T*>(p[0]);
      const T* xp = reinterpret_cast<const T*>(p[1]);
      const int64_t* ip = reinterpret_cast<const int64_t*>(p[2]);
      const int64_t os = s[0] / int64_t(sizeof(T)), xs = s[1] / int64_t(sizeof(T)), is = s[2] / 8;
      if (row_is_inner(os, rn, od, K)) {
        // Lines along the row, one per k.
        parallel_for(0, K, grain_for(rn), [&](int64_t kb, int64_t ke) {
          for (int64_t k = kb; k < ke; ++k) gather_line(o + k * od, os, xp, xs, ip + k * id, is, rn, xd, n, dim);
        });
      } else {
        // Lines along dim, one per row position r.
        parallel_for(0, rn, grain_for(K), [&](int64_t rb, int64_t re) {
          for (int64_t r = rb; r < re; ++r) gather_line(o + r * os, od, xp + r * xs, 0, ip + r * is, id, K, xd, n, dim);
        });
      }
    });
  });
}

namespace {
// out[r, index[r, k]] = combine(old, src[r, k]) over index's shape; threads split r only.
template <typename T, typename Combine>
void scatter_impl(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, const char* op,
                  Combine combine) {
  const int64_t K = index.size(dim);
  const int64_t n = out.size(dim);
  const int64_t od = out.stride(dim), sd = src.stride(dim), id = index.stride(dim);  // elements
  for_each_dim_row<3>(index.sizes(), dim, {&out, &src, &index},
                      [&](const std::array<char*, 3>& p, int64_t rn, const std::array<int64_t, 3>& s) {
    T* o = reinterpret_cast<T*>(p[0]);
    const T* sp = reinterpret_cast<const T*>(p[1]);
    const int64_t* ip = reinterpret_cast<const int64_t*>(p[2]);
    const int64_t os = s[0] / int64_t(sizeof(T)), ss = s[1] / int64_t(sizeof(T)), is = s[2] / 8;
    const bool k_outer = row_is_inner(os, rn, od, K);
    parallel_for(0, rn, grain_for(K), [&](int64_t rb, int64_t re) {
      if (k_outer) {
        for (int64_t k = 0; k < K; ++k)
          scatter_line(o + rb * os, os, sp + rb * ss + k * sd, ss, ip + rb * is + k * id, is, re - rb, od, n, dim, op,
                       combine);
      } else {
        for (int64_t r = rb; r < re; ++r)
          scatter_line(o + r * os, 0, sp + r * ss, sd, ip + r * is, id, K, od, n, dim, op, combine);
      }
    });
  });
}
}  // namespace

void scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool add) {
  index_data(index);
  if (index.numel() == 0) return;
  const char* op = add ? "scatter_add" : "scatter";
  WICK_DISPATCH_ALL(out.dtype(), op, [&]<typename T>() {
    if (add)
      scatter_impl<T>(out, dim, index, src, op, [](T a, T b) { return add_values(a, b); });
    else
      scatter_impl<T>(out, dim, index, src, op, [](T, T b) { return b; });
  });
}

void scatter_fill(const Tensor& out, int64_t dim, const Tensor& index, const Scalar& value) {
  NoGradGuard ng;
  // The value as a source of index's shape with zero strides: one element, no copy.
  scatter(out, dim, index, full(Shape{}, value, TensorOptions(out.dtype())).expand(index.sizes()), /*add=*/false);
}

// ---------------------------------------------------------------------------
// masks: two passes over contiguous chunks

namespace {

// [0, n) cut into at most get_num_threads() chunks of at least kParallelGrain.
struct Chunks {
  int64_t n, count, per;
  explicit Chunks(int64_t total) : n(total) {
    count = std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), (n + kParallelGrain - 1) / kParallelGrain));
    per = (n + count - 1) / count;
  }
  int64_t begin(int64_t c) const { return std::min(n, c * per); }
  int64_t end(int64_t c) const { return std::min(n, (c + 1) * per); }
};

// starts[c] = number of true predicate values before chunk c; starts[count] = total.
template <typename Pred>
std::vector<int64_t> chunk_starts(const Chunks& ch, Pred pred) {
  std::vector<int64_t> starts(ch.count + 1, 0);
  parallel_for(0, ch.count, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      int64_t cnt = 0;
      for (int64_t i = ch.begin(c); i < ch.end(c); ++i) cnt += pred(i) ? 1 : 0;
      starts[c + 1] = cnt;
    }
  });
  for (int64_t c = 0; c < ch.count; ++c) starts[c + 1] += starts[c];
  return starts;
}

const bool* bool_data(const Tensor& mask) {
  WICK_CHECK(mask.dtype() == kBool && mask.is_contiguous(), "mask kernel: expected a contiguous bool mask");
  return static_cast<const bool*>(mask.data_ptr_raw());
}

}  // namespace

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  NoGradGuard ng;
  Tensor xc = x.contiguous(), mc = mask.contiguous();
  const bool* m = bool_data(mc);
  Chunks ch(mc.numel());
  std::vector<int64_t> starts = chunk_starts(ch, [m](int64_t i) { return m[i]; });
  Tensor out = empty({starts.back()}, x.dtype());
  if (starts.back() == 0) return out;
  WICK_DISPATCH_ALL(x.dtype(), "masked_select", [&]<typename T>() {
    const T* xs = xc.data_ptr<T>();
    T* o = out.data_ptr<T>();
    parallel_for(0, ch.count, 1, [&](int64_t cb, int64_t ce) {
      for (int64_t c = cb; c < ce; ++c) {
        int64_t w = starts[c];
        for (int64_t i = ch.begin(c); i < ch.end(c); ++i)
          if (m[i]) o[w++] = xs[i];
      }
    });
  });
  return out;
}

void masked_scatter(const Tensor& out, const Tensor& mask, const Tensor& src) {
  NoGradGuard ng;
  Tensor mc = mask.contiguous(), sc = src.contiguous();
  const bool* m = bool_data(mc);
  WICK_CHECK(out.is_contiguous() && out.numel() == mc.numel(), "masked_scatter kernel: output and mask differ");
  Chunks ch(mc.numel());
  std::vector<int64_t> starts = chunk_starts(ch, [m](int64_t i) { return m[i]; });
  WICK_CHECK(sc.numel() >= starts.back(), "masked_scatter: source has ", sc.numel(), " elements but the mask has ",
             starts.back(), " true entries");
  WICK_DISPATCH_ALL(out.dtype(), "masked_scatter", [&]<typename T>() {
    const T* s = sc.data_ptr<T>();
    T* o = out.data_ptr<T>();
    parallel_for(0, ch.count, 1, [&](int64_t cb, int64_t ce) {
      for (int64_t c = cb; c < ce; ++c) {
        int64_t rd = starts[c];
        for (int64_t i = ch.begin(c); i < ch.end(c); ++i)
          if (m[i]) o[i] = s[rd++];
      }
    });
  });
}

Tensor nonzero(const Tensor& x) {
  NoGradGuard ng;
  Tensor xc = x.contiguous();
  const int64_t nd = x.dim();
  const Shape& sizes = x.sizes();
  return WICK_DISPATCH_ALL(x.dtype(), "nonzero", [&]<typename T>() {
    const T* xs = xc.numel() ? xc.data_ptr<T>() : nullptr;
    Chunks ch(xc.numel());
    std::vector<int64_t> starts = chunk_starts(ch, [xs](int64_t i) { return xs[i] != T(0); });
    Tensor out = empty({starts.back(), nd}, kInt64);
    if (starts.back() == 0 || nd == 0) return out;
    int64_t* o = out.data_ptr<int64_t>();
    parallel_for(0, ch.count, 1, [&](int64_t cb, int64_t ce) {
      std::vector<int64_t> coord(nd);
      for (int64_t c = cb; c < ce; ++c) {
        // Coordinates of the chunk's first element, then an odometer.
        int64_t lin = ch.begin(c);
        for (int64_t d = nd - 1; d >= 0; --d) {
          coord[d] = sizes[d] ? lin % sizes[d] : 0;
          lin = sizes[d] ? lin / sizes[d] : 0;
        }
        int64_t* w = o + starts[c] * nd;
        for (int64_t i = ch.begin(c); i < ch.end(c); ++i) {
          if (xs[i] != T(0)) {
            std::copy(coord.begin(), coord.end(), w);
            w += nd;
          }
          for (int64_t d = nd - 1; d >= 0; --d) {
            if (++coord[d] < sizes[d]) break;
            coord[d] = 0;
          }
        }
      }
    });
    return out;
  });
}

// ---------------------------------------------------------------------------
// advanced indexing

namespace {

int64_t sizes_product(const Tensor& x, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= x.size(d);
  return n;
}

// Element offsets of every position of x's `dims`, in row-major order.
std::vector<int64_t> dim_offsets(const Tensor& x, const std::vector<int64_t>& dims) {
  const int64_t n = sizes_product(x, dims);
  std::vector<int64_t> off(static_cast<size_t>(n), 0);
  const int64_t nd = static_cast<int64_t>(dims.size());
  std::vector<int64_t> coord(nd, 0);
  int64_t cur = 0;
  for (int64_t i = 0; i < n; ++i) {
    off[i] = cur;
    for (int64_t d = nd - 1; d >= 0; --d) {
      cur += x.stride(dims[d]);
      if (++coord[d] < x.size(dims[d])) break;
      cur -= x.stride(dims[d]) * x.size(dims[d]);
      coord[d] = 0;
    }
  }
  return off;
}

// If the dims walk memory with a single stride (as one merged dim), that stride.
std::optional<int64_t> single_stride(const Tensor& x, const std::vector<int64_t>& dims) {
  std::optional<int64_t> stride;
  int64_t inner_size = 1;
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) {
    const int64_t sz = x.size(*it), st = x.stride(*it);
    if (sz == 1) continue;
    if (!stride) {
      stride = st;
    } else if (st != *stride * inner_size) {
      return std::nullopt;
    }
    inner_size *= sz;
  }
  return stride.value_or(1);
}

// off[b] = sum_k wrap(indices[k][b]) * x.stride(dims[k]); every index checked.
std::vector<int64_t> indexed_offsets(const Shape& x_sizes, const Shape& x_strides, const IndexSpec& spec,
                                     const char* op) {
  const int64_t nb = numel_of(spec.broadcast_shape);
  std::vector<int64_t> off(static_cast<size_t>(nb), 0);
  for (size_t k = 0; k < spec.indices.size(); ++k) {
    const Tensor& ix = spec.indices[k];
    WICK_CHECK(ix.sizes() == spec.broadcast_shape && ix.is_contiguous(), op,
               " kernel: index tensors must be contiguous of the broadcast shape");
    const int64_t* p = index_data(ix);
    const int64_t d = spec.dims[k], n = x_sizes[d], st = x_strides[d];
    parallel_for(0, nb, kParallelGrain, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) off[b] += wrap_index(p[b], n, op, d) * st;
    });
  }
  return off;
}

}  // namespace

void index(const Tensor& out, const Tensor& x, const IndexSpec& spec) {
  const std::vector<int64_t> boff = indexed_offsets(x.sizes(), x.strides(), spec, "index");
  if (out.numel() == 0) return;
  const std::vector<int64_t> pre = dim_offsets(x, spec.pre);
  const std::optional<int64_t> qs = single_stride(x, spec.post);
  const std::vector<int64_t> post = qs ? std::vector<int64_t>{} : dim_offsets(x, spec.post);
  const int64_t P = static_cast<int64_t>(pre.size()), NB = static_cast<int64_t>(boff.size());
  const int64_t Q = sizes_product(x, spec.post);
  WICK_CHECK(out.is_contiguous() && out.numel() == P * NB * Q, "index kernel: bad output");
  WICK_DISPATCH_ALL(x.dtype(), "index", [&]<typename T>() {
    const T* xs = static_cast<const T*>(x.data_ptr_raw());
    T* o = out.data_ptr<T>();
    parallel_for(0, P * NB, grain_for(Q), [&](int64_t rb, int64_t re) {
      for (int64_t row = rb; row < re; ++row) {
        const T* src = xs + pre[row / NB] + boff[row % NB];
        T* dst = o + row * Q;
        if (!qs) {
          for (int64_t q = 0; q < Q; ++q) dst[q] = src[post[q]];
        } else if (*qs == 1) {
          std::copy_n(src, Q, dst);
        } else {
          const int64_t s = *qs;
          for (int64_t q = 0; q < Q; ++q) dst[q] = src[q * s];
        }
      }
    });
  });
}

void index_put(const Tensor& out, const IndexSpec& spec, const Tensor& values, bool accumulate) {
  WICK_CHECK(out.is_contiguous(), "index_put kernel: output must be contiguous");
  const std::vector<int64_t> boff = indexed_offsets(out.sizes(), out.strides(), spec, "index_put");
  const std::vector<int64_t> pre = dim_offsets(out, spec.pre);
  const std::optional<int64_t> qs = single_stride(out, spec.post);
  const std::vector<int64_t> post = qs ? std::vector<int64_t>{} : dim_offsets(out, spec.post);
  const int64_t P = static_cast<int64_t>(pre.size()), NB = static_cast<int64_t>(boff.size());
  const int64_t Q = sizes_product(out, spec.post);
  if (P * NB * Q == 0) return;
  WICK_CHECK(values.is_contiguous() && values.numel() == P * NB * Q && values.dtype() == out.dtype(),
             "index_put kernel: bad values");
  // Tasks are (p, chunk of q); each walks every b in order. Distinct (p, q)
  // never address one element, so repeated indices stay in one thread.
  // Whole rows per task when there are enough of them; otherwise chunks of q
  // long enough (>= 64 elements) to keep the writes in whole cache lines.
  const int64_t threads = get_num_threads();
  const int64_t qc = P >= threads ? Q : std::clamp<int64_t>((Q + threads - 1) / threads, std::min<int64_t>(Q, 64), Q);
  const int64_t nqc = (Q + qc - 1) / qc;
  WICK_DISPATCH_ALL(out.dtype(), "index_put", [&]<typename T>() {
    T* o = out.data_ptr<T>();
    const T* v = values.data_ptr<T>();
    parallel_for(0, P * nqc, grain_for(NB * qc), [&](int64_t tb, int64_t te) {
      for (int64_t t = tb; t < te; ++t) {
        const int64_t p = t / nqc, q0 = (t % nqc) * qc, q1 = std::min(Q, q0 + qc);
        for (int64_t b = 0; b < NB; ++b) {
          T* dst = o + pre[p] + boff[b];
          const T* src = v + (p * NB + b) * Q;
          auto put = [&](T& d, T v) { d = accumulate ? add_values(d, v) : v; };
          if (qs) {
            const int64_t st = *qs;
            for (int64_t q = q0; q < q1; ++q) put(dst[q * st], src[q]);
          } else {
            for (int64_t q = q0; q < q1; ++q) put(dst[post[q]], src[q]);
          }
        }
      }
    });
  });
}

// ---------------------------------------------------------------------------
// one_hot

void one_hot(const Tensor& out, const Tensor& index, int64_t num_classes) {
  const int64_t n = index.numel();
  const int64_t* idx = flat_index_data(index);
  WICK_CHECK(out.is_contiguous() && out.numel() == n * num_classes, "one_hot kernel: bad output");
  int64_t* o = out.data_ptr<int64_t>();
  parallel_for(0, n, kParallelGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i * num_classes + check_index(idx[i], num_classes, "one_hot", 0)] = 1;
  });
}

}  // namespace wick::cpu
