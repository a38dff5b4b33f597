// The espeak-ng speech dataset (see data/speech.h): process spawning,
// the on-disk cache, and parallel rendering.
#include "data/speech.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include "autograd/grad_mode.h"
#include "data/audio.h"
#include "data/wav.h"

extern char** environ;

namespace wick::data {

namespace {

namespace fs = std::filesystem;

// The resampler, named in the cache key: changing it must invalidate entries.
constexpr int64_t kLowpassWidth = 6;
constexpr double kRolloff = 0.99;
constexpr const char* kCacheVersion = "wick-speech-v1";

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Removes a file when it goes out of scope.
struct TempFile {
  std::string path;
  ~TempFile() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

// Creates a unique empty file <dir>/<prefix>XXXXXX<suffix>; returns its open fd.
int make_temp(const std::string& dir, const std::string& prefix, const std::string& suffix, TempFile& out) {
  std::string tmpl = dir + "/" + prefix + "XXXXXX" + suffix;
  // O_CLOEXEC: espeak-ng processes spawned by other threads must not inherit it.
  int fd = ::mkostemps(tmpl.data(), static_cast<int>(suffix.size()), O_CLOEXEC);
  WICK_CHECK(fd >= 0, "SpeechDataset: cannot create a temporary file in ", dir, ": ", std::strerror(errno));
  out.path = tmpl;
  return fd;
}

std::string read_text(const std::string& path, size_t max_bytes = 2000) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (s.size() > max_bytes) s.resize(max_bytes);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The cached waveform at `path`, or an undefined tensor when the entry is
// missing or unusable (then it is rendered again).
Tensor load_entry(const std::string& path, int64_t sample_rate) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  try {
    Wav w = read_wav(path);
    if (w.sample_rate != sample_rate || w.samples.size(0) != 1 || w.samples.size(1) < 1) return {};
    return w.samples[0].contiguous();
  } catch (const Error&) {
    return {};
  }
}

// Writes the entry atomically: a temporary file in the same directory, renamed into place.
void store_entry(const std::string& dir, const std::string& path, const Tensor& wave, int64_t sample_rate) {
  const std::vector<uint8_t> bytes = encode_wav(wave, sample_rate, WavEncoding::Float32);
  TempFile tmp;
  int fd = make_temp(dir, fs::path(path).filename().string() + ".", ".tmp", tmp);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = errno;
      ::close(fd);
      WICK_FAIL("SpeechDataset: error writing ", tmp.path, ": ", std::strerror(err));
    }
    done += static_cast<size_t>(w);
  }
  ::close(fd);
  WICK_CHECK(::rename(tmp.path.c_str(), path.c_str()) == 0, "SpeechDataset: cannot rename ", tmp.path, " to ", path,
             ": ", std::strerror(errno));
  tmp.path.clear();  // renamed: nothing to remove
}

void check_config(const SpeechConfig& c) {
  WICK_CHECK(!c.texts.empty(), "SpeechDataset: the config has no texts");
  WICK_CHECK(!c.voices.empty(), "SpeechDataset: the config has no voices");
  WICK_CHECK(!c.speeds.empty(), "SpeechDataset: the config has no speeds");
  WICK_CHECK(!c.pitches.empty(), "SpeechDataset: the config has no pitches");
  for (const auto& t : c.texts)
    WICK_CHECK(!t.empty() && t.find('\0') == std::string::npos,
               "SpeechDataset: texts must be non-empty strings without NUL characters");
  for (const auto& v : c.voices)
    WICK_CHECK(!v.empty() && v.find('\0') == std::string::npos, "SpeechDataset: voice names must be non-empty");
  for (int s : c.speeds)
    WICK_CHECK(s >= 80 && s <= 450, "SpeechDataset: speed ", s, " is outside espeak-ng's 80..450 words per minute");
  for (int p : c.pitches) WICK_CHECK(p >= 0 && p <= 99, "SpeechDataset: pitch ", p, " is outside espeak-ng's 0..99");
  WICK_CHECK(c.sample_rate >= 1000 && c.sample_rate <= 192000, "SpeechDataset: sample_rate ", c.sample_rate,
             " is outside 1000..192000 Hz");
  WICK_CHECK(c.num_samples >= 0, "SpeechDataset: num_samples must be non-negative, got ", c.num_samples);
  WICK_CHECK(!c.espeak.empty(), "SpeechDataset: the espeak program is empty");
}

}  // namespace

std::string default_speech_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/wick/speech";
  const char* home = std::getenv("HOME");
  WICK_CHECK(home && *home, "SpeechDataset: neither XDG_CACHE_HOME nor HOME is set; give SpeechConfig::cache_dir");
  return std::string(home) + "/.cache/wick/speech";
}

