// Fourier transforms: argument checks, the dim/length/norm plumbing, and the
// backward formulas. Three primitives do the work, each along the LAST dim
// of a contiguous tensor (the wrappers transpose the requested dim there):
//   c2c(x [.., n, 2], inverse, s)  ->  [.., n, 2]
//   r2c(x [.., n], s)              ->  [.., n/2+1, 2]
//   c2r(X [.., n/2+1, 2], n, s)    ->  [.., n]
// With the real inner product <a, b> = sum a_re b_re + a_im b_im on complex
// tensors, their adjoints (= their backward maps) are:
//   c2c(inverse, s)^T  = c2c(!inverse, s)          (the DFT matrix is symmetric, W^H = conj(W))
//   r2c(s)^T g         = c2r(g * h, n, s)          h = 1 at DC (and Nyquist for even n), 1/2 elsewhere:
//                        d/dx_j sum_k Re(conj(g_k) X_k) = s Re(sum_k g_k exp(+2 pi i jk/n)), and
//                        c2r counts every bin other than DC/Nyquist twice (its Hermitian mirror)
//   c2r(n, s)^T g      = r2c(g, s) * d             d = (1, 0) at DC (and Nyquist), (2, 2) elsewhere:
//                        the mirrored bins enter the output twice, and the ignored imaginary
//                        parts of DC/Nyquist get no gradient
// Each backward is written with these same ops, so it is differentiable again.
//
// Devices: CPU tensors use ops/cpu/fft.h. CUDA tensors use cuda/kernels/fft.h
// when those kernels are switched on (cuda::set_fft_kernels; on by default
// since tests/cuda/test_fft.cpp passed on an H100, WICK_CUDA_FFT=0 turns them
// off); otherwise each primitive copies its input to the host, runs the CPU kernel
// and copies the result back to the input's device (an explicit round trip:
// correct, synchronous, slow). Either way the results stay on the input's
// device, and so do the gradients (the backward is made of the same primitives).
#include "ops/fft.h"

#include <cmath>
#include <numbers>

#include "autograd/function.h"
#include "ops/cpu/fft.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/fft.h"
#endif
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "ops/view.h"

