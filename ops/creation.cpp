#include "ops/creation.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "ops/copy.h"
#include "ops/cpu/fill.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/fill.h"
#endif

namespace wick {

namespace {
Tensor finish(Tensor t, const TensorOptions& opt) {
  if (opt.requires_grad_) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor empty(const Shape& shape, const TensorOptions& opt) {
  for (int64_t d : shape) WICK_CHECK(d >= 0, "empty: negative dimension in shape ", shape_str(shape));
  DType dt = opt.dtype_or_default();
  auto storage = std::make_shared<Storage>(static_cast<size_t>(numel_of(shape)) * dtype_size(dt), opt.device_);
  return finish(make_tensor(std::move(storage), shape, contiguous_strides(shape), 0, dt), opt);
}

Tensor full(const Shape& shape, const Scalar& v, const TensorOptions& opt) {
  TensorOptions o = opt;
  if (!o.dtype_) o.dtype_ = v.natural_dtype();
  Tensor t = empty(shape, o.requires_grad(false));
#ifdef WICK_WITH_CUDA
  if (t.is_cuda()) {
    cuda::fill(t, v);
    return finish(t, opt);
  }
#endif
  cpu::fill(t, v);
  return finish(t, opt);
}

Tensor zeros(const Shape& shape, const TensorOptions& opt) {
  return full(shape, 0, opt.dtype(opt.dtype_or_default()));
}
Tensor ones(const Shape& shape, const TensorOptions& opt) { return full(shape, 1, opt.dtype(opt.dtype_or_default())); }
Tensor scalar_tensor(const Scalar& v, const TensorOptions& opt) { return full({}, v, opt); }

Tensor arange(const Scalar& end, const TensorOptions& opt) { return arange(0, end, 1, opt); }

Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, const TensorOptions& opt) {
  const bool all_int = !start.is_floating() && !end.is_floating() && !step.is_floating();
  TensorOptions o = opt;
  if (!o.dtype_) o.dtype_ = all_int ? kInt64 : default_dtype();
  const double s = start.to_double(), e = end.to_double(), st = step.to_double();
  WICK_CHECK(st != 0, "arange: step must be nonzero");
  WICK_CHECK(std::isfinite(s) && std::isfinite(e), "arange: start and end must be finite, got ", s, " and ", e);
  WICK_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), "arange: upper bound and larger bound inconsistent with step sign (start ",
             s, ", end ", e, ", step ", st, ")");
  int64_t n;
  if (all_int) {
    int64_t si = start.to_int(), ei = end.to_int(), sti = step.to_int();
    n = (ei - si + sti + (sti > 0 ? -1 : 1)) / sti;
  } else {
    n = static_cast<int64_t>(std::ceil((e - s) / st));
  }
  Tensor t = empty({n}, o.requires_grad(false));
#ifdef WICK_WITH_CUDA
  if (t.is_cuda()) {
    WICK_CHECK(t.dtype() != kBool, "arange: dtype bool is not supported");
    cuda::arange(t, start, step, all_int);
    return finish(t, opt);
  }
#endif
  WICK_DISPATCH_NUMERIC(t.dtype(), "arange", [&]<typename T>() {
    T* p = t.data_ptr<T>();
    if (all_int) {
      int64_t si = start.to_int(), sti = step.to_int();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(si + i * sti);
    } else {
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(s + static_cast<double>(i) * st);
    }
  });
  return finish(t, opt);
}

Tensor linspace(double start, double end, int64_t steps, const TensorOptions& opt) {
  WICK_CHECK(steps >= 0, "linspace: number of steps must be non-negative, got ", steps);
  Tensor t = empty({steps}, opt.requires_grad(false));
  // PyTorch's algorithm (aten RangeFactoriesKernel): start and end are first
  // converted to the output dtype, the step is computed in that dtype (double
  // for integer dtypes), the first half steps up from start and the second
  // half down from end, so both endpoints are exact; one step gives start.
  WICK_DISPATCH_NUMERIC(t.dtype(), "linspace", [&]<typename T>() {
    using S = std::conditional_t<std::is_integral_v<T>, double, T>;
    if constexpr (std::is_integral_v<T>) {
      // The conversion truncates toward zero: values in (lo - 1, hi + 1) fit.
      const double hi = std::ldexp(1.0, std::numeric_limits<T>::digits);
      const double lo = std::is_signed_v<T> ? -hi - 1.0 : -1.0;
      WICK_CHECK(start > lo && start < hi && end > lo && end < hi, "linspace: start ", start, " or end ", end,
                 " cannot be converted to dtype ", t.dtype(), " without overflow");
    }
    if (steps == 0) return;
#ifdef WICK_WITH_CUDA
    if (t.is_cuda()) {
      if (steps == 1)
        cuda::fill(t, static_cast<double>(static_cast<T>(start)));
      else
        cuda::linspace(t, start, end);
      return;
    }
#endif
    T* p = t.data_ptr<T>();
    const T s = static_cast<T>(start), e = static_cast<T>(end);
    if (steps == 1) {
      p[0] = s;
      return;
    }
    const S step = (static_cast<S>(e) - static_cast<S>(s)) / static_cast<S>(steps - 1);
    const int64_t half = steps / 2;
    for (int64_t i = 0; i < steps; ++i)
      p[i] = static_cast<T>(i < half ? static_cast<S>(s) + step * static_cast<S>(i)
                                     : static_cast<S>(e) - step * static_cast<S>(steps - i - 1));
  });
  return finish(t, opt);
}

