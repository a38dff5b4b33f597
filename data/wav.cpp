// WAV reading and writing (see data/wav.h for the format and scaling).
// The whole file is read into memory and parsed with bounds checks on every
// field, so a corrupt or truncated file is a wick::Error, never a read past
// the end of the buffer.
#include "data/wav.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "ops/creation.h"

namespace wick::data {

namespace {

constexpr uint16_t kTagPcm = 1, kTagFloat = 3, kTagExtensible = 0xFFFE;

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

struct Format {
  uint16_t tag = 0;
  int64_t channels = 0, sample_rate = 0, block_align = 0, bits = 0;
};

Format parse_fmt(const uint8_t* p, uint32_t size, const std::string& name) {
  WICK_CHECK(size >= 16, "read_wav: ", name, ": fmt chunk of ", size, " bytes is too short (need 16)");
  Format f;
  f.tag = u16(p);
  f.channels = u16(p + 2);
  f.sample_rate = u32(p + 4);
  f.block_align = u16(p + 12);
  f.bits = u16(p + 14);
  if (f.tag == kTagExtensible) {
    // WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) then the sub-format GUID,
    // whose first two bytes are the plain format tag.
    WICK_CHECK(size >= 40, "read_wav: ", name, ": extensible fmt chunk of ", size, " bytes is too short (need 40)");
    f.tag = u16(p + 24);
  }
  WICK_CHECK(f.tag == kTagPcm || f.tag == kTagFloat, "read_wav: ", name, ": unsupported encoding (format tag ",
             f.tag, "); only PCM (1) and IEEE float (3) are supported");
  WICK_CHECK(f.channels >= 1, "read_wav: ", name, ": the fmt chunk declares 0 channels");
  WICK_CHECK(f.sample_rate >= 1, "read_wav: ", name, ": the fmt chunk declares a sample rate of 0");
  if (f.tag == kTagPcm)
    WICK_CHECK(f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32, "read_wav: ", name,
               ": unsupported PCM sample size ", f.bits, " bits (supported: 8, 16, 24, 32)");
  else
    WICK_CHECK(f.bits == 32 || f.bits == 64, "read_wav: ", name, ": unsupported float sample size ", f.bits,
               " bits (supported: 32, 64)");
  WICK_CHECK(f.block_align == f.channels * f.bits / 8, "read_wav: ", name, ": block_align ", f.block_align,
             " does not match ", f.channels, " channels of ", f.bits, " bits");
  return f;
}

// One sample at p as a float in [-1, 1].
float decode_sample(const uint8_t* p, const Format& f) {
  if (f.tag == kTagFloat) {
    if (f.bits == 32) {
      uint32_t v = u32(p);
      float x;
      std::memcpy(&x, &v, 4);
      return x;
    }
    uint64_t v = static_cast<uint64_t>(u32(p)) | (static_cast<uint64_t>(u32(p + 4)) << 32);
    double x;
    std::memcpy(&x, &v, 8);
    return static_cast<float>(x);
  }
  switch (f.bits) {
    case 8:
      return static_cast<float>(static_cast<int>(p[0]) - 128) / 128.0f;
    case 16:
      return static_cast<float>(static_cast<int16_t>(u16(p))) / 32768.0f;
    case 24: {
      int32_t v = static_cast<int32_t>((static_cast<uint32_t>(p[0]) << 8) | (static_cast<uint32_t>(p[1]) << 16) |
                                       (static_cast<uint32_t>(p[2]) << 24)) >> 8;  // sign-extend
      return static_cast<float>(v) / 8388608.0f;
    }
    default:  // 32
      return static_cast<float>(static_cast<double>(static_cast<int32_t>(u32(p))) / 2147483648.0);
  }
}

void put_u16(std::vector<uint8_t>& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v & 0xFF));
  b.push_back(static_cast<uint8_t>((v >> 8) & 0xFF));
}
void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  put_u16(b, v & 0xFFFF);
  put_u16(b, v >> 16);
}
void put_tag(std::vector<uint8_t>& b, const char* t) { b.insert(b.end(), t, t + 4); }

}  // namespace

