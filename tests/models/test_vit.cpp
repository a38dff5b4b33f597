// models::ViT: parameter count against the closed form, shapes, pooling,
// overfitting a tiny batch, gradcheck, clone, errors.
#include <gtest/gtest.h>

#include "models/vit.h"
#include "optim/adam.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

models::ViTConfig tiny(models::ViTPooling pooling = models::ViTPooling::Cls) {
  models::ViTConfig c;
  c.image_size = 8;
  c.patch_size = 4;
  c.channels = 2;
  c.depth = 2;
  c.width = 8;
  c.heads = 2;
  c.mlp_ratio = 2;
  c.num_classes = 3;
  c.pooling = pooling;
  return c;
}

// Patch projection (a conv with bias), class token, position table, blocks
// (attention, two LayerNorms, MLP), final LayerNorm, head.
int64_t vit_param_formula(const models::ViTConfig& c) {
  const int64_t W = c.width, F = c.mlp_ratio * c.width, P = c.patch_size;
  const int64_t N = (c.image_size / P) * (c.image_size / P);
  const bool cls = c.pooling == models::ViTPooling::Cls;
  const int64_t block = (4 * W * W + 4 * W) + 4 * W + (W * F + F + F * W + W);
  int64_t n = c.channels * P * P * W + W + (N + (cls ? 1 : 0)) * W + c.depth * block + 2 * W;
  if (cls) n += W;
  if (c.num_classes > 0) n += W * c.num_classes + c.num_classes;
  return n;
}

}  // namespace

TEST(ViT, ParameterCountMatchesFormula) {
  for (auto pooling : {models::ViTPooling::Cls, models::ViTPooling::Mean}) {
    models::ViTConfig c = tiny(pooling);
    EXPECT_EQ(models::ViT(c).num_parameters(), vit_param_formula(c));
    c.num_classes = 0;
    c.depth = 3;
    c.image_size = 12;
    c.patch_size = 3;
    EXPECT_EQ(models::ViT(c).num_parameters(), vit_param_formula(c));
  }
}

TEST(ViT, ShapesAndPooling) {
  models::ViT cls(tiny());
  Tensor x = rand_f64({3, 2, 8, 8}, 1, false).to(kFloat32);
  EXPECT_EQ(cls.num_patches(), 4);
  EXPECT_EQ(cls.tokens(x).sizes(), Shape({3, 5, 8}));
  Tensor f = cls.features(x);
  EXPECT_EQ(f.sizes(), Shape({3, 8}));
  EXPECT_TRUE(all_close(f, cls.tokens(x).select(1, 0), 0, 0));
  Tensor y = cls.forward(x);
  EXPECT_EQ(y.sizes(), Shape({3, 3}));
  EXPECT_TRUE(all_close(y, cls.head->forward(f), 0, 0));

  models::ViT mean_pool(tiny(models::ViTPooling::Mean));
  EXPECT_FALSE(mean_pool.cls_token.defined());
  EXPECT_EQ(mean_pool.tokens(x).sizes(), Shape({3, 4, 8}));
  EXPECT_TRUE(all_close(mean_pool.features(x), mean_pool.tokens(x).mean({1}), 1e-6, 0));

  models::ViTConfig no_head = tiny();
  no_head.num_classes = 0;
  models::ViT backbone(no_head);
  EXPECT_EQ(backbone.head, nullptr);
  EXPECT_EQ(backbone.forward(x).sizes(), Shape({3, 8}));
}

TEST(ViT, OverfitsATinyBatch) {
  manual_seed(0);  // fixed initialization whatever ran before
  models::ViTConfig c = tiny();
  c.num_classes = 4;
  models::ViT vit(c);
  Tensor images = rand_f64({8, 2, 8, 8}, 2, false).to(kFloat32);
  Tensor labels = tensor({0, 1, 2, 3, 3, 2, 1, 0}, Shape{8}).to(kInt64);
  optim::Adam opt(vit.parameters(), {.lr = 1e-2});
  double last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    Tensor l = cross_entropy(vit.forward(images), labels);
    l.backward();
    opt.step();
    last = l.item();
  }
  EXPECT_LT(last, 0.05);
  EXPECT_TRUE(all_equal(argmax(vit.forward(images), -1), labels));
}

TEST(ViT, Gradcheck) {
  models::ViTConfig c = tiny(models::ViTPooling::Mean);
  c.image_size = 4;
  c.patch_size = 2;
  c.channels = 1;
  c.depth = 1;
  c.width = 4;
  models::ViT vit(c);
  vit.to(kFloat64);
  Tensor x = rand_f64({1, 1, 4, 4}, 3);
  EXPECT_TRUE(gradcheck([&](const tensor_list&) { return vit.forward(x); }, {x, vit.pos_embed}));
}

TEST(ViT, CloneAndErrors) {
  auto vit = std::make_shared<models::ViT>(tiny());
  auto c = nn::clone(vit);
  Tensor x = rand_f64({1, 2, 8, 8}, 4, false).to(kFloat32);
  EXPECT_TRUE(all_close(c->forward(x), vit->forward(x), 0, 0));
  EXPECT_NE(c->cls_token.impl(), vit->cls_token.impl());
  auto keys = vit->state_dict().keys();
  EXPECT_EQ(keys[0], "cls_token");
  EXPECT_EQ(keys[1], "pos_embed");
  EXPECT_EQ(keys[2], "patch_embed.weight");
  EXPECT_EQ(keys.back(), "head.bias");
  models::ViTConfig bad = tiny();
  bad.patch_size = 3;
  EXPECT_WICK_ERROR(models::ViT{bad}, "divisible by patch_size");
  EXPECT_WICK_ERROR(vit->forward(zeros({1, 3, 8, 8})), "expected images [B, 2, 8, 8]");
}
