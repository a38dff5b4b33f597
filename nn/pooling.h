// Pooling layers, as torch.nn: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d over
// [N, C, H, W] (or [C, H, W]); the math is in ops/pool.
//   max/avg:  out = floor((in + 2 pad - dilation (k - 1) - 1) / stride) + 1  (ceil with ceil_mode)
//   adaptive: output bin i covers [floor(i H / oh), ceil((i + 1) H / oh)).
#pragma once

#include <optional>

#include "nn/conv.h"  // IntPair
#include "nn/module.h"

namespace wick::nn {

class MaxPool2d : public Cloneable<MaxPool2d> {
 public:
  // stride defaults to kernel_size; padding pads with -inf.
  explicit MaxPool2d(IntPair kernel_size, std::optional<IntPair> stride = {}, IntPair padding = 0,
                     IntPair dilation = 1, bool ceil_mode = false);
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "MaxPool2d"; }
  std::string extra_repr() const override;

  IntPair kernel_size, stride, padding, dilation;
  bool ceil_mode;
};

class AvgPool2d : public Cloneable<AvgPool2d> {
 public:
  explicit AvgPool2d(IntPair kernel_size, std::optional<IntPair> stride = {}, IntPair padding = 0,
                     bool ceil_mode = false, bool count_include_pad = true);
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "AvgPool2d"; }
  std::string extra_repr() const override;

  IntPair kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;
};

class AdaptiveAvgPool2d : public Cloneable<AdaptiveAvgPool2d> {
 public:
  explicit AdaptiveAvgPool2d(IntPair output_size);
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "AdaptiveAvgPool2d"; }
  std::string extra_repr() const override { return "output_size=" + output_size.str(); }

  IntPair output_size;
};

}  // namespace wick::nn
