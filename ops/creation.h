// Creating tensors: empty, zeros, ones, full, arange, linspace, eye, from
// data (a std::vector, an initializer list or a caller's buffer), *_like.
// Random creation (rand, randn, ...) is in tensor/random.h.
#pragma once

#include <initializer_list>
#include <vector>

#include "tensor/tensor.h"

namespace wick {

// dtype/device/requires_grad for creation functions, like torch's keyword
// arguments: zeros({2,3}, kFloat64), ones({4}, TensorOptions().requires_grad()).
struct TensorOptions {
  std::optional<DType> dtype_;
  Device device_ = kCPU;
  bool requires_grad_ = false;

  TensorOptions() = default;
  TensorOptions(DType d) : dtype_(d) {}
  TensorOptions(Device d) : device_(d) {}
  TensorOptions(const char* d) : device_(Device(d)) {}
  TensorOptions dtype(DType d) const { auto o = *this; o.dtype_ = d; return o; }
  TensorOptions device(Device d) const { auto o = *this; o.device_ = d; return o; }
  TensorOptions requires_grad(bool r = true) const { auto o = *this; o.requires_grad_ = r; return o; }
  DType dtype_or_default() const { return dtype_.value_or(default_dtype()); }
};

Tensor empty(const Shape& shape, const TensorOptions& opt = {});
Tensor zeros(const Shape& shape, const TensorOptions& opt = {});
Tensor ones(const Shape& shape, const TensorOptions& opt = {});
// Filled with v; the dtype defaults to v's natural dtype (bool, int64 or float).
Tensor full(const Shape& shape, const Scalar& v, const TensorOptions& opt = {});
// A 0-d tensor holding v.
Tensor scalar_tensor(const Scalar& v, const TensorOptions& opt = {});

// [start, end) in steps of `step`; int64 if all arguments are integers.
Tensor arange(const Scalar& end, const TensorOptions& opt = {});
Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step = 1, const TensorOptions& opt = {});
// `steps` evenly spaced values from start to end inclusive.
Tensor linspace(double start, double end, int64_t steps, const TensorOptions& opt = {});
// n x m identity (m defaults to n).
Tensor eye(int64_t n, std::optional<int64_t> m = {}, const TensorOptions& opt = {});

Tensor empty_like(const Tensor& t, const TensorOptions& opt = {});
Tensor zeros_like(const Tensor& t, const TensorOptions& opt = {});
Tensor ones_like(const Tensor& t, const TensorOptions& opt = {});
Tensor full_like(const Tensor& t, const Scalar& v, const TensorOptions& opt = {});

// Copies `data` into a new tensor of `shape` (default: 1-d). The dtype is
// T's unless opt says otherwise.
template <typename T>
Tensor from_vector(const std::vector<T>& data, std::optional<Shape> shape = {}, const TensorOptions& opt = {});
// tensor({1.f, 2.f, 3.f}, {3}); like torch.tensor.
Tensor tensor(std::initializer_list<float> data, std::optional<Shape> shape = {}, const TensorOptions& opt = {});
Tensor tensor(std::initializer_list<double> data, std::optional<Shape> shape = {}, const TensorOptions& opt = {});
Tensor tensor(std::initializer_list<int64_t> data, std::optional<Shape> shape = {}, const TensorOptions& opt = {});
Tensor tensor(std::initializer_list<int> data, std::optional<Shape> shape = {}, const TensorOptions& opt = {});
Tensor tensor(std::initializer_list<bool> data, std::optional<Shape> shape = {}, const TensorOptions& opt = {});

// Wraps memory the caller owns (no copy); `deleter` runs when the last view
// dies. Strides default to contiguous.
Tensor from_blob(void* data, const Shape& shape, DType dtype, std::optional<Shape> strides = {},
                 std::function<void(void*)> deleter = {});

}  // namespace wick
