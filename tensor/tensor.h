// Tensor: a cheap, reference-counted handle to a TensorImpl, which is a view
// (sizes, strides in elements, offset in elements, dtype) onto a shared
// Storage, plus the autograd state (requires_grad, grad, grad_fn).
//
// Copying a Tensor copies the handle, not the data (like torch.Tensor in
// Python). Views (view, permute, slice, expand, ...) share the storage.
// The ops themselves are free functions in ops/ (wick::add, wick::matmul, ...);
// the methods here are the ones PyTorch users call on tensors, and most
// forward to those functions.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/scalar.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace wick {

namespace autograd {
class Node;
}

struct TensorImpl;
class Tensor;
using tensor_list = std::vector<Tensor>;
// A gradient hook: receives the gradient, returns a replacement or an
// undefined Tensor to keep it.
using GradHook = std::function<Tensor(const Tensor&)>;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  // True when both handles name the same TensorImpl.
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  // ---- metadata ----
  const Shape& sizes() const;
  const Shape& shape() const { return sizes(); }
  int64_t size(int64_t dim) const;
  const Shape& strides() const;
  int64_t stride(int64_t dim) const;
  int64_t offset() const;
  int64_t dim() const;
  int64_t ndim() const { return dim(); }
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  bool is_cpu() const { return device().is_cpu(); }
  bool is_cuda() const { return device().is_cuda(); }
  bool is_floating_point() const { return is_floating(dtype()); }
  size_t element_size() const { return dtype_size(dtype()); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const;

  // Pointer to element [0,...,0] (storage base + offset).
  void* data_ptr_raw() const;
  template <typename T>
  T* data_ptr() const {
    WICK_CHECK(dtype_v<T> == dtype(), "data_ptr: tensor has dtype ", dtype(), ", requested ", dtype_v<T>);
    return static_cast<T*>(data_ptr_raw());
  }
  // The single value of a one-element tensor, converted to T.
  template <typename T>
  T item() const;
  double item() const { return item<double>(); }
  // Copies the elements (row-major order) into a std::vector<T>, converting.
  template <typename T>
  std::vector<T> tolist() const;

  // ---- autograd ----
  bool requires_grad() const;
  // Marks a leaf as requiring grad; floating dtypes only.
  Tensor& requires_grad_(bool on = true);
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  uint32_t output_nr() const;
  bool is_leaf() const;
  // Backpropagates from this tensor. `gradient` may be omitted for one-element tensors.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false, bool create_graph = false) const;
  // A tensor sharing storage, cut from the graph.
  Tensor detach() const;
  Tensor& detach_();
  // Replaces this tensor's data (storage, shape, strides, dtype, device) with
  // `data`'s, keeping its identity and requires_grad, like PyTorch's
  // `t.data = data`. Module::to uses it so that handles held by layers follow.
  // A grad whose dtype or device no longer matches is dropped.
  void set_data(const Tensor& data) const;
  // Keeps .grad for this non-leaf after backward.
  void retain_grad() const;
  bool retains_grad() const;
  // Registers fn to run on the gradient w.r.t. this tensor; returns a handle for remove_hook.
  int register_hook(GradHook fn) const;
  void remove_hook(int handle) const;
  // Storage version counter (bumped by every in-place op).
  uint64_t version() const;
  void bump_version() const;

  // ---- views (no copy; see ops/view.h) ----
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor view_as(const Tensor& other) const { return view(other.sizes()); }
  Tensor reshape_as(const Tensor& other) const { return reshape(other.sizes()); }
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;
  Tensor mT() const { return transpose(-2, -1); }
  Tensor slice(int64_t dim, std::optional<int64_t> start = {}, std::optional<int64_t> end = {},
               int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor expand(const Shape& shape) const;
  Tensor expand_as(const Tensor& other) const { return expand(other.sizes()); }
  Tensor broadcast_to(const Shape& shape) const { return expand(shape); }
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor unflatten(int64_t dim, const Shape& sizes) const;
  Tensor diagonal(int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1) const;
  Tensor as_strided(const Shape& sizes, const Shape& strides, std::optional<int64_t> offset = {}) const;

  // ---- copies and conversion ----
  Tensor contiguous() const;
  Tensor clone() const;
  // Copies src (broadcast, converted) into this tensor in place.
  Tensor& copy_(const Tensor& src);
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  Tensor to(Device device, DType dtype) const;
  Tensor cpu() const { return to(kCPU); }
  Tensor float_() const { return to(kFloat32); }
  Tensor double_() const { return to(kFloat64); }
  Tensor long_() const { return to(kInt64); }

  // ---- frequently used ops as methods (defined in ops/tensor_methods.cpp) ----
  Tensor sum(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
  Tensor mean(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor abs() const;
  Tensor sqrt() const;
  Tensor neg() const;
  Tensor pow(const Scalar& e) const;
  Tensor matmul(const Tensor& other) const;
  Tensor argmax(std::optional<int64_t> dim = {}, bool keepdim = false) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor& fill_(const Scalar& v);
  Tensor& zero_();
  Tensor& add_(const Tensor& other, const Scalar& alpha = 1);
  Tensor& add_(const Scalar& other);
  Tensor& sub_(const Tensor& other, const Scalar& alpha = 1);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(const Scalar& other);
  Tensor& div_(const Tensor& other);
  Tensor& div_(const Scalar& other);

  // PyTorch-style printing: tensor([[1.0000, 2.0000]], requires_grad=True)
  std::string to_string() const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape sizes;
  Shape strides;  // in elements
  int64_t offset = 0;  // in elements
  DType dtype = kFloat32;

  // ---- autograd state ----
  bool requires_grad = false;
  std::shared_ptr<autograd::Node> grad_fn;  // null for leaves
  uint32_t output_nr = 0;                   // which output of grad_fn this is
  Tensor grad;
  std::weak_ptr<autograd::Node> grad_accumulator;  // leaves: the AccumulateGrad node, if alive
  std::vector<std::pair<int, GradHook>> hooks;     // leaf hooks (non-leaf hooks live on grad_fn)
  bool retains_grad = false;
  bool is_view = false;  // shares storage with a base created by a view op
};

// Makes a new TensorImpl viewing `storage`.
Tensor make_tensor(std::shared_ptr<Storage> storage, Shape sizes, Shape strides, int64_t offset, DType dtype);

}  // namespace wick
