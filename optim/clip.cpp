// Gradient clipping (see clip.h). Everything stays in tensors on the
// gradients' device; only error_if_nonfinite reads the total norm back.
#include "optim/clip.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"
#include "ops/shape.h"

namespace wick::optim {

Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  WICK_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be positive (or inf), got ", norm_type);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return scalar_tensor(0.0, kFloat32);

  const bool inf = std::isinf(norm_type);
  DType dt = grads[0].dtype();
  for (const Tensor& g : grads) {
    WICK_CHECK(g.is_floating_point(), "clip_grad_norm_: gradients must be floating point, got ", g.dtype());
    WICK_CHECK(g.device() == grads[0].device(), "clip_grad_norm_: gradients are on different devices (",
               grads[0].device(), ", ", g.device(), ")");
    dt = promote_types(dt, g.dtype());
  }
  std::vector<Tensor> norms;
  for (const Tensor& g : grads) {
    Tensor gd = g.detach();
    norms.push_back((inf ? amax(abs(gd)) : norm(gd, norm_type)).to(dt));
  }
  Tensor stacked = stack(norms);
  Tensor total = inf ? amax(stacked) : norm(stacked, norm_type);
  if (error_if_nonfinite) {
    const double v = total.item<double>();
    WICK_CHECK(std::isfinite(v), "clip_grad_norm_: the total norm of order ", norm_type,
               " of the gradients is non-finite (", v, "), so it cannot be clipped; set error_if_nonfinite = false "
               "to scale them anyway");
  }
  // Scaling by a clamped coefficient (1 when the norm is small) instead of a
  // host-side branch keeps this free of device synchronization, as PyTorch.
  // (max_norm / x is computed as PyTorch's rdiv does: reciprocal(x) * max_norm.)
  Tensor coef = clamp_max(mul(reciprocal(add(total, 1e-6)), max_norm), 1.0);
  for (Tensor& g : grads) {
    Tensor gd = g.detach();
    gd.mul_(coef.to(g.dtype()));
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  WICK_CHECK(clip_value >= 0, "clip_grad_value_: clip_value must be non-negative, got ", clip_value);
  NoGradGuard no_grad;
  for (const Tensor& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    Tensor g = p.grad().detach();
    clamp_(g, -clip_value, clip_value);
  }
}

}  // namespace wick::optim
