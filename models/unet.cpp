// UNet for 28x28 diffusion with time embedding and optional text
// cross-attention (see unet.h for the layout and formulas).
#include "models/unet.h"

#include <cmath>

#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/pool.h"
#include "ops/shape.h"

namespace wick::models {

Tensor timestep_embedding(const Tensor& t, int64_t dim, double max_period) {
  WICK_CHECK(t.defined() && t.dim() == 1, "timestep_embedding: t must be 1-d [B], got ",
             t.defined() ? shape_str(t.sizes()) : std::string("undefined"));
  WICK_CHECK(dim > 0 && dim % 2 == 0, "timestep_embedding: dim must be positive and even, got ", dim);
  WICK_CHECK(max_period > 0, "timestep_embedding: max_period must be positive, got ", max_period);
  const int64_t half = dim / 2;
  const DType dt = t.is_floating_point() ? t.dtype() : default_dtype();
  // ω_i = exp(−log(max_period) · i / half)
  Tensor freqs = exp(mul(arange(half, TensorOptions(dt).device(t.device())), -std::log(max_period) / half));
  Tensor args = mul(t.to(dt).unsqueeze(1), freqs.unsqueeze(0));  // [B, half]
  return cat({sin(args), cos(args)}, 1);
}

// ---------------------------------------------------------------------------
// Residual block.

UNetResBlock::UNetResBlock(int64_t in_channels_, int64_t out_channels_, int64_t time_embed_dim_, int64_t groups_,
                           double dropout_)
    : in_channels(in_channels_), out_channels(out_channels_), time_embed_dim(time_embed_dim_), groups(groups_),
      dropout_p(dropout_) {
  reset();
}

void UNetResBlock::reset() {
  norm1 = register_module("norm1", std::make_shared<nn::GroupNorm>(groups, in_channels));
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(in_channels, out_channels, 3, 1, 1));
  time_proj = register_module("time_proj", std::make_shared<nn::Linear>(time_embed_dim, out_channels));
  norm2 = register_module("norm2", std::make_shared<nn::GroupNorm>(groups, out_channels));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(dropout_p));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(out_channels, out_channels, 3, 1, 1));
  skip = in_channels != out_channels
             ? register_module("skip", std::make_shared<nn::Conv2d>(in_channels, out_channels, 1))
             : nullptr;
}

std::string UNetResBlock::extra_repr() const {
  return str("in_channels=", in_channels, ", out_channels=", out_channels, ", time_embed_dim=", time_embed_dim);
}

Tensor UNetResBlock::forward(const Tensor& x, const Tensor& temb) {
  Tensor h = conv1->forward(silu(norm1->forward(x)));
  h = add(h, time_proj->forward(silu(temb)).unsqueeze(2).unsqueeze(3));
  h = conv2->forward(dropout->forward(silu(norm2->forward(h))));
  return add(skip ? skip->forward(x) : x, h);
}

// ---------------------------------------------------------------------------
// Self- and cross-attention over the spatial positions.

UNetAttention::UNetAttention(int64_t channels_, int64_t heads_, int64_t context_dim_)
    : channels(channels_), heads(heads_), context_dim(context_dim_) {
  reset();
}

void UNetAttention::reset() {
  norm1 = register_module("norm1", std::make_shared<nn::LayerNorm>(std::vector<int64_t>{channels}));
  self_attn = register_module("self_attn", std::make_shared<nn::MultiheadAttention>(channels, heads));
  if (context_dim > 0) {
    norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(std::vector<int64_t>{channels}));
    cross_attn = register_module("cross_attn", std::make_shared<nn::MultiheadAttention>(
                                                   channels, heads, 0.0, true, context_dim, context_dim));
  } else {
    norm2 = nullptr;
    cross_attn = nullptr;
  }
}

std::string UNetAttention::extra_repr() const {
  return str("channels=", channels, ", heads=", heads, ", context_dim=", context_dim);
}

Tensor UNetAttention::forward(const Tensor& x, const Tensor& context, const Tensor& context_padding_mask) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  Tensor z = x.flatten(2).transpose(1, 2);  // [B, HW, C]
  Tensor zn = norm1->forward(z);
  z = add(z, self_attn->forward(zn, zn, zn).output);
  if (cross_attn && context.defined()) {
    nn::AttentionArgs args;
    args.key_padding_mask = context_padding_mask;
    z = add(z, cross_attn->forward(norm2->forward(z), context, context, args).output);
  }
  return z.transpose(1, 2).reshape({b, c, h, w});
}

// ---------------------------------------------------------------------------
// UNet.

UNet::UNet(UNetConfig config_) : config(config_) {
  const UNetConfig& c = config;
  const auto [c0, c1, c2] = c.channels;
  WICK_CHECK(c.in_channels > 0 && c.out_channels > 0 && c0 > 0 && c1 > 0 && c2 > 0 && c.groups > 0 && c.heads > 0,
             "UNet: channel counts, groups and heads must be positive");
  for (int64_t ch : {c0, c1, c2, c0 + c1, c1 + c2, 2 * c2})
    WICK_CHECK(ch % c.groups == 0, "UNet: groups (", c.groups, ") must divide every channel count (", c0, ", ", c1,
               ", ", c2, " and the concatenations ", c0 + c1, ", ", c1 + c2, ", ", 2 * c2, "); ", ch, " is not");
  WICK_CHECK(c2 % c.heads == 0, "UNet: heads (", c.heads, ") must divide the attention width channels[2] = ", c2);
  WICK_CHECK(c0 % 2 == 0, "UNet: channels[0] (the timestep-embedding width) must be even, got ", c0);
  WICK_CHECK(c.context_dim >= 0 && c.time_embed_dim >= 0, "UNet: context_dim and time_embed_dim must be >= 0");
  time_embed_dim = c.time_embed_dim > 0 ? c.time_embed_dim : 4 * c0;
  reset();
}

