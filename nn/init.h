// Parameter initializers, as torch.nn.init.
//
// Every function fills its tensor in place under no_grad and returns it, so it
// can be applied to registered parameters (`init::kaiming_uniform_(fc->weight)`)
// without recording autograd history. Random draws use `gen` when given, else
// the default generator; values are drawn on the CPU and copied, so a CUDA
// tensor gets the same values as a CPU one.
//
// Fans (torch.nn.init._calculate_fan_in_and_fan_out): for a weight of shape
// [out, in, k1, k2, ...] the receptive field is r = k1*k2*..., fan_in = in*r,
// fan_out = out*r (a Linear weight [out, in] has r = 1).
//   xavier (Glorot & Bengio 2010):  std = gain * sqrt(2 / (fan_in + fan_out))
//   kaiming (He et al. 2015):       std = gain / sqrt(fan)   (fan by `mode`)
// The uniform variants draw from U(-sqrt(3) std, sqrt(3) std), which has that std.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace wick::nn::init {

// The recommended gain for a nonlinearity: linear, conv*, sigmoid -> 1,
// tanh -> 5/3, relu -> sqrt(2), leaky_relu -> sqrt(2 / (1 + slope^2)) (slope
// `param`, default 0.01), selu -> 3/4.
double calculate_gain(const std::string& nonlinearity, std::optional<double> param = {});
// (fan_in, fan_out) of a weight with at least 2 dims.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

Tensor& uniform_(Tensor& t, double a = 0.0, double b = 1.0, Generator* gen = nullptr);
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
Tensor& constant_(Tensor& t, double value);
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);

Tensor& xavier_uniform_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
Tensor& xavier_normal_(Tensor& t, double gain = 1.0, Generator* gen = nullptr);
// `a` is the negative slope of the leaky_relu that follows (used only when
// nonlinearity == "leaky_relu"); mode "fan_in" keeps the forward variance,
// "fan_out" the backward one.
Tensor& kaiming_uniform_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                         const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
Tensor& kaiming_normal_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
// N(mean, std^2) conditioned on [a, b], by inverse-CDF sampling: u ~ U(Phi(alpha), Phi(beta))
// with alpha = (a - mean) / std, beta = (b - mean) / std, then mean + std * Phi^-1(u).
Tensor& trunc_normal_(Tensor& t, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0,
                      Generator* gen = nullptr);

}  // namespace wick::nn::init
