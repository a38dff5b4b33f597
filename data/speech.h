// A speech dataset synthesized offline by espeak-ng (Debian package
// espeak-ng): every text x voice x speed x pitch combination is spoken,
// resampled to the target rate and cached on disk, so the papers' audio
// experiments (keyword spotting, language ID) need no downloaded data.
//
// Rendering. `espeak-ng -w <tmp.wav> -v <voice> -s <speed> -p <pitch> -- <text>`
// is started with posix_spawnp and an argument vector (no shell, so no
// quoting or injection issues; "--" keeps a text that starts with '-' from
// being read as an option). espeak-ng writes 16-bit mono at 22,050 Hz; the
// waveform is resampled with the windowed-sinc resampler of data/audio.h
// (torchaudio's sinc_interp_hann, 6 zero crossings, rolloff 0.99). Missing
// entries are rendered by up to `jobs` processes at once.
//
// Cache. Entry = <cache_dir>/<key>.wav, float32 mono at the target rate;
// key = 64-bit FNV-1a of everything that determines the waveform (text,
// voice, speed, pitch, target rate, resampler, espeak program), so a changed
// config never reads a stale entry. Entries are written to a temporary file
// and renamed into place (atomic; concurrent processes are safe). An entry
// that does not parse as a mono WAV at the target rate with at least one
// sample is rendered again. The default cache_dir is
// $XDG_CACHE_HOME/wick/speech, else ~/.cache/wick/speech.
//
// Example order: index = ((text * voices + voice) * speeds + speed) * pitches + pitch;
// the label of an example is its text's index.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "tensor/tensor.h"

namespace wick::data {

inline constexpr std::array<const char*, 10> kDigitWords = {"zero", "one", "two",   "three", "four",
                                                            "five", "six", "seven", "eight", "nine"};

struct SpeechConfig {
  std::vector<std::string> texts;  // class i speaks texts[i]
  // espeak-ng voice names (espeak-ng --voices=en), optionally with a variant: "en-us+f3".
  std::vector<std::string> voices = {"en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+f3", "en-gb-x-rp+f4"};
  std::vector<int> speeds = {150};  // words per minute (espeak-ng -s, 80..450)
  std::vector<int> pitches = {50};  // espeak-ng -p, 0..99
  int64_t sample_rate = 16000;
  int64_t num_samples = 0;   // > 0: every waveform is cropped or zero-padded (at the end) to this length
  std::string cache_dir;     // empty: default_speech_cache_dir()
  std::string espeak = "espeak-ng";  // program, looked up in PATH unless it contains '/'
  int jobs = 0;              // espeak-ng processes at once when rendering; 0: hardware threads
};

struct SpeechExample {
  Tensor waveform;  // float32 [samples] at config().sample_rate
  int64_t label = 0;
  std::string text;
  std::string voice;
  int speed = 0;
  int pitch = 0;
};

class SpeechDataset : public Dataset<SpeechExample> {
 public:
  // Loads every example, rendering the ones missing from the cache. Throws
  // wick::Error for a bad config, a failing espeak-ng (with its message),
  // or a missing espeak-ng (naming the Debian package).
  explicit SpeechDataset(SpeechConfig config);
  int64_t size() const override { return static_cast<int64_t>(waves_.size()); }
  SpeechExample get(int64_t index) const override;
  int64_t num_classes() const { return static_cast<int64_t>(config_.texts.size()); }
  const SpeechConfig& config() const { return config_; }
  // espeak-ng runs made by the constructor (0 when everything came from the cache).
  int64_t renders() const { return renders_; }
  // The cache file of example `index`.
  std::string cache_path(int64_t index) const;

 private:
  struct Item {
    int64_t label;
    size_t voice, speed, pitch;
  };
  Item item(int64_t index) const;

  SpeechConfig config_;
  std::vector<Tensor> waves_;
  int64_t renders_ = 0;
};

// Keyword spotting: the ten digit words "zero".."nine" (labels 0..9) over
// voices x speeds x pitches (defaults: 6 voices, speeds 120/160/200, pitches
// 30/50/70 = 540 clips), one second long at 16 kHz.
SpeechConfig keyword_spotting_config(std::vector<int> speeds = {120, 160, 200}, std::vector<int> pitches = {30, 50, 70});

// $XDG_CACHE_HOME/wick/speech, else $HOME/.cache/wick/speech.
std::string default_speech_cache_dir();

// Speaks `text` once with espeak-ng into a WAV at its native rate (22,050 Hz)
// and returns the samples as float32 [samples]; `work_dir` holds the
// temporary files. No caching.
Tensor espeak_render(const std::string& text, const std::string& voice, int speed, int pitch,
                     const std::string& work_dir, const std::string& espeak = "espeak-ng",
                     int64_t* sample_rate = nullptr);

}  // namespace wick::data
