// The shape of the tensor maps through which the copy engine (TMA) reads an
// attention operand's slices (attention_fa2.cu, make_slices_map): a 4-d array
// (64, rows, heads, N / heads), innermost first, over t [..., rows, 64] in its
// SliceLayout (slice n = batch * heads + head; ops/attention_slices.h).
// Plain C++, so that tests/cuda/test_attention.cpp checks it on the CPU.
#pragma once

#include <cstdint>
#include <optional>

#include "ops/attention_slices.h"

namespace wick::cuda {

struct SliceMapShape {
  uint64_t dims[4];     // 64, rows, heads, batches
  uint64_t strides[3];  // bytes between consecutive rows, heads, batches
};

// The map's dimensions and strides for `rows` rows of N slices in layout l
// with elements of elem_bytes, or nullopt where the copy engine cannot take
// them (cuTensorMapEncodeTiled: strides multiples of 16 bytes below 2^40;
// a stride of 0, as of a broadcast dim, counts as not taken) or they are no
// tensor (rows, N < 1; N not a whole number of batches). A dim of size 1 gets
// the packed stride, its own never being used.
inline std::optional<SliceMapShape> slice_map_shape(const SliceLayout& l, int64_t rows, int64_t N,
                                                    int64_t elem_bytes) {
  if (rows <= 0 || N <= 0 || l.heads <= 0 || N % l.heads != 0 || elem_bytes <= 0) return std::nullopt;
  SliceMapShape m{{64, static_cast<uint64_t>(rows), static_cast<uint64_t>(l.heads), static_cast<uint64_t>(N / l.heads)},
                  {}};
  const int64_t given[3] = {l.row_stride * elem_bytes, l.head_stride * elem_bytes, l.batch_stride * elem_bytes};
  for (int i = 0; i < 3; ++i) {
    const int64_t st = m.dims[i + 1] == 1 ? (i == 0 ? 64 * elem_bytes : static_cast<int64_t>(m.strides[i - 1] * m.dims[i]))
                                          : given[i];
    if (st <= 0 || st % 16 != 0 || st >= (int64_t{1} << 40)) return std::nullopt;
    m.strides[i] = static_cast<uint64_t>(st);
  }
  return m;
}

}  // namespace wick::cuda
