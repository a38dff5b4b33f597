// Audio features and augmentations (see data/audio.h for the formulas).
#include "data/audio.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <vector>

#include "ops/conv.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/fft.h"
#include "ops/linalg.h"
#include "ops/pool.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "ops/view.h"

namespace wick::data {

namespace {

constexpr double kSlaneyFSp = 200.0 / 3.0;       // Hz per mel below 1 kHz
constexpr double kSlaneyMinLogHz = 1000.0;       // where the log region starts
constexpr double kSlaneyMinLogMel = kSlaneyMinLogHz / kSlaneyFSp;  // = 15
const double kSlaneyLogStep = std::log(6.4) / 27.0;  // 27 mels per factor 6.4 above 1 kHz

void check_mel_scale(const char* op, const std::string& mel_scale) {
  WICK_CHECK(mel_scale == "htk" || mel_scale == "slaney", op, ": mel_scale must be \"htk\" or \"slaney\", got \"",
             mel_scale, "\"");
}

void check_wave(const char* op, const Tensor& wave) {
  WICK_CHECK(wave.defined(), op, ": undefined input");
  WICK_CHECK(wave.dtype() == kFloat32 || wave.dtype() == kFloat64, op, ": expected a float32 or float64 waveform, got ",
             wave.dtype());
}

int64_t draw_int(int64_t low, int64_t high_inclusive, Generator* gen) {
  return randint(low, high_inclusive + 1, {1}, {}, gen).item<int64_t>();
}

Tensor span_mask(const Tensor& spec, int64_t dim, int64_t max_width, Generator* gen, double value, MaskSpan* applied,
                 const char* op) {
  WICK_CHECK(spec.defined(), op, ": undefined input");
  WICK_CHECK(spec.dim() >= -dim, op, ": expected at least ", -dim, " dims, got shape ", shape_str(spec.sizes()));
  WICK_CHECK(max_width >= 0, op, ": max_width must be non-negative, got ", max_width);
  const int64_t n = spec.size(dim);
  const int64_t width = std::min(draw_int(0, max_width, gen), n);
  const int64_t start = draw_int(0, n - width, gen);
  if (applied) *applied = {start, width};
  Tensor idx = arange(n);
  Tensor mask = logical_and(idx >= start, idx < start + width);
  if (dim == -2) mask = mask.unsqueeze(1);  // [F, 1] broadcasts over time
  return masked_fill(spec, mask, value);
}

}  // namespace

double hz_to_mel(double hz, const std::string& mel_scale) {
  check_mel_scale("hz_to_mel", mel_scale);
  if (mel_scale == "htk") return 2595.0 * std::log10(1.0 + hz / 700.0);
  if (hz < kSlaneyMinLogHz) return hz / kSlaneyFSp;
  return kSlaneyMinLogMel + std::log(hz / kSlaneyMinLogHz) / kSlaneyLogStep;
}

double mel_to_hz(double mel, const std::string& mel_scale) {
  check_mel_scale("mel_to_hz", mel_scale);
  if (mel_scale == "htk") return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
  if (mel < kSlaneyMinLogMel) return kSlaneyFSp * mel;
  return kSlaneyMinLogHz * std::exp(kSlaneyLogStep * (mel - kSlaneyMinLogMel));
}

Tensor mel_filterbank(int64_t n_freqs, double f_min, double f_max, int64_t n_mels, int64_t sample_rate,
                      const std::string& norm, const std::string& mel_scale, DType dtype) {
  check_mel_scale("mel_filterbank", mel_scale);
  WICK_CHECK(norm == "none" || norm == "slaney", "mel_filterbank: norm must be \"none\" or \"slaney\", got \"", norm,
             "\"");
  WICK_CHECK(n_freqs >= 1 && n_mels >= 1, "mel_filterbank: n_freqs and n_mels must be positive, got n_freqs=",
             n_freqs, ", n_mels=", n_mels);
  WICK_CHECK(sample_rate > 0, "mel_filterbank: sample_rate must be positive, got ", sample_rate);
  WICK_CHECK(f_min >= 0 && f_min < f_max, "mel_filterbank: expected 0 <= f_min < f_max, got f_min=", f_min,
             ", f_max=", f_max);
  WICK_CHECK(is_floating(dtype), "mel_filterbank: expected a floating dtype, got ", dtype);
  // Bin frequencies: linspace(0, sample_rate // 2, n_freqs), like torchaudio.
  const double top = static_cast<double>(sample_rate / 2);
  std::vector<double> freqs(static_cast<size_t>(n_freqs));
  for (int64_t i = 0; i < n_freqs; ++i)
    freqs[i] = n_freqs == 1 ? 0.0 : top * static_cast<double>(i) / static_cast<double>(n_freqs - 1);
  // n_mels + 2 corner frequencies equally spaced in mel.
  const double m_min = hz_to_mel(f_min, mel_scale), m_max = hz_to_mel(f_max, mel_scale);
  std::vector<double> f_pts(static_cast<size_t>(n_mels + 2));
  for (int64_t i = 0; i < n_mels + 2; ++i)
    f_pts[i] = mel_to_hz(m_min + (m_max - m_min) * static_cast<double>(i) / static_cast<double>(n_mels + 1),
                         mel_scale);
  std::vector<double> fb(static_cast<size_t>(n_freqs * n_mels));
  for (int64_t m = 0; m < n_mels; ++m) {
    const double lo = f_pts[m], mid = f_pts[m + 1], hi = f_pts[m + 2];
    const double enorm = norm == "slaney" ? 2.0 / (hi - lo) : 1.0;
    for (int64_t i = 0; i < n_freqs; ++i) {
      const double down = (freqs[i] - lo) / (mid - lo);  // rising edge
      const double up = (hi - freqs[i]) / (hi - mid);    // falling edge
      fb[static_cast<size_t>(i * n_mels + m)] = std::max(0.0, std::min(down, up)) * enorm;
    }
  }
  return from_vector(fb, Shape{n_freqs, n_mels}, TensorOptions(dtype));
}

Tensor resample(const Tensor& wave, int64_t orig_freq, int64_t new_freq, int64_t lowpass_filter_width,
                double rolloff) {
  check_wave("resample", wave);
  WICK_CHECK(orig_freq > 0 && new_freq > 0, "resample: frequencies must be positive, got ", orig_freq, " -> ",
             new_freq);
  WICK_CHECK(lowpass_filter_width > 0, "resample: lowpass_filter_width must be positive, got ", lowpass_filter_width);
  WICK_CHECK(rolloff > 0 && rolloff <= 1, "resample: rolloff must be in (0, 1], got ", rolloff);
  WICK_CHECK(wave.dim() >= 1, "resample: expected a waveform [..., T], got a 0-d tensor");
  if (orig_freq == new_freq) return wave;
  const int64_t g = std::gcd(orig_freq, new_freq);
  const int64_t o = orig_freq / g, n = new_freq / g;
  const double base = static_cast<double>(std::min(o, n)) * rolloff;
  const double lw = static_cast<double>(lowpass_filter_width);
  const int64_t width = static_cast<int64_t>(std::ceil(lw * static_cast<double>(o) / base));
  const int64_t K = 2 * width + o;
  // kernel[i][k]: phase i (output i/n of the way between input blocks), tap k (input sample k - width).
  std::vector<double> kernel(static_cast<size_t>(n * K), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < K; ++k) {
      double t = (-static_cast<double>(i) / static_cast<double>(n) +
                  static_cast<double>(k - width) / static_cast<double>(o)) * base;
      // Beyond the window both factors vanish: torchaudio clamps t to +-width, where
      // cos^2(pi/2) sin(pi width) / (pi width) is ~1e-50; store an exact 0 instead.
      if (std::abs(t) >= lw) continue;
      const double window = std::pow(std::cos(t * std::numbers::pi / lw / 2.0), 2.0);
      t *= std::numbers::pi;
      const double sinc = t == 0.0 ? 1.0 : std::sin(t) / t;
      kernel[static_cast<size_t>(i * K + k)] = sinc * window * base / static_cast<double>(o);
    }
  }
  Tensor w = from_vector(kernel, Shape{n, 1, K}, TensorOptions(wave.dtype()));
  const Shape lead(wave.sizes().begin(), wave.sizes().end() - 1);
  const int64_t T = wave.size(-1);
  Tensor x = wave.reshape({-1, 1, T});
  Tensor y = conv1d(pad(x, {width, width + o}), w, {}, o);  // [N, n, blocks]
  y = y.transpose(1, 2).reshape({x.size(0), -1});
  const int64_t target = (n * T + o - 1) / o;  // ceil(n T / o)
  Shape out_shape = lead;
  out_shape.push_back(target);
  return y.narrow(1, 0, target).reshape(out_shape);
}

