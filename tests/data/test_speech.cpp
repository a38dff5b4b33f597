// The espeak-ng speech dataset: renders a few utterances into a temporary
// cache, checks labels and metadata, that a second load makes no espeak-ng
// call, that a corrupt entry is rendered again, and the error paths.
// Skipped when espeak-ng is not installed (apt-get install espeak-ng).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/speech.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
using namespace wick::data;

namespace fs = std::filesystem;

namespace {

bool have_espeak() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin");
  std::string d;
  while (std::getline(dirs, d, ':'))
    if (!d.empty() && ::access((d + "/espeak-ng").c_str(), X_OK) == 0) return true;
  return false;
}

SpeechConfig small_config(const std::string& cache_dir) {
  SpeechConfig c;
  // The third text starts with '-': it must be spoken, not parsed as an option.
  c.texts = {"zero", "one", "-2 --help"};
  c.voices = {"en-us"};
  c.speeds = {200};
  c.pitches = {60};
  c.cache_dir = cache_dir;
  c.jobs = 2;
  return c;
}

}  // namespace

TEST(Speech, RendersCachesAndLabels) {
  if (!have_espeak()) GTEST_SKIP() << "espeak-ng is not installed (apt-get install espeak-ng)";
  ScratchDir scratch("speech_cache");
  const std::string cache = scratch.path("cache");  // not there yet: the dataset makes it
  SpeechDataset ds(small_config(cache));
  EXPECT_EQ(ds.renders(), 3);
  ASSERT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.num_classes(), 3);
  for (int64_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    SpeechExample e = ds.get(i);
    EXPECT_EQ(e.label, i);
    EXPECT_EQ(e.text, ds.config().texts[static_cast<size_t>(i)]);
    EXPECT_EQ(e.voice, "en-us");
    EXPECT_EQ(e.speed, 200);
    EXPECT_EQ(e.pitch, 60);
    EXPECT_EQ(e.waveform.dtype(), kFloat32);
    ASSERT_EQ(e.waveform.dim(), 1);
    EXPECT_GT(e.waveform.size(0), 16000 / 5);           // at least 0.2 s at 16 kHz
    EXPECT_GT(amax(abs(e.waveform)).item(), 0.05);       // speech, not silence
    EXPECT_LE(amax(abs(e.waveform)).item(), 1.5);
    EXPECT_TRUE(fs::exists(ds.cache_path(i)));
  }

  // A second load reads the cache: no espeak-ng run, the same waveforms.
  SpeechDataset again(small_config(cache));
  EXPECT_EQ(again.renders(), 0);
  for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(all_equal(again.get(i).waveform, ds.get(i).waveform));

  // A corrupt entry is rendered again (and only that one).
  { std::ofstream(ds.cache_path(1), std::ios::binary | std::ios::trunc) << "RIFF garbage"; }
  SpeechDataset repaired(small_config(cache));
  EXPECT_EQ(repaired.renders(), 1);
  EXPECT_TRUE(all_close(repaired.get(1).waveform, ds.get(1).waveform, 1e-6, 0));

  // Another pitch is another cache entry; num_samples fixes the length.
  SpeechConfig other = small_config(cache);
  other.texts = {"zero"};
  other.pitches = {30};
  other.num_samples = 16000;
  SpeechDataset low(other);
  EXPECT_EQ(low.renders(), 1);
  EXPECT_NE(low.cache_path(0), ds.cache_path(0));
  EXPECT_EQ(low.get(0).waveform.sizes(), (Shape{16000}));
  EXPECT_WICK_ERROR(ds.get(3), "SpeechDataset: index 3 is out of range for 3 examples");
}

TEST(Speech, Errors) {
  ScratchDir scratch("speech_errors");
  const std::string cache = scratch.path("cache");
  SpeechConfig c = small_config(cache);
  c.espeak = "/nonexistent/espeak-ng";
  EXPECT_WICK_ERROR(SpeechDataset{c}, "install the Debian package espeak-ng");
  if (have_espeak()) {
    SpeechConfig v = small_config(cache);
    v.voices = {"xyzzy"};  // (espeak-ng falls back to a language prefix such as "no-...")
    EXPECT_WICK_ERROR(SpeechDataset{v}, "failed (exit status 1) speaking");
  }
  SpeechConfig s = small_config(cache);
  s.speeds = {10};
  EXPECT_WICK_ERROR(SpeechDataset{s}, "SpeechDataset: speed 10 is outside espeak-ng's 80..450");
  SpeechConfig p = small_config(cache);
  p.pitches = {100};
  EXPECT_WICK_ERROR(SpeechDataset{p}, "SpeechDataset: pitch 100 is outside");
  SpeechConfig t = small_config(cache);
  t.texts = {};
  EXPECT_WICK_ERROR(SpeechDataset{t}, "SpeechDataset: the config has no texts");
}

TEST(Speech, KeywordSpottingConfig) {
  SpeechConfig k = keyword_spotting_config();
  ASSERT_EQ(k.texts.size(), 10u);
  EXPECT_EQ(k.texts[0], "zero");
  EXPECT_EQ(k.texts[9], "nine");
  EXPECT_EQ(k.sample_rate, 16000);
  EXPECT_EQ(k.num_samples, 16000);
  EXPECT_EQ(k.voices.size() * k.speeds.size() * k.pitches.size(), 54u);
  // The default cache directory honours XDG_CACHE_HOME.
  const char* old = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old ? old : "";
  ::setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
  EXPECT_EQ(default_speech_cache_dir(), "/tmp/xdg/wick/speech");
  if (old) ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  else ::unsetenv("XDG_CACHE_HOME");
}
