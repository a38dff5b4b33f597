// The CUDA FFT kernels (cuda/kernels/fft.cu) through the ops of ops/fft.h,
// against the CPU ops on the same inputs: fft / ifft / rfft / irfft for every
// norm, power-of-two and Bluestein lengths on both the shared-memory path
// (m <= 2048) and the global-memory path (larger m, rows in chunks), float32
// and float64, batches of rows, non-contiguous inputs, a dim other than the
// last, n padding and truncation, empty batches; the kernels against the
// O(n^2) reference DFT kernel; gradients on the device against the CPU's and
// float64 gradchecks through the device; stft / istft / windows on the
// device; and, with the kernels switched off (the default), the host round
// trip, which must give the CPU's results bit for bit on the input's device.
// Skips without a GPU.
//
// Tolerances: both backends compute in double and round once, so results
// differ only by summation order: relative to the largest magnitude of the
// expected result, 1e-12 in float64 and 1e-6 in float32 (a few float32 ulps).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/fft.h"
#endif
#include "ops/copy.h"
#include "ops/cpu/fft.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/fft.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"

using namespace wick;
using wick::test::all_equal;
using wick::test::normal;

namespace {

const Device kCuda("cuda");
const std::vector<std::string> kNorms = {"backward", "ortho", "forward"};
// Powers of two and not, both sides of the shared-memory limit (m <= 2048:
// Bluestein n <= 1024, radix-2 n <= 2048), long enough for the global path.
const std::vector<int64_t> kLengths = {1, 2, 3, 5, 8, 12, 17, 64, 97, 256, 1000, 1500, 2048, 4096};

// Selects the CUDA FFT kernels (on) or the host round trip (off) for a
// scope. Every test skips before constructing one in builds without CUDA.
class FftKernels {
 public:
  explicit FftKernels(bool on) {
#ifdef WICK_WITH_CUDA
    prev_ = cuda::fft_kernels();
    cuda::set_fft_kernels(on);
#else
    (void)on;
#endif
  }
  ~FftKernels() {
#ifdef WICK_WITH_CUDA
    cuda::set_fft_kernels(prev_);
#endif
  }
  FftKernels(const FftKernels&) = delete;
  FftKernels& operator=(const FftKernels&) = delete;