Tensor spectrogram(const Tensor& wave, const SpectrogramOptions& opt, const Tensor& window) {
  check_wave("spectrogram", wave);
  WICK_CHECK(window.defined(), "spectrogram: undefined window");
  const int64_t win = opt.win_length.value_or(opt.n_fft);
  const int64_t hop = opt.hop_length.value_or(win / 2);
  Tensor S = stft(wave, opt.n_fft, hop, win, window, opt.center, opt.pad_mode, false, true);
  if (opt.normalized) S = S / sqrt(sum(square(window)));
  if (opt.power == 2.0) return sum(square(S), {-1});
  WICK_CHECK(opt.power > 0, "spectrogram: power must be positive, got ", opt.power);
  Tensor mag = complex_abs(S);
  return opt.power == 1.0 ? mag : pow(mag, opt.power);
}

Tensor spectrogram(const Tensor& wave, const SpectrogramOptions& opt) {
  check_wave("spectrogram", wave);
  WICK_CHECK(opt.n_fft > 0, "spectrogram: n_fft must be positive, got ", opt.n_fft);
  const int64_t win = opt.win_length.value_or(opt.n_fft);
  WICK_CHECK(win > 0, "spectrogram: win_length must be positive, got ", win);
  return spectrogram(wave, opt, hann_window(win, true, TensorOptions(wave.dtype())));
}

