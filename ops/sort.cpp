// Sorting and selection: checks, output shapes, and backward formulas.
// Kernels (and the exact order: NaN largest, ties by position) are in
// ops/cpu/sort.cpp and cuda/kernels/sort.cu (sort, argsort, topk; the same
// order, indices included). unique has a CPU kernel, and is composed of
// sort, masked_select, cumsum, scatter and nonzero elsewhere.
//
// Gradients: sort and topk values are x's elements moved to new places, so
// the gradient w.r.t. x scatters the incoming gradient back to the indices:
//   dx = zeros(x.shape).scatter(dim, indices, grad)
// (indices are distinct within a lane, so scatter needs no accumulation).
// Indices and unique's outputs carry no gradient (as in PyTorch).
#include "ops/sort.h"

#include "autograd/function.h"
#include "ops/cpu/sort.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/sort.h"
#endif
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/reduction.h"
#include "ops/shape.h"

namespace wick {

using autograd::Ctx;

namespace {

// cuda_ok: the op has a CUDA kernel (sort, argsort, topk).
void check_input(const char* op, const Tensor& x, bool cuda_ok = true) {
  WICK_CHECK(x.defined(), op, ": undefined tensor");
#ifdef WICK_WITH_CUDA
  if (cuda_ok && x.is_cuda()) return;
#else
  (void)cuda_ok;
#endif
  WICK_CHECK(x.is_cpu(), op, ": no kernel for device ", x.device(), " in this build");
}

// The kernel of x's device.
void topk_kernel(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, int64_t dim,
                 bool descending) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::topk(values, indices, x, k, dim, descending);
#endif
  cpu::topk(values, indices, x, k, dim, descending);
}

// Records values = x gathered at `indices` along dim.
void record_gather_like(const char* name, const Tensor& x, const Tensor& values, const Tensor& indices, int64_t dim) {
  if (!autograd::needs_grad({x})) return;
  autograd::record(name, {x}, {values}, [in = x.sizes(), dim, indices](const Ctx& c) {
    const Tensor& g = c.grad();
    if (in.empty()) return tensor_list{g};  // 0-d: the only element stays in place
    Tensor z = zeros(in, TensorOptions(g.dtype()).device(g.device()));
    return tensor_list{scatter(z, dim, indices, g)};
  });
}

// The first k of x ordered along dim (sort is k = size). A 0-d tensor is its
// own result whatever k (like PyTorch).
std::pair<Tensor, Tensor> ordered(const char* op, const char* grad_name, const Tensor& x, int64_t dim, int64_t k,
                                  bool descending) {
  const int64_t d = wrap_dim(dim, x.dim(), op);
  Shape shape = x.sizes();
  if (x.dim() > 0) shape[d] = k;
  Tensor values = empty(shape, TensorOptions(x.dtype()).device(x.device()));
  Tensor indices = empty(shape, TensorOptions(kInt64).device(x.device()));
  {
    NoGradGuard ng;
    if (x.dim() == 0)
      topk_kernel(values.view({1}), indices.view({1}), x.reshape({1}), 1, 0, descending);
    else
      topk_kernel(values, indices, x, k, d, descending);
  }
  record_gather_like(grad_name, x, values, indices, d);
  return {values, indices};
}

}  // namespace

std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  check_input("sort", x);
  const int64_t d = wrap_dim(dim, x.dim(), "sort");
  return ordered("sort", "SortBackward", x, d, x.dim() == 0 ? 1 : x.size(d), descending);
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending) {
  check_input("argsort", x);
  NoGradGuard ng;  // indices only: nothing to record
  wrap_dim(dim, x.dim(), "argsort");
  return sort(x, dim, descending).second;
}

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  // `sorted` is accepted for PyTorch compatibility: the result is always sorted.
  (void)sorted;
  check_input("topk", x);
  const int64_t d = wrap_dim(dim, x.dim(), "topk");
  const int64_t n = x.dim() == 0 ? 1 : x.size(d);
  WICK_CHECK(k >= 0 && k <= n, "topk: k (", k, ") is out of range for dimension ", d, " of size ", n, " (shape ",
             shape_str(x.sizes()), ")");
  return ordered("topk", "TopkBackward", x, d, k, largest);
}

namespace {

// unique from ops every device has: a stable sort of the flattened input;
// a run starts where a value differs from its predecessor (NaN differs from
// everything, so each NaN is its own run, as on the CPU); the values are the
// run starts, inverse[order[i]] = the run of sorted element i, and counts are
// the distances between run starts.
UniqueResult unique_composed(const Tensor& x) {
  const TensorOptions io = TensorOptions(kInt64).device(x.device());
  const int64_t n = x.numel();
  UniqueResult r;
  if (n == 0) {
    r.values = empty({0}, TensorOptions(x.dtype()).device(x.device()));
    r.inverse = empty(x.sizes(), io);
    r.counts = empty({0}, io);
    return r;
  }
  const auto [sorted, order] = sort(x.reshape({-1}));
  Tensor starts = ones({n}, TensorOptions(kBool).device(x.device()));
  if (n > 1) starts.narrow(0, 1, n - 1).copy_(ne(sorted.narrow(0, 1, n - 1), sorted.narrow(0, 0, n - 1)));
  r.values = masked_select(sorted, starts);
  const Tensor run = sub(cumsum(starts.to(kInt64), 0), 1);
  r.inverse = scatter(zeros({n}, io), 0, order, run).reshape(x.sizes());
  const Tensor first = nonzero(starts).reshape({-1});  // where each run starts; run j ends where j + 1 starts
  const int64_t m = first.numel();
  r.counts = sub(cat({first.narrow(0, 1, m - 1), full({1}, n, io)}), first);
  return r;
}

}  // namespace

UniqueResult unique(const Tensor& x) {
  check_input("unique", x);
  NoGradGuard ng;
  if (!x.is_cpu()) return unique_composed(x);
  UniqueResult r;
  cpu::unique(x.contiguous(), r.values, r.inverse, r.counts);
  return r;
}

}  // namespace wick
