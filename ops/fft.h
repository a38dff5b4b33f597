// Discrete Fourier transforms (torch.fft), windows, and the short-time
// Fourier transform (torch.stft / torch.istft).
//
// wick has no complex dtype: a complex tensor is a float tensor whose LAST
// dim has size 2 holding (real, imag), the layout of torch.view_as_real. The
// `dim` arguments of the complex transforms count the dims of the complex
// tensor, i.e. without that trailing 2 (dim = -1 is x.dim() - 2 of the
// storage tensor).
//
// norm, as in torch.fft: "backward" (default: forward unscaled, inverse
// 1/n), "ortho" (1/sqrt(n) both ways), "forward" (forward 1/n, inverse
// unscaled).
//
// All transforms are linear, and their gradients are transforms again
// (written with these ops, so gradients of gradients work):
//   fft  <-> ifft with the same scale (the adjoint of exp(-i..) is exp(+i..))
//   rfft -> irfft of the gradient with the non-DC/Nyquist bins halved
//   irfft -> rfft of the gradient with the non-DC/Nyquist bins doubled
//
// Devices: float32 and float64 tensors on the CPU or CUDA; results and
// gradients stay on the input's device. On CUDA the transforms run the
// kernels of cuda/kernels/fft.h when they are switched on
// (cuda::set_fft_kernels(true) or WICK_CUDA_FFT=1), and otherwise the CPU
// kernels through a host round trip (copy to the CPU, transform, copy back).
#pragma once

#include <optional>
#include <string>

#include "ops/creation.h"
#include "tensor/tensor.h"

namespace wick {

// X_k = sum_j x_j exp(-2 pi i j k / n) along dim. x is complex [..., 2].
// n zero-pads or truncates the transformed dim first (default: its size).
Tensor fft(const Tensor& x, std::optional<int64_t> n = {}, int64_t dim = -1, const std::string& norm = "backward");
// x_j = (1/n) sum_k X_k exp(+2 pi i j k / n) (with norm "backward").
Tensor ifft(const Tensor& x, std::optional<int64_t> n = {}, int64_t dim = -1, const std::string& norm = "backward");
// The non-negative-frequency half of the fft of a real x: [..., L] -> the
// dim becomes n/2 + 1 bins, plus the trailing (real, imag) dim.
Tensor rfft(const Tensor& x, std::optional<int64_t> n = {}, int64_t dim = -1, const std::string& norm = "backward");
// The inverse of rfft: a real signal of length n (default 2 (bins - 1)) from
// its n/2 + 1 non-negative-frequency bins (extra bins are dropped, missing
// ones are zero); the imaginary parts of the DC and Nyquist bins are ignored.
Tensor irfft(const Tensor& x, std::optional<int64_t> n = {}, int64_t dim = -1, const std::string& norm = "backward");

// |z| of a complex tensor [..., 2] -> [...]; the gradient at z = 0 is 0 (like torch.abs of a complex tensor).
Tensor complex_abs(const Tensor& z);

// torch.hann_window: 0.5 - 0.5 cos(2 pi k / N), N = length (periodic) or length - 1 (symmetric).
Tensor hann_window(int64_t window_length, bool periodic = true, const TensorOptions& opt = {});
// torch.hamming_window: 0.54 - 0.46 cos(2 pi k / N).
Tensor hamming_window(int64_t window_length, bool periodic = true, const TensorOptions& opt = {});

// torch.stft(..., return_complex=True) viewed as real. x: [T] or [B, T].
// Frame t covers samples [t hop, t hop + n_fft) of the signal, after padding
// it by n_fft/2 on both sides when center is set (pad_mode "reflect" or
// "constant"); each frame is multiplied by the window (length win_length,
// zero-padded on both sides to n_fft; undefined = all ones) and transformed.
// Output: [B?, n_fft/2 + 1 (or n_fft when !onesided), frames, 2] with
// frames = 1 + (padded length - n_fft) / hop. normalized multiplies by
// 1/sqrt(n_fft). Defaults: hop = n_fft / 4, win_length = n_fft.
Tensor stft(const Tensor& x, int64_t n_fft, std::optional<int64_t> hop_length = {},
            std::optional<int64_t> win_length = {}, const Tensor& window = {}, bool center = true,
            const std::string& pad_mode = "reflect", bool normalized = false, bool onesided = true);
// torch.istft: the inverse of stft by windowed overlap-add,
//   x[t] = sum_f w[t - f hop] y_f[t - f hop] / sum_f w[t - f hop]^2,
// y_f the inverse transform of frame f; `length` trims or zero-pads the
// result. Errors when the window envelope vanishes somewhere (the NOLA
// condition). Input [B?, bins, frames, 2]; output [B?, samples]. The output
// is real: frames are inverted with irfft, and a two-sided input
// (onesided=false) is read through its first n_fft/2 + 1 bins, like torch.
Tensor istft(const Tensor& x, int64_t n_fft, std::optional<int64_t> hop_length = {},
             std::optional<int64_t> win_length = {}, const Tensor& window = {}, bool center = true,
             bool normalized = false, bool onesided = true, std::optional<int64_t> length = {});

}  // namespace wick