MelSpectrogram::MelSpectrogram(MelOptions opt, DType dtype) : opt_(std::move(opt)) {
  WICK_CHECK(opt_.n_fft > 0, "MelSpectrogram: n_fft must be positive, got ", opt_.n_fft);
  spec_.n_fft = opt_.n_fft;
  spec_.win_length = opt_.win_length;
  spec_.hop_length = opt_.hop_length;
  spec_.power = opt_.power;
  spec_.center = opt_.center;
  spec_.pad_mode = opt_.pad_mode;
  spec_.normalized = opt_.normalized;
  const int64_t win = opt_.win_length.value_or(opt_.n_fft);
  WICK_CHECK(win > 0 && win <= opt_.n_fft, "MelSpectrogram: expected 0 < win_length <= n_fft, got win_length=", win,
             ", n_fft=", opt_.n_fft);
  window_ = hann_window(win, true, TensorOptions(dtype));
  const double f_max = opt_.f_max.value_or(static_cast<double>(opt_.sample_rate / 2));
  fb_ = mel_filterbank(opt_.n_fft / 2 + 1, opt_.f_min, f_max, opt_.n_mels, opt_.sample_rate, opt_.norm,
                       opt_.mel_scale, dtype);
}

Tensor MelSpectrogram::operator()(const Tensor& wave) const {
  check_wave("MelSpectrogram", wave);
  WICK_CHECK(wave.dtype() == fb_.dtype(), "MelSpectrogram: waveform dtype ", wave.dtype(),
             " differs from the transform's ", fb_.dtype());
  Tensor spec = spectrogram(wave, spec_, window_);  // [B?, freqs, frames]
  return matmul(spec.transpose(-1, -2), fb_).transpose(-1, -2);
}

Tensor MelSpectrogram::log(const Tensor& wave, double eps) const { return wick::log((*this)(wave) + eps); }

Tensor mel_spectrogram(const Tensor& wave, const MelOptions& opt) {
  check_wave("mel_spectrogram", wave);
  return MelSpectrogram(opt, wave.dtype())(wave);
}

Tensor log_mel_spectrogram(const Tensor& wave, const MelOptions& opt, double eps) {
  check_wave("log_mel_spectrogram", wave);
  return MelSpectrogram(opt, wave.dtype()).log(wave, eps);
}

Tensor amplitude_to_db(const Tensor& x, double multiplier, double amin, double ref, std::optional<double> top_db) {
  WICK_CHECK(x.defined() && x.is_floating_point(), "amplitude_to_db: expected a floating tensor");
  WICK_CHECK(amin > 0, "amplitude_to_db: amin must be positive, got ", amin);
  const double db_offset = multiplier * std::log10(std::max(amin, ref));
  Tensor db = log(clamp_min(x, amin)) * (multiplier / std::log(10.0)) - db_offset;
  if (!top_db || x.numel() == 0) return db;
  WICK_CHECK(*top_db >= 0, "amplitude_to_db: top_db must be non-negative, got ", *top_db);
  const std::vector<int64_t> dims = x.dim() >= 2 ? std::vector<int64_t>{-2, -1} : std::vector<int64_t>{};
  return maximum(db, amax(db, dims, x.dim() >= 2) - *top_db);
}

Tensor time_mask(const Tensor& spec, int64_t max_width, Generator* gen, double mask_value, MaskSpan* applied) {
  return span_mask(spec, -1, max_width, gen, mask_value, applied, "time_mask");
}

Tensor freq_mask(const Tensor& spec, int64_t max_width, Generator* gen, double mask_value, MaskSpan* applied) {
  return span_mask(spec, -2, max_width, gen, mask_value, applied, "freq_mask");
}

Tensor time_shift(const Tensor& x, int64_t max_shift, Generator* gen, bool circular, int64_t* applied) {
  WICK_CHECK(x.defined() && x.dim() >= 1, "time_shift: expected a tensor with a time dim");
  WICK_CHECK(max_shift >= 0, "time_shift: max_shift must be non-negative, got ", max_shift);
  const int64_t s = draw_int(-max_shift, max_shift, gen);
  if (applied) *applied = s;
  const int64_t T = x.size(-1);
  if (s == 0 || T == 0) return x;
  if (circular) return roll(x, {s}, {-1});
  if (std::abs(s) >= T) return x * 0.0;  // everything shifted out (keeps the graph)
  return pad(x, {s, -s});  // pad s in front and crop s at the end (or the reverse for s < 0)
}

