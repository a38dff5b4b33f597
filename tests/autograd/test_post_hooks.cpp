// Node post-hooks (run after a node's backward; on a leaf's AccumulateGrad,
// once its .grad is final for the pass) and autograd::queue_callback (run at
// the end of the pass): the two engine mechanisms DistributedDataParallel uses.
#include "autograd/engine.h"
#include "autograd/node.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

TEST(PostHooks, AccumulateGradHookSeesFinalGradOnce) {
  Tensor w = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  autograd::Edge acc = autograd::gradient_edge(w);  // keeps the AccumulateGrad alive
  ASSERT_TRUE(acc.valid());
  ASSERT_EQ(acc.fn->name(), "AccumulateGrad");
  std::vector<std::vector<double>> seen;
  acc.fn->post_hooks.emplace_back(autograd::next_hook_handle(), [&] { seen.push_back(w.grad().tolist<double>()); });
  // w is used twice: the engine sums both contributions, then accumulates once.
  Tensor y = sum(w * 3.0) + sum(w * w);
  y.backward();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], (std::vector<double>{5.0, 7.0}));
  // A second pass: the hook sees the accumulated gradient.
  sum(w).backward();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], (std::vector<double>{6.0, 8.0}));
  // The node is the one later graphs use (it is alive), so the hook persists.
  EXPECT_EQ(autograd::gradient_edge(w).fn.get(), acc.fn.get());
}

TEST(PostHooks, NotRunForUnusedLeafOrGradMode) {
  Tensor a = tensor({1.0}, {}, kFloat64).requires_grad_();
  Tensor b = tensor({2.0}, {}, kFloat64).requires_grad_();
  autograd::Edge ea = autograd::gradient_edge(a), eb = autograd::gradient_edge(b);
  int ran_a = 0, ran_b = 0;
  ea.fn->post_hooks.emplace_back(1, [&] { ++ran_a; });
  eb.fn->post_hooks.emplace_back(2, [&] { ++ran_b; });
  sum(a * 2.0).backward();
  EXPECT_EQ(ran_a, 1);
  EXPECT_EQ(ran_b, 0);  // b is not in the graph
  // autograd::grad does not accumulate into leaves: no post-hook either.
  autograd::grad({sum(a * b)}, {a});
  EXPECT_EQ(ran_a, 1);
}

TEST(PostHooks, HooksRunInGradientReadyOrder) {
  // y = w2 * (w1 * x): w2's gradient is ready before w1's.
  Tensor w1 = tensor({3.0}, {}, kFloat64).requires_grad_();
  Tensor w2 = tensor({5.0}, {}, kFloat64).requires_grad_();
  autograd::Edge e1 = autograd::gradient_edge(w1), e2 = autograd::gradient_edge(w2);
  std::vector<int> order;
  e1.fn->post_hooks.emplace_back(1, [&] { order.push_back(1); });
  e2.fn->post_hooks.emplace_back(2, [&] { order.push_back(2); });
  Tensor x = tensor({2.0}, {}, kFloat64);
  sum(w2 * tanh(w1 * x)).backward();
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
}

TEST(PostHooks, EarlyCreatedAccumulatorStillRunsAsSoonAsReady) {
  // The accumulators exist before the graph (as DistributedDataParallel keeps
  // them): w2's must still run when its gradient is complete, before the
  // gradient flows on through the tanh chain to w1.
  Tensor w1 = tensor({0.5}, {}, kFloat64).requires_grad_();
  Tensor w2 = tensor({2.0}, {}, kFloat64).requires_grad_();
  autograd::Edge e1 = autograd::gradient_edge(w1), e2 = autograd::gradient_edge(w2);
  std::vector<std::string> order;
  e1.fn->post_hooks.emplace_back(1, [&] { order.push_back("w1"); });
  e2.fn->post_hooks.emplace_back(2, [&] { order.push_back("w2"); });
  Tensor h = w1 * tensor({1.5}, {}, kFloat64);
  for (int i = 0; i < 5; ++i) h = tanh(h);
  h.register_hook([&](const Tensor&) {
    order.push_back("h");
    return Tensor();
  });
  sum(h * w2).backward();
  EXPECT_EQ(order, (std::vector<std::string>{"w2", "h", "w1"}));
}

TEST(QueueCallback, RunsAfterEveryNodeInOrder) {
  Tensor w1 = tensor({3.0}, {}, kFloat64).requires_grad_();
  Tensor w2 = tensor({5.0}, {}, kFloat64).requires_grad_();
  autograd::Edge e2 = autograd::gradient_edge(w2);
  std::vector<std::string> log;
  e2.fn->post_hooks.emplace_back(1, [&] {
    log.push_back("hook");
    autograd::queue_callback([&] {
      // Every gradient of the pass is there, including w1's (ready after w2's).
      log.push_back("first:" + std::to_string(w1.grad().item<double>()));
      autograd::queue_callback([&] { log.push_back("nested"); });
    });
    autograd::queue_callback([&] { log.push_back("second"); });
  });
  sum(w2 * w1 * 2.0).backward();
  EXPECT_EQ(log, (std::vector<std::string>{"hook", "first:10.000000", "second", "nested"}));
  // The callbacks belonged to that pass: a new pass starts with none.
  log.clear();
  e2.fn->post_hooks.clear();
  sum(w2).backward();
  EXPECT_TRUE(log.empty());
}

TEST(QueueCallback, OutsideBackwardIsAnError) {
  EXPECT_WICK_ERROR(autograd::queue_callback([] {}), "no backward pass is running");
}
