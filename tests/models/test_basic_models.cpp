// models::MLP and models::ConvNet: parameter counts against the closed-form
// formula, output shapes, input checks, clone, and overfitting a tiny batch.
#include <chrono>

#include "models/convnet.h"
#include "models/mlp.h"
#include "nn/linear.h"
#include "optim/adam.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

// Trains `model` on (x, y) with Adam and returns the final train accuracy.
double overfit(nn::Module& model, const Tensor& x, const Tensor& y, int steps, double lr) {
  optim::AdamOptions o;
  o.lr = lr;
  optim::Adam opt(model.parameters(), o);
  for (int s = 0; s < steps; ++s) {
    Tensor loss = cross_entropy(model(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  NoGradGuard ng;
  return sum(eq(argmax(model(x), 1), y)).item() / static_cast<double>(x.size(0));
}

}  // namespace

TEST(MLP, ParameterCountShapesAndStructure) {
  models::MLP m(784, {256, 128}, 10);
  EXPECT_EQ(m.num_parameters(), (784 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10));
  EXPECT_EQ(m.layers->size(), 5u);  // Linear ReLU Linear ReLU Linear
  EXPECT_EQ(m.state_dict().keys(), (std::vector<std::string>{"layers.0.weight", "layers.0.bias", "layers.2.weight",
                                                            "layers.2.bias", "layers.4.weight", "layers.4.bias"}));
  EXPECT_EQ(m(randn({3, 784})).sizes(), (Shape{3, 10}));
  EXPECT_EQ(m(randn({2, 5, 784})).sizes(), (Shape{2, 5, 10}));

  models::MLP d(4, {8}, 2, "gelu", 0.5);
  EXPECT_EQ(d.layers->size(), 4u);  // Linear GELU Dropout Linear
  EXPECT_EQ((*d.layers)[1]->name(), "GELU");
  d.eval();
  Tensor x = randn({3, 4});
  EXPECT_TRUE(all_equal(d(x), d(x)));  // dropout off in eval
  models::MLP linear_only(4, {}, 3);
  EXPECT_EQ(linear_only.num_parameters(), 15);

  EXPECT_WICK_ERROR(models::MLP(4, {8}, 2, "swoosh"), "unknown activation 'swoosh'");
  EXPECT_WICK_ERROR(models::MLP(4, {0}, 2), "hidden widths must be positive");
  EXPECT_WICK_ERROR(m(randn({3, 783})), "Linear: expected input [..., 784]");
}

TEST(MLP, OverfitsTinyBatchAndClones) {
  manual_seed(0);
  auto m = std::make_shared<models::MLP>(20, std::vector<int64_t>{32, 32}, 4, "tanh");
  Tensor x = randn({8, 20});
  Tensor y = from_vector<int64_t>({0, 1, 2, 3, 0, 1, 2, 3});
  EXPECT_EQ(overfit(*m, x, y, 40, 1e-2), 1.0);

  auto c = nn::clone(m);
  EXPECT_TRUE(all_equal((*c)(x), (*m)(x)));
  EXPECT_FALSE(c->layers->at<nn::Linear>(0)->weight.is_same(m->layers->at<nn::Linear>(0)->weight));
  overfit(*c, x, from_vector<int64_t>({3, 2, 1, 0, 3, 2, 1, 0}), 5, 1e-2);
  EXPECT_FALSE(all_close((*c)(x), (*m)(x)));  // training the clone leaves the original alone
}

TEST(ConvNet, ParameterCountAndShapes) {
  models::ConvNet net;
  // conv 1->32 3x3, conv 32->64 3x3, fc 64*7*7->128, fc 128->10, with biases.
  EXPECT_EQ(net.num_parameters(), (32 * 9 + 32) + (64 * 32 * 9 + 64) + (64 * 49 * 128 + 128) + (128 * 10 + 10));
  EXPECT_EQ(net.num_parameters(), 421642);

  models::ConvNetOptions o;
  o.in_channels = 3;
  o.image_size = 32;
  o.channels1 = 4;
  o.channels2 = 6;
  o.hidden = 12;
  o.num_classes = 5;
  models::ConvNet small(o);
  EXPECT_EQ(small.num_parameters(), (4 * 27 + 4) + (6 * 4 * 9 + 6) + (6 * 64 * 12 + 12) + (12 * 5 + 5));
  Tensor x = randn({2, 3, 32, 32});
  EXPECT_EQ(small.features(x).sizes(), (Shape{2, 12}));
  EXPECT_EQ(small(x).sizes(), (Shape{2, 5}));
  EXPECT_WICK_ERROR(small(randn({2, 3, 28, 28})), "ConvNet: expected input [N, 3, 32, 32]");
  o.image_size = 30;
  EXPECT_WICK_ERROR(models::ConvNet{o}, "image_size must be a positive multiple of 4");
}

TEST(ConvNet, OverfitsTinyBatchAndClones) {
  manual_seed(1);
  models::ConvNetOptions o;
  o.channels1 = 8;
  o.channels2 = 8;
  o.hidden = 32;
  auto net = std::make_shared<models::ConvNet>(o);
  Tensor x = randn({8, 1, 28, 28});
  Tensor y = from_vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_EQ(overfit(*net, x, y, 30, 3e-3), 1.0);
  auto c = nn::clone(net);
  EXPECT_TRUE(all_equal((*c)(x), (*net)(x)));
  EXPECT_FALSE(c->conv1->weight.is_same(net->conv1->weight));
}
