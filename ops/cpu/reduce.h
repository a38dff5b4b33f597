// The CPU reduction engine: for every output element, fold the reduced
// sub-tensor of x. The output is produced in keepdim order (row-major over
// the kept dims), i.e. output element o is the o-th element of a contiguous
// tensor of the reduced shape.
//
// Two entry points:
//
//   reduce_each(x, dims, f)   the readable reference: f(o, each) where each(g)
//                             calls g(v) for every reduced element of output o.
//
//   reduce(x, dims, r)        the fast engine, driven by a Reducer r:
//       using Acc = ...;                         accumulator
//       static constexpr int kLanes;             independent accumulators per row
//       Acc  identity() const;
//       void step(Acc&, T v, int64_t i) const;   i = row-major index of v among the reduced elements
//       void merge(Acc& a, const Acc& b) const;  b folded elements that come after a's
//       void finish(int64_t o, const Acc&) const;  writes output o
//
// Algorithm of reduce(). Size-1 dims are dropped and neighbouring dims of the
// same kind (both kept / both reduced) that are contiguous with each other
// are merged, so e.g. sum over the last two dims of a contiguous [B, M, N]
// tensor is B rows of M*N contiguous elements. Then one of two layouts:
//
//   rows     (the innermost dim is reduced): each output folds its rows; a
//            unit-stride row is folded with kLanes interleaved accumulators so
//            the compiler can vectorize it (sum over the last dim).
//   columns  (the innermost dim is kept with unit stride): a tile of adjacent
//            outputs is accumulated row by row, acc[j] += x[r, j], a unit-
//            stride loop over j (sum over dim 0 of [N, D]: the bias gradient).
//
// Parallelism: over output elements when there are many; when there are
// fewer outputs than threads (a full sum of a big tensor), or a few hundred
// outputs in the column layout (a bias gradient), the reduced index range is
// split among threads instead and the partial accumulators are merged in
// order (so index-sensitive reducers such as argmax stay exact).
//
// Cost: one read of x (memory-bound: ~bytes(x) / bandwidth), plus
// O(n_out * threads) accumulators in the split case.
#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "ops/cpu/loops.h"
#include "ops/cpu/reduce_plan.h"

namespace wick::cpu {

// ---------------------------------------------------------------------------
// The readable reference.

// reduce_each(x, dims, f): f(o, each) where o is the flat output index and
// each(g) calls g(value) for every reduced element in row-major order.
template <typename T, typename F>
void reduce_each(const Tensor& x, const std::vector<int64_t>& dims, F f) {
  const int64_t nd = x.dim();
  std::vector<bool> red(nd, false);
  for (int64_t d : dims) red[d] = true;
  Shape kept_sizes, kept_strides, red_sizes, red_strides;
  for (int64_t d = 0; d < nd; ++d) {
    if (red[d]) {
      red_sizes.push_back(x.size(d));
      red_strides.push_back(x.stride(d));
    } else {
      kept_sizes.push_back(x.size(d));
      kept_strides.push_back(x.stride(d));
    }
  }
  const int64_t n_out = numel_of(kept_sizes);
  const int64_t n_red = numel_of(red_sizes);
  const T* base = x.numel() ? static_cast<const T*>(x.data_ptr_raw()) : nullptr;
  // Merge the reduced dims' innermost one into a (count, stride) loop.
  const int64_t rnd = static_cast<int64_t>(red_sizes.size());
  const int64_t inner_n = rnd ? red_sizes[rnd - 1] : 1;
  const int64_t inner_s = rnd ? red_strides[rnd - 1] : 0;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n_red, 1));
  parallel_for(0, n_out, grain, [&](int64_t ob, int64_t oe) {
    std::vector<int64_t> idx(red_sizes.size());
    for (int64_t o = ob; o < oe; ++o) {
      int64_t off = 0, r = o;
      for (int64_t d = static_cast<int64_t>(kept_sizes.size()) - 1; d >= 0; --d) {
        off += (r % kept_sizes[d]) * kept_strides[d];
        r /= kept_sizes[d];
      }
      const T* p0 = base + off;
      auto each = [&](auto&& g) {
        if (n_red == 0) return;
        std::fill(idx.begin(), idx.end(), 0);
        const int64_t outer = n_red / inner_n;
        const T* p = p0;
        for (int64_t k = 0; k < outer; ++k) {
          if (inner_s == 1)
            for (int64_t i = 0; i < inner_n; ++i) g(p[i]);
          else
            for (int64_t i = 0; i < inner_n; ++i) g(p[i * inner_s]);
          for (int64_t d = rnd - 2; d >= 0; --d) {
            p += red_strides[d];
            if (++idx[d] < red_sizes[d]) break;
            p -= red_strides[d] * red_sizes[d];
            idx[d] = 0;
          }
        }
      };
      f(o, each);
    }
  });
}

// ---------------------------------------------------------------------------
// The fast engine.

