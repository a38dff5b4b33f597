// CUDA kernels for sort / argsort / topk of ops/sort.cpp: the contracts of
// ops/cpu/sort.h, with exactly the CPU's order: ascending with NaN after every
// number (descending: NaN first), -0.0 equal to 0.0, ties broken by the
// original position. The results (indices included) are deterministic and
// equal to the CPU's element for element.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace wick::cuda {

// values, indices (contiguous, x's shape; indices int64) = x sorted along dim.
void sort(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim, bool descending);
// values, indices (contiguous, x's shape with size k along dim) = the first k
// of x sorted along dim (descending when largest).
void topk(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, int64_t dim, bool largest);

// topk of rows longer than 2048 with k <= 2048 by radix select (one block per
// row: the k-th key byte by byte from histograms, then the k elements before
// it sorted in shared memory) instead of sorting the whole row. Same results.
// CudaSort.TopkRadixSelect* passed on an H100 (2026-11-27); OFF by default
// until bench_cuda_elementwise's topk rows time it against the sort path;
// set_topk_select(true) or WICK_CUDA_TOPK_SELECT=1.
void set_topk_select(bool on);
bool topk_select();

}  // namespace wick::cuda