namespace wick {

using autograd::Ctx;

namespace {

void check_float(const char* op, const Tensor& x) {
  WICK_CHECK(x.defined(), op, ": undefined input");
  WICK_CHECK(x.dtype() == kFloat32 || x.dtype() == kFloat64, op, ": expected a float32 or float64 tensor, got ",
             x.dtype());
#ifdef WICK_WITH_CUDA
  WICK_CHECK(x.is_cpu() || x.is_cuda(), op, ": no kernel for device ", x.device(), " in this build");
#else
  WICK_CHECK(x.is_cpu(), op, ": no kernel for device ", x.device(), " in this build");
#endif
}

void check_complex(const char* op, const Tensor& x) {
  check_float(op, x);
  WICK_CHECK(x.dim() >= 2 && x.size(-1) == 2, op,
             ": expected a complex tensor stored as [..., 2] (real, imag) with at least one complex dim, got shape ",
             shape_str(x.sizes()));
}

int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim) {
  WICK_CHECK(ndim >= 1, op, ": expected a tensor with at least one dimension to transform");
  WICK_CHECK(dim >= -ndim && dim < ndim, op, ": dim ", dim, " is out of range for ", ndim, " (complex) dims");
  return dim < 0 ? dim + ndim : dim;
}

// The scale of a transform of length n in direction `inverse` under `norm`.
double norm_scale(const char* op, const std::string& norm, int64_t n, bool inverse) {
  const double dn = static_cast<double>(n);
  if (norm == "backward") return inverse ? 1.0 / dn : 1.0;
  if (norm == "forward") return inverse ? 1.0 : 1.0 / dn;
  if (norm == "ortho") return 1.0 / std::sqrt(dn);
  WICK_FAIL(op, ": norm must be \"backward\", \"forward\" or \"ortho\", got \"", norm, "\"");
}

// The three primitives' kernels (no autograd), along the last (complex) dim
// of a contiguous copy of x, on x's device (see the top comment).
enum class Prim { C2C, R2C, C2R };

Tensor run_kernel(Prim prim, const Tensor& x, const Shape& out_shape, int64_t n, bool inverse, double scale) {
  const char* op = prim == Prim::R2C ? "rfft" : prim == Prim::C2R ? "irfft" : inverse ? "ifft" : "fft";
  NoGradGuard ng;
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) {
    if (!cuda::fft_kernels())  // the CUDA kernels are off: the CPU kernels on a host copy
      return run_kernel(prim, x.cpu(), out_shape, n, inverse, scale).to(x.device());
    Tensor out = empty(out_shape, TensorOptions(x.dtype()).device(x.device()));
    Tensor xc = x.contiguous();
    switch (prim) {
      case Prim::C2C: cuda::fft_c2c(out, xc, inverse, scale); break;
      case Prim::R2C: cuda::fft_r2c(out, xc, scale); break;
      case Prim::C2R: cuda::fft_c2r(out, xc, n, scale); break;
    }
    return out;
  }
#endif
  Tensor out = empty(out_shape, TensorOptions(x.dtype()).device(x.device()));
  Tensor xc = x.contiguous();
  const int64_t rows = n ? out.numel() / (prim == Prim::R2C ? 2 * (n / 2 + 1) : prim == Prim::C2R ? n : 2 * n) : 0;
  WICK_DISPATCH_FLOAT(x.dtype(), op, [&]<typename T>() {
    const T* in = xc.data_ptr<T>();
    T* o = out.data_ptr<T>();
    if (prim == Prim::C2C) {
      cpu::fft_c2c(cpu::FftPlan(n), rows, in, o, inverse, scale);
    } else if (prim == Prim::R2C) {
      cpu::fft_r2c(cpu::RealFftPlan(n), rows, in, o, scale);
    } else {
      cpu::fft_c2r(cpu::RealFftPlan(n), rows, in, o, scale);
    }
  });
  return out;
}

Shape with_last(const Shape& s, int64_t drop, std::initializer_list<int64_t> add) {
  Shape r(s.begin(), s.end() - drop);
  r.insert(r.end(), add);
  return r;
}

Tensor c2c(const Tensor& x, bool inverse, double scale);
Tensor r2c(const Tensor& x, double scale);
Tensor c2r(const Tensor& x, int64_t n, double scale);

// Per-bin weights [bins, 2] on `device` for the r2c/c2r adjoints (see the top comment).
Tensor bin_weights(int64_t n, DType dtype, Device device, bool for_c2r) {
  const int64_t bins = n / 2 + 1;
  std::vector<double> w(static_cast<size_t>(2 * bins), for_c2r ? 2.0 : 0.5);
  auto edge = [&](int64_t k) {
    w[2 * k] = 1.0;
    w[2 * k + 1] = for_c2r ? 0.0 : 1.0;
  };
  edge(0);
  if (n % 2 == 0) edge(n / 2);
  return from_vector(w, Shape{bins, 2}, TensorOptions(dtype).device(device));
}

Tensor c2c(const Tensor& x, bool inverse, double scale) {
  Tensor out = run_kernel(Prim::C2C, x, x.sizes(), x.size(-2), inverse, scale);
  if (autograd::needs_grad({x}))
    autograd::record(inverse ? "IfftBackward" : "FftBackward", {x}, {out},
                     [inverse, scale](const Ctx& c) { return tensor_list{c2c(c.grad(), !inverse, scale)}; });
  return out;
}

Tensor r2c(const Tensor& x, double scale) {
  const int64_t n = x.size(-1);
  Tensor out = run_kernel(Prim::R2C, x, with_last(x.sizes(), 1, {n / 2 + 1, 2}), n, false, scale);
  if (autograd::needs_grad({x}))
    autograd::record("RfftBackward", {x}, {out}, [n, scale](const Ctx& c) {
      const Tensor& g = c.grad();
      return tensor_list{c2r(g * bin_weights(n, g.dtype(), g.device(), false), n, scale)};
    });
  return out;
}

