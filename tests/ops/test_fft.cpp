// fft, ifft, rfft, irfft, stft, istft, windows: the fast CPU kernels against
// the O(n^2) reference on awkward sizes, values and gradients against PyTorch
// (tests/fixtures/gen_fft.py), gradcheck and gradgradcheck, round trips,
// non-contiguous inputs, error messages.
#include <cmath>
#include <numbers>

#include "ops/cpu/fft.h"
#include "ops/fft.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

using Fn = std::function<Tensor(const Tensor&)>;

// Runs fn on the fixture's input and compares y and the gradient of sum(y * gy).
void expect_matches_fixture(const std::string& name, const Fn& fn, double tol = 1e-12) {
  SCOPED_TRACE(name);
  const std::string p = "fft/" + name + "_";
  Tensor x = fixture(p + "x").requires_grad_();
  Tensor y = fn(x);
  EXPECT_EQ(y.dtype(), x.dtype());
  ASSERT_TRUE(all_close(y, fixture(p + "y"), tol, tol));
  sum(y * fixture(p + "gy")).backward();
  EXPECT_TRUE(all_close(x.grad(), fixture(p + "gx"), tol, tol));
}

// Max |a - b| / max(1, max |b|), for transforms whose values grow with n.
double rel_err(const std::vector<double>& a, const std::vector<double>& b) {
  double err = 0, mag = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(a[i] - b[i]));
    mag = std::max(mag, std::abs(b[i]));
  }
  return err / mag;
}

}  // namespace

// The fast kernels (radix-2, Bluestein, packed real transforms) against the
// O(n^2) definition, both directions, in float64 and float32.
TEST(FftKernel, MatchesReferenceDft) {
  for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 16, 100, 128, 257}) {
    SCOPED_TRACE(n);
    const int64_t rows = 3;
    std::vector<double> x = rand_f64({rows, n, 2}, static_cast<uint64_t>(n), false).tolist<double>();
    cpu::FftPlan plan(n);
    EXPECT_EQ(plan.uses_bluestein(), (n & (n - 1)) != 0);
    for (bool inverse : {false, true}) {
      std::vector<double> fast(x.size()), ref(x.size());
      cpu::fft_c2c(plan, rows, x.data(), fast.data(), inverse, 0.5);
      cpu::dft_reference(rows, n, x.data(), ref.data(), inverse, 0.5);
      EXPECT_LT(rel_err(fast, ref), 1e-13) << "inverse=" << inverse;
      std::vector<float> xf(x.begin(), x.end()), ff(x.size());
      cpu::fft_c2c(plan, rows, xf.data(), ff.data(), inverse, 0.5);
      EXPECT_LT(rel_err(std::vector<double>(ff.begin(), ff.end()), ref), 2e-7) << "float32, inverse=" << inverse;
    }
    // Real transforms: r2c is the first n/2 + 1 bins of the complex DFT of the real row.
    std::vector<double> xr(static_cast<size_t>(rows * n)), xc(static_cast<size_t>(2 * rows * n), 0.0);
    for (int64_t i = 0; i < rows * n; ++i) xr[i] = xc[2 * i] = x[2 * i];
    const int64_t bins = n / 2 + 1;
    cpu::RealFftPlan rplan(n);
    std::vector<double> half(static_cast<size_t>(2 * rows * bins)), full(xc.size());
    cpu::fft_r2c(rplan, rows, xr.data(), half.data(), 1.0);
    cpu::dft_reference(rows, n, xc.data(), full.data(), false, 1.0);
    std::vector<double> full_half;
    for (int64_t r = 0; r < rows; ++r)
      full_half.insert(full_half.end(), full.begin() + 2 * r * n, full.begin() + 2 * r * n + 2 * bins);
    EXPECT_LT(rel_err(half, full_half), 1e-13);
    // c2r inverts r2c (with 1/n).
    std::vector<double> back(xr.size());
    cpu::fft_c2r(rplan, rows, half.data(), back.data(), 1.0 / static_cast<double>(n));
    EXPECT_LT(rel_err(back, xr), 1e-13);
  }
}

TEST(Fft, MatchesPyTorch) {
  expect_matches_fixture("fft_8", [](const Tensor& z) { return fft(z); });
  expect_matches_fixture("fft_7_dim0", [](const Tensor& z) { return fft(z, {}, 0); });
  expect_matches_fixture("fft_n12_pad", [](const Tensor& z) { return fft(z, 12); });
  expect_matches_fixture("fft_n5_trunc_ortho", [](const Tensor& z) { return fft(z, 5, -1, "ortho"); });
  expect_matches_fixture("ifft_10", [](const Tensor& z) { return ifft(z); });
  expect_matches_fixture("ifft_16_forward", [](const Tensor& z) { return ifft(z, {}, 1, "forward"); });
}