Tensor fix_length(const Tensor& x, int64_t length) {
  WICK_CHECK(x.defined() && x.dim() >= 1, "fix_length: expected a tensor with a time dim");
  WICK_CHECK(length >= 0, "fix_length: length must be non-negative, got ", length);
  const int64_t T = x.size(-1);
  if (T == length) return x;
  if (T > length) return x.narrow(-1, 0, length);
  return pad(x, {0, length - T});
}

Tensor log_mixup_exp(const Tensor& x, const Tensor& background, double alpha) {
  WICK_CHECK(x.defined() && background.defined(), "log_mixup_exp: undefined input");
  WICK_CHECK(alpha >= 0 && alpha <= 1, "log_mixup_exp: alpha must be in [0, 1], got ", alpha);
  // log((1-a) e^x + a e^z) = m + log((1-a) e^(x-m) + a e^(z-m)), m = max(x, z) (no overflow).
  Tensor m = maximum(x, background).detach();
  return m + log(exp(x - m) * (1.0 - alpha) + exp(background - m) * alpha);
}

Tensor random_log_mixup_exp(const Tensor& x, const Tensor& background, double ratio, Generator* gen, double* applied) {
  WICK_CHECK(ratio >= 0 && ratio <= 1, "random_log_mixup_exp: ratio must be in [0, 1], got ", ratio);
  const double alpha = ratio * rand({1}, TensorOptions(kFloat64), gen).item();
  if (applied) *applied = alpha;
  return log_mixup_exp(x, background, alpha);
}

Tensor random_resize_crop(const Tensor& spec, const ResizeCropOptions& opt, Generator* gen, ResizeCropBox* applied) {
  WICK_CHECK(spec.defined() && spec.dim() >= 2 && spec.dim() <= 4,
             "random_resize_crop: expected a spectrogram [F, T], [C, F, T] or [N, C, F, T], got ",
             spec.defined() ? shape_str(spec.sizes()) : std::string("undefined"));
  WICK_CHECK(opt.virtual_crop_scale_freq >= 1 && opt.virtual_crop_scale_time >= 1,
             "random_resize_crop: virtual crop scales must be >= 1");
  WICK_CHECK(opt.freq_scale_min > 0 && opt.freq_scale_min <= opt.freq_scale_max && opt.time_scale_min > 0 &&
                 opt.time_scale_min <= opt.time_scale_max,
             "random_resize_crop: expected 0 < min <= max for the freq and time scales");
  const int64_t F = spec.size(-2), T = spec.size(-1);
  WICK_CHECK(F > 0 && T > 0, "random_resize_crop: empty spectrogram ", shape_str(spec.sizes()));
  auto uniform = [&](double lo, double hi) { return lo + (hi - lo) * rand({1}, TensorOptions(kFloat64), gen).item(); };
  auto randint_incl = [&](int64_t lo, int64_t hi) { return randint(lo, hi + 1, {1}, {}, gen).item<int64_t>(); };
  ResizeCropBox b;
  b.canvas_freq = static_cast<int64_t>(static_cast<double>(F) * opt.virtual_crop_scale_freq);
  b.canvas_time = static_cast<int64_t>(static_cast<double>(T) * opt.virtual_crop_scale_time);
  b.input_top = (b.canvas_freq - F) / 2;
  b.input_left = (b.canvas_time - T) / 2;
  b.height = std::clamp<int64_t>(static_cast<int64_t>(uniform(opt.freq_scale_min, opt.freq_scale_max) * F), 1,
                                 b.canvas_freq);
  b.width = std::clamp<int64_t>(static_cast<int64_t>(uniform(opt.time_scale_min, opt.time_scale_max) * T), 1,
                                b.canvas_time);
  b.top = b.canvas_freq > b.height ? randint_incl(0, b.canvas_freq - b.height) : 0;
  b.left = b.canvas_time > b.width ? randint_incl(0, b.canvas_time - b.width) : 0;
  if (applied) *applied = b;
  // The canvas is the input zero-padded; the crop is a slice of it (pad crops with negative amounts).
  Tensor canvas = pad(spec, {b.input_left, b.canvas_time - T - b.input_left, b.input_top,
                             b.canvas_freq - F - b.input_top});
  Tensor crop = canvas.narrow(-2, b.top, b.height).narrow(-1, b.left, b.width);
  Tensor planes = spec.dim() == 2 ? crop.unsqueeze(0) : crop;
  Tensor out = interpolate(planes, std::array<int64_t, 2>{F, T}, {}, "bilinear", true);
  return spec.dim() == 2 ? out.squeeze(0) : out;
}

}  // namespace wick::data
