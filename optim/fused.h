// Internal to optim/: the segments of one fused optimizer step, split by
// device and dtype, and their launch on the CPU kernels (ops/cpu/optim.h) or
// the CUDA kernels (cuda/kernels/optim.h). A CUDA parameter joins when it is
// on the batch's one CUDA device; anything else takes the composed path.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "ops/cpu/optim.h"
#include "tensor/tensor.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/optim.h"
#endif

namespace wick::optim::detail {

// The step kernels, overloaded on the segment type.
#define WICK_FUSED_STEP_(SEG, HYPER, FN)                                                                   \
  template <typename T>                                                                                     \
  void step_on(const std::optional<Device>& dev, std::span<const cpu::SEG<T>> s, const cpu::HYPER& h) {    \
    if (s.empty()) return;                                                                                  \
    if (!dev) return cpu::FN(s, h);                                                                         \
    WICK_FUSED_CUDA_(FN)                                                                                    \
  }
#ifdef WICK_WITH_CUDA
#define WICK_FUSED_CUDA_(FN) cuda::FN(*dev, s, h);
#else
#define WICK_FUSED_CUDA_(FN) WICK_FAIL("fused optimizer step: no CUDA in this build");
#endif
WICK_FUSED_STEP_(AdamSegment, AdamHyper, adam_step)
WICK_FUSED_STEP_(SgdSegment, SgdHyper, sgd_step)
WICK_FUSED_STEP_(LionSegment, LionHyper, lion_step)
#undef WICK_FUSED_STEP_
#undef WICK_FUSED_CUDA_

template <template <typename> class Seg>
class FusedBatch {
 public:
  // Whether `p` (already found fusable) may join this batch.
  bool accepts(const Tensor& p) {
    if (p.is_cpu()) return true;
    if (!gpu_) gpu_ = p.device();
    return *gpu_ == p.device();
  }
  void add(const Tensor& p, const Seg<float>& s) { (p.is_cpu() ? cpu32_ : gpu32_).push_back(s); }
  void add(const Tensor& p, const Seg<double>& s) { (p.is_cpu() ? cpu64_ : gpu64_).push_back(s); }
  template <typename Hyper>
  void run(const Hyper& h) const {
    step_on<float>(std::nullopt, std::span<const Seg<float>>(cpu32_), h);
    step_on<double>(std::nullopt, std::span<const Seg<double>>(cpu64_), h);
    step_on<float>(gpu_, std::span<const Seg<float>>(gpu32_), h);
    step_on<double>(gpu_, std::span<const Seg<double>>(gpu64_), h);
  }

 private:
  std::optional<Device> gpu_;
  std::vector<Seg<float>> cpu32_, gpu32_;
  std::vector<Seg<double>> cpu64_, gpu64_;
};

}  // namespace wick::optim::detail
