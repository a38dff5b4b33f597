// models/clip.h: parameter count from the configuration, shapes, the
// learnable and clamped temperature, the symmetric loss, text padding and
// pooling, clone() (the caller's image tower included), overfitting a tiny
// batch of pairs, errors.
#include "models/clip.h"

#include <cmath>

#include "nn/activation.h"
#include "nn/container.h"
#include "nn/contrastive.h"
#include "models/vit.h"
#include "nn/conv.h"
#include "optim/adam.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
using models::Clip;
using models::ClipConfig;
using models::TextPooling;
using models::TextTransformer;
using models::TextTransformerConfig;

namespace {

TextTransformerConfig tiny_text() {
  TextTransformerConfig c;
  c.vocab_size = 16;
  c.context_length = 6;
  c.width = 16;
  c.depth = 2;
  c.heads = 2;
  c.ffn = 32;
  return c;
}

// A small CNN over 8x8 images: conv 3x3 stride 2 -> [4, 4, 4] -> 16 features.
std::shared_ptr<nn::Module> tiny_image_encoder() {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(1, 4, 3, 2, 1), std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(64, 16)});
}

ClipConfig tiny_clip() {
  ClipConfig c;
  c.embed_dim = 8;
  c.image_features = 16;
  c.text = tiny_text();
  return c;
}

Tensor ids(std::initializer_list<int64_t> v, const Shape& shape) { return tensor(v, shape); }

// Four distinct captions ending in the EOT token 15, right-padded with 0.
Tensor captions() {
  return ids({3, 4, 15, 0, 0, 0,  //
                 5, 6, 7, 15, 0, 0,           //
                 8, 15, 0, 0, 0, 0,           //
                 9, 10, 11, 12, 13, 15},
                Shape{4, 6});
}

double value_of(const Tensor& t) { return t.item<double>(); }

}  // namespace

TEST(Clip, ParameterCountMatchesFormula) {
  Clip model(tiny_image_encoder(), tiny_clip());
  const TextTransformerConfig t = tiny_text();
  const int64_t W = t.width, F = t.ffn, E = 8;
  const int64_t image = (1 * 4 * 3 * 3 + 4) + (64 * 16 + 16);
  const int64_t block = (4 * W * W + 4 * W) + (W * F + F) + (F * W + W) + 2 * (2 * W);
  const int64_t text = t.vocab_size * W + t.context_length * W + t.depth * block + 2 * W;
  const int64_t heads = 16 * E + W * E + 1;  // bias-free projections and the logit scale
  EXPECT_EQ(model.num_parameters(), image + text + heads);
  EXPECT_EQ(model.text->num_parameters(), text);
}

TEST(Clip, ShapesTemperatureAndLoss) {
  manual_seed(1);
  Clip model(tiny_image_encoder(), tiny_clip());
  Tensor images = randn({4, 1, 8, 8});
  models::ClipOutput out = model.forward(images, captions());
  EXPECT_EQ(out.logits_per_image.sizes(), (Shape{4, 4}));
  EXPECT_TRUE(all_close(out.logits_per_text, out.logits_per_image.t(), 0, 0));
  EXPECT_TRUE(all_close(norm(out.image_embeds, 2.0, {1}), ones({4}), 1e-5));
  // exp(log(1/0.07)) = 1/0.07, so logits are cosines times 14.29.
  EXPECT_NEAR(value_of(model.scale()), 1 / 0.07, 1e-4);
  EXPECT_TRUE(all_close(out.logits_per_image, mul(matmul(out.image_embeds, out.text_embeds.t()), 1 / 0.07), 1e-5));
  EXPECT_NEAR(value_of(model.loss(images, captions())), value_of(nn::clip_loss(out.logits_per_image)), 1e-6);
  // Different batch sizes of images and texts are fine for retrieval.
  EXPECT_EQ(model.forward(images.narrow(0, 0, 2), captions()).logits_per_image.sizes(), (Shape{2, 4}));
  // The scale is clamped at 100 and has no gradient beyond.
  {
    NoGradGuard ng;
    model.logit_scale.fill_(std::log(1000.0));
  }
  EXPECT_NEAR(value_of(model.scale()), 100.0, 1e-3);
  model.zero_grad();
  model.loss(images, captions()).backward();
  EXPECT_EQ(value_of(model.logit_scale.grad()), 0.0);
}

