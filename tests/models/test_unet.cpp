// models/unet.h: parameter count from the configuration (with and without
// cross-attention), the timestep embedding, shapes, the text context and its
// padding mask, clone(), overfitting a tiny denoising batch, errors.
#include "models/unet.h"

#include <cmath>

#include "optim/adam.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
using models::UNet;
using models::UNetConfig;

namespace {

UNetConfig tiny(int64_t context_dim = 12) {
  UNetConfig c;
  c.channels = {8, 16, 16};
  c.groups = 4;
  c.heads = 2;
  c.time_embed_dim = 16;
  c.context_dim = context_dim;
  return c;
}

int64_t conv(int64_t in, int64_t out, int64_t k) { return in * out * k * k + out; }
int64_t linear(int64_t in, int64_t out) { return in * out + out; }
int64_t norm(int64_t c) { return 2 * c; }
int64_t res(int64_t in, int64_t out, int64_t t) {
  return norm(in) + conv(in, out, 3) + linear(t, out) + norm(out) + conv(out, out, 3) + (in != out ? conv(in, out, 1) : 0);
}
int64_t attn(int64_t c, int64_t ctx) {
  const int64_t self = norm(c) + (3 * c * c + 3 * c) + linear(c, c);  // packed q, k, v + out_proj
  const int64_t cross = ctx > 0 ? norm(c) + (c * c + 2 * c * ctx + 3 * c) + linear(c, c) : 0;  // q [c,c], k/v [c,ctx]
  return self + cross;
}

double value_of(const Tensor& t) { return t.item<double>(); }

}  // namespace

TEST(UNet, ParameterCountMatchesFormula) {
  for (int64_t ctx : {0, 12}) {
    UNetConfig cfg = tiny(ctx);
    UNet model(cfg);
    const auto [c0, c1, c2] = cfg.channels;
    const int64_t T = cfg.time_embed_dim, in = cfg.in_channels, out = cfg.out_channels;
    const int64_t time = linear(c0, T) + linear(T, T);
    const int64_t down = conv(in, c0, 3) + res(c0, c0, T) + conv(c0, c0, 3) + res(c0, c1, T) + conv(c1, c1, 3) +
                         res(c1, c2, T) + attn(c2, ctx);
    const int64_t mid = 2 * res(c2, c2, T) + attn(c2, ctx);
    const int64_t up = res(2 * c2, c2, T) + attn(c2, ctx) + conv(c2, c2, 3) + res(c2 + c1, c1, T) + conv(c1, c1, 3) +
                       res(c1 + c0, c0, T);
    const int64_t head = norm(c0) + conv(c0, out, 3);
    EXPECT_EQ(model.num_parameters(), time + down + mid + up + head) << ctx;
  }
  // Default time_embed_dim is 4 * channels[0].
  UNetConfig d = tiny(0);
  d.time_embed_dim = 0;
  EXPECT_EQ(UNet(d).time_embed_dim, 32);
}

TEST(UNet, TimestepEmbedding) {
  // t = 0: sin 0 = 0 and cos 0 = 1; ω_0 = 1 so column 0 is sin t.
  Tensor e = models::timestep_embedding(tensor({0.0, 2.0}, Shape{2}, kFloat64), 6);
  EXPECT_EQ(e.sizes(), (Shape{2, 6}));
  EXPECT_TRUE(all_close(e[0], tensor({0.0, 0.0, 0.0, 1.0, 1.0, 1.0}, Shape{6}, kFloat64), 1e-15));
  const double w1 = std::pow(10000.0, -1.0 / 3), w2 = std::pow(10000.0, -2.0 / 3);
  Tensor expect = tensor({std::sin(2.0), std::sin(2 * w1), std::sin(2 * w2), std::cos(2.0), std::cos(2 * w1),
                          std::cos(2 * w2)},
                         Shape{6}, kFloat64);
  EXPECT_TRUE(all_close(e[1], expect, 1e-12));
  // Integer timesteps use the default float dtype.
  EXPECT_EQ(models::timestep_embedding(tensor({int64_t{3}}), 4).dtype(), kFloat32);
  EXPECT_WICK_ERROR(models::timestep_embedding(tensor({1.0f}), 5), "dim must be positive and even, got 5");
}

