// cuDNN as the vendor alternate of wick's CUDA convolution
// (cuda/kernels/conv.cu): the three maps of cuda/kernels/conv.h run by cuDNN
// 9's legacy convolution API (cudnnConvolutionForward / BackwardData /
// BackwardFilter, workspace from wick's caching allocator). One cuDNN handle
// per device, created on first use and bound to cuda::current_stream() before
// every call. Selected per call (ConvBackend::Cudnn) or for the process with
// WICK_CUDA_CONV=cudnn. In a build without cuDNN every function throws
// wick::Error saying so.
//
// Algorithm: measured, like torch.backends.cudnn.benchmark = True. The first
// call of each (direction, dtype, geometry, device, pointer alignment) times
// every algorithm cuDNN offers on the call's own tensors
// (cudnnFind*AlgorithmEx, which synchronizes with the device once) and keeps
// the fastest within the precision below; later calls reuse it from a
// process-wide cache. Environment: WICK_CUDNN_FIND=0 takes the first usable
// algorithm of cuDNN's heuristic (cudnnGet*Algorithm_v7) instead, without
// measuring (also cached); unset or 1 measures. Read once per process, at
// the first cuDNN convolution. The fastest algorithm may be one that sums
// with atomics (run-to-run differences in the last bits), as in PyTorch's
// benchmark mode; wick's own kernels are deterministic.
//
// Precision: float32 computes in float32 with FMA kernels only (no TF32, so
// results compare with wick's to float32 rounding), float64 in float64,
// float16/bfloat16 with float32 accumulation. Plain C++ header.
#pragma once

#include <cstddef>

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

// Whether algorithms are chosen by measurement: WICK_CUDNN_FIND unset, empty
// or "1" (true), "0" (false, heuristic only); any other value throws
// wick::Error. Read once per process, in every build.
bool cudnn_find_enabled();

// Entries in the algorithm cache: one per distinct (direction, dtype,
// geometry, device, alignment) run through cuDNN so far; 0 without cuDNN.
size_t cudnn_conv_algorithm_cache_size();
// Algorithm selections run so far (measurements or heuristic queries, one
// per cache miss); a call whose key is cached adds none. 0 without cuDNN.
size_t cudnn_conv_algorithm_selections();

}  // namespace wick::cuda::vendor
