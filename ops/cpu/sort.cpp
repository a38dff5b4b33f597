// CPU sort, topk and unique.
//
// Sort and topk work lane by lane (a lane = the elements along `dim` for one
// position of the other dims), in parallel over lanes. Each lane is gathered
// into a per-thread buffer of (value, index) pairs (one buffer per chunk of
// lanes, no per-lane allocation) and ordered by
//     value (NaN after every number; reversed when descending), then index.
// Breaking ties by the original index makes the order total, so std::sort
// gives exactly what std::stable_sort on the values would (PyTorch's stable
// order) without stable_sort's temporary buffer. topk uses std::partial_sort
// with the same order: O(n log k) per lane, and its ties agree with sort.
// unique sorts the flattened (value, index) pairs the same way and cuts runs
// of equal values; NaN != NaN, so every NaN is its own run.
// Cost: O(n log n) comparisons per lane for sort (O(n log k) for topk), plus
// one strided read of the lane and one write of the results.
#include "ops/cpu/sort.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "ops/cpu/loops.h"
#include "ops/creation.h"

namespace wick::cpu {

namespace {

template <typename T>
using Entry = std::pair<T, int64_t>;

// "a comes before b": the total order described at the top of the file.
template <typename T, bool Descending>
struct Before {
  bool operator()(const Entry<T>& a, const Entry<T>& b) const {
    if constexpr (std::is_floating_point_v<T>) {
      const bool an = std::isnan(a.first), bn = std::isnan(b.first);
      if (an || bn) {
        if (an != bn) return Descending ? an : bn;  // NaN is the largest value
        return a.second < b.second;
      }
    }
    if (a.first != b.first) return Descending ? a.first > b.first : a.first < b.first;
    return a.second < b.second;
  }
};

// The lanes of x along dim: lane l's first element and the stride within it.
struct Lanes {
  Shape sizes, strides;  // x's sizes and strides without dim
  int64_t count = 1, inner = 1;

  Lanes(const Tensor& x, int64_t dim) {
    for (int64_t d = 0; d < x.dim(); ++d) {
      if (d == dim) continue;
      sizes.push_back(x.size(d));
      strides.push_back(x.stride(d));
      count *= x.size(d);
      if (d > dim) inner *= x.size(d);
    }
  }
  int64_t x_offset(int64_t l) const {
    int64_t off = 0;
    for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
      off += (l % sizes[d]) * strides[d];
      l /= sizes[d];
    }
    return off;
  }
  // Offset of lane l in a contiguous output with m elements along dim.
  int64_t out_offset(int64_t l, int64_t m) const { return (l / inner) * m * inner + l % inner; }
};

// The first k of every lane, in order, into values/indices (contiguous).
template <typename T, bool Descending>
void order_lanes(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, int64_t dim) {
  const Lanes lanes(x, dim);
  const int64_t n = x.size(dim), xs = x.stride(dim);
  const T* xp = x.data_ptr<T>();
  T* vp = values.data_ptr<T>();
  int64_t* ip = indices.data_ptr<int64_t>();
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / (8 * n));
  parallel_for(0, lanes.count, grain, [&](int64_t lb, int64_t le) {
    std::vector<Entry<T>> buf(n);
    for (int64_t l = lb; l < le; ++l) {
      const T* src = xp + lanes.x_offset(l);
      for (int64_t i = 0; i < n; ++i) buf[i] = {src[i * xs], i};
      if (k == n)
        std::sort(buf.begin(), buf.end(), Before<T, Descending>{});
      else
        std::partial_sort(buf.begin(), buf.begin() + k, buf.end(), Before<T, Descending>{});
      const int64_t o = lanes.out_offset(l, k);
      for (int64_t i = 0; i < k; ++i) {
        vp[o + i * lanes.inner] = buf[i].first;
        ip[o + i * lanes.inner] = buf[i].second;
      }
    }
  });
}

void order(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, int64_t dim, bool descending,
           const char* op) {
  if (values.numel() == 0) return;
  WICK_DISPATCH_ALL(x.dtype(), op, [&]<typename T>() {
    if (descending)
      order_lanes<T, true>(values, indices, x, k, dim);
    else
      order_lanes<T, false>(values, indices, x, k, dim);
  });
}

}  // namespace

void sort(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim, bool descending) {
  order(values, indices, x, x.size(dim), dim, descending, "sort");
}

void topk(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, int64_t dim, bool largest) {
  order(values, indices, x, k, dim, largest, "topk");
}

void unique(const Tensor& x, Tensor& values, Tensor& inverse, Tensor& counts) {
  const int64_t n = x.numel();
  inverse = empty(x.sizes(), TensorOptions(kInt64).device(x.device()));
  WICK_DISPATCH_ALL(x.dtype(), "unique", [&]<typename T>() {
    std::vector<Entry<T>> buf(n);
    const T* xp = n ? x.data_ptr<T>() : nullptr;  // x is contiguous
    for (int64_t i = 0; i < n; ++i) buf[i] = {xp[i], i};
    std::sort(buf.begin(), buf.end(), Before<T, false>{});
    std::vector<int64_t> first, cnts;  // per run: one element's position in x, the run's length
    int64_t* inv = inverse.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      if (i == 0 || !(buf[i].first == buf[i - 1].first)) {  // NaN never equals the previous run
        first.push_back(buf[i].second);
        cnts.push_back(0);
      }
      ++cnts.back();
      inv[buf[i].second] = static_cast<int64_t>(first.size()) - 1;
    }
    const int64_t m = static_cast<int64_t>(first.size());
    values = empty({m}, TensorOptions(x.dtype()).device(x.device()));
    counts = empty({m}, TensorOptions(kInt64).device(x.device()));
    T* vp = values.data_ptr<T>();
    for (int64_t j = 0; j < m; ++j) vp[j] = xp[first[j]];
    if (m) std::memcpy(counts.data_ptr<int64_t>(), cnts.data(), sizeof(int64_t) * m);
  });
}

}  // namespace wick::cpu
