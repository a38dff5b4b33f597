// Scalar: a number passed where a tensor could be (x + 2, clamp(x, 0, 1)).
// Holds a bool, an int64 or a double and remembers which, because PyTorch's
// type promotion treats them differently: an int tensor plus 2.5 is a float
// tensor, a float32 tensor plus 2.5 stays float32.
#pragma once

#include <concepts>
#include <cstdint>

#include "tensor/dtype.h"

namespace wick {

class Scalar {
 public:
  enum class Kind : uint8_t { Bool, Int, Float };

  Scalar() : kind_(Kind::Int), i_(0) {}
  Scalar(bool v) : kind_(Kind::Bool), i_(v) {}
  template <std::integral I>
    requires(!std::same_as<I, bool>)
  Scalar(I v) : kind_(Kind::Int), i_(static_cast<int64_t>(v)) {}
  template <std::floating_point F>
  Scalar(F v) : kind_(Kind::Float), d_(static_cast<double>(v)) {}

  Kind kind() const { return kind_; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_integral() const { return kind_ == Kind::Int; }
  bool is_floating() const { return kind_ == Kind::Float; }

  template <typename T>
  T to() const {
    return kind_ == Kind::Float ? static_cast<T>(d_) : static_cast<T>(i_);
  }
  double to_double() const { return to<double>(); }
  int64_t to_int() const { return to<int64_t>(); }

  // The dtype a bare number of this kind takes: bool, int64, default float.
  DType natural_dtype() const {
    return kind_ == Kind::Bool ? kBool : kind_ == Kind::Int ? kInt64 : default_dtype();
  }

 private:
  Kind kind_;
  union {
    int64_t i_;
    double d_;
  };
};

}  // namespace wick
