// CUDA kernels for ops/nn.cpp: fused softmax / log_softmax forward and
// backward, and layer_norm / rms_norm forward and backward. The same entry
// points and contracts as the CPU kernels of ops/cpu/nn.h (read there what
// each computes); ops/nn.cpp calls these for CUDA tensors.
//
// Differences from the CPU kernels:
//  - dtypes: float32, float64, and float16/bfloat16 (stored as such,
//    computed in float32);
//  - accumulation: float32 (and 16-bit) data accumulate in float32 (the CPU
//    uses double), float64 in float64; sums are tree reductions within a
//    block, so results may differ from the CPU's in the last bits;
//  - deterministic: no atomics; layer_norm's weight and bias gradients are
//    summed from per-chunk partials in a fixed order.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace wick::cuda {

// out = softmax(x) (log_softmax when `log`) along `dim`; x and out contiguous,
// same shape and dtype. A 0-d x counts as [1].
void softmax(const Tensor& out, const Tensor& x, int64_t dim, bool log);

// gx from gy and the forward output y along `dim` (all contiguous, same shape):
//   softmax:      gx = y * (gy - sum(gy * y))
//   log_softmax:  gx = gy - exp(y) * sum(gy)
void softmax_backward(const Tensor& gx, const Tensor& gy, const Tensor& y, int64_t dim, bool log);

// Whether the block-per-row kernels (softmax over the last dim, layer_norm
// and rms_norm, and the fused cross entropy over [N, C] logits,
// cuda/kernels/loss.cu) sweep their
// rows in chunks of 8 values per thread (row_chunks, block.cuh: one 16-byte
// load of bf16 where aligned, else 8 loads in flight together) instead of
// one value per thread and step, whose 2- or 4-byte loads leave the memory
// system mostly idle. A reduction's summation order then depends on the
// index alone (the same for bf16 and float32 logits). On since
// CudaLoss.CrossEntropyRowChunks, CudaNn.SoftmaxRowChunks and
// CudaNn.LayerNormRowChunks passed on an H200 (2026-11-28;
// WICK_CUDA_ROW_CHUNKS=0 to turn off). Their
// blocks then have a warp per 256 values (row_threads_chunked: GPT-2's
// 768-wide rows take 3 warps) instead of one per 32.
void set_row_kernels_chunked(bool on);
bool row_kernels_chunked();

// The dtype of layer_norm's saved mean/rstd for input dtype x: float32 for
// float16/bfloat16 (as PyTorch), else x.
DType layer_norm_stats_dtype(DType x);

// x, out contiguous [rows, cols]; per row mean (0 with `rms`) and
// rstd = 1 / sqrt(mean((x - mean)^2) + eps); out = (x - mean) * rstd * w + b.
// w, b: [cols] or undefined; mean (undefined for rms) and rstd: `rows` values
// of layer_norm_stats_dtype(x).
void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, int64_t rows, int64_t cols, double eps, bool rms);

// Backward of layer_norm with the forward's statistics; any of gx, gw, gb may
// be undefined (not computed).
void layer_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
                         const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t rows, int64_t cols,
                         bool rms);

}  // namespace wick::cuda