TEST(Clip, TextPaddingAndPooling) {
  manual_seed(2);
  for (bool causal : {true, false}) {
    for (TextPooling pooling : {TextPooling::Last, TextPooling::Mean}) {
      TextTransformerConfig c = tiny_text();
      c.causal = causal;
      c.pooling = pooling;
      TextTransformer text(c);
      Tensor short_tokens = ids({5, 6, 7, 15}, Shape{1, 4});
      Tensor padded = ids({5, 6, 7, 15, 0, 0}, Shape{1, 6});
      EXPECT_TRUE(all_close(text.forward(padded), text.forward(short_tokens), 1e-5, 1e-5)) << causal;
      Tensor hidden = text.encode(short_tokens);
      Tensor expect = pooling == TextPooling::Last ? hidden.select(1, 3) : mean(hidden, {1});
      EXPECT_TRUE(all_close(text.forward(short_tokens), expect, 1e-6));
    }
  }
  // Causal: a token's features do not depend on later tokens.
  TextTransformer causal_text(tiny_text());
  Tensor a = causal_text.encode(ids({5, 6, 7}, Shape{1, 3}));
  Tensor b = causal_text.encode(ids({5, 6, 9}, Shape{1, 3}));
  EXPECT_TRUE(all_close(a.narrow(1, 0, 2), b.narrow(1, 0, 2), 1e-6));
  EXPECT_FALSE(all_close(a.select(1, 2), b.select(1, 2), 1e-4));
}

TEST(Clip, CloneIsDeepAndEqual) {
  manual_seed(3);
  auto model = std::make_shared<Clip>(tiny_image_encoder(), tiny_clip());
  Tensor images = randn({4, 1, 8, 8});
  auto copy = nn::clone(model);
  EXPECT_TRUE(all_close(copy->loss(images, captions()), model->loss(images, captions()), 0, 0));
  EXPECT_EQ(copy->state_dict().keys(), model->state_dict().keys());
  EXPECT_FALSE(copy->visual.get() == model->visual.get());
  // Cloning does not advance the default generator.
  manual_seed(4);
  Tensor r1 = randn({3});
  manual_seed(4);
  (void)model->clone();
  EXPECT_TRUE(all_close(randn({3}), r1, 0, 0));
  // The image tower's parameters are not shared.
  {
    NoGradGuard ng;
    for (Tensor p : copy->visual->parameters()) p.mul_(-1.0);
  }
  EXPECT_FALSE(all_close(copy->encode_image(images), model->encode_image(images), 1e-4));
  EXPECT_TRUE(all_close(copy->encode_text(captions()), model->encode_text(captions()), 0, 0));
}

TEST(Clip, OverfitsATinyBatchOfPairs) {
  manual_seed(5);
  Clip model(tiny_image_encoder(), tiny_clip());
  Tensor images = randn({4, 1, 8, 8});
  optim::Adam opt(model.parameters(), {.lr = 1e-2});
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    opt.zero_grad();
    Tensor loss = model.loss(images, captions());
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_GT(first, 0.8);  // chance is log 4 = 1.39
  EXPECT_LT(last, 0.05);
  // Every image retrieves its own caption.
  Tensor logits = model.forward(images, captions()).logits_per_image;
  EXPECT_TRUE(all_equal(argmax(logits, 1), arange(4)));
}

TEST(Clip, WithAVitImageTower) {
  manual_seed(6);
  models::ViTConfig v;
  v.image_size = 8;
  v.patch_size = 4;
  v.depth = 1;
  v.width = 16;
  v.heads = 2;
  v.num_classes = 0;  // features
  auto vit = std::make_shared<models::ViT>(v);
  const int64_t vit_params = vit->num_parameters();
  auto model = std::make_shared<Clip>(vit, tiny_clip());
  EXPECT_EQ(model->num_parameters(), vit_params + model->text->num_parameters() + 16 * 8 + 16 * 8 + 1);
  Tensor images = randn({4, 1, 8, 8});
  auto copy = nn::clone(model);
  EXPECT_TRUE(all_close(copy->loss(images, captions()), model->loss(images, captions()), 0, 0));
  EXPECT_TRUE(std::dynamic_pointer_cast<models::ViT>(copy->visual) != nullptr);
  optim::Adam opt(model->parameters(), {.lr = 1e-2});
  double first = 0, last = 0;
  for (int step = 0; step < 15; ++step) {
    opt.zero_grad();
    Tensor loss = model->loss(images, captions());
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, 0.5 * first);
}

TEST(Clip, Errors) {
  Clip model(tiny_image_encoder(), tiny_clip());
  Tensor images = randn({4, 1, 8, 8});
  EXPECT_WICK_ERROR(model.loss(images.narrow(0, 0, 3), captions()), "Clip::loss: needs as many images (3) as texts (4)");
  EXPECT_WICK_ERROR(model.encode_text(zeros({1, 7}, kInt64)), "sequence length 7 is outside [1, context_length=6]");
  ClipConfig wrong = tiny_clip();
  wrong.image_features = 12;
  Clip bad(tiny_image_encoder(), wrong);
  EXPECT_WICK_ERROR(bad.encode_image(images), "Clip: the image encoder returned [4,16], expected [B, image_features=12]");
  EXPECT_WICK_ERROR(Clip(nullptr, tiny_clip()), "Clip: the image encoder is null");
}
