// CUDA kernels for linear algebra beyond the products (those are in gemm.h):
// the symmetric eigensolver behind eigh (ops/linalg.cpp), with the contract
// of cpu::eigh (ops/cpu/linalg.h): x = [batch..., n, n] float32/float64, any
// strides, only the lower triangle read; w = [batch..., n] ascending and
// v = [batch..., n, n] with the eigenvectors as columns, both contiguous in
// x's dtype on x's device, computed in double; eigenvector j has unit norm and
// its largest-magnitude component (the first one on ties) positive.
//
// Every size is taken: one thread block per matrix, with A and V (2 n (n | 1)
// doubles) in shared memory while they fit the device's opt-in limit
// (n <= 119 on sm_90's 227 KiB, n <= 101 on sm_80's 163 KiB), in a
// global-memory scratch otherwise (correct for any n, but one SM per matrix:
// a single n = 1000 matrix takes seconds).
//
// The kernel is the default since its tests passed on an H100 (2026-11-27);
// set_eigh_kernel(false) or WICK_CUDA_EIGH=0 sends CUDA inputs through the
// CPU solver instead (a copy to the host and the results back).
#pragma once

#include "tensor/tensor.h"

namespace wick::cuda {

// Process-wide selection of the CUDA eigensolver for eigh (atomic; initially
// on, off when the environment has WICK_CUDA_EIGH=0).
void set_eigh_kernel(bool on);
bool eigh_kernel();

// The parallel Jacobi solver (cuda/kernels/linalg.cu). Returns false when
// some matrix has a non-finite entry (its outputs are then NaN); throws
// wick::Error when a matrix does not converge within the sweep cap. Waits for
// the stream (the result flag is read back).
bool eigh(const Tensor& w, const Tensor& v, const Tensor& x);

// The readable reference: one thread per matrix running cpu::eigh's
// sequential cyclic Jacobi. Same contract; slow (tests compare the two).
bool eigh_reference(const Tensor& w, const Tensor& v, const Tensor& x);

}  // namespace wick::cuda