void UNet::reset() {
  const UNetConfig& c = config;
  const auto [c0, c1, c2] = c.channels;
  const int64_t T = time_embed_dim, g = c.groups;
  auto res = [&](const char* name, int64_t in, int64_t out) {
    return register_module(name, std::make_shared<UNetResBlock>(in, out, T, g, c.dropout));
  };
  auto attn = [&](const char* name, int64_t ch) {
    return register_module(name, std::make_shared<UNetAttention>(ch, c.heads, c.context_dim));
  };
  auto conv = [&](const char* name, int64_t in, int64_t out, int64_t stride) {
    return register_module(name, std::make_shared<nn::Conv2d>(in, out, 3, stride, 1));
  };
  time_fc1 = register_module("time_fc1", std::make_shared<nn::Linear>(c0, T));
  time_fc2 = register_module("time_fc2", std::make_shared<nn::Linear>(T, T));
  conv_in = conv("conv_in", c.in_channels, c0, 1);
  down0 = res("down0", c0, c0);
  downsample0 = conv("downsample0", c0, c0, 2);
  down1 = res("down1", c0, c1);
  downsample1 = conv("downsample1", c1, c1, 2);
  down2 = res("down2", c1, c2);
  down2_attn = attn("down2_attn", c2);
  mid1 = res("mid1", c2, c2);
  mid_attn = attn("mid_attn", c2);
  mid2 = res("mid2", c2, c2);
  up2 = res("up2", 2 * c2, c2);
  up2_attn = attn("up2_attn", c2);
  upsample1_conv = conv("upsample1_conv", c2, c2, 1);
  up1 = res("up1", c2 + c1, c1);
  upsample0_conv = conv("upsample0_conv", c1, c1, 1);
  up0 = res("up0", c1 + c0, c0);
  out_norm = register_module("out_norm", std::make_shared<nn::GroupNorm>(g, c0));
  conv_out = conv("conv_out", c0, c.out_channels, 1);
}

std::string UNet::extra_repr() const {
  const UNetConfig& c = config;
  return str("in_channels=", c.in_channels, ", out_channels=", c.out_channels, ", channels=(", c.channels[0], ", ",
             c.channels[1], ", ", c.channels[2], "), time_embed_dim=", time_embed_dim, ", context_dim=", c.context_dim);
}

Tensor UNet::forward(const Tensor& x, const Tensor& t, const Tensor& context, const Tensor& context_padding_mask) {
  const UNetConfig& c = config;
  WICK_CHECK(x.defined() && x.dim() == 4 && x.size(1) == c.in_channels, "UNet: x must be [B, in_channels=",
             c.in_channels, ", H, W], got ", x.defined() ? shape_str(x.sizes()) : std::string("undefined"));
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  WICK_CHECK(h % 4 == 0 && w % 4 == 0 && h > 0 && w > 0, "UNet: H and W must be positive multiples of 4 (two 2x "
             "downsamplings), got ", h, "x", w);
  WICK_CHECK(t.defined() && (t.dim() == 0 || (t.dim() == 1 && t.size(0) == b)),
             "UNet: t must be [B] = [", b, "] or 0-d, got ", t.defined() ? shape_str(t.sizes()) : std::string("undefined"));
  if (context.defined()) {
    WICK_CHECK(c.context_dim > 0, "UNet: a context was given but the model has no cross-attention (context_dim = 0)");
    WICK_CHECK(context.dim() == 3 && context.size(0) == b && context.size(2) == c.context_dim,
               "UNet: context must be [B=", b, ", L, context_dim=", c.context_dim, "], got ", shape_str(context.sizes()));
    if (context_padding_mask.defined())
      WICK_CHECK(context_padding_mask.dtype() == kBool && context_padding_mask.dim() == 2 &&
                     context_padding_mask.size(0) == b && context_padding_mask.size(1) == context.size(1),
                 "UNet: context_padding_mask must be bool [B, L] = [", b, ", ", context.size(1), "], got ",
                 shape_str(context_padding_mask.sizes()));
  } else {
    WICK_CHECK(!context_padding_mask.defined(), "UNet: context_padding_mask given without a context");
  }

  Tensor steps = t.dim() == 0 ? t.reshape({1}).expand({b}) : t;
  Tensor temb = time_fc2->forward(silu(time_fc1->forward(timestep_embedding(steps, c.channels[0]).to(x.dtype()))));
  const Tensor& ctx = context;
  const Tensor& ctx_mask = context_padding_mask;
  auto upsample = [](const Tensor& v) { return interpolate(v, std::nullopt, std::array<double, 2>{2.0, 2.0}); };

  Tensor s0 = down0->forward(conv_in->forward(x), temb);                         // [B, c0, H, W]
  Tensor s1 = down1->forward(downsample0->forward(s0), temb);                    // [B, c1, H/2, W/2]
  Tensor s2 = down2_attn->forward(down2->forward(downsample1->forward(s1), temb), ctx, ctx_mask);  // [B, c2, H/4, W/4]
  Tensor m = mid2->forward(mid_attn->forward(mid1->forward(s2, temb), ctx, ctx_mask), temb);
  Tensor u = up2_attn->forward(up2->forward(cat({m, s2}, 1), temb), ctx, ctx_mask);
  u = up1->forward(cat({upsample1_conv->forward(upsample(u)), s1}, 1), temb);
  u = up0->forward(cat({upsample0_conv->forward(upsample(u)), s0}, 1), temb);
  return conv_out->forward(silu(out_norm->forward(u)));
}

}  // namespace wick::models
