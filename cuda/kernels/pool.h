// CUDA pooling and resampling kernels for ops/pool.cpp: max_pool2d (values
// and argmax) and its backward, the argmax gather (the backward of the
// backward), window averages (avg_pool2d, adaptive_avg_pool2d) and
// resampling (interpolate nearest / bilinear) with their adjoints. The same
// contracts as the CPU kernels of ops/cpu/pool.h: tensors are contiguous
// [..., H, W], i.e. P = numel / (H W) independent planes, and the ops layer
// builds one plan (cpu::MaxPoolGeometry / AvgWindows / Resample) that both
// backends follow, so the index and weight arithmetic (PyTorch's rules) lives
// in one place.
//
// Differences from the CPU kernels:
//  - dtypes: float32, float64, and float16/bfloat16 (stored as such,
//    computed in float32);
//  - every backward is a gather: each input element sums, in a fixed order,
//    the outputs whose window (or taps) read it, so no atomics anywhere and
//    the results are deterministic; the sums run in float32 (16-bit, float32)
//    or float64 instead of the CPU's in-place T accumulation, so the last
//    bits may differ;
//  - the avg-window and resample plans are uploaded once per op call as small
//    index/weight tables (window_tables / resample_tables), shared by the
//    forward and every backward that the call records.
#pragma once

#include <cstdint>

#include "ops/cpu/pool.h"
#include "tensor/tensor.h"

namespace wick::cuda {

// A plan's tables on the device: int64 indices and float64 weights (layouts
// private to pool.cu; undefined weights for window averages).
struct PoolTables {
  Tensor idx, wts;
};
PoolTables window_tables(const cpu::AvgWindows& w, Device device);
PoolTables resample_tables(const cpu::Resample& r, Device device);

// out, idx: [P, OH, OW] (x's dtype, int64) from x [P, H, W]; see cpu::max_pool2d.
void max_pool2d(const cpu::MaxPoolGeometry& g, const Tensor& x, const Tensor& out, const Tensor& idx);
// gx [P, H, W] = scatter_add of gy [P, OH, OW] at idx (plane_scatter_add),
// computed as a gather: input (h, w) sums gy over the outputs of the geometry
// whose window covers it and whose idx is h * W + w.
void max_pool2d_backward(const cpu::MaxPoolGeometry& g, const Tensor& gy, const Tensor& idx, const Tensor& gx);
// out[p, l] = x[p, idx[p, l]] (0 where idx < 0); x [P, HW], idx/out [P, L].
void plane_gather(int64_t P, int64_t L, int64_t HW, const Tensor& x, const Tensor& idx, const Tensor& out);

// See cpu::window_avg / window_avg_adjoint; t = window_tables(w, ...).
void window_avg(int64_t P, const cpu::AvgWindows& w, const PoolTables& t, const Tensor& x, const Tensor& out);
void window_avg_adjoint(int64_t P, const cpu::AvgWindows& w, const PoolTables& t, const Tensor& g, const Tensor& gx);

// See cpu::resample / resample_adjoint; t = resample_tables(r, ...).
void resample(int64_t P, const cpu::Resample& r, const PoolTables& t, const Tensor& x, const Tensor& out);
void resample_adjoint(int64_t P, const cpu::Resample& r, const PoolTables& t, const Tensor& g, const Tensor& gx);

}  // namespace wick::cuda
