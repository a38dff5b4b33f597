// Neural-network functions (torch.nn.functional): softmax, normalizations,
// dropout, linear.
#pragma once

#include <optional>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace wick {

// exp(x - max) / sum(exp(x - max)) along dim; numerically stable.
Tensor softmax(const Tensor& x, int64_t dim);
// x - max - log(sum(exp(x - max))) along dim.
Tensor log_softmax(const Tensor& x, int64_t dim);
// Normalizes over the trailing dims given by normalized_shape:
// (x - mean) / sqrt(var + eps) * weight + bias (biased variance).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);
// x / sqrt(mean(x^2) + eps) * weight over the trailing normalized_shape.
Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {}, double eps = 1e-6);
// Over (N, C, ...): training uses batch statistics and updates running_mean /
// running_var in place (momentum, unbiased variance for the running value);
// eval uses the running statistics. Either running tensor may be undefined.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
// relu(batch_norm(x, ...) + residual) (residual optional, x's shape): the
// ResNet block's tail as one op. The CPU kernel (and the CUDA one with
// cuda::batch_norm_relu_fused on) applies the add and the relu in the
// normalization's output pass, saving a read and a write of the activation
// per relu and per add; elsewhere it is the composed ops. Gradients (and
// higher ones) are those of the composition.
Tensor batch_norm_relu(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5,
                       const Tensor& residual = {});
// Normalizes over groups of C/num_groups channels (and all spatial dims) per sample.
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);
// Zeroes elements with probability p and scales the rest by 1/(1-p) when training.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);
// x @ weight^T + bias; weight [out, in].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});

}  // namespace wick
