// Audio features and augmentations, following torchaudio: resampling,
// (mel) spectrograms, decibels, and SpecAugment-style masks.
//
// Mel scales (torchaudio.functional.melscale_fbanks, librosa):
//   htk:    mel = 2595 log10(1 + f / 700)
//   slaney: mel = f / (200/3) below 1 kHz, then 15 + 27 log(f / 1000) / log(6.4)
//           (linear to 1 kHz, logarithmic above; librosa's default, htk=False)
// Filter m is a triangle over the FFT bin frequencies linspace(0, sr // 2,
// n_freqs) rising from f_pts[m] to 1 at f_pts[m+1] and falling to 0 at
// f_pts[m+2], with f_pts n_mels + 2 points equally spaced in mel between
// f_min and f_max. norm "slaney" divides each triangle by half its width in
// Hz (2 / (f_pts[m+2] - f_pts[m])), so every filter has unit area.
// librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax) is
// mel_filterbank(n_fft / 2 + 1, fmin, fmax, n_mels, sr, "slaney", "slaney")
// transposed, for even sr (librosa spaces its bins over sr / 2 exactly).
//
// Everything that maps tensors to tensors here is written with ops, so it
// is differentiable (spectrograms of generated audio, masks on features).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace wick::data {

double hz_to_mel(double hz, const std::string& mel_scale = "htk");
double mel_to_hz(double mel, const std::string& mel_scale = "htk");

// [n_freqs, n_mels] triangular filters (torchaudio.functional.melscale_fbanks).
// norm: "none" or "slaney"; mel_scale: "htk" or "slaney". Computed in double.
Tensor mel_filterbank(int64_t n_freqs, double f_min, double f_max, int64_t n_mels, int64_t sample_rate,
                      const std::string& norm = "none", const std::string& mel_scale = "htk", DType dtype = kFloat32);

// Band-limited resampling by a windowed sinc (torchaudio.functional.resample,
// method "sinc_interp_hann"): with g = gcd(orig, new), o = orig/g, n = new/g,
// output sample i reads the input around time i/n (in units of o samples)
// through the kernel
//   k(t) = sinc(pi c t) hann(t) c / o,   t in input samples, |c t| <= width,
// c = min(o, n) * rolloff the cutoff (relative to the lower rate's Nyquist)
// and hann(t) = cos^2(pi c t / (2 width)) with width = lowpass_filter_width
// zero crossings on each side. Implemented as conv1d with stride o and n
// output channels (one per phase), so it is differentiable. wave [..., T]
// -> [..., ceil(T n / o)].
Tensor resample(const Tensor& wave, int64_t orig_freq, int64_t new_freq, int64_t lowpass_filter_width = 6,
                double rolloff = 0.99);

// torchaudio.transforms.Spectrogram with a periodic Hann window.
struct SpectrogramOptions {
  int64_t n_fft = 400;
  std::optional<int64_t> win_length;  // default n_fft
  std::optional<int64_t> hop_length;  // default win_length / 2
  double power = 2.0;                 // |X|^power; 2 = power spectrum, 1 = magnitude
  bool center = true;
  std::string pad_mode = "reflect";
  bool normalized = false;  // divide the STFT by sqrt(sum(window^2)), like torchaudio
};

// wave [T] or [B, T] -> [B?, n_fft/2 + 1, frames].
Tensor spectrogram(const Tensor& wave, const SpectrogramOptions& opt = {});
Tensor spectrogram(const Tensor& wave, const SpectrogramOptions& opt, const Tensor& window);

// torchaudio.transforms.MelSpectrogram.
struct MelOptions {
  int64_t sample_rate = 16000;
  int64_t n_fft = 400;
  std::optional<int64_t> win_length;  // default n_fft
  std::optional<int64_t> hop_length;  // default win_length / 2
  double f_min = 0.0;
  std::optional<double> f_max;        // default sample_rate / 2 (integer division, like torchaudio)
  int64_t n_mels = 128;
  double power = 2.0;
  bool center = true;
  std::string pad_mode = "reflect";
  bool normalized = false;
  std::string norm = "none";       // filterbank norm: "none" or "slaney"
  std::string mel_scale = "htk";   // "htk" or "slaney"
};

// Holds the window and the filterbank so that they are built once, not per
// call (like the torchaudio module). Thread-safe to call concurrently.
class MelSpectrogram {
 public:
  explicit MelSpectrogram(MelOptions opt = {}, DType dtype = kFloat32);
  // wave [T] or [B, T] (dtype as constructed) -> [B?, n_mels, frames].
  Tensor operator()(const Tensor& wave) const;
  // log(mel + eps): the log-mel features of audio models.
  Tensor log(const Tensor& wave, double eps = 1e-6) const;
  const MelOptions& options() const { return opt_; }
  const Tensor& filterbank() const { return fb_; }  // [n_fft/2 + 1, n_mels]
  const Tensor& window() const { return window_; }