Tensor c2r(const Tensor& x, int64_t n, double scale) {
  Tensor out = run_kernel(Prim::C2R, x, with_last(x.sizes(), 2, {n}), n, true, scale);
  if (autograd::needs_grad({x}))
    autograd::record("IrfftBackward", {x}, {out}, [n, scale](const Ctx& c) {
      const Tensor& g = c.grad();
      return tensor_list{r2c(g, scale) * bin_weights(n, g.dtype(), g.device(), true)};
    });
  return out;
}

// Zero-pads or truncates dim `d` of x to `len` (differentiable: pad / narrow).
Tensor resize_dim(const Tensor& x, int64_t d, int64_t len) {
  const int64_t cur = x.size(d);
  if (cur == len) return x;
  if (cur > len) return x.narrow(d, 0, len);
  std::vector<int64_t> pads(static_cast<size_t>(2 * (x.dim() - d)), 0);
  pads.back() = len - cur;  // (last_lo, last_hi, ..., d_lo, d_hi)
  return pad(x, pads);
}

Tensor complex_transform(const char* op, const Tensor& x, std::optional<int64_t> n, int64_t dim,
                         const std::string& norm, bool inverse) {
  check_complex(op, x);
  const int64_t cd = x.dim() - 1;  // complex dims
  const int64_t d = wrap_dim(op, dim, cd);
  const int64_t len = n.value_or(x.size(d));
  WICK_CHECK(len >= 1, op, ": invalid number of data points (", len, ") specified");
  const double scale = norm_scale(op, norm, len, inverse);
  Tensor xt = resize_dim(x, d, len).transpose(d, cd - 1);
  return c2c(xt, inverse, scale).transpose(d, cd - 1);
}

}  // namespace

Tensor fft(const Tensor& x, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  return complex_transform("fft", x, n, dim, norm, false);
}

Tensor ifft(const Tensor& x, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  return complex_transform("ifft", x, n, dim, norm, true);
}

Tensor rfft(const Tensor& x, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  check_float("rfft", x);
  const int64_t d = wrap_dim("rfft", dim, x.dim());
  const int64_t len = n.value_or(x.size(d));
  WICK_CHECK(len >= 1, "rfft: invalid number of data points (", len, ") specified");
  const double scale = norm_scale("rfft", norm, len, false);
  const int64_t last = x.dim() - 1;
  Tensor xt = resize_dim(x, d, len).transpose(d, last);
  return r2c(xt, scale).transpose(d, last);
}

Tensor irfft(const Tensor& x, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  check_complex("irfft", x);
  const int64_t cd = x.dim() - 1;
  const int64_t d = wrap_dim("irfft", dim, cd);
  const int64_t len = n.value_or(2 * (x.size(d) - 1));
  WICK_CHECK(len >= 1, "irfft: invalid number of data points (", len, ") specified");
  const double scale = norm_scale("irfft", norm, len, true);
  Tensor xt = resize_dim(x, d, len / 2 + 1).transpose(d, cd - 1);
  return c2r(xt, len, scale).transpose(d, cd - 1);
}

Tensor complex_abs(const Tensor& z) {
  check_complex("complex_abs", z);
  Tensor out;
  {
    NoGradGuard ng;
    out = sqrt(sum(z * z, {-1}));
  }
  if (autograd::needs_grad({z}))
    // d|z|/dz = z / |z|, taken as 0 at z = 0 (where z itself is 0, so a safe divisor suffices).
    autograd::record("ComplexAbsBackward", {z}, {out}, [sz = autograd::SavedTensor(z)](const Ctx& c) {
      Tensor zz = sz.unpack();
      Tensor r = c.output(0);
      Tensor safe = where(r > 0.0, r, ones_like(r));
      return tensor_list{zz * (c.grad() / safe).unsqueeze(-1)};
    }, /*save_outputs=*/true);
  return out;
}

