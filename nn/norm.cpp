// Normalization layers (see norm.h). The math lives in ops/nn (layer_norm,
// rms_norm, batch_norm, group_norm); these classes hold the parameters and
// running statistics and pick the mode.
#include "nn/norm.h"

#include <sstream>

#include "autograd/grad_mode.h"
#include "ops/creation.h"
#include "ops/nn.h"

namespace wick::nn {
namespace {

std::string shape_tuple(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

const char* tf(bool b) { return b ? "true" : "false"; }

void check_normalized_shape(const char* layer, const std::vector<int64_t>& shape) {
  WICK_CHECK(!shape.empty(), layer, ": normalized_shape must have at least one dim");
  for (int64_t d : shape)
    WICK_CHECK(d > 0, layer, ": normalized_shape must be positive, got ", shape_str(shape));
}

// x must end with `shape`.
void check_trailing(const char* layer, const Tensor& x, const std::vector<int64_t>& shape) {
  bool ok = x.dim() >= static_cast<int64_t>(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = x.size(x.dim() - shape.size() + i) == shape[i];
  WICK_CHECK(ok, layer, ": expected input with trailing shape ", shape_str(shape), ", got ", shape_str(x.sizes()));
}

}  // namespace

// ---- LayerNorm ----------------------------------------------------------------

LayerNorm::LayerNorm(std::vector<int64_t> shape, double eps_, bool affine)
    : normalized_shape(std::move(shape)), eps(eps_), elementwise_affine(affine) {
  check_normalized_shape("LayerNorm", normalized_shape);
  reset();
}

void LayerNorm::reset() {
  weight = elementwise_affine ? register_parameter("weight", ones(normalized_shape)) : Tensor();
  bias = elementwise_affine ? register_parameter("bias", zeros(normalized_shape)) : Tensor();
}

Tensor LayerNorm::forward(const Tensor& x) {
  check_trailing("LayerNorm", x, normalized_shape);
  return layer_norm(x, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  return shape_tuple(normalized_shape) + ", eps=" + num(eps) + ", elementwise_affine=" + tf(elementwise_affine);
}

// ---- RMSNorm --------------------------------------------------------------------

RMSNorm::RMSNorm(std::vector<int64_t> shape, double eps_, bool affine)
    : normalized_shape(std::move(shape)), eps(eps_), elementwise_affine(affine) {
  check_normalized_shape("RMSNorm", normalized_shape);
  reset();
}

void RMSNorm::reset() {
  weight = elementwise_affine ? register_parameter("weight", ones(normalized_shape)) : Tensor();
}

Tensor RMSNorm::forward(const Tensor& x) {
  check_trailing("RMSNorm", x, normalized_shape);
  return rms_norm(x, normalized_shape, weight, eps);
}

std::string RMSNorm::extra_repr() const {
  return shape_tuple(normalized_shape) + ", eps=" + num(eps) + ", elementwise_affine=" + tf(elementwise_affine);
}

// ---- BatchNorm ------------------------------------------------------------------

template <class Derived>
BatchNormBase<Derived>::BatchNormBase(int64_t num_features_, double eps_, std::optional<double> momentum_,
                                      bool affine_, bool track)
    : num_features(num_features_), eps(eps_), momentum(momentum_), affine(affine_), track_running_stats(track) {
  WICK_CHECK(num_features > 0, "BatchNorm: num_features must be positive, got ", num_features);
  WICK_CHECK(!momentum || (*momentum >= 0.0 && *momentum <= 1.0), "BatchNorm: momentum must be in [0, 1], got ",
             *momentum);
  reset();
}

template <class Derived>
void BatchNormBase<Derived>::reset() {
  weight = affine ? this->register_parameter("weight", ones({num_features})) : Tensor();
  bias = affine ? this->register_parameter("bias", zeros({num_features})) : Tensor();
  if (track_running_stats) {
    running_mean = this->register_buffer("running_mean", zeros({num_features}));
    running_var = this->register_buffer("running_var", ones({num_features}));
    num_batches_tracked = this->register_buffer("num_batches_tracked", zeros({}, kInt64));
  } else {
    running_mean = running_var = num_batches_tracked = Tensor();
  }
}

template <class Derived>
void BatchNormBase<Derived>::reset_running_stats() {
  if (!track_running_stats) return;
  NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}

template <class Derived>
std::pair<bool, double> BatchNormBase<Derived>::prepare(const Tensor& x) {
  check_input_dim(x);
  WICK_CHECK(x.size(1) == num_features, this->name(), ": expected ", num_features, " channels (dim 1), got input ",
             shape_str(x.sizes()));
  const bool training = this->is_training();
  double factor = momentum.value_or(0.0);
  if (training && track_running_stats) {
    NoGradGuard no_grad;
    num_batches_tracked.add_(1);
    if (!momentum) factor = 1.0 / static_cast<double>(num_batches_tracked.template item<int64_t>());
  }
  // Without running statistics, eval mode normalizes with the batch statistics too.
  return {training || !track_running_stats, factor};
}

template <class Derived>
Tensor BatchNormBase<Derived>::forward(const Tensor& x) {
  const auto [use_batch_stats, factor] = prepare(x);
  return batch_norm(x, running_mean, running_var, weight, bias, use_batch_stats, factor, eps);
}

template <class Derived>
Tensor BatchNormBase<Derived>::forward_relu(const Tensor& x, const Tensor& residual) {
  const auto [use_batch_stats, factor] = prepare(x);
  return batch_norm_relu(x, running_mean, running_var, weight, bias, use_batch_stats, factor, eps, residual);
}

template <class Derived>
std::string BatchNormBase<Derived>::extra_repr() const {
  return std::to_string(num_features) + ", eps=" + num(eps) + ", momentum=" + (momentum ? num(*momentum) : "None") +
         ", affine=" + tf(affine) + ", track_running_stats=" + tf(track_running_stats);
}

template class BatchNormBase<BatchNorm1d>;
template class BatchNormBase<BatchNorm2d>;

void BatchNorm1d::check_input_dim(const Tensor& x) const {
  WICK_CHECK(x.dim() == 2 || x.dim() == 3, "BatchNorm1d: expected 2D or 3D input, got ", x.dim(), "D input ",
             shape_str(x.sizes()));
}

void BatchNorm2d::check_input_dim(const Tensor& x) const {
  WICK_CHECK(x.dim() == 4, "BatchNorm2d: expected 4D input, got ", x.dim(), "D input ", shape_str(x.sizes()));
}

// ---- GroupNorm ------------------------------------------------------------------

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double eps_, bool affine_)
    : num_groups(groups), num_channels(channels), eps(eps_), affine(affine_) {
  WICK_CHECK(num_groups > 0 && num_channels > 0 && num_channels % num_groups == 0,
             "GroupNorm: num_channels must be divisible by num_groups, got num_channels=", num_channels,
             ", num_groups=", num_groups);
  reset();
}

void GroupNorm::reset() {
  weight = affine ? register_parameter("weight", ones({num_channels})) : Tensor();
  bias = affine ? register_parameter("bias", zeros({num_channels})) : Tensor();
}

Tensor GroupNorm::forward(const Tensor& x) {
  WICK_CHECK(x.dim() >= 2 && x.size(1) == num_channels, "GroupNorm: expected input [N, ", num_channels,
             ", *], got ", shape_str(x.sizes()));
  return group_norm(x, num_groups, weight, bias, eps);
}

std::string GroupNorm::extra_repr() const {
  return std::to_string(num_groups) + ", " + std::to_string(num_channels) + ", eps=" + num(eps) +
         ", affine=" + tf(affine);
}

}  // namespace wick::nn
