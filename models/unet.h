// A small UNet for denoising diffusion on 28x28 images (Ho et al. 2020;
// Ronneberger et al. 2015), with an optional cross-attention on text tokens
// (Rombach et al. 2022) for text-conditional generation.
//
// Time: e(t) = [sin(t ω_i), cos(t ω_i)], ω_i = 10000^(−i/half) (timestep_embedding),
//       temb = Linear(SiLU(Linear(e(t))))                                   [B, time_embed_dim]
// ResBlock(x, temb): h = conv1(SiLU(GN1(x))) + Linear(SiLU(temb))[:, :, None, None]
//                    h = conv2(dropout(SiLU(GN2(h))));  out = skip(x) + h   (skip: 1x1 conv if C changes)
// Attention(x, ctx): tokens z = x as [B, HW, C]
//                    z = z + SelfAttn(LN1(z));  z = z + CrossAttn(LN2(z), ctx)  (with context_dim > 0)
// Layout, channels (c0, c1, c2) at resolutions (H, H/2, H/4) = (28, 14, 7):
//   conv_in                        -> c0 @28
//   down0  Res(c0 -> c0)           -> skip0 @28;  downsample0 (conv 3x3, stride 2) -> @14
//   down1  Res(c0 -> c1)           -> skip1 @14;  downsample1                      -> @7
//   down2  Res(c1 -> c2) + Attn    -> skip2 @7
//   mid    Res(c2) + Attn + Res(c2)
//   up2    Res(c2 + c2 -> c2) + Attn @7;  upsample1 (nearest x2, conv 3x3) -> @14
//   up1    Res(c2 + c1 -> c1)      @14;   upsample0                        -> @28
//   up0    Res(c1 + c0 -> c0)      @28
//   conv_out(SiLU(GN(h)))          -> out_channels @28
// Skips are concatenated on the channel dim. Attention (self, and cross when
// configured) runs at the lowest resolution only. H and W must be divisible by 4.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "nn/attention.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/norm.h"

namespace wick::models {

// Sinusoidal embedding [B, dim] of timesteps t [B] (integer or floating):
// first half sin(t ω_i), second half cos(t ω_i), ω_i = max_period^(−i/(dim/2)).
// dim must be even.
Tensor timestep_embedding(const Tensor& t, int64_t dim, double max_period = 10000.0);

struct UNetConfig {
  int64_t in_channels = 1;
  int64_t out_channels = 1;
  std::array<int64_t, 3> channels = {16, 32, 64};  // at H, H/2, H/4
  int64_t time_embed_dim = 0;                        // 0: 4 * channels[0]
  int64_t groups = 8;                                // GroupNorm groups (divides every channel count)
  int64_t heads = 4;
  int64_t context_dim = 0;                           // text-token width; 0 = no cross-attention
  double dropout = 0.0;
};

class UNetResBlock : public nn::Cloneable<UNetResBlock> {
 public:
  UNetResBlock(int64_t in_channels, int64_t out_channels, int64_t time_embed_dim, int64_t groups, double dropout);
  void reset() override;
  // x [B, in, H, W], temb [B, time_embed_dim] -> [B, out, H, W].
  Tensor forward(const Tensor& x, const Tensor& temb);
  std::string name() const override { return "UNetResBlock"; }
  std::string extra_repr() const override;

  int64_t in_channels, out_channels, time_embed_dim, groups;
  double dropout_p;
  std::shared_ptr<nn::GroupNorm> norm1, norm2;
  std::shared_ptr<nn::Conv2d> conv1, conv2, skip;  // skip: null when in == out
  std::shared_ptr<nn::Linear> time_proj;
  std::shared_ptr<nn::Dropout> dropout;
};

class UNetAttention : public nn::Cloneable<UNetAttention> {
 public:
  UNetAttention(int64_t channels, int64_t heads, int64_t context_dim);
  void reset() override;
  // x [B, C, H, W]; context [B, L, context_dim] (undefined: no cross-attention);
  // context_padding_mask [B, L] bool, true = padding.
  Tensor forward(const Tensor& x, const Tensor& context, const Tensor& context_padding_mask);
  std::string name() const override { return "UNetAttention"; }
  std::string extra_repr() const override;

  int64_t channels, heads, context_dim;
  std::shared_ptr<nn::LayerNorm> norm1, norm2;  // norm2: null without context
  std::shared_ptr<nn::MultiheadAttention> self_attn, cross_attn;  // cross_attn: null without context
};

class UNet : public nn::Cloneable<UNet> {
 public:
  explicit UNet(UNetConfig config);
  void reset() override;
  // x [B, in_channels, H, W]; t [B] or 0-d timesteps; context [B, L,
  // context_dim] text tokens (needs context_dim > 0; undefined: the
  // cross-attention is skipped, an unconditional pass); context_padding_mask
  // [B, L] bool, true = padding. Returns [B, out_channels, H, W].
  Tensor forward(const Tensor& x, const Tensor& t, const Tensor& context = {}, const Tensor& context_padding_mask = {});
  std::string name() const override { return "UNet"; }
  std::string extra_repr() const override;

  UNetConfig config;
  int64_t time_embed_dim;  // resolved
  std::shared_ptr<nn::Linear> time_fc1, time_fc2;
  std::shared_ptr<nn::Conv2d> conv_in, downsample0, downsample1, upsample1_conv, upsample0_conv, conv_out;
  std::shared_ptr<UNetResBlock> down0, down1, down2, mid1, mid2, up2, up1, up0;
  std::shared_ptr<UNetAttention> down2_attn, mid_attn, up2_attn;
  std::shared_ptr<nn::GroupNorm> out_norm;
};

}  // namespace wick::models
