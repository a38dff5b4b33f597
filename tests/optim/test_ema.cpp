// EMA of a module's parameters (buffers copied) and of tensor lists.
#include "optim_test_util.h"

using namespace wick;
using namespace wick::test;
using optim::EMA;

namespace {

// A two-level module with a parameter, a buffer and a child with both.
class Inner : public nn::Cloneable<Inner> {
 public:
  Inner() { reset(); }
  void reset() override {
    w = register_parameter("w", rand_f64({3, 2}, 1, false));
    count = register_buffer("count", zeros({1}, kInt64));
  }
  std::string name() const override { return "Inner"; }
  Tensor w, count;
};

class Outer : public nn::Cloneable<Outer> {
 public:
  Outer() { reset(); }
  void reset() override {
    bias = register_parameter("bias", rand_f64({4}, 2, false));
    running = register_buffer("running", rand_f64({4}, 3, false));
    inner = register_module("inner", std::make_shared<Inner>());
  }
  std::string name() const override { return "Outer"; }
  Tensor bias, running;
  std::shared_ptr<Inner> inner;
};

}  // namespace

TEST(EMA, UpdatesParametersAndCopiesBuffers) {
  auto student = std::make_shared<Outer>();
  auto teacher = nn::clone(student);
  teacher->requires_grad_(false);
  EMA ema(*student, *teacher);

  // Move the student away, then average.
  {
    NoGradGuard g;
    student->bias.add_(1.0);
    student->inner->w.mul_(-2.0);
    student->running.fill_(7.0);
    student->inner->count.fill_(5);
  }
  Tensor t_bias = teacher->bias.detach().clone(), t_w = teacher->inner->w.detach().clone();
  ema.update(0.9);
  EXPECT_TRUE(all_close(teacher->bias, t_bias * 0.9 + student->bias.detach() * 0.1, 1e-15, 1e-15));
  EXPECT_TRUE(all_close(teacher->inner->w, t_w * 0.9 + student->inner->w.detach() * 0.1, 1e-15, 1e-15));
  EXPECT_TRUE(all_equal(teacher->running, full({4}, 7.0, kFloat64)));
  EXPECT_EQ(teacher->inner->count.item<int64_t>(), 5);
  EXPECT_FALSE(teacher->bias.requires_grad());

  ema.update(0.0);  // decay 0 copies
  EXPECT_TRUE(all_equal(teacher->bias, student->bias.detach()));
  ema.update(1.0);  // decay 1 keeps
  EXPECT_TRUE(all_equal(teacher->bias, student->bias.detach()));
}

TEST(EMA, CopySourceAndGradModeUntouched) {
  auto student = std::make_shared<Outer>();
  auto teacher = nn::clone(student);
  EMA ema(*student, *teacher);
  {
    NoGradGuard g;
    student->bias.mul_(3.0);
  }
  ema.copy_source();
  EXPECT_TRUE(all_equal(teacher->bias, student->bias.detach()));
  EXPECT_TRUE(autograd::GradMode::is_enabled());
  // The teacher's parameters are still leaves that require grad (nothing recorded).
  EXPECT_TRUE(teacher->bias.is_leaf());
  EXPECT_FALSE(teacher->bias.grad_fn());
}

TEST(EMA, TensorListForm) {
  Tensor s = rand_f64({5}, 4), t = rand_f64({5}, 5, false);
  Tensor t0 = t.clone();
  EMA ema({s}, {t});
  ema.update(0.99);
  ema.update(0.99);
  Tensor want = t0 * (0.99 * 0.99) + s.detach() * (0.01 * 0.99 + 0.01);
  EXPECT_TRUE(all_close(t, want, 1e-15, 1e-14));
}

TEST(EMA, RejectsMismatches) {
  auto a = std::make_shared<Outer>();
  auto b = std::make_shared<Inner>();
  EXPECT_WICK_ERROR(EMA(*a, *b), "parameters");
  Tensor x = zeros({2}, kFloat64), y = zeros({3}, kFloat64);
  EXPECT_WICK_ERROR(EMA({x}, {y}), "shape [2] in the source but [3]");
  EXPECT_WICK_ERROR(EMA({x}, {}), "1 source tensors but 0 target");
  EXPECT_WICK_ERROR(EMA({x}, {x}), "same tensor");
  EMA ok({x}, {zeros({2}, kFloat64)});
  EXPECT_WICK_ERROR(ok.update(1.5), "decay must be in [0, 1]");
}
