// Indexing kernels: each works slice by slice along `dim`, reusing the
// strided copy/add loops for the slices.
#include "ops/cpu/indexing.h"

#include "autograd/grad_mode.h"

#include "ops/cpu/elementwise.h"
#include "ops/cpu/fill.h"
#include "ops/view.h"

namespace wick::cpu {

namespace {
int64_t checked_index(int64_t i, int64_t n, const char* op, int64_t dim) {
  WICK_CHECK(i >= -n && i < n, op, ": index ", i, " is out of bounds for dimension ", dim, " with size ", n);
  return i < 0 ? i + n : i;
}
}  // namespace

void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  NoGradGuard ng;
  const int64_t* idx = index.numel() ? index.data_ptr<int64_t>() : nullptr;
  if (out.dim() == 0) {
    for (int64_t i = 0; i < index.numel(); ++i) {
      checked_index(idx[i], 1, "index_add", 0);
      binary(BinaryOp::Add, out, out, src.reshape({}));
    }
    return;
  }
  const int64_t n = out.size(dim);
  for (int64_t i = 0; i < index.numel(); ++i) {
    int64_t j = checked_index(idx[i], n, "index_add", dim);
    Tensor o = select(out, dim, j);
    binary(BinaryOp::Add, o, o, select(src, dim, i));
  }
}

void index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  NoGradGuard ng;
  const int64_t* idx = index.numel() ? index.data_ptr<int64_t>() : nullptr;
  if (x.dim() == 0) {
    for (int64_t i = 0; i < index.numel(); ++i) checked_index(idx[i], 1, "index_select", 0);
    copy(out, x);
    return;
  }
  const int64_t n = x.size(dim);
  for (int64_t i = 0; i < index.numel(); ++i) {
    int64_t j = checked_index(idx[i], n, "index_select", dim);
    copy(select(out, dim, i), select(x, dim, j));
  }
}

}  // namespace wick::cpu
