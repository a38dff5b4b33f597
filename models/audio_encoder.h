// An audio encoder over log-mel spectrograms, shaped like Whisper's encoder
// (Radford et al. 2022) in miniature, pooled to one embedding per clip.
//
//   mel [B, n_mels, T]
//   h = GELU(conv1(mel))             Conv1d(n_mels -> width, k 3, stride 1, pad 1)   [B, width, T]
//   h = GELU(conv2(h))               Conv1d(width -> width, k 3, stride 2, pad 1)    [B, width, T']
//   h = hᵀ + sinusoidal positions    T' = ⌊(T − 1)/2⌋ + 1 = ⌈T/2⌉ frames            [B, T', width]
//   h = TransformerEncoder(h)        pre-LN blocks, final LayerNorm (Whisper's ln_post)
//   embedding = mean over valid frames of h, then Linear(width -> out_dim)        [B, out_dim]
//
// Variable lengths: given the number of valid input frames per clip, the
// front-end zeroes the input and the conv1 outputs beyond each clip's end (so
// both convs see the zero padding of a clip cut to its length), the attention
// masks the
// frames past ⌈len/2⌉, and pooling averages the valid frames only: a padded
// clip gets the embedding of the clip cut to its length.
#pragma once

#include <memory>
#include <string>

#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/positional.h"
#include "nn/transformer.h"

namespace wick::models {

struct AudioEncoderConfig {
  int64_t n_mels = 64;
  int64_t width = 64;
  int64_t depth = 2;
  int64_t heads = 4;
  int64_t ffn = 256;
  int64_t max_frames = 1500;  // after the stride-2 conv (Whisper: 30 s at 100 frames/s -> 1500)
  int64_t out_dim = 64;       // the projected embedding
  double dropout = 0.0;
  std::string activation = "gelu";
};

class AudioEncoder : public nn::Cloneable<AudioEncoder> {
 public:
  explicit AudioEncoder(AudioEncoderConfig config);
  void reset() override;

  // Frames after the front-end for T input frames: ⌊(T − 1)/2⌋ + 1.
  static int64_t output_frames(int64_t input_frames) { return (input_frames - 1) / 2 + 1; }

  // Per-frame features [B, T', width] after the final LayerNorm. lengths:
  // int64 [B] valid input frames per clip (undefined: all T).
  Tensor features(const Tensor& mel, const Tensor& lengths = {});
  // Pooled and projected embedding [B, out_dim].
  Tensor embed(const Tensor& mel, const Tensor& lengths = {});
  Tensor forward(const Tensor& mel) override { return embed(mel); }

  std::string name() const override { return "AudioEncoder"; }
  std::string extra_repr() const override;

  AudioEncoderConfig config;
  std::shared_ptr<nn::Conv1d> conv1, conv2;
  std::shared_ptr<nn::SinusoidalPositionalEncoding> positions;  // a non-persistent buffer, no parameters
  std::shared_ptr<nn::TransformerEncoder> encoder;
  std::shared_ptr<nn::Linear> projection;

 private:
  // [B, T', width] features and the [B, T'] padding mask (true = past the end;
  // undefined without lengths).
  std::pair<Tensor, Tensor> features_and_mask(const Tensor& mel, const Tensor& lengths);
};

}  // namespace wick::models
