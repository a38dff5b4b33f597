// CUDA kernels for index_select / index_add (and so embedding and its
// backward), gather and scatter / scatter_add of ops/indexing.cpp: the
// contracts of ops/cpu/indexing.h.
//  - index: contiguous int64 on the tensors' device; every index is checked
//    on the device before any element moves, and an out-of-range one throws
//    the CPU's error ("<op>: index i is out of bounds for dimension d with
//    size n", the first such index), which costs one read-back (a sync);
//  - index_add is deterministic: the output rows are split into buckets by
//    row % kBuckets, each thread owns one (outer, column, bucket) and adds its
//    rows' sources in index order, so no two threads write one element and
//    the summation order never changes (no atomics);
//  - gather / scatter check their indices inside the kernel that moves the
//    elements (a bad one is skipped and recorded) and read the record back
//    once after it, then throw the CPU's error; scatter's output may then be
//    partly written, which the ops never expose (they write a fresh clone);
//  - scatter_add accumulates with atomics (native float16/bfloat16 atomics on
//    sm_80+, a 32-bit compare-and-swap for uint8): with repeated indices the
//    float summation order, and so the last bits, may change from run to run
//    (PyTorch's CUDA scatter_add does the same). scatter without add and
//    repeated indices keeps one of the written values, unspecified which (the
//    CPU keeps the last in row-major order; PyTorch calls it undefined).
//    index_put without accumulate is the same with repeated indices;
//  - masked_select, masked_scatter and nonzero scan the mask with cumsum (an
//    inclusive count of true elements, so each true element knows its output
//    row) and read the total back once to size the output;
//  - index / index_put turn the index tensors into one table of element
//    offsets (wrapping negative indices, checking each), read one flag back,
//    then move the elements (index_put accumulate: atomics, as scatter_add).
#pragma once

#include <cstdint>

#include "ops/cpu/indexing.h"  // IndexSpec
#include "tensor/tensor.h"

namespace wick::cuda {

// out.select(dim, i) = x.select(dim, index[i]); x and out contiguous.
void index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index, const char* op);

// out.select(dim, index[i]) += src.select(dim, i); out and src contiguous, one dtype (not bool).
void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, const char* op);
// index_add through the index sorted stably (cuda::sort) and one pass that
// adds each output row's run of sources in index order: the same sums in the
// same order, so the same bits, as the bucket kernel, which scans all m
// indices once per (outer, column, bucket) and measured 1.3 ms for GPT-2's
// embedding backward (8192 rows of 768 into 50257) on an H200. Opt-in
// (WICK_CUDA_INDEX_ADD_SORTED=1) until a GPU has run CudaIndexing.IndexAddSorted*;
// the counter: its launches.
void set_index_add_sorted(bool on);
bool index_add_sorted();
int64_t index_add_sorted_launches();

// out[p] = x[p with coordinate `dim` replaced by index[p]] for p in index's
// shape; out of index's shape; x, out and index (int64) any strides.
void gather(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index);

// out[p with coordinate `dim` replaced by index[p]] = src[p] (+= when add) for
// p in index's shape; src has out's dtype; any strides.
void scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool add);
// scatter with every src element = value (converted to out's dtype).
void scatter_fill(const Tensor& out, int64_t dim, const Tensor& index, const Scalar& value);

// 1-D tensor of the x[i] with mask[i], in row-major order; x and mask of one
// shape (any strides), mask bool.
Tensor masked_select(const Tensor& x, const Tensor& mask);
// out[i] = src[k] for the k-th true mask[i] in row-major order; out contiguous
// with mask's shape (untouched where mask is false); src 1-D, out's dtype.
void masked_scatter(const Tensor& out, const Tensor& mask, const Tensor& src);
// [n, x.dim()] int64 coordinates of the nonzero elements (NaN is nonzero).
Tensor nonzero(const Tensor& x);

// out = x[spec] (the geometry of cpu::IndexSpec; index tensors on x's device).
void index(const Tensor& out, const Tensor& x, const cpu::IndexSpec& spec);
// out[spec] = values (or += when accumulate); out contiguous; values
// contiguous of the result shape, out's dtype.
void index_put(const Tensor& out, const cpu::IndexSpec& spec, const Tensor& values, bool accumulate);

}  // namespace wick::cuda
