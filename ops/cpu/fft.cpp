// CPU FFT kernels (see ops/cpu/fft.h for the transforms and layouts).
//
// Radix-2 (length m = 2^p): permute into bit-reversed order, then p passes of
// butterflies; pass s combines pairs of half-length transforms of size
// len = 2^s:  a <- u + w v,  b <- u - w v  with w = exp(-2 pi i j / len).
// 5 m log2 m real FLOPs (the usual count).
//
// Bluestein (any n): 2jk = j^2 + k^2 - (k - j)^2, so with the chirp
// c_k = exp(-i pi k^2 / n)
//   X_k = c_k sum_j (x_j c_j) conj(c_{k-j}),
// a convolution of a_j = x_j c_j with b_d = conj(c_|d|), done circularly at
// length m >= 2n - 1 (so no wrap-around term reaches k < n) with two FFTs
// of length m per transform (the filter's FFT is in the plan): about
// 2 * 5 m log2 m + 6 m FLOPs, m < 4n.
// Inverses: radix-2 conjugates its twiddles; Bluestein computes conj(FFT(conj(x))).
//
// Rows are independent: every kernel is parallel over rows, each thread with
// its own scratch buffer.
//
// Measured (float32 rows, one thread, best of 400 runs, on this shared AMD
// EPYC machine): radix-2 n = 512 and 1024 take 3.6 us and 8.1 us, about
// 6.4 GFLOP/s by the 5 n log2 n count (roughly 13% of one core's
// double-precision FMA peak; numpy.fft's pocketfft, complex128: 2.7 us and
// 11 us). Bluestein n = 400 and 1000 take 17 us and 36 us, 4-5x pocketfft's
// mixed-radix code (4.3 us, 6.8 us): where speed matters use a power-of-two
// n_fft (e.g. n_fft = 512 with win_length = 400).
#include "ops/cpu/fft.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "tensor/parallel.h"

