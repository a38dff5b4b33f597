// Shapes and strides: element counts, contiguous strides, dimension wrapping
// (negative dims count from the end) and NumPy broadcasting.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace wick {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& s);
Shape contiguous_strides(const Shape& sizes);
// "[2,3,4]"
std::string shape_str(const Shape& s);

// Wraps dim into [0, ndim); throws naming `op` when out of range.
// A 0-d tensor accepts dims -1 and 0 (like PyTorch).
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

// NumPy broadcasting of two or more shapes; throws naming `op` on mismatch.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
Shape broadcast_shapes(const std::vector<Shape>& shapes, const char* op);

// A sorted set of wrapped reduction dims; empty `dims` means all dims.
std::vector<int64_t> reduction_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op);

struct ShapePrinter {
  const Shape& s;
};
inline std::ostream& operator<<(std::ostream& os, const ShapePrinter& p) { return os << shape_str(p.s); }

}  // namespace wick
