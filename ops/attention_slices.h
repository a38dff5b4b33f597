// How the attention kernels (ops/cpu/attention.h, cuda/kernels/attention.h)
// address their operands: a batch of N row-major matrices [N, rows, cols]
// ("slices", one per batch and head) whose rows need not be packed.
//
// Slice n = b * heads + h starts b * batch_stride + h * head_stride elements
// after the base pointer; its rows are row_stride elements apart, and each
// row's cols elements are adjacent. That covers the layouts attention meets
// without a copy:
//   packed [N, L, E]                  heads 1,  batch_stride L E, row_stride E
//   heads split from [B, L, H * E]    heads H,  batch_stride L H E, head_stride E,
//     (q.view(B, L, H, E).transpose(1, 2),      row_stride H E
//      PyTorch's and GPT's layout)
//   q, k, v as slices of one         row_stride 3 H E
//     [B, L, 3 H E] projection
//   a broadcast (stride 0) batch dim  head_stride 0 (k, v shared by heads)
// Plain C++ and CUDA (the kernels take the struct by value).
#pragma once

#include <cstdint>
#include <optional>

#include "tensor/shape.h"
#include "tensor/tensor.h"

#if defined(__CUDACC__)
#define WICK_SLICES_FN __host__ __device__ __forceinline__
#else
#define WICK_SLICES_FN inline
#endif

namespace wick {

struct SliceLayout {
  int64_t heads = 1;         // slices per batch entry (n = b * heads + h)
  int64_t batch_stride = 0;  // elements between slices b and b + 1
  int64_t head_stride = 0;   // elements between slices h and h + 1 of one b
  int64_t row_stride = 0;    // elements between consecutive rows of a slice

  // Element offset of row r of slice n.
  WICK_SLICES_FN int64_t offset(int64_t n, int64_t r) const {
    const int64_t b = n / heads;
    return b * batch_stride + (n - b * heads) * head_stride + r * row_stride;
  }

  // Packed [N, rows, cols].
  static WICK_SLICES_FN SliceLayout packed(int64_t rows, int64_t cols) { return {1, rows * cols, 0, cols}; }
};

// One slice: its row 0 and the row stride.
template <typename T>
struct SliceRows {
  T* data = nullptr;
  int64_t ld = 0;

  WICK_SLICES_FN T* row(int64_t r) const { return data + r * ld; }
};

// A base pointer with its layout; data == nullptr stands for "not wanted"
// (an output gradient not computed). Kernels take slice(n) once (offset
// divides by heads) and address rows through it.
template <typename T>
struct Slices {
  T* data = nullptr;
  SliceLayout at;

  WICK_SLICES_FN SliceRows<T> slice(int64_t n) const {
    return {data ? data + at.offset(n, 0) : nullptr, at.row_stride};
  }
  WICK_SLICES_FN T* row(int64_t n, int64_t r) const { return data + at.offset(n, r); }
  WICK_SLICES_FN int64_t ld() const { return at.row_stride; }
  WICK_SLICES_FN explicit operator bool() const { return data != nullptr; }
};

// The layout of t [batch..., rows, cols] as N = prod(batch) slices, or
// nullopt when the kernels cannot read it in place: its last dim is not
// adjacent (stride 1; any stride when cols <= 1), or its batch dims (size-1
// dims dropped, adjacent dims that tile each other merged) are more than
// two strides. Strides 0 (broadcast dims) are taken. An empty t gets the
// packed layout (the kernels read nothing).
std::optional<SliceLayout> slice_layout(const Tensor& t);

// t's first element and slice_layout, for a kernel argument; an undefined t
// gives the empty Slices (not wanted). A wick::Error when t has no
// slice_layout (callers copy such operands packed first).
template <typename T>
Slices<T> slices_of(const Tensor& t) {
  if (!t.defined()) return {};
  const std::optional<SliceLayout> l = slice_layout(t);
  WICK_CHECK(l.has_value(), "scaled_dot_product_attention: internal: an operand of shape ", shape_str(t.sizes()),
             " whose rows are not packed or whose batch dims are not two strides");
  return {static_cast<T*>(t.data_ptr_raw()), *l};
}

}  // namespace wick
