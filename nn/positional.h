// Positional encodings for sequence models.
//
// Sinusoidal (Vaswani et al. 2017): a fixed table added to the embeddings,
//   pe[p, 2i]   = sin(p / base^(2i / d))
//   pe[p, 2i+1] = cos(p / base^(2i / d)),        base = 10000
// Learned: a trainable table [max_len, d] added to the embeddings (GPT-2, ViT).
// Rotary (RoPE, Su et al. 2021, "RoFormer"): rotates pairs of channels of the
// queries and keys by an angle proportional to the position,
//   theta_i = base^(-2i / D), i < D/2, angle(p, i) = p * theta_i,
// so that <rope(q, m), rope(k, n)> depends on m - n only (relative position).
// Channels are paired as (i, i + D/2) (the "rotate half" layout of GPT-NeoX and
// LLaMA in Hugging Face transformers):
//   out[..., i]       = x[..., i] cos - x[..., i + D/2] sin
//   out[..., i + D/2] = x[..., i + D/2] cos + x[..., i] sin
//
// Every encoding takes a position `offset`: the position of the first token of
// the input, so that incremental decoding with a KV cache encodes a new token
// at its absolute position.
#pragma once

#include "nn/module.h"

namespace wick::nn {

// The [length, dim] sinusoidal table for positions offset .. offset+length-1
// (float64 values cast to `dtype`). dim may be odd (the last column is a sin).
Tensor sinusoidal_table(int64_t length, int64_t dim, int64_t offset = 0, double base = 10000.0,
                        DType dtype = kFloat32);

// RoPE applied to x [..., T, D] (D even) whose row t sits at position offset + t.
// Differentiable with respect to x.
Tensor apply_rotary_embedding(const Tensor& x, int64_t offset = 0, double base = 10000.0);

class SinusoidalPositionalEncoding : public Cloneable<SinusoidalPositionalEncoding> {
 public:
  SinusoidalPositionalEncoding(int64_t dim, int64_t max_len = 4096, double base = 10000.0);
  void reset() override;  // fills the `pe` buffer (non-persistent: not in state_dict)
  // x [B, T, dim] (or [T, dim]) + pe[offset : offset + T].
  Tensor forward(const Tensor& x, int64_t offset);
  Tensor forward(const Tensor& x) override { return forward(x, 0); }
  std::string name() const override { return "SinusoidalPositionalEncoding"; }
  std::string extra_repr() const override;

  int64_t dim, max_len;
  double base;
  Tensor pe;  // [max_len, dim]
};

class LearnedPositionalEmbedding : public Cloneable<LearnedPositionalEmbedding> {
 public:
  // weight ~ N(0, 0.02^2), as GPT-2.
  LearnedPositionalEmbedding(int64_t max_len, int64_t dim);
  void reset() override;
  // x [B, T, dim] (or [T, dim]) + weight[offset : offset + T].
  Tensor forward(const Tensor& x, int64_t offset);
  Tensor forward(const Tensor& x) override { return forward(x, 0); }
  std::string name() const override { return "LearnedPositionalEmbedding"; }
  std::string extra_repr() const override;

  int64_t max_len, dim;
  Tensor weight;  // [max_len, dim]
};

// RoPE as a module (no parameters): forward(x [..., T, dim], offset).
class RotaryEmbedding : public Cloneable<RotaryEmbedding> {
 public:
  explicit RotaryEmbedding(int64_t dim, double base = 10000.0);
  void reset() override {}
  Tensor forward(const Tensor& x, int64_t offset);
  Tensor forward(const Tensor& x) override { return forward(x, 0); }
  std::string name() const override { return "RotaryEmbedding"; }
  std::string extra_repr() const override;

  int64_t dim;
  double base;
};

}  // namespace wick::nn