Tensor eye(int64_t n, std::optional<int64_t> m, const TensorOptions& opt) {
  int64_t cols = m.value_or(n);
  WICK_CHECK(n >= 0 && cols >= 0, "eye: sizes must be non-negative, got ", n, " x ", cols);
  Tensor t = zeros({n, cols}, opt.requires_grad(false));
#ifdef WICK_WITH_CUDA
  if (t.is_cuda()) {
    cuda::eye_diagonal(t);
    return finish(t, opt);
  }
#endif
  WICK_DISPATCH_ALL(t.dtype(), "eye", [&]<typename T>() {
    T* p = t.data_ptr<T>();
    for (int64_t i = 0; i < std::min(n, cols); ++i) p[i * cols + i] = static_cast<T>(1);
  });
  return finish(t, opt);
}

namespace {
TensorOptions like(const Tensor& t, const TensorOptions& opt) {
  TensorOptions o = opt;
  if (!o.dtype_) o.dtype_ = t.dtype();
  if (opt.device_ == kCPU && !t.is_cpu()) o.device_ = t.device();
  return o;
}
}  // namespace

Tensor empty_like(const Tensor& t, const TensorOptions& opt) { return empty(t.sizes(), like(t, opt)); }
Tensor zeros_like(const Tensor& t, const TensorOptions& opt) { return zeros(t.sizes(), like(t, opt)); }
Tensor ones_like(const Tensor& t, const TensorOptions& opt) { return ones(t.sizes(), like(t, opt)); }
Tensor full_like(const Tensor& t, const Scalar& v, const TensorOptions& opt) {
  return full(t.sizes(), v, like(t, opt));
}

template <typename T>
Tensor from_vector(const std::vector<T>& data, std::optional<Shape> shape, const TensorOptions& opt) {
  Shape s = shape.value_or(Shape{static_cast<int64_t>(data.size())});
  WICK_CHECK(numel_of(s) == static_cast<int64_t>(data.size()), "from_vector: shape ", shape_str(s), " holds ",
             numel_of(s), " elements but ", data.size(), " values were given");
  Tensor t = empty(s, TensorOptions(dtype_v<T>));
  T* p = t.numel() ? t.data_ptr<T>() : nullptr;
  for (size_t i = 0; i < data.size(); ++i) p[i] = data[i];
  if (opt.dtype_ && *opt.dtype_ != dtype_v<T>) t = t.to(*opt.dtype_);
  if (opt.device_ != kCPU) t = t.to(opt.device_);
  return finish(t, opt);
}
template Tensor from_vector<bool>(const std::vector<bool>&, std::optional<Shape>, const TensorOptions&);
template Tensor from_vector<uint8_t>(const std::vector<uint8_t>&, std::optional<Shape>, const TensorOptions&);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, std::optional<Shape>, const TensorOptions&);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, std::optional<Shape>, const TensorOptions&);
template Tensor from_vector<float>(const std::vector<float>&, std::optional<Shape>, const TensorOptions&);
template Tensor from_vector<double>(const std::vector<double>&, std::optional<Shape>, const TensorOptions&);

Tensor tensor(std::initializer_list<float> d, std::optional<Shape> s, const TensorOptions& o) {
  return from_vector(std::vector<float>(d), s, o);
}
Tensor tensor(std::initializer_list<double> d, std::optional<Shape> s, const TensorOptions& o) {
  return from_vector(std::vector<double>(d), s, o);
}
Tensor tensor(std::initializer_list<int64_t> d, std::optional<Shape> s, const TensorOptions& o) {
  return from_vector(std::vector<int64_t>(d), s, o);
}
Tensor tensor(std::initializer_list<int> d, std::optional<Shape> s, const TensorOptions& o) {
  std::vector<int64_t> v(d.begin(), d.end());
  return from_vector(v, s, o);
}
Tensor tensor(std::initializer_list<bool> d, std::optional<Shape> s, const TensorOptions& o) {
  return from_vector(std::vector<bool>(d), s, o);
}

Tensor from_blob(void* data, const Shape& shape, DType dtype, std::optional<Shape> strides,
                 std::function<void(void*)> deleter) {
  Shape st = strides.value_or(contiguous_strides(shape));
  WICK_CHECK(st.size() == shape.size(), "from_blob: ", shape.size(), " sizes but ", st.size(), " strides");
  int64_t max_off = 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    WICK_CHECK(shape[i] >= 0 && st[i] >= 0, "from_blob: negative size or stride");
    if (shape[i] > 0) max_off += (shape[i] - 1) * st[i];
  }
  size_t nbytes = numel_of(shape) == 0 ? 0 : static_cast<size_t>(max_off + 1) * dtype_size(dtype);
  auto storage = std::make_shared<Storage>(data, nbytes, kCPU, std::move(deleter));
  return make_tensor(std::move(storage), shape, st, 0, dtype);
}

}  // namespace wick