namespace wick::cpu {

namespace {

constexpr double kPi = std::numbers::pi;

bool is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

int64_t next_pow2(int64_t n) {
  int64_t m = 1;
  while (m < n) m <<= 1;
  return m;
}

// exp(-2 pi i num / den), num reduced mod den first so the angle stays small.
cdouble unit_root(int64_t num, int64_t den) {
  const double a = -2.0 * kPi * static_cast<double>(num % den) / static_cast<double>(den);
  return {std::cos(a), std::sin(a)};
}

// a * b without the C99 Annex G NaN/inf recovery that std::complex's
// operator* calls out of line (__muldc3): the inputs here are finite.
inline cdouble cmul(cdouble a, cdouble b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}

// Rows per parallel chunk: about 64k complex values of work per chunk.
int64_t row_grain(int64_t n) { return std::max<int64_t>(1, 65536 / std::max<int64_t>(1, n)); }

}  // namespace

FftPlan::FftPlan(int64_t n) : n_(n) {
  bluestein_ = !is_pow2(n);
  m_ = bluestein_ ? next_pow2(2 * n - 1) : n;
  twiddle_.resize(static_cast<size_t>(m_ / 2));
  for (int64_t k = 0; k < m_ / 2; ++k) twiddle_[k] = unit_root(k, m_);
  bitrev_.resize(static_cast<size_t>(m_));
  int bits = 0;
  while ((int64_t(1) << bits) < m_) ++bits;
  for (int64_t i = 0; i < m_; ++i) {
    int64_t r = 0;
    for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
    bitrev_[i] = r;
  }
  if (!bluestein_) return;
  // c_k = exp(-i pi k^2 / n) = exp(-2 pi i (k^2 mod 2n) / 2n).
  chirp_.resize(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) chirp_[k] = unit_root((k * k) % (2 * n), 2 * n);
  chirp_fft_.assign(static_cast<size_t>(m_), cdouble(0));
  chirp_fft_[0] = std::conj(chirp_[0]);
  for (int64_t k = 1; k < n; ++k) chirp_fft_[k] = chirp_fft_[m_ - k] = std::conj(chirp_[k]);
  radix2(chirp_fft_.data(), false);
  // Fold the 1/m of the inverse FFT in the convolution into the filter.
  for (auto& v : chirp_fft_) v /= static_cast<double>(m_);
}

void FftPlan::radix2(cdouble* a, bool inverse) const {
  for (int64_t i = 0; i < m_; ++i)
    if (i < bitrev_[i]) std::swap(a[i], a[bitrev_[i]]);
  for (int64_t len = 2; len <= m_; len <<= 1) {
    const int64_t half = len / 2, step = m_ / len;
    for (int64_t i = 0; i < m_; i += len) {
      for (int64_t j = 0; j < half; ++j) {
        const cdouble w = inverse ? std::conj(twiddle_[j * step]) : twiddle_[j * step];
        const cdouble u = a[i + j], v = cmul(a[i + j + half], w);
        a[i + j] = u + v;
        a[i + j + half] = u - v;
      }
    }
  }
}

void FftPlan::execute(cdouble* data, bool inverse, cdouble* work) const {
  if (!bluestein_) {
    radix2(data, inverse);
    return;
  }
  // Inverse = conj(forward(conj(x))): fold the conjugations into the loads and stores.
  for (int64_t k = 0; k < n_; ++k) work[k] = cmul(inverse ? std::conj(data[k]) : data[k], chirp_[k]);
  std::fill(work + n_, work + m_, cdouble(0));
  radix2(work, false);
  for (int64_t k = 0; k < m_; ++k) work[k] = cmul(work[k], chirp_fft_[k]);
  radix2(work, true);
  for (int64_t k = 0; k < n_; ++k) {
    const cdouble v = cmul(work[k], chirp_[k]);
    data[k] = inverse ? std::conj(v) : v;
  }
}

RealFftPlan::RealFftPlan(int64_t n) : n_(n), plan_(n % 2 == 0 ? n / 2 : n) {
  if (n % 2 != 0) return;
  twiddle_.resize(static_cast<size_t>(n / 2 + 1));
  for (int64_t k = 0; k <= n / 2; ++k) twiddle_[k] = unit_root(k, n);
}

template <typename T>
void fft_c2c(const FftPlan& plan, int64_t rows, const T* in, T* out, bool inverse, double scale) {
  const int64_t n = plan.size();
  parallel_for(0, rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    std::vector<cdouble> buf(static_cast<size_t>(n)), work(static_cast<size_t>(plan.work_size()));
    for (int64_t r = r0; r < r1; ++r) {
      const T* x = in + r * 2 * n;
      for (int64_t k = 0; k < n; ++k) buf[k] = {static_cast<double>(x[2 * k]), static_cast<double>(x[2 * k + 1])};
      plan.execute(buf.data(), inverse, work.data());
      T* y = out + r * 2 * n;
      for (int64_t k = 0; k < n; ++k) {
        y[2 * k] = static_cast<T>(buf[k].real() * scale);
        y[2 * k + 1] = static_cast<T>(buf[k].imag() * scale);
      }
    }
  });
}

template <typename T>
void fft_r2c(const RealFftPlan& plan, int64_t rows, const T* in, T* out, double scale) {
  const int64_t n = plan.size(), bins = plan.bins();
  const FftPlan& cp = plan.complex_plan();
  const int64_t h = cp.size();
  parallel_for(0, rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    std::vector<cdouble> z(static_cast<size_t>(h)), work(static_cast<size_t>(cp.work_size()));
    for (int64_t r = r0; r < r1; ++r) {
      const T* x = in + r * n;
      T* y = out + r * 2 * bins;
      auto store = [&](int64_t k, cdouble v) {
        y[2 * k] = static_cast<T>(v.real() * scale);
        y[2 * k + 1] = static_cast<T>(v.imag() * scale);
      };
      if (n % 2 != 0) {  // odd: a complex transform of the real row
        for (int64_t j = 0; j < n; ++j) z[j] = static_cast<double>(x[j]);
        cp.execute(z.data(), false, work.data());
        for (int64_t k = 0; k < bins; ++k) store(k, z[k]);
        continue;
      }
      // Even: Z = FFT_h(x_even + i x_odd); E_k = (Z_k + conj Z_{h-k}) / 2,
      // O_k = (Z_k - conj Z_{h-k}) / 2i, X_k = E_k + exp(-2 pi i k / n) O_k.
      for (int64_t j = 0; j < h; ++j) z[j] = {static_cast<double>(x[2 * j]), static_cast<double>(x[2 * j + 1])};
      cp.execute(z.data(), false, work.data());
      const auto& tw = plan.twiddles();
      for (int64_t k = 0; k <= h; ++k) {
        const cdouble zk = z[k % h], zc = std::conj(z[(h - k) % h]);
        const cdouble e = 0.5 * (zk + zc), d = zk - zc;
        const cdouble o(0.5 * d.imag(), -0.5 * d.real());  // d / 2i
        store(k, e + cmul(tw[k], o));
      }
    }
  });
}

