// Reductions: shapes, dtypes, dispatch and backward formulas.
#include "ops/reduction.h"

#include "autograd/function.h"
#include "ops/copy.h"
#include "ops/cpu/reduce.h"
#include "ops/creation.h"
#include "ops/elementwise.h"

namespace wick {

using autograd::Ctx;
using autograd::SavedTensor;

Shape reduced_shape(const Shape& in, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  size_t k = 0;
  for (int64_t d = 0; d < static_cast<int64_t>(in.size()); ++d) {
    bool r = k < dims.size() && dims[k] == d;
    if (r) ++k;
    if (!r) out.push_back(in[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

namespace {

// Gradient of a reduction (shape `out`) broadcast back to the input's shape.
Tensor expand_grad(const Tensor& g, const Shape& in, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor gk = keepdim ? g : g.reshape(reduced_shape(in, dims, true));
  return gk.expand(in);
}

}  // namespace

Tensor sum(const Tensor& x, const Dims& dims_in, bool keepdim, std::optional<DType> dtype) {
  WICK_CHECK(x.defined(), "sum: undefined tensor");
  WICK_CHECK(x.is_cpu(), "sum: no kernel for device ", x.device(), " in this build");
  auto dims = reduction_dims(dims_in, x.dim(), "sum");
  DType out_dt = dtype.value_or(is_floating(x.dtype()) ? x.dtype() : kInt64);
  Tensor out = empty(reduced_shape(x.sizes(), dims, keepdim), TensorOptions(out_dt));
  {
    NoGradGuard ng;
    Tensor xin = x.to(out_dt);  // float32 still accumulates in double (acc_t)
    WICK_DISPATCH_NUMERIC(out_dt, "sum", [&]<typename T>() {
      T* o = out.data_ptr<T>();
      cpu::reduce_each<T>(xin, dims, [&](int64_t i, auto each) {
        acc_t<T> acc = 0;
        each([&](T v) { acc += v; });
        o[i] = static_cast<T>(acc);
      });
    });
  }
  if (autograd::needs_grad({x})) {
    autograd::record("SumBackward", {x}, {out}, [in = x.sizes(), dims, keepdim](const Ctx& c) {
      return tensor_list{expand_grad(c.grad(), in, dims, keepdim)};
    });
  }
  return out;
}

Tensor any(const Tensor& x, const Dims& dims_in, bool keepdim) {
  auto dims = reduction_dims(dims_in, x.dim(), "any");
  Tensor out = empty(reduced_shape(x.sizes(), dims, keepdim), TensorOptions(kBool));
  WICK_DISPATCH_ALL(x.dtype(), "any", [&]<typename T>() {
    bool* o = out.data_ptr<bool>();
    cpu::reduce_each<T>(x, dims, [&](int64_t i, auto each) {
      bool r = false;
      each([&](T v) { r = r || v != T(0); });
      o[i] = r;
    });
  });
  return out;
}

}  // namespace wick
