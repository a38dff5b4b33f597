// Normalization layers, as torch.nn: LayerNorm, RMSNorm, BatchNorm1d/2d,
// GroupNorm. Each normalizes x to zero mean / unit variance (RMSNorm: unit
// root-mean-square) over its own set of elements, then applies a learned
// per-feature affine map y = x_hat * weight + bias (weight = 1, bias = 0 at
// initialization).
//
//   LayerNorm  (Ba et al. 2016)   over the trailing normalized_shape of each sample
//   RMSNorm    (Zhang & Sennrich 2019)  x / sqrt(mean(x^2) + eps) * weight, no centering
//   BatchNorm  (Ioffe & Szegedy 2015)   over (N, *spatial) per channel; training uses
//              batch statistics and updates the running estimates
//                running = (1 - momentum) * running + momentum * batch
//              (unbiased batch variance), eval uses the running estimates.
//              momentum = nullopt gives the cumulative average (1 / num_batches_tracked).
//   GroupNorm  (Wu & He 2018)     over groups of C / num_groups channels (and all spatial dims) per sample
#pragma once

#include <optional>
#include <vector>

#include "nn/module.h"

namespace wick::nn {

class LayerNorm : public Cloneable<LayerNorm> {
 public:
  explicit LayerNorm(std::vector<int64_t> normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  void reset() override;
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;

  std::vector<int64_t> normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight, bias;  // normalized_shape; undefined without elementwise_affine
};

class RMSNorm : public Cloneable<RMSNorm> {
 public:
  explicit RMSNorm(std::vector<int64_t> normalized_shape, double eps = 1e-6, bool elementwise_affine = true);
  void reset() override;
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "RMSNorm"; }
  std::string extra_repr() const override;

  std::vector<int64_t> normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight;  // normalized_shape; undefined without elementwise_affine
};

// Shared implementation of BatchNorm1d and BatchNorm2d (torch's _BatchNorm).
template <class Derived>
class BatchNormBase : public Cloneable<Derived> {
 public:
  BatchNormBase(int64_t num_features, double eps, std::optional<double> momentum, bool affine,
                bool track_running_stats);
  void reset() override;
  // running_mean = 0, running_var = 1, num_batches_tracked = 0.
  void reset_running_stats();
  Tensor forward(const Tensor& x) override;
  // relu(forward(x) + residual) as one op (batch_norm_relu, ops/nn.h):
  // the tail of a ResNet block, in one pass over the activation.
  Tensor forward_relu(const Tensor& x, const Tensor& residual = {});
  std::string extra_repr() const override;

  int64_t num_features;
  double eps;
  std::optional<double> momentum;
  bool affine, track_running_stats;
  Tensor weight, bias;                 // [C]; undefined without affine
  Tensor running_mean, running_var;    // [C] buffers; undefined without track_running_stats
  Tensor num_batches_tracked;          // int64 scalar buffer

 protected:
  // Throws unless x has a rank this layer accepts.
  virtual void check_input_dim(const Tensor& x) const = 0;

 private:
  // Checks x, counts the batch, and returns (whether to use the batch's
  // statistics, the running statistics' momentum) for this call.
  std::pair<bool, double> prepare(const Tensor& x);
};

// Over [N, C] or [N, C, L].
class BatchNorm1d : public BatchNormBase<BatchNorm1d> {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNormBase(num_features, eps, momentum, affine, track_running_stats) {}
  std::string name() const override { return "BatchNorm1d"; }

 protected:
  void check_input_dim(const Tensor& x) const override;
};

// Over [N, C, H, W].
class BatchNorm2d : public BatchNormBase<BatchNorm2d> {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNormBase(num_features, eps, momentum, affine, track_running_stats) {}
  std::string name() const override { return "BatchNorm2d"; }

 protected:
  void check_input_dim(const Tensor& x) const override;
};

class GroupNorm : public Cloneable<GroupNorm> {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  void reset() override;
  // x [N, C, *].
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "GroupNorm"; }
  std::string extra_repr() const override;

  int64_t num_groups, num_channels;
  double eps;
  bool affine;
  Tensor weight, bias;  // [C]; undefined without affine
};

}  // namespace wick::nn
