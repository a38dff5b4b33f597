// Pooling layers (see pooling.h).
#include "nn/pooling.h"

#include "ops/pool.h"

namespace wick::nn {
namespace {

void check_input(const char* layer, const Tensor& x) {
  WICK_CHECK(x.dim() == 3 || x.dim() == 4, layer, ": expected a 3D [C, H, W] or 4D [N, C, H, W] input, got ",
             shape_str(x.sizes()));
}

void check_window(const char* layer, const IntPair& k, const IntPair& s, const IntPair& p) {
  WICK_CHECK(k.h > 0 && k.w > 0 && s.h > 0 && s.w > 0, layer, ": kernel_size and stride must be positive, got ",
             "kernel_size=", k.str(), ", stride=", s.str());
  WICK_CHECK(p.h >= 0 && p.w >= 0 && 2 * p.h <= k.h && 2 * p.w <= k.w, layer,
             ": padding should be non-negative and at most half of the kernel size, got padding=", p.str(),
             ", kernel_size=", k.str());
}

}  // namespace

MaxPool2d::MaxPool2d(IntPair k, std::optional<IntPair> s, IntPair p, IntPair d, bool ceil)
    : kernel_size(k), stride(s.value_or(k)), padding(p), dilation(d), ceil_mode(ceil) {
  check_window("MaxPool2d", kernel_size, stride, padding);
  WICK_CHECK(d.h > 0 && d.w > 0, "MaxPool2d: dilation must be positive, got ", d.str());
}

Tensor MaxPool2d::forward(const Tensor& x) {
  check_input("MaxPool2d", x);
  return max_pool2d(x, kernel_size.arr(), stride.arr(), padding.arr(), dilation.arr(), ceil_mode);
}

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + kernel_size.str() + ", stride=" + stride.str() + ", padding=" + padding.str() +
         ", dilation=" + dilation.str() + ", ceil_mode=" + (ceil_mode ? "true" : "false");
}

AvgPool2d::AvgPool2d(IntPair k, std::optional<IntPair> s, IntPair p, bool ceil, bool include_pad)
    : kernel_size(k), stride(s.value_or(k)), padding(p), ceil_mode(ceil), count_include_pad(include_pad) {
  check_window("AvgPool2d", kernel_size, stride, padding);
}

Tensor AvgPool2d::forward(const Tensor& x) {
  check_input("AvgPool2d", x);
  return avg_pool2d(x, kernel_size.arr(), stride.arr(), padding.arr(), ceil_mode, count_include_pad);
}

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + kernel_size.str() + ", stride=" + stride.str() + ", padding=" + padding.str();
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(IntPair out) : output_size(out) {
  WICK_CHECK(out.h > 0 && out.w > 0, "AdaptiveAvgPool2d: output_size must be positive, got ", out.str());
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  check_input("AdaptiveAvgPool2d", x);
  return adaptive_avg_pool2d(x, output_size.arr());
}

}  // namespace wick::nn
