// Activation layers, as torch.nn: thin modules over the elementwise ops, so
// they can sit in a Sequential and print in a model summary.
//   ReLU       max(x, 0)
//   LeakyReLU  x if x > 0 else slope * x
//   GELU       x * Phi(x)  (approximate "tanh": 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))))
//   SiLU       x * sigmoid(x)   (a.k.a. swish)
//   Mish       x * tanh(softplus(x))
//   ELU        x if x > 0 else alpha * (exp(x) - 1)
//   Softplus   log(1 + exp(beta x)) / beta  (linear above threshold)
//   Tanh, Sigmoid, Softmax(dim), LogSoftmax(dim)
#pragma once

#include <string>

#include "nn/module.h"

namespace wick::nn {

class ReLU : public Cloneable<ReLU> {
 public:
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "ReLU"; }
};

class LeakyReLU : public Cloneable<LeakyReLU> {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "LeakyReLU"; }
  std::string extra_repr() const override;
  double negative_slope;
};

class GELU : public Cloneable<GELU> {
 public:
  // approximate: "none" (exact, with erf) or "tanh".
  explicit GELU(std::string approximate = "none");
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "GELU"; }
  std::string extra_repr() const override;
  std::string approximate;
};

class SiLU : public Cloneable<SiLU> {
 public:
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "SiLU"; }
};

class Mish : public Cloneable<Mish> {
 public:
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Mish"; }
};

class ELU : public Cloneable<ELU> {
 public:
  explicit ELU(double alpha = 1.0) : alpha(alpha) {}
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "ELU"; }
  std::string extra_repr() const override;
  double alpha;
};

class Softplus : public Cloneable<Softplus> {
 public:
  explicit Softplus(double beta = 1.0, double threshold = 20.0) : beta(beta), threshold(threshold) {}
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Softplus"; }
  std::string extra_repr() const override;
  double beta, threshold;
};

class Tanh : public Cloneable<Tanh> {
 public:
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Tanh"; }
};

class Sigmoid : public Cloneable<Sigmoid> {
 public:
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Sigmoid"; }
};

class Softmax : public Cloneable<Softmax> {
 public:
  explicit Softmax(int64_t dim) : dim(dim) {}
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Softmax"; }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
  int64_t dim;
};

class LogSoftmax : public Cloneable<LogSoftmax> {
 public:
  explicit LogSoftmax(int64_t dim) : dim(dim) {}
  void reset() override {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "LogSoftmax"; }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
  int64_t dim;
};

// An activation module by name ("relu", "gelu", "gelu_tanh", "silu", "tanh",
// "sigmoid", "leaky_relu", "elu", "mish", "softplus", "identity"), for configs.
std::shared_ptr<Module> make_activation(const std::string& name);

}  // namespace wick::nn
