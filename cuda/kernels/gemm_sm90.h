// The Hopper wgmma GEMM (gemm_sm90.cu), internal to the CUDA GEMM: gemm()
// runs it for GemmBackend::Wgmma. Plain C++ header.
#pragma once

#include "cuda/kernels/gemm.h"

namespace wick::cuda {

// Whether device `device` runs the wgmma kernel (compute capability 9.0).
bool wgmma_supported(int device);

// g (float16/bfloat16 inputs, any transposes and strides) on the current
// device and stream; wick::Error when the device is not sm_90.
void gemm_wgmma(const GemmArgs& g);

}  // namespace wick::cuda
