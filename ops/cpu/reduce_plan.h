// The geometry of a reduction, shared by the CPU engine (ops/cpu/reduce.h)
// and the CUDA kernels (cuda/kernels/reduce.cu): x's dims split into kept and
// reduced ones (outermost first), size-1 dims dropped, and neighbouring dims
// of the same kind merged when x steps through both as through one. Layout
// arithmetic only, no memory access.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace wick::cpu {

// x's geometry split into kept and reduced dims (outermost first), with
// size-1 dims dropped and mergeable neighbours merged.
struct ReducePlan {
  Shape kept_sizes, kept_strides;
  Shape red_sizes, red_strides;
  int64_t n_out = 1, n_red = 1;
  // columns layout: the innermost dim of x is kept and has unit stride.
  bool columns = false;
};

inline ReducePlan make_reduce_plan(const Tensor& x, const std::vector<int64_t>& dims) {
  std::vector<bool> red(x.dim(), false);
  for (int64_t d : dims) red[d] = true;
  struct D {
    int64_t size, stride;
    bool red;
  };
  std::vector<D> ds;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (x.size(d) == 1) continue;
    D cur{x.size(d), x.stride(d), red[d]};
    // Merge into the previous dim when it is of the same kind and x steps
    // through both as through one: stride[prev] == stride[cur] * size[cur].
    if (!ds.empty() && ds.back().red == cur.red && ds.back().stride == cur.stride * cur.size) {
      ds.back().size *= cur.size;
      ds.back().stride = cur.stride;
      continue;
    }
    ds.push_back(cur);
  }
  ReducePlan p;
  for (const D& d : ds) {
    (d.red ? p.red_sizes : p.kept_sizes).push_back(d.size);
    (d.red ? p.red_strides : p.kept_strides).push_back(d.stride);
  }
  p.n_out = numel_of(p.kept_sizes);
  p.n_red = numel_of(p.red_sizes);
  p.columns = !ds.empty() && !ds.back().red && ds.back().stride == 1;
  return p;
}

}  // namespace wick::cpu
