// DType sizes, names and PyTorch's promotion lattice.
#include "tensor/dtype.h"

namespace wick {

size_t dtype_size(DType t) {
  switch (t) {
    case kBool: case kUInt8: return 1;
    case kFloat16: case kBFloat16: return 2;
    case kInt32: case kFloat32: return 4;
    case kInt64: case kFloat64: return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case kBool: return "bool";
    case kUInt8: return "uint8";
    case kInt32: return "int32";
    case kInt64: return "int64";
    case kFloat16: return "float16";
    case kBFloat16: return "bfloat16";
    case kFloat32: return "float32";
    case kFloat64: return "float64";
  }
  return "?";
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  // float16 with bfloat16 has no exact common type smaller than float32.
  if ((a == kFloat16 && b == kBFloat16) || (a == kBFloat16 && b == kFloat16)) return kFloat32;
  bool fa = is_floating(a), fb = is_floating(b);
  if (fa && !fb) return a;
  if (fb && !fa) return b;
  // Same category: the enum is ordered by width within each category.
  return static_cast<uint8_t>(a) > static_cast<uint8_t>(b) ? a : b;
}

namespace {
DType g_default_dtype = kFloat32;
}
DType default_dtype() { return g_default_dtype; }
void set_default_dtype(DType t) {
  WICK_CHECK(t == kFloat32 || t == kFloat64, "set_default_dtype: only float32 or float64, got ", t);
  g_default_dtype = t;
}

}  // namespace wick
