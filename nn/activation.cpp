// Activation layers (see activation.h).
#include "nn/activation.h"

#include <sstream>

#include "nn/container.h"
#include "ops/elementwise.h"
#include "ops/nn.h"

namespace wick::nn {
namespace {
std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
}  // namespace

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, negative_slope); }
std::string LeakyReLU::extra_repr() const { return "negative_slope=" + num(negative_slope); }

GELU::GELU(std::string approximate_) : approximate(std::move(approximate_)) {
  WICK_CHECK(approximate == "none" || approximate == "tanh", "GELU: approximate must be 'none' or 'tanh', got '",
             approximate, "'");
}
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }
std::string GELU::extra_repr() const { return approximate == "none" ? "" : "approximate='" + approximate + "'"; }

Tensor SiLU::forward(const Tensor& x) { return silu(x); }

Tensor Mish::forward(const Tensor& x) { return mul(x, tanh(softplus(x))); }

Tensor ELU::forward(const Tensor& x) {
  // expm1 sees min(x, 0) so the unused branch cannot overflow (0 * inf = NaN in the gradient).
  return where(gt(x, 0.0), x, mul(expm1(clamp_max(x, 0.0)), alpha));
}
std::string ELU::extra_repr() const { return "alpha=" + num(alpha); }

Tensor Softplus::forward(const Tensor& x) { return softplus(x, beta, threshold); }
std::string Softplus::extra_repr() const { return "beta=" + num(beta) + ", threshold=" + num(threshold); }

Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim); }
Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, dim); }

std::shared_ptr<Module> make_activation(const std::string& name) {
  if (name == "relu") return std::make_shared<ReLU>();
  if (name == "gelu") return std::make_shared<GELU>();
  if (name == "gelu_tanh") return std::make_shared<GELU>("tanh");
  if (name == "silu" || name == "swish") return std::make_shared<SiLU>();
  if (name == "tanh") return std::make_shared<Tanh>();
  if (name == "sigmoid") return std::make_shared<Sigmoid>();
  if (name == "leaky_relu") return std::make_shared<LeakyReLU>();
  if (name == "elu") return std::make_shared<ELU>();
  if (name == "mish") return std::make_shared<Mish>();
  if (name == "softplus") return std::make_shared<Softplus>();
  if (name == "identity" || name == "none") return std::make_shared<Identity>();
  WICK_FAIL("make_activation: unknown activation '", name,
            "' (known: relu, gelu, gelu_tanh, silu, tanh, sigmoid, leaky_relu, elu, mish, softplus, identity)");
}

}  // namespace wick::nn
