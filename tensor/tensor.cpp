// Tensor metadata accessors and element access. Autograd methods live in
// autograd/tensor_autograd.cpp, view methods in ops/view.cpp.
#include "tensor/tensor.h"


namespace wick {

namespace {
const TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl) {
  WICK_CHECK(impl != nullptr, "Tensor: use of an undefined tensor");
  return *impl;
}
}  // namespace

const Shape& Tensor::sizes() const { return checked(impl_).sizes; }
int64_t Tensor::size(int64_t d) const { return sizes()[wrap_dim(d, dim(), "size")]; }
const Shape& Tensor::strides() const { return checked(impl_).strides; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }
int64_t Tensor::offset() const { return checked(impl_).offset; }
int64_t Tensor::dim() const { return static_cast<int64_t>(sizes().size()); }
int64_t Tensor::numel() const { return numel_of(sizes()); }
DType Tensor::dtype() const { return checked(impl_).dtype; }
Device Tensor::device() const { return checked(impl_).storage->device(); }
const std::shared_ptr<Storage>& Tensor::storage() const { return checked(impl_).storage; }

bool Tensor::is_contiguous() const {
  const auto& s = sizes();
  const auto& st = strides();
  // As in PyTorch, a tensor with no elements is contiguous whatever its strides.
  for (int64_t d : s)
    if (d == 0) return true;
  int64_t expected = 1;
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    if (s[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= s[i];
  }
  return true;
}

void* Tensor::data_ptr_raw() const {
  const TensorImpl& t = checked(impl_);
  return static_cast<char*>(t.storage->data()) + t.offset * static_cast<int64_t>(dtype_size(t.dtype));
}

namespace {
// t on the CPU in a dtype the CPU holds: float16/bfloat16 (device-only
// dtypes) are widened to float32 on their device first (exact).
Tensor host_readable(const Tensor& t) {
  if (t.is_cpu()) return t;
  const bool half = t.dtype() == kFloat16 || t.dtype() == kBFloat16;
  return (half ? t.to(kFloat32) : t).to(kCPU);
}
}  // namespace

template <typename T>
T Tensor::item() const {
  WICK_CHECK(numel() == 1, "item: a tensor with ", numel(), " elements (shape ", shape_str(sizes()),
             ") cannot be converted to a scalar");
  Tensor c = host_readable(*this);
  return WICK_DISPATCH_ALL(c.dtype(), "item", [&]<typename S>() { return static_cast<T>(*c.data_ptr<S>()); });
}

template <typename T>
std::vector<T> Tensor::tolist() const {
  Tensor c = host_readable(*this).to(dtype_v<T>).contiguous();
  const T* p = c.numel() ? c.data_ptr<T>() : nullptr;
  return std::vector<T>(p, p + c.numel());
}

#define WICK_INSTANTIATE_(T)              \
  template T Tensor::item<T>() const; \
  template std::vector<T> Tensor::tolist<T>() const;
WICK_INSTANTIATE_(bool)
WICK_INSTANTIATE_(uint8_t)
WICK_INSTANTIATE_(int32_t)
WICK_INSTANTIATE_(int64_t)
WICK_INSTANTIATE_(float)
WICK_INSTANTIATE_(double)
#undef WICK_INSTANTIATE_

uint64_t Tensor::version() const { return storage()->version(); }
void Tensor::bump_version() const { storage()->bump_version(); }

Tensor make_tensor(std::shared_ptr<Storage> storage, Shape sizes, Shape strides, int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

}  // namespace wick