namespace {

Tensor cosine_window(const char* op, int64_t length, bool periodic, double a0, double a1,
                     const TensorOptions& opt) {
  WICK_CHECK(length >= 0, op, ": window_length must be non-negative, got ", length);
  const DType dt = opt.dtype_or_default();
  WICK_CHECK(is_floating(dt), op, ": expected a floating dtype, got ", dt);
  if (length == 1) return ones({1}, opt);
  const double N = static_cast<double>(periodic ? length : length - 1);
  std::vector<double> w(static_cast<size_t>(length));
  for (int64_t k = 0; k < length; ++k) w[k] = a0 - a1 * std::cos(2.0 * std::numbers::pi * static_cast<double>(k) / N);
  Tensor t = from_vector(w, Shape{length}, TensorOptions(dt).device(opt.device_));
  if (opt.requires_grad_) t.requires_grad_();
  return t;
}

}  // namespace

Tensor hann_window(int64_t window_length, bool periodic, const TensorOptions& opt) {
  return cosine_window("hann_window", window_length, periodic, 0.5, 0.5, opt);
}

Tensor hamming_window(int64_t window_length, bool periodic, const TensorOptions& opt) {
  return cosine_window("hamming_window", window_length, periodic, 0.54, 0.46, opt);
}

namespace {

struct StftArgs {
  int64_t hop, win;
  Tensor window;  // padded to n_fft, x's dtype
};

StftArgs check_stft_args(const char* op, const Tensor& x, int64_t n_fft, std::optional<int64_t> hop_length,
                         std::optional<int64_t> win_length, const Tensor& window) {
  WICK_CHECK(n_fft > 0, op, ": n_fft must be positive, got ", n_fft);
  StftArgs a;
  a.hop = hop_length.value_or(n_fft / 4);
  a.win = win_length.value_or(n_fft);
  WICK_CHECK(a.hop > 0, op, ": hop_length must be positive, got ", a.hop);
  WICK_CHECK(a.win > 0 && a.win <= n_fft, op, ": expected 0 < win_length <= n_fft, got win_length=", a.win,
             ", n_fft=", n_fft);
  if (window.defined()) {
    WICK_CHECK(window.dim() == 1 && window.size(0) == a.win, op, ": expected a 1-D window of size win_length=",
               a.win, ", got shape ", shape_str(window.sizes()));
    WICK_CHECK(window.dtype() == x.dtype(), op, ": window dtype ", window.dtype(), " differs from the input's ",
               x.dtype());
    WICK_CHECK(window.device() == x.device(), op, ": window is on ", window.device(), ", input on ", x.device());
    a.window = window;
  } else {
    a.window = ones({a.win}, TensorOptions(x.dtype()).device(x.device()));
  }
  if (a.win < n_fft) {  // center the window in the frame, like torch
    const int64_t left = (n_fft - a.win) / 2;
    a.window = pad(a.window, {left, n_fft - a.win - left});
  }
  return a;
}

}  // namespace

Tensor stft(const Tensor& x, int64_t n_fft, std::optional<int64_t> hop_length, std::optional<int64_t> win_length,
            const Tensor& window, bool center, const std::string& pad_mode, bool normalized, bool onesided) {
  check_float("stft", x);
  WICK_CHECK(x.dim() == 1 || x.dim() == 2, "stft: expected a 1-D [T] or 2-D [B, T] signal, got shape ",
             shape_str(x.sizes()));
  const StftArgs a = check_stft_args("stft", x, n_fft, hop_length, win_length, window);
  WICK_CHECK(pad_mode == "reflect" || pad_mode == "constant", "stft: pad_mode must be \"reflect\" or \"constant\", got \"",
             pad_mode, "\"");
  Tensor xb = x.dim() == 1 ? x.unsqueeze(0) : x;
  const int64_t T = xb.size(1);
  if (center) {
    const int64_t p = n_fft / 2;
    WICK_CHECK(pad_mode != "reflect" || p < T, "stft: reflect padding by n_fft/2=", p,
               " needs a signal longer than that, got ", T, " samples");
    xb = pad(xb, {p, p}, pad_mode);
  }
  const int64_t B = xb.size(0), Tp = xb.size(1);
  WICK_CHECK(Tp >= n_fft, "stft: the ", center ? "padded " : "", "signal has ", Tp,
             " samples, fewer than n_fft=", n_fft);
  const int64_t frames = 1 + (Tp - n_fft) / a.hop;
  Tensor xc = xb.contiguous();
  // Frame f is the window [f hop, f hop + n_fft) of each row: a strided view, no copy.
  Tensor framed = xc.as_strided({B, frames, n_fft}, {Tp, a.hop, 1}, xc.offset()) * a.window;
  const std::string norm = normalized ? "ortho" : "backward";
  Tensor spec = onesided ? rfft(framed, n_fft, -1, norm) : fft(stack({framed, zeros_like(framed)}, -1), n_fft, -1, norm);
  spec = spec.transpose(1, 2);  // [B, bins, frames, 2]
  return x.dim() == 1 ? spec.squeeze(0) : spec;
}

