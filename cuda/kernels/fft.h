// CUDA discrete Fourier transforms along the last dim of contiguous rows: the
// three primitives of ops/fft.cpp (c2c, r2c, c2r) with the contracts, layouts
// and scale semantics of ops/cpu/fft.h, for float32 and float64, plus the
// O(n^2) reference DFT the tests hold them to. No cuFFT.
//
// Complex values are interleaved (real, imag) pairs (a wick tensor [..., n, 2]).
// Every transform is unscaled in its core and multiplied by `scale` once at
// the end:
//   c2c forward   X_k = scale * sum_{j<n} x_j exp(-2 pi i j k / n)     k < n
//   c2c inverse   x_j = scale * sum_{k<n} X_k exp(+2 pi i j k / n)     j < n
//   r2c           bins k = 0 .. n/2 of the c2c forward of a real row
//   c2r           the real part of the c2c inverse of the Hermitian spectrum
//                 whose bins 0 .. n/2 are given (X_{n-k} = conj X_k; the
//                 imaginary parts of X_0 and, for even n, X_{n/2} ignored)
// All arithmetic is in double, also for float32 data (rounded once at the
// end), exactly like the CPU kernels, so the two backends agree to the last
// bit or two. FP64 is fast enough for this on the data-center GPUs wick
// targets: an H100 SXM does about 34 TFLOP/s FP64 (non-tensor) against
// 3.35 TB/s, ~10 FLOP per byte, while a radix-2 FFT does 5 log2(m) FLOPs per
// complex value (16 bytes in double) per pass over memory: memory bound in
// double too. (On consumer GPUs, FP64 at 1/64 rate, it would not be.)
//
// Algorithms (cuda/kernels/fft.cu has the details): radix-2 for powers of
// two; Bluestein's chirp-z for any other n (a circular convolution of length
// m = next power of two >= 2n - 1 done with two radix-2 FFTs). The real
// transforms run through the complex transform of the full length n (the
// real row as (x, 0); the Hermitian spectrum completed), which costs twice
// the half-length packing trick of the CPU kernels but keeps one code path.
// Rows of m <= 2048 are transformed by one block each in shared memory;
// longer ones by one kernel per radix-2 stage over all rows in global
// memory. Twiddles, chirps and the Bluestein filter are computed on the host
// in double and cached per (device, n).
//
// Selection: these kernels are ON by default since tests/cuda/test_fft.cpp
// passed on an H100 (2026-11-27). set_fft_kernels(false) or the environment
// variable WICK_CUDA_FFT=0 turns them off; ops/fft.cpp then computes the
// transforms of CUDA tensors on the CPU through an explicit round trip (copy
// to the host, CPU kernel, copy back).
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace wick::cuda {

// Process-wide selection of these kernels for CUDA tensors in ops/fft.cpp
// (atomic; initially on, off when the environment has WICK_CUDA_FFT=0).
void set_fft_kernels(bool on);
bool fft_kernels();

// x, out: contiguous [rows.., n, 2] of one float dtype on one CUDA device.
void fft_c2c(const Tensor& out, const Tensor& x, bool inverse, double scale);
// x [rows.., n] real -> out [rows.., n/2 + 1, 2].
void fft_r2c(const Tensor& out, const Tensor& x, double scale);
// x [rows.., n/2 + 1, 2] -> out [rows.., n] real.
void fft_c2r(const Tensor& out, const Tensor& x, int64_t n, double scale);

// The O(n^2) definition (one thread per output value, angles
// 2 pi ((j k) mod n) / n by sincospi, sums in double), for the tests. Same
// layout and meaning as fft_c2c; out must not alias x.
void dft_reference(const Tensor& out, const Tensor& x, bool inverse, double scale);

}  // namespace wick::cuda
