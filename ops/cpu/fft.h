// CPU discrete Fourier transforms along the last dim of contiguous rows.
//
// Complex values are interleaved (real, imag) pairs, the layout of a wick
// tensor [..., n, 2] (torch.view_as_real). Every transform is unscaled in the
// kernel's core and multiplied by `scale` at the end, so the ops layer picks
// the norm ("backward", "ortho", "forward"):
//   c2c forward   X_k = scale * sum_{j<n} x_j exp(-2 pi i j k / n)     k < n
//   c2c inverse   x_j = scale * sum_{k<n} X_k exp(+2 pi i j k / n)     j < n
//   r2c           the c2c forward of a real row, bins k = 0 .. n/2 only
//   c2r           the c2c inverse of the Hermitian spectrum whose bins
//                 0 .. n/2 are given: X_{n-k} = conj(X_k), and the imaginary
//                 parts of X_0 (and X_{n/2} for even n) are ignored, so the
//                 result is real: x_j = scale * (Re X_0 + 2 sum_{0<k<n/2} Re(X_k w^{jk}) + [n even] Re X_{n/2} (-1)^j)
//
// Algorithms (FftPlan): iterative radix-2 Cooley-Tukey when n is a power of
// two; Bluestein's chirp-z for any other n, which rewrites the DFT as a
// circular convolution of length m = next power of two >= 2n - 1 done with
// three radix-2 FFTs (one of them precomputed in the plan). Real transforms of
// even n run a complex FFT of half the length on the even/odd samples packed
// as z_j = x_{2j} + i x_{2j+1} and untangle the halves with one more pass.
// All arithmetic is in double, also for float32 data (rounded once at the
// end), so float32 results carry only their final rounding error.
// dft_reference is the readable O(n^2) definition the tests hold them to.
#pragma once

#include <complex>
#include <cstdint>
#include <vector>

namespace wick::cpu {

using cdouble = std::complex<double>;

// Unscaled complex DFTs of one length n >= 1, in place. Immutable after
// construction, so one plan serves every row and every thread.
class FftPlan {
 public:
  explicit FftPlan(int64_t n);
  int64_t size() const { return n_; }
  bool uses_bluestein() const { return bluestein_; }
  // Scratch (complex values) that execute needs besides `data`.
  int64_t work_size() const { return bluestein_ ? m_ : 0; }
  // data[0..n) <- DFT (inverse: exp(+...) kernel). `work` holds work_size() values.
  void execute(cdouble* data, bool inverse, cdouble* work) const;

 private:
  void radix2(cdouble* a, bool inverse) const;  // length m_, unscaled

  int64_t n_ = 0;
  int64_t m_ = 0;  // radix-2 length: n itself, or Bluestein's padded length
  bool bluestein_ = false;
  std::vector<cdouble> twiddle_;    // exp(-2 pi i k / m), k < m/2
  std::vector<int64_t> bitrev_;     // bit-reversal permutation of 0..m-1
  std::vector<cdouble> chirp_;      // Bluestein: exp(-i pi k^2 / n), k < n
  std::vector<cdouble> chirp_fft_;  // Bluestein: FFT_m of the filter b_k = conj(chirp_|k|) (circular), divided by m
};

// A plan for real transforms of length n: for even n a complex plan of n/2
// plus the twiddles exp(-2 pi i k / n), k <= n/2; for odd n a plan of n.
class RealFftPlan {
 public:
  explicit RealFftPlan(int64_t n);
  int64_t size() const { return n_; }
  int64_t bins() const { return n_ / 2 + 1; }
  const FftPlan& complex_plan() const { return plan_; }
  const std::vector<cdouble>& twiddles() const { return twiddle_; }

 private:
  int64_t n_;
  FftPlan plan_;
  std::vector<cdouble> twiddle_;
};

// in/out: [rows, n, 2]. in == out is allowed.
template <typename T>
void fft_c2c(const FftPlan& plan, int64_t rows, const T* in, T* out, bool inverse, double scale);
// in [rows, n] real -> out [rows, n/2 + 1, 2].
template <typename T>
void fft_r2c(const RealFftPlan& plan, int64_t rows, const T* in, T* out, double scale);
// in [rows, n/2 + 1, 2] -> out [rows, n] real.
template <typename T>
void fft_c2r(const RealFftPlan& plan, int64_t rows, const T* in, T* out, double scale);

// The O(n^2) definition, for tests: angles 2 pi ((j k) mod n) / n, sums in
// long double. Same layout and meaning as fft_c2c. out must not alias in.
template <typename T>
void dft_reference(int64_t rows, int64_t n, const T* in, T* out, bool inverse, double scale);

}  // namespace wick::cpu
