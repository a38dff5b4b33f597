// Whisper-like audio encoder over log-mel spectrograms (see audio_encoder.h).
#include "models/audio_encoder.h"

#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"

namespace wick::models {

AudioEncoder::AudioEncoder(AudioEncoderConfig config_) : config(std::move(config_)) {
  const AudioEncoderConfig& c = config;
  WICK_CHECK(c.n_mels > 0 && c.width > 0 && c.depth >= 0 && c.heads > 0 && c.ffn > 0 && c.max_frames > 0 &&
                 c.out_dim > 0,
             "AudioEncoder: n_mels, width, heads, ffn, max_frames and out_dim must be positive and depth >= 0");
  WICK_CHECK(c.width % c.heads == 0, "AudioEncoder: width (", c.width, ") must be divisible by heads (", c.heads, ")");
  reset();
}

void AudioEncoder::reset() {
  const AudioEncoderConfig& c = config;
  conv1 = register_module("conv1", std::make_shared<nn::Conv1d>(c.n_mels, c.width, 3, 1, 1));
  conv2 = register_module("conv2", std::make_shared<nn::Conv1d>(c.width, c.width, 3, 2, 1));
  positions = register_module("positions", std::make_shared<nn::SinusoidalPositionalEncoding>(c.width, c.max_frames));
  nn::TransformerLayerOptions layer;
  layer.d_model = c.width;
  layer.nhead = c.heads;
  layer.dim_feedforward = c.ffn;
  layer.dropout = c.dropout;
  layer.activation = c.activation;
  encoder = register_module("encoder", std::make_shared<nn::TransformerEncoder>(layer, c.depth, true));
  projection = register_module("projection", std::make_shared<nn::Linear>(c.width, c.out_dim));
}

std::string AudioEncoder::extra_repr() const {
  const AudioEncoderConfig& c = config;
  return str("n_mels=", c.n_mels, ", width=", c.width, ", depth=", c.depth, ", heads=", c.heads,
             ", out_dim=", c.out_dim);
}

std::pair<Tensor, Tensor> AudioEncoder::features_and_mask(const Tensor& mel, const Tensor& lengths) {
  const AudioEncoderConfig& c = config;
  WICK_CHECK(mel.defined() && mel.dim() == 3 && mel.size(1) == c.n_mels, "AudioEncoder: mel must be [B, n_mels=",
             c.n_mels, ", T], got ", mel.defined() ? shape_str(mel.sizes()) : std::string("undefined"));
  const int64_t b = mel.size(0), t = mel.size(2);
  WICK_CHECK(t >= 1, "AudioEncoder: the spectrogram has no frames");
  const int64_t t_out = output_frames(t);
  WICK_CHECK(t_out <= c.max_frames, "AudioEncoder: ", t, " input frames give ", t_out, " encoder frames, more than max_frames=",
             c.max_frames);
  const TensorOptions index_opts = TensorOptions(kInt64).device(mel.device());

  Tensor x = mel;
  Tensor padding, valid_in;
  if (lengths.defined()) {
    WICK_CHECK(lengths.dim() == 1 && lengths.size(0) == b && is_integral(lengths.dtype()),
               "AudioEncoder: lengths must be integer [B] = [", b, "], got ", lengths.dtype(), " ",
               shape_str(lengths.sizes()));
    for (int64_t len : lengths.to(kInt64).cpu().tolist<int64_t>())
      WICK_CHECK(len >= 1 && len <= t, "AudioEncoder: a length of ", len, " frames is outside [1, T=", t, "]");
    Tensor len = lengths.to(kInt64).to(mel.device()).unsqueeze(1);  // [B, 1]
    // Zero the input and conv1's outputs past each clip's end: conv1 and conv2
    // then see the zero padding they would see at the end of the clip cut to
    // its length.
    valid_in = lt(arange(t, index_opts).unsqueeze(0), len).unsqueeze(1);  // [B, 1, T]
    x = where(valid_in, x, 0.0);  // whatever the padding holds (even NaN) reads as zeros
    Tensor len_out = add(floor(div(sub(len, 1), 2.0)), 1.0);        // ⌊(len − 1)/2⌋ + 1
    padding = ge(arange(t_out, index_opts).unsqueeze(0), len_out);  // [B, T']
  }
  Tensor h = gelu(conv1->forward(x));  // [B, width, T]
  if (valid_in.defined()) h = where(valid_in, h, 0.0);
  h = gelu(conv2->forward(h)).transpose(1, 2);  // [B, T', width]
  h = positions->forward(h);
  nn::EncoderLayerArgs args;
  args.src_key_padding_mask = padding;
  return {encoder->forward(h, args), padding};
}

Tensor AudioEncoder::features(const Tensor& mel, const Tensor& lengths) { return features_and_mask(mel, lengths).first; }

Tensor AudioEncoder::embed(const Tensor& mel, const Tensor& lengths) {
  auto [h, padding] = features_and_mask(mel, lengths);
  Tensor pooled;
  if (padding.defined()) {
    Tensor keep = logical_not(padding).to(h.dtype()).unsqueeze(2);  // [B, T', 1]
    pooled = div(sum(mul(h, keep), {1}), sum(keep, {1}));
  } else {
    pooled = mean(h, {1});
  }
  return projection->forward(pooled);
}

}  // namespace wick::models
