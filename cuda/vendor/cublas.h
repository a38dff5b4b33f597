// cuBLAS as the vendor alternate of wick's CUDA GEMM (cuda/kernels/gemm.cu):
// the same GemmArgs run by cublasGemmStridedBatchedEx. One cuBLAS handle per
// device, created on first use and bound to cuda::current_stream() before
// every call. Selected per call (GemmBackend::Cublas) or for the process with
// WICK_CUDA_GEMM=cublas. Plain C++ header (no cuBLAS types).
#pragma once

#include "cuda/kernels/gemm.h"

namespace wick::cuda::vendor {

// Runs g with cuBLAS on the current device and stream. Sizes, leading
// dimensions and the batch count must fit cuBLAS's 32-bit int parameters
// (wick::Error otherwise). Float32 uses CUBLAS_COMPUTE_32F (no TF32), float64
// CUBLAS_COMPUTE_64F, float16/bfloat16 inputs CUBLAS_COMPUTE_32F (fp32
// accumulation, like wick's tensor-core kernel).
void cublas_gemm(const GemmArgs& g);

}  // namespace wick::cuda::vendor
