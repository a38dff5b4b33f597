// Fill and copy-with-conversion kernels. Both are unary_loop over the
// destination's strides, so non-contiguous destinations (a slice being
// filled, a transposed copy) take the same path as contiguous ones.
#include "ops/cpu/fill.h"
#include "ops/cpu/loops.h"

namespace wick::cpu {

namespace {
template <typename To, typename From>
To convert(From v) {
  if constexpr (std::is_same_v<To, bool>)
    return v != From(0);
  else
    return static_cast<To>(v);
}
}  // namespace

void fill(const Tensor& t, const Scalar& v) {
  if (t.numel() == 0) return;
  WICK_DISPATCH_ALL(t.dtype(), "fill", [&]<typename T>() {
    const T value = v.is_floating() ? convert<T>(v.to<double>()) : convert<T>(v.to<int64_t>());
    if (t.is_contiguous()) {
      T* p = t.data_ptr<T>();
      parallel_for(0, t.numel(), kParallelGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) p[i] = value;
      });
    } else {
      unary_loop<T, T>(t, t, [value](T) { return value; });
    }
  });
}

void copy(const Tensor& dst, const Tensor& src) {
  WICK_DISPATCH_ALL(dst.dtype(), "copy_", [&]<typename To>() {
    WICK_DISPATCH_ALL(src.dtype(), "copy_", [&]<typename From>() {
      unary_loop<To, From>(dst, src, [](From v) { return convert<To>(v); });
    });
  });
}

}  // namespace wick::cpu
