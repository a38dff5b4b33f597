// Convolutions (cross-correlation, like PyTorch), with stride, padding,
// dilation and groups. Weights: conv1d [C_out, C_in/groups, k],
// conv2d [C_out, C_in/groups, kh, kw], conv_transpose2d [C_in, C_out/groups, kh, kw].
// dtypes: float32, float64; on CUDA also float16 and bfloat16 (float32
// accumulation). CUDA runs wick's kernels or cuDNN (WICK_CUDA_CONV=wick|cudnn).
#pragma once

#include <array>

#include "tensor/tensor.h"

namespace wick {

// x [N, C_in, L] (or unbatched [C_in, L]).
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, int64_t stride = 1, int64_t padding = 0,
              int64_t dilation = 1, int64_t groups = 1);
// x [N, C_in, H, W] (or unbatched [C_in, H, W]).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, std::array<int64_t, 2> stride = {1, 1},
              std::array<int64_t, 2> padding = {0, 0}, std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1);
// The gradient of conv2d w.r.t. its input, as a layer (a.k.a. deconvolution).
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
                        std::array<int64_t, 2> stride = {1, 1}, std::array<int64_t, 2> padding = {0, 0},
                        std::array<int64_t, 2> output_padding = {0, 0}, int64_t groups = 1,
                        std::array<int64_t, 2> dilation = {1, 1});

}  // namespace wick
