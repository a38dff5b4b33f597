// CUDA kernels for index_select / index_add (and so embedding and its
// backward) of ops/indexing.cpp: the contracts of ops/cpu/indexing.h.
//  - index: contiguous int64 on the tensors' device; every index is checked
//    on the device before any element moves, and an out-of-range one throws
//    the CPU's error ("<op>: index i is out of bounds for dimension d with
//    size n", the first such index), which costs one read-back (a sync);
//  - index_add is deterministic: the output rows are split into buckets by
//    row % kBuckets, each thread owns one (outer, column, bucket) and adds its
//    rows' sources in index order, so no two threads write one element and
//    the summation order never changes (no atomics).
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace wick::cuda {

// out.select(dim, i) = x.select(dim, index[i]); x and out contiguous.
void index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index, const char* op);

// out.select(dim, index[i]) += src.select(dim, i); out and src contiguous, one dtype (not bool).
void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, const char* op);

}  // namespace wick::cuda