 private:
  MelOptions opt_;
  SpectrogramOptions spec_;
  Tensor fb_, window_;
};

Tensor mel_spectrogram(const Tensor& wave, const MelOptions& opt = {});
// log(mel_spectrogram + eps), e.g. {.sample_rate = 16000, .n_fft = 400, .hop_length = 160, .n_mels = 64}.
Tensor log_mel_spectrogram(const Tensor& wave, const MelOptions& opt = {}, double eps = 1e-6);

// torchaudio.functional.amplitude_to_DB:
//   db = multiplier log10(max(x, amin)) - multiplier log10(max(amin, ref)),
// multiplier 10 for power, 20 for amplitude spectrograms; with top_db, values
// are floored at (max - top_db), the max taken over each spectrogram (the
// last two dims). (torchaudio takes that max over the last three dims, i.e.
// across the channels of a [C, F, T] input or a batch of 2-D inputs.)
Tensor amplitude_to_db(const Tensor& x, double multiplier = 10.0, double amin = 1e-10, double ref = 1.0,
                       std::optional<double> top_db = {});

// ---- augmentations (SpecAugment, Park et al. 2019) ----
// A masked span [start, start + width) along one dim.
struct MaskSpan {
  int64_t start = 0;
  int64_t width = 0;
};

// Sets spec[..., :, t] = mask_value for t in one span of the last (time)
// dim: width uniform in [0, max_width] (capped at the dim's size), start
// uniform in [0, T - width]. The same span for all leading dims (one draw
// per call; call per example for independent masks). `applied` receives
// the span. gen: nullptr draws from the default generator.
Tensor time_mask(const Tensor& spec, int64_t max_width, Generator* gen = nullptr, double mask_value = 0.0,
                 MaskSpan* applied = nullptr);
// The same along the frequency dim (the second to last): spec[..., f, :].
Tensor freq_mask(const Tensor& spec, int64_t max_width, Generator* gen = nullptr, double mask_value = 0.0,
                 MaskSpan* applied = nullptr);
// Shifts x along its last dim by s uniform in [-max_shift, max_shift]:
// out[..., t] = x[..., t - s], zero-filled, or rotated when circular.
// `applied` receives s.
Tensor time_shift(const Tensor& x, int64_t max_shift, Generator* gen = nullptr, bool circular = false,
                  int64_t* applied = nullptr);
// Crops or zero-pads the last dim to `length` samples (at the end).
Tensor fix_length(const Tensor& x, int64_t length);

// ---- BYOL-A augmentations (Niizumi et al. 2021), used by UNFUSED ----
// Mixing in the linear-power domain of log-mel features x and a background z:
//   log((1 - alpha) exp(x) + alpha exp(z)),  alpha in [0, 1],
// computed stably (the max is factored out). x and z broadcast.
Tensor log_mixup_exp(const Tensor& x, const Tensor& background, double alpha);
// The same with alpha uniform in [0, ratio) (BYOL-A's MixupBYOLA; the caller
// picks the background, e.g. another example). `applied` receives alpha.
Tensor random_log_mixup_exp(const Tensor& x, const Tensor& background, double ratio = 0.4, Generator* gen = nullptr,
                            double* applied = nullptr);

struct ResizeCropOptions {
  double virtual_crop_scale_freq = 1.0;  // canvas size relative to the input (freq, time)
  double virtual_crop_scale_time = 1.5;
  double freq_scale_min = 0.6, freq_scale_max = 1.5;  // crop size relative to the input
  double time_scale_min = 0.6, time_scale_max = 1.5;
};
// The crop taken, in canvas coordinates: rows [top, top + height) x columns
// [left, left + width) of a zero canvas [canvas_freq, canvas_time] holding
// the input centered at (input_top, input_left).
struct ResizeCropBox {
  int64_t canvas_freq = 0, canvas_time = 0, input_top = 0, input_left = 0;
  int64_t top = 0, left = 0, height = 0, width = 0;
};
// BYOL-A's RandomResizeCrop on spec [..., F, T] (2-D, 3-D [C, F, T] or 4-D):
// place the spectrogram centered on a zero canvas, crop a random box of
// height floor(F u_f) and width floor(T u_t) (u uniform in the scale ranges,
// clipped to the canvas) at a uniform position, and resize it back to
// [F, T] bilinearly with align_corners (BYOL-A uses bicubic).
Tensor random_resize_crop(const Tensor& spec, const ResizeCropOptions& opt = {}, Generator* gen = nullptr,
                          ResizeCropBox* applied = nullptr);

}  // namespace wick::data
