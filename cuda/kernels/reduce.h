// CUDA reduction kernels: the same entry points and contract as the CPU
// kernels of ops/cpu/reduction.h (read there what each computes). x has any
// strides; `dims` are sorted, wrapped, without duplicates; out is contiguous
// in keepdim order. ops/reduction.cpp calls these for CUDA tensors.
//
// Differences from the CPU kernels:
//  - accumulation precision: float32 (and float16/bfloat16) data accumulate
//    in float32 (the CPU uses double), float64 in float64, integers in
//    int64. The GPU sums in a tree (per-thread partials, warp shuffles,
//    blocks), so the error bound grows like O(log n) ulp plus the per-thread
//    sequential part, rather than O(n); tests/cuda/test_reduction.cpp
//    allows 2e-6 * sqrt(n) absolute + 2e-5 relative against the CPU;
//  - float16 and bfloat16 inputs are accepted wherever float32 is;
//  - results are deterministic (no atomics; a fixed partition of the work
//    and a fixed merge order), bit-identical run to run on one GPU model and
//    launch geometry, but they may differ in the last bits from the CPU's;
//  - arg_extremum breaks ties by the smaller index (the CPU's "first"
//    index: identical results).
#pragma once

#include "ops/cpu/reduction.h"
#include "tensor/tensor.h"

namespace wick::cuda {

using cpu::ReduceDims;

void sum(const Tensor& x, const ReduceDims& dims, const Tensor& out);
void prod(const Tensor& x, const ReduceDims& dims, const Tensor& out);
void mean(const Tensor& x, const ReduceDims& dims, const Tensor& out);
void var(const Tensor& x, const ReduceDims& dims, int64_t correction, bool take_sqrt, const Tensor& out);
void logsumexp(const Tensor& x, const ReduceDims& dims, const Tensor& out);
void norm(const Tensor& x, double p, const ReduceDims& dims, const Tensor& out);
void extremum(const Tensor& x, const ReduceDims& dims, bool is_max, const Tensor& out);
void arg_extremum(const Tensor& x, const ReduceDims& dims, bool is_max, const Tensor& values, const Tensor& indices);
void all(const Tensor& x, const ReduceDims& dims, const Tensor& out);
void any(const Tensor& x, const ReduceDims& dims, const Tensor& out);
// Inclusive prefix (reverse: suffix) sum along dim; out contiguous, x's shape
// and dtype (integers: the op layer passes int64). Accumulates in double for
// float32 (a scan is sequential along the dim, so a float sum would drift).
void cumsum(const Tensor& x, int64_t dim, bool reverse, const Tensor& out);

// The vectorized columns kernel (reduce.cu: one 16-byte load per row for
// V = 16 / sizeof(T) adjacent outputs, 4 rows in flight) for reductions over
// the leading dims of a contiguous [rows, C] block with aligned rows (the
// bias gradients of linear layers, sum over the tokens).
// CudaReduction.VectorizedColumns passed on an H100 (2026-11-27); OFF by
// default until bench_cuda_elementwise's sum/bias_grad rows time it;
// WICK_CUDA_REDUCE_VEC=1 turns it on for the process, the setter
// (process-wide) lets tests run both.
void set_reduce_columns_vectorized(bool on);
bool reduce_columns_vectorized();

}  // namespace wick::cuda
