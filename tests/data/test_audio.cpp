// Audio features: mel filterbanks, spectrograms, log-mel, decibels and
// resampling against torchaudio's formulas (tests/fixtures/gen_audio.py),
// mel scales checked by hand, gradients, and the SpecAugment-style masks.
#include <cmath>

#include "data/audio.h"
#include "ops/fft.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
using namespace wick::data;

TEST(MelScale, HandValues) {
  // HTK: 700 Hz is 2595 log10(2) mel.
  EXPECT_NEAR(hz_to_mel(700.0, "htk"), 2595.0 * std::log10(2.0), 1e-12);
  EXPECT_NEAR(mel_to_hz(2595.0 * std::log10(2.0), "htk"), 700.0, 1e-9);
  // Slaney (librosa's default): 3 mel per 200 Hz up to 1 kHz = 15 mel,
  // then 27 mel per factor 6.4: 6400 Hz is 42 mel.
  EXPECT_NEAR(hz_to_mel(200.0, "slaney"), 3.0, 1e-12);
  EXPECT_NEAR(hz_to_mel(1000.0, "slaney"), 15.0, 1e-12);
  EXPECT_NEAR(hz_to_mel(6400.0, "slaney"), 42.0, 1e-12);
  for (double f : {0.0, 123.0, 999.0, 1000.0, 4321.0, 11025.0})
    for (const char* s : {"htk", "slaney"}) EXPECT_NEAR(mel_to_hz(hz_to_mel(f, s), s), f, 1e-9);
  EXPECT_WICK_ERROR(hz_to_mel(1.0, "mfcc"), "hz_to_mel: mel_scale must be \"htk\" or \"slaney\"");
}

TEST(MelFilterbank, MatchesTorchaudio) {
  auto check = [](const char* name, int64_t n_freqs, double f_min, double f_max, int64_t n_mels, int64_t sr,
                  const char* norm, const char* scale) {
    SCOPED_TRACE(name);
    Tensor fb = mel_filterbank(n_freqs, f_min, f_max, n_mels, sr, norm, scale, kFloat64);
    EXPECT_EQ(fb.sizes(), (Shape{n_freqs, n_mels}));
    EXPECT_TRUE(all_close(fb, fixture(std::string("audio/") + name), 1e-12, 1e-12));
    // float32 (the default) is the float64 result rounded.
    EXPECT_TRUE(all_close(mel_filterbank(n_freqs, f_min, f_max, n_mels, sr, norm, scale), fb.to(kFloat32), 0, 0));
  };
  check("fb_htk_none", 101, 0, 8000, 24, 16000, "none", "htk");
  check("fb_slaney_slaney", 129, 20, 7600, 40, 16000, "slaney", "slaney");
  check("fb_htk_slaney_odd_rate", 129, 0, 11025, 32, 22050, "slaney", "htk");
  check("fb_slaney_none", 101, 50, 4000, 23, 8000, "none", "slaney");
  // Unnormalized triangles peak at most at 1 and each covers some bin.
  Tensor fb = mel_filterbank(201, 0, 8000, 40, 16000);
  EXPECT_LE(amax(fb).item(), 1.0);
  EXPECT_GT(amin(amax(fb, {0})).item(), 0.0);
  EXPECT_WICK_ERROR(mel_filterbank(201, 100, 50, 40, 16000), "mel_filterbank: expected 0 <= f_min < f_max");
  EXPECT_WICK_ERROR(mel_filterbank(201, 0, 8000, 40, 16000, "l2"), "mel_filterbank: norm must be");
  EXPECT_WICK_ERROR(mel_filterbank(0, 0, 8000, 40, 16000), "mel_filterbank: n_freqs and n_mels must be positive");
}

