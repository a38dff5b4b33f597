// CUDA elementwise kernels: the same entry points, enums and semantics as the
// CPU kernels of ops/cpu/elementwise.h (read there what each op computes);
// ops/elementwise.cpp calls these for CUDA tensors.
//
// Differences from the CPU contract, all additive:
//  - float16 and bfloat16 are supported wherever float32 is (computed in
//    float32, rounded once on store);
//  - an input may be a one-element CPU tensor (a wrapped scalar, PyTorch's
//    "CPU scalar with CUDA tensors" rule): its value is passed to the kernel
//    by value, with no host-to-device copy. Every other operand must be on
//    out's CUDA device.
// All kernels run asynchronously on cuda::current_stream().
#pragma once

#include <optional>

#include "ops/cpu/elementwise.h"
#include "tensor/tensor.h"

namespace wick::cuda {

using cpu::BinaryOp;
using cpu::UnaryGradOp;
using cpu::UnaryOp;

void unary(UnaryOp op, const Tensor& out, const Tensor& x, double p0 = 0, double p1 = 0);
void unary_backward(UnaryGradOp op, const Tensor& out, const Tensor& grad, const Tensor& saved, double p0 = 0,
                    double p1 = 0);
void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
void clamp(const Tensor& out, const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi);
void clamp(const Tensor& out, const Tensor& x, const Tensor& lo, const Tensor& hi);
void lerp(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& w);

}  // namespace wick::cuda
