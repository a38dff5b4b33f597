// Fused multi-tensor optimizer steps on CUDA: the contracts of ops/cpu/optim.h
// (SGD, Adam/AdamW, Lion), with pointers into memory of `device` in the
// segments. One launch per call: blockIdx.y is the segment (a
// parameter), blockIdx.x strides over its elements, so a model's many small
// tensors cost one launch, not one per tensor. The per-step scalars are the
// CPU's (cpu::adam_coefs & co.), and the file is compiled without FMA
// contraction, so each element goes through the same IEEE operations as on
// the CPU (sqrt and division are correctly rounded on both).
#pragma once

#include <span>

#include "ops/cpu/optim.h"
#include "tensor/device.h"

namespace wick::cuda {

void adam_step(const Device& device, std::span<const cpu::AdamSegment<float>> segments, const cpu::AdamHyper& h);
void adam_step(const Device& device, std::span<const cpu::AdamSegment<double>> segments, const cpu::AdamHyper& h);
void sgd_step(const Device& device, std::span<const cpu::SgdSegment<float>> segments, const cpu::SgdHyper& h);
void sgd_step(const Device& device, std::span<const cpu::SgdSegment<double>> segments, const cpu::SgdHyper& h);
void lion_step(const Device& device, std::span<const cpu::LionSegment<float>> segments, const cpu::LionHyper& h);
void lion_step(const Device& device, std::span<const cpu::LionSegment<double>> segments, const cpu::LionHyper& h);

}  // namespace wick::cuda