 private:
  bool prev_ = false;
};

double tol_for(DType dt) { return dt == kFloat64 ? 1e-12 : 1e-6; }

// max |got - want| <= tol * max(1, max |want|); got on CUDA, want on the CPU.
::testing::AssertionResult rel_close(const Tensor& got, const Tensor& want, double tol) {
  if (!got.is_cuda()) return ::testing::AssertionFailure() << "the result is on " << got.device() << ", not CUDA";
  if (got.sizes() != want.sizes())
    return ::testing::AssertionFailure() << "shape " << shape_str(got.sizes()) << " != " << shape_str(want.sizes());
  if (got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << "dtype " << got.dtype() << " != " << want.dtype();
  if (want.numel() == 0) return ::testing::AssertionSuccess();
  const Tensor g = got.cpu().to(kFloat64), w = want.to(kFloat64);
  const double err = amax(abs(sub(g, w))).item();
  const double mag = std::max(1.0, amax(abs(w)).item());
  if (std::isfinite(err) && err <= tol * mag) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max error " << err << " > " << tol << " * " << mag;
}

using Op = std::function<Tensor(const Tensor&)>;

// op on x's CUDA copy against op on x (CPU).
void expect_op_matches(const Op& op, const Tensor& x, double tol) {
  EXPECT_TRUE(rel_close(op(x.to(kCuda)), op(x), tol));
}

}  // namespace

// fft and ifft of batches of rows, every length and norm, both dtypes.
TEST(CudaFft, ComplexMatchesCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  FftKernels on(true);
  for (DType dt : {kFloat32, kFloat64}) {
    for (int64_t n : kLengths) {
      SCOPED_TRACE(str("n ", n, " dtype ", dt));
      const Tensor x = normal({2, 3, n, 2}, dt, static_cast<uint64_t>(n));
      for (const std::string& norm : kNorms) {
        SCOPED_TRACE(norm);
        expect_op_matches([&](const Tensor& t) { return fft(t, {}, -1, norm); }, x, tol_for(dt));
        expect_op_matches([&](const Tensor& t) { return ifft(t, {}, -1, norm); }, x, tol_for(dt));
      }
    }
  }
}

// rfft of real rows and irfft of half spectra (even and odd n, so with and
// without a Nyquist bin; the imaginary parts of DC and Nyquist are nonzero
// in the input and must be ignored alike).
TEST(CudaFft, RealMatchesCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  FftKernels on(true);
  for (DType dt : {kFloat32, kFloat64}) {
    for (int64_t n : kLengths) {
      SCOPED_TRACE(str("n ", n, " dtype ", dt));
      const Tensor x = normal({3, 2, n}, dt, static_cast<uint64_t>(n) + 100);
      const Tensor spec = normal({3, 2, n / 2 + 1, 2}, dt, static_cast<uint64_t>(n) + 200);
      for (const std::string& norm : kNorms) {
        SCOPED_TRACE(norm);
        expect_op_matches([&](const Tensor& t) { return rfft(t, {}, -1, norm); }, x, tol_for(dt));
        expect_op_matches([&](const Tensor& t) { return irfft(t, n, -1, norm); }, spec, tol_for(dt));
      }
      // irfft inverts rfft on the device.
      const Tensor xc = x.to(kCuda);
      EXPECT_TRUE(rel_close(irfft(rfft(xc), n), x, tol_for(dt)));
    }
  }
}

// Views, dims, lengths and batch shapes the ops layer must route correctly.
TEST(CudaFft, LayoutsDimsLengthsAndEmpty) {
  WICK_SKIP_WITHOUT_CUDA();
  FftKernels on(true);
  for (DType dt : {kFloat32, kFloat64}) {
    SCOPED_TRACE(str(dt));
    const double tol = tol_for(dt);
    // Non-contiguous: transposed batches, every other row transformed along that strided dim, every other sample.
    const Tensor z = normal({12, 5, 2}, dt, 1);
    expect_op_matches([](const Tensor& t) { return fft(t.transpose(0, 1)); }, z, tol);
    expect_op_matches([](const Tensor& t) { return ifft(t.slice(0, 0, 12, 2), {}, 0); }, z, tol);
    const Tensor r = normal({6, 10}, dt, 2);
    expect_op_matches([](const Tensor& t) { return rfft(t.transpose(0, 1)); }, r, tol);
    expect_op_matches([](const Tensor& t) { return rfft(t.slice(1, 1, 10, 2)); }, r, tol);
    expect_op_matches([](const Tensor& t) { return irfft(t.transpose(0, 1), 9); }, z.narrow(0, 0, 5), tol);
    // A dim other than the last, with padding and truncation.
    const Tensor z3 = normal({7, 4, 3, 2}, dt, 3);
    for (int64_t n : {7, 12, 5, 1}) {
      SCOPED_TRACE(n);
      expect_op_matches([n](const Tensor& t) { return fft(t, n, 0); }, z3, tol);
      expect_op_matches([n](const Tensor& t) { return ifft(t, n, 1, "ortho"); }, z3, tol);
      expect_op_matches([n](const Tensor& t) { return fft(t, n, -1, "forward"); }, z3, tol);
      expect_op_matches([n](const Tensor& t) { return rfft(t.select(-1, 0), n, 0); }, z3, tol);
      expect_op_matches([n](const Tensor& t) { return irfft(t, n, 0); }, z3, tol);
      expect_op_matches([n](const Tensor& t) { return irfft(t, n, -2, "ortho"); }, z3, tol);
    }
    // Empty batches keep their shape and device.
    for (const Op& op : std::vector<Op>{[](const Tensor& t) { return fft(t); },
                                        [](const Tensor& t) { return ifft(t, 6); },
                                        [](const Tensor& t) { return irfft(t); },
                                        [](const Tensor& t) { return rfft(t.select(-1, 0)); }}) {
      const Tensor e = zeros({0, 5, 2}, TensorOptions(dt));
      expect_op_matches(op, e, tol);
    }
    // One complex dim only ([n, 2]) and a 1-d real signal.
    expect_op_matches([](const Tensor& t) { return fft(t); }, normal({33, 2}, dt, 4), tol);
    expect_op_matches([](const Tensor& t) { return rfft(t); }, normal({33}, dt, 5), tol);
  }
}

// Many rows: more than the 2^20 blocks the shared-memory kernel launches
// (blocks loop over rows), and on the global path more rows than one scratch
// chunk holds (2^24 complex values: m = 2^21 gives 8 rows per chunk).
TEST(CudaFft, ManyRowsAndChunks) {
  WICK_SKIP_WITHOUT_CUDA();
  FftKernels on(true);
  const Tensor many = normal({(int64_t{1} << 20) + 3, 4, 2}, kFloat32, 6);
  expect_op_matches([](const Tensor& t) { return fft(t); }, many, 1e-6);
  expect_op_matches([](const Tensor& t) { return irfft(t, 6); }, many, 1e-6);
  const Tensor longrows = normal({9, int64_t{1} << 21}, kFloat32, 7);
  expect_op_matches([](const Tensor& t) { return rfft(t); }, longrows, 1e-6);
  // Bluestein on the global path in chunks: n = 2^20 + 1 pads to m = 2^22, 4 rows per chunk.
  const Tensor blue = normal({5, (int64_t{1} << 20) + 1}, kFloat32, 8);
  expect_op_matches([](const Tensor& t) { return rfft(t, {}, -1, "ortho"); }, blue, 1e-6);
}

#ifdef WICK_WITH_CUDA  // the kernels' own entry points exist in CUDA builds only

// The fast kernels against the O(n^2) reference kernel on the device, and the
// reference kernel itself against the CPU's.
TEST(CudaFftKernel, MatchesReferenceDft) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kFloat64}) {
    const TensorOptions o = TensorOptions(dt).device(kCuda);
    for (int64_t n : {1, 2, 3, 5, 8, 12, 17, 64, 97, 256, 1000, 1500, 4096}) {
      SCOPED_TRACE(str("n ", n, " dtype ", dt));
      const int64_t rows = 3;
      const Tensor x = normal({rows, n, 2}, dt, static_cast<uint64_t>(n) + 300).to(kCuda);
      for (bool inverse : {false, true}) {
        SCOPED_TRACE(inverse ? "inverse" : "forward");
        Tensor fast = empty({rows, n, 2}, o), ref = empty({rows, n, 2}, o);
        cuda::fft_c2c(fast, x, inverse, 0.5);
        cuda::dft_reference(ref, x, inverse, 0.5);
        EXPECT_TRUE(rel_close(fast, ref.cpu(), dt == kFloat64 ? 1e-12 : 2e-6));
      }
      // r2c: the first n/2 + 1 bins of the complex DFT of (x, 0); c2r inverts it.
      const Tensor xr = x.select(-1, 0).contiguous();
      Tensor full = empty({rows, n, 2}, o);
      cuda::dft_reference(full, stack({xr, zeros_like(xr)}, -1).contiguous(), false, 1.0);
      Tensor half = empty({rows, n / 2 + 1, 2}, o);
      cuda::fft_r2c(half, xr, 1.0);
      EXPECT_TRUE(rel_close(half, full.narrow(1, 0, n / 2 + 1).cpu(), dt == kFloat64 ? 1e-12 : 2e-6));
      Tensor back = empty({rows, n}, o);
      cuda::fft_c2r(back, half, n, 1.0 / static_cast<double>(n));
      EXPECT_TRUE(rel_close(back, xr.cpu(), dt == kFloat64 ? 1e-12 : 2e-6));
      // The device reference against the CPU reference (float64, long double on the CPU).
      if (dt == kFloat64 && n <= 256) {
        const Tensor xh = x.cpu();
        Tensor want = empty({rows, n, 2}, TensorOptions(dt));
        cpu::dft_reference(rows, n, xh.data_ptr<double>(), want.data_ptr<double>(), false, 1.0);
        Tensor got = empty({rows, n, 2}, o);
        cuda::dft_reference(got, x, false, 1.0);
        EXPECT_TRUE(rel_close(got, want, 1e-13));
      }
    }
  }
}

