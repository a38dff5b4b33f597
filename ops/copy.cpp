#include "ops/copy.h"

#include "autograd/function.h"
#include "ops/creation.h"
#include "ops/cpu/fill.h"
#include "ops/inplace.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/copy.h"
#endif

namespace wick {

void check_writable(const Tensor& t, const char* op) {
  for (int64_t d = 0; d < t.dim(); ++d)
    WICK_CHECK(!(t.stride(d) == 0 && t.size(d) > 1), op,
               ": unsupported operation: more than one element of the written-to tensor refers to a single "
               "memory location (shape ",
               shape_str(t.sizes()), ", strides ", shape_str(t.strides()), "). Call clone() before writing.");
}

namespace {
void copy_kernel(const Tensor& dst, const Tensor& src) {
  if (dst.is_cpu() && src.is_cpu()) {
    cpu::copy(dst, src);
    return;
  }
#ifdef WICK_WITH_CUDA
  // On one GPU, or across devices (host <-> device, device <-> device).
  cuda::copy_across_devices(dst, src);
#else
  WICK_FAIL("copy_: cannot copy from ", src.device(), " to ", dst.device(),
            ": wick was built without CUDA (WICK_CUDA=OFF or nvcc not found when configuring)");
#endif
}
}  // namespace

Tensor& copy_(Tensor& dst, const Tensor& src) {
  WICK_CHECK(dst.defined() && src.defined(), "copy_: undefined tensor");
  broadcast_shapes(dst.sizes(), src.sizes(), "copy_");
  WICK_CHECK(broadcast_shapes(dst.sizes(), src.sizes(), "copy_") == dst.sizes(), "copy_: source of shape ",
             shape_str(src.sizes()), " cannot be broadcast to the destination's shape ", shape_str(dst.sizes()));
  check_writable(dst, "copy_");
  if (autograd::needs_grad({dst, src})) {
    // dst's old values are overwritten: gradient flows only to src.
    Shape src_shape = src.sizes();
    DType src_dtype = src.dtype();
    apply_inplace(dst, {src}, "copy_", [&] { copy_kernel(dst, src); },
                  [src_shape, src_dtype](const autograd::Ctx& c) {
                    return tensor_list{zeros_like(c.grad()), sum_to(c.grad(), src_shape).to(src_dtype)};
                  });
  } else {
    copy_kernel(dst, src);
    dst.bump_version();
  }
  return dst;
}

Tensor clone(const Tensor& t) {
  Tensor out = empty(t.sizes(), TensorOptions(t.dtype()).device(t.device()));
  copy_kernel(out, t);
  if (autograd::needs_grad({t}))
    autograd::record("CloneBackward", {t}, {out}, [](const autograd::Ctx& c) { return tensor_list{c.grad()}; });
  return out;
}

Tensor contiguous(const Tensor& t) { return t.is_contiguous() ? t : clone(t); }

Tensor to_dtype(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = empty(t.sizes(), TensorOptions(dtype).device(t.device()));
  copy_kernel(out, t);
  if (autograd::needs_grad({t}) && is_floating(dtype)) {
    DType src = t.dtype();
    autograd::record("ToCopyBackward", {t}, {out},
                     [src](const autograd::Ctx& c) { return tensor_list{c.grad().to(src)}; });
  }
  return out;
}

Tensor to_device(const Tensor& t, Device device) {
  if (t.device() == device) return t;
  Tensor out = empty(t.sizes(), TensorOptions(t.dtype()).device(device));
  copy_kernel(out, t.contiguous());
  if (autograd::needs_grad({t})) {
    Device src = t.device();
    autograd::record("ToCopyBackward", {t}, {out},
                     [src](const autograd::Ctx& c) { return tensor_list{c.grad().to(src)}; });
  }
  return out;
}

Tensor Tensor::contiguous() const { return wick::contiguous(*this); }
Tensor Tensor::clone() const { return wick::clone(*this); }
Tensor& Tensor::copy_(const Tensor& src) { return wick::copy_(*this, src); }
Tensor Tensor::to(DType dtype) const { return to_dtype(*this, dtype); }
Tensor Tensor::to(Device device) const { return to_device(*this, device); }
Tensor Tensor::to(Device device, DType dtype) const { return to_device(*this, device).to(dtype); }

}  // namespace wick
