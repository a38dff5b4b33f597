// Grad mode: whether ops record the graph. Thread-local, like PyTorch.
//   { autograd::NoGradGuard g; ... }      // torch.no_grad()
//   { autograd::EnableGradGuard g; ... }  // torch.enable_grad()
#pragma once

namespace wick::autograd {

struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : prev_(GradMode::is_enabled()) { GradMode::set_enabled(enabled); }
  ~GradModeGuard() { GradMode::set_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};

struct NoGradGuard : GradModeGuard {
  NoGradGuard() : GradModeGuard(false) {}
};
struct EnableGradGuard : GradModeGuard {
  EnableGradGuard() : GradModeGuard(true) {}
};

// Anomaly detection (torch.autograd.set_detect_anomaly): when on, the engine
// checks every gradient for NaN and names the node that produced it.
struct AnomalyMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

}  // namespace wick::autograd

namespace wick {
using autograd::EnableGradGuard;
using autograd::NoGradGuard;
}  // namespace wick
