// The generic CPU reduction: for every output element, fold the reduced
// sub-tensor of x. Output is produced in keepdim layout (reduced dims of
// size 1), contiguous. Parallel over output elements; when the reduced dims
// are the innermost contiguous ones, the fold is a contiguous loop.
#pragma once

#include <vector>

#include "ops/cpu/loops.h"

namespace wick::cpu {

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

}  // namespace wick::cpu