TEST(CudaFftKernel, ChecksItsArguments) {
  WICK_SKIP_WITHOUT_CUDA();
  const TensorOptions o = TensorOptions(kFloat32).device(kCuda);
  Tensor x = zeros({2, 8, 2}, o);
  EXPECT_WICK_ERROR(cuda::fft_c2c(empty({2, 8, 2}, TensorOptions(kFloat64).device(kCuda)), x, false, 1.0),
                    "one dtype");
  EXPECT_WICK_ERROR(cuda::fft_c2c(empty({2, 7, 2}, o), x, false, 1.0), "one shape");
  EXPECT_WICK_ERROR(cuda::fft_r2c(empty({2, 4, 2}, o), zeros({2, 8}, o), 1.0), "[..., 5, 2]");
  EXPECT_WICK_ERROR(cuda::fft_c2r(empty({2, 8}, o), zeros({2, 4, 2}, o), 8, 1.0), "irfft");
  EXPECT_WICK_ERROR(cuda::dft_reference(x, x, false, 1.0), "alias");
}

#endif  // WICK_WITH_CUDA

// The backward of each op on the device against the CPU's, and float64
// gradchecks with the op running on the device.
TEST(CudaFft, GradientsMatchCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  FftKernels on(true);
  const std::vector<std::pair<std::string, Op>> ops = {
      {"fft", [](const Tensor& t) { return fft(t, 12, 0, "ortho"); }},
      {"ifft", [](const Tensor& t) { return ifft(t, 5); }},
      {"rfft", [](const Tensor& t) { return rfft(t.select(-1, 1), 9, 0); }},
      {"rfft even", [](const Tensor& t) { return rfft(t.select(-1, 0), {}, -1, "forward"); }},
      {"irfft", [](const Tensor& t) { return irfft(t, 10); }},
      {"irfft odd dim 0", [](const Tensor& t) { return irfft(t, 7, 0, "ortho"); }},
      {"complex_abs of fft", [](const Tensor& t) { return complex_abs(fft(t)); }},
  };
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    for (DType dt : {kFloat32, kFloat64}) {
      SCOPED_TRACE(str(dt));
      const Tensor x0 = normal({6, 4, 2}, dt, 9);
      const Tensor xc = x0.clone().requires_grad_(), xg = x0.to(kCuda).requires_grad_();
      const Tensor yc = op(xc), yg = op(xg);
      ASSERT_TRUE(rel_close(yg, yc.detach(), tol_for(dt)));
      const Tensor w = normal(yc.sizes(), dt, 10);
      sum(mul(yc, w)).backward();
      sum(mul(yg, w.to(kCuda))).backward();
      ASSERT_TRUE(xg.grad().defined());
      EXPECT_TRUE(rel_close(xg.grad(), xc.grad(), tol_for(dt)));
    }
    // The inputs live on the CPU; the function moves them (differentiably) to the device.
    const Tensor x = wick::test::rand_f64({6, 4, 2}, 11);
    EXPECT_TRUE(gradcheck(
        [&op](const tensor_list& in) {
          Tensor y = op(in[0].to(kCuda));
          EXPECT_TRUE(y.is_cuda());
          return y.to(kCPU);
        },
        {x}));
  }
  // Second order through the device (the backward is made of the same ops).
  EXPECT_TRUE(gradgradcheck([](const tensor_list& in) { return rfft(in[0].to(kCuda), 6).to(kCPU); },
                            {wick::test::rand_f64({3, 5}, 12)}));
}

