// CUDA copies: the kernel behind copy_/clone/contiguous/to(dtype) on a GPU,
// and transfers between host and device (and between devices) behind
// Tensor::to(Device) and copy_ across devices. Mirrors ops/cpu/fill.h's copy.
#pragma once

#include "tensor/tensor.h"

namespace wick::cuda {

// dst[i] = convert(src[i]); src broadcast to dst's shape; any strides and
// any two dtypes; dst and src on the same CUDA device. Asynchronous (queued
// on the device's stream).
void copy(const Tensor& dst, const Tensor& src);

// The strided fast paths of copy() (vectorized inner runs and tiled
// transposes, copy.cu), ON by default since they passed
// tests/cuda/test_copy.cpp in both settings on an H200 (2026-11-27).
// WICK_CUDA_COPY_FAST=0 sends every strided copy to the reference kernel for
// the process; the setter (process-wide) lets tests run both.
void set_fast_strided_copies(bool on);
bool fast_strided_copies();

// The same contract across devices, at least one of them CUDA: host to
// device, device to host (returns only once the host memory holds the
// values), device to device. The dtype conversion and broadcast run on the
// GPU, so float16/bfloat16 (which the CPU kernels do not take) convert too.
void copy_across_devices(const Tensor& dst, const Tensor& src);

}  // namespace wick::cuda
