// WAV reading and writing: files written by Python's wave module and by hand
// (tests/fixtures/gen_audio.py) in every supported encoding, round trips, and
// corrupt or truncated files.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <unistd.h>

#include "data/wav.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
using namespace wick::data;

namespace {

std::string fixture_wav(const std::string& name) { return std::string(WICK_FIXTURES_DIR) + "/audio/" + name + ".wav"; }

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("wick_test_wav_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

TEST(Wav, ReadsFilesWrittenByPython) {
  struct Case {
    const char* name;
    int64_t rate, channels;
    int bits;
    bool is_float;
  };
  for (const Case& c : {Case{"pcm16_stereo", 22050, 2, 16, false}, Case{"pcm8_mono", 8000, 1, 8, false},
                        Case{"pcm24_mono", 48000, 1, 24, false}, Case{"pcm32_3ch", 16000, 3, 32, false},
                        Case{"float32_chunks", 44100, 2, 32, true}, Case{"extensible_pcm24", 16000, 1, 24, false}}) {
    SCOPED_TRACE(c.name);
    Wav w = read_wav(fixture_wav(c.name));
    EXPECT_EQ(w.sample_rate, c.rate);
    EXPECT_EQ(w.bits_per_sample, c.bits);
    EXPECT_EQ(w.is_float, c.is_float);
    EXPECT_EQ(w.samples.dtype(), kFloat32);
    EXPECT_EQ(w.samples.size(0), c.channels);
    // Exact: every integer scaling is by a power of two.
    EXPECT_TRUE(all_equal(w.samples, fixture(std::string("audio/") + c.name)));
  }
  // The extremes of 16-bit PCM map to -1 and 32767/32768.
  Wav w = read_wav(fixture_wav("pcm16_stereo"));
  EXPECT_EQ(w.samples[0][0].item(), -1.0);
  EXPECT_EQ(w.samples[1][0].item(), 32767.0 / 32768.0);
}

TEST(Wav, RoundTrips) {
  // 16-bit: values read from a 16-bit file are written back bit for bit.
  const std::string src = fixture_wav("pcm16_stereo");
  Wav w = read_wav(src);
  const std::string p16 = temp_path("rt16.wav");
  write_wav(p16, w.samples, w.sample_rate);
  EXPECT_EQ(file_bytes(p16), file_bytes(src));
  // float32: exact, including values outside [-1, 1]; mono [frames] input.
  Tensor x = rand_f64({300}, 1, false) * 1.5;
  const std::string pf = temp_path("rtf.wav");
  write_wav(pf, x, 16000, WavEncoding::Float32);
  Wav r = read_wav(pf);
  EXPECT_EQ(r.sample_rate, 16000);
  EXPECT_TRUE(r.is_float);
  EXPECT_TRUE(all_equal(r.samples, x.to(kFloat32).unsqueeze(0)));
  // 16-bit quantizes to the nearest step of 1/32768 and clamps.
  Tensor y = tensor({0.5f, -0.25f, 2.0f, -3.0f, 1e-6f, 1.0f}, Shape{1, 6});
  write_wav(p16, y, 8000);
  Wav q = read_wav(p16);
  EXPECT_TRUE(all_equal(q.samples, tensor({0.5f, -0.25f, 32767.f / 32768.f, -1.0f, 0.0f, 32767.f / 32768.f},
                                          Shape{1, 6})));
  // In memory too, with an empty signal.
  Wav e = decode_wav(encode_wav(zeros({2, 0}), 100, WavEncoding::Pcm16));
  EXPECT_EQ(e.samples.sizes(), (Shape{2, 0}));
  std::remove(p16.c_str());
  std::remove(pf.c_str());
}

TEST(Wav, CorruptAndTruncatedFiles) {
  const std::vector<uint8_t> good = file_bytes(fixture_wav("pcm16_stereo"));
  ASSERT_EQ(good.size(), 44u + 200u);
  EXPECT_WICK_ERROR(read_wav("/nonexistent/x.wav"), "read_wav: cannot open /nonexistent/x.wav");
  EXPECT_WICK_ERROR(decode_wav({'R', 'I', 'F', 'F'}, "tiny"), "read_wav: tiny: 4 bytes is too short");
  auto bad = good;
  bad[0] = 'X';
  EXPECT_WICK_ERROR(decode_wav(bad, "f"), "read_wav: f is not a RIFF/WAVE file (bad magic)");
  // Cut inside the data: the data chunk says 200 bytes.
  std::vector<uint8_t> cut(good.begin(), good.begin() + 100);
  EXPECT_WICK_ERROR(decode_wav(cut, "f"), "read_wav: f: data chunk declares 200 bytes but only 56 remain (truncated");
  // Cut inside the fmt chunk, and right after the RIFF header.
  EXPECT_WICK_ERROR(decode_wav(std::vector<uint8_t>(good.begin(), good.begin() + 30), "f"),
                    "read_wav: f: 'fmt ' chunk declares 16 bytes but only 10 remain");
  EXPECT_WICK_ERROR(decode_wav(std::vector<uint8_t>(good.begin(), good.begin() + 12), "f"),
                    "read_wav: f: no data chunk and no fmt chunk");
  // Unsupported encodings and inconsistent headers.
  bad = good;
  bad[20] = 2;  // ADPCM
  EXPECT_WICK_ERROR(decode_wav(bad, "f"), "read_wav: f: unsupported encoding (format tag 2)");
  bad = good;
  bad[34] = 12;  // 12-bit PCM
  EXPECT_WICK_ERROR(decode_wav(bad, "f"), "read_wav: f: unsupported PCM sample size 12 bits");
  bad = good;
  bad[32] = 3;  // block_align
  EXPECT_WICK_ERROR(decode_wav(bad, "f"), "read_wav: f: block_align 3 does not match 2 channels of 16 bits");
  bad = good;
  bad[22] = 0;  // channels
  EXPECT_WICK_ERROR(decode_wav(bad, "f"), "read_wav: f: the fmt chunk declares 0 channels");
  bad = good;
  put_u32(bad, 40, 199);  // not a whole frame
  EXPECT_WICK_ERROR(decode_wav(bad, "f"), "read_wav: f: data chunk size 199 is not a whole number of 4-byte frames");
  // data before fmt: swap the chunk ids.
  bad = good;
  std::copy_n("data", 4, bad.begin() + 12);
  EXPECT_WICK_ERROR(decode_wav(bad, "f"), "read_wav: f: data chunk before the fmt chunk");
  // A streaming writer's 0xFFFFFFFF data size reads to the end of the file.
  auto stream = good;
  put_u32(stream, 40, 0xFFFFFFFFu);
  EXPECT_TRUE(all_equal(decode_wav(stream).samples, decode_wav(good).samples));
  // Writer errors.
  EXPECT_WICK_ERROR(write_wav("/nonexistent/dir/x.wav", zeros({4}), 8000), "write_wav: cannot open");
  EXPECT_WICK_ERROR(encode_wav(zeros({1, 2, 3}), 8000), "write_wav: expected [frames] or [channels, frames]");
  EXPECT_WICK_ERROR(encode_wav(zeros({4}), 0), "write_wav: sample rate must be positive");
}