TEST(Rfft, MatchesPyTorch) {
  expect_matches_fixture("rfft_16", [](const Tensor& x) { return rfft(x); });
  expect_matches_fixture("rfft_15", [](const Tensor& x) { return rfft(x); });
  expect_matches_fixture("rfft_n20_pad", [](const Tensor& x) { return rfft(x, 20); });
  expect_matches_fixture("rfft_n10_trunc", [](const Tensor& x) { return rfft(x, 10); });
  expect_matches_fixture("rfft_dim0_ortho", [](const Tensor& x) { return rfft(x, {}, 0, "ortho"); });
  expect_matches_fixture("rfft_1", [](const Tensor& x) { return rfft(x); });
  expect_matches_fixture("rfft_2", [](const Tensor& x) { return rfft(x); });
  expect_matches_fixture("rfft_100_f32", [](const Tensor& x) { return rfft(x); }, 2e-5);
}

TEST(Irfft, MatchesPyTorch) {
  expect_matches_fixture("irfft_9", [](const Tensor& z) { return irfft(z); });
  expect_matches_fixture("irfft_n17", [](const Tensor& z) { return irfft(z, 17); });
  expect_matches_fixture("irfft_n7_pad", [](const Tensor& z) { return irfft(z, 7); });
  expect_matches_fixture("irfft_dim0_forward", [](const Tensor& z) { return irfft(z, {}, 0, "forward"); });
  expect_matches_fixture("irfft_n30_trunc_ortho", [](const Tensor& z) { return irfft(z, 30, -1, "ortho"); });
}

TEST(Fft, RoundTripsAndIdentities) {
  // ifft(fft(z)) = z; irfft(rfft(x), n) = x for even and odd n.
  for (int64_t n : {1, 6, 7, 64, 99}) {
    SCOPED_TRACE(n);
    Tensor z = rand_f64({2, n, 2}, 1, false);
    EXPECT_TRUE(all_close(ifft(fft(z)), z, 1e-13, 1e-13));
    EXPECT_TRUE(all_close(fft(ifft(z, {}, -1, "ortho"), {}, -1, "ortho"), z, 1e-13, 1e-13));
    Tensor x = rand_f64({3, n}, 2, false);
    EXPECT_TRUE(all_close(irfft(rfft(x), n), x, 1e-13, 1e-13));
    // rfft is the non-negative half of fft on (x, 0).
    Tensor full = fft(stack({x, zeros_like(x)}, -1));
    EXPECT_TRUE(all_close(rfft(x), full.narrow(1, 0, n / 2 + 1), 1e-13, 1e-13));
  }
  // A pure tone lands in its bin: cos(2 pi 3 t / 16) -> 8 at bins 3 (and 13).
  Tensor t = arange(16, kFloat64);
  Tensor tone = cos(t * (2 * std::numbers::pi * 3 / 16));
  Tensor X = rfft(tone);
  EXPECT_NEAR(X[3][0].item(), 8.0, 1e-12);
  EXPECT_NEAR(complex_abs(X).sum().item(), 8.0, 1e-12);
  // Parseval (ortho): energy is preserved.
  Tensor z = rand_f64({5, 37, 2}, 3, false);
  EXPECT_NEAR(sum(z * z).item(), sum(square(fft(z, {}, -1, "ortho"))).item(), 1e-12);
}

TEST(Fft, NonContiguousEmptyAndFloat32) {
  Tensor base = rand_f64({6, 4, 2}, 4, false);
  Tensor zt = base.transpose(0, 1);  // [4, 6, 2], non-contiguous
  ASSERT_FALSE(zt.is_contiguous());
  EXPECT_TRUE(all_close(fft(zt), fft(zt.contiguous()), 0, 0));
  Tensor xs = rand_f64({5, 8}, 5, false).slice(1, 0, 8, 2);  // stride 2
  EXPECT_TRUE(all_close(rfft(xs), rfft(xs.contiguous()), 0, 0));
  // An empty batch.
  EXPECT_EQ(rfft(zeros({0, 8})).sizes(), (Shape{0, 5, 2}));
  EXPECT_EQ(fft(zeros({0, 3, 2})).sizes(), (Shape{0, 3, 2}));
  EXPECT_EQ(irfft(zeros({0, 5, 2})).sizes(), (Shape{0, 8}));
  // float32 stays float32.
  Tensor x32 = rand_f64({2, 12}, 6, false).to(kFloat32);
  EXPECT_EQ(rfft(x32).dtype(), kFloat32);
  EXPECT_TRUE(all_close(rfft(x32), rfft(x32.to(kFloat64)).to(kFloat32), 1e-6, 1e-6));
}

