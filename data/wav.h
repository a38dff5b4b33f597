// WAV files (RIFF/WAVE): read PCM and IEEE-float audio into a float32
// tensor, write 16-bit PCM or 32-bit float.
//
// The format: "RIFF" <size> "WAVE", then chunks <4-byte id> <little-endian
// u32 size> <data> (padded to an even size). "fmt " gives the encoding
// (format tag 1 = PCM, 3 = IEEE float, 0xFFFE = extensible, whose
// sub-format GUID starts with the real tag), the channel count, the sample
// rate and the bits per sample; "data" holds the interleaved frames. Other
// chunks (LIST, fact, cue, ...) are skipped.
//
// Samples are scaled to [-1, 1] the way torchaudio and soundfile do: a
// signed b-bit integer v becomes v / 2^(b-1); 8-bit PCM is unsigned, so
// (v - 128) / 128. Writing 16-bit PCM clamps to [-1, 1] and rounds x 32768
// (the top value saturates at 32767), so 16-bit files round-trip exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace wick::data {

struct Wav {
  Tensor samples;            // float32 [channels, frames], values in [-1, 1] (float files may exceed it)
  int64_t sample_rate = 0;   // frames per second
  int bits_per_sample = 0;   // of the file: 8, 16, 24, 32 or 64
  bool is_float = false;     // IEEE float in the file
};

// Reads a WAV file. Throws wick::Error naming the file and what is wrong
// (not a RIFF/WAVE file, no fmt or data chunk, unsupported encoding,
// truncated data, ...).
Wav read_wav(const std::string& path);
// The same from bytes in memory; `name` is used in error messages.
Wav decode_wav(const std::vector<uint8_t>& bytes, const std::string& name = "<memory>");

enum class WavEncoding { Pcm16, Float32 };

// Writes samples ([frames] for mono or [channels, frames], any float or
// integer dtype, converted to float) as a canonical 44-byte-header WAV.
void write_wav(const std::string& path, const Tensor& samples, int64_t sample_rate,
               WavEncoding encoding = WavEncoding::Pcm16);
std::vector<uint8_t> encode_wav(const Tensor& samples, int64_t sample_rate, WavEncoding encoding = WavEncoding::Pcm16);

}  // namespace wick::data