template <typename T>
void fft_c2r(const RealFftPlan& plan, int64_t rows, const T* in, T* out, double scale) {
  const int64_t n = plan.size(), bins = plan.bins();
  const FftPlan& cp = plan.complex_plan();
  const int64_t h = cp.size();
  parallel_for(0, rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    std::vector<cdouble> z(static_cast<size_t>(h)), work(static_cast<size_t>(cp.work_size()));
    std::vector<cdouble> X(static_cast<size_t>(bins));
    for (int64_t r = r0; r < r1; ++r) {
      const T* src = in + r * 2 * bins;
      for (int64_t k = 0; k < bins; ++k) X[k] = {static_cast<double>(src[2 * k]), static_cast<double>(src[2 * k + 1])};
      // The imaginary parts of DC and Nyquist cannot belong to a real signal's spectrum.
      X[0].imag(0);
      if (n % 2 == 0) X[n / 2].imag(0);
      T* y = out + r * n;
      if (n % 2 != 0) {  // odd: complete the Hermitian spectrum, inverse complex transform
        for (int64_t k = 0; k < bins; ++k) z[k] = X[k];
        for (int64_t k = bins; k < n; ++k) z[k] = std::conj(X[n - k]);
        cp.execute(z.data(), true, work.data());
        for (int64_t j = 0; j < n; ++j) y[j] = static_cast<T>(z[j].real() * scale);
        continue;
      }
      // Even: 2 E_k = X_k + conj X_{h-k}, 2 O_k = (X_k - conj X_{h-k}) exp(+2 pi i k / n),
      // z = IFFT_h(2E + 2i O) (unscaled) = x_even + i x_odd.
      const auto& tw = plan.twiddles();
      for (int64_t k = 0; k < h; ++k) {
        const cdouble xc = std::conj(X[h - k]);
        const cdouble d = cmul(X[k] - xc, std::conj(tw[k]));
        z[k] = (X[k] + xc) + cdouble(-d.imag(), d.real());  // + i d
      }
      cp.execute(z.data(), true, work.data());
      for (int64_t j = 0; j < h; ++j) {
        y[2 * j] = static_cast<T>(z[j].real() * scale);
        y[2 * j + 1] = static_cast<T>(z[j].imag() * scale);
      }
    }
  });
}

template <typename T>
void dft_reference(int64_t rows, int64_t n, const T* in, T* out, bool inverse, double scale) {
  using LD = long double;
  // exp(-+2 pi i m / n) for m < n; term (j, k) uses m = (j k) mod n.
  std::vector<LD> c(static_cast<size_t>(n)), s(static_cast<size_t>(n));
  for (int64_t m = 0; m < n; ++m) {
    const LD a = (inverse ? 2 : -2) * std::numbers::pi_v<long double> * static_cast<LD>(m) / static_cast<LD>(n);
    c[m] = std::cos(a);
    s[m] = std::sin(a);
  }
  for (int64_t r = 0; r < rows; ++r) {
    const T* x = in + r * 2 * n;
    T* y = out + r * 2 * n;
    for (int64_t k = 0; k < n; ++k) {
      LD sr = 0, si = 0;
      for (int64_t j = 0; j < n; ++j) {
        const int64_t m = (j * k) % n;
        const LD xr = x[2 * j], xi = x[2 * j + 1];
        sr += xr * c[m] - xi * s[m];
        si += xr * s[m] + xi * c[m];
      }
      y[2 * k] = static_cast<T>(sr * scale);
      y[2 * k + 1] = static_cast<T>(si * scale);
    }
  }
}

#define WICK_FFT_INSTANTIATE_(T)                                                           \
  template void fft_c2c<T>(const FftPlan&, int64_t, const T*, T*, bool, double);           \
  template void fft_r2c<T>(const RealFftPlan&, int64_t, const T*, T*, double);             \
  template void fft_c2r<T>(const RealFftPlan&, int64_t, const T*, T*, double);             \
  template void dft_reference<T>(int64_t, int64_t, const T*, T*, bool, double);
WICK_FFT_INSTANTIATE_(float)
WICK_FFT_INSTANTIATE_(double)
#undef WICK_FFT_INSTANTIATE_

}  // namespace wick::cpu