TEST(Fft, GradcheckGradgradcheck) {
  for (int64_t n : {4, 5}) {
    SCOPED_TRACE(n);
    auto f_fft = [](const tensor_list& t) { return fft(t[0], {}, 0); };
    auto f_ifft = [](const tensor_list& t) { return ifft(t[0], 7, -1, "ortho"); };
    auto f_rfft = [](const tensor_list& t) { return rfft(t[0]); };
    auto f_rfft_pad = [](const tensor_list& t) { return rfft(t[0], 8, 0, "forward"); };
    auto f_irfft = [n](const tensor_list& t) { return irfft(t[0], n); };
    auto f_abs = [](const tensor_list& t) { return complex_abs(fft(t[0])); };
    EXPECT_TRUE(gradcheck(f_fft, {rand_f64({n, 2, 2}, 10)}));
    EXPECT_TRUE(gradgradcheck(f_fft, {rand_f64({n, 2, 2}, 11)}));
    EXPECT_TRUE(gradcheck(f_ifft, {rand_f64({2, n, 2}, 12)}));
    EXPECT_TRUE(gradgradcheck(f_ifft, {rand_f64({2, n, 2}, 13)}));
    EXPECT_TRUE(gradcheck(f_rfft, {rand_f64({2, n}, 14)}));
    EXPECT_TRUE(gradgradcheck(f_rfft, {rand_f64({2, n}, 15)}));
    EXPECT_TRUE(gradcheck(f_rfft_pad, {rand_f64({n, 2}, 16)}));
    EXPECT_TRUE(gradcheck(f_irfft, {rand_f64({2, n / 2 + 1, 2}, 17)}));
    EXPECT_TRUE(gradgradcheck(f_irfft, {rand_f64({2, n / 2 + 1, 2}, 18)}));
    EXPECT_TRUE(gradcheck(f_abs, {rand_f64({2, n, 2}, 19)}));
    EXPECT_TRUE(gradcheck(f_fft, {noncontig_f64({n, 2, 2}, 20)}));
  }
  // |z| has gradient 0 at z = 0 (not NaN).
  Tensor z = zeros({3, 2}, kFloat64).requires_grad_();
  complex_abs(z).sum().backward();
  EXPECT_TRUE(all_equal(z.grad(), zeros({3, 2}, kFloat64)));
}

TEST(Windows, MatchPyTorch) {
  EXPECT_TRUE(all_close(hann_window(10, true, kFloat64), fixture("fft/hann_10_periodic"), 1e-15, 0));
  EXPECT_TRUE(all_close(hann_window(9, false, kFloat64), fixture("fft/hann_9_symmetric"), 1e-15, 0));
  EXPECT_TRUE(all_close(hamming_window(7, true, kFloat64), fixture("fft/hamming_7_periodic"), 1e-15, 0));
  EXPECT_EQ(hann_window(4).dtype(), kFloat32);
  EXPECT_EQ(hann_window(1).item(), 1.0);
  EXPECT_EQ(hann_window(0).numel(), 0);
}

TEST(Stft, MatchesPyTorch) {
  Tensor hann12 = hann_window(12, true, kFloat64);
  expect_matches_fixture("stft_hann", [&](const Tensor& x) { return stft(x, 16, 4, 12, hann12); });
  expect_matches_fixture("stft_odd_constant_norm",
                         [](const Tensor& x) { return stft(x, 15, 5, {}, {}, true, "constant", true); });
  expect_matches_fixture("stft_twosided_nocenter", [](const Tensor& x) {
    return stft(x, 8, 3, {}, hann_window(8, true, kFloat64), false, "reflect", false, false);
  });
  expect_matches_fixture("stft_f32", [](const Tensor& x) { return stft(x, 64, 16, {}, hann_window(64)); }, 2e-5);
}

TEST(Istft, MatchesPyTorch) {
  Tensor hann12 = hann_window(12, true, kFloat64), hann8 = hann_window(8, true, kFloat64);
  expect_matches_fixture("istft_hann", [&](const Tensor& z) { return istft(z, 16, 4, 12, hann12); });
  expect_matches_fixture("istft_length_norm",
                         [&](const Tensor& z) { return istft(z, 8, 2, {}, hann8, true, true, true, 30); });
  expect_matches_fixture("istft_nocenter", [](const Tensor& z) {
    return istft(z, 8, 2, {}, hamming_window(8, true, kFloat64), false);
  });
  expect_matches_fixture("istft_twosided",
                         [&](const Tensor& z) { return istft(z, 8, 2, {}, hann8, true, false, false); });
}

