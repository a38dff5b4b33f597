// End to end: an MLP trained for one epoch on real Fashion-MNIST reaches at
// least 84% test accuracy. Exercises data loading, linear, relu,
// cross_entropy, backward and an SGD-with-momentum update together.
#include <gtest/gtest.h>

#include "data/fashion_mnist.h"
#include "wick.h"

using namespace wick;

TEST(EndToEnd, MlpFashionMnistOneEpoch) {
  data::FashionMnist train = data::load_fashion_mnist("train");
  data::FashionMnist test = data::load_fashion_mnist("test");
  ASSERT_EQ(train.images.size(0), 60000);
  ASSERT_EQ(test.images.size(0), 10000);
  Tensor xtr = train.float_images().reshape({-1, 784});
  Tensor xte = test.float_images().reshape({-1, 784});

  manual_seed(0);
  Generator gen(0);
  // 784-256-10 with PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  auto uniform = [&](Shape s, double bound) {
    Tensor t = rand(s, {}, &gen);
    NoGradGuard g;
    return ((t * 2.0 - 1.0) * bound).requires_grad_();
  };
  std::vector<Tensor> params = {uniform({256, 784}, 1 / 28.0), uniform({256}, 1 / 28.0), uniform({10, 256}, 1 / 16.0),
                                uniform({10}, 1 / 16.0)};
  std::vector<Tensor> momentum;
  for (const Tensor& p : params) momentum.push_back(zeros_like(p));
  auto forward = [&](const Tensor& x) { return linear(relu(linear(x, params[0], params[1])), params[2], params[3]); };

  const int64_t batch = 64, n = xtr.size(0);
  const double lr = 0.05, mu = 0.9;
  Tensor perm = randperm(n, {}, &gen);
  for (int64_t b = 0; b + batch <= n; b += batch) {
    Tensor idx = perm.slice(0, b, b + batch);
    Tensor loss = cross_entropy(forward(index_select(xtr, 0, idx)), index_select(train.labels, 0, idx));
    for (Tensor& p : params) p.set_grad(Tensor());
    loss.backward();
    NoGradGuard g;
    for (size_t i = 0; i < params.size(); ++i) {
      momentum[i].mul_(mu).add_(params[i].grad());
      params[i].sub_(momentum[i], lr);
    }
  }
  NoGradGuard g;
  Tensor pred = argmax(forward(xte), 1);
  double acc = sum(eq(pred, test.labels)).item<double>() / 10000.0;
  std::printf("MLP Fashion-MNIST test accuracy after one epoch: %.4f\n", acc);
  EXPECT_GE(acc, 0.84);
}