TEST(UNet, ShapesContextAndMask) {
  manual_seed(1);
  NoGradGuard no_grad;  // forward passes only: keep the test fast
  UNet model(tiny());
  Tensor x = randn({2, 1, 28, 28});
  Tensor t = tensor({int64_t{10}, int64_t{500}});
  Tensor ctx = randn({2, 3, 12});
  Tensor y = model.forward(x, t, ctx);
  EXPECT_EQ(y.sizes(), (Shape{2, 1, 28, 28}));
  // The context and the timestep both change the output.
  EXPECT_FALSE(all_close(model.forward(x, t, randn({2, 3, 12})), y, 1e-4));
  EXPECT_FALSE(all_close(model.forward(x, tensor({int64_t{11}, int64_t{500}}), ctx), y, 1e-4));
  // A 0-d t is broadcast over the batch.
  EXPECT_TRUE(all_close(model.forward(x, tensor({int64_t{7}}).reshape({}), ctx),
                        model.forward(x, tensor({int64_t{7}, int64_t{7}}), ctx), 0, 0));
  // Padded context tokens are ignored: 3 tokens + 2 masked tokens = the 3 tokens.
  Tensor padded = cat({ctx, randn({2, 2, 12})}, 1);
  Tensor mask = tensor({false, false, false, true, true, false, false, false, true, true}, Shape{2, 5});
  EXPECT_TRUE(all_close(model.forward(x, t, padded, mask), y, 1e-5, 1e-4));
  // Other sizes divisible by 4, and several channels.
  UNetConfig rgb = tiny(0);
  rgb.in_channels = 3;
  rgb.out_channels = 6;
  EXPECT_EQ(UNet(rgb).forward(randn({1, 3, 16, 12}), tensor({int64_t{1}})).sizes(), (Shape{1, 6, 16, 12}));
}

TEST(UNet, CloneIsDeepAndEqual) {
  manual_seed(2);
  auto model = std::make_shared<UNet>(tiny());
  auto copy = nn::clone(model);
  NoGradGuard no_grad;
  Tensor x = randn({1, 1, 28, 28}), t = tensor({int64_t{3}}), ctx = randn({1, 2, 12});
  EXPECT_TRUE(all_close(copy->forward(x, t, ctx), model->forward(x, t, ctx), 0, 0));
  copy->mid_attn->cross_attn->out_proj->weight.mul_(3.0);
  EXPECT_FALSE(all_close(copy->forward(x, t, ctx), model->forward(x, t, ctx), 1e-5));
}

TEST(UNet, OverfitsATinyDenoisingBatch) {
  // ε-prediction on a fixed batch: x_t = sqrt(ᾱ) x0 + sqrt(1 − ᾱ) ε; the loss
  // ‖UNet(x_t, t, ctx) − ε‖² falls well below its starting value (≈ 1).
  manual_seed(3);
  UNet model(tiny());
  Tensor x0 = randn({2, 1, 28, 28}), eps = randn({2, 1, 28, 28}), ctx = randn({2, 3, 12});
  Tensor t = tensor({int64_t{100}, int64_t{700}});
  Tensor abar = tensor({0.9f, 0.3f}, Shape{2, 1, 1, 1});
  Tensor xt = add(mul(sqrt(abar), x0), mul(sqrt(rsub(abar, 1.0)), eps));
  optim::Adam opt(model.parameters(), {.lr = 5e-3});
  double first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    opt.zero_grad();
    Tensor loss = mse_loss(model.forward(xt, t, ctx), eps);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_GT(first, 0.5);
  EXPECT_LT(last, 0.4 * first);  // about 0.23 after 20 steps
}

TEST(UNet, Errors) {
  UNet model(tiny());
  Tensor x = randn({2, 1, 28, 28}), t = tensor({int64_t{1}, int64_t{2}});
  EXPECT_WICK_ERROR(model.forward(randn({2, 2, 28, 28}), t), "UNet: x must be [B, in_channels=1, H, W]");
  EXPECT_WICK_ERROR(model.forward(randn({2, 1, 26, 28}), t), "H and W must be positive multiples of 4");
  EXPECT_WICK_ERROR(model.forward(x, tensor({int64_t{1}})), "UNet: t must be [B] = [2] or 0-d, got [1]");
  EXPECT_WICK_ERROR(model.forward(x, t, randn({2, 3, 5})), "context must be [B=2, L, context_dim=12]");
  EXPECT_WICK_ERROR(model.forward(x, t, randn({2, 3, 12}), zeros({2, 4}, kBool)), "context_padding_mask must be bool");
  UNet plain(tiny(0));
  EXPECT_WICK_ERROR(plain.forward(x, t, randn({2, 3, 12})), "no cross-attention (context_dim = 0)");
  UNetConfig bad = tiny();
  bad.groups = 3;
  EXPECT_WICK_ERROR(UNet{bad}, "UNet: groups (3) must divide every channel count");
}
