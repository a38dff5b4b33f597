// Pooling and resampling over [N, C, H, W] (or unbatched [C, H, W]).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <utility>

#include "tensor/tensor.h"

namespace wick {

// stride defaults to kernel_size; padding pads with -inf.
Tensor max_pool2d(const Tensor& x, std::array<int64_t, 2> kernel_size, std::optional<std::array<int64_t, 2>> stride = {},
                  std::array<int64_t, 2> padding = {0, 0}, std::array<int64_t, 2> dilation = {1, 1},
                  bool ceil_mode = false);
// Also returns the flat (h * W + w) argmax index of every output, like return_indices=True.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, std::array<int64_t, 2> kernel_size,
                                                  std::optional<std::array<int64_t, 2>> stride = {},
                                                  std::array<int64_t, 2> padding = {0, 0},
                                                  std::array<int64_t, 2> dilation = {1, 1}, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, std::array<int64_t, 2> kernel_size, std::optional<std::array<int64_t, 2>> stride = {},
                  std::array<int64_t, 2> padding = {0, 0}, bool ceil_mode = false, bool count_include_pad = true);
// Output [N, C, oh, ow]; bins as in PyTorch (start = floor(i*H/oh), end = ceil((i+1)*H/oh)).
Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size);
// mode "nearest" (PyTorch's legacy nearest: src = floor(dst * in/out)) or
// "bilinear" (align_corners as in PyTorch). Give size or scale_factor.
Tensor interpolate(const Tensor& x, std::optional<std::array<int64_t, 2>> size,
                   std::optional<std::array<double, 2>> scale_factor = {}, const std::string& mode = "nearest",
                   bool align_corners = false);

}  // namespace wick
