// DType: the element types a Tensor can hold, their sizes, names, type
// promotion (PyTorch's rules) and the dispatch macro that turns a runtime
// dtype into a template parameter.
//
// float16/bfloat16 are named so the CUDA backend can add them; the CPU kernels
// reject them with a clear error for now.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "tensor/error.h"

namespace wick {

enum class DType : uint8_t {
  Bool,
  UInt8,
  Int32,
  Int64,
  Float16,
  BFloat16,
  Float32,
  Float64,
};

inline constexpr DType kBool = DType::Bool;
inline constexpr DType kUInt8 = DType::UInt8;
inline constexpr DType kInt32 = DType::Int32;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kFloat16 = DType::Float16;
inline constexpr DType kBFloat16 = DType::BFloat16;
inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "float32", "int64", ...
inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

inline bool is_floating(DType t) {
  return t == kFloat32 || t == kFloat64 || t == kFloat16 || t == kBFloat16;
}
inline bool is_integral(DType t, bool include_bool = false) {
  return t == kUInt8 || t == kInt32 || t == kInt64 || (include_bool && t == kBool);
}

// The smallest dtype that can hold both (torch.promote_types).
DType promote_types(DType a, DType b);

// Default floating dtype (torch.get_default_dtype); float32 unless changed.
DType default_dtype();
void set_default_dtype(DType t);

template <typename T>
struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = kBool; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = kUInt8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = kInt32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = kInt64; };
template <> struct dtype_of<float> { static constexpr DType value = kFloat32; };
template <> struct dtype_of<double> { static constexpr DType value = kFloat64; };
template <typename T>
inline constexpr DType dtype_v = dtype_of<T>::value;

// The accumulation type for reductions over T.
template <typename T> struct acc_type { using type = T; };
template <> struct acc_type<float> { using type = double; };
template <> struct acc_type<bool> { using type = int64_t; };
template <> struct acc_type<uint8_t> { using type = int64_t; };
template <> struct acc_type<int32_t> { using type = int64_t; };
template <typename T> using acc_t = typename acc_type<T>::type;

}  // namespace wick

// Dispatch on a runtime dtype: body is a C++20 template lambda
// `[&]<typename T>() { ... }`, called with T the C++ element type.
//   WICK_DISPATCH_ALL     bool, uint8, int32, int64, float32, float64
//   WICK_DISPATCH_NUMERIC uint8, int32, int64, float32, float64
//   WICK_DISPATCH_FLOAT   float32, float64
#define WICK_DISPATCH_CASE_(DT, CT, ...) \
  case DT:                               \
    return __VA_ARGS__.template operator()<CT>();

#define WICK_DISPATCH_ALL(dtype, op, ...)                                         \
  [&] {                                                                           \
    switch (dtype) {                                                              \
      WICK_DISPATCH_CASE_(::wick::kBool, bool, __VA_ARGS__)                       \
      WICK_DISPATCH_CASE_(::wick::kUInt8, uint8_t, __VA_ARGS__)                   \
      WICK_DISPATCH_CASE_(::wick::kInt32, int32_t, __VA_ARGS__)                   \
      WICK_DISPATCH_CASE_(::wick::kInt64, int64_t, __VA_ARGS__)                   \
      WICK_DISPATCH_CASE_(::wick::kFloat32, float, __VA_ARGS__)                   \
      WICK_DISPATCH_CASE_(::wick::kFloat64, double, __VA_ARGS__)                  \
      default:                                                                    \
        throw ::wick::Error(::wick::str(op, ": dtype ", dtype, " is not supported on the CPU")); \
    }                                                                             \
  }()

#define WICK_DISPATCH_NUMERIC(dtype, op, ...)                                     \
  [&] {                                                                           \
    switch (dtype) {                                                              \
      WICK_DISPATCH_CASE_(::wick::kUInt8, uint8_t, __VA_ARGS__)                   \
      WICK_DISPATCH_CASE_(::wick::kInt32, int32_t, __VA_ARGS__)                   \
      WICK_DISPATCH_CASE_(::wick::kInt64, int64_t, __VA_ARGS__)                   \
      WICK_DISPATCH_CASE_(::wick::kFloat32, float, __VA_ARGS__)                   \
      WICK_DISPATCH_CASE_(::wick::kFloat64, double, __VA_ARGS__)                  \
      default:                                                                    \
        throw ::wick::Error(::wick::str(op, ": dtype ", dtype, " is not supported")); \
    }                                                                             \
  }()

#define WICK_DISPATCH_FLOAT(dtype, op, ...)                                       \
  [&] {                                                                           \
    switch (dtype) {                                                              \
      WICK_DISPATCH_CASE_(::wick::kFloat32, float, __VA_ARGS__)                   \
      WICK_DISPATCH_CASE_(::wick::kFloat64, double, __VA_ARGS__)                  \
      default:                                                                    \
        throw ::wick::Error(::wick::str(op, ": expected a floating dtype (float32 or float64), got ", dtype)); \
    }                                                                             \
  }()