TEST(Spectrogram, MatchesTorchaudio) {
  Tensor w = fixture("audio/wave");
  SpectrogramOptions p2{.n_fft = 64, .win_length = 48, .hop_length = 16};
  EXPECT_TRUE(all_close(spectrogram(w, p2), fixture("audio/spec_power2"), 1e-12, 1e-12));
  SpectrogramOptions p1{.n_fft = 64, .hop_length = 16, .power = 1.0, .normalized = true};
  EXPECT_TRUE(all_close(spectrogram(w, p1), fixture("audio/spec_power1_norm"), 1e-12, 1e-12));
  // Unbatched input.
  EXPECT_TRUE(all_close(spectrogram(w[1], p2), fixture("audio/spec_power2")[1], 1e-12, 1e-12));

  MelOptions m{.sample_rate = 8000, .n_fft = 64, .n_mels = 10};  // hop = 64 / 2, f_max = 4000
  Tensor mel = mel_spectrogram(w, m);
  EXPECT_EQ(mel.sizes(), (Shape{2, 10, 26}));
  EXPECT_TRUE(all_close(mel, fixture("audio/mel_8k"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(log_mel_spectrogram(w, m), fixture("audio/log_mel_8k"), 1e-12, 1e-12));
  MelSpectrogram transform(m, kFloat64);
  EXPECT_TRUE(all_close(transform.log(w), fixture("audio/log_mel_8k"), 1e-12, 1e-12));
  EXPECT_EQ(transform.filterbank().sizes(), (Shape{33, 10}));

  // float32 at 16 kHz, the audio encoder's front end: 64 mels, 25 ms windows, 10 ms hop.
  Tensor w32 = fixture("audio/wave_f32");
  Tensor lm = log_mel_spectrogram(w32, {.sample_rate = 16000, .n_fft = 400, .hop_length = 160, .n_mels = 64});
  EXPECT_EQ(lm.dtype(), kFloat32);
  EXPECT_TRUE(all_close(lm, fixture("audio/log_mel_16k_f32"), 2e-4, 1e-4));
  EXPECT_WICK_ERROR(transform(w32), "MelSpectrogram: waveform dtype float32 differs from the transform's float64");
}

TEST(Spectrogram, Gradcheck) {
  auto spec = [](const tensor_list& t) {
    return spectrogram(t[0], {.n_fft = 8, .hop_length = 3, .power = 2.0});
  };
  EXPECT_TRUE(gradcheck(spec, {rand_f64({2, 12}, 1)}));
  EXPECT_TRUE(gradgradcheck(spec, {rand_f64({1, 10}, 2)}));
  auto mag = [](const tensor_list& t) { return spectrogram(t[0], {.n_fft = 7, .hop_length = 2, .power = 1.0}); };
  EXPECT_TRUE(gradcheck(mag, {rand_f64({11}, 3)}));
  auto logmel = [](const tensor_list& t) {
    return log_mel_spectrogram(t[0], {.sample_rate = 8000, .n_fft = 16, .hop_length = 4, .n_mels = 3});
  };
  EXPECT_TRUE(gradcheck(logmel, {rand_f64({20}, 4)}));
}

TEST(AmplitudeToDb, MatchesTorchaudio) {
  Tensor mel = fixture("audio/mel_8k");
  EXPECT_TRUE(all_close(amplitude_to_db(mel[0], 10.0, 1e-10, 1.0, 80.0), fixture("audio/db_power_top80"), 1e-10,
                        1e-12));
  EXPECT_TRUE(all_close(amplitude_to_db(mel, 20.0, 1e-5, 2.0), fixture("audio/db_amplitude_ref"), 1e-10, 1e-12));
  // top_db floors each spectrogram of a batch on its own.
  Tensor x = stack({full({2, 3}, 1.0, kFloat64), full({2, 3}, 1e-3, kFloat64)});
  x = x.clone();
  x.select(0, 0).select(0, 0).fill_(1e-12);
  Tensor db = amplitude_to_db(x, 10.0, 1e-10, 1.0, 20.0);
  EXPECT_NEAR(db[0][0][0].item(), -20.0, 1e-9);  // floored at max (0 dB) - 20
  EXPECT_NEAR(db[1][0][0].item(), -30.0, 1e-9);  // its own max is -30 dB
}

TEST(Resample, MatchesTorchaudio) {
  Tensor x = fixture("audio/resample_in");
  Tensor down = resample(x, 22050, 16000);
  EXPECT_EQ(down.sizes(), (Shape{2, 218}));  // ceil(300 * 320 / 441)
  EXPECT_TRUE(all_close(down, fixture("audio/resample_22050_16000"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(resample(x, 16000, 22050), fixture("audio/resample_16000_22050"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(resample(x, 8000, 16000, 4, 0.9), fixture("audio/resample_8000_16000_w4"), 1e-12, 1e-12));
  EXPECT_TRUE(resample(x, 16000, 16000).is_same(x));
  // A low tone survives a round trip 16 kHz -> 22.05 kHz -> 16 kHz (away from the edges).
  Tensor t = arange(1600, kFloat64);
  Tensor tone = sin(t * (2 * 3.141592653589793 * 440.0 / 16000.0));
  Tensor back = resample(resample(tone, 16000, 22050), 22050, 16000);
  EXPECT_TRUE(all_close(back.narrow(0, 100, 1400), tone.narrow(0, 100, 1400), 2e-3, 0));
  EXPECT_TRUE(gradcheck([](const tensor_list& v) { return resample(v[0], 3, 2); }, {rand_f64({2, 9}, 5)}));
  EXPECT_WICK_ERROR(resample(x, 0, 16000), "resample: frequencies must be positive");
  EXPECT_WICK_ERROR(resample(zeros({4}, kInt64), 2, 1), "resample: expected a float32 or float64 waveform");
}

TEST(SpecAugment, MasksAreSeededAndRecorded) {
  Tensor spec = rand_f64({2, 6, 20}, 7, false) + 2.0;  // all values >= 1
  Generator g1(42), g2(42);
  MaskSpan span, span2;
  Tensor m = time_mask(spec, 8, &g1, 0.0, &span);
  Tensor m2 = time_mask(spec, 8, &g2, 0.0, &span2);
  EXPECT_TRUE(all_equal(m, m2));  // same seed, same mask
  EXPECT_EQ(span.start, span2.start);
  EXPECT_EQ(span.width, span2.width);
  EXPECT_LE(span.width, 8);
  EXPECT_LE(span.start + span.width, 20);
  // Exactly the recorded columns are masked, in every row of every example.
  Tensor col = arange(20);
  Tensor inside = logical_and(col >= span.start, col < span.start + span.width).expand({2, 6, 20});
  EXPECT_TRUE(all_equal(m == 0.0, inside));
  // Over many draws the widths cover 0..max and the spans stay inside.
  Generator g(7);
  std::vector<int> seen(4, 0);
  for (int i = 0; i < 200; ++i) {
    MaskSpan s;
    Tensor f = freq_mask(spec, 3, &g, -1.0, &s);
    ASSERT_GE(s.start, 0);
    ASSERT_LE(s.start + s.width, 6);
    seen[static_cast<size_t>(s.width)]++;
    Tensor row = arange(6).unsqueeze(1);
    Tensor in = logical_and(row >= s.start, row < s.start + s.width).expand({2, 6, 20});
    ASSERT_TRUE(all_equal(f == -1.0, in));
  }
  for (int c : seen) EXPECT_GT(c, 20);
  // A mask wider than the dim is capped at the dim.
  MaskSpan all;
  time_mask(zeros({3, 4}), 100, &g, 0.0, &all);
  EXPECT_LE(all.width, 4);
  // Gradients flow through the unmasked entries only.
  Tensor x = rand_f64({3, 10}, 8);
  Generator g3(1);
  MaskSpan s3;
  time_mask(x, 5, &g3, 0.0, &s3).sum().backward();
  EXPECT_EQ(x.grad().sum().item(), 3.0 * (10 - s3.width));
  EXPECT_WICK_ERROR(time_mask(spec, -1), "time_mask: max_width must be non-negative");
  EXPECT_WICK_ERROR(freq_mask(zeros({5}), 2), "freq_mask: expected at least 2 dims");
}

TEST(SpecAugment, TimeShiftAndFixLength) {
  Tensor x = arange(1, 9, 1, kFloat64).unsqueeze(0);  // [[1..8]]
  Generator g(3);
  for (int i = 0; i < 30; ++i) {
    int64_t s = 0;
    Tensor y = time_shift(x, 3, &g, false, &s);
    ASSERT_LE(std::abs(s), 3);
    for (int64_t t = 0; t < 8; ++t) {
      const double want = (t - s >= 0 && t - s < 8) ? static_cast<double>(t - s + 1) : 0.0;
      ASSERT_EQ(y[0][t].item(), want) << "shift " << s << " at " << t;
    }
    int64_t c = 0;
    Tensor z = time_shift(x, 3, &g, true, &c);
    EXPECT_TRUE(all_equal(z, roll(x, {c}, {-1})));
  }
  EXPECT_EQ(fix_length(x, 5).sizes(), (Shape{1, 5}));
  EXPECT_TRUE(all_equal(fix_length(x, 10).narrow(1, 8, 2), zeros({1, 2}, kFloat64)));
  EXPECT_TRUE(fix_length(x, 8).is_same(x));
  EXPECT_WICK_ERROR(time_shift(x, -1), "time_shift: max_shift must be non-negative");
}

TEST(Byola, LogMixupExp) {
  Tensor x = rand_f64({3, 5}, 11, false), z = rand_f64({3, 5}, 12, false);
  EXPECT_TRUE(all_close(log_mixup_exp(x, z, 0.0), x, 1e-15, 0));
  EXPECT_TRUE(all_close(log_mixup_exp(x, z, 1.0), z, 1e-15, 0));
  EXPECT_TRUE(all_close(log_mixup_exp(x, z, 0.3), log(exp(x) * 0.7 + exp(z) * 0.3), 1e-14, 1e-14));
  // Stable for large log-energies (exp would overflow).
  Tensor big = log_mixup_exp(full({2}, 1000.0, kFloat64), full({2}, 999.0, kFloat64), 0.5);
  EXPECT_NEAR(big[0].item(), 1000.0 + std::log(0.5 + 0.5 * std::exp(-1.0)), 1e-9);
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return log_mixup_exp(t[0], t[1], 0.4); },
                        {rand_f64({2, 3}, 13), rand_f64({2, 3}, 14)}));
  Generator g(5);
  double alpha = -1;
  random_log_mixup_exp(x, z, 0.4, &g, &alpha);
  EXPECT_GE(alpha, 0.0);
  EXPECT_LT(alpha, 0.4);
  EXPECT_WICK_ERROR(log_mixup_exp(x, z, 1.5), "log_mixup_exp: alpha must be in [0, 1]");
}

TEST(Byola, RandomResizeCrop) {
  Tensor spec = rand_f64({1, 6, 10}, 15, false) + 2.0;  // [C, F, T], all values >= 1
  Generator g(9);
  for (int i = 0; i < 20; ++i) {
    ResizeCropBox b;
    Tensor out = random_resize_crop(spec, {}, &g, &b);
    ASSERT_EQ(out.sizes(), spec.sizes());
    EXPECT_EQ(b.canvas_freq, 6);
    EXPECT_EQ(b.canvas_time, 15);
    EXPECT_EQ(b.input_left, 2);
    ASSERT_GE(b.top, 0);
    ASSERT_GE(b.left, 0);
    ASSERT_LE(b.top + b.height, b.canvas_freq);
    ASSERT_LE(b.left + b.width, b.canvas_time);
    EXPECT_GE(b.width, 6);  // floor(10 * 0.6)
  }
  // With crop scales fixed at 1 the crop is a [F, T] window of the canvas, returned unresized:
  // the input shifted by (input_left - left) columns, zeros where the window leaves it.
  ResizeCropOptions same{.freq_scale_min = 1.0, .freq_scale_max = 1.0, .time_scale_min = 1.0, .time_scale_max = 1.0};
  for (int i = 0; i < 10; ++i) {
    ResizeCropBox b;
    Tensor out = random_resize_crop(spec[0], same, &g, &b);
    EXPECT_EQ(b.height, 6);
    EXPECT_EQ(b.width, 10);
    const int64_t shift = b.input_left - b.left;
    EXPECT_TRUE(all_close(out, pad(spec[0], {shift, -shift}), 1e-12, 0)) << "shift " << shift;
  }
  // Gradients reach the input.
  EXPECT_TRUE(gradcheck(
      [](const tensor_list& t) {
        Generator gg(1);
        return random_resize_crop(t[0], {}, &gg);
      },
      {rand_f64({4, 5}, 16)}));
  EXPECT_WICK_ERROR(random_resize_crop(zeros({5})), "random_resize_crop: expected a spectrogram");
}