namespace detail {

// Offset (in elements) of the row-major multi-index `lin` over (sizes, strides).
inline int64_t offset_of(int64_t lin, const Shape& sizes, const Shape& strides, size_t ndims) {
  int64_t off = 0;
  for (int64_t d = static_cast<int64_t>(ndims) - 1; d >= 0; --d) {
    off += (lin % sizes[d]) * strides[d];
    lin /= sizes[d];
  }
  return off;
}

// A multi-index over (sizes, strides) that steps in row-major order and keeps
// the matching element offset. The index lives inline for up to 8 dims (after
// merging, nearly every tensor), so making one per output allocates nothing.
struct Odometer {
  const Shape& sizes;
  const Shape& strides;
  size_t nd;
  int64_t off = 0;
  Odometer(const Shape& s, const Shape& st, size_t ndims, int64_t start) : sizes(s), strides(st), nd(ndims) {
    if (nd > kInline) {
      heap_.reset(new int64_t[nd]);
      idx_ = heap_.get();
    }
    for (int64_t d = static_cast<int64_t>(nd) - 1; d >= 0; --d) {
      idx_[d] = start % sizes[d];
      off += idx_[d] * strides[d];
      start /= sizes[d];
    }
  }
  Odometer(const Odometer&) = delete;
  Odometer& operator=(const Odometer&) = delete;
  void next() {
    for (int64_t d = static_cast<int64_t>(nd) - 1; d >= 0; --d) {
      off += strides[d];
      if (++idx_[d] < sizes[d]) return;
      off -= strides[d] * sizes[d];
      idx_[d] = 0;
    }
  }

 private:
  static constexpr size_t kInline = 8;
  int64_t inline_[kInline];
  std::unique_ptr<int64_t[]> heap_;
  int64_t* idx_ = inline_;
};

// Folds n elements p[0], p[s], ... (indices i0, i0+1, ...) into lanes[].
template <typename T, typename R, int64_t S>
inline void fold_row(const R& r, typename R::Acc* lanes, const T* p, int64_t n, int64_t s, int64_t i0) {
  constexpr int64_t L = R::kLanes;
  const int64_t stride = S > 0 ? S : s;
  // Local copies: lanes could alias p (Acc == T), which would force a store
  // per element; in locals they live in registers.
  typename R::Acc a[L];
  for (int64_t l = 0; l < L; ++l) a[l] = lanes[l];
  int64_t k = 0;
  for (; k + L <= n; k += L) {
    // The lanes are independent; the pragma lets the compiler vectorize
    // select-style steps (NaN-aware max) that it would not prove safe alone.
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) r.step(a[l], p[(k + l) * stride], i0 + k + l);
  }
  for (; k < n; ++k) r.step(a[0], p[k * stride], i0 + k);
  for (int64_t l = 0; l < L; ++l) lanes[l] = a[l];
}

// rows layout: folds the reduced elements [rb, re) of output o (at p0) into acc.
template <typename T, typename R>
void fold_rows(const R& r, const ReducePlan& pl, const T* p0, int64_t rb, int64_t re, typename R::Acc& acc) {
  using Acc = typename R::Acc;
  constexpr int64_t L = R::kLanes;
  Acc lanes[L];
  lanes[0] = acc;
  for (int64_t l = 1; l < L; ++l) lanes[l] = r.identity();
  const size_t rnd = pl.red_sizes.size();
  const int64_t inner_n = rnd ? pl.red_sizes[rnd - 1] : 1;
  const int64_t inner_s = rnd ? pl.red_strides[rnd - 1] : 0;
  // Odometer over the outer reduced dims (all but the innermost), one row each.
  Odometer rows(pl.red_sizes, pl.red_strides, rnd ? rnd - 1 : 0, rb / inner_n);
  int64_t j = rb % inner_n;
  for (int64_t i = rb; i < re;) {
    const int64_t n = std::min(inner_n - j, re - i);
    const T* p = p0 + rows.off + j * inner_s;
    if (inner_s == 1)
      fold_row<T, R, 1>(r, lanes, p, n, 1, i);
    else
      fold_row<T, R, 0>(r, lanes, p, n, inner_s, i);
    i += n;
    j = 0;
    rows.next();
  }
  // Pairwise merge tree: log2(L) dependent steps instead of L - 1 (short rows
  // would otherwise be dominated by the merge).
  for (int64_t w = 1; w < L; w *= 2)
    for (int64_t l = 0; l + w < L; l += 2 * w) r.merge(lanes[l], lanes[l + w]);
  acc = lanes[0];
}