Tensor istft(const Tensor& x, int64_t n_fft, std::optional<int64_t> hop_length, std::optional<int64_t> win_length,
             const Tensor& window, bool center, bool normalized, bool onesided, std::optional<int64_t> length) {
  check_complex("istft", x);
  WICK_CHECK(x.dim() == 3 || x.dim() == 4, "istft: expected [bins, frames, 2] or [B, bins, frames, 2], got shape ",
             shape_str(x.sizes()));
  const StftArgs a = check_stft_args("istft", x, n_fft, hop_length, win_length, window);
  Tensor xb = x.dim() == 3 ? x.unsqueeze(0) : x;
  const int64_t B = xb.size(0), bins = xb.size(1), frames = xb.size(2);
  const int64_t want_bins = onesided ? n_fft / 2 + 1 : n_fft;
  WICK_CHECK(bins == want_bins, "istft: expected ", want_bins, " frequency bins for n_fft=", n_fft,
             onesided ? " (onesided)" : "", ", got ", bins);
  WICK_CHECK(frames >= 1, "istft: expected at least one frame");
  const std::string norm = normalized ? "ortho" : "backward";
  Tensor xf = xb.transpose(1, 2);  // [B, frames, bins, 2]
  // A two-sided spectrum is read through its first n_fft/2 + 1 bins (the output is real), like torch.
  if (!onesided) xf = xf.narrow(2, 0, n_fft / 2 + 1);
  Tensor y = irfft(xf, n_fft, -1, norm);
  y = y * a.window;  // [B, frames, n_fft]
  // Overlap-add: sample j of frame f lands at f hop + j.
  const int64_t L = n_fft + a.hop * (frames - 1);
  Tensor pos = (arange(frames).unsqueeze(1) * a.hop + arange(n_fft).unsqueeze(0)).reshape({frames * n_fft});
  pos = pos.to(x.device());  // index_add wants the index on the tensor's device
  const TensorOptions fopt = TensorOptions(x.dtype()).device(x.device());
  Tensor signal = index_add(zeros({B, L}, fopt), 1, pos, y.reshape({B, frames * n_fft}));
  Tensor envelope = index_add(zeros({L}, fopt), 0, pos, repeat(a.window * a.window, {frames}));
  const int64_t start = center ? n_fft / 2 : 0;
  const int64_t end = length ? start + *length : (center ? L - n_fft / 2 : L);
  WICK_CHECK(end >= start, "istft: length must be non-negative, got ", end - start);
  const int64_t stop = std::min(end, L);
  signal = signal.slice(1, start, stop);
  envelope = envelope.slice(0, start, stop);
  if (envelope.numel() > 0) {
    const double lowest = amin(abs(envelope.detach())).item();
    WICK_CHECK(lowest >= 1e-11, "istft: the window overlap-add envelope is ", lowest,
               " at some sample (the NOLA condition fails: choose a window and hop_length whose squared windows "
               "overlap everywhere)");
  }
  signal = signal / envelope;
  if (end > L) signal = pad(signal, {0, end - stop});
  return x.dim() == 3 ? signal.squeeze(0) : signal;
}

}  // namespace wick