Tensor espeak_render(const std::string& text, const std::string& voice, int speed, int pitch,
                     const std::string& work_dir, const std::string& espeak, int64_t* sample_rate) {
  TempFile wav, err;
  ::close(make_temp(work_dir, "wick-espeak-", ".wav", wav));
  const int err_fd = make_temp(work_dir, "wick-espeak-", ".err", err);
  const std::string speed_s = std::to_string(speed), pitch_s = std::to_string(pitch);
  std::vector<std::string> args = {espeak, "-w", wav.path, "-v", voice, "-s", speed_s, "-p", pitch_s, "--", text};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, espeak.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(err_fd);
  WICK_CHECK(rc != ENOENT, "SpeechDataset: cannot run ", espeak,
             ": program not found; install the Debian package espeak-ng (apt-get install espeak-ng)");
  WICK_CHECK(rc == 0, "SpeechDataset: cannot run ", espeak, ": ", std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    WICK_CHECK(errno == EINTR, "SpeechDataset: waitpid for ", espeak, " failed: ", std::strerror(errno));
  }
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) {
    const std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                              : "signal " + std::to_string(WTERMSIG(status));
    WICK_FAIL("SpeechDataset: ", espeak, " failed (", how, ") speaking \"", text, "\" with voice \"", voice,
              "\", speed ", speed, ", pitch ", pitch, ": ", read_text(err.path));
  }
  Wav w = read_wav(wav.path);
  WICK_CHECK(w.samples.size(0) == 1 && w.samples.size(1) > 0, "SpeechDataset: ", espeak, " produced ",
             w.samples.size(0), " channels and ", w.samples.size(1), " samples for \"", text, "\" (voice \"", voice,
             "\"); expected mono speech");
  if (sample_rate) *sample_rate = w.sample_rate;
  return w.samples[0].contiguous();
}

SpeechConfig keyword_spotting_config(std::vector<int> speeds, std::vector<int> pitches) {
  SpeechConfig c;
  c.texts.assign(kDigitWords.begin(), kDigitWords.end());
  c.speeds = std::move(speeds);
  c.pitches = std::move(pitches);
  c.sample_rate = 16000;
  c.num_samples = 16000;
  return c;
}

SpeechDataset::Item SpeechDataset::item(int64_t index) const {
  const size_t np = config_.pitches.size(), ns = config_.speeds.size(), nv = config_.voices.size();
  size_t i = static_cast<size_t>(index);
  Item it{};
  it.pitch = i % np;
  i /= np;
  it.speed = i % ns;
  i /= ns;
  it.voice = i % nv;
  it.label = static_cast<int64_t>(i / nv);
  return it;
}

std::string SpeechDataset::cache_path(int64_t index) const {
  check_index("SpeechDataset", index, size());
  const Item it = item(index);
  const std::string key = str(kCacheVersion, "\ntext=", config_.texts[static_cast<size_t>(it.label)],
                              "\nvoice=", config_.voices[it.voice], "\nspeed=", config_.speeds[it.speed],
                              "\npitch=", config_.pitches[it.pitch], "\nrate=", config_.sample_rate,
                              "\nresampler=sinc_hann_w", kLowpassWidth, "_r", kRolloff, "\nespeak=", config_.espeak);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(key)));
  return config_.cache_dir + "/" + hex + ".wav";
}

SpeechDataset::SpeechDataset(SpeechConfig config) : config_(std::move(config)) {
  check_config(config_);
  if (config_.cache_dir.empty()) config_.cache_dir = default_speech_cache_dir();
  std::error_code ec;
  fs::create_directories(config_.cache_dir, ec);
  WICK_CHECK(fs::is_directory(config_.cache_dir), "SpeechDataset: cannot create the cache directory ",
             config_.cache_dir, ec ? ": " + ec.message() : std::string());
  const int64_t n = static_cast<int64_t>(config_.texts.size() * config_.voices.size() * config_.speeds.size() *
                                         config_.pitches.size());
  waves_.resize(static_cast<size_t>(n));

  std::vector<int64_t> missing;
  for (int64_t i = 0; i < n; ++i) {
    waves_[static_cast<size_t>(i)] = load_entry(cache_path(i), config_.sample_rate);
    if (!waves_[static_cast<size_t>(i)].defined()) missing.push_back(i);
  }

  // Render the missing entries: worker threads each take the next one, run
  // espeak-ng, resample, and store the result. The first error stops the rest.
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    NoGradGuard ng;
    while (!failed) {
      const size_t k = next++;
      if (k >= missing.size()) return;
      const int64_t i = missing[k];
      try {
        const Item it = item(i);
        int64_t rate = 0;
        Tensor native = espeak_render(config_.texts[static_cast<size_t>(it.label)], config_.voices[it.voice],
                                      config_.speeds[it.speed], config_.pitches[it.pitch], config_.cache_dir,
                                      config_.espeak, &rate);
        Tensor wave = resample(native, rate, config_.sample_rate, kLowpassWidth, kRolloff).contiguous();
        store_entry(config_.cache_dir, cache_path(i), wave, config_.sample_rate);
        waves_[static_cast<size_t>(i)] = wave;
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const size_t jobs = std::min(missing.size(), static_cast<size_t>(config_.jobs > 0 ? config_.jobs : hw));
  std::vector<std::thread> threads;
  for (size_t t = 1; t < jobs; ++t) threads.emplace_back(worker);
  if (jobs > 0) worker();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  renders_ = static_cast<int64_t>(missing.size());

  if (config_.num_samples > 0)
    for (auto& w : waves_) w = fix_length(w, config_.num_samples).contiguous();
}

SpeechExample SpeechDataset::get(int64_t index) const {
  check_index("SpeechDataset", index, size());
  const Item it = item(index);
  SpeechExample e;
  e.waveform = waves_[static_cast<size_t>(index)];
  e.label = it.label;
  e.text = config_.texts[static_cast<size_t>(it.label)];
  e.voice = config_.voices[it.voice];
  e.speed = config_.speeds[it.speed];
  e.pitch = config_.pitches[it.pitch];
  return e;
}

}  // namespace wick::data
