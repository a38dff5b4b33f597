// cuBLAS and cuBLASLt as the vendor alternates of wick's CUDA GEMM
// (cuda/kernels/gemm.cu): the same GemmArgs run by cublasGemmStridedBatchedEx
// or by cublasLtMatmul. One handle of each per device, created on first use;
// every call runs on cuda::current_stream(). Selected per call
// (GemmBackend::Cublas, GemmBackend::CublasLt) or for the process with
// WICK_CUDA_GEMM=cublas|cublaslt. Plain C++ header (no cuBLAS types).
#pragma once

#include "cuda/kernels/gemm.h"

namespace wick::cuda::vendor {

// Runs g with cuBLAS on the current device and stream. Sizes, leading
// dimensions and the batch count must fit cuBLAS's 32-bit int parameters
// (wick::Error otherwise). Float32 uses CUBLAS_COMPUTE_32F (no TF32), float64
// CUBLAS_COMPUTE_64F, float16/bfloat16 inputs CUBLAS_COMPUTE_32F (fp32
// accumulation, like wick's tensor-core kernel).
void cublas_gemm(const GemmArgs& g);

// The same product through cuBLASLt (the library under PyTorch's addmm on
// recent versions): the same compute types and size limits as cublas_gemm.
// The algorithm comes from cublasLtMatmulAlgoGetHeuristic, asked once per
// (shape, layout, dtypes, operand alignment) and cached. wick::Error when
// cuBLASLt offers no algorithm for the arguments.
void cublaslt_gemm(const GemmArgs& g);

// Both take a 32 MiB workspace per call from wick's caching allocator on the
// current stream (a cached block: no cudaMalloc), so that calls queued on
// different streams (cuda/stream.h) never share scratch memory.

}  // namespace wick::cuda::vendor
