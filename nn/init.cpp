// Parameter initializers (see init.h for the formulas).
#include "nn/init.h"

#include <cmath>
#include <functional>

#include "autograd/grad_mode.h"
#include "ops/creation.h"

namespace wick::nn::init {
namespace {

void check_float(const Tensor& t, const char* op) {
  WICK_CHECK(t.defined(), "init.", op, ": undefined tensor");
  WICK_CHECK(t.is_floating_point(), "init.", op, ": expected a floating tensor, got ", t.dtype());
}

// Runs a CPU random fill on t, through a CPU copy when t lives elsewhere.
Tensor& fill_random(Tensor& t, const std::function<void(Tensor&)>& fill) {
  NoGradGuard no_grad;
  Tensor target = t.detach();  // shares storage; in-place writes reach the parameter
  if (target.is_cpu()) {
    fill(target);
  } else {
    Tensor host = empty(target.sizes(), target.dtype());
    fill(host);
    target.copy_(host);
  }
  return t;
}

// Inverse of erf on (-1, 1): Giles' single-precision approximation
// ("Approximating the erfinv function", GPU Computing Gems, 2011), refined by
// two Newton steps on erf(x) - y to double precision.
double erfinv(double y) {
  if (y <= -1.0) return -INFINITY;
  if (y >= 1.0) return INFINITY;
  double w = -std::log((1.0 - y) * (1.0 + y)), x;
  if (w < 5.0) {
    w -= 2.5;
    double p = 2.81022636e-08;
    for (double c : {3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                     -0.00417768164, 0.246640727, 1.50140941})
      p = c + p * w;
    x = p * y;
  } else {
    w = std::sqrt(w) - 3.0;
    double p = -0.000200214257;
    for (double c : {0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
                     1.00167406, 2.83297682})
      p = c + p * w;
    x = p * y;
  }
  const double two_over_sqrt_pi = 1.1283791670955126;
  for (int i = 0; i < 2; ++i) x -= (std::erf(x) - y) / (two_over_sqrt_pi * std::exp(-x * x));
  return x;
}

double norm_cdf(double x) { return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))); }

int64_t fan_for_mode(const Tensor& t, const std::string& mode, const char* op) {
  WICK_CHECK(mode == "fan_in" || mode == "fan_out", "init.", op, ": mode must be 'fan_in' or 'fan_out', got '", mode,
             "'");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return mode == "fan_in" ? fan_in : fan_out;
}

}  // namespace

double calculate_gain(const std::string& nonlinearity, std::optional<double> param) {
  static const char* linear_like[] = {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                                      "conv_transpose3d", "sigmoid"};
  for (const char* n : linear_like)
    if (nonlinearity == n) return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    const double slope = param.value_or(0.01);
    return std::sqrt(2.0 / (1.0 + slope * slope));
  }
  if (nonlinearity == "selu") return 3.0 / 4.0;
  WICK_FAIL("init.calculate_gain: unsupported nonlinearity '", nonlinearity, "'");
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  WICK_CHECK(t.defined() && t.dim() >= 2,
             "init: fan in and fan out cannot be computed for a tensor with fewer than 2 dimensions (got shape ",
             t.defined() ? shape_str(t.sizes()) : std::string("undefined"), ")");
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor& uniform_(Tensor& t, double a, double b, Generator* gen) {
  check_float(t, "uniform_");
  return fill_random(t, [&](Tensor& x) { wick::uniform_(x, a, b, gen); });
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  check_float(t, "normal_");
  return fill_random(t, [&](Tensor& x) { wick::normal_(x, mean, std, gen); });
}

Tensor& constant_(Tensor& t, double value) {
  WICK_CHECK(t.defined(), "init.constant_: undefined tensor");
  NoGradGuard no_grad;
  t.detach().fill_(value);
  return t;
}

Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }
Tensor& ones_(Tensor& t) { return constant_(t, 1.0); }

Tensor& xavier_uniform_(Tensor& t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  const double bound = std::sqrt(3.0) * std;
  return init::uniform_(t, -bound, bound, gen);
}

Tensor& xavier_normal_(Tensor& t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return init::normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

Tensor& kaiming_uniform_(Tensor& t, double a, const std::string& mode, const std::string& nonlinearity,
                         Generator* gen) {
  check_float(t, "kaiming_uniform_");
  if (t.numel() == 0) return t;  // torch warns and leaves it
  const int64_t fan = fan_for_mode(t, mode, "kaiming_uniform_");
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
  const double bound = std::sqrt(3.0) * std;
  return init::uniform_(t, -bound, bound, gen);
}

Tensor& kaiming_normal_(Tensor& t, double a, const std::string& mode, const std::string& nonlinearity,
                        Generator* gen) {
  check_float(t, "kaiming_normal_");
  if (t.numel() == 0) return t;
  const int64_t fan = fan_for_mode(t, mode, "kaiming_normal_");
  return init::normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan)), gen);
}

Tensor& trunc_normal_(Tensor& t, double mean, double std, double a, double b, Generator* gen) {
  check_float(t, "trunc_normal_");
  WICK_CHECK(std > 0.0, "init.trunc_normal_: std must be positive, got ", std);
  WICK_CHECK(a < b, "init.trunc_normal_: need a < b, got a=", a, ", b=", b);
  const double lo = norm_cdf((a - mean) / std), hi = norm_cdf((b - mean) / std);
  WICK_CHECK(hi > lo, "init.trunc_normal_: [", a, ", ", b, "] has no probability mass under N(", mean, ", ", std,
             "^2)");
  NoGradGuard no_grad;
  // u ~ U(2 Phi(alpha) - 1, 2 Phi(beta) - 1); Phi^-1(p) = sqrt(2) erfinv(2p - 1).
  Tensor u = empty(t.sizes(), kFloat64);
  wick::uniform_(u, 2.0 * lo - 1.0, 2.0 * hi - 1.0, gen);
  double* p = u.data_ptr<double>();
  for (int64_t i = 0; i < u.numel(); ++i) {
    const double v = mean + std * std::sqrt(2.0) * erfinv(p[i]);
    p[i] = std::fmin(std::fmax(v, a), b);
  }
  t.detach().copy_(u);
  return t;
}

}  // namespace wick::nn::init
