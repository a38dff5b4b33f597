// Fused multi-tensor optimizer steps on the CPU (SGD, Adam/AdamW, Lion).
//
// The op-composed update in optim/ runs ~7 tensor ops per parameter, each a
// full pass over memory with a temporary. These kernels do the whole update in
// one pass per element, reading p, g and the state and writing p and the state
// in place. "Multi-tensor": a group's parameters are given as a list of
// segments (raw pointers + length, one per parameter) and the concatenation
// of all segments is split evenly across threads by ONE parallel_for, so many
// small tensors (biases, norms) cost no more than one big one.
//
// Numerics: every kernel performs exactly the same IEEE operations, in the
// same order and in the same precision T, as the op-composed path (scalars
// are rounded to T as a scalar tensor would be, no FMA contraction), so the
// fused and the composed steps give bit-identical results.
//
// Each optimizer has a readable reference (`*_step_reference`: a plain loop
// over the segments, one thread) beside the fast kernel (`*_step`).
#pragma once

#include <cmath>
#include <cstdint>
#include <span>

namespace wick::cpu {

// ---------------------------------------------------------------------------
// Adam / AdamW (optim/adam.h)

struct AdamHyper {
  double lr, beta1, beta2, eps, weight_decay;
  double decay;  // 1 - lr * weight_decay, as the caller computed it (AdamW's p *= decay)
  bool amsgrad, maximize, decoupled_weight_decay;
};

template <typename T>
struct AdamSegment {
  T* param;
  const T* grad;
  T* exp_avg;
  T* exp_avg_sq;
  T* max_exp_avg_sq;  // only read with amsgrad
  int64_t numel;
  int64_t step;       // this parameter's step count, already incremented (>= 1)
};

void adam_step(std::span<const AdamSegment<float>> segments, const AdamHyper& h);
void adam_step(std::span<const AdamSegment<double>> segments, const AdamHyper& h);
void adam_step_reference(std::span<const AdamSegment<float>> segments, const AdamHyper& h);
void adam_step_reference(std::span<const AdamSegment<double>> segments, const AdamHyper& h);

// ---------------------------------------------------------------------------
// SGD (optim/sgd.h)

struct SgdHyper {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};

template <typename T>
struct SgdSegment {
  T* param;
  const T* grad;
  T* momentum_buffer;  // only with momentum != 0
  int64_t numel;
  bool init_buffer;    // the buffer is new: set it to the gradient (torch's clone at the first step)
};

void sgd_step(std::span<const SgdSegment<float>> segments, const SgdHyper& h);
void sgd_step(std::span<const SgdSegment<double>> segments, const SgdHyper& h);
void sgd_step_reference(std::span<const SgdSegment<float>> segments, const SgdHyper& h);
void sgd_step_reference(std::span<const SgdSegment<double>> segments, const SgdHyper& h);

// ---------------------------------------------------------------------------
// Lion (optim/lion.h)

struct LionHyper {
  double lr, beta1, beta2, weight_decay;
  double decay;  // 1 - lr * weight_decay, as the caller computed it
};

template <typename T>
struct LionSegment {
  T* param;
  const T* grad;
  T* exp_avg;
  int64_t numel;
};

void lion_step(std::span<const LionSegment<float>> segments, const LionHyper& h);
void lion_step(std::span<const LionSegment<double>> segments, const LionHyper& h);
void lion_step_reference(std::span<const LionSegment<float>> segments, const LionHyper& h);
void lion_step_reference(std::span<const LionSegment<double>> segments, const LionHyper& h);

// ---------------------------------------------------------------------------
// The per-step scalars, rounded to T as the composed path rounds them (shared
// with the CUDA kernels of cuda/kernels/optim.cu, so both devices step alike).

// Adam/AdamW, for one parameter at its step count.
template <typename T>
struct AdamCoefs {
  T decay, wd, beta1, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, step_size;
};

template <typename T>
inline AdamCoefs<T> adam_coefs(const AdamHyper& h, int64_t step) {
  const double t = static_cast<double>(step);
  const double bias_correction1 = 1 - std::pow(h.beta1, t);
  const double bias_correction2_sqrt = std::sqrt(1 - std::pow(h.beta2, t));
  return {static_cast<T>(h.decay),      static_cast<T>(h.weight_decay), static_cast<T>(h.beta1),
          static_cast<T>(1 - h.beta1),  static_cast<T>(h.beta2),        static_cast<T>(1 - h.beta2),
          static_cast<T>(bias_correction2_sqrt), static_cast<T>(h.eps), static_cast<T>(-h.lr / bias_correction1)};
}

template <typename T>
struct SgdCoefs {
  T wd, momentum, one_minus_dampening, neg_lr;
};

template <typename T>
inline SgdCoefs<T> sgd_coefs(const SgdHyper& h) {
  return {static_cast<T>(h.weight_decay), static_cast<T>(h.momentum), static_cast<T>(1 - h.dampening),
          static_cast<T>(-h.lr)};
}

template <typename T>
struct LionCoefs {
  T decay, beta1, one_minus_beta1, beta2, one_minus_beta2, neg_lr;
};

template <typename T>
inline LionCoefs<T> lion_coefs(const LionHyper& h) {
  return {static_cast<T>(h.decay),     static_cast<T>(h.beta1), static_cast<T>(1 - h.beta1),
          static_cast<T>(h.beta2),     static_cast<T>(1 - h.beta2), static_cast<T>(-h.lr)};
}

}  // namespace wick::cpu
