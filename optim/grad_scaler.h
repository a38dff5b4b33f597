// GradScaler: dynamic loss scaling for float16 mixed-precision training, as
// torch.amp.GradScaler.
//
// float16 has 5 exponent bits: gradients below ~6e-8 flush to zero and
// activations' gradients often live there. Scaling the loss by S before
// backward multiplies every gradient by S (the chain rule is linear), lifting
// them into float16's range; the float32 master gradients are divided by S
// again before the optimizer sees them. S is chosen dynamically:
//   - a step whose unscaled gradients hold an inf or NaN (S was too large and
//     something overflowed) is skipped, and S *= backoff_factor;
//   - after growth_interval consecutive good steps, S *= growth_factor.
//
//   optim::GradScaler scaler;                 // S = 65536
//   for (...) {
//     opt.zero_grad();
//     Tensor loss;
//     { Autocast ac(Device("cuda"), kFloat16); loss = cross_entropy(model(x), y); }
//     scaler.scale(loss).backward();
//     scaler.unscale_(opt);                    // optional: before clipping
//     optim::clip_grad_norm_(params, 1.0);
//     scaler.step(opt);                        // skipped when a gradient is inf/NaN
//     scaler.update();
//   }
//
// Gradients must be float32 or float64 (the master weights' dtype): unscaling
// float16 gradients would lose what the scaling saved, so it is an error, as
// in PyTorch. The inf/NaN check costs one device-to-host read per step (per
// device type), the only synchronization the scaler adds. With
// enabled = false every call passes through (scale() returns the loss, step()
// just steps), so one training loop serves float32 and float16 runs.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

#include "optim/optimizer.h"
#include "tensor/state_dict.h"
#include "tensor/tensor.h"

namespace wick::optim {

struct GradScalerOptions {
  double init_scale = 65536.0;  // 2^16
  double growth_factor = 2.0;   // > 1
  double backoff_factor = 0.5;  // in (0, 1)
  int64_t growth_interval = 2000;
  bool enabled = true;
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});

  // loss * S (loss itself when disabled).
  Tensor scale(const Tensor& loss) const;

  // Divides the gradients of `opt`'s parameters by S in place and records
  // whether any is inf/NaN. At most once per optimizer between update()s, and
  // not after step() (wick::Error otherwise).
  void unscale_(Optimizer& opt);

  // unscale_(opt) unless already done, then opt.step() unless a gradient was
  // inf/NaN. Returns whether the optimizer stepped. At most once per optimizer
  // between update()s.
  bool step(Optimizer& opt);

  // Adjusts S from this iteration's inf checks (backoff if any optimizer saw
  // one, else count toward growth) and clears them; with `new_scale`, sets S
  // to it instead. Needs at least one step() or unscale_() since the last
  // update().
  void update(std::optional<double> new_scale = {});

  double get_scale() const { return options_.enabled ? scale_ : 1.0; }
  int64_t growth_tracker() const { return growth_tracker_; }
  bool is_enabled() const { return options_.enabled; }

  // "scale", "growth_factor", "backoff_factor" (0-d float64), "growth_interval",
  // "_growth_tracker" (0-d int64), as PyTorch names them; empty when disabled.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& sd);

 private:
  enum class Stage { Ready, Unscaled, Stepped };
  struct PerOptimizer {
    Stage stage = Stage::Ready;
    bool found_inf = false;
  };

  GradScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
  std::unordered_map<const Optimizer*, PerOptimizer> per_opt_;
};

}  // namespace wick::optim
