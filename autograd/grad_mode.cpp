#include "autograd/grad_mode.h"

namespace wick::autograd {

namespace {
thread_local bool t_grad_enabled = true;
bool g_anomaly = false;
}  // namespace

bool GradMode::is_enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool enabled) { t_grad_enabled = enabled; }
bool AnomalyMode::is_enabled() { return g_anomaly; }
void AnomalyMode::set_enabled(bool enabled) { g_anomaly = enabled; }

}  // namespace wick::autograd
