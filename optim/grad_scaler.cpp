#include "optim/grad_scaler.h"

#include <cfloat>
#include <cmath>
#include <map>
#include <string>

#include "autograd/grad_mode.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"
#include "tensor/error.h"

namespace wick::optim {

namespace {

void check_options(const GradScalerOptions& o) {
  WICK_CHECK(std::isfinite(o.init_scale) && o.init_scale > 0, "GradScaler: init_scale must be finite and > 0, got ",
             o.init_scale);
  WICK_CHECK(o.growth_factor > 1.0 && std::isfinite(o.growth_factor), "GradScaler: growth_factor must be > 1, got ",
             o.growth_factor);
  WICK_CHECK(o.backoff_factor > 0.0 && o.backoff_factor < 1.0, "GradScaler: backoff_factor must be in (0, 1), got ",
             o.backoff_factor);
  WICK_CHECK(o.growth_interval >= 1, "GradScaler: growth_interval must be >= 1, got ", o.growth_interval);
}

}  // namespace

GradScaler::GradScaler(GradScalerOptions options) : options_(options), scale_(options.init_scale) {
  check_options(options_);
}

Tensor GradScaler::scale(const Tensor& loss) const {
  WICK_CHECK(loss.defined(), "GradScaler::scale: undefined loss");
  if (!options_.enabled) return loss;
  WICK_CHECK(loss.is_floating_point(), "GradScaler::scale: the loss must be a floating tensor, got ", loss.dtype());
  return mul(loss, scale_);
}

void GradScaler::unscale_(Optimizer& opt) {
  if (!options_.enabled) return;
  PerOptimizer& st = per_opt_[&opt];
  WICK_CHECK(st.stage != Stage::Unscaled,
             "GradScaler::unscale_: already called on this optimizer since the last update()");
  WICK_CHECK(st.stage != Stage::Stepped, "GradScaler::unscale_: called after step(); call update() first");
  NoGradGuard no_grad;
  // 1/S rounded once, in double: S is a power of two unless set otherwise, so
  // the division is exact for every finite gradient that does not underflow.
  const double inv = 1.0 / scale_;
  // One running count of non-finite gradients per device, read back once.
  std::map<std::string, Tensor> bad;
  int64_t index = 0;
  for (const ParamGroup& group : opt.param_groups())
    for (const Tensor& p : group.params) {
      const Tensor g = p.grad();
      ++index;
      if (!g.defined()) continue;
      WICK_CHECK(g.dtype() == kFloat32 || g.dtype() == kFloat64, "GradScaler::unscale_: parameter ", index - 1,
                 " has a ", g.dtype(),
                 " gradient; keep the parameters (master weights) in float32 and let autocast cast them per op");
      Tensor gm = g;
      gm.mul_(inv);
      if (g.numel() == 0) continue;
      Tensor n = sum(logical_not(isfinite(gm)), {}, false, kInt64);
      Tensor& acc = bad[g.device().str()];
      acc = acc.defined() ? add(acc, n) : n;
    }
  bool found = false;
  for (const auto& [device, count] : bad) found = found || count.item<int64_t>() != 0;
  st.found_inf = found;
  st.stage = Stage::Unscaled;
}

bool GradScaler::step(Optimizer& opt) {
  if (!options_.enabled) {
    opt.step();
    return true;
  }
  auto it = per_opt_.find(&opt);
  WICK_CHECK(it == per_opt_.end() || it->second.stage != Stage::Stepped,
             "GradScaler::step: already called on this optimizer since the last update()");
  if (it == per_opt_.end() || it->second.stage == Stage::Ready) unscale_(opt);
  PerOptimizer& st = per_opt_[&opt];
  st.stage = Stage::Stepped;
  if (st.found_inf) return false;
  opt.step();
  return true;
}

void GradScaler::update(std::optional<double> new_scale) {
  if (!options_.enabled) return;
  if (new_scale) {
    WICK_CHECK(std::isfinite(*new_scale) && *new_scale > 0, "GradScaler::update: new_scale must be finite and > 0, got ",
               *new_scale);
    scale_ = *new_scale;
  } else {
    bool any_check = false, found = false;
    for (const auto& [opt, st] : per_opt_)
      if (st.stage != Stage::Ready) {
        any_check = true;
        found = found || st.found_inf;
      }
    WICK_CHECK(any_check, "GradScaler::update: no inf checks were recorded since the last update(); call step(opt) "
                          "(or unscale_(opt)) first");
    if (found) {
      scale_ *= options_.backoff_factor;
      growth_tracker_ = 0;
    } else if (++growth_tracker_ == options_.growth_interval) {
      // S multiplies a float32 loss: grow only while it stays a finite float32.
      const double grown = scale_ * options_.growth_factor;
      if (grown <= FLT_MAX) scale_ = grown;
      growth_tracker_ = 0;
    }
  }
  per_opt_.clear();
}

StateDict GradScaler::state_dict() const {
  StateDict sd;
  if (!options_.enabled) return sd;
  const TensorOptions f64(kFloat64), i64(kInt64);
  sd.insert("scale", scalar_tensor(scale_, f64));
  sd.insert("growth_factor", scalar_tensor(options_.growth_factor, f64));
  sd.insert("backoff_factor", scalar_tensor(options_.backoff_factor, f64));
  sd.insert("growth_interval", scalar_tensor(options_.growth_interval, i64));
  sd.insert("_growth_tracker", scalar_tensor(growth_tracker_, i64));
  return sd;
}

void GradScaler::load_state_dict(const StateDict& sd) {
  WICK_CHECK(options_.enabled, "GradScaler::load_state_dict: this scaler is disabled");
  WICK_CHECK(!sd.empty(), "GradScaler::load_state_dict: the state_dict is empty (saved from a disabled scaler?)");
  auto num = [&](const char* key) {
    const Tensor& t = sd.at(key);
    WICK_CHECK(t.numel() == 1, "GradScaler::load_state_dict: '", key, "' must hold one value, got shape ",
               shape_str(t.sizes()));
    return t.cpu().item<double>();
  };
  GradScalerOptions o = options_;
  o.init_scale = num("scale");
  o.growth_factor = num("growth_factor");
  o.backoff_factor = num("backoff_factor");
  o.growth_interval = static_cast<int64_t>(num("growth_interval"));
  const double tracker = num("_growth_tracker");
  check_options(o);
  WICK_CHECK(tracker >= 0 && tracker < static_cast<double>(o.growth_interval),
             "GradScaler::load_state_dict: _growth_tracker ", tracker, " outside [0, growth_interval)");
  options_ = o;
  scale_ = o.init_scale;
  growth_tracker_ = static_cast<int64_t>(tracker);
  per_opt_.clear();
}

}  // namespace wick::optim
