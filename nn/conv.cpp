// Convolution layers (see conv.h).
#include "nn/conv.h"

#include <cmath>

#include "nn/init.h"
#include "ops/conv.h"

namespace wick::nn {
namespace {

// PyTorch's _ConvNd.reset_parameters: the default init of every conv layer.
void conv_default_init(Tensor& weight, Tensor& bias) {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

void check_channels(const char* layer, int64_t in, int64_t out, int64_t groups) {
  WICK_CHECK(in > 0 && out > 0, layer, ": channel counts must be positive, got in_channels=", in,
             ", out_channels=", out);
  WICK_CHECK(groups > 0, layer, ": groups must be positive, got ", groups);
  WICK_CHECK(in % groups == 0, layer, ": in_channels (", in, ") must be divisible by groups (", groups, ")");
  WICK_CHECK(out % groups == 0, layer, ": out_channels (", out, ") must be divisible by groups (", groups, ")");
}

void check_positive(const char* layer, const char* what, const IntPair& p) {
  WICK_CHECK(p.h > 0 && p.w > 0, layer, ": ", what, " must be positive, got ", p.str());
}

void check_input(const char* layer, const Tensor& x, int64_t spatial, int64_t in_channels) {
  WICK_CHECK(x.dim() == spatial + 1 || x.dim() == spatial + 2, layer, ": expected a ", spatial + 1, "D (unbatched) or ",
             spatial + 2, "D (batched) input, got ", shape_str(x.sizes()));
  const int64_t c = x.size(x.dim() - spatial - 1);
  WICK_CHECK(c == in_channels, layer, ": expected ", in_channels, " input channels, got ", c, " (input ",
             shape_str(x.sizes()), ")");
}

// Shared repr tail: non-default stride/padding/... like PyTorch's.
std::string repr2(int64_t in, int64_t out, const IntPair& k, const IntPair& s, const IntPair& p, const IntPair& d,
                  int64_t groups, bool bias) {
  std::string r = std::to_string(in) + ", " + std::to_string(out) + ", kernel_size=" + k.str() + ", stride=" + s.str();
  if (!(p == IntPair(0))) r += ", padding=" + p.str();
  if (!(d == IntPair(1))) r += ", dilation=" + d.str();
  if (groups != 1) r += ", groups=" + std::to_string(groups);
  if (!bias) r += ", bias=false";
  return r;
}

}  // namespace

// ---- Conv1d -----------------------------------------------------------------------

Conv1d::Conv1d(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d, int64_t g, bool b)
    : in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p), dilation(d), groups(g), has_bias(b) {
  check_channels("Conv1d", in, out, g);
  WICK_CHECK(k > 0 && s > 0 && d > 0 && p >= 0, "Conv1d: kernel_size, stride and dilation must be positive and ",
             "padding non-negative, got kernel_size=", k, ", stride=", s, ", dilation=", d, ", padding=", p);
  reset();
}

void Conv1d::reset() {
  weight = register_parameter("weight", empty({out_channels, in_channels / groups, kernel_size}));
  bias = has_bias ? register_parameter("bias", empty({out_channels})) : Tensor();
  reset_parameters();
}

void Conv1d::reset_parameters() { conv_default_init(weight, bias); }

Tensor Conv1d::forward(const Tensor& x) {
  check_input("Conv1d", x, 1, in_channels);
  return conv1d(x, weight, bias, stride, padding, dilation, groups);
}

std::string Conv1d::extra_repr() const {
  std::string r = std::to_string(in_channels) + ", " + std::to_string(out_channels) + ", kernel_size=(" +
                  std::to_string(kernel_size) + ",), stride=(" + std::to_string(stride) + ",)";
  if (padding != 0) r += ", padding=(" + std::to_string(padding) + ",)";
  if (dilation != 1) r += ", dilation=(" + std::to_string(dilation) + ",)";
  if (groups != 1) r += ", groups=" + std::to_string(groups);
  if (!has_bias) r += ", bias=false";
  return r;
}

// ---- Conv2d -----------------------------------------------------------------------

Conv2d::Conv2d(int64_t in, int64_t out, IntPair k, IntPair s, IntPair p, IntPair d, int64_t g, bool b)
    : in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p), dilation(d), groups(g), has_bias(b) {
  check_channels("Conv2d", in, out, g);
  check_positive("Conv2d", "kernel_size", k);
  check_positive("Conv2d", "stride", s);
  check_positive("Conv2d", "dilation", d);
  WICK_CHECK(p.h >= 0 && p.w >= 0, "Conv2d: padding must be non-negative, got ", p.str());
  reset();
}

void Conv2d::reset() {
  weight = register_parameter("weight", empty({out_channels, in_channels / groups, kernel_size.h, kernel_size.w}));
  bias = has_bias ? register_parameter("bias", empty({out_channels})) : Tensor();
  reset_parameters();
}

void Conv2d::reset_parameters() { conv_default_init(weight, bias); }

Tensor Conv2d::forward(const Tensor& x) {
  check_input("Conv2d", x, 2, in_channels);
  return conv2d(x, weight, bias, stride.arr(), padding.arr(), dilation.arr(), groups);
}

std::string Conv2d::extra_repr() const {
  return repr2(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, has_bias);
}

// ---- ConvTranspose2d ----------------------------------------------------------------

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, IntPair k, IntPair s, IntPair p, IntPair op, int64_t g,
                                 bool b, IntPair d)
    : in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p), output_padding(op), groups(g),
      has_bias(b), dilation(d) {
  check_channels("ConvTranspose2d", in, out, g);
  check_positive("ConvTranspose2d", "kernel_size", k);
  check_positive("ConvTranspose2d", "stride", s);
  check_positive("ConvTranspose2d", "dilation", d);
  WICK_CHECK(p.h >= 0 && p.w >= 0, "ConvTranspose2d: padding must be non-negative, got ", p.str());
  // As in PyTorch: output_padding adds rows that no input reaches, so it must stay below stride or dilation.
  WICK_CHECK(op.h >= 0 && op.w >= 0 && (op.h < s.h || op.h < d.h) && (op.w < s.w || op.w < d.w),
             "ConvTranspose2d: output_padding must be smaller than either stride or dilation, got output_padding=",
             op.str(), ", stride=", s.str(), ", dilation=", d.str());
  reset();
}

void ConvTranspose2d::reset() {
  weight = register_parameter("weight", empty({in_channels, out_channels / groups, kernel_size.h, kernel_size.w}));
  bias = has_bias ? register_parameter("bias", empty({out_channels})) : Tensor();
  reset_parameters();
}

void ConvTranspose2d::reset_parameters() { conv_default_init(weight, bias); }

Tensor ConvTranspose2d::forward(const Tensor& x) {
  check_input("ConvTranspose2d", x, 2, in_channels);
  return conv_transpose2d(x, weight, bias, stride.arr(), padding.arr(), output_padding.arr(), groups, dilation.arr());
}

std::string ConvTranspose2d::extra_repr() const {
  std::string r = repr2(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, true);
  if (!(output_padding == IntPair(0))) r += ", output_padding=" + output_padding.str();
  if (!has_bias) r += ", bias=false";
  return r;
}

}  // namespace wick::nn
