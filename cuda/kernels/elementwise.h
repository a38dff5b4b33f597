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
//    out's CUDA device;
//  - add, sub, mul and div take a float32 operand beside a float16 or
//    bfloat16 one as they are (binary_reads_mixed), converting the 16-bit
//    values on load as PyTorch's TensorIterator does, into a float32 result:
//    the same bits as casting the 16-bit operand first (that conversion is
//    exact), without the cast's pass over memory and its temporary (a
//    float32 residual stream plus a bf16 branch under autocast). On since
//    CudaElementwiseOps.MixedFloat32And16BitOperands passed on an H200
//    (2026-11-28; WICK_CUDA_MIXED_BINARY=0 or set_binary_mixed to turn off).
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
// Operands of one dtype (or one of them a CPU scalar), or a pair binary_reads_mixed accepts.
void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
// Whether binary(op, out, a, b) reads CUDA operands of dtypes a and b as they
// are into an output of dtype out: the switch below on, op add/sub/mul/div,
// out float32, one operand float32 and the other float16 or bfloat16.
bool binary_reads_mixed(BinaryOp op, DType out, DType a, DType b);
void set_binary_mixed(bool on);
bool binary_mixed();
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
void clamp(const Tensor& out, const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi);
void clamp(const Tensor& out, const Tensor& x, const Tensor& lo, const Tensor& hi);
void lerp(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& w);

}  // namespace wick::cuda