// stft / istft with windows made on the device against the CPU.
TEST(CudaFft, StftAndIstftMatchCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  FftKernels on(true);
  for (DType dt : {kFloat32, kFloat64}) {
    SCOPED_TRACE(str(dt));
    const double tol = tol_for(dt) * 10;  // windowing and overlap-add add a few roundings
    const Tensor wc = hann_window(64, true, TensorOptions(dt));
    const Tensor wg = hann_window(64, true, TensorOptions(dt).device(kCuda));
    ASSERT_TRUE(wg.is_cuda());
    EXPECT_TRUE(rel_close(wg, wc, 1e-15));
    EXPECT_TRUE(rel_close(hamming_window(17, false, TensorOptions(dt).device(kCuda)),
                          hamming_window(17, false, TensorOptions(dt)), 1e-15));
    const Tensor x = normal({2, 1000}, dt, 13);
    const Tensor xg = x.to(kCuda);
    // A power-of-two n_fft (radix-2) and a Bluestein one with a shorter window.
    EXPECT_TRUE(rel_close(stft(xg, 64, 16, {}, wg), stft(x, 64, 16, {}, wc), tol));
    const Tensor w50c = hamming_window(50, true, TensorOptions(dt));
    const Tensor w50g = w50c.to(kCuda);
    EXPECT_TRUE(rel_close(stft(xg, 60, 15, 50, w50g, true, "constant", true),
                          stft(x, 60, 15, 50, w50c, true, "constant", true), tol));
    EXPECT_TRUE(rel_close(stft(xg.select(0, 1), 64, 16, {}, wg, true, "reflect", false, false),
                          stft(x.select(0, 1), 64, 16, {}, wc, true, "reflect", false, false), tol));
    // istft on the device inverts stft.
    const Tensor spec = stft(xg, 64, 16, {}, wg);
    const Tensor back = istft(spec, 64, 16, {}, wg, true, false, true, 1000);
    EXPECT_TRUE(rel_close(back, x, tol));
    EXPECT_TRUE(rel_close(back, istft(spec.cpu(), 64, 16, {}, wc, true, false, true, 1000), tol));
  }
  // The gradient of a loss on |stft| on the device against the CPU's.
  const Tensor x = normal({1, 300}, kFloat64, 14);
  const Tensor xc = x.clone().requires_grad_(), xg = x.to(kCuda).requires_grad_();
  sum(complex_abs(stft(xc, 32, 8, {}, hann_window(32, true, TensorOptions(kFloat64))))).backward();
  sum(complex_abs(stft(xg, 32, 8, {}, hann_window(32, true, TensorOptions(kFloat64).device(kCuda))))).backward();
  EXPECT_TRUE(rel_close(xg.grad(), xc.grad(), 1e-11));
}

