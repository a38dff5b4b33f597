#include "autograd/autocast.h"

#include "tensor/error.h"

namespace wick::autograd {

namespace {

// One slot per DeviceType (CPU, CUDA). `suspended` masks every slot.
struct State {
  bool enabled[2] = {false, false};
  DType dtype[2] = {kBFloat16, kBFloat16};
  bool suspended = false;
};
thread_local State t_state;

int slot(DeviceType t) { return t == DeviceType::CUDA ? 1 : 0; }

bool is_16bit_float(DType d) { return d == kFloat16 || d == kBFloat16; }

}  // namespace

bool AutocastMode::is_enabled(DeviceType type) { return t_state.enabled[slot(type)] && !t_state.suspended; }
DType AutocastMode::dtype(DeviceType type) { return t_state.dtype[slot(type)]; }
bool AutocastMode::any_enabled() { return (t_state.enabled[0] || t_state.enabled[1]) && !t_state.suspended; }
void AutocastMode::set(DeviceType type, bool enabled, DType dtype) {
  t_state.enabled[slot(type)] = enabled;
  t_state.dtype[slot(type)] = dtype;
}

Autocast::Autocast(Device device, DType dtype, bool enabled)
    : type_(device.type), prev_enabled_(t_state.enabled[slot(device.type)]), prev_dtype_(t_state.dtype[slot(device.type)]) {
  WICK_CHECK(is_16bit_float(dtype), "Autocast: dtype must be float16 or bfloat16, got ", dtype);
  WICK_CHECK(!enabled || device.is_cuda(), "Autocast: device ", device,
             " has no float16/bfloat16 kernels in wick (the CPU kernels compute in float32/float64); autocast a "
             "CUDA device, or run the CPU model in float32");
  AutocastMode::set(type_, enabled, dtype);
}

Autocast::~Autocast() { AutocastMode::set(type_, prev_enabled_, prev_dtype_); }

AutocastSuspend::AutocastSuspend() : prev_suspended_(t_state.suspended) { t_state.suspended = true; }
AutocastSuspend::~AutocastSuspend() { t_state.suspended = prev_suspended_; }

namespace autocast {

void Cast::init(const Tensor* const* inputs, size_t n) {
  const Tensor* first = nullptr;
  for (size_t i = 0; i < n && first == nullptr; ++i)
    if (inputs[i]->defined()) first = inputs[i];
  if (first == nullptr || !AutocastMode::is_enabled(first->device().type)) return;
  type_ = first->device().type;
  bool any_float = false;
  for (size_t i = 0; i < n; ++i) {
    const Tensor& t = *inputs[i];
    any_float = any_float || (t.defined() && t.device().type == type_ && t.is_floating_point());
  }
  if (!any_float) return;
  active_ = true;
  dtype_ = AutocastMode::dtype(type_);
  prev_suspended_ = t_state.suspended;
  t_state.suspended = true;
}

Cast::~Cast() {
  if (active_) t_state.suspended = prev_suspended_;
}

Tensor Cast::lower(const Tensor& t) const {
  if (!active_ || !t.defined() || t.device().type != type_) return t;
  const DType d = t.dtype();
  return d == kFloat32 || is_16bit_float(d) ? t.to(dtype_) : t;
}

Tensor Cast::fp32(const Tensor& t) const {
  if (!active_ || !t.defined() || t.device().type != type_) return t;
  return is_16bit_float(t.dtype()) ? t.to(kFloat32) : t;
}

}  // namespace autocast

}  // namespace wick::autograd
