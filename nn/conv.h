// Convolution layers, as torch.nn: Conv1d, Conv2d, ConvTranspose2d
// (cross-correlation with stride, padding, dilation and groups; the math is
// in ops/conv).
//
// Weights: Conv1d [out, in/groups, k], Conv2d [out, in/groups, kh, kw],
// ConvTranspose2d [in, out/groups, kh, kw]. Initialization matches PyTorch:
// weight = kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in))
// with fan_in = weight.size(1) * prod(kernel), and the bias from the same range.
// Output size per spatial dim (conv):
//   out = floor((in + 2 pad - dilation (k - 1) - 1) / stride) + 1
// and for the transposed conv:
//   out = (in - 1) stride - 2 pad + dilation (k - 1) + output_padding + 1
#pragma once

#include <array>
#include <string>

#include "nn/module.h"

namespace wick::nn {

// A 2-d size given as one number (used for both dims) or as {h, w}, like
// PyTorch's int-or-tuple arguments: Conv2d(3, 8, 3) or Conv2d(3, 8, {3, 5}).
struct IntPair {
  IntPair(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose
  IntPair(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  std::array<int64_t, 2> arr() const { return {h, w}; }
  bool operator==(const IntPair&) const = default;
  std::string str() const { return "(" + std::to_string(h) + ", " + std::to_string(w) + ")"; }
  int64_t h, w;
};

class Conv1d : public Cloneable<Conv1d> {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1, int64_t padding = 0,
         int64_t dilation = 1, int64_t groups = 1, bool bias = true);
  void reset() override;
  void reset_parameters();
  // x [N, C_in, L] or [C_in, L].
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Conv1d"; }
  std::string extra_repr() const override;

  int64_t in_channels, out_channels, kernel_size, stride, padding, dilation, groups;
  bool has_bias;
  Tensor weight, bias;
};

class Conv2d : public Cloneable<Conv2d> {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, IntPair kernel_size, IntPair stride = 1, IntPair padding = 0,
         IntPair dilation = 1, int64_t groups = 1, bool bias = true);
  void reset() override;
  void reset_parameters();
  // x [N, C_in, H, W] or [C_in, H, W].
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Conv2d"; }
  std::string extra_repr() const override;

  int64_t in_channels, out_channels;
  IntPair kernel_size, stride, padding, dilation;
  int64_t groups;
  bool has_bias;
  Tensor weight, bias;
};

class ConvTranspose2d : public Cloneable<ConvTranspose2d> {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, IntPair kernel_size, IntPair stride = 1,
                  IntPair padding = 0, IntPair output_padding = 0, int64_t groups = 1, bool bias = true,
                  IntPair dilation = 1);
  void reset() override;
  void reset_parameters();
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "ConvTranspose2d"; }
  std::string extra_repr() const override;

  int64_t in_channels, out_channels;
  IntPair kernel_size, stride, padding, output_padding;
  int64_t groups;
  bool has_bias;
  IntPair dilation;
  Tensor weight, bias;
};

}  // namespace wick::nn
