// cuDNN as the vendor alternate of wick's CUDA convolution
// (cuda/kernels/conv.cu): the three maps of cuda/kernels/conv.h run by cuDNN
// 9's legacy convolution API (cudnnConvolutionForward / BackwardData /
// BackwardFilter, algorithm by cudnnGet*Algorithm_v7's heuristic, workspace
// from wick's caching allocator). One cuDNN handle per device, created on
// first use and bound to cuda::current_stream() before every call. Selected
// per call (ConvBackend::Cudnn) or for the process with WICK_CUDA_CONV=cudnn.
// In a build without cuDNN every function throws wick::Error saying so.
//
// Precision: float32 computes in float32 with FMA kernels only (no TF32, so
// results compare with wick's to float32 rounding), float64 in float64,
// float16/bfloat16 with float32 accumulation. Plain C++ header.
#pragma once

#include "cuda/kernels/conv.h"

namespace wick::cuda::vendor {

// Whether wick was built with cuDNN.
bool cudnn_built();

// Whether cuDNN can run geometry g as given: cuDNN insists that the map is
// exactly the size the geometry implies, while wick's maps accept a smaller
// one (conv_transpose2d with output_padding >= stride). conv.cu runs the
// other geometries with wick's kernels.
bool cudnn_supports(const ConvGeometry& g);

// Arguments as in cuda/kernels/conv.h, already checked by the caller;
// sizes must fit cuDNN's 32-bit ints (wick::Error otherwise).
void cudnn_conv2d_forward(const ConvGeometry& g, const Tensor& image, const Tensor& weight, const Tensor& bias,
                          const Tensor& map);
void cudnn_conv2d_transpose(const ConvGeometry& g, const Tensor& map, const Tensor& weight, const Tensor& bias,
                            const Tensor& image);
void cudnn_conv2d_weight_grad(const ConvGeometry& g, const Tensor& image, const Tensor& map,
                              const Tensor& weight_grad);

}  // namespace wick::cuda::vendor