TEST(Stft, RoundTripGradcheckShapes) {
  // istft(stft(x)) = x with a Hann window at 75% overlap.
  Tensor x = rand_f64({2, 50}, 30, false);
  Tensor w = hann_window(16, true, kFloat64);
  Tensor S = stft(x, 16, 4, {}, w);
  EXPECT_EQ(S.sizes(), (Shape{2, 9, 13, 2}));  // frames = 1 + (50 + 16 - 16) / 4
  EXPECT_TRUE(all_close(istft(S, 16, 4, {}, w, true, false, true, 50), x, 1e-12, 1e-12));
  // Unbatched input gives the batched result of one row.
  EXPECT_TRUE(all_close(stft(x[1], 16, 4, {}, w), S[1], 0, 0));
  // Gradients flow to the signal and to the window; twice.
  auto f = [](const tensor_list& t) { return stft(t[0], 8, 3, 6, t[1]); };
  EXPECT_TRUE(gradcheck(f, {rand_f64({2, 13}, 31), rand_f64({6}, 32)}));
  EXPECT_TRUE(gradgradcheck(f, {rand_f64({1, 10}, 33), rand_f64({6}, 34)}));
  auto g = [](const tensor_list& t) {
    return istft(t[0], 8, 2, {}, hamming_window(8, true, kFloat64), true, false, true, 11);
  };
  EXPECT_TRUE(gradcheck(g, {rand_f64({5, 5, 2}, 35)}));
  EXPECT_TRUE(gradgradcheck(g, {rand_f64({5, 5, 2}, 36)}));
}

TEST(Fft, Errors) {
  Tensor z = zeros({3, 4, 2});
  EXPECT_WICK_ERROR(fft(zeros({3, 4})), "fft: expected a complex tensor stored as [..., 2]");
  EXPECT_WICK_ERROR(fft(zeros({2})), "fft: expected a complex tensor stored as [..., 2]");
  EXPECT_WICK_ERROR(fft(z, {}, 2), "fft: dim 2 is out of range for 2 (complex) dims");
  EXPECT_WICK_ERROR(fft(z, 0), "fft: invalid number of data points (0)");
  EXPECT_WICK_ERROR(ifft(z, {}, -1, "none"), "ifft: norm must be \"backward\", \"forward\" or \"ortho\"");
  EXPECT_WICK_ERROR(rfft(zeros({3}, kInt64)), "rfft: expected a float32 or float64 tensor, got int64");
  EXPECT_WICK_ERROR(rfft(scalar_tensor(1.0)), "rfft: expected a tensor with at least one dimension");
  EXPECT_WICK_ERROR(rfft(zeros({2, 0})), "rfft: invalid number of data points (0)");
  EXPECT_WICK_ERROR(irfft(zeros({2, 1, 2})), "irfft: invalid number of data points (0)");
  EXPECT_WICK_ERROR(stft(zeros({2, 3, 40}), 8), "stft: expected a 1-D [T] or 2-D [B, T] signal");
  EXPECT_WICK_ERROR(stft(zeros({40}), 0), "stft: n_fft must be positive");
  EXPECT_WICK_ERROR(stft(zeros({40}), 8, 0), "stft: hop_length must be positive");
  EXPECT_WICK_ERROR(stft(zeros({40}), 8, 2, 9), "stft: expected 0 < win_length <= n_fft");
  EXPECT_WICK_ERROR(stft(zeros({40}), 8, 2, 8, ones({7})), "stft: expected a 1-D window of size win_length=8");
  EXPECT_WICK_ERROR(stft(zeros({40}), 8, 2, 8, ones({8}, kFloat64)), "stft: window dtype float64 differs");
  EXPECT_WICK_ERROR(stft(zeros({3}), 8), "stft: reflect padding by n_fft/2=4 needs a signal longer");
  EXPECT_WICK_ERROR(stft(zeros({5}), 8, 2, {}, {}, false), "stft: the signal has 5 samples, fewer than n_fft=8");
  EXPECT_WICK_ERROR(stft(zeros({40}), 8, 2, {}, {}, true, "circular"), "stft: pad_mode must be");
  EXPECT_WICK_ERROR(istft(zeros({4, 3, 2}), 8), "istft: expected 5 frequency bins for n_fft=8 (onesided), got 4");
  EXPECT_WICK_ERROR(istft(zeros({5, 3, 2}), 8, 2, {}, hann_window(8), false), "istft: the window overlap-add");
}
