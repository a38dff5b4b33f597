// Indexing ops: checks, output shapes, backward formulas.
#include "ops/indexing.h"

#include "autograd/function.h"
#include "ops/copy.h"
#include "ops/cpu/indexing.h"
#include "ops/creation.h"
#include "ops/elementwise.h"

namespace wick {

using autograd::Ctx;
using autograd::SavedTensor;

namespace {
void check_index_tensor(const char* op, const Tensor& index) {
  WICK_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, op, ": index must be int64 or int32, got ",
             index.dtype());
}
}  // namespace

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source, const Scalar& alpha) {
  check_index_tensor("index_add", index);
  WICK_CHECK(index.dim() <= 1, "index_add: index must be 0-d or 1-d, got shape ", shape_str(index.sizes()));
  dim = wrap_dim(dim, x.dim(), "index_add");
  const int64_t n = index.numel();
  Shape expect = x.sizes();
  if (x.dim() > 0) expect[dim] = n;
  WICK_CHECK(source.sizes() == expect || (x.dim() == 0 && source.numel() == 1), "index_add: source of shape ",
             shape_str(source.sizes()), " does not match ", shape_str(expect), " (x ", shape_str(x.sizes()),
             " with dim ", dim, " of size ", n, ")");
  WICK_CHECK(x.device() == source.device() && x.device() == index.device(), "index_add: tensors on different devices");
  Tensor out = x.detach().clone();
  {
    NoGradGuard ng;
    Tensor src = source.to(x.dtype());
    if (!(alpha.is_integral() && alpha.to_int() == 1)) src = mul(src, alpha);
    cpu::index_add(out, dim, index.to(kInt64).contiguous(), src);
  }
  if (autograd::needs_grad({x, source})) {
    autograd::record("IndexAddBackward", {x, source}, {out}, [dim, idx = index.to(kInt64), alpha](const Ctx& c) {
      Tensor gs;
      if (c.needs_input_grad(1)) {
        gs = index_select(c.grad(), dim, idx);
        if (!(alpha.is_integral() && alpha.to_int() == 1)) gs = mul(gs, alpha);
      }
      return tensor_list{c.grad(), gs};
    });
  }
  return out;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_tensor("index_select", index);
  WICK_CHECK(index.dim() <= 1, "index_select: index must be 0-d or 1-d, got shape ", shape_str(index.sizes()));
  dim = wrap_dim(dim, x.dim(), "index_select");
  Tensor idx = index.to(kInt64).contiguous().reshape({-1});
  Shape s = x.sizes();
  if (x.dim() > 0) s[dim] = idx.numel();
  Tensor out = empty(s, TensorOptions(x.dtype()).device(x.device()));
  cpu::index_select(out, x, dim, idx);
  if (autograd::needs_grad({x})) {
    autograd::record("IndexSelectBackward", {x}, {out}, [dim, idx, in = x.sizes()](const Ctx& c) {
      Tensor z = zeros(in, TensorOptions(c.grad().dtype()).device(c.grad().device()));
      return tensor_list{index_add(z, dim, idx, c.grad())};
    });
  }
  return out;
}

}  // namespace wick