// Kernels off (the default until a GPU has run this file): a CUDA input is
// transformed by the CPU kernels on a host copy, so results and gradients
// equal the CPU's exactly and come back on the input's device.
TEST(CudaFft, SwitchedOffRoundTripsThroughTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  FftKernels off(false);
  for (DType dt : {kFloat32, kFloat64}) {
    SCOPED_TRACE(str(dt));
    const Tensor z = normal({4, 97, 2}, dt, 15), r = normal({4, 64}, dt, 16);
    const std::vector<std::pair<Op, Tensor>> cases = {
        {[](const Tensor& t) { return fft(t, 100, -1, "ortho"); }, z},
        {[](const Tensor& t) { return ifft(t.transpose(0, 1), {}, 0); }, z},
        {[](const Tensor& t) { return rfft(t); }, r},
        {[](const Tensor& t) { return irfft(t, 191); }, z},
        {[](const Tensor& t) {
           return stft(t, 16, 4, {}, hann_window(16, true, TensorOptions(t.dtype()).device(t.device())));
         },
         r},
    };
    for (const auto& [op, x] : cases) {
      const Tensor got = op(x.to(kCuda));
      EXPECT_TRUE(got.is_cuda());
      EXPECT_TRUE(all_equal(got.cpu(), op(x)));
    }
    const Tensor xc = z.clone().requires_grad_(), xg = z.to(kCuda).requires_grad_();
    // Through every primitive's backward: fft, then rfft and irfft of |fft(z)|.
    auto loss = [](const Tensor& t) {
      const Tensor y = irfft(rfft(complex_abs(fft(t))), 97);
      return sum(mul(y, y));
    };
    loss(xc).backward();
    loss(xg).backward();
    ASSERT_TRUE(xg.grad().defined());
    EXPECT_TRUE(xg.grad().is_cuda());
    // The elementwise parts of the backward run on the GPU: equal up to their rounding.
    EXPECT_TRUE(rel_close(xg.grad(), xc.grad(), tol_for(dt)));
  }
}
