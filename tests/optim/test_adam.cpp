// optim::Adam matches torch.optim.Adam step by step.
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {
Tensor run_adam(const optim::AdamOptions& o) {
  Tensor w = fixture("optim/adam_w0").requires_grad_();
  Tensor x = fixture("optim/adam_x"), y = fixture("optim/adam_y");
  optim::Adam opt({w}, o);
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    Tensor d = matmul(x, w.t()) - y;
    mean(d * d).backward();
    opt.step();
  }
  return w;
}
}  // namespace

TEST(Adam, MatchesPyTorchDefaults) {
  EXPECT_TRUE(all_close(run_adam({}), fixture("optim/adam_default_w3"), 1e-12, 1e-10));
}

TEST(Adam, MatchesPyTorchWithWeightDecay) {
  optim::AdamOptions o;
  o.lr = 0.01;
  o.beta1 = 0.8;
  o.beta2 = 0.99;
  o.eps = 1e-6;
  o.weight_decay = 0.1;
  EXPECT_TRUE(all_close(run_adam(o), fixture("optim/adam_wd_w3"), 1e-12, 1e-10));
}

TEST(Adam, RejectsBadInput) {
  Tensor w = zeros({2}).requires_grad_();
  optim::AdamOptions o;
  o.lr = -1;
  EXPECT_WICK_ERROR(optim::Adam({w}, o), "invalid learning rate");
  EXPECT_WICK_ERROR(optim::Adam({zeros({2})}, {}), "requires grad");
}