Wav decode_wav(const std::vector<uint8_t>& bytes, const std::string& name) {
  const size_t n = bytes.size();
  const uint8_t* b = bytes.data();
  WICK_CHECK(n >= 12, "read_wav: ", name, ": ", n, " bytes is too short to be a WAV file");
  WICK_CHECK(std::memcmp(b, "RIFF", 4) == 0 && std::memcmp(b + 8, "WAVE", 4) == 0, "read_wav: ", name,
             " is not a RIFF/WAVE file (bad magic)");
  bool have_fmt = false;
  Format f;
  size_t pos = 12;
  while (true) {
    WICK_CHECK(pos + 8 <= n, "read_wav: ", name, ": no data chunk",
               have_fmt ? "" : " and no fmt chunk", " (file truncated or not a WAV file)");
    const uint8_t* h = b + pos;
    const std::string id(reinterpret_cast<const char*>(h), 4);
    uint64_t size = u32(h + 4);
    pos += 8;
    const size_t remaining = n - pos;
    if (id == "data") {
      WICK_CHECK(have_fmt, "read_wav: ", name, ": data chunk before the fmt chunk");
      // Streaming writers leave the size at 0xFFFFFFFF: the data runs to the end of the file.
      if (size == 0xFFFFFFFFu) size = remaining - remaining % static_cast<size_t>(f.block_align);
      WICK_CHECK(size <= remaining, "read_wav: ", name, ": data chunk declares ", size, " bytes but only ",
                 remaining, " remain (truncated file)");
      WICK_CHECK(size % static_cast<uint64_t>(f.block_align) == 0, "read_wav: ", name, ": data chunk size ", size,
                 " is not a whole number of ", f.block_align, "-byte frames");
      const int64_t frames = static_cast<int64_t>(size) / f.block_align;
      Wav w;
      w.sample_rate = f.sample_rate;
      w.bits_per_sample = static_cast<int>(f.bits);
      w.is_float = f.tag == kTagFloat;
      w.samples = empty({f.channels, frames}, TensorOptions(kFloat32));
      float* out = w.samples.data_ptr<float>();
      const int64_t bps = f.bits / 8;
      for (int64_t t = 0; t < frames; ++t)
        for (int64_t c = 0; c < f.channels; ++c)
          out[c * frames + t] = decode_sample(b + pos + t * f.block_align + c * bps, f);
      return w;
    }
    WICK_CHECK(size <= remaining, "read_wav: ", name, ": '", id, "' chunk declares ", size, " bytes but only ",
               remaining, " remain (truncated file)");
    if (id == "fmt ") {
      f = parse_fmt(b + pos, static_cast<uint32_t>(size), name);
      have_fmt = true;
    }
    pos += static_cast<size_t>(size + (size & 1));  // chunks are padded to an even size
  }
}

Wav read_wav(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  WICK_CHECK(in.good(), "read_wav: cannot open ", path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  WICK_CHECK(!in.bad(), "read_wav: error reading ", path);
  return decode_wav(bytes, path);
}

std::vector<uint8_t> encode_wav(const Tensor& samples, int64_t sample_rate, WavEncoding encoding) {
  WICK_CHECK(samples.defined(), "write_wav: undefined samples");
  WICK_CHECK(samples.dim() == 1 || samples.dim() == 2, "write_wav: expected [frames] or [channels, frames], got shape ",
             shape_str(samples.sizes()));
  WICK_CHECK(sample_rate >= 1 && sample_rate <= 0xFFFFFFFFll, "write_wav: sample rate must be positive, got ",
             sample_rate);
  Tensor s = samples.dim() == 1 ? samples.unsqueeze(0) : samples;
  const int64_t channels = s.size(0), frames = s.size(1);
  WICK_CHECK(channels >= 1 && channels <= 0xFFFF, "write_wav: unsupported channel count ", channels);
  const std::vector<float> v = s.detach().cpu().tolist<float>();  // [channels, frames] row-major
  const int64_t bytes_per_sample = encoding == WavEncoding::Pcm16 ? 2 : 4;
  const uint64_t data_size = static_cast<uint64_t>(channels * frames * bytes_per_sample);
  WICK_CHECK(data_size <= 0xFFFFFFFFull - 36, "write_wav: ", data_size, " bytes of audio exceed the 4 GiB WAV limit");
  std::vector<uint8_t> b;
  b.reserve(44 + data_size);
  put_tag(b, "RIFF");
  put_u32(b, static_cast<uint32_t>(36 + data_size));
  put_tag(b, "WAVE");
  put_tag(b, "fmt ");
  put_u32(b, 16);
  put_u16(b, encoding == WavEncoding::Pcm16 ? kTagPcm : kTagFloat);
  put_u16(b, static_cast<uint32_t>(channels));
  put_u32(b, static_cast<uint32_t>(sample_rate));
  put_u32(b, static_cast<uint32_t>(sample_rate * channels * bytes_per_sample));
  put_u16(b, static_cast<uint32_t>(channels * bytes_per_sample));
  put_u16(b, static_cast<uint32_t>(8 * bytes_per_sample));
  put_tag(b, "data");
  put_u32(b, static_cast<uint32_t>(data_size));
  for (int64_t t = 0; t < frames; ++t) {
    for (int64_t c = 0; c < channels; ++c) {
      const float x = v[static_cast<size_t>(c * frames + t)];
      if (encoding == WavEncoding::Float32) {
        uint32_t u;
        std::memcpy(&u, &x, 4);
        put_u32(b, u);
      } else {
        const float clamped = std::isnan(x) ? 0.0f : std::min(1.0f, std::max(-1.0f, x));
        const long q = std::min(32767L, std::lround(clamped * 32768.0f));
        put_u16(b, static_cast<uint16_t>(static_cast<int16_t>(q)));
      }
    }
  }
  return b;
}

void write_wav(const std::string& path, const Tensor& samples, int64_t sample_rate, WavEncoding encoding) {
  const std::vector<uint8_t> bytes = encode_wav(samples, sample_rate, encoding);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  WICK_CHECK(out.good(), "write_wav: cannot open ", path, " for writing");
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  WICK_CHECK(!out.fail(), "write_wav: error writing ", path);
}

}  // namespace wick::data
