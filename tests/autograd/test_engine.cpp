// The backward engine: accumulation, retain_graph, hooks, grad(), higher
// order, version counters, deep graphs.
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

TEST(Engine, SimpleChainAndAccumulation) {
  Tensor x = tensor({1.0, 2.0, 3.0}, {}, kFloat64).requires_grad_();
  Tensor y = sum(x * x * 3.0);
  y.backward();
  EXPECT_TRUE(all_close(x.grad(), tensor({6.0, 12.0, 18.0}, {}, kFloat64)));
  sum(x).backward();  // accumulates
  EXPECT_TRUE(all_close(x.grad(), tensor({7.0, 13.0, 19.0}, {}, kFloat64)));
}

TEST(Engine, BackwardTwiceNeedsRetainGraph) {
  Tensor x = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  Tensor y = sum(x * x);
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  EXPECT_TRUE(all_close(x.grad(), tensor({4.0, 8.0}, {}, kFloat64)));
  Tensor z = sum(x * x);
  z.backward();
  EXPECT_WICK_ERROR(z.backward(), "backward through the graph a second time");
}

TEST(Engine, NonScalarNeedsGradient) {
  Tensor x = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  Tensor y = x * 2.0;
  EXPECT_WICK_ERROR(y.backward(), "only for one-element outputs");
  y.backward(tensor({1.0, 10.0}, {}, kFloat64));
  EXPECT_TRUE(all_close(x.grad(), tensor({2.0, 20.0}, {}, kFloat64)));
}

TEST(Engine, NoGradAndDetach) {
  Tensor x = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  {
    NoGradGuard g;
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
    {
      EnableGradGuard e;
      EXPECT_TRUE((x * 2.0).requires_grad());
    }
  }
  Tensor d = (x * 2.0).detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_WICK_ERROR(sum(d).backward(), "does not require grad");
}

TEST(Engine, HooksAndRetainGrad) {
  Tensor x = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  Tensor h = x * 3.0;
  h.retain_grad();
  int calls = 0;
  h.register_hook([&](const Tensor& g) {
    ++calls;
    return g * 2.0;  // doubles the gradient flowing into x
  });
  int leaf_handle = x.register_hook([&](const Tensor& g) { return Tensor(); });
  sum(h).backward();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(all_close(h.grad(), tensor({2.0, 2.0}, {}, kFloat64)));
  EXPECT_TRUE(all_close(x.grad(), tensor({6.0, 6.0}, {}, kFloat64)));
  x.remove_hook(leaf_handle);
}

TEST(Engine, GradReversalHook) {
  Tensor x = tensor({1.0, -1.0}, {}, kFloat64).requires_grad_();
  Tensor y = x * 1.0;
  y.register_hook([](const Tensor& g) { return neg(g); });
  sum(y * 5.0).backward();
  EXPECT_TRUE(all_close(x.grad(), tensor({-5.0, -5.0}, {}, kFloat64)));
}

TEST(Engine, AutogradGradDoesNotTouchDotGrad) {
  Tensor x = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  Tensor w = tensor({3.0, 4.0}, {}, kFloat64).requires_grad_();
  Tensor y = sum(x * w);
  tensor_list g = autograd::grad({y}, {x});
  EXPECT_TRUE(all_close(g[0], w.detach()));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  Tensor unused = tensor({1.0}, {}, kFloat64).requires_grad_();
  Tensor y2 = sum(x * w);
  EXPECT_WICK_ERROR(autograd::grad({y2}, {unused}), "not used in the graph");
  Tensor y3 = sum(x * w);
  EXPECT_FALSE(autograd::grad({y3}, {unused}, {}, {}, false, /*allow_unused=*/true)[0].defined());
}

TEST(Engine, SecondOrder) {
  // y = x^3; dy/dx = 3x^2; d2y/dx2 = 6x
  Tensor x = tensor({2.0}, {}, kFloat64).requires_grad_();
  Tensor y = sum(x * x * x);
  Tensor g = autograd::grad({y}, {x}, {}, {}, /*create_graph=*/true)[0];
  EXPECT_TRUE(all_close(g, tensor({12.0}, {}, kFloat64)));
  Tensor gg = autograd::grad({sum(g)}, {x})[0];
  EXPECT_TRUE(all_close(gg, tensor({12.0}, {}, kFloat64)));
  // Third order: 6
  Tensor x2 = tensor({2.0}, {}, kFloat64).requires_grad_();
  Tensor g1 = autograd::grad({sum(x2 * x2 * x2)}, {x2}, {}, {}, true)[0];
  Tensor g2 = autograd::grad({sum(g1)}, {x2}, {}, {}, true)[0];
  Tensor g3 = autograd::grad({sum(g2)}, {x2})[0];
  EXPECT_TRUE(all_close(g3, tensor({6.0}, {}, kFloat64)));
}

TEST(Engine, InPlaceOnSavedTensorIsAnError) {
  Tensor x = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  Tensor a = x * 1.0;
  Tensor y = a * a;  // saves a
  a.add_(1.0);
  EXPECT_WICK_ERROR(sum(y).backward(), "modified by an in-place operation");
}

TEST(Engine, InPlaceOnLeafIsAnError) {
  Tensor x = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  EXPECT_WICK_ERROR(x.add_(1.0), "leaf tensor that requires grad");
  {
    NoGradGuard g;
    x.add_(1.0);  // optimizers do this
  }
  EXPECT_TRUE(all_close(x.detach(), tensor({2.0, 3.0}, {}, kFloat64)));
}

TEST(Engine, InPlaceRebasesHistory) {
  Tensor x = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  Tensor a = x * 2.0;
  a.mul_(x);  // a = 2x * x
  a.add_(3.0);
  sum(a).backward();
  EXPECT_TRUE(all_close(x.grad(), tensor({4.0, 8.0}, {}, kFloat64)));
}

TEST(Engine, DeepChainNoStackOverflow) {
  Tensor x = tensor({1.0}, {}, kFloat64).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0;
  sum(y).backward();
  EXPECT_TRUE(all_close(x.grad(), tensor({1.0}, {}, kFloat64)));
  // The graph is freed here, also without recursion.
}

TEST(Engine, DeepChainDestroyedWithoutBackward) {
  Tensor x = tensor({1.0}, {}, kFloat64).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y + 1.0;
  y = Tensor();
  SUCCEED();
}

TEST(Engine, AnomalyDetectionNamesTheNode) {
  autograd::AnomalyMode::set_enabled(true);
  Tensor x = tensor({0.0}, {}, kFloat64).requires_grad_();
  Tensor y = sum(x / x);
  EXPECT_WICK_ERROR(y.backward(), "DivBackward returned NaN");
  autograd::AnomalyMode::set_enabled(false);
}

TEST(Gradcheck, DetectsAWrongGradient) {
  Tensor x = rand_f64({3});
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return in[0] * in[0]; }, {x}));
  // A function whose backward is deliberately wrong: hook scales the grad.
  auto bad = [](const tensor_list& in) {
    Tensor y = in[0] * 1.0;
    if (y.requires_grad()) y.register_hook([](const Tensor& g) { return g * 2.0; });
    return y;
  };
  EXPECT_WICK_ERROR(gradcheck(bad, {x}), "Jacobian mismatch");
}

TEST(Gradcheck, SecondOrderOfMul) {
  Tensor a = rand_f64({2, 3}, 1), b = rand_f64({3}, 2);
  EXPECT_TRUE(gradgradcheck([](const tensor_list& in) { return in[0] * in[1]; }, {a, b}));
}
