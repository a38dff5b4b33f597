// Autocast: mixed precision for a scope of code, as torch.autocast.
//
//   {
//     wick::Autocast ac(Device("cuda"), kBFloat16);
//     Tensor logits = model.forward(x);        // matmuls, convs, attention in bfloat16
//     Tensor loss = cross_entropy(logits, y);  // losses and reductions in float32
//   }
//   loss.backward();                            // float32 gradients for float32 weights
//
// Inside a scope, ops on tensors of the scope's device type follow one of two
// policies, fixed per op (PyTorch's lists, trimmed to wick's ops):
//   lower precision  matmul, mm, bmm, mv, addmm, linear, conv1d, conv2d,
//                    conv_transpose2d, scaled_dot_product_attention:
//                    float32 inputs are cast to the scope's dtype (float16 or
//                    bfloat16); the op runs on tensor cores, accumulating in
//                    float32, and returns the low-precision dtype.
//   float32          softmax, log_softmax, layer_norm, rms_norm, group_norm,
//                    batch_norm, every loss, sum, prod, cumsum, logsumexp,
//                    norm: float16/bfloat16 inputs are cast to float32.
// Every other op runs in the dtype of its inputs (binary ops promote a mixed
// pair to the wider type, so a bfloat16 residual added to a float32 one is
// float32). float64 tensors are never cast, and neither are tensors on another
// device type than the scope's (a CUDA scope leaves CPU tensors alone).
//
// The weights stay float32 (the "master weights"): the cast is an op on the
// tape, so the gradient flowing back through it is cast back, and .grad is
// float32. batch_norm keeps a 16-bit CUDA input beside its float32
// parameters, as PyTorch does (wick's mixed CUDA kernels; off with
// cuda::set_batch_norm_mixed(false) or WICK_CUDA_BN_MIXED=0, which casts the
// input to float32 instead). Where wick differs from PyTorch: casts of
// weights are not cached across ops in a scope (each use casts again).
//
// Autocast does not apply inside an op it already cast (a composed op such as
// attention's math path runs its parts in the dtype it was given), nor during
// backward: the engine suspends it, so gradients run in the forward's dtypes.
//
// The state is per thread, like PyTorch's; scopes nest and restore the outer
// state on exit. float16 gradients can underflow: pair float16 autocast with
// optim::GradScaler (optim/grad_scaler.h). bfloat16 has float32's range and
// needs no scaler.
#pragma once

#include <cstddef>
#include <type_traits>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/tensor.h"

namespace wick::autograd {

// This thread's autocast state for one device type.
struct AutocastMode {
  static bool is_enabled(DeviceType type);
  // The scope's dtype (float16 or bfloat16); meaningful when enabled.
  static DType dtype(DeviceType type);
  static void set(DeviceType type, bool enabled, DType dtype);
  // Whether any device type is enabled and not suspended (the ops' fast path).
  static bool any_enabled();
};

// An autocast scope (RAII). `dtype` must be float16 or bfloat16 and `device`
// a CUDA device: wick's CPU kernels have no 16-bit float arithmetic, so a CPU
// scope is an error (wick::Error saying so) rather than a silent no-op.
// enabled = false turns autocast off for the scope (torch.autocast(...,
// enabled=False) inside an outer scope: run a sensitive part in float32).
class Autocast {
 public:
  Autocast(Device device, DType dtype, bool enabled = true);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  DeviceType type_;
  bool prev_enabled_;
  DType prev_dtype_;
};

// Turns autocast off for every device type on this thread until destroyed
// (the engine during backward, and an op while it runs on inputs autocast
// already cast).
class AutocastSuspend {
 public:
  AutocastSuspend();
  ~AutocastSuspend();
  AutocastSuspend(const AutocastSuspend&) = delete;
  AutocastSuspend& operator=(const AutocastSuspend&) = delete;

 private:
  bool prev_suspended_;
};

// The op side. An op on autocast's lists starts with
//   if (autocast::Cast ac{a, b}; ac) return op(ac.lower(a), ac.lower(b));
// Cast is true when autocast is on for the device type of the first defined
// input and some input is a floating tensor there; while it lives, autocast is
// suspended, so the call above runs the op once, on the cast inputs.
namespace autocast {

class Cast {
 public:
  // Takes the inputs by reference (no copies): outside autocast scopes an op
  // pays one thread-local read.
  template <typename... Ts>
  explicit Cast(const Ts&... inputs) {
    static_assert((std::is_same_v<Ts, Tensor> && ...), "autocast::Cast takes Tensors");
    if (AutocastMode::any_enabled()) {
      const Tensor* ts[] = {&inputs...};
      init(ts, sizeof...(Ts));
    }
  }
  ~Cast();
  Cast(const Cast&) = delete;
  Cast& operator=(const Cast&) = delete;
  explicit operator bool() const { return active_; }
  // The scope's dtype for a float32/float16/bfloat16 tensor on the scope's
  // device type; anything else (undefined, float64, integer, other devices)
  // unchanged.
  Tensor lower(const Tensor& t) const;
  // float32 for a float16/bfloat16 tensor on the scope's device type; anything
  // else unchanged.
  Tensor fp32(const Tensor& t) const;

 private:
  void init(const Tensor* const* inputs, size_t n);

  bool active_ = false;
  DeviceType type_ = DeviceType::CPU;
  DType dtype_ = kFloat32;
  bool prev_suspended_ = false;
};

}  // namespace autocast

}  // namespace wick::autograd

namespace wick {
using autograd::Autocast;
namespace autocast = autograd::autocast;
}  // namespace wick