// columns layout: folds the reduced elements [rb, re) of outputs [ob, oe)
// into acc[0 .. oe - ob).
template <typename T, typename R>
void fold_columns(const R& r, const ReducePlan& pl, const T* base, int64_t ob, int64_t oe, int64_t rb, int64_t re,
                  typename R::Acc* acc) {
  // Outputs accumulated together: whole rows of up to 32 KB of accumulators,
  // so rows stream through memory and the accumulators stay in L1/L2.
  constexpr int64_t kTile = std::max<int64_t>(64, int64_t(32768 / sizeof(typename R::Acc)));
  const size_t knd = pl.kept_sizes.size();
  const int64_t D = pl.kept_sizes[knd - 1];
  for (int64_t o = ob; o < oe;) {
    const int64_t q = o / D, j0 = o % D;
    const int64_t j1 = std::min(D, j0 + (oe - o));
    const T* pq = base + offset_of(q, pl.kept_sizes, pl.kept_strides, knd - 1);
    for (int64_t jt = j0; jt < j1; jt += kTile) {
      const int64_t jn = std::min(kTile, j1 - jt);
      typename R::Acc* a = acc + (o - ob) + (jt - j0);
      Odometer rows(pl.red_sizes, pl.red_strides, pl.red_sizes.size(), rb);
      for (int64_t i = rb; i < re; ++i, rows.next()) {
        const T* p = pq + rows.off + jt;
        // Independent columns (a and p never overlap): a unit-stride vector loop.
#pragma omp simd
        for (int64_t j = 0; j < jn; ++j) r.step(a[j], p[j], i);
      }
    }
    o += j1 - j0;
  }
}

// Folds reduced elements [rb, re) of outputs [ob, oe) into acc[0 .. oe - ob).
template <typename T, typename R>
void fold(const R& r, const ReducePlan& pl, const T* base, int64_t ob, int64_t oe, int64_t rb, int64_t re,
          typename R::Acc* acc) {
  if (rb >= re) return;
  if (pl.columns) return fold_columns<T, R>(r, pl, base, ob, oe, rb, re, acc);
  const size_t knd = pl.kept_sizes.size();
  Odometer outs(pl.kept_sizes, pl.kept_strides, knd, ob);
  for (int64_t o = ob; o < oe; ++o, outs.next()) fold_rows<T, R>(r, pl, base + outs.off, rb, re, acc[o - ob]);
}

}  // namespace detail

// Reduces x (any strides) over `dims` (sorted, wrapped) with reducer r.
template <typename T, typename R>
void reduce(const Tensor& x, const std::vector<int64_t>& dims, const R& r) {
  using Acc = typename R::Acc;
  const ReducePlan pl = make_reduce_plan(x, dims);
  const int64_t n_out = pl.n_out, n_red = pl.n_red;  // size-1 dims dropped: same counts as x's
  if (n_out == 0) return;
  if (n_red == 0) {
    for (int64_t o = 0; o < n_out; ++o) r.finish(o, r.identity());
    return;
  }
  const T* base = static_cast<const T*>(x.data_ptr_raw());
  const int threads = get_num_threads();

  // Few outputs, long reductions: split the reduced range among threads. In
  // the column layout this is also better for a few hundred outputs (sum
  // over the batch of [N, D] with small D): each thread streams whole rows.
  constexpr int64_t kSplitColumns = 1024;
  const bool few_outputs = n_out < threads || (pl.columns && n_out <= kSplitColumns);
  const int64_t work = n_out * n_red;
  if (threads > 1 && few_outputs && work >= 2 * kParallelGrain && n_red >= threads) {
    const int64_t S = std::min<int64_t>(threads, work / kParallelGrain);
    // (Not std::vector: Acc may be bool.)
    std::unique_ptr<Acc[]> part(new Acc[S * n_out]);
    std::fill(part.get(), part.get() + S * n_out, r.identity());
    parallel_for(0, S, 1, [&](int64_t sb, int64_t se) {
      for (int64_t s = sb; s < se; ++s)
        detail::fold<T, R>(r, pl, base, 0, n_out, s * n_red / S, (s + 1) * n_red / S, &part[s * n_out]);
    });
    for (int64_t o = 0; o < n_out; ++o) {
      Acc a = part[o];
      for (int64_t s = 1; s < S; ++s) r.merge(a, part[s * n_out + o]);
      r.finish(o, a);
    }
    return;
  }

  const int64_t grain = std::max<int64_t>(1, kParallelGrain / n_red);
  parallel_for(0, n_out, grain, [&](int64_t ob, int64_t oe) {
    constexpr int64_t kChunk = 4096;  // bounds the accumulator buffer
    std::unique_ptr<Acc[]> acc(new Acc[std::min(kChunk, oe - ob)]);
    for (int64_t cb = ob; cb < oe; cb += kChunk) {
      const int64_t ce = std::min(oe, cb + kChunk);
      std::fill(acc.get(), acc.get() + (ce - cb), r.identity());
      detail::fold<T, R>(r, pl, base, cb, ce, 0, n_red, acc.get());
      for (int64_t o = cb; o < ce; ++o) r.finish(o, acc[o - cb]);
    }
  });
}

}  // namespace wick::cpu
